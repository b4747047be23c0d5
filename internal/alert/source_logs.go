package alert

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/fibinc/telltale/internal/config"
	"github.com/fibinc/telltale/internal/query"
)

// logSource counts the log records matching a logs-explorer filter in the
// window. The count is always a value (0 when nothing matched), except
// for the absent condition, which breaches on a count of 0.
type logSource struct {
	q   QueryService
	src config.LogSource
}

func newLogSource(q QueryService, l config.LogSource) (Source, error) {
	if q != nil {
		if err := q.CheckLogFilter(l.Query); err != nil {
			return nil, fmt.Errorf("logs source: %w", err)
		}
	}
	return &logSource{q: q, src: l}, nil
}

func (s *logSource) Read(ctx context.Context, at time.Time, window time.Duration) ([]Sample, error) {
	if s.q == nil {
		return nil, fmt.Errorf("logs source: query service %w", errUnavailable)
	}
	h, err := s.q.LogHistogram(ctx, query.LogHistogramQuery{Range: query.TimeRange{From: at.Add(-window), To: at}, Filter: s.src.Query, Step: window})
	if errors.Is(err, query.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cannot count logs: %w", err)
	}
	return []Sample{{Value: float64(h.Total)}}, nil
}

func (s *logSource) counts() {}
