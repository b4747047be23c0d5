package pipeline_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fibinc/telltale/internal/pipeline"
	"github.com/fibinc/telltale/internal/store/duckdb"
	"github.com/fibinc/telltale/internal/telemetry"
)

func logs(n int, t0 time.Time) *telemetry.Batch {
	b := &telemetry.Batch{}
	for i := range n {
		b.Logs = append(b.Logs, telemetry.Log{Resource: telemetry.Resource{ServiceName: "svc"}, Time: t0.Add(time.Duration(i)), Body: "x", Attributes: "{}"})
	}
	return b
}

func start(t testing.TB, opt pipeline.Options) (*pipeline.Pipeline, func()) {
	t.Helper()
	p := pipeline.New(opt)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.Run(ctx); close(done) }()
	return p, func() { cancel(); <-done }
}

// TestGroupCommit checks that concurrent appends against the real store are
// all committed, in fewer commits than appends.
func TestGroupCommit(t *testing.T) {
	st, err := duckdb.Open(context.Background(), duckdb.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var commits, records atomic.Int64
	p, stop := start(t, pipeline.Options{Writer: st, OnCommit: func(s telemetry.Signal, n int, _ time.Duration, err error) {
		if err != nil {
			t.Errorf("commit: %v", err)
		}
		commits.Add(1)
		records.Add(int64(n))
	}})
	const clients, per, size = 16, 20, 50
	var wg sync.WaitGroup
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range per {
				if err := p.Append(context.Background(), logs(size, time.Now().Add(time.Duration(c*per+i)*time.Millisecond))); err != nil {
					t.Errorf("Append: %v", err)
					return
				}
			}
		}()
	}
	wg.Wait()
	stop()
	rows, err := st.Query(context.Background(), "SELECT count(*) FROM logs")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var n int64
	rows.Next()
	rows.Scan(&n)
	if want := int64(clients * per * size); n != want || records.Load() != want {
		t.Errorf("stored %d, committed %d, want %d", n, records.Load(), want)
	}
	if c := commits.Load(); c >= clients*per {
		t.Errorf("%d commits for %d appends: no group commit", c, clients*per)
	}
	t.Logf("%d appends in %d commits", clients*per, commits.Load())
}

// blockingWriter holds every commit until release is closed.
type blockingWriter struct {
	release chan struct{}
	got     atomic.Int64
	err     error
}

func (w *blockingWriter) Write(ctx context.Context, b *telemetry.Batch) error {
	<-w.release
	w.got.Add(int64(b.Len()))
	return w.err
}

func TestOverloadAndDrain(t *testing.T) {
	w := &blockingWriter{release: make(chan struct{})}
	p, stop := start(t, pipeline.Options{Writer: w, QueueRecords: 100})

	results := make(chan error, 3)
	go func() { results <- p.Append(context.Background(), logs(60, time.Now())) }()
	waitDepth(t, p, 60)
	go func() { results <- p.Append(context.Background(), logs(30, time.Now())) }()
	waitDepth(t, p, 90)

	// 90 queued + 20 > 100: refused at once, not queued.
	err := p.Append(context.Background(), logs(20, time.Now()))
	if !errors.Is(err, pipeline.ErrOverloaded) {
		t.Fatalf("Append over capacity = %v, want ErrOverloaded", err)
	}
	if d := p.Depth(telemetry.SignalLogs); d != 90 {
		t.Errorf("depth after refusal = %d, want 90", d)
	}
	// Other signals have their own queue.
	go func() { results <- p.Append(context.Background(), &telemetry.Batch{Spans: make([]telemetry.Span, 5)}) }()

	close(w.release)
	for range 3 {
		if err := <-results; err != nil {
			t.Errorf("Append: %v", err)
		}
	}
	stop()
	if got := w.got.Load(); got != 95 {
		t.Errorf("writer got %d records, want 95", got)
	}
	if err := p.Append(context.Background(), logs(1, time.Now())); !errors.Is(err, pipeline.ErrStopped) {
		t.Errorf("Append after stop = %v, want ErrStopped", err)
	}
}

func TestCommitErrorReachesCaller(t *testing.T) {
	w := &blockingWriter{release: make(chan struct{}), err: fmt.Errorf("disk full")}
	close(w.release)
	p, stop := start(t, pipeline.Options{Writer: w})
	defer stop()
	if err := p.Append(context.Background(), logs(3, time.Now())); err == nil || err.Error() != "cannot commit 3 logs: disk full" {
		t.Errorf("Append = %v, want the commit error", err)
	}
}

func TestMixedSignals(t *testing.T) {
	w := &blockingWriter{release: make(chan struct{})}
	close(w.release)
	p, stop := start(t, pipeline.Options{Writer: w})
	b := logs(4, time.Now())
	b.Spans = make([]telemetry.Span, 3)
	b.Metrics = make([]telemetry.MetricPoint, 2)
	if err := p.Append(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	stop()
	if got := w.got.Load(); got != 9 {
		t.Errorf("writer got %d records, want 9", got)
	}
}

func waitDepth(t *testing.T, p *pipeline.Pipeline, want int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for p.Depth(telemetry.SignalLogs) != want {
		if time.Now().After(deadline) {
			t.Fatalf("depth = %d, want %d", p.Depth(telemetry.SignalLogs), want)
		}
		time.Sleep(time.Millisecond)
	}
}

// mergeWriter holds the first commit until release is closed, so that
// the appends made meanwhile queue up and are merged into the next one; it
// keeps every batch it commits.
type mergeWriter struct {
	release chan struct{}
	mu      sync.Mutex
	batches []*telemetry.Batch
}

func (w *mergeWriter) Write(_ context.Context, b *telemetry.Batch) error {
	w.mu.Lock()
	first := len(w.batches) == 0
	w.batches = append(w.batches, b)
	w.mu.Unlock()
	if first {
		<-w.release
	}
	return nil
}

// one returns a batch with one record of signal s.
func one(s telemetry.Signal) *telemetry.Batch {
	now := time.Now()
	switch s {
	case telemetry.SignalSpans:
		return &telemetry.Batch{Spans: []telemetry.Span{{Start: now}}}
	case telemetry.SignalLogs:
		return &telemetry.Batch{Logs: []telemetry.Log{{Time: now}}}
	case telemetry.SignalMetrics:
		return &telemetry.Batch{Metrics: []telemetry.MetricPoint{{Time: now}}}
	case telemetry.SignalErrors:
		return &telemetry.Batch{Errors: []telemetry.ErrorEvent{{Time: now}}}
	}
	panic("unknown signal " + s)
}

// TestMergedCommitsKeepEverySignal merges queued appends of every signal
// into one commit and checks that no record is lost in the merge.
func TestMergedCommitsKeepEverySignal(t *testing.T) {
	for _, s := range telemetry.Signals {
		t.Run(string(s), func(t *testing.T) {
			w := &mergeWriter{release: make(chan struct{})}
			p, stop := start(t, pipeline.Options{Writer: w})
			defer stop()
			var wg sync.WaitGroup
			appendOne := func() {
				defer wg.Done()
				if err := p.Append(context.Background(), one(s)); err != nil {
					t.Errorf("Append: %v", err)
				}
			}
			wg.Add(1)
			go appendOne()
			for len(w.snapshot()) == 0 { // the first commit has started
				time.Sleep(time.Millisecond)
			}
			for range 5 {
				wg.Add(1)
				go appendOne()
			}
			for p.Depth(s) != 6 { // the record being committed and five waiting
				time.Sleep(time.Millisecond)
			}
			close(w.release)
			wg.Wait()
			batches := w.snapshot()
			if len(batches) != 2 {
				t.Fatalf("%d commits, want 2", len(batches))
			}
			if n := batches[1].Count(s); n != 5 {
				t.Errorf("merged commit has %d %s, want 5", n, s)
			}
		})
	}
}

func (w *mergeWriter) snapshot() []*telemetry.Batch {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.batches)
}
