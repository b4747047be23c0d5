package config

import (
	"bytes"
	"cmp"
	"encoding"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// Limits on what Parse reads.
const (
	// MaxFileBytes caps a configuration file; real ones are a few KB.
	MaxFileBytes = 4 << 20
	// MaxErrors caps the errors reported for one file; the rest are
	// counted.
	MaxErrors = 50
	// maxNodes caps the YAML nodes decoded, aliases expanded: anchors
	// referring to anchors can otherwise grow a small file exponentially.
	maxNodes = 1_000_000
)

// Options are the validators of the expression languages that the config
// package does not know itself; callers pass in those of the packages that
// run them, so that config stays a leaf package. A nil validator means
// "not checked here" (condition syntax falls back to a built-in check).
// Each returns nil or an error saying what is wrong.
type Options struct {
	CheckCondition func(string) error // an uptime check condition, "[STATUS] == 200"
	RuleCondition  func(string) error // a rule condition, "> 5" or "absent"
	PromQL         func(string) error // a rule's promql expression
	LogQuery       func(string) error // a logs source's query
	MetricFilter   func(string) error // a metric source's filter
	Annotation     func(string) error // a rule annotation's template
}

// Error is one problem in a configuration file, at a line and column
// (1-based). Parse joins them with errors.Join; errors.As finds the first.
type Error struct {
	File string
	Line int
	Col  int
	Msg  string
}

func (e *Error) Error() string { return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Col, e.Msg) }

// Errors returns the *Error values joined in err, in order (nil if there
// are none).
func Errors(err error) []*Error {
	var out []*Error
	var walk func(error)
	walk = func(err error) {
		if e, ok := err.(*Error); ok {
			out = append(out, e)
			return
		}
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
			return
		}
		if e := errors.Unwrap(err); e != nil {
			walk(e)
		}
	}
	if err != nil {
		walk(err)
	}
	return out
}

// Load reads and parses the file at path; errors name it as given.
func Load(path string, opt Options) (*File, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read configuration: %w", err)
	}
	defer fh.Close()
	data, err := io.ReadAll(io.LimitReader(fh, MaxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("cannot read configuration %s: %w", path, err)
	}
	return Parse(path, data, opt)
}

// Parse parses, fills in and validates a configuration file. name is what
// errors call the file. All problems found are returned at once, joined
// (see Errors), in file order; the File is nil then. An empty file is
// valid and configures nothing.
func Parse(name string, data []byte, opt Options) (*File, error) {
	if name == "" {
		name = "config"
	}
	p := &parser{file: name, pos: map[string]pos{}, failed: map[string]bool{}}
	f := p.parse(data)
	if f != nil {
		p.validate(f, opt)
	}
	if err := p.err(); err != nil {
		return nil, err
	}
	return f, nil
}

// pos is a place in the file, 1-based.
type pos struct{ line, col int }

// parser holds the state of one Parse: the positions of the values it
// decoded, by path ("checks[0].timeout"), and the problems found.
type parser struct {
	file   string
	pos    map[string]pos
	failed map[string]bool // paths whose value did not decode: validation keeps quiet about them
	errs   []*Error
	nodes  int
	// exhausted is set when nodes passed maxNodes.
	exhausted bool
}

func (p *parser) errorf(at pos, format string, args ...any) {
	if at.line == 0 {
		at = pos{1, 1}
	}
	p.errs = append(p.errs, &Error{File: p.file, Line: at.line, Col: at.col, Msg: fmt.Sprintf(format, args...)})
}

// at returns the position of path, or of its nearest ancestor known.
func (p *parser) at(path string) pos {
	for {
		if q, ok := p.pos[path]; ok {
			return q
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			return pos{1, 1}
		}
		path = path[:i]
	}
}

// errAt reports a problem with the value at path, unless it failed to
// decode (which was reported already).
func (p *parser) errAt(path, format string, args ...any) {
	if p.failed[path] {
		return
	}
	p.errorf(p.at(path), format, args...)
}

func (p *parser) err() error {
	if len(p.errs) == 0 {
		return nil
	}
	slices.SortStableFunc(p.errs, func(a, b *Error) int {
		return cmp.Or(cmp.Compare(a.Line, b.Line), cmp.Compare(a.Col, b.Col))
	})
	errs := make([]error, 0, min(len(p.errs), MaxErrors)+1)
	for i, e := range p.errs {
		if i == MaxErrors {
			errs = append(errs, fmt.Errorf("%s: %d more errors not shown", p.file, len(p.errs)-MaxErrors))
			break
		}
		errs = append(errs, e)
	}
	return errors.Join(errs...)
}

var (
	yamlErrRE = regexp.MustCompile(`^yaml: (?:line (\d+): )?(.*)$`)
	// blockIndicatorRE finds a value starting with > or <, which YAML
	// reads as a folded block scalar or refuses.
	blockIndicatorRE = regexp.MustCompile(`:\s+[<>]`)
)

// parse decodes data into a File, reporting syntax and type errors. It
// returns nil when the YAML itself cannot be read.
func (p *parser) parse(data []byte) *File {
	if len(data) > MaxFileBytes {
		p.errorf(pos{1, 1}, "file larger than %d bytes", MaxFileBytes)
		return nil
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	err := dec.Decode(&doc)
	if err == nil {
		var extra yaml.Node
		if err2 := dec.Decode(&extra); err2 == nil {
			p.errorf(pos{extra.Line, extra.Column}, "a second YAML document (after ---): keep the whole configuration in one")
			return nil
		} else if err2 != io.EOF {
			err = err2
		}
	}
	if err != nil && err != io.EOF {
		if p.tabs(data) {
			return nil
		}
		at, msg := syntaxError(data, err)
		p.errorf(at, "invalid YAML: %s%s", msg, hint(data, at.line))
		return nil
	}
	f := &File{}
	root := &doc
	if root.Kind == yaml.DocumentNode {
		if len(root.Content) == 0 {
			return f
		}
		root = root.Content[0]
	}
	if root.Kind == 0 || root.Kind == yaml.ScalarNode && root.ShortTag() == "!!null" {
		return f
	}
	p.decode(root, reflect.ValueOf(f).Elem(), "", "")
	return f
}

// syntaxError returns where a YAML syntax error is and what it is. The
// YAML parser often names the line where the enclosing block starts rather
// than the one at fault: the first line at which a prefix of the file fails
// with the same error is a better guess.
func syntaxError(data []byte, err error) (pos, string) {
	split := func(err error) (int, string) {
		m := yamlErrRE.FindStringSubmatch(err.Error())
		if m == nil {
			return 0, err.Error()
		}
		n, _ := strconv.Atoi(m[1])
		return n, m[2]
	}
	line, msg := split(err)
	lines := bytes.SplitAfter(data, []byte("\n"))
	failsAt := func(k int) bool {
		var n yaml.Node
		dec := yaml.NewDecoder(bytes.NewReader(bytes.Join(lines[:k], nil)))
		for {
			err := dec.Decode(&n)
			if err == io.EOF {
				return false
			}
			if err != nil {
				_, m := split(err)
				return m == msg
			}
		}
	}
	// Binary search for the shortest failing prefix, within reason: each
	// step parses the prefix again.
	if len(lines) <= 100_000 && line > 0 {
		lo, hi := 1, len(lines)
		if failsAt(hi) {
			for lo < hi {
				mid := (lo + hi) / 2
				if failsAt(mid) {
					hi = mid
				} else {
					lo = mid + 1
				}
			}
			line = hi
		}
	}
	if line < 1 || line > len(lines) {
		return pos{max(line, 1), 1}, msg
	}
	col := len(lines[line-1]) - len(bytes.TrimLeft(lines[line-1], " ")) + 1
	return pos{line, col}, msg
}

// hint explains the syntax error that YAML's block scalar indicators cause
// in conditions.
func hint(data []byte, line int) string {
	lines := bytes.Split(data, []byte("\n"))
	if line < 1 || line > len(lines) {
		return ""
	}
	if blockIndicatorRE.Match(lines[line-1]) {
		return `; quote a value that starts with > or <, e.g. condition: "> 5"`
	}
	return ""
}

// tabs reports every tab in indentation, the most common cause of a YAML
// syntax error and one that the YAML parser describes poorly.
func (p *parser) tabs(data []byte) bool {
	found := false
	for i, line := range bytes.Split(data, []byte("\n")) {
		for col, c := range line {
			if c == '\t' {
				p.errorf(pos{i + 1, col + 1}, "tab in indentation: YAML indents with spaces")
				found = true
				break
			}
			if c != ' ' && c != '-' {
				break
			}
		}
	}
	return found
}

var (
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
	timeType            = reflect.TypeFor[time.Time]()
)

// describe names a node's kind for a type error.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	if n.ShortTag() == "!!null" {
		return "nothing"
	}
	return strconv.Quote(n.Value)
}

// kinds names the items of each top-level list in messages.
var kinds = map[string]string{
	"checks": "check", "rules": "rule", "channels": "channel", "routes": "route",
	"silences": "silence", "maintenance": "maintenance window",
}

// label names the object at n, item i of the top-level list field, for
// messages: `check "api"`, or `route 2` when it has no name.
func label(field string, i int, n *yaml.Node) string {
	kind := kinds[field]
	if n.Kind == yaml.MappingNode {
		for j := 0; j+1 < len(n.Content); j += 2 {
			if k, v := n.Content[j], n.Content[j+1]; k.Value == "name" && v.Kind == yaml.ScalarNode && v.Value != "" {
				return fmt.Sprintf("%s %q", kind, v.Value)
			}
		}
	}
	return fmt.Sprintf("%s %d", kind, i+1)
}

// prefix starts a message about a field of the object where ("" at the
// top level).
func prefix(where, field string) string {
	switch {
	case where == "" && field == "":
		return ""
	case where == "":
		return field + ": "
	case field == "":
		return where + ": "
	}
	return where + ": " + field + ": "
}

// decode decodes node n into v, recording positions under path. where
// names the enclosing object in messages and field the value.
func (p *parser) decode(n *yaml.Node, v reflect.Value, path, where string) {
	if !p.count(n, 1) {
		return
	}
	if n.Kind == yaml.AliasNode {
		if n.Alias == nil {
			return
		}
		p.decode(n.Alias, v, path, where)
		return
	}
	if _, ok := p.pos[path]; !ok {
		p.pos[path] = pos{n.Line, n.Column}
	}
	field := path[strings.LastIndexByte(path, '.')+1:]
	if !strings.Contains(path, ".") && strings.HasSuffix(path, "]") {
		field = "" // an item of a top-level list: where names it
	}
	fail := func(format string, args ...any) {
		p.failed[path] = true
		p.errorf(pos{n.Line, n.Column}, prefix(where, field)+format, args...)
	}
	null := n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
	t := v.Type()
	switch {
	case t == timeType:
		if null {
			v.Set(reflect.Zero(t))
			return
		}
		if n.Kind != yaml.ScalarNode {
			fail("want a time such as 2026-11-22T10:00:00Z, got %s", describe(n))
			return
		}
		var tm time.Time
		var err error
		if n.ShortTag() == "!!timestamp" {
			err = n.Decode(&tm)
		} else {
			tm, err = time.Parse(time.RFC3339Nano, n.Value)
		}
		if err != nil {
			fail("want a time such as 2026-11-22T10:00:00Z, got %s", describe(n))
			return
		}
		v.Set(reflect.ValueOf(tm.UTC()))
		return
	case reflect.PointerTo(t).Implements(textUnmarshalerType):
		if null {
			v.Set(reflect.Zero(t))
			return
		}
		if n.Kind != yaml.ScalarNode {
			fail("want text, got %s", describe(n))
			return
		}
		if err := v.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(n.Value)); err != nil {
			fail("%v", err)
		}
		return
	}
	switch t.Kind() {
	case reflect.String:
		s, ok := p.text(n)
		if !ok {
			fail("want text, got %s", describe(n))
			return
		}
		if !utf8.ValidString(s) {
			fail("text is not valid UTF-8")
			return
		}
		v.SetString(s)
	case reflect.Bool:
		if null {
			v.SetBool(false)
			return
		}
		var b bool
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" || n.Decode(&b) != nil {
			fail("want true or false, got %s", describe(n))
			return
		}
		v.SetBool(b)
	case reflect.Int:
		if null {
			v.SetInt(0)
			return
		}
		var i int
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" || n.Decode(&i) != nil {
			fail("want a whole number, got %s", describe(n))
			return
		}
		v.SetInt(int64(i))
	case reflect.Pointer:
		if null {
			v.Set(reflect.Zero(t))
			return
		}
		e := reflect.New(t.Elem())
		p.decode(n, e.Elem(), path, where)
		v.Set(e)
	case reflect.Slice:
		if null {
			v.Set(reflect.Zero(t))
			return
		}
		if n.Kind != yaml.SequenceNode {
			fail("want a list, got %s", describe(n))
			return
		}
		s := reflect.MakeSlice(t, len(n.Content), len(n.Content))
		for i, c := range n.Content {
			w := where
			if where == "" {
				w = label(path, i, resolve(c))
			}
			p.decode(c, s.Index(i), fmt.Sprintf("%s[%d]", path, i), w)
		}
		v.Set(s)
	case reflect.Map:
		if null {
			v.Set(reflect.Zero(t))
			return
		}
		if n.Kind != yaml.MappingNode {
			fail("want a mapping of names to values, got %s", describe(n))
			return
		}
		m := reflect.MakeMapWithSize(t, len(n.Content)/2)
		for _, kv := range p.pairs(n, prefix(where, field)) {
			ev := reflect.New(t.Elem()).Elem()
			p.decode(kv.v, ev, path+"."+kv.key, where)
			m.SetMapIndex(reflect.ValueOf(kv.key).Convert(t.Key()), ev)
		}
		v.Set(m)
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			if null {
				v.Set(reflect.Zero(t))
				return
			}
			fail("want a mapping, got %s", describe(n))
			return
		}
		p.decodeStruct(n, v, path, where)
	default:
		fail("cannot decode into %s", t)
	}
}

// count adds k nodes to those decoded, and reports false, once with an
// error, when there are too many.
func (p *parser) count(n *yaml.Node, k int) bool {
	p.nodes += k
	if p.nodes <= maxNodes {
		return true
	}
	if !p.exhausted {
		p.exhausted = true
		p.errorf(pos{n.Line, n.Column}, "too many YAML nodes: aliases expand to more than %d", maxNodes)
	}
	return false
}

// text returns a scalar as text; !!binary scalars are decoded.
func (p *parser) text(n *yaml.Node) (string, bool) {
	if n.Kind != yaml.ScalarNode {
		return "", false
	}
	switch n.ShortTag() {
	case "!!null":
		return "", true
	case "!!binary":
		b, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(n.Value), ""))
		if err != nil {
			return "", false
		}
		return string(b), true
	}
	return n.Value, true
}

// resolve follows aliases.
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n.Kind == yaml.AliasNode && n.Alias != nil && i < 100; i++ {
		n = n.Alias
	}
	return n
}

type pair struct {
	key  string
	k, v *yaml.Node
}

// pairs returns the entries of a mapping with merge keys (<<) expanded,
// reporting non-text and repeated keys. Keys given explicitly override
// merged ones, as in YAML 1.1.
func (p *parser) pairs(n *yaml.Node, what string) []pair {
	var out, merged []pair
	seen := map[string]bool{}
	for j := 0; j+1 < len(n.Content); j += 2 {
		k, v := resolve(n.Content[j]), n.Content[j+1]
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			src := resolve(v)
			var maps []*yaml.Node
			switch src.Kind {
			case yaml.MappingNode:
				maps = []*yaml.Node{src}
			case yaml.SequenceNode:
				for _, c := range src.Content {
					maps = append(maps, resolve(c))
				}
			}
			for _, m := range maps {
				if m.Kind != yaml.MappingNode {
					p.errorf(pos{v.Line, v.Column}, "%smerge (<<) wants a mapping or a list of mappings", what)
					continue
				}
				if !p.count(m, len(m.Content)) {
					continue
				}
				merged = append(merged, p.pairs(m, what)...)
			}
			continue
		}
		if k.Kind != yaml.ScalarNode {
			p.errorf(pos{k.Line, k.Column}, "%skeys must be text, got %s", what, describe(k))
			continue
		}
		if seen[k.Value] {
			p.errorf(pos{k.Line, k.Column}, "%skey %s appears twice", what, k.Value)
			continue
		}
		seen[k.Value] = true
		out = append(out, pair{k.Value, k, v})
	}
	for _, m := range merged {
		if !seen[m.key] {
			seen[m.key] = true
			out = append(out, m)
		}
	}
	return out
}

// decodeStruct decodes a mapping into a struct by the fields' yaml tags,
// reporting unknown keys, and sets the Line field to the mapping's line.
func (p *parser) decodeStruct(n *yaml.Node, v reflect.Value, path, where string) {
	t := v.Type()
	fields := map[string]int{}
	var names []string
	for i := range t.NumField() {
		sf := t.Field(i)
		tag := strings.Split(sf.Tag.Get("yaml"), ",")[0]
		if sf.Name == "Line" && sf.Type.Kind() == reflect.Int {
			v.Field(i).SetInt(int64(n.Line))
		}
		if tag == "" || tag == "-" || !sf.IsExported() {
			continue
		}
		fields[tag] = i
		names = append(names, tag)
	}
	what := ""
	if where != "" {
		what = where + ": "
	}
	for _, kv := range p.pairs(n, what) {
		i, ok := fields[kv.key]
		if !ok && path == "" && strings.HasPrefix(kv.key, "x-") {
			continue // a place for YAML anchors, as in Docker Compose
		}
		if !ok {
			in := ""
			if where != "" {
				in = " in " + where
			}
			msg := fmt.Sprintf("unknown key %s%s", kv.key, in)
			if s := suggest(kv.key, names); s != "" {
				msg += "; did you mean " + s + "?"
			} else {
				msg += "; known keys: " + strings.Join(names, ", ")
			}
			p.errorf(pos{kv.k.Line, kv.k.Column}, "%s", msg)
			continue
		}
		fp := kv.key
		if path != "" {
			fp = path + "." + kv.key
		}
		p.pos[fp] = pos{kv.k.Line, kv.k.Column}
		w := where
		if sub := t.Field(i).Type; where != "" && (sub.Kind() == reflect.Struct && sub != timeType || sub.Kind() == reflect.Pointer && sub.Elem().Kind() == reflect.Struct) {
			w = where + " " + kv.key
		}
		p.decode(kv.v, v.Field(i), fp, w)
	}
}

// suggest returns the name closest to s if it is a plausible typo of it.
func suggest(s string, names []string) string {
	best, bestD := "", 3
	for _, n := range names {
		d := distance(strings.ToLower(s), n)
		if d < bestD && d <= max(1, len(n)/3) {
			best, bestD = n, d
		}
	}
	return best
}

// distance is the Levenshtein distance of a and b, in bytes.
func distance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		if a == b {
			return 0
		}
		return 64
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			c := 1
			if a[i-1] == b[j-1] {
				c = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+c)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
