package kit

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// RequestIDHeader carries the request id between services and back to
// the client.
const RequestIDHeader = "X-Request-ID"

// maxRequestIDLen bounds a request id taken from a client: longer or odder
// ones are replaced, so that no client can stuff logs through it.
const maxRequestIDLen = 128

type requestIDKey struct{}

// RequestID returns the request id carried by ctx, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// WithRequestID returns ctx carrying the request id id, which Transport
// sends on and Logger stamps on every line.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// NewRequestID returns a new random request id: 32 hex digits.
func NewRequestID() string { return newID(16) }

// validRequestID accepts the ids that proxies and other tools make (UUIDs,
// hex, base64url, dotted), and nothing that could mislead a log reader.
func validRequestID(id string) bool {
	if id == "" || len(id) > maxRequestIDLen {
		return false
	}
	for _, c := range []byte(id) {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-_.:+/=", c) >= 0
		if !ok {
			return false
		}
	}
	return true
}

// HandlerFunc is an HTTP handler that may fail. Its error is answered by
// Error: the JSON error body and a fitting status.
type HandlerFunc func(w http.ResponseWriter, r *http.Request) error

func (f HandlerFunc) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := f(w, r); err != nil {
		Error(w, r, err)
	}
}

// Handler makes next observable. For every request it
//   - continues the caller's trace (W3C traceparent and baggage) and takes
//     its X-Request-ID, or makes a request id, and returns it in the
//     response;
//   - runs next inside a server span named after the route, and records
//     the request's duration in the http.server.request.duration
//     histogram;
//   - recovers a panic in next: the stack is recorded on the span and the
//     client gets a 500 error body. http.ErrAbortHandler is let through.
func Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		k := rt()
		start := time.Now()
		ctx := k.prop.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		rid := r.Header.Get(RequestIDHeader)
		if !validRequestID(rid) {
			rid = NewRequestID()
		}
		ctx = WithRequestID(ctx, rid)
		ctx, span := k.tracer.Start(ctx, r.Method, trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(
			attribute.String("http.request.method", r.Method),
			attribute.String("url.path", r.URL.Path),
			attribute.String("url.scheme", scheme(r)),
			attribute.String("server.address", r.Host),
			attribute.String("client.address", clientAddr(r)),
			attribute.String("user_agent.original", r.UserAgent()),
			attribute.String("request.id", rid),
		))
		w.Header().Set(RequestIDHeader, rid)
		rec := &responseRecorder{ResponseWriter: w}
		r = r.WithContext(ctx)

		defer func() {
			p := recover()
			if p != nil && p != http.ErrAbortHandler {
				perr := &PanicError{Value: p, stack: panicStack(p)}
				if rec.status == 0 {
					Error(rec, r, perr)
				} else {
					recordError(r.Context(), perr, http.StatusInternalServerError)
				}
			}
			status := rec.status
			if status == 0 {
				status = http.StatusOK
			}
			route := r.Pattern
			if i := strings.IndexByte(route, ' '); i >= 0 {
				route = route[i+1:] // "GET /x" patterns carry the method
			}
			if route != "" {
				span.SetName(r.Method + " " + route)
				span.SetAttributes(attribute.String("http.route", route))
			}
			span.SetAttributes(attribute.Int("http.response.status_code", status))
			mattrs := []attribute.KeyValue{
				attribute.String("http.request.method", r.Method),
				attribute.Int("http.response.status_code", status),
			}
			if route != "" {
				mattrs = append(mattrs, attribute.String("http.route", route))
			}
			if status >= 500 {
				span.SetStatus(codes.Error, http.StatusText(status))
				mattrs = append(mattrs, attribute.String("error.type", fmt.Sprint(status)))
			}
			span.End()
			k.serverDur.Record(ctx, time.Since(start).Seconds(), metric.WithAttributes(mattrs...))
			if p == http.ErrAbortHandler {
				panic(p)
			}
		}()
		next.ServeHTTP(rec, r)
	})
}

// Error answers r with err: a JSON error body (see ErrorBody) with the
// status StatusOf(err). It records err on the request's span as an
// exception event, with its stack, which makes it an issue in Telltale,
// and logs it. Every error a handler returns is reported this way; write
// a response yourself for outcomes that are not errors.
func Error(w http.ResponseWriter, r *http.Request, err error) {
	status := StatusOf(err)
	ctx := r.Context()
	recordError(ctx, err, status)
	b := bodyOf(err, status, rt().service)
	b.RequestID = RequestID(ctx)
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		b.TraceID, b.SpanID = sc.TraceID().String(), sc.SpanID().String()
	}
	level := slog.LevelWarn
	if status >= 500 {
		level = slog.LevelError
	}
	Logger().Log(ctx, level, "request failed", "method", r.Method, "path", r.URL.Path, "status", status, "error.type", b.Type, "error.message", b.Message)

	if rec, ok := w.(*responseRecorder); ok && rec.status != 0 {
		return // the handler answered already; the error is recorded
	}

	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(errorEnvelope{Error: b})
}

// recordError adds err to the span in ctx as an OpenTelemetry exception
// event, and marks the span failed when status is a server error.
func recordError(ctx context.Context, err error, status int) {
	span := trace.SpanFromContext(ctx)
	span.AddEvent("exception", trace.WithAttributes(exceptionAttrs(err)...))
	if status >= 500 {
		span.SetStatus(codes.Error, err.Error())
	}
}

// PanicError is a panic that Handler recovered.
type PanicError struct {
	Value any
	stack string
}

func (e *PanicError) Error() string      { return fmt.Sprint(e.Value) }
func (e *PanicError) ErrorType() string  { return "panic" }
func (e *PanicError) StackTrace() string { return e.stack }

// Unwrap returns the panic value when it is an error.
func (e *PanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}

// panicStack prints the stack of a panic being recovered the way the Go
// runtime prints a crash, starting at the function that panicked: the
// frames of the recovery itself are left out.
func panicStack(p any) string {
	pcs := callers(1)
	for i, pc := range pcs {
		if fn := runtime.FuncForPC(pc - 1); fn != nil && fn.Name() == "runtime.gopanic" {
			pcs = pcs[i+1:]
			break
		}
	}
	return fmt.Sprintf("panic: %v [recovered]\n\n%s", p, formatStack(pcs))
}

// responseRecorder notes the status a handler answers with.
type responseRecorder struct {
	http.ResponseWriter
	status int
}

func (w *responseRecorder) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *responseRecorder) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach Flush and the others.
func (w *responseRecorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func scheme(r *http.Request) string {
	if r.TLS != nil {
		return "https"
	}
	return "http"
}

func clientAddr(r *http.Request) string {
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host
	}
	return r.RemoteAddr
}
