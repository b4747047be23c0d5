package query_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fibinc/telltale/internal/query"
	"github.com/fibinc/telltale/internal/telemetry"
)

func TestRequest(t *testing.T) {
	// Request r-7 went through trace A, whose root span carries the request
	// id, and trace B, where only a log record carries it. One record has
	// the request id and no trace at all.
	rootA := span("frontend", traceA, "00000000000000a1", "", 0, 100*time.Millisecond)
	rootA.RequestID = "r-7"
	childA := span("api", traceA, "00000000000000a2", "00000000000000a1", 10*time.Millisecond, 50*time.Millisecond)
	childA.RequestID = ""
	spanB := span("retry", traceB, "00000000000000b1", "", time.Minute, 10*time.Millisecond)
	spanB.RequestID = ""
	spanC := span("other", traceC, "00000000000000c1", "", 0, time.Millisecond)
	spanC.RequestID = "r-8"

	withTrace := func(l telemetry.Log, trace, req string) telemetry.Log {
		l.TraceID, l.RequestID = trace, req
		return l
	}
	svc := newTestService(t, &telemetry.Batch{
		Spans: []telemetry.Span{rootA, childA, spanB, spanC},
		Logs: []telemetry.Log{
			withTrace(logAt("api", 20*time.Millisecond, telemetry.SeverityInfo, "charging"), traceA, ""),
			withTrace(logAt("frontend", -time.Second, telemetry.SeverityInfo, "accepted"), "", "r-7"),
			withTrace(logAt("retry", time.Minute+time.Millisecond, telemetry.SeverityWarn, "retrying"), traceB, "r-7"),
			withTrace(logAt("other", 0, telemetry.SeverityInfo, "unrelated"), traceC, "r-8"),
			withTrace(logAt("other", 0, telemetry.SeverityInfo, "no ids"), "", ""),
			withTrace(logAt("lonely", 0, telemetry.SeverityInfo, "only a request id"), "", "r-9"),
		},
	}, query.Options{})

	tests := []struct {
		id     string
		traces []string
		spans  []int
		logs   []string
	}{
		{"r-7", []string{traceA, traceB}, []int{2, 1}, []string{"accepted", "charging", "retrying"}},
		// By trace id: the trace, and the lines of the request id its spans carry.
		{strings.ToUpper(traceA), []string{traceA}, []int{2}, []string{"accepted", "charging", "retrying"}},
		{"r-8", []string{traceC}, []int{1}, []string{"unrelated"}},
		{"r-9", nil, nil, []string{"only a request id"}},
	}
	for _, tt := range tests {
		got, err := svc.Request(context.Background(), tt.id)
		if err != nil {
			t.Errorf("Request(%q): %v", tt.id, err)
			continue
		}
		var traces []string
		var spans []int
		for _, tr := range got.Traces {
			traces, spans = append(traces, tr.TraceID), append(spans, len(tr.Spans))
		}
		if !slices.Equal(traces, tt.traces) || !slices.Equal(spans, tt.spans) || !slices.Equal(bodies(got.Logs), tt.logs) {
			t.Errorf("Request(%q) = traces %v with %v spans, logs %q; want %v, %v, %q",
				tt.id, traces, spans, bodies(got.Logs), tt.traces, tt.spans, tt.logs)
		}
		if got.ID != tt.id || got.Truncated {
			t.Errorf("Request(%q): id %q, truncated %v", tt.id, got.ID, got.Truncated)
		}
	}

	got, err := svc.Request(context.Background(), "r-7")
	if err != nil {
		t.Fatal(err)
	}
	if a := got.Traces[0]; a.RootService != "frontend" || a.Spans[1].Depth != 1 || a.DurationMs != 100 {
		t.Errorf("trace A summary = %+v", a.TraceSummary)
	}
}

func TestRequestErrors(t *testing.T) {
	b := &telemetry.Batch{}
	for i := range 3 {
		l := logAt("api", time.Duration(i)*time.Second, telemetry.SeverityInfo, "line")
		l.RequestID = "busy"
		b.Logs = append(b.Logs, l)
	}
	svc := newTestService(t, b, query.Options{MaxRows: 2})
	tests := []struct {
		id   string
		want error
	}{
		{"", query.ErrInvalid},
		{strings.Repeat("x", 257), query.ErrInvalid},
		{"missing", query.ErrNotFound},
		{traceA, query.ErrNotFound},
	}
	for _, tt := range tests {
		if _, err := svc.Request(context.Background(), tt.id); !errors.Is(err, tt.want) {
			t.Errorf("Request(%q) = %v, want %v", tt.id, err, tt.want)
		}
	}
	got, err := svc.Request(context.Background(), "busy")
	if err != nil || !got.Truncated || len(got.Logs) != 2 {
		t.Errorf("Request over the row limit = %+v, %v; want 2 records, truncated", got, err)
	}
}
