// Package telemetry defines the records Telltale stores: spans, log records and
// metric points, each stamped with the resource fields that correlate them
// (service, version, instance, environment, host, zone).
//
// Decoders turn wire formats (OTLP, Sentry, StatsD, JSON lines) into these
// records; the pipeline batches them and the store persists them. The types are
// plain values with no behaviour tied to any wire format or database.
package telemetry

import (
	"slices"
	"time"
)

// Signal names a kind of telemetry. It is used in metrics labels, partition
// names and error messages.
type Signal string

// The signals Telltale stores.
const (
	SignalSpans   Signal = "spans"
	SignalLogs    Signal = "logs"
	SignalMetrics Signal = "metrics"
)

// Signals lists every signal in a fixed order.
var Signals = []Signal{SignalSpans, SignalLogs, SignalMetrics, SignalErrors}

// Resource holds the resource fields stored as columns on every record.
// Attributes holds the remaining resource attributes as a JSON object.
type Resource struct {
	ServiceName      string `json:"service_name"`                  // service.name, "unknown_service" when absent
	ServiceVersion   string `json:"service_version,omitempty"`     // service.version
	InstanceID       string `json:"service_instance_id,omitempty"` // service.instance.id
	Environment      string `json:"environment,omitempty"`         // deployment.environment.name or deployment.environment
	Host             string `json:"host_name,omitempty"`           // host.name
	AvailabilityZone string `json:"availability_zone,omitempty"`   // cloud.availability_zone
	Attributes       string `json:"-"`                             // other resource attributes, JSON object text ("{}" when none)
}

// Scope is the instrumentation scope that produced a record.
type Scope struct {
	Name    string
	Version string
}

// Span is one span of a trace. IDs are lower-case hex.
type Span struct {
	Resource
	Scope
	TraceID       string // 32 hex digits
	SpanID        string // 16 hex digits
	ParentSpanID  string // 16 hex digits, "" for a root span
	TraceState    string
	Name          string
	Kind          string // unspecified, internal, server, client, producer, consumer
	Start         time.Time
	Duration      time.Duration
	StatusCode    string // unset, ok, error
	StatusMessage string
	RequestID     string // from request.id, request_id or http.request.header.x-request-id
	Attributes    string // JSON object text
	Events        string // JSON array text: [{"time":..., "name":..., "attributes":{...}}]
	Links         string // JSON array text: [{"trace_id":..., "span_id":..., "attributes":{...}}]
}

// Log is one log record. Severity is the OpenTelemetry severity number (1-24);
// decoders derive it from the severity text when the number is missing.
type Log struct {
	Resource
	Scope
	Time         time.Time
	ObservedTime time.Time
	TraceID      string
	SpanID       string
	Severity     int32
	SeverityText string
	Body         string // string bodies verbatim, other bodies as JSON text
	RequestID    string
	Attributes   string // JSON object text
	EventName    string
	Source       string // otlp, json, sentry, ...
}

// Metric point types.
const (
	MetricGauge                = "gauge"
	MetricSum                  = "sum"
	MetricHistogram            = "histogram"
	MetricExponentialHistogram = "exponential_histogram"
	MetricSummary              = "summary"
)

// Aggregation temporalities.
const (
	TemporalityDelta      = "delta"
	TemporalityCumulative = "cumulative"
)

// MetricPoint is one data point of one metric stream. Which value fields are
// set depends on Type: Value for gauges and sums; Count, Sum, Min, Max and the
// bucket fields for histograms; the Exp fields for exponential histograms;
// Count, Sum and Quantiles for summaries.
type MetricPoint struct {
	Resource
	Scope
	Name        string
	Description string
	Unit        string
	Type        string // one of the Metric* constants
	Temporality string // delta, cumulative, or "" for gauges and summaries
	Monotonic   bool
	SeriesID    uint64 // hash of name, resource and point attributes: one value per stream
	Attributes  string // JSON object text
	Time        time.Time
	StartTime   time.Time // zero when unknown
	Flags       uint32

	Value float64

	Count  uint64
	Sum    float64
	HasMin bool
	Min    float64
	HasMax bool
	Max    float64

	BucketBounds []float64 // explicit histogram upper bounds
	BucketCounts []uint64  // len(BucketBounds)+1 counts

	ExpScale          int32
	ExpZeroCount      uint64
	ExpPositiveOffset int32
	ExpPositiveCounts []uint64
	ExpNegativeOffset int32
	ExpNegativeCounts []uint64

	Quantiles      []float64 // summary quantiles (0..1)
	QuantileValues []float64
}

// Batch is a set of records handed from a decoder to the pipeline and from
// the pipeline to the store.
type Batch struct {
	Spans   []Span
	Logs    []Log
	Metrics []MetricPoint
	Errors  []ErrorEvent
}

// Len is the number of records in the batch.
func (b *Batch) Len() int { return len(b.Spans) + len(b.Logs) + len(b.Metrics) + len(b.Errors) }

// Count is the number of records of one signal in the batch.
func (b *Batch) Count(s Signal) int {
	switch s {
	case SignalSpans:
		return len(b.Spans)
	case SignalLogs:
		return len(b.Logs)
	case SignalMetrics:
		return len(b.Metrics)
	case SignalErrors:
		return len(b.Errors)
	}
	return 0
}

// Grow makes room for n more records of signal s.
func (b *Batch) Grow(s Signal, n int) {
	switch s {
	case SignalSpans:
		b.Spans = slices.Grow(b.Spans, n)
	case SignalLogs:
		b.Logs = slices.Grow(b.Logs, n)
	case SignalMetrics:
		b.Metrics = slices.Grow(b.Metrics, n)
	case SignalErrors:
		b.Errors = slices.Grow(b.Errors, n)
	}
}

// Append adds the records of o to b.
func (b *Batch) Append(o *Batch) {
	b.Spans = append(b.Spans, o.Spans...)
	b.Logs = append(b.Logs, o.Logs...)
	b.Metrics = append(b.Metrics, o.Metrics...)
	b.Errors = append(b.Errors, o.Errors...)
}

// Severity numbers at the start of each OpenTelemetry severity range.
const (
	SeverityTrace = 1
	SeverityDebug = 5
	SeverityInfo  = 9
	SeverityWarn  = 13
	SeverityError = 17
	SeverityFatal = 21
)

// LevelName returns the short level name (trace, debug, info, warn, error,
// fatal) of an OpenTelemetry severity number, or "" for 0.
func LevelName(severity int32) string {
	switch {
	case severity <= 0:
		return ""
	case severity < SeverityDebug:
		return "trace"
	case severity < SeverityInfo:
		return "debug"
	case severity < SeverityWarn:
		return "info"
	case severity < SeverityError:
		return "warn"
	case severity < SeverityFatal:
		return "error"
	default:
		return "fatal"
	}
}

// ParseLevel maps a level or severity name, as written by common loggers
// (warn, WARNING, Err, critical, ...), to the first severity number of its
// range. ok is false for names it does not know.
func ParseLevel(s string) (severity int32, ok bool) {
	switch lower(s) {
	case "trace", "trc", "finest", "finer":
		return SeverityTrace, true
	case "debug", "dbg", "fine", "verbose":
		return SeverityDebug, true
	case "info", "inf", "information", "informational", "notice", "log":
		return SeverityInfo, true
	case "warn", "wrn", "warning":
		return SeverityWarn, true
	case "error", "err", "eror", "severe", "exception":
		return SeverityError, true
	case "fatal", "crit", "critical", "panic", "emerg", "emergency", "alert", "dpanic":
		return SeverityFatal, true
	}
	return 0, false
}

func lower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
