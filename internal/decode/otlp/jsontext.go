package otlp

import (
	"encoding/base64"
	"math"
	"strconv"
	"unicode/utf8"

	commonpb "go.opentelemetry.io/proto/otlp/common/v1"

	"github.com/fibinc/telltale/internal/telemetry"
)

// maxDepth bounds the nesting of arrays and kvlists written as JSON, so that a
// hostile payload cannot make the encoder recurse without limit. Deeper values
// are written as null.
const maxDepth = 32

// appendAttrs appends kvs as a JSON object.
func appendAttrs(dst []byte, kvs []*commonpb.KeyValue) []byte {
	return appendKVList(dst, kvs, 0)
}

// appendAttrsHashed is appendAttrs that also returns a hash of the attributes
// that does not depend on their order: the sum of the mixed hashes of each
// `"key":value` text.
func appendAttrsHashed(dst []byte, kvs []*commonpb.KeyValue) ([]byte, uint64) {
	kvs = uniqueKeys(kvs)
	var sum uint64
	dst = append(dst, '{')
	for i, kv := range kvs {
		if i > 0 {
			dst = append(dst, ',')
		}
		start := len(dst)
		dst = appendPair(dst, kv, 0)
		sum += telemetry.PairHash(dst[start:])
	}
	return append(dst, '}'), sum
}

func appendKVList(dst []byte, kvs []*commonpb.KeyValue, depth int) []byte {
	kvs = uniqueKeys(kvs)
	dst = append(dst, '{')
	for i, kv := range kvs {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendPair(dst, kv, depth)
	}
	return append(dst, '}')
}

func appendPair(dst []byte, kv *commonpb.KeyValue, depth int) []byte {
	dst = appendString(dst, kv.GetKey())
	dst = append(dst, ':')
	return appendValue(dst, kv.GetValue(), depth)
}

// appendValue appends v as JSON: strings, bools and numbers natively, doubles
// that JSON cannot represent as the strings "NaN", "+Inf" and "-Inf", bytes as
// a base64 string, arrays as arrays and kvlists as objects. Unset values are
// null.
func appendValue(dst []byte, v *commonpb.AnyValue, depth int) []byte {
	switch x := v.GetValue().(type) {
	case *commonpb.AnyValue_StringValue:
		return appendString(dst, x.StringValue)
	case *commonpb.AnyValue_BoolValue:
		return strconv.AppendBool(dst, x.BoolValue)
	case *commonpb.AnyValue_IntValue:
		return strconv.AppendInt(dst, x.IntValue, 10)
	case *commonpb.AnyValue_DoubleValue:
		return appendFloat(dst, x.DoubleValue)
	case *commonpb.AnyValue_BytesValue:
		dst = append(dst, '"')
		dst = base64.StdEncoding.AppendEncode(dst, x.BytesValue)
		return append(dst, '"')
	case *commonpb.AnyValue_ArrayValue:
		if depth >= maxDepth {
			break
		}
		dst = append(dst, '[')
		for i, e := range x.ArrayValue.GetValues() {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendValue(dst, e, depth+1)
		}
		return append(dst, ']')
	case *commonpb.AnyValue_KvlistValue:
		if depth >= maxDepth {
			break
		}
		return appendKVList(dst, x.KvlistValue.GetValues(), depth+1)
	}
	return append(dst, "null"...)
}

func appendFloat(dst []byte, f float64) []byte {
	switch {
	case math.IsNaN(f):
		return append(dst, `"NaN"`...)
	case math.IsInf(f, 1):
		return append(dst, `"+Inf"`...)
	case math.IsInf(f, -1):
		return append(dst, `"-Inf"`...)
	}
	return strconv.AppendFloat(dst, f, 'g', -1, 64)
}

// appendString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD so
// that the result is always valid JSON, whatever the input.
func appendString(dst []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
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
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, "\uFFFD"...)
			i++
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// jsonText returns the text in b, sharing the constant strings for the
// common empty object and array instead of allocating them.
func jsonText(b []byte) string {
	switch string(b) {
	case "{}":
		return "{}"
	case "[]":
		return "[]"
	}
	return string(b)
}

// valueString is the text of an attribute stored in a string column: strings
// verbatim, other values as JSON text, "" when unset.
func valueString(v *commonpb.AnyValue) string {
	switch x := v.GetValue().(type) {
	case nil:
		return ""
	case *commonpb.AnyValue_StringValue:
		return x.StringValue
	}
	return string(appendValue(nil, v, 0))
}

// uniqueKeys drops every pair whose key comes again later in kvs. Keys must
// be unique in OpenTelemetry, but SDKs send duplicates (the Go SDK's
// RecordError appends exception.type after the caller's own), and JSON
// readers disagree on which duplicate they return. The last one wins, as in
// the SDK's attribute sets. kvs is returned as is when its keys are unique,
// the common case, without allocating.
func uniqueKeys(kvs []*commonpb.KeyValue) []*commonpb.KeyValue {
	dup := false
	if len(kvs) <= 32 {
		for i := 0; i < len(kvs) && !dup; i++ {
			for j := i + 1; j < len(kvs); j++ {
				if kvs[i].GetKey() == kvs[j].GetKey() {
					dup = true
					break
				}
			}
		}
	} else {
		seen := make(map[string]struct{}, len(kvs))
		for _, kv := range kvs {
			if _, ok := seen[kv.GetKey()]; ok {
				dup = true
				break
			}
			seen[kv.GetKey()] = struct{}{}
		}
	}
	if !dup {
		return kvs
	}
	last := make(map[string]int, len(kvs))
	for i, kv := range kvs {
		last[kv.GetKey()] = i
	}
	out := make([]*commonpb.KeyValue, 0, len(last))
	for i, kv := range kvs {
		if last[kv.GetKey()] == i {
			out = append(out, kv)
		}
	}
	return out
}
