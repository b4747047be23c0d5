package apptest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploghttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	otellog "go.opentelemetry.io/otel/log"
	"go.opentelemetry.io/otel/propagation"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
	"go.opentelemetry.io/otel/trace"
)

// tracedService is an HTTP service instrumented by hand with the real
// OpenTelemetry SDK, as any OpenTelemetry user's service is: a server span
// per request, a client span per outgoing call, W3C trace context on the
// wire, and exceptions recorded on spans with their stack.
type tracedService struct {
	name   string
	tp     *sdktrace.TracerProvider
	lp     *sdklog.LoggerProvider
	tracer trace.Tracer
	logger otellog.Logger
	srv    *httptest.Server
	next   string // URL of the service this one calls, "" for none
	prop   propagation.TextMapPropagator
}

func newTracedService(t *testing.T, s *server, name string, handle func(ts *tracedService, ctx context.Context, n string) error) *tracedService {
	t.Helper()
	ctx := context.Background()
	res, err := resource.New(ctx, resource.WithAttributes(semconv.ServiceName(name), semconv.TelemetrySDKLanguageGo,
		attribute.String("deployment.environment.name", "test")))
	if err != nil {
		t.Fatal(err)
	}
	spanExp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpoint(s.otlpAddr), otlptracehttp.WithInsecure())
	if err != nil {
		t.Fatal(err)
	}
	logExp, err := otlploghttp.New(ctx, otlploghttp.WithEndpoint(s.otlpAddr), otlploghttp.WithInsecure())
	if err != nil {
		t.Fatal(err)
	}
	ts := &tracedService{name: name, prop: propagation.TraceContext{}}
	ts.tp = sdktrace.NewTracerProvider(sdktrace.WithResource(res), sdktrace.WithSyncer(spanExp))
	ts.lp = sdklog.NewLoggerProvider(sdklog.WithResource(res), sdklog.WithProcessor(sdklog.NewSimpleProcessor(logExp)))
	ts.tracer = ts.tp.Tracer("apptest/" + name)
	ts.logger = ts.lp.Logger("apptest/" + name)
	ts.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := ts.prop.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		ctx, span := ts.tracer.Start(ctx, "GET /{n}", trace.WithSpanKind(trace.SpanKindServer))
		defer span.End()
		if err := handle(ts, ctx, strings.TrimPrefix(r.URL.Path, "/")); err != nil {
			span.RecordError(err, trace.WithStackTrace(true))
			span.SetStatus(codes.Error, err.Error())
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprintln(w, "ok")
	}))
	t.Cleanup(func() {
		ts.srv.Close()
		ts.tp.Shutdown(context.Background())
		ts.lp.Shutdown(context.Background())
	})
	return ts
}

// call makes a traced call to the next service.
func (ts *tracedService) call(ctx context.Context, path string) error {
	ctx, span := ts.tracer.Start(ctx, "GET "+ts.next, trace.WithSpanKind(trace.SpanKindClient))
	defer span.End()
	req, _ := http.NewRequestWithContext(ctx, "GET", ts.next+"/"+path, nil)
	ts.prop.Inject(ctx, propagation.HeaderCarrier(req.Header))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		span.SetStatus(codes.Error, err.Error())
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 500 {
		err := fmt.Errorf("callee answered %d: %s", resp.StatusCode, strings.TrimSpace(string(body)))
		span.SetStatus(codes.Error, err.Error())
		return err
	}
	return nil
}

var errNoCredit = errors.New("user has insufficient credit")

// TestRemoteExceptionChain runs three services in one trace, frontend ->
// pricing -> userstore; userstore fails, and each caller fails because its
// callee did. The frontend's error must show the whole chain with both
// callees' errors and stacks, built from nothing but the trace.
func TestRemoteExceptionChain(t *testing.T) {
	s := start(t, t.TempDir())
	userstore := newTracedService(t, s, "userstore", func(ts *tracedService, ctx context.Context, n string) error {
		// An error-level log record with exception attributes is an error
		// event too; the chain prefers the span's exception, which has a
		// stack.
		var rec otellog.Record
		rec.SetSeverity(otellog.SeverityError)
		rec.SetBody(attribute.StringValue("debit refused"))
		rec.AddAttributes(attribute.String("exception.type", "*errors.errorString"), attribute.String("exception.message", errNoCredit.Error()))
		ts.logger.Emit(ctx, rec)
		return errNoCredit
	})
	pricing := newTracedService(t, s, "pricing", func(ts *tracedService, ctx context.Context, n string) error {
		if err := ts.call(ctx, n); err != nil {
			return fmt.Errorf("cannot debit: %w", err)
		}
		return nil
	})
	pricing.next = userstore.srv.URL
	frontend := newTracedService(t, s, "frontend", func(ts *tracedService, ctx context.Context, n string) error {
		if err := ts.call(ctx, n); err != nil {
			return fmt.Errorf("cannot price fib(%s): %w", n, err)
		}
		return nil
	})
	frontend.next = pricing.srv.URL

	resp, err := http.Get(frontend.srv.URL + "/42")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 500 {
		t.Fatalf("frontend answered %d, want 500", resp.StatusCode)
	}
	for _, ts := range []*tracedService{userstore, pricing, frontend} {
		ts.tp.ForceFlush(context.Background())
		ts.lp.ForceFlush(context.Background())
	}

	// Three span exceptions and one log exception.
	issues := s.issues("", 4, 4)
	var frontendIssue apiIssue
	for _, iss := range issues {
		if strings.Contains(iss.Title, "cannot price fib") {
			frontendIssue = iss
		}
	}
	if frontendIssue.ID == 0 {
		t.Fatalf("no frontend issue among %+v", issues)
	}
	var detail struct{ Data apiIssueDetail }
	s.get(fmt.Sprintf("/api/v1/issues/%d", frontendIssue.ID), 200, &detail)
	ev := detail.Data.LatestEvent
	if ev.Service != "frontend" || ev.TraceID == "" || ev.Platform != "go" {
		t.Fatalf("frontend event: service %q trace %q platform %q", ev.Service, ev.TraceID, ev.Platform)
	}
	if len(ev.Exceptions) == 0 || len(ev.Exceptions[len(ev.Exceptions)-1].Frames) == 0 {
		t.Errorf("frontend event has no parsed stack: %+v", ev.Exceptions)
	}
	chain := ev.RemoteChain
	if len(chain) != 3 {
		t.Fatalf("remote chain has %d links, want 3: %+v", len(chain), chain)
	}
	for i, want := range []struct{ service, value string }{
		{"frontend", "cannot price fib(42)"},
		{"pricing", "cannot debit"},
		{"userstore", "user has insufficient credit"},
	} {
		l := chain[i]
		if l.Service != want.service || !strings.Contains(l.Value, want.value) || l.EventID == "" {
			t.Errorf("link %d = %s %q (event %q), want %s %q", i, l.Service, l.Value, l.EventID, want.service, want.value)
		}
	}
	// Go errors carry no stack: the one recorded is where the handler
	// called RecordError, below the OpenTelemetry SDK's own frames.
	var handlerFrame bool
	for _, f := range chain[2].Frames {
		if f.InApp == nil {
			t.Errorf("frame %s.%s has no in_app decision", f.Module, f.Function)
			continue
		}
		if f.Function == "newTracedService.func1" && *f.InApp {
			handlerFrame = true
		}
		if strings.Contains(f.AbsPath, "/pkg/mod/") && *f.InApp {
			t.Errorf("dependency frame %s.%s marked in-app", f.Module, f.Function)
		}
	}
	if !handlerFrame {
		t.Errorf("userstore link has no in-app handler frame: %+v", chain[2].Frames)
	}

	// The userstore event is reachable by id and links to the same trace.
	var callee struct{ Data apiEvent }
	s.get("/api/v1/events/"+chain[2].EventID, 200, &callee)
	if callee.Data.TraceID != ev.TraceID || callee.Data.Service != "userstore" {
		t.Errorf("callee event: trace %q service %q", callee.Data.TraceID, callee.Data.Service)
	}
}
