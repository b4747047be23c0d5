// Package cardinality bounds the number of active series of each metric
// name, for every metric source (OTLP over HTTP and gRPC, StatsD): a series
// is a metric point's SeriesID, and it is active while it has received a
// point within the window (default one hour). A point of a series already
// active is always admitted; a point of a new series is admitted only while
// its metric has fewer than the limit of active series (default 10,000).
//
// The limit protects queries and storage from a label that takes unbounded
// values (a user id, a request id, a timestamp): without it, one such label
// makes every query over the metric read millions of series. Rejecting the
// new series rather than the metric keeps the existing series whole.
//
// The count survives restarts by seeding: at start, the caller feeds Seed
// the series the store holds for the last window.
package cardinality

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of Options.
const (
	DefaultMaxSeriesPerMetric = 10_000
	DefaultWindow             = time.Hour
)

// shardCount spreads the metrics over locks, so that concurrent requests
// of different metrics rarely wait for one another.
const shardCount = 32

// Options configure a Limiter. The zero value limits every metric to
// DefaultMaxSeriesPerMetric series active within DefaultWindow.
type Options struct {
	// MaxSeriesPerMetric is the number of active series a metric name may
	// have; points of further series are rejected. Zero means
	// DefaultMaxSeriesPerMetric; a negative value turns the limit off (series
	// are then still counted, for Series).
	MaxSeriesPerMetric int
	// Window is how long a series counts as active after its last point.
	// Default one hour.
	Window time.Duration
	// Now returns the current time; default time.Now. For tests.
	Now func() time.Time
}

// Limiter counts the active series of each metric name and admits or
// rejects the points of new ones. It is safe for concurrent use.
type Limiter struct {
	max    int   // 0: no limit
	window int64 // seconds
	now    func() time.Time
	seed   maphash.Seed
	shards [shardCount]shard

	total     atomic.Int64 // active series counted, all metrics
	nextSweep atomic.Int64 // Unix seconds of the next sweep of every metric
}

type shard struct {
	mu      sync.Mutex
	metrics map[string]*metric
}

// metric holds the active series of one name.
type metric struct {
	lastSeen map[uint64]int64 // Unix seconds of each series' last point
	// prunedAt is when idle series were last forgotten, so that a metric
	// at its limit does not scan its series for every rejected point.
	prunedAt int64
}

// New returns a Limiter.
func New(opt Options) *Limiter {
	if opt.MaxSeriesPerMetric == 0 {
		opt.MaxSeriesPerMetric = DefaultMaxSeriesPerMetric
	}
	if opt.Window <= 0 {
		opt.Window = DefaultWindow
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	l := &Limiter{max: max(opt.MaxSeriesPerMetric, 0), window: max(int64(opt.Window/time.Second), 1), now: opt.Now, seed: maphash.MakeSeed()}
	for i := range l.shards {
		l.shards[i].metrics = map[string]*metric{}
	}
	l.nextSweep.Store(opt.Now().Unix() + l.window)
	return l
}

// Limit is the number of active series a metric may have; 0 means no limit.
func (l *Limiter) Limit() int { return l.max }

// Series is the number of active series counted over every metric.
func (l *Limiter) Series() int { return int(l.total.Load()) }

func (l *Limiter) shard(name string) *shard {
	return &l.shards[maphash.String(l.seed, name)%shardCount]
}

// Admit reports whether a point of series id of metric name may be stored,
// and counts the series as active now when it may.
func (l *Limiter) Admit(name string, id uint64) bool {
	now := l.now().Unix()
	sh := l.shard(name)
	sh.mu.Lock()
	m := sh.metrics[name]
	if m == nil {
		m = &metric{lastSeen: map[uint64]int64{}, prunedAt: now}
		sh.metrics[name] = m
	}
	if last, ok := m.lastSeen[id]; ok {
		if last < now {
			m.lastSeen[id] = now
		}
		sh.mu.Unlock()
		return true
	}
	if l.max > 0 && len(m.lastSeen) >= l.max {
		// At the limit: series idle beyond the window free their places,
		// looked for at most once every hundredth of the window.
		if now-m.prunedAt >= max(l.window/100, 1) {
			l.prune(m, now)
		}
		if len(m.lastSeen) >= l.max {
			sh.mu.Unlock()
			return false
		}
	}
	m.lastSeen[id] = now
	sh.mu.Unlock()
	l.total.Add(1)
	l.maybeSweep(now)
	return true
}

// Seed counts series id of metric name as active since its last point at
// last, whatever the limit, unless last is beyond the window. It is for
// restoring the count at start from the stored points.
func (l *Limiter) Seed(name string, id uint64, last time.Time) {
	t := last.Unix()
	if t < l.now().Unix()-l.window {
		return
	}
	sh := l.shard(name)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	m := sh.metrics[name]
	if m == nil {
		m = &metric{lastSeen: map[uint64]int64{}, prunedAt: t}
		sh.metrics[name] = m
	}
	prev, ok := m.lastSeen[id]
	if !ok {
		l.total.Add(1)
	}
	if !ok || t > prev {
		m.lastSeen[id] = t
	}
}

// prune forgets the series of m idle beyond the window; the shard's lock
// is held.
func (l *Limiter) prune(m *metric, now int64) {
	m.prunedAt = now
	n := 0
	for id, last := range m.lastSeen {
		if last < now-l.window {
			delete(m.lastSeen, id)
			n++
		}
	}
	l.total.Add(-int64(n))
}

// maybeSweep prunes every metric once per window, so that series and names
// no longer sent free their memory even when their metric is below its
// limit. Only new series trigger it: without them nothing grows.
func (l *Limiter) maybeSweep(now int64) {
	next := l.nextSweep.Load()
	if now < next || !l.nextSweep.CompareAndSwap(next, now+l.window) {
		return
	}
	for i := range l.shards {
		sh := &l.shards[i]
		sh.mu.Lock()
		for name, m := range sh.metrics {
			l.prune(m, now)
			if len(m.lastSeen) == 0 {
				delete(sh.metrics, name)
			}
		}
		sh.mu.Unlock()
	}
}
