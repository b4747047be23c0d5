package datadir_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fibinc/telltale/internal/datadir"
	"github.com/fibinc/telltale/internal/store/duckdb"
	"github.com/fibinc/telltale/internal/telemetry"
)

var now = time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)

func TestPrepare(t *testing.T) {
	for _, tc := range []struct {
		name      string
		setup     func(t *testing.T, dir string) // nil: the directory does not exist
		wantErr   string                         // "" for success
		adopted   bool
		wantFmt   int
		wantVer   string
		keepFiles []string // must still be there
	}{
		{name: "missing directory is created", wantFmt: datadir.Format, wantVer: "v1.2.3"},
		{name: "empty directory", setup: func(t *testing.T, dir string) {}, wantFmt: datadir.Format, wantVer: "v1.2.3"},
		{name: "file system root with lost+found", setup: func(t *testing.T, dir string) {
			mkdir(t, dir, "lost+found")
		}, wantFmt: datadir.Format},
		{name: "foreign files", setup: func(t *testing.T, dir string) {
			file(t, dir, "postgresql.conf", "x")
			file(t, dir, "PG_VERSION", "16")
			mkdir(t, dir, "base")
			file(t, dir, "pg_hba.conf", "x")
		}, wantErr: "is not a Telltale data directory (found PG_VERSION, base, pg_hba.conf and 1 more); choose another --data-dir"},
		{name: "one foreign file", setup: func(t *testing.T, dir string) {
			file(t, dir, "notes.txt", "x")
		}, wantErr: "(found notes.txt)"},
		{name: "earlier Telltale without marker is adopted", setup: func(t *testing.T, dir string) {
			file(t, dir, "state.duckdb.wal", "")
			mkdir(t, dir, "logs")
			mkdir(t, dir, "spans")
		}, adopted: true, wantFmt: datadir.Format, keepFiles: []string{"state.duckdb.wal", "logs"}},
		{name: "current marker", setup: func(t *testing.T, dir string) {
			marker(t, dir, `{"format": 1, "created": "2025-01-01T00:00:00Z", "version": "v0.9"}`)
			file(t, dir, "something-else", "x") // ours, marked: not inspected
		}, wantFmt: 1, wantVer: "v0.9"},
		{name: "newer format", setup: func(t *testing.T, dir string) {
			marker(t, dir, `{"format": 2, "created": "2027-01-01T00:00:00Z", "version": "v3.0.0"}`)
		}, wantErr: "has format 2, from a newer Telltale (created by v3.0.0); this version reads format 1"},
		{name: "unknown format", setup: func(t *testing.T, dir string) {
			marker(t, dir, `{"format": -4}`)
		}, wantErr: "unknown format -4"},
		{name: "corrupt marker", setup: func(t *testing.T, dir string) {
			marker(t, dir, "\x00\x01garbage")
		}, wantErr: "it is not a Telltale data directory marker"},
		{name: "marker without format", setup: func(t *testing.T, dir string) {
			marker(t, dir, `{"hello": "world"}`)
		}, wantErr: "no format"},
		{name: "garbage DuckDB file", setup: func(t *testing.T, dir string) {
			mkdir(t, dir, "logs")
			file(t, dir, "logs/2026-11-20.duckdb", strings.Repeat("not a database ", 1000))
		}, wantErr: "logs/2026-11-20.duckdb is damaged: it is not a DuckDB database file; stop Telltale, move the file out"},
		{name: "DuckDB file shorter than its headers", setup: func(t *testing.T, dir string) {
			file(t, dir, "telltale.duckdb", "DUCK")
		}, wantErr: "telltale.duckdb is damaged: it is truncated (4 bytes, shorter than DuckDB's headers)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "data")
			if tc.setup != nil {
				mkdir(t, dir, "")
				tc.setup(t, dir)
			}
			m, adopted, err := datadir.Prepare(dir, "v1.2.3", now)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Prepare() = %v, want an error with %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Prepare() = %v", err)
			}
			if adopted != tc.adopted || m.Format != tc.wantFmt || (tc.wantVer != "" && m.Version != tc.wantVer) {
				t.Fatalf("Prepare() = %+v, adopted %v; want format %d version %q adopted %v", m, adopted, tc.wantFmt, tc.wantVer, tc.adopted)
			}
			var onDisk datadir.Marker
			b, err := os.ReadFile(filepath.Join(dir, datadir.MarkerName))
			if err != nil || json.Unmarshal(b, &onDisk) != nil || onDisk.Format != m.Format {
				t.Fatalf("marker on disk %q (%v), want format %d", b, err, m.Format)
			}
			for _, f := range tc.keepFiles {
				if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
					t.Errorf("%s is gone: %v", f, err)
				}
			}
			// A second start reads the marker it wrote.
			m2, adopted2, err := datadir.Prepare(dir, "v9", now.Add(time.Hour))
			if err != nil || m2 != m || adopted2 {
				t.Fatalf("second Prepare() = %+v, %v, %v; want %+v", m2, adopted2, err, m)
			}
		})
	}
}

// TestCheckFile checks the files of a real store, then damages them.
func TestCheckFile(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	st, err := duckdb.Open(ctx, duckdb.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	day := time.Now().UTC().Truncate(24 * time.Hour)
	for d := range 3 {
		var b telemetry.Batch
		for i := range 3000 {
			ts := day.Add(-time.Duration(d) * 24 * time.Hour).Add(time.Duration(i) * time.Millisecond)
			b.Logs = append(b.Logs, telemetry.Log{Time: ts, ObservedTime: ts, Body: fmt.Sprintf("%d %d %s", d, i, strings.Repeat("y", 300))})
		}
		if err := st.Write(ctx, &b); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*", "*.duckdb"))
	top, _ := filepath.Glob(filepath.Join(dir, "*.duckdb"))
	files = append(files, top...)
	if len(files) < 4 {
		t.Fatalf("only %d DuckDB files: %v", len(files), files)
	}
	for _, f := range files {
		if err := datadir.CheckFile(f); err != nil {
			t.Errorf("CheckFile on an intact file: %v", err)
		}
	}
	if _, _, err := datadir.Prepare(dir, "v1", now); err != nil {
		t.Fatalf("Prepare on a store written by this version: %v", err)
	}

	var big string
	var size int64
	for _, f := range files {
		if fi, _ := os.Stat(f); fi.Size() > size {
			big, size = f, fi.Size()
		}
	}
	for _, tc := range []struct {
		name   string
		damage func(f string) error
		want   string
	}{
		{"truncated to half", func(f string) error { return os.Truncate(f, size/2) }, "is truncated"},
		{"truncated to 100 bytes", func(f string) error { return os.Truncate(f, 100) }, "shorter than DuckDB's headers"},
		{"empty", func(f string) error { return os.Truncate(f, 0) }, "(0 bytes, shorter than DuckDB's headers)"},
		{"overwritten", func(f string) error { return os.WriteFile(f, make([]byte, size), 0o644) }, "is not a DuckDB database file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := filepath.Join(t.TempDir(), "copy.duckdb")
			b, err := os.ReadFile(big)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(f, b, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := tc.damage(f); err != nil {
				t.Fatal(err)
			}
			err = datadir.CheckFile(f)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), f) {
				t.Fatalf("CheckFile() = %v, want an error naming %s with %q", err, f, tc.want)
			}
		})
	}
}

func mkdir(t *testing.T, dir, name string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(dir, name), 0o755); err != nil {
		t.Fatal(err)
	}
}

func file(t *testing.T, dir, name, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func marker(t *testing.T, dir, content string) { file(t, dir, datadir.MarkerName, content) }
