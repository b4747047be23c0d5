package jsonlogs

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/fibinc/telltale/internal/decode/jsonlog"
	"github.com/fibinc/telltale/internal/pipeline"
	"github.com/fibinc/telltale/internal/selfmetrics"
	"github.com/fibinc/telltale/internal/telemetry"
)

// fakeAppender keeps what it is given, or fails with err.
type fakeAppender struct {
	err error

	mu    sync.Mutex
	logs  []telemetry.Log
	calls int
}

func (a *fakeAppender) Append(ctx context.Context, b *telemetry.Batch) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.calls++
	if a.err != nil {
		return a.err
	}
	a.logs = append(a.logs, b.Logs...)
	return nil
}

func (a *fakeAppender) got() ([]telemetry.Log, int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.logs, a.calls
}

// appendFunc adapts a function to Appender.
type appendFunc func(ctx context.Context, b *telemetry.Batch) error

func (f appendFunc) Append(ctx context.Context, b *telemetry.Batch) error { return f(ctx, b) }

type fixture struct {
	url     string
	app     *fakeAppender
	metrics *selfmetrics.Ingest
}

func newFixture(t *testing.T, opt Options) *fixture {
	t.Helper()
	f := &fixture{app: &fakeAppender{}, metrics: selfmetrics.NewIngest(selfmetrics.New())}
	if opt.Appender == nil {
		opt.Appender = f.app
	}
	opt.Metrics = f.metrics
	opt.Logger = slog.New(slog.DiscardHandler)
	mux := http.NewServeMux()
	mux.Handle("/api/v1/logs", New(opt))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	f.url = srv.URL + "/api/v1/logs"
	return f
}

type answer struct {
	status int
	header http.Header
	body   response
	raw    string
}

func (f *fixture) post(t *testing.T, query, contentType, encoding string, body []byte) answer {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, f.url+query, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if encoding != "" {
		req.Header.Set("Content-Encoding", encoding)
	}
	return do(t, req)
}

func do(t *testing.T, req *http.Request) answer {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q of answer %d %s", ct, resp.StatusCode, raw)
	}
	if err := json.Unmarshal(raw, &a.body); err != nil {
		t.Fatalf("answer %d %q: %v", resp.StatusCode, raw, err)
	}
	return a
}

const ndjson = "application/x-ndjson"

func lines(ls ...string) []byte { return []byte(strings.Join(ls, "\n") + "\n") }

func TestAccepted(t *testing.T) {
	f := newFixture(t, Options{})
	a := f.post(t, "", ndjson, "", lines(
		`{"time":"2024-05-04T10:00:00Z","level":"info","msg":"one","service":"api"}`,
		``,
		`{"level":"error","msg":"two","user":{"id":"u42"}}`,
	))
	if a.status != 200 || a.body.Accepted != 2 || a.body.Rejected != 0 || a.body.Errors == nil || len(a.body.Errors) != 0 {
		t.Fatalf("answer %d %s", a.status, a.raw)
	}
	if strings.Contains(a.raw, "dropped_attributes") || strings.Contains(a.raw, `"error"`) {
		t.Errorf("answer %s has fields that should be left out", a.raw)
	}
	logs, calls := f.app.got()
	if calls != 1 || len(logs) != 2 {
		t.Fatalf("%d calls, %d logs", calls, len(logs))
	}
	if logs[0].Body != "one" || logs[0].ServiceName != "api" || logs[0].Source != "json" || logs[1].Attributes != `{"user.id":"u42"}` || logs[1].Severity != 17 {
		t.Errorf("logs %+v", logs)
	}
	if got := f.metrics.Requests.With("json", "logs", "200").Value(); got != 1 {
		t.Errorf("requests{code=200} = %d", got)
	}
	if got := f.metrics.Records.With("logs", "json").Value(); got != 2 {
		t.Errorf("records = %d", got)
	}
}

func TestPartialSuccess(t *testing.T) {
	f := newFixture(t, Options{})
	body := []string{`{"msg":"good 1"}`}
	for i := range 12 {
		body = append(body, fmt.Sprintf(`{"msg":"bad %d"`, i))
	}
	body = append(body, `{"msg":"good 2"}`)
	a := f.post(t, "", ndjson, "", lines(body...))
	if a.status != 200 || a.body.Accepted != 2 || a.body.Rejected != 12 || len(a.body.Errors) != 10 {
		t.Fatalf("answer %d %s", a.status, a.raw)
	}
	if e := a.body.Errors[0]; e.Line != 2 || !strings.Contains(e.Error, "invalid JSON") {
		t.Errorf("first error %+v", e)
	}
	if got := f.metrics.Rejected.With("logs", jsonlog.ReasonMalformed).Value(); got != 12 {
		t.Errorf("rejected{malformed_json} = %d", got)
	}
	if logs, _ := f.app.got(); len(logs) != 2 {
		t.Errorf("%d logs committed", len(logs))
	}
}

func TestAllRejected(t *testing.T) {
	f := newFixture(t, Options{})
	a := f.post(t, "", ndjson, "", lines(`nope`, `[1]`))
	if a.status != 400 || a.body.Accepted != 0 || a.body.Rejected != 2 || len(a.body.Errors) != 2 || a.body.Error != "all 2 lines rejected" {
		t.Fatalf("answer %d %s", a.status, a.raw)
	}
	if _, calls := f.app.got(); calls != 0 {
		t.Errorf("appender called %d times", calls)
	}
	if got := f.metrics.Rejected.With("logs", jsonlog.ReasonNotObject).Value(); got != 1 {
		t.Errorf("rejected{not_an_object} = %d", got)
	}
	// A body without lines is not an error.
	if a := f.post(t, "", ndjson, "", []byte("\n\n")); a.status != 200 || a.body.Accepted != 0 {
		t.Errorf("blank body: %d %s", a.status, a.raw)
	}
}

func TestContentTypes(t *testing.T) {
	f := newFixture(t, Options{})
	for _, ct := range []string{"application/x-ndjson", "application/jsonl", "application/json", "text/plain", "Application/JSON; charset=utf-8", "text/plain;charset=UTF-8"} {
		if a := f.post(t, "", ct, "", lines(`{"msg":"x"}`)); a.status != 200 || a.body.Accepted != 1 {
			t.Errorf("%s: %d %s", ct, a.status, a.raw)
		}
	}
	for _, ct := range []string{"", "application/x-www-form-urlencoded", "application/x-protobuf", "text/html"} {
		if a := f.post(t, "", ct, "", lines(`{"msg":"x"}`)); a.status != 415 || !strings.Contains(a.body.Error, "application/x-ndjson") {
			t.Errorf("%q: %d %s", ct, a.status, a.raw)
		}
	}
	// A JSON array works with any accepted type.
	if a := f.post(t, "", "application/json", "", []byte(`[{"msg":"a"},{"msg":"b"}]`)); a.status != 200 || a.body.Accepted != 2 {
		t.Errorf("array: %d %s", a.status, a.raw)
	}
	if a := f.post(t, "", "application/json", "", []byte(`[{"msg":"a"}`)); a.status != 400 || !strings.Contains(a.body.Error, "invalid JSON array") {
		t.Errorf("broken array: %d %s", a.status, a.raw)
	}
	if got := f.metrics.Requests.With("json", "logs", "415").Value(); got != 4 {
		t.Errorf("requests{code=415} = %d", got)
	}
}

func TestMethod(t *testing.T) {
	f := newFixture(t, Options{})
	for _, m := range []string{http.MethodGet, http.MethodPut, http.MethodDelete} {
		req, _ := http.NewRequest(m, f.url, nil)
		a := do(t, req)
		if a.status != 405 || a.header.Get("Allow") != "POST" || !strings.Contains(a.body.Error, "POST") {
			t.Errorf("%s: %d Allow %q %s", m, a.status, a.header.Get("Allow"), a.raw)
		}
	}
}

func compress(t *testing.T, encoding string, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	var w io.WriteCloser
	switch encoding {
	case "gzip":
		w = gzip.NewWriter(&b)
	case "zlib":
		w = zlib.NewWriter(&b)
	case "flate":
		w, _ = flate.NewWriter(&b, flate.DefaultCompression)
	case "zstd":
		w, _ = zstd.NewWriter(&b)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestContentEncodings(t *testing.T) {
	f := newFixture(t, Options{})
	body := lines(`{"msg":"a"}`, `{"msg":"b"}`)
	for _, tc := range []struct{ header, codec string }{
		{"gzip", "gzip"}, {"x-gzip", "gzip"}, {"deflate", "zlib"}, {"deflate", "flate"}, {"zstd", "zstd"}, {"identity", ""}, {"GZIP", "gzip"},
	} {
		data := body
		if tc.codec != "" {
			data = compress(t, tc.codec, body)
		}
		if a := f.post(t, "", ndjson, tc.header, data); a.status != 200 || a.body.Accepted != 2 {
			t.Errorf("%s (%s): %d %s", tc.header, tc.codec, a.status, a.raw)
		}
	}
	for _, enc := range []string{"gzip", "deflate", "zstd"} {
		if a := f.post(t, "", ndjson, enc, []byte("not compressed at all")); a.status != 400 || !strings.Contains(a.body.Error, "invalid "+enc) {
			t.Errorf("bad %s body: %d %s", enc, a.status, a.raw)
		}
	}
	if a := f.post(t, "", ndjson, "br", body); a.status != 415 || !strings.Contains(a.body.Error, "Content-Encoding") {
		t.Errorf("br: %d %s", a.status, a.raw)
	}
}

func TestBodyLimit(t *testing.T) {
	const limit = 1000
	f := newFixture(t, Options{MaxBodyBytes: limit})
	line := []byte(`{"msg":"` + strings.Repeat("x", 89) + `"}` + "\n") // 100 bytes
	exact := bytes.Repeat(line, 10)
	over := append(bytes.Clone(exact), '\n')

	if a := f.post(t, "", ndjson, "", exact); a.status != 200 || a.body.Accepted != 10 {
		t.Errorf("exactly the limit: %d %s", a.status, a.raw)
	}
	if a := f.post(t, "", ndjson, "", over); a.status != 413 || !strings.Contains(a.body.Error, "exceeds the limit of 1000 bytes") {
		t.Errorf("over the limit: %d %s", a.status, a.raw)
	}
	// Without Content-Length, the limit applies while reading.
	req, _ := http.NewRequest(http.MethodPost, f.url, io.MultiReader(bytes.NewReader(over)))
	req.Header.Set("Content-Type", ndjson)
	if a := do(t, req); a.status != 413 {
		t.Errorf("chunked over the limit: %d %s", a.status, a.raw)
	}
	// A small compressed body that inflates beyond the limit.
	for _, enc := range []string{"gzip", "zstd"} {
		bomb := compress(t, enc, bytes.Repeat(line, 100))
		if len(bomb) >= limit {
			t.Fatalf("%s bomb of %d bytes is not small", enc, len(bomb))
		}
		if a := f.post(t, "", ndjson, enc, bomb); a.status != 413 || !strings.Contains(a.body.Error, "decompressed") {
			t.Errorf("%s bomb: %d %s", enc, a.status, a.raw)
		}
	}
	if a := f.post(t, "", ndjson, "gzip", compress(t, "gzip", exact)); a.status != 200 || a.body.Accepted != 10 {
		t.Errorf("gzip exactly the limit: %d %s", a.status, a.raw)
	}
}

func TestDecoderLimits(t *testing.T) {
	f := newFixture(t, Options{Decode: jsonlog.Options{MaxLines: 3, MaxLineBytes: 50, MaxAttributes: 2}})
	if a := f.post(t, "", ndjson, "", lines(`{}`, `{}`, `{}`, `{}`)); a.status != 413 || !strings.Contains(a.body.Error, "more than 3") {
		t.Errorf("too many lines: %d %s", a.status, a.raw)
	}
	a := f.post(t, "", ndjson, "", lines(`{"a":1,"b":2,"c":3,"d":4}`, `{"msg":"`+strings.Repeat("x", 50)+`"}`))
	if a.status != 200 || a.body.Accepted != 1 || a.body.DroppedAttributes != 2 || len(a.body.Errors) != 1 || !strings.Contains(a.body.Errors[0].Error, "limit of 50 bytes") {
		t.Errorf("limits: %d %s", a.status, a.raw)
	}
}

func TestResourceFromQuery(t *testing.T) {
	f := newFixture(t, Options{})
	a := f.post(t, "?service=shell&env=prod&host=box&version=1.0", ndjson, "", lines(`{"msg":"a"}`, `{"msg":"b","service":"own","host":"h2"}`))
	if a.status != 200 {
		t.Fatalf("%d %s", a.status, a.raw)
	}
	logs, _ := f.app.got()
	want := []telemetry.Resource{
		{ServiceName: "shell", Environment: "prod", Host: "box", ServiceVersion: "1.0", Attributes: "{}"},
		{ServiceName: "own", Environment: "prod", Host: "h2", ServiceVersion: "1.0", Attributes: "{}"},
	}
	for i, l := range logs {
		if l.Resource != want[i] {
			t.Errorf("log %d resource %+v, want %+v", i, l.Resource, want[i])
		}
	}
	if a := f.post(t, "", ndjson, "", lines(`{"msg":"c"}`)); a.status != 200 {
		t.Fatal(a.raw)
	}
	if logs, _ := f.app.got(); logs[2].ServiceName != "unknown_service" {
		t.Errorf("service without query %q", logs[2].ServiceName)
	}
}

func TestWindow(t *testing.T) {
	now := time.Now()
	f := newFixture(t, Options{Window: func(s telemetry.Signal) (time.Time, time.Time) {
		if s != telemetry.SignalLogs {
			t.Errorf("window asked for %s", s)
		}
		return now.Add(-time.Hour), now.Add(time.Hour)
	}})
	old := now.Add(-2 * time.Hour).UTC().Format(time.RFC3339)
	a := f.post(t, "", ndjson, "", lines(`{"msg":"now"}`, `{"msg":"old","time":"`+old+`"}`))
	if a.status != 200 || a.body.Accepted != 1 || a.body.Rejected != 1 || a.body.Errors[0].Line != 2 || !strings.Contains(a.body.Errors[0].Error, "before the accepted window") {
		t.Errorf("%d %s", a.status, a.raw)
	}
	if got := f.metrics.Rejected.With("logs", jsonlog.ReasonTooOld).Value(); got != 1 {
		t.Errorf("rejected{too_old} = %d", got)
	}
}

func TestAppendErrors(t *testing.T) {
	for _, tc := range []struct {
		err        error
		status     int
		retryAfter string
	}{
		{pipeline.ErrOverloaded, 429, "1"},
		{fmt.Errorf("queue: %w", pipeline.ErrOverloaded), 429, "1"},
		{pipeline.ErrStopped, 503, "1"},
		{context.DeadlineExceeded, 503, "1"},
		{errors.New("disk on fire"), 500, ""},
	} {
		f := newFixture(t, Options{Appender: &fakeAppender{err: tc.err}})
		a := f.post(t, "", ndjson, "", lines(`{"msg":"a"}`))
		if a.status != tc.status || a.header.Get("Retry-After") != tc.retryAfter || !strings.Contains(a.body.Error, tc.err.Error()) {
			t.Errorf("%v: %d Retry-After %q %s", tc.err, a.status, a.header.Get("Retry-After"), a.raw)
		}
		if got := f.metrics.Records.With("logs", "json").Value(); got != 0 {
			t.Errorf("%v: %d records counted as committed", tc.err, got)
		}
		if got := f.metrics.Requests.With("json", "logs", fmt.Sprint(tc.status)).Value(); got != 1 {
			t.Errorf("%v: requests{code=%d} = %d", tc.err, tc.status, got)
		}
	}
}

// A client that goes away while its records wait for the commit gets no
// answer and is counted as 499.
func TestClientGone(t *testing.T) {
	entered, done := make(chan struct{}), make(chan struct{})
	app := appendFunc(func(ctx context.Context, b *telemetry.Batch) error {
		close(entered)
		<-ctx.Done()
		defer close(done)
		return ctx.Err()
	})
	f := newFixture(t, Options{Appender: app})
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, f.url, bytes.NewReader(lines(`{"msg":"a"}`)))
	req.Header.Set("Content-Type", ndjson)
	errc := make(chan error, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	<-entered
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("client error %v, want context.Canceled", err)
	}
	<-done
	deadline := time.Now().Add(5 * time.Second)
	for f.metrics.Requests.With("json", "logs", "499").Value() != 1 {
		if time.Now().After(deadline) {
			t.Fatal("request not counted as 499")
		}
		time.Sleep(time.Millisecond)
	}
}

// The records handed to the appender must not change when the next request
// reuses the pooled body buffer.
func TestBufferReuse(t *testing.T) {
	f := newFixture(t, Options{})
	f.post(t, "", ndjson, "", lines(`{"msg":"first","service":"one","k":"v1"}`))
	f.post(t, "", ndjson, "", lines(`{"msg":"XXXXX","service":"XXX","k":"XX"}`))
	logs, _ := f.app.got()
	if logs[0].Body != "first" || logs[0].ServiceName != "one" || logs[0].Attributes != `{"k":"v1"}` {
		t.Errorf("first record changed: %+v", logs[0])
	}
}

func TestNewPanicsWithoutAppender(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("New without an Appender did not panic")
		}
	}()
	New(Options{})
}
