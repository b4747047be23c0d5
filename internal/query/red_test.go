package query_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fibinc/telltale/internal/query"
	"github.com/fibinc/telltale/internal/telemetry"
)

// spanBuilder appends spans with unique ids to a batch.
type spanBuilder struct {
	b    telemetry.Batch
	next int
}

// add appends a span of service starting at t0+at and returns its id.
func (sb *spanBuilder) add(service, kind, name, parent, status string, at, d time.Duration) string {
	return sb.addIn(traceA, service, kind, name, parent, status, at, d)
}

// addIn is add in another trace.
func (sb *spanBuilder) addIn(trace, service, kind, name, parent, status string, at, d time.Duration) string {
	sb.next++
	id := fmt.Sprintf("%016x", sb.next)
	sp := span(service, trace, id, parent, at, d)
	sp.Kind, sp.Name, sp.StatusCode = kind, name, status
	sb.b.Spans = append(sb.b.Spans, sp)
	return id
}

// last returns the span added last, to change it.
func (sb *spanBuilder) last() *telemetry.Span { return &sb.b.Spans[len(sb.b.Spans)-1] }

// redFixture holds:
//   - frontend: server spans (the requests) at t0+0..4m and t0+9m, errors at
//     2m; client spans, which are no requests; server spans a day earlier;
//   - worker: no server spans, so its root and consumer spans count;
//   - lib: only internal child spans, so no requests;
//   - staging: server spans in another environment.
func redFixture() *telemetry.Batch {
	var sb spanBuilder
	ms := time.Millisecond
	for i, d := range []time.Duration{10, 20, 30, 40} {
		sb.add("frontend", "server", "GET /a", "", "ok", time.Duration(i)*time.Minute/2, d*ms) // 0, 30s, 1m, 1m30s
	}
	sb.add("frontend", "server", "GET /b", "", "error", 2*time.Minute, 100*ms)
	sb.add("frontend", "server", "GET /b", "", "ok", 2*time.Minute+time.Second, 300*ms)
	sb.add("frontend", "server", "GET /a", "", "unset", 9*time.Minute, 50*ms)
	sb.add("frontend", "client", "GET", "0000000000000001", "error", time.Minute, 999*ms)
	sb.add("frontend", "internal", "render", "0000000000000001", "ok", time.Minute, 5*ms)
	// Yesterday: two requests at 1m, one failed.
	sb.add("frontend", "server", "GET /a", "", "ok", -24*time.Hour+time.Minute, 7*ms)
	sb.add("frontend", "server", "GET /a", "", "error", -24*time.Hour+time.Minute+time.Second, 9*ms)

	sb.add("worker", "internal", "tick", "", "ok", 0, 100*ms)
	sb.add("worker", "consumer", "job", "00000000000000ff", "error", 3*time.Minute, 200*ms)
	sb.add("worker", "internal", "step", "00000000000000ff", "ok", 3*time.Minute, 999*ms)

	sb.add("lib", "internal", "parse", "00000000000000ff", "ok", 0, ms)

	sb.add("staging-api", "server", "GET /s", "", "ok", 0, ms)
	sb.last().Environment = "staging"

	// Outside the range of the tests.
	sb.add("frontend", "server", "GET /a", "", "error", 2*time.Hour, ms)
	sb.b.Logs = []telemetry.Log{logAt("logonly", 5*time.Minute, telemetry.SeverityInfo, "hello")}
	return &sb.b
}

// redPoint is what a test expects of a point; latency -1 means none.
type redPoint struct {
	requests, errors int64
	rate             float64
	p50              float64
}

func pointsOf(ps []query.REDPoint) []redPoint {
	var out []redPoint
	for _, p := range ps {
		rp := redPoint{requests: p.Requests, errors: p.Errors, rate: p.Rate, p50: -1}
		if p.Latency != nil {
			rp.p50 = p.Latency.P50
		}
		out = append(out, rp)
	}
	return out
}

func TestServiceSeries(t *testing.T) {
	svc := newTestService(t, redFixture(), query.Options{})
	tenMin := query.TimeRange{From: t0, To: t0.Add(10 * time.Minute)}
	zero := redPoint{p50: -1}
	type want struct {
		step    time.Duration
		kinds   map[string]string     // request_spans by service; the keys are the services listed
		points  map[string][]redPoint // by service; those not given are not checked
		first   time.Time
		nPoints int
	}
	tests := []struct {
		name string
		q    query.ServiceSeriesQuery
		want want
	}{
		{"all services, empty steps zero-filled", query.ServiceSeriesQuery{Range: tenMin, Step: time.Minute}, want{
			step:  time.Minute,
			kinds: map[string]string{"frontend": "server", "worker": "root_or_consumer", "staging-api": "server"},
			points: map[string][]redPoint{
				"frontend": {
					{2, 0, 2.0 / 60, 15}, {2, 0, 2.0 / 60, 35}, {2, 1, 2.0 / 60, 200}, zero, zero, zero, zero, zero, zero,
					{1, 0, 1.0 / 60, 50},
				},
				"worker": {{1, 0, 1.0 / 60, 100}, zero, zero, {1, 1, 1.0 / 60, 200}, zero, zero, zero, zero, zero, zero},
			},
			first: t0, nPoints: 10,
		}},
		{"one service, one environment", query.ServiceSeriesQuery{Range: tenMin, Step: 5 * time.Minute, Service: "frontend", Environment: "prod"}, want{
			step:   5 * time.Minute,
			kinds:  map[string]string{"frontend": "server"},
			points: map[string][]redPoint{"frontend": {{6, 1, 6.0 / 300, 35}, {1, 0, 1.0 / 300, 50}}},
			first:  t0, nPoints: 2,
		}},
		{"environment", query.ServiceSeriesQuery{Range: tenMin, Step: 5 * time.Minute, Environment: "staging"}, want{
			step: 5 * time.Minute, kinds: map[string]string{"staging-api": "server"}, first: t0, nPoints: 2,
		}},
		{"yesterday, moved to today", query.ServiceSeriesQuery{Range: tenMin, Step: time.Minute, Offset: 24 * time.Hour}, want{
			step:   time.Minute,
			kinds:  map[string]string{"frontend": "server"},
			points: map[string][]redPoint{"frontend": {zero, {2, 1, 2.0 / 60, 8}, zero, zero, zero, zero, zero, zero, zero, zero}},
			first:  t0, nPoints: 10,
		}},
		// The first step holds the range's start; its rate counts only the
		// 30 seconds inside the range.
		{"unaligned range", query.ServiceSeriesQuery{Range: query.TimeRange{From: t0.Add(30 * time.Second), To: t0.Add(150 * time.Second)}, Step: time.Minute, Service: "frontend"}, want{
			step:   time.Minute,
			kinds:  map[string]string{"frontend": "server"},
			points: map[string][]redPoint{"frontend": {{1, 0, 1.0 / 30, 20}, {2, 0, 2.0 / 60, 35}, {2, 1, 2.0 / 30, 200}}},
			first:  t0, nPoints: 3,
		}},
		// The default step for 10 minutes is 5s: 120 points.
		{"default step", query.ServiceSeriesQuery{Range: tenMin, Service: "worker"}, want{
			step: 5 * time.Second, kinds: map[string]string{"worker": "root_or_consumer"}, first: t0, nPoints: 120,
		}},
		{"known service without requests", query.ServiceSeriesQuery{Range: tenMin, Step: 5 * time.Minute, Service: "lib"}, want{
			step: 5 * time.Minute, kinds: map[string]string{"lib": ""},
			points: map[string][]redPoint{"lib": {zero, zero}}, first: t0, nPoints: 2,
		}},
		{"nothing in range", query.ServiceSeriesQuery{Range: query.TimeRange{From: t0.Add(-time.Hour), To: t0.Add(-30 * time.Minute)}}, want{
			step: 15 * time.Second, kinds: map[string]string{},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := svc.ServiceSeries(context.Background(), tt.q)
			if err != nil {
				t.Fatalf("ServiceSeries: %v", err)
			}
			if res.Step != tt.want.step || res.Offset != tt.q.Offset {
				t.Errorf("step %s, offset %s; want %s, %s", res.Step, res.Offset, tt.want.step, tt.q.Offset)
			}
			kinds := map[string]string{}
			var names []string
			for _, s := range res.Series {
				kinds[s.Service] = s.RequestSpans
				names = append(names, s.Service)
				if len(s.Points) != tt.want.nPoints {
					t.Errorf("%s: %d points, want %d", s.Service, len(s.Points), tt.want.nPoints)
					continue
				}
				for i, p := range s.Points {
					if at := tt.want.first.Add(time.Duration(i) * res.Step); !p.Time.Equal(at) {
						t.Errorf("%s: point %d at %s, want %s", s.Service, i, p.Time, at)
					}
				}
				if want, ok := tt.want.points[s.Service]; ok {
					if got := pointsOf(s.Points); !slices.EqualFunc(got, want, func(a, b redPoint) bool {
						return a.requests == b.requests && a.errors == b.errors && near(a.rate, b.rate) && nearLatency(a.p50, b.p50)
					}) {
						t.Errorf("%s points =\n%v\nwant\n%v", s.Service, got, want)
					}
				}
			}
			if !slices.IsSorted(names) || fmt.Sprint(kinds) != fmt.Sprint(tt.want.kinds) {
				t.Errorf("series %v with request spans %v, want %v", names, kinds, tt.want.kinds)
			}
		})
	}
}

func TestServiceSeriesLatencyAndJSON(t *testing.T) {
	svc := newTestService(t, redFixture(), query.Options{})
	res, err := svc.ServiceSeries(context.Background(), query.ServiceSeriesQuery{
		Range: query.TimeRange{From: t0, To: t0.Add(2 * time.Minute)}, Step: 2 * time.Minute, Service: "frontend"})
	if err != nil {
		t.Fatal(err)
	}
	// The four requests of 10, 20, 30 and 40 ms.
	p := res.Series[0].Points[0]
	if p.Latency == nil || !nearLatency(p.Latency.P50, 25) || !nearLatency(p.Latency.P95, 38.5) || !nearLatency(p.Latency.P99, 39.7) || p.ErrorRate != 0 {
		t.Errorf("point = %+v %+v, want p50 25, p95 38.5, p99 39.7", p, p.Latency)
	}
	data, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"step_ms":120000`, `"offset_ms":0`, `"request_spans":"server"`, `"time":"2026-05-04T10:00:00Z"`, `"latency_ms":{"p50":25`} {
		if !strings.Contains(string(data), want) {
			t.Errorf("JSON %s lacks %s", data, want)
		}
	}
}

func TestServiceSeriesInvalid(t *testing.T) {
	svc := newTestService(t, redFixture(), query.Options{})
	hour := query.TimeRange{From: t0, To: t0.Add(time.Hour)}
	tests := []struct {
		name string
		q    query.ServiceSeriesQuery
		want error
		msg  string
	}{
		{"no range", query.ServiceSeriesQuery{}, query.ErrInvalid, "time range"},
		{"negative step", query.ServiceSeriesQuery{Range: hour, Step: -time.Second}, query.ErrInvalid, "step must be positive"},
		{"fractional step", query.ServiceSeriesQuery{Range: hour, Step: 1500 * time.Microsecond}, query.ErrInvalid, "whole number of milliseconds"},
		{"too many steps", query.ServiceSeriesQuery{Range: hour, Step: 100 * time.Millisecond}, query.ErrInvalid, "use a larger step"},
		{"negative offset", query.ServiceSeriesQuery{Range: hour, Offset: -time.Hour}, query.ErrInvalid, "negative"},
		{"offset off the steps", query.ServiceSeriesQuery{Range: hour, Step: 7 * time.Minute, Offset: 24 * time.Hour}, query.ErrInvalid, "whole number of steps"},
		{"offset too far", query.ServiceSeriesQuery{Range: hour, Offset: 400 * 24 * time.Hour}, query.ErrInvalid, "maximum"},
		{"unknown service", query.ServiceSeriesQuery{Range: hour, Service: "nobody"}, query.ErrNotFound, `service "nobody"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := svc.ServiceSeries(context.Background(), tt.q)
			if !errors.Is(err, tt.want) || !strings.Contains(fmt.Sprint(err), tt.msg) {
				t.Errorf("err = %v, want %v with %q", err, tt.want, tt.msg)
			}
		})
	}
}

func TestOperations(t *testing.T) {
	svc := newTestService(t, redFixture(), query.Options{})
	ctx := context.Background()
	tenMin := query.TimeRange{From: t0, To: t0.Add(10 * time.Minute)}
	ops, err := svc.Operations(ctx, "frontend", tenMin)
	if err != nil {
		t.Fatal(err)
	}
	type op struct {
		name             string
		requests, errors int64
		rate, errRate    float64
		p50              float64
	}
	var got []op
	for _, o := range ops {
		got = append(got, op{o.Name, o.Requests, o.Errors, o.Rate, o.ErrorRate, o.Latency.P50})
	}
	// Client and internal spans are not operations.
	want := []op{{"GET /a", 5, 0, 5.0 / 600, 0, 30}, {"GET /b", 2, 1, 2.0 / 600, 0.5, 200}}
	if !slices.EqualFunc(got, want, func(a, b op) bool {
		return a.name == b.name && a.requests == b.requests && a.errors == b.errors && near(a.rate, b.rate) && near(a.errRate, b.errRate) && nearLatency(a.p50, b.p50)
	}) {
		t.Errorf("operations = %+v, want %+v", got, want)
	}

	ops, err = svc.Operations(ctx, "worker", tenMin)
	if err != nil || len(ops) != 2 || ops[0].Name != "job" || ops[1].Name != "tick" {
		t.Errorf("worker operations = %+v, %v; want job and tick, the consumer and root spans", ops, err)
	}
	if ops, err := svc.Operations(ctx, "logonly", tenMin); err != nil || ops == nil || len(ops) != 0 {
		t.Errorf("operations of a service without spans = %#v, %v; want an empty list", ops, err)
	}
	if _, err := svc.Operations(ctx, "nobody", tenMin); !errors.Is(err, query.ErrNotFound) {
		t.Errorf("operations of an unknown service: %v, want ErrNotFound", err)
	}
	if _, err := svc.Operations(ctx, "", tenMin); !errors.Is(err, query.ErrInvalid) {
		t.Errorf("operations without a service: %v, want ErrInvalid", err)
	}
}

func TestSlowestTraces(t *testing.T) {
	svc := newTestService(t, redFixture(), query.Options{})
	ctx := context.Background()
	tenMin := query.TimeRange{From: t0, To: t0.Add(10 * time.Minute)}
	tests := []struct {
		service string
		limit   int
		want    []string // operation/duration ms/status
	}{
		// The 999 ms client span is no request.
		{"frontend", 3, []string{"GET /b/300/ok", "GET /b/100/error", "GET /a/50/unset"}},
		{"frontend", 0, []string{"GET /b/300/ok", "GET /b/100/error", "GET /a/50/unset", "GET /a/40/ok", "GET /a/30/ok", "GET /a/20/ok", "GET /a/10/ok"}},
		{"worker", 10, []string{"job/200/error", "tick/100/ok"}},
		{"lib", 10, nil},
	}
	for _, tt := range tests {
		got, err := svc.SlowestTraces(ctx, tt.service, tenMin, tt.limit)
		if err != nil {
			t.Fatalf("SlowestTraces(%s): %v", tt.service, err)
		}
		var ops []string
		for _, sr := range got {
			ops = append(ops, fmt.Sprintf("%s/%g/%s", sr.Operation, sr.DurationMs, sr.StatusCode))
			if sr.TraceID != traceA || sr.SpanID == "" || sr.Start.Before(t0) {
				t.Errorf("%s: request %+v", tt.service, sr)
			}
		}
		if !slices.Equal(ops, tt.want) {
			t.Errorf("SlowestTraces(%s, %d) = %q, want %q", tt.service, tt.limit, ops, tt.want)
		}
	}
	if _, err := svc.SlowestTraces(ctx, "nobody", tenMin, 5); !errors.Is(err, query.ErrNotFound) {
		t.Errorf("slowest of an unknown service: %v, want ErrNotFound", err)
	}
}

func TestVersionChanges(t *testing.T) {
	var sb spanBuilder
	version := func(v, instance string) {
		s := sb.last()
		s.ServiceVersion, s.InstanceID = v, instance
	}
	// 1.0 ran before the range and into it; 1.1 rolled out in it over two
	// instances; 1.2 only logged; 0.9 only before the range.
	sb.add("api", "server", "GET", "", "ok", -2*time.Hour, time.Millisecond)
	version("1.0", "i-1")
	sb.add("api", "server", "GET", "", "ok", time.Minute, time.Millisecond)
	version("1.0", "i-1")
	sb.add("api", "server", "GET", "", "ok", 5*time.Minute, time.Millisecond)
	version("1.1", "i-1")
	sb.add("api", "internal", "x", "1", "ok", 7*time.Minute, time.Millisecond)
	version("1.1", "i-2")
	sb.add("api", "server", "GET", "", "ok", -3*time.Hour, time.Millisecond)
	version("0.9", "i-1")
	sb.add("api", "server", "GET", "", "ok", 6*time.Minute, time.Millisecond)
	version("", "i-3")
	sb.add("other", "server", "GET", "", "ok", 2*time.Minute, time.Millisecond)
	version("7.0", "i-9")
	l := logAt("api", 8*time.Minute, telemetry.SeverityInfo, "started")
	l.ServiceVersion, l.InstanceID = "1.2", "i-3"
	sb.b.Logs = append(sb.b.Logs, l)
	svc := newTestService(t, &sb.b, query.Options{})

	got, err := svc.VersionChanges(context.Background(), "api", query.TimeRange{From: t0, To: t0.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	want := []query.VersionChange{
		{Version: "1.0", FirstSeen: t0.Add(time.Minute), LastSeen: t0.Add(time.Minute), Instances: 1, SeenBefore: true},
		{Version: "1.1", FirstSeen: t0.Add(5 * time.Minute), LastSeen: t0.Add(7 * time.Minute), Instances: 2},
		{Version: "1.2", FirstSeen: t0.Add(8 * time.Minute), LastSeen: t0.Add(8 * time.Minute), Instances: 1},
	}
	if !slices.EqualFunc(got, want, func(a, b query.VersionChange) bool {
		return a.Version == b.Version && a.FirstSeen.Equal(b.FirstSeen) && a.LastSeen.Equal(b.LastSeen) &&
			a.Instances == b.Instances && a.SeenBefore == b.SeenBefore
	}) {
		t.Errorf("versions =\n%+v\nwant\n%+v", got, want)
	}
	if got, err := svc.VersionChanges(context.Background(), "api", query.TimeRange{From: t0.Add(time.Hour), To: t0.Add(2 * time.Hour)}); err != nil || got == nil || len(got) != 0 {
		t.Errorf("versions of a quiet range = %#v, %v; want an empty list", got, err)
	}
	if _, err := svc.VersionChanges(context.Background(), "nobody", query.TimeRange{From: t0, To: t0.Add(time.Hour)}); !errors.Is(err, query.ErrNotFound) {
		t.Errorf("versions of an unknown service: %v, want ErrNotFound", err)
	}
}

func TestDefaultStep(t *testing.T) {
	for _, tt := range []struct{ rng, want time.Duration }{
		{time.Minute, time.Second},
		{10 * time.Minute, 5 * time.Second},
		{time.Hour, 30 * time.Second},
		{24 * time.Hour, 10 * time.Minute},
		{31 * 24 * time.Hour, 6 * time.Hour},
		{10 * 365 * 24 * time.Hour, 24 * time.Hour},
	} {
		if got := query.DefaultStep(tt.rng); got != tt.want {
			t.Errorf("DefaultStep(%s) = %s, want %s", tt.rng, got, tt.want)
		}
		if n := tt.rng / query.DefaultStep(tt.rng); tt.rng <= 150*24*time.Hour && n > 150 {
			t.Errorf("DefaultStep(%s) gives %d points", tt.rng, n)
		}
	}
}
