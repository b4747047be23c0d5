package query_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/fibinc/telltale/internal/query"
	"github.com/fibinc/telltale/internal/telemetry"
)

func TestIssueTrends(t *testing.T) {
	b := &telemetry.Batch{Errors: []telemetry.ErrorEvent{
		errorAt("credit", "frontend", "prod", "u1", -50*time.Minute),
		errorAt("credit", "frontend", "prod", "u2", -45*time.Minute),
		errorAt("credit", "frontend", "staging", "u1", -30*time.Minute),
		errorAt("timeout", "pricing", "prod", "", -5*time.Minute),
		errorAt("timeout", "pricing", "prod", "", -61*time.Minute), // before the range
	}}
	f := newIssueFixture(t, b, map[string]string{"credit": "unresolved", "timeout": "resolved", "idle": "unresolved"})
	ctx := context.Background()
	rng := query.TimeRange{From: t0.Add(-time.Hour), To: t0}
	credit, timeout, idle := f.issues["credit"], f.issues["timeout"], f.issues["idle"]
	for _, tc := range []struct {
		name string
		q    query.IssueQuery
		step time.Duration
		want map[int64][]int64
	}{
		{"ten minutes", query.IssueQuery{Range: rng}, 10 * time.Minute, map[int64][]int64{
			credit: {0, 2, 0, 1, 0, 0, 0}, timeout: {0, 0, 0, 0, 0, 1, 0}, idle: {0, 0, 0, 0, 0, 0, 0}}},
		{"environment", query.IssueQuery{Range: rng, Environment: "staging"}, 30 * time.Minute, map[int64][]int64{
			credit: {0, 1, 0}, timeout: {0, 0, 0}, idle: {0, 0, 0}}},
		{"unaligned range", query.IssueQuery{Range: query.TimeRange{From: t0.Add(-55 * time.Minute), To: t0.Add(-25 * time.Minute)}}, 20 * time.Minute,
			map[int64][]int64{credit: {2, 1}, timeout: {0, 0}, idle: {0, 0}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := f.svc.IssueTrends(ctx, tc.q, []int64{credit, timeout, idle}, tc.step)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %d trends, want %d", len(got), len(tc.want))
			}
			for id, want := range tc.want {
				tr := got[id]
				if !slices.Equal(tr.Counts, want) || tr.StepMs != tc.step.Milliseconds() || !tr.Start.Equal(tc.q.Range.From.Truncate(tc.step)) {
					t.Errorf("issue %d: %+v, want counts %v", id, tr, want)
				}
			}
		})
	}

	if got, err := f.svc.IssueTrends(ctx, query.IssueQuery{Range: rng}, nil, time.Minute); err != nil || len(got) != 0 {
		t.Errorf("no ids: %v, %v", got, err)
	}
	for _, step := range []time.Duration{0, time.Millisecond, 7 * time.Minute, 48 * time.Hour} {
		if _, err := f.svc.IssueTrends(ctx, query.IssueQuery{Range: rng}, []int64{credit}, step); !errors.Is(err, query.ErrInvalid) {
			t.Errorf("step %s: %v, want ErrInvalid", step, err)
		}
	}
	long := query.TimeRange{From: t0.Add(-30 * 24 * time.Hour), To: t0}
	if _, err := f.svc.IssueTrends(ctx, query.IssueQuery{Range: long}, []int64{credit}, time.Second); !errors.Is(err, query.ErrInvalid) {
		t.Errorf("too many steps: %v, want ErrInvalid", err)
	}
}
