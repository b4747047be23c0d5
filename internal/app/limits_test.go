package app

import (
	"log/slog"
	"testing"
)

func TestSplitMemory(t *testing.T) {
	s := splitMemory(1000 << 20)
	if s.goLimit+s.duckdb > 1000<<20 {
		t.Errorf("Go %d + DuckDB %d exceed the budget", s.goLimit, s.duckdb)
	}
	if s.admission+s.queue > s.goLimit {
		t.Errorf("ingest in flight %d + queue %d exceed the Go share %d", s.admission, s.queue, s.goLimit)
	}
	for name, v := range map[string]int64{"go": s.goLimit, "duckdb": s.duckdb, "admission": s.admission, "queue": s.queue} {
		if v <= 0 {
			t.Errorf("%s share is %d", name, v)
		}
	}
	if off := splitMemory(-1); off.goLimit != 0 || off.duckdb != 0 || off.admission != 0 || off.queue >= 0 {
		t.Errorf("no budget: %+v, want no limits", off)
	}
	if got, _ := applyMemoryLimits(memorySplit{duckdb: 400 << 20}, "", discard()); got != "400MB" {
		t.Errorf("DuckDB limit from the budget = %q, want 400MB", got)
	}
	if got, _ := applyMemoryLimits(memorySplit{duckdb: 400 << 20}, "1GB", discard()); got != "1GB" {
		t.Errorf("DuckDB limit given = %q, want 1GB", got)
	}
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }
