// Package storetest is the conformance suite every store.Store must pass.
// Run it from the implementation's tests:
//
//	storetest.Run(t, func(t *testing.T, dir string) store.Store { ... })
//
// Open must open the store kept in dir, creating it when dir is empty; the
// suite calls it twice on one dir to check that data survives a reopen.
package storetest

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/fibinc/telltale/internal/store"
	"github.com/fibinc/telltale/internal/telemetry"
)

// OpenFunc opens the store kept in dir.
type OpenFunc func(t *testing.T, dir string) store.Store

// Run runs the conformance suite.
func Run(t *testing.T, open OpenFunc) {
	tests := []struct {
		name string
		fn   func(*testing.T, OpenFunc)
	}{
		{"SpansRoundTrip", testSpans},
		{"LogsRoundTrip", testLogs},
		{"MetricsRoundTrip", testMetrics},
		{"ErrorsRoundTrip", testErrors},
		{"Partitions", testPartitions},
		{"DropPartition", testDropPartition},
		{"Reopen", testReopen},
		{"ConcurrentWrites", testConcurrent},
		{"EmptyStore", testEmpty},
		{"Closed", testClosed},
		{"REDAggregates", testRED},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, open) })
	}
}

var day0 = time.Date(2026, 11, 20, 23, 59, 0, 0, time.UTC)

func res(service string) telemetry.Resource {
	return telemetry.Resource{
		ServiceName: service, ServiceVersion: "1.2.3", InstanceID: "i-1", Environment: "prod",
		Host: "host-a", AvailabilityZone: "us-east-1b", Attributes: `{"k8s.pod.name":"p1"}`,
	}
}

// Span returns a span for tests with the given ids, start and duration.
func Span(service, trace, span, parent string, start time.Time, d time.Duration) telemetry.Span {
	return telemetry.Span{
		Resource: res(service), Scope: telemetry.Scope{Name: "test", Version: "0.1"},
		TraceID: trace, SpanID: span, ParentSpanID: parent, Name: "GET /" + span, Kind: "server",
		Start: start, Duration: d, StatusCode: "unset", RequestID: "req-" + trace[:4],
		Attributes: `{"http.method":"GET","n":42}`,
		Events:     `[{"time":"2026-11-20T23:59:00Z","name":"exception","attributes":{"exception.type":"ValueError"}}]`,
		Links:      `[]`,
	}
}

func mustWrite(t *testing.T, s store.Store, b *telemetry.Batch) {
	t.Helper()
	if err := s.Write(context.Background(), b); err != nil {
		t.Fatalf("Write: %v", err)
	}
}

// rows runs q and returns each row's columns formatted with %v.
func rows(t *testing.T, s store.Store, q string, args ...any) [][]string {
	t.Helper()
	r, err := s.Query(context.Background(), q, args...)
	if err != nil {
		t.Fatalf("Query(%s): %v", q, err)
	}
	defer r.Close()
	cols, _ := r.Columns()
	var out [][]string
	for r.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := r.Scan(ptrs...); err != nil {
			t.Fatalf("Scan: %v", err)
		}
		row := make([]string, len(cols))
		for i, v := range vals {
			if tm, ok := v.(time.Time); ok {
				v = tm.UTC().Format(time.RFC3339Nano)
			}
			row[i] = fmt.Sprint(v)
		}
		out = append(out, row)
	}
	if err := r.Err(); err != nil {
		t.Fatalf("rows: %v", err)
	}
	return out
}

func count(t *testing.T, s store.Store, table string) int {
	t.Helper()
	var n int
	r := rows(t, s, "SELECT count(*) FROM "+table)
	fmt.Sscan(r[0][0], &n)
	return n
}

func testSpans(t *testing.T, open OpenFunc) {
	s := open(t, t.TempDir())
	defer s.Close()
	tr := "0af7651916cd43dd8448eb211c80319c"
	b := &telemetry.Batch{Spans: []telemetry.Span{
		Span("frontend", tr, "b7ad6b7169203331", "", day0, 250*time.Millisecond),
		Span("userstore", tr, "00f067aa0ba902b7", "b7ad6b7169203331", day0.Add(2*time.Minute), 5*time.Millisecond),
	}}
	b.Spans[1].StatusCode, b.Spans[1].StatusMessage = "error", "insufficient credit"
	mustWrite(t, s, b)

	got := rows(t, s, `SELECT service_name, span_id, parent_span_id, duration_ns, status_code, status_message, request_id,
		availability_zone, json_extract_string(attributes, '$."http.method"'), json_extract_string(events, '$[0].name'), timestamp
		FROM spans WHERE trace_id = ? ORDER BY timestamp`, tr)
	want := [][]string{
		{"frontend", "b7ad6b7169203331", "", "250000000", "unset", "", "req-0af7", "us-east-1b", "GET", "exception", "2026-11-20T23:59:00Z"},
		{"userstore", "00f067aa0ba902b7", "b7ad6b7169203331", "5000000", "error", "insufficient credit", "req-0af7", "us-east-1b", "GET", "exception", "2026-11-21T00:01:00Z"},
	}
	if !slices.EqualFunc(got, want, slices.Equal) {
		t.Errorf("spans:\n got %q\nwant %q", got, want)
	}
}

func testLogs(t *testing.T, open OpenFunc) {
	s := open(t, t.TempDir())
	defer s.Close()
	b := &telemetry.Batch{}
	for i := range 100 {
		b.Logs = append(b.Logs, telemetry.Log{
			Resource: res("userstore"), Time: day0.Add(time.Duration(i) * time.Second), ObservedTime: day0,
			Severity: int32(1 + i%24), SeverityText: "x", Body: fmt.Sprintf("line %d", i),
			RequestID: fmt.Sprintf("r%d", i%10), Attributes: fmt.Sprintf(`{"user":"u%d"}`, i%3), Source: "otlp",
		})
	}
	b.Logs[7].Body = "user has insufficient credit"
	b.Logs[7].TraceID, b.Logs[7].SpanID = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"
	mustWrite(t, s, b)
	if n := count(t, s, "logs"); n != 100 {
		t.Errorf("count = %d, want 100", n)
	}
	got := rows(t, s, `SELECT body, severity_number, request_id, trace_id, json_extract_string(attributes, '$.user'), source
		FROM logs WHERE body ILIKE ?`, "%INSUFFICIENT%")
	want := [][]string{{"user has insufficient credit", "8", "r7", "0af7651916cd43dd8448eb211c80319c", "u1", "otlp"}}
	if !slices.EqualFunc(got, want, slices.Equal) {
		t.Errorf("logs: got %q, want %q", got, want)
	}
	if n := rows(t, s, "SELECT count(*) FROM logs WHERE severity_number >= 17")[0][0]; n != "32" {
		t.Errorf("error-or-worse count = %s, want 32", n)
	}
}

func testMetrics(t *testing.T, open OpenFunc) {
	s := open(t, t.TempDir())
	defer s.Close()
	r := res("pricing")
	b := &telemetry.Batch{Metrics: []telemetry.MetricPoint{
		{Resource: r, Name: "queue.depth", Type: telemetry.MetricGauge, Time: day0, Value: 7.5, SeriesID: 1, Attributes: `{}`},
		{Resource: r, Name: "requests", Type: telemetry.MetricSum, Temporality: telemetry.TemporalityCumulative, Monotonic: true,
			Time: day0, StartTime: day0.Add(-time.Hour), Value: 1234, SeriesID: math.MaxUint64, Attributes: `{"route":"/fib"}`},
		{Resource: r, Name: "latency", Unit: "ms", Type: telemetry.MetricHistogram, Temporality: telemetry.TemporalityDelta,
			Time: day0, Count: 6, Sum: 60, HasMin: true, Min: 1, HasMax: true, Max: 30,
			BucketBounds: []float64{5, 10}, BucketCounts: []uint64{1, 2, 3}, SeriesID: 3, Attributes: `{}`},
		{Resource: r, Name: "size", Type: telemetry.MetricExponentialHistogram, Temporality: telemetry.TemporalityDelta,
			Time: day0, Count: 3, Sum: 9, ExpScale: 2, ExpZeroCount: 1, ExpPositiveOffset: -1, ExpPositiveCounts: []uint64{1, 1},
			SeriesID: 4, Attributes: `{}`},
		{Resource: r, Name: "rpc", Type: telemetry.MetricSummary, Time: day0, Count: 10, Sum: 55,
			Quantiles: []float64{0.5, 0.99}, QuantileValues: []float64{5, 9.9}, SeriesID: 5, Attributes: `{}`},
	}}
	mustWrite(t, s, b)
	got := rows(t, s, `SELECT name, type, temporality, monotonic, series_id, value, count, sum, min, max,
		bucket_bounds, bucket_counts, exp_scale, exp_zero_count, exp_positive_offset, exp_positive_counts, quantiles, quantile_values, start_timestamp
		FROM metric_points ORDER BY name`)
	want := [][]string{
		{"latency", "histogram", "delta", "false", "3", "<nil>", "6", "60", "1", "30", "[5 10]", "[1 2 3]", "<nil>", "<nil>", "<nil>", "<nil>", "<nil>", "<nil>", "<nil>"},
		{"queue.depth", "gauge", "", "false", "1", "7.5", "<nil>", "<nil>", "<nil>", "<nil>", "<nil>", "<nil>", "<nil>", "<nil>", "<nil>", "<nil>", "<nil>", "<nil>", "<nil>"},
		{"requests", "sum", "cumulative", "true", "18446744073709551615", "1234", "<nil>", "<nil>", "<nil>", "<nil>", "<nil>", "<nil>", "<nil>", "<nil>", "<nil>", "<nil>", "<nil>", "<nil>", "2026-11-20T22:59:00Z"},
		{"rpc", "summary", "", "false", "5", "<nil>", "10", "55", "<nil>", "<nil>", "<nil>", "<nil>", "<nil>", "<nil>", "<nil>", "<nil>", "[0.5 0.99]", "[5 9.9]", "<nil>"},
		{"size", "exponential_histogram", "delta", "false", "4", "<nil>", "3", "9", "<nil>", "<nil>", "<nil>", "<nil>", "2", "1", "-1", "[1 1]", "<nil>", "<nil>", "<nil>"},
	}
	if !slices.EqualFunc(got, want, slices.Equal) {
		t.Errorf("metric points:\n got %q\nwant %q", got, want)
	}
}

func testPartitions(t *testing.T, open OpenFunc) {
	s := open(t, t.TempDir())
	defer s.Close()
	tr := "0af7651916cd43dd8448eb211c80319c"
	mustWrite(t, s, &telemetry.Batch{
		Spans: []telemetry.Span{Span("a", tr, "b7ad6b7169203331", "", day0, 0), Span("a", tr, "b7ad6b7169203332", "", day0.Add(48*time.Hour), 0)},
		Logs:  []telemetry.Log{{Resource: res("a"), Time: day0.Add(time.Hour), Attributes: "{}"}},
	})
	ps, err := s.Partitions(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range ps {
		got = append(got, fmt.Sprintf("%s/%s", p.Signal, p.Day.Format("2006-01-02")))
		if p.Bytes <= 0 {
			t.Errorf("partition %s/%s has %d bytes", p.Signal, p.Day, p.Bytes)
		}
	}
	want := []string{"spans/2026-11-20", "logs/2026-11-21", "spans/2026-11-22"}
	if !slices.Equal(got, want) {
		t.Errorf("partitions = %q, want %q", got, want)
	}
}

func testDropPartition(t *testing.T, open OpenFunc) {
	s := open(t, t.TempDir())
	defer s.Close()
	tr := "0af7651916cd43dd8448eb211c80319c"
	b := &telemetry.Batch{}
	for i := range 5000 {
		b.Spans = append(b.Spans, Span("a", tr, fmt.Sprintf("%016x", i+1), "", day0.Add(time.Duration(i%2)*24*time.Hour), 0))
	}
	mustWrite(t, s, b)
	ps, _ := s.Partitions(context.Background())
	if len(ps) != 2 {
		t.Fatalf("got %d partitions, want 2", len(ps))
	}
	if err := s.DropPartition(context.Background(), ps[0]); err != nil {
		t.Fatalf("DropPartition: %v", err)
	}
	if n := count(t, s, "spans"); n != 2500 {
		t.Errorf("after drop: %d spans, want 2500", n)
	}
	after, _ := s.Partitions(context.Background())
	if len(after) != 1 || !after[0].Day.Equal(ps[1].Day) {
		t.Errorf("after drop: partitions %v", after)
	}
	// Writing to the dropped day again recreates it.
	mustWrite(t, s, &telemetry.Batch{Spans: []telemetry.Span{Span("a", tr, "0000000000000fff", "", day0, 0)}})
	if n := count(t, s, "spans"); n != 2501 {
		t.Errorf("after rewrite: %d spans, want 2501", n)
	}
}

func testReopen(t *testing.T, open OpenFunc) {
	dir := t.TempDir()
	s := open(t, dir)
	tr := "0af7651916cd43dd8448eb211c80319c"
	mustWrite(t, s, &telemetry.Batch{
		Spans: []telemetry.Span{Span("a", tr, "b7ad6b7169203331", "", day0, 0)},
		Logs:  []telemetry.Log{{Resource: res("a"), Time: day0.Add(48 * time.Hour), Body: "kept", Attributes: "{}"}},
	})
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	s = open(t, dir)
	defer s.Close()
	if n := count(t, s, "spans"); n != 1 {
		t.Errorf("spans after reopen = %d, want 1", n)
	}
	if got := rows(t, s, "SELECT body FROM logs"); len(got) != 1 || got[0][0] != "kept" {
		t.Errorf("logs after reopen = %q", got)
	}
}

func testConcurrent(t *testing.T, open OpenFunc) {
	s := open(t, t.TempDir())
	defer s.Close()
	const writers, per = 8, 50
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range per {
				b := &telemetry.Batch{Logs: []telemetry.Log{{
					Resource: res("a"), Time: day0.Add(time.Duration(w*per+i) * time.Minute), Body: "x", Attributes: "{}",
				}}}
				if err := s.Write(context.Background(), b); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent Write: %v", err)
	}
	if n := count(t, s, "logs"); n != writers*per {
		t.Errorf("logs = %d, want %d", n, writers*per)
	}
}

func testEmpty(t *testing.T, open OpenFunc) {
	s := open(t, t.TempDir())
	defer s.Close()
	for _, table := range []string{"spans", "logs", "metric_points", "error_events"} {
		if n := count(t, s, table); n != 0 {
			t.Errorf("%s: %d rows in an empty store", table, n)
		}
	}
	if err := s.Write(context.Background(), &telemetry.Batch{}); err != nil {
		t.Errorf("empty Write: %v", err)
	}
}

func testClosed(t *testing.T, open OpenFunc) {
	s := open(t, t.TempDir())
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	err := s.Write(context.Background(), &telemetry.Batch{Logs: []telemetry.Log{{Time: day0, Attributes: "{}"}}})
	if err == nil {
		t.Error("Write after Close succeeded")
	}
	if _, err := s.Query(context.Background(), "SELECT 1"); err == nil {
		t.Error("Query after Close succeeded")
	}
}

// ErrorEvent returns an error event for tests: a Go error with one frame.
func ErrorEvent(service, eventID string, issueID int64, t time.Time) telemetry.ErrorEvent {
	inApp := true
	return telemetry.ErrorEvent{
		Resource: res(service), EventID: eventID, ProjectID: 1, Time: t, Received: t.Add(time.Second),
		Source: telemetry.ErrorSourceSentry, Platform: "go", Level: telemetry.LevelError, Transaction: "GET /fib",
		ServerName: "host-a", Release: "fib@1.0.0", Browser: "Chrome 120", OS: "Linux",
		Exceptions: []telemetry.Exception{{Type: "*strconv.NumError", Value: `parsing "4.5": invalid syntax`,
			Frames: []telemetry.Frame{{Function: "handler", Module: "main", AbsPath: "/app/main.go", Filename: "main.go", Lineno: 12, InApp: &inApp}}}},
		Tags:    []telemetry.Tag{{Key: "user", Value: "u42"}, {Key: "user", Value: "ignored"}, {Key: "region", Value: "eu"}},
		User:    telemetry.User{Email: "a@example.com"},
		Request: telemetry.Request{URL: "http://fib/4.5", Method: "GET"},
		TraceID: "0af7651916cd43dd8448eb211c80319c", SpanID: "b7ad6b7169203331", RequestID: "req-1",
		SDK:      telemetry.SDK{Name: "sentry.go", Version: "0.50.0"},
		Contexts: `{"os":{"name":"Linux"}}`, Grouping: `{"version":"v1"}`,
		IssueID: issueID, GroupingVersion: "v1", GroupingHash: "abc", Title: "*strconv.NumError: parsing", Culprit: "main in handler",
	}
}

func testErrors(t *testing.T, open OpenFunc) {
	s := open(t, t.TempDir())
	defer s.Close()
	b := &telemetry.Batch{Errors: []telemetry.ErrorEvent{
		ErrorEvent("frontend", "9ec79c33ec9942ab8353589fcb2e04dc", 7, day0),
		ErrorEvent("frontend", "9ec79c33ec9942ab8353589fcb2e04dd", 8, day0.Add(2*time.Minute)),
	}}
	mustWrite(t, s, b)
	got := rows(t, s, `SELECT event_id, issue_id, project_id, service_name, exception_type, user_key, url, browser, release,
		json_extract_string(tags, '$.user'), json_extract_string(body, '$.exceptions[0].frames[0].function'),
		json_extract_string(contexts, '$.os.name'), json_extract_string(grouping, '$.version'), extra, timestamp
		FROM error_events ORDER BY timestamp`)
	want := [][]string{
		{"9ec79c33ec9942ab8353589fcb2e04dc", "7", "1", "frontend", "*strconv.NumError", "a@example.com", "http://fib/4.5", "Chrome 120", "fib@1.0.0",
			"u42", "handler", "Linux", "v1", "{}", "2026-11-20T23:59:00Z"},
		{"9ec79c33ec9942ab8353589fcb2e04dd", "8", "1", "frontend", "*strconv.NumError", "a@example.com", "http://fib/4.5", "Chrome 120", "fib@1.0.0",
			"u42", "handler", "Linux", "v1", "{}", "2026-11-21T00:01:00Z"},
	}
	if !slices.EqualFunc(got, want, slices.Equal) {
		t.Errorf("error events:\n got %q\nwant %q", got, want)
	}
	ps, err := s.Partitions(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var parts []string
	for _, p := range ps {
		parts = append(parts, fmt.Sprintf("%s/%s", p.Signal, p.Day.Format("2006-01-02")))
	}
	if want := []string{"errors/2026-11-20", "errors/2026-11-21"}; !slices.Equal(parts, want) {
		t.Errorf("partitions = %q, want %q", parts, want)
	}
}
