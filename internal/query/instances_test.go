package query_test

import (
	"context"
	"maps"
	"testing"
	"time"

	"github.com/fibinc/telltale/internal/query"
	"github.com/fibinc/telltale/internal/telemetry"
)

func TestInstanceStats(t *testing.T) {
	var b telemetry.Batch
	add := func(service, instance, kind, parent, status string, at time.Duration) {
		sp := span(service, traceA, "0000000000000001", parent, at, time.Millisecond)
		sp.Kind, sp.StatusCode, sp.InstanceID = kind, status, instance
		b.Spans = append(b.Spans, sp)
	}
	// frontend: i-1 serves four requests with one error, i-2 two that both
	// fail; client and internal spans are not requests.
	for i, status := range []string{"ok", "ok", "ok", "error"} {
		add("frontend", "i-1", "server", "", status, time.Duration(i)*time.Minute)
	}
	add("frontend", "i-2", "server", "", "error", 0)
	add("frontend", "i-2", "server", "", "error", time.Minute)
	add("frontend", "i-2", "client", "1", "error", 0)
	add("frontend", "i-3", "internal", "", "error", 0) // a root, but frontend has server spans
	// worker: no server spans, so its root and consumer spans count.
	add("worker", "w-1", "internal", "", "ok", 0)
	add("worker", "w-1", "consumer", "1", "error", 0)
	add("worker", "w-1", "internal", "1", "error", 0)
	add("lib", "l-1", "internal", "1", "error", 0)
	add("frontend", "i-1", "server", "", "error", 3*time.Hour) // outside the range
	svc := newTestService(t, &b, query.Options{})

	got, err := svc.InstanceStats(context.Background(), query.TimeRange{From: t0.Add(-time.Hour), To: t0.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]map[string]query.InstanceStat{
		"frontend": {"i-1": {Requests: 4, Errors: 1, ErrorRate: 0.25}, "i-2": {Requests: 2, Errors: 2, ErrorRate: 1}},
		"worker":   {"w-1": {Requests: 2, Errors: 1, ErrorRate: 0.5}},
	}
	if len(got) != len(want) {
		t.Errorf("services %v, want %v", got, want)
	}
	for svc, insts := range want {
		if !maps.Equal(got[svc], insts) {
			t.Errorf("%s: %v, want %v", svc, got[svc], insts)
		}
	}
	if _, err := svc.InstanceStats(context.Background(), query.TimeRange{From: t0, To: t0}); err == nil {
		t.Error("an empty range was accepted")
	}
}
