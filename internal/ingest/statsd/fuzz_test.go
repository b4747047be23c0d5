package statsd

import (
	"encoding/json"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/fibinc/telltale/internal/ingest/cardinality"
	"github.com/fibinc/telltale/internal/telemetry"
)

// FuzzAggregate feeds a packet through parsing and aggregation and checks
// the points of the flush: valid JSON attributes, histograms whose buckets
// add up to their count, quantiles sorted within [min, max]; timestamped
// counters and gauges at their own time; at most the per-metric limit of
// series per name.
func FuzzAggregate(f *testing.F) {
	for _, s := range []string{
		"a:1|c\nb:2|g\nc:3|ms\nd:4|h\ne:5|d\nf:x|s",
		"a:1:2:3|ms|@0.5|#k:v,service:s,env:e|c:id",
		"g:+1|g\ng:-5|g\ng:2|g",
		"u:a:b:a|s|#x\nu:c|s",
		`q:1|c|#a"b:c\d,é:ü`,
		"t:-3.5|d\nt:1e9|d\nt:0|d",
		"c:1|c|T1700000000\nc:2|c|T1700000000\ng:-1|g|T1700000001\nt:1|ms|T5",
		"s:1|c|#a\ns:1|c|#b\ns:1|c|#c\ns:1|c|#d|T9",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, packet []byte) {
		const perMetric = 3
		s := newTestServer(t, Options{Appender: &fakeAppender{}, MaxSamples: 8, MaxSeries: 50,
			Series: cardinality.New(cardinality.Options{MaxSeriesPerMetric: perMetric})})
		s.feed(string(packet))
		start := s.agg.start
		now := start.Add(time.Second)
		points := s.agg.flush(now)
		ids := map[uint64]string{}
		perName := map[string]map[uint64]bool{}
		for _, p := range points {
			stamped := !p.Time.Equal(now) && (p.Type == telemetry.MetricSum || p.Type == telemetry.MetricGauge) &&
				p.Time.Unix() > 0 && p.StartTime.IsZero()
			if p.Name == "" || p.ServiceName == "" || p.SeriesID == 0 || !p.Time.Equal(now) && !stamped {
				t.Fatalf("point %+v", p)
			}
			if perName[p.Name] == nil {
				perName[p.Name] = map[uint64]bool{}
			}
			if perName[p.Name][p.SeriesID] = true; len(perName[p.Name]) > perMetric {
				t.Fatalf("%d series of %s, over the limit of %d", len(perName[p.Name]), p.Name, perMetric)
			}
			var attrs, res map[string]string
			if err := json.Unmarshal([]byte(p.Attributes), &attrs); err != nil {
				t.Fatalf("attributes %q: %v", p.Attributes, err)
			}
			if err := json.Unmarshal([]byte(p.Resource.Attributes), &res); err != nil {
				t.Fatalf("resource attributes %q: %v", p.Resource.Attributes, err)
			}
			// As in OTLP, the type is not part of the series id: a name sent
			// with two types shares it (the query layer refuses mixed types).
			key := p.Name + p.Attributes + p.Resource.Attributes + p.ServiceName + p.Environment + p.Host + p.ServiceVersion
			if prev, ok := ids[p.SeriesID]; ok && prev != key {
				t.Fatalf("series id %x for %s and %s", p.SeriesID, prev, key)
			}
			ids[p.SeriesID] = key
			switch p.Type {
			case telemetry.MetricSum, telemetry.MetricGauge:
				if math.IsNaN(p.Value) {
					t.Fatalf("%s value NaN", p.Name)
				}
			case telemetry.MetricHistogram:
				var n uint64
				for _, c := range p.BucketCounts {
					n += c
				}
				if n != p.Count || p.Count == 0 || len(p.BucketCounts) != len(p.BucketBounds)+1 || p.Min > p.Max || !p.StartTime.Equal(start) {
					t.Fatalf("histogram %+v", p)
				}
			case telemetry.MetricSummary:
				if !slices.IsSorted(p.QuantileValues) || len(p.QuantileValues) != len(p.Quantiles) || p.Count == 0 {
					t.Fatalf("summary %+v", p)
				}
				// Its histogram has the name without the suffix (one of
				// several when the name is sent as h, d and ms).
				within := false
				for _, h := range find(points, p.Name[:len(p.Name)-len(summarySuffix)], telemetry.MetricHistogram) {
					within = within || (p.QuantileValues[0] >= h.Min && p.QuantileValues[len(p.QuantileValues)-1] <= h.Max &&
						h.Count == p.Count && h.Sum == p.Sum)
				}
				if !within {
					t.Fatalf("summary %+v matches no histogram", p)
				}
			default:
				t.Fatalf("type %q", p.Type)
			}
		}
	})
}
