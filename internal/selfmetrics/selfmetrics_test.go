package selfmetrics

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// sample builds a registry with every kind of metric and some awkward values.
func sample() *Registry {
	r := New()
	in := NewIngest(r)
	in.CountRequest(SourceOTLPHTTP, "spans", "200", 12, nil)
	in.CountRequest(SourceOTLPHTTP, "spans", "200", 3, map[string]int{"too_old": 2, "bad_id": 1})
	in.CountRequest(SourceOTLPGRPC, "logs", "Unavailable", 0, nil)

	esc := r.NewCounter("test_escaped_total", "Help with a \\ backslash\nand a newline.", "value")
	esc.With(`quote " backslash \ newline` + "\n").Add(7)
	esc.With("").Inc()

	g := r.NewGauge("test_queue_depth", "Records waiting.", "signal")
	g.With("spans").Set(42)
	g.With("logs").Add(-1.5)
	g.With("metrics").SetFunc(func() float64 { return math.Inf(1) })
	r.NewGaugeFunc("test_disk_bytes", "Bytes on disk.", func() float64 { return 1 << 30 })
	r.NewGauge("test_unset", "A gauge never set.")

	h := r.NewHistogram("test_commit_seconds", "Commit latency.", []float64{0.001, 0.01, 0.1, 1}, "signal")
	for _, v := range []float64{0.0005, 0.001, 0.05, 0.5, 2} {
		h.With("spans").Observe(v)
	}
	h.With("logs").ObserveDuration(3 * time.Millisecond)
	r.NewHistogram("test_plain_seconds", "No labels.", []float64{1, math.Inf(1)}).With().Observe(0.25)
	return r
}

func TestWriteTextGolden(t *testing.T) {
	var buf bytes.Buffer
	if err := sample().WriteText(&buf); err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "sample.golden")
	if *update {
		if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got := buf.String(); got != string(want) {
		t.Errorf("output differs from %s (run go test -update after checking):\n%s", golden, got)
	}
	if err := checkExposition(buf.String()); err != nil {
		t.Error(err)
	}
}

func TestHandler(t *testing.T) {
	srv := httptest.NewServer(sample().Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); ct != ContentType {
		t.Errorf("Content-Type = %q, want %q", ct, ContentType)
	}
	if !strings.Contains(string(body), `telltale_ingest_records_total{signal="spans",source="otlp_http"} 15`) {
		t.Errorf("body lacks the records counter:\n%s", body)
	}
	if err := checkExposition(string(body)); err != nil {
		t.Error(err)
	}
}

func TestConcurrentUpdates(t *testing.T) {
	r := New()
	c := r.NewCounter("c_total", "c", "k")
	g := r.NewGauge("g", "g")
	h := r.NewHistogram("h", "h", []float64{1})
	const workers, n = 8, 1000
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range n {
				c.With(strconv.Itoa(i % 3)).Inc()
				g.With().Add(1)
				h.With().Observe(float64(w % 2))
				if i%100 == 0 {
					if err := r.WriteText(io.Discard); err != nil {
						t.Error(err)
					}
				}
			}
		}()
	}
	wg.Wait()
	var total uint64
	for k := range 3 {
		total += c.With(strconv.Itoa(k)).Value()
	}
	if total != workers*n {
		t.Errorf("counter total = %d, want %d", total, workers*n)
	}
	if v := g.With().Value(); v != workers*n {
		t.Errorf("gauge = %v, want %d", v, workers*n)
	}
	var buf bytes.Buffer
	if err := r.WriteText(&buf); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`h_count 8000`, `h_sum 4000`, `h_bucket{le="1"} 8000`} {
		if !strings.Contains(buf.String(), want+"\n") {
			t.Errorf("output lacks %q:\n%s", want, buf.String())
		}
	}
}

func TestRegistrationPanics(t *testing.T) {
	tests := []struct {
		name string
		f    func(r *Registry)
		want string
	}{
		{"duplicate", func(r *Registry) { r.NewCounter("a_total", ""); r.NewGauge("a_total", "") }, "already registered"},
		{"bad metric name", func(r *Registry) { r.NewCounter("1abc", "") }, "invalid metric name"},
		{"bad label name", func(r *Registry) { r.NewCounter("a", "", "a-b") }, "invalid label name"},
		{"reserved label name", func(r *Registry) { r.NewCounter("a", "", "__x") }, "invalid label name"},
		{"le on histogram", func(r *Registry) { r.NewHistogram("a", "", []float64{1}, "le") }, "reserved"},
		{"unsorted buckets", func(r *Registry) { r.NewHistogram("a", "", []float64{2, 1}) }, "increasing"},
		{"label count", func(r *Registry) { r.NewCounter("a", "", "x", "y").With("1") }, "takes 2 label values"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				msg := fmt.Sprint(recover())
				if !strings.Contains(msg, tt.want) {
					t.Errorf("panic = %q, want it to contain %q", msg, tt.want)
				}
			}()
			tt.f(New())
		})
	}
}

// checkExposition parses text in the 0.0.4 format strictly enough to catch
// malformed lines, unescaped label values and samples without HELP and TYPE.
func checkExposition(text string) error {
	if !strings.HasSuffix(text, "\n") {
		return fmt.Errorf("output does not end with a newline")
	}
	types := map[string]string{}
	helps := map[string]bool{}
	for i, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		if err := checkLine(line, types, helps); err != nil {
			return fmt.Errorf("line %d %q: %w", i+1, line, err)
		}
	}
	return nil
}

func checkLine(line string, types map[string]string, helps map[string]bool) error {
	if rest, ok := strings.CutPrefix(line, "# HELP "); ok {
		name, _, _ := strings.Cut(rest, " ")
		helps[name] = true
		return nil
	}
	if rest, ok := strings.CutPrefix(line, "# TYPE "); ok {
		name, typ, _ := strings.Cut(rest, " ")
		switch typ {
		case "counter", "gauge", "histogram":
		default:
			return fmt.Errorf("unknown type %q", typ)
		}
		if !helps[name] {
			return fmt.Errorf("TYPE before HELP")
		}
		types[name] = typ
		return nil
	}
	i := strings.IndexAny(line, "{ ")
	if i <= 0 {
		return fmt.Errorf("no metric name")
	}
	name, rest := line[:i], line[i:]
	family := name
	if types[family] == "" {
		for _, suf := range []string{"_bucket", "_sum", "_count"} {
			if f, ok := strings.CutSuffix(name, suf); ok && types[f] == "histogram" {
				family = f
			}
		}
	}
	if types[family] == "" {
		return fmt.Errorf("sample of %s before its TYPE", name)
	}
	if strings.HasPrefix(rest, "{") {
		var err error
		if rest, err = skipLabels(rest[1:]); err != nil {
			return err
		}
	}
	value, ok := strings.CutPrefix(rest, " ")
	if !ok {
		return fmt.Errorf("no space before the value")
	}
	if _, err := strconv.ParseFloat(value, 64); err != nil {
		return fmt.Errorf("bad value: %w", err)
	}
	return nil
}

// skipLabels reads name="value" pairs up to the closing brace and returns
// what follows it.
func skipLabels(s string) (string, error) {
	for {
		eq := strings.Index(s, `="`)
		if eq <= 0 || !validName(s[:eq], false) {
			return "", fmt.Errorf("bad label name in %q", s)
		}
		s = s[eq+2:]
		for {
			if s == "" {
				return "", fmt.Errorf("unterminated label value")
			}
			c := s[0]
			s = s[1:]
			if c == '"' {
				break
			}
			if c == '\n' {
				return "", fmt.Errorf("raw newline in label value")
			}
			if c == '\\' {
				if s == "" || !strings.ContainsRune(`\"n`, rune(s[0])) {
					return "", fmt.Errorf("bad escape in label value")
				}
				s = s[1:]
			}
		}
		switch {
		case strings.HasPrefix(s, "}"):
			return s[1:], nil
		case strings.HasPrefix(s, ","):
			s = s[1:]
		default:
			return "", fmt.Errorf("expected , or } after label value")
		}
	}
}

func BenchmarkCounterWith(b *testing.B) {
	c := NewIngest(New()).Records
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			c.With("spans", SourceOTLPHTTP).Add(10)
		}
	})
}

func BenchmarkHistogramObserve(b *testing.B) {
	h := New().NewHistogram("h", "h", []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}).With()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			h.Observe(0.02)
		}
	})
}

func BenchmarkWriteText(b *testing.B) {
	r := sample()
	b.ReportAllocs()
	for b.Loop() {
		if err := r.WriteText(io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}

func TestLimits(t *testing.T) {
	r := New()
	l := NewLimits(r, LimitGauges{QueriesInFlight: func() float64 { return 3 }, QueueBytes: func() float64 { return 1024 }})
	l.Truncated.With("logs", "value").Add(2)
	l.QueriesRejected.With("timeout").Inc()
	var b bytes.Buffer
	if err := r.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"telltale_queries_in_flight 3\n",
		"telltale_queue_bytes 1024\n",
		`telltale_ingest_truncated_total{signal="logs",what="value"} 2` + "\n",
		`telltale_queries_rejected_total{reason="timeout"} 1` + "\n",
		"# TYPE telltale_ingest_admission_rejected_total counter\n",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("missing %q in:\n%s", want, b.String())
		}
	}
	if strings.Contains(b.String(), "telltale_ingest_inflight_bytes") {
		t.Error("a gauge without a source was registered")
	}
}
