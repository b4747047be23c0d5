// Package apptest holds black-box tests: they build the real telltale
// binary, start it as a process on free loopback ports, talk to it over the
// network as users do, and read the results back through its API.
package apptest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/http/cookiejar"
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

// telltale returns the binary TestMain built. The first call opens every
// source file the binary is built from: go test caches a package's result
// until its inputs change, and the binary is not one of them; the files a
// test opens are (TestMain's are not recorded), so a change anywhere in the
// server runs these tests again.
func telltale(t testing.TB) string {
	sourcesOnce.Do(func() { sourcesErr = touchSources("..") })
	if sourcesErr != nil {
		t.Fatalf("cannot read the sources: %v", sourcesErr)
	}
	return binary
}

var (
	sourcesOnce sync.Once
	sourcesErr  error
)

func touchSources(root string) error {
	return filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case ".git", "testdata", "artifacts", "bench", "node_modules":
				return filepath.SkipDir
			}
			return nil
		}
		switch filepath.Ext(path) {
		case ".go", ".html", ".css", ".js", ".mod", ".sum":
			f, err := os.Open(path)
			if err != nil {
				return err
			}
			f.Close()
		}
		return nil
	})
}

// server is a running telltale process.
type server struct {
	t                      *testing.T
	cmd                    *exec.Cmd
	dataDir                string
	grpcAddr, otlpAddr, ui string
	log                    *syncBuffer
	exited                 chan struct{}
	// token is an admin API token; client sends it on every request to
	// the UI port.
	token  string
	client *http.Client
}

// adminPassword is the first admin's password in every test server
// (user "admin").
const adminPassword = "apptest-admin-password"

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
// ready, logged in as admin. Ingest authentication is off, since most tests
// are about something else; tests of ingest keys pass --ingest-auth=true.
// The process is killed when the test ends.
func start(t *testing.T, dataDir string, extra ...string) *server {
	t.Helper()
	return startEnv(t, dataDir, nil, extra...)
}

// startEnv is start with more environment variables for the server.
func startEnv(t *testing.T, dataDir string, env []string, extra ...string) *server {
	t.Helper()
	s := &server{t: t, dataDir: dataDir, grpcAddr: freeAddr(t), otlpAddr: freeAddr(t), ui: freeAddr(t), log: &syncBuffer{}, exited: make(chan struct{})}
	args := append([]string{"serve", "--data-dir", dataDir, "--log-level", "debug", "--ingest-auth=false",
		"--otlp-grpc-addr", s.grpcAddr, "--otlp-http-addr", s.otlpAddr, "--http-addr", s.ui, "--statsd-addr", freeAddr(t)}, extra...)
	s.cmd = exec.Command(telltale(t), args...)
	s.cmd.Env = append(append(os.Environ(), "TELLTALE_ADMIN_PASSWORD="+adminPassword), env...)
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
	s.connect()
	return s
}

// connect logs in as admin and makes the client that sends the admin's
// API token.
func (s *server) connect() {
	s.t.Helper()
	s.token = s.login("admin", adminPassword).createToken("apptest", "")
	s.client = &http.Client{Transport: bearer{host: s.ui, token: s.token, next: http.DefaultTransport}}
}

// bearer adds an API token to requests to host.
type bearer struct {
	host, token string
	next        http.RoundTripper
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Host == b.host && r.Header.Get("Authorization") == "" {
		r = r.Clone(r.Context())
		r.Header.Set("Authorization", "Bearer "+b.token)
	}
	return b.next.RoundTrip(r)
}

// session is a user logged in to a server through the API, as the
// dashboard's forms are: a session cookie and its CSRF token.
type session struct {
	s      *server
	client *http.Client
	csrf   string
}

// login logs in with a password; it fails the test if that fails.
func (s *server) login(name, password string) *session {
	s.t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &session{s: s, client: &http.Client{Jar: jar, Timeout: 30 * time.Second}}
	var out struct {
		Data struct {
			CSRF string `json:"csrf"`
		} `json:"data"`
	}
	c.call("POST", "/api/v1/login", map[string]string{"name": name, "password": password}, 200, &out)
	if out.Data.CSRF == "" {
		s.t.Fatalf("login as %s: no CSRF token in the answer", name)
	}
	c.csrf = out.Data.CSRF
	return c
}

// createToken creates an API token of the session's user; role "" is the
// user's own.
func (c *session) createToken(name, role string) string {
	c.s.t.Helper()
	body := map[string]string{"name": name}
	if role != "" {
		body["role"] = role
	}
	var out struct {
		Data struct {
			Token string `json:"token"`
		} `json:"data"`
	}
	c.call("POST", "/api/v1/tokens", body, 201, &out)
	if !strings.HasPrefix(out.Data.Token, "tt_") {
		c.s.t.Fatalf("create token: got %q", out.Data.Token)
	}
	return out.Data.Token
}

// call sends a JSON request with the session and its CSRF token, checks
// the status and decodes the answer into v.
func (c *session) call(method, path string, body any, wantStatus int, v any) {
	c.s.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			c.s.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, "http://"+c.s.ui+path, rd)
	req.Header.Set("Content-Type", "application/json")
	if c.csrf != "" {
		req.Header.Set("X-CSRF-Token", c.csrf)
	}
	resp, err := c.client.Do(req)
	if err != nil {
		c.s.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != wantStatus {
		c.s.t.Fatalf("%s %s: status %d, want %d: %s", method, path, resp.StatusCode, wantStatus, data)
	}
	if v != nil {
		if err := json.Unmarshal(data, v); err != nil {
			c.s.t.Fatalf("%s %s: cannot decode %s: %v", method, path, data, err)
		}
	}
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
	resp, err := s.client.Get("http://" + s.ui + path)
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
