package duckdb

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fibinc/telltale/internal/red"
	"github.com/fibinc/telltale/internal/telemetry"
)

var redDay = time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)

// redSpans returns n spans over the first hours of two days, of a few
// services, kinds, statuses and durations, some of them roots.
func redSpans(rng *rand.Rand, n int) []telemetry.Span {
	kinds := []string{"server", "client", "internal", "consumer", "producer"}
	statuses := []string{"ok", "unset", "error"}
	out := make([]telemetry.Span, n)
	for i := range out {
		parent := ""
		if rng.IntN(3) > 0 {
			parent = fmt.Sprintf("%016x", rng.Uint64())
		}
		out[i] = telemetry.Span{
			Resource: telemetry.Resource{ServiceName: fmt.Sprintf("svc-%d", rng.IntN(4)), ServiceVersion: fmt.Sprintf("1.%d", rng.IntN(2)),
				Environment: []string{"prod", "staging"}[rng.IntN(2)]},
			TraceID: fmt.Sprintf("%032x", rng.Uint64()), SpanID: fmt.Sprintf("%016x", rng.Uint64()), ParentSpanID: parent,
			Name: fmt.Sprintf("op-%d", rng.IntN(5)), Kind: kinds[rng.IntN(len(kinds))], StatusCode: statuses[rng.IntN(len(statuses))],
			Start:    redDay.Add(time.Duration(rng.IntN(2))*24*time.Hour + time.Duration(rng.Int64N(int64(3*time.Hour)))),
			Duration: time.Duration(rng.Int64N(int64(2 * time.Second))),
		}
	}
	return out
}

// redRows returns the rows of q, formatted, sorted.
func redRows(t *testing.T, s *Store, q string) []string {
	t.Helper()
	var out []string
	for _, r := range selectAll(t, s, q) {
		out = append(out, fmt.Sprint(r...))
	}
	slices.Sort(out)
	return out
}

// checkRED checks that every level's rows sum to what the stored spans
// give, and returns whether each level holds one row per key and bucket.
func checkRED(t *testing.T, s *Store) (merged bool) {
	t.Helper()
	merged = true
	spans := "(" + backfillSQL("spans") + ")"
	for _, l := range red.Levels() {
		want := redRows(t, s, mergeSQL(spans, l, "true"))
		if got := redRows(t, s, mergeSQL(l.Table, l, "true")); !slices.Equal(got, want) {
			t.Errorf("%s: %d rows, differing from the spans' %d", l.Table, len(got), len(want))
		}
		rows := len(selectAll(t, s, "SELECT 1 FROM "+l.Table))
		merged = merged && rows == len(want)
	}
	return merged
}

func TestREDWriteAndCompact(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(1, 2))
	spans := redSpans(rng, 3000)
	for i := 0; i < len(spans); i += 300 {
		if err := s.Write(ctx, &telemetry.Batch{Spans: spans[i : i+300]}); err != nil {
			t.Fatal(err)
		}
	}
	if checkRED(t, s) {
		t.Errorf("ten writes of random spans left one row per key and bucket")
	}
	// A pass cut short keeps its work for the next.
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	s.CompactRED(cancelled)
	if err := s.CompactRED(ctx); err != nil {
		t.Fatal(err)
	}
	if !checkRED(t, s) {
		t.Errorf("compaction left rows to merge")
	}
	// Every span counted once, in a histogram bucket of its duration.
	var n, sum int64
	for _, r := range selectAll(t, s, "SELECT CAST(sum(count) AS BIGINT), CAST(sum(list_sum(hist_cnt)) AS BIGINT) FROM red_hours") {
		n, sum = r[0].(int64), r[1].(int64)
	}
	if n != int64(len(spans)) || sum != n {
		t.Errorf("hours count %d spans with %d in histograms, want %d", n, sum, len(spans))
	}

	// Writes after a pass, to compacted minutes, compact again.
	if err := s.Write(ctx, &telemetry.Batch{Spans: redSpans(rng, 50)}); err != nil {
		t.Fatal(err)
	}
	if err := s.CompactRED(ctx); err != nil {
		t.Fatal(err)
	}
	if !checkRED(t, s) {
		t.Errorf("the second pass left rows to merge")
	}
}

// TestREDBackfill drops the aggregates of a partition, as a partition
// written by an older version lacks them, and checks that opening the store
// again rebuilds them from the spans.
func TestREDBackfill(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s, err := Open(ctx, Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	spans := redSpans(rand.New(rand.NewPCG(5, 6)), 2000)
	if err := s.Write(ctx, &telemetry.Batch{Spans: spans}); err != nil {
		t.Fatal(err)
	}
	minutes := red.Levels()[0]
	want := redRows(t, s, mergeSQL(minutes.Table, minutes, "true"))
	for i, k := range s.partitions(telemetry.SignalSpans) {
		// The first day lacks every table, the second only one, as
		// when a version adds a level.
		for _, l := range red.Levels()[i:] {
			execSQL(t, s, "DROP TABLE "+k.catalog()+".main."+l.Table)
			if i > 0 {
				break
			}
		}
	}
	s.Close()

	s, err = Open(ctx, Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := redRows(t, s, mergeSQL(minutes.Table, minutes, "true")); !slices.Equal(got, want) {
		t.Errorf("backfilled %d minute rows, want %d", len(got), len(want))
	}
	if !checkRED(t, s) {
		t.Errorf("backfill left rows to merge")
	}
}

// TestREDAtomic checks that spans are not stored when their aggregates
// cannot be.
func TestREDAtomic(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	spans := redSpans(rand.New(rand.NewPCG(7, 8)), 3000)
	for i := range spans {
		spans[i].Start = redDay.Add(time.Duration(i) * time.Second)
	}
	if err := s.Write(ctx, &telemetry.Batch{Spans: spans[:1]}); err != nil {
		t.Fatal(err)
	}
	k := s.partitions(telemetry.SignalSpans)[0]
	execSQL(t, s, "DROP TABLE "+k.catalog()+".main.red_hours")
	err := s.Write(ctx, &telemetry.Batch{Spans: spans[1:]})
	if err == nil || !strings.Contains(err.Error(), "red_hours") {
		t.Fatalf("Write without an aggregate table: %v", err)
	}
	if n := selectAll(t, s, "SELECT count(*) FROM spans")[0][0]; n != int64(1) {
		t.Errorf("%v spans stored, want the first write's 1", n)
	}
	// With the table back, the same write stores everything.
	hours := red.Levels()[1]
	execSQL(t, s, "CREATE TABLE "+k.catalog()+".main.red_hours "+redDDL)
	execSQL(t, s, "INSERT INTO "+k.catalog()+".main.red_hours "+mergeSQL(k.catalog()+".main.red_minutes", hours, "true"))
	if err := s.Write(ctx, &telemetry.Batch{Spans: spans[1:]}); err != nil {
		t.Fatal(err)
	}
	if n := selectAll(t, s, "SELECT count(*) FROM spans")[0][0]; n != int64(len(spans)) {
		t.Errorf("%v spans stored, want %d", n, len(spans))
	}
	checkRED(t, s)
}

// TestREDDropPartition checks that the views follow retention.
func TestREDDropPartition(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	if err := s.Write(ctx, &telemetry.Batch{Spans: redSpans(rand.New(rand.NewPCG(9, 9)), 500)}); err != nil {
		t.Fatal(err)
	}
	parts, err := s.Partitions(ctx)
	if err != nil || len(parts) != 2 {
		t.Fatalf("partitions %v, %v; want two days", parts, err)
	}
	if err := s.DropPartition(ctx, parts[0]); err != nil {
		t.Fatal(err)
	}
	if err := s.CompactRED(ctx); err != nil {
		t.Fatal(err)
	}
	checkRED(t, s)
	for _, r := range selectAll(t, s, "SELECT min(bucket) FROM red_minutes") {
		if !r[0].(time.Time).Equal(redDay.Add(24 * time.Hour)) {
			t.Errorf("oldest minute %v after dropping the first day", r[0])
		}
	}
	if _, err := filepath.Glob(filepath.Join(s.dir, "spans", "*")); err != nil {
		t.Fatal(err)
	}
}
