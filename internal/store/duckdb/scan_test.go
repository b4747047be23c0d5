package duckdb_test

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/fibinc/telltale/internal/store"
	"github.com/fibinc/telltale/internal/store/duckdb"
	"github.com/fibinc/telltale/internal/telemetry"
)

// TestQueryChunks writes metric points over two days and reads numeric
// columns back column-wise: every row once, NULLs reported as such across
// validity words and chunks, arguments of every supported type bound.
func TestQueryChunks(t *testing.T) {
	ctx := context.Background()
	st, err := duckdb.Open(ctx, duckdb.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	day := time.Date(2026, 3, 1, 23, 0, 0, 0, time.UTC)
	const n = 5000 // several chunks of 2048 rows, over two partitions
	points := make([]telemetry.MetricPoint, n)
	for i := range points {
		points[i] = telemetry.MetricPoint{
			Name: "m", Type: telemetry.MetricGauge, SeriesID: uint64(i%7) + 1<<63, Attributes: "{}",
			Resource: telemetry.Resource{ServiceName: "s", Attributes: "{}"},
			Time:     day.Add(time.Duration(i) * time.Second), Value: float64(i),
		}
		if i%100 == 70 {
			points[i].Value = math.NaN()
		}
	}
	if err := st.Write(ctx, &telemetry.Batch{Metrics: points}); err != nil {
		t.Fatal(err)
	}

	seen := make([]bool, n)
	nulls := 0
	err = st.QueryChunks(ctx, `SELECT series_id, epoch_ms(timestamp) AS t, CASE WHEN isnan(value) THEN NULL ELSE value END
FROM metric_points WHERE timestamp >= ? AND name = ? AND series_id >= ? AND value > ? AND ? AND ? > 0 AND ? > 0`,
		[]any{day, "m", uint64(1 << 63), -1.0, true, int64(1), 1}, func(c store.Chunk) error {
			ids, ts, vs := c.Uint64s(0), c.Int64s(1), c.Float64s(2)
			if len(ids) != c.Len() || len(ts) != c.Len() || len(vs) != c.Len() {
				t.Fatalf("column lengths %d %d %d for %d rows", len(ids), len(ts), len(vs), c.Len())
			}
			for r := range c.Len() {
				i := int(time.UnixMilli(ts[r]).Sub(day) / time.Second)
				if i < 0 || i >= n || seen[i] {
					t.Fatalf("row at %d read twice or out of range", ts[r])
				}
				seen[i] = true
				if ids[r] != uint64(i%7)+1<<63 {
					t.Errorf("row %d: series %d", i, ids[r])
				}
				switch valid := c.Valid(2, r); {
				case i%100 == 70 && valid:
					t.Errorf("row %d: NULL read as %v", i, vs[r])
				case i%100 == 70:
					nulls++
				case !valid || vs[r] != float64(i):
					t.Errorf("row %d: value %v (valid %v)", i, vs[r], valid)
				}
				if !c.Valid(0, r) || !c.Valid(1, r) {
					t.Errorf("row %d: non-NULL column read as NULL", i)
				}
			}
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	for i, ok := range seen {
		if !ok {
			t.Fatalf("row %d not read", i)
		}
	}
	if nulls != n/100 {
		t.Errorf("%d NULLs, want %d", nulls, n/100)
	}

	errStop := errors.New("stop")
	calls := 0
	err = st.QueryChunks(ctx, "SELECT series_id FROM metric_points", nil, func(store.Chunk) error { calls++; return errStop })
	if !errors.Is(err, errStop) || calls != 1 {
		t.Errorf("fn error: got %v after %d calls", err, calls)
	}
	for _, tc := range []struct{ query, want string }{
		{"SELECT name FROM metric_points", "is not BIGINT, UBIGINT or DOUBLE"},
		{"SELECT nonsense FROM metric_points", "cannot prepare query"},
	} {
		err := st.QueryChunks(ctx, tc.query, nil, func(store.Chunk) error { return nil })
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.query, err, tc.want)
		}
	}
	if err := st.QueryChunks(ctx, "SELECT 1::BIGINT WHERE ? ", []any{struct{}{}}, func(store.Chunk) error { return nil }); err == nil {
		t.Error("an argument of an unsupported type was accepted")
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := st.QueryChunks(cancelled, "SELECT series_id FROM metric_points", nil, func(store.Chunk) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: %v", err)
	}
	// The connection pool still works after all that.
	rows := 0
	if err := st.QueryChunks(ctx, "SELECT count(*)::BIGINT FROM metric_points", nil, func(c store.Chunk) error {
		rows = int(c.Int64s(0)[0])
		return nil
	}); err != nil || rows != n {
		t.Errorf("count = %d, %v; want %d", rows, err, n)
	}
}

// TestQueryChunksInterrupt cancels a long query while it runs.
func TestQueryChunksInterrupt(t *testing.T) {
	ctx := context.Background()
	st, err := duckdb.Open(ctx, duckdb.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	begin := time.Now()
	err = st.QueryChunks(ctx, "SELECT sum(a.range * b.range)::DOUBLE FROM range(100000000) a, range(100) b", nil,
		func(store.Chunk) error { return nil })
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want the deadline", err)
	}
	if d := time.Since(begin); d > 10*time.Second {
		t.Errorf("interrupt took %s", d)
	}
}
