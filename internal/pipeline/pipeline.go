// Package pipeline sits between the listeners and the store. It queues
// decoded records per signal and commits them in groups: every request that
// arrives while a commit is running joins the next one, so one commit (and
// one WAL sync) serves many requests. A request is acknowledged only after
// the commit holding its records succeeds.
//
// Queue policy: each signal's queue holds at most QueueRecords records.
// A batch that does not fit is refused at once with ErrOverloaded (the
// listeners answer 503 with Retry-After); nothing accepted is ever dropped.
package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
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
	opt   Options
	lanes map[telemetry.Signal]*lane
	log   *slog.Logger
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
	b    *telemetry.Batch
	n    int
	done chan error // capacity 1
}

// New returns a pipeline; it commits nothing until Run is called.
func New(opt Options) *Pipeline {
	if opt.QueueRecords <= 0 {
		opt.QueueRecords = 200_000
	}
	if opt.MaxCommitRecords <= 0 {
		opt.MaxCommitRecords = 100_000
	}
	if opt.CommitTimeout <= 0 {
		opt.CommitTimeout = 30 * time.Second
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	p := &Pipeline{opt: opt, lanes: map[telemetry.Signal]*lane{}, log: opt.Logger.With("component", "pipeline")}
	for _, s := range telemetry.Signals {
		p.lanes[s] = &lane{signal: s, wake: make(chan struct{}, 1)}
	}
	return p
}

// Append queues b and waits until its records are committed. It returns
// ErrOverloaded at once when a signal's queue is full, ErrStopped after
// shutdown began, the commit's error, or ctx's error when ctx ends first
// (the records may still be committed then: delivery is at least once).
func (p *Pipeline) Append(ctx context.Context, b *telemetry.Batch) error {
	parts := split(b)
	if len(parts) == 0 {
		return nil
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

func split(b *telemetry.Batch) map[telemetry.Signal]*item {
	parts := map[telemetry.Signal]*item{}
	add := func(s telemetry.Signal, part *telemetry.Batch) {
		if n := part.Len(); n > 0 {
			parts[s] = &item{b: part, n: n, done: make(chan error, 1)}
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

	l.mu.Lock()
	l.queued -= n
	l.mu.Unlock()
	for _, it := range items {
		it.done <- err
	}
	return true
}
