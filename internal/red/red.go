// Package red defines the pre-aggregated RED (rate, errors, duration)
// statistics of spans, which let dashboards over days read thousands of rows
// instead of millions of spans: the key each span is counted under, the
// log-linear duration histogram, and the percentile estimate drawn from it.
//
// The store aggregates every batch of spans it writes with an Aggregator,
// in the same transaction as the spans; the query package reads the rows
// back and estimates percentiles with Quantile. See docs/design/storage.md,
// "RED aggregates".
package red

import (
	"math"
	"math/bits"
	"slices"
	"time"

	"github.com/fibinc/telltale/internal/telemetry"
)

// Histogram buckets are log-linear: each power of two is cut into
// SubBuckets equal parts, and durations below 2*SubBuckets nanoseconds have
// a bucket each. Bucket i >= 2*SubBuckets of exponent e = i/SubBuckets + 2
// and part j = i%SubBuckets holds [(8+j)<<(e-3), (9+j)<<(e-3)) nanoseconds.
// Integer arithmetic alone places a duration, so Go and SQL agree exactly.
const (
	// SubBits is log2 of SubBuckets.
	SubBits = 3
	subBits = SubBits
	// SubBuckets is the number of buckets per power of two.
	SubBuckets = 1 << subBits
	// MaxDuration is the longest duration the histogram tells apart, about
	// 13 days; longer ones count in the last bucket.
	MaxDuration = 1<<50 - 1
	// Buckets is the number of histogram buckets: Index(MaxDuration) is
	// the last.
	Buckets = (50 - subBits + 1) * SubBuckets
	// MaxRelativeError bounds the relative error of Value against any
	// duration in its bucket, and so of Quantile against the exact
	// percentile: sqrt(9/8)-1, at the widest buckets, j = 0.
	MaxRelativeError = 0.0607
)

// Index returns the histogram bucket of a duration in nanoseconds. Negative
// durations count as zero.
func Index(ns int64) int {
	switch {
	case ns < 2*SubBuckets:
		return int(max(ns, 0))
	case ns > MaxDuration:
		ns = MaxDuration
	}
	e := bits.Len64(uint64(ns)) - 1 // ns in [2^e, 2^(e+1)), e >= subBits+1
	return (e-subBits+1)*SubBuckets + int(ns>>(e-subBits)) - SubBuckets
}

// Bounds returns the durations [lo, hi) in nanoseconds of bucket i.
func Bounds(i int) (lo, hi int64) {
	if i < 2*SubBuckets {
		return int64(i), int64(i) + 1
	}
	e := i/SubBuckets + subBits - 1
	j := int64(i % SubBuckets)
	return (SubBuckets + j) << (e - subBits), (SubBuckets + j + 1) << (e - subBits)
}

// Value returns the duration in nanoseconds that stands for bucket i: the
// duration itself for the buckets of one nanosecond, else the geometric
// mean of the bounds, which is within MaxRelativeError of every duration
// in the bucket.
func Value(i int) float64 {
	lo, hi := Bounds(i)
	if hi-lo == 1 {
		return float64(lo)
	}
	return math.Sqrt(float64(lo) * float64(hi))
}

// Rank returns the 0-based ranks whose values quantile_cont interpolates
// between for the p-quantile of n values, k and k+1, and the weight of the
// second: the p-quantile is x[k] + frac*(x[k+1]-x[k]).
func Rank(n int64, p float64) (k int64, frac float64) {
	h := float64(n-1) * p
	k = int64(math.Floor(h))
	return k, h - float64(k)
}

// Quantiles estimates the p-quantiles (0..1) of the durations of a
// histogram as DuckDB's quantile_cont computes them from the durations, with
// each duration replaced by the Value of its bucket: within
// MaxRelativeError of the exact ones. It sorts hist, whose bins have
// distinct indexes and positive counts, and returns the number of
// durations; the quantiles are 0 when there are none.
func Quantiles(hist []Bin, ps []float64) (n int64, qs []float64) {
	slices.SortFunc(hist, func(a, b Bin) int { return int(a.Index) - int(b.Index) })
	for _, b := range hist {
		n += b.Count
	}
	qs = make([]float64, len(ps))
	if n == 0 {
		return 0, qs
	}
	for i, p := range ps {
		k, frac := Rank(n, p)
		// The values of rank k and k+1 lie in the first buckets whose
		// running count passes k and k+1.
		var cum int64
		lo, hi := -1, -1
		for _, b := range hist {
			cum += b.Count
			if lo < 0 && cum > k {
				lo = int(b.Index)
			}
			if cum > k+1 {
				hi = int(b.Index)
				break
			}
		}
		if hi < 0 { // k+1 is past the end, and frac 0
			hi = lo
		}
		a, b := Value(lo), Value(hi)
		qs[i] = a + frac*(b-a)
	}
	return n, qs
}

// Key is what a row of aggregates counts spans by, besides time.
type Key struct {
	Service     string
	Operation   string // span name of request candidates, else ""
	Kind        string
	Environment string
	Version     string
	Root        bool // no parent span
	Error       bool // status error
}

// Candidate reports whether a span of this kind, root or not, can be a
// request: server and consumer spans and roots. The query package picks a
// service's requests among them.
func Candidate(kind string, root bool) bool {
	return root || kind == "server" || kind == "consumer"
}

// KeyOf returns the key a span counts under. Only request candidates keep
// their name: no query groups other spans by name, and their names (SQL
// statements, URLs) are the ones most often unbounded.
func KeyOf(sp *telemetry.Span) Key {
	k := Key{
		Service: sp.ServiceName, Kind: sp.Kind, Environment: sp.Environment, Version: sp.ServiceVersion,
		Root: sp.ParentSpanID == "", Error: sp.StatusCode == "error",
	}
	if Candidate(k.Kind, k.Root) {
		k.Operation = sp.Name
	}
	return k
}

// Level is a table of aggregates: the width of its time buckets and
// whether its key keeps the operation and version or only the service.
type Level struct {
	Table string
	Width time.Duration
	// ServiceOnly rows leave Operation and Version empty: a service has a
	// few rows per bucket instead of one per operation, which is what the
	// service-wide queries of days need.
	ServiceOnly bool
}

// Levels returns the tables of aggregates, the first being the one spans
// are counted into and every other one its rollup. Widths divide a day, and
// each divides the larger ones.
func Levels() []Level {
	return []Level{
		{Table: "red_minutes", Width: time.Minute},
		{Table: "red_hours", Width: time.Hour},
		{Table: "red_service_5m", Width: 5 * time.Minute, ServiceOnly: true},
		{Table: "red_service_hours", Width: time.Hour, ServiceOnly: true},
	}
}

// Of returns the key that k counts under at level l.
func (l Level) Of(k Key) Key {
	if l.ServiceOnly {
		k.Operation, k.Version = "", ""
	}
	return k
}

// Rollup sums rows of a finer level into l.
func (l Level) Rollup(rows []Row) []Row {
	a := NewAggregator(l.Width)
	for i := range rows {
		r := &rows[i]
		us := r.Bucket.UnixMicro()
		a.add(rowKey{floorDiv(us, a.width) * a.width, l.Of(r.Key)}, r.Count, r.SumNs, r.Hist)
	}
	return a.Rows()
}

// Bin is one non-empty histogram bucket.
type Bin struct {
	Index int16
	Count int64
}

// Row is the statistics of the spans of one key starting in one time
// bucket. Several rows may hold the same bucket and key; readers sum them.
type Row struct {
	Bucket time.Time // start of the bucket, UTC
	Key
	Count int64 // spans
	SumNs int64 // sum of their durations, saturating
	Hist  []Bin // by Index, every Count > 0; the counts add up to Count
}

// Aggregator sums spans into rows of one bucket width.
type Aggregator struct {
	width int64 // microseconds
	index map[rowKey]int
	rows  []Row
}

type rowKey struct {
	bucket int64 // microseconds since the epoch
	Key
}

// NewAggregator returns an aggregator into buckets of width, a whole number
// of microseconds that divides a day.
func NewAggregator(width time.Duration) *Aggregator {
	return &Aggregator{width: width.Microseconds(), index: map[rowKey]int{}}
}

// Add counts a span in the bucket of its start, truncated to microseconds
// as the store keeps it.
func (a *Aggregator) Add(sp *telemetry.Span) {
	us := sp.Start.UnixMicro()
	r := a.row(rowKey{floorDiv(us, a.width) * a.width, KeyOf(sp)})
	r.Count++
	r.SumNs = addSat(r.SumNs, int64(sp.Duration))
	r.addBin(Bin{int16(Index(int64(sp.Duration))), 1})
}

func (a *Aggregator) add(k rowKey, n, sum int64, hist []Bin) {
	r := a.row(k)
	r.Count += n
	r.SumNs = addSat(r.SumNs, sum)
	for _, b := range hist {
		r.addBin(b)
	}
}

// row returns the row of k, adding it if needed.
func (a *Aggregator) row(k rowKey) *Row {
	i, ok := a.index[k]
	if !ok {
		i = len(a.rows)
		a.index[k] = i
		a.rows = append(a.rows, Row{Bucket: time.UnixMicro(k.bucket).UTC(), Key: k.Key})
	}
	return &a.rows[i]
}

// addBin adds b to the histogram, keeping it sorted.
func (r *Row) addBin(b Bin) {
	j := len(r.Hist)
	for j > 0 && r.Hist[j-1].Index >= b.Index {
		j--
	}
	if j < len(r.Hist) && r.Hist[j].Index == b.Index {
		r.Hist[j].Count += b.Count
		return
	}
	r.Hist = slices.Insert(r.Hist, j, b)
}

// Rows returns the rows summed so far, in the order their keys first came.
func (a *Aggregator) Rows() []Row { return a.rows }

// Len returns the number of rows.
func (a *Aggregator) Len() int { return len(a.rows) }

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// addSat adds without wrapping around: a sum of durations past 292 years
// sticks at the limit.
func addSat(a, b int64) int64 {
	s := a + b
	switch {
	case a > 0 && b > 0 && s < 0:
		return math.MaxInt64
	case a < 0 && b < 0 && s >= 0:
		return math.MinInt64
	}
	return s
}
