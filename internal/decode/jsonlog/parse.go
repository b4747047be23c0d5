package jsonlog

import (
	"fmt"
	"math"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// kind is the JSON type of a field's value.
type kind uint8

const (
	kindString kind = iota + 1
	kindNumber
	kindBool
	kindNull
	kindArray
	kindObject // only empty objects: the others are flattened into fields
)

// field is one member of a log line after flattening: nested objects become
// fields whose keys join the member names with dots.
type field struct {
	key  []byte // unescaped, dot-joined
	kind kind
	text []byte // strings: the unescaped value; numbers: their text
	json []byte // the value as JSON, re-encoded (see appendValue)
	dead bool   // replaced by a later field with the same key, or consumed
}

// parser reads one JSON object and flattens it into fields. Its buffers are
// reused from line to line; the slices in fields point into them (or into
// the line) and stay valid until the next line, since bytes once appended
// are never overwritten before reset.
type parser struct {
	data     []byte
	pos      int
	maxDepth int

	prefix []byte // the dotted key of the object being read, with its trailing dot
	keys   []byte
	texts  []byte
	vals   []byte
	fields []field
	index  map[string]int // key -> field, for lines with many fields
}

// problem is why a line is rejected; the zero value means it is accepted.
type problem struct {
	reason string // short key, see Result.RejectedByReason
	msg    string
}

func (p *parser) syntax(format string, args ...any) *problem {
	return &problem{reason: ReasonMalformed, msg: fmt.Sprintf("invalid JSON at byte %d: ", p.pos+1) + fmt.Sprintf(format, args...)}
}

// parseObject reads data, which must hold one JSON object and nothing else
// but whitespace, into p.fields.
func (p *parser) parseObject(data []byte) *problem {
	p.data, p.pos = data, 0
	p.prefix, p.keys, p.texts, p.vals = p.prefix[:0], p.keys[:0], p.texts[:0], p.vals[:0]
	p.fields = p.fields[:0]
	p.skipSpace()
	if p.pos >= len(p.data) {
		return p.syntax("empty line")
	}
	if c := p.data[p.pos]; c != '{' {
		if p.validValue() {
			return &problem{ReasonNotObject, "a log line must be a JSON object, got " + jsonType(c)}
		}
		return p.syntax("a log line must be a JSON object")
	}
	if pr := p.members(1); pr != nil {
		return pr
	}
	p.skipSpace()
	if p.pos < len(p.data) {
		pr := p.syntax("unexpected %q after the object", p.data[p.pos])
		if p.data[p.pos] == '{' {
			// curl -d @file strips newlines and glues the objects together.
			pr.msg += " (one object per line: with curl, send files with --data-binary, not -d)"
		}
		return pr
	}
	return nil
}

// validValue reports whether the rest of the data is one valid JSON value, to
// tell a line that is not an object from one that is not JSON.
func (p *parser) validValue() bool {
	save := len(p.vals)
	ok := p.appendValue(1) == nil
	p.vals = p.vals[:save]
	p.skipSpace()
	return ok && p.pos == len(p.data)
}

func jsonType(c byte) string {
	switch c {
	case '"':
		return "a string"
	case '[':
		return "an array"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}

// members reads the object at p.pos, flattening nested objects.
func (p *parser) members(depth int) *problem {
	if depth > p.maxDepth {
		return &problem{ReasonTooDeep, "nested deeper than " + strconv.Itoa(p.maxDepth) + " levels"}
	}
	p.pos++ // {
	p.skipSpace()
	if p.peek() == '}' {
		p.pos++
		return nil
	}
	for {
		p.skipSpace()
		if p.peek() != '"' {
			return p.syntax("expected a string as object key")
		}
		start := len(p.keys)
		p.keys = append(p.keys, p.prefix...)
		var pr *problem
		if p.keys, pr = p.readString(p.keys); pr != nil {
			return pr
		}
		key := p.keys[start:len(p.keys):len(p.keys)]
		p.skipSpace()
		if p.peek() != ':' {
			return p.syntax("expected ':' after object key")
		}
		p.pos++
		p.skipSpace()
		if p.peek() == '{' && !p.emptyObject() {
			prefixLen := len(p.prefix)
			p.prefix = append(p.prefix, key[prefixLen:]...)
			p.prefix = append(p.prefix, '.')
			if pr := p.members(depth + 1); pr != nil {
				return pr
			}
			p.prefix = p.prefix[:prefixLen]
		} else if pr := p.member(key, depth); pr != nil {
			return pr
		}
		p.skipSpace()
		switch p.peek() {
		case ',':
			p.pos++
		case '}':
			p.pos++
			return nil
		default:
			return p.syntax("expected ',' or '}' after object member")
		}
	}
}

// emptyObject reports whether the object at p.pos is {}.
func (p *parser) emptyObject() bool {
	i := p.pos + 1
	for i < len(p.data) && isSpace(p.data[i]) {
		i++
	}
	return i < len(p.data) && p.data[i] == '}'
}

// member reads a value that is not a non-empty object into a field.
func (p *parser) member(key []byte, depth int) *problem {
	f := field{key: key}
	start := len(p.vals)
	switch c := p.peek(); {
	case c == '"':
		ts := len(p.texts)
		var pr *problem
		if p.texts, pr = p.readString(p.texts); pr != nil {
			return pr
		}
		f.kind, f.text = kindString, p.texts[ts:len(p.texts):len(p.texts)]
		p.vals = appendString(p.vals, f.text)
	case c == '-' || '0' <= c && c <= '9':
		num, pr := p.readNumber()
		if pr != nil {
			return pr
		}
		f.kind, f.text = kindNumber, num
		p.vals = appendNumber(p.vals, num)
	default:
		if pr := p.appendValue(depth + 1); pr != nil {
			return pr
		}
		switch c {
		case '[':
			f.kind = kindArray
		case '{':
			f.kind = kindObject
		case 'n':
			f.kind = kindNull
		default:
			f.kind = kindBool
		}
	}
	f.json = p.vals[start:len(p.vals):len(p.vals)]
	p.add(f)
	return nil
}

// add appends f, marking an earlier field with the same key dead: the last
// duplicate wins, as in the OTLP decoder.
func (p *parser) add(f field) {
	const linear = 32
	n := len(p.fields)
	switch {
	case n < linear:
		for i := range p.fields {
			if !p.fields[i].dead && string(p.fields[i].key) == string(f.key) {
				p.fields[i].dead = true
				break
			}
		}
	default:
		if n == linear {
			if p.index == nil {
				p.index = make(map[string]int)
			}
			clear(p.index)
			for i := range p.fields {
				if !p.fields[i].dead {
					p.index[string(p.fields[i].key)] = i
				}
			}
		}
		if i, ok := p.index[string(f.key)]; ok {
			p.fields[i].dead = true
		}
		p.index[string(f.key)] = n
	}
	p.fields = append(p.fields, f)
}

// appendValue reads any JSON value and appends it to p.vals re-encoded:
// strings escaped afresh (see readString), numbers as sent unless a float64
// cannot hold them (see appendNumber), objects inside arrays kept as
// objects.
func (p *parser) appendValue(depth int) *problem {
	switch c := p.peek(); {
	case c == '"':
		ts := len(p.texts)
		var pr *problem
		if p.texts, pr = p.readString(p.texts); pr != nil {
			return pr
		}
		p.vals = appendString(p.vals, p.texts[ts:])
		p.texts = p.texts[:ts]
	case c == '-' || '0' <= c && c <= '9':
		num, pr := p.readNumber()
		if pr != nil {
			return pr
		}
		p.vals = appendNumber(p.vals, num)
	case c == '[' || c == '{':
		if depth > p.maxDepth {
			return &problem{ReasonTooDeep, "nested deeper than " + strconv.Itoa(p.maxDepth) + " levels"}
		}
		if c == '[' {
			return p.appendArray(depth)
		}
		return p.appendObject(depth)
	default:
		for _, lit := range [...]string{"true", "false", "null"} {
			if len(p.data)-p.pos >= len(lit) && string(p.data[p.pos:p.pos+len(lit)]) == lit {
				p.pos += len(lit)
				p.vals = append(p.vals, lit...)
				return nil
			}
		}
		if p.pos >= len(p.data) {
			return p.syntax("unexpected end of line, expected a value")
		}
		return p.syntax("unexpected %q, expected a value", c)
	}
	return nil
}

func (p *parser) appendArray(depth int) *problem {
	p.pos++ // [
	p.vals = append(p.vals, '[')
	p.skipSpace()
	if p.peek() == ']' {
		p.pos++
		p.vals = append(p.vals, ']')
		return nil
	}
	for {
		p.skipSpace()
		if pr := p.appendValue(depth + 1); pr != nil {
			return pr
		}
		p.skipSpace()
		switch p.peek() {
		case ',':
			p.pos++
			p.vals = append(p.vals, ',')
		case ']':
			p.pos++
			p.vals = append(p.vals, ']')
			return nil
		default:
			return p.syntax("expected ',' or ']' after array element")
		}
	}
}

func (p *parser) appendObject(depth int) *problem {
	p.pos++ // {
	p.vals = append(p.vals, '{')
	p.skipSpace()
	if p.peek() == '}' {
		p.pos++
		p.vals = append(p.vals, '}')
		return nil
	}
	for {
		p.skipSpace()
		if p.peek() != '"' {
			return p.syntax("expected a string as object key")
		}
		if pr := p.appendValue(depth); pr != nil { // the key: a string, no deeper
			return pr
		}
		p.skipSpace()
		if p.peek() != ':' {
			return p.syntax("expected ':' after object key")
		}
		p.pos++
		p.vals = append(p.vals, ':')
		p.skipSpace()
		if pr := p.appendValue(depth + 1); pr != nil {
			return pr
		}
		p.skipSpace()
		switch p.peek() {
		case ',':
			p.pos++
			p.vals = append(p.vals, ',')
		case '}':
			p.pos++
			p.vals = append(p.vals, '}')
			return nil
		default:
			return p.syntax("expected ',' or '}' after object member")
		}
	}
}

// readString reads the JSON string at p.pos and appends its unescaped
// content to dst. The line is valid UTF-8 already (see decoder.record);
// lone surrogates, which DuckDB's JSON reader refuses, and NUL become
// U+FFFD.
func (p *parser) readString(dst []byte) ([]byte, *problem) {
	p.pos++ // "
	for {
		start := p.pos
		for p.pos < len(p.data) {
			c := p.data[p.pos]
			if c == '"' || c == '\\' || c < 0x20 {
				break
			}
			p.pos++
		}
		dst = append(dst, p.data[start:p.pos]...)
		if p.pos >= len(p.data) {
			return dst, p.syntax("unterminated string")
		}
		switch c := p.data[p.pos]; {
		case c == '"':
			p.pos++
			return dst, nil
		case c < 0x20:
			return dst, p.syntax("control character %q in string", c)
		}
		// A backslash.
		if p.pos+1 >= len(p.data) {
			p.pos++
			return dst, p.syntax("unterminated string")
		}
		e := p.data[p.pos+1]
		p.pos += 2
		switch e {
		case '"', '\\', '/':
			dst = append(dst, e)
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r, ok := p.hex4()
			if !ok {
				return dst, p.syntax("invalid \\u escape")
			}
			if utf16.IsSurrogate(r) {
				// A pair is two escapes; anything else is a lone surrogate.
				r2 := utf8.RuneError
				if p.pos+1 < len(p.data) && p.data[p.pos] == '\\' && p.data[p.pos+1] == 'u' {
					save := p.pos
					p.pos += 2
					lo, ok := p.hex4()
					if !ok {
						return dst, p.syntax("invalid \\u escape")
					}
					if d := utf16.DecodeRune(r, lo); d != utf8.RuneError {
						r2 = d
					} else {
						p.pos = save // lo is read again on its own
					}
				}
				r = r2
			}
			if r == 0 {
				// DuckDB ends strings at NUL: the rest would be lost.
				r = utf8.RuneError
			}
			dst = utf8.AppendRune(dst, r)
		default:
			p.pos--
			return dst, p.syntax("invalid escape \\%c in string", e)
		}
	}
}

func (p *parser) hex4() (rune, bool) {
	if len(p.data)-p.pos < 4 {
		return 0, false
	}
	var r rune
	for _, c := range p.data[p.pos : p.pos+4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	p.pos += 4
	return r, true
}

// readNumber reads a number with the JSON grammar and returns its text.
func (p *parser) readNumber() ([]byte, *problem) {
	start := p.pos
	if p.peek() == '-' {
		p.pos++
	}
	switch c := p.peek(); {
	case c == '0':
		p.pos++
	case '1' <= c && c <= '9':
		p.digits()
	default:
		return nil, p.syntax("invalid number")
	}
	if p.peek() == '.' {
		p.pos++
		if p.digits() == 0 {
			return nil, p.syntax("invalid number: no digits after '.'")
		}
	}
	if c := p.peek(); c == 'e' || c == 'E' {
		p.pos++
		if c := p.peek(); c == '+' || c == '-' {
			p.pos++
		}
		if p.digits() == 0 {
			return nil, p.syntax("invalid number: no digits in exponent")
		}
	}
	return p.data[start:p.pos:p.pos], nil
}

func (p *parser) digits() int {
	start := p.pos
	for p.pos < len(p.data) && '0' <= p.data[p.pos] && p.data[p.pos] <= '9' {
		p.pos++
	}
	return p.pos - start
}

// peek returns the byte at p.pos, or 0 at the end.
func (p *parser) peek() byte {
	if p.pos < len(p.data) {
		return p.data[p.pos]
	}
	return 0
}

func (p *parser) skipSpace() {
	for p.pos < len(p.data) && isSpace(p.data[p.pos]) {
		p.pos++
	}
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// appendNumber appends a number, as a string when float64 cannot hold it:
// encoding/json, which the API and the issue tracker read attributes with,
// fails on the whole object for one such number.
func appendNumber(dst, num []byte) []byte {
	if f, err := strconv.ParseFloat(string(num), 64); err != nil || math.IsInf(f, 0) {
		return appendString(dst, num)
	}
	return append(dst, num...)
}

// appendString appends s, valid UTF-8, as a JSON string.
func appendString(dst, s []byte) []byte {
	const hexDigits = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i, c := range s {
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		start = i + 1
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// valueEnd returns the offset just past the JSON value starting at data[i],
// which is not whitespace. It only follows strings and counts brackets, so
// that an array's elements can be cut apart and each validated on its own;
// ok is false when the data ends inside a string or a container.
func valueEnd(data []byte, i int) (end int, ok bool) {
	depth := 0
	for ; i < len(data); i++ {
		switch c := data[i]; c {
		case '"':
			for i++; i < len(data) && data[i] != '"'; i++ {
				if data[i] == '\\' {
					i++
				}
			}
			if i >= len(data) {
				return 0, false
			}
			if depth == 0 {
				return i + 1, true
			}
		case '{', '[':
			depth++
		case '}', ']':
			if depth == 0 {
				return i, true // ends a scalar, or the container around it
			}
			depth--
			if depth == 0 {
				return i + 1, true
			}
		case ',', ' ', '\t', '\n', '\r':
			if depth == 0 {
				return i, true
			}
		}
	}
	if depth == 0 {
		return i, true
	}
	return 0, false
}
