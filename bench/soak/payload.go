package main

// Payloads: pre-encoded OTLP requests whose records carry placeholders at
// known offsets, overwritten with each request's record ids, so that every
// record sent is distinct and identifiable in the store without the driver
// spending its CPU on protobuf encoding while it shares the machine with
// the server.

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"time"

	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	colmetricspb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// service is the service.name of every OTLP record the driver sends; the
// verifier counts only records of this service.
const service = "soak"

// gaugeName is the metric every OTLP point belongs to; a point's value is
// its id.
const gaugeName = "soak_gauge"

// statsdName is the StatsD counter the driver increments.
const statsdName = "soak.statsd.lines"

// idShift splits a record id into the request number (high bits) and the
// record's index in the request (low bits): id = request<<idShift | index.
const idShift = 20

// template is an encoded OTLP request of n records and the offset of each
// record's 8-byte id placeholder.
type template struct {
	body    []byte
	offsets []int
	float   bool // the id is written as a little-endian float64 (metric values), else big-endian bytes (span ids)
}

// render returns a copy of the template whose records carry the ids
// req<<idShift | i.
func (t *template) render(req uint64) []byte {
	b := bytes.Clone(t.body)
	for i, o := range t.offsets {
		id := req<<idShift | uint64(i)
		if t.float {
			binary.LittleEndian.PutUint64(b[o:], math.Float64bits(float64(id)))
		} else {
			binary.BigEndian.PutUint64(b[o:], id)
		}
	}
	return b
}

// placeholder is the id placeholder of record i: a pattern that cannot
// appear elsewhere in the encoded request.
func placeholder(i int) uint64 { return 0x7A5AC33C_00000000 | uint64(i) }

// locate finds the placeholders of n records in body, in order.
func locate(body []byte, n int, float bool) ([]int, error) {
	offsets := make([]int, n)
	from := 0
	var pat [8]byte
	for i := range n {
		if float {
			binary.LittleEndian.PutUint64(pat[:], math.Float64bits(math.Float64frombits(placeholder(i))))
		} else {
			binary.BigEndian.PutUint64(pat[:], placeholder(i))
		}
		j := bytes.Index(body[from:], pat[:])
		if j < 0 {
			return nil, fmt.Errorf("placeholder %d not found in the encoded request", i)
		}
		offsets[i] = from + j
		from += j + 8
	}
	return offsets, nil
}

func kv(k, v string) *commonpb.KeyValue {
	return &commonpb.KeyValue{Key: k, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: v}}}
}

func resource(seed int) *resourcepb.Resource {
	return &resourcepb.Resource{Attributes: []*commonpb.KeyValue{
		kv("service.name", service), kv("service.instance.id", fmt.Sprintf("soak-%d", seed%4)),
		kv("deployment.environment.name", "soak"), kv("host.name", "loopback"),
	}}
}

var words = strings.Fields("user credit fib computed cache miss request served pricing lookup slow retry db query ok")

func randomBytes(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

// sentence returns about size bytes of log text.
func sentence(rng *rand.Rand, size int) string {
	var sb strings.Builder
	for sb.Len() < size {
		if sb.Len() > 0 {
			sb.WriteByte(' ')
		}
		sb.WriteString(words[rng.IntN(len(words))])
	}
	return sb.String()
}

// newTemplate encodes a request of n records of the signal (logs, spans or
// metrics); bodySize is the approximate size of each log body or span name.
func newTemplate(rng *rand.Rand, signal string, n, bodySize, seed int) (*template, error) {
	now := uint64(time.Now().UnixNano())
	var msg proto.Message
	float := false
	switch signal {
	case "logs":
		recs := make([]*logspb.LogRecord, n)
		for i := range recs {
			sid := binary.BigEndian.AppendUint64(nil, placeholder(i))
			recs[i] = &logspb.LogRecord{
				TimeUnixNano: now + uint64(i), ObservedTimeUnixNano: now + uint64(i),
				SeverityNumber: logspb.SeverityNumber_SEVERITY_NUMBER_INFO, SeverityText: "INFO",
				Body:    &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: sentence(rng, bodySize)}},
				TraceId: randomBytes(rng, 16), SpanId: sid,
				Attributes: []*commonpb.KeyValue{kv("request.id", fmt.Sprintf("req-%08x", rng.Uint32())), kv("user", fmt.Sprintf("u%d", rng.IntN(1000)))},
			}
		}
		msg = &collogspb.ExportLogsServiceRequest{ResourceLogs: []*logspb.ResourceLogs{{
			Resource:  resource(seed),
			ScopeLogs: []*logspb.ScopeLogs{{Scope: &commonpb.InstrumentationScope{Name: "soak"}, LogRecords: recs}},
		}}}
	case "spans":
		spans := make([]*tracepb.Span, n)
		var tid []byte
		for i := range spans {
			if i%10 == 0 {
				tid = randomBytes(rng, 16)
			}
			start := now + uint64(i)*1000
			spans[i] = &tracepb.Span{
				TraceId: tid, SpanId: binary.BigEndian.AppendUint64(nil, placeholder(i)),
				Name: "GET /soak/" + sentence(rng, min(bodySize, 64)), Kind: tracepb.Span_SPAN_KIND_SERVER,
				StartTimeUnixNano: start, EndTimeUnixNano: start + uint64(rng.IntN(50_000_000)),
				Attributes: []*commonpb.KeyValue{kv("http.request.method", "GET"), kv("http.route", "/soak/{n}")},
			}
		}
		msg = &coltracepb.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{{
			Resource:   resource(seed),
			ScopeSpans: []*tracepb.ScopeSpans{{Scope: &commonpb.InstrumentationScope{Name: "soak"}, Spans: spans}},
		}}}
	case "metrics":
		float = true
		points := make([]*metricspb.NumberDataPoint, n)
		for i := range points {
			points[i] = &metricspb.NumberDataPoint{
				TimeUnixNano: now - uint64(n-i)*1000,
				Value:        &metricspb.NumberDataPoint_AsDouble{AsDouble: math.Float64frombits(placeholder(i))},
				// 100 series: well under the per-metric series limit.
				Attributes: []*commonpb.KeyValue{kv("series", fmt.Sprintf("s%d", i%100))},
			}
		}
		msg = &colmetricspb.ExportMetricsServiceRequest{ResourceMetrics: []*metricspb.ResourceMetrics{{
			Resource: resource(seed),
			ScopeMetrics: []*metricspb.ScopeMetrics{{Scope: &commonpb.InstrumentationScope{Name: "soak"}, Metrics: []*metricspb.Metric{{
				Name: gaugeName, Unit: "1", Data: &metricspb.Metric_Gauge{Gauge: &metricspb.Gauge{DataPoints: points}},
			}}}},
		}}}
	default:
		return nil, fmt.Errorf("no OTLP template for signal %q", signal)
	}
	body, err := proto.Marshal(msg)
	if err != nil {
		return nil, fmt.Errorf("cannot encode %s request: %w", signal, err)
	}
	offsets, err := locate(body, n, float)
	if err != nil {
		return nil, fmt.Errorf("%s template: %w", signal, err)
	}
	return &template{body: body, offsets: offsets, float: float}, nil
}

// eventID is the Sentry event id of record id in the run with the given
// prefix: 32 lower-case hex digits.
func eventID(prefix, id uint64) string { return fmt.Sprintf("%016x%016x", prefix, id) }

// envelope returns a Sentry envelope of one event, shaped like the ones
// SDKs send, with extra padding of about pad bytes.
func envelope(rng *rand.Rand, dsn, id string, pad int) []byte {
	now := time.Now().UTC().Format("2006-01-02T15:04:05.000000Z")
	var b bytes.Buffer
	fmt.Fprintf(&b, `{"event_id":%q,"sent_at":%q,"dsn":%q}`+"\n", id, now, dsn)
	bug := rng.IntN(20)
	event := fmt.Sprintf(`{"event_id":%q,"timestamp":%q,"platform":"go","level":"error","environment":"soak","release":"soak@1.0.0",`+
		`"server_name":"loopback","tags":{"service":"soak"},`+
		`"exception":{"values":[{"type":"*soak.Error%d","value":"soak failure %d for user u%d","stacktrace":{"frames":[`+
		`{"function":"main.main","module":"main","filename":"main.go","abs_path":"/src/soak/main.go","lineno":12,"in_app":true},`+
		`{"function":"soak.handle%d","module":"example.com/soak","filename":"handle.go","abs_path":"/src/soak/handle.go","lineno":%d,"in_app":true}]}}]},`+
		`"extra":{"padding":%q}}`,
		id, now, bug, bug, rng.IntN(1000), bug, 10+bug, strings.Repeat("p", pad))
	fmt.Fprintf(&b, `{"type":"event","length":%d}`+"\n%s\n", len(event), event)
	return b.Bytes()
}
