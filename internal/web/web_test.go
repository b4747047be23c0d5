package web

import (
	"bytes"
	"compress/gzip"
	"context"
	"flag"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fibinc/telltale/internal/query"
	"github.com/fibinc/telltale/internal/querylimit"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

var now = time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)

// fakeQueries answers with fixed data: the pages' SQL is tested in
// internal/query, these tests are about what the pages show.
type fakeQueries struct {
	services []query.ServiceSummary
	// Each page's test file defines its part of the fake.
	fakeServicePage
	fakeMap
	fakeLogs
	fakeRequests
	fakeErrors
	fakeMetrics
}

func (f *fakeQueries) Services(_ context.Context, r query.TimeRange) ([]query.ServiceSummary, error) {
	return f.services, nil
}

// ServiceSeries gives every service with requests a rising series, with
// errors in the last step.
func (f *fakeQueries) ServiceSeries(_ context.Context, q query.ServiceSeriesQuery) (*query.ServiceSeriesResult, error) {
	res := &query.ServiceSeriesResult{Step: time.Minute}
	for _, sv := range f.services {
		if sv.Requests == 0 {
			continue
		}
		sr := query.ServiceSeries{Service: sv.Name, RequestSpans: "server"}
		for i := range 6 {
			p := query.REDPoint{Time: q.Range.From.Add(time.Duration(i) * time.Minute), Requests: int64(10 * i), Rate: float64(i) / 6}
			if i == 5 && sv.ErrorRate > 0 {
				p.Errors, p.ErrorRate = 5, 0.1
			}
			sr.Points = append(sr.Points, p)
		}
		res.Series = append(res.Series, sr)
	}
	return res, nil
}

// InstanceStats gives f1 of fibfrontend a tenth of its requests failed
// and f2 none.
func (f *fakeQueries) InstanceStats(_ context.Context, r query.TimeRange) (map[string]map[string]query.InstanceStat, error) {
	out := map[string]map[string]query.InstanceStat{}
	for _, sv := range f.services {
		if sv.Name == "fibfrontend" {
			out[sv.Name] = map[string]query.InstanceStat{"f1": {Requests: 1000, Errors: 100, ErrorRate: 0.1}, "f2": {Requests: 200}}
		}
	}
	return out, nil
}

func fleet() *fakeQueries {
	inst := func(id, zone, env string, age time.Duration) query.Instance {
		return query.Instance{ID: id, Host: "host-" + id, AvailabilityZone: zone, Environment: env, Version: "1.0", LastSeen: now.Add(-age)}
	}
	return &fakeQueries{services: []query.ServiceSummary{
		{Name: "fibfrontend", Requests: 1200, RequestErrors: 84, RequestRate: 0.33, ErrorRate: 0.07, Latency: &query.Latency{P50: 3, P95: 40, P99: 90},
			Instances: []query.Instance{inst("f1", "us-east-1a", "prod", 2*time.Second), inst("f2", "us-east-1b", "prod", 10*time.Minute)},
			Versions:  []string{"3.0.2"}, Environments: []string{"prod"}},
		{Name: "pricing", Requests: 900, RequestErrors: 3, RequestRate: 0.25, ErrorRate: 0.0033, Latency: &query.Latency{P50: 0.2, P95: 812, P99: 1400},
			Instances: []query.Instance{inst("p1", "us-east-1b", "prod", time.Second)}, Versions: []string{"1.4.0"}, Environments: []string{"prod"}},
		{Name: "userstore", Requests: 2000, RequestRate: 0.55, Latency: &query.Latency{P50: 0.05, P95: 0.2, P99: 1},
			Instances:    []query.Instance{inst("u1", "us-east-1a", "prod", time.Second), inst("u2", "", "staging", 3*time.Second)},
			Environments: []string{"prod", "staging"}},
		{Name: "<script>alert(1)</script>", SpanCount: 3, LogCount: 7, Instances: []query.Instance{inst("x", "", "", time.Second)}},
	}}
}

func newServer(t *testing.T, q Queries) http.Handler {
	t.Helper()
	h, err := New(Options{Query: q, IngestURL: "http://localhost:4318", Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestPages(t *testing.T) {
	for _, tc := range []struct {
		name, target string
		q            *fakeQueries
		status       int
	}{
		{"board", "/", fleet(), 200},
		{"board-env", "/?env=staging&from=now-15m&refresh=5s", fleet(), 200},
		{"board-empty", "/", &fakeQueries{}, 200},
		{"board-calls", "/", fleetWithMap(), 200},
		{"bad-range", "/?from=yesterday", fleet(), 400},
		{"not-found", "/nowhere", fleet(), 404},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			newServer(t, tc.q).ServeHTTP(rec, httptest.NewRequest("GET", tc.target, nil))
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d:\n%s", rec.Code, tc.status, rec.Body)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "text/html; charset=utf-8" {
				t.Errorf("content type %q", ct)
			}
			if !strings.Contains(rec.Header().Get("Content-Security-Policy"), "script-src 'self'") {
				t.Error("no content security policy")
			}
			golden(t, tc.name, rec.Body.String())
		})
	}
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".html")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from %s (go test -update rewrites it):\n%s", name, path, got)
	}
}

func TestBoardHealth(t *testing.T) {
	rec := httptest.NewRecorder()
	newServer(t, fleet()).ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	body := rec.Body.String()
	// Worst first: fibfrontend has 7% errors, pricing a p95 over 500ms,
	// userstore is fine, the log-only service idle.
	order := []string{`>fibfrontend<`, `>pricing<`, `>userstore<`, `&lt;script&gt;`}
	last := -1
	for _, s := range order {
		i := strings.Index(body, s)
		if i < 0 || i < last {
			t.Fatalf("%s missing or out of order in the board", s)
		}
		last = i
	}
	for _, want := range []string{
		`class="card h-crit"`, `title="crit: errors ≥ 5%"`, `title="warn: p95 ≥ 500ms"`, `class="card h-idle"`,
		`<span class="inst h-crit" title="f2 on host-f2 · 1.0 · seen 10m ago · 0% errors of 200 · down: not seen for 5m0s">`,
		`<span class="inst h-crit" title="f1 on host-f1 · 1.0 · seen 2s ago · 10.0% errors of 1000 · errors ≥ 5%">`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("board lacks %s", want)
		}
	}
	if strings.Contains(body, "<script>alert") {
		t.Error("a service name was not escaped")
	}
}

func fleetWithMap() *fakeQueries {
	q := fleet()
	q.fakeMap.maps = map[string]*query.ServiceMap{"": fleetMap()}
	return q
}

// TestBoardCalls: each card lists what the service calls, marked with the
// callee's own health, the calls' error rate, and no link for a peer that
// sends no spans.
func TestBoardCalls(t *testing.T) {
	rec := httptest.NewRecorder()
	newServer(t, fleetWithMap()).ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	body := rec.Body.String()
	m := fleetMap()
	for _, e := range m.Edges {
		if !strings.Contains(body, ">"+template.HTMLEscapeString(e.Callee)+"<") {
			t.Errorf("board lacks the call %s -> %s", e.Caller, e.Callee)
		}
	}
	for _, want := range []string{`<span class="mark h-warn"></span><a href="/services/pricing">pricing</a>`, `<span title="not a traced service">postgres:5432</span>`} {
		if !strings.Contains(body, want) {
			t.Errorf("board lacks %s", want)
		}
	}
}

func TestSearch(t *testing.T) {
	h := newServer(t, fleet())
	for q, want := range map[string]string{
		"4BF92F3577B34DA6A3CE929D0E0E4736":  "/requests/4bf92f3577b34da6a3ce929d0e0e4736",
		"#42":                               "/errors/42",
		"17":                                "/errors/17",
		"pricing":                           "/services/pricing",
		"req-abc-1":                         "/requests/req-abc-1?fallback=logs",
		`level>=warn "insufficient credit"`: "/logs?q=level%3E%3Dwarn+%22insufficient+credit%22",
		"":                                  "/",
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/search?q="+urlQuery(q), nil))
		if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != want {
			t.Errorf("search %q: %d to %q, want %q", q, rec.Code, rec.Header().Get("Location"), want)
		}
	}
}

func urlQuery(s string) string {
	r := strings.NewReplacer(" ", "+", "#", "%23", ">", "%3E", "=", "%3D", `"`, "%22")
	return r.Replace(s)
}

func TestStatic(t *testing.T) {
	h := newServer(t, fleet())
	for _, p := range []string{"/static/style.css", "/static/app.js"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", p, nil))
		if rec.Code != 200 || rec.Body.Len() < 500 {
			t.Errorf("%s: %d, %d bytes", p, rec.Code, rec.Body.Len())
		}
	}
}

// TestGzip: big pages are compressed for clients that take gzip, and only
// for them.
func TestGzip(t *testing.T) {
	h := newServer(t, logFleet())
	for _, tt := range []struct {
		accept string
		want   bool
	}{{"gzip, deflate, br", true}, {"br;q=1.0, gzip;q=0.8", true}, {"gzip;q=0", false}, {"", false}, {"deflate", false}} {
		req := httptest.NewRequest("GET", "/logs?from=now-15m", nil)
		req.Header.Set("Accept-Encoding", tt.accept)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		got := rec.Header().Get("Content-Encoding") == "gzip"
		if got != tt.want || rec.Code != 200 {
			t.Errorf("Accept-Encoding %q: status %d, gzip %v, want %v", tt.accept, rec.Code, got, tt.want)
			continue
		}
		body := rec.Body.Bytes()
		if got {
			zr, err := gzip.NewReader(bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			if body, err = io.ReadAll(zr); err != nil {
				t.Fatal(err)
			}
		}
		if !strings.Contains(string(body), "table class=\"logs") || !strings.HasSuffix(strings.TrimSpace(string(body)), "</html>") {
			t.Errorf("Accept-Encoding %q: the page is not whole", tt.accept)
		}
	}
}

// timingOutQueries run until their context ends, as a slow DuckDB query
// does when interrupted.
type timingOutQueries struct{ *fakeQueries }

func (q timingOutQueries) Services(ctx context.Context, _ query.TimeRange) ([]query.ServiceSummary, error) {
	<-ctx.Done()
	return nil, fmt.Errorf("cannot run query: %w", ctx.Err())
}

// TestPageTimeout checks the answer to a page whose request deadline
// (querylimit) passes: the error page with 503, Retry-After and the
// message naming the deadline.
func TestPageTimeout(t *testing.T) {
	h := querylimit.New(querylimit.Options{Timeout: time.Millisecond}).Handler(newServer(t, timingOutQueries{fleet()}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" ||
		!strings.Contains(rec.Body.String(), "query took longer than 1ms; narrow the range or the filter") {
		t.Errorf("status %d, Retry-After %q:\n%s", rec.Code, rec.Header().Get("Retry-After"), rec.Body)
	}
}
