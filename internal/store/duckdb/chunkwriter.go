package duckdb

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/duckdb/duckdb-go/v2/mapping"
)

// chunkWriter appends rows to a table through DuckDB's C appender, a data
// chunk at a time. It writes values straight into the chunk's vectors,
// where duckdb-go's Appender makes three cgo calls and a malloc per string
// value, the larger part of ingest CPU for logs and spans.
//
// Rows are written in table column order:
//
//	w.Row()
//	w.Timestamp(t)
//	w.Varchar(s)
//	...
//
// The first error sticks: later calls do nothing and Close returns it.
type chunkWriter struct {
	app   mapping.Appender
	chunk mapping.DataChunk
	cols  []column
	cap   int // rows per chunk
	n     int // rows begun in the chunk; the current one is n-1
	col   int // next column of the current row
	arena arena
	err   error

	// poison overwrites the arena once DuckDB has taken a chunk, so that
	// tests catch DuckDB keeping pointers into it.
	poison bool
}

type column struct {
	typ      mapping.Type
	size     uintptr // bytes per value in the vector
	vec      mapping.Vector
	data     unsafe.Pointer
	validity []uint64 // nil until the chunk's first NULL in this column

	child     mapping.Type // element type of a LIST column
	childSize uintptr
}

// valueSize is the vector layout of each column type the writer supports.
var valueSize = map[mapping.Type]uintptr{
	mapping.TypeBoolean:   1,
	mapping.TypeSmallInt:  2,
	mapping.TypeInteger:   4,
	mapping.TypeUInteger:  4,
	mapping.TypeBigInt:    8,
	mapping.TypeUBigInt:   8,
	mapping.TypeDouble:    8,
	mapping.TypeTimestamp: 8,
	mapping.TypeVarchar:   unsafe.Sizeof(duckString{}),
	mapping.TypeList:      unsafe.Sizeof(listEntry{}),
}

// listEntry is DuckDB's duckdb_list_entry: where a row's elements lie in
// the list vector's child vector.
type listEntry struct {
	offset, length uint64
}

// duckString is DuckDB's duckdb_string_t: the length, then up to 12 bytes
// inline, or the first 4 bytes and a pointer to all of them.
type duckString struct {
	length uint32
	prefix [4]byte
	ptr    uintptr // C memory; inline bytes 4-11 when length <= 12
}

const inlineLen = 12

// newChunkWriter opens an appender on catalog.schema.table.
func newChunkWriter(conn mapping.Connection, catalog, schema, table string) (*chunkWriter, error) {
	w := &chunkWriter{cap: int(mapping.VectorSize())}
	if mapping.AppenderCreateExt(conn, catalog, schema, table, &w.app) == mapping.StateError {
		msg := appenderError(w.app)
		mapping.AppenderDestroy(&w.app)
		return nil, fmt.Errorf("cannot create appender for %s.%s.%s: %s", catalog, schema, table, msg)
	}
	types := make([]mapping.LogicalType, mapping.AppenderColumnCount(w.app))
	for i := range types {
		types[i] = mapping.AppenderColumnType(w.app, mapping.IdxT(i))
	}
	defer func() {
		for i := range types {
			mapping.DestroyLogicalType(&types[i])
		}
	}()
	w.cols = make([]column, len(types))
	for i, lt := range types {
		t := mapping.GetTypeId(lt)
		size, ok := valueSize[t]
		if !ok {
			mapping.AppenderDestroy(&w.app)
			return nil, fmt.Errorf("cannot append to %s.%s.%s: column %d has type %d, which the chunk writer does not support", catalog, schema, table, i, t)
		}
		w.cols[i] = column{typ: t, size: size}
		if t == mapping.TypeList {
			clt := mapping.ListTypeChildType(lt)
			ct := mapping.GetTypeId(clt)
			mapping.DestroyLogicalType(&clt)
			cs, ok := valueSize[ct]
			if !ok || ct == mapping.TypeVarchar || ct == mapping.TypeList {
				mapping.AppenderDestroy(&w.app)
				return nil, fmt.Errorf("cannot append to %s.%s.%s: column %d is a list of type %d, which the chunk writer does not support", catalog, schema, table, i, ct)
			}
			w.cols[i].child, w.cols[i].childSize = ct, cs
		}
	}
	w.chunk = mapping.CreateDataChunk(types)
	w.bind()
	return w, nil
}

// bind points the columns at the chunk's vectors, which DataChunkReset may
// move.
func (w *chunkWriter) bind() {
	for i := range w.cols {
		c := &w.cols[i]
		c.vec = mapping.DataChunkGetVector(w.chunk, mapping.IdxT(i))
		c.data = mapping.VectorGetData(c.vec)
		c.validity = nil
	}
}

func (w *chunkWriter) fail(err error) {
	if w.err == nil {
		w.err = err
	}
}

// Row begins a row, appending the chunk to the table when it is full.
func (w *chunkWriter) Row() {
	if w.err != nil {
		return
	}
	if w.n > 0 && w.col != len(w.cols) {
		w.fail(fmt.Errorf("row has %d of %d columns", w.col, len(w.cols)))
		return
	}
	if w.n == w.cap {
		w.appendChunk()
		if w.err != nil {
			return
		}
	}
	w.n++
	w.col = 0
}

// next returns the current row's next column, or nil after an error or
// when the column's type is not t.
func (w *chunkWriter) next(t mapping.Type) *column {
	if w.err != nil {
		return nil
	}
	switch {
	case w.n == 0:
		w.fail(errors.New("value written before Row"))
		return nil
	case w.col == len(w.cols):
		w.fail(fmt.Errorf("row has more than %d columns", len(w.cols)))
		return nil
	}
	c := &w.cols[w.col]
	if t != mapping.TypeInvalid && c.typ != t {
		w.fail(fmt.Errorf("column %d has type %d, not %d", w.col, c.typ, t))
		return nil
	}
	w.col++
	return c
}

// set stores v as the current row's value of c; v's size is c.size.
func set[T any](w *chunkWriter, c *column, v T) {
	*(*T)(unsafe.Add(c.data, uintptr(w.n-1)*c.size)) = v
}

// Timestamp writes a TIMESTAMP: microseconds since the epoch.
func (w *chunkWriter) Timestamp(t time.Time) {
	c := w.next(mapping.TypeTimestamp)
	if c == nil {
		return
	}
	if !timestampInRange(t) {
		w.fail(fmt.Errorf("timestamp %s is out of range", t))
		return
	}
	set(w, c, t.UnixMicro())
}

// timestampInRange reports whether t fits a TIMESTAMP: beyond these seconds
// the microseconds overflow int64 or hit DuckDB's infinities.
func timestampInRange(t time.Time) bool {
	const maxSec = math.MaxInt64 / 1_000_000
	s := t.Unix()
	return -maxSec < s && s < maxSec
}

// BigInt writes a BIGINT.
func (w *chunkWriter) BigInt(v int64) {
	if c := w.next(mapping.TypeBigInt); c != nil {
		set(w, c, v)
	}
}

// UBigInt writes a UBIGINT.
func (w *chunkWriter) UBigInt(v uint64) {
	if c := w.next(mapping.TypeUBigInt); c != nil {
		set(w, c, v)
	}
}

// Integer writes an INTEGER.
func (w *chunkWriter) Integer(v int32) {
	if c := w.next(mapping.TypeInteger); c != nil {
		set(w, c, v)
	}
}

// UInteger writes a UINTEGER.
func (w *chunkWriter) UInteger(v uint32) {
	if c := w.next(mapping.TypeUInteger); c != nil {
		set(w, c, v)
	}
}

// Double writes a DOUBLE.
func (w *chunkWriter) Double(v float64) {
	if c := w.next(mapping.TypeDouble); c != nil {
		set(w, c, v)
	}
}

// Boolean writes a BOOLEAN.
func (w *chunkWriter) Boolean(v bool) {
	if c := w.next(mapping.TypeBoolean); c != nil {
		set(w, c, v)
	}
}

// Varchar writes a VARCHAR. DuckDB requires valid UTF-8 (anything else is
// undefined behaviour in its later stages), so invalid bytes become U+FFFD.
func (w *chunkWriter) Varchar(s string) {
	c := w.next(mapping.TypeVarchar)
	if c == nil {
		return
	}
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	if len(s) > math.MaxUint32 {
		w.fail(fmt.Errorf("string of %d bytes is too long", len(s)))
		return
	}
	v := duckString{length: uint32(len(s))}
	if len(s) <= inlineLen {
		copy((*[16]byte)(unsafe.Pointer(&v))[4:], s) // the rest stays zero, as DuckDB compares it
	} else {
		p := w.arena.alloc(len(s))
		copy(unsafe.Slice((*byte)(p), len(s)), s)
		copy(v.prefix[:], s)
		v.ptr = uintptr(p)
	}
	set(w, c, v)
}

// SmallInt writes a SMALLINT.
func (w *chunkWriter) SmallInt(v int16) {
	if c := w.next(mapping.TypeSmallInt); c != nil {
		set(w, c, v)
	}
}

// writeList writes a LIST of n elements of the fixed-width type t, whose
// Go type is T: at(i) is element i. The elements go to the end of the
// column's child vector, which DataChunkReset empties.
func writeList[T any](w *chunkWriter, t mapping.Type, n int, at func(int) T) {
	c := w.next(mapping.TypeList)
	if c == nil {
		return
	}
	if c.child != t || c.childSize != unsafe.Sizeof(*new(T)) {
		w.fail(fmt.Errorf("column %d is a list of type %d, not %d", w.col-1, c.child, t))
		return
	}
	off := uint64(mapping.ListVectorGetSize(c.vec))
	end := off + uint64(n)
	if mapping.ListVectorReserve(c.vec, mapping.IdxT(end)) == mapping.StateError {
		w.fail(fmt.Errorf("cannot reserve %d list elements", end))
		return
	}
	// Reserving may move the child's data.
	data := mapping.VectorGetData(mapping.ListVectorGetChild(c.vec))
	for i := range n {
		*(*T)(unsafe.Add(data, uintptr(off+uint64(i))*c.childSize)) = at(i)
	}
	if mapping.ListVectorSetSize(c.vec, mapping.IdxT(end)) == mapping.StateError {
		w.fail(fmt.Errorf("cannot set list size %d", end))
		return
	}
	set(w, c, listEntry{offset: off, length: uint64(n)})
}

// Null writes a NULL.
func (w *chunkWriter) Null() {
	c := w.next(mapping.TypeInvalid)
	if c == nil {
		return
	}
	if c.validity == nil {
		mapping.VectorEnsureValidityWritable(c.vec)
		c.validity = unsafe.Slice((*uint64)(mapping.VectorGetValidity(c.vec)), (w.cap+63)/64)
	}
	r := w.n - 1
	c.validity[r/64] &^= 1 << (r % 64)
	// DuckDB skips NULL slots, but a stale string_t from the previous chunk
	// is better not left there.
	clear(unsafe.Slice((*byte)(unsafe.Add(c.data, uintptr(r)*c.size)), c.size))
}

// appendChunk hands the chunk to the appender, which copies it, strings
// included (ColumnDataCollection::Append), so the arena is free again.
func (w *chunkWriter) appendChunk() {
	mapping.DataChunkSetSize(w.chunk, mapping.IdxT(w.n))
	if mapping.AppendDataChunk(w.app, w.chunk) == mapping.StateError {
		w.fail(fmt.Errorf("cannot append data chunk: %s", appenderError(w.app)))
		return
	}
	if w.poison {
		w.arena.poison()
	}
	w.arena.reset()
	mapping.DataChunkReset(w.chunk)
	w.n = 0
	w.bind()
}

// Close appends the last chunk, flushes the appender and frees everything.
// The appender flushes what it holds even after an error: callers that need
// all or nothing check their values first or run the writer inside a
// transaction.
func (w *chunkWriter) Close() error {
	if w.err == nil && w.n > 0 {
		if w.col != len(w.cols) {
			w.fail(fmt.Errorf("row has %d of %d columns", w.col, len(w.cols)))
		} else {
			w.appendChunk()
		}
	}
	err := w.err
	mapping.DestroyDataChunk(&w.chunk)
	if err == nil && mapping.AppenderFlush(w.app) == mapping.StateError {
		err = fmt.Errorf("cannot flush appender: %s", appenderError(w.app))
	}
	if mapping.AppenderDestroy(&w.app) == mapping.StateError && err == nil {
		err = errors.New("cannot close appender")
	}
	w.arena.free()
	if err == nil {
		w.err = errors.New("chunk writer closed")
	}
	return err
}

func appenderError(a mapping.Appender) string {
	e := mapping.AppenderErrorData(a)
	defer mapping.DestroyErrorData(&e)
	return mapping.ErrorDataMessage(e)
}
