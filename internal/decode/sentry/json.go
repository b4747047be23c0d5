package sentry

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// The types below decode the polymorphic fields of Sentry payloads. Their
// UnmarshalJSON methods never fail on a value of an unexpected type, which is
// left empty instead, so that one odd field does not lose a whole event;
// encoding/json has already checked the syntax of the payload before it calls
// them.

// looseString takes a string, and the text of a number or boolean. Objects,
// arrays and null leave it empty.
type looseString string

func (s *looseString) UnmarshalJSON(b []byte) error {
	*s = looseString(scalarText(b))
	return nil
}

// scalarText returns a JSON string's value, or a number's or a boolean's
// text; "" for anything else.
func scalarText(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	switch b[0] {
	case '"':
		return unquote(b)
	case '{', '[', 'n':
		return ""
	}
	return string(b)
}

// unquote decodes a JSON string literal. Most strings have no escapes and
// are valid UTF-8, and are copied directly.
func unquote(b []byte) string {
	if len(b) >= 2 && bytes.IndexByte(b, '\\') < 0 && utf8.Valid(b) {
		return string(b[1 : len(b)-1])
	}
	var s string
	if json.Unmarshal(b, &s) != nil {
		return ""
	}
	return s
}

// valueText returns a string's value, and the compact JSON text of any other
// value; "" for null.
func valueText(b []byte) string {
	if len(b) == 0 || b[0] == 'n' {
		return ""
	}
	if b[0] == '"' {
		return unquote(b)
	}
	return jsonText(b)
}

// jsonText returns b as compact JSON text, valid UTF-8.
func jsonText(b []byte) string {
	if bytes.IndexAny(b, " \t\r\n") < 0 {
		return validUTF8(string(b)) // already compact, as SDKs send it
	}
	var buf bytes.Buffer
	if json.Compact(&buf, b) != nil {
		return ""
	}
	return validUTF8(buf.String())
}

// objectText returns b as compact JSON text when it is an object, else "{}".
func objectText(b []byte) string {
	if !isObject(b) {
		return "{}"
	}
	if s := jsonText(b); s != "" {
		return s
	}
	return "{}"
}

// isObject tells whether the JSON text b, stripped of surrounding space by
// encoding/json, is an object.
func isObject(b []byte) bool {
	b = bytes.TrimLeft(b, " \t\r\n")
	return len(b) > 0 && b[0] == '{'
}

// looseBool takes true or false, also as strings; anything else is nil.
type looseBool struct{ v *bool }

func (l *looseBool) UnmarshalJSON(b []byte) error {
	switch scalarText(b) {
	case "true":
		t := true
		l.v = &t
	case "false":
		f := false
		l.v = &f
	default:
		l.v = nil
	}
	return nil
}

func (l looseBool) isTrue() bool { return l.v != nil && *l.v }

// looseInt takes a number, also as a string; fractions are dropped and
// values out of the int32 range are 0.
type looseInt int

func (n *looseInt) UnmarshalJSON(b []byte) error {
	f, err := strconv.ParseFloat(strings.TrimSpace(scalarText(b)), 64)
	if err != nil || math.IsNaN(f) || f > math.MaxInt32 || f < math.MinInt32 {
		*n = 0
		return nil
	}
	*n = looseInt(f)
	return nil
}

// timestamp takes an RFC 3339 string, with or without fraction and zone (no
// zone means UTC), or unix seconds as a number or numeric string. Anything
// else is the zero time.
type timestamp struct{ time.Time }

func (t *timestamp) UnmarshalJSON(b []byte) error {
	t.Time = parseTime(scalarText(b))
	return nil
}

// timeLayouts are tried in order on timestamps without a zone.
var timeLayouts = []string{"2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999"}

func parseTime(s string) time.Time {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}
	}
	if c := s[0]; c == '-' || c == '.' || ('0' <= c && c <= '9') && !strings.ContainsAny(s, "T :") {
		return unixTime(s)
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC()
	}
	if t, err := time.Parse("2006-01-02 15:04:05.999999999Z07:00", s); err == nil {
		return t.UTC()
	}
	for _, layout := range timeLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t
		}
	}
	return time.Time{}
}

// unixTime parses unix seconds with a fraction. It splits the text at the
// point rather than going through a float64, which would lose microseconds.
func unixTime(s string) time.Time {
	f, err := strconv.ParseFloat(s, 64)
	// Beyond year 9999 is not a time an SDK meant.
	if err != nil || math.IsNaN(f) || f < 0 || f > 253402300799 {
		return time.Time{}
	}
	sec, frac, _ := strings.Cut(s, ".")
	secs, err := strconv.ParseInt(sec, 10, 64)
	if err != nil {
		return time.Unix(0, int64(f*1e9)).UTC() // exponent notation
	}
	var nsec int64
	if frac != "" {
		frac = (frac + "000000000")[:9]
		if n, err := strconv.ParseInt(frac, 10, 64); err == nil {
			nsec = n
		}
	}
	return time.Unix(secs, nsec).UTC()
}

// pair is one key/value of an ordered map; the value is raw JSON.
type pair struct {
	key   string
	value json.RawMessage
}

// pairs takes an object, keeping its key order, or a list of [key, value]
// lists; other list entries are skipped.
type pairs []pair

func (p *pairs) UnmarshalJSON(b []byte) error {
	*p = nil
	if len(b) == 0 {
		return nil
	}
	switch b[0] {
	case '{':
		dec := json.NewDecoder(bytes.NewReader(b))
		if _, err := dec.Token(); err != nil { // {
			return nil
		}
		for dec.More() {
			tok, err := dec.Token()
			if err != nil {
				return nil
			}
			key, _ := tok.(string)
			var v json.RawMessage
			if err := dec.Decode(&v); err != nil {
				return nil
			}
			*p = append(*p, pair{key, v})
		}
	case '[':
		var list []json.RawMessage
		if json.Unmarshal(b, &list) != nil {
			return nil
		}
		for _, item := range list {
			var kv []json.RawMessage
			if len(item) == 0 || item[0] != '[' || json.Unmarshal(item, &kv) != nil || len(kv) != 2 {
				continue
			}
			*p = append(*p, pair{scalarText(kv[0]), kv[1]})
		}
	}
	return nil
}

// stringList takes a list of scalars, numbers and booleans as their text;
// nulls are "" and other values skipped. Anything but a list is empty.
type stringList []string

func (l *stringList) UnmarshalJSON(b []byte) error {
	*l = nil
	if len(b) == 0 || b[0] != '[' {
		return nil
	}
	var raw []json.RawMessage
	if json.Unmarshal(b, &raw) != nil {
		return nil
	}
	for _, r := range raw {
		if len(r) > 0 && (r[0] == '{' || r[0] == '[') {
			continue
		}
		*l = append(*l, scalarText(r))
	}
	return nil
}
