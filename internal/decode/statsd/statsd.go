// Package statsd parses StatsD and DogStatsD metric lines:
//
//	name:value[:value...]|type[|@rate][|#tag1:v1,tag2][|c:container][|T<unix seconds>]
//
// Types are c (counter), g (gauge), ms (timer), h (histogram), d
// (distribution) and s (set). A gauge value written with an explicit sign
// (+3, -2) is a delta to the previous value. Set members are strings; every
// other value is a finite number. Several values in one line (DogStatsD
// v1.1) share the type, rate and tags. Unknown fields are ignored, so that
// newer client extensions (|e:, |card:) do not make lines fail.
//
// The parser is pure and does not allocate in the steady state: Parse fills a
// caller-owned Metric whose byte slices alias the line and whose Values and
// Tags slices are reused from call to call. Errors are *Error values carrying
// a Reason, so that listeners can count rejected lines by reason; they are
// preallocated and immutable.
package statsd

import (
	"bytes"
	"errors"
	"iter"
	"math"
	"strconv"
	"unicode/utf8"
)

// Limits on one line. A UDP datagram is at most 64 KiB, so no valid StatsD
// line is longer; 128 tags is far above what clients send and keeps the
// de-duplication of tag keys cheap.
const (
	MaxLineBytes = 64 << 10
	MaxTags      = 128
)

// Type is the metric type of a line.
type Type uint8

// The metric types of the StatsD and DogStatsD protocols.
const (
	Counter      Type = iota + 1 // c
	Gauge                        // g
	Timer                        // ms
	Histogram                    // h
	Distribution                 // d
	Set                          // s
)

// String returns the type as written on the wire.
func (t Type) String() string {
	switch t {
	case Counter:
		return "c"
	case Gauge:
		return "g"
	case Timer:
		return "ms"
	case Histogram:
		return "h"
	case Distribution:
		return "d"
	case Set:
		return "s"
	}
	return "unknown"
}

// Value is one value of a line.
type Value struct {
	Num   float64 // the number, for every type but sets
	Str   []byte  // the member, for sets
	Delta bool    // gauges only: the value had an explicit sign and adds to the previous one
}

// Metric is one parsed line. Its byte slices alias the line.
type Metric struct {
	Name   []byte
	Type   Type
	Values []Value // at least one
	// Rate is the sample rate, in (0, 1]; 1 when the line has none.
	Rate float64
	// Tags are "key:value" or "key" texts, without empty tags and with one
	// tag per key: when a key repeats, the last value wins, in the position
	// of the first.
	Tags        [][]byte
	ContainerID []byte // from |c:, nil when absent
	Timestamp   int64  // unix seconds from |T, 0 when absent
}

// Reason classifies why a line was rejected. The values are stable: they
// are used as metric label values.
type Reason string

// Reasons for rejecting a line.
const (
	ReasonEmptyName    Reason = "empty_name"
	ReasonBadName      Reason = "bad_name"
	ReasonBadLine      Reason = "bad_line" // no ':' after the name or no '|' before the type
	ReasonBadValue     Reason = "bad_value"
	ReasonBadType      Reason = "bad_type"
	ReasonBadRate      Reason = "bad_rate"
	ReasonBadTag       Reason = "bad_tag"
	ReasonBadTimestamp Reason = "bad_timestamp"
	ReasonTooLong      Reason = "too_long"
	ReasonTooManyTags  Reason = "too_many_tags"
	ReasonEvent        Reason = "event"         // a DogStatsD event (_e{...}), not a metric
	ReasonServiceCheck Reason = "service_check" // a DogStatsD service check (_sc|...), not a metric
)

// Error is a rejected line. Parse returns only *Error errors.
type Error struct {
	Reason Reason
	msg    string
}

func (e *Error) Error() string { return e.msg }

// ReasonOf returns the reason of a parse error, or "" when err is not one.
func ReasonOf(err error) Reason {
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return ""
}

// The errors are built once: a flood of bad lines must not allocate.
var (
	errEmptyName    = &Error{ReasonEmptyName, "statsd: metric name is empty"}
	errBadName      = &Error{ReasonBadName, "statsd: metric name has invalid UTF-8, a control character or '|'"}
	errNoColon      = &Error{ReasonBadLine, "statsd: no ':' after the metric name"}
	errNoType       = &Error{ReasonBadLine, "statsd: no '|type' after the value"}
	errEmptyValue   = &Error{ReasonBadValue, "statsd: value is empty"}
	errBadNumber    = &Error{ReasonBadValue, "statsd: value is not a finite number"}
	errBadMember    = &Error{ReasonBadValue, "statsd: set member has invalid UTF-8 or a control character"}
	errBadType      = &Error{ReasonBadType, "statsd: unknown metric type: use c, g, ms, h, d or s"}
	errBadRate      = &Error{ReasonBadRate, "statsd: sample rate must be a number in (0, 1]"}
	errBadTag       = &Error{ReasonBadTag, "statsd: tag has an empty key, invalid UTF-8 or a control character"}
	errBadTimestamp = &Error{ReasonBadTimestamp, "statsd: timestamp must be positive unix seconds"}
	errTooLong      = &Error{ReasonTooLong, "statsd: line is longer than 65536 bytes"}
	errTooManyTags  = &Error{ReasonTooManyTags, "statsd: line has more than 128 tags"}
	errEvent        = &Error{ReasonEvent, "statsd: DogStatsD events are not supported"}
	errServiceCheck = &Error{ReasonServiceCheck, "statsd: DogStatsD service checks are not supported"}
)

// Lines yields the non-empty lines of a packet: lines end at '\n', and a
// '\r' before it is dropped.
func Lines(packet []byte) iter.Seq[[]byte] {
	return func(yield func([]byte) bool) {
		for len(packet) > 0 {
			var line []byte
			if i := bytes.IndexByte(packet, '\n'); i >= 0 {
				line, packet = packet[:i], packet[i+1:]
			} else {
				line, packet = packet, nil
			}
			if n := len(line); n > 0 && line[n-1] == '\r' {
				line = line[:n-1]
			}
			if len(line) > 0 && !yield(line) {
				return
			}
		}
	}
}

// Parse parses one line (without its newline) into m, reusing m's slices.
// On error m holds partial results and must not be used.
func Parse(line []byte, m *Metric) error {
	m.Name, m.Type, m.Values, m.Rate = nil, 0, m.Values[:0], 1
	m.Tags, m.ContainerID, m.Timestamp = m.Tags[:0], nil, 0
	if len(line) > MaxLineBytes {
		return errTooLong
	}
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	if bytes.HasPrefix(line, []byte("_e{")) {
		return errEvent
	}
	if bytes.HasPrefix(line, []byte("_sc|")) {
		return errServiceCheck
	}
	colon := bytes.IndexByte(line, ':')
	if colon < 0 {
		if len(line) == 0 || line[0] == '|' {
			return errEmptyName
		}
		return errNoColon
	}
	m.Name = line[:colon]
	switch {
	case colon == 0:
		return errEmptyName
	case !validText(m.Name) || bytes.IndexByte(m.Name, '|') >= 0:
		return errBadName
	}
	rest := line[colon+1:]
	pipe := bytes.IndexByte(rest, '|')
	if pipe < 0 {
		return errNoType
	}
	values := rest[:pipe]
	rest = rest[pipe+1:]
	typ, rest := cutField(rest)
	switch string(typ) {
	case "c":
		m.Type = Counter
	case "g":
		m.Type = Gauge
	case "ms":
		m.Type = Timer
	case "h":
		m.Type = Histogram
	case "d":
		m.Type = Distribution
	case "s":
		m.Type = Set
	default:
		return errBadType
	}
	for len(rest) > 0 {
		var f []byte
		f, rest = cutField(rest)
		if err := m.field(f); err != nil {
			return err
		}
	}
	return m.parseValues(values)
}

// cutField returns the text up to the next '|' and the text after it.
func cutField(s []byte) (field, rest []byte) {
	if i := bytes.IndexByte(s, '|'); i >= 0 {
		return s[:i], s[i+1:]
	}
	return s, nil
}

// field parses one optional field after the type.
func (m *Metric) field(f []byte) error {
	if len(f) == 0 {
		return nil
	}
	switch {
	case f[0] == '@':
		r, ok := parseNumber(f[1:])
		if !ok || !(r > 0 && r <= 1) {
			return errBadRate
		}
		m.Rate = r
	case f[0] == '#':
		return m.parseTags(f[1:])
	case f[0] == 'c' && len(f) > 1 && f[1] == ':':
		if len(f) > 2 {
			m.ContainerID = f[2:]
		}
	case f[0] == 'T':
		ts, err := strconv.ParseInt(string(f[1:]), 10, 64)
		if err != nil || ts <= 0 {
			return errBadTimestamp
		}
		m.Timestamp = ts
	}
	return nil
}

func (m *Metric) parseTags(s []byte) error {
	for len(s) > 0 {
		var tag []byte
		if i := bytes.IndexByte(s, ','); i >= 0 {
			tag, s = s[:i], s[i+1:]
		} else {
			tag, s = s, nil
		}
		if len(tag) == 0 {
			continue
		}
		key := tag
		if i := bytes.IndexByte(tag, ':'); i >= 0 {
			key = tag[:i]
		}
		if len(key) == 0 || !validText(tag) {
			return errBadTag
		}
		if dup := m.tagIndex(key); dup >= 0 {
			m.Tags[dup] = tag
			continue
		}
		if len(m.Tags) == MaxTags {
			return errTooManyTags
		}
		m.Tags = append(m.Tags, tag)
	}
	return nil
}

// tagIndex returns the index of the tag with the given key, or -1.
func (m *Metric) tagIndex(key []byte) int {
	for i, t := range m.Tags {
		if len(t) >= len(key) && bytes.Equal(t[:len(key)], key) && (len(t) == len(key) || t[len(key)] == ':') {
			return i
		}
	}
	return -1
}

func (m *Metric) parseValues(s []byte) error {
	for {
		var v []byte
		i := bytes.IndexByte(s, ':')
		if i >= 0 {
			v, s = s[:i], s[i+1:]
		} else {
			v = s
		}
		if len(v) == 0 {
			return errEmptyValue
		}
		if m.Type == Set {
			if !validText(v) {
				return errBadMember
			}
			m.Values = append(m.Values, Value{Str: v})
		} else {
			n, ok := parseNumber(v)
			if !ok {
				return errBadNumber
			}
			m.Values = append(m.Values, Value{Num: n, Delta: m.Type == Gauge && (v[0] == '+' || v[0] == '-')})
		}
		if i < 0 {
			return nil
		}
	}
}

// parseNumber parses a finite float. Integers of up to 15 digits, the
// common case, are converted directly: they are exact in a float64.
func parseNumber(b []byte) (float64, bool) {
	if len(b) == 0 {
		return 0, false
	}
	digits, neg := b, false
	switch b[0] {
	case '-':
		digits, neg = b[1:], true
	case '+':
		digits = b[1:]
	}
	if n := len(digits); n > 0 && n <= 15 {
		var x int64
		for _, c := range digits {
			if c < '0' || c > '9' {
				goto slow
			}
			x = x*10 + int64(c-'0')
		}
		if neg {
			x = -x
		}
		return float64(x), true
	}
slow:
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, false
	}
	return f, true
}

// validText reports whether b is valid UTF-8 without control characters,
// which would end up in stored names and JSON attributes.
func validText(b []byte) bool {
	for i := 0; i < len(b); {
		c := b[i]
		if c < utf8.RuneSelf {
			if c < 0x20 || c == 0x7f {
				return false
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size == 1 {
			return false
		}
		i += size
	}
	return true
}
