package web

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/fibinc/telltale/internal/query"
	"github.com/fibinc/telltale/internal/query/filter"
	"github.com/fibinc/telltale/internal/telemetry"
)

// fakeRequests is the request page's part of fakeQueries: requests by
// trace id and by request id, and their errors by request id.
type fakeRequests struct {
	requests map[string]*query.Request
	errors   map[string][]query.RequestError
}

func (f *fakeRequests) Request(_ context.Context, id string) (*query.Request, error) {
	if r := f.requests[id]; r != nil {
		return r, nil
	}
	if r := f.requests[strings.ToLower(id)]; r != nil && len(id) == 32 {
		cp := *r // the query service answers with the id as asked
		cp.ID = id
		return &cp, nil
	}
	return nil, fmt.Errorf("request %q: %w", id, query.ErrNotFound)
}

func (f *fakeRequests) RequestErrors(_ context.Context, req *query.Request) ([]query.RequestError, error) {
	return f.errors[strings.ToLower(req.ID)], nil
}

// The FibPro request: fibfrontend authenticates the user at userstore,
// then asks pricing for the cost, which fails loading its rules; the
// error goes back through fibfrontend.
const (
	fibTrace   = "4bf92f3577b34da6a3ce929d0e0e4736"
	fibRequest = "7c463c4b91fbb25cda7252bce527c833"
	fibPricing = "386fe9df5b567c13" // pricing's server span
)

func fibproRequest(id string) *query.Request {
	t0 := now.Add(-3 * time.Minute)
	res := func(service, version, instance string) query.Resource {
		return query.Resource{Service: service, ServiceVersion: version, InstanceID: instance, Environment: "prod", Host: "vm-" + instance,
			AvailabilityZone: "us-east-1a", ResourceAttributes: json.RawMessage(`{"telemetry.sdk.language":"go","telemetry.sdk.name":"opentelemetry"}`)}
	}
	front, users, pricing := res("fibfrontend", "3.0.2", "f1"), res("userstore", "2.1.0", "u1"), res("pricing", "1.4.0", "p1")
	sp := func(r query.Resource, id, parent, name, kind string, at, d float64, status, msg, attrs, events string, depth int) query.Span {
		return query.Span{TraceID: fibTrace, SpanID: id, ParentSpanID: parent, Name: name, Kind: kind,
			Start: t0.Add(time.Duration(at * 1e6)), DurationNs: int64(d * 1e6), DurationMs: d, OffsetMs: at, Depth: depth,
			StatusCode: status, StatusMessage: msg, RequestID: fibRequest, Resource: r, ScopeName: "github.com/fibinc/telltale/kit",
			Attributes: json.RawMessage(attrs), Events: json.RawMessage(events), Links: json.RawMessage(`[]`)}
	}
	exc := func(at float64, typ, msg string) string {
		return fmt.Sprintf(`[{"time":%q,"name":"exception","attributes":{"exception.type":%q,"exception.message":%q,"exception.stacktrace":"goroutine 1 [running]:\nmain.fib()\n\t/src/fib.go:166"}}]`,
			t0.Add(time.Duration(at*1e6)).Format(time.RFC3339Nano), typ, msg)
	}
	const rulesErr = `cannot load pricing rules "bulk": unknown log level "verbose"`
	spans := []query.Span{
		sp(front, "3ff77ca80102becb", "", "GET /{n}", "server", 0, 1.876, "error", "Bad Gateway",
			`{"http.request.method":"GET","http.route":"/{n}","http.response.status_code":502,"url.path":"/78"}`,
			exc(1.87, "*kit.RemoteError", "cannot price fib(78): pricing: "+rulesErr), 0),
		sp(front, "1f4b153400393f3e", "3ff77ca80102becb", "POST", "client", 0.062, 0.407, "unset", "",
			`{"http.request.method":"POST","url.full":"http://userstore/users/bob/authenticate","http.response.status_code":200}`, `[]`, 1),
		sp(users, "925771e1fd54178a", "1f4b153400393f3e", "POST /users/{name}/authenticate", "server", 0.216, 0.057, "unset", "",
			`{"http.request.method":"POST","http.route":"/users/{name}/authenticate","http.response.status_code":200}`, `[]`, 2),
		sp(front, "078be21ce03e01ef", "3ff77ca80102becb", "GET", "client", 0.618, 0.863, "error", "pricing: "+rulesErr,
			`{"http.request.method":"GET","url.full":"http://pricing/cost/78","http.response.status_code":500}`, `[]`, 1),
		sp(pricing, fibPricing, "078be21ce03e01ef", "GET /cost/{n}", "server", 0.823, 0.521, "error", "Internal Server Error",
			`{"http.request.method":"GET","http.route":"/cost/{n}","http.response.status_code":500}`, exc(1.3, "*errors.errorString", rulesErr), 2),
	}
	spans[4].Links = json.RawMessage(`[{"trace_id":"0af7651916cd43dd8448eb211c80319c","span_id":"b7ad6b7169203331","trace_state":"","attributes":{"link.reason":"rules reload"}}]`)
	trace := &query.Trace{TraceSummary: query.TraceSummary{TraceID: fibTrace, RootService: "fibfrontend", RootOperation: "GET /{n}",
		Start: t0, DurationNs: 1_876_000, DurationMs: 1.876, SpanCount: 5, ErrorCount: 3, Services: []string{"fibfrontend", "pricing", "userstore"}},
		Spans: spans}
	lg := func(r query.Resource, at float64, severity int32, span, body, attrs string) query.LogRecord {
		tm := t0.Add(time.Duration(at * 1e6))
		return query.LogRecord{Time: tm, ObservedTime: tm, SeverityNumber: severity, Level: telemetry.LevelName(severity),
			SeverityText: strings.ToUpper(telemetry.LevelName(severity)), Body: body, TraceID: fibTrace, SpanID: span,
			RequestID: fibRequest, Resource: r, Attributes: json.RawMessage(attrs)}
	}
	logs := []query.LogRecord{
		lg(front, -0.5, telemetry.SeverityDebug, "", "accepted connection", `{}`),
		lg(users, 0.25, telemetry.SeverityInfo, "925771e1fd54178a", "user authenticated", `{"user":"bob"}`),
		lg(pricing, 1.3, telemetry.SeverityError, fibPricing, "request failed", `{"error.message":"`+strings.ReplaceAll(rulesErr, `"`, `\"`)+`","status":500}`),
		lg(front, 1.87, telemetry.SeverityError, "3ff77ca80102becb", "request failed", `{"status":502}`),
	}
	return &query.Request{ID: id, Traces: []*query.Trace{trace}, Logs: logs}
}

func fibproErrors(id string) []query.RequestError {
	yes, no := true, false
	frames := func(fs ...telemetry.Frame) []telemetry.Frame { return fs }
	return []query.RequestError{{
		Time: now.Add(-3*time.Minute + 1870*time.Microsecond), Service: "fibfrontend", TraceID: fibTrace, SpanID: "3ff77ca80102becb",
		EventID: "f2efa3b785e18165ff7af8bf7ea6d9aa", IssueID: 5, Title: `*kit.RemoteError: cannot price fib(78): pricing: cannot load pricing rules "bulk"`,
		Chain: []query.ChainLink{
			{Service: "fibfrontend", Operation: "GET /{n}", SpanID: "3ff77ca80102becb", EventID: "f2efa3b785e18165ff7af8bf7ea6d9aa", IssueID: 5,
				Type: "*kit.RemoteError", Value: `cannot price fib(78): pricing: cannot load pricing rules "bulk": unknown log level "verbose"`,
				Frames: frames(
					telemetry.Frame{Module: "runtime", Function: "goexit", Filename: "asm_amd64.s", Lineno: 1771, InApp: &no},
					telemetry.Frame{Module: "net/http", Function: "(*conn).serve", Filename: "server.go", Lineno: 2067, InApp: &no},
					telemetry.Frame{Module: "github.com/fibinc/telltale/examples/fibpro/fibfrontend", Function: "Run.countRequests.func5", Filename: "fibfrontend.go", Lineno: 233, InApp: &yes},
					telemetry.Frame{Module: "github.com/fibinc/telltale/examples/fibpro/fibfrontend", Function: "Run.Handler.func4", Filename: "handler.go", Lineno: 143, InApp: &yes},
					telemetry.Frame{Module: "github.com/fibinc/telltale/kit", Function: "HandlerFunc.ServeHTTP", Filename: "handler.go", Lineno: 66, InApp: &yes},
					telemetry.Frame{Module: "github.com/fibinc/telltale/examples/fibpro/fibfrontend", Function: "(*frontend).fib", Filename: "fibfrontend.go", Lineno: 166, InApp: &yes},
				)},
			{Service: "pricing", Operation: "GET /cost/{n}", SpanID: fibPricing, EventID: "36ede31bd7ffadccda12395dbd709268", IssueID: 3,
				Type: "*errors.errorString", Value: `cannot load pricing rules "bulk": unknown log level "verbose"`,
				Frames: frames(
					telemetry.Frame{Module: "net/http", Function: "HandlerFunc.ServeHTTP", Filename: "server.go", Lineno: 2286, InApp: &no},
					telemetry.Frame{Module: "github.com/fibinc/telltale/examples/fibpro/pricing", Function: "loadRules", Filename: "rules.go", Lineno: 41, InApp: &yes},
					telemetry.Frame{Module: "github.com/fibinc/telltale/examples/fibpro/pricing", Function: "parseLevel", Filename: "rules.go", Lineno: 88, InApp: &yes},
				)},
		},
	}}
}

// logsOnly is a request known from its log lines: no spans.
func logsOnlyRequest() *query.Request {
	return &query.Request{ID: "req-abc-1", Logs: []query.LogRecord{
		{Time: now.Add(-time.Minute), Level: "info", SeverityNumber: telemetry.SeverityInfo, Body: "job started", RequestID: "req-abc-1",
			Resource: query.Resource{Service: "worker"}, Attributes: json.RawMessage(`{}`)},
		{Time: now.Add(-time.Minute + 2*time.Second), Level: "warn", SeverityNumber: telemetry.SeverityWarn, Body: "job slow", RequestID: "req-abc-1",
			Resource: query.Resource{Service: "worker"}, Attributes: json.RawMessage(`{"took_ms":2000}`)},
	}}
}

func requestFleet() *fakeQueries {
	q := fleet()
	q.fakeRequests = fakeRequests{
		requests: map[string]*query.Request{
			fibTrace:    fibproRequest(fibTrace),
			fibRequest:  fibproRequest(fibRequest),
			"req-abc-1": logsOnlyRequest(),
		},
		errors: map[string][]query.RequestError{fibTrace: fibproErrors(fibTrace), fibRequest: fibproErrors(fibRequest)},
	}
	return q
}

func TestRequestPages(t *testing.T) {
	for _, tc := range []struct {
		name, target string
		status       int
	}{
		{"request", "/requests/" + fibTrace, 200},
		{"request-span", "/requests/" + fibRequest + "?span=" + fibPricing + "&from=now-15m", 200},
		{"request-logs-only", "/requests/req-abc-1", 200},
		{"request-unknown", "/requests/no-such-id", 404},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			newServer(t, requestFleet()).ServeHTTP(rec, httptest.NewRequest("GET", tc.target, nil))
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d:\n%s", rec.Code, tc.status, rec.Body)
			}
			golden(t, tc.name, rec.Body.String())
		})
	}
}

func TestRequestStatus(t *testing.T) {
	h := newServer(t, requestFleet())
	for _, tc := range []struct {
		target   string
		status   int
		location string // for redirects
		want     string // in the body
	}{
		{target: "/requests/" + strings.ToUpper(fibTrace), status: 200, want: `<code class="req-id">` + strings.ToUpper(fibTrace)},
		{target: "/requests/no-such-id", status: 404, want: `no trace and no request with the id &#34;no-such-id&#34;`},
		{target: "/requests/no-such-id?fallback=logs", status: 303, location: "/logs?q=no-such-id"},
		{target: "/requests/req-abc-1?fallback=logs", status: 200, want: "job slow"},
		{target: "/requests/" + strings.Repeat("x", 300), status: 400, want: "the request id is 300 bytes long; ids are at most 256"},
		{target: "/requests/a%01b", status: 400, want: "control characters"},
		{target: "/requests/" + fibTrace + "?span=zzz", status: 400, want: `span &#34;zzz&#34; is not a span id: want 16 hex digits`},
		{target: "/requests/" + fibTrace + "?span=00000000000000ff", status: 200, want: "This request has no span 00000000000000ff."},
		{target: "/requests/" + fibTrace + "?from=yesterday", status: 400, want: "from:"},
		{target: "/requests/", status: 400, want: "No request id given"},
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", tc.target, nil))
		if rec.Code != tc.status {
			t.Errorf("%s: status %d, want %d", tc.target, rec.Code, tc.status)
			continue
		}
		if tc.location != "" && rec.Header().Get("Location") != tc.location {
			t.Errorf("%s: redirected to %q, want %q", tc.target, rec.Header().Get("Location"), tc.location)
		}
		if !strings.Contains(rec.Body.String(), tc.want) {
			t.Errorf("%s: body lacks %q:\n%s", tc.target, tc.want, rec.Body)
		}
	}
}

// TestRequestView checks what the golden files show, so that an -update
// cannot quietly lose it.
func TestRequestView(t *testing.T) {
	rec := httptest.NewRecorder()
	newServer(t, requestFleet()).ServeHTTP(rec, httptest.NewRequest("GET", "/requests/"+fibRequest+"?span="+fibPricing, nil))
	body := rec.Body.String()
	for _, want := range []string{
		// Summary.
		`<a class="trace-link" href="/requests/` + fibTrace + `"><code>` + fibTrace + `</code></a>`,
		`<a class="service-link" href="/services/fibfrontend">fibfrontend</a> GET /{n}`,
		`/logs?from=2026-05-04T09%3A55%3A59Z&amp;q=trace_id%3A` + fibTrace + `&amp;to=2026-05-04T09%3A58%3A01Z`,
		`1 error</a> · 3 failed spans`,
		// Waterfall: tree order, depth, bars on the trace's axis, errors.
		`<td class="name-col d2"><a class="span-link" data-span="` + fibPricing + `"`,
		`x="43.87%" y="2" width="27.77%"`,
		`<tr id="span-` + fibPricing + `" class="span err sel"`,
		// Details of the selected span: attributes, exception, links, resource.
		`<th>http.route</th><td>/cost/{n}</td>`,
		`<code class="type">*errors.errorString</code>`,
		`<a class="trace-link" href="/requests/0af7651916cd43dd8448eb211c80319c"><code>0af7651916cd43dd8448eb211c80319c</code></a> span <code>b7ad6b7169203331</code>`,
		`<th>cloud.availability_zone</th><td>us-east-1a</td>`,
		// The error's chain: two hops, in-app frames innermost first, issues.
		`<a class="issue-link" href="/errors/3">issue #3</a>`,
		`<li><code>github.com/fibinc/telltale/examples/fibpro/pricing.parseLevel</code> <span class="muted">rules.go:88</span></li><li><code>github.com/fibinc/telltale/examples/fibpro/pricing.loadRules</code>`,
		// Logs interleaved, linked to their spans; the selected span's marked.
		`<tr class="log lvl-error sel" data-span="` + fibPricing + `">`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("request view lacks %s", want)
		}
	}
	order := []string{"accepted connection", "user authenticated", "request failed", "request failed"}
	last := 0
	for _, s := range order {
		i := strings.Index(body[last:], s)
		if i < 0 {
			t.Fatalf("log %q missing or out of order", s)
		}
		last += i + len(s)
	}
	// Each service keeps one colour everywhere on the page, and the three
	// services have three colours.
	colours := map[string]string{}
	for _, m := range regexp.MustCompile(`class="svc (c\d)"[^>]*>([a-z]+)<`).FindAllStringSubmatch(body, -1) {
		if c, ok := colours[m[2]]; ok && c != m[1] {
			t.Errorf("service %s is coloured %s and %s", m[2], c, m[1])
		}
		colours[m[2]] = m[1]
	}
	if len(colours) != 3 || colours["fibfrontend"] == colours["pricing"] || colours["pricing"] == colours["userstore"] || colours["fibfrontend"] == colours["userstore"] {
		t.Errorf("service colours = %v, want three different ones", colours)
	}
}

func TestRequestLargeTrace(t *testing.T) {
	q := requestFleet()
	req := fibproRequest("big")
	tr := req.Traces[0]
	base := tr.Spans[0]
	for i := range 2100 {
		sp := base
		sp.SpanID, sp.ParentSpanID, sp.Depth, sp.StatusCode = fmt.Sprintf("%016x", i+1<<40), base.SpanID, 1, "ok"
		tr.Spans = append(tr.Spans, sp)
	}
	tr.SpanCount = len(tr.Spans)
	q.requests["big"] = req
	rec := httptest.NewRecorder()
	newServer(t, q).ServeHTTP(rec, httptest.NewRequest("GET", "/requests/big", nil))
	body := rec.Body.String()
	if n := strings.Count(body, `<tr id="span-`); n != maxSpansDrawn {
		t.Errorf("%d spans drawn, want %d", n, maxSpansDrawn)
	}
	for _, want := range []string{"<small>2105 · showing the first 2000</small>", "105 more spans of this trace not drawn"} {
		if !strings.Contains(body, want) {
			t.Errorf("large trace page lacks %q", want)
		}
	}
}

// TestRequestEscaping feeds markup through every field the page shows.
func TestRequestEscaping(t *testing.T) {
	const script, img = `<script>alert(1)</script>`, `"><img src=x onerror=alert(1)>`
	evil := script + img
	req := fibproRequest(evil)
	tr := req.Traces[0]
	js, _ := json.Marshal(evil)
	for i := range tr.Spans {
		sp := &tr.Spans[i]
		sp.Name, sp.StatusMessage, sp.RequestID, sp.Service, sp.ScopeName = evil, evil, evil, evil, evil
		sp.Attributes = json.RawMessage(`{` + string(js) + `:` + string(js) + `}`)
		sp.Events = json.RawMessage(`[{"name":` + string(js) + `,"attributes":{"exception.type":` + string(js) + `,"exception.message":` + string(js) + `,"exception.stacktrace":` + string(js) + `}}]`)
		sp.ResourceAttributes = json.RawMessage(`{"k":` + string(js) + `}`)
		sp.Links = json.RawMessage(`[{"trace_id":` + string(js) + `,"span_id":` + string(js) + `,"attributes":{"a":` + string(js) + `}}]`)
	}
	tr.RootService, tr.RootOperation = evil, evil
	for i := range req.Logs {
		l := &req.Logs[i]
		l.Body, l.Service, l.SeverityText, l.RequestID = evil, evil, evil, evil
		l.Level = ""
		l.Attributes = json.RawMessage(`{"x":` + string(js) + `}`)
	}
	errs := fibproErrors(evil)
	errs[0].Title = evil
	for i := range errs[0].Chain {
		c := &errs[0].Chain[i]
		c.Service, c.Operation, c.Type, c.Value = evil, evil, evil, evil
		c.Frames[len(c.Frames)-1].Function, c.Frames[len(c.Frames)-1].Filename = evil, evil
	}
	q := requestFleet()
	q.requests[evil] = req
	q.errors[evil] = errs
	rec := httptest.NewRecorder()
	newServer(t, q).ServeHTTP(rec, httptest.NewRequest("GET", "/requests/"+url.PathEscape(evil)+"?span="+fibPricing, nil))
	if rec.Code != 200 {
		t.Fatalf("status %d:\n%s", rec.Code, rec.Body)
	}
	body := rec.Body.String()
	for _, raw := range []string{"<script>alert", "<img src=x", `"><img`} {
		if strings.Contains(body, raw) {
			t.Errorf("the page has %s unescaped", raw)
		}
	}
	if n := strings.Count(body, "&lt;script&gt;alert(1)&lt;/script&gt;"); n < 20 {
		t.Errorf("escaped script shown %d times, want every field (20 or more)", n)
	}
}

// TestRequestLogsLinks checks that the links to the logs page carry
// filters that find the ids again, whatever they hold.
func TestRequestLogsLinks(t *testing.T) {
	const odd = `order "7" (retry) \ 2`
	q := requestFleet()
	req := logsOnlyRequest()
	req.ID = odd
	for i := range req.Logs {
		req.Logs[i].RequestID = odd
	}
	q.requests[odd] = req
	rec := httptest.NewRecorder()
	newServer(t, q).ServeHTTP(rec, httptest.NewRequest("GET", "/requests/"+url.PathEscape(odd), nil))
	m := regexp.MustCompile(`class="logs-link" href="([^"]+)"`).FindStringSubmatch(rec.Body.String())
	if m == nil {
		t.Fatalf("no logs link in:\n%s", rec.Body)
	}
	u, err := url.Parse(html.UnescapeString(m[1]))
	if err != nil {
		t.Fatal(err)
	}
	e, err := filter.Parse(u.Query().Get("q"))
	if err != nil {
		t.Fatalf("the logs link's filter %q does not parse: %v", u.Query().Get("q"), err)
	}
	if want := (filter.Term{Field: "request_id", Op: filter.Eq, Value: odd}); e != want {
		t.Errorf("the logs link's filter is %#v, want %#v", e, want)
	}
	if u.Query().Get("from") != "2026-05-04T09:58:00Z" || u.Query().Get("to") != "2026-05-04T10:00:02Z" {
		t.Errorf("the logs link's range is %s to %s", u.Query().Get("from"), u.Query().Get("to"))
	}
}

// FuzzSpanDetail feeds stored JSON of any shape to the span details: the
// page must render, and attributes must come out sorted, once each.
func FuzzSpanDetail(f *testing.F) {
	f.Add([]byte(`{"a":"x","b":2,"c":{"d":[1,true,null]}}`), []byte(`[{"time":"2026-05-04T10:00:00Z","name":"exception","attributes":{"exception.type":"E","exception.message":"m","exception.stacktrace":"s"}}]`), []byte(`[{"trace_id":"t","span_id":"s","trace_state":"","attributes":{"k":"v"}}]`))
	f.Add([]byte(`not json`), []byte(`{}`), []byte(`[1,2]`))
	f.Add([]byte(`{"a":1,"a":2}`), []byte(`[{"time":"yesterday"}]`), []byte(`null`))
	f.Add([]byte(``), []byte(`[{"name":"<script>alert(1)</script>"}]`), []byte(`[{}]`))
	q := requestFleet()
	h := requestServer(f, q)
	f.Fuzz(func(t *testing.T, attrs, events, links []byte) {
		req := fibproRequest("fuzz")
		sp := &req.Traces[0].Spans[4]
		sp.Attributes, sp.Events, sp.Links = attrs, events, links
		q.requests["fuzz"] = req
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/requests/fuzz?span="+fibPricing, nil))
		if rec.Code != 200 {
			t.Fatalf("status %d:\n%s", rec.Code, rec.Body)
		}
		kvs := flatten(attrs)
		for i := 1; i < len(kvs); i++ {
			if kvs[i-1].Key >= kvs[i].Key {
				t.Fatalf("attributes not sorted and unique: %q", kvs)
			}
		}
		var m map[string]any
		if json.Unmarshal(attrs, &m) == nil && len(kvs) != len(m) {
			t.Fatalf("%d attributes shown of %d", len(kvs), len(m))
		}
		for _, a := range kvs {
			if s, ok := m[a.Key].(string); ok && a.Value != s {
				t.Fatalf("attribute %q shown as %q, want %q", a.Key, a.Value, s)
			}
		}
	})
}

func BenchmarkRequestPage(b *testing.B) {
	q := requestFleet()
	req := fibproRequest("big")
	tr := req.Traces[0]
	for i := range maxSpansDrawn {
		sp := tr.Spans[i%len(tr.Spans)]
		sp.SpanID = fmt.Sprintf("%016x", i+1<<40)
		tr.Spans = append(tr.Spans, sp)
	}
	tr.SpanCount = len(tr.Spans)
	q.requests["big"] = req
	h := requestServer(b, q)
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/requests/big?span="+fibPricing, nil))
		if rec.Code != 200 {
			b.Fatal(rec.Code)
		}
	}
}

// requestServer is newServer for fuzz tests and benchmarks.
func requestServer(tb testing.TB, q Queries) http.Handler {
	h, err := New(Options{Query: q, IngestURL: "http://localhost:4318", Now: func() time.Time { return now }})
	if err != nil {
		tb.Fatal(err)
	}
	return h
}

// TestRequestTraces shows a request id that went through two traces, a
// retry: a waterfall each, on its own time axis.
func TestRequestTraces(t *testing.T) {
	q := requestFleet()
	req := fibproRequest("a/b retried")
	retry := *req.Traces[0]
	retry.TraceID = "0af7651916cd43dd8448eb211c80319c"
	retry.Start = retry.Start.Add(time.Second)
	retry.Spans = nil
	for _, sp := range req.Traces[0].Spans[:3] {
		sp.TraceID, sp.SpanID, sp.Start = retry.TraceID, "r"+sp.SpanID[1:], sp.Start.Add(time.Second)
		retry.Spans = append(retry.Spans, sp)
	}
	retry.Spans[1].ParentSpanID = retry.Spans[0].SpanID
	retry.SpanCount, retry.ErrorCount = 3, 1
	req.Traces = append(req.Traces, &retry)
	q.requests["a/b retried"] = req
	rec := httptest.NewRecorder()
	newServer(t, q).ServeHTTP(rec, httptest.NewRequest("GET", "/requests/"+url.PathEscape("a/b retried"), nil))
	body := rec.Body.String()
	if rec.Code != 200 {
		t.Fatalf("status %d", rec.Code)
	}
	for _, want := range []string{
		`<h1>Request <code class="req-id">a/b retried</code>`,
		`<dt>Traces</dt>`,
		`<h3>Trace <a class="trace-link" href="/requests/` + fibTrace + `"><code>` + fibTrace + `</code></a> <small>1.88ms</small></h3>`,
		`<h3>Trace <a class="trace-link" href="/requests/0af7651916cd43dd8448eb211c80319c">`,
		`href="/requests/a%2Fb%20retried?span=rff77ca80102becb#span-rff77ca80102becb"`,
		`<div><dt>Spans</dt><dd class="num">8</dd></div>`,
		`4 failed spans`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("two-trace request lacks %s", want)
		}
	}
	if n := strings.Count(body, `<table class="waterfall"`); n != 2 {
		t.Errorf("%d waterfalls, want 2", n)
	}
}
