package promql

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"

	"github.com/fibinc/telltale/internal/telemetry"
)

// loadLines parses series lines (the format of testdata/README.md) at a
// one-minute interval.
func loadLines(t *testing.T, lines ...string) []telemetry.MetricPoint {
	t.Helper()
	var out []telemetry.MetricPoint
	for _, l := range lines {
		ps, err := parseSeries(l, time.Minute)
		if err != nil {
			t.Fatalf("%s: %v", l, err)
		}
		out = append(out, ps...)
	}
	return out
}

func testQuerier(t *testing.T, e *Engine, from, to time.Duration) storage.Querier {
	t.Helper()
	q, err := e.Queryable().Querier(testBase.Add(from).UnixMilli(), testBase.Add(to).UnixMilli())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	return q
}

var labelTestSeries = []string{
	`histogram cumulative {"http.server.duration", route="/"} unit=s bounds=0.1,0.5 service=api : 1,2,3:4x10`,
	`histogram cumulative {"http.server.duration", route="/x"} unit=s bounds=0.1,1 service=api : 1,2,3:4x10`,
	`summary {"rpc.latency"} unit=s service=api : 10:5:0.5=0.4,0.99=0.9x10`,
	`gauge {"cpu.temp", core="0"} unit=Cel service=web host=h1 desc=CPU_temperature : 50x10`,
	`sum cumulative monotonic {"http.requests", code="200"} service=api desc=Requests : 0+1x10`,
	`sum cumulative monotonic {"http.requests", code="500"} service=web desc=Requests : 0+1x10`,
}

func TestLabelsAndSeries(t *testing.T) {
	e := newTestEngine(t, loadLines(t, labelTestSeries...))
	ctx := context.Background()
	q := testQuerier(t, e, 0, 10*time.Minute)
	m := func(typ labels.MatchType, name, value string) *labels.Matcher {
		return labels.MustNewMatcher(typ, name, value)
	}

	names, _, err := q.LabelNames(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"__name__", "code", "core", "host_name", "job", "le", "quantile", "route", "service_name"}
	if !slices.Equal(names, want) {
		t.Errorf("LabelNames = %v, want %v", names, want)
	}
	names, _, err = q.LabelNames(ctx, nil, m(labels.MatchEqual, "job", "web"))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"__name__", "code", "core", "host_name", "job", "service_name"}; !slices.Equal(names, want) {
		t.Errorf("LabelNames{job=web} = %v, want %v", names, want)
	}

	for _, c := range []struct {
		name     string
		matchers []*labels.Matcher
		limit    int
		want     []string
	}{
		{"__name__", nil, 0, []string{"cpu_temp_celsius", "http_requests_total", "http_server_duration_seconds_bucket",
			"http_server_duration_seconds_count", "http_server_duration_seconds_sum", "rpc_latency_seconds",
			"rpc_latency_seconds_count", "rpc_latency_seconds_sum"}},
		{"__name__", []*labels.Matcher{m(labels.MatchRegexp, "__name__", "http_.*")}, 2, []string{"http_requests_total", "http_server_duration_seconds_bucket"}},
		{"__name__", []*labels.Matcher{m(labels.MatchEqual, "job", "web")}, 0, []string{"cpu_temp_celsius", "http_requests_total"}},
		{"le", nil, 0, []string{"+Inf", "0.1", "0.5", "1"}},
		{"le", []*labels.Matcher{m(labels.MatchEqual, "route", "/x")}, 0, []string{"+Inf", "0.1", "1"}},
		{"quantile", nil, 0, []string{"0.5", "0.99"}},
		{"code", []*labels.Matcher{m(labels.MatchEqual, "__name__", "http_requests_total")}, 0, []string{"200", "500"}},
		{"nope", nil, 0, []string{}},
	} {
		got, _, err := q.LabelValues(ctx, c.name, &storage.LabelHints{Limit: c.limit}, c.matchers...)
		if err != nil {
			t.Fatalf("LabelValues(%s, %v): %v", c.name, c.matchers, err)
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("LabelValues(%s, %v) = %v, want %v", c.name, c.matchers, got, c.want)
		}
	}

	// The series API selects labels only.
	set := q.Select(ctx, true, &storage.SelectHints{Start: testBase.UnixMilli(), End: testBase.Add(10 * time.Minute).UnixMilli(), Func: "series"},
		m(labels.MatchEqual, "__name__", "http_server_duration_seconds_bucket"), m(labels.MatchNotEqual, "le", "+Inf"))
	var got []string
	for set.Next() {
		got = append(got, set.At().Labels().String())
		if it := set.At().Iterator(nil); it.Next() != 0 {
			t.Errorf("series-only select returned samples for %s", set.At().Labels())
		}
	}
	if err := set.Err(); err != nil {
		t.Fatal(err)
	}
	wantSeries := []string{
		`{__name__="http_server_duration_seconds_bucket", job="api", le="0.1", route="/", service_name="api"}`,
		`{__name__="http_server_duration_seconds_bucket", job="api", le="0.1", route="/x", service_name="api"}`,
		`{__name__="http_server_duration_seconds_bucket", job="api", le="0.5", route="/", service_name="api"}`,
		`{__name__="http_server_duration_seconds_bucket", job="api", le="1", route="/x", service_name="api"}`,
	}
	if !slices.Equal(got, wantSeries) {
		t.Errorf("series = \n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(wantSeries, "\n"))
	}
}

func TestMetadata(t *testing.T) {
	e := newTestEngine(t, loadLines(t, labelTestSeries...))
	md, err := e.Metadata(context.Background(), testBase, testBase.Add(time.Hour), "", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Metadata{
		"cpu_temp_celsius":             {"gauge", "CPU temperature", "celsius"},
		"http_requests_total":          {"counter", "Requests", ""},
		"http_server_duration_seconds": {"histogram", "", "seconds"},
		"rpc_latency_seconds":          {"summary", "", "seconds"},
	}
	if len(md) != len(want) {
		t.Errorf("Metadata = %v, want %v", md, want)
	}
	for name, w := range want {
		if got := md[name]; len(got) != 1 || got[0] != w {
			t.Errorf("Metadata[%s] = %v, want [%v]", name, got, w)
		}
	}
	md, err = e.Metadata(context.Background(), testBase, testBase.Add(time.Hour), "", 2, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(md) != 2 || md["cpu_temp_celsius"] == nil || md["http_requests_total"] == nil {
		t.Errorf("Metadata with limit 2 = %v", md)
	}
	md, err = e.Metadata(context.Background(), testBase, testBase.Add(time.Hour), "rpc_latency_seconds", 0, 0)
	if err != nil || len(md) != 1 {
		t.Errorf("Metadata of rpc_latency_seconds = %v, %v", md, err)
	}
}

func TestLimits(t *testing.T) {
	var lines []string
	for _, host := range []string{"a", "b", "c"} {
		lines = append(lines, `gauge load host=`+host+` : 1x10`)
	}
	points := loadLines(t, lines...)
	ctx := context.Background()
	for _, c := range []struct {
		opt  Options
		want string
	}{
		{Options{MaxSeries: 2}, "the selector matches more than 2 series"},
		{Options{MaxPoints: 20}, "the selector reads more than 20 points"},
		{Options{MaxSeries: 3, MaxPoints: 33}, ""},
	} {
		e := newTestEngine(t, points)
		c.opt.Query = e.storage.q
		e, err := New(c.opt)
		if err != nil {
			t.Fatal(err)
		}
		qr, err := e.RangeQuery(ctx, "sum(load)", testBase, testBase.Add(10*time.Minute), time.Minute, 0)
		if err != nil {
			t.Fatal(err)
		}
		res := qr.Exec(ctx)
		switch {
		case c.want == "" && res.Err != nil:
			t.Errorf("%+v: %v", c.opt, res.Err)
		case c.want != "" && (res.Err == nil || !strings.Contains(res.Err.Error(), c.want)):
			t.Errorf("%+v: error %v, want one containing %q", c.opt, res.Err, c.want)
		case c.opt.MaxSeries == 2 && !errors.Is(res.Err, ErrTooManySeries):
			t.Errorf("%v is not ErrTooManySeries", res.Err)
		case c.opt.MaxPoints == 20 && !errors.Is(res.Err, ErrTooManyPoints):
			t.Errorf("%v is not ErrTooManyPoints", res.Err)
		}
		qr.Close()
	}
}
