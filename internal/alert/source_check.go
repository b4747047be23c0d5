package alert

import (
	"context"
	"fmt"
	"time"
)

// checkScanLimit: the store returns the latest results of the range, and
// only the latest decides.
const checkScanLimit = 1

// checkSource reads an uptime check's stored results: the latest in the
// window decides, 1 when it failed, 0 when it passed; no result is no
// data.
type checkSource struct {
	c     CheckResultReader
	check string
}

func newCheckSource(c CheckResultReader, check string) Source {
	return &checkSource{c: c, check: check}
}

func (s *checkSource) Read(ctx context.Context, at time.Time, window time.Duration) ([]Sample, error) {
	if s.c == nil {
		return nil, fmt.Errorf("check source: uptime results %w", errUnavailable)
	}
	res, err := s.c.CheckResults(ctx, s.check, at.Add(-window), at, checkScanLimit)
	if err != nil {
		return nil, fmt.Errorf("cannot read results of check %s: %w", s.check, err)
	}
	latest := -1
	for i, r := range res {
		if r.At.After(at) || !r.At.After(at.Add(-window)) {
			continue
		}
		if latest < 0 || r.At.After(res[latest].At) {
			latest = i
		}
	}
	if latest < 0 {
		return nil, nil
	}
	v := 0.0
	if !res[latest].OK {
		v = 1
	}
	return []Sample{{Value: v}}, nil
}
