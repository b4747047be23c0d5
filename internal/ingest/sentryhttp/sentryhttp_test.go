package sentryhttp

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/zstd"

	"github.com/fibinc/telltale/internal/pipeline"
	"github.com/fibinc/telltale/internal/state"
	statedb "github.com/fibinc/telltale/internal/state/duckdb"
	"github.com/fibinc/telltale/internal/telemetry"
)

// recorder is the pipeline end of the handler: it keeps what it is given,
// or fails with err.
type recorder struct {
	mu      sync.Mutex
	batches []*telemetry.Batch
	err     error
}

func (r *recorder) Append(_ context.Context, b *telemetry.Batch) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return r.err
	}
	r.batches = append(r.batches, b)
	return nil
}

func (r *recorder) errors() []telemetry.ErrorEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []telemetry.ErrorEvent
	for _, b := range r.batches {
		out = append(out, b.Errors...)
	}
	return out
}

// fixture is a handler over a real state store with one project.
type fixture struct {
	h    *Handler
	rec  *recorder
	proj state.Project
	now  time.Time
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	st, err := statedb.Open(context.Background(), statedb.Options{Path: t.TempDir() + "/state.duckdb"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	p, err := st.CreateProject(context.Background(), "fib", "FibPro")
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{rec: &recorder{}, proj: p, now: time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)}
	f.h = New(Options{
		Appender: f.rec, Projects: st, MaxBodyBytes: 128 << 10, MaxEnvelopeBytes: 256 << 10,
		Now: func() time.Time { return f.now },
		Window: func(telemetry.Signal) (time.Time, time.Time) {
			return f.now.Add(-30 * 24 * time.Hour), f.now.Add(24 * time.Hour)
		},
	})
	return f
}

func (f *fixture) auth() string {
	return "Sentry sentry_version=7, sentry_client=test/1, sentry_key=" + f.proj.PublicKey
}

func (f *fixture) do(method, path string, hdr map[string]string, body []byte) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, bytes.NewReader(body))
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, req)
	return w
}

const eventJSON = `{"event_id":"9ec79c33ec9942ab8353589fcb2e04dc","timestamp":"2026-11-21T11:59:00Z","platform":"python","level":"error",
"release":"pricing@2.1.0","exception":{"values":[{"type":"ValueError","value":"invalid literal for int() with base 10: '4.5'",
"stacktrace":{"frames":[{"filename":"app.py","function":"fib","lineno":3,"in_app":true}]}}]}}`

func envelope(items ...string) []byte {
	return []byte(`{"event_id":"9ec79c33ec9942ab8353589fcb2e04dc","sent_at":"2026-11-21T11:59:01Z"}` + "\n" + strings.Join(items, "\n") + "\n")
}

func eventItem(payload string) string {
	return `{"type":"event"}` + "\n" + strings.ReplaceAll(payload, "\n", "")
}

func compress(t *testing.T, enc string, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	var w io.WriteCloser
	switch enc {
	case "gzip":
		w = gzip.NewWriter(&buf)
	case "deflate":
		w = zlib.NewWriter(&buf)
	case "br":
		w = brotli.NewWriter(&buf)
	case "zstd":
		zw, err := zstd.NewWriter(&buf)
		if err != nil {
			t.Fatal(err)
		}
		w = zw
	default:
		return b
	}
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

func TestEnvelopeEncodings(t *testing.T) {
	for _, enc := range []string{"", "gzip", "deflate", "br", "zstd"} {
		t.Run("encoding="+enc, func(t *testing.T) {
			f := newFixture(t)
			hdr := map[string]string{"X-Sentry-Auth": f.auth(), "Content-Type": "application/x-sentry-envelope"}
			if enc != "" {
				hdr["Content-Encoding"] = enc
			}
			w := f.do("POST", fmt.Sprintf("/api/%d/envelope/", f.proj.ID), hdr, compress(t, enc, envelope(eventItem(eventJSON))))
			if w.Code != 200 || strings.TrimSpace(w.Body.String()) != `{"id":"9ec79c33ec9942ab8353589fcb2e04dc"}` {
				t.Fatalf("answer %d %s", w.Code, w.Body)
			}
			evs := f.rec.errors()
			if len(evs) != 1 {
				t.Fatalf("%d events recorded", len(evs))
			}
			ev := evs[0]
			if ev.ProjectID != f.proj.ID || ev.ServiceName != "pricing" || ev.Source != telemetry.ErrorSourceSentry || !ev.Received.Equal(f.now) {
				t.Errorf("event: project %d service %q source %q received %s", ev.ProjectID, ev.ServiceName, ev.Source, ev.Received)
			}
			// sent_at is 59s behind the receive time: within the drift allowed.
			if want := time.Date(2026, 11, 21, 11, 59, 0, 0, time.UTC); !ev.Time.Equal(want) {
				t.Errorf("time = %s, want %s", ev.Time, want)
			}
		})
	}
}

func TestClockDrift(t *testing.T) {
	f := newFixture(t)
	// The client's clock is two hours behind.
	body := []byte(`{"sent_at":"2026-11-21T10:00:00Z"}` + "\n" + eventItem(strings.Replace(eventJSON, "11:59:00", "09:59:00", 1)) + "\n")
	w := f.do("POST", fmt.Sprintf("/api/%d/envelope/", f.proj.ID), map[string]string{"X-Sentry-Auth": f.auth()}, body)
	if w.Code != 200 {
		t.Fatalf("answer %d %s", w.Code, w.Body)
	}
	if got, want := f.rec.errors()[0].Time, time.Date(2026, 11, 21, 11, 59, 0, 0, time.UTC); !got.Equal(want) {
		t.Errorf("corrected time = %s, want %s", got, want)
	}
}

func TestStoreEndpoint(t *testing.T) {
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	zw.Write([]byte(eventJSON))
	zw.Close()
	for name, body := range map[string][]byte{
		"plain":       []byte(eventJSON),
		"base64":      []byte(base64.StdEncoding.EncodeToString([]byte(eventJSON))),
		"zlib+base64": []byte(base64.StdEncoding.EncodeToString(z.Bytes())),
	} {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t)
			w := f.do("POST", fmt.Sprintf("/api/%d/store/?sentry_key=%s&sentry_version=7", f.proj.ID, f.proj.PublicKey), nil, body)
			if w.Code != 200 || !strings.Contains(w.Body.String(), "9ec79c33ec9942ab8353589fcb2e04dc") {
				t.Fatalf("answer %d %s", w.Code, w.Body)
			}
			if evs := f.rec.errors(); len(evs) != 1 || evs[0].MainException().Type != "ValueError" {
				t.Errorf("events = %+v", evs)
			}
		})
	}
}

func TestCORS(t *testing.T) {
	f := newFixture(t)
	w := f.do("OPTIONS", fmt.Sprintf("/api/%d/envelope/", f.proj.ID), map[string]string{"Origin": "https://fib.example", "Access-Control-Request-Method": "POST"}, nil)
	if w.Code != 200 || w.Header().Get("Access-Control-Allow-Origin") != "*" ||
		!strings.Contains(w.Header().Get("Access-Control-Allow-Headers"), "X-Sentry-Auth") ||
		!strings.Contains(w.Header().Get("Access-Control-Allow-Methods"), "POST") {
		t.Errorf("preflight: %d %v", w.Code, w.Header())
	}
}

func TestSubPath(t *testing.T) {
	f := newFixture(t)
	w := f.do("POST", fmt.Sprintf("/sentry/api/%d/envelope/", f.proj.ID), map[string]string{"X-Sentry-Auth": f.auth()}, envelope(eventItem(eventJSON)))
	if w.Code != 200 {
		t.Errorf("answer %d %s", w.Code, w.Body)
	}
}

// bomb is gzip of n zero bytes: tiny on the wire, huge decompressed.
func bomb(n int) []byte {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	zw.Write(make([]byte, n))
	zw.Close()
	return buf.Bytes()
}

func TestHostileInput(t *testing.T) {
	f := newFixture(t)
	path := fmt.Sprintf("/api/%d/envelope/", f.proj.ID)
	auth := map[string]string{"X-Sentry-Auth": f.auth()}
	withEnc := func(enc string) map[string]string {
		return map[string]string{"X-Sentry-Auth": f.auth(), "Content-Encoding": enc}
	}
	deep := strings.Repeat(`{"a":`, 100_000) + "1" + strings.Repeat("}", 100_000)
	tests := []struct {
		name   string
		method string
		path   string
		hdr    map[string]string
		body   []byte
		want   int
		detail string // a part of the error message
	}{
		{"not an endpoint", "POST", "/api/1/minidump/", auth, nil, 404, "no Sentry endpoint"},
		{"project id not a number", "POST", "/api/fib/envelope/", auth, nil, 404, "no Sentry endpoint"},
		{"GET", "GET", path, auth, nil, 405, "method GET"},
		{"garbage auth header", "POST", path, map[string]string{"X-Sentry-Auth": "Basic dXNlcg=="}, envelope(), 401, "missing or invalid ingest key"},
		{"no auth", "POST", path, nil, envelope(eventItem(eventJSON)), 401, "missing or invalid ingest key"},
		{"wrong key", "POST", path, map[string]string{"X-Sentry-Auth": "Sentry sentry_key=ffffffffffffffffffffffffffffffff"}, envelope(), 401, "missing or invalid ingest key"},
		{"wrong project", "POST", "/api/77/envelope/", auth, envelope(), 401, "missing or invalid ingest key"},
		{"body over limit", "POST", path, auth, make([]byte, 129<<10), 413, "exceeds"},
		{"gzip bomb", "POST", path, withEnc("gzip"), bomb(10 << 20), 413, "exceeds"},
		{"not gzip", "POST", path, withEnc("gzip"), []byte("plain text"), 400, "decompress"},
		{"unknown encoding", "POST", path, withEnc("lz4"), envelope(), 415, "Content-Encoding"},
		{"invalid header JSON", "POST", path, auth, []byte("{nope\n"), 400, ""},
		{"length past the end", "POST", path, auth, []byte("{}\n{\"type\":\"event\",\"length\":999}\n{}\n"), 400, ""},
		{"length too short", "POST", path, auth, []byte("{}\n{\"type\":\"event\",\"length\":2}\n{\"message\":\"x\"}\n"), 400, ""},
		{"item without type", "POST", path, auth, []byte("{}\n{\"length\":2}\n{}\n"), 400, ""},
		{"event not JSON", "POST", path, auth, envelope(eventItem("not json")), 400, "event"},
		{"event invalid UTF-8", "POST", path, auth, envelope(eventItem("{\"message\":\"\xff\xfe\"}")), 200, ""},
		{"huge nested event", "POST", path, auth, envelope(eventItem(`{"extra":` + deep + `}`)), 413, ""},
		{"deeply nested event", "POST", path, auth, envelope(eventItem(`{"extra":` + deep[:5*5000] + "1" + strings.Repeat("}", 5000) + `}`)), 200, ""},
		{"nesting beyond JSON depth", "POST", path, auth, envelope(eventItem(`{"extra":` + deep[:5*11000] + "1" + strings.Repeat("}", 11000) + `}`)), 400, ""},
		{"two events", "POST", path, auth, envelope(eventItem(eventJSON), eventItem(eventJSON)), 400, ""},
		{"client report only", "POST", path, auth, envelope(`{"type":"client_report"}` + "\n" + `{"discarded_events":[]}`), 200, ""},
		{"unknown item type", "POST", path, auth, envelope(`{"type":"future_thing","length":3}`+"\nabc", eventItem(eventJSON)), 200, ""},
		{"store not JSON", "POST", fmt.Sprintf("/api/%d/store/", f.proj.ID), auth, []byte("%%%"), 400, ""},
		{"store zlib bomb", "POST", fmt.Sprintf("/api/%d/store/", f.proj.ID), auth, zlibBomb(), 413, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := f.do(tc.method, tc.path, tc.hdr, tc.body)
			if w.Code != tc.want {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.want, w.Body)
			}
			if tc.want != 200 {
				if !strings.Contains(w.Body.String(), `"detail"`) || !strings.Contains(w.Body.String(), tc.detail) {
					t.Errorf("body %s does not name the problem (%q)", w.Body, tc.detail)
				}
			}
		})
	}
}

func zlibBomb() []byte {
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	zw.Write([]byte(`{"message":"` + strings.Repeat("a", 4<<20) + `"}`))
	zw.Close()
	return []byte(base64.StdEncoding.EncodeToString(z.Bytes()))
}

func TestOverload(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want int
	}{
		{fmt.Errorf("%w: 10 errors waiting", pipeline.ErrOverloaded), 429},
		{pipeline.ErrStopped, 503},
	} {
		f := newFixture(t)
		f.rec.err = tc.err
		w := f.do("POST", fmt.Sprintf("/api/%d/envelope/", f.proj.ID), map[string]string{"X-Sentry-Auth": f.auth()}, envelope(eventItem(eventJSON)))
		if w.Code != tc.want || w.Header().Get("Retry-After") == "" {
			t.Errorf("%v: status %d Retry-After %q, want %d with Retry-After", tc.err, w.Code, w.Header().Get("Retry-After"), tc.want)
		}
	}
}

func TestCheckIn(t *testing.T) {
	f := newFixture(t)
	body := envelope(`{"type":"check_in"}` + "\n" + `{"check_in_id":"4e8b1c6d2f8a4b0c9d3e5f6a7b8c9d0e","monitor_slug":"nightly","status":"error","duration":1.5,"release":"cron@1.0"}`)
	w := f.do("POST", fmt.Sprintf("/api/%d/envelope/", f.proj.ID), map[string]string{"X-Sentry-Auth": f.auth()}, body)
	if w.Code != 200 {
		t.Fatalf("answer %d %s", w.Code, w.Body)
	}
	if len(f.rec.batches) != 1 || len(f.rec.batches[0].Logs) != 1 {
		t.Fatalf("batches = %+v", f.rec.batches)
	}
	l := f.rec.batches[0].Logs[0]
	if l.EventName != "sentry.check_in" || l.Severity != telemetry.SeverityError || l.ServiceName != "cron" ||
		!strings.Contains(l.Attributes, `"monitor.slug":"nightly"`) {
		t.Errorf("check-in log = %+v", l)
	}
}
