package otlp

import (
	"reflect"
	"strings"
	"testing"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/fibinc/telltale/internal/telemetry"
)

var (
	traceID  = []byte{0x5b, 0x8e, 0xff, 0xf7, 0x98, 0x03, 0x81, 0x03, 0xd2, 0x69, 0xb6, 0x33, 0x81, 0x3f, 0xc6, 0x0c}
	spanID   = []byte{0xee, 0xe1, 0x9b, 0x7e, 0xc3, 0xc1, 0xb1, 0x74}
	parentID = []byte{0xee, 0xe1, 0x9b, 0x7e, 0xc3, 0xc1, 0xb1, 0x73}
	t0       = time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.UTC)
)

func ns(t time.Time) uint64 { return uint64(t.UnixNano()) }

func strVal(s string) *commonpb.AnyValue {
	return &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: s}}
}

func intVal(i int64) *commonpb.AnyValue {
	return &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: i}}
}

func arrVal(vs ...*commonpb.AnyValue) *commonpb.AnyValue {
	return &commonpb.AnyValue{Value: &commonpb.AnyValue_ArrayValue{ArrayValue: &commonpb.ArrayValue{Values: vs}}}
}

func kv(k string, v *commonpb.AnyValue) *commonpb.KeyValue {
	return &commonpb.KeyValue{Key: k, Value: v}
}

func str(k, v string) *commonpb.KeyValue { return kv(k, strVal(v)) }

// testResource has every resource attribute stored as a column, and one more.
func testResource() *resourcepb.Resource {
	return &resourcepb.Resource{Attributes: []*commonpb.KeyValue{
		str("service.name", "checkout"),
		str("service.version", "1.2.3"),
		str("service.instance.id", "pod-7"),
		str("deployment.environment.name", "prod"),
		str("host.name", "node-1"),
		str("cloud.availability_zone", "eu-west-1a"),
		kv("process.pid", intVal(42)),
	}}
}

var testResourceWant = telemetry.Resource{
	ServiceName:      "checkout",
	ServiceVersion:   "1.2.3",
	InstanceID:       "pod-7",
	Environment:      "prod",
	Host:             "node-1",
	AvailabilityZone: "eu-west-1a",
	Attributes:       `{"process.pid":42}`,
}

var testScope = &commonpb.InstrumentationScope{Name: "io.opentelemetry.http", Version: "0.9"}

func tracesRequest(spans ...*tracepb.Span) *coltracepb.ExportTraceServiceRequest {
	return &coltracepb.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{{
		Resource:   testResource(),
		ScopeSpans: []*tracepb.ScopeSpans{{Scope: testScope, Spans: spans}},
	}}}
}

func validSpan() *tracepb.Span {
	return &tracepb.Span{
		TraceId:           traceID,
		SpanId:            spanID,
		ParentSpanId:      parentID,
		TraceState:        "vendor=1",
		Name:              "GET /cart",
		Kind:              tracepb.Span_SPAN_KIND_SERVER,
		StartTimeUnixNano: ns(t0),
		EndTimeUnixNano:   ns(t0.Add(1500 * time.Microsecond)),
		Attributes: []*commonpb.KeyValue{
			str("http.request.method", "GET"),
			kv("http.request.header.x-request-id", arrVal(strVal("hdr-1"), strVal("hdr-2"))),
			kv("http.response.status_code", intVal(500)),
		},
		Events: []*tracepb.Span_Event{{
			TimeUnixNano: ns(t0.Add(time.Millisecond)),
			Name:         "exception",
			Attributes:   []*commonpb.KeyValue{str("exception.message", "boom \"quoted\"")},
		}},
		Links: []*tracepb.Span_Link{{
			TraceId:    traceID,
			SpanId:     parentID,
			TraceState: "a=b",
			Attributes: []*commonpb.KeyValue{kv("n", intVal(1))},
		}},
		Status: &tracepb.Status{Code: tracepb.Status_STATUS_CODE_ERROR, Message: "internal error"},
	}
}

func TestTracesConvertsEveryField(t *testing.T) {
	res := Traces(tracesRequest(validSpan()), Options{})
	if res.Rejected != 0 || res.Reason != "" || res.RejectedByReason != nil {
		t.Fatalf("rejected %d (%v): %s", res.Rejected, res.RejectedByReason, res.Reason)
	}
	want := telemetry.Span{
		Resource:      testResourceWant,
		Scope:         telemetry.Scope{Name: "io.opentelemetry.http", Version: "0.9"},
		TraceID:       "5b8efff798038103d269b633813fc60c",
		SpanID:        "eee19b7ec3c1b174",
		ParentSpanID:  "eee19b7ec3c1b173",
		TraceState:    "vendor=1",
		Name:          "GET /cart",
		Kind:          "server",
		Start:         t0,
		Duration:      1500 * time.Microsecond,
		StatusCode:    "error",
		StatusMessage: "internal error",
		RequestID:     "hdr-1",
		Attributes:    `{"http.request.method":"GET","http.request.header.x-request-id":["hdr-1","hdr-2"],"http.response.status_code":500}`,
		Events:        `[{"time":"2024-05-06T07:08:09.124456789Z","name":"exception","attributes":{"exception.message":"boom \"quoted\""}}]`,
		Links:         `[{"trace_id":"5b8efff798038103d269b633813fc60c","span_id":"eee19b7ec3c1b173","trace_state":"a=b","attributes":{"n":1}}]`,
	}
	if len(res.Batch.Spans) != 1 {
		t.Fatalf("got %d spans, want 1", len(res.Batch.Spans))
	}
	if got := res.Batch.Spans[0]; !reflect.DeepEqual(got, want) {
		t.Errorf("span:\n got %+v\nwant %+v", got, want)
	}
}

func TestTracesFieldMapping(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*tracepb.Span)
		check  func(telemetry.Span) (got, want any)
	}{
		{"root span has no parent", func(s *tracepb.Span) { s.ParentSpanId = nil },
			func(s telemetry.Span) (any, any) { return s.ParentSpanID, "" }},
		{"end before start gives zero duration", func(s *tracepb.Span) { s.EndTimeUnixNano = s.StartTimeUnixNano - 1 },
			func(s telemetry.Span) (any, any) { return s.Duration, time.Duration(0) }},
		{"missing end gives zero duration", func(s *tracepb.Span) { s.EndTimeUnixNano = 0 },
			func(s telemetry.Span) (any, any) { return s.Duration, time.Duration(0) }},
		{"kind unspecified", func(s *tracepb.Span) { s.Kind = tracepb.Span_SPAN_KIND_UNSPECIFIED },
			func(s telemetry.Span) (any, any) { return s.Kind, "unspecified" }},
		{"kind internal", func(s *tracepb.Span) { s.Kind = tracepb.Span_SPAN_KIND_INTERNAL },
			func(s telemetry.Span) (any, any) { return s.Kind, "internal" }},
		{"kind client", func(s *tracepb.Span) { s.Kind = tracepb.Span_SPAN_KIND_CLIENT },
			func(s telemetry.Span) (any, any) { return s.Kind, "client" }},
		{"kind producer", func(s *tracepb.Span) { s.Kind = tracepb.Span_SPAN_KIND_PRODUCER },
			func(s telemetry.Span) (any, any) { return s.Kind, "producer" }},
		{"kind consumer", func(s *tracepb.Span) { s.Kind = tracepb.Span_SPAN_KIND_CONSUMER },
			func(s telemetry.Span) (any, any) { return s.Kind, "consumer" }},
		{"unknown kind", func(s *tracepb.Span) { s.Kind = 42 },
			func(s telemetry.Span) (any, any) { return s.Kind, "unspecified" }},
		{"no status", func(s *tracepb.Span) { s.Status = nil },
			func(s telemetry.Span) (any, any) { return s.StatusCode + "|" + s.StatusMessage, "unset|" }},
		{"status ok", func(s *tracepb.Span) { s.Status.Code = tracepb.Status_STATUS_CODE_OK },
			func(s telemetry.Span) (any, any) { return s.StatusCode, "ok" }},
		{"no attributes", func(s *tracepb.Span) { s.Attributes = nil },
			func(s telemetry.Span) (any, any) { return s.Attributes + s.RequestID, "{}" }},
		{"no events or links", func(s *tracepb.Span) { s.Events, s.Links = nil, nil },
			func(s telemetry.Span) (any, any) { return s.Events + s.Links, "[][]" }},
		{"request.id wins over the header", func(s *tracepb.Span) {
			s.Attributes = append(s.Attributes, kv("request_id", intVal(7)), str("request.id", "rid"))
		}, func(s telemetry.Span) (any, any) { return s.RequestID, "rid" }},
		{"request_id wins over the header and may be an int", func(s *tracepb.Span) {
			s.Attributes = append(s.Attributes, kv("request_id", intVal(7)))
		}, func(s telemetry.Span) (any, any) { return s.RequestID, "7" }},
		{"request id header as a plain string", func(s *tracepb.Span) {
			s.Attributes = []*commonpb.KeyValue{str("http.request.header.x-request-id", "h")}
		}, func(s telemetry.Span) (any, any) { return s.RequestID, "h" }},
		{"request id header as an empty array", func(s *tracepb.Span) {
			s.Attributes = []*commonpb.KeyValue{kv("http.request.header.x-request-id", arrVal())}
		}, func(s telemetry.Span) (any, any) { return s.RequestID, "" }},
		{"link with bad ids kept as hex", func(s *tracepb.Span) {
			s.Links = []*tracepb.Span_Link{{TraceId: []byte{1}}, nil}
		}, func(s telemetry.Span) (any, any) {
			return s.Links, `[{"trace_id":"01","span_id":"","trace_state":"","attributes":{}},{"trace_id":"","span_id":"","trace_state":"","attributes":{}}]`
		}},
		{"nil event", func(s *tracepb.Span) { s.Events = []*tracepb.Span_Event{nil} },
			func(s telemetry.Span) (any, any) {
				return s.Events, `[{"time":"1970-01-01T00:00:00Z","name":"","attributes":{}}]`
			}},
		{"timestamp past year 2262 is clamped", func(s *tracepb.Span) { s.StartTimeUnixNano, s.EndTimeUnixNano = 1<<64-1, 0 },
			func(s telemetry.Span) (any, any) { return s.Start.Year(), 2262 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sp := validSpan()
			tt.modify(sp)
			res := Traces(tracesRequest(sp), Options{})
			if res.Rejected != 0 || len(res.Batch.Spans) != 1 {
				t.Fatalf("got %d spans, %d rejected: %s", len(res.Batch.Spans), res.Rejected, res.Reason)
			}
			if got, want := tt.check(res.Batch.Spans[0]); got != want {
				t.Errorf("got %#v, want %#v", got, want)
			}
		})
	}
}

func TestTracesRejects(t *testing.T) {
	opt := Options{MinTime: t0.Add(-time.Hour), MaxTime: t0.Add(time.Hour)}
	tests := []struct {
		name   string
		modify func(*tracepb.Span)
		key    string
		reason string
	}{
		{"short trace id", func(s *tracepb.Span) { s.TraceId = traceID[:5] },
			"invalid_trace_id", "span 1 of scope 0 of resource 0: trace_id must be 16 bytes, got 5"},
		{"missing trace id", func(s *tracepb.Span) { s.TraceId = nil },
			"invalid_trace_id", "trace_id must be 16 bytes, got 0"},
		{"zero trace id", func(s *tracepb.Span) { s.TraceId = make([]byte, 16) },
			"invalid_trace_id", "trace_id must not be all zeros"},
		{"long span id", func(s *tracepb.Span) { s.SpanId = traceID },
			"invalid_span_id", "span_id must be 8 bytes, got 16"},
		{"zero span id", func(s *tracepb.Span) { s.SpanId = make([]byte, 8) },
			"invalid_span_id", "span_id must not be all zeros"},
		{"bad parent id", func(s *tracepb.Span) { s.ParentSpanId = []byte{1, 2} },
			"invalid_parent_span_id", "parent_span_id must be 8 bytes, got 2"},
		{"missing start", func(s *tracepb.Span) { s.StartTimeUnixNano = 0 },
			"missing_timestamp", "start_time_unix_nano is missing"},
		{"too old", func(s *tracepb.Span) { s.StartTimeUnixNano = ns(t0.Add(-2 * time.Hour)) },
			"too_old", "start_time_unix_nano 2024-05-06T05:08:09.123456789Z is before the accepted window starting 2024-05-06T06:08:09.123456789Z"},
		{"too new", func(s *tracepb.Span) { s.StartTimeUnixNano = ns(t0.Add(2 * time.Hour)) },
			"too_new", "is after the accepted window ending 2024-05-06T08:08:09.123456789Z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bad := validSpan()
			tt.modify(bad)
			res := Traces(tracesRequest(validSpan(), bad, validSpan()), opt)
			if len(res.Batch.Spans) != 2 || res.Rejected != 1 {
				t.Fatalf("got %d spans, %d rejected, want 2 and 1", len(res.Batch.Spans), res.Rejected)
			}
			if !reflect.DeepEqual(res.RejectedByReason, map[string]int{tt.key: 1}) {
				t.Errorf("RejectedByReason = %v, want %s: 1", res.RejectedByReason, tt.key)
			}
			if !strings.Contains(res.Reason, tt.reason) {
				t.Errorf("Reason = %q, want it to contain %q", res.Reason, tt.reason)
			}
		})
	}
}

func TestTracesReasonIsTheFirstRejection(t *testing.T) {
	a, b := validSpan(), validSpan()
	a.SpanId, b.TraceId = nil, nil
	res := Traces(tracesRequest(a, b), Options{})
	want := "span 0 of scope 0 of resource 0: span_id must be 8 bytes, got 0"
	if res.Rejected != 2 || res.Reason != want {
		t.Errorf("got %d rejected, reason %q; want 2, %q", res.Rejected, res.Reason, want)
	}
	if want := map[string]int{"invalid_span_id": 1, "invalid_trace_id": 1}; !reflect.DeepEqual(res.RejectedByReason, want) {
		t.Errorf("RejectedByReason = %v, want %v", res.RejectedByReason, want)
	}
}

func TestTracesNilMessages(t *testing.T) {
	req := &coltracepb.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{
		nil,
		{ScopeSpans: []*tracepb.ScopeSpans{nil, {Spans: []*tracepb.Span{nil, {
			TraceId: traceID, SpanId: spanID, StartTimeUnixNano: 1,
			Attributes: []*commonpb.KeyValue{nil, {Key: "k"}, {Key: "v", Value: &commonpb.AnyValue{}}},
			Events:     []*tracepb.Span_Event{{Attributes: []*commonpb.KeyValue{nil}}},
		}}}}},
	}}
	res := Traces(req, Options{})
	if res.Rejected != 1 || res.RejectedByReason["invalid_trace_id"] != 1 {
		t.Errorf("got %d rejected (%v), want the nil span rejected", res.Rejected, res.RejectedByReason)
	}
	if len(res.Batch.Spans) != 1 {
		t.Fatalf("got %d spans, want 1", len(res.Batch.Spans))
	}
	s := res.Batch.Spans[0]
	if s.ServiceName != "unknown_service" || s.Resource.Attributes != "{}" || s.Scope != (telemetry.Scope{}) {
		t.Errorf("resource and scope of a nil resource and scope: %+v %+v", s.Resource, s.Scope)
	}
	if want := `{"":null,"k":null,"v":null}`; s.Attributes != want {
		t.Errorf("Attributes = %s, want %s", s.Attributes, want)
	}
	if want := `[{"time":"1970-01-01T00:00:00Z","name":"","attributes":{"":null}}]`; s.Events != want {
		t.Errorf("Events = %s, want %s", s.Events, want)
	}
	if res := Traces(nil, Options{}); res.Batch.Len() != 0 || res.Rejected != 0 {
		t.Errorf("nil request: %+v", res)
	}
}

func TestResource(t *testing.T) {
	tests := []struct {
		name  string
		attrs []*commonpb.KeyValue
		want  telemetry.Resource
	}{
		{"all columns", testResource().Attributes, testResourceWant},
		{"none", nil, telemetry.Resource{ServiceName: "unknown_service", Attributes: "{}"}},
		{"empty service name", []*commonpb.KeyValue{str("service.name", "")},
			telemetry.Resource{ServiceName: "unknown_service", Attributes: "{}"}},
		{"legacy environment", []*commonpb.KeyValue{str("deployment.environment", "staging")},
			telemetry.Resource{ServiceName: "unknown_service", Environment: "staging", Attributes: "{}"}},
		{"environment name wins and the legacy value is kept",
			[]*commonpb.KeyValue{str("deployment.environment", "staging"), str("deployment.environment.name", "prod")},
			telemetry.Resource{ServiceName: "unknown_service", Environment: "prod", Attributes: `{"deployment.environment":"staging"}`}},
		{"non-string column value", []*commonpb.KeyValue{kv("service.version", intVal(3)), str("a", "b")},
			telemetry.Resource{ServiceName: "unknown_service", ServiceVersion: "3", Attributes: `{"a":"b"}`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c converter
			if got := c.resource(&resourcepb.Resource{Attributes: tt.attrs}); got != tt.want {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}
