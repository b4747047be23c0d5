// Package store defines the boundary between Telltale and the database that
// holds its telemetry. Implementations live in subpackages (duckdb today,
// clickhouse planned) and must pass the conformance suite in storetest.
//
// The store knows tables and partitions, not queries: the query package builds
// read-only SQL in the store's dialect and runs it through Query. Every other
// package reads telemetry through the query package, never the store directly.
package store

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/fibinc/telltale/internal/telemetry"
)

// Store persists telemetry. All methods are safe for concurrent use.
type Store interface {
	// Write commits every record of b before it returns nil; after a nil
	// return the records survive a crash of the process. Records are routed
	// to the daily partition of their timestamp (UTC). Write may commit
	// partitions one at a time, so an error can leave some of b committed:
	// callers retry the whole batch, and delivery is at least once.
	Write(ctx context.Context, b *telemetry.Batch) error

	// Query runs one read-only SQL statement written in Dialect() against the
	// views spans, logs, metric_points and error_events, and the RED
	// aggregates of the spans, one view per red.Levels table (red_minutes,
	// ...), which count exactly the spans committed (see
	// docs/design/storage.md). Cancelling ctx aborts it.
	Query(ctx context.Context, query string, args ...any) (*sql.Rows, error)

	// Dialect names the SQL dialect Query expects, for example "duckdb".
	Dialect() string

	// Partitions lists the stored partitions, oldest first.
	Partitions(ctx context.Context) ([]Partition, error)

	// DropPartition deletes a partition and frees its disk space.
	DropPartition(ctx context.Context, p Partition) error

	// Close flushes and closes the store. In-flight writes finish first.
	Close() error
}

// Partition is one signal's data for one UTC day.
type Partition struct {
	Signal telemetry.Signal
	Day    time.Time // midnight UTC
	Bytes  int64     // size on disk
}

// ErrClosed is returned by a store used after Close.
var ErrClosed = errors.New("store is closed")

// Day returns midnight UTC of the day that t falls in.
func Day(t time.Time) time.Time {
	return t.UTC().Truncate(24 * time.Hour)
}
