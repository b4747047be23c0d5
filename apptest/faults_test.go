package apptest

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fibinc/telltale/internal/store/duckdb"
)

// TestDataDirectoryRefused starts the real binary on directories it must
// not use: it exits with a non-zero status and says why on stderr.
func TestDataDirectoryRefused(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, dir string)
		want  []string
	}{
		{"foreign directory", func(t *testing.T, dir string) {
			writeFileAll(t, filepath.Join(dir, "postgresql.conf"), "x")
		}, []string{"is not a Telltale data directory (found postgresql.conf); choose another --data-dir"}},
		{"newer format", func(t *testing.T, dir string) {
			writeFileAll(t, filepath.Join(dir, "telltale-data.json"), `{"format": 99, "version": "v9.0.0"}`)
		}, []string{"has format 99, from a newer Telltale (created by v9.0.0)"}},
		{"corrupt marker", func(t *testing.T, dir string) {
			writeFileAll(t, filepath.Join(dir, "telltale-data.json"), "{not json")
		}, []string{"telltale-data.json: it is not a Telltale data directory marker"}},
		{"garbage partition", func(t *testing.T, dir string) {
			writeFileAll(t, filepath.Join(dir, "logs", "2026-01-02.duckdb"), strings.Repeat("garbage ", 4000))
		}, []string{filepath.Join("logs", "2026-01-02.duckdb") + " is damaged: it is not a DuckDB database file", "move the file out of the data directory"}},
		{"truncated main database", func(t *testing.T, dir string) {
			s := start(t, dir)
			s.stop()
			main := filepath.Join(dir, "telltale.duckdb")
			if err := os.Truncate(main, 5000); err != nil {
				t.Fatal(err)
			}
		}, []string{"telltale.duckdb is damaged: it is truncated (5000 bytes"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			tc.setup(t, dir)
			code, out := runServe(t, dir)
			if code == 0 {
				t.Fatalf("telltale started on the %s:\n%s", tc.name, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("stderr lacks %q:\n%s", w, out)
				}
			}
			if strings.Contains(out, "goroutine ") || strings.Contains(out, "panic") {
				t.Errorf("stderr holds a stack:\n%s", out)
			}
		})
	}
}

// TestDataDirectoryAdopted starts on data written by a Telltale from before
// the marker: it is adopted, marked, and its records are still there.
func TestDataDirectoryAdopted(t *testing.T) {
	dir := t.TempDir()
	s := start(t, dir)
	body, ids := crashRequest(0, 0, 10)
	if code, msg := postLogs(s.otlpAddr, body); code != 200 {
		t.Fatalf("ingest: %d %s", code, msg)
	}
	s.stop()
	marker := filepath.Join(dir, "telltale-data.json")
	if err := os.Remove(marker); err != nil {
		t.Fatalf("no marker after the first start: %v", err)
	}
	s = start(t, dir)
	s.stop()
	if _, err := os.Stat(marker); err != nil {
		t.Fatalf("the adopted directory is not marked: %v", err)
	}
	if !strings.Contains(s.log.String(), "marked the data directory of an earlier Telltale") {
		t.Errorf("the adoption is not logged:\n%s", s.log.String())
	}
	stored := storedBodies(t, dir)
	for _, id := range ids {
		if !stored[id] {
			t.Fatalf("record %s lost in the adoption", id)
		}
	}
}

// TestDiskFull runs the server on a small tmpfs with a reserve, fills the
// disk under the reserve, and checks that ingest is refused with 503 and a
// message, that queries still answer, that ingest resumes by itself when
// space is back, and that every acknowledged record is stored.
func TestDiskFull(t *testing.T) {
	dir := mountTmpfs(t, "128m")
	s := start(t, dir, "--min-free-disk", "48MB")
	acked := map[string]bool{}
	send := func(seq int) (int, string) {
		body, ids := crashRequest(1, seq, 200)
		code, msg := postLogs(s.otlpAddr, body)
		if code == 200 {
			for _, id := range ids {
				acked[id] = true
			}
		}
		return code, msg
	}
	for seq := range 5 {
		if code, msg := send(seq); code != 200 {
			t.Fatalf("ingest before the disk filled: %d %s", code, msg)
		}
	}

	filler := filepath.Join(dir, "filler")
	fillDisk(t, filler, dir, 40<<20)
	var msg string
	refused := waitFor(t, 5*time.Second, func() bool {
		var code int
		code, msg = send(100)
		return code == http.StatusServiceUnavailable
	})
	if !refused {
		t.Fatalf("ingest not refused with free space under the reserve: %s", msg)
	}
	if !strings.Contains(msg, "insufficient disk space: ") || !strings.Contains(msg, "MB free, ingest resumes when 48 MB are free") {
		t.Errorf("refusal message %q does not name the free space", msg)
	}
	resp, err := http.Post("http://"+s.otlpAddr+"/v1/logs", "application/x-protobuf", bytes.NewReader(mustBody(2, 0)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
		t.Errorf("refusal: status %d, Retry-After %q; want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	// Queries go on.
	s.get("/api/v1/logs?from=now-1h&limit=5", 200, nil)
	getPage(t, s, "/logs")
	if !strings.Contains(s.log.String(), "free disk space is below the reserve") {
		t.Errorf("the refusal is not logged")
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if !waitFor(t, 5*time.Second, func() bool { code, _ := send(200); return code == 200 }) {
		t.Fatalf("ingest did not resume within 5s after space came back")
	}
	s.stop()
	checkStored(t, dir, acked)
}

// TestDiskFullWithoutReserve lets DuckDB itself run out of space: the
// failed commit is refused with 503, ingest stays refused while the store
// cannot be trusted, queries still answer, and once space is back the
// store is reopened without a restart and nothing acknowledged is lost.
func TestDiskFullWithoutReserve(t *testing.T) {
	dir := mountTmpfs(t, "96m")
	s := start(t, dir, "--min-free-disk", "0")
	acked := map[string]bool{}
	send := func(seq int) (int, string) {
		body, ids := crashRequest(3, seq, 2000)
		code, msg := postLogs(s.otlpAddr, body)
		if code == 200 {
			for _, id := range ids {
				acked[id] = true
			}
		}
		return code, msg
	}
	filler := filepath.Join(dir, "filler")
	fillDisk(t, filler, dir, 3<<20)
	code, msg := 200, ""
	for seq := 0; code == 200 && seq < 500; seq++ {
		code, msg = send(seq)
	}
	if code != http.StatusServiceUnavailable || !strings.Contains(msg, "No space left on device") {
		t.Fatalf("ingest on a full disk: %d %s; want 503 naming the failure", code, msg)
	}
	t.Logf("%d records acknowledged before the disk was full: %s", len(acked), msg)
	if code, msg := send(1000); code != http.StatusServiceUnavailable || !strings.Contains(msg, "until the store is reopened") {
		t.Fatalf("ingest on a broken store: %d %s; want 503", code, msg)
	}
	s.get("/api/v1/logs?from=now-1h&limit=5", 200, nil)

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if !waitFor(t, 10*time.Second, func() bool { code, _ := send(2000); return code == 200 }) {
		t.Fatalf("ingest did not resume within 10s after space came back:\n%s", s.log.String())
	}
	if !strings.Contains(s.log.String(), "store reopened") {
		t.Errorf("the reopen is not logged")
	}
	s.stop()
	checkStored(t, dir, acked)
}

// TestShutdownDrainsInFlight sends SIGTERM while requests are in flight,
// some of them still sending their body, and checks that the server exits
// 0 and that every request it answered 200 is stored.
func TestShutdownDrainsInFlight(t *testing.T) {
	dir := t.TempDir()
	s := start(t, dir)
	var mu sync.Mutex
	acked := map[string]bool{}
	ack := func(ids []string) {
		mu.Lock()
		defer mu.Unlock()
		for _, id := range ids {
			acked[id] = true
		}
	}
	var wg sync.WaitGroup
	// Slow clients: the body trickles in over a second and a half, so the
	// signal arrives in the middle of it.
	slowDone := make(chan int, 4)
	for w := range 4 {
		wg.Go(func() {
			body, ids := crashRequest(10+w, 0, 2000)
			pr, pw := io.Pipe()
			go func() {
				for _, chunk := range chunks(body, 15) {
					pw.Write(chunk)
					time.Sleep(100 * time.Millisecond)
				}
				pw.Close()
			}()
			req, _ := http.NewRequest("POST", "http://"+s.otlpAddr+"/v1/logs", pr)
			req.Header.Set("Content-Type", "application/x-protobuf")
			req.ContentLength = int64(len(body))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				slowDone <- 0
				return
			}
			resp.Body.Close()
			if resp.StatusCode == 200 {
				ack(ids)
			}
			slowDone <- resp.StatusCode
		})
	}
	// Fast clients keep the pipeline busy until the server goes.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for w := range 3 {
		wg.Go(func() {
			for seq := 0; ctx.Err() == nil; seq++ {
				body, ids := crashRequest(20+w, seq, 1000)
				code, _ := postLogs(s.otlpAddr, body)
				if code == 0 {
					return // the server is gone
				}
				if code == 200 {
					ack(ids)
				}
			}
		})
	}
	time.Sleep(500 * time.Millisecond)
	begin := time.Now()
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(15 * time.Second):
		t.Fatalf("telltale did not exit within 15s of SIGTERM:\n%s", s.log.String())
	}
	cancel()
	wg.Wait()
	if code := s.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("telltale exited with status %d:\n%s", code, s.log.String())
	}
	close(slowDone)
	slow200 := 0
	for code := range slowDone {
		if code == 200 {
			slow200++
		}
	}
	t.Logf("exited %s after SIGTERM; %d of 4 slow requests answered 200; %d records acknowledged",
		time.Since(begin).Round(time.Millisecond), slow200, len(acked))
	if slow200 != 4 {
		t.Errorf("%d of 4 requests in flight at SIGTERM were answered 200; shutdown must let them finish", slow200)
	}
	checkStored(t, dir, acked)
}

// chunks cuts b into n pieces.
func chunks(b []byte, n int) [][]byte {
	var out [][]byte
	size := (len(b) + n - 1) / n
	for len(b) > 0 {
		k := min(size, len(b))
		out = append(out, b[:k])
		b = b[k:]
	}
	return out
}

// runServe runs telltale serve on dir, expecting it to exit, and returns
// its exit status and output.
func runServe(t *testing.T, dir string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, telltale(t), "serve", "--data-dir", dir, "--otlp-grpc-addr", freeAddr(t),
		"--otlp-http-addr", freeAddr(t), "--http-addr", freeAddr(t), "--statsd-addr", freeAddr(t))
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("telltale did not exit within 20s:\n%s", out)
	}
	if err != nil && cmd.ProcessState == nil {
		t.Fatal(err)
	}
	return cmd.ProcessState.ExitCode(), string(out)
}

// mountTmpfs mounts a tmpfs of the given size on a new directory and
// unmounts it when the test ends. It skips the test when not root or when
// mount fails.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	if testing.Short() {
		t.Skip("disk-full test skipped in -short mode")
	}
	if os.Geteuid() != 0 {
		t.Skip("disk-full test needs root to mount a tmpfs")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs (%v): %s", err, out)
	}
	// Registered after start's cleanup, so it runs after the server is gone.
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Logf("umount %s: %v: %s", dir, err, out)
			exec.Command("umount", "-l", dir).Run()
		}
	})
	return dir
}

// fillDisk writes filler until dir's file system has at most leave bytes
// free.
func fillDisk(t *testing.T, filler, dir string, leave int64) {
	t.Helper()
	f, err := os.OpenFile(filler, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 256<<10)
	for {
		var st syscall.Statfs_t
		if err := syscall.Statfs(dir, &st); err != nil {
			t.Fatal(err)
		}
		free := int64(st.Bavail) * st.Bsize
		if free <= leave {
			return
		}
		if _, err := f.Write(buf[:min(int64(len(buf)), free-leave)]); err != nil {
			return
		}
	}
}

// postLogs posts an OTLP/HTTP logs request; status 0 means no answer.
func postLogs(addr string, body []byte) (int, string) {
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Post("http://"+addr+"/v1/logs", "application/x-protobuf", bytes.NewReader(body))
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func mustBody(worker, seq int) []byte {
	b, _ := crashRequest(worker, seq, 1)
	return b
}

func getPage(t *testing.T, s *server, path string) {
	t.Helper()
	resp, err := http.Get("http://" + s.ui + path)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: status %d", path, resp.StatusCode)
	}
}

func waitFor(t *testing.T, d time.Duration, f func() bool) bool {
	t.Helper()
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if f() {
			return true
		}
	}
	return false
}

func writeFileAll(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// storedBodies opens the stopped server's store and returns the bodies of
// its logs.
func storedBodies(t *testing.T, dir string) map[string]bool {
	t.Helper()
	st, err := duckdb.Open(context.Background(), duckdb.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rows, err := st.Query(context.Background(), "SELECT body FROM logs")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	stored := map[string]bool{}
	for rows.Next() {
		var b string
		rows.Scan(&b)
		stored[b] = true
	}
	return stored
}

func checkStored(t *testing.T, dir string, acked map[string]bool) {
	t.Helper()
	stored := storedBodies(t, dir)
	missing := 0
	for id := range acked {
		if !stored[id] {
			missing++
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d acknowledged records are missing", missing, len(acked))
	}
	if len(acked) == 0 {
		t.Errorf("no record was acknowledged")
	}
}
