package otlpgrpc

import (
	"context"
	"encoding/hex"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
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
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/encoding/gzip"
	"google.golang.org/grpc/status"

	"github.com/fibinc/telltale/internal/ingest/cardinality"
	"github.com/fibinc/telltale/internal/pipeline"
	"github.com/fibinc/telltale/internal/selfmetrics"
	"github.com/fibinc/telltale/internal/telemetry"
)

// fakeAppender keeps what it is given, or fails with err.
type fakeAppender struct {
	err error

	mu  sync.Mutex
	got telemetry.Batch
}

func (a *fakeAppender) Append(ctx context.Context, b *telemetry.Batch) error {
	if a.err != nil {
		return a.err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.got.Append(b)
	return nil
}

func (a *fakeAppender) batch() telemetry.Batch {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.got
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
	for _, id := range traceIDs {
		spans = append(spans, &tracepb.Span{
			TraceId:           id,
			SpanId:            mustHex(spanHex),
			Name:              "GET /cart",
			StartTimeUnixNano: uint64(start.UnixNano()),
			EndTimeUnixNano:   uint64(start.Add(time.Second).UnixNano()),
		})
	}
	return &coltracepb.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{{
		Resource:   resourceOf("checkout"),
		ScopeSpans: []*tracepb.ScopeSpans{{Spans: spans}},
	}}}
}

func logs(times ...time.Time) *collogspb.ExportLogsServiceRequest {
	var records []*logspb.LogRecord
	for _, t := range times {
		records = append(records, &logspb.LogRecord{
			TimeUnixNano: uint64(t.UnixNano()),
			Body:         &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: "payment failed"}},
		})
	}
	return &collogspb.ExportLogsServiceRequest{ResourceLogs: []*logspb.ResourceLogs{{
		Resource:  resourceOf("checkout"),
		ScopeLogs: []*logspb.ScopeLogs{{LogRecords: records}},
	}}}
}

func metrics(values ...float64) *colmetricspb.ExportMetricsServiceRequest {
	var points []*metricspb.NumberDataPoint
	for _, v := range values {
		points = append(points, &metricspb.NumberDataPoint{TimeUnixNano: uint64(start.UnixNano()), Value: &metricspb.NumberDataPoint_AsDouble{AsDouble: v}})
	}
	return &colmetricspb.ExportMetricsServiceRequest{ResourceMetrics: []*metricspb.ResourceMetrics{{
		Resource: resourceOf("checkout"),
		ScopeMetrics: []*metricspb.ScopeMetrics{{Metrics: []*metricspb.Metric{{
			Name: "queue.size",
			Data: &metricspb.Metric_Gauge{Gauge: &metricspb.Gauge{DataPoints: points}},
		}}}},
	}}}
}

// serve starts a server on a loopback port and returns a client connection.
func serve(t *testing.T, opt Options) *grpc.ClientConn {
	t.Helper()
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.NewTextHandler(t.Output(), nil))
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := NewServer(opt)
	go s.Serve(lis) //nolint:errcheck // Serve returns once Stop is called.
	t.Cleanup(s.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// export calls the Export method of the signal of req and returns the
// partial-success fields of the answer.
func export(ctx context.Context, conn *grpc.ClientConn, req any, opts ...grpc.CallOption) (int64, string, error) {
	switch req := req.(type) {
	case *coltracepb.ExportTraceServiceRequest:
		resp, err := coltracepb.NewTraceServiceClient(conn).Export(ctx, req, opts...)
		return resp.GetPartialSuccess().GetRejectedSpans(), resp.GetPartialSuccess().GetErrorMessage(), err
	case *collogspb.ExportLogsServiceRequest:
		resp, err := collogspb.NewLogsServiceClient(conn).Export(ctx, req, opts...)
		return resp.GetPartialSuccess().GetRejectedLogRecords(), resp.GetPartialSuccess().GetErrorMessage(), err
	case *colmetricspb.ExportMetricsServiceRequest:
		resp, err := colmetricspb.NewMetricsServiceClient(conn).Export(ctx, req, opts...)
		return resp.GetPartialSuccess().GetRejectedDataPoints(), resp.GetPartialSuccess().GetErrorMessage(), err
	}
	panic("unknown request type")
}

func TestExport(t *testing.T) {
	badID := mustHex("0102")
	gz := grpc.UseCompressor(gzip.Name)
	window := func(telemetry.Signal) (time.Time, time.Time) { return start.Add(-time.Hour), start.Add(time.Hour) }
	tests := []struct {
		name     string
		req      any
		opts     []grpc.CallOption
		appender Appender
		code     codes.Code
		msg      string // in the error or partial-success message
		batch    telemetry.Batch
		rejected int64
	}{
		{name: "traces", req: traces(mustHex(traceHex)), batch: telemetry.Batch{Spans: make([]telemetry.Span, 1)}},
		{name: "traces gzip", req: traces(mustHex(traceHex), mustHex(traceHex)), opts: []grpc.CallOption{gz}, batch: telemetry.Batch{Spans: make([]telemetry.Span, 2)}},
		{name: "logs gzip", req: logs(start, start), opts: []grpc.CallOption{gz}, batch: telemetry.Batch{Logs: make([]telemetry.Log, 2)}},
		{name: "metrics", req: metrics(1, 2, 3), batch: telemetry.Batch{Metrics: make([]telemetry.MetricPoint, 3)}},
		{name: "empty", req: &coltracepb.ExportTraceServiceRequest{}},
		{
			name: "partial success", req: traces(mustHex(traceHex), badID), batch: telemetry.Batch{Spans: make([]telemetry.Span, 1)},
			rejected: 1, msg: "span 1 of scope 0 of resource 0: trace_id must be 16 bytes, got 2",
		},
		{
			name: "partial success by window", req: logs(start, start.Add(-2*time.Hour)), batch: telemetry.Batch{Logs: make([]telemetry.Log, 1)},
			rejected: 1, msg: "before the accepted window",
		},
		{name: "all invalid", req: traces(badID, badID), code: codes.InvalidArgument, msg: "all 2 records rejected: span 0 of scope 0 of resource 0: trace_id must be 16 bytes, got 2"},
		{name: "overloaded", req: metrics(1), appender: &fakeAppender{err: pipeline.ErrOverloaded}, code: codes.Unavailable, msg: "queue is full"},
		{name: "stopped", req: logs(start), appender: &fakeAppender{err: pipeline.ErrStopped}, code: codes.Unavailable, msg: "stopped"},
		{name: "internal", req: traces(mustHex(traceHex)), appender: &fakeAppender{err: errors.New("disk full")}, code: codes.Internal, msg: "cannot commit records: disk full"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := &fakeAppender{}
			app := tt.appender
			if app == nil {
				app = fake
			}
			conn := serve(t, Options{Appender: app, Window: window})
			rejected, msg, err := export(context.Background(), conn, tt.req, tt.opts...)
			st := status.Convert(err)
			if st.Code() != tt.code {
				t.Fatalf("code = %s (%q), want %s", st.Code(), st.Message(), tt.code)
			}
			if err != nil {
				msg = st.Message()
			}
			if !strings.Contains(msg, tt.msg) || (tt.msg == "") != (msg == "") {
				t.Errorf("message = %q, want %q", msg, tt.msg)
			}
			if rejected != tt.rejected {
				t.Errorf("rejected = %d, want %d", rejected, tt.rejected)
			}
			got := fake.batch()
			if len(got.Spans) != len(tt.batch.Spans) || len(got.Logs) != len(tt.batch.Logs) || len(got.Metrics) != len(tt.batch.Metrics) {
				t.Errorf("appended %d spans, %d logs, %d metrics; want %d, %d, %d", len(got.Spans), len(got.Logs), len(got.Metrics),
					len(tt.batch.Spans), len(tt.batch.Logs), len(tt.batch.Metrics))
			}
			for _, s := range got.Spans {
				if s.TraceID != traceHex || s.SpanID != spanHex || s.ServiceName != "checkout" {
					t.Errorf("span = %+v", s)
				}
			}
			if tt.code == codes.Unavailable {
				checkRetryInfo(t, st)
			}
		})
	}
}

func checkRetryInfo(t *testing.T, st *status.Status) {
	t.Helper()
	for _, d := range st.Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok {
			if got := ri.GetRetryDelay().AsDuration(); got != time.Second {
				t.Errorf("retry delay = %v, want 1s", got)
			}
			return
		}
	}
	t.Errorf("no RetryInfo among the details %v", st.Details())
}

// TestClientGone checks that a request whose client leaves while its records
// are being committed is counted with the code of the context error.
func TestClientGone(t *testing.T) {
	started := make(chan struct{})
	app := appendFunc(func(ctx context.Context, _ *telemetry.Batch) error {
		close(started)
		<-ctx.Done()
		return ctx.Err()
	})
	m := selfmetrics.NewIngest(selfmetrics.New())
	conn := serve(t, Options{Appender: app, Metrics: m})
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-started
		cancel()
	}()
	_, _, err := export(ctx, conn, traces(mustHex(traceHex)))
	if code := status.Code(err); code != codes.Canceled {
		t.Errorf("code = %s, want Canceled", code)
	}
	c := m.Requests.With("otlp_grpc", "spans", "Canceled")
	for deadline := time.Now().Add(5 * time.Second); c.Value() == 0 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	if c.Value() != 1 {
		t.Errorf("requests{code=Canceled} = %d, want 1", c.Value())
	}
}

func TestMaxRecvMsgBytes(t *testing.T) {
	conn := serve(t, Options{Appender: &fakeAppender{}, MaxRecvMsgBytes: 1024})
	big := make([]float64, 200)
	_, _, err := export(context.Background(), conn, metrics(big...))
	if code := status.Code(err); code != codes.ResourceExhausted {
		t.Errorf("code = %s (%v), want ResourceExhausted", code, err)
	}
	// The limit applies after decompression too: zeros compress well.
	_, _, err = export(context.Background(), conn, metrics(big...), grpc.UseCompressor(gzip.Name))
	if code := status.Code(err); code != codes.ResourceExhausted {
		t.Errorf("gzip: code = %s (%v), want ResourceExhausted", code, err)
	}
}

func TestMetrics(t *testing.T) {
	m := selfmetrics.NewIngest(selfmetrics.New())
	conn := serve(t, Options{Appender: &fakeAppender{}, Metrics: m})
	ctx := context.Background()
	for _, req := range []any{traces(mustHex(traceHex), mustHex("00")), traces(mustHex("00")), logs(start)} {
		export(ctx, conn, req) //nolint:errcheck // the outcome is checked through the metrics
	}
	checks := []struct {
		name string
		c    *selfmetrics.Counter
		want uint64
	}{
		{"span records", m.Records.With("spans", "otlp_grpc"), 1},
		{"log records", m.Records.With("logs", "otlp_grpc"), 1},
		{"rejected", m.Rejected.With("spans", "invalid_trace_id"), 2},
		{"requests OK", m.Requests.With("otlp_grpc", "spans", "OK"), 1},
		{"requests InvalidArgument", m.Requests.With("otlp_grpc", "spans", "InvalidArgument"), 1},
	}
	for _, c := range checks {
		if got := c.c.Value(); got != c.want {
			t.Errorf("%s = %d, want %d", c.name, got, c.want)
		}
	}
}

// TestSDKExporter sends spans with the OpenTelemetry Go SDK's OTLP/gRPC
// exporter, gzip-compressed.
func TestSDKExporter(t *testing.T) {
	app := &fakeAppender{}
	conn := serve(t, Options{Appender: app})
	ctx := context.Background()
	exp, err := otlptracegrpc.New(ctx, otlptracegrpc.WithEndpoint(conn.Target()), otlptracegrpc.WithInsecure(), otlptracegrpc.WithCompressor("gzip"))
	if err != nil {
		t.Fatal(err)
	}
	res := resource.NewSchemaless(attribute.String("service.name", "billing"))
	tp := sdktrace.NewTracerProvider(sdktrace.WithResource(res), sdktrace.WithSyncer(exp))
	defer tp.Shutdown(ctx)

	_, parent := tp.Tracer("test").Start(ctx, "charge")
	_, child := tp.Tracer("test").Start(trace.ContextWithSpan(ctx, parent), "db.query")
	child.End()
	parent.End()

	got := app.batch()
	if len(got.Spans) != 2 {
		t.Fatalf("got %d spans, want 2", len(got.Spans))
	}
	c, p := got.Spans[0], got.Spans[1]
	pc := parent.SpanContext()
	for _, s := range got.Spans {
		if s.ServiceName != "billing" || s.TraceID != pc.TraceID().String() {
			t.Errorf("span %s: service %q, trace %s; want billing, %s", s.Name, s.ServiceName, s.TraceID, pc.TraceID())
		}
	}
	if c.Name != "db.query" || p.SpanID != pc.SpanID().String() || c.ParentSpanID != pc.SpanID().String() || c.SpanID != child.SpanContext().SpanID().String() {
		t.Errorf("spans %q %s and %q %s with parent %s; want db.query %s, charge %s", c.Name, c.SpanID, p.Name, p.SpanID, c.ParentSpanID, child.SpanContext().SpanID(), pc.SpanID())
	}
}

// BenchmarkExportTraces exports 100 spans per call over loopback.
func BenchmarkExportTraces(b *testing.B) {
	ids := make([][]byte, 100)
	for i := range ids {
		ids[i] = mustHex(traceHex)
	}
	req := traces(ids...)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	s := NewServer(Options{Appender: appendFunc(func(context.Context, *telemetry.Batch) error { return nil })})
	go s.Serve(lis) //nolint:errcheck // Serve returns once Stop is called.
	defer s.Stop()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	client := coltracepb.NewTraceServiceClient(conn)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := client.Export(context.Background(), req); err != nil {
			b.Fatal(err)
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

// TestSeriesLimit checks the per-metric series limit over gRPC: points of
// new series beyond it are rejected with a partial success (OK, even when
// nothing is stored) naming the metric and the limit, and counted.
func TestSeriesLimit(t *testing.T) {
	m := selfmetrics.NewIngest(selfmetrics.New())
	app := &fakeAppender{}
	conn := serve(t, Options{Appender: app, Metrics: m, Series: cardinality.New(cardinality.Options{MaxSeriesPerMetric: 2})})
	steps := []struct {
		queues   []string
		rejected int64
		stored   int
	}{
		{[]string{"a", "b", "c"}, 1, 2},
		{[]string{"a", "b"}, 0, 4},
		{[]string{"d", "e"}, 2, 4},
		{[]string{"e", "b", "f"}, 2, 5},
	}
	for i, s := range steps {
		rejected, msg, err := export(context.Background(), conn, seriesRequest(s.queues...))
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if rejected != s.rejected {
			t.Errorf("step %d: rejected_data_points = %d, want %d (%q)", i, rejected, s.rejected, msg)
		}
		if want := `metric "jobs.running" has reached its limit of 2 active series`; s.rejected > 0 && !strings.Contains(msg, want) {
			t.Errorf("step %d: error_message %q lacks %q", i, msg, want)
		}
		if got := app.batch(); len(got.Metrics) != s.stored {
			t.Errorf("step %d: %d points stored, want %d", i, len(got.Metrics), s.stored)
		}
	}
	if got := m.Rejected.With("metrics", "cardinality").Value(); got != 5 {
		t.Errorf("rejected{reason=cardinality} = %d, want 5", got)
	}
	if got := m.Requests.With("otlp_grpc", "metrics", "OK").Value(); got != 4 {
		t.Errorf("requests{code=OK} = %d, want 4", got)
	}
}
