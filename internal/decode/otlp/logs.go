package otlp

import (
	"time"

	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"

	"github.com/fibinc/telltale/internal/telemetry"
)

// Logs converts a logs export request into log records.
func Logs(req *collogspb.ExportLogsServiceRequest, opt Options) Result {
	n := 0
	for _, rl := range req.GetResourceLogs() {
		for _, sl := range rl.GetScopeLogs() {
			n += len(sl.GetLogRecords())
		}
	}
	if opt.Now.IsZero() {
		opt.Now = time.Now()
	}
	c := converter{opt: opt}
	c.out.Batch.Logs = make([]telemetry.Log, 0, n)
	for ri, rl := range req.GetResourceLogs() {
		res := c.resource(rl.GetResource())
		for si, sl := range rl.GetScopeLogs() {
			sc := scope(sl.GetScope())
			for i, lr := range sl.GetLogRecords() {
				if p := c.log(res, sc, lr); p.key != "" {
					c.reject(1, p, "log record %d of scope %d of resource %d", i, si, ri)
				}
			}
		}
	}
	return c.out
}

func (c *converter) log(res telemetry.Resource, sc telemetry.Scope, lr *logspb.LogRecord) problem {
	if msg := checkID("trace_id", lr.GetTraceId(), 16, true); msg != "" {
		return problem{reasonInvalidTraceID, msg}
	}
	if msg := checkID("span_id", lr.GetSpanId(), 8, true); msg != "" {
		return problem{reasonInvalidSpanID, msg}
	}
	observed := unixNano(lr.GetObservedTimeUnixNano())
	t, field := unixNano(lr.GetTimeUnixNano()), "time_unix_nano"
	switch {
	case lr.GetTimeUnixNano() != 0:
	case lr.GetObservedTimeUnixNano() != 0:
		t, field = observed, "observed_time_unix_nano"
	default:
		t, field = c.opt.Now.UTC(), "time of receipt"
	}
	if lr.GetObservedTimeUnixNano() == 0 {
		observed = t
	}
	if p := c.checkWindow(field, t); p.key != "" {
		return p
	}
	// Severity numbers outside the defined range are treated as missing.
	sev := int32(lr.GetSeverityNumber())
	if sev < 0 || sev > int32(logspb.SeverityNumber_SEVERITY_NUMBER_FATAL4) {
		sev = 0
	}
	if sev == 0 {
		sev, _ = telemetry.ParseLevel(lr.GetSeverityText())
	}
	var traceID string
	if !allZero(lr.GetTraceId()) {
		traceID = c.traceIDHex(lr.GetTraceId())
	}
	c.out.Batch.Logs = append(c.out.Batch.Logs, telemetry.Log{
		Resource:     res,
		Scope:        sc,
		Time:         t,
		ObservedTime: observed,
		TraceID:      traceID,
		SpanID:       optionalID(lr.GetSpanId()),
		Severity:     sev,
		SeverityText: lr.GetSeverityText(),
		Body:         c.body(lr.GetBody()),
		RequestID:    requestID(lr.GetAttributes()),
		Attributes:   c.attrsText(lr.GetAttributes()),
		EventName:    lr.GetEventName(),
		Source:       "otlp",
	})
	return problem{}
}

// body returns a string body verbatim and any other body as JSON text.
func (c *converter) body(v *commonpb.AnyValue) string {
	switch x := v.GetValue().(type) {
	case nil:
		return ""
	case *commonpb.AnyValue_StringValue:
		return x.StringValue
	}
	c.buf = appendValue(c.buf[:0], v, 0)
	return string(c.buf)
}

// optionalID returns "" for the all-zero ids that some loggers send to mean
// none, and lower-case hex otherwise.
func optionalID(id []byte) string {
	if allZero(id) {
		return ""
	}
	return hexID(id)
}
