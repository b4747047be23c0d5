package query_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/fibinc/telltale/internal/query"
	"github.com/fibinc/telltale/internal/store/duckdb"
	"github.com/fibinc/telltale/internal/store/storetest"
	"github.com/fibinc/telltale/internal/telemetry"
)

// t0 is the time the test data is written around.
var t0 = time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)

// newTestService returns a query service over a new store holding b.
func newTestService(t *testing.T, b *telemetry.Batch, opt query.Options) *query.Service {
	t.Helper()
	ctx := context.Background()
	st, err := duckdb.Open(ctx, duckdb.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Write(ctx, b); err != nil {
		t.Fatalf("Write: %v", err)
	}
	opt.Store = st
	svc, err := query.New(opt)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return svc
}

const (
	traceA = "0af7651916cd43dd8448eb211c80319c"
	traceB = "4bf92f3577b34da6a3ce929d0e0e4736"
	traceC = "5b8efff798038103d269b633813fc60c"
)

// span returns a span of trace starting at t0+at.
func span(service, trace, id, parent string, at, d time.Duration) telemetry.Span {
	return storetest.Span(service, trace, id, parent, t0.Add(at), d)
}

func spanIDs(spans []query.Span) []string {
	var ids []string
	for _, sp := range spans {
		ids = append(ids, sp.SpanID)
	}
	return ids
}

func TestTrace(t *testing.T) {
	errSpan := span("api", traceA, "000000000000000c", "000000000000000a", 10*time.Millisecond, 50*time.Millisecond)
	errSpan.StatusCode, errSpan.Kind = "error", "client"
	svc := newTestService(t, &telemetry.Batch{Spans: []telemetry.Span{
		span("frontend", traceA, "000000000000000a", "", 0, 100*time.Millisecond),
		errSpan,
		span("db", traceA, "000000000000000d", "000000000000000c", 20*time.Millisecond, 10*time.Millisecond),
		span("auth", traceA, "000000000000000b", "000000000000000a", 5*time.Millisecond, 2*time.Millisecond),
		// The parent of e was not received: e is shown as a root.
		span("api", traceA, "000000000000000e", "00000000000000ff", 30*time.Millisecond, 90*time.Millisecond),
		// A copy delivered twice.
		span("auth", traceA, "000000000000000b", "000000000000000a", 5*time.Millisecond, 2*time.Millisecond),
		span("other", traceB, "0000000000000001", "", 0, time.Second),
	}}, query.Options{})

	got, err := svc.Trace(context.Background(), "0AF7651916CD43DD8448EB211C80319C")
	if err != nil {
		t.Fatalf("Trace: %v", err)
	}
	wantIDs := []string{"000000000000000a", "000000000000000b", "000000000000000c", "000000000000000d", "000000000000000e"}
	if ids := spanIDs(got.Spans); !slices.Equal(ids, wantIDs) {
		t.Errorf("span order = %v, want %v", ids, wantIDs)
	}
	var depths, children []int
	var offsets []float64
	for _, sp := range got.Spans {
		depths, children, offsets = append(depths, sp.Depth), append(children, sp.ChildCount), append(offsets, sp.OffsetMs)
	}
	if want := []int{0, 1, 1, 2, 0}; !slices.Equal(depths, want) {
		t.Errorf("depths = %v, want %v", depths, want)
	}
	if want := []int{2, 0, 1, 0, 0}; !slices.Equal(children, want) {
		t.Errorf("child counts = %v, want %v", children, want)
	}
	if want := []float64{0, 5, 10, 20, 30}; !slices.Equal(offsets, want) {
		t.Errorf("offsets = %v, want %v", offsets, want)
	}
	want := query.TraceSummary{
		TraceID: traceA, RootService: "frontend", RootOperation: "GET /000000000000000a", Start: t0,
		DurationNs: int64(120 * time.Millisecond), DurationMs: 120, SpanCount: 5, ErrorCount: 1,
		Services: []string{"api", "auth", "db", "frontend"},
	}
	if !summaryEqual(got.TraceSummary, want) {
		t.Errorf("summary = %+v, want %+v", got.TraceSummary, want)
	}
	if got.Truncated {
		t.Error("Truncated set for a whole trace")
	}

	c := got.Spans[2]
	if c.StatusCode != "error" || c.Kind != "client" || c.DurationMs != 50 || c.DurationNs != 50e6 || c.Service != "api" ||
		c.Environment != "prod" || c.RequestID != "req-0af7" || c.ParentSpanID != "000000000000000a" {
		t.Errorf("span c = %+v", c)
	}
	var attrs map[string]any
	var events []struct {
		Name       string            `json:"name"`
		Attributes map[string]string `json:"attributes"`
	}
	if err := json.Unmarshal(c.Attributes, &attrs); err != nil || attrs["http.method"] != "GET" || attrs["n"] != 42.0 {
		t.Errorf("attributes = %s (%v)", c.Attributes, err)
	}
	if err := json.Unmarshal(c.Events, &events); err != nil || len(events) != 1 || events[0].Attributes["exception.type"] != "ValueError" {
		t.Errorf("events = %s (%v)", c.Events, err)
	}
	if string(c.Links) != "[]" || string(c.ResourceAttributes) != `{"k8s.pod.name":"p1"}` {
		t.Errorf("links = %s, resource attributes = %s", c.Links, c.ResourceAttributes)
	}
}

func summaryEqual(a, b query.TraceSummary) bool {
	return a.TraceID == b.TraceID && a.RootService == b.RootService && a.RootOperation == b.RootOperation &&
		a.Start.Equal(b.Start) && a.DurationNs == b.DurationNs && a.DurationMs == b.DurationMs &&
		a.SpanCount == b.SpanCount && a.ErrorCount == b.ErrorCount && slices.Equal(a.Services, b.Services)
}

func TestTraceShapes(t *testing.T) {
	svc := newTestService(t, &telemetry.Batch{Spans: []telemetry.Span{
		// Parents that form a cycle, and no root.
		span("a", traceB, "0000000000000002", "0000000000000001", 0, time.Millisecond),
		span("a", traceB, "0000000000000001", "0000000000000002", time.Millisecond, time.Millisecond),
		// A span that is its own parent.
		span("a", traceC, "0000000000000003", "0000000000000003", 0, time.Millisecond),
		span("b", traceC, "0000000000000004", "0000000000000003", time.Millisecond, time.Millisecond),
	}}, query.Options{})
	tests := []struct {
		trace  string
		ids    []string
		depths []int
		root   string
	}{
		{traceB, []string{"0000000000000002", "0000000000000001"}, []int{0, 1}, "a"},
		{traceC, []string{"0000000000000003", "0000000000000004"}, []int{0, 1}, "a"},
	}
	for _, tt := range tests {
		got, err := svc.Trace(context.Background(), tt.trace)
		if err != nil {
			t.Fatalf("Trace(%s): %v", tt.trace, err)
		}
		var depths []int
		for _, sp := range got.Spans {
			depths = append(depths, sp.Depth)
		}
		if ids := spanIDs(got.Spans); !slices.Equal(ids, tt.ids) || !slices.Equal(depths, tt.depths) || got.RootService != tt.root {
			t.Errorf("Trace(%s): spans %v depths %v root %q, want %v %v %q", tt.trace, ids, depths, got.RootService, tt.ids, tt.depths, tt.root)
		}
	}
}

func TestTraceErrors(t *testing.T) {
	svc := newTestService(t, &telemetry.Batch{Spans: []telemetry.Span{
		span("a", traceA, "0000000000000001", "", 0, time.Millisecond),
		span("a", traceA, "0000000000000002", "0000000000000001", time.Millisecond, time.Millisecond),
		span("a", traceA, "0000000000000003", "0000000000000001", 2*time.Millisecond, time.Millisecond),
	}}, query.Options{MaxRows: 2})
	tests := []struct {
		id   string
		want error
	}{
		{"", query.ErrInvalid},
		{"0af7651916cd43dd", query.ErrInvalid},
		{"0af7651916cd43dd8448eb211c80319z", query.ErrInvalid},
		{"' OR 1=1 --", query.ErrInvalid},
		{traceB, query.ErrNotFound},
	}
	for _, tt := range tests {
		if _, err := svc.Trace(context.Background(), tt.id); !errors.Is(err, tt.want) {
			t.Errorf("Trace(%q) = %v, want %v", tt.id, err, tt.want)
		}
	}
	got, err := svc.Trace(context.Background(), traceA)
	if err != nil || !got.Truncated || len(got.Spans) != 2 {
		t.Errorf("Trace with more spans than MaxRows: truncated %v, %d spans, %v; want truncated, 2 spans", got.Truncated, len(got.Spans), err)
	}
}

func TestSearchTraces(t *testing.T) {
	// Trace A: frontend -> api (error, 300ms, user=alice); starts at t0.
	// Trace B: frontend -> db (ok, 20ms); starts at t0+1m.
	// Trace C: worker only, no root received; starts at t0+2m.
	apiA := span("api", traceA, "00000000000000a2", "00000000000000a1", 10*time.Millisecond, 300*time.Millisecond)
	apiA.StatusCode, apiA.Name, apiA.Attributes = "error", "charge", `{"user":"alice","http.method":"POST"}`
	dbB := span("db", traceB, "00000000000000b2", "00000000000000b1", time.Minute+time.Millisecond, 20*time.Millisecond)
	dbB.StatusCode, dbB.Name = "ok", "SELECT"
	dbB.Resource.Attributes = `{"k8s.pod.name":"db-0"}`
	svc := newTestService(t, &telemetry.Batch{Spans: []telemetry.Span{
		span("frontend", traceA, "00000000000000a1", "", 0, 400*time.Millisecond),
		apiA, apiA, // a duplicate must not count twice
		span("frontend", traceB, "00000000000000b1", "", time.Minute, 30*time.Millisecond),
		dbB,
		span("worker", traceC, "00000000000000c2", "00000000000000c1", 2*time.Minute+5*time.Millisecond, time.Millisecond),
		span("worker", traceC, "00000000000000c3", "00000000000000c1", 2*time.Minute, 7*time.Millisecond),
		// Outside the searched range.
		span("frontend", "11111111111111111111111111111111", "0000000000000001", "", -2*time.Hour, time.Millisecond),
	}}, query.Options{})
	rng := query.TimeRange{From: t0.Add(-time.Hour), To: t0.Add(time.Hour)}

	tests := []struct {
		name string
		q    query.TraceQuery
		want []string
	}{
		{"all, newest first", query.TraceQuery{}, []string{traceC, traceB, traceA}},
		{"limit", query.TraceQuery{Limit: 2}, []string{traceC, traceB}},
		{"service of a child span", query.TraceQuery{Service: "api"}, []string{traceA}},
		{"service of roots", query.TraceQuery{Service: "frontend"}, []string{traceB, traceA}},
		{"unknown service", query.TraceQuery{Service: "nope"}, nil},
		{"operation", query.TraceQuery{Operation: "SELECT"}, []string{traceB}},
		{"status error", query.TraceQuery{Status: "error"}, []string{traceA}},
		{"status ok", query.TraceQuery{Status: "ok"}, []string{traceB}},
		{"min duration", query.TraceQuery{MinDuration: 300 * time.Millisecond}, []string{traceA}},
		{"max duration", query.TraceQuery{MaxDuration: 2 * time.Millisecond}, []string{traceC}},
		{"duration band", query.TraceQuery{MinDuration: 20 * time.Millisecond, MaxDuration: 30 * time.Millisecond}, []string{traceB}},
		{"span attribute", query.TraceQuery{Attrs: map[string]string{"user": "alice"}}, []string{traceA}},
		{"number attribute", query.TraceQuery{Attrs: map[string]string{"n": "42"}}, []string{traceC, traceB, traceA}},
		{"resource attribute", query.TraceQuery{Attrs: map[string]string{"k8s.pod.name": "db-0"}}, []string{traceB}},
		// Jaeger semantics: one span must match every condition.
		{"conditions on one span", query.TraceQuery{Service: "frontend", Status: "error"}, nil},
		{"all conditions", query.TraceQuery{Service: "api", Operation: "charge", Status: "error", MinDuration: time.Millisecond,
			Attrs: map[string]string{"user": "alice", "http.method": "POST"}}, []string{traceA}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.q.Range = rng
			got, err := svc.SearchTraces(context.Background(), tt.q)
			if err != nil {
				t.Fatalf("SearchTraces: %v", err)
			}
			var ids []string
			for _, s := range got {
				ids = append(ids, s.TraceID)
			}
			if !slices.Equal(ids, tt.want) {
				t.Errorf("traces = %v, want %v", ids, tt.want)
			}
		})
	}

	got, err := svc.SearchTraces(context.Background(), query.TraceQuery{Range: rng})
	if err != nil || len(got) != 3 {
		t.Fatalf("SearchTraces = %v, %v", got, err)
	}
	want := []query.TraceSummary{
		{TraceID: traceC, RootService: "worker", RootOperation: "GET /00000000000000c3", Start: t0.Add(2 * time.Minute),
			DurationNs: 7e6, DurationMs: 7, SpanCount: 2, Services: []string{"worker"}},
		{TraceID: traceB, RootService: "frontend", RootOperation: "GET /00000000000000b1", Start: t0.Add(time.Minute),
			DurationNs: 30e6, DurationMs: 30, SpanCount: 2, Services: []string{"db", "frontend"}},
		{TraceID: traceA, RootService: "frontend", RootOperation: "GET /00000000000000a1", Start: t0,
			DurationNs: 400e6, DurationMs: 400, SpanCount: 2, ErrorCount: 1, Services: []string{"api", "frontend"}},
	}
	for i := range want {
		if !summaryEqual(got[i], want[i]) {
			t.Errorf("summary %d = %+v\nwant %+v", i, got[i], want[i])
		}
	}
}

func TestSearchTracesInvalid(t *testing.T) {
	svc := newTestService(t, &telemetry.Batch{}, query.Options{})
	rng := query.TimeRange{From: t0, To: t0.Add(time.Hour)}
	many := map[string]string{}
	for i := range 17 {
		many[string(rune('a'+i))] = "x"
	}
	tests := []query.TraceQuery{
		{},
		{Range: query.TimeRange{From: t0, To: t0}},
		{Range: rng, Status: "failed"},
		{Range: rng, MinDuration: -time.Second},
		{Range: rng, MinDuration: time.Second, MaxDuration: time.Millisecond},
		{Range: rng, Attrs: map[string]string{"": "x"}},
		{Range: rng, Attrs: many},
	}
	for _, q := range tests {
		if _, err := svc.SearchTraces(context.Background(), q); !errors.Is(err, query.ErrInvalid) {
			t.Errorf("SearchTraces(%+v) = %v, want ErrInvalid", q, err)
		}
	}
}
