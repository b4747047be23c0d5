package datadir_test

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fibinc/telltale/internal/datadir"
)

// header returns the first bytes of a DuckDB file whose current header
// counts blocks of blockSize bytes.
func header(blocks, blockSize uint64) []byte {
	b := make([]byte, 3*4096)
	copy(b[8:], "DUCK")
	h := b[4096+8:]
	binary.LittleEndian.PutUint64(h[0:], 1)
	binary.LittleEndian.PutUint64(h[24:], blocks)
	binary.LittleEndian.PutUint64(h[32:], blockSize)
	return b
}

func FuzzCheckFile(f *testing.F) {
	f.Add(header(0, 262144))
	f.Add(append(header(1, 16384), make([]byte, 16384)...))
	f.Add(header(1, 262144))
	f.Add([]byte("DUCK"))
	f.Add([]byte{})
	f.Add(bytes.Repeat([]byte{0xff}, 3*4096))
	path := filepath.Join(f.TempDir(), "x.duckdb")
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		err := datadir.CheckFile(path)
		if err == nil {
			// Accepted: it has DuckDB's headers and magic.
			if len(data) < 3*4096 || string(data[8:12]) != "DUCK" {
				t.Fatalf("accepted %d bytes without DuckDB's headers", len(data))
			}
			return
		}
		if !strings.Contains(err.Error(), path) {
			t.Fatalf("error does not name the file: %v", err)
		}
	})
}

func FuzzMarker(f *testing.F) {
	f.Add(`{"format": 1, "created": "2025-01-01T00:00:00Z"}`)
	f.Add(`{"format": 2}`)
	f.Add(`{"format": 0}`)
	f.Add(`{"format": "1"}`)
	f.Add(`null`)
	f.Add(``)
	f.Fuzz(func(t *testing.T, content string) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, datadir.MarkerName), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		m, adopted, err := datadir.Prepare(dir, "v", time.Now())
		if err != nil {
			return
		}
		if m.Format < 1 || m.Format > datadir.Format || adopted {
			t.Fatalf("accepted marker %q as %+v, adopted %v", content, m, adopted)
		}
	})
}
