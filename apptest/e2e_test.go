package apptest

import (
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

// The API's answers, decoded with only the fields the test checks.
type (
	apiService struct {
		Name          string  `json:"name"`
		Requests      int64   `json:"requests"`
		RequestErrors int64   `json:"request_errors"`
		RequestRate   float64 `json:"request_rate"`
		ErrorRate     float64 `json:"error_rate"`
		Latency       *struct {
			P50, P95, P99 float64
		} `json:"latency_ms"`
		SpanCount int64 `json:"span_count"`
		LogCount  int64 `json:"log_count"`
		Instances []struct {
			ID               string `json:"id"`
			Host             string `json:"host"`
			AvailabilityZone string `json:"availability_zone"`
			Environment      string `json:"environment"`
			Version          string `json:"version"`
		} `json:"instances"`
		Versions     []string `json:"versions"`
		Environments []string `json:"environments"`
	}
	apiSpan struct {
		TraceID       string            `json:"trace_id"`
		SpanID        string            `json:"span_id"`
		ParentSpanID  string            `json:"parent_span_id"`
		Name          string            `json:"name"`
		Kind          string            `json:"kind"`
		Service       string            `json:"service"`
		StatusCode    string            `json:"status_code"`
		StatusMessage string            `json:"status_message"`
		RequestID     string            `json:"request_id"`
		Depth         int               `json:"depth"`
		Attributes    map[string]any    `json:"attributes"`
		Events        []json.RawMessage `json:"events"`
		Environment   string            `json:"environment"`
		Zone          string            `json:"availability_zone"`
	}
	apiTrace struct {
		TraceID       string    `json:"trace_id"`
		RootService   string    `json:"root_service"`
		RootOperation string    `json:"root_operation"`
		SpanCount     int       `json:"span_count"`
		ErrorCount    int       `json:"error_count"`
		Services      []string  `json:"services"`
		Spans         []apiSpan `json:"spans"`
	}
	apiLog struct {
		Body       string         `json:"body"`
		Level      string         `json:"level"`
		Service    string         `json:"service"`
		TraceID    string         `json:"trace_id"`
		SpanID     string         `json:"span_id"`
		RequestID  string         `json:"request_id"`
		Attributes map[string]any `json:"attributes"`
	}
	apiSeries struct {
		Labels map[string]string `json:"labels"`
		Points []struct {
			Time  time.Time `json:"time"`
			Value float64   `json:"value"`
		} `json:"points"`
	}
)

// TestOpenTelemetrySDKEndToEnd exports traces, logs and metrics with the real
// OpenTelemetry Go SDK over gRPC and over HTTP, then reads every record back
// through every API endpoint and checks the values.
func TestOpenTelemetrySDKEndToEnd(t *testing.T) {
	s := start(t, t.TempDir())
	for _, transport := range []string{"grpc", "http"} {
		t.Run(transport, func(t *testing.T) {
			service := "checkout-" + transport
			got := exportWithSDK(t, s, transport, service)
			s.t = t
			checkServices(t, s, service)
			checkTrace(t, s, got)
			checkTraceSearch(t, s, got)
			checkLogs(t, s, got)
			checkRequest(t, s, got)
			checkMetrics(t, s, service)
		})
	}
}

func checkServices(t *testing.T, s *server, service string) {
	var resp struct{ Data []apiService }
	s.get("/api/v1/services", 200, &resp)
	i := slices.IndexFunc(resp.Data, func(x apiService) bool { return x.Name == service })
	if i < 0 {
		t.Fatalf("service %s missing from /api/v1/services: %+v", service, resp.Data)
	}
	svc := resp.Data[i]
	// One server span, which failed; three spans in all; three log lines.
	if svc.Requests != 1 || svc.RequestErrors != 1 || svc.ErrorRate != 1 || svc.SpanCount != 3 || svc.LogCount != 3 {
		t.Errorf("service counts: %+v", svc)
	}
	if svc.RequestRate <= 0 || svc.Latency == nil || svc.Latency.P50 <= 0 || svc.Latency.P99 < svc.Latency.P50 {
		t.Errorf("service rate or latency: rate %v latency %+v", svc.RequestRate, svc.Latency)
	}
	if len(svc.Instances) != 1 {
		t.Fatalf("instances = %+v, want one", svc.Instances)
	}
	in := svc.Instances[0]
	if in.ID != service+"-1" || in.Host != "web-7" || in.AvailabilityZone != "eu-west-1a" || in.Environment != "staging" || in.Version != "2.0.1" {
		t.Errorf("instance = %+v", in)
	}
	if !slices.Equal(svc.Versions, []string{"2.0.1"}) || !slices.Equal(svc.Environments, []string{"staging"}) {
		t.Errorf("versions %q, environments %q", svc.Versions, svc.Environments)
	}
}

func checkTrace(t *testing.T, s *server, want sent) {
	var resp struct{ Data apiTrace }
	s.get("/api/v1/traces/"+want.traceID, 200, &resp)
	tr := resp.Data
	if tr.TraceID != want.traceID || tr.SpanCount != 3 || tr.ErrorCount != 2 || tr.RootService != want.service || tr.RootOperation != "GET /fib/{n}" {
		t.Errorf("trace summary: %+v", tr)
	}
	var shape []string
	for _, sp := range tr.Spans {
		shape = append(shape, fmt.Sprintf("%d %s %s %s", sp.Depth, sp.Kind, sp.Name, sp.StatusCode))
		if sp.Service != want.service || sp.Environment != "staging" || sp.Zone != "eu-west-1a" {
			t.Errorf("span %s resource: service %q env %q zone %q", sp.Name, sp.Service, sp.Environment, sp.Zone)
		}
	}
	wantShape := []string{"0 server GET /fib/{n} error", "1 client GET userstore/credit unset", "2 internal charge error"}
	if !slices.Equal(shape, wantShape) {
		t.Fatalf("trace tree:\n got %q\nwant %q", shape, wantShape)
	}
	root, charge := tr.Spans[0], tr.Spans[2]
	if root.SpanID != want.rootSpan || root.ParentSpanID != "" || root.RequestID != want.requestID {
		t.Errorf("root span: %+v", root)
	}
	if root.Attributes["http.route"] != "/fib/{n}" || root.Attributes["n"] != float64(10) {
		t.Errorf("root attributes: %v", root.Attributes)
	}
	if charge.StatusMessage != "insufficient credit" || len(charge.Events) != 1 {
		t.Fatalf("charge span: status %q, events %s", charge.StatusMessage, charge.Events)
	}
	var ev struct {
		Name       string
		Attributes map[string]any
	}
	json.Unmarshal(charge.Events[0], &ev)
	if ev.Name != "exception" || ev.Attributes["exception.message"] != "user has insufficient credit" || ev.Attributes["exception.type"] != "github.com/fibinc/telltale/apptest.creditError" ||
		!strings.Contains(fmt.Sprint(ev.Attributes["exception.stacktrace"]), "apptest.exportWithSDK") {
		t.Errorf("exception event: %s", charge.Events[0])
	}
	s.get("/api/v1/traces/00000000000000000000000000000001", 404, nil)
	s.get("/api/v1/traces/not-a-trace-id", 400, nil)
}

func checkTraceSearch(t *testing.T, s *server, want sent) {
	for _, q := range []string{
		"service=" + want.service,
		"service=" + want.service + "&operation=charge&status=error",
		"service=" + want.service + "&attr.http.route=" + url.QueryEscape("/fib/{n}"),
		"service=" + want.service + "&min_duration=1ms",
	} {
		var resp struct{ Data []apiTrace }
		s.get("/api/v1/traces?"+q, 200, &resp)
		if len(resp.Data) != 1 || resp.Data[0].TraceID != want.traceID || resp.Data[0].SpanCount != 3 {
			t.Errorf("trace search %s: %+v", q, resp.Data)
		}
	}
	for _, q := range []string{"service=" + want.service + "&min_duration=1h", "service=" + want.service + "&attr.http.route=/nope", "service=nobody"} {
		var resp struct{ Data []apiTrace }
		s.get("/api/v1/traces?"+q, 200, &resp)
		if len(resp.Data) != 0 {
			t.Errorf("trace search %s matched %d traces, want none", q, len(resp.Data))
		}
	}
}

func checkLogs(t *testing.T, s *server, want sent) {
	logs := func(q string) []apiLog {
		var resp struct{ Data []apiLog }
		s.get("/api/v1/logs?q="+url.QueryEscape(q), 200, &resp)
		return resp.Data
	}
	all := logs("service:" + want.service)
	var bodies []string
	for _, l := range all {
		bodies = append(bodies, l.Level+" "+l.Body)
	}
	wantBodies := []string{"error credit check failed downstream", "warn user has insufficient credit", "info computing fib(10) for user u42"}
	if !slices.Equal(bodies, wantBodies) {
		t.Errorf("logs newest first:\n got %q\nwant %q", bodies, wantBodies)
	}
	if len(all) == 3 {
		if all[1].TraceID != want.traceID || all[1].SpanID != want.rootSpan || all[1].Attributes["user"] != "u42" {
			t.Errorf("log inside the span: %+v", all[1])
		}
		if all[0].TraceID != "" || all[0].RequestID != want.requestID {
			t.Errorf("log with only a request id: %+v", all[0])
		}
	}
	if got := logs(fmt.Sprintf(`service:%s level>=warn "INSUFFICIENT credit" user=u42`, want.service)); len(got) != 1 || got[0].Body != "user has insufficient credit" {
		t.Errorf("filtered log search: %+v", got)
	}
	if got := logs(fmt.Sprintf(`service:%s AND (level:error OR trace_id:%s) AND NOT "computing"`, want.service, want.traceID)); len(got) != 2 {
		t.Errorf("boolean log search matched %d lines, want 2: %+v", len(got), got)
	}
	// Pagination: one line per page, every line exactly once.
	var paged []string
	cursor := ""
	for range 5 {
		var resp struct {
			Data       []apiLog
			NextCursor string `json:"next_cursor"`
		}
		s.get("/api/v1/logs?limit=1&q="+url.QueryEscape("service:"+want.service)+"&cursor="+url.QueryEscape(cursor), 200, &resp)
		for _, l := range resp.Data {
			paged = append(paged, l.Body)
		}
		if cursor = resp.NextCursor; cursor == "" {
			break
		}
	}
	if len(paged) != 3 {
		t.Errorf("paged through %q, want 3 lines", paged)
	}
	s.get("/api/v1/logs?q="+url.QueryEscape(`level>=loud`), 400, nil)
}

func checkRequest(t *testing.T, s *server, want sent) {
	for _, id := range []string{want.requestID, want.traceID} {
		var resp struct {
			Data struct {
				Traces []apiTrace `json:"traces"`
				Logs   []apiLog   `json:"logs"`
			}
		}
		s.get("/api/v1/requests/"+id, 200, &resp)
		if len(resp.Data.Traces) != 1 || resp.Data.Traces[0].TraceID != want.traceID || len(resp.Data.Traces[0].Spans) != 3 {
			t.Errorf("request %s: traces %+v", id, resp.Data.Traces)
		}
		var bodies []string
		for _, l := range resp.Data.Logs {
			bodies = append(bodies, l.Body)
		}
		// Oldest first, including the line that has only the request id.
		wantBodies := []string{"computing fib(10) for user u42", "user has insufficient credit", "credit check failed downstream"}
		if !slices.Equal(bodies, wantBodies) {
			t.Errorf("request %s logs:\n got %q\nwant %q", id, bodies, wantBodies)
		}
	}
	s.get("/api/v1/requests/no-such-request", 404, nil)
}

func checkMetrics(t *testing.T, s *server, service string) {
	var names struct {
		Data []struct {
			Name, Type, Unit, Temporality string
			LabelKeys                     []string `json:"label_keys"`
		}
	}
	s.get("/api/v1/metrics", 200, &names)
	found := map[string]string{}
	for _, m := range names.Data {
		found[m.Name] = m.Type + "/" + m.Temporality + "/" + m.Unit
		if m.Name == "fib.requests" && !slices.Contains(m.LabelKeys, "route") {
			t.Errorf("fib.requests label keys %q lack route", m.LabelKeys)
		}
	}
	if found["fib.requests"] != "sum/cumulative/" || found["fib.duration"] != "histogram/cumulative/ms" {
		t.Errorf("metric list: %v", found)
	}

	query := func(params string) []apiSeries {
		var resp struct{ Data struct{ Series []apiSeries } }
		s.get("/api/v1/metrics/query?"+params+"&filter="+url.QueryEscape("service="+service)+"&step=1h", 200, &resp)
		return resp.Data.Series
	}
	total := func(series []apiSeries) (v float64) {
		for _, se := range series {
			for _, p := range se.Points {
				v += p.Value
			}
		}
		return v
	}
	// A cumulative counter's only point sets the stream's start: its
	// increase is the whole value when the start time is in range.
	if got := query("name=fib.requests&agg=sum&group_by=route"); len(got) != 1 || got[0].Labels["route"] != "/fib/{n}" || total(got) != 10 {
		t.Errorf("fib.requests sum by route: %+v", got)
	}
	if got := query("name=fib.duration&agg=count"); total(got) != 10 {
		t.Errorf("fib.duration count: %+v", got)
	}
	// Samples 5, 15, ..., 95 in buckets (0,5] (5,10] (10,25] (25,50] (50,100]:
	// the median lies in (25,50], p95 in (50,100].
	if got := total(query("name=fib.duration&agg=p50")); got <= 25 || got > 50 {
		t.Errorf("fib.duration p50 = %v, want in (25, 50]", got)
	}
	if got := total(query("name=fib.duration&agg=p95")); got <= 50 || got > 100 {
		t.Errorf("fib.duration p95 = %v, want in (50, 100]", got)
	}
	s.get("/api/v1/metrics/query?name=fib.duration&agg=p200", 400, nil)
	s.get("/api/v1/metrics/query?agg=sum", 400, nil)
}
