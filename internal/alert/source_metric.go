package alert

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/fibinc/telltale/internal/config"
	"github.com/fibinc/telltale/internal/query"
)

// metricSource aggregates one metric over the window, as the metrics
// explorer does (QueryMetric with one step the window long).
type metricSource struct {
	q   QueryService
	src config.MetricSource
	agg string
}

func newMetricSource(q QueryService, m config.MetricSource) (Source, error) {
	if m.Name == "" {
		return nil, fmt.Errorf("metric source without a name")
	}
	agg := m.Aggregation
	if agg == "" {
		agg = "avg"
	}
	switch {
	case agg == "avg", agg == "sum", agg == "min", agg == "max", agg == "count", agg == "rate":
	case strings.HasPrefix(agg, "p"):
	default:
		return nil, fmt.Errorf("unknown aggregation %q: want avg, sum, min, max, count, rate, p50, p90, p95 or p99", agg)
	}
	return &metricSource{q: q, src: m, agg: agg}, nil
}

func (s *metricSource) Read(ctx context.Context, at time.Time, window time.Duration) ([]Sample, error) {
	if s.q == nil {
		return nil, fmt.Errorf("metric source: query service %w", errUnavailable)
	}
	r := query.TimeRange{From: at.Add(-window), To: at}
	res, err := s.q.QueryMetric(ctx, query.MetricQuery{Range: r, Name: s.src.Name, Filter: s.src.Filter, Agg: s.agg, Step: window})
	if err != nil {
		return nil, fmt.Errorf("cannot query metric %s: %w", s.src.Name, err)
	}
	var out []Sample
	for _, ser := range res.Series {
		if v, ok := combine(s.agg, r, window, ser.Points); ok {
			out = append(out, Sample{Labels: ser.Labels, Value: v})
		}
	}
	return out, nil
}

// combine merges the points of the steps a window spans. The store aligns
// steps to multiples of their width, so a window that does not end on such
// a multiple spans two: sums, counts and rates (per second of the window)
// add up, min and max take theirs, and averages and percentiles are
// weighted by the part of the window each step covers (exact for the
// aligned windows of a rule whose window equals its interval; an
// approximation otherwise).
func combine(agg string, r query.TimeRange, step time.Duration, pts []query.Point) (float64, bool) {
	switch len(pts) {
	case 0:
		return 0, false
	case 1:
		return pts[0].Value, true
	}
	v := pts[0].Value
	switch agg {
	case "sum", "count", "rate":
		for _, p := range pts[1:] {
			v += p.Value
		}
		return v, true
	case "min":
		for _, p := range pts[1:] {
			v = math.Min(v, p.Value)
		}
		return v, true
	case "max":
		for _, p := range pts[1:] {
			v = math.Max(v, p.Value)
		}
		return v, true
	}
	var sum, weight float64
	for _, p := range pts {
		from, to := p.Time, p.Time.Add(step)
		if from.Before(r.From) {
			from = r.From
		}
		if to.After(r.To) {
			to = r.To
		}
		w := to.Sub(from).Seconds()
		if w <= 0 {
			continue
		}
		sum += w * p.Value
		weight += w
	}
	if weight == 0 {
		return 0, false
	}
	return sum / weight, true
}
