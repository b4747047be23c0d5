package statsd

import (
	"testing"
	"time"

	colmetricspb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"

	"github.com/fibinc/telltale/internal/decode/otlp"
	"github.com/fibinc/telltale/internal/telemetry"
)

func str(k, v string) *commonpb.KeyValue {
	return &commonpb.KeyValue{Key: k, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: v}}}
}

// otlpGauge converts one OTLP gauge point with the given resource and point
// attributes, to compare with what the StatsD listener makes of a line.
func otlpGauge(t *testing.T, name string, res, attrs []*commonpb.KeyValue) telemetry.MetricPoint {
	t.Helper()
	req := &colmetricspb.ExportMetricsServiceRequest{ResourceMetrics: []*metricspb.ResourceMetrics{{
		Resource: &resourcepb.Resource{Attributes: res},
		ScopeMetrics: []*metricspb.ScopeMetrics{{Metrics: []*metricspb.Metric{{
			Name: name,
			Data: &metricspb.Metric_Gauge{Gauge: &metricspb.Gauge{DataPoints: []*metricspb.NumberDataPoint{{
				Attributes:   attrs,
				TimeUnixNano: uint64(time.Now().UnixNano()),
				Value:        &metricspb.NumberDataPoint_AsDouble{AsDouble: 1},
			}}}},
		}}}},
	}}}
	out := otlp.Metrics(req, otlp.Options{})
	if len(out.Batch.Metrics) != 1 {
		t.Fatalf("OTLP conversion rejected the point: %s", out.Reason)
	}
	return out.Batch.Metrics[0]
}

// A StatsD series has the id and attributes the same metric gets over OTLP.
func TestSeriesIDMatchesOTLP(t *testing.T) {
	tests := []struct {
		line  string
		res   []*commonpb.KeyValue
		attrs []*commonpb.KeyValue
	}{
		{"m:1|g", []*commonpb.KeyValue{str("service.name", "statsd")}, nil},
		{"m:1|g|#route:/a,code:200,service:web",
			[]*commonpb.KeyValue{str("service.name", "web")},
			[]*commonpb.KeyValue{str("route", "/a"), str("code", "200")}},
		{`q.x:1|g|#env:prod,host:h1,version:2,a"b:c\d,flag|c:abc`,
			[]*commonpb.KeyValue{str("host.name", "h1"), str("service.name", "statsd"), str("deployment.environment", "prod"),
				str("service.version", "2"), str("container.id", "abc")},
			[]*commonpb.KeyValue{str("flag", ""), str(`a"b`, `c\d`)}},
		{"ü:1|g|#ключ:значение",
			[]*commonpb.KeyValue{str("service.name", "statsd")},
			[]*commonpb.KeyValue{str("ключ", "значение")}},
	}
	for _, tt := range tests {
		s := newTestServer(t, Options{Appender: &fakeAppender{}})
		s.feed(tt.line)
		points := s.agg.flush(time.Now())
		if len(points) != 1 {
			t.Fatalf("%s: %d points", tt.line, len(points))
		}
		got := points[0]
		want := otlpGauge(t, got.Name, tt.res, tt.attrs)
		if got.SeriesID != want.SeriesID {
			t.Errorf("%s: series id %x, OTLP gives %x", tt.line, got.SeriesID, want.SeriesID)
		}
		if got.Resource != want.Resource {
			t.Errorf("%s: resource %+v, OTLP gives %+v", tt.line, got.Resource, want.Resource)
		}
		if len(tt.attrs) <= 1 && got.Attributes != want.Attributes {
			t.Errorf("%s: attributes %s, OTLP gives %s", tt.line, got.Attributes, want.Attributes)
		}
	}
}
