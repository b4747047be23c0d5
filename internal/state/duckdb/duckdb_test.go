package duckdb_test

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"

	duckdbdriver "github.com/duckdb/duckdb-go/v2"

	"github.com/fibinc/telltale/internal/state"
	"github.com/fibinc/telltale/internal/state/duckdb"
	"github.com/fibinc/telltale/internal/state/statetest"
)

func open(tb testing.TB, dir string) *duckdb.Store {
	tb.Helper()
	s, err := duckdb.Open(context.Background(), duckdb.Options{Path: filepath.Join(dir, duckdb.FileName)})
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	return s
}

func TestConformance(t *testing.T) {
	statetest.Run(t, func(t *testing.T, dir string) state.Store { return open(t, dir) })
}

func BenchmarkStore(b *testing.B) {
	statetest.Benchmark(b, func(b *testing.B, dir string) state.Store { return open(b, dir) })
}

// rawExec runs statements on a database file with no store in the way.
func rawExec(t *testing.T, path string, stmts ...string) {
	t.Helper()
	c, err := duckdbdriver.NewConnector(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(c)
	defer db.Close()
	for _, q := range stmts {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

func TestOpenErrors(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()

	notDuck := filepath.Join(dir, "text.duckdb")
	if err := os.WriteFile(notDuck, []byte("this is not a database, it is a text file of some length\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	newer := filepath.Join(dir, "newer.duckdb")
	rawExec(t, newer, "CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at TIMESTAMP NOT NULL)",
		"INSERT INTO schema_version VALUES (1, now()), (999, now())")
	foreign := filepath.Join(dir, "foreign.duckdb")
	rawExec(t, foreign, "CREATE TABLE spans (x INTEGER)")

	for _, tc := range []struct {
		name, path, want string
	}{
		{"no path", "", "no path"},
		{"not DuckDB", notDuck, notDuck},
		{"newer schema", newer, "schema version 999"},
		{"other database", foreign, "not a Telltale state database"},
	} {
		s, err := duckdb.Open(ctx, duckdb.Options{Path: tc.path})
		if err == nil {
			s.Close()
			t.Errorf("Open(%s) succeeded", tc.name)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) || (tc.path != "" && !strings.Contains(err.Error(), tc.path)) {
			t.Errorf("Open(%s) error %q, want it to name %q and the file", tc.name, err, tc.want)
		}
	}
}

func TestMigrations(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "dir", duckdb.FileName) // directories are created
	for range 2 {
		s, err := duckdb.Open(context.Background(), duckdb.Options{Path: path, MemoryLimit: "32MB"})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		s.Close()
	}
	c, err := duckdbdriver.NewConnector(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(c)
	defer db.Close()
	var n, max int
	if err := db.QueryRow("SELECT count(*), max(version) FROM schema_version").Scan(&n, &max); err != nil {
		t.Fatal(err)
	}
	if n != max || max < 1 {
		t.Errorf("schema_version has %d rows up to version %d after two opens; want one row per version", n, max)
	}
}
