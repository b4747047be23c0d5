// Package datadir checks Telltale's data directory before the stores open
// it. A marker file, telltale-data.json, says that a directory is
// Telltale's and in which format; a start refuses a directory that holds
// something else, or a format this version does not know, and a DuckDB
// file whose header shows it truncated or foreign, naming the file. So a
// mistyped --data-dir fails the start instead of writing into some other
// program's files, and a damaged file is named before DuckDB fails on it
// with a message that does not say what to do.
package datadir

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// MarkerName is the marker file's name in the data directory.
const MarkerName = "telltale-data.json"

// Format is the layout version of the data directory this Telltale writes
// and reads. A layout change that older versions cannot read increments it.
const Format = 1

// Marker is the content of the marker file.
type Marker struct {
	Format  int       `json:"format"`
	Created time.Time `json:"created"`
	// Version is the Telltale version that created the directory.
	Version string `json:"version,omitempty"`
}

// known are the names Telltale itself puts in the data directory: a
// directory holding any of them but no marker was made by a version from
// before the marker, and is adopted.
var known = []string{
	"telltale.duckdb", "telltale.duckdb.wal", "telltale.duckdb.tmp", "state.duckdb", "state.duckdb.wal", "state.duckdb.tmp",
	"spans", "logs", "metrics", "errors", MarkerName + ".tmp",
}

// ignored are entries a directory may hold without being anyone's data: a
// file system's root has lost+found.
var ignored = []string{"lost+found", ".DS_Store"}

// Prepare makes dir ready for the stores and returns its marker. A missing
// or empty directory is created and marked; a directory made by an earlier
// Telltale (its files, no marker) is marked and adopted. It fails for a
// directory holding other files, a marker it cannot read or of a newer
// format, and a DuckDB file that is truncated or not a DuckDB file.
// version is written into a new marker.
func Prepare(dir, version string, now time.Time) (Marker, bool, error) {
	var m Marker
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return m, false, fmt.Errorf("cannot create data directory: %w", err)
	}
	path := filepath.Join(dir, MarkerName)
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		if err := json.Unmarshal(b, &m); err != nil || m.Format == 0 {
			return m, false, fmt.Errorf("cannot read %s: it is not a Telltale data directory marker (%v); if %s is a Telltale data directory, delete the marker to have it written again", path, cmp(err, errors.New("no format")), dir)
		}
		if m.Format > Format {
			return m, false, fmt.Errorf("data directory %s has format %d, from a newer Telltale (created by %s); this version reads format %d: run a newer version, or choose another --data-dir",
				dir, m.Format, cmp(m.Version, "an unknown version"), Format)
		}
		if m.Format < 1 {
			return m, false, fmt.Errorf("data directory %s has an unknown format %d in %s", dir, m.Format, path)
		}
	case errors.Is(err, os.ErrNotExist):
		found, ours, err := entries(dir)
		if err != nil {
			return m, false, err
		}
		if len(found) > 0 && !ours {
			return m, false, fmt.Errorf("%s is not a Telltale data directory (found %s); choose another --data-dir, or an empty or new directory",
				dir, list(found))
		}
		m = Marker{Format: Format, Created: now.UTC(), Version: version}
		if err := write(path, m); err != nil {
			return m, false, err
		}
		if err := checkFiles(dir); err != nil {
			return m, len(found) > 0, err
		}
		return m, len(found) > 0, nil
	default:
		return m, false, fmt.Errorf("cannot read data directory marker: %w", err)
	}
	return m, false, checkFiles(dir)
}

// entries lists dir's entries, but for the ignored ones, and reports
// whether any of them is Telltale's.
func entries(dir string) ([]string, bool, error) {
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil, false, fmt.Errorf("cannot read data directory: %w", err)
	}
	var found []string
	ours := false
	for _, de := range des {
		name := de.Name()
		if slices.Contains(ignored, name) {
			continue
		}
		found = append(found, name)
		if slices.Contains(known, name) {
			ours = true
		}
	}
	return found, ours, nil
}

func list(names []string) string {
	const max = 3
	if len(names) > max {
		return strings.Join(names[:max], ", ") + fmt.Sprintf(" and %d more", len(names)-max)
	}
	return strings.Join(names, ", ")
}

// write writes the marker through a temporary file and a rename, so that a
// crash leaves the old marker or the new one.
func write(path string, m Marker) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("cannot write data directory marker: %w", err)
	}
	_, err = f.Write(append(b, '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("cannot write data directory marker: %w", err)
	}
	return nil
}

// checkFiles checks the header of every DuckDB file of the directory and
// its subdirectories.
func checkFiles(dir string) error {
	top, err := filepath.Glob(filepath.Join(dir, "*.duckdb"))
	if err != nil {
		return err
	}
	sub, err := filepath.Glob(filepath.Join(dir, "*", "*.duckdb"))
	if err != nil {
		return err
	}
	for _, f := range append(top, sub...) {
		if err := CheckFile(f); err != nil {
			return err
		}
	}
	return nil
}

// DuckDB's file layout (storage version 64 and later): a main header
// block with the magic bytes "DUCK" after an 8-byte checksum, then two
// database headers of which the one with the higher iteration is current,
// then blocks of block_alloc_size bytes, block_count of them in use.
const (
	headerSize  = 4096
	headersSize = 3 * headerSize
)

var magic = []byte("DUCK")

// CheckFile reports a DuckDB file that is shorter than its header says, or
// that is not a DuckDB file, with what to do about it. A header it does not
// understand is not checked.
func CheckFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("cannot open database file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("cannot open database file: %w", err)
	}
	size := fi.Size()
	damaged := func(why string) error {
		return fmt.Errorf("database file %s is damaged: %s; stop Telltale, move the file out of the data directory (its data is lost) or restore it from a backup, and start again", path, why)
	}
	buf := make([]byte, headersSize)
	if _, err := io.ReadFull(f, buf); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return damaged(fmt.Sprintf("it is truncated (%d bytes, shorter than DuckDB's headers)", size))
		}
		return fmt.Errorf("cannot read database file %s: %w", path, err)
	}
	if string(buf[8:12]) != string(magic) {
		return damaged("it is not a DuckDB database file")
	}
	// The current header is the one of the higher iteration: DuckDB
	// writes it after the blocks it counts, and truncates the file only
	// after writing a header that counts fewer.
	need, iteration := int64(0), uint64(0)
	for _, off := range []int{headerSize, 2 * headerSize} {
		h := buf[off+8:]
		it := binary.LittleEndian.Uint64(h[0:])
		blocks := binary.LittleEndian.Uint64(h[24:])
		blockSize := binary.LittleEndian.Uint64(h[32:])
		if blockSize < 1<<14 || blockSize > 1<<30 || blocks > 1<<40 {
			continue // not a header this check understands, or never written
		}
		if it >= iteration {
			need, iteration = int64(headersSize+blocks*blockSize), it
		}
	}
	if need > size {
		return damaged(fmt.Sprintf("it is truncated (%d bytes, its header counts %d)", size, need))
	}
	return nil
}

func cmp[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}
