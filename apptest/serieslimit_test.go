package apptest

import (
	"bufio"
	"context"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/DataDog/datadog-go/v5/statsd"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
)

// selfMetric returns the value of one sample of the server's /metrics, 0
// when absent.
func (s *server) selfMetric(t *testing.T, sample string) float64 {
	t.Helper()
	resp, err := s.client.Get("http://" + s.ui + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if name, value, ok := strings.Cut(sc.Text(), " "); ok && name == sample {
			v, err := strconv.ParseFloat(value, 64)
			if err != nil {
				t.Fatalf("%s: %v", sample, err)
			}
			return v
		}
	}
	return 0
}

// TestSeriesLimit runs the real binary with --max-series-per-metric 3 and
// sends a gauge of four series with the OpenTelemetry SDK: the fourth is
// rejected, and the SDK reports the server's partial-success message. After
// a restart the limit still holds (the count is seeded from the store), over
// gRPC and StatsD alike, while the existing series are still accepted.
func TestSeriesLimit(t *testing.T) {
	dir := t.TempDir()
	statsdAddr := freeAddr(t)
	flags := []string{"--max-series-per-metric", "3", "--statsd-addr", statsdAddr, "--statsd-flush-interval", "100ms"}
	s := start(t, dir, flags...)
	const rejected = `telltale_ingest_rejected_total{signal="metrics",reason="cardinality"}`
	ctx := context.Background()
	res := resource.NewWithAttributes(semconv.SchemaURL, semconv.ServiceName("limits"), semconv.ServiceInstanceID("limits-1"))

	// export sends one point of the gauge for each queue with the SDK and
	// returns the export's error, where the SDK reports a partial success.
	export := func(exp sdkmetric.Exporter, queues ...string) error {
		t.Helper()
		reader := sdkmetric.NewManualReader()
		mp := sdkmetric.NewMeterProvider(sdkmetric.WithResource(res), sdkmetric.WithReader(reader))
		g, _ := mp.Meter("limits").Int64Gauge("jobs.running")
		for i, q := range queues {
			g.Record(ctx, int64(i+1), metric.WithAttributes(attribute.String("queue", q)))
		}
		err := exp.Export(ctx, collect(t, reader))
		mp.Shutdown(ctx)
		exp.Shutdown(ctx)
		return err
	}
	wantRejection := func(transport string, err error) {
		t.Helper()
		// The SDK orders the points as it likes: the index is not checked.
		want := `metric "jobs.running" has reached its limit of 3 active series (--max-series-per-metric)`
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "(1 metric data points rejected)") {
			t.Errorf("%s: export error = %v, want a partial success with %q", transport, err, want)
		}
	}
	countSeries := func(want float64) {
		t.Helper()
		q := url.Values{"query": {`count(jobs_running)`}}
		var r struct {
			Data struct {
				Result []struct{ Value [2]any }
			}
		}
		s.get("/api/v1/query?"+q.Encode(), 200, &r)
		if len(r.Data.Result) != 1 || r.Data.Result[0].Value[1] != strconv.FormatFloat(want, 'f', -1, 64) {
			t.Errorf("count(jobs_running) = %+v, want %v", r.Data.Result, want)
		}
	}

	httpExp, err := otlpmetrichttp.New(ctx, otlpmetrichttp.WithEndpoint(s.otlpAddr), otlpmetrichttp.WithInsecure())
	if err != nil {
		t.Fatal(err)
	}
	if err := export(httpExp, "a", "b", "c"); err != nil {
		t.Fatal(err)
	}
	httpExp, err = otlpmetrichttp.New(ctx, otlpmetrichttp.WithEndpoint(s.otlpAddr), otlpmetrichttp.WithInsecure())
	if err != nil {
		t.Fatal(err)
	}
	wantRejection("OTLP/HTTP", export(httpExp, "b", "d"))
	if got := s.selfMetric(t, rejected); got != 1 {
		t.Errorf("%s = %v, want 1", rejected, got)
	}
	countSeries(3)
	s.stop()

	// The restarted server counts the stored series.
	s = start(t, dir, flags...)
	grpcExp, err := otlpmetricgrpc.New(ctx, otlpmetricgrpc.WithEndpoint(s.grpcAddr), otlpmetricgrpc.WithInsecure())
	if err != nil {
		t.Fatal(err)
	}
	wantRejection("OTLP/gRPC", export(grpcExp, "a", "e", "b"))

	// StatsD shares the limit: the same name from StatsD is a new series
	// (its service is statsd), over the limit too.
	c, err := statsd.New(statsdAddr, statsd.WithoutTelemetry())
	if err != nil {
		t.Fatal(err)
	}
	c.Gauge("jobs.running", 1, []string{"queue:f"}, 1)
	c.Close()
	for deadline := time.Now().Add(10 * time.Second); s.selfMetric(t, rejected) != 2; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s = %v after 10s, want 2 (the gRPC point and the StatsD line)", rejected, s.selfMetric(t, rejected))
		}
	}
	if got := s.selfMetric(t, "telltale_metric_series_active"); got != 3 {
		t.Errorf("telltale_metric_series_active = %v, want 3", got)
	}
	countSeries(3)
}
