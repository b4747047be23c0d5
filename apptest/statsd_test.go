package apptest

import (
	"fmt"
	"maps"
	"testing"
	"time"

	"github.com/DataDog/datadog-go/v5/statsd"
)

// TestStatsD sends real DogStatsD packets over UDP with the DataDog client
// to the real binary and reads the aggregated metrics back through the API.
func TestStatsD(t *testing.T) {
	addr := freeAddr(t)
	s := start(t, t.TempDir(), "--statsd-addr", addr, "--statsd-flush-interval", "200ms")
	c, err := statsd.New(addr, statsd.WithoutTelemetry(), statsd.WithMaxMessagesPerPayload(1))
	if err != nil {
		t.Fatal(err)
	}
	tags := []string{"service:checkout", "env:prod", "route:/pay"}
	for i := range 10 {
		c.Incr("orders", tags, 1)
		c.Timing("pay.time", time.Duration(10*(i+1))*time.Millisecond, tags, 1)
	}
	c.Gauge("queue.depth", 7, tags, 1)
	// DogStatsD 1.3 timestamps: points at their own time, not aggregated
	// into the flush interval.
	at := time.Now().UTC().Add(-3 * time.Minute).Truncate(time.Minute).Add(20 * time.Second)
	c.CountWithTimestamp("backfill.rows", 40, tags, 1, at)
	c.CountWithTimestamp("backfill.rows", 2, tags, 1, at)
	c.CountWithTimestamp("backfill.rows", 5, tags, 1, at.Add(time.Minute))
	c.GaugeWithTimestamp("backfill.lag", 9, tags, 1, at)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}

	want := map[string]float64{"orders sum": 10, "pay.time count": 10, "pay.time max": 100, "queue.depth max": 7, "pay.time.summary p50": 50}
	deadline := time.Now().Add(10 * time.Second)
	for name, value := range want {
		var metric, agg string
		fmt.Sscan(name, &metric, &agg)
		for {
			var q struct {
				Data struct {
					Series []struct {
						Labels map[string]string
						Points []struct{ Value float64 }
					}
				}
			}
			s.get(fmt.Sprintf("/api/v1/metrics/query?from=now-5m&name=%s&agg=%s&step=1h&filter=service=checkout", metric, agg), 200, &q)
			var got float64
			for _, sr := range q.Data.Series {
				for _, p := range sr.Points {
					got = p.Value // one step: one point
				}
			}
			if got == value {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s %s = %v, want %v (%+v)", metric, agg, got, value, q.Data)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	// Per minute, the timestamped points land in the minute of their |T.
	for _, c := range []struct {
		metric, agg string
		want        map[time.Time]float64
	}{
		{"backfill.rows", "sum", map[time.Time]float64{at.Truncate(time.Minute): 42, at.Add(time.Minute).Truncate(time.Minute): 5}},
		{"backfill.lag", "max", map[time.Time]float64{at.Truncate(time.Minute): 9}},
	} {
		var q struct {
			Data struct {
				Series []struct {
					Points []struct {
						Time  time.Time
						Value float64
					}
				}
			}
		}
		got := map[time.Time]float64{}
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			s.get(fmt.Sprintf("/api/v1/metrics/query?from=now-10m&name=%s&agg=%s&step=1m", c.metric, c.agg), 200, &q)
			clear(got)
			for _, sr := range q.Data.Series {
				for _, p := range sr.Points {
					got[p.Time.UTC()] = p.Value
				}
			}
			if maps.Equal(got, c.want) || time.Now().After(deadline) {
				break
			}
		}
		if !maps.Equal(got, c.want) {
			t.Errorf("%s %s per minute = %v, want %v", c.metric, c.agg, got, c.want)
		}
	}
}
