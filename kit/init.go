package kit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploghttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	otellog "go.opentelemetry.io/otel/log"
	"go.opentelemetry.io/otel/log/global"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// DefaultEndpoint is where Init sends telemetry when neither Config nor
// OTEL_EXPORTER_OTLP_ENDPOINT says otherwise: Telltale's OTLP/HTTP port.
const DefaultEndpoint = "http://localhost:4318"

// Config says who the service is and where its telemetry goes. Only
// Service is needed; every field left empty is taken from the standard
// OpenTelemetry environment variables where one exists.
type Config struct {
	Service     string // service.name; default $OTEL_SERVICE_NAME
	Version     string // service.version
	Environment string // deployment.environment.name, e.g. "prod"
	// Zone is the availability zone the instance runs in
	// (cloud.availability_zone), which the services board groups by.
	Zone string
	// Instance names this process (service.instance.id); default a random
	// id, so that a restarted instance is a new one.
	Instance string
	// Endpoint is the Telltale server's OTLP/HTTP address, "host:port" or a
	// URL; default $OTEL_EXPORTER_OTLP_ENDPOINT, else DefaultEndpoint.
	Endpoint string
	// Headers are sent with every export, e.g. the ingest key as
	// {"Authorization": "Bearer <key>"}; default
	// $OTEL_EXPORTER_OTLP_HEADERS (e.g. Authorization=Bearer%20<key>).
	Headers map[string]string

	// LogOutput receives the readable log lines of Logger; default
	// os.Stderr. io.Discard turns them off.
	LogOutput io.Writer
	// ExportInterval is how often traces and logs are sent; default 1s, so
	// that what happens shows up at once. Metrics go every MetricInterval,
	// default 10s.
	ExportInterval time.Duration
	MetricInterval time.Duration
}

// setup is what Handler, Transport and Logger use: the providers and
// identity Init set up.
type setup struct {
	service   string
	tracer    trace.Tracer
	logger    otellog.Logger
	logOut    io.Writer
	serverDur metric.Float64Histogram
	clientDur metric.Float64Histogram
	prop      propagation.TextMapPropagator
}

// current is set by Init. It is package state on purpose, like the
// OpenTelemetry global providers it mirrors: middleware and loggers are
// created all over a program, and "two lines" leave no room to pass a
// handle to each.
var current atomic.Pointer[setup]

// rt returns the runtime set by Init, or one that uses the global
// OpenTelemetry providers (no-ops unless someone set them) when Init was
// not called, so that the kit never fails for want of setup.
func rt() *setup {
	if r := current.Load(); r != nil {
		return r
	}
	// The global providers delegate to whatever is installed later, so
	// this setup stays valid.
	current.CompareAndSwap(nil, newRuntime(os.Getenv("OTEL_SERVICE_NAME"), os.Stderr))
	return current.Load()
}

const scopeName = "github.com/fibinc/telltale/kit"

func newRuntime(service string, logOut io.Writer) *setup {
	meter := otel.GetMeterProvider().Meter(scopeName)
	// Bucket bounds of the HTTP semantic conventions, in seconds.
	bounds := metric.WithExplicitBucketBoundaries(0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10)
	serverDur, _ := meter.Float64Histogram("http.server.request.duration", metric.WithUnit("s"),
		metric.WithDescription("Duration of HTTP server requests."), bounds)
	clientDur, _ := meter.Float64Histogram("http.client.request.duration", metric.WithUnit("s"),
		metric.WithDescription("Duration of HTTP client requests."), bounds)
	return &setup{
		service:   service,
		tracer:    otel.GetTracerProvider().Tracer(scopeName),
		logger:    global.GetLoggerProvider().Logger(scopeName),
		logOut:    logOut,
		serverDur: serverDur,
		clientDur: clientDur,
		prop:      otel.GetTextMapPropagator(),
	}
}

// Init points OpenTelemetry traces, metrics and logs at a Telltale server
// over OTLP/HTTP, installs them as the global providers with W3C trace
// context and baggage propagation, and makes Handler, Client and Logger
// stamp cfg.Service. Call the returned function before exiting: it sends
// what is buffered.
func Init(ctx context.Context, cfg Config) (shutdown func(context.Context) error, err error) {
	if cfg.Service == "" {
		cfg.Service = os.Getenv("OTEL_SERVICE_NAME")
	}
	if cfg.Service == "" {
		return nil, errors.New("cannot set up telemetry: no service name (set Config.Service or OTEL_SERVICE_NAME)")
	}
	endpoint, err := endpointURL(cfg.Endpoint)
	if err != nil {
		return nil, err
	}
	if cfg.Instance == "" {
		cfg.Instance = newID(8)
	}
	if cfg.LogOutput == nil {
		cfg.LogOutput = os.Stderr
	}
	if cfg.ExportInterval <= 0 {
		cfg.ExportInterval = time.Second
	}
	if cfg.MetricInterval <= 0 {
		cfg.MetricInterval = 10 * time.Second
	}

	attrs := []attribute.KeyValue{
		attribute.String("service.name", cfg.Service),
		attribute.String("service.instance.id", cfg.Instance),
	}
	for k, v := range map[string]string{"service.version": cfg.Version, "deployment.environment.name": cfg.Environment, "cloud.availability_zone": cfg.Zone} {
		if v != "" {
			attrs = append(attrs, attribute.String(k, v))
		}
	}
	if h, err := os.Hostname(); err == nil {
		attrs = append(attrs, attribute.String("host.name", h))
	}
	res, err := resource.New(ctx, resource.WithTelemetrySDK(), resource.WithAttributes(attrs...))
	if err != nil {
		return nil, fmt.Errorf("cannot describe service %s: %w", cfg.Service, err)
	}

	// Without Headers the exporters read $OTEL_EXPORTER_OTLP_HEADERS;
	// WithHeaders, even empty, would replace them.
	traceOpts := []otlptracehttp.Option{otlptracehttp.WithEndpointURL(endpoint + "/v1/traces")}
	metricOpts := []otlpmetrichttp.Option{otlpmetrichttp.WithEndpointURL(endpoint + "/v1/metrics")}
	logOpts := []otlploghttp.Option{otlploghttp.WithEndpointURL(endpoint + "/v1/logs")}
	if len(cfg.Headers) > 0 {
		traceOpts = append(traceOpts, otlptracehttp.WithHeaders(cfg.Headers))
		metricOpts = append(metricOpts, otlpmetrichttp.WithHeaders(cfg.Headers))
		logOpts = append(logOpts, otlploghttp.WithHeaders(cfg.Headers))
	}
	traceExp, err := otlptracehttp.New(ctx, traceOpts...)
	if err != nil {
		return nil, fmt.Errorf("cannot export traces to %s: %w", endpoint, err)
	}
	metricExp, err := otlpmetrichttp.New(ctx, metricOpts...)
	if err != nil {
		return nil, fmt.Errorf("cannot export metrics to %s: %w", endpoint, err)
	}
	logExp, err := otlploghttp.New(ctx, logOpts...)
	if err != nil {
		return nil, fmt.Errorf("cannot export logs to %s: %w", endpoint, err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithResource(res),
		sdktrace.WithBatcher(traceExp, sdktrace.WithBatchTimeout(cfg.ExportInterval)))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithResource(res),
		sdkmetric.WithReader(sdkmetric.NewPeriodicReader(metricExp, sdkmetric.WithInterval(cfg.MetricInterval))))
	lp := sdklog.NewLoggerProvider(sdklog.WithResource(res),
		sdklog.WithProcessor(sdklog.NewBatchProcessor(logExp, sdklog.WithExportInterval(cfg.ExportInterval))))

	otel.SetTracerProvider(tp)
	otel.SetMeterProvider(mp)
	global.SetLoggerProvider(lp)
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	current.Store(newRuntime(cfg.Service, cfg.LogOutput))

	return func(ctx context.Context) error {
		// Traces first: their spans end as handlers finish, and logs and
		// metrics about them follow.
		return errors.Join(tp.Shutdown(ctx), lp.Shutdown(ctx), mp.Shutdown(ctx))
	}, nil
}

// endpointURL turns "host:port" or a URL into a base URL without a
// trailing slash.
func endpointURL(e string) (string, error) {
	if e == "" {
		e = os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT")
	}
	if e == "" {
		return DefaultEndpoint, nil
	}
	if !strings.Contains(e, "://") {
		e = "http://" + e
	}
	if !strings.HasPrefix(e, "http://") && !strings.HasPrefix(e, "https://") {
		return "", fmt.Errorf("cannot use endpoint %q: want host:port or an http(s) URL", e)
	}
	return strings.TrimRight(e, "/"), nil
}

// newID returns n random bytes in hex.
func newID(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
