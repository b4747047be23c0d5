package promql

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestQueryLength checks the cap on expression length: the parser's time
// grows with the square of a chain's length, so a long expression is
// refused before it is parsed, and one at the cap still runs.
func TestQueryLength(t *testing.T) {
	e := newTestEngine(t, nil)
	ctx := context.Background()
	now := time.Now()
	chain := func(n int) string { return strings.Repeat("1+", (n-1)/2) + "1" }
	for _, c := range []struct {
		expr string
		ok   bool
	}{
		{chain(MaxQueryBytes), true},
		{chain(MaxQueryBytes + 2), false},
		{strings.Repeat("(", 100_000) + "1" + strings.Repeat(")", 100_000), false},
	} {
		q, err := e.InstantQuery(ctx, c.expr, now, 0)
		if c.ok {
			if err != nil {
				t.Errorf("expression of %d bytes: %v", len(c.expr), err)
				continue
			}
			res := q.Exec(ctx)
			q.Close()
			if res.Err != nil {
				t.Errorf("expression of %d bytes: %v", len(c.expr), res.Err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), "bytes, more than") {
			t.Errorf("expression of %d bytes: %v, want it refused for its length", len(c.expr), err)
		}
		if _, err := e.RangeQuery(ctx, c.expr, now.Add(-time.Hour), now, time.Minute, 0); err == nil {
			t.Errorf("range query of %d bytes accepted", len(c.expr))
		}
	}
}
