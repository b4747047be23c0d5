package query

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// maxTrendSteps bounds the steps of a trend, so that a short step over a
// long range cannot allocate without end.
const maxTrendSteps = 10_000

// IssueTrends counts the events of each of ids per step over q.Range,
// matching q's filters (environment, service, release, project). IssueList
// and IssueDetail carry hourly trends, which over the dashboard's short
// ranges are one or two bars; pages pick a step that fits their range.
// The step must divide a day, so that the database's buckets and these
// align (both start at midnight UTC).
func (s *Service) IssueTrends(ctx context.Context, q IssueQuery, ids []int64, step time.Duration) (map[int64]Trend, error) {
	if err := checkRange(q.Range); err != nil {
		return nil, err
	}
	if step < time.Second || (24*time.Hour)%step != 0 {
		return nil, invalidf("trend step %s is not a whole number of seconds that divides a day", step)
	}
	start := q.Range.From.UTC().Truncate(step)
	n := int(q.Range.To.Sub(start)/step) + 1
	if n > maxTrendSteps {
		return nil, invalidf("a trend step of %s over this range makes %d steps, more than %d", step, n, maxTrendSteps)
	}
	out := make(map[int64]Trend, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	for _, id := range ids {
		out[id] = Trend{Start: start, StepMs: step.Milliseconds(), Counts: make([]int64, n)}
	}
	where, args := eventFilter(q)
	args = append(args, anySlice(ids)...)
	err := s.scanRows(ctx, func(r *sql.Rows) error {
		var id, count int64
		var bucket time.Time
		if err := r.Scan(&id, &bucket, &count); err != nil {
			return err
		}
		if i := int(bucket.Sub(start) / step); i >= 0 && i < n {
			if tr, ok := out[id]; ok {
				tr.Counts[i] += count
			}
		}
		return nil
	}, `SELECT issue_id, `+s.dialect.TimeBucket("timestamp", step)+` AS b, count(*) FROM error_events
		WHERE `+where+` AND issue_id IN (`+placeholders(len(ids))+`) GROUP BY issue_id, b`, args...)
	if err != nil {
		return nil, fmt.Errorf("cannot count issue events over time: %w", err)
	}
	return out, nil
}
