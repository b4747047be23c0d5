package query_test

import (
	"context"
	"errors"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/fibinc/telltale/internal/query"
	"github.com/fibinc/telltale/internal/red"
	"github.com/fibinc/telltale/internal/telemetry"
)

func TestServices(t *testing.T) {
	var b telemetry.Batch
	add := func(service, kind, parent, status string, at, d time.Duration) *telemetry.Span {
		sp := span(service, traceA, "0000000000000001", parent, at, d)
		sp.Kind, sp.StatusCode = kind, status
		b.Spans = append(b.Spans, sp)
		return &b.Spans[len(b.Spans)-1]
	}
	// frontend: four server spans, one failed, and client spans, on two
	// instances.
	for i, d := range []time.Duration{10, 20, 30, 40} {
		status := "ok"
		if i == 3 {
			status = "error"
		}
		add("frontend", "server", "", status, time.Duration(i)*time.Minute, d*time.Millisecond)
	}
	add("frontend", "client", "1", "error", 0, time.Millisecond)
	c := add("frontend", "client", "1", "unset", 30*time.Minute, time.Millisecond)
	c.InstanceID, c.ServiceVersion, c.Environment, c.Host = "i-2", "1.3.0", "staging", "host-b"
	// worker: no server spans, so its root and consumer spans count.
	add("worker", "internal", "", "unset", 0, 100*time.Millisecond)
	add("worker", "consumer", "1", "error", 0, 200*time.Millisecond)
	add("worker", "internal", "1", "unset", 0, 5*time.Millisecond)
	// lib: neither.
	add("lib", "internal", "1", "unset", 0, time.Millisecond)
	// Outside the range.
	add("old", "server", "", "unset", -2*time.Hour, time.Millisecond)
	add("frontend", "server", "", "error", 2*time.Hour, time.Millisecond)
	b.Logs = []telemetry.Log{
		logAt("logonly", 0, telemetry.SeverityInfo, "a"),
		logAt("logonly", 40*time.Minute, telemetry.SeverityInfo, "b"),
		logAt("frontend", 50*time.Minute, telemetry.SeverityInfo, "c"),
	}
	svc := newTestService(t, &b, query.Options{})

	got, err := svc.Services(context.Background(), query.TimeRange{From: t0.Add(-time.Hour), To: t0.Add(time.Hour)})
	if err != nil {
		t.Fatalf("Services: %v", err)
	}
	var names []string
	for _, s := range got {
		names = append(names, s.Name)
	}
	if want := []string{"frontend", "lib", "logonly", "worker"}; !slices.Equal(names, want) {
		t.Fatalf("services = %v, want %v", names, want)
	}
	fe, lib, logonly, worker := got[0], got[1], got[2], got[3]

	checks := []struct {
		name      string
		got, want any
	}{
		{"frontend request spans", fe.RequestSpans, "server"},
		{"frontend requests", fe.Requests, int64(4)},
		{"frontend request errors", fe.RequestErrors, int64(1)},
		{"frontend request rate", fe.RequestRate, 4.0 / 7200},
		{"frontend error rate", fe.ErrorRate, 0.25},
		{"frontend spans", fe.SpanCount, int64(6)},
		{"frontend span errors", fe.ErrorCount, int64(2)},
		{"frontend logs", fe.LogCount, int64(1)},
		{"frontend versions", fe.Versions, []string{"1.2.3", "1.3.0"}},
		{"frontend environments", fe.Environments, []string{"prod", "staging"}},
		{"worker request spans", worker.RequestSpans, "root_or_consumer"},
		{"worker requests", worker.Requests, int64(2)},
		{"worker error rate", worker.ErrorRate, 0.5},
		{"worker spans", worker.SpanCount, int64(3)},
		{"lib request spans", lib.RequestSpans, ""},
		{"lib requests", lib.Requests, int64(0)},
		{"lib latency", lib.Latency == nil, true},
		{"lib spans", lib.SpanCount, int64(1)},
		{"logonly spans", logonly.SpanCount, int64(0)},
		{"logonly logs", logonly.LogCount, int64(2)},
		{"logonly latency", logonly.Latency == nil, true},
		{"logonly versions", logonly.Versions, []string{}},
		{"logonly environments", logonly.Environments, []string{"prod"}},
	}
	for _, c := range checks {
		if !equalish(c.got, c.want) {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}

	if fe.Latency == nil || !nearLatency(fe.Latency.P50, 25) || !nearLatency(fe.Latency.P95, 38.5) || !nearLatency(fe.Latency.P99, 39.7) {
		t.Errorf("frontend latency = %+v, want p50 25, p95 38.5, p99 39.7", fe.Latency)
	}
	if worker.Latency == nil || !nearLatency(worker.Latency.P50, 150) {
		t.Errorf("worker latency = %+v, want p50 150", worker.Latency)
	}
	wantInstances := []query.Instance{
		{ID: "i-2", Host: "host-b", AvailabilityZone: "us-east-1b", Environment: "staging", Version: "1.3.0", LastSeen: t0.Add(30 * time.Minute)},
		{ID: "i-1", Host: "host-a", AvailabilityZone: "us-east-1b", Environment: "prod", Version: "1.2.3", LastSeen: t0.Add(3 * time.Minute)},
		{Host: "h1", Environment: "prod", LastSeen: t0.Add(50 * time.Minute)},
	}
	slices.SortFunc(wantInstances, func(a, b query.Instance) int { return b.LastSeen.Compare(a.LastSeen) })
	if !slices.EqualFunc(fe.Instances, wantInstances, func(a, b query.Instance) bool {
		return a.LastSeen.Equal(b.LastSeen) && a.ID == b.ID && a.Host == b.Host && a.AvailabilityZone == b.AvailabilityZone &&
			a.Environment == b.Environment && a.Version == b.Version
	}) {
		t.Errorf("frontend instances =\n%+v\nwant\n%+v", fe.Instances, wantInstances)
	}
}

func TestServicesEmptyAndInvalid(t *testing.T) {
	svc := newTestService(t, &telemetry.Batch{}, query.Options{})
	got, err := svc.Services(context.Background(), query.TimeRange{From: t0, To: t0.Add(time.Hour)})
	if err != nil || got == nil || len(got) != 0 {
		t.Errorf("Services on an empty store = %#v, %v; want an empty list", got, err)
	}
	if _, err := svc.Services(context.Background(), query.TimeRange{From: t0}); !errors.Is(err, query.ErrInvalid) {
		t.Errorf("Services without an end = %v, want ErrInvalid", err)
	}
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

// nearLatency reports whether a percentile is within the error that
// reading it from RED aggregates allows (red.MaxRelativeError) of want.
func nearLatency(got, want float64) bool {
	return math.Abs(got-want) <= red.MaxRelativeError*math.Abs(want)+1e-9
}

func equalish(a, b any) bool {
	switch a := a.(type) {
	case float64:
		return near(a, b.(float64))
	case []string:
		return slices.Equal(a, b.([]string)) && a != nil
	}
	return a == b
}
