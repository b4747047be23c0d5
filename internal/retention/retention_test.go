package retention_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/fibinc/telltale/internal/retention"
	"github.com/fibinc/telltale/internal/store"
	"github.com/fibinc/telltale/internal/store/duckdb"
	"github.com/fibinc/telltale/internal/telemetry"
)

var now = time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)

// fill writes logs and spans for each of the last days days, with n records a day.
func fill(t *testing.T, s *duckdb.Store, days, n int) {
	t.Helper()
	b := &telemetry.Batch{}
	for d := range days {
		for i := range n {
			ts := now.Add(-time.Duration(d) * 24 * time.Hour).Add(time.Duration(i) * time.Millisecond)
			b.Logs = append(b.Logs, telemetry.Log{Time: ts, Body: fmt.Sprintf("line %d of day %d with some padding to take space", i, d), Attributes: "{}"})
			b.Spans = append(b.Spans, telemetry.Span{Start: ts, TraceID: fmt.Sprintf("%032x", d*n+i+1), SpanID: fmt.Sprintf("%016x", i+1)})
		}
	}
	if err := s.Write(context.Background(), b); err != nil {
		t.Fatal(err)
	}
}

func names(ps []store.Partition) []string {
	var out []string
	for _, p := range ps {
		out = append(out, fmt.Sprintf("%s/%s", p.Signal, p.Day.Format(time.DateOnly)))
	}
	slices.Sort(out)
	return out
}

func TestMaxAgeFreesDisk(t *testing.T) {
	dir := t.TempDir()
	s, err := duckdb.Open(context.Background(), duckdb.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	fill(t, s, 4, 1000) // days 11-18 .. 11-21
	before := dirSize(t, dir)

	e := retention.New(retention.Options{
		Store:  s,
		MaxAge: map[telemetry.Signal]time.Duration{telemetry.SignalLogs: 36 * time.Hour, telemetry.SignalSpans: 72 * time.Hour},
		Now:    func() time.Time { return now },
	})
	dropped, err := e.Enforce(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// Logs older than 2026-11-20 00:00 (now-36h) go: days 18 and 19.
	// Spans older than 2026-11-18 12:00: no whole day, none go.
	want := []string{"logs/2026-11-18", "logs/2026-11-19"}
	if got := names(dropped); !slices.Equal(got, want) {
		t.Errorf("dropped %q, want %q", got, want)
	}
	for _, f := range []string{"logs/2026-11-18.duckdb", "logs/2026-11-19.duckdb"} {
		if _, err := os.Stat(filepath.Join(dir, f)); !os.IsNotExist(err) {
			t.Errorf("%s still exists (err %v)", f, err)
		}
	}
	if after := dirSize(t, dir); after >= before {
		t.Errorf("disk use %d after retention, %d before: nothing freed", after, before)
	}
	rows, err := s.Query(context.Background(), "SELECT count(*), min(timestamp) FROM logs")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	rows.Next()
	var n int
	var oldest time.Time
	rows.Scan(&n, &oldest)
	if n != 2000 || oldest.Before(time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("after retention: %d logs, oldest %s", n, oldest)
	}
}

func TestMaxBytesDropsOldestButNeverToday(t *testing.T) {
	s, err := duckdb.Open(context.Background(), duckdb.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	fill(t, s, 3, 2000)
	parts, _ := s.Partitions(context.Background())
	var total int64
	for _, p := range parts {
		total += p.Bytes
	}
	e := retention.New(retention.Options{Store: s, MaxBytes: 1, Now: func() time.Time { return now }})
	dropped, err := e.Enforce(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"logs/2026-11-19", "logs/2026-11-20", "spans/2026-11-19", "spans/2026-11-20"}
	if got := names(dropped); !slices.Equal(got, want) {
		t.Errorf("dropped %q, want %q", got, want)
	}
	left, _ := s.Partitions(context.Background())
	if got := names(left); !slices.Equal(got, []string{"logs/2026-11-21", "spans/2026-11-21"}) {
		t.Errorf("left %q", got)
	}
}

func dirSize(t *testing.T, dir string) int64 {
	t.Helper()
	var n int64
	filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			n += fi.Size()
		}
		return nil
	})
	return n
}
