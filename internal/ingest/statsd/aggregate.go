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
)

// series is the aggregate of one series over the current interval (gauges:
// across intervals).
type series struct {
	meta  *seriesMeta
	typ   dec.Type
	value float64 // counters: sum of value/rate; gauges: current value
	// lastInterval is the interval in which a gauge was last set.
	lastInterval uint64
	dist         *distribution
	set          map[uint64]struct{}
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

	mu       sync.Mutex
	cur      map[uint64]*series // counters, sets, distributions of the interval
	gauges   map[uint64]*series // gauges, kept across intervals
	interval uint64             // number of the current interval
	start    time.Time          // start of the current interval
	rng      *rand.Rand         // reservoir sampling
	buf      []byte             // scratch for newMeta
	samples  int                // samples kept in the interval's reservoirs
	members  int                // members counted in the interval's sets
}

func newAggregator(opt *Options, start time.Time) *aggregator {
	return &aggregator{
		service:      opt.Service,
		maxSeries:    opt.MaxSeries,
		maxSamples:   opt.MaxSamples,
		ttlIntervals: uint64(opt.GaugeTTL / opt.FlushInterval),
		sampleBudget: maxSamplesTotal,
		memberBudget: maxMembersTotal,
		cur:          map[uint64]*series{},
		gauges:       map[uint64]*series{},
		start:        start,
		rng:          rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())),
	}
}

// add aggregates one parsed line. It returns a rejection reason, or "".
func (a *aggregator) add(m *dec.Metric) string {
	key := seriesKey(m)
	a.mu.Lock()
	defer a.mu.Unlock()
	all := a.cur
	if m.Type == dec.Gauge {
		all = a.gauges
	}
	s := all[key]
	if s == nil {
		if len(a.cur)+len(a.gauges) >= a.maxSeries {
			return reasonCardinality
		}
		s = &series{typ: m.Type}
		s.meta, a.buf = newMeta(m, a.service, a.buf)
		switch {
		case m.Type == dec.Set:
			s.set = map[uint64]struct{}{}
		case isDistribution(m.Type):
			s.dist = &distribution{}
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
			return reasonSetTooLarge
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
	return ""
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
	cur, start := a.cur, a.start
	a.cur = make(map[uint64]*series, len(cur))
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

	n := len(gauges)
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
