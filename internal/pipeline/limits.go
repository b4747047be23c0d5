package pipeline

import (
	"strconv"
	"strings"
	"unicode/utf8"
	"unsafe"

	"github.com/fibinc/telltale/internal/telemetry"
)

// Limits bound the size of one record's fields. Every signal passes Append,
// so they are enforced there once instead of in each decoder. A cut keeps
// valid UTF-8 (and valid JSON in JSON fields) and is marked, so that nobody
// mistakes a truncated value for the whole one. The zero value applies the
// defaults; a negative field turns that limit off.
type Limits struct {
	// MaxAttributes caps the members of every JSON object in attributes,
	// span events and links, error contexts and the tags of an error event;
	// the rest are dropped and counted in a member
	// "telltale.dropped_attributes_count". Default 128.
	MaxAttributes int
	// MaxKeyBytes caps an attribute key, measured as JSON text. Default 256.
	MaxKeyBytes int
	// MaxValueBytes caps a string attribute value (as JSON text) and every
	// other string field of a record. Default 16 KiB.
	MaxValueBytes int
	// MaxBodyBytes caps log bodies, error messages and exception values.
	// Default 64 KiB.
	MaxBodyBytes int
}

// Default limits.
const (
	DefaultMaxAttributes = 128
	DefaultMaxKeyBytes   = 256
	DefaultMaxValueBytes = 16 << 10
	DefaultMaxBodyBytes  = 64 << 10
)

// DroppedAttributesKey is the member added to an object that lost members.
const DroppedAttributesKey = "telltale.dropped_attributes_count"

// What was cut, as counted by Options.OnTruncate.
const (
	TruncatedAttribute = "attribute" // an attribute (object member, tag) dropped
	TruncatedKey       = "key"       // an attribute key cut
	TruncatedValue     = "value"     // an attribute value or another string field cut
	TruncatedBody      = "body"      // a log body, error message or exception value cut
)

// noLimit stands for a limit that is off.
const noLimit = int(^uint(0) >> 1)

func (l Limits) withDefaults() Limits {
	set := func(v *int, def int) {
		switch {
		case *v == 0:
			*v = def
		case *v < 0:
			*v = noLimit
		}
	}
	set(&l.MaxAttributes, DefaultMaxAttributes)
	set(&l.MaxKeyBytes, DefaultMaxKeyBytes)
	set(&l.MaxValueBytes, DefaultMaxValueBytes)
	set(&l.MaxBodyBytes, DefaultMaxBodyBytes)
	return l
}

// cuts counts what one call cut.
type cuts struct {
	attributes, keys, values, bodies int
}

func (c *cuts) add(o cuts) {
	c.attributes += o.attributes
	c.keys += o.keys
	c.values += o.values
	c.bodies += o.bodies
}

func (c cuts) any() bool { return c != cuts{} }

// appendMarker appends the mark of a cut of n bytes.
func appendMarker(b []byte, n int) []byte {
	b = append(b, "…[truncated "...)
	b = strconv.AppendInt(b, int64(n), 10)
	return append(b, " bytes]"...)
}

// maxMarker is the longest marker appendMarker writes.
var maxMarker = len(appendMarker(nil, noLimit))

// CutString returns s cut to at most max bytes at a character boundary,
// with a marker saying how many bytes were cut (so the result is at most
// max plus the marker's length), and whether it cut. Valid UTF-8 stays
// valid.
func CutString(s string, max int) (string, bool) {
	if len(s) <= max {
		return s, false
	}
	k := max
	// Back up to the start of a character, at most 3 bytes: a longer run of
	// continuation bytes is invalid UTF-8 anyway.
	for i := 0; i < utf8.UTFMax-1 && k > 0 && !utf8.RuneStart(s[k]); i++ {
		k--
	}
	b := make([]byte, 0, k+maxMarker)
	b = append(b, s[:k]...)
	b = appendMarker(b, len(s)-k)
	return unsafe.String(unsafe.SliceData(b), len(b)), true
}

// CutJSON applies the limits to JSON text: objects keep at most maxMembers
// members (at any depth), keys at most maxKey bytes and string values at
// most maxValue bytes of JSON text, plus a marker. It returns s itself when
// nothing is cut, and also when s is not valid JSON (which the decoders do
// not produce).
func CutJSON(s string, maxMembers, maxKey, maxValue int) (string, CutsJSON) {
	// Text this short cannot hold anything over a limit: an object member
	// takes at least 5 bytes (`"":0,`).
	if len(s) <= maxKey && len(s) <= maxValue && len(s)/5 <= maxMembers {
		return s, CutsJSON{}
	}
	if withinLimits(s, maxMembers, min(maxKey, maxValue)) {
		return s, CutsJSON{}
	}
	j := jsonCutter{s: s, maxMembers: maxMembers, maxKey: maxKey, maxValue: maxValue}
	if !j.top() || !j.cut.any() {
		return s, CutsJSON{}
	}
	// Second pass: write the cut text.
	j = jsonCutter{s: s, maxMembers: maxMembers, maxKey: maxKey, maxValue: maxValue, write: true,
		out: make([]byte, 0, len(s)+64)}
	j.top()
	return unsafe.String(unsafe.SliceData(j.out), len(j.out)), j.cut
}

// withinLimits is a conservative check, several times faster than the
// scanner because it uses the vectorised byte searches. Every member has a
// colon. Without escaped quotes every string lies between two consecutive
// quotes, and a quote-free run of 2b-1 bytes or more covers a whole aligned
// block of b bytes: if every block of maxString/2 bytes holds a quote, no
// string is longer than maxString.
func withinLimits(s string, maxMembers, maxString int) bool {
	if strings.Count(s, ":") > maxMembers || strings.Contains(s, `\"`) {
		return false
	}
	block := max(maxString/2, 1)
	for i := 0; i+block <= len(s); i += block {
		if strings.IndexByte(s[i:i+block], '"') < 0 {
			return false
		}
	}
	return true
}

// CutsJSON counts what CutJSON cut: members dropped, keys and string
// values cut.
type CutsJSON struct {
	Members, Keys, Values int
}

func (c CutsJSON) any() bool { return c != CutsJSON{} }

// maxDepth bounds the nesting CutJSON follows; deeper text is left alone.
const maxDepth = 64

// jsonCutter is a small recursive-descent JSON scanner. Without write it only
// finds what must be cut; with write it also writes the result to out,
// compact (whitespace dropped).
type jsonCutter struct {
	s                            string
	i                            int
	maxMembers, maxKey, maxValue int
	write                        bool
	out                          []byte
	cut                          CutsJSON
	depth                        int
}

func (j *jsonCutter) top() bool {
	if !j.value() {
		return false
	}
	j.ws()
	return j.i == len(j.s)
}

func (j *jsonCutter) ws() {
	for j.i < len(j.s) {
		switch j.s[j.i] {
		case ' ', '\t', '\n', '\r':
			j.i++
		default:
			return
		}
	}
}

func (j *jsonCutter) value() bool {
	j.ws()
	if j.i >= len(j.s) {
		return false
	}
	switch j.s[j.i] {
	case '{':
		return j.object()
	case '[':
		return j.array()
	case '"':
		return j.str(j.maxValue, &j.cut.Values)
	}
	start := j.i
	for j.i < len(j.s) {
		c := j.s[j.i]
		if c == ',' || c == '}' || c == ']' || c == ' ' || c == '\t' || c == '\n' || c == '\r' {
			break
		}
		if c == '"' || c == '{' || c == '[' || c == ':' {
			return false
		}
		j.i++
	}
	if lit := j.s[start:j.i]; lit != "true" && lit != "false" && lit != "null" && !isNumber(lit) {
		return false
	}
	if j.write {
		j.out = append(j.out, j.s[start:j.i]...)
	}
	return true
}

// isNumber reports whether s is a JSON number.
func isNumber(s string) bool {
	i := 0
	digits := func() bool {
		start := i
		for i < len(s) && '0' <= s[i] && s[i] <= '9' {
			i++
		}
		return i > start
	}
	if i < len(s) && s[i] == '-' {
		i++
	}
	if i < len(s) && s[i] == '0' {
		i++
	} else if !digits() {
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		if !digits() {
			return false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if !digits() {
			return false
		}
	}
	return i == len(s)
}

func (j *jsonCutter) object() bool {
	if j.depth++; j.depth > maxDepth {
		return false
	}
	defer func() { j.depth-- }()
	j.i++ // {
	if j.write {
		j.out = append(j.out, '{')
	}
	members, dropped := 0, 0
	j.ws()
	if j.i < len(j.s) && j.s[j.i] == '}' {
		j.i++
		if j.write {
			j.out = append(j.out, '}')
		}
		return true
	}
	for {
		j.ws()
		if j.i >= len(j.s) || j.s[j.i] != '"' {
			return false
		}
		keep := members < j.maxMembers
		write := j.write
		if !keep {
			// Scan the dropped member without writing it.
			j.write = false
			dropped++
		} else if write && members > 0 {
			j.out = append(j.out, ',')
		}
		var keyCuts int
		ok := j.str(j.maxKey, &keyCuts)
		if keep {
			j.cut.Keys += keyCuts
		}
		if ok {
			j.ws()
			ok = j.i < len(j.s) && j.s[j.i] == ':'
			j.i++
		}
		if ok && j.write {
			j.out = append(j.out, ':')
		}
		if ok {
			saved := j.cut
			ok = j.value()
			if !keep {
				j.cut = saved // what is inside a dropped member is not counted
			}
		}
		j.write = write
		if !ok {
			return false
		}
		members++
		j.ws()
		if j.i >= len(j.s) {
			return false
		}
		switch j.s[j.i] {
		case ',':
			j.i++
			continue
		case '}':
			j.i++
		default:
			return false
		}
		break
	}
	if dropped > 0 {
		j.cut.Members += dropped
		if j.write {
			if members > dropped {
				j.out = append(j.out, ',')
			}
			j.out = append(j.out, `"`+DroppedAttributesKey+`":`...)
			j.out = strconv.AppendInt(j.out, int64(dropped), 10)
		}
	}
	if j.write {
		j.out = append(j.out, '}')
	}
	return true
}

func (j *jsonCutter) array() bool {
	if j.depth++; j.depth > maxDepth {
		return false
	}
	defer func() { j.depth-- }()
	j.i++ // [
	if j.write {
		j.out = append(j.out, '[')
	}
	j.ws()
	if j.i < len(j.s) && j.s[j.i] == ']' {
		j.i++
		if j.write {
			j.out = append(j.out, ']')
		}
		return true
	}
	for n := 0; ; n++ {
		if n > 0 && j.write {
			j.out = append(j.out, ',')
		}
		if !j.value() {
			return false
		}
		j.ws()
		if j.i >= len(j.s) {
			return false
		}
		switch j.s[j.i] {
		case ',':
			j.i++
			continue
		case ']':
			j.i++
		default:
			return false
		}
		break
	}
	if j.write {
		j.out = append(j.out, ']')
	}
	return true
}

// str scans the string at j.i, cutting its content to max bytes of JSON
// text. count is incremented when it cuts.
func (j *jsonCutter) str(max int, count *int) bool {
	start := j.i + 1
	k := start
	for {
		if k >= len(j.s) {
			return false
		}
		c := j.s[k]
		if c == '"' {
			break
		}
		if c < 0x20 {
			return false
		}
		if c == '\\' {
			w := escapeLen(j.s[k:])
			if w == 0 {
				return false
			}
			k += w
			continue
		}
		k++
	}
	content := j.s[start:k]
	j.i = k + 1
	if len(content) <= max {
		if j.write {
			j.out = append(j.out, j.s[start-1:j.i]...)
		}
		return true
	}
	*count++
	if j.write {
		n := jsonCutPoint(content, max)
		j.out = append(j.out, '"')
		j.out = append(j.out, content[:n]...)
		j.out = appendMarker(j.out, len(content)-n)
		j.out = append(j.out, '"')
	}
	return true
}

// jsonCutPoint returns the longest prefix of the JSON string content s, at
// most max bytes, that ends between characters and escape sequences (a
// surrogate pair counts as one).
func jsonCutPoint(s string, max int) int {
	cut := 0
	for k := 0; k < len(s); {
		w := 1
		switch c := s[k]; {
		case c == '\\':
			w = 2
			if k+1 < len(s) && s[k+1] == 'u' {
				w = 6
				if isHighSurrogate(s[k:]) && k+12 <= len(s) && s[k+6] == '\\' && s[k+7] == 'u' {
					w = 12
				}
			}
		case c >= utf8.RuneSelf:
			_, w = utf8.DecodeRuneInString(s[k:])
		}
		if k+w > max {
			break
		}
		k += w
		cut = k
	}
	return min(cut, len(s))
}

// escapeLen returns the length of the valid escape sequence at the start of
// s, or 0.
func escapeLen(s string) int {
	if len(s) < 2 {
		return 0
	}
	switch s[1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		return 2
	case 'u':
		if len(s) < 6 {
			return 0
		}
		for _, c := range []byte(s[2:6]) {
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return 0
			}
		}
		return 6
	}
	return 0
}

// isHighSurrogate reports whether s starts with \uD800..\uDBFF.
func isHighSurrogate(s string) bool {
	if len(s) < 6 {
		return false
	}
	if s[2] != 'd' && s[2] != 'D' {
		return false
	}
	switch s[3] {
	case '8', '9', 'a', 'b', 'A', 'B':
		return true
	}
	return false
}

// limiter applies Limits to records and counts the cuts.
type limiter struct {
	l Limits
	c cuts
}

func (t *limiter) value(s *string) {
	if len(*s) <= t.l.MaxValueBytes {
		return
	}
	*s, _ = CutString(*s, t.l.MaxValueBytes)
	t.c.values++
}

func (t *limiter) body(s *string) {
	if len(*s) <= t.l.MaxBodyBytes {
		return
	}
	*s, _ = CutString(*s, t.l.MaxBodyBytes)
	t.c.bodies++
}

func (t *limiter) json(s *string) {
	out, c := CutJSON(*s, t.l.MaxAttributes, t.l.MaxKeyBytes, t.l.MaxValueBytes)
	if !c.any() {
		return
	}
	*s = out
	t.c.attributes += c.Members
	t.c.keys += c.Keys
	t.c.values += c.Values
}

func (t *limiter) resource(r *telemetry.Resource) {
	t.value(&r.ServiceName)
	t.value(&r.ServiceVersion)
	t.value(&r.InstanceID)
	t.value(&r.Environment)
	t.value(&r.Host)
	t.value(&r.AvailabilityZone)
	t.json(&r.Attributes)
}

func (t *limiter) scope(s *telemetry.Scope) {
	t.value(&s.Name)
	t.value(&s.Version)
}

func (t *limiter) span(s *telemetry.Span) {
	t.resource(&s.Resource)
	t.scope(&s.Scope)
	t.value(&s.TraceState)
	t.value(&s.Name)
	t.value(&s.StatusMessage)
	t.value(&s.RequestID)
	t.json(&s.Attributes)
	t.json(&s.Events)
	t.json(&s.Links)
}

func (t *limiter) log(l *telemetry.Log) {
	t.resource(&l.Resource)
	t.scope(&l.Scope)
	t.value(&l.SeverityText)
	t.body(&l.Body)
	t.value(&l.RequestID)
	t.value(&l.EventName)
	t.json(&l.Attributes)
}

func (t *limiter) metric(m *telemetry.MetricPoint) {
	t.resource(&m.Resource)
	t.scope(&m.Scope)
	t.value(&m.Name)
	t.value(&m.Description)
	t.value(&m.Unit)
	t.json(&m.Attributes)
}

func (t *limiter) errorEvent(e *telemetry.ErrorEvent) {
	t.resource(&e.Resource)
	for _, s := range []*string{&e.Logger, &e.Transaction, &e.ServerName, &e.Release, &e.Dist, &e.Browser, &e.OS,
		&e.Title, &e.Culprit, &e.RequestID,
		&e.User.ID, &e.User.Email, &e.User.Username, &e.User.IPAddress, &e.User.Name,
		&e.Request.URL, &e.Request.Method, &e.Request.QueryString, &e.Request.Data, &e.Request.Cookies} {
		t.value(s)
	}
	t.body(&e.Message)
	t.body(&e.MessageFormat)
	for i := range e.Exceptions {
		x := &e.Exceptions[i]
		t.value(&x.Type)
		t.body(&x.Value)
		t.value(&x.Module)
		t.body(&x.RawStacktrace)
	}
	e.Tags = t.tags(e.Tags)
	e.Request.Headers = t.tags(e.Request.Headers)
	t.json(&e.Contexts)
	t.json(&e.Extra)
	for i := range e.Breadcrumbs {
		t.value(&e.Breadcrumbs[i].Message)
		t.json(&e.Breadcrumbs[i].Data)
	}
}

// tags applies the attribute limits to a list of tags. The list is only
// shortened in place (the slice is the caller's, handed to Append).
func (t *limiter) tags(tags []telemetry.Tag) []telemetry.Tag {
	if len(tags) > t.l.MaxAttributes {
		t.c.attributes += len(tags) - t.l.MaxAttributes
		tags = tags[:t.l.MaxAttributes]
	}
	for i := range tags {
		if len(tags[i].Key) > t.l.MaxKeyBytes {
			tags[i].Key, _ = CutString(tags[i].Key, t.l.MaxKeyBytes)
			t.c.keys++
		}
		t.value(&tags[i].Value)
	}
	return tags
}

// Fixed sizes of the records, for the queue's byte estimate.
var (
	spanSize   = int(unsafe.Sizeof(telemetry.Span{}))
	logSize    = int(unsafe.Sizeof(telemetry.Log{}))
	metricSize = int(unsafe.Sizeof(telemetry.MetricPoint{}))
	errorSize  = int(unsafe.Sizeof(telemetry.ErrorEvent{}))
	// A stack frame, a tag or a breadcrumb: the struct and short strings.
	frameSize = int(unsafe.Sizeof(telemetry.Frame{})) + 64
	tagSize   = int(unsafe.Sizeof(telemetry.Breadcrumb{})) + 32
)

// sameString reports whether a and b share their bytes: records decoded
// from one resource share its attribute text, which is counted once.
func sameString(a, b string) bool {
	return len(a) == len(b) && unsafe.StringData(a) == unsafe.StringData(b)
}

func resourceBytes(r, prev *telemetry.Resource) int {
	if prev != nil && sameString(r.Attributes, prev.Attributes) {
		return 0
	}
	return len(r.Attributes)
}

// spans applies the limits to spans and returns their estimated size
// in memory: the structs and their larger strings.
func (t *limiter) spans(s []telemetry.Span) int {
	n := len(s) * spanSize
	for i := range s {
		t.span(&s[i])
		var prev *telemetry.Resource
		if i > 0 {
			prev = &s[i-1].Resource
		}
		n += resourceBytes(&s[i].Resource, prev) + len(s[i].Name) + len(s[i].Attributes) + len(s[i].Events) + len(s[i].Links) + len(s[i].StatusMessage)
	}
	return n
}

func (t *limiter) logs(s []telemetry.Log) int {
	n := len(s) * logSize
	for i := range s {
		t.log(&s[i])
		var prev *telemetry.Resource
		if i > 0 {
			prev = &s[i-1].Resource
		}
		n += resourceBytes(&s[i].Resource, prev) + len(s[i].Body) + len(s[i].Attributes)
	}
	return n
}

func (t *limiter) metrics(s []telemetry.MetricPoint) int {
	n := len(s) * metricSize
	for i := range s {
		m := &s[i]
		t.metric(m)
		var prev *telemetry.Resource
		if i > 0 {
			prev = &s[i-1].Resource
		}
		n += resourceBytes(&m.Resource, prev) + len(m.Attributes) +
			8*(len(m.BucketBounds)+len(m.BucketCounts)+len(m.ExpPositiveCounts)+len(m.ExpNegativeCounts)+len(m.Quantiles)+len(m.QuantileValues))
	}
	return n
}

func (t *limiter) errors(s []telemetry.ErrorEvent) int {
	n := len(s) * errorSize
	for i := range s {
		e := &s[i]
		t.errorEvent(e)
		n += len(e.Resource.Attributes) + len(e.Message) + len(e.Contexts) + len(e.Extra) + len(e.Grouping) + len(e.Request.Data)
		for _, x := range e.Exceptions {
			n += len(x.Value) + len(x.RawStacktrace) + frameSize*len(x.Frames)
		}
		n += frameSize*len(e.Stacktrace) + tagSize*(len(e.Tags)+len(e.Request.Headers)+len(e.Breadcrumbs))
	}
	return n
}
