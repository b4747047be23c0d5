package promql

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/fibinc/telltale/internal/query"
	"github.com/fibinc/telltale/internal/store/duckdb"
	"github.com/fibinc/telltale/internal/telemetry"
)

// Shape of the benchmark data: a day at one point a minute for benchSeries
// series, spread over benchMetrics counters of benchSeries/benchMetrics
// series each (10 services × 100 routes).
const (
	benchMetrics  = 10
	benchSeries   = 10_000
	benchServices = 10
	benchDay      = 24 * time.Hour
)

// BenchmarkQueryRange measures query_range over a day of data for 10,000
// series (14.4 million points), the store built once in a temporary
// directory. It takes minutes to build, so it is skipped under -short:
//
//	go test -run '^$' -bench QueryRange -benchtime 5x ./internal/promql/
//
// TELLTALE_PROMQL_BENCH_DIR keeps the store in that directory and reuses it
// on later runs (the day then ends when the first run wrote it), so that
// profiling does not rebuild it each time.
func BenchmarkQueryRange(b *testing.B) {
	if testing.Short() {
		b.Skip("builds 14.4 million points; skipped under -short")
	}
	ctx := context.Background()
	dir, keep := os.LookupEnv("TELLTALE_PROMQL_BENCH_DIR")
	if !keep {
		dir = b.TempDir()
	}
	endFile := filepath.Join(dir, "bench-end")
	end := time.Now().UTC().Truncate(time.Minute)
	reuse := false
	if text, err := os.ReadFile(endFile); err == nil && keep {
		if t, err := time.Parse(time.RFC3339, strings.TrimSpace(string(text))); err == nil {
			end, reuse = t, true
		}
	}
	st, err := duckdb.Open(ctx, duckdb.Options{Dir: dir, MemoryLimit: "2GB"})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	start := end.Add(-benchDay)
	if !reuse {
		built := time.Now()
		n := writeBenchData(b, st, start, end)
		b.Logf("wrote %d points of %d series in %s", n, benchSeries, time.Since(built).Round(time.Second))
		if keep {
			if err := os.WriteFile(endFile, []byte(end.Format(time.RFC3339)), 0o644); err != nil {
				b.Fatal(err)
			}
		}
	}

	qs, err := query.New(query.Options{Store: st, Timeout: 5 * time.Minute})
	if err != nil {
		b.Fatal(err)
	}
	e, err := New(Options{Query: qs})
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct{ name, query string }{
		// 1,000 series, 1.44 million points.
		{"sum_rate_by_service_1k_series", `sum by (service_name) (rate(http_requests_0_total[5m]))`},
		{"sum_rate_by_route_filtered_100_series", `sum by (route) (rate(http_requests_0_total{service_name="svc-3"}[5m]))`},
		// Every series: 14.4 million points.
		{"sum_rate_all_10k_series", `sum(rate({__name__=~"http_requests_.*"}[5m]))`},
	} {
		b.Run(c.name, func(b *testing.B) {
			var series int
			for b.Loop() {
				q, err := e.RangeQuery(ctx, c.query, start, end, 5*time.Minute, 0)
				if err != nil {
					b.Fatal(err)
				}
				res := q.Exec(ctx)
				if res.Err != nil {
					b.Fatal(res.Err)
				}
				m, err := res.Matrix()
				if err != nil || len(m) == 0 || len(m[0].Floats) < 280 {
					b.Fatalf("unexpected result: %v %v", err, res.Value)
				}
				series = len(m)
				q.Close()
			}
			b.ReportMetric(float64(series), "result_series")
		})
	}
	// The lookups of Grafana's query editor, over the day.
	b.Run("label_values_route_1k_series", func(b *testing.B) {
		m := labels.MustNewMatcher(labels.MatchEqual, labels.MetricName, "http_requests_0_total")
		for b.Loop() {
			q, err := e.Queryable().Querier(start.UnixMilli(), end.UnixMilli())
			if err != nil {
				b.Fatal(err)
			}
			vals, _, err := q.LabelValues(ctx, "route", nil, m)
			if err != nil || len(vals) != benchSeries/benchMetrics/benchServices {
				b.Fatalf("route values %d, %v", len(vals), err)
			}
			q.Close()
		}
	})
	b.Run("label_names_10k_series", func(b *testing.B) {
		for b.Loop() {
			q, err := e.Queryable().Querier(start.UnixMilli(), end.UnixMilli())
			if err != nil {
				b.Fatal(err)
			}
			if _, _, err := q.LabelNames(ctx, nil); err != nil {
				b.Fatal(err)
			}
			q.Close()
		}
	})
	// The parts of a select, to see where the time goes.
	rng := query.TimeRange{From: start.Add(-LookbackDelta), To: end}
	b.Run("list_names", func(b *testing.B) {
		for b.Loop() {
			if _, err := qs.PromNames(ctx, rng, 0); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("list_metrics_with_types", func(b *testing.B) {
		for b.Loop() {
			if _, err := qs.PromMetrics(ctx, rng, 0); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("list_series_1k", func(b *testing.B) {
		for b.Loop() {
			if _, err := qs.PromSeries(ctx, query.PromSeriesQuery{Range: rng, Names: []string{"http.requests.0"}}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("read_points_1k_series", func(b *testing.B) {
		var n int
		for b.Loop() {
			n = 0
			err := qs.PromPoints(ctx, query.PromPointsQuery{Range: rng, Names: []string{"http.requests.0"}, Type: telemetry.MetricSum},
				func(*query.PromPoint) error { n++; return nil })
			if err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(n), "points")
	})
}

// writeBenchData writes the benchmark's cumulative counters, a minute at a
// time for every series, and returns the number of points.
func writeBenchData(b *testing.B, st *duckdb.Store, start, end time.Time) int {
	ctx := context.Background()
	perMetric := benchSeries / benchMetrics
	routes := perMetric / benchServices
	type series struct {
		name, service, attrs string
		id                   uint64
		rate                 float64
	}
	all := make([]series, 0, benchSeries)
	for m := range benchMetrics {
		for s := range benchServices {
			for r := range routes {
				all = append(all, series{
					name:    fmt.Sprintf("http.requests.%d", m),
					service: fmt.Sprintf("svc-%d", s),
					attrs:   fmt.Sprintf(`{"route":"/r%d","code":"200","shard":"%d"}`, r, m),
					id:      uint64(len(all)+1) * 0x9E3779B97F4A7C15,
					rate:    float64(1 + (s*routes+r)%7),
				})
			}
		}
	}
	total := 0
	batch := make([]telemetry.MetricPoint, 0, 100_000)
	flush := func() {
		if err := st.Write(ctx, &telemetry.Batch{Metrics: batch}); err != nil {
			b.Fatal(err)
		}
		total += len(batch)
		batch = batch[:0]
	}
	for ts, i := start, 0; !ts.After(end); ts, i = ts.Add(time.Minute), i+1 {
		for _, s := range all {
			batch = append(batch, telemetry.MetricPoint{
				Resource:    telemetry.Resource{ServiceName: s.service, Attributes: "{}"},
				Name:        s.name,
				Type:        telemetry.MetricSum,
				Temporality: telemetry.TemporalityCumulative,
				Monotonic:   true,
				SeriesID:    s.id,
				Attributes:  s.attrs,
				Time:        ts,
				StartTime:   start,
				Value:       s.rate * 60 * float64(i),
			})
			if len(batch) == cap(batch) {
				flush()
			}
		}
	}
	if len(batch) > 0 {
		flush()
	}
	return total
}
