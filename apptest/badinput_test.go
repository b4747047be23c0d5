package apptest

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
)

func gz(b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

// TestBadInput sends malformed, truncated, oversized, wrongly typed and
// wrongly encoded requests to every endpoint of the real binary, checks each
// answer, and checks that the server is still healthy and still stores good
// data afterwards.
func TestBadInput(t *testing.T) {
	s := start(t, t.TempDir(), "--max-body-size", "64KB")

	validSpan, _ := proto.Marshal(&coltracepb.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{{
		ScopeSpans: []*tracepb.ScopeSpans{{Spans: []*tracepb.Span{{
			TraceId: bytes.Repeat([]byte{1}, 16), SpanId: bytes.Repeat([]byte{2}, 8), Name: "ok",
			StartTimeUnixNano: uint64(time.Now().UnixNano()), EndTimeUnixNano: uint64(time.Now().UnixNano()),
		}}}},
	}}})
	badID, _ := proto.Marshal(&coltracepb.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{{
		ScopeSpans: []*tracepb.ScopeSpans{{Spans: []*tracepb.Span{
			{TraceId: []byte{1, 2, 3}, SpanId: bytes.Repeat([]byte{2}, 8), Name: "bad", StartTimeUnixNano: uint64(time.Now().UnixNano())},
			{TraceId: bytes.Repeat([]byte{3}, 16), SpanId: bytes.Repeat([]byte{4}, 8), Name: "good", StartTimeUnixNano: uint64(time.Now().UnixNano())},
		}}},
	}}})
	old, _ := proto.Marshal(&coltracepb.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{{
		ScopeSpans: []*tracepb.ScopeSpans{{Spans: []*tracepb.Span{{
			TraceId: bytes.Repeat([]byte{5}, 16), SpanId: bytes.Repeat([]byte{6}, 8), Name: "ancient", StartTimeUnixNano: 1_000_000_000,
		}}}},
	}}})
	big := bytes.Repeat([]byte("x"), 100<<10)
	bomb := gz(bytes.Repeat([]byte{0}, 10<<20)) // 10 MiB of zeros in ~10 KiB

	type req struct {
		name, method, path, ctype, encoding string
		body                                []byte
		status                              int
		contains                            string
	}
	otlp := s.otlpAddr
	ui := s.ui
	cases := []struct {
		addr string
		req
	}{
		// OTLP/HTTP.
		{otlp, req{"wrong method", "GET", "/v1/traces", "", "", nil, 405, ""}},
		{otlp, req{"unknown signal path", "POST", "/v1/profiles", "application/x-protobuf", "", validSpan, 404, ""}},
		{otlp, req{"unknown content type", "POST", "/v1/traces", "text/plain", "", validSpan, 415, "text/plain"}},
		{otlp, req{"no content type", "POST", "/v1/logs", "", "", validSpan, 415, "Content-Type"}},
		{otlp, req{"unknown encoding", "POST", "/v1/traces", "application/x-protobuf", "compress", validSpan, 415, "compress"}},
		{otlp, req{"gzip header but plain body", "POST", "/v1/traces", "application/x-protobuf", "gzip", validSpan, 400, "gzip"}},
		{otlp, req{"truncated gzip", "POST", "/v1/traces", "application/x-protobuf", "gzip", gz(validSpan)[:20], 400, "gzip"}},
		{otlp, req{"truncated protobuf", "POST", "/v1/traces", "application/x-protobuf", "", validSpan[:len(validSpan)-7], 400, "protobuf"}},
		{otlp, req{"garbage protobuf", "POST", "/v1/metrics", "application/x-protobuf", "", []byte{0xff, 0xff, 0xff, 0xff}, 400, "protobuf"}},
		{otlp, req{"invalid JSON", "POST", "/v1/logs", "application/json", "", []byte(`{"resourceLogs": [`), 400, "JSON"}},
		{otlp, req{"wrongly typed JSON", "POST", "/v1/traces", "application/json", "", []byte(`{"resourceSpans": {"a": 1}}`), 400, "JSON"}},
		{otlp, req{"bad hex id in JSON", "POST", "/v1/traces", "application/json", "",
			[]byte(`{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"zz","spanId":"0102030405060708","name":"x","startTimeUnixNano":"1"}]}]}]}`), 400, "traceId"}},
		{otlp, req{"oversized body", "POST", "/v1/traces", "application/x-protobuf", "", big, 413, ""}},
		{otlp, req{"gzip bomb", "POST", "/v1/logs", "application/x-protobuf", "gzip", bomb, 413, ""}},
		{otlp, req{"one bad span of two: partial success", "POST", "/v1/traces", "application/x-protobuf", "", badID, 200, ""}},
		{otlp, req{"span older than retention", "POST", "/v1/traces", "application/x-protobuf", "", old, 400, "rejected"}},
		{otlp, req{"empty body", "POST", "/v1/traces", "application/x-protobuf", "", nil, 200, ""}},
		// Query API.
		{ui, req{"bad from", "GET", "/api/v1/services?from=yesterday", "", "", nil, 400, "from"}},
		{ui, req{"from after to", "GET", "/api/v1/logs?from=now-1h&to=now-2h", "", "", nil, 400, "from"}},
		{ui, req{"range too long", "GET", "/api/v1/logs?from=now-400d", "", "", nil, 400, "range"}},
		{ui, req{"negative limit", "GET", "/api/v1/logs?limit=-3", "", "", nil, 400, "limit"}},
		{ui, req{"non-numeric limit", "GET", "/api/v1/traces?limit=ten", "", "", nil, 400, "limit"}},
		{ui, req{"unbalanced filter", "GET", "/api/v1/logs?q=(service:a", "", "", nil, 400, "parenthesis"}},
		{ui, req{"unknown level", "GET", "/api/v1/logs?q=level>=loud", "", "", nil, 400, "loud"}},
		{ui, req{"injection attempt is just text", "GET", "/api/v1/logs?q=%22%27%3B%20DROP%20TABLE%20logs%3B--%22", "", "", nil, 200, ""}},
		{ui, req{"bad cursor", "GET", "/api/v1/logs?cursor=notacursor", "", "", nil, 400, "cursor"}},
		{ui, req{"bad trace id", "GET", "/api/v1/traces/xyz", "", "", nil, 400, "trace"}},
		{ui, req{"unknown trace", "GET", "/api/v1/traces/0102030405060708090a0b0c0d0e0f10", "", "", nil, 404, ""}},
		{ui, req{"bad min_duration", "GET", "/api/v1/traces?min_duration=soon", "", "", nil, 400, "min_duration"}},
		{ui, req{"bad status", "GET", "/api/v1/traces?status=purple", "", "", nil, 400, "status"}},
		{ui, req{"unknown request", "GET", "/api/v1/requests/nope", "", "", nil, 404, ""}},
		{ui, req{"metric query without name", "GET", "/api/v1/metrics/query?agg=sum", "", "", nil, 400, "name"}},
		{ui, req{"unknown aggregation", "GET", "/api/v1/metrics/query?name=x&agg=median", "", "", nil, 400, "agg"}},
		{ui, req{"too many points", "GET", "/api/v1/metrics/query?name=x&step=1s&from=now-30d", "", "", nil, 400, "points"}},
		{ui, req{"bad step", "GET", "/api/v1/metrics/query?name=x&step=-5s", "", "", nil, 400, "step"}},
		{ui, req{"unknown API path", "GET", "/api/v1/nothing", "", "", nil, 404, ""}},
		{ui, req{"write method on API", "POST", "/api/v1/services", "", "", nil, 405, ""}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, _ := http.NewRequest(c.method, "http://"+c.addr+c.path, bytes.NewReader(c.body))
			if c.ctype != "" {
				r.Header.Set("Content-Type", c.ctype)
			}
			if c.encoding != "" {
				r.Header.Set("Content-Encoding", c.encoding)
			}
			resp, err := http.DefaultClient.Do(r)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != c.status {
				t.Errorf("status %d, want %d; body %q", resp.StatusCode, c.status, body)
			}
			if c.contains != "" && !strings.Contains(strings.ToLower(string(body)), strings.ToLower(c.contains)) {
				t.Errorf("body %q does not mention %q", body, c.contains)
			}
		})
	}

	// gRPC: invalid records and an oversized message.
	conn, err := grpc.NewClient(s.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := coltracepb.NewTraceServiceClient(conn)
	var oldReq coltracepb.ExportTraceServiceRequest
	proto.Unmarshal(old, &oldReq)
	if _, err := client.Export(context.Background(), &oldReq); status.Code(err) != codes.InvalidArgument {
		t.Errorf("gRPC export of an ancient span: %v, want InvalidArgument", err)
	}
	var partial coltracepb.ExportTraceServiceRequest
	proto.Unmarshal(badID, &partial)
	resp, err := client.Export(context.Background(), &partial)
	if err != nil || resp.GetPartialSuccess().GetRejectedSpans() != 1 || !strings.Contains(resp.GetPartialSuccess().GetErrorMessage(), "trace_id") {
		t.Errorf("gRPC partial success: %v, %v", resp, err)
	}
	huge := &coltracepb.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{{ScopeSpans: []*tracepb.ScopeSpans{{
		Spans: []*tracepb.Span{{TraceId: bytes.Repeat([]byte{1}, 16), SpanId: bytes.Repeat([]byte{1}, 8), Name: string(big)}},
	}}}}}
	if _, err := client.Export(context.Background(), huge); status.Code(err) != codes.ResourceExhausted {
		t.Errorf("gRPC oversized export: %v, want ResourceExhausted", err)
	}

	// Still healthy, and still storing: the good span of the partial request
	// and a new valid one are there.
	s.healthy()
	r, _ := http.NewRequest("POST", "http://"+otlp+"/v1/traces", bytes.NewReader(validSpan))
	r.Header.Set("Content-Type", "application/x-protobuf")
	if resp, err := http.DefaultClient.Do(r); err != nil || resp.StatusCode != 200 {
		t.Fatalf("valid export after bad input: %v %v", resp, err)
	}
	var got struct{ Data []struct{ Name string } }
	s.get("/api/v1/traces/01010101010101010101010101010101", 200, nil)
	s.get("/api/v1/traces/03030303030303030303030303030303", 200, nil)
	s.get("/api/v1/services", 200, &got)
	if len(got.Data) != 1 || got.Data[0].Name != "unknown_service" {
		t.Errorf("services after bad input: %+v", got.Data)
	}
}
