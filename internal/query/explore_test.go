package query

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/fibinc/telltale/internal/telemetry"
)

func TestMetricResolution(t *testing.T) {
	const s = time.Second
	var ps []telemetry.MetricPoint
	// Three series of "cpu": every 10s, every 10s, every 60s; the median
	// is 10s. A lone point says nothing about spacing.
	for i := range 7 {
		ps = append(ps, metricGauge("api", "h1", `{}`, 1, time.Duration(i)*10*s, 1))
		ps = append(ps, metricGauge("api", "h2", `{}`, 2, time.Duration(i)*10*s+3*s, 1))
		ps = append(ps, metricGauge("api", "h3", `{}`, 3, time.Duration(i)*60*s, 1))
	}
	ps = append(ps, metricGauge("api", "h4", `{}`, 4, 5*s, 1))
	// "flagged": points every 15s, and one flagged "no recorded value"
	// between each that must not halve the spacing.
	for i := range 4 {
		p := metricGauge("api", "h1", `{}`, 5, time.Duration(i)*15*s, 1)
		p.Name = "flagged"
		ps = append(ps, p)
		q := p
		q.Time, q.Flags, q.Value = q.Time.Add(7*s), 1, math.NaN()
		ps = append(ps, q)
	}
	// "odd": 3 points over 1001ms: 500.5ms rounds to 501ms.
	for _, at := range []time.Duration{0, 400 * time.Millisecond, 1001 * time.Millisecond} {
		p := metricGauge("api", "h1", `{}`, 6, at, 1)
		p.Name = "odd"
		ps = append(ps, p)
	}
	svc := metricService(t, Options{}, ps)
	hour := TimeRange{From: metricT0, To: metricT0.Add(time.Hour)}
	for _, tc := range []struct {
		name string
		r    TimeRange
		want time.Duration
	}{
		{"cpu", hour, 10 * s},
		// Only the first two points of each series: 10s, 10s and (h3 has
		// one point) nothing.
		{"cpu", TimeRange{From: metricT0, To: metricT0.Add(15 * s)}, 10 * s},
		// From 64s on, only h3 (every 60s) has points.
		{"cpu", TimeRange{From: metricT0.Add(64 * s), To: metricT0.Add(time.Hour)}, 60 * s},
		{"flagged", hour, 15 * s},
		{"odd", hour, 501 * time.Millisecond},
		{"nothing", hour, 0},
		// One point per series (h1 and h3 at 60s).
		{"cpu", TimeRange{From: metricT0.Add(60 * s), To: metricT0.Add(61 * s)}, 0},
	} {
		got, err := svc.MetricResolution(context.Background(), tc.r, tc.name)
		if err != nil {
			t.Fatalf("%s %v: %v", tc.name, tc.r, err)
		}
		if got != tc.want {
			t.Errorf("%s over %s..%s: %s, want %s", tc.name, tc.r.From.Sub(metricT0), tc.r.To.Sub(metricT0), got, tc.want)
		}
	}
	for _, tc := range []struct {
		name string
		r    TimeRange
	}{
		{"", hour},
		{"cpu", TimeRange{From: metricT0, To: metricT0}},
		{"cpu", TimeRange{}},
	} {
		if _, err := svc.MetricResolution(context.Background(), tc.r, tc.name); !errors.Is(err, ErrInvalid) {
			t.Errorf("%q %v: %v, want ErrInvalid", tc.name, tc.r, err)
		}
	}
}
