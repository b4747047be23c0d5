package query

import (
	"database/sql"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/fibinc/telltale/internal/query/dialect"
	"github.com/fibinc/telltale/internal/red"
)

// RED statistics come from the store's pre-aggregated rows (red.Levels;
// see docs/design/storage.md) wherever a range covers whole minutes, and
// from raw spans for the seconds before the first and after the last whole
// minute, so counts are exact for any range. Percentiles then come from the
// merged duration histograms, within red.MaxRelativeError of the exact
// ones. A range without a whole minute, a series step that is not a whole
// number of minutes, or Options.RawRED reads raw spans alone, with exact
// percentiles.

// redSource is a table RED statistics can be read from, with the
// expressions that differ between raw spans and aggregate rows.
type redSource struct {
	red.Level        // the zero Level for raw spans
	ts        string // the time column
	root      string // predicate: the span has no parent
	isErr     string // predicate: the span has status error
}

var srcSpans = redSource{Level: red.Level{Table: "spans"}, ts: "timestamp", root: "parent_span_id = ''", isErr: "status_code = 'error'"}

func aggSource(l red.Level) redSource {
	return redSource{Level: l, ts: "bucket", root: "root", isErr: "error"}
}

// candidates selects the spans that can be requests: server and consumer
// spans and roots (red.Candidate).
func (src redSource) candidates() string {
	return `(kind = 'server' OR kind = 'consumer' OR ` + src.root + `)`
}

// redSegment is a part of a query's range read from one source.
type redSegment struct {
	src      redSource
	from, to time.Time
}

// redLevels returns the levels a query may read, finest first, one per
// width: those whose width divides step (any when step is 0), of the full
// key unless serviceOnly, and the service-only one where both would do.
func redLevels(step time.Duration, serviceOnly bool) []redSource {
	byWidth := map[time.Duration]red.Level{}
	for _, l := range red.Levels() {
		if step%l.Width != 0 || l.ServiceOnly && !serviceOnly {
			continue
		}
		if have, ok := byWidth[l.Width]; !ok || l.ServiceOnly && !have.ServiceOnly {
			byWidth[l.Width] = l
		}
	}
	var out []redSource
	for _, w := range slices.Sorted(maps.Keys(byWidth)) {
		out = append(out, aggSource(byWidth[w]))
	}
	return out
}

// redPlan splits [from, to) into the segments to read: the coarsest of
// levels over the whole buckets it has in the range, the finer ones at the
// edges, raw spans before the first and after the last whole minute. Each
// level's width divides the next one's. It returns nil when the range holds
// no whole bucket of the first level, or s.rawRED is set: the query then
// reads raw spans alone.
func (s *Service) redPlan(from, to time.Time, levels []redSource) []redSegment {
	if s.rawRED || len(levels) == 0 {
		return nil
	}
	segs := planLevels(from.UTC(), to.UTC(), srcSpans, levels)
	if len(segs) == 1 && segs[0].src == srcSpans {
		return nil
	}
	return segs
}

// planLevels reads [from, to) from the first of levels over its whole
// buckets and from edge elsewhere.
func planLevels(from, to time.Time, edge redSource, levels []redSource) []redSegment {
	if len(levels) == 0 {
		return []redSegment{{edge, from, to}}
	}
	l := levels[0]
	a, b := ceilTime(from, l.Width), to.Truncate(l.Width)
	if !a.Before(b) {
		return []redSegment{{edge, from, to}}
	}
	var segs []redSegment
	if from.Before(a) {
		segs = append(segs, redSegment{edge, from, a})
	}
	segs = append(segs, planLevels(a, b, l, levels[1:])...)
	if b.Before(to) {
		segs = append(segs, redSegment{edge, b, to})
	}
	return segs
}

// ceilTime rounds t up to a multiple of d (since the zero time, so UTC
// minutes and hours).
func ceilTime(t time.Time, d time.Duration) time.Time {
	if f := t.Truncate(d); f.Before(t) {
		return f.Add(d)
	}
	return t
}

// redSpec describes a RED query: the spans of a scope, grouped.
type redSpec struct {
	scope spanScope
	// groups returns the grouping expressions over a source; the result
	// names them g1, g2, ... in order.
	groups func(src redSource) []string
	// candidates keeps only the request candidates.
	candidates bool
	// step is the width of the time buckets the groups tell apart, 0 for
	// none: levels whose width divides it serve the query.
	step time.Duration
	// serviceOnly says the groups and the scope use no column but
	// service_name, kind, root, error and deployment_environment, so the
	// service-only levels serve the query.
	serviceOnly bool
}

// redQuery is a RED query built from a redSpec. Its rows are the groups
// g1, g2, ..., then requests and errors (BIGINT), then the percentiles in
// the form redStats.dest reads.
type redQuery struct {
	sql  string
	args []any
	hist bool // percentiles as histogram buckets, not values
}

// redPercentiles are the percentiles every RED query returns.
var redPercentiles = [3]float64{0.5, 0.95, 0.99}

// redQuery builds the query of spec. Callers append ORDER BY and LIMIT,
// which may name g1, g2, ... and requests.
func (s *Service) redQuery(spec redSpec) redQuery {
	plan := s.redPlan(spec.scope.from, spec.scope.to, redLevels(spec.step, spec.serviceOnly))
	if plan == nil {
		return s.redRawQuery(spec)
	}
	var names []string
	for i := range spec.groups(srcSpans) {
		names = append(names, fmt.Sprintf("g%d", i+1))
	}
	gs := strings.Join(names, ", ")
	var parts []string
	var args []any
	for _, seg := range plan {
		var cols []string
		for i, g := range spec.groups(seg.src) {
			cols = append(cols, g+" AS "+names[i])
		}
		cols = append(cols, seg.src.isErr+" AS is_err")
		where, wargs := spanScope{from: seg.from, to: seg.to, service: spec.scope.service, env: spec.scope.env}.whereOn(seg.src.ts)
		if spec.candidates {
			where += " AND " + seg.src.candidates()
		}
		if seg.src == srcSpans {
			parts = append(parts, "SELECT "+strings.Join(cols, ", ")+", "+s.dialect.DurationBucket("duration_ns")+
				" AS hist_idx, 1 AS hist_cnt FROM spans WHERE "+where)
		} else {
			parts = append(parts, s.dialect.HistogramRows(strings.Join(cols, ", "), seg.src.Table, where))
		}
		args = append(args, wargs...)
	}
	// Per group and bucket the counts, then per group the histogram, whose
	// percentiles redStats.finish computes: in SQL, the walk over running
	// counts took window functions that cost more than all else.
	q := `SELECT ` + gs + `, CAST(sum(c) AS BIGINT) AS requests, CAST(sum(e) AS BIGINT) AS errors, ` +
		s.dialect.HistogramAgg("hist_idx", "c") + ` AS hist
FROM (SELECT ` + gs + `, hist_idx, CAST(sum(hist_cnt) AS BIGINT) AS c, sum(CASE WHEN is_err THEN hist_cnt ELSE 0 END) AS e
	FROM (` + strings.Join(parts, "\n\tUNION ALL ") + `)
	GROUP BY ` + gs + `, hist_idx)
GROUP BY ` + gs
	return redQuery{sql: q, args: args, hist: true}
}

// redRawQuery is spec over raw spans, with exact percentiles.
func (s *Service) redRawQuery(spec redSpec) redQuery {
	var cols, names []string
	for i, g := range spec.groups(srcSpans) {
		names = append(names, fmt.Sprintf("g%d", i+1))
		cols = append(cols, g+" AS "+names[i])
	}
	where, args := spec.scope.where()
	if spec.candidates {
		where += " AND " + srcSpans.candidates()
	}
	var qs []string
	for _, p := range redPercentiles {
		qs = append(qs, s.dialect.Quantile("duration_ns", p))
	}
	return redQuery{
		sql: `SELECT ` + strings.Join(cols, ", ") + `, count(*) AS requests, count(CASE WHEN ` + srcSpans.isErr + ` THEN 1 END) AS errors, ` +
			strings.Join(qs, ", ") + `
FROM spans WHERE ` + where + `
GROUP BY ` + strings.Join(names, ", "),
		args: args,
	}
}

// redStats is a row of a redQuery after its groups.
type redStats struct {
	n, errors     int64
	p50, p95, p99 sql.NullFloat64
	hist          histList
}

// dest returns the scan destinations of the statistics of q's rows; call
// finish after the scan.
func (r *redStats) dest(q redQuery) []any {
	if !q.hist {
		return []any{&r.n, &r.errors, &r.p50, &r.p95, &r.p99}
	}
	return []any{&r.n, &r.errors, &r.hist}
}

// finish estimates the percentiles from the histogram scanned.
func (r *redStats) finish(q redQuery) {
	if !q.hist {
		return
	}
	n, qs := red.Quantiles(r.hist, redPercentiles[:])
	if n == 0 {
		return
	}
	for i, p := range [...]*sql.NullFloat64{&r.p50, &r.p95, &r.p99} {
		*p = sql.NullFloat64{Float64: qs[i], Valid: true}
	}
}

// histList scans the list of dialect.HistogramAgg.
type histList []red.Bin

func (h *histList) Scan(src any) error {
	vs, ok := src.([]any)
	if !ok && src != nil {
		return fmt.Errorf("cannot scan %T into a histogram", src)
	}
	*h = (*h)[:0]
	for _, v := range vs {
		x, ok := v.(int64)
		if !ok {
			return fmt.Errorf("cannot scan %T into a histogram bucket", v)
		}
		*h = append(*h, red.Bin{Index: int16(x >> dialect.HistogramShift), Count: x & (1<<dialect.HistogramShift - 1)})
	}
	return nil
}
