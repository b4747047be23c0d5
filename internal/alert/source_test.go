package alert

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/fibinc/telltale/internal/config"
	"github.com/fibinc/telltale/internal/promql"
	"github.com/fibinc/telltale/internal/query"
	"github.com/fibinc/telltale/internal/state"
	"github.com/fibinc/telltale/internal/store/duckdb"
	"github.com/fibinc/telltale/internal/telemetry"
)

// realQuery returns a query service over a real DuckDB store holding, in
// the minute from t0: gauge points of queue.depth (5 and 15 for api, 40
// for web) and jobs_waiting per queue; 4 server spans of api (one error,
// 10 to 40 ms); 2 error logs and 1 info log of api.
func realQuery(t *testing.T) *query.Service {
	t.Helper()
	st, err := duckdb.Open(ctx, duckdb.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	res := func(svc string) telemetry.Resource { return telemetry.Resource{ServiceName: svc, Attributes: "{}"} }
	gauge := func(name, svc, attrs string, id uint64, d time.Duration, v float64) telemetry.MetricPoint {
		return telemetry.MetricPoint{Resource: res(svc), Name: name, Type: telemetry.MetricGauge, SeriesID: id, Attributes: attrs, Time: t0.Add(d), Value: v}
	}
	var b telemetry.Batch
	b.Metrics = []telemetry.MetricPoint{
		gauge("queue.depth", "api", "{}", 1, 10*time.Second, 5),
		gauge("queue.depth", "api", "{}", 1, 20*time.Second, 15),
		gauge("queue.depth", "web", "{}", 2, 30*time.Second, 40),
		gauge("jobs_waiting", "api", `{"queue":"mail"}`, 3, 30*time.Second, 150),
		gauge("jobs_waiting", "api", `{"queue":"sms"}`, 4, 30*time.Second, 3),
	}
	for i, ms := range []int{10, 20, 30, 40} {
		s := telemetry.Span{Resource: res("api"), TraceID: "0af7651916cd43dd8448eb211c80319c", SpanID: "00f067aa0ba902b" + string(rune('0'+i)),
			Name: "GET /", Kind: "server", Start: t0.Add(time.Duration(i+1) * 5 * time.Second), Duration: time.Duration(ms) * time.Millisecond,
			StatusCode: "ok", Attributes: "{}", Events: "[]", Links: "[]"}
		if i == 3 {
			s.StatusCode = "error"
		}
		b.Spans = append(b.Spans, s)
	}
	for i, sev := range []int32{17, 17, 9} {
		b.Logs = append(b.Logs, telemetry.Log{Resource: res("api"), Time: t0.Add(time.Duration(i+1) * 10 * time.Second), Severity: sev, Body: "boom", Attributes: "{}", Source: "otlp"})
	}
	if err := st.Write(ctx, &b); err != nil {
		t.Fatal(err)
	}
	q, err := query.New(query.Options{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	return q
}

func read(t *testing.T, s Source, err error, at time.Time, w time.Duration) []Sample {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Read(context.Background(), at, w)
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	return got
}

func one(t *testing.T, got []Sample, want float64) {
	t.Helper()
	if len(got) != 1 || math.Abs(got[0].Value-want) > 1e-9 {
		t.Errorf("got %+v, want one sample of %v", got, want)
	}
}

func TestSourcesOnRealData(t *testing.T) {
	q := realQuery(t)
	end := t0.Add(time.Minute)
	m := time.Minute

	t.Run("metric", func(t *testing.T) {
		for agg, want := range map[string]float64{"avg": 10, "max": 15, "min": 5, "sum": 15, "count": 2} { // a gauge sums the last value of each series
			s, err := newMetricSource(q, config.MetricSource{Name: "queue.depth", Filter: "service=api", Aggregation: agg})
			one(t, read(t, s, err, end, m), want)
		}
		s, err := newMetricSource(q, config.MetricSource{Name: "queue.depth"})
		one(t, read(t, s, err, end, m), 20) // avg over both services
		if got := read(t, s, err, end.Add(5*m), m); len(got) != 0 {
			t.Errorf("later window: %+v, want no data", got)
		}
		s, err = newMetricSource(q, config.MetricSource{Name: "queue.depth", Filter: "service=nope"})
		if got := read(t, s, err, end, m); len(got) != 0 {
			t.Errorf("filter matching nothing: %+v", got)
		}
		if _, err := newMetricSource(q, config.MetricSource{Name: "x", Aggregation: "median"}); err == nil {
			t.Error("bad aggregation: no error")
		}
		// A window that spans two steps of the store.
		s, err = newMetricSource(q, config.MetricSource{Name: "queue.depth", Aggregation: "max"})
		one(t, read(t, s, err, t0.Add(40*time.Second), 30*time.Second), 40)
	})
	t.Run("promql", func(t *testing.T) {
		e, err := promql.New(promql.Options{Query: q})
		if err != nil {
			t.Fatal(err)
		}
		s, err := newPromQLSource(e, `sum by (queue) (jobs_waiting)`)
		got := read(t, s, err, end, m)
		if len(got) != 2 || got[0].Labels["queue"] == "" {
			t.Fatalf("got %+v", got)
		}
		byQueue := map[string]float64{}
		for _, g := range got {
			byQueue[g.Labels["queue"]] = g.Value
		}
		if byQueue["mail"] != 150 || byQueue["sms"] != 3 {
			t.Errorf("got %+v", got)
		}
		s, err = newPromQLSource(e, `scalar(sum(jobs_waiting))`)
		one(t, read(t, s, err, end, m), 153)
		s, _ = newPromQLSource(e, `jobs_waiting[5m]`)
		if _, err := s.Read(ctx, end, m); err == nil {
			t.Error("range vector: no error")
		}
	})
	t.Run("service", func(t *testing.T) {
		s, err := newServiceSource(q, config.ServiceSource{Name: "api"})
		one(t, read(t, s, err, end, m), 25)
		s, err = newServiceSource(q, config.ServiceSource{Name: "api", Measure: "rate"})
		one(t, read(t, s, err, end, m), 4.0/60)
		one(t, read(t, s, err, end.Add(10*m), m), 0)
		s, err = newServiceSource(q, config.ServiceSource{Name: "api", Measure: "p99"})
		if got := read(t, s, err, end, m); len(got) != 1 || got[0].Value < 30 || got[0].Value > 40 {
			t.Errorf("p99 %+v", got)
		}
		if got := read(t, s, err, end.Add(10*m), m); len(got) != 0 {
			t.Errorf("p99 without requests: %+v", got)
		}
		s, err = newServiceSource(q, config.ServiceSource{Name: "api", Operation: "GET /"})
		one(t, read(t, s, err, end, m), 25)
		s, err = newServiceSource(q, config.ServiceSource{Name: "nope"})
		if got := read(t, s, err, end, m); len(got) != 0 {
			t.Errorf("unknown service: %+v", got)
		}
		if _, err := newServiceSource(q, config.ServiceSource{Name: "api", Measure: "p42"}); err == nil {
			t.Error("bad measure: no error")
		}
	})
	t.Run("logs", func(t *testing.T) {
		s, err := newLogSource(q, config.LogSource{Query: "service:api level>=error"})
		one(t, read(t, s, err, end, m), 2)
		one(t, read(t, s, err, end.Add(10*m), m), 0)
		if _, err := newLogSource(q, config.LogSource{Query: `"unclosed`}); err == nil {
			t.Error("bad filter: no error")
		}
	})
}

type issueList []state.Issue

func (l issueList) Issues(context.Context, state.IssueFilter) ([]state.Issue, error) { return l, nil }

func TestIssueSource(t *testing.T) {
	l := issueList{
		{Service: "api", FirstSeen: t0.Add(10 * time.Second)},
		{Service: "web", FirstSeen: t0.Add(20 * time.Second), RegressedAt: t0.Add(30 * time.Second)},
		{Service: "api", FirstSeen: t0.Add(-time.Hour), RegressedAt: t0.Add(time.Minute)},
		{Service: "api", FirstSeen: t0.Add(-time.Hour)},
	}
	for _, tt := range []struct {
		src  config.IssueSource
		want float64
	}{
		{config.IssueSource{}, 2},
		{config.IssueSource{Service: "api"}, 1},
		{config.IssueSource{Event: "regression"}, 2},
		{config.IssueSource{Event: "regression", Service: "web"}, 1},
	} {
		s, err := newIssueSource(l, tt.src)
		one(t, read(t, s, err, t0.Add(time.Minute), time.Minute), tt.want)
	}
	if _, err := newIssueSource(l, config.IssueSource{Event: "old"}); err == nil {
		t.Error("bad event: no error")
	}
}

type checkResults []state.CheckResult

func (c checkResults) CheckResults(_ context.Context, check string, from, to time.Time, _ int) ([]state.CheckResult, error) {
	var out []state.CheckResult
	for _, r := range c {
		if r.Check == check && !r.At.Before(from) && !r.At.After(to) {
			out = append(out, r)
		}
	}
	return out, nil
}

func TestCheckSource(t *testing.T) {
	c := checkResults{
		{Check: "api", At: t0.Add(10 * time.Second), OK: true},
		{Check: "api", At: t0.Add(40 * time.Second), OK: false},
		{Check: "api", At: t0.Add(70 * time.Second), OK: true},
		{Check: "db", At: t0.Add(10 * time.Second), OK: true},
	}
	s := newCheckSource(c, "api")
	one(t, read(t, s, nil, t0.Add(time.Minute), time.Minute), 1)
	one(t, read(t, s, nil, t0.Add(2*time.Minute), time.Minute), 0)
	if got := read(t, s, nil, t0.Add(5*time.Minute), time.Minute); len(got) != 0 {
		t.Errorf("no result: %+v", got)
	}
	if _, err := newCheckSource(nil, "api").Read(ctx, t0, time.Minute); err == nil {
		t.Error("no reader: no error")
	}
}
