package otlp

import (
	"reflect"
	"strings"
	"testing"
	"time"

	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"

	"github.com/fibinc/telltale/internal/telemetry"
)

func logsRequest(records ...*logspb.LogRecord) *collogspb.ExportLogsServiceRequest {
	return &collogspb.ExportLogsServiceRequest{ResourceLogs: []*logspb.ResourceLogs{{
		Resource:  testResource(),
		ScopeLogs: []*logspb.ScopeLogs{{Scope: testScope, LogRecords: records}},
	}}}
}

func validLog() *logspb.LogRecord {
	return &logspb.LogRecord{
		TimeUnixNano:         ns(t0),
		ObservedTimeUnixNano: ns(t0.Add(time.Second)),
		SeverityNumber:       logspb.SeverityNumber_SEVERITY_NUMBER_WARN2,
		SeverityText:         "WARNING",
		Body:                 strVal("disk almost full"),
		Attributes:           []*commonpb.KeyValue{str("request.id", "r-1"), kv("free_mb", intVal(12))},
		TraceId:              traceID,
		SpanId:               spanID,
		EventName:            "disk.low",
	}
}

func TestLogsConvertsEveryField(t *testing.T) {
	res := Logs(logsRequest(validLog()), Options{})
	if res.Rejected != 0 || res.RejectedByReason != nil {
		t.Fatalf("rejected %d: %s", res.Rejected, res.Reason)
	}
	want := telemetry.Log{
		Resource:     testResourceWant,
		Scope:        telemetry.Scope{Name: "io.opentelemetry.http", Version: "0.9"},
		Time:         t0,
		ObservedTime: t0.Add(time.Second),
		TraceID:      "5b8efff798038103d269b633813fc60c",
		SpanID:       "eee19b7ec3c1b174",
		Severity:     14,
		SeverityText: "WARNING",
		Body:         "disk almost full",
		RequestID:    "r-1",
		Attributes:   `{"request.id":"r-1","free_mb":12}`,
		EventName:    "disk.low",
		Source:       "otlp",
	}
	if len(res.Batch.Logs) != 1 {
		t.Fatalf("got %d logs, want 1", len(res.Batch.Logs))
	}
	if got := res.Batch.Logs[0]; !reflect.DeepEqual(got, want) {
		t.Errorf("log:\n got %+v\nwant %+v", got, want)
	}
}

func TestLogsFieldMapping(t *testing.T) {
	now := t0.Add(time.Minute)
	tests := []struct {
		name   string
		modify func(*logspb.LogRecord)
		check  func(telemetry.Log) (got, want any)
	}{
		{"time falls back to observed time", func(l *logspb.LogRecord) { l.TimeUnixNano = 0 },
			func(l telemetry.Log) (any, any) {
				return [2]time.Time{l.Time, l.ObservedTime}, [2]time.Time{t0.Add(time.Second), t0.Add(time.Second)}
			}},
		{"observed time falls back to time", func(l *logspb.LogRecord) { l.ObservedTimeUnixNano = 0 },
			func(l telemetry.Log) (any, any) { return [2]time.Time{l.Time, l.ObservedTime}, [2]time.Time{t0, t0} }},
		{"both fall back to now", func(l *logspb.LogRecord) { l.TimeUnixNano, l.ObservedTimeUnixNano = 0, 0 },
			func(l telemetry.Log) (any, any) { return [2]time.Time{l.Time, l.ObservedTime}, [2]time.Time{now, now} }},
		{"severity from text", func(l *logspb.LogRecord) { l.SeverityNumber, l.SeverityText = 0, "Err" },
			func(l telemetry.Log) (any, any) { return l.Severity, int32(telemetry.SeverityError) }},
		{"unknown severity text", func(l *logspb.LogRecord) { l.SeverityNumber, l.SeverityText = 0, "loud" },
			func(l telemetry.Log) (any, any) { return l.Severity, int32(0) }},
		{"out of range severity number", func(l *logspb.LogRecord) { l.SeverityNumber, l.SeverityText = 99, "debug" },
			func(l telemetry.Log) (any, any) { return l.Severity, int32(telemetry.SeverityDebug) }},
		{"no body", func(l *logspb.LogRecord) { l.Body = nil },
			func(l telemetry.Log) (any, any) { return l.Body, "" }},
		{"unset body", func(l *logspb.LogRecord) { l.Body = &commonpb.AnyValue{} },
			func(l telemetry.Log) (any, any) { return l.Body, "" }},
		{"string body with quotes verbatim", func(l *logspb.LogRecord) { l.Body = strVal(`say "hi"`) },
			func(l telemetry.Log) (any, any) { return l.Body, `say "hi"` }},
		{"kvlist body as JSON", func(l *logspb.LogRecord) { l.Body = kvlistVal(str("msg", "hi"), kv("n", intVal(1))) },
			func(l telemetry.Log) (any, any) { return l.Body, `{"msg":"hi","n":1}` }},
		{"int body as JSON", func(l *logspb.LogRecord) { l.Body = intVal(5) },
			func(l telemetry.Log) (any, any) { return l.Body, `5` }},
		{"no trace context", func(l *logspb.LogRecord) { l.TraceId, l.SpanId = nil, nil },
			func(l telemetry.Log) (any, any) { return l.TraceID + l.SpanID, "" }},
		{"zero ids mean none", func(l *logspb.LogRecord) { l.TraceId, l.SpanId = make([]byte, 16), make([]byte, 8) },
			func(l telemetry.Log) (any, any) { return l.TraceID + l.SpanID, "" }},
		{"no attributes", func(l *logspb.LogRecord) { l.Attributes = nil },
			func(l telemetry.Log) (any, any) { return l.Attributes + l.RequestID, "{}" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := validLog()
			tt.modify(l)
			res := Logs(logsRequest(l), Options{Now: now})
			if res.Rejected != 0 || len(res.Batch.Logs) != 1 {
				t.Fatalf("got %d logs, %d rejected: %s", len(res.Batch.Logs), res.Rejected, res.Reason)
			}
			if got, want := tt.check(res.Batch.Logs[0]); got != want {
				t.Errorf("got %#v, want %#v", got, want)
			}
		})
	}
}

func TestLogsRejects(t *testing.T) {
	opt := Options{MinTime: t0.Add(-time.Hour), MaxTime: t0.Add(time.Hour), Now: t0.Add(3 * time.Hour)}
	tests := []struct {
		name   string
		modify func(*logspb.LogRecord)
		key    string
		reason string
	}{
		{"short trace id", func(l *logspb.LogRecord) { l.TraceId = traceID[:15] },
			"invalid_trace_id", "log record 1 of scope 0 of resource 0: trace_id must be 16 bytes, got 15"},
		{"short span id", func(l *logspb.LogRecord) { l.SpanId = spanID[:1] },
			"invalid_span_id", "span_id must be 8 bytes, got 1"},
		{"too old", func(l *logspb.LogRecord) { l.TimeUnixNano = ns(t0.Add(-2 * time.Hour)) },
			"too_old", "time_unix_nano 2024-05-06T05:08:09.123456789Z is before the accepted window"},
		{"too new observed time", func(l *logspb.LogRecord) { l.TimeUnixNano, l.ObservedTimeUnixNano = 0, ns(t0.Add(2*time.Hour)) },
			"too_new", "observed_time_unix_nano 2024-05-06T09:08:09.123456789Z is after the accepted window"},
		{"now outside the window", func(l *logspb.LogRecord) { l.TimeUnixNano, l.ObservedTimeUnixNano = 0, 0 },
			"too_new", "time of receipt"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bad := validLog()
			tt.modify(bad)
			res := Logs(logsRequest(validLog(), bad), opt)
			if len(res.Batch.Logs) != 1 || res.Rejected != 1 {
				t.Fatalf("got %d logs, %d rejected, want 1 and 1", len(res.Batch.Logs), res.Rejected)
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

func TestLogsNilMessages(t *testing.T) {
	req := &collogspb.ExportLogsServiceRequest{ResourceLogs: []*logspb.ResourceLogs{
		nil, {ScopeLogs: []*logspb.ScopeLogs{nil, {LogRecords: []*logspb.LogRecord{nil}}}},
	}}
	res := Logs(req, Options{Now: t0})
	if res.Rejected != 0 || len(res.Batch.Logs) != 1 {
		t.Fatalf("got %d logs, %d rejected: %s", len(res.Batch.Logs), res.Rejected, res.Reason)
	}
	want := telemetry.Log{
		Resource: telemetry.Resource{ServiceName: "unknown_service", Attributes: "{}"},
		Time:     t0, ObservedTime: t0, Attributes: "{}", Source: "otlp",
	}
	if got := res.Batch.Logs[0]; !reflect.DeepEqual(got, want) {
		t.Errorf("log:\n got %+v\nwant %+v", got, want)
	}
}
