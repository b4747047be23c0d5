package otlp

import (
	"encoding/json"
	"strings"
	"testing"

	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	colmetricspb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/fibinc/telltale/internal/telemetry"
)

// The fuzzers decode then convert arbitrary bodies. Whatever the input, they
// must not panic, every record must be accounted for as stored or rejected,
// and every JSON text field must be valid JSON.

// fuzzOptions bound timestamps so that the window checks are fuzzed too.
var fuzzOptions = Options{MinTime: t0.AddDate(-30, 0, 0), MaxTime: t0.AddDate(30, 0, 0), Now: t0}

func FuzzDecodeTracesJSON(f *testing.F) {
	f.Add(readTestdata(f, "trace.json"))
	f.Add([]byte(span(jsonIDs + `,"kind":"SPAN_KIND_CLIENT","links":[{"traceId":"01","spanId":""}],"events":[{"name":"e"}]`)))
	f.Add([]byte(span(jsonIDs + `,"attributes":[{"key":"k","value":{"arrayValue":{"values":[{"doubleValue":"NaN"},{"bytesValue":"AAE="}]}}}]`)))
	f.Add([]byte(span(`"traceId":"zz"`)))
	f.Fuzz(func(t *testing.T, b []byte) {
		if req, err := DecodeTracesJSON(b); err == nil {
			checkTraces(t, req.GetResourceSpans(), Traces(req, fuzzOptions))
		}
	})
}

func FuzzDecodeTracesProto(f *testing.F) {
	f.Add(marshal(f, tracesRequest(validSpan())))
	f.Add(marshal(f, tracesRequest(&tracepb.Span{TraceId: traceID, SpanId: spanID})))
	f.Fuzz(func(t *testing.T, b []byte) {
		if req, err := DecodeTracesProto(b); err == nil {
			checkTraces(t, req.GetResourceSpans(), Traces(req, fuzzOptions))
		}
	})
}

func FuzzDecodeLogsJSON(f *testing.F) {
	f.Add(readTestdata(f, "logs.json"))
	f.Add([]byte(`{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"severityText":"warn","body":{"kvlistValue":{"values":[{"key":"a"}]}},` +
		`"attributes":[{"key":"request_id","value":{"intValue":"7"}}],"traceId":"","spanId":"0102030405060708"}]}]}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if req, err := DecodeLogsJSON(b); err == nil {
			checkLogs(t, req, Logs(req, fuzzOptions))
		}
	})
}

func FuzzDecodeLogsProto(f *testing.F) {
	f.Add(marshal(f, logsRequest(validLog())))
	l := validLog()
	l.Body = kvlistVal(kv("deep", nested(40)), kv("bytes", &commonpb.AnyValue{Value: &commonpb.AnyValue_BytesValue{BytesValue: []byte{1}}}))
	f.Add(marshal(f, logsRequest(l)))
	f.Fuzz(func(t *testing.T, b []byte) {
		if req, err := DecodeLogsProto(b); err == nil {
			checkLogs(t, req, Logs(req, fuzzOptions))
		}
	})
}

func FuzzDecodeMetricsJSON(f *testing.F) {
	f.Add(readTestdata(f, "metrics.json"))
	f.Add([]byte(`{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"e","exponentialHistogram":{"aggregationTemporality":2,` +
		`"dataPoints":[{"timeUnixNano":"1","scale":-3,"positive":{"offset":-1,"bucketCounts":["1",2]},"exemplars":[{"traceId":"0102"}]}]}},` +
		`{"name":"s","summary":{"dataPoints":[{"timeUnixNano":"1","quantileValues":[{"quantile":0.5,"value":"Infinity"}]}]}}]}]}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if req, err := DecodeMetricsJSON(b); err == nil {
			checkMetrics(t, Metrics(req, fuzzOptions))
		}
	})
}

func FuzzDecodeMetricsProto(f *testing.F) {
	f.Add(marshal(f, everyMetricType()))
	f.Fuzz(func(t *testing.T, b []byte) {
		if req, err := DecodeMetricsProto(b); err == nil {
			all := Metrics(req, fuzzOptions)
			checkMetrics(t, all)
			checkSeriesLimit(t, req, all)
		}
	})
}

// checkSeriesLimit converts req again with a limit of one series per name:
// every point is still either stored or rejected, the points stored are
// those of one series per name, and the rest are rejected as cardinality.
func checkSeriesLimit(t *testing.T, req *colmetricspb.ExportMetricsServiceRequest, all Result) {
	opt := fuzzOptions
	opt.Series = &admitFirst{n: 1}
	res := Metrics(req, opt)
	checkMetrics(t, res)
	if res.Batch.Len()+res.Rejected != all.Batch.Len()+all.Rejected {
		t.Fatalf("with the limit %d stored + %d rejected, without %d + %d", res.Batch.Len(), res.Rejected, all.Batch.Len(), all.Rejected)
	}
	series := map[string]uint64{}
	for _, p := range res.Batch.Metrics {
		if id, ok := series[p.Name]; ok && id != p.SeriesID {
			t.Fatalf("two series of %q stored with a limit of one", p.Name)
		}
		series[p.Name] = p.SeriesID
	}
	if res.RejectedByReason[ReasonCardinality] != all.Batch.Len()-res.Batch.Len() {
		t.Fatalf("%d rejected as cardinality, want %d", res.RejectedByReason[ReasonCardinality], all.Batch.Len()-res.Batch.Len())
	}
}

func marshal(f *testing.F, m proto.Message) []byte {
	b, err := proto.Marshal(m)
	if err != nil {
		f.Fatal(err)
	}
	return b
}

// everyMetricType is a request with a metric of each type.
func everyMetricType() proto.Message {
	delta := metricspb.AggregationTemporality_AGGREGATION_TEMPORALITY_DELTA
	return metricsRequest(
		&metricspb.Metric{Name: "g", Data: &metricspb.Metric_Gauge{Gauge: &metricspb.Gauge{DataPoints: []*metricspb.NumberDataPoint{numberPoint(1)}}}},
		&metricspb.Metric{Name: "s", Data: &metricspb.Metric_Sum{Sum: &metricspb.Sum{AggregationTemporality: delta, DataPoints: []*metricspb.NumberDataPoint{numberPoint(2)}}}},
		&metricspb.Metric{Name: "h", Data: &metricspb.Metric_Histogram{Histogram: &metricspb.Histogram{AggregationTemporality: delta,
			DataPoints: []*metricspb.HistogramDataPoint{{TimeUnixNano: ns(t0), Count: 1, Sum: f64(1), ExplicitBounds: []float64{1}, BucketCounts: []uint64{0, 1}}}}}},
		&metricspb.Metric{Name: "e", Data: &metricspb.Metric_ExponentialHistogram{ExponentialHistogram: &metricspb.ExponentialHistogram{AggregationTemporality: delta,
			DataPoints: []*metricspb.ExponentialHistogramDataPoint{{TimeUnixNano: ns(t0), Count: 1, Positive: &metricspb.ExponentialHistogramDataPoint_Buckets{BucketCounts: []uint64{1}}}}}}},
		&metricspb.Metric{Name: "q", Data: &metricspb.Metric_Summary{Summary: &metricspb.Summary{
			DataPoints: []*metricspb.SummaryDataPoint{{TimeUnixNano: ns(t0), QuantileValues: []*metricspb.SummaryDataPoint_ValueAtQuantile{{Quantile: 1}}}}}}},
	)
}

func checkJSON(t *testing.T, what, text string) {
	t.Helper()
	if !json.Valid([]byte(text)) {
		t.Fatalf("%s is not valid JSON: %q", what, text)
	}
}

func checkHexID(t *testing.T, what, id string, size int) {
	t.Helper()
	if len(id) != 2*size || strings.Trim(id, "0123456789abcdef") != "" {
		t.Fatalf("%s %q is not %d bytes of lower-case hex", what, id, size)
	}
}

func checkTraces(t *testing.T, in []*tracepb.ResourceSpans, res Result) {
	n := 0
	for _, rs := range in {
		for _, ss := range rs.GetScopeSpans() {
			n += len(ss.GetSpans())
		}
	}
	if got := len(res.Batch.Spans) + res.Rejected; got != n {
		t.Fatalf("%d spans in, %d stored + %d rejected out", n, len(res.Batch.Spans), res.Rejected)
	}
	for _, s := range res.Batch.Spans {
		checkHexID(t, "trace id", s.TraceID, 16)
		checkHexID(t, "span id", s.SpanID, 8)
		if s.ParentSpanID != "" {
			checkHexID(t, "parent span id", s.ParentSpanID, 8)
		}
		checkJSON(t, "resource attributes", s.Resource.Attributes)
		checkJSON(t, "attributes", s.Attributes)
		checkJSON(t, "events", s.Events)
		checkJSON(t, "links", s.Links)
		if s.Duration < 0 {
			t.Fatalf("negative duration %v", s.Duration)
		}
	}
}

func checkLogs(t *testing.T, in *collogspb.ExportLogsServiceRequest, res Result) {
	n := 0
	for _, rl := range in.GetResourceLogs() {
		for _, sl := range rl.GetScopeLogs() {
			n += len(sl.GetLogRecords())
		}
	}
	if got := len(res.Batch.Logs) + res.Rejected; got != n {
		t.Fatalf("%d log records in, %d stored + %d rejected out", n, len(res.Batch.Logs), res.Rejected)
	}
	for _, l := range res.Batch.Logs {
		if l.TraceID != "" {
			checkHexID(t, "trace id", l.TraceID, 16)
		}
		if l.SpanID != "" {
			checkHexID(t, "span id", l.SpanID, 8)
		}
		checkJSON(t, "resource attributes", l.Resource.Attributes)
		checkJSON(t, "attributes", l.Attributes)
		if l.Time.IsZero() || l.ObservedTime.IsZero() {
			t.Fatalf("zero time in %+v", l)
		}
	}
}

func checkMetrics(t *testing.T, res Result) {
	for _, p := range res.Batch.Metrics {
		checkJSON(t, "resource attributes", p.Resource.Attributes)
		checkJSON(t, "attributes", p.Attributes)
		if p.Name == "" || p.Time.IsZero() {
			t.Fatalf("point without name or time: %+v", p)
		}
		if p.Type == telemetry.MetricHistogram && len(p.BucketCounts) > 0 && len(p.BucketCounts) != len(p.BucketBounds)+1 {
			t.Fatalf("histogram with %d counts for %d bounds", len(p.BucketCounts), len(p.BucketBounds))
		}
	}
	if res.Rejected > 0 && (res.Reason == "" || len(res.RejectedByReason) == 0) {
		t.Fatalf("%d rejected without a reason", res.Rejected)
	}
}
