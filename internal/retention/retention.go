// Package retention deletes old telemetry. Stores keep one partition per
// signal and UTC day; retention drops whole partitions, which frees their
// disk space at once (no vacuum, no rewrite).
//
// Two limits apply, checked every Interval: a maximum age per signal (a day
// is dropped once all of it is older than the limit) and a cap on the bytes
// of all partitions together (the oldest days go first, today's never).
package retention

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/fibinc/telltale/internal/store"
	"github.com/fibinc/telltale/internal/telemetry"
)

// Store is the part of store.Store that retention uses.
type Store interface {
	Partitions(ctx context.Context) ([]store.Partition, error)
	DropPartition(ctx context.Context, p store.Partition) error
}

// Options configure an Enforcer.
type Options struct {
	Store Store
	// MaxAge is the age limit per signal; zero or missing means keep forever.
	MaxAge map[telemetry.Signal]time.Duration
	// MaxBytes caps the size of all partitions; zero means no cap.
	MaxBytes int64
	// Interval between checks. Default 10 minutes.
	Interval time.Duration
	Logger   *slog.Logger
	Now      func() time.Time // default time.Now
}

// Enforcer applies the retention limits.
type Enforcer struct {
	opt Options
	log *slog.Logger
}

// New returns an Enforcer.
func New(opt Options) *Enforcer {
	if opt.Interval <= 0 {
		opt.Interval = 10 * time.Minute
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	return &Enforcer{opt: opt, log: opt.Logger.With("component", "retention")}
}

// Run enforces the limits now and then every Interval until ctx ends.
func (e *Enforcer) Run(ctx context.Context) error {
	t := time.NewTicker(e.opt.Interval)
	defer t.Stop()
	for {
		if _, err := e.Enforce(ctx); err != nil {
			e.log.Error("retention failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Enforce drops the partitions beyond the limits and returns them.
func (e *Enforcer) Enforce(ctx context.Context) ([]store.Partition, error) {
	parts, err := e.opt.Store.Partitions(ctx)
	if err != nil {
		return nil, fmt.Errorf("cannot list partitions: %w", err)
	}
	now := e.opt.Now()
	today := store.Day(now)
	var dropped []store.Partition
	var kept []store.Partition
	var total int64
	for _, p := range parts {
		age, ok := e.opt.MaxAge[p.Signal]
		if ok && age > 0 && !p.Day.Add(24*time.Hour).After(now.Add(-age)) {
			if err := e.opt.Store.DropPartition(ctx, p); err != nil {
				return dropped, fmt.Errorf("cannot drop %s partition of %s: %w", p.Signal, p.Day.Format(time.DateOnly), err)
			}
			e.log.Info("dropped partition past its age limit", "signal", p.Signal, "day", p.Day.Format(time.DateOnly), "bytes", p.Bytes)
			dropped = append(dropped, p)
			continue
		}
		kept = append(kept, p)
		total += p.Bytes
	}
	if e.opt.MaxBytes <= 0 {
		return dropped, nil
	}
	// kept is oldest first.
	for _, p := range kept {
		if total <= e.opt.MaxBytes {
			break
		}
		if !p.Day.Before(today) {
			e.log.Warn("data of today alone exceeds the disk cap", "bytes", total, "max_bytes", e.opt.MaxBytes)
			break
		}
		if err := e.opt.Store.DropPartition(ctx, p); err != nil {
			return dropped, fmt.Errorf("cannot drop %s partition of %s: %w", p.Signal, p.Day.Format(time.DateOnly), err)
		}
		e.log.Info("dropped partition to stay under the disk cap", "signal", p.Signal, "day", p.Day.Format(time.DateOnly), "bytes", p.Bytes)
		dropped = append(dropped, p)
		total -= p.Bytes
	}
	return dropped, nil
}
