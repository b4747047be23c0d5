package apptest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploggrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploghttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	otellog "go.opentelemetry.io/otel/log"
	"go.opentelemetry.io/otel/metric"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
	"go.opentelemetry.io/otel/trace"
)

// sent records what a simulated service exported, to compare with what the
// API returns.
type sent struct {
	service   string
	traceID   string
	rootSpan  string
	requestID string
	start     time.Time
}

// exportWithSDK plays one request through a service instrumented with the
// real OpenTelemetry Go SDK: a server span with a client child and a failing
// internal child, log records inside the request (one carrying only the
// request id, as logs from code without tracing do), and metrics. It then
// shuts the providers down, which flushes everything to telltale.
func exportWithSDK(t *testing.T, s *server, transport, service string) sent {
	t.Helper()
	ctx := context.Background()
	res, err := resource.New(ctx, resource.WithAttributes(
		semconv.ServiceName(service), semconv.ServiceVersion("2.0.1"), semconv.ServiceInstanceID(service+"-1"),
		attribute.String("deployment.environment.name", "staging"), semconv.HostName("web-7"),
		semconv.CloudAvailabilityZone("eu-west-1a"), attribute.String("team", "fib"),
	))
	if err != nil {
		t.Fatal(err)
	}

	var (
		spanExp   sdktrace.SpanExporter
		logExp    sdklog.Exporter
		metricExp sdkmetric.Exporter
	)
	switch transport {
	case "grpc":
		spanExp, err = otlptracegrpc.New(ctx, otlptracegrpc.WithEndpoint(s.grpcAddr), otlptracegrpc.WithInsecure())
		if err == nil {
			logExp, err = otlploggrpc.New(ctx, otlploggrpc.WithEndpoint(s.grpcAddr), otlploggrpc.WithInsecure())
		}
		if err == nil {
			metricExp, err = otlpmetricgrpc.New(ctx, otlpmetricgrpc.WithEndpoint(s.grpcAddr), otlpmetricgrpc.WithInsecure())
		}
	case "http":
		spanExp, err = otlptracehttp.New(ctx, otlptracehttp.WithEndpoint(s.otlpAddr), otlptracehttp.WithInsecure())
		if err == nil {
			logExp, err = otlploghttp.New(ctx, otlploghttp.WithEndpoint(s.otlpAddr), otlploghttp.WithInsecure())
		}
		if err == nil {
			metricExp, err = otlpmetrichttp.New(ctx, otlpmetrichttp.WithEndpoint(s.otlpAddr), otlpmetrichttp.WithInsecure())
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithResource(res), sdktrace.WithSyncer(spanExp))
	lp := sdklog.NewLoggerProvider(sdklog.WithResource(res), sdklog.WithProcessor(sdklog.NewSimpleProcessor(logExp)))
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithResource(res), sdkmetric.WithReader(reader))

	tracer := tp.Tracer("fibpro/handler")
	logger := lp.Logger("fibpro/handler")
	meter := mp.Meter("fibpro/handler")
	requests, _ := meter.Int64Counter("fib.requests", metric.WithDescription("Requests served."))
	duration, _ := meter.Float64Histogram("fib.duration", metric.WithUnit("ms"),
		metric.WithExplicitBucketBoundaries(5, 10, 25, 50, 100))

	requestID := "req-" + transport + "-42"
	start := time.Now()
	ctx, root := tracer.Start(ctx, "GET /fib/{n}", trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(attribute.String("request.id", requestID), attribute.String("http.route", "/fib/{n}"), attribute.Int("n", 10)))
	emit := func(ctx context.Context, sev otellog.Severity, body string, attrs ...attribute.KeyValue) {
		var r otellog.Record
		r.SetTimestamp(time.Now())
		r.SetSeverity(sev)
		r.SetSeverityText(sev.String())
		r.SetBody(attribute.StringValue(body))
		r.AddAttributes(attrs...)
		logger.Emit(ctx, r)
	}
	emit(ctx, otellog.SeverityInfo, "computing fib(10) for user u42", attribute.String("user", "u42"))
	cctx, client := tracer.Start(ctx, "GET userstore/credit", trace.WithSpanKind(trace.SpanKindClient))
	time.Sleep(2 * time.Millisecond)
	client.End()
	_, inner := tracer.Start(cctx, "charge", trace.WithSpanKind(trace.SpanKindInternal))
	inner.RecordError(creditError{}, trace.WithStackTrace(true))
	inner.SetStatus(codes.Error, "insufficient credit")
	inner.End()
	emit(ctx, otellog.SeverityWarn, "user has insufficient credit", attribute.String("user", "u42"))
	// A line from code without tracing: only the request id joins it.
	emit(context.Background(), otellog.SeverityError, "credit check failed downstream",
		attribute.String("request_id", requestID), attribute.String("user", "u42"))
	for i := range 10 {
		attrs := metric.WithAttributes(attribute.String("route", "/fib/{n}"))
		requests.Add(ctx, 1, attrs)
		duration.Record(ctx, float64(i*10+5), attrs) // 5, 15, ..., 95
	}
	root.SetStatus(codes.Error, "payment required")
	root.End()

	var rm = collect(t, reader)
	if err := metricExp.Export(context.Background(), rm); err != nil {
		t.Fatalf("metric export: %v", err)
	}
	for name, f := range map[string]func(context.Context) error{"traces": tp.Shutdown, "logs": lp.Shutdown, "metrics": mp.Shutdown, "metric exporter": metricExp.Shutdown} {
		if err := f(context.Background()); err != nil {
			t.Fatalf("%s shutdown: %v", name, err)
		}
	}
	return sent{service: service, traceID: root.SpanContext().TraceID().String(),
		rootSpan: root.SpanContext().SpanID().String(), requestID: requestID, start: start}
}

// creditError is the error the failing span records.
type creditError struct{}

func (creditError) Error() string { return "user has insufficient credit" }

func collect(t *testing.T, r *sdkmetric.ManualReader) *metricdata.ResourceMetrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.Collect(context.Background(), &rm); err != nil {
		t.Fatal(fmt.Errorf("collect metrics: %w", err))
	}
	return &rm
}
