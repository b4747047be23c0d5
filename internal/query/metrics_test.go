package query

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fibinc/telltale/internal/store/duckdb"
	"github.com/fibinc/telltale/internal/telemetry"
)

// metricT0 is the start of the test range: midnight, so that the lookback
// points lie in the previous day's partition.
var metricT0 = time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)

// metricPt returns a point of series id at metricT0+at. start is relative to
// metricT0 too; metricNoStart leaves it unknown.
func metricPt(name, typ string, res telemetry.Resource, attrs string, id uint64, at, start time.Duration) telemetry.MetricPoint {
	if res.Attributes == "" {
		res.Attributes = "{}"
	}
	p := telemetry.MetricPoint{Resource: res, Name: name, Type: typ, SeriesID: id, Attributes: attrs, Time: metricT0.Add(at)}
	if start != metricNoStart {
		p.StartTime = metricT0.Add(start)
	}
	return p
}

const metricNoStart = time.Duration(math.MinInt64)

func metricGauge(svc, host string, attrs string, id uint64, at time.Duration, v float64) telemetry.MetricPoint {
	p := metricPt("cpu", telemetry.MetricGauge, telemetry.Resource{ServiceName: svc, Host: host, Environment: "prod"}, attrs, id, at, metricNoStart)
	p.Unit, p.Description, p.Value = "1", "CPU use", v
	return p
}

func metricCounter(name, temporality string, monotonic bool, inst string, id uint64, at, start time.Duration, v float64) telemetry.MetricPoint {
	p := metricPt(name, telemetry.MetricSum, telemetry.Resource{ServiceName: "api", InstanceID: inst}, "{}", id, at, start)
	p.Unit, p.Temporality, p.Monotonic, p.Value = "{request}", temporality, monotonic, v
	return p
}

func metricHistogram(name, temporality, svc string, id uint64, at, start time.Duration, bounds []float64, counts []uint64, sum float64) telemetry.MetricPoint {
	p := metricPt(name, telemetry.MetricHistogram, telemetry.Resource{ServiceName: svc}, "{}", id, at, start)
	p.Unit, p.Temporality, p.BucketBounds, p.BucketCounts, p.Sum = "ms", temporality, bounds, counts, sum
	for _, c := range counts {
		p.Count += c
	}
	return p
}

func metricExpHistogram(name, temporality, svc string, id uint64, at, start time.Duration,
	scale int32, zero uint64, posOff int32, pos []uint64, negOff int32, neg []uint64) telemetry.MetricPoint {
	p := metricPt(name, telemetry.MetricExponentialHistogram, telemetry.Resource{ServiceName: svc}, "{}", id, at, start)
	p.Unit, p.Temporality = "By", temporality
	p.ExpScale, p.ExpZeroCount, p.ExpPositiveOffset, p.ExpPositiveCounts, p.ExpNegativeOffset, p.ExpNegativeCounts = scale, zero, posOff, pos, negOff, neg
	p.Count = zero
	for _, c := range slices.Concat(pos, neg) {
		p.Count += c
	}
	return p
}

func metricSummary(svc string, id uint64, at, start time.Duration, count uint64, sum float64, qs, vs []float64) telemetry.MetricPoint {
	p := metricPt("rpc.latency", telemetry.MetricSummary, telemetry.Resource{ServiceName: svc}, "{}", id, at, start)
	p.Count, p.Sum, p.Quantiles, p.QuantileValues = count, sum, qs, vs
	return p
}

// metricFixture holds one metric of each kind, with the values the expected
// results in TestQueryMetric are computed from by hand.
func metricFixture() []telemetry.MetricPoint {
	const s = time.Second
	hour := -time.Hour
	delta, cumulative := telemetry.TemporalityDelta, telemetry.TemporalityCumulative
	bounds := []float64{10, 50, 100}
	ps := []telemetry.MetricPoint{
		// Gauge: two series.
		metricGauge("api", "h1", `{"core":"0"}`, 1, 0, 1),
		metricGauge("api", "h1", `{"core":"0"}`, 1, 20*s, 3),
		metricGauge("api", "h1", `{"core":"0"}`, 1, 40*s, 5),
		metricGauge("api", "h1", `{"core":"0"}`, 1, 50*s, math.NaN()), // no recorded value
		metricGauge("api", "h1", `{"core":"0"}`, 1, 60*s, 2),
		metricGauge("api", "h1", `{"core":"0"}`, 1, 80*s, 4),
		metricGauge("web", "h2", `{"core":1}`, 2, 10*s, 10),
		metricGauge("web", "h2", `{"core":1}`, 2, 30*s, 20),
		metricGauge("web", "h2", `{"core":1}`, 2, 70*s, 30),

		// Delta counter.
		metricCounter("req.delta", delta, true, "", 10, 15*s, metricNoStart, 6),
		metricCounter("req.delta", delta, true, "", 10, 30*s, metricNoStart, 12),
		metricCounter("req.delta", delta, true, "", 10, 45*s, metricNoStart, 18),
		metricCounter("req.delta", delta, true, "", 10, 60*s, metricNoStart, 60),
		metricCounter("req.delta", delta, true, "", 10, 105*s, metricNoStart, 30),

		// Cumulative counters. i1 restarts at 100s (new start time); i2 has
		// no start times and restarts at 60s (value drops); i3 starts
		// inside the range; i4 started long ago and has no point before
		// the range, so its first point is only a baseline.
		metricCounter("req.total", cumulative, true, "i1", 20, -30*s, hour, 70),
		metricCounter("req.total", cumulative, true, "i1", 20, 0, hour, 100),
		metricCounter("req.total", cumulative, true, "i1", 20, 30*s, hour, 130),
		metricCounter("req.total", cumulative, true, "i1", 20, 60*s, hour, 160),
		metricCounter("req.total", cumulative, true, "i1", 20, 90*s, hour, 190),
		metricCounter("req.total", cumulative, true, "i1", 20, 120*s, 100*s, 20),
		metricCounter("req.total", cumulative, true, "i1", 20, 150*s, 100*s, 60),
		metricCounter("req.total", cumulative, true, "i2", 21, -30*s, metricNoStart, 5),
		metricCounter("req.total", cumulative, true, "i2", 21, 0, metricNoStart, 10),
		metricCounter("req.total", cumulative, true, "i2", 21, 30*s, metricNoStart, 15),
		metricCounter("req.total", cumulative, true, "i2", 21, 60*s, metricNoStart, 3),
		metricCounter("req.total", cumulative, true, "i2", 21, 90*s, metricNoStart, 9),
		metricCounter("req.total", cumulative, true, "i3", 22, 70*s, 65*s, 7),
		metricCounter("req.total", cumulative, true, "i3", 22, 100*s, 65*s, 12),
		metricCounter("req.total", cumulative, true, "i4", 23, 10*s, hour, 1000),
		metricCounter("req.total", cumulative, true, "i4", 23, 70*s, hour, 1010),

		// One service exports delta, another cumulative.
		metricCounter("req.mixed", delta, true, "d", 90, 10*s, metricNoStart, 5),
		metricCounter("req.mixed", delta, true, "d", 90, 70*s, metricNoStart, 7),
		metricCounter("req.mixed", cumulative, true, "c", 91, -30*s, hour, 100),
		metricCounter("req.mixed", cumulative, true, "c", 91, 20*s, hour, 110),
		metricCounter("req.mixed", cumulative, true, "c", 91, 80*s, hour, 130),

		// Up-down counter: a level, not a count.
		metricCounter("queue.size", cumulative, false, "", 30, 0, metricNoStart, 5),
		metricCounter("queue.size", cumulative, false, "", 30, 30*s, metricNoStart, 3),
		metricCounter("queue.size", cumulative, false, "", 31, 10*s, metricNoStart, 10),
		metricCounter("queue.size", cumulative, false, "", 31, 50*s, metricNoStart, 14),

		// Delta histogram, two series in the first step.
		metricMinMax(metricHistogram("http.duration", delta, "api", 40, 10*s, metricNoStart, bounds, []uint64{10, 30, 15, 0}, 1500), 2, 90),
		metricMinMax(metricHistogram("http.duration", delta, "web", 41, 20*s, metricNoStart, bounds, []uint64{10, 20, 10, 5}, 2500), 1, 200),

		// Cumulative histogram reset at 70s.
		metricHistogram("rpc.duration", cumulative, "api", 50, -30*s, hour, []float64{1, 2}, []uint64{1, 1, 0}, 2),
		metricHistogram("rpc.duration", cumulative, "api", 50, 10*s, hour, []float64{1, 2}, []uint64{3, 2, 1}, 9),
		metricHistogram("rpc.duration", cumulative, "api", 50, 70*s, 65*s, []float64{1, 2}, []uint64{1, 0, 0}, 0.5),
		metricHistogram("rpc.duration", cumulative, "api", 50, 80*s, 65*s, []float64{1, 2}, []uint64{1, 2, 0}, 3.5),

		// Exponential histograms: scale 0 has buckets (1,2], (2,4], (4,8].
		metricExpHistogram("payload.size", delta, "api", 60, 10*s, metricNoStart, 0, 0, 0, []uint64{10, 30, 60}, 0, nil),
		metricExpHistogram("payload.size", delta, "web", 61, 20*s, metricNoStart, 1, 0, 4, []uint64{5, 5}, 0, nil), // (4, 5.66], (5.66, 8]
		metricExpHistogram("payload.size", delta, "api", 60, 70*s, metricNoStart, 0, 2, 0, []uint64{4}, 0, []uint64{4}),
		// Cumulative, downscaled by the SDK from scale 1 to 0 between the
		// first two points: the increases are 10 in (4,8], then 4 in (2,4]
		// and 10 in (4,8].
		metricExpHistogram("payload.cum", cumulative, "api", 62, -30*s, hour, 1, 0, 4, []uint64{5, 5}, 0, nil),
		metricExpHistogram("payload.cum", cumulative, "api", 62, 10*s, hour, 0, 0, 2, []uint64{20}, 0, nil),
		metricExpHistogram("payload.cum", cumulative, "api", 62, 70*s, hour, 0, 0, 1, []uint64{4, 30}, 0, nil),

		// Summaries; s2 starts inside the range and lacks the 0.99 quantile.
		metricSummary("api", 70, -30*s, hour, 10, 50, []float64{0.5, 0.99}, []float64{4, 8}),
		metricSummary("api", 70, 10*s, hour, 20, 150, []float64{0.5, 0.99}, []float64{5, 9}),
		metricSummary("api", 70, 40*s, hour, 30, 200, []float64{0.5, 0.99}, []float64{6, 10}),
		metricSummary("web", 71, 20*s, 15*s, 4, 40, []float64{0.5}, []float64{8}),

		// One name, two types.
		metricPt("mixed", telemetry.MetricGauge, telemetry.Resource{ServiceName: "a"}, "{}", 80, 0, metricNoStart),
		metricPt("mixed", telemetry.MetricSum, telemetry.Resource{ServiceName: "b"}, `{"host":"x"}`, 81, s, metricNoStart),
	}
	// A point flagged "no recorded value" would otherwise change the average.
	flagged := metricGauge("api", "h1", `{"core":"0"}`, 1, 55*s, 1000)
	flagged.Flags = 1
	return append(ps, flagged)
}

func metricMinMax(p telemetry.MetricPoint, vmin, vmax float64) telemetry.MetricPoint {
	p.HasMin, p.Min, p.HasMax, p.Max = true, vmin, true, vmax
	return p
}

// metricService returns a query service over a fresh store holding points.
func metricService(t testing.TB, opt Options, points []telemetry.MetricPoint) *Service {
	t.Helper()
	st, err := duckdb.Open(context.Background(), duckdb.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatalf("cannot open store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Write(context.Background(), &telemetry.Batch{Metrics: points}); err != nil {
		t.Fatalf("cannot write points: %v", err)
	}
	opt.Store = st
	s, err := New(opt)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// metricFormat renders a result as "{labels} offset:value ..." per series,
// series separated by " | ", offsets from metricT0 and values to 10
// significant digits.
func metricFormat(r *MetricResult) string {
	var out []string
	for _, s := range r.Series {
		var labels []string
		for k, v := range s.Labels {
			labels = append(labels, k+"="+v)
		}
		slices.Sort(labels)
		b := "{" + strings.Join(labels, ",") + "}"
		for _, p := range s.Points {
			b += fmt.Sprintf(" %v:%s", p.Time.Sub(metricT0), strconv.FormatFloat(p.Value, 'g', 10, 64))
		}
		out = append(out, b)
	}
	return strings.Join(out, " | ")
}

func TestQueryMetric(t *testing.T) {
	s := metricService(t, Options{}, metricFixture())
	r3m := TimeRange{metricT0, metricT0.Add(3 * time.Minute)}
	tests := []struct {
		name, metric, agg, filter string
		groupBy                   []string
		step                      time.Duration // default 1m
		from                      time.Duration // offset of the range start
		want                      string
	}{
		// Gauges: every point counts for avg, min, max and count; sum adds
		// each series' last value in the step.
		{name: "gauge avg", metric: "cpu", agg: "avg", want: "{} 0s:7.8 1m0s:12"},
		{name: "gauge min", metric: "cpu", agg: "min", want: "{} 0s:1 1m0s:2"},
		{name: "gauge max", metric: "cpu", agg: "max", want: "{} 0s:20 1m0s:30"},
		{name: "gauge count", metric: "cpu", agg: "count", want: "{} 0s:5 1m0s:3"},
		{name: "gauge sum of last values", metric: "cpu", agg: "sum", want: "{} 0s:25 1m0s:34"},
		{name: "agg is case-insensitive", metric: "cpu", agg: "AVG", want: "{} 0s:7.8 1m0s:12"},
		{name: "30s steps", metric: "cpu", agg: "avg", step: 30 * time.Second, want: "{} 0s:4.666666667 30s:12.5 1m0s:12"},
		{name: "steps aligned to multiples of step, not to from", metric: "cpu", agg: "avg", from: 30 * time.Second,
			want: "{} 0s:12.5 1m0s:12"},
		{name: "group by service", metric: "cpu", agg: "avg", groupBy: []string{"service"},
			want: "{service=api} 0s:3 1m0s:3 | {service=web} 0s:15 1m0s:30"},
		{name: "group by attribute", metric: "cpu", agg: "max", groupBy: []string{"core"},
			want: "{core=0} 0s:5 1m0s:4 | {core=1} 0s:20 1m0s:30"},
		{name: "group by resource and attribute", metric: "cpu", agg: "count", groupBy: []string{"host", "attr.core", "zone"},
			want: "{attr.core=0,host=h1,zone=} 0s:3 1m0s:2 | {attr.core=1,host=h2,zone=} 0s:2 1m0s:1"},

		// Label filters.
		{name: "filter resource", metric: "cpu", agg: "avg", filter: "service=web", want: "{} 0s:15 1m0s:30"},
		{name: "filter not equal", metric: "cpu", agg: "avg", filter: "host!=h2", want: "{} 0s:3 1m0s:3"},
		{name: "filter prefix", metric: "cpu", agg: "avg", filter: "service=w*", want: "{} 0s:15 1m0s:30"},
		{name: "filter not prefix", metric: "cpu", agg: "avg", filter: "service!=w*", want: "{} 0s:3 1m0s:3"},
		{name: "filter numeric attribute", metric: "cpu", agg: "avg", filter: "core=1", want: "{} 0s:15 1m0s:30"},
		{name: "filter explicit attribute", metric: "cpu", agg: "avg", filter: "attr.core!=1", want: "{} 0s:3 1m0s:3"},
		{name: "filter quoted", metric: "cpu", agg: "avg", filter: `service="web"`, want: "{} 0s:15 1m0s:30"},
		{name: "filter quoted prefix", metric: "cpu", agg: "avg", filter: `service="a"*`, want: "{} 0s:3 1m0s:3"},
		{name: "filter terms all match", metric: "cpu", agg: "avg", filter: "env=prod, service=api core=0", want: "{} 0s:3 1m0s:3"},
		{name: "filter matching nothing", metric: "cpu", agg: "avg", filter: "service=api,core=1", want: ""},
		{name: "filter missing label is empty", metric: "cpu", agg: "avg", filter: `zone="" region=""`, want: "{} 0s:7.8 1m0s:12"},
		{name: "filter prefix is not a pattern", metric: "cpu", agg: "avg", filter: "service=_*", want: ""},
		{name: "unknown metric", metric: "nope", agg: "avg", want: ""},

		// Delta counters: the values of a step are its increase.
		{name: "delta rate", metric: "req.delta", agg: "rate", want: "{} 0s:0.6 1m0s:1.5"},
		{name: "delta sum", metric: "req.delta", agg: "sum", want: "{} 0s:36 1m0s:90"},
		{name: "counter avg of values", metric: "req.delta", agg: "avg", want: "{} 0s:12 1m0s:45"},
		{name: "counter max of values", metric: "req.delta", agg: "max", want: "{} 0s:18 1m0s:60"},

		// Cumulative counters: increases between points, across resets.
		{name: "cumulative increase per series", metric: "req.total", agg: "sum", groupBy: []string{"instance"},
			want: "{instance=i1} 0s:60 1m0s:60 2m0s:60 | {instance=i2} 0s:10 1m0s:9 | {instance=i3} 1m0s:12 | {instance=i4} 1m0s:10"},
		{name: "cumulative rate", metric: "req.total", agg: "rate", want: "{} 0s:1.166666667 1m0s:1.516666667 2m0s:1"},
		{name: "delta and cumulative series together", metric: "req.mixed", agg: "sum", want: "{} 0s:15 1m0s:27"},
		{name: "up-down counter sum is the level", metric: "queue.size", agg: "sum", want: "{} 0s:17"},
		{name: "up-down counter rate is the net change", metric: "queue.size", agg: "rate", want: "{} 0s:0.03333333333"},

		// Explicit-bucket histograms; merged delta buckets are
		// [20 50 25 5] over bounds 10, 50, 100, min 1, max 200.
		{name: "histogram p50", metric: "http.duration", agg: "p50", want: "{} 0s:34"},
		{name: "histogram p95", metric: "http.duration", agg: "p95", want: "{} 0s:100"},
		{name: "histogram p99 in overflow bucket ends at max", metric: "http.duration", agg: "p99", want: "{} 0s:180"},
		{name: "histogram p10 in first bucket starts at min", metric: "http.duration", agg: "p10", want: "{} 0s:5.5"},
		{name: "histogram p50 per series", metric: "http.duration", agg: "p50", groupBy: []string{"service"},
			want: "{service=api} 0s:33.33333333 | {service=web} 0s:35"},
		{name: "histogram p99 clamped to max", metric: "http.duration", agg: "p99", groupBy: []string{"service"},
			want: "{service=api} 0s:90 | {service=web} 0s:191"},
		{name: "histogram count", metric: "http.duration", agg: "count", want: "{} 0s:100"},
		{name: "histogram rate", metric: "http.duration", agg: "rate", want: "{} 0s:1.666666667"},
		{name: "histogram sum", metric: "http.duration", agg: "sum", want: "{} 0s:4000"},
		{name: "histogram avg", metric: "http.duration", agg: "avg", want: "{} 0s:40"},
		{name: "histogram min", metric: "http.duration", agg: "min", want: "{} 0s:1"},
		{name: "histogram max", metric: "http.duration", agg: "max", want: "{} 0s:200"},
		// Cumulative: step increases [2 1 1] and, after the reset, [1 2 0].
		{name: "cumulative histogram p50", metric: "rpc.duration", agg: "p50", want: "{} 0s:1 1m0s:1.25"},
		{name: "cumulative histogram p60", metric: "rpc.duration", agg: "p60", want: "{} 0s:1.4 1m0s:1.4"},
		{name: "overflow bucket without max is the top bound", metric: "rpc.duration", agg: "p99", want: "{} 0s:2 1m0s:1.985"},
		{name: "cumulative histogram count", metric: "rpc.duration", agg: "count", want: "{} 0s:4 1m0s:3"},
		{name: "cumulative histogram avg", metric: "rpc.duration", agg: "avg", want: "{} 0s:1.75 1m0s:1.166666667"},

		// Exponential histograms: 2^(2+1/6) in (4,8]; merged with the
		// scale 1 point, (4,8] holds 70 of 110 and p50 is 2^(2+3/14).
		{name: "exponential p50 merges scales", metric: "payload.size", agg: "p50", want: "{} 0s:4.640517545 1m0s:0"},
		{name: "exponential p50 per series", metric: "payload.size", agg: "p50", groupBy: []string{"service"},
			want: "{service=api} 0s:4.489848193 1m0s:0 | {service=web} 0s:5.656854249"},
		{name: "exponential negative buckets", metric: "payload.size", agg: "p10", from: time.Minute, want: "{} 1m0s:-1.681792831"},
		{name: "exponential p90", metric: "payload.size", agg: "p90", from: time.Minute, want: "{} 1m0s:1.681792831"},
		{name: "exponential count", metric: "payload.size", agg: "count", want: "{} 0s:110 1m0s:10"},
		{name: "cumulative exponential across scales", metric: "payload.cum", agg: "p50", want: "{} 0s:5.656854249 1m0s:4.924577653"},

		// Summaries: quantiles averaged across series' last values;
		// count and sum are cumulative.
		{name: "summary p50", metric: "rpc.latency", agg: "p50", want: "{} 0s:7"},
		{name: "summary p99", metric: "rpc.latency", agg: "p99", want: "{} 0s:10"},
		{name: "summary without the quantile", metric: "rpc.latency", agg: "p90", want: ""},
		{name: "summary count", metric: "rpc.latency", agg: "count", want: "{} 0s:24"},
		{name: "summary sum", metric: "rpc.latency", agg: "sum", want: "{} 0s:190"},
		{name: "summary avg", metric: "rpc.latency", agg: "avg", want: "{} 0s:7.916666667"},
		{name: "summary rate", metric: "rpc.latency", agg: "rate", want: "{} 0s:0.4"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			step := cmp.Or(tt.step, time.Minute)
			q := MetricQuery{Range: TimeRange{metricT0.Add(tt.from), r3m.To}, Name: tt.metric, Filter: tt.filter,
				Agg: tt.agg, GroupBy: tt.groupBy, Step: step}
			r, err := s.QueryMetric(context.Background(), q)
			if err != nil {
				t.Fatalf("QueryMetric: %v", err)
			}
			if got := metricFormat(r); got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
			if r.Name != tt.metric || r.Agg != strings.ToLower(tt.agg) || r.Step != step {
				t.Errorf("result is for %s %s %s, want %s %s %s", r.Name, r.Agg, r.Step, tt.metric, tt.agg, step)
			}
		})
	}
}

func TestQueryMetricInvalid(t *testing.T) {
	s := metricService(t, Options{}, metricFixture())
	ok := MetricQuery{Range: TimeRange{metricT0, metricT0.Add(time.Hour)}, Name: "cpu", Agg: "avg", Step: time.Minute}
	tests := []struct {
		name   string
		change func(q *MetricQuery)
		want   string
	}{
		{"no name", func(q *MetricQuery) { q.Name = "" }, "metric name is required"},
		{"no agg", func(q *MetricQuery) { q.Agg = "" }, "agg is required: one of avg, sum"},
		{"unknown agg", func(q *MetricQuery) { q.Agg = "median" }, `unknown agg "median": use one of`},
		{"percentile 100", func(q *MetricQuery) { q.Agg = "p100" }, `unknown agg "p100"`},
		{"percentile not a number", func(q *MetricQuery) { q.Agg = "pInf" }, `unknown agg "pInf"`},
		{"zero step", func(q *MetricQuery) { q.Step = 0 }, "step must be positive, got 0s"},
		{"fractional step", func(q *MetricQuery) { q.Step = 1500 * time.Microsecond }, "step 1.5ms is not a whole number of milliseconds"},
		{"too many steps", func(q *MetricQuery) { q.Step = time.Second; q.Range.To = metricT0.Add(4 * time.Hour) },
			"range 4h0m0s at step 1s gives 14400 points per series, more than 11000; use a larger step"},
		{"empty range", func(q *MetricQuery) { q.Range.To = q.Range.From }, "time range [2026-01-05T00:00:00Z, 2026-01-05T00:00:00Z) is empty"},
		{"no range", func(q *MetricQuery) { q.Range = TimeRange{} }, "is empty; from must be before to"},
		{"bad group_by label", func(q *MetricQuery) { q.GroupBy = []string{"a b"} }, `group_by: label name "a b" holds ' '`},
		{"empty group_by label", func(q *MetricQuery) { q.GroupBy = []string{""} }, "group_by: empty label name"},
		{"group_by twice", func(q *MetricQuery) { q.GroupBy = []string{"service", "service"} }, `group_by lists "service" twice`},
		{"group_by too long", func(q *MetricQuery) { q.GroupBy = strings.Split("a b c d e f g h i j k", " ") },
			"group_by has 11 labels, at most 10"},
		{"filter without operator", func(q *MetricQuery) { q.Filter = "service" }, `filter: at 7: expected = or != after label "service"`},
		{"filter regex", func(q *MetricQuery) { q.Filter = "env=prod service=~api" }, "filter: at 16: regular expressions (=~) are not supported"},
		{"filter without label", func(q *MetricQuery) { q.Filter = "=api" }, "filter: at 0: expected a label name, found '='"},
		{"filter unterminated quote", func(q *MetricQuery) { q.Filter = `env="prod` }, "filter: at 4: unterminated or invalid quoted value"},
		{"filter junk after quote", func(q *MetricQuery) { q.Filter = `env="prod"x` }, "filter: at 10: expected a space or comma after the quoted value"},
		{"filter too long", func(q *MetricQuery) { q.Filter = strings.Repeat("a=b ", 1025) }, "filter: longer than 4096 bytes"},
		{"filter too many terms", func(q *MetricQuery) { q.Filter = strings.Repeat("a=b ", 33) }, "filter: more than 32 terms"},
		{"rate of gauge", func(q *MetricQuery) { q.Agg = "rate" }, `rate needs a sum (counter), histogram or summary metric; "cpu" is a gauge`},
		{"percentile of counter", func(q *MetricQuery) { q.Name, q.Agg = "req.total", "p95" },
			`p95 needs a histogram, exponential histogram or summary metric; "req.total" is a sum`},
		{"max of summary", func(q *MetricQuery) { q.Name, q.Agg = "rpc.latency", "max" },
			`max needs a gauge, sum or histogram metric; "rpc.latency" is a summary`},
		{"mixed types", func(q *MetricQuery) { q.Name = "mixed" },
			`metric "mixed" has points of several types: gauge (1 series), sum (1 series); filter to one of them`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := ok
			tt.change(&q)
			_, err := s.QueryMetric(context.Background(), q)
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got error %v, want ErrInvalid with %q", err, tt.want)
			}
		})
	}
}

func TestQueryMetricLimits(t *testing.T) {
	s := metricService(t, Options{MaxRows: 1}, metricFixture())
	hour := TimeRange{metricT0, metricT0.Add(time.Hour)}
	for _, tt := range []struct {
		name    string
		q       MetricQuery
		maxRead int
		want    string // "" for success
	}{
		// req.total has 14 points in the range and 2 in the lookback.
		{"points at the cap", MetricQuery{Range: hour, Name: "req.total", Agg: "rate", Step: time.Minute}, 14, ""},
		{"points over the cap", MetricQuery{Range: hour, Name: "req.total", Agg: "rate", Step: time.Minute}, 13,
			`metric "req.total" has 14 points in the range, more than 13; narrow the range or filter`},
		// cpu has 9 points in 2 series; SQL aggregates them per step.
		{"steps over the cap", MetricQuery{Range: hour, Name: "cpu", Agg: "avg", Step: time.Minute}, 8,
			`metric "cpu" needs 9 values read (2 series over 61 steps), more than 8; narrow the range or filter, or use a larger step`},
		{"steps under the cap", MetricQuery{Range: hour, Name: "cpu", Agg: "avg", Step: time.Hour}, 8, ""},
		{"series", MetricQuery{Range: hour, Name: "cpu", Agg: "avg", Step: time.Minute, GroupBy: []string{"service"}}, 100,
			"query gives 2 series, more than 1; filter or group by fewer labels"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.queryMetric(context.Background(), tt.q, tt.maxRead)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("got error %v, want none", err)
			case tt.want != "" && (!errors.Is(err, ErrInvalid) || err.Error() != "invalid query: "+tt.want):
				t.Errorf("got error %v, want ErrInvalid: %s", err, tt.want)
			}
		})
	}
}

func TestMetricNames(t *testing.T) {
	s := metricService(t, Options{}, metricFixture())
	r := TimeRange{metricT0, metricT0.Add(time.Hour)}
	for _, tt := range []struct {
		limit int
		want  []string
	}{
		{0, []string{
			"cpu gauge 1 CPU use  false [service env host core]",
			"http.duration histogram ms  delta false [service]",
			"mixed sum    false [service attr.host]",
			"payload.cum exponential_histogram By  cumulative false [service]",
			"payload.size exponential_histogram By  delta false [service]",
			"queue.size sum {request}  cumulative false [service]",
			"req.delta sum {request}  delta true [service]",
			"req.mixed sum {request}  cumulative true [service instance]",
			"req.total sum {request}  cumulative true [service instance]",
			"rpc.duration histogram ms  cumulative false [service]",
			"rpc.latency summary    false [service]",
		}},
		{2, []string{
			"cpu gauge 1 CPU use  false [service env host core]",
			"http.duration histogram ms  delta false [service]",
		}},
	} {
		t.Run(fmt.Sprint("limit ", tt.limit), func(t *testing.T) {
			ms, err := s.MetricNames(context.Background(), r, tt.limit)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, m := range ms {
				got = append(got, fmt.Sprintf("%s %s %s %s %s %v %v", m.Name, m.Type, m.Unit, m.Description, m.Temporality, m.Monotonic, m.LabelKeys))
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
	if _, err := s.MetricNames(context.Background(), TimeRange{}, 0); !errors.Is(err, ErrInvalid) {
		t.Errorf("empty range: got %v, want ErrInvalid", err)
	}
}

func TestMetricResultJSON(t *testing.T) {
	r := MetricResult{Name: "cpu", Agg: "avg", Type: "gauge", Step: time.Minute, Series: []Series{
		{Labels: map[string]string{"service": "api"}, Points: []Point{{metricT0, 1.5}}},
	}}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"name":"cpu","agg":"avg","type":"gauge","unit":"","series":[{"labels":{"service":"api"},"points":[{"time":"2026-01-05T00:00:00Z","value":1.5}]}],"step_ms":60000}`
	if string(b) != want {
		t.Errorf("got  %s\nwant %s", b, want)
	}
}

// BenchmarkQueryMetric queries a store of 1.6M points: a counter of 1,000
// series, a gauge of 500 and a cumulative histogram of 100 with 10 buckets,
// 1,000 points each, 10 s apart, in 10 services.
func BenchmarkQueryMetric(b *testing.B) {
	const series, points = 1000, 1000
	bounds := []float64{5, 10, 25, 50, 100, 250, 500, 1000, 2500}
	s := metricService(b, Options{}, nil)
	for first := 0; first < series; first += 100 {
		var ps []telemetry.MetricPoint
		for i := first; i < first+100; i++ {
			res := telemetry.Resource{ServiceName: fmt.Sprint("svc", i%10), InstanceID: fmt.Sprint("i", i), Attributes: "{}"}
			attrs := fmt.Sprintf(`{"route":"/r%d"}`, i%7)
			for j := range points {
				at := metricT0.Add(time.Duration(j) * 10 * time.Second)
				ps = append(ps, telemetry.MetricPoint{Resource: res, Name: "requests", Type: telemetry.MetricSum,
					Temporality: telemetry.TemporalityCumulative, Monotonic: true, SeriesID: uint64(i), Attributes: attrs,
					Time: at, StartTime: metricT0, Value: float64(j * (i%5 + 1))})
				if i%2 == 0 {
					ps = append(ps, telemetry.MetricPoint{Resource: res, Name: "cpu", Type: telemetry.MetricGauge,
						SeriesID: uint64(series + i), Attributes: attrs, Time: at, Value: float64(j % 100)})
				}
				if i%10 == 0 {
					counts := make([]uint64, len(bounds)+1)
					for k := range counts {
						counts[k] = uint64(j * (k + 1))
					}
					ps = append(ps, telemetry.MetricPoint{Resource: res, Name: "latency", Type: telemetry.MetricHistogram,
						Temporality: telemetry.TemporalityCumulative, SeriesID: uint64(2*series + i), Attributes: attrs,
						Time: at, StartTime: metricT0, Count: uint64(j * 55), BucketBounds: bounds, BucketCounts: counts})
				}
			}
		}
		if err := s.store.(*duckdb.Store).Write(context.Background(), &telemetry.Batch{Metrics: ps}); err != nil {
			b.Fatal(err)
		}
	}
	r := TimeRange{metricT0, metricT0.Add(points * 10 * time.Second)}
	b.Run("MetricNames", func(b *testing.B) {
		for b.Loop() {
			if ms, err := s.MetricNames(context.Background(), r, 0); err != nil || len(ms) != 3 {
				b.Fatalf("MetricNames = %v, %v; want 3 metrics", ms, err)
			}
		}
	})
	for _, q := range []MetricQuery{
		{Range: r, Name: "requests", Agg: "rate", GroupBy: []string{"service"}, Step: time.Minute},
		{Range: r, Name: "requests", Agg: "rate", Filter: "route=/r1", Step: time.Minute},
		{Range: r, Name: "cpu", Agg: "avg", GroupBy: []string{"route"}, Step: 5 * time.Minute},
		{Range: r, Name: "latency", Agg: "p95", GroupBy: []string{"service"}, Step: time.Minute},
	} {
		b.Run(fmt.Sprintf("%s/%s/%s/%v", q.Name, q.Agg, q.Filter, q.GroupBy), func(b *testing.B) {
			for b.Loop() {
				res, err := s.QueryMetric(context.Background(), q)
				if err != nil {
					b.Fatal(err)
				}
				if len(res.Series) == 0 {
					b.Fatal("no series")
				}
			}
		})
	}
}

func TestMetricSeriesSince(t *testing.T) {
	s := metricService(t, Options{}, []telemetry.MetricPoint{
		metricGauge("api", "h1", "{}", 1, 0, 1),
		metricGauge("api", "h1", "{}", 1, 2*time.Minute, 1),
		metricGauge("api", "h2", "{}", 2, time.Minute, 1),
		metricGauge("api", "h3", "{}", 3, -time.Hour, 1), // before since
		metricCounter("requests", telemetry.TemporalityDelta, true, "i1", 4, 30*time.Second, 0, 1),
	})
	got := map[string]time.Duration{}
	err := s.MetricSeriesSince(context.Background(), metricT0.Add(-time.Minute), func(name string, id uint64, last time.Time) {
		got[fmt.Sprintf("%s/%d", name, id)] = last.Sub(metricT0)
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]time.Duration{"cpu/1": 2 * time.Minute, "cpu/2": time.Minute, "requests/4": 30 * time.Second}
	if !maps.Equal(got, want) {
		t.Errorf("series = %v, want %v", got, want)
	}
}
