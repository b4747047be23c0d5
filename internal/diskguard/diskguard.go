// Package diskguard keeps ingest from filling the disk of the data
// directory. A Guard watches the free space (statfs, at most once a
// second) and refuses ingest while it is below a reserve, with an error
// that listeners answer as overload (HTTP 503 with Retry-After, gRPC
// UNAVAILABLE), so that clients keep their data and retry; queries go on.
// Ingest resumes by itself once space is back.
//
// The reserve is the margin DuckDB must never reach: a commit or a
// checkpoint that runs out of space leaves DuckDB's database in memory
// damaged (docs/design/security.md, "Faults"). If it happens anyway (a
// reserve of 0, another process filling the disk), the store reports
// itself broken; the guard then refuses ingest as well, and reopens the
// store once the free space is above the reserve again.
package diskguard

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/fibinc/telltale/internal/pipeline"
	"github.com/fibinc/telltale/internal/telemetry"
)

// DefaultReserve is the free space below which ingest stops by default.
const DefaultReserve = 512 << 20

// MinReopenFree is the least free space a broken store is reopened with,
// whatever the reserve: DuckDB replays and checkpoints the WAL as it
// opens, and a reopen that fails leaves queries without a database until
// the next one.
const MinReopenFree = 32 << 20

// Options configure a Guard. The zero value watches the current directory
// with no reserve.
type Options struct {
	// Dir is the data directory: the file system whose space is watched.
	Dir string
	// Reserve is the free space, in bytes, below which ingest is refused;
	// 0 refuses nothing for space (a broken store is still refused).
	Reserve int64
	// Interval is how long a free-space reading is trusted. Default 1s.
	Interval time.Duration
	// Statfs returns the bytes available to Telltale on dir's file system.
	// Default: statfs(2), blocks available to unprivileged users.
	Statfs func(dir string) (int64, error)
	// Broken, if set, reports a store that must be reopened after a failed
	// write (nil while healthy); Reopen reopens it. Run calls Reopen when
	// Broken is not nil and the free space is above the reserve.
	Broken func() error
	Reopen func(ctx context.Context) error

	Now    func() time.Time // default time.Now
	Logger *slog.Logger
}

// Guard decides whether ingest may write. Its methods are safe for
// concurrent use.
type Guard struct {
	opt Options
	log *slog.Logger

	mu      sync.Mutex
	checked time.Time // of the last reading
	free    int64
	statErr error // of the last reading
	low     bool  // free < reserve at the last reading, as logged
}

// New returns a Guard; it reads the free space when first asked.
func New(opt Options) *Guard {
	if opt.Dir == "" {
		opt.Dir = "."
	}
	if opt.Interval <= 0 {
		opt.Interval = time.Second
	}
	if opt.Statfs == nil {
		opt.Statfs = statfs
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	return &Guard{opt: opt, log: opt.Logger.With("component", "diskguard")}
}

// SpaceError is the refusal for want of space. It matches
// pipeline.ErrOverloaded under errors.Is.
type SpaceError struct {
	Free, Reserve int64
}

func (e *SpaceError) Error() string {
	return fmt.Sprintf("insufficient disk space: %s free, ingest resumes when %s are free", mb(e.Free), mb(e.Reserve))
}

// Unwrap makes listeners answer 503 with Retry-After.
func (e *SpaceError) Unwrap() error { return pipeline.ErrOverloaded }

// StoreError is the refusal while the store is broken. It matches
// pipeline.ErrOverloaded under errors.Is, and wraps the store's error.
type StoreError struct {
	Err error
}

func (e *StoreError) Error() string {
	return fmt.Sprintf("cannot store telemetry until the store is reopened (%v); ingest resumes by itself once there is space", e.Err)
}

// Unwrap makes listeners answer 503 with Retry-After.
func (e *StoreError) Unwrap() []error { return []error{pipeline.ErrOverloaded, e.Err} }

func mb(n int64) string {
	if n >= 10<<30 {
		return fmt.Sprintf("%.1f GB", float64(n)/(1<<30))
	}
	return fmt.Sprintf("%d MB", n>>20)
}

// Check returns nil when ingest may write, else a *SpaceError or a
// *StoreError. It reads the free space when the last reading is older than
// the interval. A failed reading lets ingest go on (it is logged): a guard
// that cannot see the disk must not stop a server that could write.
func (g *Guard) Check() error {
	if g.opt.Broken != nil {
		if err := g.opt.Broken(); err != nil {
			return &StoreError{Err: err}
		}
	}
	free, err := g.reading(false)
	if err != nil || free >= g.opt.Reserve {
		return nil
	}
	return &SpaceError{Free: free, Reserve: g.opt.Reserve}
}

// Free returns the free bytes of the last reading, taking a new one if it
// is stale.
func (g *Guard) Free() (int64, error) {
	return g.reading(false)
}

// reading returns the free space, read again if now or stale.
func (g *Guard) reading(now bool) (int64, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	t := g.opt.Now()
	if !now && !g.checked.IsZero() && t.Sub(g.checked) < g.opt.Interval {
		return g.free, g.statErr
	}
	free, err := g.opt.Statfs(g.opt.Dir)
	g.checked = t
	if err != nil {
		if g.statErr == nil {
			g.log.Warn("cannot read the free disk space; ingest goes on unguarded", "dir", g.opt.Dir, "err", err)
		}
		g.statErr = err
		return 0, err
	}
	g.statErr = nil
	g.free = free
	low := free < g.opt.Reserve
	if low != g.low {
		g.low = low
		if low {
			g.log.Warn("free disk space is below the reserve: ingest is refused until there is more",
				"dir", g.opt.Dir, "free_mb", free>>20, "reserve_mb", g.opt.Reserve>>20)
		} else {
			g.log.Info("free disk space is above the reserve again: ingest resumes", "dir", g.opt.Dir, "free_mb", free>>20)
		}
	}
	return free, nil
}

// Run reads the free space every interval, so that the log and metrics
// follow it without ingest, and reopens a broken store once there is space
// again. It returns when ctx is done.
func (g *Guard) Run(ctx context.Context) {
	t := time.NewTicker(g.opt.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		g.Recover(ctx)
	}
}

// Recover takes a new reading and, if the store is broken and the free
// space is above the reserve and MinReopenFree (or cannot be read), reopens
// it. It returns
// the reopen's error, or nil when nothing was to be done.
func (g *Guard) Recover(ctx context.Context) error {
	free, err := g.reading(true)
	if g.opt.Broken == nil || g.opt.Reopen == nil || g.opt.Broken() == nil {
		return nil
	}
	if err == nil && free < max(g.opt.Reserve, MinReopenFree) {
		return nil // still no room: a reopen would fail or break again
	}
	if err := g.opt.Reopen(ctx); err != nil {
		g.log.Warn("cannot reopen the store yet", "err", err)
		return err
	}
	g.log.Info("store reopened after a failed write: ingest resumes")
	return nil
}

// Appendable is what Appender guards: the ingest pipeline, or the issue
// tracker in front of it.
type Appendable interface {
	Append(ctx context.Context, b *telemetry.Batch) error
}

// Appender returns next refusing batches while g refuses ingest.
func Appender(next Appendable, g *Guard) Appendable {
	return appender{next, g}
}

type appender struct {
	next Appendable
	g    *Guard
}

func (a appender) Append(ctx context.Context, b *telemetry.Batch) error {
	if err := a.g.Check(); err != nil {
		return err
	}
	return a.next.Append(ctx, b)
}

// Writable is what Writer guards: the store, behind the pipeline.
type Writable interface {
	Write(ctx context.Context, b *telemetry.Batch) error
}

// Writer returns next refusing commits while g refuses ingest, so that
// records queued before the disk filled up are not written either, and
// answering a write that broke the store as overload: its records were not
// acknowledged, and their clients are to retry once the store is reopened.
func Writer(next Writable, g *Guard) Writable {
	return writer{next, g}
}

type writer struct {
	next Writable
	g    *Guard
}

func (w writer) Write(ctx context.Context, b *telemetry.Batch) error {
	if err := w.g.Check(); err != nil {
		return err
	}
	err := w.next.Write(ctx, b)
	if err != nil && w.g.opt.Broken != nil {
		if berr := w.g.opt.Broken(); berr != nil && !errors.Is(err, pipeline.ErrOverloaded) {
			return &StoreError{Err: err}
		}
	}
	return err
}
