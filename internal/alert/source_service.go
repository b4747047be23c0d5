package alert

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/fibinc/telltale/internal/config"
	"github.com/fibinc/telltale/internal/query"
)

// serviceSource measures a service's requests (its server spans, as the
// services board chooses them) over the window: error_rate in %, p50, p95,
// p99 in ms, rate in requests per second. With an operation, the
// operation's requests (Operations); an environment filter is supported
// without an operation only, as the RED queries take it.
type serviceSource struct {
	q   QueryService
	src config.ServiceSource
}

func newServiceSource(q QueryService, s config.ServiceSource) (Source, error) {
	if s.Name == "" {
		return nil, errors.New("service source without a name")
	}
	switch s.Measure {
	case "":
		s.Measure = "error_rate"
	case "error_rate", "p50", "p95", "p99", "rate":
	default:
		return nil, fmt.Errorf("unknown service measure %q: want error_rate, p50, p95, p99 or rate", s.Measure)
	}
	if s.Operation != "" && s.Environment != "" {
		return nil, errors.New("service source: an operation and an environment together are not supported")
	}
	return &serviceSource{q: q, src: s}, nil
}

// red is the totals of a window.
type red struct {
	requests, errors int64
	p50, p95, p99    float64 // request-weighted when several steps
}

func (s *serviceSource) Read(ctx context.Context, at time.Time, window time.Duration) ([]Sample, error) {
	if s.q == nil {
		return nil, fmt.Errorf("service source: query service %w", errUnavailable)
	}
	r := query.TimeRange{From: at.Add(-window), To: at}
	var t red
	if s.src.Operation != "" {
		ops, err := s.q.Operations(ctx, s.src.Name, r)
		if errors.Is(err, query.ErrNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("cannot read operations of %s: %w", s.src.Name, err)
		}
		for _, op := range ops {
			if op.Name == s.src.Operation {
				t.add(op.Requests, op.Errors, op.Latency)
			}
		}
	} else {
		res, err := s.q.ServiceSeries(ctx, query.ServiceSeriesQuery{Range: r, Step: window, Service: s.src.Name, Environment: s.src.Environment})
		if errors.Is(err, query.ErrNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("cannot read requests of %s: %w", s.src.Name, err)
		}
		for _, ser := range res.Series {
			for _, p := range ser.Points {
				t.add(p.Requests, p.Errors, p.Latency)
			}
		}
	}
	var v float64
	switch s.src.Measure {
	case "rate":
		v = float64(t.requests) / window.Seconds()
		return []Sample{{Value: v}}, nil
	case "error_rate":
		v = 100 * float64(t.errors) / float64(t.requests)
	case "p50":
		v = t.p50
	case "p95":
		v = t.p95
	case "p99":
		v = t.p99
	}
	if t.requests == 0 {
		return nil, nil // no requests: no error rate or latency
	}
	return []Sample{{Value: v}}, nil
}

func (t *red) add(requests, errs int64, l *query.Latency) {
	if requests == 0 {
		return
	}
	n := float64(t.requests + requests)
	if l != nil {
		w := float64(requests) / n
		t.p50 = t.p50*(1-w) + l.P50*w
		t.p95 = t.p95*(1-w) + l.P95*w
		t.p99 = t.p99*(1-w) + l.P99*w
	}
	t.requests += requests
	t.errors += errs
}
