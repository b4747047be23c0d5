package apptest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strconv"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/resource"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
)

// promRounds and promInterval pace the exports: every round adds
// promPerRound to the counter, so its rate is promPerRound/promInterval.
const (
	promRounds   = 6
	promInterval = 500 * time.Millisecond
	promPerRound = 10
)

// TestPrometheusAPI sends OpenTelemetry SDK metrics (counter, up-down
// counter, histogram, gauge) with cumulative and with delta temporality to
// the real binary, then reads them back as Grafana's Prometheus data source
// does: query_range with rate() and histogram_quantile(), labels, series.
func TestPrometheusAPI(t *testing.T) {
	s := start(t, t.TempDir())
	begin := time.Now()
	sdks := map[string]metricdata.Temporality{"promql-cumulative": metricdata.CumulativeTemporality, "promql-delta": metricdata.DeltaTemporality}
	type sdk struct {
		mp       *sdkmetric.MeterProvider
		reader   *sdkmetric.ManualReader
		exporter sdkmetric.Exporter
		record   func(round int)
	}
	var all []sdk
	for service, temporality := range sdks {
		reader := sdkmetric.NewManualReader(sdkmetric.WithTemporalitySelector(func(sdkmetric.InstrumentKind) metricdata.Temporality { return temporality }))
		res := resource.NewWithAttributes(semconv.SchemaURL, semconv.ServiceName(service), semconv.ServiceInstanceID(service+"-1"))
		mp := sdkmetric.NewMeterProvider(sdkmetric.WithResource(res), sdkmetric.WithReader(reader))
		exp, err := otlpmetrichttp.New(context.Background(), otlpmetrichttp.WithEndpoint(s.otlpAddr), otlpmetrichttp.WithInsecure())
		if err != nil {
			t.Fatal(err)
		}
		m := mp.Meter("promql-test")
		jobs, _ := m.Int64Counter("jobs.processed", metric.WithDescription("Jobs processed."))
		queue, _ := m.Int64UpDownCounter("queue.items")
		duration, _ := m.Float64Histogram("job.duration", metric.WithUnit("s"), metric.WithExplicitBucketBoundaries(0.1, 0.25, 0.5, 1, 2.5))
		temp, _ := m.Float64Gauge("room.temperature", metric.WithUnit("Cel"))
		attrs := metric.WithAttributes(attribute.String("queue", "main"))
		all = append(all, sdk{mp, reader, exp, func(round int) {
			ctx := context.Background()
			jobs.Add(ctx, promPerRound, attrs)
			queue.Add(ctx, 3, attrs)
			queue.Add(ctx, -1, attrs)
			for k := range 20 {
				duration.Record(ctx, 0.05*float64(k)+0.025, attrs) // uniform over (0, 1): median 0.5
			}
			temp.Record(ctx, 20+float64(round), attrs)
		}})
	}
	for round := range promRounds {
		for _, x := range all {
			x.record(round)
			var rm metricdata.ResourceMetrics
			if err := x.reader.Collect(context.Background(), &rm); err != nil {
				t.Fatal(err)
			}
			if err := x.exporter.Export(context.Background(), &rm); err != nil {
				t.Fatalf("export: %v", err)
			}
		}
		time.Sleep(promInterval)
	}
	for _, x := range all {
		x.mp.Shutdown(context.Background())
		x.exporter.Shutdown(context.Background())
	}

	end := time.Now()
	rangeParams := func(q string) url.Values {
		return url.Values{"query": {q}, "start": {unix(begin.Add(-time.Minute))}, "end": {unix(end)}, "step": {"1"}}
	}
	services := []string{"promql-cumulative", "promql-delta"}
	// Ingest is asynchronous: wait for the gauge of the last round, which
	// came in the last export of each SDK.
	lastGauge := float64(20 + promRounds - 1)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		last := s.promRange(t, rangeParams(`max by (job) (room_temperature_celsius)`), len(services))
		if last[services[0]] == lastGauge && last[services[1]] == lastGauge {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("room_temperature_celsius = %v after 10s, want %v for each job", last, lastGauge)
		}
	}

	// rate() of the counter, in both temporalities, over a window of a few
	// exports is their pace (Prometheus' extrapolation allows some slack);
	// over a minute, it is all that was counted divided by the minute.
	wantRate := promPerRound / promInterval.Seconds()
	_, peak := s.promRangeValues(t, rangeParams(`sum by (job) (rate(jobs_processed_total[2s]))`), len(services))
	t.Logf("peak rate(jobs_processed_total[2s]) %v, want about %v", peak, wantRate)
	for _, job := range services {
		if v := peak[job]; v < 0.6*wantRate || v > 1.5*wantRate {
			t.Errorf("rate(jobs_processed_total[2s]) of %s peaks at %v, want about %v", job, v, wantRate)
		}
	}
	wantRate = promRounds * promPerRound / time.Minute.Seconds()
	last := s.promRange(t, rangeParams(`sum by (job) (rate(jobs_processed_total[1m]))`), len(services))
	t.Logf("rate(jobs_processed_total[1m]) %v, want about %v", last, wantRate)
	for _, job := range services {
		if v := last[job]; v < 0.8*wantRate || v > 1.5*wantRate {
			t.Errorf("rate(jobs_processed_total[1m]) of %s = %v, want about %v", job, v, wantRate)
		}
	}
	// The median of values spread evenly over (0, 1).
	last = s.promRange(t, rangeParams(`histogram_quantile(0.5, sum by (job, le) (rate(job_duration_seconds_bucket[1m])))`), len(services))
	t.Logf("median job duration %v, want about 0.5", last)
	for _, job := range services {
		if v := last[job]; v < 0.4 || v > 0.6 {
			t.Errorf("median job duration of %s = %v, want about 0.5", job, v)
		}
	}
	// The up-down counter's level (the delta one as a running total from
	// the start of the read).
	for q, want := range map[string]float64{
		`sum by (job) (queue_items)`:                            2 * promRounds,
		`sum by (job) (increase(jobs_processed_total[1m])) > 0`: -1, // any positive value
	} {
		last = s.promRange(t, rangeParams(q), len(services))
		for _, job := range services {
			if v := last[job]; want >= 0 && v != want || want < 0 && v <= 0 {
				t.Errorf("%s of %s = %v, want %v", q, job, v, want)
			}
		}
	}

	var labels struct {
		Status string
		Data   []string
	}
	s.get("/api/v1/labels?start="+unix(begin.Add(-time.Minute)), 200, &labels)
	for _, l := range []string{"__name__", "instance", "job", "le", "queue", "service_name"} {
		if !slices.Contains(labels.Data, l) {
			t.Errorf("labels %v lack %s", labels.Data, l)
		}
	}
	var series struct {
		Status string
		Data   []map[string]string
	}
	s.get("/api/v1/series?"+url.Values{"match[]": {`jobs_processed_total`, `room_temperature_celsius{job="promql-delta"}`}}.Encode(), 200, &series)
	var got []string
	for _, m := range series.Data {
		got = append(got, m["__name__"]+" "+m["job"]+" "+m["instance"]+" "+m["queue"])
	}
	want := []string{
		"jobs_processed_total promql-cumulative promql-cumulative-1 main",
		"jobs_processed_total promql-delta promql-delta-1 main",
		"room_temperature_celsius promql-delta promql-delta-1 main",
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("series = %q, want %q", got, want)
	}
	var meta struct {
		Data map[string][]struct{ Type, Help, Unit string }
	}
	s.get("/api/v1/metadata?metric=jobs_processed_total", 200, &meta)
	if md := meta.Data["jobs_processed_total"]; len(md) != 1 || md[0].Type != "counter" || md[0].Help != "Jobs processed." {
		t.Errorf("metadata of jobs_processed_total = %+v", meta.Data)
	}
}

func unix(t time.Time) string {
	return strconv.FormatFloat(float64(t.UnixMilli())/1000, 'f', 3, 64)
}

// promRange runs a range query until it has a series for each of n jobs
// (ingest is asynchronous), and returns the last value of each job's
// series.
func (s *server) promRange(t *testing.T, params url.Values, n int) map[string]float64 {
	t.Helper()
	last, _ := s.promRangeValues(t, params, n)
	return last
}

// promRangeValues is promRange returning the largest value of each series
// too.
func (s *server) promRangeValues(t *testing.T, params url.Values, n int) (last, peak map[string]float64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := s.client.PostForm("http://"+s.ui+"/api/v1/query_range", params)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("query_range %s: status %d: %s", params.Get("query"), resp.StatusCode, body)
		}
		var r struct {
			Status string
			Data   struct {
				ResultType string
				Result     []struct {
					Metric map[string]string
					Values [][2]any
				}
			}
		}
		if err := json.Unmarshal(body, &r); err != nil {
			t.Fatalf("query_range %s: %v: %s", params.Get("query"), err, body)
		}
		if r.Status != "success" || r.Data.ResultType != "matrix" {
			t.Fatalf("query_range %s: %s", params.Get("query"), body)
		}
		last, peak = map[string]float64{}, map[string]float64{}
		for _, sr := range r.Data.Result {
			job := sr.Metric["job"]
			for _, p := range sr.Values {
				v, err := strconv.ParseFloat(fmt.Sprint(p[1]), 64)
				if err != nil {
					t.Fatalf("query_range %s: value %v", params.Get("query"), p)
				}
				last[job] = v
				if pk, ok := peak[job]; !ok || v > pk {
					peak[job] = v
				}
			}
		}
		if len(last) >= n {
			return last, peak
		}
		if time.Now().After(deadline) {
			t.Fatalf("query_range %s: %d series after 10s, want %d: %s", params.Get("query"), len(last), n, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
