package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/fibinc/telltale/internal/query"
	"github.com/fibinc/telltale/internal/query/dialect"
	"github.com/fibinc/telltale/internal/query/filter"
	"github.com/fibinc/telltale/internal/telemetry"
)

// fakeLogs is the logs page's part of fakeQueries: records in memory, a
// filter evaluator for the terms the tests use, cursors that are offsets.
// Records can be added while a live tail reads.
type fakeLogs struct {
	mu       sync.Mutex
	records  []query.LogRecord
	logCalls int
}

func (f *fakeLogs) addLogs(recs ...query.LogRecord) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.records = append(f.records, recs...)
}

func (f *fakeLogs) calls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.logCalls
}

func (f *fakeLogs) CheckLogFilter(text string) error {
	e, err := filter.Parse(text)
	if err == nil {
		_, _, err = filter.Compile(e, dialect.DuckDB{})
	}
	if err != nil {
		return fmt.Errorf("%w: %w", query.ErrInvalid, err)
	}
	return nil
}

// matching returns the records in r that match text, newest first.
func (f *fakeLogs) matching(r query.TimeRange, text string) ([]query.LogRecord, error) {
	if err := f.CheckLogFilter(text); err != nil {
		return nil, err
	}
	e, _ := filter.Parse(text)
	var out []query.LogRecord
	for _, rec := range f.records {
		if !rec.Time.Before(r.From) && rec.Time.Before(r.To) && fakeMatch(e, rec) {
			out = append(out, rec)
		}
	}
	slices.SortStableFunc(out, func(a, b query.LogRecord) int { return b.Time.Compare(a.Time) })
	return out, nil
}

func (f *fakeLogs) Logs(_ context.Context, q query.LogQuery) (*query.LogPage, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.logCalls++
	recs, err := f.matching(q.Range, q.Filter)
	if err != nil {
		return nil, err
	}
	skip := 0
	if q.Cursor != "" {
		if skip, err = strconv.Atoi(strings.TrimPrefix(q.Cursor, "c")); err != nil || !strings.HasPrefix(q.Cursor, "c") {
			return nil, fmt.Errorf("%w: cursor %q is not one this server returned", query.ErrInvalid, q.Cursor)
		}
	}
	limit := cmpOr(q.Limit, 100)
	page := &query.LogPage{Records: recs[min(skip, len(recs)):min(skip+limit, len(recs))]}
	if skip+limit < len(recs) {
		page.NextCursor = "c" + strconv.Itoa(skip+limit)
	}
	return page, nil
}

func cmpOr(a, b int) int {
	if a != 0 {
		return a
	}
	return b
}

func (f *fakeLogs) LogHistogram(_ context.Context, q query.LogHistogramQuery) (*query.LogHistogram, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	recs, err := f.matching(q.Range, q.Filter)
	if err != nil {
		return nil, err
	}
	first := q.Range.From.Truncate(q.Step)
	h := &query.LogHistogram{Step: q.Step}
	for t := first; t.Before(q.Range.To); t = t.Add(q.Step) {
		h.Buckets = append(h.Buckets, query.LogBucket{Time: t})
	}
	for _, rec := range recs {
		b := &h.Buckets[rec.Time.Sub(first)/q.Step]
		switch {
		case rec.SeverityNumber >= telemetry.SeverityError:
			b.Error++
		case rec.SeverityNumber >= telemetry.SeverityWarn:
			b.Warn++
		case rec.SeverityNumber >= telemetry.SeverityInfo:
			b.Info++
		case rec.SeverityNumber >= telemetry.SeverityTrace:
			b.Debug++
		default:
			b.Other++
		}
		h.Total++
	}
	return h, nil
}

// fakeMatch evaluates the filter terms the tests use: text, service, env,
// level (: and >=) and attr.KEY equality; other terms match.
func fakeMatch(e filter.Expr, r query.LogRecord) bool {
	switch x := e.(type) {
	case filter.And:
		for _, y := range x {
			if !fakeMatch(y, r) {
				return false
			}
		}
		return true
	case filter.Or:
		for _, y := range x {
			if fakeMatch(y, r) {
				return true
			}
		}
		return false
	case filter.Not:
		return !fakeMatch(x.X, r)
	case filter.Text:
		return strings.Contains(strings.ToLower(r.Body), strings.ToLower(x.Value))
	case filter.Term:
		switch {
		case x.Field == "service":
			return r.Service == x.Value
		case x.Field == "env":
			return r.Environment == x.Value
		case x.Field == "level":
			sev, _ := telemetry.ParseLevel(x.Value)
			if x.Op == filter.Ge {
				return r.SeverityNumber >= sev
			}
			return r.SeverityNumber >= sev && r.SeverityNumber < sev+4
		case strings.HasPrefix(x.Field, "attr."):
			var m map[string]any
			json.Unmarshal(r.Attributes, &m)
			v, ok := m[strings.TrimPrefix(x.Field, "attr.")]
			return ok && fmt.Sprint(v) == x.Value
		}
	}
	return true
}

// xssScript and xssAttr (errors_test.go) are the markup the escaping
// tests plant in the data.

// logRecord returns a record of service at now-ago.
func logRecord(service string, ago time.Duration, sev int32, body string) query.LogRecord {
	return query.LogRecord{
		Time: now.Add(-ago), ObservedTime: now.Add(-ago + time.Millisecond), SeverityNumber: sev, Level: telemetry.LevelName(sev),
		SeverityText: strings.ToUpper(telemetry.LevelName(sev)), Body: body, Source: "otlp",
		Resource: query.Resource{Service: service, ServiceVersion: "1.0", InstanceID: "i-1", Environment: "prod", Host: "vm",
			AvailabilityZone: "us-east-1a", ResourceAttributes: json.RawMessage(`{"telemetry.sdk.language":"go"}`)},
		ScopeName: "kit", Attributes: json.RawMessage(`{}`),
	}
}

func logFleet() *fakeQueries {
	failed := logRecord("fibfrontend", 30*time.Second, telemetry.SeverityError, "payment failed: insufficient credit")
	failed.TraceID, failed.SpanID, failed.RequestID = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", "req-7"
	failed.Attributes = json.RawMessage(`{"user":"dave","n":5,"ok":false,"request.id":"req-7","cart":{"items":2},"note":"a b"}`)
	charged := logRecord("userstore", 2*time.Minute, telemetry.SeverityInfo, `{"msg":"charged","amount":12.5,"user":"erin"}`)
	charged.TraceID = "0af7651916cd43dd8448eb211c80319c"
	slow := logRecord("pricing", 3*time.Minute, telemetry.SeverityWarn+1, "slow price lookup\n  at pricing.Lookup (pricing.go:42)\n  at main.serve")
	slow.EventName = "lookup"
	debug := logRecord("pricing", 9*time.Minute, telemetry.SeverityDebug, "cache miss")
	plain := logRecord("", 10*time.Minute, 0, "stdout line without a level")
	plain.Environment = "staging"
	xss := logRecord(xssAttr, 5*time.Minute, telemetry.SeverityFatal, xssScript)
	xss.RequestID = xssAttr
	xss.Attributes = json.RawMessage(`{"` + strings.ReplaceAll(xssScript, `"`, `\"`) + `":"` + strings.ReplaceAll(xssAttr, `"`, `\"`) + `"}`)
	q := &fakeQueries{}
	q.addLogs(failed, charged, slow, debug, plain, xss)
	return q
}

func TestLogsPages(t *testing.T) {
	for _, tc := range []struct {
		name, target string
		q            *fakeQueries
		status       int
	}{
		{"logs", "/logs?from=now-15m", logFleet(), 200},
		{"logs-filter", "/logs?from=now-15m&env=prod&q=" + url.QueryEscape("level>=warn OR cache"), logFleet(), 200},
		{"logs-older", "/logs?from=now-15m&limit=2&cursor=c2&q=" + url.QueryEscape("-service:nothing"), logFleet(), 200},
		{"logs-nomatch", "/logs?q=nothing", logFleet(), 200},
		{"logs-empty", "/logs", &fakeQueries{}, 200},
		{"logs-bad-filter", "/logs?from=now-15m&q=" + url.QueryEscape(`service:api level>=warnx`), logFleet(), 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			newServer(t, tc.q).ServeHTTP(rec, httptest.NewRequest("GET", tc.target, nil))
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d:\n%s", rec.Code, tc.status, rec.Body)
			}
			golden(t, tc.name, rec.Body.String())
		})
	}
}

// get fetches target from a dashboard over fq and returns the status and
// the body.
func get(t *testing.T, fq *fakeQueries, target string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	newServer(t, fq).ServeHTTP(rec, httptest.NewRequest("GET", target, nil))
	return rec.Code, rec.Body.String()
}

func TestLogsBadInput(t *testing.T) {
	for _, tc := range []struct {
		target string
		status int
		want   []string
	}{
		// A bad filter: the page with its form, the problem next to it,
		// and the help open.
		{"/logs?q=" + url.QueryEscape(`a "unterminated`), 400, []string{
			`aria-invalid="true"`, `id="logq-error"`, `cannot be read</strong> at character 2: unterminated quote.`,
			`<code>a <mark>&#34;</mark>unterminated</code>`, `<details class="filter-help" open>`, `value="a &#34;unterminated"`}},
		{"/logs?q=" + url.QueryEscape("level>=loud"), 400, []string{`unknown level &#34;loud&#34;`, `<mark>l</mark>`}},
		{"/logs?q=" + url.QueryEscape("(a OR b"), 400, []string{`unbalanced parenthesis`}},
		{"/logs?q=" + url.QueryEscape("level>="), 400, []string{`expected value after &#34;level&gt;=&#34;`, `<mark>␣</mark>`}},
		{"/logs?limit=0", 400, []string{"limit must be a number from 1 to 500"}},
		{"/logs?limit=100000", 400, []string{"limit must be a number from 1 to 500"}},
		{"/logs?cursor=bogus", 400, []string{"cursor &#34;bogus&#34; is not one this server returned"}},
		{"/logs?from=now-60d", 400, []string{"longer than the maximum"}},
		{"/logs/nowhere", 404, []string{"There is no page at /logs/nowhere"}},
	} {
		code, body := get(t, logFleet(), tc.target)
		if code != tc.status {
			t.Errorf("%s: status %d, want %d", tc.target, code, tc.status)
		}
		for _, w := range tc.want {
			if !strings.Contains(body, w) {
				t.Errorf("%s: the page lacks %s:\n%s", tc.target, w, body)
			}
		}
	}
}

func TestLogsEscaping(t *testing.T) {
	for _, target := range []string{"/logs?from=now-15m", "/logs?q=" + url.QueryEscape(xssScript) + "&from=now-15m", "/logs?q=" + url.QueryEscape(`"`+xssScript)} {
		_, body := get(t, logFleet(), target)
		for _, raw := range []string{xssScript, xssAttr, "<img", "<script>"} {
			if strings.Contains(body, raw) {
				t.Errorf("%s: the page holds %s unescaped", target, raw)
			}
		}
		if !strings.Contains(body, "&lt;script&gt;alert(1)&lt;/script&gt;") {
			t.Errorf("%s: the page does not show the script as text", target)
		}
	}
}

func TestLogsLinks(t *testing.T) {
	_, body := get(t, logFleet(), "/logs?from=now-15m&q="+url.QueryEscape("payment OR cache"))
	for _, want := range []string{
		// Ids lead to the request view, services to their page.
		`<a class="request-link" href="/requests/req-7?from=now-15m" title="request req-7">req-7</a>`,
		`<a class="request-link" href="/requests/4bf92f3577b34da6a3ce929d0e0e4736?from=now-15m">4bf92f3577b34da6a3ce929d0e0e4736</a>`,
		`<a class="service-link" href="/services/fibfrontend?from=now-15m">fibfrontend</a>`,
		// An id in an attribute links too.
		`<a class="request-link" href="/requests/req-7?from=now-15m">req-7</a>`,
		// Filter by this: q in parentheses, since it is an OR, and the
		// attribute as attr.KEY; numbers and booleans as their text.
		`href="/logs?from=now-15m&amp;q=%28payment&#43;OR&#43;cache%29&#43;attr.user%3Adave"`,
		`href="/logs?from=now-15m&amp;q=%28payment&#43;OR&#43;cache%29&#43;attr.n%3A5"`,
		`href="/logs?from=now-15m&amp;q=%28payment&#43;OR&#43;cache%29&#43;attr.ok%3Afalse"`,
		`href="/logs?from=now-15m&amp;q=%28payment&#43;OR&#43;cache%29&#43;attr.note%3A%22a&#43;b%22"`,
		`href="/logs?from=now-15m&amp;q=%28payment&#43;OR&#43;cache%29&#43;service%3Afibfrontend"`,
		`href="/logs?from=now-15m&amp;q=%28payment&#43;OR&#43;cache%29&#43;resource.telemetry.sdk.language%3Ago"`,
		`href="/logs?from=now-15m&amp;q=%28payment&#43;OR&#43;cache%29&#43;level%3Aerror"`,
		// An object attribute is shown compact, with no filter.
		`<th scope="row">cart</th><td>{&#34;items&#34;:2}</td>`,
		// The histogram's bars zoom into their step, keeping q.
		`<a href="/logs?from=2026-05-04T09%3A59%3A30Z&amp;q=payment+OR+cache&amp;to=2026-05-04T09%3A59%3A40Z">`,
		// Live tail and refresh.
		`data-tail="/logs/tail?from=now-15m&amp;q=payment&#43;OR&#43;cache"`,
		`<a class="refresh" href="/logs?from=now-15m&amp;q=payment&#43;OR&#43;cache">Refresh</a>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the page lacks %s", want)
		}
	}
	// Only the fibfrontend record matches "payment", "cache" the debug one.
	if n := strings.Count(body, `<tr class="log `); n != 2 {
		t.Errorf("%d rows, want 2", n)
	}

	// An absolute range that ended has nothing to tail; a later page
	// neither.
	for _, target := range []string{"/logs?from=2026-05-04T09:00:00Z&to=2026-05-04T09:30:00Z", "/logs?limit=1&cursor=c1", "/logs?refresh=5s"} {
		if _, body := get(t, logFleet(), target); strings.Contains(body, "data-tail") {
			t.Errorf("%s offers a live tail", target)
		}
	}
}

func TestLogRowBody(t *testing.T) {
	q := logFleet()
	_, body := get(t, q, "/logs?from=now-15m")
	for _, want := range []string{
		// JSON bodies pretty-printed, multi-line ones in full.
		"<pre class=\"json\">{\n  &#34;msg&#34;: &#34;charged&#34;,\n  &#34;amount&#34;: 12.5,",
		"<summary>slow price lookup\n  at pricing.Lookup (pricing.go:42)\n  at main.serve</summary>",
		// Levels and their colours; the record without level and service.
		`<tr class="log lvl-error" data-time="2026-05-04T09:59:30.000000000Z">`, `<span class="lvl lvl-warn">warn</span>`,
		`<span class="lvl lvl-other">–</span>`, `<td class="service">–</td>`,
		// The histogram.
		`<svg class="chart"`, `<g class="bars err"><title>error</title>`, `<g class="bars other"><title>no level</title>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	// Newest first.
	if a, b := strings.Index(body, "payment failed"), strings.Index(body, "cache miss"); a < 0 || b < 0 || a > b {
		t.Error("records are not newest first")
	}
}

func TestLogsFilterText(t *testing.T) {
	for _, tc := range []struct{ q, env, text, base string }{
		{"", "", "", ""},
		{"  a b ", "", "  a b ", "a b"},
		{"a OR b", "", "a OR b", "(a OR b)"},
		{"a OR b", "prod", "env:prod (a OR b)", "(a OR b)"},
		{"", "my env", `env:"my env"`, ""},
		{"-x level>=warn", "prod", "env:prod -x level>=warn", "-x level>=warn"},
	} {
		text, base, err := logsFilter(tc.q, tc.env)
		if err != nil || text != tc.text || base != tc.base {
			t.Errorf("logsFilter(%q, %q) = %q, %q, %v; want %q, %q", tc.q, tc.env, text, base, err, tc.text, tc.base)
		}
		if _, err := filter.Parse(text); err != nil {
			t.Errorf("logsFilter(%q, %q) = %q, which does not parse: %v", tc.q, tc.env, text, err)
		}
	}
}

func TestFilterBy(t *testing.T) {
	f := frame{From: "now-1h"}
	for _, tc := range []struct{ base, field, value, want string }{
		{"", "attr.user", "dave", "/logs?q=attr.user%3Adave"},
		{"a", "service", "my svc", "/logs?q=a+service%3A%22my+svc%22"},
		{"", "attr.quote", `say "hi"`, `/logs?q=attr.quote%3A%22say+%5C%22hi%5C%22%22`},
		{"", "attr.weird key", "x", ""},  // no field name holds a space
		{"", "attr.a(b)", "x", ""},       // nor a parenthesis
		{"", "attr.k", "line\nline", ""}, // multi-line values make poor filters
		{"", "attr.k", strings.Repeat("x", 300), ""},
	} {
		if got := filterBy(f, tc.base, tc.field, tc.value); got != tc.want {
			t.Errorf("filterBy(%q, %q, %q) = %q, want %q", tc.base, tc.field, tc.value, got, tc.want)
		}
	}
}

func TestLogStep(t *testing.T) {
	for rng, want := range map[time.Duration]time.Duration{
		5 * time.Minute: 5 * time.Second, 15 * time.Minute: 10 * time.Second, time.Hour: time.Minute,
		24 * time.Hour: 15 * time.Minute, 7 * 24 * time.Hour: 2 * time.Hour, 31 * 24 * time.Hour: 12 * time.Hour,
	} {
		if got := logStep(rng); got != want || rng/got > logBars {
			t.Errorf("logStep(%s) = %s, want %s", rng, got, want)
		}
	}
}

// FuzzFilterBy checks that a "filter by this" link, when there is one,
// holds a filter that parses and selects exactly field:value on top of the
// base filter.
func FuzzFilterBy(f *testing.F) {
	f.Add("", "attr.user", "dave")
	f.Add("a OR b", "service", "my svc")
	f.Add("(a)", "attr.quote", `say "hi" \ there`)
	f.Add("x", "resource.k8s.pod.name", "web-1*")
	f.Add("", "attr.AND", "OR")
	f.Add("-y", "attr.-x", "-")
	f.Fuzz(func(t *testing.T, base, field, value string) {
		if _, err := filter.Parse(base); err != nil {
			return
		}
		_, base, _ = logsFilter(base, "")
		got := filterBy(frame{}, base, field, value)
		if got == "" {
			return
		}
		u, err := url.Parse(got)
		if err != nil || u.Path != "/logs" {
			t.Fatalf("filterBy(%q, %q, %q) = %q, not a logs link", base, field, value, got)
		}
		q := u.Query().Get("q")
		e, err := filter.Parse(q)
		if err != nil {
			t.Fatalf("filterBy(%q, %q, %q) gives q %q, which does not parse: %v", base, field, value, q, err)
		}
		want := filter.Term{Field: field, Op: filter.Eq, Value: value}
		var last filter.Expr = e
		if and, ok := e.(filter.And); ok {
			last = and[len(and)-1]
			if rest := and[:len(and)-1]; base != "" {
				// The other terms read back to the base.
				var r filter.Expr = filter.And(rest)
				if len(rest) == 1 {
					r = rest[0]
				}
				if b, _ := filter.Parse(base); r.String() != b.String() {
					t.Fatalf("filterBy(%q, %q, %q) gives q %q, whose other terms %q are not the base", base, field, value, q, r)
				}
			}
		} else if base != "" {
			t.Fatalf("filterBy(%q, %q, %q) gives q %q, which lost the base", base, field, value, q)
		}
		if term, ok := last.(filter.Term); !ok || term != want {
			t.Fatalf("filterBy(%q, %q, %q) gives q %q, which ends with %#v, not %#v", base, field, value, q, last, want)
		}
	})
}

// FuzzFilterProblem checks that a bad filter is cut where its problem is,
// whatever the filter.
func FuzzFilterProblem(f *testing.F) {
	for _, s := range []string{`a "unterminated`, "level>=", "(a OR b", "a\xffb", "level:loud", "x AND", "-", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		_, err := filter.Parse(q)
		if err == nil {
			return
		}
		p := newFilterProblem(q, err)
		if p.Message == "" || p.Offset < 0 {
			t.Fatalf("%q: problem %+v", q, p)
		}
		if !utf8.ValidString(p.Before + p.At + p.After) {
			t.Fatalf("%q: invalid UTF-8 in %+v", q, p)
		}
		if utf8.ValidString(q) && p.At != "␣" && p.Before+p.At+p.After != q {
			t.Fatalf("%q: cut as %q %q %q", q, p.Before, p.At, p.After)
		}
		if p.At == "" {
			t.Fatalf("%q: nothing marked", q)
		}
	})
}

// BenchmarkLogsPage renders a full page of 100 records with attributes:
// the page's own cost, without the store's.
func BenchmarkLogsPage(b *testing.B) {
	fq := &fakeQueries{}
	base := logFleet().records[0]
	for i := range 300 {
		r := base
		r.Time = now.Add(-time.Duration(i) * time.Second)
		r.Body = fmt.Sprintf("payment %d failed: insufficient credit", i)
		fq.addLogs(r)
	}
	h, err := New(Options{Query: fq, Now: func() time.Time { return now }})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/logs?from=now-15m&q=payment", nil))
		if rec.Code != 200 {
			b.Fatal(rec.Code)
		}
		b.SetBytes(int64(rec.Body.Len()))
	}
}
