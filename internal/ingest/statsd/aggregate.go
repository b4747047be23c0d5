package statsd

import (
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"sync"
	"time"

	dec "github.com/fibinc/telltale/internal/decode/statsd"
	"github.com/fibinc/telltale/internal/telemetry"
)

// bucketBounds are the explicit histogram bounds of timers, histograms and
// distributions: roughly 1-2.5-5 steps from half a millisecond to a minute,
// which covers request latencies when values are milliseconds, as StatsD
// timers are.
var bucketBounds = [...]float64{0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000}

// quantiles are those of the summary point of a distribution.
var quantiles = []float64{0.5, 0.9, 0.95, 0.99}

// Memory bounds per interval. A set counts at most maxSetMembers distinct
// members, and all sets together maxMembers; members beyond are not counted
// (reason set_too_large). Members are kept as 64-bit hashes (about 40 bytes
// each in a map). Distributions together keep at most maxSamples samples for
// quantiles (32 MiB); once it is reached, reservoirs stop growing and only
// replace samples, so quantiles stay unbiased but come from fewer samples.
const (
	maxSetMembers   = 100_000
	maxMembersTotal = 2_000_000
	maxSamplesTotal = 4 << 20
)

// Rejection reasons of the aggregator, beside the parser's.
const (
	reasonCardinality = "cardinality"
	reasonSetTooLarge = "set_too_large"
	reasonTooOld      = "too_old"
	reasonTooNew      = "too_new"
)

// series is the aggregate of one series over the current interval (gauges:
// across intervals).
type series struct {
	meta  *seriesMeta
	typ   dec.Type
	value float64 // counters: sum of value/rate; gauges: current value
	// lastInterval is the interval in which a gauge was last set.
	lastInterval uint64
	// ts is the |T time of a timestamped counter or gauge, Unix seconds.
	ts   int64
	dist *distribution
	set  map[uint64]struct{}
}

// distribution aggregates the samples of a timer, histogram or distribution.
// Counts are weighted by 1/rate, so they estimate what the client saw.
type distribution struct {
	count, sum float64
	min, max   float64
	buckets    [len(bucketBounds) + 1]float64
	samples    []float64 // reservoir of at most MaxSamples
	seen       uint64    // samples offered to the reservoir
}

// aggregator holds the series of the current interval. Readers add to it
// under mu; a flush swaps the interval's map out under mu and builds points
// outside it, so readers wait only for the swap.
type aggregator struct {
	service      string
	maxSeries    int
	maxSamples   int
	ttlIntervals uint64 // intervals an idle gauge is kept and re-emitted
	// Budgets per interval: maxSamplesTotal and maxMembersTotal, fields so
	// that tests can lower them.
	sampleBudget, memberBudget int

	limiter SeriesLimiter // nil: no per-metric limit

	mu     sync.Mutex
	cur    map[uint64]*series // counters, sets, distributions of the interval
	gauges map[uint64]*series // gauges, kept across intervals
	// stamped holds the timestamped counters and gauges of the interval,
	// one per series and |T second.
	stamped  map[stampKey]*series
	interval uint64     // number of the current interval
	start    time.Time  // start of the current interval
	rng      *rand.Rand // reservoir sampling
	buf      []byte     // scratch for newMeta
	samples  int        // samples kept in the interval's reservoirs
	members  int        // members counted in the interval's sets
}

func newAggregator(opt *Options, start time.Time) *aggregator {
	return &aggregator{
		service:      opt.Service,
		maxSeries:    opt.MaxSeries,
		maxSamples:   opt.MaxSamples,
		ttlIntervals: uint64(opt.GaugeTTL / opt.FlushInterval),
		sampleBudget: maxSamplesTotal,
		memberBudget: maxMembersTotal,
		limiter:      opt.Series,
		cur:          map[uint64]*series{},
		gauges:       map[uint64]*series{},
		stamped:      map[stampKey]*series{},
		start:        start,
		rng:          rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())),
	}
}

// stampKey identifies a timestamped counter or gauge: its series and its
// |T second.
type stampKey struct {
	key uint64
	ts  int64
}

// add aggregates one parsed line. It returns a rejection reason and error,
// or "" and nil. minT and maxT, when not zero, bound the |T timestamps
// accepted.
func (a *aggregator) add(m *dec.Metric, minT, maxT time.Time) (string, error) {
	key := seriesKey(m)
	if m.Timestamp != 0 && (m.Type == dec.Counter || m.Type == dec.Gauge) {
		return a.addStamped(m, key, minT, maxT)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	all := a.cur
	if m.Type == dec.Gauge {
		all = a.gauges
	}
	s := all[key]
	if s == nil {
		var err error
		if s, err = a.newSeries(m); err != nil {
			return reasonCardinality, err
		}
		all[key] = s
	}
	switch m.Type {
	case dec.Counter:
		for _, v := range m.Values {
			s.value += v.Num / m.Rate
		}
	case dec.Gauge:
		for _, v := range m.Values {
			if v.Delta {
				s.value += v.Num
			} else {
				s.value = v.Num
			}
		}
		s.lastInterval = a.interval
	case dec.Set:
		full := false
		for _, v := range m.Values {
			h := memberHash(v.Str)
			if _, ok := s.set[h]; ok {
				continue
			}
			if len(s.set) >= maxSetMembers || a.members >= a.memberBudget {
				full = true
				continue
			}
			s.set[h] = struct{}{}
			a.members++
		}
		if full {
			return reasonSetTooLarge, errSetTooLarge
		}
	default:
		for _, v := range m.Values {
			limit := a.maxSamples
			if a.samples >= a.sampleBudget {
				// Out of budget: the reservoir keeps its size (at least one
				// sample, so the bound is exceeded by at most MaxSeries).
				limit = max(len(s.dist.samples), 1)
			}
			if s.dist.add(v.Num, 1/m.Rate, limit, a.rng) {
				a.samples++
			}
		}
	}
	return "", nil
}

// newSeries creates the aggregate of a line's new series, or refuses it
// when MaxSeries series are held or its metric is at its series limit. The
// lock is held.
func (a *aggregator) newSeries(m *dec.Metric) (*series, error) {
	if len(a.cur)+len(a.gauges)+len(a.stamped) >= a.maxSeries {
		return nil, errCardinality
	}
	s := &series{typ: m.Type}
	s.meta, a.buf = newMeta(m, a.service, a.buf)
	if a.limiter != nil {
		if !a.limiter.Admit(s.meta.name, s.meta.id) ||
			s.meta.summaryID != 0 && !a.limiter.Admit(s.meta.name+summarySuffix, s.meta.summaryID) {
			return nil, &seriesLimitError{s.meta.name, a.limiter.Limit()}
		}
	}
	switch {
	case m.Type == dec.Set:
		s.set = map[uint64]struct{}{}
	case isDistribution(m.Type):
		s.dist = &distribution{}
	}
	return s, nil
}

// addStamped adds a counter or gauge line with a |T timestamp. As the
// Datadog Agent does, it is not aggregated into the interval: it becomes a
// point of its own at its time. Lines of one series and second within an
// interval make one point, counters summed and gauges keeping the last
// value, so that a series never has two points at one time; a gauge's sign
// is part of its value (there is no previous value to add it to), and a
// timestamped gauge does not change the gauge the interval reports.
func (a *aggregator) addStamped(m *dec.Metric, key uint64, minT, maxT time.Time) (string, error) {
	t := time.Unix(m.Timestamp, 0)
	switch {
	case !minT.IsZero() && t.Before(minT):
		return reasonTooOld, errTooOld
	case !maxT.IsZero() && t.After(maxT):
		return reasonTooNew, errTooNew
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	sk := stampKey{key, m.Timestamp}
	s := a.stamped[sk]
	if s == nil {
		var err error
		if s, err = a.newSeries(m); err != nil {
			return reasonCardinality, err
		}
		s.ts = m.Timestamp
		a.stamped[sk] = s
	}
	for _, v := range m.Values {
		if m.Type == dec.Counter {
			s.value += v.Num / m.Rate
		} else {
			s.value = v.Num
		}
	}
	return "", nil
}

// add adds a sample; it reports whether the reservoir grew.
func (d *distribution) add(v, weight float64, limit int, rng *rand.Rand) bool {
	if d.seen == 0 || v < d.min {
		d.min = v
	}
	if d.seen == 0 || v > d.max {
		d.max = v
	}
	d.count += weight
	d.sum += v * weight
	d.buckets[sort.SearchFloat64s(bucketBounds[:], v)] += weight
	d.seen++
	// Algorithm R: every sample offered has the same chance to be kept.
	if len(d.samples) < limit {
		d.samples = append(d.samples, v)
		return true
	}
	if j := rng.Uint64N(d.seen); j < uint64(len(d.samples)) {
		d.samples[j] = v
	}
	return false
}

// gaugeValue is a gauge's value copied under the lock.
type gaugeValue struct {
	meta  *seriesMeta
	value float64
}

// flush ends the current interval at now and returns its points.
func (a *aggregator) flush(now time.Time) []telemetry.MetricPoint {
	a.mu.Lock()
	cur, start, stamped := a.cur, a.start, a.stamped
	a.cur = make(map[uint64]*series, len(cur))
	if len(stamped) > 0 {
		a.stamped = map[stampKey]*series{}
	}
	a.start = now
	a.samples, a.members = 0, 0
	gauges := make([]gaugeValue, 0, len(a.gauges))
	for k, s := range a.gauges {
		if a.interval-s.lastInterval > a.ttlIntervals {
			delete(a.gauges, k)
			continue
		}
		gauges = append(gauges, gaugeValue{s.meta, s.value})
	}
	a.interval++
	a.mu.Unlock()

	// Gauges held across intervals are admitted once, when created: each
	// flush tells the limiter they are still active.
	if a.limiter != nil {
		for _, g := range gauges {
			a.limiter.Admit(g.meta.name, g.meta.id)
		}
	}
	n := len(gauges) + len(stamped)
	for _, s := range cur {
		n++
		if s.dist != nil {
			n++
		}
	}
	points := make([]telemetry.MetricPoint, 0, n)
	// One copy of the shared slices per flush, so that no point aliases
	// the package's tables.
	bounds, qs := slices.Clone(bucketBounds[:]), slices.Clone(quantiles)
	for _, g := range gauges {
		points = append(points, point(g.meta, telemetry.MetricGauge, now))
		points[len(points)-1].Value = g.value
	}
	for _, s := range stamped {
		if s.typ == dec.Counter {
			// The interval a timestamped count covers is not known: no
			// start time.
			p := point(s.meta, telemetry.MetricSum, time.Unix(s.ts, 0).UTC())
			p.Temporality, p.Monotonic, p.Value = telemetry.TemporalityDelta, true, s.value
			points = append(points, p)
			continue
		}
		p := point(s.meta, telemetry.MetricGauge, time.Unix(s.ts, 0).UTC())
		p.Value = s.value
		points = append(points, p)
	}
	for _, s := range cur {
		switch s.typ {
		case dec.Counter:
			p := point(s.meta, telemetry.MetricSum, now)
			p.Temporality, p.Monotonic, p.StartTime, p.Value = telemetry.TemporalityDelta, true, start, s.value
			points = append(points, p)
		case dec.Set:
			p := point(s.meta, telemetry.MetricGauge, now)
			p.Value = float64(len(s.set))
			points = append(points, p)
		default:
			ps := s.dist.points(s.meta, start, now, bounds, qs)
			points = append(points, ps[:]...)
		}
	}
	return points
}

func point(meta *seriesMeta, typ string, now time.Time) telemetry.MetricPoint {
	return telemetry.MetricPoint{
		Resource:   meta.res,
		Scope:      telemetry.Scope{Name: Source},
		Name:       meta.name,
		Unit:       meta.unit,
		Type:       typ,
		SeriesID:   meta.id,
		Attributes: meta.attrs,
		Time:       now,
	}
}

// points returns the histogram point and the summary point of a
// distribution. Weighted bucket counts are rounded one by one, and the count
// is their sum, so that the buckets always add up to the count.
func (d *distribution) points(meta *seriesMeta, start, now time.Time, bounds, qs []float64) [2]telemetry.MetricPoint {
	h := point(meta, telemetry.MetricHistogram, now)
	h.Temporality, h.StartTime = telemetry.TemporalityDelta, start
	h.Sum, h.HasMin, h.Min, h.HasMax, h.Max = d.sum, true, d.min, true, d.max
	h.BucketBounds, h.BucketCounts = bounds, make([]uint64, len(d.buckets))
	for i, w := range d.buckets {
		h.BucketCounts[i] = uint64(math.Round(w))
		h.Count += h.BucketCounts[i]
	}

	// A summary is cumulative in Telltale's model; a start time equal to
	// the interval start makes each point a fresh stream whose count and
	// sum are those of the interval.
	s := point(meta, telemetry.MetricSummary, now)
	s.Name, s.SeriesID = meta.name+summarySuffix, meta.summaryID
	s.StartTime, s.Count, s.Sum = start, h.Count, d.sum
	slices.Sort(d.samples)
	s.Quantiles, s.QuantileValues = qs, make([]float64, len(qs))
	for i, q := range qs {
		s.QuantileValues[i] = nearestRank(d.samples, q)
	}
	return [2]telemetry.MetricPoint{h, s}
}

// nearestRank returns the q-quantile of sorted samples by the nearest-rank
// method: the smallest sample with at least q of the samples at or below it.
// It is always one of the samples.
func nearestRank(sorted []float64, q float64) float64 {
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}
