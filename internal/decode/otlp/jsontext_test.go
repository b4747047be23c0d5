package otlp

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"

	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
)

func kvlistVal(kvs ...*commonpb.KeyValue) *commonpb.AnyValue {
	return &commonpb.AnyValue{Value: &commonpb.AnyValue_KvlistValue{KvlistValue: &commonpb.KeyValueList{Values: kvs}}}
}

func doubleVal(f float64) *commonpb.AnyValue {
	return &commonpb.AnyValue{Value: &commonpb.AnyValue_DoubleValue{DoubleValue: f}}
}

// nested returns an array nested depth levels deep.
func nested(depth int) *commonpb.AnyValue {
	v := strVal("leaf")
	for range depth {
		v = arrVal(v)
	}
	return v
}

func TestAppendValue(t *testing.T) {
	tests := []struct {
		name string
		v    *commonpb.AnyValue
		want string
	}{
		{"string", strVal("hé"), `"hé"`},
		{"bool", &commonpb.AnyValue{Value: &commonpb.AnyValue_BoolValue{BoolValue: true}}, `true`},
		{"int", intVal(math.MinInt64), `-9223372036854775808`},
		{"double", doubleVal(637.704), `637.704`},
		{"integral double", doubleVal(2), `2`},
		{"large double", doubleVal(1e21), `1e+21`},
		{"negative zero", doubleVal(math.Copysign(0, -1)), `-0`},
		{"NaN", doubleVal(math.NaN()), `"NaN"`},
		{"+Inf", doubleVal(math.Inf(1)), `"+Inf"`},
		{"-Inf", doubleVal(math.Inf(-1)), `"-Inf"`},
		{"bytes", &commonpb.AnyValue{Value: &commonpb.AnyValue_BytesValue{BytesValue: []byte{0, 1, 0xff}}}, `"AAH/"`},
		{"empty array", arrVal(), `[]`},
		{"array", arrVal(strVal("a"), intVal(1), nil), `["a",1,null]`},
		{"nil array", &commonpb.AnyValue{Value: &commonpb.AnyValue_ArrayValue{}}, `[]`},
		{"kvlist", kvlistVal(str("a", "b"), kv("n", kvlistVal())), `{"a":"b","n":{}}`},
		{"nil kvlist", &commonpb.AnyValue{Value: &commonpb.AnyValue_KvlistValue{}}, `{}`},
		{"nil", nil, `null`},
		{"unset", &commonpb.AnyValue{}, `null`},
		{"string index, used by profiles only", &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValueStrindex{StringValueStrindex: 3}}, `null`},
		{"nesting at the limit", nested(maxDepth), strings.Repeat("[", maxDepth) + `"leaf"` + strings.Repeat("]", maxDepth)},
		{"nesting past the limit", nested(maxDepth + 1), strings.Repeat("[", maxDepth) + `null` + strings.Repeat("]", maxDepth)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := appendValue(nil, tt.v, 0)
			if string(got) != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
			if !json.Valid(got) {
				t.Errorf("invalid JSON: %s", got)
			}
		})
	}
}

func TestAppendString(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"", `""`},
		{"plain", `"plain"`},
		{`q"b\s/`, `"q\"b\\s/"`},
		{"n\nr\rt\t", `"n\nr\rt\t"`},
		{"\x00\x01\x1f\x7f", `"\u0000\u0001\u001f` + "\x7f" + `"`},
		{"<a&b>", `"<a&b>"`},
		{"日本\u2028", "\"日本\u2028\""},
		{"bad\xffutf8\xc3", "\"bad\uFFFDutf8\uFFFD\""},
		{"\xed\xa0\x80", "\"\uFFFD\uFFFD\uFFFD\""}, // a surrogate half is invalid UTF-8
	}
	for _, tt := range tests {
		got := appendString(nil, tt.in)
		if string(got) != tt.want {
			t.Errorf("appendString(%q) = %s, want %s", tt.in, got, tt.want)
		}
		var back string
		if err := json.Unmarshal(got, &back); err != nil {
			t.Errorf("appendString(%q) = %s: %v", tt.in, got, err)
		}
	}
}

func TestAppendAttrsHashed(t *testing.T) {
	a := []*commonpb.KeyValue{str("a", "1"), kv("b", intVal(2)), kv("c", arrVal(strVal("x")))}
	reordered := []*commonpb.KeyValue{a[2], a[0], a[1]}
	text, h := appendAttrsHashed(nil, a)
	if want := `{"a":"1","b":2,"c":["x"]}`; string(text) != want {
		t.Errorf("text = %s, want %s", text, want)
	}
	tests := []struct {
		name string
		kvs  []*commonpb.KeyValue
		same bool
	}{
		{"same attributes", a, true},
		{"other order", reordered, true},
		{"other value", []*commonpb.KeyValue{str("a", "1"), kv("b", intVal(3)), a[2]}, false},
		{"value of another type", []*commonpb.KeyValue{str("a", "1"), str("b", "2"), a[2]}, false},
		{"key and value swapped", []*commonpb.KeyValue{str("1", "a"), a[1], a[2]}, false},
		{"one fewer", a[:2], false},
		{"duplicated key: the last wins, same set", append(a[:3:3], a[0]), true},
	}
	for _, tt := range tests {
		_, got := appendAttrsHashed(nil, tt.kvs)
		if (got == h) != tt.same {
			t.Errorf("%s: hash %x vs %x, want same=%v", tt.name, got, h, tt.same)
		}
	}
}

func TestDuplicateKeysLastWins(t *testing.T) {
	many := []*commonpb.KeyValue{}
	for i := range 40 {
		many = append(many, str(fmt.Sprintf("k%d", i), "v"))
	}
	many = append(many, str("k3", "last"))
	tests := []struct {
		in   []*commonpb.KeyValue
		want string
	}{
		{[]*commonpb.KeyValue{str("a", "1"), str("b", "2")}, `{"a":"1","b":"2"}`},
		{[]*commonpb.KeyValue{str("exception.type", "Mine"), str("b", "2"), str("exception.type", "*errors.errorString")}, `{"b":"2","exception.type":"*errors.errorString"}`},
		{many, `"k3":"last"`},
	}
	for _, tt := range tests {
		got := string(appendAttrs(nil, tt.in))
		if !strings.Contains(got, tt.want) || strings.Count(got, `"k3"`) > 1 {
			t.Errorf("appendAttrs = %s, want %s", got, tt.want)
		}
	}
}
