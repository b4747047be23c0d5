package duckdb

import (
	"context"
	"database/sql/driver"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	duckdb "github.com/duckdb/duckdb-go/v2"
	"github.com/duckdb/duckdb-go/v2/mapping"

	"github.com/fibinc/telltale/internal/store"
	"github.com/fibinc/telltale/internal/telemetry"
)

func openTest(t testing.TB) *Store {
	t.Helper()
	s, err := Open(context.Background(), Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func execSQL(t testing.TB, s *Store, q string) {
	t.Helper()
	if _, err := s.db.ExecContext(context.Background(), q); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// selectAll returns every row of q, each column as scanned by duckdb-go.
func selectAll(t testing.TB, s *Store, q string) [][]any {
	t.Helper()
	rs, err := s.db.QueryContext(context.Background(), q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rs.Close()
	cols, err := rs.Columns()
	if err != nil {
		t.Fatal(err)
	}
	var out [][]any
	for rs.Next() {
		row := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range row {
			ptrs[i] = &row[i]
		}
		if err := rs.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		out = append(out, row)
	}
	if err := rs.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// withRaw runs fn on a raw connection of the store.
func withRaw(t testing.TB, s *Store, fn func(w *chunkWriter)) error {
	t.Helper()
	c, err := s.raw.get()
	if err != nil {
		t.Fatal(err)
	}
	defer s.raw.put(c, true)
	w, err := newChunkWriter(c, "telltale", "main", "t")
	if err != nil {
		return err
	}
	w.poison = true
	fn(w)
	return w.Close()
}

const allTypes = `(id BIGINT, s VARCHAR, b BOOLEAN, i INTEGER, u UINTEGER, ub UBIGINT, d DOUBLE, ts TIMESTAMP)`

// testRow is a row of allTypes; null leaves every column but id and s NULL.
type testRow struct {
	id   int64
	s    string
	null bool
	b    bool
	i    int32
	u    uint32
	ub   uint64
	d    float64
	ts   time.Time
}

func (r testRow) write(w *chunkWriter) {
	w.Row()
	w.BigInt(r.id)
	w.Varchar(r.s)
	if r.null {
		for range 6 {
			w.Null()
		}
		return
	}
	w.Boolean(r.b)
	w.Integer(r.i)
	w.UInteger(r.u)
	w.UBigInt(r.ub)
	w.Double(r.d)
	w.Timestamp(r.ts)
}

func (r testRow) values() []driver.Value {
	if r.null {
		return []driver.Value{r.id, r.s, nil, nil, nil, nil, nil, nil}
	}
	return []driver.Value{r.id, r.s, r.b, r.i, r.u, r.ub, r.d, r.ts}
}

// edgeStrings are around DuckDB's 12-byte inline limit and its 4-byte
// prefix, multi-byte UTF-8 across both, and larger than the arena's blocks.
var edgeStrings = []string{
	"",
	"a",
	"abcd",
	"abcdefghijk",   // 11
	"abcdefghijkl",  // 12: the longest inlined
	"abcdefghijklm", // 13: the shortest behind a pointer
	"日本",            // 6 bytes
	"abc日",          // a rune across the prefix
	"abcdefghijk日",  // 14 bytes, a rune across the inline limit
	"ab日本語",         // 11
	"ab日本語x",        // 12
	"ab日本語xy",       // 13
	"héllo wörld ✓ 🙂 Ωmega",
	strings.Repeat("x", 300<<10),          // a large allocation of its own
	strings.Repeat("0123456789", 100<<10), // 1 MB
	strings.Repeat("ü", 700<<10) + "tail", // 1.4 MB, multi-byte
}

func edgeRows(n int) []testRow {
	t0 := time.Date(2026, 11, 21, 10, 0, 0, 123456000, time.UTC)
	times := []time.Time{
		t0,
		time.Unix(0, 0).UTC(),
		time.Unix(-1, 999_000).UTC(), // before the epoch, with micros
		time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC),
	}
	doubles := []float64{0, -1.5, math.MaxFloat64, math.SmallestNonzeroFloat64, math.Inf(-1), math.Copysign(0, -1)}
	var rows []testRow
	for i := range n {
		s := fmt.Sprintf("row %d %s", i, strings.Repeat("·", i%7))
		if e := edgeStrings[i%len(edgeStrings)]; len(e) < 1000 || i < len(edgeStrings) || i == n-1 {
			s = e // large strings in the first rows and the last only, to keep the test light
		}
		rows = append(rows, testRow{
			id: int64(i), s: s, null: i%7 == 3,
			b: i%2 == 0, i: int32(i) - 2500, u: math.MaxUint32 - uint32(i), ub: math.MaxUint64 - uint64(i),
			d: doubles[i%len(doubles)], ts: times[i%len(times)].Add(time.Duration(i) * time.Microsecond),
		})
	}
	return rows
}

// TestChunkWriterMatchesAppender writes the same rows through the chunk
// writer and through duckdb-go's Appender, the old path, and compares what
// DuckDB stored, over more than two chunks.
func TestChunkWriterMatchesAppender(t *testing.T) {
	s := openTest(t)
	execSQL(t, s, "CREATE TABLE t "+allTypes)
	execSQL(t, s, "CREATE TABLE ref "+allTypes)
	rows := edgeRows(5000)

	if err := withRaw(t, s, func(w *chunkWriter) {
		for _, r := range rows {
			r.write(w)
		}
	}); err != nil {
		t.Fatalf("chunk writer: %v", err)
	}
	conn, err := s.db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.Raw(func(dc any) error {
		a, err := duckdb.NewAppender(dc.(driver.Conn), "", "main", "ref")
		if err != nil {
			return err
		}
		for _, r := range rows {
			if err := a.AppendRow(r.values()...); err != nil {
				a.Close()
				return err
			}
		}
		return a.Close()
	}); err != nil {
		t.Fatalf("appender: %v", err)
	}

	got := selectAll(t, s, "SELECT * FROM t ORDER BY id")
	want := selectAll(t, s, "SELECT * FROM ref ORDER BY id")
	if len(got) != len(rows) || len(want) != len(rows) {
		t.Fatalf("got %d rows, the appender %d, want %d", len(got), len(want), len(rows))
	}
	for i := range rows {
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Fatalf("row %d:\n got %.200v\nwant %.200v", i, got[i], want[i])
		}
		for j, v := range rows[i].values() {
			if !reflect.DeepEqual(got[i][j], v) {
				t.Fatalf("row %d, column %d: got %.200v, want %.200v", i, j, got[i][j], v)
			}
		}
	}
	// DuckDB must see the strings as it makes them itself: equal to
	// literals, with their lengths and prefixes.
	for _, e := range edgeStrings[:13] {
		var n int
		if err := s.db.QueryRow("SELECT count(*) FROM t WHERE s = ? AND length(s) = length(?) AND s LIKE ? || '%'", e, e, e).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			t.Errorf("no row found by s = %q", e)
		}
	}
}

// TestChunkWriterStrings checks what the old path could not store: NUL
// bytes (it cut strings there) and invalid UTF-8 (undefined behaviour in
// DuckDB), which becomes U+FFFD.
func TestChunkWriterStrings(t *testing.T) {
	s := openTest(t)
	execSQL(t, s, "CREATE TABLE t (id BIGINT, s VARCHAR)")
	tests := []struct{ in, want string }{
		{"a\x00b", "a\x00b"},
		{"0123456789ab\x00cdef", "0123456789ab\x00cdef"},
		{"bad\xffutf8", "bad\uFFFDutf8"},
		{"\xc3", "\uFFFD"},
		{"long and bad \xe2\x82 in the middle", "long and bad \uFFFD in the middle"},
	}
	if err := withRaw(t, s, func(w *chunkWriter) {
		for i, tt := range tests {
			w.Row()
			w.BigInt(int64(i))
			w.Varchar(tt.in)
		}
	}); err != nil {
		t.Fatal(err)
	}
	got := selectAll(t, s, "SELECT s FROM t ORDER BY id")
	for i, tt := range tests {
		if got[i][0] != tt.want {
			t.Errorf("%q stored as %q, want %q", tt.in, got[i][0], tt.want)
		}
	}
}

func TestChunkWriterErrors(t *testing.T) {
	s := openTest(t)
	execSQL(t, s, "CREATE TABLE t (id BIGINT NOT NULL, s VARCHAR, ts TIMESTAMP)")
	tests := []struct {
		name string
		fn   func(w *chunkWriter)
		want string
	}{
		{"wrong type", func(w *chunkWriter) { w.Row(); w.Varchar("x") }, "type"},
		{"missing column", func(w *chunkWriter) { w.Row(); w.BigInt(1); w.Varchar("x"); w.Row() }, "2 of 3"},
		{"missing column at close", func(w *chunkWriter) { w.Row(); w.BigInt(1) }, "1 of 3"},
		{"extra column", func(w *chunkWriter) { w.Row(); w.BigInt(1); w.Null(); w.Null(); w.Null() }, "more than 3"},
		{"value before row", func(w *chunkWriter) { w.BigInt(1) }, "before Row"},
		{"timestamp out of range", func(w *chunkWriter) {
			w.Row()
			w.BigInt(1)
			w.Varchar("x")
			w.Timestamp(time.Unix(math.MaxInt64/1000, 0))
		}, "out of range"},
		{"NULL in NOT NULL", func(w *chunkWriter) { w.Row(); w.Null(); w.Null(); w.Null() }, "NOT NULL"},
		{"error after a full chunk", func(w *chunkWriter) {
			for i := range 3000 {
				w.Row()
				w.BigInt(int64(i))
				w.Varchar(strings.Repeat("y", 20))
				w.Timestamp(time.Now())
			}
			w.Row()
			w.Varchar("x")
		}, "type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := s.raw.get()
			if err != nil {
				t.Fatal(err)
			}
			defer s.raw.put(c, false)
			if err := exec(c, "BEGIN TRANSACTION"); err != nil {
				t.Fatal(err)
			}
			w, err := newChunkWriter(c, "telltale", "main", "t")
			if err != nil {
				t.Fatal(err)
			}
			tt.fn(w)
			err = w.Close()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Close: %v, want an error with %q", err, tt.want)
			}
			if err := exec(c, "ROLLBACK"); err != nil {
				t.Fatal(err)
			}
			if n := selectAll(t, s, "SELECT count(*) FROM t")[0][0]; n != int64(0) {
				t.Errorf("%v rows stored after a failed write", n)
			}
		})
	}
}

func TestChunkWriterOpenErrors(t *testing.T) {
	s := openTest(t)
	execSQL(t, s, "CREATE TABLE lists (x VARCHAR[])")
	execSQL(t, s, "CREATE TABLE nested (x INTEGER[][])")
	execSQL(t, s, "CREATE TABLE maps (x MAP(INTEGER, INTEGER))")
	c, err := s.raw.get()
	if err != nil {
		t.Fatal(err)
	}
	defer s.raw.put(c, true)
	for _, table := range []string{"lists", "nested", "maps", "missing"} {
		if w, err := newChunkWriter(c, "telltale", "main", table); err == nil {
			w.Close()
			t.Errorf("newChunkWriter(%s) succeeded", table)
		}
	}
}

// TestWriteMatchesAppender writes logs and spans through Write and, in a
// second store, through the old AppendRow path, and compares every column.
func TestWriteMatchesAppender(t *testing.T) {
	b := testBatch(5000)
	got, ref := openTest(t), openTest(t)
	if err := got.Write(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	writeReference(t, ref, b)
	for _, q := range []string{
		"SELECT * FROM logs ORDER BY span_id, timestamp",
		"SELECT * FROM spans ORDER BY span_id, timestamp",
	} {
		g, w := selectAll(t, got, q), selectAll(t, ref, q)
		if len(g) != 5000 || len(w) != 5000 {
			t.Fatalf("%s: %d rows, the reference %d, want 5000", q, len(g), len(w))
		}
		for i := range g {
			for j := range g[i] {
				if !reflect.DeepEqual(g[i][j], w[i][j]) {
					t.Fatalf("%s: row %d, column %d:\n got %.300q\nwant %.300q", q, i, j, g[i][j], w[i][j])
				}
			}
		}
	}
}

// testBatch returns n logs and n spans over two days, with the edge strings
// in their text fields and empty JSON fields, which are stored as {} or [].
func testBatch(n int) *telemetry.Batch {
	b := &telemetry.Batch{}
	t0 := time.Date(2026, 11, 20, 23, 0, 0, 0, time.UTC)
	for i := range n {
		e := edgeStrings[i%len(edgeStrings)]
		if len(e) > 1000 && i >= len(edgeStrings) {
			e = fmt.Sprintf("ordinary body %d", i)
		}
		res := telemetry.Resource{
			ServiceName: fmt.Sprintf("svc-%d", i%3), ServiceVersion: "1.0.0", InstanceID: "i-0123456789abcdef",
			Environment: "prod", Host: "h", AvailabilityZone: "eu-west-1a",
		}
		if i%2 == 0 {
			res.Attributes = `{"k8s.pod.name":"pod-` + fmt.Sprint(i) + `"}`
		}
		sc := telemetry.Scope{Name: "scope", Version: cut(e, 40)}
		ts := t0.Add(time.Duration(i) * 997 * time.Millisecond)
		spanID := fmt.Sprintf("%016x", i)
		b.Logs = append(b.Logs, telemetry.Log{
			Resource: res, Scope: sc, Time: ts, ObservedTime: ts.Add(time.Millisecond),
			TraceID: fmt.Sprintf("%032x", i/10), SpanID: spanID, Severity: int32(i % 25), SeverityText: "INFO",
			Body: e, RequestID: "req-" + fmt.Sprint(i), Attributes: map[bool]string{true: `{"n":1}`}[i%3 == 0],
			EventName: "", Source: "otlp",
		})
		b.Spans = append(b.Spans, telemetry.Span{
			Resource: res, Scope: sc, TraceID: fmt.Sprintf("%032x", i/10), SpanID: spanID,
			ParentSpanID: map[bool]string{true: fmt.Sprintf("%016x", i-1)}[i%10 != 0], TraceState: "",
			Name: "GET /" + cut(e, 30), Kind: "server", Start: ts, Duration: time.Duration(i) * time.Microsecond,
			StatusCode: "unset", StatusMessage: cut(e, 13), RequestID: "req-" + fmt.Sprint(i),
			Attributes: map[bool]string{true: `{"http.method":"GET"}`}[i%2 == 0],
			Events:     map[bool]string{true: `[{"name":"e"}]`}[i%5 == 0],
		})
	}
	return b
}

// cut returns at most n bytes of s, cut at a rune boundary.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// writeReference stores b's logs and spans the way Write did before the
// chunk writer: one duckdb-go AppendRow per record.
func writeReference(t *testing.T, s *Store, b *telemetry.Batch) {
	t.Helper()
	groups := map[partKey][]int{}
	var keys []partKey
	add := func(sig telemetry.Signal, i int, ts time.Time) {
		k := partKey{sig, store.Day(ts)}
		if _, ok := groups[k]; !ok {
			keys = append(keys, k)
		}
		groups[k] = append(groups[k], i)
	}
	for i := range b.Logs {
		add(telemetry.SignalLogs, i, b.Logs[i].Time)
	}
	for i := range b.Spans {
		add(telemetry.SignalSpans, i, b.Spans[i].Start)
	}
	ctx := context.Background()
	if err := s.ensure(ctx, keys); err != nil {
		t.Fatal(err)
	}
	conn, err := s.db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, k := range keys {
		if err := conn.Raw(func(dc any) error { return appendReference(dc.(driver.Conn), k, b, groups[k]) }); err != nil {
			t.Fatal(err)
		}
	}
}

func appendReference(dc driver.Conn, k partKey, b *telemetry.Batch, idx []int) (err error) {
	a, err := duckdb.NewAppender(dc, k.catalog(), "main", tableName(k.signal))
	if err != nil {
		return err
	}
	defer func() {
		if cerr := a.Close(); err == nil {
			err = cerr
		}
	}()
	for _, i := range idx {
		if k.signal == telemetry.SignalLogs {
			l := &b.Logs[i]
			err = a.AppendRow(l.Time.UTC(), l.ObservedTime.UTC(), l.TraceID, l.SpanID, l.Severity, l.SeverityText, l.Body, l.RequestID,
				l.ServiceName, l.ServiceVersion, l.InstanceID, l.Environment, l.Host, l.AvailabilityZone, jsonObj(l.Resource.Attributes),
				l.Scope.Name, l.Scope.Version, jsonObj(l.Attributes), l.EventName, l.Source)
		} else {
			sp := &b.Spans[i]
			err = a.AppendRow(sp.Start.UTC(), int64(sp.Duration), sp.TraceID, sp.SpanID, sp.ParentSpanID, sp.TraceState,
				sp.Name, sp.Kind, sp.StatusCode, sp.StatusMessage, sp.RequestID,
				sp.ServiceName, sp.ServiceVersion, sp.InstanceID, sp.Environment, sp.Host, sp.AvailabilityZone, jsonObj(sp.Resource.Attributes),
				sp.Scope.Name, sp.Scope.Version, jsonObj(sp.Attributes), jsonArr(sp.Events), jsonArr(sp.Links))
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// TestWriteAtomic checks that a Write whose last record cannot be stored,
// more than a chunk in, stores none of its records.
func TestWriteAtomic(t *testing.T) {
	s := openTest(t)
	b := testBatch(3000)
	b.Spans = nil
	for i := range b.Logs {
		b.Logs[i].Time = time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	}
	b.Logs[2999].ObservedTime = time.Unix(math.MaxInt64/1000, 0) // out of DuckDB's range
	if err := s.Write(context.Background(), b); err == nil {
		t.Fatal("Write succeeded with a timestamp out of range")
	}
	if n := selectAll(t, s, "SELECT count(*) FROM logs")[0][0]; n != int64(0) {
		t.Fatalf("%v logs stored after a failed Write", n)
	}
	// The connection went back to the pool clean: the next Write works.
	b.Logs[2999].ObservedTime = b.Logs[2999].Time
	if err := s.Write(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	if n := selectAll(t, s, "SELECT count(*) FROM logs")[0][0]; n != int64(3000) {
		t.Fatalf("%v logs stored, want 3000", n)
	}
}

// FuzzChunkWriterVarchar checks that any string comes back as written,
// invalid UTF-8 replaced, whether inlined or not.
func FuzzChunkWriterVarchar(f *testing.F) {
	for _, s := range append(edgeStrings[:13], "a\x00b", "bad\xff", "\xe2\x82", strings.Repeat("ab", 3000)) {
		f.Add(s)
	}
	s := openTest(f)
	execSQL(f, s, "CREATE TABLE t (id BIGINT, s VARCHAR)")
	f.Fuzz(func(t *testing.T, in string) {
		execSQL(t, s, "DELETE FROM t")
		variants := []string{in, in + in, strings.Repeat(in, 5)}
		if err := withRaw(t, s, func(w *chunkWriter) {
			for i, v := range variants {
				w.Row()
				w.BigInt(int64(i))
				w.Varchar(v)
			}
		}); err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, r := range selectAll(t, s, "SELECT s FROM t ORDER BY id") {
			got = append(got, r[0].(string))
		}
		for i, v := range variants {
			want := strings.ToValidUTF8(v, "\uFFFD")
			if i >= len(got) || got[i] != want {
				t.Fatalf("variant %d of %q stored as %q", i, in, got)
			}
		}
		var n int
		if err := s.db.QueryRow("SELECT count(*) FROM t WHERE s = ?", strings.ToValidUTF8(in, "\uFFFD")).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n < 1 {
			t.Fatalf("%q not found by equality", in)
		}
	})
}

// exec runs a statement that returns no rows on a raw connection.
func exec(c mapping.Connection, q string) error {
	var res mapping.Result
	defer mapping.DestroyResult(&res)
	if mapping.Query(c, q, &res) == mapping.StateError {
		return fmt.Errorf("%s: %s", q, mapping.ResultError(&res))
	}
	return nil
}

// TestChunkWriterLists writes list columns over several chunks, with empty
// lists and NULLs, and reads them back.
func TestChunkWriterLists(t *testing.T) {
	s := openTest(t)
	execSQL(t, s, "CREATE TABLE t (id BIGINT, a SMALLINT[], b BIGINT[], s SMALLINT)")
	const n = 5000 // over two chunks
	err := withRaw(t, s, func(w *chunkWriter) {
		for i := range n {
			w.Row()
			w.BigInt(int64(i))
			if i%7 == 3 {
				w.Null()
			} else {
				writeList(w, mapping.TypeSmallInt, i%5, func(j int) int16 { return int16(i + j) })
			}
			writeList(w, mapping.TypeBigInt, i%3, func(j int) int64 { return int64(i)*1000 + int64(j) })
			w.SmallInt(int16(-i))
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	rows := selectAll(t, s, "SELECT id, a, b, s FROM t ORDER BY id")
	if len(rows) != n {
		t.Fatalf("%d rows, want %d", len(rows), n)
	}
	for i, r := range rows {
		var a, b []any
		if i%7 != 3 {
			a = []any{}
			for j := range i % 5 {
				a = append(a, int16(i+j))
			}
		}
		b = []any{}
		for j := range i % 3 {
			b = append(b, int64(i)*1000+int64(j))
		}
		want := []any{int64(i), a, b, int16(-i)}
		if i%7 == 3 {
			want[1] = nil
		}
		if !reflect.DeepEqual(r, want) {
			t.Fatalf("row %d = %#v, want %#v", i, r, want)
		}
	}

	// A list of the wrong element type is refused.
	err = withRaw(t, s, func(w *chunkWriter) {
		w.Row()
		w.BigInt(1)
		writeList(w, mapping.TypeBigInt, 1, func(int) int64 { return 1 })
	})
	if err == nil || !strings.Contains(err.Error(), "list of type") {
		t.Errorf("list of the wrong type: %v", err)
	}
}
