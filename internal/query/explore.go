package query

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// MetricResolution returns how often a metric's series get a point in r: the
// median over its series of (last - first) / (points - 1), rounded to the
// millisecond. It is 0 when no series has two points in r.
//
// The metrics explorer uses it as the smallest automatic step, as Grafana
// uses the scrape interval: a step finer than the points would leave most
// steps empty and draw a chart of dots.
func (s *Service) MetricResolution(ctx context.Context, r TimeRange, name string) (time.Duration, error) {
	if err := metricCheckRange(r); err != nil {
		return 0, err
	}
	if name == "" {
		return 0, invalidf("metric name is required")
	}
	// Points flagged "no recorded value" are left out, as QueryMetric does.
	rows, cancel, err := s.query(ctx, `SELECT median(gap) FROM (
	SELECT (epoch_us(max(timestamp)) - epoch_us(min(timestamp))) / (count(*) - 1) AS gap
	FROM metric_points WHERE timestamp >= ? AND timestamp < ? AND name = ? AND (flags & 1) = 0
	GROUP BY series_id HAVING count(*) > 1
)`, r.From.UTC(), r.To.UTC(), name)
	if err != nil {
		return 0, fmt.Errorf("cannot query the resolution of metric %q: %w", name, err)
	}
	defer cancel()
	defer rows.Close()
	var us sql.NullFloat64
	for rows.Next() {
		if err := rows.Scan(&us); err != nil {
			return 0, fmt.Errorf("cannot read the resolution of metric %q: %w", name, err)
		}
	}
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("cannot read the resolution of metric %q: %w", name, err)
	}
	if !us.Valid {
		return 0, nil
	}
	return (time.Duration(us.Float64) * time.Microsecond).Round(time.Millisecond), nil
}
