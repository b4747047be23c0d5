package query

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/fibinc/telltale/internal/store/duckdb"
	"github.com/fibinc/telltale/internal/telemetry"
)

func TestMetricScratch(t *testing.T) {
	dir := "/tmp/metricbench"
	ctx := context.Background()
	_, statErr := os.Stat(dir)
	st, err := duckdb.Open(ctx, duckdb.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if statErr != nil {
		const series, points = 1000, 1000
		for i := range series {
			var ps []telemetry.MetricPoint
			res := telemetry.Resource{ServiceName: fmt.Sprint("svc", i%10), InstanceID: fmt.Sprint("i", i), Attributes: "{}"}
			attrs := fmt.Sprintf(`{"route":"/r%d"}`, i%7)
			for j := range points {
				at := metricT0.Add(time.Duration(j) * 10 * time.Second)
				ps = append(ps, telemetry.MetricPoint{Resource: res, Name: "requests", Type: telemetry.MetricSum,
					Temporality: telemetry.TemporalityCumulative, Monotonic: true, SeriesID: uint64(i), Attributes: attrs,
					Time: at, StartTime: metricT0, Value: float64(j * (i%5 + 1))})
				if i < series/2 {
					ps = append(ps, telemetry.MetricPoint{Resource: res, Name: "cpu", Type: telemetry.MetricGauge,
						SeriesID: uint64(series + i), Attributes: attrs, Time: at, Value: float64(j % 100)})
				}
			}
			if i%100 == 99 || true {
				t0 := time.Now()
				if err := st.Write(ctx, &telemetry.Batch{Metrics: ps}); err != nil {
					t.Fatal(err)
				}
				if i%100 == 0 {
					t.Log("write", len(ps), time.Since(t0))
				}
			}
		}
	}
	s, _ := New(Options{Store: st})
	r := TimeRange{metricT0, metricT0.Add(1000 * 10 * time.Second)}
	for _, q := range []MetricQuery{
		{Range: r, Name: "requests", Agg: "rate", GroupBy: []string{"service"}, Step: time.Minute},
		{Range: r, Name: "requests", Agg: "rate", Filter: "route=/r1", Step: time.Minute},
		{Range: r, Name: "cpu", Agg: "avg", GroupBy: []string{"route"}, Step: 5 * time.Minute},
	} {
		for range 3 {
			t0 := time.Now()
			res, err := s.QueryMetric(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			t.Log(q.Name, q.Agg, q.Filter, q.GroupBy, len(res.Series), time.Since(t0))
		}
	}
	for _, sq := range []string{
		`SELECT series_id, type, count(*) FROM metric_points WHERE timestamp >= ? AND timestamp < ? AND name = 'requests' GROUP BY ALL`,
		`SELECT series_id, type, count(*) FROM metric_points WHERE timestamp >= ? AND timestamp < ? AND name = 'requests' AND json_extract_string(attributes, '$."route"') = '/r1' GROUP BY ALL`,
		`SELECT count(*) FROM (SELECT series_id, time_bucket(INTERVAL '60000000 microseconds', timestamp), timestamp, start_timestamp, temporality <> 'delta', monotonic, value FROM metric_points WHERE timestamp >= ? AND timestamp < ? AND name = 'requests' ORDER BY series_id, timestamp)`,
	} {
		t0 := time.Now()
		rows, err := st.Query(ctx, sq, r.From, r.To)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for rows.Next() {
			n++
		}
		rows.Close()
		t.Log(n, time.Since(t0), sq[:60])
	}
}
