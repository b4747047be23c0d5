package alert

import (
	"context"
	"fmt"
	"time"

	prom "github.com/prometheus/prometheus/promql"
)

// promqlSource evaluates a PromQL expression at the evaluation time; each
// series of an instant vector is an instance, a scalar is one. The window
// plays no part: the expression says what it reads (rate(x[5m])).
type promqlSource struct {
	e    PromQLEngine
	expr string
}

func newPromQLSource(e PromQLEngine, expr string) (Source, error) {
	return &promqlSource{e: e, expr: expr}, nil
}

func (s *promqlSource) Read(ctx context.Context, at time.Time, _ time.Duration) ([]Sample, error) {
	if s.e == nil {
		return nil, fmt.Errorf("promql source: PromQL engine %w", errUnavailable)
	}
	q, err := s.e.InstantQuery(ctx, s.expr, at, 0)
	if err != nil {
		return nil, fmt.Errorf("cannot run PromQL query: %w", err)
	}
	defer q.Close()
	res := q.Exec(ctx)
	if res.Err != nil {
		return nil, fmt.Errorf("cannot run PromQL query: %w", res.Err)
	}
	switch v := res.Value.(type) {
	case prom.Vector:
		out := make([]Sample, 0, len(v))
		for _, smp := range v {
			if smp.H != nil {
				continue // a native histogram has no single value to compare
			}
			out = append(out, Sample{Labels: smp.Metric.Map(), Value: smp.F})
		}
		return out, nil
	case prom.Scalar:
		return []Sample{{Value: v.V}}, nil
	}
	return nil, fmt.Errorf("PromQL query gave a %s; want an instant vector or a scalar", res.Value.Type())
}
