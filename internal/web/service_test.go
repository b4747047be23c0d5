package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fibinc/telltale/internal/query"
	"github.com/fibinc/telltale/internal/state"
)

// fakeServicePage is the service page's part of fakeQueries. It knows the
// services of fleet() and "quiet" (known, silent in every range); every
// other name is unknown, as the query service says of a name that never
// sent anything.
type fakeServicePage struct{}

const svcXSS = `<script>alert(1)</script>`
const svcXSSAttr = `"><img src=x onerror=alert(2)>`

func knownService(name string) error {
	switch name {
	case "fibfrontend", "pricing", "userstore", "quiet", svcXSS:
		return nil
	}
	return fmt.Errorf("service %q: %w", name, query.ErrNotFound)
}

func (fakeServicePage) Operations(_ context.Context, service string, r query.TimeRange) ([]query.OperationSummary, error) {
	if err := knownService(service); err != nil {
		return nil, err
	}
	if service != "fibfrontend" {
		return []query.OperationSummary{}, nil
	}
	return []query.OperationSummary{
		{Name: "GET /fib/{n}", Requests: 1000, Errors: 80, Rate: 0.28, ErrorRate: 0.08, Latency: &query.Latency{P50: 2, P95: 45, P99: 95}},
		{Name: "GET /", Requests: 200, Errors: 1, Rate: 0.056, ErrorRate: 0.005, Latency: &query.Latency{P50: 0.4, P95: 1.2, P99: 3}},
		{Name: svcXSS, Requests: 1, Rate: 0.0003, Latency: &query.Latency{P50: 1, P95: 1, P99: 1}},
	}, nil
}

func (fakeServicePage) SlowestTraces(_ context.Context, service string, r query.TimeRange, limit int) ([]query.SlowRequest, error) {
	if err := knownService(service); err != nil {
		return nil, err
	}
	if service != "fibfrontend" {
		return []query.SlowRequest{}, nil
	}
	return []query.SlowRequest{
		{TraceID: "4bf92f3577b34da6a3ce929d0e0e4736", SpanID: "00f067aa0ba902b7", Operation: "GET /fib/{n}", Start: now.Add(-10 * time.Minute),
			DurationNs: 1_502_000_000, DurationMs: 1502, StatusCode: "error", StatusMessage: svcXSSAttr, RequestID: "req-1", InstanceID: "f1"},
		{TraceID: "0af7651916cd43dd8448eb211c80319c", SpanID: "b7ad6b7169203331", Operation: "GET /", Start: now.Add(-5 * time.Minute),
			DurationNs: 12_000_000, DurationMs: 12, StatusCode: "ok", InstanceID: "f2"},
	}, nil
}

func (fakeServicePage) VersionChanges(_ context.Context, service string, r query.TimeRange) ([]query.VersionChange, error) {
	if err := knownService(service); err != nil {
		return nil, err
	}
	if service != "fibfrontend" {
		return []query.VersionChange{}, nil
	}
	return []query.VersionChange{
		{Version: "3.0.1", FirstSeen: r.From, LastSeen: now.Add(-20 * time.Minute), Instances: 2, SeenBefore: true},
		{Version: "3.0.2", FirstSeen: now.Add(-20 * time.Minute), LastSeen: now.Add(-2 * time.Second), Instances: 2},
	}, nil
}

func (fakeServicePage) Dependencies(_ context.Context, service string, r query.TimeRange) (*query.Dependencies, error) {
	if err := knownService(service); err != nil {
		return nil, err
	}
	d := &query.Dependencies{Service: service, From: r.From, To: r.To, Callers: []query.Dependency{}, Callees: []query.Dependency{}}
	if service != "fibfrontend" {
		return d, nil
	}
	edge := func(caller, callee string, calls, errs int64, p95 float64) query.MapEdge {
		return query.MapEdge{Caller: caller, Callee: callee, Calls: calls, Errors: errs, Rate: float64(calls) / 3600,
			ErrorRate: float64(errs) / float64(calls), P95Ms: p95, Health: query.HealthOf(calls, errs)}
	}
	d.Callers = []query.Dependency{{MapEdge: edge("fibpro-traffic", service, 1200, 84, 40),
		Peer: query.MapNode{Name: "fibpro-traffic", Requests: 1300, Errors: 400, ErrorRate: 0.31, Health: query.HealthCritical}}}
	d.Callees = []query.Dependency{
		{MapEdge: edge(service, "userstore", 2000, 0, 0.2), Peer: query.MapNode{Name: "userstore", Requests: 2000, Health: query.HealthOK}},
		{MapEdge: edge(service, "pricing", 900, 3, 812), Peer: query.MapNode{Name: "pricing", Requests: 900, Errors: 3, Health: query.HealthOK}},
		{MapEdge: edge(service, "postgres:5432", 50, 2, 3), Peer: query.MapNode{Name: "postgres:5432", External: true, Requests: 50, Errors: 2, ErrorRate: 0.04, Health: query.HealthWarning}},
	}
	d.Callees[2].External = true
	return d, nil
}

// serviceFake is the fleet with the service page's issues and series that
// tell today from the comparison range, and it records what it was asked.
type serviceFake struct {
	*fakeQueries
	mu     sync.Mutex
	series []query.ServiceSeriesQuery
	issues []query.IssueQuery
}

func newServiceFake() *serviceFake { return &serviceFake{fakeQueries: fleet()} }

func (f *serviceFake) Issues(_ context.Context, q query.IssueQuery) (*query.IssueList, error) {
	f.mu.Lock()
	f.issues = append(f.issues, q)
	f.mu.Unlock()
	if q.Service != "fibfrontend" {
		return &query.IssueList{Issues: []query.IssueSummary{}}, nil
	}
	iss := func(id int64, title, culprit string, events int64, first, last time.Duration) query.IssueSummary {
		return query.IssueSummary{Issue: state.Issue{ID: id, Title: title, Culprit: culprit, Level: "error", Service: "fibfrontend",
			FirstSeen: now.Add(-first), LastSeen: now.Add(-last), TimesSeen: events, Status: state.StatusUnresolved}, Events: events, Users: 3}
	}
	return &query.IssueList{Total: 12, Issues: []query.IssueSummary{
		iss(7, `*kit.RemoteError: cannot price fib(91): unknown log level "verbose"`, "fibfrontend in (*frontend).fib", 84, 2*time.Hour, time.Minute),
		iss(9, "panic: "+svcXSS, svcXSSAttr, 2, 30*time.Minute, 10*time.Minute),
	}}, nil
}

// ServiceSeries adds latency to the fleet's series, and answers the
// comparison range with half of today's rate and p95, and no errors.
func (f *serviceFake) ServiceSeries(ctx context.Context, q query.ServiceSeriesQuery) (*query.ServiceSeriesResult, error) {
	f.mu.Lock()
	f.series = append(f.series, q)
	f.mu.Unlock()
	res, err := f.fakeQueries.ServiceSeries(ctx, q)
	if err != nil {
		return nil, err
	}
	for _, sr := range res.Series {
		for i := range sr.Points {
			p := &sr.Points[i]
			if p.Requests > 0 {
				p.Latency = &query.Latency{P50: float64(i), P95: 10 * float64(i), P99: 20 * float64(i)}
			}
			if q.Offset > 0 {
				p.Rate /= 2
				p.Errors, p.ErrorRate = 0, 0
				if p.Latency != nil {
					p.Latency.P95 /= 2
				}
			}
		}
	}
	return res, nil
}

func TestServicePages(t *testing.T) {
	for _, tc := range []struct {
		name, target string
		status       int
	}{
		{"service", "/services/fibfrontend", 200},
		{"service-env", "/services/fibfrontend?env=prod&from=now-7d&refresh=30s", 200},
		{"service-quiet", "/services/quiet", 200},
		{"service-xss", "/services/" + url.PathEscape(svcXSS), 200},
		{"service-unknown", "/services/pricng", 404},
		{"service-bad-range", "/services/fibfrontend?from=now-1x", 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			newServer(t, newServiceFake()).ServeHTTP(rec, httptest.NewRequest("GET", tc.target, nil))
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d:\n%s", rec.Code, tc.status, rec.Body)
			}
			golden(t, tc.name, rec.Body.String())
		})
	}
}

func getPage(t *testing.T, h http.Handler, target string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", target, nil))
	return rec.Code, rec.Body.String()
}

func TestServicePage(t *testing.T) {
	q := newServiceFake()
	code, body := getPage(t, newServer(t, q), "/services/fibfrontend?from=now-6h&env=prod")
	if code != 200 {
		t.Fatalf("status %d:\n%s", code, body)
	}
	for _, want := range []string{
		// health as the board computes it: 7% errors, one instance down,
		// the other failing a tenth of its requests
		`<span class="mark h-crit" title="crit: errors ≥ 5%">`,
		`<span class="inst h-crit" title="crit: down: not seen for 5m0s">`,
		`<span class="inst h-crit" title="crit: errors ≥ 5%">`,
		`<td class="num">1000</td><td class="num h-crit">10.0%</td>`,
		// the charts, today and yesterday, with the deploy of 3.0.2 marked
		`<path class="line s0" d="M`, `<path class="line prev" d="M`, `<path class="line err" d="M`,
		`<g class="mark"><title>3.0.2 at 2026-05-04 09:40:00</title>`,
		"Dashed: the same time yesterday.",
		// links to the fuller pages, keeping the frame
		`href="/logs?env=prod&amp;from=now-6h&amp;q=service%3Afibfrontend"`,
		`href="/errors?env=prod&amp;from=now-6h&amp;service=fibfrontend"`,
		`href="/explore?env=prod&amp;filter=service%3Dfibfrontend&amp;from=now-6h"`,
		`href="/logs?env=prod&amp;from=now-6h&amp;q=service%3Afibfrontend&#43;instance%3Af1"`,
		// errors, requests and dependencies link where they belong
		`<a class="issue-link" href="/errors/7?env=prod&amp;from=now-6h">`,
		`<a class="request-link" href="/requests/4bf92f3577b34da6a3ce929d0e0e4736?env=prod&amp;from=now-6h">`,
		`<a class="request-link" href="/requests/req-1?env=prod&amp;from=now-6h">`,
		`<a class="service-link" href="/services/pricing?env=prod&amp;from=now-6h">pricing</a>`,
		`postgres:5432 <span class="muted">external</span>`,
		// pricing's mark is the board's (p95 over 500ms), not the map's
		`<tr class="dep h-warn"><td><span class="mark h-warn" title="warn: p95 ≥ 500ms">`,
		`<small>12 issues · <a href=`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("service page lacks %s", want)
		}
	}
	// Only prod's instance is listed with env=prod: f2 is prod too, so
	// both; none of staging's.
	if strings.Contains(body, "host-u2") {
		t.Error("an instance of another service is listed")
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.series) != 2 {
		t.Fatalf("%d series queries, want 2", len(q.series))
	}
	offsets := []time.Duration{q.series[0].Offset, q.series[1].Offset}
	slices.Sort(offsets)
	for _, sq := range q.series {
		if sq.Service != "fibfrontend" || sq.Environment != "prod" {
			t.Errorf("series query %+v, want fibfrontend in prod", sq)
		}
	}
	if offsets[0] != 0 || offsets[1] != 24*time.Hour {
		t.Errorf("offsets %v, want 0 and 24h", offsets)
	}
	if len(q.issues) != 1 || q.issues[0].Service != "fibfrontend" || q.issues[0].Environment != "prod" || q.issues[0].Limit != serviceIssues {
		t.Errorf("issue queries %+v", q.issues)
	}
}

func TestServicePageWeekCompare(t *testing.T) {
	q := newServiceFake()
	code, body := getPage(t, newServer(t, q), "/services/pricing?from=now-7d")
	if code != 200 || !strings.Contains(body, "Dashed: the same time the week before.") {
		t.Fatalf("status %d, body lacks the week comparison:\n%s", code, body)
	}
	var offsets []time.Duration
	for _, sq := range q.series {
		offsets = append(offsets, sq.Offset)
	}
	if !slices.Contains(offsets, 7*24*time.Hour) {
		t.Errorf("offsets %v, want one of 7 days", offsets)
	}
}

func TestServicePageStatus(t *testing.T) {
	h := newServer(t, newServiceFake())
	for _, tc := range []struct {
		target string
		status int
		want   string
	}{
		{"/services/pricng", 404, `No service named &#34;pricng&#34; has sent spans or logs. Did you mean &#34;pricing&#34;?`},
		{"/services/zzzzzzzz", 404, `No service named &#34;zzzzzzzz&#34; has sent spans or logs. The services page`},
		{"/services/a%2Fb", 404, `No service named &#34;a/b&#34;`},
		{"/services/fibfrontend?to=tomorrow", 400, "to: "},
		{"/services/fibfrontend?from=now-40d", 400, "longer than the maximum"},
		{"/services/fibfrontend/extra", 404, "There is no page at /services/fibfrontend/extra."},
		{"/services/quiet", 200, "sent no span or log record in this range"},
	} {
		code, body := getPage(t, h, tc.target)
		if code != tc.status || !strings.Contains(body, tc.want) {
			t.Errorf("%s: status %d, want %d with %q:\n%s", tc.target, code, tc.status, tc.want, body)
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/services?env=prod", nil))
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/?env=prod" {
		t.Errorf("/services: %d to %q, want the board", rec.Code, rec.Header().Get("Location"))
	}
}

// failing answers every service page query but one with its fake's data.
type failing struct {
	*serviceFake
	err error
}

func (f failing) SlowestTraces(context.Context, string, query.TimeRange, int) ([]query.SlowRequest, error) {
	return nil, f.err
}

func TestServicePageQueryErrors(t *testing.T) {
	for _, tc := range []struct {
		err    error
		status int
	}{
		{fmt.Errorf("%w: limit too large", query.ErrInvalid), 400},
		{errors.New("disk on fire"), 500},
	} {
		code, body := getPage(t, newServer(t, failing{newServiceFake(), tc.err}), "/services/fibfrontend")
		if code != tc.status {
			t.Errorf("%v: status %d, want %d", tc.err, code, tc.status)
		}
		if strings.Contains(body, "disk on fire") {
			t.Error("an internal error reached the page")
		}
	}
}

// TestServicePageEscapes checks that what services send is shown as text:
// a service, an operation, an issue and a status message holding markup.
func TestServicePageEscapes(t *testing.T) {
	h := newServer(t, newServiceFake())
	for _, target := range []string{"/services/fibfrontend", "/services/" + url.PathEscape(svcXSS)} {
		code, body := getPage(t, h, target)
		if code != 200 {
			t.Fatalf("%s: status %d", target, code)
		}
		for _, raw := range []string{"<script>alert", "<img src=x", `"><img`} {
			if strings.Contains(body, raw) {
				t.Errorf("%s holds %s unescaped", target, raw)
			}
		}
		if !strings.Contains(body, "&lt;script&gt;alert(1)&lt;/script&gt;") {
			t.Errorf("%s does not show the markup as text", target)
		}
	}
}

func TestNearestName(t *testing.T) {
	svcs := []query.ServiceSummary{{Name: "pricing"}, {Name: "userstore"}, {Name: "fibfrontend"}, {Name: "db"}}
	for name, want := range map[string]string{
		"pricng":                 "pricing",
		"Pricing":                "pricing",
		"user-store":             "userstore",
		"fibfrontent":            "fibfrontend",
		"dc":                     "db",
		"ab":                     "db",
		"checkout":               "",
		"":                       "db",
		strings.Repeat("x", 200): "",
	} {
		if got := nearestName(name, svcs); got != want {
			t.Errorf("nearestName(%q) = %q, want %q", name, got, want)
		}
	}
}

func TestEditDistance(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		d    int
	}{
		{"", "", 0}, {"a", "", 1}, {"", "abc", 3}, {"kitten", "sitting", 3}, {"flaw", "lawn", 2}, {"größe", "grösse", 2}, {"abc", "abc", 0},
	} {
		if d := editDistance(tc.a, tc.b); d != tc.d {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tc.a, tc.b, d, tc.d)
		}
		if d := editDistance(tc.b, tc.a); d != tc.d {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tc.b, tc.a, d, tc.d)
		}
	}
}

func TestVersionMarks(t *testing.T) {
	t0 := now.Add(-time.Hour)
	v := func(name string, first time.Duration, before bool) query.VersionChange {
		return query.VersionChange{Version: name, FirstSeen: t0.Add(first), SeenBefore: before}
	}
	for _, tc := range []struct {
		name string
		in   []query.VersionChange
		want []string
	}{
		{"none", nil, nil},
		{"one running", []query.VersionChange{v("1", 0, true)}, nil},
		{"one started in the range", []query.VersionChange{v("1", 5*time.Minute, false)}, nil},
		{"deployed over a running one", []query.VersionChange{v("1", 0, true), v("2", 10*time.Minute, false)}, []string{"2"}},
		{"started, then deployed twice", []query.VersionChange{v("1", time.Minute, false), v("2", 10*time.Minute, false), v("3", 20*time.Minute, false)}, []string{"2", "3"}},
		{"rolled back to one running before", []query.VersionChange{v("1", 0, true), v("2", 10*time.Minute, false), v("1b", 20*time.Minute, true)}, []string{"2"}},
	} {
		var got []string
		for _, m := range versionMarks(tc.in) {
			got = append(got, m.Label)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: marks %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestFilterValues(t *testing.T) {
	for _, tc := range []struct{ in, log, metric string }{
		{"pricing", "service:pricing", "pricing"},
		{"user store", `service:"user store"`, `"user store"`},
		{`a"b`, `service:"a\"b"`, `"a\"b"`},
		{"fib*", `service:"fib*"`, `"fib*"`},
		{"a(b)", `service:"a(b)"`, "a(b)"},
		{"a,b", "service:a,b", `"a,b"`},
	} {
		if got := logFilter("service", tc.in); got != tc.log {
			t.Errorf("logFilter(%q) = %s, want %s", tc.in, got, tc.log)
		}
		if got := metricValue(tc.in); got != tc.metric {
			t.Errorf("metricValue(%q) = %s, want %s", tc.in, got, tc.metric)
		}
	}
}

func TestParallel(t *testing.T) {
	errA, errB := errors.New("a"), errors.New("b")
	var ran [3]bool
	err := parallel(context.Background(),
		func(context.Context) error { ran[0] = true; return nil },
		func(context.Context) error { ran[1] = true; return errA },
		func(context.Context) error { ran[2] = true; return errB },
	)
	if err != errA {
		t.Errorf("error %v, want the first in order, a", err)
	}
	if ran != [3]bool{true, true, true} {
		t.Errorf("ran %v: every function must run", ran)
	}
	if err := parallel(context.Background()); err != nil {
		t.Errorf("no functions: %v", err)
	}
}

func BenchmarkServicePage(b *testing.B) {
	h, err := New(Options{Query: newServiceFake(), Now: func() time.Time { return now }})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/services/fibfrontend", nil))
		if rec.Code != 200 {
			b.Fatal(rec.Code)
		}
	}
}
