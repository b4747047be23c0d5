package otlp

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/fibinc/telltale/internal/telemetry"
)

// The testdata/*.json files are the examples of the OTLP specification, from
// opentelemetry-proto/examples.

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDecodeTracesJSONSpecExample(t *testing.T) {
	req, err := DecodeTracesJSON(readTestdata(t, "trace.json"))
	if err != nil {
		t.Fatal(err)
	}
	res := Traces(req, Options{})
	if res.Rejected != 0 || len(res.Batch.Spans) != 1 {
		t.Fatalf("got %d spans, %d rejected: %s", len(res.Batch.Spans), res.Rejected, res.Reason)
	}
	want := telemetry.Span{
		Resource:     telemetry.Resource{ServiceName: "my.service", Attributes: "{}"},
		Scope:        telemetry.Scope{Name: "my.library", Version: "1.0.0"},
		TraceID:      "5b8efff798038103d269b633813fc60c",
		SpanID:       "eee19b7ec3c1b174",
		ParentSpanID: "eee19b7ec3c1b173",
		Name:         "I'm a server span",
		Kind:         "server",
		Start:        time.Unix(1544712660, 0).UTC(),
		Duration:     time.Second,
		StatusCode:   "unset",
		Attributes:   `{"my.span.attr":"some value"}`,
		Events:       "[]",
		Links:        "[]",
	}
	if got := res.Batch.Spans[0]; got != want {
		t.Errorf("span:\n got %+v\nwant %+v", got, want)
	}
}

func TestDecodeLogsJSONSpecExample(t *testing.T) {
	req, err := DecodeLogsJSON(readTestdata(t, "logs.json"))
	if err != nil {
		t.Fatal(err)
	}
	res := Logs(req, Options{})
	if res.Rejected != 0 || len(res.Batch.Logs) != 1 {
		t.Fatalf("got %d logs, %d rejected: %s", len(res.Batch.Logs), res.Rejected, res.Reason)
	}
	ts := time.Unix(0, 1544712660300000000).UTC()
	want := telemetry.Log{
		Resource:     telemetry.Resource{ServiceName: "my.service", Attributes: "{}"},
		Scope:        telemetry.Scope{Name: "my.library", Version: "1.0.0"},
		Time:         ts,
		ObservedTime: ts,
		TraceID:      "5b8efff798038103d269b633813fc60c",
		SpanID:       "eee19b7ec3c1b174",
		Severity:     telemetry.SeverityInfo,
		SeverityText: "Information",
		Body:         "Example log record",
		Attributes: `{"string.attribute":"some string","boolean.attribute":true,"int.attribute":10,` +
			`"double.attribute":637.704,"array.attribute":["many","values"],"map.attribute":{"some.map.key":"some value"}}`,
		Source: "otlp",
	}
	if got := res.Batch.Logs[0]; got != want {
		t.Errorf("log:\n got %+v\nwant %+v", got, want)
	}
}

func TestDecodeMetricsJSONSpecExample(t *testing.T) {
	req, err := DecodeMetricsJSON(readTestdata(t, "metrics.json"))
	if err != nil {
		t.Fatal(err)
	}
	res := Metrics(req, Options{})
	if res.Rejected != 0 || len(res.Batch.Metrics) != 3 {
		t.Fatalf("got %d points, %d rejected: %s", len(res.Batch.Metrics), res.Rejected, res.Reason)
	}
	type summary struct {
		name, typ, temporality string
		monotonic              bool
		value, sum             float64
		count                  uint64
		attrs                  string
		start                  bool
	}
	want := []summary{
		{"my.counter", "sum", "delta", true, 5, 0, 0, `{"my.counter.attr":"some value"}`, true},
		{"my.gauge", "gauge", "", false, 10, 0, 0, `{"my.gauge.attr":"some value"}`, false},
		{"my.histogram", "histogram", "delta", false, 0, 2, 2, `{"my.histogram.attr":"some value"}`, true},
	}
	for i, p := range res.Batch.Metrics {
		got := summary{p.Name, p.Type, p.Temporality, p.Monotonic, p.Value, p.Sum, p.Count, p.Attributes, !p.StartTime.IsZero()}
		if got != want[i] {
			t.Errorf("point %d:\n got %+v\nwant %+v", i, got, want[i])
		}
		if p.ServiceName != "my.service" || p.Scope.Name != "my.library" || !p.Time.Equal(time.Unix(0, 1544712660300000000)) {
			t.Errorf("point %d: service %q, scope %q, time %v", i, p.ServiceName, p.Scope.Name, p.Time)
		}
	}
	if h := res.Batch.Metrics[2]; !h.HasMin || h.Min != 0 || !h.HasMax || h.Max != 2 ||
		len(h.BucketBounds) != 1 || h.BucketBounds[0] != 1 || len(h.BucketCounts) != 2 {
		t.Errorf("histogram: %+v", h)
	}
}

// span wraps span fields in a trace request, the way OTLP/JSON lays it out.
func span(fields string) string {
	return `{"resourceSpans":[{"scopeSpans":[{"spans":[{` + fields + `}]}]}]}`
}

const jsonIDs = `"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","startTimeUnixNano":"1"`

func TestDecodeTracesJSON(t *testing.T) {
	tests := []struct {
		name  string
		json  string
		field func(telemetry.Span) string
		want  string
	}{
		{"upper-case hex ids", span(`"traceId":"5B8EFFF798038103D269B633813FC60C","spanId":"EEE19B7EC3C1B174","startTimeUnixNano":1`),
			func(s telemetry.Span) string { return s.TraceID + " " + s.SpanID }, "5b8efff798038103d269b633813fc60c eee19b7ec3c1b174"},
		{"snake_case field names", `{"resource_spans":[{"scope_spans":[{"spans":[{"trace_id":"5b8efff798038103d269b633813fc60c",` +
			`"span_id":"eee19b7ec3c1b174","parent_span_id":"eee19b7ec3c1b173","start_time_unix_nano":"5"}]}]}]}`,
			func(s telemetry.Span) string { return s.ParentSpanID + " " + s.Start.Format(time.RFC3339Nano) },
			"eee19b7ec3c1b173 1970-01-01T00:00:00.000000005Z"},
		{"spaces around the colon", span(`"traceId" : "5b8efff798038103d269b633813fc60c" ,"spanId":
			"eee19b7ec3c1b174","startTimeUnixNano":1`),
			func(s telemetry.Span) string { return s.TraceID }, "5b8efff798038103d269b633813fc60c"},
		{"64-bit integers as strings and numbers", span(jsonIDs + `,"endTimeUnixNano":1000000001,"attributes":[` +
			`{"key":"a","value":{"intValue":"-9007199254740993"}},{"key":"b","value":{"intValue":12}}]`),
			func(s telemetry.Span) string { return s.Duration.String() + " " + s.Attributes }, `1s {"a":-9007199254740993,"b":12}`},
		{"enums as names", span(jsonIDs + `,"kind":"SPAN_KIND_CLIENT","status":{"code":"STATUS_CODE_ERROR"}`),
			func(s telemetry.Span) string { return s.Kind + " " + s.StatusCode }, "client error"},
		{"enums as integers", span(jsonIDs + `,"kind":5,"status":{"code":1}`),
			func(s telemetry.Span) string { return s.Kind + " " + s.StatusCode }, "consumer ok"},
		{"unknown enum name", span(jsonIDs + `,"kind":"SPAN_KIND_TELEPATHIC"`),
			func(s telemetry.Span) string { return s.Kind }, "unspecified"},
		{"unknown fields ignored", `{"future":{"traceId":"zz"},"resourceSpans":[{"x":1,"scopeSpans":[{"spans":[{` + jsonIDs +
			`,"newField":[{"traceId":"zz"}],"name":"n"}]}]}]}`,
			func(s telemetry.Span) string { return s.Name }, "n"},
		{"attribute named traceId", span(jsonIDs + `,"attributes":[{"key":"traceId","value":{"stringValue":"not hex"}}]`),
			func(s telemetry.Span) string { return s.Attributes }, `{"traceId":"not hex"}`},
		{"null parent", span(jsonIDs + `,"parentSpanId":null`),
			func(s telemetry.Span) string { return s.ParentSpanID }, ""},
		{"empty parent", span(jsonIDs + `,"parentSpanId":""`),
			func(s telemetry.Span) string { return s.ParentSpanID }, ""},
		{"escapes before the ids", span(`"name":"a \"q\" \\","traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","startTimeUnixNano":1`),
			func(s telemetry.Span) string { return s.Name + " " + s.TraceID }, `a "q" \ 5b8efff798038103d269b633813fc60c`},
		{"link ids", span(jsonIDs + `,"links":[{"traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"0102030405060708"}]`),
			func(s telemetry.Span) string { return s.Links },
			`[{"trace_id":"0102030405060708090a0b0c0d0e0f10","span_id":"0102030405060708","trace_state":"","attributes":{}}]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := DecodeTracesJSON([]byte(tt.json))
			if err != nil {
				t.Fatal(err)
			}
			res := Traces(req, Options{})
			if len(res.Batch.Spans) != 1 {
				t.Fatalf("got %d spans, %d rejected: %s", len(res.Batch.Spans), res.Rejected, res.Reason)
			}
			if got := tt.field(res.Batch.Spans[0]); got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}

func TestDecodeLogsJSON(t *testing.T) {
	req, err := DecodeLogsJSON([]byte(`{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"timeUnixNano":"1",` +
		`"severityNumber":"SEVERITY_NUMBER_ERROR","traceId":"0102030405060708090A0B0C0D0E0F10","spanId":"0102030405060708",` +
		`"body":{"kvlistValue":{"values":[{"key":"msg","value":{"stringValue":"x"}}]}},"eventName":"e"}]}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	res := Logs(req, Options{})
	if len(res.Batch.Logs) != 1 {
		t.Fatalf("got %d logs: %s", len(res.Batch.Logs), res.Reason)
	}
	l := res.Batch.Logs[0]
	got := []any{l.Severity, l.TraceID, l.SpanID, l.Body, l.EventName}
	want := []any{int32(17), "0102030405060708090a0b0c0d0e0f10", "0102030405060708", `{"msg":"x"}`, "e"}
	for i := range got {
		if got[i] != want[i] {
			t.Errorf("got %v, want %v", got, want)
			break
		}
	}
}

func TestDecodeMetricsJSON(t *testing.T) {
	req, err := DecodeMetricsJSON([]byte(`{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"c",` +
		`"sum":{"aggregationTemporality":"AGGREGATION_TEMPORALITY_DELTA","dataPoints":[{"timeUnixNano":"1","asInt":"9007199254740993",` +
		`"exemplars":[{"traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"0102030405060708","asInt":"1"}]}]}}]}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	e := req.GetResourceMetrics()[0].GetScopeMetrics()[0].GetMetrics()[0].GetSum().GetDataPoints()[0].GetExemplars()[0]
	if len(e.GetTraceId()) != 16 || e.GetSpanId()[7] != 8 {
		t.Errorf("exemplar ids: %x %x", e.GetTraceId(), e.GetSpanId())
	}
	res := Metrics(req, Options{})
	if len(res.Batch.Metrics) != 1 || res.Batch.Metrics[0].Temporality != "delta" || res.Batch.Metrics[0].Value != 9007199254740992 {
		t.Errorf("got %+v (%s)", res.Batch.Metrics, res.Reason)
	}
}

func TestDecodeJSONErrors(t *testing.T) {
	tests := []struct {
		name string
		json string
		want string
	}{
		{"empty body", ``, "invalid JSON: "},
		{"truncated", `{"resourceSpans":[`, "invalid JSON: "},
		{"unterminated id", span(`"traceId":"5b8e`), "invalid JSON: "},
		{"not an object", `[]`, "invalid JSON: "},
		{"not hex", span(`"traceId":"zz"`), `invalid JSON: traceId "zz": not hex`},
		{"odd length hex", span(`"spanId":"abc"`), `invalid JSON: spanId "abc": not hex`},
		{"escaped hex", span(`"parentSpanId":"\u0030\u0030"`), `invalid JSON: parentSpanId "\\u0030\\u0030": not hex`},
		{"base64 instead of hex", span(`"traceId":"W47/95gDgQPSabYzgT/GDA=="`), `traceId "W47/95gDgQPSabYzgT/GDA==": not hex`},
		{"long bad id is shortened", span(`"traceId":"` + strings.Repeat("x", 100) + `"`), `traceId "` + strings.Repeat("x", 61) + `...": not hex`},
		{"link id not hex", span(`"links":[{"spanId":"g"}]`), `spanId "g": not hex`},
		{"id as a number", span(`"traceId":12`), "invalid JSON: "},
		{"name as a number", span(`"name":5`), "invalid value for string field name"},
		{"timestamp not a number", span(`"startTimeUnixNano":"soon"`), "invalid value for fixed64 field startTimeUnixNano"},
		{"spans not an array", `{"resourceSpans":[{"scopeSpans":[{"spans":{}}]}]}`, "invalid JSON: "},
		{"trailing garbage", span(jsonIDs) + `x`, "invalid JSON: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := DecodeTracesJSON([]byte(tt.json))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want it to contain %q", err, tt.want)
			}
			if req != nil {
				t.Errorf("got a request with the error: %v", req)
			}
		})
	}
}

func TestDecodeLogsAndMetricsJSONErrors(t *testing.T) {
	_, err := DecodeLogsJSON([]byte(`{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"spanId":"0x01"}]}]}]}`))
	if want := `invalid JSON: spanId "0x01": not hex`; err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("logs: error %v, want %q", err, want)
	}
	_, err = DecodeMetricsJSON([]byte(`{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"g","gauge":{"dataPoints":[` +
		`{"exemplars":[{"trace_id":"x"}]}]}}]}]}]}`))
	if want := `invalid JSON: trace_id "x": not hex`; err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("metrics: error %v, want %q", err, want)
	}
}

func TestDecodeProto(t *testing.T) {
	want := tracesRequest(validSpan())
	b, err := proto.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeTracesProto(b)
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(got, want) {
		t.Errorf("round trip changed the request:\n got %v\nwant %v", got, want)
	}
	for _, bad := range [][]byte{{0xff}, b[:len(b)-3], append([]byte{0x0a, 0x7f}, b...)} {
		if _, err := DecodeTracesProto(bad); err == nil || !strings.HasPrefix(err.Error(), "invalid protobuf: ") {
			t.Errorf("DecodeTracesProto(%x...): error %v, want invalid protobuf", bad[:2], err)
		}
	}
	if _, err := DecodeLogsProto([]byte{0xff}); err == nil {
		t.Error("DecodeLogsProto accepted garbage")
	}
	if _, err := DecodeMetricsProto([]byte{0xff}); err == nil {
		t.Error("DecodeMetricsProto accepted garbage")
	}
}

// An OTLP/JSON body with no ids is passed to protojson without a copy.
func TestHexIDsToBase64NoRewrite(t *testing.T) {
	src := []byte(`{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"traceId"}]}]}]}`)
	out, err := hexIDsToBase64(src)
	if err != nil || &out[0] != &src[0] {
		t.Errorf("got a copy or an error (%v)", err)
	}
}

// Rewriting ids must not shift the positions protojson reports.
func TestDecodeJSONErrorPositionsMatchTheBody(t *testing.T) {
	body := span(jsonIDs + `,"parentSpanId":"0102030405060708","name":5`)
	_, err := DecodeTracesJSON([]byte(body))
	want := fmt.Sprintf("(line 1:%d): invalid value for string field name", strings.Index(body, `5}`)+1)
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("error %v, want it to contain %q", err, want)
	}
}
