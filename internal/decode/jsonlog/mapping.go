package jsonlog

import (
	"bytes"
	"fmt"
	"time"

	"github.com/fibinc/telltale/internal/telemetry"
)

// group is a record field that known keys fill.
type group uint8

const (
	gTime group = iota
	gMessage
	gLevel
	gSeverityNumber
	gTraceID
	gSpanID
	gRequestID
	gService
	gEnvironment
	gHost
	gVersion
	gInstance
	gZone
	gLogger
	numGroups
)

// role places a key in a group. Of the keys of one group present in a line,
// the one with the lowest rank whose value fits wins; the others stay
// attributes.
type role struct {
	group group
	rank  int
}

// roles lists the known keys, after flattening. The order of each list is
// the rank: earlier keys win.
var roles = func() map[string]role {
	m := make(map[string]role)
	for g, keys := range [numGroups][]string{
		gTime:           {"time", "timestamp", "ts", "@timestamp", "t", "date", "asctime"},
		gMessage:        {"msg", "message", "body", "log", "text", "event"},
		gLevel:          {"level", "severity", "lvl", "levelname", "severity_text", "log.level"},
		gSeverityNumber: {"severity_number"},
		gTraceID:        {"trace_id", "traceId", "trace.id", "traceid", "otelTraceID", "dd.trace_id"},
		gSpanID:         {"span_id", "spanId", "span.id", "spanid", "otelSpanID", "dd.span_id"},
		gRequestID:      {"request_id", "requestId", "request.id", "req_id", "reqId", "x-request-id", "http.request.header.x-request-id"},
		gService:        {"service.name", "service", "service_name", "resource.service.name", "app"},
		gEnvironment:    {"deployment.environment.name", "deployment.environment", "environment", "env", "service.environment", "resource.deployment.environment.name", "resource.deployment.environment"},
		gHost:           {"host.name", "host", "hostname", "resource.host.name"},
		gVersion:        {"service.version", "version", "resource.service.version"},
		gInstance:       {"service.instance.id", "resource.service.instance.id"},
		gZone:           {"cloud.availability_zone", "resource.cloud.availability_zone"},
		gLogger:         {"logger", "logger_name", "log.logger"},
	} {
		for rank, k := range keys {
			m[k] = role{group(g), rank}
		}
	}
	return m
}()

// resourcePrefix marks keys that are resource attributes, as in the
// OpenTelemetry log data model and the filter language's resource.KEY.
const resourcePrefix = "resource."

// maxNameBytes bounds the resource fields and the logger name: longer
// values are not names and stay attributes.
const maxNameBytes = 256

// maxRequestIDBytes bounds request ids.
const maxRequestIDBytes = 128

// found is what the known keys of one line gave.
type found struct {
	index    [numGroups]int // field index per group, -1 when none
	time     time.Time
	severity int32
	sevNum   int32
}

// convert builds a record from the fields of the line just parsed.
func (d *decoder) convert() (telemetry.Log, problem) {
	fields := d.p.fields
	var fd found
	for g := range fd.index {
		fd.index[g] = -1
	}
	var ranks [numGroups]int
	for i := range fields {
		f := &fields[i]
		if f.dead {
			continue
		}
		r, ok := roles[string(f.key)]
		if !ok || fd.index[r.group] >= 0 && ranks[r.group] <= r.rank || !fd.accept(r.group, f) {
			continue
		}
		fd.index[r.group], ranks[r.group] = i, r.rank
	}

	t := d.opt.Now
	if fd.index[gTime] >= 0 {
		t = fd.time
	}
	if pr := d.checkWindow(t); pr.reason != "" {
		return telemetry.Log{}, pr
	}

	l := telemetry.Log{
		Resource:     d.opt.Resource,
		Time:         t,
		ObservedTime: d.opt.Now,
		Source:       Source,
	}
	for _, i := range fd.index {
		if i >= 0 {
			fields[i].dead = true // consumed: not an attribute
		}
	}
	text := func(g group) ([]byte, bool) {
		if i := fd.index[g]; i >= 0 {
			return fields[i].text, true
		}
		return nil, false
	}
	if i := fd.index[gMessage]; i >= 0 {
		f := &fields[i]
		if f.kind == kindString {
			// Docker and others end messages with the line's newline.
			l.Body = string(bytes.TrimRight(f.text, "\r\n"))
		} else {
			l.Body = string(f.json)
		}
	}
	if s, ok := text(gLevel); ok {
		l.SeverityText = d.intern(gLevel, s)
		l.Severity = fd.severity
	}
	if _, ok := text(gSeverityNumber); ok {
		l.Severity = fd.sevNum
	}
	if s, ok := text(gTraceID); ok {
		l.TraceID = lowerHex(s)
	}
	if s, ok := text(gSpanID); ok {
		l.SpanID = lowerHex(s)
	}
	if s, ok := text(gRequestID); ok {
		l.RequestID = string(s)
	}
	if s, ok := text(gService); ok {
		l.ServiceName = d.intern(gService, s)
	}
	if s, ok := text(gEnvironment); ok {
		l.Environment = d.intern(gEnvironment, s)
	}
	if s, ok := text(gHost); ok {
		l.Host = d.intern(gHost, s)
	}
	if s, ok := text(gVersion); ok {
		l.ServiceVersion = d.intern(gVersion, s)
	}
	if s, ok := text(gInstance); ok {
		l.InstanceID = d.intern(gInstance, s)
	}
	if s, ok := text(gZone); ok {
		l.AvailabilityZone = d.intern(gZone, s)
	}
	if s, ok := text(gLogger); ok {
		l.Scope.Name = d.intern(gLogger, s)
	}
	l.Attributes, l.Resource.Attributes = d.attributes(l.Resource.Attributes)
	return l, problem{}
}

// accept reports whether f fits group g, keeping what parsing it gave.
func (fd *found) accept(g group, f *field) bool {
	switch g {
	case gTime:
		t, ok := parseTime(f)
		if ok {
			fd.time = t
		}
		return ok
	case gMessage:
		return f.kind != kindNull && f.kind != kindObject
	case gLevel:
		sev, ok := parseLevel(f)
		if ok {
			fd.severity = sev
		}
		return ok
	case gSeverityNumber:
		n, ok := atoi(f.text)
		if ok && f.kind == kindNumber && n >= 1 && n <= 24 {
			fd.sevNum = int32(n)
			return true
		}
		return false
	case gTraceID:
		return f.kind == kindString && isHexID(f.text, 32)
	case gSpanID:
		return f.kind == kindString && isHexID(f.text, 16)
	case gRequestID:
		return isRequestID(f)
	default: // resource fields and the logger name
		return (f.kind == kindString || f.kind == kindNumber && g != gLogger) && len(f.text) > 0 && len(f.text) <= maxNameBytes
	}
}

// isHexID reports whether s is an id of n hex digits, not all zeros (which
// OpenTelemetry uses for "none").
func isHexID(s []byte, n int) bool {
	if len(s) != n {
		return false
	}
	zero := true
	for _, c := range s {
		switch {
		case '0' <= c && c <= '9':
			zero = zero && c == '0'
		case 'a' <= c && c <= 'f', 'A' <= c && c <= 'F':
			zero = false
		default:
			return false
		}
	}
	return !zero
}

func lowerHex(s []byte) string {
	var buf [32]byte
	b := buf[:0]
	for _, c := range s {
		if 'A' <= c && c <= 'F' {
			c += 'a' - 'A'
		}
		b = append(b, c)
	}
	return string(b)
}

// isRequestID accepts what request ids look like: 1 to 128 printable ASCII
// characters without spaces (UUIDs, hex, ULIDs, "r-42"), or an integer.
func isRequestID(f *field) bool {
	if f.kind != kindString && f.kind != kindNumber || len(f.text) == 0 || len(f.text) > maxRequestIDBytes {
		return false
	}
	for _, c := range f.text {
		if c <= ' ' || c > '~' || f.kind == kindNumber && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// intern returns s as a string, reusing the one of the previous record for
// the same group when equal: the lines of one body mostly share their
// service, host and levels, and this spares an allocation per field.
func (d *decoder) intern(g group, s []byte) string {
	if last := d.last[g]; last == string(s) {
		return last
	}
	d.last[g] = string(s)
	return d.last[g]
}

func (d *decoder) checkWindow(t time.Time) problem {
	if !d.opt.MinTime.IsZero() && t.Before(d.opt.MinTime) {
		return problem{ReasonTooOld, fmt.Sprintf("time %s is before the accepted window starting %s",
			t.Format(time.RFC3339Nano), d.opt.MinTime.UTC().Format(time.RFC3339Nano))}
	}
	if !d.opt.MaxTime.IsZero() && t.After(d.opt.MaxTime) {
		return problem{ReasonTooNew, fmt.Sprintf("time %s is after the accepted window ending %s",
			t.Format(time.RFC3339Nano), d.opt.MaxTime.UTC().Format(time.RFC3339Nano))}
	}
	return problem{}
}

// attributes returns the fields not consumed as JSON objects: the log
// attributes, and the resource attributes (keys under resource., without
// it), or defaultResource when there are none. At most MaxAttributes are
// kept, in line order; the others are counted as dropped.
func (d *decoder) attributes(defaultResource string) (attrs, resource string) {
	d.attrs = append(d.attrs[:0], '{')
	d.resAttr = append(d.resAttr[:0], '{')
	kept := 0
	for i := range d.p.fields {
		f := &d.p.fields[i]
		if f.dead {
			continue
		}
		if kept == d.opt.MaxAttributes {
			d.out.DroppedAttributes++
			continue
		}
		kept++
		dst, key := &d.attrs, f.key
		if k, ok := bytes.CutPrefix(key, []byte(resourcePrefix)); ok && len(k) > 0 {
			dst, key = &d.resAttr, k
		}
		if len(*dst) > 1 {
			*dst = append(*dst, ',')
		}
		*dst = appendString(*dst, key)
		*dst = append(*dst, ':')
		*dst = append(*dst, f.json...)
	}
	d.attrs = append(d.attrs, '}')
	resource = defaultResource
	if len(d.resAttr) > 1 {
		d.resAttr = append(d.resAttr, '}')
		resource = string(d.resAttr)
	}
	if len(d.attrs) == 2 {
		return "{}", resource
	}
	return string(d.attrs), resource
}
