package otlp

import (
	"encoding/hex"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/fibinc/telltale/internal/telemetry"
)

// Traces converts a trace export request into spans.
func Traces(req *coltracepb.ExportTraceServiceRequest, opt Options) Result {
	n := 0
	for _, rs := range req.GetResourceSpans() {
		for _, ss := range rs.GetScopeSpans() {
			n += len(ss.GetSpans())
		}
	}
	c := converter{opt: opt}
	c.out.Batch.Spans = make([]telemetry.Span, 0, n)
	for ri, rs := range req.GetResourceSpans() {
		res := c.resource(rs.GetResource())
		for si, ss := range rs.GetScopeSpans() {
			sc := scope(ss.GetScope())
			for i, sp := range ss.GetSpans() {
				if p := c.span(res, sc, sp); p.key != "" {
					c.reject(1, p, "span %d of scope %d of resource %d", i, si, ri)
				}
			}
		}
	}
	return c.out
}

func (c *converter) span(res telemetry.Resource, sc telemetry.Scope, sp *tracepb.Span) problem {
	if msg := checkID("trace_id", sp.GetTraceId(), 16, false); msg != "" {
		return problem{reasonInvalidTraceID, msg}
	}
	if msg := checkID("span_id", sp.GetSpanId(), 8, false); msg != "" {
		return problem{reasonInvalidSpanID, msg}
	}
	if msg := checkID("parent_span_id", sp.GetParentSpanId(), 8, true); msg != "" {
		return problem{reasonInvalidParentID, msg}
	}
	start, p := c.checkTime("start_time_unix_nano", sp.GetStartTimeUnixNano())
	if p.key != "" {
		return p
	}
	var dur time.Duration
	if end := sp.GetEndTimeUnixNano(); end > sp.GetStartTimeUnixNano() {
		dur = unixNano(end).Sub(start)
	}
	c.out.Batch.Spans = append(c.out.Batch.Spans, telemetry.Span{
		Resource:      res,
		Scope:         sc,
		TraceID:       c.traceIDHex(sp.GetTraceId()),
		SpanID:        hexID(sp.GetSpanId()),
		ParentSpanID:  hexID(sp.GetParentSpanId()),
		TraceState:    sp.GetTraceState(),
		Name:          sp.GetName(),
		Kind:          spanKind(sp.GetKind()),
		Start:         start,
		Duration:      dur,
		StatusCode:    statusCode(sp.GetStatus().GetCode()),
		StatusMessage: sp.GetStatus().GetMessage(),
		RequestID:     requestID(sp.GetAttributes()),
		Attributes:    c.attrsText(sp.GetAttributes()),
		Events:        c.events(sp.GetEvents()),
		Links:         c.links(sp.GetLinks()),
	})
	return problem{}
}

// events returns span events as a JSON array:
// [{"time":"<RFC 3339>","name":"...","attributes":{...}}].
func (c *converter) events(evs []*tracepb.Span_Event) string {
	if len(evs) == 0 {
		return "[]"
	}
	b := append(c.buf[:0], '[')
	for i, ev := range evs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"time":"`...)
		b = unixNano(ev.GetTimeUnixNano()).AppendFormat(b, time.RFC3339Nano)
		b = append(b, `","name":`...)
		b = appendString(b, ev.GetName())
		b = append(b, `,"attributes":`...)
		b = appendAttrs(b, ev.GetAttributes())
		b = append(b, '}')
	}
	c.buf = append(b, ']')
	return string(c.buf)
}

// links returns span links as a JSON array:
// [{"trace_id":"..","span_id":"..","trace_state":"..","attributes":{...}}].
// Link ids are not validated: a bad link does not make the span invalid.
func (c *converter) links(links []*tracepb.Span_Link) string {
	if len(links) == 0 {
		return "[]"
	}
	b := append(c.buf[:0], '[')
	for i, l := range links {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"trace_id":"`...)
		b = hex.AppendEncode(b, l.GetTraceId())
		b = append(b, `","span_id":"`...)
		b = hex.AppendEncode(b, l.GetSpanId())
		b = append(b, `","trace_state":`...)
		b = appendString(b, l.GetTraceState())
		b = append(b, `,"attributes":`...)
		b = appendAttrs(b, l.GetAttributes())
		b = append(b, '}')
	}
	c.buf = append(b, ']')
	return string(c.buf)
}

func spanKind(k tracepb.Span_SpanKind) string {
	switch k {
	case tracepb.Span_SPAN_KIND_INTERNAL:
		return "internal"
	case tracepb.Span_SPAN_KIND_SERVER:
		return "server"
	case tracepb.Span_SPAN_KIND_CLIENT:
		return "client"
	case tracepb.Span_SPAN_KIND_PRODUCER:
		return "producer"
	case tracepb.Span_SPAN_KIND_CONSUMER:
		return "consumer"
	}
	return "unspecified"
}

func statusCode(c tracepb.Status_StatusCode) string {
	switch c {
	case tracepb.Status_STATUS_CODE_OK:
		return "ok"
	case tracepb.Status_STATUS_CODE_ERROR:
		return "error"
	}
	return "unset"
}
