package otlphttp

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	colmetricspb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	statuspb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/fibinc/telltale/internal/ingest/cardinality"
	"github.com/fibinc/telltale/internal/pipeline"
	"github.com/fibinc/telltale/internal/selfmetrics"
	"github.com/fibinc/telltale/internal/telemetry"
)

// fakeAppender keeps what it is given, or fails with err.
type fakeAppender struct {
	err error

	mu    sync.Mutex
	got   telemetry.Batch
	calls int
}

func (a *fakeAppender) Append(ctx context.Context, b *telemetry.Batch) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.calls++
	if a.err != nil {
		return a.err
	}
	a.got.Append(b)
	return nil
}

func (a *fakeAppender) batch() (telemetry.Batch, int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.got, a.calls
}

// appendFunc adapts a function to Appender.
type appendFunc func(ctx context.Context, b *telemetry.Batch) error

func (f appendFunc) Append(ctx context.Context, b *telemetry.Batch) error { return f(ctx, b) }

const (
	traceHex = "5b8efff798038103d269b633813fc60c"
	spanHex  = "eee19b7ec3c1b174"
)

var start = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

func resourceOf(service string) *resourcepb.Resource {
	return &resourcepb.Resource{Attributes: []*commonpb.KeyValue{{
		Key: "service.name", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: service}},
	}}}
}

// traces builds a request with one span per trace id.
func traces(traceIDs ...[]byte) *coltracepb.ExportTraceServiceRequest {
	var spans []*tracepb.Span
	for i, id := range traceIDs {
		spans = append(spans, &tracepb.Span{
			TraceId:           id,
			SpanId:            mustHex(spanHex),
			Name:              "GET /cart",
			Kind:              tracepb.Span_SPAN_KIND_SERVER,
			StartTimeUnixNano: uint64(start.Add(time.Duration(i) * time.Second).UnixNano()),
			EndTimeUnixNano:   uint64(start.Add(time.Duration(i)*time.Second + 100*time.Millisecond).UnixNano()),
		})
	}
	return &coltracepb.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{{
		Resource:   resourceOf("checkout"),
		ScopeSpans: []*tracepb.ScopeSpans{{Spans: spans}},
	}}}
}

func logs() *collogspb.ExportLogsServiceRequest {
	return &collogspb.ExportLogsServiceRequest{ResourceLogs: []*logspb.ResourceLogs{{
		Resource: resourceOf("checkout"),
		ScopeLogs: []*logspb.ScopeLogs{{LogRecords: []*logspb.LogRecord{{
			TimeUnixNano: uint64(start.UnixNano()),
			SeverityText: "ERROR",
			Body:         &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: "payment failed"}},
		}}}},
	}}}
}

func metrics() *colmetricspb.ExportMetricsServiceRequest {
	return &colmetricspb.ExportMetricsServiceRequest{ResourceMetrics: []*metricspb.ResourceMetrics{{
		Resource: resourceOf("checkout"),
		ScopeMetrics: []*metricspb.ScopeMetrics{{Metrics: []*metricspb.Metric{{
			Name: "queue.size",
			Data: &metricspb.Metric_Gauge{Gauge: &metricspb.Gauge{DataPoints: []*metricspb.NumberDataPoint{
				{TimeUnixNano: uint64(start.UnixNano()), Value: &metricspb.NumberDataPoint_AsInt{AsInt: 3}},
				{TimeUnixNano: uint64(start.UnixNano()), Value: &metricspb.NumberDataPoint_AsDouble{AsDouble: 4.5}},
			}}},
		}}}},
	}}}
}

func marshal(t testing.TB, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func gzipped(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// jsonTraces is an OTLP/JSON trace request with one span per trace id, given
// as hex.
func jsonTraces(traceIDs ...string) string {
	var spans []string
	for _, id := range traceIDs {
		spans = append(spans, `{"traceId":"`+id+`","spanId":"EEE19B7EC3C1B174","name":"GET /cart","kind":2,
		"startTimeUnixNano":"1740830400000000000","endTimeUnixNano":"1740830400100000000"}`)
	}
	return `{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"checkout"}}]},
	"scopeSpans":[{"scope":{"name":"test"},"spans":[` + strings.Join(spans, ",") + `]}]}]}`
}

// request describes one HTTP request for the tables below.
type request struct {
	method, path, contentType, contentEncoding string
	body                                       []byte
	chunked                                    bool // hide the length, so that only the reader limit applies
}

type reply struct {
	status      int
	contentType string
	header      http.Header
	body        []byte
}

func do(t *testing.T, url string, req request) reply {
	t.Helper()
	if req.method == "" {
		req.method = http.MethodPost
	}
	var body io.Reader = bytes.NewReader(req.body)
	if req.chunked {
		body = io.MultiReader(body) // not a *bytes.Reader: the length is unknown
	}
	r, err := http.NewRequest(req.method, url+req.path, body)
	if err != nil {
		t.Fatal(err)
	}
	if req.contentType != "" {
		r.Header.Set("Content-Type", req.contentType)
	}
	if req.contentEncoding != "" {
		r.Header.Set("Content-Encoding", req.contentEncoding)
	}
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return reply{resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header, b}
}

// message returns the error message of a reply: the google.rpc.Status message
// in the reply's encoding, or the plain text.
func (r reply) message(t *testing.T) string {
	t.Helper()
	var st statuspb.Status
	switch r.contentType {
	case "application/x-protobuf":
		if err := proto.Unmarshal(r.body, &st); err != nil {
			t.Fatalf("body is not a protobuf Status: %v", err)
		}
	case "application/json":
		if err := protojson.Unmarshal(r.body, &st); err != nil {
			t.Fatalf("body is not a JSON Status: %v: %s", err, r.body)
		}
	default:
		return string(r.body)
	}
	return st.GetMessage()
}

func newServer(t *testing.T, opt Options) *httptest.Server {
	t.Helper()
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.NewTextHandler(t.Output(), nil))
	}
	srv := httptest.NewServer(New(opt))
	t.Cleanup(srv.Close)
	return srv
}

func TestBadRequests(t *testing.T) {
	const limit = 64 << 10
	good := marshal(t, traces(mustHex(traceHex)))
	gz := gzipped(t, good)
	bomb := gzipped(t, make([]byte, 4*limit))
	if len(bomb) > limit {
		t.Fatalf("the gzip bomb is %d bytes, more than the limit", len(bomb))
	}
	tests := []struct {
		name     string
		req      request
		appender Appender
		status   int
		ctype    string // content type of the reply
		want     string // in the error message
	}{
		{"wrong method", request{method: http.MethodGet, path: "/v1/traces"}, nil, 405, "text/plain; charset=utf-8", "method GET not allowed"},
		{"wrong path", request{path: "/v1/spans", contentType: "application/x-protobuf", body: good}, nil, 404, "text/plain; charset=utf-8", "no OTLP endpoint at /v1/spans"},
		{"wrong content type", request{path: "/v1/traces", contentType: "text/plain", body: good}, nil, 415, "text/plain; charset=utf-8", `unsupported Content-Type "text/plain"`},
		{"no content type", request{path: "/v1/logs", body: good}, nil, 415, "text/plain; charset=utf-8", "unsupported Content-Type"},
		{"unknown content encoding", request{path: "/v1/traces", contentType: "application/x-protobuf", contentEncoding: "br", body: good}, nil, 415, "application/x-protobuf", `unsupported Content-Encoding "br"`},
		{"corrupt gzip", request{path: "/v1/traces", contentType: "application/x-protobuf", contentEncoding: "gzip", body: good}, nil, 400, "application/x-protobuf", "invalid gzip body"},
		{"truncated gzip", request{path: "/v1/traces", contentType: "application/json", contentEncoding: "gzip", body: gz[:len(gz)-10]}, nil, 400, "application/json", "invalid gzip body: unexpected EOF"},
		{"truncated protobuf", request{path: "/v1/traces", contentType: "application/x-protobuf", body: good[:len(good)-5]}, nil, 400, "application/x-protobuf", "invalid protobuf"},
		{"protobuf of JSON", request{path: "/v1/metrics", contentType: "application/x-protobuf", body: []byte(`{"resourceMetrics":[]}`)}, nil, 400, "application/x-protobuf", "invalid protobuf"},
		{"invalid JSON", request{path: "/v1/traces", contentType: "application/json", body: []byte(`{"resourceSpans":[`)}, nil, 400, "application/json", "invalid JSON"},
		{"wrong JSON type", request{path: "/v1/traces", contentType: "application/json", body: []byte(`{"resourceSpans":"checkout"}`)}, nil, 400, "application/json", "invalid JSON"},
		{"wrong JSON number type", request{path: "/v1/logs", contentType: "application/json", body: []byte(`{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"timeUnixNano":true}]}]}]}`)}, nil, 400, "application/json", "invalid JSON"},
		{"hex id not hex", request{path: "/v1/traces", contentType: "application/json", body: []byte(jsonTraces("zz8EFFF798038103D269B633813FC60C"))}, nil, 400, "application/json", "invalid JSON"},
		{"hex id of bad length", request{path: "/v1/traces", contentType: "application/json", body: []byte(jsonTraces("5B8EFFF798038103"))}, nil, 400, "application/json", "trace_id must be 16 bytes, got 8"},
		{"oversized body", request{path: "/v1/traces", contentType: "application/x-protobuf", body: make([]byte, limit+1)}, nil, 413, "application/x-protobuf", "exceeds the limit of 65536 bytes"},
		{"oversized chunked body", request{path: "/v1/traces", contentType: "application/json", body: make([]byte, limit+1), chunked: true}, nil, 413, "application/json", "exceeds the limit of 65536 bytes"},
		{"gzip bomb", request{path: "/v1/traces", contentType: "application/x-protobuf", contentEncoding: "gzip", body: bomb}, nil, 413, "application/x-protobuf", "decompressed request body exceeds the limit"},
		{"overloaded", request{path: "/v1/traces", contentType: "application/x-protobuf", body: good}, &fakeAppender{err: pipeline.ErrOverloaded}, 503, "application/x-protobuf", "queue is full"},
		{"stopped", request{path: "/v1/logs", contentType: "application/json", body: marshalJSON(t, logs())}, &fakeAppender{err: pipeline.ErrStopped}, 503, "application/json", "stopped"},
		{"internal error", request{path: "/v1/metrics", contentType: "application/x-protobuf", body: marshal(t, metrics())}, &fakeAppender{err: errors.New("disk full")}, 500, "application/x-protobuf", "cannot commit records: disk full"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			app := tt.appender
			if app == nil {
				app = &fakeAppender{}
			}
			srv := newServer(t, Options{Appender: app, MaxBodyBytes: limit})
			r := do(t, srv.URL, tt.req)
			if r.status != tt.status {
				t.Errorf("status = %d, want %d (body %q)", r.status, tt.status, r.body)
			}
			if r.contentType != tt.ctype {
				t.Errorf("Content-Type = %q, want %q", r.contentType, tt.ctype)
			}
			if msg := r.message(t); !strings.Contains(msg, tt.want) {
				t.Errorf("message = %q, want it to contain %q", msg, tt.want)
			}
			if tt.status == 405 && r.header.Get("Allow") != "POST" {
				t.Errorf("Allow = %q, want POST", r.header.Get("Allow"))
			}
			if retry := r.header.Get("Retry-After"); (tt.status == 503) != (retry != "") {
				t.Errorf("Retry-After = %q with status %d", retry, r.status)
			}
			if fake, ok := app.(*fakeAppender); ok && fake.err == nil {
				if got, _ := fake.batch(); got.Len() != 0 {
					t.Errorf("a bad request appended %d records", got.Len())
				}
			}
		})
	}
}

func marshalJSON(t testing.TB, m proto.Message) []byte {
	t.Helper()
	b, err := protojson.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestGoodRequests(t *testing.T) {
	badID := mustHex("0102")
	pb := marshal(t, traces(mustHex(traceHex)))
	tests := []struct {
		name     string
		req      request
		window   func(telemetry.Signal) (time.Time, time.Time)
		spans    int
		logs     int
		metrics  int
		rejected int64
		reason   string // in the partial-success message
	}{
		{name: "protobuf", req: request{path: "/v1/traces", contentType: "application/x-protobuf", body: pb}, spans: 1},
		{name: "protobuf gzip", req: request{path: "/v1/traces", contentType: "application/x-protobuf", contentEncoding: "gzip", body: gzipped(t, pb)}, spans: 1},
		{name: "JSON with charset", req: request{path: "/v1/traces", contentType: "application/json; charset=utf-8", body: []byte(jsonTraces(strings.ToUpper(traceHex)))}, spans: 1},
		{name: "JSON gzip chunked", req: request{path: "/v1/traces", contentType: "application/json", contentEncoding: "GZIP", body: gzipped(t, []byte(jsonTraces(traceHex))), chunked: true}, spans: 1},
		{name: "logs protobuf", req: request{path: "/v1/logs", contentType: "application/x-protobuf", body: marshal(t, logs())}, logs: 1},
		{name: "logs JSON", req: request{path: "/v1/logs", contentType: "application/json", body: marshalJSON(t, logs())}, logs: 1},
		{name: "metrics protobuf", req: request{path: "/v1/metrics", contentType: "application/x-protobuf", body: marshal(t, metrics())}, metrics: 2},
		{name: "metrics JSON identity", req: request{path: "/v1/metrics", contentType: "application/json", contentEncoding: "identity", body: marshalJSON(t, metrics())}, metrics: 2},
		{name: "empty protobuf", req: request{path: "/v1/traces", contentType: "application/x-protobuf"}},
		{name: "empty JSON", req: request{path: "/v1/logs", contentType: "application/json", body: []byte(`{}`)}},
		{
			name:  "partial success protobuf",
			req:   request{path: "/v1/traces", contentType: "application/x-protobuf", body: marshal(t, traces(mustHex(traceHex), badID, badID))},
			spans: 1, rejected: 2, reason: "span 1 of scope 0 of resource 0: trace_id must be 16 bytes, got 2",
		},
		{
			name:  "partial success JSON",
			req:   request{path: "/v1/traces", contentType: "application/json", body: []byte(jsonTraces(traceHex, "0102"))},
			spans: 1, rejected: 1, reason: "trace_id must be 16 bytes",
		},
		{
			name: "window",
			req:  request{path: "/v1/traces", contentType: "application/x-protobuf", body: marshal(t, traces(mustHex(traceHex), mustHex(traceHex)))},
			window: func(s telemetry.Signal) (time.Time, time.Time) {
				if s != telemetry.SignalSpans {
					t.Errorf("window asked for %s", s)
				}
				return start.Add(time.Second), start.Add(time.Hour)
			},
			spans: 1, rejected: 1, reason: "before the accepted window",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			app := &fakeAppender{}
			srv := newServer(t, Options{Appender: app, Window: tt.window})
			r := do(t, srv.URL, tt.req)
			if r.status != http.StatusOK {
				t.Fatalf("status = %d, want 200 (body %q)", r.status, r.body)
			}
			ct, _, _ := strings.Cut(tt.req.contentType, ";")
			if r.contentType != ct {
				t.Errorf("Content-Type = %q, want %q", r.contentType, ct)
			}
			got, calls := app.batch()
			if len(got.Spans) != tt.spans || len(got.Logs) != tt.logs || len(got.Metrics) != tt.metrics {
				t.Errorf("appended %d spans, %d logs, %d metrics; want %d, %d, %d", len(got.Spans), len(got.Logs), len(got.Metrics), tt.spans, tt.logs, tt.metrics)
			}
			if got.Len() == 0 && calls != 0 {
				t.Errorf("Append called %d times for an empty request", calls)
			}
			for _, s := range got.Spans {
				if s.TraceID != traceHex || s.SpanID != spanHex || s.ServiceName != "checkout" || s.Kind != "server" {
					t.Errorf("span = %+v", s)
				}
			}
			rejected, msg := partialSuccess(t, tt.req.path, r)
			if rejected != tt.rejected || !strings.Contains(msg, tt.reason) || (tt.reason == "") != (msg == "") {
				t.Errorf("partial success = %d %q, want %d %q", rejected, msg, tt.rejected, tt.reason)
			}
		})
	}
}

// partialSuccess decodes the Export*ServiceResponse of a reply and returns its
// partial-success fields.
func partialSuccess(t *testing.T, path string, r reply) (int64, string) {
	t.Helper()
	unmarshal := proto.Unmarshal
	if r.contentType == "application/json" {
		unmarshal = protojson.Unmarshal
		if !bytes.HasPrefix(r.body, []byte("{")) {
			t.Errorf("JSON response is %q", r.body)
		}
	}
	switch path {
	case "/v1/traces":
		var resp coltracepb.ExportTraceServiceResponse
		if err := unmarshal(r.body, &resp); err != nil {
			t.Fatal(err)
		}
		return resp.GetPartialSuccess().GetRejectedSpans(), resp.GetPartialSuccess().GetErrorMessage()
	case "/v1/logs":
		var resp collogspb.ExportLogsServiceResponse
		if err := unmarshal(r.body, &resp); err != nil {
			t.Fatal(err)
		}
		return resp.GetPartialSuccess().GetRejectedLogRecords(), resp.GetPartialSuccess().GetErrorMessage()
	default:
		var resp colmetricspb.ExportMetricsServiceResponse
		if err := unmarshal(r.body, &resp); err != nil {
			t.Fatal(err)
		}
		return resp.GetPartialSuccess().GetRejectedDataPoints(), resp.GetPartialSuccess().GetErrorMessage()
	}
}

func TestMetrics(t *testing.T) {
	reg := selfmetrics.New()
	m := selfmetrics.NewIngest(reg)
	srv := newServer(t, Options{Appender: &fakeAppender{}, Metrics: m})
	body := marshal(t, traces(mustHex(traceHex), mustHex(traceHex), mustHex("00")))
	for range 2 {
		do(t, srv.URL, request{path: "/v1/traces", contentType: "application/x-protobuf", body: body})
	}
	do(t, srv.URL, request{path: "/v1/logs", contentType: "text/plain"})
	do(t, srv.URL, request{method: http.MethodPut, path: "/v1/metrics"})

	checks := []struct {
		name string
		c    *selfmetrics.Counter
		want uint64
	}{
		{"records", m.Records.With("spans", "otlp_http"), 4},
		{"rejected", m.Rejected.With("spans", "invalid_trace_id"), 2},
		{"requests 200", m.Requests.With("otlp_http", "spans", "200"), 2},
		{"requests 415", m.Requests.With("otlp_http", "logs", "415"), 1},
		{"requests 405", m.Requests.With("otlp_http", "metrics", "405"), 1},
	}
	for _, c := range checks {
		if got := c.c.Value(); got != c.want {
			t.Errorf("%s = %d, want %d", c.name, got, c.want)
		}
	}
}

// TestClientGone checks that a request whose client leaves while its records
// are being committed is counted, with no answer written.
func TestClientGone(t *testing.T) {
	started := make(chan struct{})
	done := make(chan error, 1)
	app := appendFunc(func(ctx context.Context, b *telemetry.Batch) error {
		close(started)
		<-ctx.Done()
		done <- ctx.Err()
		return ctx.Err()
	})
	m := selfmetrics.NewIngest(selfmetrics.New())
	srv := newServer(t, Options{Appender: app, Metrics: m})

	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/v1/traces", bytes.NewReader(marshal(t, traces(mustHex(traceHex)))))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-protobuf")
	go func() {
		<-started
		cancel()
	}()
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("request answered with %s after the client left", resp.Status)
	}
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Append saw %v, want context.Canceled", err)
	}
	c := m.Requests.With("otlp_http", "spans", "499")
	for deadline := time.Now().Add(5 * time.Second); c.Value() == 0 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	if c.Value() != 1 {
		t.Errorf("requests{code=499} = %d, want 1", c.Value())
	}
}

// TestSDKExporter sends spans with the OpenTelemetry Go SDK's OTLP/HTTP
// exporter, gzip-compressed as it does by choice.
func TestSDKExporter(t *testing.T) {
	app := &fakeAppender{}
	srv := newServer(t, Options{Appender: app})
	ctx := context.Background()
	exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(srv.URL+"/v1/traces"), otlptracehttp.WithCompression(otlptracehttp.GzipCompression))
	if err != nil {
		t.Fatal(err)
	}
	res := resource.NewSchemaless(attribute.String("service.name", "billing"), attribute.String("service.version", "1.2.3"))
	tp := sdktrace.NewTracerProvider(sdktrace.WithResource(res), sdktrace.WithSyncer(exp))
	defer tp.Shutdown(ctx)

	_, parent := tp.Tracer("test").Start(ctx, "charge")
	_, child := tp.Tracer("test").Start(trace.ContextWithSpan(ctx, parent), "db.query")
	child.End()
	parent.End()

	got, _ := app.batch()
	if len(got.Spans) != 2 {
		t.Fatalf("got %d spans, want 2", len(got.Spans))
	}
	c, p := got.Spans[0], got.Spans[1]
	if c.Name != "db.query" || p.Name != "charge" {
		t.Fatalf("span names = %q, %q", c.Name, p.Name)
	}
	pc := parent.SpanContext()
	for _, s := range got.Spans {
		if s.ServiceName != "billing" || s.ServiceVersion != "1.2.3" || s.TraceID != pc.TraceID().String() {
			t.Errorf("span %s: service %q %q, trace %s; want billing 1.2.3 %s", s.Name, s.ServiceName, s.ServiceVersion, s.TraceID, pc.TraceID())
		}
	}
	if p.SpanID != pc.SpanID().String() || c.ParentSpanID != pc.SpanID().String() || c.SpanID != child.SpanContext().SpanID().String() {
		t.Errorf("ids: parent %s, child %s with parent %s; want %s, %s", p.SpanID, c.SpanID, c.ParentSpanID, pc.SpanID(), child.SpanContext().SpanID())
	}
}

// BenchmarkTracesProto serves a gzipped protobuf request of 100 spans.
func BenchmarkTracesProto(b *testing.B) {
	req := traces()
	for range 100 {
		req.ResourceSpans[0].ScopeSpans[0].Spans = append(req.ResourceSpans[0].ScopeSpans[0].Spans, traces(mustHex(traceHex)).ResourceSpans[0].ScopeSpans[0].Spans...)
	}
	body := gzipped(b, marshal(b, req))
	h := New(Options{Appender: appendFunc(func(context.Context, *telemetry.Batch) error { return nil })})
	b.ReportAllocs()
	for b.Loop() {
		r := httptest.NewRequest(http.MethodPost, "/v1/traces", bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/x-protobuf")
		r.Header.Set("Content-Encoding", "gzip")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
}

// seriesRequest is a gauge "jobs.running" with one point for each value of
// its "queue" attribute.
func seriesRequest(queues ...string) *colmetricspb.ExportMetricsServiceRequest {
	var points []*metricspb.NumberDataPoint
	for _, q := range queues {
		points = append(points, &metricspb.NumberDataPoint{
			TimeUnixNano: uint64(start.UnixNano()),
			Attributes:   []*commonpb.KeyValue{{Key: "queue", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: q}}}},
			Value:        &metricspb.NumberDataPoint_AsInt{AsInt: 1},
		})
	}
	return &colmetricspb.ExportMetricsServiceRequest{ResourceMetrics: []*metricspb.ResourceMetrics{{
		Resource: resourceOf("checkout"),
		ScopeMetrics: []*metricspb.ScopeMetrics{{Metrics: []*metricspb.Metric{{
			Name: "jobs.running",
			Data: &metricspb.Metric_Gauge{Gauge: &metricspb.Gauge{DataPoints: points}},
		}}}},
	}}}
}

// TestSeriesLimit checks the per-metric series limit: points of new series
// beyond it are rejected with a partial success that names the metric and
// the limit, even when no point of the request is stored, and counted as
// rejected for reason "cardinality"; points of existing series are stored.
func TestSeriesLimit(t *testing.T) {
	m := selfmetrics.NewIngest(selfmetrics.New())
	app := &fakeAppender{}
	srv := newServer(t, Options{Appender: app, Metrics: m, Series: cardinality.New(cardinality.Options{MaxSeriesPerMetric: 2})})
	steps := []struct {
		queues   []string
		json     bool
		rejected int64
		stored   int
	}{
		{[]string{"a", "b", "c"}, false, 1, 2},
		{[]string{"a", "b"}, true, 0, 4},
		{[]string{"d", "e"}, false, 2, 4}, // nothing stored: still a partial success
		{[]string{"e", "b", "f"}, true, 2, 5},
	}
	for i, s := range steps {
		req := request{path: "/v1/metrics", contentType: "application/x-protobuf", body: marshal(t, seriesRequest(s.queues...))}
		if s.json {
			req.contentType, req.body = "application/json", marshalJSON(t, seriesRequest(s.queues...))
		}
		r := do(t, srv.URL, req)
		if r.status != http.StatusOK {
			t.Fatalf("step %d: status %d: %s", i, r.status, r.message(t))
		}
		rejected, msg := partialSuccess(t, req.path, r)
		if rejected != s.rejected {
			t.Errorf("step %d: rejected_data_points = %d, want %d (%q)", i, rejected, s.rejected, msg)
		}
		if want := `metric "jobs.running" has reached its limit of 2 active series`; s.rejected > 0 && !strings.Contains(msg, want) {
			t.Errorf("step %d: error_message %q lacks %q", i, msg, want)
		}
		if got, _ := app.batch(); len(got.Metrics) != s.stored {
			t.Errorf("step %d: %d points stored, want %d", i, len(got.Metrics), s.stored)
		}
	}
	if got := m.Rejected.With("metrics", "cardinality").Value(); got != 5 {
		t.Errorf("rejected{reason=cardinality} = %d, want 5", got)
	}
}
