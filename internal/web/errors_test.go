package web

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fibinc/telltale/internal/grouping"
	"github.com/fibinc/telltale/internal/query"
	"github.com/fibinc/telltale/internal/state"
	"github.com/fibinc/telltale/internal/telemetry"
)

// The real query service is what the dashboard is given.
var _ errorQueries = (*query.Service)(nil)

// fakeErrors is the errors page's part of fakeQueries.
type fakeErrors struct {
	issueList []query.IssueSummary
	details   map[int64]*query.IssueDetail
	events    map[string]*query.Event
	eventList map[int64][]query.EventSummary

	mu        sync.Mutex
	lastQuery query.IssueQuery
}

func (f *fakeErrors) Issues(_ context.Context, q query.IssueQuery) (*query.IssueList, error) {
	f.mu.Lock()
	f.lastQuery = q
	f.mu.Unlock()
	list := &query.IssueList{Issues: []query.IssueSummary{}}
	for _, iss := range f.issueList {
		if !slices.Contains(q.Statuses, iss.Status) || q.Service != "" && q.Service != iss.Service ||
			q.Text != "" && !strings.Contains(strings.ToLower(iss.Title+iss.Culprit), strings.ToLower(q.Text)) {
			continue
		}
		list.Issues = append(list.Issues, iss)
	}
	list.Total = len(list.Issues)
	list.Issues = list.Issues[min(q.Offset, len(list.Issues)):]
	list.Issues = list.Issues[:min(cmp.Or(q.Limit, 100), len(list.Issues))]
	return list, nil
}

func (f *fakeErrors) Issue(_ context.Context, id int64, r query.TimeRange) (*query.IssueDetail, error) {
	d, ok := f.details[id]
	if !ok {
		return nil, fmt.Errorf("issue %d: %w", id, query.ErrNotFound)
	}
	return d, nil
}

func (f *fakeErrors) IssueEvents(_ context.Context, id int64, r query.TimeRange, limit int) ([]query.EventSummary, error) {
	return f.eventList[id], nil
}

// IssueTrends gives every issue a few events near the end of the range.
func (f *fakeErrors) IssueTrends(_ context.Context, q query.IssueQuery, ids []int64, step time.Duration) (map[int64]query.Trend, error) {
	start := q.Range.From.Truncate(step)
	n := int(q.Range.To.Sub(start)/step) + 1
	out := map[int64]query.Trend{}
	for _, id := range ids {
		tr := query.Trend{Start: start, StepMs: step.Milliseconds(), Counts: make([]int64, n)}
		for i := range min(n, 4) {
			tr.Counts[n-1-i] = int64(i+1) * id
		}
		out[id] = tr
	}
	return out, nil
}

func (f *fakeErrors) Event(_ context.Context, eventID string) (*query.Event, error) {
	if !isHex(eventID, 32) {
		return nil, fmt.Errorf("%w: event id %q is not 32 hex digits", query.ErrInvalid, eventID)
	}
	ev, ok := f.events[eventID]
	if !ok {
		return nil, fmt.Errorf("event %s: %w", eventID, query.ErrNotFound)
	}
	return ev, nil
}

// fakeStatus records status changes.
type fakeStatus struct {
	mu    sync.Mutex
	calls []string
}

func (s *fakeStatus) SetStatus(_ context.Context, id int64, status string) (state.Issue, error) {
	if id == 999 {
		return state.Issue{}, fmt.Errorf("issue %d: %w", id, state.ErrNotFound)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, fmt.Sprintf("%d=%s", id, status))
	return state.Issue{ID: id, Status: status}, nil
}

const (
	xssScript = `<script>alert(1)</script>`
	xssAttr   = `"><img src=x onerror=alert(1)>`
	eventA    = "0123456789abcdef0123456789abcdef" // latest event of issue 1
	eventB    = "fedcba9876543210fedcba9876543210" // an older one
	eventC    = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" // an event of issue 2
	traceA    = "4bf92f3577b34da6a3ce929d0e0e4736"
)

func jsonText(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func yes() *bool { b := true; return &b }
func no() *bool  { b := false; return &b }

// issueEvent is a Go error event with a stack of app and library frames,
// source context, a remote chain and the grouping a real grouper gives it.
func issueEvent(id string, issue int64, at time.Time, value string) *query.Event {
	ev := telemetry.ErrorEvent{
		Resource: telemetry.Resource{ServiceName: "fibfrontend", ServiceVersion: "3.0.2", InstanceID: "f1", Environment: "prod", Host: "vm1",
			AvailabilityZone: "us-east-1a", Attributes: jsonText(map[string]any{"telemetry.sdk.language": "go", "k8s.pod.name": xssAttr})},
		EventID: id, ProjectID: 1, Time: at, Source: telemetry.ErrorSourceSentry, Platform: "go", Level: telemetry.LevelError,
		Transaction: "GET /{n}", Release: "fibfrontend@3.0.2", Message: "",
		Exceptions: []telemetry.Exception{
			{Type: "*errors.errorString", Value: "insufficient credit " + xssScript, Mechanism: &telemetry.Mechanism{Type: "chained"}},
			{Type: "*kit.RemoteError", Value: value, Mechanism: &telemetry.Mechanism{Type: "generic", Handled: no()}, Frames: []telemetry.Frame{
				{Function: "goexit", Module: "runtime", Filename: "asm_amd64.s", AbsPath: "/usr/local/go/src/runtime/asm_amd64.s", Lineno: 1771, InApp: no()},
				{Function: "(*conn).serve", Module: "net/http", Filename: "server.go", Lineno: 2067, InApp: no()},
				{Function: "serverHandler.ServeHTTP", Module: "net/http", Filename: "server.go", Lineno: 3311, InApp: no()},
				{Function: "Run.Handler.func4", Module: "github.com/fibinc/fibpro/fibfrontend", Filename: "handler.go", Lineno: 143, InApp: yes()},
				{Function: "HandlerFunc.ServeHTTP", Module: "net/http", Filename: "server.go", Lineno: 2286, InApp: no()},
				{Function: "(*frontend).fib", Module: "github.com/fibinc/fibpro/fibfrontend", Filename: "fibfrontend.go", AbsPath: "/src/fibfrontend.go", Lineno: 174, InApp: yes(),
					PreContext: []string{"\tcost, err := f.price(ctx, n)", "\tif err != nil {"}, ContextLine: "\t\treturn kit.Errorf(\"cannot price: %w\", err) // " + xssScript,
					PostContext: []string{"\t}"}},
			}, RawStacktrace: "goroutine 1 [running]:\n" + xssScript},
		},
		Tags:        []telemetry.Tag{{Key: "http.route", Value: "/{n}"}, {Key: "note", Value: xssAttr}},
		User:        telemetry.User{ID: "u-42", Email: "bob@example.com", IPAddress: "10.0.0.7"},
		Request:     telemetry.Request{URL: "http://fib.example/91?x=" + xssAttr, Method: "GET", Headers: []telemetry.Tag{{Key: "User-Agent", Value: "curl/8"}}},
		Breadcrumbs: []telemetry.Breadcrumb{{Time: at.Add(-time.Second), Category: "http", Message: "GET /price/91 → 500", Level: "error", Data: "{}"}},
		SDK:         telemetry.SDK{Name: "sentry.go", Version: "0.50.0"},
		TraceID:     traceA, SpanID: "00f067aa0ba902b7", RequestID: "req-42", IssueID: issue,
	}
	res := grouping.New(grouping.Options{AppModules: []string{"github.com/fibinc/"}}).Group(&ev)
	info, err := json.Marshal(res.Info)
	if err != nil {
		panic(err)
	}
	ev.GroupingVersion, ev.GroupingHash, ev.Title, ev.Culprit = grouping.Version, res.Hashes[0], res.Title, res.Culprit
	return &query.Event{ErrorEvent: ev, Contexts: json.RawMessage(jsonText(map[string]any{"runtime": map[string]string{"name": "go", "version": "go1.26"}, "note": xssAttr})),
		Extra: json.RawMessage(`{"attempt":3}`), Grouping: info,
		RemoteChain: []query.ChainLink{
			{Service: "fibfrontend", Operation: "GET /{n}", EventID: id, IssueID: issue, Type: "*kit.RemoteError", Value: value, Frames: ev.Exceptions[1].Frames},
			{Service: "pricing", Operation: "GET /cost/{n}", EventID: eventC, IssueID: 2, Type: "*errors.errorString", Value: "cannot load rules " + xssScript, Frames: []telemetry.Frame{
				{Function: "loadRules", Module: "github.com/fibinc/fibpro/pricing", Filename: "pricing.go", Lineno: 223, InApp: yes()},
				{Function: "ServeHTTP", Module: "net/http", Filename: "server.go", Lineno: 2286, InApp: no()},
			}},
		}}
}

func errorFleet(status IssueStatus) (*fakeQueries, IssueStatus) {
	q := fleet()
	iss := func(id int64, title, culprit, service, status, sub string, events, users int64, first, last time.Duration) query.IssueSummary {
		return query.IssueSummary{Issue: state.Issue{ID: id, ProjectID: 1, Type: "error", Title: title, Culprit: culprit, Level: "error", Platform: "go",
			Service: service, FirstSeen: now.Add(-first), LastSeen: now.Add(-last), TimesSeen: events * 3, Status: status, Substatus: sub,
			StatusChanged: now.Add(-first)}, Events: events, Users: users}
	}
	q.issueList = []query.IssueSummary{
		iss(1, "*kit.RemoteError: cannot charge bob: insufficient credit", "github.com/fibinc/fibpro/fibfrontend in (*frontend).fib", "fibfrontend", "unresolved", "regressed", 33, 4, 26*time.Hour, 2*time.Minute),
		iss(2, "*errors.errorString: cannot load rules", "github.com/fibinc/fibpro/pricing in loadRules", "pricing", "unresolved", "new", 11, 0, 20*time.Minute, 5*time.Minute),
		iss(3, "*errors.errorString: "+xssScript, xssAttr, "pricing", "unresolved", "ongoing", 2, 1, time.Hour, 30*time.Second),
		iss(4, "*strconv.NumError: parsing \"favicon.ico\"", "", "fibfrontend", "resolved", "", 5, 0, 3*time.Hour, 40*time.Minute),
		iss(5, "disk almost full", "", "userstore", "ignored", "", 1, 0, 50*time.Minute, 50*time.Minute),
	}
	q.issueList[4].Type = "default"
	q.issueList[4].Level = "warning"
	evA := issueEvent(eventA, 1, now.Add(-2*time.Minute), "cannot charge bob 49 credits: userstore: insufficient credit")
	evB := issueEvent(eventB, 1, now.Add(-7*time.Minute), "cannot charge erin 12 credits: userstore: insufficient credit")
	evC := issueEvent(eventC, 2, now.Add(-5*time.Minute), "cannot load rules")
	q.events = map[string]*query.Event{eventA: evA, eventB: evB, eventC: evC}
	d1 := &query.IssueDetail{Issue: q.issueList[0].Issue, Events: 33, Users: 4, LatestEvent: evA,
		Hashes: []state.IssueHash{{ProjectID: 1, IssueID: 1, Hash: evA.GroupingHash, GroupingVersion: grouping.Version, CreatedAt: now.Add(-26 * time.Hour)},
			{ProjectID: 1, IssueID: 1, Hash: "00000000000000000000000000000001", GroupingVersion: "telltale:2026-01", CreatedAt: now.Add(-26 * time.Hour)}},
		Tags: []query.TagBreakdown{
			{Key: "environment", Events: 33, Distinct: 1, Top: []query.TagValue{{Value: "prod", Count: 33}}},
			{Key: "service", Events: 33, Distinct: 1, Top: []query.TagValue{{Value: "fibfrontend", Count: 33}}},
			{Key: "user", Events: 30, Distinct: 12, Top: []query.TagValue{{Value: "u-42", Count: 20}, {Value: xssScript, Count: 5}}},
		}}
	d1.Issue.RegressedAt = now.Add(-10 * time.Minute)
	d2 := &query.IssueDetail{Issue: q.issueList[1].Issue, Events: 11, LatestEvent: evC, Tags: []query.TagBreakdown{}}
	d3 := &query.IssueDetail{Issue: q.issueList[2].Issue, Events: 0, Tags: []query.TagBreakdown{}} // its events are gone
	q.details = map[int64]*query.IssueDetail{1: d1, 2: d2, 3: d3}
	sum := func(ev *query.Event) query.EventSummary {
		return query.EventSummary{EventID: ev.EventID, IssueID: ev.IssueID, Time: ev.Time, Title: ev.Title, Level: ev.Level, Service: ev.ServiceName,
			User: ev.User.ID, TraceID: ev.TraceID, RequestID: ev.RequestID}
	}
	q.eventList = map[int64][]query.EventSummary{1: {sum(evA), sum(evB)}, 2: {sum(evC)}}
	return q, status
}

func newErrorServer(t *testing.T, q *fakeQueries, status IssueStatus) http.Handler {
	t.Helper()
	h, err := New(Options{Query: q, Status: status, IngestURL: "http://localhost:4318", DSN: "http://0123abcd@localhost:4318/1", Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestErrorPages(t *testing.T) {
	for _, tc := range []struct {
		name, target string
		empty        bool // no issues at all
		noStatus     bool // no issue tracker
		status       int
	}{
		{"errors", "/errors", false, false, 200},
		{"errors-all", "/errors?status=all&sort=events&from=now-6h&env=prod", false, false, 200},
		{"errors-filtered", "/errors?service=pricing&search=rules", false, false, 200},
		{"errors-nomatch", "/errors?status=ignored&search=nothing", false, false, 200},
		{"errors-empty", "/errors", true, false, 200},
		{"errors-noactions", "/errors?status=resolved", false, true, 200},
		{"issue", "/errors/1", false, false, 200},
		{"issue-event", "/errors/1?event=" + eventB + "&refresh=30s", false, false, 200},
		{"issue-noevent", "/errors/3", false, true, 200},
		{"issue-bad-id", "/errors/abc", false, false, 400},
		{"issue-unknown", "/errors/77", false, false, 404},
		{"issue-unknown-event", "/errors/1?event=" + strings.Repeat("b", 32), false, false, 404},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q, st := errorFleet(&fakeStatus{})
			if tc.empty {
				q = &fakeQueries{}
			}
			if tc.noStatus {
				st = nil
			}
			rec := httptest.NewRecorder()
			newErrorServer(t, q, st).ServeHTTP(rec, httptest.NewRequest("GET", tc.target, nil))
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d:\n%s", rec.Code, tc.status, rec.Body)
			}
			body := rec.Body.String()
			for _, raw := range []string{xssScript, xssAttr, "<img src=x"} {
				if strings.Contains(body, raw) {
					t.Errorf("%q appears unescaped", raw)
				}
			}
			golden(t, tc.name, body)
		})
	}
}

// TestIssueList checks what the list asks for and shows.
func TestIssueList(t *testing.T) {
	q, st := errorFleet(&fakeStatus{})
	h := newErrorServer(t, q, st)
	get := func(target string) string {
		t.Helper()
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", target, nil))
		if rec.Code != 200 {
			t.Fatalf("%s: %d\n%s", target, rec.Code, rec.Body)
		}
		return rec.Body.String()
	}
	for _, tc := range []struct {
		target string
		want   query.IssueQuery
		rows   []string // issue ids shown, in order
	}{
		{"/errors", query.IssueQuery{Statuses: []string{"unresolved"}, Sort: "last_seen", Limit: issuesPerPage}, []string{"1", "2", "3"}},
		{"/errors?status=all&sort=users&env=prod", query.IssueQuery{Statuses: []string{"unresolved", "resolved", "ignored"}, Sort: "users", Environment: "prod", Limit: issuesPerPage}, []string{"1", "2", "3", "4", "5"}},
		{"/errors?sort=events&service=pricing&search=+rules+", query.IssueQuery{Statuses: []string{"unresolved"}, Sort: "count", Service: "pricing", Text: "rules", Limit: issuesPerPage}, []string{"2"}},
		{"/errors?sort=first_seen&page=3&status=resolved", query.IssueQuery{Statuses: []string{"resolved"}, Sort: "first_seen", Limit: issuesPerPage, Offset: 2 * issuesPerPage}, nil},
	} {
		body := get(tc.target)
		got := q.lastQuery
		got.Range = query.TimeRange{}
		if fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("%s asked for %+v, want %+v", tc.target, got, tc.want)
		}
		var rows []string
		for _, part := range strings.Split(body, `data-issue="`)[1:] {
			rows = append(rows, part[:strings.IndexByte(part, '"')])
		}
		if !slices.Equal(rows, tc.rows) {
			t.Errorf("%s shows issues %v, want %v", tc.target, rows, tc.rows)
		}
	}

	// A service name is one path segment of its link.
	q.issueList[0].Service = "pay/ments?x"
	if body := get("/errors"); !strings.Contains(body, `<a class="service-link" href="/services/pay%2Fments%3Fx">pay/ments?x</a>`) {
		t.Error("a service name with / and ? is not escaped in its link")
	}

	// Pages: 120 issues make three pages, with links between them.
	q.issueList = nil
	for i := range 120 {
		q.issueList = append(q.issueList, query.IssueSummary{Issue: state.Issue{ID: int64(i + 1), Title: "e", Status: "unresolved", LastSeen: now}})
	}
	body := get("/errors?page=2&service=&sort=events")
	for _, want := range []string{`51–100 of 120`, `<a rel="prev" href="/errors?sort=events">`, `<a rel="next" href="/errors?page=3&amp;sort=events">`} {
		if !strings.Contains(body, want) {
			t.Errorf("page 2 lacks %s", want)
		}
	}
	if body := get("/errors?page=3"); strings.Contains(body, `rel="next"`) || !strings.Contains(body, `101–120 of 120`) {
		t.Error("the last page links further or miscounts")
	}
	if body := get("/errors?page=9"); !strings.Contains(body, "past the last issue") {
		t.Error("a page past the end does not say so")
	}

	for target, msg := range map[string]string{
		"/errors?status=open":       `status &#34;open&#34; is not one of`,
		"/errors?sort=newest":       `sort &#34;newest&#34; is not one of`,
		"/errors?page=0":            `page &#34;0&#34; is not a page number`,
		"/errors?page=x":            `page &#34;x&#34; is not a page number`,
		"/errors?from=yesterday":    `from:`,
		"/errors/0":                 `&#34;0&#34; is not an issue id`,
		"/errors/-3":                `&#34;-3&#34; is not an issue id`,
		"/errors/1?event=nothex":    `event id &#34;nothex&#34; is not 32 hex digits`,
		"/errors/1?event=" + eventC: "Issue #1 has no event " + eventC, // an event of issue 2
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", target, nil))
		want := 400
		if strings.Contains(target, eventC) {
			want = 404
		}
		if rec.Code != want || !strings.Contains(rec.Body.String(), msg) {
			t.Errorf("%s: %d, want %d with %q:\n%s", target, rec.Code, want, msg, rec.Body)
		}
	}
}

func TestIssuePage(t *testing.T) {
	q, st := errorFleet(&fakeStatus{})
	h := newErrorServer(t, q, st)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/errors/1?event="+eventB, nil))
	body := rec.Body.String()
	for _, want := range []string{
		// The older event is shown, with a way back to the newer one.
		`<a class="newer" href="/errors/1?event=` + eventA + `" rel="prev">`,
		`<li aria-current="true">` + "\n" + `      <a class="event-link" href="/errors/1?event=` + eventB + `">`,
		`<a class="request-link" href="/requests/` + traceA + `">View the request</a>`,
		// Two in-app frames, the library frames between and below them
		// collapsed, a lone one shown.
		`<summary>3 system frames</summary>`,
		`<li class="frame app">`,
		`<li class="cur"><span class="ln">174</span>`,
		`<span class="ln">172</span>`,
		// The remote chain links the callee's issue and event.
		`<a class="hop-issue" href="/errors/2?event=` + eventC + `">issue #2</a>`,
		// The grouping names the variant that chose the issue.
		`its <strong>app</strong> variant`,
		`<span class="badge">chose the issue</span>`,
		// Tags: 20 of 33 events, and the rest.
		`60.6%`, `other 10 values or not set`,
		`<span class="badge unhandled">unhandled</span>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("issue page lacks %s", want)
		}
	}
	if strings.Index(body, "*kit.RemoteError") > strings.Index(body, "which was caused by") {
		t.Error("the main exception is not shown first")
	}
}

func TestSetIssueStatus(t *testing.T) {
	for _, tc := range []struct {
		name     string
		path     string
		form     string
		header   map[string]string
		status   int
		location string
		call     string // the change made, if any
	}{
		{"resolve from the list", "/errors/1/status", "status=resolved",
			map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": "http://example.com", "Referer": "http://example.com/errors?status=all&sort=users"},
			303, "/errors?status=all&sort=users", "1=resolved"},
		{"no fetch metadata, no origin: an older browser or curl", "/errors/2/status", "status=ignored", nil, 303, "/errors/2", "2=ignored"},
		{"referer of another site is not followed", "/errors/2/status", "status=unresolved",
			map[string]string{"Referer": "http://evil.example/errors"}, 303, "/errors/2", "2=unresolved"},
		{"protocol-relative referer path is not followed", "/errors/2/status", "status=resolved",
			map[string]string{"Referer": "http://example.com//evil.example/x"}, 303, "/errors/2", "2=resolved"},
		{"cross-site", "/errors/1/status", "status=resolved", map[string]string{"Sec-Fetch-Site": "cross-site"}, 403, "", ""},
		{"same-site is another origin", "/errors/1/status", "status=resolved", map[string]string{"Sec-Fetch-Site": "same-site"}, 403, "", ""},
		{"typed in the address bar", "/errors/1/status", "status=resolved", map[string]string{"Sec-Fetch-Site": "none"}, 403, "", ""},
		{"origin of another host", "/errors/1/status", "status=resolved",
			map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": "http://evil.example"}, 403, "", ""},
		{"opaque origin", "/errors/1/status", "status=resolved", map[string]string{"Origin": "null"}, 403, "", ""},
		{"bad status", "/errors/1/status", "status=deleted", nil, 400, "", ""},
		{"no status", "/errors/1/status", "", nil, 400, "", ""},
		{"bad id", "/errors/x/status", "status=resolved", nil, 400, "", ""},
		{"unknown issue", "/errors/999/status", "status=resolved", nil, 404, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q, _ := errorFleet(nil)
			st := &fakeStatus{}
			req := httptest.NewRequest("POST", tc.path, strings.NewReader(tc.form))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			for k, v := range tc.header {
				req.Header.Set(k, v)
			}
			rec := httptest.NewRecorder()
			newErrorServer(t, q, st).ServeHTTP(rec, req)
			if rec.Code != tc.status || rec.Header().Get("Location") != tc.location {
				t.Fatalf("%d to %q, want %d to %q:\n%s", rec.Code, rec.Header().Get("Location"), tc.status, tc.location, rec.Body)
			}
			if got := strings.Join(st.calls, ","); got != tc.call {
				t.Errorf("changes %q, want %q", got, tc.call)
			}
			if tc.status == 403 && !strings.Contains(rec.Body.String(), "change issues from Telltale") {
				t.Errorf("403 without a message:\n%s", rec.Body)
			}
		})
	}

	// Without an issue tracker there are no actions, and POST is refused.
	q, _ := errorFleet(nil)
	h := newErrorServer(t, q, nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", "/errors/1/status", strings.NewReader("status=resolved")))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST without a tracker: %d", rec.Code)
	}
	for _, target := range []string{"/errors", "/errors/1"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", target, nil))
		if strings.Contains(rec.Body.String(), "status-form") {
			t.Errorf("%s offers actions without a tracker", target)
		}
	}
}

func TestFrameRuns(t *testing.T) {
	app := telemetry.Frame{Function: "a", InApp: yes()}
	sys := telemetry.Frame{Function: "s", InApp: no()}
	unk := telemetry.Frame{Function: "u"}
	show := func(runs []frameRun) string {
		var b strings.Builder
		for _, r := range runs {
			if r.Collapse {
				b.WriteString("[")
			}
			for _, f := range r.Frames {
				if f.App {
					b.WriteString("A")
				} else {
					b.WriteString("s")
				}
			}
			if r.Collapse {
				b.WriteString("]")
			}
			b.WriteString(" ")
		}
		return strings.TrimSpace(b.String())
	}
	for _, tc := range []struct {
		frames []telemetry.Frame // oldest first, as stored
		want   string            // most recent first
	}{
		{nil, ""},
		{[]telemetry.Frame{sys, sys, app, sys, app}, "AsA [ss]"},
		{[]telemetry.Frame{app, sys, sys, sys}, "[sss] A"},
		{[]telemetry.Frame{sys, unk, sys}, "sss"}, // no in-app frame: all shown
		{[]telemetry.Frame{app, app}, "AA"},
	} {
		if got := show(frameRuns(tc.frames)); got != tc.want {
			t.Errorf("%v: %q, want %q", tc.frames, got, tc.want)
		}
	}
}

func TestTrendStep(t *testing.T) {
	for rng, want := range map[time.Duration]time.Duration{
		5 * time.Minute:     10 * time.Second,
		time.Hour:           2 * time.Minute,
		24 * time.Hour:      time.Hour,
		7 * 24 * time.Hour:  6 * time.Hour,
		90 * 24 * time.Hour: 24 * time.Hour,
	} {
		if got := trendStep(query.TimeRange{From: now.Add(-rng), To: now}, sparkSteps); got != want {
			t.Errorf("range %s: step %s, want %s", rng, got, want)
		}
		if (24*time.Hour)%want != 0 {
			t.Errorf("step %s does not divide a day", want)
		}
	}
}

func TestBackTo(t *testing.T) {
	for ref, want := range map[string]string{
		"":                                  "/fallback",
		"http://example.com/errors?x=1":     "/errors?x=1",
		"https://EXAMPLE.com/errors/2":      "/errors/2",
		"http://example.com":                "/fallback",
		"http://other.example/errors":       "/fallback",
		"http://example.com//evil.example/": "/fallback",
		`http://example.com/\evil.example`:  "/%5Cevil.example", // escaped: a path, not a host
		"javascript:alert(1)":               "/fallback",
		"/errors":                           "/fallback",
		"http://example.com:8080/errors":    "/fallback",
	} {
		r := httptest.NewRequest("POST", "/errors/1/status", nil)
		r.Header.Set("Referer", ref)
		if got := backTo(r, "/fallback"); got != want {
			t.Errorf("Referer %q: %q, want %q", ref, got, want)
		}
	}
}

// FuzzBackTo checks that whatever the Referer, the redirect stays on the
// site: a path, never a scheme or another host.
func FuzzBackTo(f *testing.F) {
	for _, s := range []string{"http://example.com/errors?x=1", "http://example.com//evil", `http://example.com/\evil`,
		"http://example.com/%2F%2Fevil", "http://example.com/a/../..//b", "http://example.com/\x00", "https://example.com/errors#frag"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, ref string) {
		r := httptest.NewRequest("POST", "/errors/1/status", nil)
		r.Header.Set("Referer", ref)
		got := backTo(r, "/errors/1")
		if !strings.HasPrefix(got, "/") || strings.HasPrefix(got, "//") || strings.HasPrefix(got, `/\`) {
			t.Fatalf("Referer %q sends to %q", ref, got)
		}
		u, err := url.Parse(got)
		if err != nil || u.Host != "" || u.Scheme != "" {
			t.Fatalf("Referer %q sends to %q, which is not a local path", ref, got)
		}
		// The browser resolves Location against the page: it must stay on
		// the site.
		base, _ := url.Parse("http://example.com/errors/1/status")
		if res := base.ResolveReference(u); res.Host != "example.com" {
			t.Fatalf("Referer %q sends to %q, which resolves to %s", ref, got, res)
		}
	})
}

// The issue page is the heaviest of the errors pages: a stack, a chain, a
// grouping tree of both variants.
func BenchmarkIssuePage(b *testing.B) {
	q, st := errorFleet(&fakeStatus{})
	h, err := New(Options{Query: q, Status: st, Now: func() time.Time { return now }})
	if err != nil {
		b.Fatal(err)
	}
	for _, target := range []string{"/errors", "/errors/1"} {
		b.Run(strings.TrimPrefix(target, "/"), func(b *testing.B) {
			for b.Loop() {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, httptest.NewRequest("GET", target, nil))
				if rec.Code != 200 {
					b.Fatal(rec.Code)
				}
			}
		})
	}
}
