package kit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/log/global"
	"go.opentelemetry.io/otel/propagation"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/fibinc/telltale/internal/stacktrace"
)

// recorded is what the services of a test sent: spans, exported log
// records, and printed log lines.
type recorded struct {
	spans *tracetest.SpanRecorder
	logs  *logExporter
	out   *syncBuffer
}

// install installs real SDK providers that keep what they get in memory.
// The kit's state is global, so tests using it do not run in parallel.
func install(t *testing.T, service string) *recorded {
	t.Helper()
	rec := &recorded{spans: tracetest.NewSpanRecorder(), logs: &logExporter{}, out: &syncBuffer{}}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec.spans))
	lp := sdklog.NewLoggerProvider(sdklog.WithProcessor(sdklog.NewSimpleProcessor(rec.logs)))
	otel.SetTracerProvider(tp)
	global.SetLoggerProvider(lp)
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	current.Store(newRuntime(service, rec.out))
	t.Cleanup(func() { current.Store(nil) })
	return rec
}

// asService runs h as the named service: the kit's service name is set
// around each request, since every service of a test shares the process.
func asService(rec *recorded, name string, h http.Handler) http.Handler {
	var mu sync.Mutex
	inner := Handler(h)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		prev := current.Load()
		current.Store(newRuntime(name, rec.out))
		defer current.Store(prev)
		inner.ServeHTTP(w, r)
	})
}

type logExporter struct {
	mu      sync.Mutex
	records []sdklog.Record
}

func (e *logExporter) Export(_ context.Context, recs []sdklog.Record) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, r := range recs {
		e.records = append(e.records, r.Clone())
	}
	return nil
}
func (e *logExporter) Shutdown(context.Context) error   { return nil }
func (e *logExporter) ForceFlush(context.Context) error { return nil }

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// errUnknownLevel is shared by the services of the chain test, as a
// sentinel error shared through a common package would be.
var errUnknownLevel = errors.New("unknown log level")

// chain starts three services over real HTTP: front calls middle, which
// calls back, which fails deep inside a call.
func chain(t *testing.T, rec *recorded) (front string) {
	back := httptest.NewServer(asService(rec, "back", HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		Logger().InfoContext(r.Context(), "back handling")
		return parseLevel("verbose")
	})))
	t.Cleanup(back.Close)
	middle := httptest.NewServer(asService(rec, "middle", HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		Logger().InfoContext(r.Context(), "middle handling")
		if err := NewClient(back.URL).Get(r.Context(), "/level", nil); err != nil {
			return fmt.Errorf("cannot read level: %w", err)
		}
		return nil
	})))
	t.Cleanup(middle.Close)
	mux := http.NewServeMux()
	mux.Handle("GET /price/{n}", HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		Logger().InfoContext(r.Context(), "front handling", "n", r.PathValue("n"))
		if err := NewClient(middle.URL).Get(r.Context(), "/", nil); err != nil {
			return fmt.Errorf("cannot price %s: %w", r.PathValue("n"), err)
		}
		return nil
	}))
	fs := httptest.NewServer(asService(rec, "front", mux))
	t.Cleanup(fs.Close)
	return fs.URL
}

func parseLevel(s string) error {
	return Errorf("%w %q", errUnknownLevel, s)
}

func TestRemoteErrorAcrossTwoHops(t *testing.T) {
	rec := install(t, "test")
	front := chain(t, rec)

	err := NewClient(front).Get(context.Background(), "/price/10", nil)
	if err == nil {
		t.Fatal("no error from a failing chain")
	}
	if !errors.Is(err, errUnknownLevel) {
		t.Errorf("errors.Is does not find the sentinel two hops away in %v", err)
	}
	var services []string
	for re := asRemote(err); re != nil; re = re.Cause {
		services = append(services, re.Service)
	}
	if got := strings.Join(services, ">"); got != "front>middle>back" {
		t.Fatalf("remote chain %s, want front>middle>back", got)
	}
	var top *RemoteError
	if !errors.As(err, &top) {
		t.Fatal("errors.As finds no RemoteError")
	}
	var back *RemoteError
	if !errors.As(top.Unwrap().(*RemoteError).Unwrap(), &back) || back.Service != "back" {
		t.Fatalf("errors.As does not find back's error: %+v", back)
	}
	if back.Type != "*errors.errorString" && back.Type != "*fmt.wrapError" {
		t.Errorf("back's error type %q", back.Type)
	}
	if back.Message != `unknown log level "verbose"` {
		t.Errorf("back's message %q", back.Message)
	}
	if back.StatusCode != 500 || top.StatusCode != 502 {
		t.Errorf("statuses back %d front %d, want 500 and 502 (a callee's 5xx is a bad gateway)", back.StatusCode, top.StatusCode)
	}
	// back's stack is where the error was made.
	r := stacktrace.Parse(back.Stack, "go")
	if len(r.Exceptions) == 0 || len(r.Exceptions[0].Frames) == 0 {
		t.Fatalf("back's stack does not parse:\n%s", back.Stack)
	}
	frames := r.Exceptions[0].Frames
	if innermost := frames[len(frames)-1]; !strings.HasSuffix(innermost.Function, "parseLevel") {
		t.Errorf("innermost frame of back's stack %q, want parseLevel", innermost.Function)
	}
	if top.TraceID == "" || top.TraceID != back.TraceID {
		t.Errorf("trace ids front %q back %q: want one trace", top.TraceID, back.TraceID)
	}
	if top.Message != `cannot price 10: middle: cannot read level: back: unknown log level "verbose"` {
		t.Errorf("front's message %q", top.Message)
	}

	// Every service recorded its error on its server span, and the client
	// spans carry the callee's error.
	exceptions := map[string]string{}
	for _, s := range rec.spans.Ended() {
		for _, e := range s.Events() {
			if e.Name == "exception" {
				exceptions[s.Name()] = attr(e.Attributes, "exception.type")
				// Every hop names where the error started, for grouping.
				if s.SpanKind().String() == "server" && attr(e.Attributes, "exception.type") == "*kit.RemoteError" {
					if got := attr(e.Attributes, "exception.cause.message"); got != `unknown log level "verbose"` || attr(e.Attributes, "exception.cause.service") != "back" ||
						!strings.Contains(attr(e.Attributes, "exception.cause.stacktrace"), "parseLevel") {
						t.Errorf("span %s: exception.cause.* = %q from %q, stack %q", s.Name(), got, attr(e.Attributes, "exception.cause.service"), attr(e.Attributes, "exception.cause.stacktrace"))
					}
				}
			}
		}
		if s.SpanKind().String() == "client" && attr(s.Attributes(), "remote.service") == "" {
			t.Errorf("client span %s lacks the remote error: %v", s.Name(), s.Attributes())
		}
		if s.SpanContext().TraceID().String() != top.TraceID {
			t.Errorf("span %s is in trace %s, want %s", s.Name(), s.SpanContext().TraceID(), top.TraceID)
		}
	}
	want := map[string]string{"GET /price/{n}": "*kit.RemoteError", "GET": "*kit.RemoteError"}
	if exceptions["GET /price/{n}"] != want["GET /price/{n}"] {
		t.Errorf("front span exception %q", exceptions["GET /price/{n}"])
	}
}

func attr(kvs []attribute.KeyValue, key string) string {
	for _, kv := range kvs {
		if string(kv.Key) == key {
			return kv.Value.Emit()
		}
	}
	return ""
}

func TestRequestIDOnEveryHopAndLine(t *testing.T) {
	rec := install(t, "test")
	front := chain(t, rec)

	for _, sent := range []string{"req-abc-123", "", "bad id with spaces!"} {
		req, _ := http.NewRequest("GET", front+"/price/7", nil)
		if sent != "" {
			req.Header.Set(RequestIDHeader, sent)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var env errorEnvelope
		json.NewDecoder(resp.Body).Decode(&env)
		resp.Body.Close()
		rid := resp.Header.Get(RequestIDHeader)
		switch {
		case sent == "req-abc-123" && rid != sent:
			t.Errorf("request id %q came back as %q", sent, rid)
		case sent != "req-abc-123" && !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(rid):
			t.Errorf("sent %q: made request id %q, want 32 hex digits", sent, rid)
		}
		if env.Error == nil || env.Error.RequestID != rid {
			t.Fatalf("error body %+v lacks request id %q", env.Error, rid)
		}
		for b := env.Error; b != nil; b = b.Cause {
			if b.RequestID != rid {
				t.Errorf("service %s saw request id %q, want %q", b.Service, b.RequestID, rid)
			}
		}
		// Every line printed for this request carries its id, and all three
		// services printed some.
		var lines int
		for _, l := range strings.Split(rec.out.String(), "\n") {
			if strings.Contains(l, "request_id="+rid) {
				lines++
			}
		}
		if lines < 6 { // three "handling" and three "request failed" lines
			t.Errorf("%d lines with request id %s, want 6:\n%s", lines, rid, rec.out.String())
		}
	}
	// Every exported record carries a request id and a trace.
	rec.logs.mu.Lock()
	defer rec.logs.mu.Unlock()
	if len(rec.logs.records) != 18 {
		t.Errorf("%d exported log records, want 18", len(rec.logs.records))
	}
	for _, r := range rec.logs.records {
		var rid string
		r.WalkAttributes(func(kv attribute.KeyValue) bool {
			if kv.Key == "request.id" {
				rid = kv.Value.AsString()
			}
			return true
		})
		if rid == "" || !r.TraceID().IsValid() || !r.SpanID().IsValid() {
			t.Errorf("exported record %q: request id %q, trace %s span %s", r.Body().AsString(), rid, r.TraceID(), r.SpanID())
		}
	}
}

func TestPanicIs500WithStack(t *testing.T) {
	rec := install(t, "crashy")
	srv := httptest.NewServer(Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m map[string]int
		explode(m)
	})))
	defer srv.Close()

	resp, err := http.Get(srv.URL + "/boom")
	if err != nil {
		t.Fatal(err)
	}
	var env errorEnvelope
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 500 || env.Error == nil || env.Error.Type != "panic" || env.Error.Service != "crashy" {
		t.Fatalf("status %d body %+v, want a 500 panic error from crashy", resp.StatusCode, env.Error)
	}
	if !strings.Contains(env.Error.Message, "assignment to entry in nil map") {
		t.Errorf("message %q", env.Error.Message)
	}
	spans := rec.spans.Ended()
	if len(spans) != 1 {
		t.Fatalf("%d spans, want 1", len(spans))
	}
	sp := spans[0]
	if sp.Status().Code.String() != "Error" || attr(sp.Attributes(), "http.response.status_code") != "500" {
		t.Errorf("span status %v attributes %v", sp.Status(), sp.Attributes())
	}
	var stack string
	for _, e := range sp.Events() {
		if e.Name == "exception" {
			stack = attr(e.Attributes, "exception.stacktrace")
		}
	}
	r := stacktrace.Parse(stack, "go")
	if len(r.Exceptions) == 0 || len(r.Exceptions[len(r.Exceptions)-1].Frames) == 0 {
		t.Fatalf("recorded stack does not parse:\n%s", stack)
	}
	frames := r.Exceptions[len(r.Exceptions)-1].Frames
	var funcs []string
	for _, f := range frames {
		funcs = append(funcs, f.Function)
	}
	// The stack starts where the panic happened (in the runtime's map
	// code, called by explode); the recovery's own frames do not show.
	all := strings.Join(funcs, " ")
	if !strings.Contains(all, "explode") || strings.Contains(all, "panicStack") || strings.Contains(all, "gopanic") || strings.Contains(all, "Handler.func1") {
		t.Errorf("frames %v: want explode and no recovery frames:\n%s", funcs, stack)
	}
	if env.Error.Stack != stack {
		t.Error("the body's stack differs from the recorded one")
	}
}

func explode(m map[string]int) { m["x"]++ }

func TestAbortHandlerIsLetThrough(t *testing.T) {
	install(t, "svc")
	srv := httptest.NewServer(Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("partial"))
		panic(http.ErrAbortHandler)
	})))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err == nil {
		_, err = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	if err == nil {
		t.Error("an aborted response read completely")
	}
}

func TestStatus(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want int
	}{
		{errors.New("x"), 500},
		{WithStatus(errors.New("bad n"), 400), 400},
		{fmt.Errorf("wrapped: %w", WithStatus(errors.New("no credit"), 402)), 402},
		{fmt.Errorf("ask: %w", context.DeadlineExceeded), 504},
		{&RemoteError{StatusCode: 402}, 402},
		{&RemoteError{StatusCode: 503}, 502},
		{WithStatus(&RemoteError{StatusCode: 503}, 503), 503},
		{WithStatus(errors.New("odd"), 42), 500},
	} {
		if got := StatusOf(tc.err); got != tc.want {
			t.Errorf("StatusOf(%v) = %d, want %d", tc.err, got, tc.want)
		}
	}
}

type myError struct{}

func (*myError) Error() string { return "mine" }

func TestTypeOf(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{errors.New("x"), "*errors.errorString"},
		{fmt.Errorf("a: %w", &myError{}), "*kit.myError"},
		{Errorf("b: %w", &myError{}), "*kit.myError"},
		{WithStatus(WithStack(&myError{}), 400), "*kit.myError"},
		{errors.Join(&myError{}, errors.New("y")), "*kit.myError"},
		{fmt.Errorf("c: %w", &RemoteError{}), "*kit.RemoteError"},
		{&PanicError{Value: 1}, "panic"},
		{fmt.Errorf("plain %d", 1), "*errors.errorString"},
	} {
		if got := TypeOf(tc.err); got != tc.want {
			t.Errorf("TypeOf(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}

func TestDecodeError(t *testing.T) {
	for _, tc := range []struct {
		name, ctype, body string
		status            int
		want              RemoteError
	}{
		{"kit body", "application/json", `{"error":{"type":"*x.E","message":"boom","status":500,"service":"pricing","cause":{"type":"t2","message":"deeper","service":"db"}}}`, 500,
			RemoteError{Service: "pricing", Type: "*x.E", Message: "boom", StatusCode: 500}},
		{"plain text", "text/plain", "upstream exploded\n", 503,
			RemoteError{Service: "svc.test", Type: "http 503", Message: "upstream exploded", StatusCode: 503}},
		{"empty", "", "", 404,
			RemoteError{Service: "svc.test", Type: "http 404", Message: "Not Found", StatusCode: 404}},
		{"foreign json", "application/json", `{"detail":"nope"}`, 400,
			RemoteError{Service: "svc.test", Type: "http 400", Message: `{"detail":"nope"}`, StatusCode: 400}},
		{"long", "text/html", strings.Repeat("x", 2000), 500,
			RemoteError{Service: "svc.test", Type: "http 500", Message: strings.Repeat("x", 512) + "…", StatusCode: 500}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", "http://svc.test/x", nil)
			resp := &http.Response{StatusCode: tc.status, Header: http.Header{"Content-Type": {tc.ctype}}, Body: io.NopCloser(strings.NewReader(tc.body)), Request: req}
			err := DecodeError(resp)
			re, ok := err.(*RemoteError)
			if !ok {
				t.Fatalf("DecodeError = %v, want a *RemoteError", err)
			}
			if re.Service != tc.want.Service || re.Type != tc.want.Type || re.Message != tc.want.Message || re.StatusCode != tc.want.StatusCode {
				t.Errorf("got %+v, want %+v", re, tc.want)
			}
		})
	}
	ok := &http.Response{StatusCode: 204, Body: io.NopCloser(strings.NewReader(""))}
	if err := DecodeError(ok); err != nil {
		t.Errorf("DecodeError(204) = %v", err)
	}
}

func FuzzDecodeError(f *testing.F) {
	f.Add(`{"error":{"type":"t","message":"m","cause":{"type":"u","message":"n","cause":{}}}}`, 500)
	f.Add(`{"error":null}`, 400)
	f.Add("not json", 502)
	f.Fuzz(func(t *testing.T, body string, status int) {
		status = 400 + (status%200+200)%200
		resp := &http.Response{StatusCode: status, Header: http.Header{"Content-Type": {"application/json"}}, Body: io.NopCloser(strings.NewReader(body))}
		re, ok := DecodeError(resp).(*RemoteError)
		if !ok {
			t.Fatal("an error status gave no RemoteError")
		}
		if re.StatusCode != status || re.Message == "" && re.Type == "" {
			t.Fatalf("decoded %+v from status %d", re, status)
		}
		depth := 0
		for c := re; c != nil; c = c.Cause {
			depth++
		}
		if depth > maxCauseDepth+1 {
			t.Fatalf("cause chain %d deep, limit %d", depth, maxCauseDepth)
		}
		_ = re.Error()
	})
}

func TestLoggerExportsErrorsAsExceptions(t *testing.T) {
	rec := install(t, "worker")
	log := Logger().With("job", "nightly").WithGroup("db")
	log.Error("sync failed", "err", parseLevel("loud"), "rows", 3)
	log.Info("plain", "err", errors.New("not an exception at info"))

	rec.logs.mu.Lock()
	defer rec.logs.mu.Unlock()
	if len(rec.logs.records) != 2 {
		t.Fatalf("%d records exported, want 2", len(rec.logs.records))
	}
	got := map[string]string{}
	rec.logs.records[0].WalkAttributes(func(kv attribute.KeyValue) bool {
		got[string(kv.Key)] = kv.Value.Emit()
		return true
	})
	for k, v := range map[string]string{"job": "nightly", "db.rows": "3", "db.err": `unknown log level "loud"`,
		"exception.type": "*errors.errorString", "exception.message": `unknown log level "loud"`} {
		if got[k] != v {
			t.Errorf("attribute %s = %q, want %q (all: %v)", k, got[k], v, got)
		}
	}
	if !strings.Contains(got["exception.stacktrace"], "parseLevel") {
		t.Errorf("exception.stacktrace lacks the making frame: %q", got["exception.stacktrace"])
	}
	if rec.logs.records[0].Severity() != 17 || rec.logs.records[1].Severity() != 9 {
		t.Errorf("severities %d %d, want 17 and 9", rec.logs.records[0].Severity(), rec.logs.records[1].Severity())
	}
	var hasExc bool
	rec.logs.records[1].WalkAttributes(func(kv attribute.KeyValue) bool {
		hasExc = hasExc || kv.Key == "exception.type"
		return true
	})
	if hasExc {
		t.Error("an Info record carries exception attributes")
	}
	if out := rec.out.String(); !strings.Contains(out, `level=ERROR msg="sync failed" job=nightly db.err="unknown log level \"loud\"" db.rows=3 service=worker`) {
		t.Errorf("printed line not as expected:\n%s", out)
	}
}
