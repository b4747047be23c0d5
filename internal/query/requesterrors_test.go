package query_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/fibinc/telltale/internal/query"
	"github.com/fibinc/telltale/internal/telemetry"
)

// TestRequestErrorChains stores FibPro's failing call twice: in trace A
// both fibfrontend and pricing recorded an error event, in trace B (same
// request id) only spans say what failed. A third error carries the
// request id and no trace.
func TestRequestErrorChains(t *testing.T) {
	mk := func(trace, service, id, parent, kind, status string, at time.Duration) telemetry.Span {
		sp := span(service, trace, id, parent, at, time.Millisecond)
		sp.Kind, sp.StatusCode, sp.RequestID, sp.Events = kind, status, "r-1", "[]"
		return sp
	}
	b := &telemetry.Batch{Spans: []telemetry.Span{
		mk(traceA, "fibfrontend", "a000000000000001", "", "server", "error", 0),
		mk(traceA, "fibfrontend", "a000000000000002", "a000000000000001", "client", "unset", time.Millisecond),
		mk(traceA, "userstore", "c000000000000001", "a000000000000002", "server", "unset", 2*time.Millisecond),
		mk(traceA, "fibfrontend", "a000000000000003", "a000000000000001", "client", "error", 3*time.Millisecond),
		mk(traceA, "pricing", "b000000000000001", "a000000000000003", "server", "error", 4*time.Millisecond),

		mk(traceB, "fibfrontend", "a000000000000011", "", "server", "error", time.Second),
		mk(traceB, "fibfrontend", "a000000000000012", "a000000000000011", "client", "error", time.Second+time.Millisecond),
		mk(traceB, "pricing", "b000000000000011", "a000000000000012", "server", "error", time.Second+2*time.Millisecond),

		mk(traceC, "pricing", "b000000000000021", "", "server", "ok", 3*time.Second),
	}}
	b.Spans[8].RequestID = "r-2"
	b.Spans[5].StatusMessage = "Bad Gateway"
	b.Spans[7].Events = `[{"name":"exception","attributes":{"exception.type":"*errors.errorString","exception.message":"unknown log level"}}]`

	front := errorAt("price", "fibfrontend", "prod", "", 5*time.Millisecond)
	front.TraceID, front.SpanID = traceA, "a000000000000001"
	pricing := errorAt("rules", "pricing", "prod", "", 4*time.Millisecond)
	pricing.TraceID, pricing.SpanID = traceA, "b000000000000001"
	pricing.Exceptions[0].Frames = []telemetry.Frame{{Module: "pricing", Function: "parseLevel"}}
	lone := errorAt("lone", "fibfrontend", "prod", "", 2*time.Second)
	lone.RequestID = "r-1"
	other := errorAt("rules", "pricing", "prod", "", 3*time.Second)
	other.TraceID, other.RequestID = traceC, "r-2"
	b.Errors = []telemetry.ErrorEvent{front, pricing, lone, other}
	f := newIssueFixture(t, b, map[string]string{"price": "unresolved", "rules": "unresolved", "lone": "unresolved"})

	ctx := context.Background()
	req, err := f.svc.Request(ctx, "r-1")
	if err != nil {
		t.Fatal(err)
	}
	errs, err := f.svc.RequestErrors(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range errs {
		s := fmt.Sprintf("%s %s %s issue=%d %q:", e.Service, e.SpanID, e.EventID, e.IssueID, e.Title)
		for _, l := range e.Chain {
			s += fmt.Sprintf(" [%s %s %s %d %s %q frames=%d]", l.Service, l.Operation, l.SpanID, l.IssueID, l.Type, l.Value, len(l.Frames))
		}
		got = append(got, s)
	}
	want := []string{
		// pricing's own event is folded into fibfrontend's chain.
		fmt.Sprintf(`fibfrontend a000000000000001 %s issue=%d "price": [fibfrontend GET /a000000000000001 a000000000000001 %[2]d *errors.errorString "price" frames=0] [pricing GET /b000000000000001 b000000000000001 %d *errors.errorString "rules" frames=1]`,
			front.EventID, f.issues["price"], f.issues["rules"]),
		// Trace B has no event: its chain comes from the spans.
		`fibfrontend a000000000000011  issue=0 "Bad Gateway": [fibfrontend GET /a000000000000011 a000000000000011 0  "Bad Gateway" frames=0] [pricing GET /b000000000000011 b000000000000011 0 *errors.errorString "unknown log level" frames=0]`,
		fmt.Sprintf(`fibfrontend  %s issue=%d "lone": [fibfrontend   %[2]d *errors.errorString "lone" frames=0]`, lone.EventID, f.issues["lone"]),
	}
	if !slices.Equal(got, want) {
		t.Errorf("errors:\n got %q\nwant %q", got, want)
	}

	// An event in a trace without failed spans is an error of one link.
	if req, err = f.svc.Request(ctx, traceC); err != nil {
		t.Fatal(err)
	}
	errs, err = f.svc.RequestErrors(ctx, req)
	if err != nil || len(errs) != 1 || errs[0].EventID != other.EventID || len(errs[0].Chain) != 1 || errs[0].Chain[0].Operation != "GET /b000000000000021" {
		t.Errorf("errors of trace C = %+v, %v; want the one event", errs, err)
	}
}

func TestRequestErrorsNone(t *testing.T) {
	svc := newTestService(t, &telemetry.Batch{Spans: []telemetry.Span{span("api", traceA, "0000000000000001", "", 0, time.Millisecond)}}, query.Options{})
	req, err := svc.Request(context.Background(), traceA)
	if err != nil {
		t.Fatal(err)
	}
	errs, err := svc.RequestErrors(context.Background(), req)
	if err != nil || len(errs) != 0 || errs == nil {
		t.Errorf("RequestErrors = %#v, %v; want an empty list", errs, err)
	}
}
