package query

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fibinc/telltale/internal/store"
	"github.com/fibinc/telltale/internal/telemetry"
)

// This file holds the reads of the PromQL layer (internal/promql): which
// metrics exist, which series they have, and their points, raw and in order.
// The PromQL engine does the arithmetic; these methods only select. Names and
// series ids travel as arguments, never inside the SQL text.

// PromMetric is one kind of stored metric: a name with one type, unit and
// monotonicity. The PromQL layer derives Prometheus names from it.
type PromMetric struct {
	Name        string
	Type        string
	Unit        string
	Monotonic   bool
	Description string // of the newest point
	Delta       bool   // some points are delta
}

// PromMetrics lists the kinds of metric with points in r, sorted by name, at
// most limit of them (0: no limit); more is an ErrInvalid.
func (s *Service) PromMetrics(ctx context.Context, r TimeRange, limit int) ([]PromMetric, error) {
	if err := checkRange(r); err != nil {
		return nil, err
	}
	var out []PromMetric
	err := s.scanRows(ctx, func(rows *sql.Rows) error {
		var m PromMetric
		if err := rows.Scan(&m.Name, &m.Type, &m.Unit, &m.Monotonic, &m.Description, &m.Delta); err != nil {
			return err
		}
		out = append(out, m)
		return nil
	}, `SELECT name, type, unit, coalesce(monotonic, false) AS mono, arg_max(description, timestamp),
	bool_or(temporality = 'delta')
FROM metric_points WHERE timestamp >= ? AND timestamp < ?
GROUP BY name, type, unit, mono ORDER BY name, type, unit, mono LIMIT ?`, r.From.UTC(), r.To.UTC(), promLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("cannot list metrics: %w", err)
	}
	if limit > 0 && len(out) > limit {
		return nil, invalidf("more than %d metrics (name, type and unit) in the range; narrow the range", limit)
	}
	return out, nil
}

// PromNames lists the metric names with points in r, sorted, at most limit
// of them (0: no limit); more is an ErrInvalid. DuckDB answers this from the
// dictionaries of the name column, far faster than PromMetrics.
func (s *Service) PromNames(ctx context.Context, r TimeRange, limit int) ([]string, error) {
	if err := checkRange(r); err != nil {
		return nil, err
	}
	var out []string
	err := s.scanRows(ctx, func(rows *sql.Rows) error {
		var n string
		if err := rows.Scan(&n); err != nil {
			return err
		}
		out = append(out, n)
		return nil
	}, `SELECT DISTINCT name FROM metric_points WHERE timestamp >= ? AND timestamp < ? ORDER BY name LIMIT ?`,
		r.From.UTC(), r.To.UTC(), promLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("cannot list metric names: %w", err)
	}
	if limit > 0 && len(out) > limit {
		return nil, invalidf("more than %d metric names in the range; narrow the range", limit)
	}
	return out, nil
}

// PromSeriesQuery selects the series of some metrics.
type PromSeriesQuery struct {
	Range TimeRange
	// Names are stored metric names; none selects every metric.
	Names []string
	// Limit caps the series read (0: no cap); more is an ErrInvalid.
	Limit int
}

// PromSeries is one stored series (one series_id) with its labels. Type,
// unit and monotonicity are those of its newest point in the range.
type PromSeries struct {
	ID         uint64
	Name       string
	Type       string
	Unit       string
	Monotonic  bool
	Resource   telemetry.Resource // Attributes left empty
	Namespace  string             // the resource attribute service.namespace
	Attributes string             // JSON object text
}

// PromSeries returns the series with points in q.Range, in no order.
func (s *Service) PromSeries(ctx context.Context, q PromSeriesQuery) ([]PromSeries, error) {
	if err := checkRange(q.Range); err != nil {
		return nil, err
	}
	nsExpr, nsArg := s.dialect.JSONString("any_value(resource_attributes)", "service.namespace")
	where, args := promWhere(q.Range, q.Names)
	// A series whose type or unit changed within the range gives several
	// rows; the newest wins. JSON is extracted after aggregation, once per
	// series rather than once per point.
	type row struct {
		PromSeries
		last time.Time
	}
	byID := map[uint64]int{}
	var out []row
	err := s.scanRows(ctx, func(rows *sql.Rows) error {
		var r row
		res := &r.Resource
		if err := rows.Scan(&r.ID, &r.Name, &r.Type, &r.Unit, &r.Monotonic, &r.last,
			&res.ServiceName, &res.ServiceVersion, &res.InstanceID, &res.Environment, &res.Host, &res.AvailabilityZone,
			&r.Namespace, &r.Attributes); err != nil {
			return err
		}
		if i, ok := byID[r.ID]; ok {
			if r.last.After(out[i].last) {
				out[i] = r
			}
			return nil
		}
		if q.Limit > 0 && len(out) == q.Limit {
			return invalidf("more than %d series match; add label matchers or narrow the range", q.Limit)
		}
		byID[r.ID] = len(out)
		out = append(out, r)
		return nil
	}, `SELECT series_id, name, type, unit, coalesce(monotonic, false) AS mono, max(timestamp),
	any_value(service_name), any_value(service_version), any_value(service_instance_id),
	any_value(deployment_environment), any_value(host_name), any_value(availability_zone),
	coalesce(`+nsExpr+`, ''), any_value(attributes)
FROM metric_points WHERE `+where+`
GROUP BY series_id, name, type, unit, mono`, append([]any{nsArg}, args...)...)
	if err != nil {
		return nil, fmt.Errorf("cannot list series: %w", err)
	}
	series := make([]PromSeries, len(out))
	for i := range out {
		series[i] = out[i].PromSeries
	}
	return series, nil
}

// PromPointsQuery selects the points of one metric type.
type PromPointsQuery struct {
	Range TimeRange
	Names []string // stored metric names, at least one
	Type  string   // one of the telemetry.Metric* types
	// Series, when set, restricts the read to these series ids.
	Series []uint64
	// Buckets asks for the bucket columns of histograms and the quantiles
	// of summaries; without it only count and sum are read.
	Buckets bool
	// Limit caps the points read (0: no cap); more is an ErrInvalid.
	Limit int
}

// PromPoint is one stored point. Times are Unix milliseconds.
type PromPoint struct {
	Series uint64
	Time   int64
	Start  int64 // 0 when unknown
	Delta  bool  // delta temporality
	Stale  bool  // flagged "no recorded value": the stream ended

	Value float64 // gauges and sums

	Count uint64 // histograms and summaries
	Sum   float64

	Bounds []float64 // explicit histograms
	Counts []uint64

	ExpScale     int32 // exponential histograms
	ExpZero      uint64
	ExpPosOffset int32
	ExpPos       []uint64
	ExpNegOffset int32
	ExpNeg       []uint64

	Quantiles, QuantileValues []float64 // summaries

	// SeriesPoints is the number of points of this series in the read when
	// known, 0 otherwise: a capacity hint for whoever keeps them.
	SeriesPoints int
}

// PromPoints calls fn for each point of q, ordered by series and time. The
// point and its slices are only valid during the call.
func (s *Service) PromPoints(ctx context.Context, q PromPointsQuery, fn func(*PromPoint) error) error {
	if err := checkRange(q.Range); err != nil {
		return err
	}
	if len(q.Names) == 0 {
		return invalidf("no metric names to read points of")
	}
	var (
		p                          PromPoint
		value, sum                 sql.NullFloat64
		count, zero                sql.Null[uint64]
		scale, posOff, negOff      sql.Null[int32]
		bounds, quantiles, qvalues metricList[float64]
		counts, pos, neg           metricList[uint64]
	)
	var packed int64
	dest := []any{&p.Series, &p.Time, &packed}
	var cols string
	switch {
	case q.Type == telemetry.MetricGauge || q.Type == telemetry.MetricSum:
		cols, dest = "value", append(dest, &value)
	case !q.Buckets:
		cols, dest = "count, sum", append(dest, &count, &sum)
	case q.Type == telemetry.MetricHistogram:
		cols, dest = "count, sum, bucket_bounds, bucket_counts", append(dest, &count, &sum, &bounds, &counts)
	case q.Type == telemetry.MetricExponentialHistogram:
		cols = `count, sum, exp_scale, exp_zero_count, exp_positive_offset, exp_positive_counts,
	exp_negative_offset, exp_negative_counts`
		dest = append(dest, &count, &sum, &scale, &zero, &posOff, &pos, &negOff, &neg)
	case q.Type == telemetry.MetricSummary:
		cols, dest = "count, sum, quantiles, quantile_values", append(dest, &count, &sum, &quantiles, &qvalues)
	default:
		return invalidf("unknown metric type %q", q.Type)
	}
	where, args := promWhere(q.Range, q.Names)
	where += " AND type = ?"
	args = append(args, q.Type)
	numeric := q.Type == telemetry.MetricGauge || q.Type == telemetry.MetricSum || !q.Buckets
	if len(q.Series) > 0 {
		// One argument whatever the number of ids: a list as text, since
		// database/sql refuses uint64 arguments with the high bit set.
		where += " AND series_id IN (SELECT unnest(CAST(? AS UBIGINT[])))"
		list := make([]byte, 0, 21*len(q.Series)+2)
		list = append(list, '[')
		for i, id := range q.Series {
			if i > 0 {
				list = append(list, ',')
			}
			list = strconv.AppendUint(list, id, 10)
		}
		args = append(args, string(append(list, ']')))
	}
	// Times travel as integers: the driver converts each TIMESTAMP value
	// with a cgo call. Every column costs a conversion per row, so the start
	// time, the stale flag and the temporality share one: start × 4 +
	// stale × 2 + delta (start in milliseconds, far below 2^61).
	const packedExpr = `coalesce(epoch_ms(start_timestamp), 0) * 4
	+ CASE WHEN (flags & 1) <> 0 THEN 2 ELSE 0 END + CASE WHEN temporality = 'delta' THEN 1 ELSE 0 END`
	if cq, ok := s.store.(store.ChunkQuerier); ok && numeric {
		err := s.promPointsChunked(ctx, cq, q, `SELECT series_id, epoch_ms(timestamp), `+packedExpr+`, `+cols+`
FROM metric_points WHERE `+where, `SELECT series_id, count(*)::BIGINT FROM metric_points WHERE `+where+` GROUP BY series_id`, args, fn)
		if err != nil {
			return fmt.Errorf("cannot read points: %w", err)
		}
		return nil
	}
	read := 0
	err := s.scanRows(ctx, func(rows *sql.Rows) error {
		if read++; q.Limit > 0 && read > q.Limit {
			return invalidf("more than %d points to read; narrow the range or add label matchers", q.Limit)
		}
		if err := rows.Scan(dest...); err != nil {
			return err
		}
		p.Start, p.Stale, p.Delta = packed>>2, packed&2 != 0, packed&1 != 0
		p.Value, p.Count, p.Sum = value.Float64, count.V, sum.Float64
		p.Bounds, p.Counts = bounds, counts
		p.ExpScale, p.ExpZero, p.ExpPosOffset, p.ExpPos, p.ExpNegOffset, p.ExpNeg = scale.V, zero.V, posOff.V, pos, negOff.V, neg
		p.Quantiles, p.QuantileValues = quantiles, qvalues
		if q.Type == telemetry.MetricGauge || q.Type == telemetry.MetricSum {
			p.Stale = p.Stale || !value.Valid
		}
		return fn(&p)
	}, `SELECT series_id, epoch_ms(timestamp), `+packedExpr+`, `+cols+`
FROM metric_points WHERE `+where+`
ORDER BY series_id, timestamp`, args...)
	if err != nil {
		return fmt.Errorf("cannot read points: %w", err)
	}
	return nil
}

// promRaw is a point buffered by promPointsChunked: its time, start time
// and flags packed as in the query, and its value (sums and gauges) or sum
// (histograms and summaries, whose counts are kept beside).
type promRaw struct {
	t, packed int64
	v         float64
}

// promBuffer holds the points of one series as they arrive.
type promBuffer struct {
	pts      []promRaw
	counts   []uint64 // histograms and summaries
	unsorted bool     // points are out of time order, to be sorted at the end
}

// promMaxShift bounds how far back a late point is moved into place as it
// arrives. DuckDB's parallel scan interleaves the chunks of a few row groups,
// so a series' late points are only a few places late: moving them is
// cheaper than sorting afterwards. Beyond the bound (points written far out
// of order) the series is sorted once at the end instead, so that the cost
// stays O(n log n).
const promMaxShift = 64

// add appends r (and cnt, with counts) in time order when r is at most
// promMaxShift places late.
func (b *promBuffer) add(r promRaw, cnt uint64, counts bool) {
	b.pts = append(b.pts, r)
	if counts {
		b.counts = append(b.counts, cnt)
	}
	n := len(b.pts) - 1
	if b.unsorted || n == 0 || b.pts[n-1].t <= r.t {
		return
	}
	i := n
	for i > 0 && b.pts[i-1].t > r.t {
		if n-i >= promMaxShift {
			b.unsorted = true
			return
		}
		i--
	}
	copy(b.pts[i+1:], b.pts[i:n])
	b.pts[i] = r
	if counts {
		copy(b.counts[i+1:], b.counts[i:n])
		b.counts[i] = cnt
	}
}

// promTable maps series ids to their buffers: open addressing with linear
// probing, some three times faster than a Go map for the lookup done for
// every point read. Ids are mixed before indexing, so that ids whose low
// bits agree do not pile up.
type promTable struct {
	keys []uint64
	bufs []*promBuffer // nil: empty slot
	n    int
}

func (t *promTable) get(id uint64) *promBuffer {
	if 2*(t.n+1) > len(t.keys) {
		t.grow()
	}
	mask := uint64(len(t.keys) - 1)
	for i := telemetry.Mix64(id) & mask; ; i = (i + 1) & mask {
		switch {
		case t.bufs[i] == nil:
			b := &promBuffer{}
			t.keys[i], t.bufs[i] = id, b
			t.n++
			return b
		case t.keys[i] == id:
			return t.bufs[i]
		}
	}
}

func (t *promTable) grow() {
	keys, bufs := t.keys, t.bufs
	size := max(2*len(keys), 1024)
	t.keys, t.bufs, t.n = make([]uint64, size), make([]*promBuffer, size), 0
	mask := uint64(size - 1)
	for j, b := range bufs {
		if b == nil {
			continue
		}
		i := telemetry.Mix64(keys[j]) & mask
		for t.bufs[i] != nil {
			i = (i + 1) & mask
		}
		t.keys[i], t.bufs[i] = keys[j], b
		t.n++
	}
}

// promPointsChunked is PromPoints over a store that reads column-wise, for
// the point types whose columns are all numbers. Sorting millions of points
// by series and time costs DuckDB more than reading them, and converting
// them row by row through database/sql costs ten times that: here DuckDB
// only counts and filters, the chunks are read in place, each series'
// points are buffered in time order (late ones moved into place, or the
// series sorted at the end), and every series is then handed to fn in
// order. The buffers, sized by the count per series, take 24 bytes a point
// (32 for histograms and summaries) until their series is handed over.
func (s *Service) promPointsChunked(ctx context.Context, cq store.ChunkQuerier, q PromPointsQuery, sqlText, countText string,
	args []any, fn func(*PromPoint) error) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	valueType := q.Type == telemetry.MetricGauge || q.Type == telemetry.MetricSum
	var bufs promTable
	// Counting first sizes every buffer exactly (growing them by doubling
	// allocated three times the points and copied them twice), and checks
	// the limit before anything is read, for a query that costs DuckDB a
	// few percent of the read. Points written meanwhile grow the buffers.
	total := 0
	err := cq.QueryChunks(ctx, countText, args, func(c store.Chunk) error {
		ids, counts := c.Uint64s(0), c.Int64s(1)
		for i := range c.Len() {
			total += int(counts[i])
		}
		if q.Limit > 0 && total > q.Limit {
			return invalidf("more than %d points to read; narrow the range or add label matchers", q.Limit)
		}
		for i := range c.Len() {
			b := bufs.get(ids[i])
			b.pts = make([]promRaw, 0, counts[i])
			if !valueType {
				b.counts = make([]uint64, 0, counts[i])
			}
		}
		return nil
	})
	if err != nil {
		return promChunkErr(ctx, err, s.timeout)
	}
	read := 0
	err = cq.QueryChunks(ctx, sqlText, args, func(c store.Chunk) error {
		n := c.Len()
		if read += n; q.Limit > 0 && read > q.Limit {
			return invalidf("more than %d points to read; narrow the range or add label matchers", q.Limit)
		}
		ids, times, packed := c.Uint64s(0), c.Int64s(1), c.Int64s(2)
		var values, sums []float64
		var counts []uint64
		if valueType {
			values = c.Float64s(3)
		} else {
			counts, sums = c.Uint64s(3), c.Float64s(4)
		}
		var (
			b    *promBuffer
			last uint64
		)
		for i := range n {
			if id := ids[i]; b == nil || id != last {
				b, last = bufs.get(id), id
			}
			r := promRaw{t: times[i], packed: packed[i]}
			cnt := uint64(0)
			if valueType {
				if c.Valid(3, i) {
					r.v = values[i]
				} else {
					r.packed |= 2 // no value: the stream ended, as the row path reads it
				}
			} else {
				if c.Valid(4, i) {
					r.v = sums[i]
				}
				if c.Valid(3, i) {
					cnt = counts[i]
				}
			}
			b.add(r, cnt, !valueType)
		}
		return nil
	})
	if err != nil {
		return promChunkErr(ctx, err, s.timeout)
	}
	type entry struct {
		id uint64
		b  *promBuffer
	}
	series := make([]entry, 0, bufs.n)
	for i, b := range bufs.bufs {
		if b != nil {
			series = append(series, entry{bufs.keys[i], b})
		}
	}
	bufs = promTable{}
	slices.SortFunc(series, func(x, y entry) int { return cmp.Compare(x.id, y.id) })
	var p PromPoint
	for k, e := range series {
		id, b := e.id, e.b
		series[k].b = nil // its memory goes as soon as it is handed over
		if b.unsorted {
			b.sort()
		}
		p = PromPoint{Series: id, SeriesPoints: len(b.pts)}
		for j, r := range b.pts {
			p.Time, p.Start, p.Stale, p.Delta = r.t, r.packed>>2, r.packed&2 != 0, r.packed&1 != 0
			if valueType {
				p.Value = r.v
			} else {
				p.Count, p.Sum = b.counts[j], r.v
			}
			if err := fn(&p); err != nil {
				return err
			}
		}
	}
	return nil
}

// promChunkErr reports a timeout of a column-wise read as one.
func promChunkErr(ctx context.Context, err error, timeout time.Duration) error {
	switch {
	case errors.Is(err, ErrInvalid):
		return err
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return fmt.Errorf("query timed out after %s: %w", timeout, context.DeadlineExceeded)
	}
	return err
}

// sort orders the points by time. Points of equal times come in any order,
// as they do from the row path's ORDER BY.
func (b *promBuffer) sort() {
	if b.counts == nil {
		slices.SortFunc(b.pts, func(x, y promRaw) int { return cmp.Compare(x.t, y.t) })
		return
	}
	idx := make([]int, len(b.pts))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(x, y int) int { return cmp.Compare(b.pts[x].t, b.pts[y].t) })
	pts, counts := make([]promRaw, len(idx)), make([]uint64, len(idx))
	for i, j := range idx {
		pts[i], counts[i] = b.pts[j], b.counts[j]
	}
	b.pts, b.counts = pts, counts
}

// PromBounds returns, per series, the union of the bucket bounds of an
// explicit histogram's points or the quantiles of a summary's, for listing
// the le and quantile labels without reading every point.
func (s *Service) PromBounds(ctx context.Context, r TimeRange, names []string, typ string) (map[uint64][]float64, error) {
	if err := checkRange(r); err != nil {
		return nil, err
	}
	col := "bucket_bounds"
	if typ == telemetry.MetricSummary {
		col = "quantiles"
	} else if typ != telemetry.MetricHistogram {
		return nil, invalidf("metric type %q has no bounds", typ)
	}
	where, args := promWhere(r, names)
	out := map[uint64][]float64{}
	err := s.scanRows(ctx, func(rows *sql.Rows) error {
		var id uint64
		var bounds metricList[float64]
		if err := rows.Scan(&id, &bounds); err != nil {
			return err
		}
		out[id] = append(out[id], bounds...)
		return nil
	}, `SELECT DISTINCT series_id, `+col+` FROM metric_points WHERE `+where+` AND type = ?`, append(args, typ)...)
	if err != nil {
		return nil, fmt.Errorf("cannot list bounds: %w", err)
	}
	return out, nil
}

// promWhere is the condition on time and names.
func promWhere(r TimeRange, names []string) (string, []any) {
	where := "timestamp >= ? AND timestamp < ?"
	args := []any{r.From.UTC(), r.To.UTC()}
	if len(names) > 0 {
		where += " AND name IN (" + promPlaceholders(len(names)) + ")"
		for _, n := range names {
			args = append(args, n)
		}
	}
	return where, args
}

// promPlaceholders returns n comma-separated placeholders.
func promPlaceholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

// promLimit is a SQL LIMIT reading one row more than limit, to tell that
// there were more.
func promLimit(limit int) int64 {
	if limit <= 0 {
		return 1 << 62
	}
	return int64(limit) + 1
}

// MetricSeriesSince calls fn for each series with points at or after since,
// with its metric name and the time of its newest point, in no order. The
// per-metric series limit (internal/ingest/cardinality) is seeded with it
// at start, so that a restart does not reset the count.
func (s *Service) MetricSeriesSince(ctx context.Context, since time.Time, fn func(name string, id uint64, last time.Time)) error {
	err := s.scanRows(ctx, func(rows *sql.Rows) error {
		var (
			name string
			id   uint64
			last time.Time
		)
		if err := rows.Scan(&name, &id, &last); err != nil {
			return err
		}
		fn(name, id, last)
		return nil
	}, `SELECT name, series_id, max(timestamp) FROM metric_points WHERE timestamp >= ? GROUP BY name, series_id`, since.UTC())
	if err != nil {
		return fmt.Errorf("cannot list recent series: %w", err)
	}
	return nil
}
