package otlp

import (
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	colmetricspb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"

	"github.com/fibinc/telltale/internal/telemetry"
)

func metricsRequest(metrics ...*metricspb.Metric) *colmetricspb.ExportMetricsServiceRequest {
	return &colmetricspb.ExportMetricsServiceRequest{ResourceMetrics: []*metricspb.ResourceMetrics{{
		Resource:     testResource(),
		ScopeMetrics: []*metricspb.ScopeMetrics{{Scope: testScope, Metrics: metrics}},
	}}}
}

var pointAttrs = []*commonpb.KeyValue{str("route", "/cart")}

func numberPoint(v float64) *metricspb.NumberDataPoint {
	return &metricspb.NumberDataPoint{
		Attributes: pointAttrs, StartTimeUnixNano: ns(t0.Add(-time.Minute)), TimeUnixNano: ns(t0),
		Value: &metricspb.NumberDataPoint_AsDouble{AsDouble: v}, Flags: 1,
	}
}

func f64(f float64) *float64 { return &f }

func TestMetricsConvertsEveryType(t *testing.T) {
	base := telemetry.MetricPoint{
		Resource:    testResourceWant,
		Scope:       telemetry.Scope{Name: "io.opentelemetry.http", Version: "0.9"},
		Name:        "m",
		Description: "desc",
		Unit:        "ms",
		Attributes:  `{"route":"/cart"}`,
		Time:        t0,
		StartTime:   t0.Add(-time.Minute),
	}
	with := func(f func(*telemetry.MetricPoint)) telemetry.MetricPoint {
		p := base
		f(&p)
		return p
	}
	tests := []struct {
		name   string
		metric *metricspb.Metric // named by the test
		want   telemetry.MetricPoint
	}{
		{"gauge double", &metricspb.Metric{Data: &metricspb.Metric_Gauge{Gauge: &metricspb.Gauge{DataPoints: []*metricspb.NumberDataPoint{numberPoint(2.5)}}}},
			with(func(p *telemetry.MetricPoint) { p.Type, p.Value, p.Flags = "gauge", 2.5, 1 })},
		{"gauge int without start time", &metricspb.Metric{Data: &metricspb.Metric_Gauge{Gauge: &metricspb.Gauge{DataPoints: []*metricspb.NumberDataPoint{{
			Attributes: pointAttrs, TimeUnixNano: ns(t0), Value: &metricspb.NumberDataPoint_AsInt{AsInt: -7},
		}}}}}, with(func(p *telemetry.MetricPoint) { p.Type, p.Value, p.StartTime = "gauge", -7, time.Time{} })},
		{"monotonic cumulative sum", &metricspb.Metric{Data: &metricspb.Metric_Sum{Sum: &metricspb.Sum{
			AggregationTemporality: metricspb.AggregationTemporality_AGGREGATION_TEMPORALITY_CUMULATIVE, IsMonotonic: true,
			DataPoints: []*metricspb.NumberDataPoint{numberPoint(10)},
		}}}, with(func(p *telemetry.MetricPoint) {
			p.Type, p.Temporality, p.Monotonic, p.Value, p.Flags = "sum", "cumulative", true, 10, 1
		})},
		{"histogram", &metricspb.Metric{Data: &metricspb.Metric_Histogram{Histogram: &metricspb.Histogram{
			AggregationTemporality: metricspb.AggregationTemporality_AGGREGATION_TEMPORALITY_DELTA,
			DataPoints: []*metricspb.HistogramDataPoint{{
				Attributes: pointAttrs, StartTimeUnixNano: ns(t0.Add(-time.Minute)), TimeUnixNano: ns(t0),
				Count: 6, Sum: f64(21), Min: f64(0.5), Max: f64(9),
				ExplicitBounds: []float64{1, 5}, BucketCounts: []uint64{1, 2, 3},
			}},
		}}}, with(func(p *telemetry.MetricPoint) {
			p.Type, p.Temporality, p.Count, p.Sum = "histogram", "delta", 6, 21
			p.HasMin, p.Min, p.HasMax, p.Max = true, 0.5, true, 9
			p.BucketBounds, p.BucketCounts = []float64{1, 5}, []uint64{1, 2, 3}
		})},
		{"histogram without buckets, min or max", &metricspb.Metric{Data: &metricspb.Metric_Histogram{Histogram: &metricspb.Histogram{
			AggregationTemporality: metricspb.AggregationTemporality_AGGREGATION_TEMPORALITY_DELTA,
			DataPoints: []*metricspb.HistogramDataPoint{{
				Attributes: pointAttrs, StartTimeUnixNano: ns(t0.Add(-time.Minute)), TimeUnixNano: ns(t0), Count: 3, Sum: f64(4),
			}},
		}}}, with(func(p *telemetry.MetricPoint) {
			p.Type, p.Temporality, p.Count, p.Sum = "histogram", "delta", 3, 4
		})},
		{"exponential histogram", &metricspb.Metric{Data: &metricspb.Metric_ExponentialHistogram{ExponentialHistogram: &metricspb.ExponentialHistogram{
			AggregationTemporality: metricspb.AggregationTemporality_AGGREGATION_TEMPORALITY_CUMULATIVE,
			DataPoints: []*metricspb.ExponentialHistogramDataPoint{{
				Attributes: pointAttrs, StartTimeUnixNano: ns(t0.Add(-time.Minute)), TimeUnixNano: ns(t0),
				Count: 9, Sum: f64(-3), Min: f64(-4), Max: f64(8), Scale: 3, ZeroCount: 1,
				Positive: &metricspb.ExponentialHistogramDataPoint_Buckets{Offset: -2, BucketCounts: []uint64{1, 2}},
				Negative: &metricspb.ExponentialHistogramDataPoint_Buckets{Offset: 4, BucketCounts: []uint64{5}},
			}},
		}}}, with(func(p *telemetry.MetricPoint) {
			p.Type, p.Temporality, p.Count, p.Sum = "exponential_histogram", "cumulative", 9, -3
			p.HasMin, p.Min, p.HasMax, p.Max = true, -4, true, 8
			p.ExpScale, p.ExpZeroCount = 3, 1
			p.ExpPositiveOffset, p.ExpPositiveCounts = -2, []uint64{1, 2}
			p.ExpNegativeOffset, p.ExpNegativeCounts = 4, []uint64{5}
		})},
		{"summary", &metricspb.Metric{Data: &metricspb.Metric_Summary{Summary: &metricspb.Summary{DataPoints: []*metricspb.SummaryDataPoint{{
			Attributes: pointAttrs, StartTimeUnixNano: ns(t0.Add(-time.Minute)), TimeUnixNano: ns(t0), Count: 4, Sum: 10,
			QuantileValues: []*metricspb.SummaryDataPoint_ValueAtQuantile{{Quantile: 0.5, Value: 2}, {Quantile: 0.99, Value: 4}},
		}}}}}, with(func(p *telemetry.MetricPoint) {
			p.Type, p.Count, p.Sum = "summary", 4, 10
			p.Quantiles, p.QuantileValues = []float64{0.5, 0.99}, []float64{2, 4}
		})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := tt.metric
			m.Name, m.Description, m.Unit = "m", "desc", "ms"
			res := Metrics(metricsRequest(m), Options{})
			if res.Rejected != 0 || len(res.Batch.Metrics) != 1 {
				t.Fatalf("got %d points, %d rejected: %s", len(res.Batch.Metrics), res.Rejected, res.Reason)
			}
			got := res.Batch.Metrics[0]
			if got.SeriesID == 0 {
				t.Error("SeriesID is 0")
			}
			tt.want.SeriesID = got.SeriesID // checked by TestMetricsSeriesID
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("point:\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestMetricsNumberWithoutValueIsNaN(t *testing.T) {
	p := numberPoint(0)
	p.Value = nil
	res := Metrics(metricsRequest(&metricspb.Metric{Name: "g", Data: &metricspb.Metric_Gauge{
		Gauge: &metricspb.Gauge{DataPoints: []*metricspb.NumberDataPoint{p}},
	}}), Options{})
	if len(res.Batch.Metrics) != 1 || !math.IsNaN(res.Batch.Metrics[0].Value) {
		t.Errorf("got %+v, want one NaN point", res.Batch.Metrics)
	}
}

func TestMetricsRejects(t *testing.T) {
	gauge := func(points ...*metricspb.NumberDataPoint) *metricspb.Metric {
		return &metricspb.Metric{Name: "g", Data: &metricspb.Metric_Gauge{Gauge: &metricspb.Gauge{DataPoints: points}}}
	}
	noTime := numberPoint(1)
	noTime.TimeUnixNano = 0
	old := numberPoint(1)
	old.TimeUnixNano = ns(t0.Add(-48 * time.Hour))
	tests := []struct {
		name     string
		metric   *metricspb.Metric
		accepted int
		rejected int
		key      string
		reason   string
	}{
		{"no data", &metricspb.Metric{Name: "x"}, 0, 1, "invalid_metric",
			`metric 1 "x" of scope 0 of resource 0: has no data`},
		{"no data points", gauge(), 0, 1, "invalid_metric", `metric 1 "g" of scope 0 of resource 0: has no data points`},
		{"nil gauge", &metricspb.Metric{Name: "g", Data: &metricspb.Metric_Gauge{}}, 0, 1, "invalid_metric", "has no data points"},
		{"no name", &metricspb.Metric{Data: &metricspb.Metric_Gauge{Gauge: &metricspb.Gauge{
			DataPoints: []*metricspb.NumberDataPoint{numberPoint(1), numberPoint(2)}}}}, 0, 2, "invalid_metric", `metric 1 "" of scope 0 of resource 0: name is missing`},
		{"sum without temporality", &metricspb.Metric{Name: "s", Data: &metricspb.Metric_Sum{Sum: &metricspb.Sum{
			DataPoints: []*metricspb.NumberDataPoint{numberPoint(1), numberPoint(2)}}}}, 0, 2, "invalid_metric", "aggregation_temporality must be delta or cumulative, got AGGREGATION_TEMPORALITY_UNSPECIFIED"},
		{"histogram with unknown temporality", &metricspb.Metric{Name: "h", Data: &metricspb.Metric_Histogram{Histogram: &metricspb.Histogram{
			AggregationTemporality: 9, DataPoints: []*metricspb.HistogramDataPoint{{TimeUnixNano: 1}}}}}, 0, 1, "invalid_metric", "got 9"},
		{"exponential histogram without temporality", &metricspb.Metric{Name: "e", Data: &metricspb.Metric_ExponentialHistogram{
			ExponentialHistogram: &metricspb.ExponentialHistogram{DataPoints: []*metricspb.ExponentialHistogramDataPoint{{TimeUnixNano: 1}}}}},
			0, 1, "invalid_metric", "aggregation_temporality must be delta or cumulative"},
		{"histogram bucket count mismatch", &metricspb.Metric{Name: "h", Data: &metricspb.Metric_Histogram{Histogram: &metricspb.Histogram{
			AggregationTemporality: metricspb.AggregationTemporality_AGGREGATION_TEMPORALITY_DELTA,
			DataPoints: []*metricspb.HistogramDataPoint{
				{TimeUnixNano: ns(t0), ExplicitBounds: []float64{1}, BucketCounts: []uint64{1, 1}},
				{TimeUnixNano: ns(t0), ExplicitBounds: []float64{1}, BucketCounts: []uint64{1, 1, 1}},
			}}}}, 1, 1, "invalid_metric",
			`data point 1 of metric 1 "h" of scope 0 of resource 0: histogram has 3 bucket counts for 1 explicit bounds, want 2`},
		{"missing time", gauge(numberPoint(1), noTime), 1, 1, "missing_timestamp",
			`data point 1 of metric 1 "g" of scope 0 of resource 0: time_unix_nano is missing`},
		{"too old", gauge(old), 0, 1, "too_old", "before the accepted window"},
		{"nil data point", gauge(nil), 0, 1, "missing_timestamp", "time_unix_nano is missing"},
		{"summary without time", &metricspb.Metric{Name: "q", Data: &metricspb.Metric_Summary{Summary: &metricspb.Summary{
			DataPoints: []*metricspb.SummaryDataPoint{{}}}}}, 0, 1, "missing_timestamp", "time_unix_nano is missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := Metrics(metricsRequest(gauge(numberPoint(1)), tt.metric), Options{MinTime: t0.Add(-time.Hour)})
			if len(res.Batch.Metrics) != 1+tt.accepted || res.Rejected != tt.rejected {
				t.Fatalf("got %d points, %d rejected, want %d and %d", len(res.Batch.Metrics), res.Rejected, 1+tt.accepted, tt.rejected)
			}
			if !reflect.DeepEqual(res.RejectedByReason, map[string]int{tt.key: tt.rejected}) {
				t.Errorf("RejectedByReason = %v, want %s: %d", res.RejectedByReason, tt.key, tt.rejected)
			}
			if !strings.Contains(res.Reason, tt.reason) {
				t.Errorf("Reason = %q, want it to contain %q", res.Reason, tt.reason)
			}
		})
	}
}

func TestMetricsSeriesID(t *testing.T) {
	series := func(name string, res, point []*commonpb.KeyValue) uint64 {
		t.Helper()
		p := numberPoint(1)
		p.Attributes = point
		req := &colmetricspb.ExportMetricsServiceRequest{ResourceMetrics: []*metricspb.ResourceMetrics{{
			Resource: &resourcepb.Resource{Attributes: res},
			ScopeMetrics: []*metricspb.ScopeMetrics{{Metrics: []*metricspb.Metric{{Name: name, Data: &metricspb.Metric_Gauge{
				Gauge: &metricspb.Gauge{DataPoints: []*metricspb.NumberDataPoint{p}},
			}}}}},
		}}}
		out := Metrics(req, Options{})
		if len(out.Batch.Metrics) != 1 {
			t.Fatalf("got %d points: %s", len(out.Batch.Metrics), out.Reason)
		}
		return out.Batch.Metrics[0].SeriesID
	}
	svc, host := str("service.name", "api"), str("host.name", "h1")
	a, b := str("a", "1"), kv("b", intVal(2))
	ref := series("m", []*commonpb.KeyValue{svc, host}, []*commonpb.KeyValue{a, b})
	tests := []struct {
		name  string
		id    uint64
		equal bool
	}{
		{"same stream", series("m", []*commonpb.KeyValue{svc, host}, []*commonpb.KeyValue{a, b}), true},
		{"attributes reordered", series("m", []*commonpb.KeyValue{host, svc}, []*commonpb.KeyValue{b, a}), true},
		{"other name", series("n", []*commonpb.KeyValue{svc, host}, []*commonpb.KeyValue{a, b}), false},
		{"other service", series("m", []*commonpb.KeyValue{str("service.name", "web"), host}, []*commonpb.KeyValue{a, b}), false},
		{"other host", series("m", []*commonpb.KeyValue{svc, str("host.name", "h2")}, []*commonpb.KeyValue{a, b}), false},
		{"other point value", series("m", []*commonpb.KeyValue{svc, host}, []*commonpb.KeyValue{a, kv("b", intVal(3))}), false},
		{"point attribute missing", series("m", []*commonpb.KeyValue{svc, host}, []*commonpb.KeyValue{a}), false},
		{"attribute moved to the resource", series("m", []*commonpb.KeyValue{svc, host, a}, []*commonpb.KeyValue{b}), false},
	}
	for _, tt := range tests {
		if (tt.id == ref) != tt.equal {
			t.Errorf("%s: series %x vs %x, want equal=%v", tt.name, tt.id, ref, tt.equal)
		}
	}
}

func TestMetricsNilMessages(t *testing.T) {
	req := &colmetricspb.ExportMetricsServiceRequest{ResourceMetrics: []*metricspb.ResourceMetrics{
		nil, {ScopeMetrics: []*metricspb.ScopeMetrics{nil, {Metrics: []*metricspb.Metric{nil}}}},
	}}
	res := Metrics(req, Options{})
	if len(res.Batch.Metrics) != 0 || res.Rejected != 1 || res.RejectedByReason["invalid_metric"] != 1 {
		t.Errorf("got %d points, %d rejected (%s), want the nil metric rejected", len(res.Batch.Metrics), res.Rejected, res.Reason)
	}
}

// admitFirst admits the first n series of each metric name it sees.
type admitFirst struct {
	n    int
	seen map[string]map[uint64]bool
}

func (a *admitFirst) Admit(name string, id uint64) bool {
	if a.seen == nil {
		a.seen = map[string]map[uint64]bool{}
	}
	s := a.seen[name]
	if s == nil {
		s = map[uint64]bool{}
		a.seen[name] = s
	}
	if s[id] || len(s) < a.n {
		s[id] = true
		return true
	}
	return false
}

func (a *admitFirst) Limit() int { return a.n }

func TestMetricsSeriesLimit(t *testing.T) {
	point := func(route string, ts time.Time) *metricspb.NumberDataPoint {
		return &metricspb.NumberDataPoint{Attributes: []*commonpb.KeyValue{str("route", route)}, TimeUnixNano: ns(ts),
			Value: &metricspb.NumberDataPoint_AsInt{AsInt: 1}}
	}
	gauge := func(name string, points ...*metricspb.NumberDataPoint) *metricspb.Metric {
		return &metricspb.Metric{Name: name, Data: &metricspb.Metric_Gauge{Gauge: &metricspb.Gauge{DataPoints: points}}}
	}
	lim := &admitFirst{n: 2}
	opt := Options{MinTime: t0.Add(-time.Hour), Series: lim}
	// A point rejected for its time takes no place; /c is the third series
	// of m, /a of n is n's first.
	res := Metrics(metricsRequest(
		gauge("m", point("/old", t0.Add(-2*time.Hour)), point("/a", t0), point("/b", t0), point("/a", t0), point("/c", t0)),
		gauge("n", point("/a", t0)),
	), opt)
	if res.Batch.Len() != 4 || res.Rejected != 2 {
		t.Fatalf("stored %d, rejected %d; want 4 and 2", res.Batch.Len(), res.Rejected)
	}
	if want := map[string]int{reasonTooOld: 1, ReasonCardinality: 1}; !reflect.DeepEqual(res.RejectedByReason, want) {
		t.Errorf("RejectedByReason = %v, want %v", res.RejectedByReason, want)
	}
	if res.BadData() {
		t.Error("BadData() with stored points")
	}
	// Only new series of a full metric: a partial success, not bad data.
	res = Metrics(metricsRequest(gauge("m", point("/d", t0), point("/e", t0))), opt)
	want := `data point 0 of metric 0 "m" of scope 0 of resource 0: metric "m" has reached its limit of 2 active series`
	if res.Batch.Len() != 0 || res.Rejected != 2 || !strings.HasPrefix(res.Reason, want) {
		t.Errorf("stored %d, rejected %d, reason %q; want 0, 2, %q...", res.Batch.Len(), res.Rejected, res.Reason, want)
	}
	if res.BadData() {
		t.Error("BadData() when the series limit rejected every point")
	}
	res = Metrics(metricsRequest(gauge("m", point("/old", t0.Add(-2*time.Hour)))), opt)
	if !res.BadData() {
		t.Error("BadData() false when every point is invalid")
	}
}
