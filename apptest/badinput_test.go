package apptest

import (
	"bytes"
	"cmp"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	colmetricspb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

func gz(b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

// TestBadInput sends malformed, truncated, oversized, wrongly typed and
// wrongly encoded requests to every endpoint of the real binary, checks each
// answer, and checks that the server is still healthy and still stores good
// data afterwards.
func TestBadInput(t *testing.T) {
	s := start(t, t.TempDir(), "--max-body-size", "64KB")

	validSpan, _ := proto.Marshal(&coltracepb.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{{
		ScopeSpans: []*tracepb.ScopeSpans{{Spans: []*tracepb.Span{{
			TraceId: bytes.Repeat([]byte{1}, 16), SpanId: bytes.Repeat([]byte{2}, 8), Name: "ok",
			StartTimeUnixNano: uint64(time.Now().UnixNano()), EndTimeUnixNano: uint64(time.Now().UnixNano()),
		}}}},
	}}})
	badID, _ := proto.Marshal(&coltracepb.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{{
		ScopeSpans: []*tracepb.ScopeSpans{{Spans: []*tracepb.Span{
			{TraceId: []byte{1, 2, 3}, SpanId: bytes.Repeat([]byte{2}, 8), Name: "bad", StartTimeUnixNano: uint64(time.Now().UnixNano())},
			{TraceId: bytes.Repeat([]byte{3}, 16), SpanId: bytes.Repeat([]byte{4}, 8), Name: "good", StartTimeUnixNano: uint64(time.Now().UnixNano())},
		}}},
	}}})
	old, _ := proto.Marshal(&coltracepb.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{{
		ScopeSpans: []*tracepb.ScopeSpans{{Spans: []*tracepb.Span{{
			TraceId: bytes.Repeat([]byte{5}, 16), SpanId: bytes.Repeat([]byte{6}, 8), Name: "ancient", StartTimeUnixNano: 1_000_000_000,
		}}}},
	}}})
	big := bytes.Repeat([]byte("x"), 100<<10)
	bomb := gz(bytes.Repeat([]byte{0}, 10<<20)) // 10 MiB of zeros in ~10 KiB

	type req struct {
		name, method, path, ctype, encoding string
		body                                []byte
		status                              int
		contains                            string
	}
	otlp := s.otlpAddr
	ui := s.ui
	cases := []struct {
		addr string
		req
	}{
		// OTLP/HTTP.
		{otlp, req{"wrong method", "GET", "/v1/traces", "", "", nil, 405, ""}},
		{otlp, req{"unknown signal path", "POST", "/v1/profiles", "application/x-protobuf", "", validSpan, 404, ""}},
		{otlp, req{"unknown content type", "POST", "/v1/traces", "text/plain", "", validSpan, 415, "text/plain"}},
		{otlp, req{"no content type", "POST", "/v1/logs", "", "", validSpan, 415, "Content-Type"}},
		{otlp, req{"unknown encoding", "POST", "/v1/traces", "application/x-protobuf", "compress", validSpan, 415, "compress"}},
		{otlp, req{"gzip header but plain body", "POST", "/v1/traces", "application/x-protobuf", "gzip", validSpan, 400, "gzip"}},
		{otlp, req{"truncated gzip", "POST", "/v1/traces", "application/x-protobuf", "gzip", gz(validSpan)[:20], 400, "gzip"}},
		{otlp, req{"truncated protobuf", "POST", "/v1/traces", "application/x-protobuf", "", validSpan[:len(validSpan)-7], 400, "protobuf"}},
		{otlp, req{"garbage protobuf", "POST", "/v1/metrics", "application/x-protobuf", "", []byte{0xff, 0xff, 0xff, 0xff}, 400, "protobuf"}},
		{otlp, req{"invalid JSON", "POST", "/v1/logs", "application/json", "", []byte(`{"resourceLogs": [`), 400, "JSON"}},
		{otlp, req{"wrongly typed JSON", "POST", "/v1/traces", "application/json", "", []byte(`{"resourceSpans": {"a": 1}}`), 400, "JSON"}},
		{otlp, req{"bad hex id in JSON", "POST", "/v1/traces", "application/json", "",
			[]byte(`{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"zz","spanId":"0102030405060708","name":"x","startTimeUnixNano":"1"}]}]}]}`), 400, "traceId"}},
		{otlp, req{"oversized body", "POST", "/v1/traces", "application/x-protobuf", "", big, 413, ""}},
		{otlp, req{"gzip bomb", "POST", "/v1/logs", "application/x-protobuf", "gzip", bomb, 413, ""}},
		{otlp, req{"one bad span of two: partial success", "POST", "/v1/traces", "application/x-protobuf", "", badID, 200, ""}},
		{otlp, req{"span older than retention", "POST", "/v1/traces", "application/x-protobuf", "", old, 400, "rejected"}},
		{otlp, req{"empty body", "POST", "/v1/traces", "application/x-protobuf", "", nil, 200, ""}},
		// Query API.
		{ui, req{"bad from", "GET", "/api/v1/services?from=yesterday", "", "", nil, 400, "from"}},
		{ui, req{"from after to", "GET", "/api/v1/logs?from=now-1h&to=now-2h", "", "", nil, 400, "from"}},
		{ui, req{"range too long", "GET", "/api/v1/logs?from=now-400d", "", "", nil, 400, "range"}},
		{ui, req{"negative limit", "GET", "/api/v1/logs?limit=-3", "", "", nil, 400, "limit"}},
		{ui, req{"non-numeric limit", "GET", "/api/v1/traces?limit=ten", "", "", nil, 400, "limit"}},
		{ui, req{"unbalanced filter", "GET", "/api/v1/logs?q=(service:a", "", "", nil, 400, "parenthesis"}},
		{ui, req{"unknown level", "GET", "/api/v1/logs?q=level>=loud", "", "", nil, 400, "loud"}},
		{ui, req{"injection attempt is just text", "GET", "/api/v1/logs?q=%22%27%3B%20DROP%20TABLE%20logs%3B--%22", "", "", nil, 200, ""}},
		{ui, req{"bad cursor", "GET", "/api/v1/logs?cursor=notacursor", "", "", nil, 400, "cursor"}},
		{ui, req{"bad trace id", "GET", "/api/v1/traces/xyz", "", "", nil, 400, "trace"}},
		{ui, req{"unknown trace", "GET", "/api/v1/traces/0102030405060708090a0b0c0d0e0f10", "", "", nil, 404, ""}},
		{ui, req{"bad min_duration", "GET", "/api/v1/traces?min_duration=soon", "", "", nil, 400, "min_duration"}},
		{ui, req{"bad status", "GET", "/api/v1/traces?status=purple", "", "", nil, 400, "status"}},
		{ui, req{"unknown request", "GET", "/api/v1/requests/nope", "", "", nil, 404, ""}},
		{ui, req{"metric query without name", "GET", "/api/v1/metrics/query?agg=sum", "", "", nil, 400, "name"}},
		{ui, req{"unknown aggregation", "GET", "/api/v1/metrics/query?name=x&agg=median", "", "", nil, 400, "agg"}},
		{ui, req{"too many points", "GET", "/api/v1/metrics/query?name=x&step=1s&from=now-30d", "", "", nil, 400, "points"}},
		{ui, req{"bad step", "GET", "/api/v1/metrics/query?name=x&step=-5s", "", "", nil, 400, "step"}},
		{ui, req{"unknown API path", "GET", "/api/v1/nothing", "", "", nil, 404, ""}},
		{ui, req{"write method on API", "POST", "/api/v1/services", "", "", nil, 405, ""}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, _ := http.NewRequest(c.method, "http://"+c.addr+c.path, bytes.NewReader(c.body))
			if c.ctype != "" {
				r.Header.Set("Content-Type", c.ctype)
			}
			if c.encoding != "" {
				r.Header.Set("Content-Encoding", c.encoding)
			}
			resp, err := s.client.Do(r)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != c.status {
				t.Errorf("status %d, want %d; body %q", resp.StatusCode, c.status, body)
			}
			if c.contains != "" && !strings.Contains(strings.ToLower(string(body)), strings.ToLower(c.contains)) {
				t.Errorf("body %q does not mention %q", body, c.contains)
			}
		})
	}

	// gRPC: invalid records and an oversized message.
	conn, err := grpc.NewClient(s.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := coltracepb.NewTraceServiceClient(conn)
	var oldReq coltracepb.ExportTraceServiceRequest
	proto.Unmarshal(old, &oldReq)
	if _, err := client.Export(context.Background(), &oldReq); status.Code(err) != codes.InvalidArgument {
		t.Errorf("gRPC export of an ancient span: %v, want InvalidArgument", err)
	}
	var partial coltracepb.ExportTraceServiceRequest
	proto.Unmarshal(badID, &partial)
	resp, err := client.Export(context.Background(), &partial)
	if err != nil || resp.GetPartialSuccess().GetRejectedSpans() != 1 || !strings.Contains(resp.GetPartialSuccess().GetErrorMessage(), "trace_id") {
		t.Errorf("gRPC partial success: %v, %v", resp, err)
	}
	huge := &coltracepb.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{{ScopeSpans: []*tracepb.ScopeSpans{{
		Spans: []*tracepb.Span{{TraceId: bytes.Repeat([]byte{1}, 16), SpanId: bytes.Repeat([]byte{1}, 8), Name: string(big)}},
	}}}}}
	if _, err := client.Export(context.Background(), huge); status.Code(err) != codes.ResourceExhausted {
		t.Errorf("gRPC oversized export: %v, want ResourceExhausted", err)
	}

	// Still healthy, and still storing: the good span of the partial request
	// and a new valid one are there.
	s.healthy()
	r, _ := http.NewRequest("POST", "http://"+otlp+"/v1/traces", bytes.NewReader(validSpan))
	r.Header.Set("Content-Type", "application/x-protobuf")
	if resp, err := s.client.Do(r); err != nil || resp.StatusCode != 200 {
		t.Fatalf("valid export after bad input: %v %v", resp, err)
	}
	var got struct{ Data []struct{ Name string } }
	s.get("/api/v1/traces/01010101010101010101010101010101", 200, nil)
	s.get("/api/v1/traces/03030303030303030303030303030303", 200, nil)
	s.get("/api/v1/services", 200, &got)
	if len(got.Data) != 1 || got.Data[0].Name != "unknown_service" {
		t.Errorf("services after bad input: %+v", got.Data)
	}
}

// Hostile strings sent in every parameter, path segment and filter.
const (
	sqlInjection = `' OR 1=1; DROP TABLE logs; --`
	badUTF8      = "\xff\xfe\xc0\x80"
	// xss is made into markup if a page forgets to escape it.
	xss = `<script>alert(1337)</script>"><img src=x onerror=alert(1337)>`
)

// hostileCase is one request of TestHostileInput and its expected answer.
type hostileCase struct {
	name     string
	ingest   bool // the ingest port, else the UI port
	method   string
	path     string // escaped
	ctype    string
	body     []byte
	status   int
	contains string // in the answer, case-insensitive
}

// TestHostileInput sends hostile input to every endpoint of both ports and
// over OTLP/gRPC: oversized and malformed bodies, deeply nested JSON,
// invalid UTF-8, huge attribute counts and values, SQL injection in every
// parameter, markup in stored records (fetched back through the pages, it
// must come out escaped), path traversal, absurd ranges and numbers. Every
// row has its expected status; afterwards the server must be healthy, the
// seeded records intact and still queryable.
func TestHostileInput(t *testing.T) {
	s := start(t, t.TempDir(), "--max-body-size", "12MB", "--ingest-auth=true")
	proj := s.project()
	ingest := &http.Client{Transport: ingestKey{host: s.otlpAddr, key: proj.PublicKey}}
	traceID := seedHostile(t, s, ingest, proj)

	// The issue of the seeded event, for the issue routes.
	var issues struct {
		Data []struct {
			ID int64 `json:"id"`
		} `json:"data"`
	}
	s.get("/api/v1/issues?from=now-1h", 200, &issues)
	if len(issues.Data) != 1 {
		t.Fatalf("%d issues after the seed, want 1", len(issues.Data))
	}
	issue := fmt.Sprint(issues.Data[0].ID)

	cases := hostileCases(t, proj, issue, traceID)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			addr := s.ui
			if c.ingest {
				addr = s.otlpAddr
			}
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			r, err := http.NewRequestWithContext(ctx, cmp.Or(c.method, "GET"), "http://"+addr+c.path, bytes.NewReader(c.body))
			if err != nil {
				t.Fatal(err)
			}
			if c.ctype != "" {
				r.Header.Set("Content-Type", c.ctype)
			}
			if c.method == "POST" && !c.ingest {
				r.Header.Set("Origin", "http://"+addr) // same origin: a form post from the page
			}
			if strings.HasPrefix(c.path, fmt.Sprintf("/api/%d/", proj.ID)) {
				r.Header.Set("X-Sentry-Auth", "Sentry sentry_version=7, sentry_key="+proj.PublicKey)
			}
			client := s.client
			if c.ingest {
				client = ingest
			}
			resp, err := client.Do(r)
			if err != nil {
				t.Fatalf("%.200s", err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != c.status {
				t.Errorf("status %d, want %d; body %.300q", resp.StatusCode, c.status, bodyText(body))
			}
			if c.contains != "" && !strings.Contains(strings.ToLower(string(body)), strings.ToLower(c.contains)) {
				t.Errorf("body %.300q does not mention %q", body, c.contains)
			}
			html := strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html")
			if html && (bytes.Contains(body, []byte("<script>alert(1337)")) || bytes.Contains(body, []byte("<img src=x onerror"))) {
				t.Errorf("the answer has the markup unescaped: %.300q", body)
			}
			if bytes.Contains(body, []byte("root:x:0:0")) || bytes.Contains(body, []byte("module github.com/fibinc")) {
				t.Errorf("the answer has a file from outside /static/: %.300q", body)
			}
		})
	}

	hostileGRPC(t, s, proj.PublicKey)

	// Healthy, the seeded records intact, and a simple query still works.
	s.healthy()
	var logs struct{ Data []struct{ Body string } }
	s.get("/api/v1/logs?from=now-1h&q=%22seed-marker%22", 200, &logs)
	if len(logs.Data) != 1 || !strings.Contains(logs.Data[0].Body, xss) {
		t.Errorf("seeded log after the hostile input: %+v", logs.Data)
	}
	s.get("/api/v1/traces/"+traceID, 200, nil)
	s.get("/api/v1/issues/"+issue, 200, nil)
	var services struct{ Data []struct{ Name string } }
	s.get("/api/v1/services?from=now-1h", 200, &services)
	if len(services.Data) == 0 {
		t.Errorf("no service after the hostile input")
	}
}

// seedHostile stores records whose text is markup (a log, a span, an error
// event, a metric point) and waits until they can be read; it returns the
// span's trace id.
func seedHostile(t *testing.T, s *server, ingest *http.Client, proj apiProject) string {
	t.Helper()
	now := uint64(time.Now().UnixNano())
	traceID := bytes.Repeat([]byte{0xab}, 16)
	res := &resourcepb.Resource{Attributes: []*commonpb.KeyValue{otlpKV("service.name", "hostile-svc"), otlpKV("xss", xss)}}
	logs, _ := proto.Marshal(&collogspb.ExportLogsServiceRequest{ResourceLogs: []*logspb.ResourceLogs{{Resource: res,
		ScopeLogs: []*logspb.ScopeLogs{{LogRecords: []*logspb.LogRecord{{TimeUnixNano: now, SeverityNumber: logspb.SeverityNumber_SEVERITY_NUMBER_ERROR,
			Body: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: "seed-marker " + xss}}, TraceId: traceID,
			Attributes: []*commonpb.KeyValue{otlpKV("request.id", "hostile-req"), otlpKV(xss, xss)}}}}}}}})
	spans, _ := proto.Marshal(&coltracepb.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{{Resource: res,
		ScopeSpans: []*tracepb.ScopeSpans{{Spans: []*tracepb.Span{{TraceId: traceID, SpanId: bytes.Repeat([]byte{0xcd}, 8), Name: "GET " + xss,
			Kind: tracepb.Span_SPAN_KIND_SERVER, StartTimeUnixNano: now - 1e6, EndTimeUnixNano: now,
			Status:     &tracepb.Status{Code: tracepb.Status_STATUS_CODE_ERROR, Message: xss},
			Attributes: []*commonpb.KeyValue{otlpKV("request.id", "hostile-req"), otlpKV("http.route", xss)}}}}}}}})
	metrics, _ := proto.Marshal(&colmetricspb.ExportMetricsServiceRequest{ResourceMetrics: []*metricspb.ResourceMetrics{{Resource: res,
		ScopeMetrics: []*metricspb.ScopeMetrics{{Metrics: []*metricspb.Metric{{Name: "hostile_gauge", Description: xss, Unit: xss,
			Data: &metricspb.Metric_Gauge{Gauge: &metricspb.Gauge{DataPoints: []*metricspb.NumberDataPoint{{TimeUnixNano: now,
				Value: &metricspb.NumberDataPoint_AsDouble{AsDouble: 1}, Attributes: []*commonpb.KeyValue{otlpKV("label", xss)}}}}}}}}}}}})
	event := fmt.Sprintf(`{"event_id":"0123456789abcdef0123456789abcdef","platform":"go","level":"error","message":%q,"tags":{"service":%q},`+
		`"exception":{"values":[{"type":%q,"value":%q}]},"user":{"id":%q},"request":{"url":%q}}`, xss, xss, xss, xss, xss, "http://x/"+xss)
	for _, p := range []struct {
		path, ctype string
		body        []byte
	}{
		{"/v1/logs", "application/x-protobuf", logs},
		{"/v1/traces", "application/x-protobuf", spans},
		{"/v1/metrics", "application/x-protobuf", metrics},
		{fmt.Sprintf("/api/%d/store/?sentry_key=%s", proj.ID, proj.PublicKey), "application/json", []byte(event)},
		{"/api/v1/logs", "application/x-ndjson", []byte(fmt.Sprintf(`{"level":"error","msg":%q,"service":%q,"request_id":"hostile-req"}`+"\n", xss, xss))},
	} {
		resp, err := ingest.Post("http://"+s.otlpAddr+p.path, p.ctype, bytes.NewReader(p.body))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("seed %s: status %d: %s", p.path, resp.StatusCode, b)
		}
	}
	return fmt.Sprintf("%x", traceID)
}

func otlpKV(k, v string) *commonpb.KeyValue {
	return &commonpb.KeyValue{Key: k, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: v}}}
}

// manyAttributes returns an OTLP logs request of one record with n
// attributes, and one with an attribute value of size bytes.
func manyAttributes(n, size int) (many, long []byte) {
	attrs := make([]*commonpb.KeyValue, n)
	for i := range attrs {
		attrs[i] = otlpKV(fmt.Sprintf("k%d", i), "v")
	}
	rec := func(attrs []*commonpb.KeyValue) []byte {
		b, _ := proto.Marshal(&collogspb.ExportLogsServiceRequest{ResourceLogs: []*logspb.ResourceLogs{{
			ScopeLogs: []*logspb.ScopeLogs{{LogRecords: []*logspb.LogRecord{{TimeUnixNano: uint64(time.Now().UnixNano()),
				Body: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: "attributes"}}, Attributes: attrs}}}}}}})
		return b
	}
	return rec(attrs), rec([]*commonpb.KeyValue{otlpKV("long", strings.Repeat("v", size))})
}

// nested returns JSON nested n levels deep: n arrays around a value, as
// the value of the given top-level key.
func nested(key string, n int) []byte {
	return []byte(`{"` + key + `":` + strings.Repeat("[", n) + "1" + strings.Repeat("]", n) + "}")
}

// u returns path with the query parameters k1, v1, k2, v2... escaped.
func u(path string, kv ...string) string {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	if len(v) == 0 {
		return path
	}
	return path + "?" + v.Encode()
}

func hostileCases(t *testing.T, proj apiProject, issue, traceID string) []hostileCase {
	t.Helper()
	many, long := manyAttributes(100_000, 10<<20)
	deep := 100_000
	envelopePath := fmt.Sprintf("/api/%d/envelope/", proj.ID)
	storePath := fmt.Sprintf("/api/%d/store/", proj.ID)
	sqli, bad := url.PathEscape(sqlInjection), url.PathEscape(badUTF8)
	cases := []hostileCase{
		// Ingest: OTLP/HTTP.
		{name: "otlp 100k attributes", ingest: true, method: "POST", path: "/v1/logs", ctype: "application/x-protobuf", body: many, status: 200},
		{name: "otlp 10MB attribute value", ingest: true, method: "POST", path: "/v1/logs", ctype: "application/x-protobuf", body: long, status: 200},
		{name: "otlp oversized body", ingest: true, method: "POST", path: "/v1/traces", ctype: "application/x-protobuf", body: bytes.Repeat([]byte{0}, 13<<20), status: 413},
		{name: "otlp JSON nested 100k levels", ingest: true, method: "POST", path: "/v1/logs", ctype: "application/json", body: nested("resourceLogs", deep), status: 400},
		{name: "otlp JSON invalid UTF-8", ingest: true, method: "POST", path: "/v1/logs", ctype: "application/json",
			body: []byte(`{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"stringValue":"` + badUTF8 + `"}}]}]}]}`), status: 400, contains: "UTF-8"},
		{name: "otlp protobuf invalid UTF-8", ingest: true, method: "POST", path: "/v1/logs", ctype: "application/x-protobuf", body: invalidUTF8Logs(), status: 400, contains: "UTF-8"},
		{name: "otlp path with invalid UTF-8", ingest: true, method: "POST", path: "/v1/" + bad, ctype: "application/x-protobuf", status: 404},
		{name: "otlp path traversal", ingest: true, method: "POST", path: "/v1/../../etc/passwd", ctype: "application/x-protobuf", status: 404},
		// Ingest: JSON log lines.
		{name: "json logs nested 100k levels", ingest: true, method: "POST", path: "/api/v1/logs", ctype: "application/json", body: nested("msg", deep), status: 400},
		{name: "json logs invalid UTF-8", ingest: true, method: "POST", path: "/api/v1/logs", ctype: "application/x-ndjson", body: []byte(`{"msg":"` + badUTF8 + `"}` + "\n"), status: 200},
		{name: "json logs 100k fields", ingest: true, method: "POST", path: "/api/v1/logs", ctype: "application/x-ndjson", body: manyFields(100_000), status: 400, contains: "exceeds the limit"},
		{name: "json logs 10MB field", ingest: true, method: "POST", path: "/api/v1/logs", ctype: "application/x-ndjson",
			body: []byte(`{"msg":"long","field":"` + strings.Repeat("v", 10<<20) + `"}` + "\n"), status: 400, contains: "exceeds the limit"},
		{name: "json logs 10k fields", ingest: true, method: "POST", path: "/api/v1/logs", ctype: "application/x-ndjson", body: manyFields(10_000), status: 200},
		{name: "json logs not JSON", ingest: true, method: "POST", path: "/api/v1/logs", ctype: "application/x-ndjson", body: []byte("\x00\x01<html>\n"), status: 400},
		{name: "json logs oversized", ingest: true, method: "POST", path: "/api/v1/logs", ctype: "application/x-ndjson", body: bytes.Repeat([]byte("{}\n"), 5<<20), status: 413},
		// Ingest: Sentry.
		{name: "sentry store nested 100k levels", ingest: true, method: "POST", path: storePath, ctype: "application/json", body: nested("extra", deep), status: 400},
		{name: "sentry envelope nested 100k levels", ingest: true, method: "POST", path: envelopePath, ctype: "application/x-sentry-envelope",
			body: append([]byte("{}\n{\"type\":\"event\"}\n"), nested("extra", deep)...), status: 400},
		{name: "sentry envelope header not JSON", ingest: true, method: "POST", path: envelopePath, body: []byte("\xff\xfe\n{\"type\":\"event\"}\n{}\n"), status: 400},
		{name: "sentry store invalid UTF-8", ingest: true, method: "POST", path: storePath, ctype: "application/json", body: []byte(`{"message":"` + badUTF8 + `"}`), status: 200},
		{name: "sentry store 10MB message", ingest: true, method: "POST", path: storePath, ctype: "application/json",
			body: []byte(`{"message":"` + strings.Repeat("m", 10<<20) + `"}`), status: 413},
		{name: "sentry store 100k tags", ingest: true, method: "POST", path: storePath, ctype: "application/json", body: manyTags(100_000), status: 413, contains: "too large"},
		{name: "sentry store 10k tags", ingest: true, method: "POST", path: storePath, ctype: "application/json", body: manyTags(10_000), status: 200},
		{name: "sentry project id injection", ingest: true, method: "POST", path: "/api/" + sqli + "/store/", ctype: "application/json", body: []byte(`{}`), status: 404},
		{name: "sentry project id huge", ingest: true, method: "POST", path: "/api/99999999999999999999/store/", ctype: "application/json", body: []byte(`{}`), status: 404},
		{name: "sentry negative project", ingest: true, method: "POST", path: "/api/-1/store/", ctype: "application/json", body: []byte(`{}`), status: 404},
		{name: "sentry key injection", ingest: true, method: "POST", path: storePath[:len(storePath)-1] + "?sentry_key=" + url.QueryEscape(sqlInjection), ctype: "application/json", body: []byte(`{}`), status: 401, contains: "missing or invalid ingest key"},

		{name: "sentry preflight from anywhere", ingest: true, method: "OPTIONS", path: envelopePath, status: 200},
		{name: "sentry unknown endpoint", ingest: true, method: "POST", path: fmt.Sprintf("/api/%d/", proj.ID) + url.PathEscape(xss) + "/", status: 404},

		// UI port: health, self-metrics, profiles, reload.
		{name: "healthz with junk", path: u("/healthz", "q", sqlInjection), status: 200},
		{name: "readyz with junk", path: "/readyz?" + url.QueryEscape(badUTF8), status: 200},
		{name: "metrics with junk", path: u("/metrics", "name[]", sqlInjection), status: 200},
		{name: "pprof named profile junk", path: u("/debug/pprof/heap", "gc", sqlInjection, "debug", xss), status: 200},
		{name: "pprof unknown profile", path: "/debug/pprof/" + url.PathEscape(xss), status: 404},
		{name: "reload with a body", method: "POST", path: "/-/reload", ctype: "application/json", body: nested("x", deep), status: 200},

		// UI port: static files.
		{name: "static traversal", path: "/static/../../../../etc/passwd", status: 404},
		{name: "static encoded traversal", path: "/static/..%2f..%2f..%2fgo.mod", status: 404},
		{name: "static double encoded", path: "/static/%252e%252e/%252e%252e/go.mod", status: 404},
		{name: "static invalid UTF-8", path: "/static/" + bad, status: 404},
		{name: "unknown page with markup", path: "/" + url.PathEscape(xss), status: 404},

		// Pages.
		{name: "board absurd range", path: u("/", "from", "now-1000000d"), status: 400},
		{name: "board from 0", path: u("/", "from", "0", "to", "99999999999999"), status: 400},
		{name: "search markup", path: u("/search", "q", xss), status: 200},
		{name: "search invalid UTF-8", path: u("/search", "q", badUTF8), status: 400, contains: "UTF-8"},
		{name: "service page markup", path: "/services/" + url.PathEscape(xss), status: 200},
		{name: "service page injection", path: "/services/" + sqli, status: 404, contains: "no service"},
		{name: "service page invalid UTF-8", path: "/services/" + bad, status: 400, contains: "UTF-8"},
		{name: "services env injection", path: u("/services", "env", sqlInjection), status: 200},
		{name: "map injection", path: u("/map", "env", sqlInjection), status: 200},
		{name: "logs page injection", path: u("/logs", "q", sqlInjection), status: 400, contains: "expected a term"},
		{name: "logs page markup", path: u("/logs", "q", "seed-marker"), status: 200, contains: "seed-marker &lt;script&gt;"},
		{name: "logs page huge limit", path: u("/logs", "limit", "99999999999999999999"), status: 400},
		{name: "logs page bad cursor", path: u("/logs", "cursor", sqlInjection), status: 400},
		{name: "logs tail injection", path: u("/logs/tail", "q", sqlInjection, "since", sqlInjection), status: 400},
		{name: "request page markup", path: "/requests/" + url.PathEscape(xss), status: 404},
		{name: "request page seeded", path: "/requests/hostile-req", status: 200},
		{name: "request lookup without id", path: u("/requests/", "id", xss, "fallback", sqlInjection), status: 400, contains: "no request id"},
		{name: "request page injection", path: u("/requests/"+sqli, "span", sqlInjection), status: 400, contains: "span"},
		{name: "errors page injection", path: u("/errors", "service", sqlInjection, "search", sqlInjection), status: 200},
		{name: "errors page markup", path: u("/errors", "search", "alert"), status: 200},
		{name: "errors bad status", path: u("/errors", "status", xss), status: 400},
		{name: "errors bad sort", path: u("/errors", "sort", sqlInjection), status: 400},
		{name: "errors negative page", path: u("/errors", "page", "-1"), status: 400},
		{name: "issue page seeded", path: "/errors/" + issue, status: 200},
		{name: "issue page injection", path: "/errors/" + sqli, status: 400},
		{name: "issue page huge id", path: "/errors/99999999999999999999", status: 400},
		{name: "issue page negative id", path: "/errors/-5", status: 400},
		{name: "issue event injection", path: u("/errors/"+issue, "event", sqlInjection), status: 400, contains: "32 hex"},
		{name: "issue status injection", method: "POST", path: "/errors/" + issue + "/status", ctype: "application/x-www-form-urlencoded",
			body: []byte("status=" + url.QueryEscape(sqlInjection)), status: 400},
		{name: "explore injection", path: u("/explore", "metric", sqlInjection, "agg", sqlInjection, "filter", sqlInjection), status: 200},
		{name: "explore promql markup", path: u("/explore", "mode", "promql", "promql", xss), status: 400},
		{name: "explore promql injection", path: u("/explore", "mode", "promql", "promql", `hostile_gauge{label="`+sqlInjection+`"}`), status: 200},
		{name: "explore find", path: u("/explore", "find", sqlInjection), status: 200},
		{name: "explore absurd step", path: u("/explore", "metric", "hostile_gauge", "step", "1ns"), status: 400},
		{name: "checks page range", path: u("/checks", "range", sqlInjection), status: 200},
		{name: "check page unknown", path: u("/checks/"+sqli, "bar", "-1"), status: 404},
		{name: "alerts page", path: "/alerts/" + url.PathEscape(xss), status: 404},
		{name: "alerts list junk", path: u("/alerts", "q", xss), status: 200},
		{name: "silences list junk", path: u("/silences", "q", xss), status: 200},
		{name: "silences create injection", method: "POST", path: "/silences", ctype: "application/x-www-form-urlencoded",
			body: []byte("duration=" + url.QueryEscape(sqlInjection) + "&ends=" + url.QueryEscape(xss)), status: 400},
		{name: "silence expire injection", method: "POST", path: "/silences/" + sqli + "/expire", ctype: "application/x-www-form-urlencoded", status: 404},
		{name: "notifications page", path: u("/notifications", "channel", sqlInjection, "limit", "-1"), status: 400},

		// API.
		{name: "api services injection", path: u("/api/v1/services", "env", sqlInjection), status: 200},
		{name: "api services absurd range", path: u("/api/v1/services", "from", "-99999999999999999999"), status: 400},
		{name: "api traces injection", path: u("/api/v1/traces", "service", sqlInjection, "operation", sqlInjection, "q", sqlInjection), status: 200},
		{name: "api traces huge duration", path: u("/api/v1/traces", "min_duration", "99999999999h"), status: 400},
		{name: "api traces huge limit", path: u("/api/v1/traces", "limit", "1000000000"), status: 400, contains: "maximum of 10000 rows"},
		{name: "api trace id injection", path: "/api/v1/traces/" + sqli, status: 400},
		{name: "api trace id invalid UTF-8", path: "/api/v1/traces/" + bad, status: 400},
		{name: "api logs injection", path: u("/api/v1/logs", "q", `service:"`+sqlInjection+`" `+sqlInjection), status: 400, contains: "expected a term"},
		{name: "api logs invalid UTF-8", path: u("/api/v1/logs", "q", badUTF8), status: 400, contains: "UTF-8"},
		{name: "api logs filter nested 100k", path: u("/api/v1/logs", "q", strings.Repeat("(", 100_000)+"a"+strings.Repeat(")", 100_000)), status: 400},
		{name: "api logs limit overflow", path: u("/api/v1/logs", "limit", "99999999999999999999"), status: 400},
		{name: "api request injection", path: "/api/v1/requests/" + sqli, status: 404},
		{name: "api metrics injection", path: u("/api/v1/metrics", "q", sqlInjection), status: 200},
		{name: "api metric query injection", path: u("/api/v1/metrics/query", "name", sqlInjection, "filter", sqlInjection, "group_by", sqlInjection), status: 400},
		{name: "api metric query group by injection", path: u("/api/v1/metrics/query", "name", "hostile_gauge", "group_by", sqlInjection), status: 400},
		{name: "api issues injection", path: u("/api/v1/issues", "q", sqlInjection, "service", sqlInjection, "environment", sqlInjection, "release", sqlInjection), status: 200},
		{name: "api issues bad sort", path: u("/api/v1/issues", "sort", sqlInjection), status: 400},
		{name: "api issues negative offset", path: u("/api/v1/issues", "offset", "-1"), status: 400},
		{name: "api issues project injection", path: u("/api/v1/issues", "project", sqlInjection), status: 400},
		{name: "api issue injection", path: "/api/v1/issues/" + sqli, status: 400},
		{name: "api issue huge", path: "/api/v1/issues/99999999999999999999", status: 400},
		{name: "api issue events injection", path: u("/api/v1/issues/"+issue+"/events", "q", sqlInjection, "limit", "-1"), status: 400},
		{name: "api issue status injection", method: "POST", path: "/api/v1/issues/" + issue + "/status", ctype: "application/json",
			body: []byte(`{"status":"` + sqlInjection + `"}`), status: 400},
		{name: "api issue status nested", method: "POST", path: "/api/v1/issues/" + issue + "/status", ctype: "application/json", body: nested("status", deep), status: 400},
		{name: "api event injection", path: "/api/v1/events/" + sqli, status: 400},
		{name: "api service series injection", path: u("/api/v1/services/"+sqli+"/series", "env", sqlInjection, "step", "0s"), status: 404, contains: "not found"},
		{name: "api service operations injection", path: u("/api/v1/services/"+sqli+"/operations", "limit", "-1"), status: 404, contains: "not found"},
		{name: "api service dependencies injection", path: "/api/v1/services/" + sqli + "/dependencies", status: 404, contains: "not found"},
		{name: "api service versions injection", path: "/api/v1/services/" + bad + "/versions", status: 400, contains: "UTF-8"},
		{name: "api service slowest injection", path: u("/api/v1/services/"+sqli+"/slowest", "name", sqlInjection, "offset", "-1"), status: 404, contains: "not found"},
		{name: "api series services", path: u("/api/v1/series/services", "step", "1ns"), status: 400},
		{name: "api service map injection", path: u("/api/v1/service-map", "env", sqlInjection), status: 200},
		{name: "api config put nested", method: "PUT", path: "/api/v1/config", ctype: "application/yaml", body: []byte(strings.Repeat("[", deep) + strings.Repeat("]", deep)), status: 400},
		{name: "api config put invalid UTF-8", method: "PUT", path: "/api/v1/config", ctype: "application/yaml", body: []byte("checks:\n  - name: \"" + badUTF8 + "\"\n"), status: 400},
		{name: "api rules injection", path: u("/api/v1/rules/"+sqli, "limit", "-1"), status: 400, contains: "limit"},
		{name: "api alerts", path: "/api/v1/alerts", status: 200},
		{name: "api checks injection", path: u("/api/v1/checks/"+sqli+"/results", "from", sqlInjection, "limit", "99999999999999999999"), status: 400, contains: "from"},
		{name: "api push unknown check", path: u("/api/v1/push/"+sqli, "token", sqlInjection, "status", xss, "msg", xss, "duration_ms", "-1"), status: 400, contains: "status"},
		{name: "api silences create nested", method: "POST", path: "/api/v1/silences", ctype: "application/json", body: nested("matchers", 30_000), status: 400},
		{name: "api silences create injection", method: "POST", path: "/api/v1/silences", ctype: "application/json",
			body: []byte(`{"matchers":[{"name":"` + sqlInjection + `","value":"` + badUTF8 + `"}],"ends_at":"` + sqlInjection + `"}`), status: 400},
		{name: "api silence delete injection", method: "DELETE", path: "/api/v1/silences/" + sqli, status: 404, contains: "not found"},
		{name: "api notifications injection", path: u("/api/v1/notifications", "channel", sqlInjection, "limit", "99999999999"), status: 400},
		{name: "api channels", path: "/api/v1/channels", status: 200},
		{name: "api checks list", path: u("/api/v1/checks", "q", sqlInjection), status: 200},
		{name: "api rules list", path: u("/api/v1/rules", "q", sqlInjection), status: 200},
		{name: "api config get", path: u("/api/v1/config", "q", sqlInjection), status: 200},
		{name: "api buildinfo", path: "/api/v1/status/buildinfo", status: 200},
		{name: "api projects", path: "/api/v1/projects", status: 200},
		// PromQL API.
		{name: "promql injection in matcher", path: u("/api/v1/query", "query", `hostile_gauge{label="`+sqlInjection+`"}`), status: 200},
		{name: "promql injection in name", path: u("/api/v1/query", "query", `{__name__="`+sqlInjection+`"}`), status: 200},
		{name: "promql regex injection", path: u("/api/v1/query", "query", `{__name__=~".*", label=~"'.*(--|;).*"}`), status: 200},
		{name: "promql bad regex", path: u("/api/v1/query", "query", `{__name__=~"(("}`), status: 400},
		{name: "promql invalid UTF-8", path: u("/api/v1/query", "query", `{__name__="`+badUTF8+`"}`), status: 400},
		{name: "promql nested 100k", path: u("/api/v1/query", "query", strings.Repeat("(", deep)+"1"+strings.Repeat(")", deep)), status: 400, contains: "bytes"},
		{name: "promql absurd range", path: u("/api/v1/query_range", "query", "hostile_gauge", "start", "-99999999999", "end", "99999999999", "step", "1"), status: 400},
		{name: "promql zero step", path: u("/api/v1/query_range", "query", "hostile_gauge", "start", "0", "end", "1", "step", "0"), status: 400},
		{name: "promql NaN time", path: u("/api/v1/query", "query", "1", "time", "NaN"), status: 400},
		{name: "promql huge limit", path: u("/api/v1/series", "match[]", `{__name__="`+sqlInjection+`"}`, "limit", "-1"), status: 400},
		{name: "promql label values injection", path: u("/api/v1/label/"+sqli+"/values", "match[]", sqlInjection), status: 400},
		{name: "promql label values name", path: "/api/v1/label/__name__/values", status: 200},
		{name: "promql labels injection", path: u("/api/v1/labels", "match[]", `{label="`+sqlInjection+`"}`), status: 200},
		{name: "promql metadata injection", path: u("/api/v1/metadata", "metric", sqlInjection, "limit", "-5"), status: 200},
		{name: "promql form post", method: "POST", path: "/api/v1/query", ctype: "application/x-www-form-urlencoded",
			body: []byte("query=" + url.QueryEscape(`count_values("`+sqlInjection+`", hostile_gauge)`)), status: 200},
		{name: "unknown API path with markup", path: "/api/v1/" + url.PathEscape(xss), status: 404},
	}
	// The seeded markup, through every page that shows it: escaped.
	for _, p := range []string{"/", "/services", "/services/hostile-svc", "/map", "/errors?status=all", "/errors/" + issue,
		"/explore?metric=hostile_gauge", "/explore?mode=promql&promql=hostile_gauge", "/requests/hostile-req", "/requests/" + traceID,
		"/search?q=hostile", "/logs?q=service:hostile-svc", "/api/v1/logs?q=seed-marker", "/api/v1/issues/" + issue + "/events"} {
		c := hostileCase{name: "markup escaped in " + p, path: p, status: 200}
		if strings.HasPrefix(p, "/errors") || strings.HasPrefix(p, "/requests/") || strings.HasPrefix(p, "/logs") {
			c.contains = "&lt;script&gt;alert(1337)" // shown, as text
		}
		cases = append(cases, c)
	}
	return cases
}

// invalidUTF8Logs is an OTLP logs request whose body string is not UTF-8
// (proto3 strings must be).
func invalidUTF8Logs() []byte {
	good, _ := proto.Marshal(&collogspb.ExportLogsServiceRequest{ResourceLogs: []*logspb.ResourceLogs{{
		ScopeLogs: []*logspb.ScopeLogs{{LogRecords: []*logspb.LogRecord{{TimeUnixNano: uint64(time.Now().UnixNano()),
			Body: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: "ABCD"}}}}}}}}})
	return bytes.Replace(good, []byte("ABCD"), []byte(badUTF8), 1)
}

// manyFields is a JSON log line with n fields.
func manyFields(n int) []byte {
	var b bytes.Buffer
	b.WriteString(`{"msg":"fields"`)
	for i := range n {
		fmt.Fprintf(&b, `,"f%d":%d`, i, i)
	}
	b.WriteString("}\n")
	return b.Bytes()
}

// manyTags is a Sentry event with n tags.
func manyTags(n int) []byte {
	var b bytes.Buffer
	b.WriteString(`{"message":"tags","tags":{`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"t%d":"%d"`, i, i)
	}
	b.WriteString("}}")
	return b.Bytes()
}

// hostileGRPC sends hostile OTLP/gRPC exports: invalid UTF-8, 100k
// attributes, a 10 MB attribute value, and a message over the limit.
func hostileGRPC(t *testing.T, s *server, key string) {
	conn, err := grpc.NewClient(s.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(64<<20)))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	many, long := manyAttributes(100_000, 10<<20)
	_, tooBig := manyAttributes(1, 13<<20)
	for _, c := range []struct {
		name string
		body []byte
		want codes.Code
	}{
		// grpc-go answers Internal when the message does not decode;
		// OTLP asks for InvalidArgument (both are not retried).
		{"grpc invalid UTF-8", invalidUTF8Logs(), codes.Internal},
		{"grpc 100k attributes", many, codes.OK},
		{"grpc 10MB attribute value", long, codes.OK},
		{"grpc over the size limit", tooBig, codes.ResourceExhausted},
		{"grpc garbage", []byte{0xff, 0xff, 0xff, 0xff}, codes.Internal},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			var resp rawProto
			ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+key)
			err := conn.Invoke(ctx, "/opentelemetry.proto.collector.logs.v1.LogsService/Export", rawProto(c.body), &resp, grpc.ForceCodecV2(rawProtoCodec{}))
			if status.Code(err) != c.want {
				t.Errorf("%v, want %v", err, c.want)
			}
		})
	}
}

// ingestKey adds an ingest key to requests to host, except Sentry's, whose
// key is in the DSN.
type ingestKey struct{ host, key string }

var sentryPath = regexp.MustCompile(`^/api/[0-9-]`)

func (k ingestKey) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Host == k.host && r.Header.Get("Authorization") == "" && !sentryPath.MatchString(r.URL.Path) {
		r = r.Clone(r.Context())
		r.Header.Set("Authorization", "Bearer "+k.key)
	}
	return http.DefaultTransport.RoundTrip(r)
}

// rawProto is an encoded protobuf message sent as is, so that the test can
// send bytes no generated type would encode.
type rawProto []byte

type rawProtoCodec struct{}

func (rawProtoCodec) Marshal(v any) (mem.BufferSlice, error) {
	return mem.BufferSlice{mem.SliceBuffer(v.(rawProto))}, nil
}

func (rawProtoCodec) Unmarshal(data mem.BufferSlice, v any) error {
	*(v.(*rawProto)) = data.Materialize()
	return nil
}

func (rawProtoCodec) Name() string { return "proto" }

// bodyText is the text of an answer without the page frame, for messages.
func bodyText(b []byte) []byte {
	if i := bytes.Index(b, []byte("<main")); i >= 0 {
		return b[i:]
	}
	return b
}
