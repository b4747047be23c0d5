package statsd

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// show renders a metric compactly for comparisons.
func show(m *Metric) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", m.Name, m.Type)
	for _, v := range m.Values {
		switch {
		case m.Type == Set:
			fmt.Fprintf(&b, " %q", v.Str)
		case v.Delta:
			fmt.Fprintf(&b, " %+g", v.Num)
		default:
			fmt.Fprintf(&b, " %g", v.Num)
		}
	}
	if m.Rate != 1 {
		fmt.Fprintf(&b, " @%g", m.Rate)
	}
	if len(m.Tags) > 0 {
		fmt.Fprintf(&b, " #%s", bytes.Join(m.Tags, []byte(",")))
	}
	if m.ContainerID != nil {
		fmt.Fprintf(&b, " c=%s", m.ContainerID)
	}
	if m.Timestamp != 0 {
		fmt.Fprintf(&b, " T=%d", m.Timestamp)
	}
	return b.String()
}

func TestParse(t *testing.T) {
	tests := []struct {
		line string
		want string // show() output, or "" when an error is expected
		err  Reason
	}{
		{line: "hits:1|c", want: "hits c 1"},
		{line: "hits:-3|c", want: "hits c -3"},
		{line: "hits:2.5|c|@0.1", want: "hits c 2.5 @0.1"},
		{line: "temp:21.5|g", want: "temp g 21.5"},
		{line: "temp:+4|g", want: "temp g +4"},
		{line: "temp:-4|g", want: "temp g -4"},
		{line: "temp:-4|c", want: "temp c -4"},
		{line: "temp:+0|g", want: "temp g +0"},
		{line: "lat:320|ms", want: "lat ms 320"},
		{line: "lat:1:2:3.5|ms", want: "lat ms 1 2 3.5"},
		{line: "size:12|h|@0.5|#a:b", want: "size h 12 @0.5 #a:b"},
		{line: "size:1e3|d", want: "size d 1000"},
		{line: "size:.5|d", want: "size d 0.5"},
		{line: "users:alice|s", want: `users s "alice"`},
		{line: "users:alice:bob|s", want: `users s "alice" "bob"`},
		{line: "users:42|s", want: `users s "42"`},
		{line: "api.req:1|c|#env:prod,service:web,beta", want: "api.req c 1 #env:prod,service:web,beta"},
		{line: "a:1|c|#k:1,k:2,j:3,k:4", want: "a c 1 #k:4,j:3"},
		{line: "a:1|c|#k,k:2", want: "a c 1 #k:2"},
		{line: "a:1|c|#kk:1,k:2", want: "a c 1 #kk:1,k:2"},
		{line: "a:1|c|#,,x:y,", want: "a c 1 #x:y"},
		{line: "a:1|c|#url:http://x:8080/", want: "a c 1 #url:http://x:8080/"},
		{line: "a:1|c|#", want: "a c 1"},
		{line: "a:1|g|c:abc123|T1700000000", want: "a g 1 c=abc123 T=1700000000"},
		{line: "a:1|g|c:", want: "a g 1"},
		{line: "a:1|c|@1|#t:v|card:high|e:it-false,cn-x", want: "a c 1 #t:v"},
		{line: "a:1|c||", want: "a c 1"},
		{line: "a:1|c\r", want: "a c 1"},
		{line: "héllo.wörld:1|c|#ключ:значение", want: "héllo.wörld c 1 #ключ:значение"},
		{line: "with space:1|c", want: "with space c 1"},
		{line: "a:123456789012345|c", want: "a c 1.23456789012345e+14"},
		{line: "a:1234567890123456789|c", want: "a c 1.2345678901234568e+18"},

		{line: ":1|c", err: ReasonEmptyName},
		{line: "|c", err: ReasonEmptyName},
		{line: "", err: ReasonEmptyName},
		{line: "a\x01:1|c", err: ReasonBadName},
		{line: "a\xff:1|c", err: ReasonBadName},
		{line: "a|b:1|c", err: ReasonBadName},
		{line: "hits", err: ReasonBadLine},
		{line: "hits:1", err: ReasonBadLine},
		{line: "hits:|c", err: ReasonBadValue},
		{line: "hits:1::2|c", err: ReasonBadValue},
		{line: "hits:1:|c", err: ReasonBadValue},
		{line: "hits:abc|c", err: ReasonBadValue},
		{line: "hits:NaN|g", err: ReasonBadValue},
		{line: "hits:Inf|g", err: ReasonBadValue},
		{line: "hits:+Inf|g", err: ReasonBadValue},
		{line: "hits:1e999|ms", err: ReasonBadValue},
		{line: "hits:-|c", err: ReasonBadValue},
		{line: "hits:1 |c", err: ReasonBadValue},
		{line: "u:a\x00b|s", err: ReasonBadValue},
		{line: "hits:1|x", err: ReasonBadType},
		{line: "hits:1|", err: ReasonBadType},
		{line: "hits:1|cc", err: ReasonBadType},
		{line: "hits:1|c|@0", err: ReasonBadRate},
		{line: "hits:1|c|@1.5", err: ReasonBadRate},
		{line: "hits:1|c|@-0.5", err: ReasonBadRate},
		{line: "hits:1|c|@", err: ReasonBadRate},
		{line: "hits:1|c|@NaN", err: ReasonBadRate},
		{line: "hits:1|c|#:v", err: ReasonBadTag},
		{line: "hits:1|c|#a:\x7f", err: ReasonBadTag},
		{line: "hits:1|c|T", err: ReasonBadTimestamp},
		{line: "hits:1|c|T-5", err: ReasonBadTimestamp},
		{line: "hits:1|c|Tabc", err: ReasonBadTimestamp},
		{line: "_e{5,4}:title|text|#a:b", err: ReasonEvent},
		{line: "_sc|my.check|0|#a:b", err: ReasonServiceCheck},
		{line: "a:1|c|#" + strings.Repeat("t,", 0) + tagList(MaxTags+1), err: ReasonTooManyTags},
		{line: "a:1|c|#" + strings.Repeat("x", MaxLineBytes), err: ReasonTooLong},
	}
	var m Metric
	for _, tt := range tests {
		err := Parse([]byte(tt.line), &m)
		if tt.err != "" {
			if got := ReasonOf(err); got != tt.err {
				t.Errorf("Parse(%.60q) error = %v (reason %q), want reason %q", tt.line, err, got, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("Parse(%q) = %v", tt.line, err)
			continue
		}
		if got := show(&m); got != tt.want {
			t.Errorf("Parse(%q) = %s, want %s", tt.line, got, tt.want)
		}
	}
}

func tagList(n int) string {
	tags := make([]string, n)
	for i := range tags {
		tags[i] = fmt.Sprintf("t%d:v", i)
	}
	return strings.Join(tags, ",")
}

func TestParseMaxTags(t *testing.T) {
	var m Metric
	if err := Parse([]byte("a:1|c|#"+tagList(MaxTags)), &m); err != nil || len(m.Tags) != MaxTags {
		t.Fatalf("Parse with %d tags = %v, %d tags", MaxTags, err, len(m.Tags))
	}
	// Repeated keys do not count twice.
	if err := Parse([]byte("a:1|c|#"+tagList(MaxTags)+",t0:w"), &m); err != nil || string(m.Tags[0]) != "t0:w" {
		t.Fatalf("Parse with a repeated key = %v, first tag %q", err, m.Tags[0])
	}
}

// Parse must not carry anything over from the previous line.
func TestParseResets(t *testing.T) {
	var m Metric
	if err := Parse([]byte("a:1:2|c|@0.5|#x:y|c:id|T5"), &m); err != nil {
		t.Fatal(err)
	}
	if err := Parse([]byte("b:3|g"), &m); err != nil {
		t.Fatal(err)
	}
	if got, want := show(&m), "b g 3"; got != want {
		t.Fatalf("second Parse = %s, want %s", got, want)
	}
}

func TestErrors(t *testing.T) {
	var m Metric
	err := Parse([]byte("a:x|c"), &m)
	var e *Error
	if !errors.As(err, &e) || e.Reason != ReasonBadValue || !strings.Contains(e.Error(), "not a finite number") {
		t.Fatalf("Parse error = %#v", err)
	}
	if got := ReasonOf(fmt.Errorf("line 3: %w", err)); got != ReasonBadValue {
		t.Errorf("ReasonOf(wrapped) = %q", got)
	}
	if got := ReasonOf(errors.New("other")); got != "" {
		t.Errorf("ReasonOf(other) = %q", got)
	}
}

func TestLines(t *testing.T) {
	tests := []struct {
		packet string
		want   []string
	}{
		{"", nil},
		{"\n\n", nil},
		{"a:1|c", []string{"a:1|c"}},
		{"a:1|c\n", []string{"a:1|c"}},
		{"a:1|c\nb:2|g\n", []string{"a:1|c", "b:2|g"}},
		{"a:1|c\r\n\r\nb:2|g", []string{"a:1|c", "b:2|g"}},
	}
	for _, tt := range tests {
		got := slices.Collect(func(yield func(string) bool) {
			for l := range Lines([]byte(tt.packet)) {
				if !yield(string(l)) {
					return
				}
			}
		})
		if !slices.Equal(got, tt.want) {
			t.Errorf("Lines(%q) = %q, want %q", tt.packet, got, tt.want)
		}
	}
	// Stopping early must be honoured.
	n := 0
	for range Lines([]byte("a\nb\nc")) {
		n++
		break
	}
	if n != 1 {
		t.Errorf("Lines did not stop at break")
	}
}

func TestParseNumberMatchesStrconv(t *testing.T) {
	for _, s := range []string{"0", "-0", "+7", "999999999999999", "-123456789012345", "0012", "1.5", "-2e-3"} {
		got, ok := parseNumber([]byte(s))
		if !ok {
			t.Errorf("parseNumber(%q) failed", s)
			continue
		}
		var want float64
		fmt.Sscan(s, &want)
		if got != want {
			t.Errorf("parseNumber(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestParseDoesNotAllocate(t *testing.T) {
	line := []byte("api.request.latency:12.5:13:14|ms|@0.5|#env:prod,service:web,route:/users/{id},status:200")
	var m Metric
	if err := Parse(line, &m); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() {
		if err := Parse(line, &m); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("Parse allocates %v times per line, want 0", n)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"hits:1|c", "temp:-4|g", "lat:1:2:3|ms|@0.5|#a:b,c", "u:alice|s", "a:1|d|c:cid|T17",
		"_e{1,1}:a|b", "_sc|x|0", "a:1|c|#k:1,k:2", ":1|c", "a:1|c|@2", "a:x|c", "a:1|q",
		"a:1.5e3|h|#a:b|card:low", "héllo:1|c|#é:ü",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		var m Metric
		err := Parse(line, &m)
		if err != nil {
			if ReasonOf(err) == "" {
				t.Fatalf("Parse(%q) error without a reason: %v", line, err)
			}
			return
		}
		// Every accepted line has a valid name, type, rate and values.
		if len(m.Name) == 0 || !utf8.Valid(m.Name) || bytes.ContainsAny(m.Name, "|\n") {
			t.Fatalf("Parse(%q) name %q", line, m.Name)
		}
		if m.Type < Counter || m.Type > Set {
			t.Fatalf("Parse(%q) type %d", line, m.Type)
		}
		if !(m.Rate > 0 && m.Rate <= 1) {
			t.Fatalf("Parse(%q) rate %v", line, m.Rate)
		}
		if len(m.Values) == 0 {
			t.Fatalf("Parse(%q) has no values", line)
		}
		for _, v := range m.Values {
			if m.Type == Set {
				if len(v.Str) == 0 || !utf8.Valid(v.Str) || bytes.ContainsAny(v.Str, ":|") {
					t.Fatalf("Parse(%q) set member %q", line, v.Str)
				}
			} else if math.IsNaN(v.Num) || math.IsInf(v.Num, 0) {
				t.Fatalf("Parse(%q) value %v", line, v.Num)
			}
			if v.Delta && m.Type != Gauge {
				t.Fatalf("Parse(%q) delta on a %s", line, m.Type)
			}
		}
		if len(m.Tags) > MaxTags {
			t.Fatalf("Parse(%q) has %d tags", line, len(m.Tags))
		}
		keys := map[string]bool{}
		for _, tag := range m.Tags {
			key, _, _ := bytes.Cut(tag, []byte(":"))
			if len(key) == 0 || !utf8.Valid(tag) || bytes.ContainsAny(tag, ",|") {
				t.Fatalf("Parse(%q) tag %q", line, tag)
			}
			if keys[string(key)] {
				t.Fatalf("Parse(%q) repeats tag key %q", line, key)
			}
			keys[string(key)] = true
		}
		// Parsing is deterministic and independent of the previous line.
		var again Metric
		again.Tags = [][]byte{[]byte("stale")}
		if err := Parse(line, &again); err != nil || show(&again) != show(&m) {
			t.Fatalf("Parse(%q) again = %v, %s; want %s", line, err, show(&again), show(&m))
		}
	})
}

var benchLines = [][]byte{
	[]byte("api.requests:1|c|#env:prod,service:web,route:/users"),
	[]byte("api.latency:12.5|ms|@0.5|#env:prod,service:web,route:/users,status:200"),
	[]byte("queue.depth:42|g"),
	[]byte("payload.size:1:2:3:4|d|#region:eu"),
	[]byte("users.active:u12345|s|#env:prod"),
}

func BenchmarkParse(b *testing.B) {
	var m Metric
	var size int
	for _, l := range benchLines {
		size += len(l)
	}
	b.SetBytes(int64(size / len(benchLines)))
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if err := Parse(benchLines[i%len(benchLines)], &m); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lines/s")
}
