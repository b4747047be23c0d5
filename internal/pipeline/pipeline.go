// Package pipeline sits between the listeners and the store. It queues
// decoded records per signal and commits them in groups: every request that
// arrives while a commit is running joins the next one, so one commit (and
// one WAL sync) serves many requests. A request is acknowledged only after
// the commit holding its records succeeds.
//
// Queue policy: each signal's queue holds at most QueueRecords records, and
// all queues together at most QueueBytes bytes (an estimate of the records'
// size in memory). A batch that does not fit is refused at once with
// ErrOverloaded (the listeners answer 503 with Retry-After); nothing
// accepted is ever dropped.
//
// Append is also where the size limits of a record apply (Limits): every
// signal from every listener passes it.
package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fibinc/telltale/internal/telemetry"
)

// Writer commits batches durably; store.Store satisfies it.
type Writer interface {
	Write(ctx context.Context, b *telemetry.Batch) error
}

// Options configure a Pipeline. Only Writer is required.
type Options struct {
	Writer Writer
	// QueueRecords caps the records waiting per signal. Default 200,000.
	QueueRecords int
	// QueueBytes caps the estimated bytes of the records waiting, all
	// signals together. Default 256 MiB; negative: no cap.
	QueueBytes int64
	// Limits bound the fields of each record; the zero value applies the
	// defaults.
	Limits Limits
	// OnTruncate, if set, is called after Append cut something: n of what
	// (one of the Truncated* constants) in records of signal s.
	OnTruncate func(s telemetry.Signal, what string, n int)
	// MaxCommitRecords caps the records in one commit. Default 100,000.
	MaxCommitRecords int
	// CommitTimeout bounds one commit. Default 30s.
	CommitTimeout time.Duration
	// OnCommit, if set, is called after every commit, for metrics.
	OnCommit func(s telemetry.Signal, records int, took time.Duration, err error)
	Logger   *slog.Logger
}

// Pipeline queues and group-commits records. Create it with New, start Run,
// then call Append from any number of goroutines.
type Pipeline struct {
	opt    Options
	limits Limits
	lanes  map[telemetry.Signal]*lane
	log    *slog.Logger
	bytes  atomic.Int64 // estimated bytes queued in all lanes
}

// lane is the queue and committer of one signal.
type lane struct {
	signal  telemetry.Signal
	mu      sync.Mutex
	items   []*item
	queued  int // records in items
	stopped bool
	wake    chan struct{} // capacity 1: a pending wake-up
}

type item struct {
	b     *telemetry.Batch
	n     int
	bytes int64      // estimated size in memory
	done  chan error // capacity 1
}

// New returns a pipeline; it commits nothing until Run is called.
func New(opt Options) *Pipeline {
	if opt.QueueRecords <= 0 {
		opt.QueueRecords = 200_000
	}
	if opt.MaxCommitRecords <= 0 {
		opt.MaxCommitRecords = 100_000
	}
	if opt.QueueBytes == 0 {
		opt.QueueBytes = DefaultQueueBytes
	}
	if opt.CommitTimeout <= 0 {
		opt.CommitTimeout = 30 * time.Second
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	p := &Pipeline{opt: opt, limits: opt.Limits.withDefaults(), lanes: map[telemetry.Signal]*lane{}, log: opt.Logger.With("component", "pipeline")}
	for _, s := range telemetry.Signals {
		p.lanes[s] = &lane{signal: s, wake: make(chan struct{}, 1)}
	}
	return p
}

// DefaultQueueBytes is the default of Options.QueueBytes.
const DefaultQueueBytes = 256 << 20

// Append cuts the records of b to the limits (in place: b is handed over),
// queues them and waits until they are committed. It returns ErrOverloaded
// at once when a signal's queue or the bytes queued are full, ErrStopped
// after shutdown began, the commit's error, or ctx's error when ctx ends
// first (the records may still be committed then: delivery is at least
// once).
func (p *Pipeline) Append(ctx context.Context, b *telemetry.Batch) error {
	sizes := p.limit(b)
	parts := split(b, sizes)
	if len(parts) == 0 {
		return nil
	}
	var size int64
	for _, it := range parts {
		size += it.bytes
	}
	// Reserve room in every lane first, so a batch is queued whole or not at
	// all. Lanes are locked in the fixed order of telemetry.Signals.
	var locked []*lane
	unlock := func() {
		for _, l := range locked {
			l.mu.Unlock()
		}
	}
	for _, s := range telemetry.Signals {
		it, ok := parts[s]
		if !ok {
			continue
		}
		l := p.lanes[s]
		l.mu.Lock()
		locked = append(locked, l)
		if l.stopped {
			unlock()
			return ErrStopped
		}
		// An empty queue takes any batch, so an oversized one cannot wait forever.
		if l.queued > 0 && l.queued+it.n > p.opt.QueueRecords {
			unlock()
			return fmt.Errorf("%w: %d %s waiting", ErrOverloaded, l.queued, s)
		}
	}
	if !p.reserveBytes(size) {
		unlock()
		return fmt.Errorf("%w: %d bytes of records waiting", ErrOverloaded, p.bytes.Load())
	}
	for _, l := range locked {
		it := parts[l.signal]
		l.items = append(l.items, it)
		l.queued += it.n
		select {
		case l.wake <- struct{}{}:
		default:
		}
	}
	unlock()

	for _, it := range parts {
		select {
		case err := <-it.done:
			if err != nil {
				return err
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// reserveBytes takes n bytes of the queue's budget. An empty queue takes
// any batch, so that an oversized one cannot wait forever.
func (p *Pipeline) reserveBytes(n int64) bool {
	for {
		cur := p.bytes.Load()
		if p.opt.QueueBytes > 0 && cur > 0 && cur+n > p.opt.QueueBytes {
			return false
		}
		if p.bytes.CompareAndSwap(cur, cur+n) {
			return true
		}
	}
}

// limit applies the limits to b's records, reports what it cut, and
// returns the estimated size of each signal's records.
func (p *Pipeline) limit(b *telemetry.Batch) batchSizes {
	var sizes batchSizes
	for _, s := range telemetry.Signals {
		if b.Count(s) == 0 {
			continue
		}
		t := limiter{l: p.limits}
		var n int
		switch s {
		case telemetry.SignalSpans:
			n = t.spans(b.Spans)
		case telemetry.SignalLogs:
			n = t.logs(b.Logs)
		case telemetry.SignalMetrics:
			n = t.metrics(b.Metrics)
		case telemetry.SignalErrors:
			n = t.errors(b.Errors)
		}
		sizes.set(s, int64(n))
		if t.c.any() && p.opt.OnTruncate != nil {
			for _, c := range []struct {
				what string
				n    int
			}{{TruncatedAttribute, t.c.attributes}, {TruncatedKey, t.c.keys}, {TruncatedValue, t.c.values}, {TruncatedBody, t.c.bodies}} {
				if c.n > 0 {
					p.opt.OnTruncate(s, c.what, c.n)
				}
			}
		}
	}
	return sizes
}

// batchSizes are the estimated sizes of a batch's records per signal.
type batchSizes struct{ spans, logs, metrics, errors int64 }

func (z *batchSizes) field(s telemetry.Signal) *int64 {
	switch s {
	case telemetry.SignalSpans:
		return &z.spans
	case telemetry.SignalLogs:
		return &z.logs
	case telemetry.SignalMetrics:
		return &z.metrics
	}
	return &z.errors
}

func (z *batchSizes) set(s telemetry.Signal, n int64) { *z.field(s) = n }
func (z *batchSizes) get(s telemetry.Signal) int64    { return *z.field(s) }

func split(b *telemetry.Batch, sizes batchSizes) map[telemetry.Signal]*item {
	parts := map[telemetry.Signal]*item{}
	add := func(s telemetry.Signal, part *telemetry.Batch) {
		if n := part.Len(); n > 0 {
			parts[s] = &item{b: part, n: n, bytes: sizes.get(s), done: make(chan error, 1)}
		}
	}
	if len(b.Spans) == b.Len() || len(b.Logs) == b.Len() || len(b.Metrics) == b.Len() || len(b.Errors) == b.Len() {
		// The common case: one signal per request, no copy.
		for _, s := range telemetry.Signals {
			if b.Count(s) > 0 {
				add(s, b)
			}
		}
		return parts
	}
	add(telemetry.SignalSpans, &telemetry.Batch{Spans: b.Spans})
	add(telemetry.SignalLogs, &telemetry.Batch{Logs: b.Logs})
	add(telemetry.SignalMetrics, &telemetry.Batch{Metrics: b.Metrics})
	add(telemetry.SignalErrors, &telemetry.Batch{Errors: b.Errors})
	return parts
}

// Depth returns the number of records waiting for a commit.
func (p *Pipeline) Depth(s telemetry.Signal) int {
	l, ok := p.lanes[s]
	if !ok {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.queued
}

// QueuedBytes returns the estimated bytes of the records waiting for a
// commit, all signals together.
func (p *Pipeline) QueuedBytes() int64 { return p.bytes.Load() }

// Run commits queued records until ctx is cancelled. Then it refuses new
// batches, commits everything already queued and returns. Cancel ctx only
// after the listeners have stopped.
func (p *Pipeline) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, l := range p.lanes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.runLane(ctx, l)
		}()
	}
	wg.Wait()
	return nil
}

func (p *Pipeline) runLane(ctx context.Context, l *lane) {
	for {
		select {
		case <-l.wake:
		case <-ctx.Done():
			l.mu.Lock()
			l.stopped = true
			l.mu.Unlock()
			for p.commitNext(l) {
			}
			return
		}
		for p.commitNext(l) {
		}
	}
}

// commitNext commits the items at the head of the queue, up to
// MaxCommitRecords, and reports whether it found any.
func (p *Pipeline) commitNext(l *lane) bool {
	l.mu.Lock()
	var take, n int
	for take < len(l.items) && (take == 0 || n+l.items[take].n <= p.opt.MaxCommitRecords) {
		n += l.items[take].n
		take++
	}
	items := l.items[:take:take]
	l.items = l.items[take:]
	l.mu.Unlock()
	if take == 0 {
		return false
	}

	batch := items[0].b
	if len(items) > 1 {
		// Each item holds records of this lane's signal only.
		batch = &telemetry.Batch{}
		batch.Grow(l.signal, n)
		for _, it := range items {
			batch.Append(it.b)
		}
	}

	// The commit is not tied to any request: a client that went away must
	// not abort the commit of the others' records.
	ctx, cancel := context.WithTimeout(context.Background(), p.opt.CommitTimeout)
	start := time.Now()
	err := p.opt.Writer.Write(ctx, batch)
	took := time.Since(start)
	cancel()
	if err != nil {
		p.log.Error("commit failed", "signal", l.signal, "records", n, "err", err)
		err = fmt.Errorf("cannot commit %d %s: %w", n, l.signal, err)
	}
	if p.opt.OnCommit != nil {
		p.opt.OnCommit(l.signal, n, took, err)
	}

	var size int64
	for _, it := range items {
		size += it.bytes
	}
	l.mu.Lock()
	l.queued -= n
	l.mu.Unlock()
	p.bytes.Add(-size)
	for _, it := range items {
		it.done <- err
	}
	return true
}
