package otlp

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"

	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// The ingest target for the whole server is 200k log records/s and 150k
// spans/s on 2 cores; decoding one core's share must be well above that.
// Run with:
//
//	go test -run '^$' -bench . -benchmem ./internal/decode/otlp/

const benchRecords = 1000

// benchResource is what an SDK on Kubernetes typically sends.
func benchResource() *resourcepb.Resource {
	return &resourcepb.Resource{Attributes: []*commonpb.KeyValue{
		str("service.name", "checkout"),
		str("service.version", "1.4.2"),
		str("service.instance.id", "9f1c7a52-3c1e-4c59-a8f5-1b2d3e4f5a6b"),
		str("deployment.environment.name", "production"),
		str("host.name", "ip-10-0-3-17.eu-west-1.compute.internal"),
		str("cloud.availability_zone", "eu-west-1a"),
		str("telemetry.sdk.name", "opentelemetry"),
		str("telemetry.sdk.language", "go"),
		str("telemetry.sdk.version", "1.47.0"),
		str("k8s.pod.name", "checkout-7d9f8b6c4-xk2lp"),
		str("k8s.namespace.name", "shop"),
	}}
}

func benchID(i, size int) []byte {
	b := make([]byte, size)
	binary.BigEndian.PutUint64(b[size-8:], uint64(i)*0x9e3779b97f4a7c15+1)
	b[0] = 0xab
	return b
}

// benchTraces is an HTTP server span with a database child, repeated.
func benchTraces() *coltracepb.ExportTraceServiceRequest {
	spans := make([]*tracepb.Span, benchRecords)
	for i := range spans {
		start := t0.Add(time.Duration(i) * time.Millisecond)
		s := &tracepb.Span{
			TraceId:           benchID(i/2, 16),
			SpanId:            benchID(i, 8),
			Name:              "GET /api/cart/{id}",
			Kind:              tracepb.Span_SPAN_KIND_SERVER,
			StartTimeUnixNano: ns(start),
			EndTimeUnixNano:   ns(start.Add(3 * time.Millisecond)),
			Attributes: []*commonpb.KeyValue{
				str("http.request.method", "GET"),
				str("http.route", "/api/cart/{id}"),
				str("url.path", fmt.Sprintf("/api/cart/%d", i)),
				str("url.scheme", "https"),
				kv("http.response.status_code", intVal(200)),
				str("server.address", "checkout.shop.svc"),
				kv("server.port", intVal(8443)),
				str("user_agent.original", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36"),
				str("network.protocol.version", "1.1"),
				str("request.id", fmt.Sprintf("req-%08d", i)),
			},
			Status: &tracepb.Status{},
		}
		if i%2 == 1 {
			s.ParentSpanId = benchID(i-1, 8)
			s.Name, s.Kind = "SELECT shop.carts", tracepb.Span_SPAN_KIND_CLIENT
			s.Attributes = []*commonpb.KeyValue{
				str("db.system.name", "postgresql"),
				str("db.namespace", "shop"),
				str("db.query.text", "SELECT id, items, updated_at FROM carts WHERE id = $1"),
				str("server.address", "pg.shop.svc"),
				kv("server.port", intVal(5432)),
			}
		}
		if i%10 == 0 {
			s.Events = []*tracepb.Span_Event{{TimeUnixNano: ns(start), Name: "cache miss",
				Attributes: []*commonpb.KeyValue{str("cache.key", "cart")}}}
		}
		spans[i] = s
	}
	return &coltracepb.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{{
		Resource:   benchResource(),
		ScopeSpans: []*tracepb.ScopeSpans{{Scope: testScope, Spans: spans}},
	}}}
}

func benchLogs() *collogspb.ExportLogsServiceRequest {
	records := make([]*logspb.LogRecord, benchRecords)
	for i := range records {
		records[i] = &logspb.LogRecord{
			TimeUnixNano:         ns(t0.Add(time.Duration(i) * time.Millisecond)),
			ObservedTimeUnixNano: ns(t0.Add(time.Duration(i)*time.Millisecond + time.Microsecond)),
			SeverityNumber:       logspb.SeverityNumber_SEVERITY_NUMBER_INFO,
			SeverityText:         "INFO",
			Body:                 strVal(fmt.Sprintf("cart %d updated: 3 items, total 42.50 EUR, coupon applied", i)),
			Attributes: []*commonpb.KeyValue{
				str("code.function.name", "github.com/shop/checkout/cart.(*Service).Update"),
				str("code.file.path", "/src/cart/service.go"),
				kv("code.line.number", intVal(214)),
				str("request_id", fmt.Sprintf("req-%08d", i)),
				str("user.id", "u-4821"),
			},
			TraceId: benchID(i, 16),
			SpanId:  benchID(i, 8),
		}
	}
	return &collogspb.ExportLogsServiceRequest{ResourceLogs: []*logspb.ResourceLogs{{
		Resource:  benchResource(),
		ScopeLogs: []*logspb.ScopeLogs{{Scope: testScope, LogRecords: records}},
	}}}
}

// otlpJSON encodes m as OTLP/JSON: protojson with hex ids. ids lists every id
// in m, so that their base64 form can be replaced.
func otlpJSON(b *testing.B, m proto.Message, ids [][]byte) []byte {
	text, err := protojson.Marshal(m)
	if err != nil {
		b.Fatal(err)
	}
	var pairs []string
	for _, id := range ids {
		if len(id) == 0 {
			continue
		}
		pairs = append(pairs, `"`+base64.StdEncoding.EncodeToString(id)+`"`, `"`+hex.EncodeToString(id)+`"`)
	}
	return []byte(strings.NewReplacer(pairs...).Replace(string(text)))
}

func reportRate(b *testing.B, unit string) {
	b.ReportMetric(float64(benchRecords*b.N)/b.Elapsed().Seconds(), unit+"/s")
}

func BenchmarkTraces(b *testing.B) {
	req := benchTraces()
	for b.Loop() {
		if res := Traces(req, Options{}); len(res.Batch.Spans) != benchRecords {
			b.Fatal(res.Reason)
		}
	}
	reportRate(b, "spans")
}

func BenchmarkDecodeTracesProto(b *testing.B) {
	body, err := proto.Marshal(benchTraces())
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		req, err := DecodeTracesProto(body)
		if err != nil {
			b.Fatal(err)
		}
		if res := Traces(req, Options{}); len(res.Batch.Spans) != benchRecords {
			b.Fatal(res.Reason)
		}
	}
	reportRate(b, "spans")
}

func BenchmarkDecodeTracesJSON(b *testing.B) {
	req := benchTraces()
	var ids [][]byte
	for _, s := range req.ResourceSpans[0].ScopeSpans[0].Spans {
		ids = append(ids, s.TraceId, s.SpanId, s.ParentSpanId)
	}
	body := otlpJSON(b, req, ids)
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		req, err := DecodeTracesJSON(body)
		if err != nil {
			b.Fatal(err)
		}
		if res := Traces(req, Options{}); len(res.Batch.Spans) != benchRecords {
			b.Fatal(res.Reason)
		}
	}
	reportRate(b, "spans")
}

func BenchmarkLogs(b *testing.B) {
	req := benchLogs()
	for b.Loop() {
		if res := Logs(req, Options{}); len(res.Batch.Logs) != benchRecords {
			b.Fatal(res.Reason)
		}
	}
	reportRate(b, "logs")
}

func BenchmarkDecodeLogsProto(b *testing.B) {
	body, err := proto.Marshal(benchLogs())
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		req, err := DecodeLogsProto(body)
		if err != nil {
			b.Fatal(err)
		}
		if res := Logs(req, Options{}); len(res.Batch.Logs) != benchRecords {
			b.Fatal(res.Reason)
		}
	}
	reportRate(b, "logs")
}

func BenchmarkDecodeLogsJSON(b *testing.B) {
	req := benchLogs()
	var ids [][]byte
	for _, l := range req.ResourceLogs[0].ScopeLogs[0].LogRecords {
		ids = append(ids, l.TraceId, l.SpanId)
	}
	body := otlpJSON(b, req, ids)
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		req, err := DecodeLogsJSON(body)
		if err != nil {
			b.Fatal(err)
		}
		if res := Logs(req, Options{}); len(res.Batch.Logs) != benchRecords {
			b.Fatal(res.Reason)
		}
	}
	reportRate(b, "logs")
}
