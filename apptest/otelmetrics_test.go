package apptest

import (
	"context"
	"fmt"
	"math"
	"net/url"
	"strconv"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/resource"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
)

// otelApp is one simulated process instrumented with the OpenTelemetry Go
// SDK: a meter provider with a manual reader, an OTLP exporter, and the
// instruments of the test.
type otelApp struct {
	mp       *sdkmetric.MeterProvider
	reader   *sdkmetric.ManualReader
	exporter sdkmetric.Exporter

	jobs     metric.Int64Counter
	queue    metric.Int64UpDownCounter
	duration metric.Float64Histogram
	payload  metric.Float64Histogram // exponential buckets, through a view
	temp     metric.Float64Gauge
}

// The SDK services of TestOpenTelemetryMetrics: each temporality over each
// transport.
var otelJobs = []struct {
	job, transport string
	temporality    metricdata.Temporality
}{
	{"otel-cumulative-grpc", "grpc", metricdata.CumulativeTemporality},
	{"otel-cumulative-http", "http", metricdata.CumulativeTemporality},
	{"otel-delta-grpc", "grpc", metricdata.DeltaTemporality},
	{"otel-delta-http", "http", metricdata.DeltaTemporality},
}

// startOtelApp starts a process: a new meter provider, so a new start time
// for every cumulative stream.
func startOtelApp(t *testing.T, s *server, job, transport string, temporality metricdata.Temporality) *otelApp {
	t.Helper()
	ctx := context.Background()
	a := &otelApp{reader: sdkmetric.NewManualReader(sdkmetric.WithTemporalitySelector(
		func(sdkmetric.InstrumentKind) metricdata.Temporality { return temporality }))}
	var err error
	if transport == "grpc" {
		a.exporter, err = otlpmetricgrpc.New(ctx, otlpmetricgrpc.WithEndpoint(s.grpcAddr), otlpmetricgrpc.WithInsecure())
	} else {
		a.exporter, err = otlpmetrichttp.New(ctx, otlpmetrichttp.WithEndpoint(s.otlpAddr), otlpmetrichttp.WithInsecure())
	}
	if err != nil {
		t.Fatal(err)
	}
	res := resource.NewWithAttributes(semconv.SchemaURL, semconv.ServiceName(job), semconv.ServiceInstanceID(job+"-1"))
	exponential := sdkmetric.NewView(sdkmetric.Instrument{Name: "payload.size"}, sdkmetric.Stream{
		Aggregation: sdkmetric.AggregationBase2ExponentialHistogram{MaxSize: 160, MaxScale: 20}})
	a.mp = sdkmetric.NewMeterProvider(sdkmetric.WithResource(res), sdkmetric.WithReader(a.reader), sdkmetric.WithView(exponential))
	m := a.mp.Meter("otel-metrics-test")
	a.jobs, _ = m.Int64Counter("jobs.processed", metric.WithDescription("Jobs processed."))
	a.queue, _ = m.Int64UpDownCounter("queue.items")
	a.duration, _ = m.Float64Histogram("job.duration", metric.WithUnit("s"), metric.WithExplicitBucketBoundaries(0.1, 0.25, 0.5, 1, 2.5))
	a.payload, _ = m.Float64Histogram("payload.size", metric.WithUnit("By"))
	a.temp, _ = m.Float64Gauge("room.temperature", metric.WithUnit("Cel"))
	return a
}

// round records one round of measurements and exports them; the export
// returns once the server committed them.
func (a *otelApp) round(t *testing.T, round int, jobs int64) {
	t.Helper()
	ctx := context.Background()
	attrs := metric.WithAttributes(attribute.String("queue", "main"))
	a.jobs.Add(ctx, jobs, attrs)
	a.queue.Add(ctx, 3, attrs)
	a.queue.Add(ctx, -1, attrs)
	for k := range 20 {
		a.duration.Record(ctx, 0.025+0.05*float64(k), attrs) // 0.025, 0.075, ..., 0.975
	}
	for v := 1; v <= 100; v++ {
		a.payload.Record(ctx, float64(v), attrs)
	}
	a.temp.Record(ctx, 20+float64(round), attrs)
	if err := a.exporter.Export(ctx, collect(t, a.reader)); err != nil {
		t.Fatalf("export: %v", err)
	}
}

func (a *otelApp) stop() {
	a.mp.Shutdown(context.Background())
	a.exporter.Shutdown(context.Background())
}

// TestOpenTelemetryMetrics sends counters, up-down counters, explicit and
// exponential histograms and gauges with the OpenTelemetry Go SDK, in delta
// and in cumulative temporality, over OTLP/gRPC and OTLP/HTTP, to the real
// binary. Halfway, every process restarts (a new meter provider: new start
// times), and its first count after the restart is larger than the last one
// before, so that only the start time reveals the counter reset. The values
// come back exactly through the metrics API and PromQL: totals, rates,
// increases, levels and percentiles, the same for both temporalities where
// the semantics agree.
func TestOpenTelemetryMetrics(t *testing.T) {
	s := start(t, t.TempDir())
	begin := time.Now()
	// Counts per round: 10, 10, 10, restart, 40, 10, 10. Cumulative values
	// 10 20 30 | 40 50 60; the total is 90.
	counts := []int64{10, 10, 10, 40, 10, 10}
	const restartAt = 3
	apps := make([]*otelApp, len(otelJobs))
	for round, n := range counts {
		for i, j := range otelJobs {
			if round == restartAt {
				apps[i].stop()
				apps[i] = nil
			}
			if apps[i] == nil {
				apps[i] = startOtelApp(t, s, j.job, j.transport, j.temporality)
			}
			apps[i].round(t, round, n)
		}
		time.Sleep(200 * time.Millisecond) // distinct times, even truncated to milliseconds
	}
	for _, a := range apps {
		a.stop()
	}
	const total, rounds = 90.0, 6

	// The metrics API: exact totals over the whole range, one step.
	from := url.QueryEscape(begin.Add(-time.Minute).UTC().Format(time.RFC3339Nano))
	metricQuery := func(job, params string) (float64, int) {
		t.Helper()
		var r struct {
			Data struct {
				StepMS int64 `json:"step_ms"`
				Series []struct {
					Points []struct{ Value float64 }
				}
			}
		}
		s.get("/api/v1/metrics/query?from="+from+"&step=1h&filter="+url.QueryEscape("service="+job)+"&"+params, 200, &r)
		v, n := 0.0, 0
		for _, sr := range r.Data.Series {
			for _, p := range sr.Points {
				v += p.Value * float64(r.Data.StepMS) / 1000 // undone below for non-rates
				n++
			}
		}
		return v / (float64(r.Data.StepMS) / 1000), n
	}
	for _, j := range otelJobs {
		upDown := 6.0 // the level of the restarted process
		if j.temporality == metricdata.DeltaTemporality {
			upDown = 12 // delta: the sum of the changes since the range start
		}
		for _, c := range []struct {
			params string
			want   float64
			tol    float64
		}{
			{"name=jobs.processed&agg=sum", total, 0},
			{"name=queue.items&agg=sum", upDown, 0},
			{"name=job.duration&agg=count", 20 * rounds, 0},
			{"name=job.duration&agg=sum", 10 * rounds, 1e-9},
			{"name=job.duration&agg=p50", 0.5, 1e-9}, // in (0.25, 0.5]: 30 of 60 per 120
			{"name=job.duration&agg=p90", 0.9, 1e-9}, // in (0.5, 1]: 48 of 60
			{"name=payload.size&agg=count", 100 * rounds, 0},
			{"name=payload.size&agg=sum", 5050 * rounds, 1e-9},
			{"name=payload.size&agg=p50", 50, 5}, // exponential buckets: a few % wide
			{"name=payload.size&agg=p99", 99, 8},
			{"name=room.temperature&agg=max", 20 + rounds - 1, 0},
		} {
			got, n := metricQuery(j.job, c.params)
			t.Logf("%s %s = %v", j.job, c.params, got)
			if n == 0 || math.Abs(got-c.want) > c.tol {
				t.Errorf("%s: %s = %v (%d points), want %v", j.job, c.params, got, n, c.want)
			}
		}
		// A rate is the total over the step; summed over the steps of the
		// range it gives the total back.
		var r struct {
			Data struct {
				StepMS int64 `json:"step_ms"`
				Series []struct{ Points []struct{ Value float64 } }
			}
		}
		s.get("/api/v1/metrics/query?from="+from+"&step=1m&name=jobs.processed&agg=rate&filter="+url.QueryEscape("service="+j.job), 200, &r)
		sum := 0.0
		for _, sr := range r.Data.Series {
			for _, p := range sr.Points {
				sum += p.Value * float64(r.Data.StepMS) / 1000
			}
		}
		if math.Abs(sum-total) > 1e-9 {
			t.Errorf("%s: rate of jobs.processed × step, summed = %v, want %v", j.job, sum, total)
		}
	}

	// PromQL on the UI port, as Grafana asks.
	for _, c := range []struct {
		query    string
		min, max float64            // every job's value within, unless
		exact    map[string]float64 // per job
	}{
		// Folded across the restart: the cumulative counter reads 10 20 30
		// 70 80 90; the delta one is a running total from the read start.
		{query: `sum by (job) (jobs_processed_total)`, min: total, max: total},
		// Prometheus extrapolates increase() a little beyond the samples:
		// 80 (90 - the first 10) times at most (5 + 0.5 + 1.1) / 5 intervals
		// between samples.
		{query: `sum by (job) (increase(jobs_processed_total[10m]))`, min: 80, max: 80 * 6.6 / 5},
		{query: `sum by (job) (rate(jobs_processed_total[10m]))`, min: 80.0 / 600, max: 80 * 6.6 / 5 / 600},
		{query: `sum by (job) (queue_items)`, exact: map[string]float64{
			"otel-cumulative-grpc": 6, "otel-cumulative-http": 6, "otel-delta-grpc": 12, "otel-delta-http": 12}},
		{query: `histogram_quantile(0.5, sum by (job, le) (increase(job_duration_seconds_bucket[10m])))`, min: 0.5 - 1e-9, max: 0.5 + 1e-9},
		{query: `histogram_quantile(0.9, sum by (job, le) (rate(job_duration_seconds_bucket[10m])))`, min: 0.9 - 1e-9, max: 0.9 + 1e-9},
		{query: `sum by (job) (increase(job_duration_seconds_count[10m])) / sum by (job) (increase(job_duration_seconds_sum[10m]))`, min: 2 - 1e-9, max: 2 + 1e-9},
		{query: `histogram_quantile(0.5, sum by (job) (increase(payload_size_bytes[10m])))`, min: 45, max: 55},
		{query: `histogram_count(sum by (job) (increase(payload_size_bytes[10m]))) / histogram_sum(sum by (job) (increase(payload_size_bytes[10m])))`,
			min: 1/50.5 - 1e-9, max: 1/50.5 + 1e-9},
		{query: `max by (job) (room_temperature_celsius)`, min: 25, max: 25},
	} {
		got := s.promInstant(t, c.query)
		t.Logf("%s = %v", c.query, got)
		if len(got) != len(otelJobs) {
			t.Errorf("%s: %d series, want %d: %v", c.query, len(got), len(otelJobs), got)
			continue
		}
		for job, v := range got {
			lo, hi := c.min, c.max
			if w, ok := c.exact[job]; ok {
				lo, hi = w, w
			}
			if v < lo || v > hi || math.IsNaN(v) {
				t.Errorf("%s of %s = %v, want in [%v, %v]", c.query, job, v, lo, hi)
			}
		}
	}
	// Over all jobs at once.
	if got := s.promInstant(t, `sum(jobs_processed_total)`)[""]; got != total*float64(len(otelJobs)) {
		t.Errorf("sum(jobs_processed_total) = %v, want %v", got, total*float64(len(otelJobs)))
	}
}

// promInstant runs an instant query at the current time and returns the
// value of each result series by its job label.
func (s *server) promInstant(t *testing.T, query string) map[string]float64 {
	t.Helper()
	var r struct {
		Status string
		Data   struct {
			ResultType string
			Result     []struct {
				Metric map[string]string
				Value  [2]any
			}
		}
	}
	s.get("/api/v1/query?"+url.Values{"query": {query}}.Encode(), 200, &r)
	if r.Status != "success" || r.Data.ResultType != "vector" {
		t.Fatalf("%s: status %s, result type %s", query, r.Status, r.Data.ResultType)
	}
	out := map[string]float64{}
	for _, sr := range r.Data.Result {
		v, err := strconv.ParseFloat(fmt.Sprint(sr.Value[1]), 64)
		if err != nil {
			t.Fatalf("%s: value %v", query, sr.Value)
		}
		out[sr.Metric["job"]] = v
	}
	return out
}
