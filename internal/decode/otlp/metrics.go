package otlp

import (
	"fmt"
	"math"

	colmetricspb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"

	"github.com/fibinc/telltale/internal/telemetry"
)

// Metrics converts a metrics export request into one metric point per data
// point.
func Metrics(req *colmetricspb.ExportMetricsServiceRequest, opt Options) Result {
	n := 0
	for _, rm := range req.GetResourceMetrics() {
		for _, sm := range rm.GetScopeMetrics() {
			for _, m := range sm.GetMetrics() {
				n += pointCount(m)
			}
		}
	}
	c := converter{opt: opt}
	c.out.Batch.Metrics = make([]telemetry.MetricPoint, 0, n)
	for ri, rm := range req.GetResourceMetrics() {
		var base telemetry.MetricPoint
		base.Resource = c.resource(rm.GetResource())
		var resHash uint64
		c.buf, resHash = appendAttrsHashed(c.buf[:0], rm.GetResource().GetAttributes())
		for si, sm := range rm.GetScopeMetrics() {
			base.Scope = scope(sm.GetScope())
			for mi, m := range sm.GetMetrics() {
				c.metric(base, resHash, m, where{ri, si, mi, m.GetName()})
			}
		}
	}
	return c.out
}

// where locates a metric in the request for rejection messages.
type where struct {
	resource, scope, metric int
	name                    string
}

func pointCount(m *metricspb.Metric) int {
	switch d := m.GetData().(type) {
	case *metricspb.Metric_Gauge:
		return len(d.Gauge.GetDataPoints())
	case *metricspb.Metric_Sum:
		return len(d.Sum.GetDataPoints())
	case *metricspb.Metric_Histogram:
		return len(d.Histogram.GetDataPoints())
	case *metricspb.Metric_ExponentialHistogram:
		return len(d.ExponentialHistogram.GetDataPoints())
	case *metricspb.Metric_Summary:
		return len(d.Summary.GetDataPoints())
	}
	return 0
}

func (c *converter) metric(base telemetry.MetricPoint, resHash uint64, m *metricspb.Metric, w where) {
	base.Name, base.Description, base.Unit = m.GetName(), m.GetDescription(), m.GetUnit()
	n := pointCount(m)
	var temporality metricspb.AggregationTemporality
	switch d := m.GetData().(type) {
	case nil:
		c.rejectMetric(1, "has no data", w)
		return
	case *metricspb.Metric_Gauge:
		base.Type = telemetry.MetricGauge
	case *metricspb.Metric_Sum:
		base.Type, temporality, base.Monotonic = telemetry.MetricSum, d.Sum.GetAggregationTemporality(), d.Sum.GetIsMonotonic()
	case *metricspb.Metric_Histogram:
		base.Type, temporality = telemetry.MetricHistogram, d.Histogram.GetAggregationTemporality()
	case *metricspb.Metric_ExponentialHistogram:
		base.Type, temporality = telemetry.MetricExponentialHistogram, d.ExponentialHistogram.GetAggregationTemporality()
	case *metricspb.Metric_Summary:
		base.Type = telemetry.MetricSummary
	}
	switch {
	case base.Name == "":
		c.rejectMetric(max(n, 1), "name is missing", w)
		return
	case n == 0:
		c.rejectMetric(1, "has no data points", w)
		return
	}
	switch temporality {
	case metricspb.AggregationTemporality_AGGREGATION_TEMPORALITY_DELTA:
		base.Temporality = telemetry.TemporalityDelta
	case metricspb.AggregationTemporality_AGGREGATION_TEMPORALITY_CUMULATIVE:
		base.Temporality = telemetry.TemporalityCumulative
	default:
		if base.Type != telemetry.MetricGauge && base.Type != telemetry.MetricSummary {
			c.rejectMetric(n, fmt.Sprintf("aggregation_temporality must be delta or cumulative, got %v", temporality), w)
			return
		}
	}
	nameHash := telemetry.FNV64a(telemetry.FNVOffset, base.Name)

	switch d := m.GetData().(type) {
	case *metricspb.Metric_Gauge:
		c.numberPoints(&base, nameHash, resHash, d.Gauge.GetDataPoints(), w)
	case *metricspb.Metric_Sum:
		c.numberPoints(&base, nameHash, resHash, d.Sum.GetDataPoints(), w)
	case *metricspb.Metric_Histogram:
		for i, p := range d.Histogram.GetDataPoints() {
			counts, bounds := p.GetBucketCounts(), p.GetExplicitBounds()
			if len(counts) > 0 && len(counts) != len(bounds)+1 {
				c.rejectPoint(problem{reasonInvalidMetric, fmt.Sprintf(
					"histogram has %d bucket counts for %d explicit bounds, want %d", len(counts), len(bounds), len(bounds)+1)}, i, w)
				continue
			}
			mp := c.point(&base, nameHash, resHash, p.GetAttributes(), p.GetStartTimeUnixNano(), p.GetTimeUnixNano(), p.GetFlags(), i, w)
			if mp == nil {
				continue
			}
			mp.Count, mp.Sum = p.GetCount(), p.GetSum()
			mp.HasMin, mp.Min = p.Min != nil, p.GetMin()
			mp.HasMax, mp.Max = p.Max != nil, p.GetMax()
			mp.BucketBounds, mp.BucketCounts = bounds, counts
		}
	case *metricspb.Metric_ExponentialHistogram:
		for i, p := range d.ExponentialHistogram.GetDataPoints() {
			mp := c.point(&base, nameHash, resHash, p.GetAttributes(), p.GetStartTimeUnixNano(), p.GetTimeUnixNano(), p.GetFlags(), i, w)
			if mp == nil {
				continue
			}
			mp.Count, mp.Sum = p.GetCount(), p.GetSum()
			mp.HasMin, mp.Min = p.Min != nil, p.GetMin()
			mp.HasMax, mp.Max = p.Max != nil, p.GetMax()
			mp.ExpScale, mp.ExpZeroCount = p.GetScale(), p.GetZeroCount()
			mp.ExpPositiveOffset, mp.ExpPositiveCounts = p.GetPositive().GetOffset(), p.GetPositive().GetBucketCounts()
			mp.ExpNegativeOffset, mp.ExpNegativeCounts = p.GetNegative().GetOffset(), p.GetNegative().GetBucketCounts()
		}
	case *metricspb.Metric_Summary:
		for i, p := range d.Summary.GetDataPoints() {
			mp := c.point(&base, nameHash, resHash, p.GetAttributes(), p.GetStartTimeUnixNano(), p.GetTimeUnixNano(), p.GetFlags(), i, w)
			if mp == nil {
				continue
			}
			mp.Count, mp.Sum = p.GetCount(), p.GetSum()
			qs := p.GetQuantileValues()
			mp.Quantiles, mp.QuantileValues = make([]float64, len(qs)), make([]float64, len(qs))
			for j, q := range qs {
				mp.Quantiles[j], mp.QuantileValues[j] = q.GetQuantile(), q.GetValue()
			}
		}
	}
}

func (c *converter) numberPoints(base *telemetry.MetricPoint, nameHash, resHash uint64, points []*metricspb.NumberDataPoint, w where) {
	for i, p := range points {
		mp := c.point(base, nameHash, resHash, p.GetAttributes(), p.GetStartTimeUnixNano(), p.GetTimeUnixNano(), p.GetFlags(), i, w)
		if mp == nil {
			continue
		}
		switch v := p.GetValue().(type) {
		case *metricspb.NumberDataPoint_AsDouble:
			mp.Value = v.AsDouble
		case *metricspb.NumberDataPoint_AsInt:
			mp.Value = float64(v.AsInt)
		default:
			// A point without a value, as sent with the no_recorded_value
			// flag, must not read as a zero.
			mp.Value = math.NaN()
		}
	}
}

// point appends the record of data point i, with the fields shared by every
// point type, and returns it for the caller to fill in the values; or it
// rejects the point and returns nil. The pointer is valid until the next
// append.
func (c *converter) point(base *telemetry.MetricPoint, nameHash, resHash uint64, attrs []*commonpb.KeyValue,
	start, ts uint64, flags uint32, i int, w where) *telemetry.MetricPoint {
	t, p := c.checkTime("time_unix_nano", ts)
	if p.key != "" {
		c.rejectPoint(p, i, w)
		return nil
	}
	var attrHash uint64
	c.buf, attrHash = appendAttrsHashed(c.buf[:0], attrs)
	id := telemetry.SeriesID(nameHash, resHash, attrHash)
	// Last, so that points rejected for other reasons take no place.
	if c.opt.Series != nil && !c.opt.Series.Admit(base.Name, id) {
		c.rejectSeries(base.Name, i, w)
		return nil
	}
	c.out.Batch.Metrics = append(c.out.Batch.Metrics, *base)
	mp := &c.out.Batch.Metrics[len(c.out.Batch.Metrics)-1]
	mp.Attributes = jsonText(c.buf)
	mp.SeriesID = id
	mp.Time = t
	if start != 0 {
		mp.StartTime = unixNano(start)
	}
	mp.Flags = flags
	return mp
}

func (c *converter) rejectMetric(n int, msg string, w where) {
	c.reject(n, problem{reasonInvalidMetric, msg}, "metric %d %q of scope %d of resource %d",
		w.metric, w.name, w.scope, w.resource)
}

// rejectSeries rejects a point of a new series over its metric's limit. The
// message is built for the first rejection only, the one reported.
func (c *converter) rejectSeries(name string, i int, w where) {
	p := problem{key: ReasonCardinality}
	if c.out.RejectedByReason == nil {
		p.msg = fmt.Sprintf("metric %q has reached its limit of %d active series (--max-series-per-metric); "+
			"points of new series are rejected, those of its existing series are accepted", name, c.opt.Series.Limit())
	}
	c.rejectPoint(p, i, w)
}

func (c *converter) rejectPoint(p problem, i int, w where) {
	c.reject(1, p, "data point %d of metric %d %q of scope %d of resource %d",
		i, w.metric, w.name, w.scope, w.resource)
}
