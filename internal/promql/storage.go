package promql

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/util/annotations"

	"github.com/fibinc/telltale/internal/query"
	"github.com/fibinc/telltale/internal/telemetry"
)

// Storage is a storage.Queryable over Telltale's metric points. It is safe
// for concurrent use.
type Storage struct {
	q          *query.Service
	maxSeries  int
	maxPoints  int
	maxMetrics int
}

var _ storage.Queryable = (*Storage)(nil)

// Querier implements storage.Queryable. mint and maxt are inclusive Unix
// milliseconds.
func (s *Storage) Querier(mint, maxt int64) (storage.Querier, error) {
	if maxt < mint {
		return nil, fmt.Errorf("cannot query: end %d is before start %d", maxt, mint)
	}
	return &querier{s: s, mint: mint, maxt: maxt}, nil
}

// querier answers the selects of one query. It lists the stored metric
// names once and reuses the list for every selector.
type querier struct {
	s          *Storage
	mint, maxt int64

	// mu guards the fields below, in case the engine selects concurrently.
	mu       sync.Mutex
	names    []string // stored metric names in the range
	namesErr error
	listed   bool
	variants map[kindKey]*variant
}

// variant is a kind of stored metric (name, type, unit, monotonicity) and
// its Prometheus name.
type variant struct {
	query.PromMetric
	typ  promType
	base string // Prometheus name before _bucket, _sum, _count; "" for none
}

type kindKey struct {
	name, typ, unit string
	mono            bool
}

func newVariant(m query.PromMetric) *variant {
	v := &variant{PromMetric: m, typ: promTypeOf(m)}
	v.base = metricName(m.Name, m.Unit, v.typ)
	return v
}

// variant returns the variant of a kind of metric, computed once per query.
func (q *querier) variant(k kindKey) *variant {
	q.mu.Lock()
	defer q.mu.Unlock()
	if v, ok := q.variants[k]; ok {
		return v
	}
	if q.variants == nil {
		q.variants = map[kindKey]*variant{}
	}
	v := newVariant(query.PromMetric{Name: k.name, Type: k.typ, Unit: k.unit, Monotonic: k.mono})
	q.variants[k] = v
	return v
}

// output is one Prometheus series derived from a stored series.
type output uint8

const (
	outValue  output = iota // gauges, sums, summary quantiles
	outBucket               // classic histogram _bucket{le}
	outSum                  // histogram and summary _sum
	outCount                // histogram and summary _count
	outNative               // exponential histograms as native histograms
)

// outputs returns the series a kind of metric yields, with their names.
func (v *variant) outputs() []struct {
	out  output
	name string
} {
	type o = struct {
		out  output
		name string
	}
	switch {
	case v.base == "":
		return nil
	case v.typ == typeHistogram:
		return []o{{outBucket, v.base + "_bucket"}, {outSum, v.base + "_sum"}, {outCount, v.base + "_count"}}
	case v.typ == typeSummary:
		return []o{{outValue, v.base}, {outSum, v.base + "_sum"}, {outCount, v.base + "_count"}}
	case v.typ == typeNative:
		return []o{{outNative, v.base}}
	}
	return []o{{outValue, v.base}}
}

// selected returns the outputs of v whose names the matchers accept, nil
// for none.
func (v *variant) selected(nameMatchers []*labels.Matcher) map[output]string {
	var outs map[output]string
	for _, o := range v.outputs() {
		if matchAll(nameMatchers, o.name) {
			if outs == nil {
				outs = map[output]string{}
			}
			outs[o.out] = o.name
		}
	}
	return outs
}

// readRange returns the range of stored points a select over [start, end]
// reads: from a lookback before start, so that delta sums have a running
// total and counters a baseline when the range begins.
func readRange(start, end int64) query.TimeRange {
	return query.TimeRange{
		From: time.UnixMilli(start).Add(-LookbackDelta),
		To:   time.UnixMilli(end + 1), // end is inclusive
	}
}

// list returns the stored metric names with points in the querier's range.
func (q *querier) list(ctx context.Context) ([]string, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.listed {
		q.listed = true
		q.names, q.namesErr = q.s.q.PromNames(ctx, readRange(q.mint, q.maxt), q.s.maxMetrics)
	}
	return q.names, q.namesErr
}

// candidates returns the stored names whose Prometheus names may match the
// __name__ matchers, or nil for all names. With an equality matcher, a name
// is a candidate when its words, less the ones suffixes add, begin the
// Prometheus name's (see compatible); other matchers are checked once the
// series' types and units are known.
func (q *querier) candidates(ctx context.Context, nameMatchers []*labels.Matcher) ([]string, error) {
	var eq *labels.Matcher
	for _, m := range nameMatchers {
		if m.Type == labels.MatchEqual {
			eq = m
		}
	}
	if eq == nil {
		return nil, nil
	}
	names, err := q.list(ctx)
	if err != nil {
		return nil, err
	}
	out := []string{}
	for _, n := range names {
		if compatible(n, eq.Value) {
			out = append(out, n)
		}
	}
	return out, nil
}

// suffixWords are the words that naming adds or moves.
var suffixWords = map[string]bool{"total": true, "ratio": true, "bucket": true, "sum": true, "count": true}

// compatible reports whether the stored name may map to promName: its
// words, without total, ratio, bucket, sum and count, must begin
// promName's words without them, since the unit and those suffixes are only
// ever appended.
func compatible(stored, promName string) bool {
	b := strings.FieldsFunc(stored, func(r rune) bool { return !metricChar(r) })
	n := strings.FieldsFunc(promName, func(r rune) bool { return r == '_' })
	b = slices.DeleteFunc(b, func(w string) bool { return suffixWords[w] })
	n = slices.DeleteFunc(n, func(w string) bool { return suffixWords[w] })
	return len(b) <= len(n) && slices.Equal(b, n[:len(b)])
}

func matchAll(ms []*labels.Matcher, v string) bool {
	for _, m := range ms {
		if !m.Matches(v) {
			return false
		}
	}
	return true
}

// Select implements storage.Querier.
func (q *querier) Select(ctx context.Context, _ bool, hints *storage.SelectHints, matchers ...*labels.Matcher) storage.SeriesSet {
	start, end := q.mint, q.maxt
	seriesOnly := false
	limit := 0
	if hints != nil {
		start, end = max(hints.Start, q.mint), min(hints.End, q.maxt)
		seriesOnly = hints.Func == "series"
		limit = hints.Limit
	}
	if end < start {
		return storage.EmptySeriesSet()
	}
	set, err := q.selectSeries(ctx, start, end, seriesOnly, matchers)
	if err != nil {
		return storage.ErrSeriesSet(err)
	}
	// Sorted always: the engine and the API expect a stable order, and the
	// cost is small next to reading the points.
	sort.Slice(set.series, func(i, j int) bool { return labels.Compare(set.series[i].lset, set.series[j].lset) < 0 })
	if limit > 0 && len(set.series) > limit {
		set.series = set.series[:limit]
	}
	return set
}

// selectSeries reads the series matching matchers with their samples in
// [start, end] (and the lookback before), or only their labels.
func (q *querier) selectSeries(ctx context.Context, start, end int64, seriesOnly bool, matchers []*labels.Matcher) (*seriesSet, error) {
	var nameMs, derivedMs, baseMs []*labels.Matcher
	for _, m := range matchers {
		switch m.Name {
		case labels.MetricName:
			nameMs = append(nameMs, m)
		case "le", "quantile":
			derivedMs = append(derivedMs, m)
		default:
			baseMs = append(baseMs, m)
		}
	}
	names, err := q.candidates(ctx, nameMs)
	if err != nil {
		return nil, q.s.wrap(err)
	}
	set := &seriesSet{}
	if names != nil && len(names) == 0 {
		return set, nil
	}
	// Lookups of labels read no points, so they may list more series than
	// a query may select.
	maxSeries := q.s.maxSeries
	if seriesOnly {
		maxSeries *= lookupFactor
	}
	rng := readRange(start, end)
	stored, err := q.s.q.PromSeries(ctx, query.PromSeriesQuery{Range: rng, Names: names, Limit: lookupFactor * q.s.maxSeries})
	if err != nil {
		return nil, q.s.wrap(err)
	}
	// Series of each type, with their labels, if they match.
	byType := map[string][]*converter{}
	storedOf := map[string]int{} // series of each type whose names match, selected or not
	outsOf := map[kindKey]map[output]string{}
	n := 0
	for i := range stored {
		st := &stored[i]
		k := kindKey{st.Name, st.Type, st.Unit, st.Monotonic}
		outs, ok := outsOf[k]
		if !ok {
			outs = q.variant(k).selected(nameMs)
			outsOf[k] = outs
		}
		if outs == nil {
			continue
		}
		storedOf[st.Type]++
		base := baseLabels(st)
		if !matchLabels(baseMs, base) {
			continue
		}
		if n++; n > maxSeries {
			return nil, q.s.tooManySeries(maxSeries)
		}
		byType[st.Type] = append(byType[st.Type], newConverter(st, outs, base, derivedMs))
	}
	outs := newMerger()
	budget := q.s.maxPoints // points left to read, over every type
	for typ, cs := range byType {
		if err := q.read(ctx, rng, typ, cs, storedOf[typ], seriesOnly, &budget); err != nil {
			return nil, err
		}
		for _, c := range cs {
			for _, o := range c.outputs() {
				outs.add(o)
			}
		}
	}
	set.series = outs.series()
	if len(set.series) > maxSeries {
		return nil, q.s.tooManySeries(maxSeries)
	}
	return set, nil
}

// read feeds the points of the series cs, all of type typ, to their
// converters; all is the number of stored series of their names and type.
// With seriesOnly it reads only the bounds that name their le and quantile
// series.
func (q *querier) read(ctx context.Context, rng query.TimeRange, typ string, cs []*converter, all int, seriesOnly bool, budget *int) error {
	var names []string
	seen := map[string]bool{}
	byID := make(map[uint64]*converter, len(cs))
	buckets := false
	for _, c := range cs {
		byID[c.id] = c
		if !seen[c.name] {
			seen[c.name] = true
			names = append(names, c.name)
		}
		buckets = buckets || c.wants(outBucket) || c.wants(outNative) || typ == telemetry.MetricSummary && c.wants(outValue)
	}
	if seriesOnly {
		if !buckets || typ == telemetry.MetricExponentialHistogram {
			for _, c := range cs {
				c.labelsOnly(nil)
			}
			return nil
		}
		bounds, err := q.s.q.PromBounds(ctx, rng, names, typ)
		if err != nil {
			return q.s.wrap(err)
		}
		for _, c := range cs {
			c.labelsOnly(bounds[c.id])
		}
		return nil
	}
	// When matchers dropped some of the names' series, a list of the others
	// spares reading and converting the dropped ones' points.
	var ids []uint64
	if len(cs) < all {
		for _, c := range cs {
			ids = append(ids, c.id)
		}
	}
	if *budget <= 0 {
		return q.s.tooManyPoints()
	}
	read := 0
	// Points come series by series: one lookup per series, not per point.
	var (
		cur    *converter
		curID  uint64
		looked bool
	)
	err := q.s.q.PromPoints(ctx, query.PromPointsQuery{Range: rng, Names: names, Type: typ, Series: ids, Buckets: buckets, Limit: *budget},
		func(p *query.PromPoint) error {
			read++
			if !looked || p.Series != curID {
				cur, curID, looked = byID[p.Series], p.Series, true
			}
			if cur != nil {
				cur.add(p)
			}
			return nil
		})
	*budget -= read
	if errors.Is(err, query.ErrInvalid) {
		return q.s.tooManyPoints()
	}
	return q.s.wrap(err)
}

// matchLabels reports whether ls satisfies every matcher; a missing label
// has the value "".
func matchLabels(ms []*labels.Matcher, ls labels.Labels) bool {
	for _, m := range ms {
		if !m.Matches(ls.Get(m.Name)) {
			return false
		}
	}
	return true
}

// LabelNames implements storage.Querier.
func (q *querier) LabelNames(ctx context.Context, hints *storage.LabelHints, matchers ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	set, err := q.labelSet(ctx, matchers)
	if err != nil {
		return nil, nil, err
	}
	seen := map[string]struct{}{}
	for _, s := range set.series {
		s.lset.Range(func(l labels.Label) { seen[l.Name] = struct{}{} })
	}
	return sortedLimit(seen, hints), nil, nil
}

// LabelValues implements storage.Querier.
func (q *querier) LabelValues(ctx context.Context, name string, hints *storage.LabelHints, matchers ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	seen := map[string]struct{}{}
	if name == labels.MetricName && onlyNames(matchers) {
		// The kinds of metric answer without reading any series.
		ms, err := q.s.q.PromMetrics(ctx, readRange(q.mint, q.maxt), q.s.maxMetrics)
		if err != nil {
			return nil, nil, q.s.wrap(err)
		}
		for _, m := range ms {
			for _, n := range newVariant(m).selected(matchers) {
				seen[n] = struct{}{}
			}
		}
		return sortedLimit(seen, hints), nil, nil
	}
	set, err := q.labelSet(ctx, matchers)
	if err != nil {
		return nil, nil, err
	}
	for _, s := range set.series {
		if v := s.lset.Get(name); v != "" {
			seen[v] = struct{}{}
		}
	}
	return sortedLimit(seen, hints), nil, nil
}

// labelSet selects the series of matchers, every series without them, over
// the querier's whole range, labels only.
func (q *querier) labelSet(ctx context.Context, matchers []*labels.Matcher) (*seriesSet, error) {
	return q.selectSeries(ctx, q.mint, q.maxt, true, matchers)
}

func onlyNames(ms []*labels.Matcher) bool {
	for _, m := range ms {
		if m.Name != labels.MetricName {
			return false
		}
	}
	return true
}

func sortedLimit(seen map[string]struct{}, hints *storage.LabelHints) []string {
	out := make([]string, 0, len(seen))
	for v := range seen {
		out = append(out, v)
	}
	slices.Sort(out)
	if hints != nil && hints.Limit > 0 && len(out) > hints.Limit {
		out = out[:hints.Limit]
	}
	return out
}

// Close implements storage.Querier.
func (q *querier) Close() error { return nil }

// ErrTooManySeries is returned (wrapped) when a selector matches more series
// than Options.MaxSeries.
var ErrTooManySeries = errors.New("too many series")

func (s *Storage) tooManySeries(limit int) error {
	return fmt.Errorf("%w: the selector matches more than %d series; add label matchers or narrow the time range",
		ErrTooManySeries, limit)
}

// ErrTooManyPoints is returned (wrapped) when a selector would read more
// points than Options.MaxPoints.
var ErrTooManyPoints = errors.New("too many points")

func (s *Storage) tooManyPoints() error {
	return fmt.Errorf("%w: the selector reads more than %d points; narrow the time range or add label matchers",
		ErrTooManyPoints, s.maxPoints)
}

// lookupFactor is how many more series than Options.MaxSeries a lookup of
// labels or series may list, and a selector may read before its label
// matchers apply.
const lookupFactor = 10

// wrap marks store failures other than the caller's limits as storage
// errors, which the API answers as internal errors rather than bad queries.
func (s *Storage) wrap(err error) error {
	if err == nil || errors.Is(err, query.ErrInvalid) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return err
	}
	return &StoreError{err}
}

// StoreError is a failure of the store itself.
type StoreError struct{ Err error }

func (e *StoreError) Error() string { return e.Err.Error() }
func (e *StoreError) Unwrap() error { return e.Err }
