package uptime

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/fibinc/telltale/internal/config"
	"github.com/fibinc/telltale/internal/state"
)

// Condition is one parsed Gatus-style condition, "<left> <op> <right>".
// The zero value is not valid: use ParseCondition.
type Condition struct {
	raw         string
	left, right operand
	op          string
}

// operand kinds.
const (
	opLiteral = iota
	opPlaceholder
	opLen
	opHas
	opPat
	opAny
)

type operand struct {
	kind        int
	text        string     // as written, for the resolved display
	placeholder string     // STATUS, BODY, ... for opPlaceholder, opLen, opHas
	path        []pathElem // JSON path after [BODY]
	lit         string     // literal value, or the pattern of pat()
	args        []operand  // any()
}

type pathElem struct {
	key   string
	index int // used when isIdx
	isIdx bool
}

// placeholders are those a condition may use.
var placeholders = map[string]bool{
	"STATUS": true, "RESPONSE_TIME": true, "BODY": true, "CERTIFICATE_EXPIRATION": true,
	"IP": true, "CONNECTED": true, "DNS_RCODE": true,
}

// ops, longest first so that "<=" is not read as "<".
var ops = []string{"==", "!=", "<=", ">=", "<", ">"}

// CheckCondition reports whether s is a valid condition, with an error
// naming the problem.
func CheckCondition(s string) error {
	_, err := ParseCondition(s)
	return err
}

// ParseCondition parses a condition such as "[STATUS] == 200",
// "[BODY].items[0].state == pat(run*)" or "len([BODY].items) > 0".
func ParseCondition(s string) (Condition, error) {
	c := Condition{raw: s}
	l, op, r, err := splitCondition(s)
	if err != nil {
		return Condition{}, err
	}
	c.op = op
	if c.left, err = parseOperand(l); err != nil {
		return Condition{}, fmt.Errorf("invalid condition %q: left side: %w", s, err)
	}
	if c.right, err = parseOperand(r); err != nil {
		return Condition{}, fmt.Errorf("invalid condition %q: right side: %w", s, err)
	}
	for _, o := range []operand{c.left, c.right} {
		if (o.kind == opPat || o.kind == opAny) && op != "==" && op != "!=" {
			return Condition{}, fmt.Errorf("invalid condition %q: %s() works only with == and !=", s, funcName(o.kind))
		}
	}
	if c.left.kind == opAny && c.right.kind == opAny || c.left.kind == opPat && c.right.kind == opPat {
		return Condition{}, fmt.Errorf("invalid condition %q: %s() on both sides", s, funcName(c.left.kind))
	}
	return c, nil
}

func funcName(kind int) string {
	switch kind {
	case opLen:
		return "len"
	case opHas:
		return "has"
	case opPat:
		return "pat"
	case opAny:
		return "any"
	}
	return ""
}

// splitCondition finds the operator: the first one outside parentheses,
// brackets and quotes, with a space on each side.
func splitCondition(s string) (left, op, right string, err error) {
	depth := 0
	inQuote := false
	for i := 0; i < len(s); i++ {
		switch ch := s[i]; {
		case ch == '"':
			inQuote = !inQuote
		case inQuote:
		case ch == '(' || ch == '[':
			depth++
		case ch == ')' || ch == ']':
			depth--
		case depth == 0 && i > 0 && s[i-1] == ' ':
			for _, o := range ops {
				if strings.HasPrefix(s[i:], o+" ") {
					left, right = strings.TrimSpace(s[:i]), strings.TrimSpace(s[i+len(o):])
					if left == "" || right == "" {
						return "", "", "", fmt.Errorf("invalid condition %q: missing a side of %s", s, o)
					}
					return left, o, right, nil
				}
			}
		}
	}
	return "", "", "", fmt.Errorf("invalid condition %q: want <left> <op> <right> with op one of == != < <= > >= and a space on each side", s)
}

func parseOperand(s string) (operand, error) {
	o := operand{text: s}
	name, arg, isFunc := cutFunc(s)
	if isFunc {
		switch name {
		case "len", "has":
			p, err := parsePlaceholder(arg)
			if err != nil {
				return o, fmt.Errorf("%s(): %w", name, err)
			}
			p.text = s
			p.kind = opLen
			if name == "has" {
				p.kind = opHas
			}
			return p, nil
		case "pat":
			if arg == "" {
				return o, errors.New("pat() needs a pattern")
			}
			o.kind, o.lit = opPat, unquote(arg)
			return o, nil
		case "any":
			parts := splitArgs(arg)
			if len(parts) == 0 {
				return o, errors.New("any() needs at least one value")
			}
			o.kind = opAny
			for _, p := range parts {
				a, err := parseOperand(p)
				if err != nil {
					return o, fmt.Errorf("any(): %w", err)
				}
				if a.kind != opLiteral && a.kind != opPlaceholder {
					return o, fmt.Errorf("any(): %q is not a value or placeholder", p)
				}
				o.args = append(o.args, a)
			}
			return o, nil
		}
		return o, fmt.Errorf("unknown function %s(): want len, has, pat or any", name)
	}
	if strings.HasPrefix(s, "[") {
		return parsePlaceholder(s)
	}
	o.kind, o.lit = opLiteral, unquote(s)
	return o, nil
}

// cutFunc splits "name(arg)" for a lower-case name.
func cutFunc(s string) (name, arg string, ok bool) {
	i := strings.IndexByte(s, '(')
	if i <= 0 || !strings.HasSuffix(s, ")") {
		return "", "", false
	}
	name = s[:i]
	for _, c := range name {
		if c < 'a' || c > 'z' {
			return "", "", false
		}
	}
	return name, strings.TrimSpace(s[i+1 : len(s)-1]), true
}

// splitArgs splits a comma-separated argument list, keeping commas in
// quotes.
func splitArgs(s string) []string {
	var out []string
	inQuote := false
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == ',' && !inQuote {
			if p := strings.TrimSpace(s[start:i]); p != "" {
				out = append(out, p)
			}
			start = i + 1
		} else if s[i] == '"' {
			inQuote = !inQuote
		}
	}
	return out
}

func unquote(s string) string {
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		if u, err := strconv.Unquote(s); err == nil {
			return u
		}
		return s[1 : len(s)-1]
	}
	return s
}

func parsePlaceholder(s string) (operand, error) {
	o := operand{kind: opPlaceholder, text: s}
	end := strings.IndexByte(s, ']')
	if !strings.HasPrefix(s, "[") || end < 0 {
		return o, fmt.Errorf("%q is not a placeholder: want [STATUS], [RESPONSE_TIME], [BODY], [CERTIFICATE_EXPIRATION], [IP], [CONNECTED] or [DNS_RCODE]", s)
	}
	o.placeholder = s[1:end]
	if !placeholders[o.placeholder] {
		return o, fmt.Errorf("unknown placeholder [%s]: want [STATUS], [RESPONSE_TIME], [BODY], [CERTIFICATE_EXPIRATION], [IP], [CONNECTED] or [DNS_RCODE]", o.placeholder)
	}
	rest := s[end+1:]
	if rest == "" {
		return o, nil
	}
	if o.placeholder != "BODY" {
		return o, fmt.Errorf("[%s] takes no path (only [BODY] does), got %q", o.placeholder, rest)
	}
	path, err := parsePath(rest)
	if err != nil {
		return o, err
	}
	o.path = path
	return o, nil
}

// parsePath parses a JSON path such as ".a.b[0].c" or "[2].name".
func parsePath(s string) ([]pathElem, error) {
	var out []pathElem
	for i := 0; i < len(s); {
		switch s[i] {
		case '.':
			j := i + 1
			for j < len(s) && s[j] != '.' && s[j] != '[' {
				j++
			}
			if j == i+1 {
				return nil, fmt.Errorf("invalid JSON path %q: empty key at offset %d", s, i)
			}
			out = append(out, pathElem{key: s[i+1 : j]})
			i = j
		case '[':
			j := strings.IndexByte(s[i:], ']')
			if j < 0 {
				return nil, fmt.Errorf("invalid JSON path %q: unclosed [", s)
			}
			n, err := strconv.Atoi(s[i+1 : i+j])
			if err != nil || n < 0 {
				return nil, fmt.Errorf("invalid JSON path %q: index %q is not a number", s, s[i+1:i+j])
			}
			out = append(out, pathElem{index: n, isIdx: true})
			i += j + 1
		default:
			return nil, fmt.Errorf("invalid JSON path %q: want .key or [index] at offset %d", s, i)
		}
	}
	return out, nil
}

// String returns the condition as written.
func (c Condition) String() string { return c.raw }

// usesConnected reports whether the condition looks at [CONNECTED], so
// that a connection failure may be what it expects.
func (c Condition) usesConnected() bool {
	return c.left.placeholder == "CONNECTED" || c.right.placeholder == "CONNECTED"
}

// value is a resolved operand.
type value struct {
	s       string
	num     float64
	isNum   bool
	missing bool // a JSON path that the body does not have
}

func textValue(s string) value {
	v := value{s: s}
	v.num, v.isNum = parseNumber(s)
	return v
}

// parseNumber reads a finite number or a duration ("48h", "7d") as
// milliseconds.
func parseNumber(s string) (float64, bool) {
	if s == "" {
		return 0, false
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		if math.IsNaN(f) || math.IsInf(f, 0) || !strings.ContainsAny(s[:1], "0123456789+-.") {
			return 0, false
		}
		return f, true
	}
	if c := s[len(s)-1]; c < 'a' || c > 'z' || s[0] < '0' || s[0] > '9' {
		return 0, false
	}
	d, err := config.ParseDuration(s)
	if err != nil {
		return 0, false
	}
	return float64(time.Duration(d).Milliseconds()), true
}

// Eval evaluates the condition against a probe result. Actual is the
// condition with the resolved values in parentheses after the
// placeholders: "[STATUS] (503) == 200".
func (c Condition) Eval(r *Result) state.ConditionResult {
	lv, rv := r.resolve(c.left), r.resolve(c.right)
	ok := compare(c.op, c.left, lv, c.right, rv, r)
	return state.ConditionResult{
		Condition: c.raw,
		OK:        ok,
		Actual:    display(c.left, lv) + " " + c.op + " " + display(c.right, rv),
	}
}

func display(o operand, v value) string {
	switch o.kind {
	case opLiteral, opPat, opAny:
		return o.text
	}
	s := v.s
	if v.missing {
		s = "missing"
	}
	if len(s) > 100 {
		s = s[:97] + "..."
	}
	return o.text + " (" + s + ")"
}

func compare(op string, lo operand, lv value, ro operand, rv value, r *Result) bool {
	// Functions that match sets go on the right.
	if lo.kind == opPat || lo.kind == opAny {
		lo, ro, lv, rv = ro, lo, rv, lv
	}
	if lv.missing && lo.kind != opHas || rv.missing && ro.kind != opHas {
		return false
	}
	switch ro.kind {
	case opPat:
		m := globMatch(ro.lit, lv.s)
		return m == (op == "==")
	case opAny:
		found := false
		for _, a := range ro.args {
			av := r.resolve(a)
			if !av.missing && equal(lv, av) {
				found = true
				break
			}
		}
		return found == (op == "==")
	}
	switch op {
	case "==":
		return equal(lv, rv)
	case "!=":
		return !equal(lv, rv)
	}
	if !lv.isNum || !rv.isNum {
		return false
	}
	switch op {
	case "<":
		return lv.num < rv.num
	case "<=":
		return lv.num <= rv.num
	case ">":
		return lv.num > rv.num
	case ">=":
		return lv.num >= rv.num
	}
	return false
}

func equal(a, b value) bool {
	if a.isNum && b.isNum {
		return a.num == b.num
	}
	return a.s == b.s
}

// globMatch matches s against a pattern in which * stands for any run of
// characters, as Gatus's pat() does.
func globMatch(pattern, s string) bool {
	parts := strings.Split(pattern, "*")
	if len(parts) == 1 {
		return s == pattern
	}
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	for _, p := range parts[1 : len(parts)-1] {
		i := strings.Index(s, p)
		if i < 0 {
			return false
		}
		s = s[i+len(p):]
	}
	return strings.HasSuffix(s, parts[len(parts)-1])
}

// resolve returns the value of an operand for this result.
func (r *Result) resolve(o operand) value {
	switch o.kind {
	case opLiteral:
		return textValue(o.lit)
	case opPat:
		return value{s: o.lit}
	case opAny:
		return value{s: o.text}
	}
	v, raw := r.placeholder(o)
	switch o.kind {
	case opHas:
		if v.missing {
			return value{s: "false"}
		}
		return value{s: "true"}
	case opLen:
		if v.missing {
			return v
		}
		n := len(v.s)
		switch x := raw.(type) {
		case []any:
			n = len(x)
		case map[string]any:
			n = len(x)
		case string:
			n = len([]rune(x))
		}
		return value{s: strconv.Itoa(n), num: float64(n), isNum: true}
	}
	return v
}

// placeholder resolves a placeholder, with the decoded JSON value when it
// is a path into the body.
func (r *Result) placeholder(o operand) (value, any) {
	switch o.placeholder {
	case "STATUS":
		return textValue(strconv.Itoa(r.Status)), nil
	case "RESPONSE_TIME":
		return textValue(strconv.FormatInt(r.Duration.Milliseconds(), 10)), nil
	case "IP":
		return value{s: r.IP}, nil
	case "CONNECTED":
		return value{s: strconv.FormatBool(r.Connected)}, nil
	case "DNS_RCODE":
		return value{s: r.DNSRcode}, nil
	case "CERTIFICATE_EXPIRATION":
		if r.CertExpiry.IsZero() {
			return value{s: "0s", isNum: true}, nil
		}
		d := r.CertExpiry.Sub(r.At).Truncate(time.Second)
		return value{s: d.String(), num: float64(d.Milliseconds()), isNum: true}, nil
	case "BODY":
		if len(o.path) == 0 {
			if o.kind == opLen {
				if doc, ok := r.json(); ok {
					return textValue(string(r.Body)), doc
				}
			}
			return textValue(string(r.Body)), nil
		}
		doc, ok := r.json()
		if !ok {
			return value{missing: true}, nil
		}
		x, found := walk(doc, o.path)
		if !found {
			return value{missing: true}, nil
		}
		return jsonValue(x), x
	}
	return value{missing: true}, nil
}

// json decodes the body once.
func (r *Result) json() (any, bool) {
	if !r.jsonDone {
		r.jsonDone = true
		d := json.NewDecoder(bytes.NewReader(r.Body))
		d.UseNumber()
		if err := d.Decode(&r.jsonDoc); err == nil {
			r.jsonOK = true
		}
	}
	return r.jsonDoc, r.jsonOK
}

func walk(doc any, path []pathElem) (any, bool) {
	cur := doc
	for _, p := range path {
		if p.isIdx {
			a, ok := cur.([]any)
			if !ok || p.index >= len(a) {
				return nil, false
			}
			cur = a[p.index]
			continue
		}
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[p.key]; !ok {
			return nil, false
		}
	}
	return cur, true
}

func jsonValue(x any) value {
	switch v := x.(type) {
	case string:
		return textValue(v)
	case json.Number:
		return textValue(v.String())
	case bool:
		return value{s: strconv.FormatBool(v)}
	case nil:
		return value{s: "null"}
	}
	b, _ := json.Marshal(x)
	return value{s: string(b)}
}
