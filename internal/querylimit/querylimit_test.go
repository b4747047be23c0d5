package querylimit_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fibinc/telltale/internal/querylimit"
	"github.com/fibinc/telltale/internal/store/duckdb"
)

// blocking is a handler that holds every request until release is closed.
type blocking struct {
	entered chan string
	release chan struct{}
}

func (b *blocking) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b.entered <- r.URL.Path
	<-b.release
	w.Write([]byte("ok"))
}

type rejects struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *rejects) add(reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n[reason]++
}

func (c *rejects) get(reason string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[reason]
}

func TestConcurrencyCap(t *testing.T) {
	h := &blocking{entered: make(chan string, 10), release: make(chan struct{})}
	rej := &rejects{n: map[string]int{}}
	l := querylimit.New(querylimit.Options{MaxConcurrent: 2, QueueWait: 50 * time.Millisecond, OnReject: rej.add,
		Skip: func(r *http.Request) bool { return strings.HasPrefix(r.URL.Path, "/static/") }})
	srv := httptest.NewServer(l.Handler(h))
	defer srv.Close()

	done := make(chan int, 3)
	get := func(path string) {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Error(err)
			done <- 0
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}
	go get("/api/v1/logs")
	go get("/services")
	<-h.entered
	<-h.entered
	if n := l.InFlight(); n != 2 {
		t.Fatalf("in flight = %d, want 2", n)
	}

	// A skipped path is served though both slots are taken.
	go get("/static/app.css")
	if p := <-h.entered; p != "/static/app.css" {
		t.Fatalf("entered %s", p)
	}
	if n := l.InFlight(); n != 2 {
		t.Errorf("in flight with a skipped request = %d, want 2", n)
	}

	// A third counted request waits, finds no slot and is refused.
	resp, err := http.Get(srv.URL + "/api/v1/traces")
	if err != nil {
		t.Fatal(err)
	}
	var body struct{ Error string }
	json.NewDecoder(resp.Body).Decode(&body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "1" || !strings.Contains(body.Error, "too many queries") {
		t.Errorf("over the cap: %d, Retry-After %q, %q; want 503, 1", resp.StatusCode, resp.Header.Get("Retry-After"), body.Error)
	}
	// A page gets a page.
	resp, err = http.Get(srv.URL + "/logs")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Errorf("page over the cap: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if n := rej.get(querylimit.ReasonBusy); n != 2 {
		t.Errorf("busy rejections = %d, want 2", n)
	}

	close(h.release)
	for range 3 {
		if code := <-done; code != http.StatusOK {
			t.Errorf("held request answered %d", code)
		}
	}
	if n := l.InFlight(); n != 0 {
		t.Errorf("in flight after = %d", n)
	}
}

// TestWaiterGetsSlot checks that a request waiting for a slot is served
// when one frees up within the queue wait.
func TestWaiterGetsSlot(t *testing.T) {
	h := &blocking{entered: make(chan string, 10), release: make(chan struct{})}
	l := querylimit.New(querylimit.Options{MaxConcurrent: 1, QueueWait: time.Minute})
	srv := httptest.NewServer(l.Handler(h))
	defer srv.Close()
	codes := make(chan int, 2)
	for range 2 {
		go func() {
			resp, err := http.Get(srv.URL + "/api/v1/services")
			if err != nil {
				t.Error(err)
				codes <- 0
				return
			}
			resp.Body.Close()
			codes <- resp.StatusCode
		}()
	}
	<-h.entered
	// The second is waiting; free the first.
	h.release <- struct{}{}
	<-h.entered
	close(h.release)
	for range 2 {
		if c := <-codes; c != http.StatusOK {
			t.Errorf("answered %d, want 200", c)
		}
	}
}

func TestDeadline(t *testing.T) {
	rej := &rejects{n: map[string]int{}}
	l := querylimit.New(querylimit.Options{Timeout: 20 * time.Millisecond, OnReject: rej.add})
	// A handler that runs until its context ends, then answers as the API
	// handlers do.
	h := l.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
		msg, ok := querylimit.TimeoutMessage(r.Context())
		if !ok {
			t.Error("the context ended without the limiter's timeout as its cause")
		}
		querylimit.Refuse(w, r, querylimit.RetryAfterTimeout, msg)
	}))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/api/v1/logs", nil))
	var body struct{ Error string }
	json.Unmarshal(w.Body.Bytes(), &body)
	if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") != "5" ||
		body.Error != "query took longer than 20ms; narrow the range or the filter" {
		t.Errorf("timeout: %d, Retry-After %q, %q", w.Code, w.Header().Get("Retry-After"), w.Body)
	}
	if n := rej.get(querylimit.ReasonTimeout); n != 1 {
		t.Errorf("timeout rejections = %d, want 1", n)
	}
	// A request that fails otherwise is not counted as timed out.
	bad := l.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
		http.Error(w, "bad parameter", http.StatusBadRequest)
	}))
	bad.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/api/v1/logs?limit=x", nil))
	if n := rej.get(querylimit.ReasonTimeout); n != 1 {
		t.Errorf("timeout rejections after a 400 = %d, want 1", n)
	}
	if _, ok := querylimit.TimeoutMessage(context.Background()); ok {
		t.Error("TimeoutMessage of a live context reports a timeout")
	}
}

// TestDuckDBQueryInterrupted checks that a query running in DuckDB stops
// when its context ends, through the store the query service uses: the
// query below would take minutes.
func TestDuckDBQueryInterrupted(t *testing.T) {
	st, err := duckdb.Open(context.Background(), duckdb.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx, cancel := context.WithTimeoutCause(context.Background(), 200*time.Millisecond, &querylimit.TimeoutError{Timeout: 200 * time.Millisecond})
	defer cancel()
	rows, err := st.Query(ctx, "SELECT count(*) FROM range(1000000000000) t(a) WHERE a % 7 = 3")
	if err == nil {
		for rows.Next() {
		}
		err = rows.Err()
		rows.Close()
	}
	if err == nil {
		t.Fatal("the slow query finished")
	}
	if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatalf("query failed before the deadline: %v", err)
	}
	// The connection is usable afterwards.
	rows, err = st.Query(context.Background(), "SELECT 42")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var n int
	if !rows.Next() || rows.Scan(&n) != nil || n != 42 {
		t.Errorf("query after the interrupt: %d, %v", n, rows.Err())
	}
}

func BenchmarkHandler(b *testing.B) {
	l := querylimit.New(querylimit.Options{MaxConcurrent: 4})
	h := l.Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	r := httptest.NewRequest(http.MethodGet, "/api/v1/services", nil)
	w := httptest.NewRecorder()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			h.ServeHTTP(w, r)
		}
	})
}
