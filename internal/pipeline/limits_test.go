package pipeline_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/fibinc/telltale/internal/pipeline"
	"github.com/fibinc/telltale/internal/telemetry"
)

func TestCutString(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		max  int
		want string
	}{
		{"short", "hello", 10, "hello"},
		{"exact", "hello", 5, "hello"},
		{"ascii", "hello world", 5, "hello…[truncated 6 bytes]"},
		{"before a 2-byte char", "abé", 3, "ab…[truncated 2 bytes]"},  // é is 2 bytes: 3 falls inside it
		{"after a 2-byte char", "abéd", 4, "abé…[truncated 1 bytes]"}, // 4 ends right after é
		{"inside a 4-byte char", "a😀b", 3, "a…[truncated 5 bytes]"},
		{"zero", "abc", 0, "…[truncated 3 bytes]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, cut := pipeline.CutString(tc.in, tc.max)
			if got != tc.want || cut != (tc.in != tc.want) {
				t.Errorf("CutString(%q, %d) = %q, %v; want %q", tc.in, tc.max, got, cut, tc.want)
			}
		})
	}
}

func TestCutJSON(t *testing.T) {
	long := strings.Repeat("x", 40)
	for _, tc := range []struct {
		name                string
		in                  string
		members, key, value int
		want                string
		wantM, wantK, wantV int
	}{
		{name: "nothing to cut", in: `{"a":"b","c":1}`, members: 2, key: 1, value: 1, want: `{"a":"b","c":1}`},
		{name: "value", in: `{"k": "` + long + `", "n": true}`, members: 10, key: 10, value: 10,
			want: `{"k":"xxxxxxxxxx…[truncated 30 bytes]","n":true}`, wantV: 1},
		{name: "key", in: `{"` + long + `":1}`, members: 10, key: 4, value: 100,
			want: `{"xxxx…[truncated 36 bytes]":1}`, wantK: 1},
		{name: "members", in: `{"a":1,"b":"` + long + `","c":{"d":1},"e":null}`, members: 2, key: 10, value: 10,
			// b's value is cut; c and e are dropped, and what is inside them is not counted.
			want: `{"a":1,"b":"xxxxxxxxxx…[truncated 30 bytes]","` + pipeline.DroppedAttributesKey + `":2}`, wantM: 2, wantV: 1},
		{name: "nested", in: `[{"name":"ev","attributes":{"a":"` + long + `"}}]`, members: 10, key: 20, value: 5,
			want: `[{"name":"ev","attributes":{"a":"xxxxx…[truncated 35 bytes]"}}]`, wantV: 1},
		{name: "escape not split", in: `{"a":"xxxx\"yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy"}`, members: 10, key: 10, value: 5,
			want: `{"a":"xxxx…[truncated 40 bytes]"}`, wantV: 1},
		{name: "unicode escape not split", in: `{"a":"xxx\u00e9yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy"}`, members: 10, key: 10, value: 8,
			want: `{"a":"xxx…[truncated 44 bytes]"}`, wantV: 1},
		{name: "surrogate pair kept whole", in: `{"a":"x\ud83d\ude00yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy"}`, members: 10, key: 10, value: 10,
			want: `{"a":"x…[truncated 54 bytes]"}`, wantV: 1},
		{name: "utf-8 not split", in: `{"a":"xéééééééééééééééééééééééééééééééé"}`, members: 10, key: 10, value: 4,
			want: `{"a":"xé…[truncated 62 bytes]"}`, wantV: 1},
		{name: "invalid JSON left alone", in: `{"a":"` + long + `"`, members: 10, key: 10, value: 5, want: `{"a":"` + long + `"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, c := pipeline.CutJSON(tc.in, tc.members, tc.key, tc.value)
			if got != tc.want {
				t.Errorf("CutJSON = %s\nwant        %s", got, tc.want)
			}
			if c.Members != tc.wantM || c.Keys != tc.wantK || c.Values != tc.wantV {
				t.Errorf("cuts = %+v, want members %d keys %d values %d", c, tc.wantM, tc.wantK, tc.wantV)
			}
			if got != tc.in && !json.Valid([]byte(got)) {
				t.Errorf("result is not valid JSON: %s", got)
			}
		})
	}
}

// FuzzCutJSON checks that a cut of valid JSON is valid JSON, valid UTF-8
// stays valid, nothing is cut from text within the limits, and the length
// of every string is bounded.
func FuzzCutJSON(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":"b"}`, `{"k":"\u00e9\ud83d\ude00é😀","n":[1,2,{"x":null}]}`,
		`[{"name":"e","attributes":{"a":"` + strings.Repeat("é", 30) + `"}}]`, `"\\\\\\"`, `{"a":1,"b":2,"c":3}`} {
		f.Add(s, 2, 4, 6)
	}
	f.Fuzz(func(t *testing.T, s string, members, key, value int) {
		if members < 0 || key < 0 || value < 0 || members > 1000 || key > 1000 || value > 1000 {
			return
		}
		got, c := pipeline.CutJSON(s, members, key, value)
		if got == s {
			// Within the limits already, unless nested too deep to look at.
			var v any
			if c == (pipeline.CutsJSON{}) && utf8.ValidString(s) && json.Unmarshal([]byte(s), &v) == nil && strings.Count(s, "[")+strings.Count(s, "{") < 60 {
				checkBounds(t, v, members, key, value)
			}
			return
		}
		if !json.Valid([]byte(s)) {
			t.Fatalf("invalid JSON %q was changed to %q", s, got)
		}
		if !json.Valid([]byte(got)) {
			t.Fatalf("CutJSON(%q) = %q: not valid JSON", s, got)
		}
		if utf8.ValidString(s) && !utf8.ValidString(got) {
			t.Fatalf("CutJSON(%q) = %q: not valid UTF-8", s, got)
		}
		if c == (pipeline.CutsJSON{}) {
			t.Fatalf("CutJSON(%q) changed the text but counted no cut", s)
		}
		var v any
		if err := json.Unmarshal([]byte(got), &v); err != nil {
			t.Fatal(err)
		}
		if utf8.ValidString(s) { // else decoding replaces bytes with longer U+FFFD
			checkBounds(t, v, members, key, value)
		}
	})
}

// checkBounds checks the limits on decoded JSON: a decoded string of valid
// UTF-8 is never longer than its JSON text, so the bound on the text holds
// for it too.
func checkBounds(t *testing.T, v any, members, key, value int) {
	marker := len("…[truncated  bytes]") + 20
	switch v := v.(type) {
	case map[string]any:
		if len(v) > members+1 {
			t.Fatalf("object with %d members, limit %d", len(v), members)
		}
		for k, e := range v {
			if len(k) > key+marker {
				t.Fatalf("key of %d bytes, limit %d", len(k), key)
			}
			checkBounds(t, e, members, key, value)
		}
	case []any:
		for _, e := range v {
			checkBounds(t, e, members, key, value)
		}
	case string:
		if len(v) > value+marker {
			t.Fatalf("value of %d bytes, limit %d", len(v), value)
		}
	}
}

func FuzzCutString(f *testing.F) {
	for _, s := range []string{"", "hello", "é😀x", "\xff\xfe", strings.Repeat("€", 10)} {
		f.Add(s, 3)
	}
	f.Fuzz(func(t *testing.T, s string, max int) {
		if max < 0 {
			return
		}
		got, cut := pipeline.CutString(s, max)
		if !cut {
			if got != s || len(s) > max {
				t.Fatalf("CutString(%q, %d) = %q without a cut", s, max, got)
			}
			return
		}
		if len(s) <= max {
			t.Fatalf("CutString(%q, %d) cut a string within the limit", s, max)
		}
		body, _, ok := strings.Cut(got, "…[truncated ")
		if !ok || !strings.HasPrefix(s, body) || len(body) > max || len(body) < max-3 {
			t.Fatalf("CutString(%q, %d) = %q: not a marked prefix of at most %d bytes", s, max, got, max)
		}
		if want := fmt.Sprintf("%s…[truncated %d bytes]", body, len(s)-len(body)); got != want {
			t.Fatalf("CutString(%q, %d) = %q, want %q", s, max, got, want)
		}
		if utf8.ValidString(s) && !utf8.ValidString(got) {
			t.Fatalf("CutString(%q, %d) = %q: not valid UTF-8", s, max, got)
		}
	})
}

// countingOptions returns options that count what Append cuts.
func countingOptions(w pipeline.Writer, counts map[string]int) pipeline.Options {
	return pipeline.Options{Writer: w, OnTruncate: func(s telemetry.Signal, what string, n int) {
		counts[string(s)+"/"+what] += n
	}}
}

func TestAppendLimits(t *testing.T) {
	w := &mergeWriter{release: make(chan struct{})}
	close(w.release)
	counts := map[string]int{}
	p, stop := start(t, countingOptions(w, counts))
	defer stop()

	var attrs strings.Builder
	attrs.WriteString("{")
	for i := range 130 {
		if i > 0 {
			attrs.WriteString(",")
		}
		fmt.Fprintf(&attrs, `"a%d":%d`, i, i)
	}
	attrs.WriteString("}")
	bigValue := `{"big":"` + strings.Repeat("v", 20<<10) + `","` + strings.Repeat("k", 300) + `":1}`
	body := strings.Repeat("b", 70<<10)

	b := &telemetry.Batch{
		Logs: []telemetry.Log{
			{Body: "ok", Attributes: `{"a":1}`},
			{Body: body, Attributes: attrs.String()},
			{Body: "ok", Attributes: bigValue},
		},
		Errors: []telemetry.ErrorEvent{{Message: body, Tags: make([]telemetry.Tag, 200), Exceptions: []telemetry.Exception{{Value: body}}}},
		Spans:  []telemetry.Span{{Name: strings.Repeat("n", 17<<10), Attributes: "{}"}},
	}
	if err := p.Append(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	want := map[string]int{
		"logs/body": 1, "logs/attribute": 2, "logs/value": 1, "logs/key": 1,
		"errors/body": 2, "errors/attribute": 72,
		"spans/value": 1,
	}
	if fmt.Sprint(counts) != fmt.Sprint(want) {
		t.Errorf("counts = %v\nwant     %v", counts, want)
	}
	if l := b.Logs[1]; len(l.Body) > pipeline.DefaultMaxBodyBytes+40 || !strings.HasSuffix(l.Body, "…[truncated 6144 bytes]") {
		t.Errorf("body of %d bytes ends %q", len(l.Body), l.Body[len(l.Body)-30:])
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(b.Logs[1].Attributes), &m); err != nil || len(m) != 129 || m[pipeline.DroppedAttributesKey] != 2.0 {
		t.Errorf("attributes: %d members, dropped count %v, err %v", len(m), m[pipeline.DroppedAttributesKey], err)
	}
	if n := len(b.Errors[0].Tags); n != 128 {
		t.Errorf("%d tags kept, want 128", n)
	}
}

func TestAppendNothingCutKeepsStrings(t *testing.T) {
	w := &mergeWriter{release: make(chan struct{})}
	close(w.release)
	counts := map[string]int{}
	p, stop := start(t, countingOptions(w, counts))
	defer stop()
	b := sampleLogs(100, false)
	before := make([]string, len(b.Logs))
	for i, l := range b.Logs {
		before[i] = l.Attributes
	}
	if err := p.Append(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	if len(counts) != 0 {
		t.Errorf("counted cuts %v in records within the limits", counts)
	}
	got := w.snapshot()
	if len(got) != 1 || got[0] != b {
		t.Fatalf("the writer did not get the batch itself")
	}
	for i, l := range b.Logs {
		if unsafe.StringData(l.Attributes) != unsafe.StringData(before[i]) {
			t.Fatalf("record %d: attributes were copied", i)
		}
	}
}

func TestQueueBytes(t *testing.T) {
	w := &blockingWriter{release: make(chan struct{})}
	p, stop := start(t, pipeline.Options{Writer: w, QueueBytes: 100 << 10})
	results := make(chan error, 2)
	// About 80 KiB of bodies: fits into the empty queue.
	big := sampleLogs(20, true)
	go func() { results <- p.Append(context.Background(), big) }()
	waitDepth(t, p, 20)
	if n := p.QueuedBytes(); n < 80<<10 {
		t.Fatalf("queued bytes = %d, want at least the bodies' 80 KiB", n)
	}
	// 20 more: over the byte budget though far under the record cap.
	if err := p.Append(context.Background(), sampleLogs(20, true)); !errors.Is(err, pipeline.ErrOverloaded) {
		t.Fatalf("Append over the byte budget = %v, want ErrOverloaded", err)
	}
	// Another signal shares the byte budget.
	if err := p.Append(context.Background(), &telemetry.Batch{Spans: []telemetry.Span{{Attributes: strings.Repeat("x", 30<<10)}}}); !errors.Is(err, pipeline.ErrOverloaded) {
		t.Fatalf("Append of spans over the byte budget = %v, want ErrOverloaded", err)
	}
	close(w.release)
	if err := <-results; err != nil {
		t.Fatal(err)
	}
	if n := p.QueuedBytes(); n != 0 {
		t.Errorf("queued bytes after the commit = %d, want 0", n)
	}
	// Room again.
	if err := p.Append(context.Background(), sampleLogs(20, true)); err != nil {
		t.Errorf("Append after the commit: %v", err)
	}
	stop()
}

// sampleLogs returns logs like an OTLP decoder's: one resource shared by
// every record, a dozen attributes; with big, 4 KiB bodies.
func sampleLogs(n int, big bool) *telemetry.Batch {
	res := telemetry.Resource{ServiceName: "checkout", Environment: "prod", Host: "host-1",
		Attributes: `{"k8s.pod.name":"checkout-7d9f8b6c5-x2x9z","k8s.namespace.name":"shop","process.runtime.name":"go"}`}
	b := &telemetry.Batch{Logs: make([]telemetry.Log, n)}
	for i := range b.Logs {
		body := fmt.Sprintf("GET /api/cart/%d answered 200 in 12ms", i)
		if big {
			body = strings.Repeat("b", 4<<10)
		}
		b.Logs[i] = telemetry.Log{Resource: res, Time: time.Unix(0, int64(i)), Severity: 9, SeverityText: "INFO", Body: body,
			Attributes: fmt.Sprintf(`{"http.method":"GET","http.route":"/api/cart/{id}","http.status_code":200,"user.id":"u-%d","request.id":"r-%08d","thread.name":"worker-3","code.function":"handleCart","code.filepath":"cart/handler.go","code.lineno":120,"net.peer.ip":"10.1.2.3","component":"http","msg.template":"answered"}`, i, i)}
	}
	return b
}

// BenchmarkAppendLimits measures Append of 1,000 logs with the limits off,
// with nothing to cut, and with an over-long value in every record.
func BenchmarkAppendLimits(b *testing.B) {
	off := pipeline.Limits{MaxAttributes: -1, MaxKeyBytes: -1, MaxValueBytes: -1, MaxBodyBytes: -1}
	for _, tc := range []struct {
		name   string
		limits pipeline.Limits
		cut    bool
	}{{"off", off, false}, {"nothing-cut", pipeline.Limits{}, false}, {"all-cut", pipeline.Limits{}, true}} {
		cut := tc.cut
		b.Run(tc.name, func(b *testing.B) {
			w := &blockingWriter{release: make(chan struct{})}
			close(w.release)
			p, stop := start(b, pipeline.Options{Writer: w, Limits: tc.limits})
			defer stop()
			src := sampleLogs(1000, false)
			if cut {
				for i := range src.Logs {
					src.Logs[i].Attributes = `{"big":"` + strings.Repeat("v", 17<<10) + `"}`
				}
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				batch := &telemetry.Batch{Logs: append([]telemetry.Log(nil), src.Logs...)}
				if err := p.Append(context.Background(), batch); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*1000)/b.Elapsed().Seconds(), "records/s")
		})
	}
}

// BenchmarkCutJSON measures the limit check of one attribute set within the
// limits (the common case: no allocation).
func BenchmarkCutJSON(b *testing.B) {
	s := sampleLogs(1, false).Logs[0].Attributes
	b.ReportAllocs()
	b.SetBytes(int64(len(s)))
	for b.Loop() {
		pipeline.CutJSON(s, 128, 256, 16<<10)
	}
}
