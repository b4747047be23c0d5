package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fibinc/telltale/internal/api"
	"github.com/fibinc/telltale/internal/query"
	"github.com/fibinc/telltale/internal/querylimit"
	"github.com/fibinc/telltale/internal/store/duckdb"
	"github.com/fibinc/telltale/internal/store/storetest"
	"github.com/fibinc/telltale/internal/telemetry"
)

// t0 is when the test data happened; the API's clock reads t0+30m, so the
// default range (the last hour) holds all of it.
var t0 = time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)

const (
	traceA = "0af7651916cd43dd8448eb211c80319c"
	traceB = "4bf92f3577b34da6a3ce929d0e0e4736"
)

func testData() *telemetry.Batch {
	root := storetest.Span("frontend", traceA, "00000000000000a1", "", t0, 120*time.Millisecond)
	root.RequestID = "r-7"
	child := storetest.Span("api", traceA, "00000000000000a2", "00000000000000a1", t0.Add(10*time.Millisecond), 100*time.Millisecond)
	child.Kind, child.StatusCode, child.Name, child.RequestID = "client", "error", "charge", ""
	child.Attributes = `{"user":"alice"}`
	other := storetest.Span("frontend", traceB, "00000000000000b1", "", t0.Add(time.Minute), 5*time.Millisecond)
	b := &telemetry.Batch{Spans: []telemetry.Span{root, child, other}}
	for i, body := range []string{"accepted order", "charging card", "card declined: insufficient credit"} {
		b.Logs = append(b.Logs, telemetry.Log{
			Resource: telemetry.Resource{ServiceName: "api", Attributes: "{}"},
			Time:     t0.Add(time.Duration(i) * time.Second), ObservedTime: t0.Add(time.Duration(i) * time.Second),
			Severity: telemetry.SeverityInfo + int32(i)*4, Body: body, TraceID: traceA, RequestID: "r-7", Attributes: `{"order":"o-1"}`,
		})
	}
	for i := range 10 {
		b.Metrics = append(b.Metrics, telemetry.MetricPoint{
			Resource: telemetry.Resource{ServiceName: "api", Host: "h1"}, Name: "cpu", Unit: "1", Type: telemetry.MetricGauge,
			SeriesID: 1, Attributes: "{}", Time: t0.Add(time.Duration(i) * time.Minute), Value: float64(i),
		})
	}
	return b
}

// newAPI returns the API over a store holding b, and the log it writes.
func newAPI(t *testing.T, b *telemetry.Batch, opt query.Options) (http.Handler, *bytes.Buffer) {
	t.Helper()
	ctx := context.Background()
	st, err := duckdb.Open(ctx, duckdb.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Write(ctx, b); err != nil {
		t.Fatalf("Write: %v", err)
	}
	opt.Store = st
	q, err := query.New(opt)
	if err != nil {
		t.Fatalf("query.New: %v", err)
	}
	var log bytes.Buffer
	h, err := api.New(api.Options{
		Query:  q,
		Now:    func() time.Time { return t0.Add(30 * time.Minute) },
		Logger: slog.New(slog.NewTextHandler(&log, nil)),
	})
	if err != nil {
		t.Fatalf("api.New: %v", err)
	}
	return h, &log
}

// body is a decoded response.
type body struct {
	Data       json.RawMessage `json:"data"`
	NextCursor string          `json:"next_cursor"`
	Error      string          `json:"error"`
}

func get(t *testing.T, h http.Handler, method, target string) (int, body, http.Header) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, target, nil))
	var b body
	if err := json.Unmarshal(rec.Body.Bytes(), &b); err != nil {
		t.Fatalf("%s %s: body %q is not JSON: %v", method, target, rec.Body, err)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s %s: Content-Type %q", method, target, ct)
	}
	return rec.Code, b, rec.Header()
}

// pluck decodes data and returns field of each element, formatted with %v.
func pluck(t *testing.T, data json.RawMessage, field string) []string {
	t.Helper()
	var elems []map[string]any
	if err := json.Unmarshal(data, &elems); err != nil {
		t.Fatalf("data %s is not a list of objects: %v", data, err)
	}
	var out []string
	for _, e := range elems {
		out = append(out, fmt.Sprint(e[field]))
	}
	return out
}

// field decodes data as an object and returns field formatted with %v.
func field(t *testing.T, data json.RawMessage, name string) string {
	t.Helper()
	var obj map[string]any
	if err := json.Unmarshal(data, &obj); err != nil {
		t.Fatalf("data %s is not an object: %v", data, err)
	}
	return fmt.Sprint(obj[name])
}

func TestAPI(t *testing.T) {
	h, _ := newAPI(t, testData(), query.Options{})
	unix := func(d time.Duration) string { return fmt.Sprint(t0.Add(d).Unix()) }
	unixMs := func(d time.Duration) string { return fmt.Sprint(t0.Add(d).UnixMilli()) }
	type check func(t *testing.T, b body)
	fieldIs := func(name, want string) check {
		return func(t *testing.T, b body) {
			if got := field(t, b.Data, name); got != want {
				t.Errorf("data.%s = %s, want %s", name, got, want)
			}
		}
	}
	pluckIs := func(name string, want ...string) check {
		return func(t *testing.T, b body) {
			if got := pluck(t, b.Data, name); !slices.Equal(got, want) {
				t.Errorf("data[].%s = %q, want %q", name, got, want)
			}
		}
	}

	tests := []struct {
		target string
		status int
		check  check  // for 200s
		err    string // part of the error message otherwise
	}{
		// services and the common time parameters
		{"/api/v1/services", 200, pluckIs("name", "api", "frontend"), ""},
		{"/api/v1/services", 200, pluckIs("span_count", "1", "2"), ""},
		{"/api/v1/services?from=now-15m", 200, pluckIs("name"), ""},
		{"/api/v1/services?from=now-2d&to=now-10m", 200, pluckIs("name", "api", "frontend"), ""},
		{"/api/v1/services?from=" + unix(30*time.Second) + "&to=" + unix(time.Hour), 200, pluckIs("name", "frontend"), ""},
		{"/api/v1/services?from=" + unixMs(30*time.Second), 200, pluckIs("name", "frontend"), ""},
		{"/api/v1/services?from=" + url.QueryEscape(t0.Add(30*time.Second).Format(time.RFC3339)), 200, pluckIs("name", "frontend"), ""},
		{"/api/v1/services?to=" + url.QueryEscape(t0.Add(-time.Minute).Format(time.RFC3339Nano)), 200, pluckIs("name"), ""},
		{"/api/v1/services?from=yesterday", 400, nil, `parameter from: "yesterday" is not a time`},
		{"/api/v1/services?to=now-x", 400, nil, "parameter to:"},
		{"/api/v1/services?from=now-0s", 400, nil, "parameter from:"},
		{"/api/v1/services?from=now&to=now-1h", 400, nil, "parameter from: 2026-05-04T10:30:00Z is not before to (2026-05-04T09:30:00Z)"},
		{"/api/v1/services?from=now-32d", 400, nil, "more than the maximum of 744h0m0s"},

		// one trace
		{"/api/v1/traces/" + traceA, 200, fieldIs("span_count", "2"), ""},
		{"/api/v1/traces/" + strings.ToUpper(traceA), 200, fieldIs("root_service", "frontend"), ""},
		{"/api/v1/traces/" + traceA, 200, func(t *testing.T, b body) {
			var tr query.Trace
			if err := json.Unmarshal(b.Data, &tr); err != nil {
				t.Fatal(err)
			}
			if len(tr.Spans) != 2 || tr.Spans[1].Depth != 1 || tr.Spans[1].DurationMs != 100 ||
				string(tr.Spans[1].Attributes) != `{"user":"alice"}` || tr.DurationMs != 120 || tr.ErrorCount != 1 {
				t.Errorf("trace = %+v", tr)
			}
		}, ""},
		{"/api/v1/traces/xyz", 400, nil, `trace id "xyz" is not 32 hex digits`},
		{"/api/v1/traces/11111111111111111111111111111111", 404, nil, "not found"},

		// trace search
		{"/api/v1/traces", 200, pluckIs("trace_id", traceB, traceA), ""},
		{"/api/v1/traces?limit=1", 200, pluckIs("trace_id", traceB), ""},
		{"/api/v1/traces?service=api", 200, pluckIs("trace_id", traceA), ""},
		{"/api/v1/traces?operation=charge&status=error", 200, pluckIs("root_operation", "GET /00000000000000a1"), ""},
		{"/api/v1/traces?min_duration=100ms", 200, pluckIs("trace_id", traceA), ""},
		{"/api/v1/traces?max_duration=5ms", 200, pluckIs("trace_id", traceB), ""},
		{"/api/v1/traces?attr.user=alice", 200, pluckIs("services", "[api frontend]"), ""},
		{"/api/v1/traces?attr.user=bob", 200, pluckIs("trace_id"), ""},
		{"/api/v1/traces?attr.k8s.pod.name=p1&service=frontend", 200, pluckIs("trace_id", traceB, traceA), ""},
		{"/api/v1/traces?status=broken", 400, nil, `status "broken" is not one of ok, error, unset`},
		{"/api/v1/traces?min_duration=fast", 400, nil, `parameter min_duration: "fast" is not a duration`},
		{"/api/v1/traces?max_duration=-1s", 400, nil, "parameter max_duration"},
		{"/api/v1/traces?min_duration=1s&max_duration=1ms", 400, nil, "min duration 1s is above max duration 1ms"},
		{"/api/v1/traces?attr.=x", 400, nil, "parameter attr.: an attribute filter needs a key"},
		{"/api/v1/traces?attr.user=a&attr.user=b", 400, nil, "parameter attr.user: given 2 times"},
		{"/api/v1/traces?limit=0", 400, nil, `parameter limit: "0" is not a positive integer`},
		{"/api/v1/traces?limit=many", 400, nil, "parameter limit"},

		// logs
		{"/api/v1/logs", 200, pluckIs("body", "card declined: insufficient credit", "charging card", "accepted order"), ""},
		{"/api/v1/logs?q=" + url.QueryEscape(`"CARD" level>=warn`), 200, pluckIs("level", "error", "warn"), ""},
		{"/api/v1/logs?q=service:api&limit=1", 200, func(t *testing.T, b body) {
			if got := pluck(t, b.Data, "body"); len(got) != 1 || got[0] != "card declined: insufficient credit" || b.NextCursor == "" {
				t.Errorf("first page = %q, next_cursor %q", got, b.NextCursor)
			}
		}, ""},
		{"/api/v1/logs?q=" + url.QueryEscape("(unbalanced"), 400, nil, "filter: at 0"},
		{"/api/v1/logs?cursor=bogus", 400, nil, `cursor "bogus" is not one this server returned`},
		{"/api/v1/logs?limit=-5", 400, nil, "parameter limit"},

		// requests
		{"/api/v1/requests/r-7", 200, func(t *testing.T, b body) {
			var req query.Request
			if err := json.Unmarshal(b.Data, &req); err != nil {
				t.Fatal(err)
			}
			if len(req.Traces) != 1 || req.Traces[0].TraceID != traceA || len(req.Traces[0].Spans) != 2 || len(req.Logs) != 3 {
				t.Errorf("request = %+v", req)
			}
		}, ""},
		{"/api/v1/requests/" + traceB, 200, fieldIs("logs", "[]"), ""},
		{"/api/v1/requests/r-404", 404, nil, `request "r-404": not found`},

		// metrics
		{"/api/v1/metrics", 200, pluckIs("name", "cpu"), ""},
		{"/api/v1/metrics?limit=x", 400, nil, "parameter limit"},
		{"/api/v1/metrics/query?name=cpu&agg=max&step=5m&from=" + unix(0) + "&to=" + unix(10*time.Minute), 200, func(t *testing.T, b body) {
			var res struct {
				Step   int64 `json:"step_ms"`
				Series []struct {
					Points []struct{ Value float64 }
				}
			}
			if err := json.Unmarshal(b.Data, &res); err != nil {
				t.Fatal(err)
			}
			if res.Step != 300_000 || len(res.Series) != 1 || len(res.Series[0].Points) != 2 ||
				res.Series[0].Points[0].Value != 4 || res.Series[0].Points[1].Value != 9 {
				t.Errorf("result = %s", b.Data)
			}
		}, ""},
		// The default step gives 60 to 150 points: 30s for an hour.
		{"/api/v1/metrics/query?name=cpu&group_by=host,+service", 200, func(t *testing.T, b body) {
			if got := field(t, b.Data, "step_ms"); got != "30000" {
				t.Errorf("step_ms = %s, want 30000", got)
			}
			if got := pluck(t, json.RawMessage(field2(t, b.Data, "series")), "labels"); !slices.Equal(got, []string{"map[host:h1 service:api]"}) {
				t.Errorf("labels = %q", got)
			}
		}, ""},
		{"/api/v1/metrics/query?agg=max", 400, nil, "parameter name: required"},
		{"/api/v1/metrics/query?name=cpu&step=10ms", 400, nil, "parameter step: 10ms is below the minimum of 1s"},
		{"/api/v1/metrics/query?name=cpu&step=1s&from=now-30d", 400, nil, "use a larger step"},
		{"/api/v1/metrics/query?name=cpu&agg=median", 400, nil, `unknown agg "median"`},

		// paths
		{"/api/v1/nothing", 404, nil, "no API endpoint at /api/v1/nothing"},
		{"/api/v2/services", 404, nil, "no API endpoint at /api/v2/services"},
		{"/api/v1/traces/" + traceA + "/spans", 404, nil, "no API endpoint"},
		{"/api/v1/requests/", 404, nil, "no API endpoint"},
	}
	for _, tt := range tests {
		t.Run(tt.target, func(t *testing.T) {
			status, b, _ := get(t, h, http.MethodGet, tt.target)
			if status != tt.status {
				t.Fatalf("status %d, want %d; error %q", status, tt.status, b.Error)
			}
			if tt.status == 200 {
				tt.check(t, b)
			} else if !strings.Contains(b.Error, tt.err) {
				t.Errorf("error %q does not contain %q", b.Error, tt.err)
			}
		})
	}
}

// field2 returns the raw JSON of a field of the object data.
func field2(t *testing.T, data json.RawMessage, name string) []byte {
	t.Helper()
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(data, &obj); err != nil {
		t.Fatalf("data %s is not an object: %v", data, err)
	}
	return obj[name]
}

// TestLogPages follows next_cursor through every page.
func TestLogPages(t *testing.T) {
	h, _ := newAPI(t, testData(), query.Options{})
	var got []string
	target := "/api/v1/logs?limit=2"
	for range 5 {
		status, b, _ := get(t, h, http.MethodGet, target)
		if status != 200 {
			t.Fatalf("GET %s: %d %s", target, status, b.Error)
		}
		got = append(got, pluck(t, b.Data, "body")...)
		if b.NextCursor == "" {
			break
		}
		target = "/api/v1/logs?limit=2&cursor=" + url.QueryEscape(b.NextCursor)
	}
	if want := []string{"card declined: insufficient credit", "charging card", "accepted order"}; !slices.Equal(got, want) {
		t.Errorf("pages = %q, want %q", got, want)
	}
}

func TestMethods(t *testing.T) {
	h, _ := newAPI(t, testData(), query.Options{})
	for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete} {
		status, b, hdr := get(t, h, m, "/api/v1/services")
		if status != http.StatusMethodNotAllowed || hdr.Get("Allow") != "GET, HEAD" || !strings.Contains(b.Error, "method "+m) {
			t.Errorf("%s: status %d, Allow %q, error %q", m, status, hdr.Get("Allow"), b.Error)
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodHead, "/api/v1/services", nil))
	if rec.Code != 200 {
		t.Errorf("HEAD: status %d", rec.Code)
	}
}

func TestServerErrors(t *testing.T) {
	t.Run("timeout", func(t *testing.T) {
		h, log := newAPI(t, testData(), query.Options{Timeout: time.Nanosecond})
		status, b, hdr := get(t, h, http.MethodGet, "/api/v1/logs")
		if status != http.StatusServiceUnavailable || !strings.Contains(b.Error, "took too long") || hdr.Get("Retry-After") == "" {
			t.Errorf("status %d, error %q, Retry-After %q; want 503 with Retry-After", status, b.Error, hdr.Get("Retry-After"))
		}
		if !strings.Contains(log.String(), "query timed out") {
			t.Errorf("log %q does not mention the timeout", log.String())
		}
	})
	t.Run("store failure", func(t *testing.T) {
		ctx := context.Background()
		st, err := duckdb.Open(ctx, duckdb.Options{Dir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		q, err := query.New(query.Options{Store: st})
		if err != nil {
			t.Fatal(err)
		}
		st.Close()
		var log bytes.Buffer
		h, err := api.New(api.Options{Query: q, Logger: slog.New(slog.NewTextHandler(&log, nil))})
		if err != nil {
			t.Fatal(err)
		}
		status, b, _ := get(t, h, http.MethodGet, "/api/v1/services")
		if status != http.StatusInternalServerError || strings.Contains(b.Error, "closed") {
			t.Errorf("status %d, error %q; want 500 without the cause", status, b.Error)
		}
		if !strings.Contains(log.String(), "store is closed") || !strings.Contains(log.String(), "component=api") {
			t.Errorf("log %q lacks the cause or the component", log.String())
		}
	})
	t.Run("no query service", func(t *testing.T) {
		if _, err := api.New(api.Options{}); err == nil {
			t.Error("New without a query service succeeded")
		}
	})
}

func TestRowCap(t *testing.T) {
	h, _ := newAPI(t, testData(), query.Options{})
	for _, target := range []string{"/api/v1/logs?limit=10001", "/api/v1/traces?limit=20000", "/api/v1/issues?limit=10001", "/api/v1/metrics?limit=99999"} {
		status, b, _ := get(t, h, http.MethodGet, target)
		if status != http.StatusBadRequest || !strings.Contains(b.Error, "maximum of 10000 rows") {
			t.Errorf("GET %s: %d %q; want 400 naming the cap", target, status, b.Error)
		}
	}
	if status, b, _ := get(t, h, http.MethodGet, "/api/v1/logs?limit=10000"); status != http.StatusOK {
		t.Errorf("limit at the cap: %d %q", status, b.Error)
	}
}

// TestRequestDeadline checks the answer to a request whose deadline, set by
// querylimit, passes: 503 with Retry-After and the message naming it.
func TestRequestDeadline(t *testing.T) {
	h, _ := newAPI(t, testData(), query.Options{})
	h = querylimit.New(querylimit.Options{Timeout: time.Nanosecond}).Handler(h)
	status, b, hdr := get(t, h, http.MethodGet, "/api/v1/logs")
	if status != http.StatusServiceUnavailable || b.Error != "query took longer than 1ns; narrow the range or the filter" || hdr.Get("Retry-After") == "" {
		t.Errorf("status %d, error %q, Retry-After %q", status, b.Error, hdr.Get("Retry-After"))
	}
}
