package web

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/fibinc/telltale/internal/promql"
	"github.com/fibinc/telltale/internal/query"
	"github.com/fibinc/telltale/internal/store/duckdb"
	"github.com/fibinc/telltale/internal/telemetry"
)

// fakeMetrics is the explore page's part of fakeQueries: metrics listed
// as given, and per query one series per value of the first group_by
// label, with a point per step.
type fakeMetrics struct {
	metrics []query.MetricInfo
	// values are the label values of the series, by label; a label
	// without values has one series with "".
	values map[string][]string
	// resolution is MetricResolution's answer.
	resolution time.Duration
	// asked records the queries, for tests that check what was asked.
	asked []query.MetricQuery
}

func (f *fakeMetrics) MetricNames(_ context.Context, r query.TimeRange, limit int) ([]query.MetricInfo, error) {
	return f.metrics, nil
}

func (f *fakeMetrics) MetricResolution(_ context.Context, r query.TimeRange, name string) (time.Duration, error) {
	return f.resolution, nil
}

// QueryMetric fails for a filter holding "bad", as the real one fails for
// a syntax error; otherwise series i has value (i+1)*10 + step index, with
// a gap at the third step.
func (f *fakeMetrics) QueryMetric(_ context.Context, q query.MetricQuery) (*query.MetricResult, error) {
	f.asked = append(f.asked, q)
	if strings.Contains(q.Filter, "bad") {
		return nil, fmt.Errorf("%w: filter: at 0: expected a label name, found %q", query.ErrInvalid, '!')
	}
	res := &query.MetricResult{Name: q.Name, Agg: q.Agg, Step: q.Step, Series: []query.Series{}}
	for _, m := range f.metrics {
		if m.Name == q.Name {
			res.Type, res.Unit = m.Type, m.Unit
		}
	}
	vals := []string{""}
	if len(q.GroupBy) > 0 && len(f.values[q.GroupBy[0]]) > 0 {
		vals = f.values[q.GroupBy[0]]
	}
	start := q.Range.From.Truncate(q.Step)
	for i, v := range vals {
		s := query.Series{Labels: map[string]string{}}
		for _, k := range q.GroupBy {
			s.Labels[k] = ""
		}
		if len(q.GroupBy) > 0 {
			s.Labels[q.GroupBy[0]] = v
		}
		for j, t := 0, start; t.Before(q.Range.To); j, t = j+1, t.Add(q.Step) {
			if j != 2 {
				s.Points = append(s.Points, query.Point{Time: t, Value: float64((i+1)*10 + j)})
			}
		}
		res.Series = append(res.Series, s)
	}
	return res, nil
}

func exploreFleet() *fakeQueries {
	q := fleet()
	q.fakeMetrics = fakeMetrics{
		metrics: []query.MetricInfo{
			{Name: "fibpro.requests", Type: "sum", Monotonic: true, Temporality: "delta", Unit: "{request}",
				Description: "Requests served", LabelKeys: []string{"service", "status"}},
			{Name: "http.server.request.duration", Type: "histogram", Unit: "s", Temporality: "cumulative",
				Description: "Duration of HTTP server requests.", LabelKeys: []string{"service", "env", "http.route"}},
			{Name: "process.memory", Type: "gauge", Unit: "By", LabelKeys: []string{"service", "host"}},
			{Name: "queue.depth", Type: "sum", Unit: "{job}", LabelKeys: []string{"service"}},
		},
		values: map[string][]string{
			"service": {"fibfrontend", "pricing", "userstore"},
			"status":  {"200", "", "500 internal"},
		},
		resolution: 10 * time.Second,
	}
	return q
}

// manySeries gives "host" 25 values, past the cap on drawn series.
func manySeries() *fakeQueries {
	q := exploreFleet()
	for i := range 25 {
		q.values["host"] = append(q.values["host"], fmt.Sprintf("host-%02d", i))
	}
	return q
}

func TestExplorePages(t *testing.T) {
	for _, tc := range []struct {
		name, target string
		q            *fakeQueries
		status       int
	}{
		{"explore-empty", "/explore", &fakeQueries{}, 200},
		{"explore-list", "/explore?find=HTTP", exploreFleet(), 200},
		{"explore", "/explore?metric=fibpro.requests&group_by=service&group_by=status&filter=env%3Dprod&from=now-15m", exploreFleet(), 200},
		{"explore-histogram", "/explore?metric=http.server.request.duration&agg=p99&step=1m&env=prod", exploreFleet(), 200},
		{"explore-bytes", "/explore?metric=process.memory&agg=max&group_by=host", manySeries(), 200},
		{"explore-bad-agg", "/explore?metric=process.memory&agg=rate", exploreFleet(), 400},
		{"explore-bad-filter", "/explore?metric=fibpro.requests&filter=bad!", exploreFleet(), 400},
		{"explore-promql-off", "/explore?mode=promql&promql=up", exploreFleet(), 200},
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

// TestExploreBadParams checks that every bad parameter is a 400 naming it,
// shown by its input.
func TestExploreBadParams(t *testing.T) {
	h := newServer(t, exploreFleet())
	for _, tc := range []struct{ target, param, msg string }{
		{"/explore?step=fast", "step", `step: &#34;fast&#34; is not a duration`},
		{"/explore?metric=fibpro.requests&step=10ms", "step", "step: 10ms is below the minimum of 1s"},
		{"/explore?metric=fibpro.requests&step=1s&from=now-7d", "step", "step: 1s gives 604800 points over the range, more than 11000"},
		{"/explore?metric=fibpro.requests&step=1500100us", "step", "step: 1.5001s is not a whole number of milliseconds"},
		{"/explore?metric=fibpro.requests&agg=p95", "agg", `agg: &#34;p95&#34; does not apply to counter &#34;fibpro.requests&#34;; use one of rate, sum, avg, max, min, count`},
		{"/explore?metric=fibpro.requests&agg=median", "agg", "agg: &#34;median&#34; does not apply"},
		{"/explore?metric=process.memory&agg=p99.9", "agg", "agg: &#34;p99.9&#34; does not apply to gauge"},
		{"/explore?metric=fibpro.requests&group_by=zone", "group_by", `group_by: metric &#34;fibpro.requests&#34; has no label &#34;zone&#34;; its labels are service, status`},
		{"/explore?metric=fibpro.requests&filter=bad", "filter", "filter: at 0: expected a label name"},
		{"/explore?mode=graph", "mode", "mode: &#34;graph&#34; is not a mode: use metric or promql"},
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", tc.target, nil))
		body := rec.Body.String()
		if rec.Code != http.StatusBadRequest {
			t.Errorf("%s: status %d, want 400", tc.target, rec.Code)
		}
		if !strings.Contains(body, `data-param="`+tc.param+`">`+tc.msg) {
			t.Errorf("%s: no message %q for %s in:\n%s", tc.target, tc.msg, tc.param, body)
		}
	}
	// A valid pNN beyond the menu is offered for histograms.
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/explore?metric=http.server.request.duration&agg=p99.9", nil))
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `<option value="p99.9" selected>`) {
		t.Errorf("p99.9 of a histogram: %d", rec.Code)
	}
}

// TestExploreQuery checks what the page asks the query service: the
// defaults per type, the auto step and the environment.
func TestExploreQuery(t *testing.T) {
	for _, tc := range []struct {
		target string
		want   query.MetricQuery
	}{
		// A counter's rate; the auto step of 15 minutes (10s) is the
		// points' resolution, 10s.
		{"/explore?metric=fibpro.requests&from=now-15m", query.MetricQuery{Name: "fibpro.requests", Agg: "rate", Step: 10 * time.Second}},
		// An hour: the default step, 30s, above the resolution.
		{"/explore?metric=http.server.request.duration&group_by=service,env", query.MetricQuery{Name: "http.server.request.duration",
			Agg: "p95", GroupBy: []string{"service", "env"}, Step: 30 * time.Second}},
		{"/explore?metric=process.memory&step=5m&filter=host%3Dh1", query.MetricQuery{Name: "process.memory", Agg: "avg", Filter: "host=h1", Step: 5 * time.Minute}},
		{"/explore?metric=queue.depth&step=auto", query.MetricQuery{Name: "queue.depth", Agg: "sum", Step: 30 * time.Second}},
		// The environment picker filters metrics that have env...
		{"/explore?metric=http.server.request.duration&env=prod&filter=service%3Dx", query.MetricQuery{Name: "http.server.request.duration",
			Agg: "p95", Filter: `service=x env="prod"`, Step: 30 * time.Second}},
		// ... and leaves the others alone.
		{"/explore?metric=fibpro.requests&env=prod", query.MetricQuery{Name: "fibpro.requests", Agg: "rate", Step: 30 * time.Second}},
	} {
		q := exploreFleet()
		rec := httptest.NewRecorder()
		newServer(t, q).ServeHTTP(rec, httptest.NewRequest("GET", tc.target, nil))
		if rec.Code != 200 || len(q.asked) != 1 {
			t.Fatalf("%s: status %d, %d queries", tc.target, rec.Code, len(q.asked))
		}
		got := q.asked[0]
		got.Range = query.TimeRange{}
		if fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("%s:\nasked %+v\nwant  %+v", tc.target, got, tc.want)
		}
	}
}

func TestExploreSeriesCap(t *testing.T) {
	rec := httptest.NewRecorder()
	newServer(t, manySeries()).ServeHTTP(rec, httptest.NewRequest("GET", "/explore?metric=process.memory&group_by=host", nil))
	body := rec.Body.String()
	if n := strings.Count(body, `<path class="line`); n != exploreMaxSeries {
		t.Errorf("%d lines drawn, want %d", n, exploreMaxSeries)
	}
	if n := strings.Count(body, `<tr class="series"`); n != exploreMaxSeries {
		t.Errorf("%d legend rows, want %d", n, exploreMaxSeries)
	}
	// The highest peaks are kept: hosts 05 to 24.
	if strings.Contains(body, ">host-04<") || !strings.Contains(body, ">host-05<") || !strings.Contains(body, ">host-24<") {
		t.Error("the series kept are not those with the highest peaks")
	}
	if !strings.Contains(body, `<p class="more-series note">5 more series not drawn`) {
		t.Error("no note on the series not drawn")
	}
}

func TestExploreEscaping(t *testing.T) {
	const s1, s2 = `<script>alert(1)</script>`, `"><img src=x onerror=alert(1)>`
	q := exploreFleet()
	q.metrics = append(q.metrics, query.MetricInfo{Name: s1, Type: "gauge", Unit: s2, Description: s2, LabelKeys: []string{s1, "service"}})
	q.values[s1] = []string{s2, s1}
	h := newServer(t, q)
	for _, target := range []string{
		"/explore?find=" + url.QueryEscape(s2),
		"/explore?metric=" + url.QueryEscape(s1) + "&group_by=" + url.QueryEscape(s1) + "&filter=" + url.QueryEscape(s2),
		"/explore?metric=" + url.QueryEscape(s1) + "&agg=" + url.QueryEscape(s2),
		"/explore?metric=" + url.QueryEscape(s1) + "&step=" + url.QueryEscape(s1),
		"/explore?metric=" + url.QueryEscape(s1) + "&filter=bad" + url.QueryEscape(s1),
		"/explore?mode=promql&promql=" + url.QueryEscape(s1),
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", target, nil))
		body := rec.Body.String()
		if strings.Contains(body, "<script>alert") || strings.Contains(body, "<img src=x") {
			t.Errorf("%s: raw HTML in the page:\n%s", target, body)
		}
		if !strings.Contains(body, "&lt;script&gt;alert(1)&lt;/script&gt;") && !strings.Contains(body, "%3Cscript%3E") {
			t.Errorf("%s: the escaped name is not shown", target)
		}
	}
}

func TestExploreAxis(t *testing.T) {
	for _, tc := range []struct {
		unit, typ, agg string
		top            float64
		want           exploreAxis
	}{
		{"s", "histogram", "p95", 2, exploreAxis{chartUnit: "s", scale: 1}},
		{"ms", "histogram", "avg", 2, exploreAxis{chartUnit: "ms", scale: 1}},
		{"ns", "gauge", "max", 2, exploreAxis{chartUnit: "ms", scale: 1e6}},
		{"s", "histogram", "rate", 2, exploreAxis{chartUnit: "rate", scale: 1, caption: "observations/s"}},
		{"s", "histogram", "count", 2, exploreAxis{scale: 1, caption: "observations"}},
		{"{request}", "sum", "rate", 2, exploreAxis{chartUnit: "rate", scale: 1, caption: "request/s"}},
		{"{request}", "sum", "sum", 2, exploreAxis{scale: 1, caption: "request"}},
		{"", "sum", "rate", 2, exploreAxis{chartUnit: "rate", scale: 1}},
		{"1", "gauge", "avg", 0.5, exploreAxis{scale: 1}},
		{"%", "gauge", "avg", 50, exploreAxis{scale: 1, caption: "%"}},
		{"By", "gauge", "max", 1000, exploreAxis{scale: 1, caption: "B"}},
		{"By", "gauge", "max", 3 << 20, exploreAxis{scale: 1 << 20, caption: "MiB"}},
		{"KiBy", "gauge", "max", 3 << 20, exploreAxis{scale: 1 << 20, caption: "GiB"}},
		{"By", "sum", "rate", 5000, exploreAxis{scale: 1 << 10, caption: "KiB/s"}},
		{"By", "gauge", "max", 1 << 60, exploreAxis{scale: 1 << 40, caption: "TiB"}},
	} {
		if got := exploreAxisFor(tc.unit, tc.typ, tc.agg, tc.top); got != tc.want {
			t.Errorf("%s %s %s: %+v, want %+v", tc.unit, tc.typ, tc.agg, got, tc.want)
		}
	}
}

func TestExploreHelpers(t *testing.T) {
	for d, want := range map[time.Duration]time.Duration{
		0: time.Second, time.Second: time.Second, 1001 * time.Millisecond: 2 * time.Second, 10 * time.Second: 10 * time.Second,
		11 * time.Second: 15 * time.Second, 61 * time.Second: 2 * time.Minute, 30 * time.Hour: 24 * time.Hour,
	} {
		if got := exploreStepAtLeast(d); got != want {
			t.Errorf("step at least %s: %s, want %s", d, got, want)
		}
	}
	for _, tc := range []struct{ filter, key, value, want string }{
		{"", "service", "pricing", "service=pricing"},
		{"env=prod service=x", "service", "pricing", "env=prod service=pricing"},
		{"service!=x", "service", "", `service!=x service=""`},
		{"a=b", "status", "500 internal", `a=b status="500 internal"`},
		{"", "route", "/a*", `route="/a*"`},
		{"", "q", `say "hi"`, `q="say \"hi\""`},
	} {
		if got := exploreNarrow(tc.filter, tc.key, tc.value); got != tc.want {
			t.Errorf("narrow %q by %s=%q: %q, want %q", tc.filter, tc.key, tc.value, got, tc.want)
		}
	}
	for agg, want := range map[string]bool{"p50": true, "p99.9": true, "p0": false, "p100": false, "p": false, "pabc": false, "p9e1": false, "avg": false} {
		if got := explorePercentile(agg); got != want {
			t.Errorf("percentile %q: %v", agg, got)
		}
	}
}

// newExploreStore returns a query service over a real store holding a
// counter of two services every 10s for 10 minutes before now, and a
// PromQL engine over it.
func newExploreStore(t *testing.T) (*query.Service, *promql.Engine) {
	t.Helper()
	ctx := context.Background()
	st, err := duckdb.Open(ctx, duckdb.Options{Dir: t.TempDir(), MemoryLimit: "256MB"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	var points []telemetry.MetricPoint
	for i, svc := range []string{"pricing", "userstore"} {
		for j := range 60 {
			points = append(points, telemetry.MetricPoint{
				Resource: telemetry.Resource{ServiceName: svc, Environment: "prod", Attributes: "{}"},
				Name:     "fibpro.requests", Type: telemetry.MetricSum, Unit: "{request}", Temporality: telemetry.TemporalityDelta,
				Monotonic: true, SeriesID: uint64(i + 1), Attributes: `{"status":"200"}`,
				Time: now.Add(-10*time.Minute + time.Duration(j)*10*time.Second), Value: float64(10 * (i + 1)),
			})
		}
	}
	if err := st.Write(ctx, &telemetry.Batch{Metrics: points}); err != nil {
		t.Fatal(err)
	}
	qs, err := query.New(query.Options{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	e, err := promql.New(promql.Options{Query: qs})
	if err != nil {
		t.Fatal(err)
	}
	return qs, e
}

// TestExploreReal runs the page over a real store and PromQL engine.
func TestExploreReal(t *testing.T) {
	qs, e := newExploreStore(t)
	h, err := New(Options{Query: struct {
		*fakeQueries
		metricQueries
	}{&fakeQueries{}, qs}, PromQL: e, IngestURL: "http://localhost:4318", Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	get := func(target string) (int, string) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", target, nil))
		return rec.Code, rec.Body.String()
	}
	code, body := get("/explore?metric=fibpro.requests&group_by=service&from=now-10m")
	if code != 200 {
		t.Fatalf("metric: %d\n%s", code, body)
	}
	// 10 and 20 requests every 10s: 1 and 2 per second.
	for _, want := range []string{`<option value="" selected>auto · 10s</option>`, `>pricing</a>`, `>userstore</a>`,
		`<td class="num">1.00/s</td><td class="num">1.00/s</td><td class="num">1.00/s</td><td class="num">1.00/s</td>`,
		`<td class="num">2.00/s</td>`, `<span class="y-unit">request/s</span>`} {
		if !strings.Contains(body, want) {
			t.Errorf("metric page lacks %s", want)
		}
	}
	if n := strings.Count(body, `<path class="line`); n != 2 {
		t.Errorf("%d lines, want 2", n)
	}
	code, body = get("/explore?metric=fibpro.requests&filter=" + url.QueryEscape("service=pricing status=~2.*"))
	if code != 400 || !strings.Contains(body, `data-param="filter">filter: at 22: regular expressions (=~) are not supported`) {
		t.Errorf("regexp filter: %d\n%s", code, body)
	}

	code, body = get("/explore?from=now-10m&step=1m&promql=" + url.QueryEscape(`sum by (service_name) (rate(fibpro_requests_total[1m]))`))
	if code != 200 {
		t.Fatalf("promql: %d\n%s", code, body)
	}
	golden(t, "explore-promql", body)
	for _, want := range []string{`<td class="label">{service_name=&#34;pricing&#34;}</td>`, `<td class="label">{service_name=&#34;userstore&#34;}</td>`, `<td class="num">2</td>`} {
		if !strings.Contains(body, want) {
			t.Errorf("promql page lacks %s", want)
		}
	}
	code, body = get("/explore?mode=promql&promql=" + url.QueryEscape(`sum(rate(fibpro_requests_total[1m])`))
	if code != 400 {
		t.Fatalf("promql syntax error: %d", code)
	}
	golden(t, "explore-promql-error", body)
	if !strings.Contains(body, `aria-invalid="true" aria-describedby="explore-error"`) || !strings.Contains(body, `data-param="promql">promql: 1:36: parse error: unclosed left parenthesis`) {
		t.Errorf("no parse error by the expression:\n%s", body)
	}
	// An evaluation error is the expression's problem too.
	code, body = get("/explore?mode=promql&promql=" + url.QueryEscape(`fibpro_requests_total + on() fibpro_requests_total`))
	if code != 400 || !strings.Contains(body, `data-param="promql">promql: found duplicate series for the match group`) {
		t.Errorf("promql evaluation error: %d\n%s", code, body)
	}
	code, body = get("/explore?mode=promql&promql=" + url.QueryEscape(`vector(1)`) + "&step=1s&from=now-7d")
	if code != 400 || !strings.Contains(body, `data-param="step">step: 1s gives 604800 points`) {
		t.Errorf("promql step: %d\n%s", code, body)
	}
}

// TestExploreLinks checks that the mode tabs, examples and legend links
// keep the rest of the state, and that a link reproduces its page.
func TestExploreLinks(t *testing.T) {
	p := &explorePage{frame: frame{From: "now-15m", Env: "prod"},
		State: exploreState{Mode: exploreModePromQL, PromQL: "up", Metric: "cpu", GroupBy: []string{"a", "b"}}}
	for _, tc := range []struct {
		kv   []string
		want string
	}{
		{nil, "/explore?env=prod&from=now-15m&group_by=a%2Cb&metric=cpu&promql=up"},
		// The expression stays for coming back, so the mode must be said.
		{[]string{"mode", "metric"}, "/explore?env=prod&from=now-15m&group_by=a%2Cb&metric=cpu&mode=metric&promql=up"},
		{[]string{"promql", ""}, "/explore?env=prod&from=now-15m&group_by=a%2Cb&metric=cpu&mode=promql"},
		{[]string{"filter", "a=1"}, "/explore?env=prod&filter=a%3D1&from=now-15m&group_by=a%2Cb&metric=cpu&promql=up"},
	} {
		got := p.URL(tc.kv...)
		if got != tc.want {
			t.Errorf("URL %q: %s, want %s", tc.kv, got, tc.want)
		}
		u, _ := url.Parse(got)
		back := parseExploreState(u.Query())
		want := p.State
		for i := 0; i+1 < len(tc.kv); i += 2 {
			switch tc.kv[i] {
			case "mode":
				want.Mode = tc.kv[i+1]
			case "promql":
				want.PromQL = tc.kv[i+1]
			case "filter":
				want.Filter = tc.kv[i+1]
			}
		}
		if fmt.Sprint(back) != fmt.Sprint(want) {
			t.Errorf("URL %q reads back as %+v, want %+v", tc.kv, back, want)
		}
	}
	var names []string
	for _, h := range p.Hidden("promql", "step", "mode") {
		names = append(names, h.Name+"="+h.Value)
	}
	if got := strings.Join(names, " "); got != "env=prod from=now-15m group_by=a,b metric=cpu" {
		t.Errorf("hidden inputs %s", got)
	}
}

// FuzzExplorePage sends any query string to the page: it must answer 200
// or 400 (never fail or panic), show every input escaped, and say what is
// wrong when it answers 400.
func FuzzExplorePage(f *testing.F) {
	for _, seed := range []string{
		"", "metric=fibpro.requests&group_by=service,status&filter=env%3Dprod",
		"metric=http.server.request.duration&agg=p99.9&step=1m", "metric=process.memory&agg=rate",
		"metric=process.memory&group_by=host&group_by=service", "step=0s", "step=-1m", "step=1d&from=now-7d",
		"mode=promql&promql=up", "mode=x", "find=%3Cscript%3E", "metric=%3Cscript%3Ealert(1)%3C/script%3E",
		"metric=fibpro.requests&filter=bad%22%3E%3Cimg", "from=now-1m&to=now-2m", "group_by=,,,&agg=P95",
	} {
		f.Add(seed)
	}
	h := newExploreServer(f, manySeries())
	f.Fuzz(func(t *testing.T, raw string) {
		r := httptest.NewRequest("GET", "/explore", nil)
		r.URL.RawQuery = raw
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		body := rec.Body.String()
		switch rec.Code {
		case http.StatusOK:
		case http.StatusBadRequest:
			if !strings.Contains(body, `class="explore-error error"`) && !strings.Contains(body, `<p class="error">`) {
				t.Fatalf("%q: 400 without a message:\n%s", raw, body)
			}
		default:
			t.Fatalf("%q: status %d:\n%s", raw, rec.Code, body)
		}
		if strings.Contains(body, "<script>") || strings.Contains(body, "<img") {
			t.Fatalf("%q: raw HTML in the page:\n%s", raw, body)
		}
	})
}

// BenchmarkExplorePage renders a chart of 25 series over an hour (20
// drawn, 120 points each).
func BenchmarkExplorePage(b *testing.B) {
	h := newExploreServer(b, manySeries())
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/explore?metric=process.memory&group_by=host", nil))
		if rec.Code != 200 {
			b.Fatal(rec.Code)
		}
	}
}

// newExploreServer is newServer for fuzz tests and benchmarks.
func newExploreServer(tb testing.TB, q Queries) http.Handler {
	tb.Helper()
	h, err := New(Options{Query: q, IngestURL: "http://localhost:4318", Now: func() time.Time { return now }})
	if err != nil {
		tb.Fatal(err)
	}
	return h
}
