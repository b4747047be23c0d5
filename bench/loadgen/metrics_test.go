package main

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/fibinc/telltale/internal/decode/otlp"
	dec "github.com/fibinc/telltale/internal/decode/statsd"
)

// TestStatsDPackets checks the packets: within the size of one Ethernet
// frame's payload, every line a valid counter of 1, the counts right.
func TestStatsDPackets(t *testing.T) {
	packets, lines := statsdPackets(50, 7)
	series := map[string]bool{}
	for i, p := range packets {
		if len(p) > 1432 || len(p) < 1000 {
			t.Errorf("packet %d has %d bytes", i, len(p))
		}
		n := 0
		var m dec.Metric
		for line := range dec.Lines(p) {
			if err := dec.Parse(line, &m); err != nil || m.Type != dec.Counter || m.Values[0].Num != 1 {
				t.Fatalf("line %q: %v", line, err)
			}
			series[string(m.Tags[2])] = true
			n++
		}
		if n != lines[i] {
			t.Errorf("packet %d: %d lines, counted %d", i, n, lines[i])
		}
	}
	if len(series) != 7 {
		t.Errorf("%d series, want 7", len(series))
	}
}

// TestMetricsRequests checks that the generated requests convert without
// rejection into the points they claim.
func TestMetricsRequests(t *testing.T) {
	res := otlp.Metrics(metricsRequest(rand.New(rand.NewPCG(1, 2)), 1000, 5), otlp.Options{})
	if res.Batch.Len() != 1000 || res.Rejected != 0 {
		t.Errorf("metricsRequest: %d points, %d rejected (%s)", res.Batch.Len(), res.Rejected, res.Reason)
	}
	start := time.Now().Add(-24 * time.Hour).Truncate(time.Minute)
	res = otlp.Metrics(backfillRequest(start, 3, 950, 2000, 100), otlp.Options{})
	if res.Batch.Len() != 1050 || res.Rejected != 0 {
		t.Fatalf("backfillRequest: %d points, %d rejected (%s)", res.Batch.Len(), res.Rejected, res.Reason)
	}
	names := map[string]int{}
	for _, p := range res.Batch.Metrics {
		names[p.Name]++
		if !p.Time.Equal(start.Add(3*time.Minute)) || !p.StartTime.Equal(start) || !p.Monotonic {
			t.Fatalf("point %+v", p)
		}
	}
	if names["bench.requests.0"] != 50 || names["bench.requests.1"] != 1000 {
		t.Errorf("points per metric = %v", names)
	}
}
