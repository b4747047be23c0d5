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

// ChunkQuerier is implemented by stores that can hand a query's result over
// column by column, a chunk of rows at a time, without converting values one
// by one as database/sql does (which costs far more than the query itself
// when it returns millions of rows). It is optional: readers check for it
// and fall back to Store.Query.
type ChunkQuerier interface {
	// QueryChunks runs one read-only SQL statement in the store's dialect,
	// whose result columns are all 64-bit integers or doubles (BIGINT,
	// UBIGINT, DOUBLE), and calls fn with each chunk of rows, in no
	// particular order. It stops at fn's first error and returns it.
	// Arguments may be time.Time, string, int, int64, uint64, float64 or
	// bool. Cancelling ctx aborts the query.
	QueryChunks(ctx context.Context, query string, args []any, fn func(Chunk) error) error
}

// Chunk is a block of rows of a query result, held column by column. Its
// slices alias the store's memory: they are valid only until the callback
// that received the chunk returns.
type Chunk interface {
	// Len is the number of rows.
	Len() int
	// Int64s, Uint64s and Float64s return a column of BIGINT, UBIGINT and
	// DOUBLE values. The values of NULL rows are undefined. They panic when
	// the column has another type.
	Int64s(col int) []int64
	Uint64s(col int) []uint64
	Float64s(col int) []float64
	// Valid reports whether a row's value in a column is not NULL.
	Valid(col, row int) bool
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
