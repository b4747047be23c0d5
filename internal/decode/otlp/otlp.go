// Package otlp converts OpenTelemetry Protocol (OTLP) export requests into
// Telltale records. It knows nothing of transports: listeners decode a body
// with DecodeTracesProto, DecodeTracesJSON and their logs and metrics
// counterparts, then call Traces, Logs or Metrics, and answer with a partial
// success when Result.Rejected is not zero.
//
// The mapping, detailed in docs/design/storage.md:
//
//   - Resource: service.name (unknown_service when absent), service.version,
//     service.instance.id, deployment.environment.name (or the older
//     deployment.environment), host.name and cloud.availability_zone become
//     columns; the other resource attributes a JSON object. Scope attributes
//     are not stored.
//   - Attributes of spans, events, links, log records and data points become
//     JSON objects with native JSON types. Doubles JSON cannot hold are the
//     strings "NaN", "+Inf" and "-Inf"; bytes are base64 strings; kvlists are
//     objects; values nested deeper than 32 levels are null.
//   - The request id of a span or log record is its request.id attribute,
//     else request_id, else the first element of
//     http.request.header.x-request-id. The attribute stays in the JSON too.
//   - IDs are lower-case hex. A span needs a 16-byte trace id and an 8-byte
//     span id, neither all zeros; a log record's ids are optional but, when
//     present, must have those lengths, and all zeros mean none. Invalid
//     records are rejected, not repaired.
//   - A log record's time is time_unix_nano, else observed_time_unix_nano,
//     else the time of the request. A missing severity number is derived from
//     the severity text.
//   - Each metric data point is one record, identified by a series id that
//     hashes the metric name, the resource attributes and the point
//     attributes, whatever their order. Exemplars are not stored. A number
//     point without a value is NaN. Options.Series, when set, may refuse the
//     points of new series (the per-metric series limit): they are
//     rejected as ReasonCardinality, which is not bad data (Result.BadData).
package otlp

import (
	"encoding/hex"
	"fmt"
	"math"
	"time"

	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"

	"github.com/fibinc/telltale/internal/telemetry"
)

// Options bound what is accepted. The zero value accepts any timestamp.
type Options struct {
	// MinTime and MaxTime, when not zero, bound the timestamps of accepted
	// records; records outside are rejected as too_old or too_new.
	MinTime, MaxTime time.Time
	// Now is the time given to log records that carry none. Zero means
	// time.Now().
	Now time.Time
	// Series, when set, admits the metric points of new series; points it
	// refuses are rejected as ReasonCardinality.
	Series SeriesLimiter
}

// SeriesLimiter bounds the series of each metric name
// (internal/ingest/cardinality implements it).
type SeriesLimiter interface {
	// Admit reports whether a point of series id of metric name may be
	// stored.
	Admit(name string, id uint64) bool
	// Limit is the number of series a metric may have, for the message.
	Limit() int
}

// Result is the outcome of converting one request.
type Result struct {
	// Batch holds the accepted records. Histogram bucket slices are shared
	// with the request, not copied.
	Batch telemetry.Batch
	// Rejected counts the spans, log records or metric data points left out.
	Rejected int
	// Reason describes the first rejection, naming the record and the
	// problem, for the partial-success message returned to the client.
	Reason string
	// RejectedByReason counts rejections by a short key for self-metrics:
	// invalid_trace_id, invalid_span_id, invalid_parent_span_id,
	// missing_timestamp, too_old, too_new, invalid_metric or cardinality
	// (ReasonCardinality). It is nil when nothing was rejected.
	RejectedByReason map[string]int
}

// ReasonCardinality is the rejection key of metric points of new series
// beyond their metric's series limit (Options.Series). It is the reason the
// StatsD listener uses for the same limit.
const ReasonCardinality = "cardinality"

// BadData reports whether every record of the request was rejected as
// invalid, which the OTLP specification answers with 400 (gRPC:
// INVALID_ARGUMENT) rather than a partial success. Points refused by the
// series limit are not invalid: a request that has some is a partial
// success even when nothing of it is stored, so that the client reads the
// limit's message where it reads every partial rejection.
func (r *Result) BadData() bool {
	return r.Batch.Len() == 0 && r.Rejected > 0 && r.RejectedByReason[ReasonCardinality] == 0
}

// Rejection keys of Result.RejectedByReason.
const (
	reasonInvalidTraceID  = "invalid_trace_id"
	reasonInvalidSpanID   = "invalid_span_id"
	reasonInvalidParentID = "invalid_parent_span_id"
	reasonMissingTime     = "missing_timestamp"
	reasonTooOld          = "too_old"
	reasonTooNew          = "too_new"
	reasonInvalidMetric   = "invalid_metric"
)

// problem is why a record is rejected; the zero value means it is accepted.
type problem struct {
	key string // one of the reason* keys
	msg string
}

// converter holds the state of converting one request: the result and a
// buffer reused for every JSON text field.
type converter struct {
	opt Options
	out Result
	buf []byte

	// The last trace id converted, whose string the next record reuses when
	// it has the same: a request usually holds many records of each trace.
	traceID  []byte
	traceHex string
}

func (c *converter) traceIDHex(id []byte) string {
	if string(id) != string(c.traceID) || c.traceHex == "" {
		c.traceID, c.traceHex = id, hexID(id)
	}
	return c.traceHex
}

// reject counts n rejected records. The location of the records, given as a
// format and its arguments, is formatted only for the first rejection, since
// only that one is reported.
func (c *converter) reject(n int, p problem, format string, args ...any) {
	if c.out.RejectedByReason == nil {
		c.out.RejectedByReason = make(map[string]int)
		c.out.Reason = fmt.Sprintf(format, args...) + ": " + p.msg
	}
	c.out.Rejected += n
	c.out.RejectedByReason[p.key] += n
}

// checkTime converts a timestamp and checks it against the accepted window.
func (c *converter) checkTime(field string, ns uint64) (time.Time, problem) {
	if ns == 0 {
		return time.Time{}, problem{reasonMissingTime, field + " is missing"}
	}
	t := unixNano(ns)
	return t, c.checkWindow(field, t)
}

func (c *converter) checkWindow(field string, t time.Time) problem {
	if !c.opt.MinTime.IsZero() && t.Before(c.opt.MinTime) {
		return problem{reasonTooOld, fmt.Sprintf("%s %s is before the accepted window starting %s",
			field, t.Format(time.RFC3339Nano), c.opt.MinTime.UTC().Format(time.RFC3339Nano))}
	}
	if !c.opt.MaxTime.IsZero() && t.After(c.opt.MaxTime) {
		return problem{reasonTooNew, fmt.Sprintf("%s %s is after the accepted window ending %s",
			field, t.Format(time.RFC3339Nano), c.opt.MaxTime.UTC().Format(time.RFC3339Nano))}
	}
	return problem{}
}

// unixNano converts an OTLP timestamp, clamping the ones past year 2262 that
// time.Time cannot count in int64 nanoseconds.
func unixNano(ns uint64) time.Time {
	return time.Unix(0, int64(min(ns, math.MaxInt64))).UTC()
}

// The resource attributes stored as columns.
const (
	attrServiceName       = "service.name"
	attrServiceVersion    = "service.version"
	attrServiceInstanceID = "service.instance.id"
	attrEnvironmentName   = "deployment.environment.name"
	attrEnvironment       = "deployment.environment"
	attrHostName          = "host.name"
	attrAvailabilityZone  = "cloud.availability_zone"
)

// resource converts an OTLP resource. The attributes stored as columns are
// left out of the JSON object, except deployment.environment when
// deployment.environment.name is present, so that no value is lost.
func (c *converter) resource(r *resourcepb.Resource) telemetry.Resource {
	var res telemetry.Resource
	kvs := r.GetAttributes()
	hasEnvName := false
	for _, kv := range kvs {
		if kv.GetKey() == attrEnvironmentName {
			hasEnvName = true
		}
	}
	c.buf = append(c.buf[:0], '{')
	for _, kv := range kvs {
		switch kv.GetKey() {
		case attrServiceName:
			res.ServiceName = valueString(kv.GetValue())
		case attrServiceVersion:
			res.ServiceVersion = valueString(kv.GetValue())
		case attrServiceInstanceID:
			res.InstanceID = valueString(kv.GetValue())
		case attrEnvironmentName:
			res.Environment = valueString(kv.GetValue())
		case attrHostName:
			res.Host = valueString(kv.GetValue())
		case attrAvailabilityZone:
			res.AvailabilityZone = valueString(kv.GetValue())
		case attrEnvironment:
			if !hasEnvName {
				res.Environment = valueString(kv.GetValue())
				break
			}
			fallthrough
		default:
			if len(c.buf) > 1 {
				c.buf = append(c.buf, ',')
			}
			c.buf = appendPair(c.buf, kv, 0)
		}
	}
	c.buf = append(c.buf, '}')
	res.Attributes = jsonText(c.buf)
	if res.ServiceName == "" {
		res.ServiceName = "unknown_service"
	}
	return res
}

func scope(s *commonpb.InstrumentationScope) telemetry.Scope {
	return telemetry.Scope{Name: s.GetName(), Version: s.GetVersion()}
}

// attrsText returns kvs as JSON object text.
func (c *converter) attrsText(kvs []*commonpb.KeyValue) string {
	if len(kvs) == 0 {
		return "{}"
	}
	c.buf = appendAttrs(c.buf[:0], kvs)
	return jsonText(c.buf)
}

// requestID returns the request.id attribute, else request_id, else the
// first element of http.request.header.x-request-id, which semantic
// conventions make a string array.
func requestID(kvs []*commonpb.KeyValue) string {
	var rank int
	var found *commonpb.AnyValue
	for _, kv := range kvs {
		r := 0
		switch kv.GetKey() {
		case "request.id":
			r = 3
		case "request_id":
			r = 2
		case "http.request.header.x-request-id":
			r = 1
		}
		if r > rank {
			rank, found = r, kv.GetValue()
		}
	}
	if arr, ok := found.GetValue().(*commonpb.AnyValue_ArrayValue); ok {
		if vs := arr.ArrayValue.GetValues(); len(vs) > 0 {
			found = vs[0]
		} else {
			found = nil
		}
	}
	return valueString(found)
}

// checkID validates an id of the given length; optional ids may be empty.
func checkID(field string, id []byte, size int, optional bool) string {
	switch {
	case len(id) == 0 && optional:
		return ""
	case len(id) != size:
		return fmt.Sprintf("%s must be %d bytes, got %d", field, size, len(id))
	case !optional && allZero(id):
		return field + " must not be all zeros"
	}
	return ""
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// hexID returns id as lower-case hex with a single allocation.
func hexID(id []byte) string {
	var buf [32]byte
	if len(id) == 0 {
		return ""
	}
	if len(id) > len(buf)/2 {
		return hex.EncodeToString(id)
	}
	return string(hex.AppendEncode(buf[:0], id))
}
