package prom

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fibinc/telltale/internal/promql"
	"github.com/fibinc/telltale/internal/query"
	"github.com/fibinc/telltale/internal/store/duckdb"
	"github.com/fibinc/telltale/internal/telemetry"
)

// docTime is the time of the documentation's examples,
// 2015-07-01T20:10:51.781Z.
var docTime = time.UnixMilli(1435781451781).UTC()

// point is a metric point for the tests; attrs are JSON.
func point(typ, name, service, instance, attrs string, t time.Time, v float64) telemetry.MetricPoint {
	p := telemetry.MetricPoint{
		Resource: telemetry.Resource{ServiceName: service, InstanceID: instance, Attributes: "{}"},
		Name:     name, Type: typ, Attributes: attrs, Time: t, Value: v,
		SeriesID: uint64(len(name)*7919 + len(service)*104729 + len(instance)*31 + len(attrs)),
	}
	if attrs == "" {
		p.Attributes = "{}"
	}
	if typ == telemetry.MetricSum {
		p.Temporality, p.Monotonic, p.StartTime = telemetry.TemporalityCumulative, true, t.Add(-time.Hour)
	}
	return p
}

// newServer serves the handler over a store holding points.
func newServer(t *testing.T, opt promql.Options, points ...telemetry.MetricPoint) *httptest.Server {
	t.Helper()
	ctx := context.Background()
	st, err := duckdb.Open(ctx, duckdb.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	// Distinct series ids, whatever point() computed.
	ids := map[string]uint64{}
	for i := range points {
		p := &points[i]
		k := fmt.Sprint(p.Name, p.Resource, p.Attributes, p.Description)
		if _, ok := ids[k]; !ok {
			ids[k] = uint64(len(ids) + 1)
		}
		p.SeriesID = ids[k]
	}
	if len(points) > 0 {
		if err := st.Write(ctx, &telemetry.Batch{Metrics: points}); err != nil {
			t.Fatal(err)
		}
	}
	qs, err := query.New(query.Options{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	opt.Query = qs
	e, err := promql.New(opt)
	if err != nil {
		t.Fatal(err)
	}
	h, err := New(Options{Engine: e, Revision: "test", Now: func() time.Time { return docTime }})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// get requests path?params and returns the status and the decoded body.
func get(t *testing.T, srv *httptest.Server, path string, params url.Values) (int, any) {
	t.Helper()
	resp, err := http.Get(srv.URL + path + "?" + params.Encode())
	if err != nil {
		t.Fatal(err)
	}
	return decode(t, resp)
}

func post(t *testing.T, srv *httptest.Server, path string, params url.Values) (int, any) {
	t.Helper()
	resp, err := http.PostForm(srv.URL+path, params)
	if err != nil {
		t.Fatal(err)
	}
	return decode(t, resp)
}

func decode(t *testing.T, resp *http.Response) (int, any) {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("invalid JSON %q: %v", b, err)
	}
	return resp.StatusCode, v
}

func reference(t *testing.T, name string) any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "reference", name))
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// shape replaces every value of a JSON document by its type, keeping object
// keys, and the elements of an array by the shape of the first.
func shape(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, x := range v {
			out[k] = shape(x)
		}
		return out
	case []any:
		if len(v) == 0 {
			return []any{}
		}
		return []any{shape(v[0])}
	case string:
		return "string"
	case float64:
		return "number"
	case bool:
		return "bool"
	}
	return "null"
}

// dropLabel removes a label from the metrics of a response, for the
// comparison with Prometheus' examples: Telltale adds service_name.
func dropLabel(v any, name string) any {
	switch v := v.(type) {
	case map[string]any:
		if _, ok := v["__name__"]; ok || v["job"] != nil {
			delete(v, name)
		}
		for _, x := range v {
			dropLabel(x, name)
		}
	case []any:
		for _, x := range v {
			dropLabel(x, name)
		}
	}
	return v
}

func same(t *testing.T, what string, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		g, _ := json.MarshalIndent(got, "", "  ")
		w, _ := json.MarshalIndent(want, "", "  ")
		t.Errorf("%s:\ngot  %s\nwant %s", what, g, w)
	}
}

// sortData sorts the data array of a response by the JSON of its elements.
func sortData(v any) any {
	if m, ok := v.(map[string]any); ok {
		if list, ok := m["data"].([]any); ok {
			slices.SortFunc(list, func(a, b any) int {
				ja, _ := json.Marshal(a)
				jb, _ := json.Marshal(b)
				return strings.Compare(string(ja), string(jb))
			})
		}
	}
	return v
}

const gauge, counter = telemetry.MetricGauge, telemetry.MetricSum

func TestReferenceResponses(t *testing.T) {
	at := func(sec float64) time.Time { return docTime.Add(time.Duration((sec - 51.781) * float64(time.Second))) }

	t.Run("query", func(t *testing.T) {
		srv := newServer(t, promql.Options{},
			point(gauge, "up", "prometheus", "localhost:9090", "", at(45.781), 1),
			point(gauge, "up", "node", "localhost:9100", "", at(45.781), 0))
		status, got := get(t, srv, "/api/v1/query", url.Values{"query": {"up"}, "time": {"2015-07-01T20:10:51.781Z"}})
		if status != 200 {
			t.Fatalf("status %d: %v", status, got)
		}
		same(t, "query", dropLabel(got, "service_name"), reference(t, "query.json"))
	})

	t.Run("query_range", func(t *testing.T) {
		var ps []telemetry.MetricPoint
		for i, v := range []float64{0, 0, 1} {
			ts := at(30.781 + 15*float64(i))
			ps = append(ps, point(gauge, "up", "prometheus", "localhost:9090", "", ts, 1), point(gauge, "up", "node", "localhost:9091", "", ts, v))
		}
		srv := newServer(t, promql.Options{}, ps...)
		params := url.Values{"query": {"up"}, "start": {"2015-07-01T20:10:30.781Z"}, "end": {"2015-07-01T20:11:00.781Z"}, "step": {"15s"}}
		status, got := get(t, srv, "/api/v1/query_range", params)
		if status != 200 {
			t.Fatalf("status %d: %v", status, got)
		}
		same(t, "query_range", dropLabel(got, "service_name"), reference(t, "query_range.json"))
		// POST form and unix times with a float step answer the same.
		params = url.Values{"query": {"up"}, "start": {"1435781430.781"}, "end": {"1435781460.781"}, "step": {"15"}}
		status, got = post(t, srv, "/api/v1/query_range", params)
		if status != 200 {
			t.Fatalf("POST status %d: %v", status, got)
		}
		same(t, "query_range POST", dropLabel(got, "service_name"), reference(t, "query_range.json"))
	})

	t.Run("series", func(t *testing.T) {
		start := func(service, instance string) telemetry.MetricPoint {
			// process.start_time with unit s is process_start_time_seconds.
			p := point(gauge, "process.start_time", service, instance, "", at(45), 1e9)
			p.Unit = "s"
			return p
		}
		srv := newServer(t, promql.Options{},
			point(gauge, "up", "prometheus", "localhost:9090", "", at(45), 1),
			point(gauge, "up", "node", "localhost:9091", "", at(45), 1),
			start("prometheus", "localhost:9090"), start("node", "localhost:9091"))
		params := url.Values{"match[]": {"up", `process_start_time_seconds{job="prometheus"}`}, "start": {"1435781400"}, "end": {"1435781460"}}
		status, got := post(t, srv, "/api/v1/series", params)
		if status != 200 {
			t.Fatalf("status %d: %v", status, got)
		}
		// Series come sorted by labels; the example lists them otherwise.
		same(t, "series", sortData(dropLabel(got, "service_name")), sortData(reference(t, "series.json")))
	})

	t.Run("labels", func(t *testing.T) {
		srv := newServer(t, promql.Options{},
			point(gauge, "up", "prometheus", "localhost:9090", `{"code":"200"}`, at(45), 1))
		status, got := get(t, srv, "/api/v1/labels", url.Values{"start": {"1435781400"}, "end": {"1435781460"}})
		if status != 200 {
			t.Fatalf("status %d: %v", status, got)
		}
		same(t, "labels shape", shape(got), shape(reference(t, "labels.json")))
		same(t, "labels", got.(map[string]any)["data"], []any{"__name__", "code", "instance", "job", "service_name"})
	})

	t.Run("label_values", func(t *testing.T) {
		srv := newServer(t, promql.Options{},
			point(counter, "http.requests", "api", "i-1", `{"http.status_code":"200"}`, at(45), 10),
			point(counter, "http.requests", "api", "i-1", `{"http.status_code":"504"}`, at(45), 1))
		status, got := get(t, srv, "/api/v1/label/http_status_code/values", url.Values{"start": {"1435781400"}})
		if status != 200 {
			t.Fatalf("status %d: %v", status, got)
		}
		same(t, "label values", got, reference(t, "label_values.json"))
		// The label name may be escaped.
		_, got = get(t, srv, "/api/v1/label/U__http__status__code/values", url.Values{"start": {"1435781400"}})
		same(t, "escaped label values", got, reference(t, "label_values.json"))
	})

	t.Run("metadata", func(t *testing.T) {
		ring := point(gauge, "cortex.ring.tokens", "cortex", "", "", at(45), 512)
		ring.Description = "Number of tokens in the ring"
		reqs := point(counter, "http.requests", "api", "", "", at(45), 10)
		reqs.Description = "Number of HTTP requests"
		reqs2 := point(counter, "http_requests", "web", "", "", at(45), 10)
		reqs2.Description = "Amount of HTTP requests"
		other := point(gauge, "zzz.other", "api", "", "", at(45), 1)
		srv := newServer(t, promql.Options{}, ring, reqs, reqs2, other)
		// The limit_per_metric example covers two metrics; a third one
		// here needs the limit too.
		perMetric := reference(t, "metadata_limit_per_metric.json")
		for _, c := range []struct {
			params url.Values
			want   any
		}{
			{url.Values{"limit": {"2"}}, reference(t, "metadata_limit.json")},
			{url.Values{"limit_per_metric": {"1"}, "limit": {"2"}}, perMetric},
			{url.Values{"metric": {"http_requests_total"}}, reference(t, "metadata_metric.json")},
		} {
			status, got := get(t, srv, "/api/v1/metadata", c.params)
			if status != 200 {
				t.Fatalf("status %d: %v", status, got)
			}
			same(t, "metadata "+c.params.Encode(), got, c.want)
		}
	})

	t.Run("buildinfo", func(t *testing.T) {
		srv := newServer(t, promql.Options{})
		status, got := get(t, srv, "/api/v1/status/buildinfo", nil)
		if status != 200 {
			t.Fatalf("status %d: %v", status, got)
		}
		same(t, "buildinfo shape", shape(got), shape(reference(t, "buildinfo.json")))
		if v := got.(map[string]any)["data"].(map[string]any)["version"]; v != PrometheusVersion {
			t.Errorf("version %v, want %s", v, PrometheusVersion)
		}
	})

	t.Run("scalar and string", func(t *testing.T) {
		srv := newServer(t, promql.Options{})
		_, got := get(t, srv, "/api/v1/query", url.Values{"query": {"1+1"}, "time": {"1435781451.781"}})
		same(t, "scalar", got, reference(t, "result_scalar.json"))
		_, got = post(t, srv, "/api/v1/query", url.Values{"query": {`"foo"`}, "time": {"1435781451.781"}})
		same(t, "string", got, reference(t, "result_string.json"))
	})

	t.Run("native histogram", func(t *testing.T) {
		p := point(telemetry.MetricExponentialHistogram, "rpc.duration", "api", "", "", at(45), 0)
		p.Unit, p.Temporality, p.StartTime = "s", telemetry.TemporalityCumulative, at(0)
		p.Count, p.Sum, p.ExpZeroCount, p.ExpPositiveCounts = 6, 12.5, 1, []uint64{2, 3}
		srv := newServer(t, promql.Options{}, p)
		status, got := get(t, srv, "/api/v1/query", url.Values{"query": {"rpc_duration_seconds"}, "time": {"1435781451.781"}})
		if status != 200 {
			t.Fatalf("status %d: %v", status, got)
		}
		same(t, "native histogram", dropLabel(got, "service_name"), reference(t, "result_histogram.json"))
	})

	t.Run("error", func(t *testing.T) {
		srv := newServer(t, promql.Options{})
		status, got := get(t, srv, "/api/v1/query", url.Values{"query": {"sum("}})
		if status != http.StatusBadRequest {
			t.Errorf("status %d, want 400", status)
		}
		same(t, "error", got, reference(t, "error.json"))
	})
}

// TestErrors checks Prometheus' status codes and messages for bad
// parameters, failed evaluations and timeouts.
func TestErrors(t *testing.T) {
	var ps []telemetry.MetricPoint
	for _, host := range []string{"a", "b", "c"} {
		ps = append(ps, point(gauge, "load", "api", host, "", docTime.Add(-time.Minute), 1))
	}
	srv := newServer(t, promql.Options{MaxSeries: 2}, ps...)
	for _, c := range []struct {
		path     string
		params   url.Values
		status   int
		errType  string
		contains string
	}{
		{"/api/v1/query", url.Values{"query": {"up"}, "time": {"yesterday"}}, 400, "bad_data", `invalid parameter "time": invalid time value for 'time': cannot parse "yesterday" to a valid timestamp`},
		{"/api/v1/query", url.Values{"query": {"up"}, "limit": {"-1"}}, 400, "bad_data", "limit must be non-negative"},
		{"/api/v1/query", url.Values{"query": {"up"}, "timeout": {"0s"}}, 400, "bad_data", "timeout must be positive"},
		{"/api/v1/query_range", url.Values{"query": {"up"}, "start": {"10"}, "end": {"5"}, "step": {"1"}}, 400, "bad_data", "end timestamp must not be before start time"},
		{"/api/v1/query_range", url.Values{"query": {"up"}, "start": {"0"}, "end": {"5"}, "step": {"0"}}, 400, "bad_data", "zero or negative query resolution step widths are not accepted"},
		{"/api/v1/query_range", url.Values{"query": {"up"}, "start": {"0"}, "end": {"86400"}, "step": {"1"}}, 400, "bad_data", "exceeded maximum resolution of 11,000 points per timeseries"},
		{"/api/v1/query_range", url.Values{"query": {"up"}, "start": {"0"}, "end": {"5"}, "step": {"x"}}, 400, "bad_data", `invalid parameter "step": cannot parse "x" to a valid duration`},
		{"/api/v1/query", url.Values{"query": {"load"}}, 422, "execution", "the selector matches more than 2 series"},
		{"/api/v1/query", url.Values{"query": {"rate(load[5m])"}, "timeout": {"0.000001"}}, 503, "timeout", "timed out"},
		{"/api/v1/series", url.Values{}, 400, "bad_data", "no match[] parameter provided"},
		{"/api/v1/series", url.Values{"match[]": {`{job=~".*"}`}}, 400, "bad_data", "match[] must contain at least one non-empty matcher"},
		{"/api/v1/labels", url.Values{"match[]": {`{`}}, 400, "bad_data", "parse error"},
		{"/api/v1/label/a%20b/values", url.Values{}, 200, "", ""},
		{"/api/v1/metadata", url.Values{"limit": {"x"}}, 400, "bad_data", "limit must be a number"},
	} {
		status, got := get(t, srv, c.path, c.params)
		m := got.(map[string]any)
		if status != c.status || c.errType != "" && (m["status"] != "error" || m["errorType"] != c.errType ||
			!strings.Contains(fmt.Sprint(m["error"]), c.contains)) {
			t.Errorf("%s?%s: %d %v, want %d %s containing %q", c.path, c.params.Encode(), status, got, c.status, c.errType, c.contains)
		}
		if c.errType != "" {
			same(t, c.path+" error shape", shape(got), shape(reference(t, "error.json")))
		}
	}
	resp, err := http.Post(srv.URL+"/api/v1/query?query=up", "application/x-www-form-urlencoded", strings.NewReader("%zz"))
	if err != nil {
		t.Fatal(err)
	}
	if status, _ := decode(t, resp); status != 400 {
		t.Errorf("bad form: status %d, want 400", status)
	}
	req, _ := http.NewRequest(http.MethodDelete, srv.URL+"/api/v1/query", nil)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if status, _ := decode(t, resp); status != http.StatusMethodNotAllowed {
		t.Errorf("DELETE: status %d, want 405", status)
	}
}

func TestLimitParams(t *testing.T) {
	var ps []telemetry.MetricPoint
	for _, host := range []string{"a", "b", "c"} {
		ps = append(ps, point(gauge, "load", "api", host, fmt.Sprintf(`{"cpu":"%s"}`, host), docTime.Add(-time.Minute), 1))
	}
	srv := newServer(t, promql.Options{}, ps...)
	for _, c := range []struct {
		path   string
		params url.Values
		n      int
	}{
		{"/api/v1/query", url.Values{"query": {"load"}, "limit": {"2"}}, 2},
		{"/api/v1/query_range", url.Values{"query": {"load"}, "start": {"1435781400"}, "end": {"1435781460"}, "step": {"60"}, "limit": {"1"}}, 1},
		{"/api/v1/series", url.Values{"match[]": {"load"}, "limit": {"2"}}, 2},
		{"/api/v1/labels", url.Values{"limit": {"2"}}, 2},
		{"/api/v1/label/cpu/values", url.Values{"limit": {"1"}}, 1},
	} {
		status, got := get(t, srv, c.path, c.params)
		m := got.(map[string]any)
		data := m["data"]
		if d, ok := data.(map[string]any); ok {
			data = d["result"]
		}
		if status != 200 || len(data.([]any)) != c.n || fmt.Sprint(m["warnings"]) != "[results truncated due to limit]" {
			t.Errorf("%s?%s: %d %v, want %d results and a warning", c.path, c.params.Encode(), status, got, c.n)
		}
	}
}

func FuzzParseTime(f *testing.F) {
	for _, s := range []string{"1435781451.781", "2015-07-01T20:10:51.781Z", "-1", "1e300", "NaN", "0x10", "9999-12-31T23:59:59Z", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tm, err := parseTime(s)
		if err != nil {
			return
		}
		// A parsed time formats and parses back to itself, to the
		// millisecond that Prometheus keeps.
		back, err := parseTime(tm.Format(time.RFC3339Nano))
		if err != nil && !tm.Equal(minTime) && !tm.Equal(maxTime) && tm.Year() >= 0 && tm.Year() <= 9999 {
			t.Fatalf("parseTime(%q) = %v, which does not parse back: %v", s, tm, err)
		}
		if err == nil && !back.Equal(tm) {
			t.Fatalf("parseTime(%q) = %v, parses back as %v", s, tm, back)
		}
	})
}

func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"15s", "1h30m", "0.5", "-1", "1e19", "NaN", "1y", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := parseDuration(s)
		if err != nil {
			return
		}
		// Durations in seconds parse back from their own float form.
		again, err := parseDuration(fmt.Sprint(d.Seconds()))
		if err != nil {
			t.Fatalf("parseDuration(%q) = %v, whose seconds do not parse: %v", s, d, err)
		}
		if diff := again - d; diff > time.Microsecond || diff < -time.Microsecond {
			if d.Abs() < 1<<52 { // beyond, float seconds lose nanoseconds
				t.Fatalf("parseDuration(%q) = %v, parses back as %v", s, d, again)
			}
		}
	})
}

// TestSlots checks that a request waits for a free slot and gives up with a
// timeout when none frees in time.
func TestSlots(t *testing.T) {
	h := &handler{slots: make(chan struct{}, 1)}
	ran := 0
	fn := h.limited(func(*http.Request) result { ran++; return result{data: "ok"} })
	req := httptest.NewRequest(http.MethodGet, "/api/v1/query?query=1&timeout=0.05", nil)
	h.slots <- struct{}{} // another request holds the only slot
	res := fn(req)
	if res.err == nil || res.err.typ != "timeout" || ran != 0 {
		t.Fatalf("with no free slot: %+v, ran %d; want a timeout", res.err, ran)
	}
	go func() { time.Sleep(10 * time.Millisecond); <-h.slots }()
	req = httptest.NewRequest(http.MethodGet, "/api/v1/query?query=1&timeout=5", nil)
	if res := fn(req); res.err != nil || ran != 1 || len(h.slots) != 0 {
		t.Fatalf("after the slot freed: %+v, ran %d, %d slots taken", res.err, ran, len(h.slots))
	}
}
