package duckdb

import (
	"context"
	"errors"
	"fmt"
	"time"
	"unsafe"

	bindings "github.com/duckdb/duckdb-go-bindings"
	"github.com/duckdb/duckdb-go/v2/mapping"

	"github.com/fibinc/telltale/internal/store"
)

var _ store.ChunkQuerier = (*Store)(nil)

// QueryChunks implements store.ChunkQuerier on a raw connection: the
// result streams out of DuckDB's vectors into fn without a conversion or an
// allocation per value. It costs about a hundredth of Query's row-by-row
// path for the millions of points a PromQL range query reads.
func (s *Store) QueryChunks(ctx context.Context, query string, args []any, fn func(store.Chunk) error) (err error) {
	s.mu.RLock()
	closed := s.closed
	s.mu.RUnlock()
	if closed {
		return store.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	s.scans.RLock()
	defer s.scans.RUnlock()
	s.mu.RLock()
	raw := s.raw
	s.mu.RUnlock()
	if raw == nil {
		return s.Broken()
	}
	conn, err := raw.get()
	if err != nil {
		return err
	}
	reuse := true
	defer func() { raw.put(conn, reuse) }()

	var stmt mapping.PreparedStatement
	if mapping.Prepare(conn, query, &stmt) == mapping.StateError {
		msg := mapping.PrepareError(stmt)
		mapping.DestroyPrepare(&stmt)
		return fmt.Errorf("cannot prepare query: %s", msg)
	}
	defer mapping.DestroyPrepare(&stmt)
	for i, a := range args {
		if err := bind(stmt, mapping.IdxT(i+1), a); err != nil {
			return err
		}
	}

	// A cancelled ctx interrupts the query; the connection then waits for
	// the interrupt to finish and is not reused, its state being unknown.
	interrupted := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		mapping.Interrupt(conn)
		close(interrupted)
	})
	defer func() {
		if !stop() {
			<-interrupted
			reuse = false
			if err == nil || !errors.Is(err, ctx.Err()) {
				err = fmt.Errorf("query interrupted: %w", ctx.Err())
			}
		}
	}()

	var res mapping.Result
	// Streaming, so that DuckDB does not materialise the whole result
	// before the first chunk (duckdb-go's mapping lacks this call).
	if bindings.ExecutePreparedStreaming(stmt, &res) == mapping.StateError {
		msg := mapping.ResultError(&res)
		mapping.DestroyResult(&res)
		return fmt.Errorf("cannot run query: %s", msg)
	}
	defer mapping.DestroyResult(&res)
	c := &chunk{}
	n := int(mapping.ColumnCount(&res))
	for i := range n {
		switch t := mapping.ColumnType(&res, mapping.IdxT(i)); t {
		case mapping.TypeBigInt, mapping.TypeUBigInt, mapping.TypeDouble:
			c.types = append(c.types, t)
		default:
			return fmt.Errorf("cannot read column %d column-wise: type %d is not BIGINT, UBIGINT or DOUBLE", i, t)
		}
	}
	c.data = make([]unsafe.Pointer, n)
	c.valid = make([]unsafe.Pointer, n)
	for {
		dc := mapping.FetchChunk(res)
		if dc.Ptr == nil {
			break
		}
		c.rows = int(mapping.DataChunkGetSize(dc))
		for i := range n {
			v := mapping.DataChunkGetVector(dc, mapping.IdxT(i))
			c.data[i], c.valid[i] = mapping.VectorGetData(v), mapping.VectorGetValidity(v)
		}
		err := fn(c)
		mapping.DestroyDataChunk(&dc)
		if err != nil {
			return err
		}
	}
	if msg := mapping.ResultError(&res); msg != "" {
		return fmt.Errorf("cannot read query result: %s", msg)
	}
	return nil
}

// bind binds argument i (1-based) of a prepared statement.
func bind(stmt mapping.PreparedStatement, i mapping.IdxT, a any) error {
	var state mapping.State
	switch v := a.(type) {
	case time.Time:
		state = mapping.BindTimestamp(stmt, i, mapping.NewTimestamp(v.UnixMicro()))
	case string:
		state = mapping.BindVarchar(stmt, i, v)
	case int:
		state = mapping.BindInt64(stmt, i, int64(v))
	case int64:
		state = mapping.BindInt64(stmt, i, v)
	case uint64:
		state = mapping.BindUInt64(stmt, i, v)
	case float64:
		state = mapping.BindDouble(stmt, i, v)
	case bool:
		state = mapping.BindBoolean(stmt, i, v)
	default:
		return fmt.Errorf("cannot bind argument %d of type %T", i, a)
	}
	if state == mapping.StateError {
		return fmt.Errorf("cannot bind argument %d (%T)", i, a)
	}
	return nil
}

// chunk is a store.Chunk over the vectors of one DuckDB data chunk.
type chunk struct {
	types []mapping.Type
	rows  int
	data  []unsafe.Pointer
	valid []unsafe.Pointer // nil: every row valid
}

func (c *chunk) Len() int { return c.rows }

func chunkColumn[T any](c *chunk, col int, want mapping.Type) []T {
	if c.types[col] != want {
		panic(fmt.Sprintf("duckdb: column %d has type %d, not %d", col, c.types[col], want))
	}
	if c.rows == 0 {
		return nil
	}
	return unsafe.Slice((*T)(c.data[col]), c.rows)
}

func (c *chunk) Int64s(col int) []int64     { return chunkColumn[int64](c, col, mapping.TypeBigInt) }
func (c *chunk) Uint64s(col int) []uint64   { return chunkColumn[uint64](c, col, mapping.TypeUBigInt) }
func (c *chunk) Float64s(col int) []float64 { return chunkColumn[float64](c, col, mapping.TypeDouble) }

// Valid reads DuckDB's validity mask, one bit per row in 64-bit words, in
// Go rather than with a cgo call per row.
func (c *chunk) Valid(col, row int) bool {
	mask := c.valid[col]
	if mask == nil {
		return true
	}
	word := *(*uint64)(unsafe.Add(mask, 8*(row/64)))
	return word>>(row%64)&1 != 0
}
