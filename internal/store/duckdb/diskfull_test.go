package duckdb

import (
	"context"
	"errors"
	"fmt"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fibinc/telltale/internal/store"
	"github.com/fibinc/telltale/internal/telemetry"
)

// TestReopenAfterDiskFull fills a small tmpfs under the store until DuckDB
// fails a commit, and checks that the store refuses to write from then on,
// that Reopen fails while the disk is still full, and that once space is
// back Reopen brings back every record that was acknowledged. A checkpoint
// threshold of 1MB makes commits checkpoint, the failure that loses rows in
// DuckDB's memory. It needs root, for mount.
func TestReopenAfterDiskFull(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a tmpfs")
	}
	dir := t.TempDir()
	if out, err := osexec.Command("mount", "-t", "tmpfs", "-o", "size=48m", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() { osexec.Command("umount", "-l", dir).Run() })
	ctx := context.Background()
	st, err := Open(ctx, Options{Dir: dir, CheckpointThreshold: "1MB"})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { st.Close() }()

	filler := filepath.Join(dir, "filler")
	fill := func(leave int64) {
		t.Helper()
		f, err := os.OpenFile(filler, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		buf := make([]byte, 256<<10)
		for free(t, dir) > leave {
			if _, err := f.Write(buf); err != nil {
				break
			}
		}
	}
	fill(6 << 20)

	acked := map[string]int{}
	var failure error
	for i := 0; failure == nil && i < 400; i++ {
		for _, sig := range []string{"logs", "spans"} {
			if err := st.Write(ctx, fullBatch(sig, i)); err != nil {
				failure = err
				break
			}
			acked[sig] += 200
		}
	}
	if failure == nil {
		t.Fatal("the disk did not fill up")
	}
	t.Logf("acknowledged %v before: %v", acked, failure)
	if !errors.Is(st.Broken(), ErrBroken) {
		t.Fatalf("Broken() = %v after %v", st.Broken(), failure)
	}
	if err := st.Write(ctx, fullBatch("logs", 9999)); !errors.Is(err, ErrBroken) {
		t.Fatalf("Write on a broken store: %v, want ErrBroken", err)
	}

	// Still full: Reopen fails and the store stays broken.
	fill(0)
	if err := st.Reopen(ctx); err == nil {
		t.Fatal("Reopen succeeded on a full disk")
	}
	if !errors.Is(st.Broken(), ErrBroken) {
		t.Fatalf("Broken() = %v after a failed Reopen", st.Broken())
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if err := st.Reopen(ctx); err != nil {
		t.Fatalf("Reopen: %v", err)
	}
	if err := st.Broken(); err != nil {
		t.Fatalf("Broken() = %v after Reopen", err)
	}
	checkCounts(t, st, acked)
	for _, sig := range []string{"logs", "spans"} {
		if err := st.Write(ctx, fullBatch(sig, 10000)); err != nil {
			t.Fatalf("write after Reopen: %v", err)
		}
		acked[sig] += 200
	}
	if err := st.CompactRED(ctx); err != nil {
		t.Fatalf("compaction after Reopen: %v", err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	st, err = Open(ctx, Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	checkCounts(t, st, acked)
}

func free(t *testing.T, dir string) int64 {
	var s syscall.Statfs_t
	if err := syscall.Statfs(dir, &s); err != nil {
		t.Fatal(err)
	}
	return int64(s.Bavail) * s.Bsize
}

func fullBatch(sig string, i int) *telemetry.Batch {
	var b telemetry.Batch
	now := time.Now()
	pad := strings.Repeat("x", 2000)
	for j := range 200 {
		id := fmt.Sprintf("%d-%d", i, j)
		if sig == "logs" {
			b.Logs = append(b.Logs, telemetry.Log{Time: now, ObservedTime: now, Body: id + pad})
		} else {
			b.Spans = append(b.Spans, telemetry.Span{Start: now, Duration: time.Millisecond, TraceID: id, SpanID: id,
				Name: "op" + pad[:j%40], Resource: telemetry.Resource{ServiceName: "svc"}})
		}
	}
	return &b
}

func checkCounts(t *testing.T, st *Store, want map[string]int) {
	t.Helper()
	for sig, n := range want {
		var got int
		rows, err := st.Query(context.Background(), "SELECT count(*) FROM "+sig)
		if err != nil {
			t.Fatalf("count %s: %v", sig, err)
		}
		for rows.Next() {
			rows.Scan(&got)
		}
		rows.Close()
		if got != n {
			t.Errorf("%s: %d stored, %d acknowledged", sig, got, n)
		}
	}
}

func TestIsStorageFailure(t *testing.T) {
	for _, tc := range []struct {
		msg  string
		want bool
	}{
		{`Failed to commit: Could not write file "x.wal": No space left on device`, true},
		{`Failed to create checkpoint because of error: Attempted to dereference shared_ptr that is NULL!`, true},
		{`FATAL Error: database has been invalidated`, true},
		{`IO Error: Could not read from file "x.duckdb": Input/output error`, true},
		{`timestamp 300000-01-01 is out of range`, false},
		{`context canceled`, false},
	} {
		if got := isStorageFailure(errors.New(tc.msg)); got != tc.want {
			t.Errorf("isStorageFailure(%q) = %v, want %v", tc.msg, got, tc.want)
		}
	}
}

// TestReopenUnderLoad reopens the store while writers and queries run:
// every write either succeeds, and is kept, or fails with ErrBroken.
func TestReopenUnderLoad(t *testing.T) {
	ctx := context.Background()
	st, err := Open(ctx, Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	stop := make(chan struct{})
	var acked [2]int
	var wg sync.WaitGroup
	for w := range 2 {
		wg.Go(func() {
			n := 0
			for i := 0; ; i++ {
				select {
				case <-stop:
					acked[w] = n
					return
				default:
				}
				sig := []string{"logs", "spans"}[w]
				if err := st.Write(ctx, fullBatch(sig, i)); err != nil {
					if !errors.Is(err, ErrBroken) {
						t.Errorf("write during Reopen: %v", err)
					}
					continue
				}
				n += 200
			}
		})
	}
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			if rows, err := st.Query(ctx, "SELECT count(*) FROM logs"); err == nil {
				for rows.Next() {
				}
				rows.Close()
			}
			st.QueryChunks(ctx, "SELECT count(*)::BIGINT FROM spans", nil, func(store.Chunk) error { return nil })
		}
	})
	for range 3 {
		time.Sleep(100 * time.Millisecond)
		if err := st.Reopen(ctx); err != nil {
			t.Fatalf("Reopen: %v", err)
		}
	}
	close(stop)
	wg.Wait()
	if acked[0] == 0 || acked[1] == 0 {
		t.Fatalf("acknowledged %v: the writers made no progress", acked)
	}
	checkCounts(t, st, map[string]int{"logs": acked[0], "spans": acked[1]})
}
