package dialect_test

import (
	"database/sql"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	_ "github.com/duckdb/duckdb-go/v2"

	"github.com/fibinc/telltale/internal/query/dialect"
	"github.com/fibinc/telltale/internal/red"
)

// TestDuckDBDurationBucket checks the SQL against red.Index at every bucket
// boundary, around every power of two and at random.
func TestDuckDBDurationBucket(t *testing.T) {
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ds := []int64{math.MinInt64, -1, 0, math.MaxInt64, red.MaxDuration, red.MaxDuration + 1}
	for i := range red.Buckets {
		lo, hi := red.Bounds(i)
		ds = append(ds, lo, hi-1, hi)
	}
	for e := range 63 {
		p := int64(1) << e
		ds = append(ds, p-1, p, p+1)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for range 1000 {
		ds = append(ds, rng.Int64N(red.MaxDuration), int64(math.Exp(rng.Float64()*40)))
	}
	if _, err := db.Exec("CREATE TABLE d (duration_ns BIGINT)"); err != nil {
		t.Fatal(err)
	}
	var vals []string
	var args []any
	for _, d := range ds {
		vals = append(vals, "(?)")
		args = append(args, d)
	}
	if _, err := db.Exec("INSERT INTO d VALUES "+strings.Join(vals, ","), args...); err != nil {
		t.Fatal(err)
	}
	rows, err := db.Query("SELECT duration_ns, " + dialect.DuckDB{}.DurationBucket("duration_ns") + " FROM d")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var d, got int64
		if err := rows.Scan(&d, &got); err != nil {
			t.Fatal(err)
		}
		if want := red.Index(d); got != int64(want) {
			t.Errorf("bucket of %d: SQL %d, Go %d", d, got, want)
		}
		n++
	}
	if err := rows.Err(); err != nil || n != len(ds) {
		t.Fatalf("%d of %d rows: %v", n, len(ds), err)
	}
}

func TestDuckDBHistogramRows(t *testing.T) {
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE TABLE h AS SELECT * FROM (VALUES ('a', [1, 5]::SMALLINT[], [2, 3]::BIGINT[]), ('b', [7]::SMALLINT[], [1]::BIGINT[])) t(k, hist_idx, hist_cnt)`); err != nil {
		t.Fatal(err)
	}
	q := "SELECT k, hist_idx, hist_cnt FROM (" + dialect.DuckDB{}.HistogramRows("k", "h", "k <> ?") + ") ORDER BY k, hist_idx"
	rows, err := db.Query(q, "z")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var k string
		var i, c int64
		if err := rows.Scan(&k, &i, &c); err != nil {
			t.Fatal(err)
		}
		got = append(got, k+string(rune('0'+i))+string(rune('0'+c)))
	}
	if strings.Join(got, " ") != "a12 a53 b71" {
		t.Errorf("rows %v, want a12 a53 b71", got)
	}
}

func TestDuckDBHistogramAgg(t *testing.T) {
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var got []any
	q := "SELECT list_sort(" + dialect.DuckDB{}.HistogramAgg("i", "c") + ") FROM (VALUES (3, 5), (1, 140737488355327)) t(i, c)"
	if err := db.QueryRow(q).Scan(&got); err != nil {
		t.Fatal(err)
	}
	want := []any{int64(1)<<dialect.HistogramShift | 140737488355327, int64(3)<<dialect.HistogramShift | 5}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("%v, want %v", got, want)
	}
}
