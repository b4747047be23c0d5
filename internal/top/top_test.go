package top

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeAPI answers GET /api/v1/services with a fixed body, and records the
// queries it received.
type fakeAPI struct {
	mu      sync.Mutex
	queries []string
	status  int
	body    string
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.URL.Path != "/api/v1/services" {
		http.NotFound(w, r)
		return
	}
	f.queries = append(f.queries, r.URL.RawQuery)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(f.status)
	w.Write([]byte(f.body))
}

const oneService = `{"data":[{"name":"api","request_spans":"server","requests":6,"request_errors":3,
"request_rate":0.1,"error_rate":0.5,"latency_ms":{"p50":1.5,"p95":250,"p99":300},
"instances":[{"id":"a","environment":"prod","last_seen":"2026-05-04T10:00:59Z"},
{"id":"b","environment":"prod","last_seen":"2026-05-04T10:00:01Z"}]}]}`

func fixedNow() time.Time { return frameTime }

func TestRunOnce(t *testing.T) {
	api := &fakeAPI{status: 200, body: oneService}
	srv := httptest.NewServer(api)
	defer srv.Close()
	var out strings.Builder
	// Without a scheme and with a trailing slash, as people type it.
	addr := strings.TrimPrefix(srv.URL, "http://") + "/"
	if err := Run(context.Background(), Options{Server: addr, Once: true, Out: &out, Now: fixedNow}); err != nil {
		t.Fatal(err)
	}
	if want := "from=2026-05-04T10%3A00%3A00Z&to=2026-05-04T10%3A01%3A00Z"; len(api.queries) != 1 || api.queries[0] != want {
		t.Errorf("queries = %q, want [%q]", api.queries, want)
	}
	want := "telltale " + srv.URL + "  window 1m  2026-05-04 10:01:00 UTC\n" +
		"1 service  1/2 instances up  0.1/s  50.0% errors\n\n" +
		"SERVICE                               UP     REQ/S    ERR%       P50       P95\n" +
		"api                                  1/2     0.1/s   50.0%    1.50ms     250ms\n"
	if out.String() != want {
		t.Errorf("output:\n%s\nwant:\n%s", out.String(), want)
	}
}

func TestRunOnceFailures(t *testing.T) {
	// A port nobody listens on: take one, then close it.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + l.Addr().String()
	l.Close()

	tests := []struct {
		name, status, body string
		want               string
	}{
		{"unreachable", "", "", "cannot reach the server at " + closed + ": dial tcp"},
		{"bad request", "400", `{"error":"parameter from: too far back"}`, "answered 400 Bad Request: parameter from: too far back"},
		{"not telltale", "404", `<html>nope</html>`, "answered 404 Not Found; is it a Telltale server?"},
		{"not json", "200", `<html>hello</html>`, "cannot decode the services answer"},
		{"no data", "200", `{"error":null}`, "no data field"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			server := closed
			if tt.status != "" {
				api := &fakeAPI{body: tt.body}
				api.status = map[string]int{"200": 200, "400": 400, "404": 404}[tt.status]
				srv := httptest.NewServer(api)
				defer srv.Close()
				server = srv.URL
			}
			var out strings.Builder
			err := Run(context.Background(), Options{Server: server, Once: true, Out: &out, Now: fixedNow})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %v, want one containing %q", err, tt.want)
			}
			if err != nil && strings.Contains(err.Error(), "\n") {
				t.Errorf("error spans several lines: %q", err)
			}
			if out.Len() != 0 {
				t.Errorf("a failed --once printed a frame:\n%s", out.String())
			}
		})
	}
}

// frameWriter cancels the run once it has received n writes.
type frameWriter struct {
	strings.Builder
	n      int
	cancel context.CancelFunc
}

func (w *frameWriter) Write(p []byte) (int, error) {
	w.n--
	if w.n == 0 {
		w.cancel()
	}
	return w.Builder.Write(p)
}

func TestRunLive(t *testing.T) {
	api := &fakeAPI{status: 200, body: oneService}
	srv := httptest.NewServer(api)
	defer srv.Close()
	frame := func(server, body string) string {
		return "telltale " + server + "  env prod  window 1m  2026-05-04 10:01:00 UTC\n" + body
	}
	refused := "error: cannot reach the server at http://127.0.0.1:1: dial tcp 127.0.0.1:1:\nconnect: connection refused\n"
	table := "1 service  1/2 instances up  0.1/s  50.0% errors\n\n" +
		"SERVICE                               UP     REQ/S    ERR%       P50       P95\n" +
		"api                                  1/2     0.1/s   50.0%    1.50ms     250ms\n"
	tests := []struct {
		name     string
		terminal bool
		server   string
		want     string
	}{
		{"pipe", false, srv.URL, frame(srv.URL, table) + "\n" + frame(srv.URL, table) + "\n" + frame(srv.URL, table)},
		{"terminal", true, srv.URL, strings.Repeat(clearHome+frame(srv.URL, table), 3)},
		{"retries when unreachable", false, "http://127.0.0.1:1",
			strings.Repeat(frame("http://127.0.0.1:1", refused)+"\n", 2) +
				frame("http://127.0.0.1:1", refused)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			out := &frameWriter{n: 3, cancel: cancel}
			err := Run(ctx, Options{Server: tt.server, Env: "prod", Interval: time.Millisecond, Out: out, Terminal: tt.terminal, Now: fixedNow})
			if err != nil {
				t.Fatalf("Run after cancel = %v, want nil", err)
			}
			if out.String() != tt.want {
				t.Errorf("output:\n%q\nwant:\n%q", out.String(), tt.want)
			}
		})
	}
}

func TestIsTerminal(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if IsTerminal(f) || IsTerminal(&strings.Builder{}) {
		t.Error("a file or a buffer taken for a terminal")
	}
}
