package apptest

import (
	"bytes"
	"context"
	bin "encoding/binary"
	"flag"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/fibinc/telltale/internal/top"
)

var updateGolden = flag.Bool("update", false, "rewrite the golden files in testdata")

// topNow is the fixed clock of the top test: the window of one minute
// before it holds every span the test sends but the stale ones.
var topNow = time.Date(2026, 5, 4, 10, 1, 0, 0, time.UTC)

// topInstance is one process of a service and the spans it sent, as
// offsets before topNow with a duration and whether they failed.
type topInstance struct {
	service, id, env string
	spans            []topSpan
	logsAt           []time.Duration // log records only, at these offsets
}

type topSpan struct {
	ago      time.Duration
	duration time.Duration
	kind     tracepb.Span_SpanKind
	root     bool
	failed   bool
}

// TestTopGolden sends spans and logs of a small fleet with fixed timestamps
// to a real server over OTLP/HTTP, then renders top --once with a clock
// just after them and compares the text with golden files.
func TestTopGolden(t *testing.T) {
	// The timestamps are months old: keep them past the default retention.
	s := start(t, t.TempDir(), "--retention-spans", "3650d", "--retention-logs", "3650d")
	server := func(ago, d time.Duration, failed bool) topSpan {
		return topSpan{ago: ago, duration: d, kind: tracepb.Span_SPAN_KIND_SERVER, root: true, failed: failed}
	}
	fleet := []topInstance{
		// Two frontends, one of which stopped 50 s ago: 1 of 2 up.
		{service: "fibfrontend", id: "fe-1", env: "prod", spans: []topSpan{
			server(58*time.Second, 12*time.Millisecond, false),
			server(40*time.Second, 15*time.Millisecond, false),
			server(20*time.Second, 40*time.Millisecond, true),
			server(5*time.Second, 1200*time.Millisecond, false),
			// A client call inside a request is not a request.
			{ago: 5 * time.Second, duration: 3 * time.Second, kind: tracepb.Span_SPAN_KIND_CLIENT},
		}},
		{service: "fibfrontend", id: "fe-2", env: "prod", spans: []topSpan{
			server(50*time.Second, 20*time.Millisecond, false),
		}},
		{service: "pricing", id: "pr-1", env: "prod", spans: []topSpan{
			server(30*time.Second, 850*time.Microsecond, false),
			server(20*time.Second, 1100*time.Microsecond, true),
			server(10*time.Second, 2500*time.Microsecond, false),
		}},
		// Only logs: no request figures.
		{service: "userstore", id: "us-1", env: "staging", logsAt: []time.Duration{45 * time.Second, 2 * time.Second}},
		// A worker has no server spans: its root spans are its requests.
		{service: "nightly-reconciliation-worker-eu-west", id: "w-1", env: "prod", spans: []topSpan{
			{ago: 15 * time.Second, duration: 2 * time.Second, kind: tracepb.Span_SPAN_KIND_INTERNAL, root: true},
		}},
		// Before the window: not shown at all.
		{service: "stale", id: "st-1", env: "prod", spans: []topSpan{
			server(2*time.Minute, time.Millisecond, false),
		}},
	}
	var seq uint64
	for _, in := range fleet {
		sendTop(t, s, in, &seq)
	}

	tests := []struct {
		golden string
		env    string
	}{
		{"top.golden", ""},
		{"top_env_prod.golden", "prod"},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			var out bytes.Buffer
			err := top.Run(context.Background(), top.Options{
				Server: "http://" + s.ui, Token: s.token, Once: true, Env: tt.env, Out: &out,
				Now: func() time.Time { return topNow },
			})
			if err != nil {
				t.Fatal(err)
			}
			// The port changes from run to run.
			got := strings.ReplaceAll(out.String(), s.ui, "127.0.0.1:PORT")
			path := filepath.Join("testdata", tt.golden)
			if *updateGolden {
				if err := os.MkdirAll("testdata", 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("telltale top output differs from %s (run with -update to accept):\n--- got\n%s--- want\n%s", path, got, want)
			}
		})
	}
}

// sendTop posts an instance's spans and logs over OTLP/HTTP and checks that
// the server accepted all of them.
func sendTop(t *testing.T, s *server, in topInstance, seq *uint64) {
	t.Helper()
	str := func(k, v string) *commonpb.KeyValue {
		return &commonpb.KeyValue{Key: k, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: v}}}
	}
	res := &resourcepb.Resource{Attributes: []*commonpb.KeyValue{
		str("service.name", in.service), str("service.instance.id", in.id),
		str("deployment.environment.name", in.env), str("host.name", "host-"+in.id),
	}}
	ts := func(ago time.Duration) uint64 { return uint64(topNow.Add(-ago).UnixNano()) }
	if len(in.spans) > 0 {
		var spans []*tracepb.Span
		var parent []byte
		for _, sp := range in.spans {
			*seq++
			traceID, spanID := make([]byte, 16), make([]byte, 8)
			bin.BigEndian.PutUint64(traceID[8:], *seq)
			bin.BigEndian.PutUint64(spanID, *seq)
			span := &tracepb.Span{TraceId: traceID, SpanId: spanID, Name: "GET /", Kind: sp.kind,
				StartTimeUnixNano: ts(sp.ago), EndTimeUnixNano: ts(sp.ago) + uint64(sp.duration)}
			if !sp.root {
				// A child of the previous span, in its trace.
				span.TraceId, span.ParentSpanId = spans[len(spans)-1].TraceId, parent
			}
			if sp.failed {
				span.Status = &tracepb.Status{Code: tracepb.Status_STATUS_CODE_ERROR, Message: "boom"}
			}
			parent = spanID
			spans = append(spans, span)
		}
		postOTLP(t, s, "/v1/traces", &coltracepb.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{{
			Resource: res, ScopeSpans: []*tracepb.ScopeSpans{{Spans: spans}},
		}}})
	}
	if len(in.logsAt) > 0 {
		var recs []*logspb.LogRecord
		for _, ago := range in.logsAt {
			recs = append(recs, &logspb.LogRecord{TimeUnixNano: ts(ago), SeverityText: "INFO",
				Body: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: "credit checked"}}})
		}
		postOTLP(t, s, "/v1/logs", &collogspb.ExportLogsServiceRequest{ResourceLogs: []*logspb.ResourceLogs{{
			Resource: res, ScopeLogs: []*logspb.ScopeLogs{{LogRecords: recs}},
		}}})
	}
}

// postOTLP sends one protobuf export request. The server answers once the
// records are committed, so they are visible to the API right after.
func postOTLP(t *testing.T, s *server, path string, msg proto.Message) {
	t.Helper()
	body, err := proto.Marshal(msg)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post("http://"+s.otlpAddr+path, "application/x-protobuf", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST %s: status %d: %q", path, resp.StatusCode, answer)
	}
	// A partial success carries a rejection count; a full one is empty.
	if len(answer) > 0 {
		if path == "/v1/traces" {
			var r coltracepb.ExportTraceServiceResponse
			if proto.Unmarshal(answer, &r) == nil && r.GetPartialSuccess().GetRejectedSpans() > 0 {
				t.Fatalf("POST %s: spans rejected: %s", path, r.GetPartialSuccess().GetErrorMessage())
			}
		} else {
			var r collogspb.ExportLogsServiceResponse
			if proto.Unmarshal(answer, &r) == nil && r.GetPartialSuccess().GetRejectedLogRecords() > 0 {
				t.Fatalf("POST %s: log records rejected: %s", path, r.GetPartialSuccess().GetErrorMessage())
			}
		}
	}
}
