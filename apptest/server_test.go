// Package apptest holds black-box tests: they build the real telltale
// binary, start it as a process on free loopback ports, talk to it over the
// network as users do, and read the results back through its API.
package apptest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// binary is the telltale executable built by TestMain.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "telltale-apptest")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "telltale")
	build := exec.Command("go", "build", "-o", binary, "../cmd/telltale")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "cannot build telltale:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// server is a running telltale process.
type server struct {
	t                      *testing.T
	cmd                    *exec.Cmd
	dataDir                string
	grpcAddr, otlpAddr, ui string
	log                    *syncBuffer
	exited                 chan struct{}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// start runs telltale serve on dataDir with extra flags and waits until it is
// ready. The process is killed when the test ends.
func start(t *testing.T, dataDir string, extra ...string) *server {
	t.Helper()
	s := &server{t: t, dataDir: dataDir, grpcAddr: freeAddr(t), otlpAddr: freeAddr(t), ui: freeAddr(t), log: &syncBuffer{}, exited: make(chan struct{})}
	args := append([]string{"serve", "--data-dir", dataDir, "--log-level", "debug",
		"--otlp-grpc-addr", s.grpcAddr, "--otlp-http-addr", s.otlpAddr, "--http-addr", s.ui, "--statsd-addr", freeAddr(t)}, extra...)
	s.cmd = exec.Command(binary, args...)
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	begin := time.Now()
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.cmd.Wait(); close(s.exited) }()
	t.Cleanup(func() {
		s.cmd.Process.Kill()
		<-s.exited
		if t.Failed() {
			t.Logf("server log:\n%s", s.log.String())
		}
	})
	for {
		resp, err := http.Get("http://" + s.ui + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		select {
		case <-s.exited:
			t.Fatalf("telltale exited during start-up:\n%s", s.log.String())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Since(begin) > 30*time.Second {
			t.Fatalf("telltale not ready after 30s:\n%s", s.log.String())
		}
	}
	t.Logf("telltale ready in %s", time.Since(begin).Round(time.Millisecond))
	return s
}

// stop sends SIGTERM and waits for a clean exit.
func (s *server) stop() {
	s.t.Helper()
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(30 * time.Second):
		s.t.Fatalf("telltale did not stop within 30s after SIGTERM:\n%s", s.log.String())
	}
	if code := s.cmd.ProcessState.ExitCode(); code != 0 {
		s.t.Fatalf("telltale exited with status %d:\n%s", code, s.log.String())
	}
}

// kill sends SIGKILL: no shutdown code runs.
func (s *server) kill() {
	s.cmd.Process.Kill()
	<-s.exited
}

// get fetches an API path and decodes the JSON answer into v, checking the
// status code.
func (s *server) get(path string, wantStatus int, v any) {
	s.t.Helper()
	resp, err := http.Get("http://" + s.ui + path)
	if err != nil {
		s.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != wantStatus {
		s.t.Fatalf("GET %s: status %d, want %d: %s", path, resp.StatusCode, wantStatus, body)
	}
	if v != nil {
		if err := json.Unmarshal(body, v); err != nil {
			s.t.Fatalf("GET %s: cannot decode %s: %v", path, body, err)
		}
	}
}

// healthy checks that the server still answers its health check.
func (s *server) healthy() {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+s.ui+"/healthz", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatalf("server unhealthy: %v\n%s", err, s.log.String())
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		s.t.Fatalf("server unhealthy: status %d", resp.StatusCode)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
