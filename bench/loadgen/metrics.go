package main

// The metrics and statsd signals: OTLP metric points (pre-encoded, as for
// logs and spans), a day of cumulative counters written into the past for
// the PromQL benchmark (-backfill), and StatsD lines in UDP packets.

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	colmetricspb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	"google.golang.org/protobuf/proto"
)

// metricsRequest is n data points of one resource, as an SDK exports them:
// 40% cumulative counters, 40% gauges, 20% explicit histograms (eight
// bounds), over "route" attributes. Across the payloads there are 18
// resources (six services, three instances each), so each metric name has at
// most 18 × 0.4n series, below the default limit of 10,000 per metric for n
// up to 1,000.
func metricsRequest(rng *rand.Rand, n, seed int) *colmetricspb.ExportMetricsServiceRequest {
	now := uint64(time.Now().UnixNano())
	start := now - uint64(time.Hour)
	nSum, nGauge := n*2/5, n*2/5
	nHist := n - nSum - nGauge
	route := func(i int) []*commonpb.KeyValue {
		return []*commonpb.KeyValue{kv("http.route", fmt.Sprintf("/api/r%d", i)), kv("http.response.status_code", "200")}
	}
	sums := make([]*metricspb.NumberDataPoint, nSum)
	for i := range sums {
		sums[i] = &metricspb.NumberDataPoint{Attributes: route(i), StartTimeUnixNano: start, TimeUnixNano: now,
			Value: &metricspb.NumberDataPoint_AsInt{AsInt: rng.Int64N(1_000_000)}}
	}
	gauges := make([]*metricspb.NumberDataPoint, nGauge)
	for i := range gauges {
		gauges[i] = &metricspb.NumberDataPoint{Attributes: route(i), TimeUnixNano: now,
			Value: &metricspb.NumberDataPoint_AsDouble{AsDouble: rng.Float64() * 100}}
	}
	bounds := []float64{5, 10, 25, 50, 100, 250, 500, 1000}
	hists := make([]*metricspb.HistogramDataPoint, nHist)
	for i := range hists {
		counts := make([]uint64, len(bounds)+1)
		total := uint64(0)
		for j := range counts {
			counts[j] = uint64(rng.IntN(1000))
			total += counts[j]
		}
		hists[i] = &metricspb.HistogramDataPoint{Attributes: route(i), StartTimeUnixNano: start, TimeUnixNano: now,
			Count: total, Sum: proto.Float64(float64(total) * 42), BucketCounts: counts, ExplicitBounds: bounds}
	}
	cumulative := metricspb.AggregationTemporality_AGGREGATION_TEMPORALITY_CUMULATIVE
	return &colmetricspb.ExportMetricsServiceRequest{ResourceMetrics: []*metricspb.ResourceMetrics{{
		Resource: resource(seed % 18),
		ScopeMetrics: []*metricspb.ScopeMetrics{{Scope: &commonpb.InstrumentationScope{Name: "loadgen"}, Metrics: []*metricspb.Metric{
			{Name: "http.server.requests", Data: &metricspb.Metric_Sum{Sum: &metricspb.Sum{
				AggregationTemporality: cumulative, IsMonotonic: true, DataPoints: sums}}},
			{Name: "http.server.active_requests", Data: &metricspb.Metric_Gauge{Gauge: &metricspb.Gauge{DataPoints: gauges}}},
			{Name: "http.server.request.duration", Unit: "ms", Data: &metricspb.Metric_Histogram{Histogram: &metricspb.Histogram{
				AggregationTemporality: cumulative, DataPoints: hists}}},
		}}},
	}}}
}

// Shape of -backfill: like internal/promql's BenchmarkQueryRange, cumulative
// counters bench.requests.<m> for m < backfillMetrics, each over
// backfillServices services and series/(metrics × services) routes, one
// point a minute.
const (
	backfillMetrics  = 10
	backfillServices = 10
)

// backfill sends every point of a day (or -backfill) of cumulative counters,
// minute by minute, oldest first, in requests of batch points, from
// concurrency senders. It returns the points accepted.
func backfill(ctx context.Context, send func(context.Context, []byte) error, span time.Duration, series, batch, concurrency int) (int64, error) {
	end := time.Now().Truncate(time.Minute)
	start := end.Add(-span)
	routes := max(series/(backfillMetrics*backfillServices), 1)
	series = routes * backfillMetrics * backfillServices
	type job struct {
		minute   int
		from, to int // series
	}
	jobs := make(chan job)
	var accepted atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	for range concurrency {
		wg.Go(func() {
			for j := range jobs {
				body, err := proto.Marshal(backfillRequest(start, j.minute, j.from, j.to, routes))
				if err == nil {
					for {
						if err = send(ctx, body); err == nil || !isOverload(err) {
							break
						}
						time.Sleep(50 * time.Millisecond)
					}
				}
				if err != nil {
					once.Do(func() { firstErr = err })
					continue
				}
				accepted.Add(int64(j.to - j.from))
			}
		})
	}
	minutes := int(span / time.Minute)
feed:
	for m := 0; m <= minutes; m++ {
		for from := 0; from < series; from += batch {
			select {
			case jobs <- job{minute: m, from: from, to: min(from+batch, series)}:
			case <-ctx.Done():
				break feed
			}
		}
	}
	close(jobs)
	wg.Wait()
	return accepted.Load(), firstErr
}

// backfillRequest holds the points of series [from, to) at the minute-th
// minute after start. Series i is metric i / (services × routes), service
// i / routes % services, route i % routes; its value grows by 60 × (1 +
// i % 7) a minute.
func backfillRequest(start time.Time, minute, from, to, routes int) *colmetricspb.ExportMetricsServiceRequest {
	ts := uint64(start.Add(time.Duration(minute) * time.Minute).UnixNano())
	type key struct{ metric, service int }
	points := map[key][]*metricspb.NumberDataPoint{}
	var order []key
	for i := from; i < to; i++ {
		k := key{i / (backfillServices * routes), i / routes % backfillServices}
		if _, ok := points[k]; !ok {
			order = append(order, k)
		}
		points[k] = append(points[k], &metricspb.NumberDataPoint{
			// shard tells the metrics apart once rate() drops their names.
			Attributes:        []*commonpb.KeyValue{kv("route", fmt.Sprintf("/r%d", i%routes)), kv("code", "200"), kv("shard", strconv.Itoa(k.metric))},
			StartTimeUnixNano: uint64(start.UnixNano()), TimeUnixNano: ts,
			Value: &metricspb.NumberDataPoint_AsDouble{AsDouble: float64(60*(1+i%7)) * float64(minute)},
		})
	}
	req := &colmetricspb.ExportMetricsServiceRequest{}
	for _, k := range order {
		req.ResourceMetrics = append(req.ResourceMetrics, &metricspb.ResourceMetrics{
			Resource: &resourcepb.Resource{Attributes: []*commonpb.KeyValue{kv("service.name", fmt.Sprintf("svc-%d", k.service))}},
			ScopeMetrics: []*metricspb.ScopeMetrics{{Metrics: []*metricspb.Metric{{
				Name: fmt.Sprintf("bench.requests.%d", k.metric),
				Data: &metricspb.Metric_Sum{Sum: &metricspb.Sum{
					AggregationTemporality: metricspb.AggregationTemporality_AGGREGATION_TEMPORALITY_CUMULATIVE,
					IsMonotonic:            true, DataPoints: points[k]}},
			}}}},
		})
	}
	return req
}

// statsdPackets pre-builds UDP payloads of StatsD counter lines, each at
// most 1432 bytes (what fits an Ethernet MTU, as the DataDog client sends),
// over series distinct series (name bench.statsd.lines, a "series" tag),
// with DogStatsD tags. Every line counts 1, so the sum of the counter over
// all series is the number of lines the server aggregated.
func statsdPackets(n, series int) (packets [][]byte, lines []int) {
	const maxPacket = 1432
	i := 0
	for range n {
		var b []byte
		count := 0
		for {
			line := []byte("bench.statsd.lines:1|c|#service:statsd-bench,env:prod,series:s" + strconv.Itoa(i%series) + "\n")
			if len(b)+len(line) > maxPacket {
				break
			}
			b = append(b, line...)
			count++
			i++
		}
		packets = append(packets, b)
		lines = append(lines, count)
	}
	return packets, lines
}

// runStatsD sends the packets over UDP from concurrency senders until ctx
// ends, at rate lines per second in all (0: as fast as they go). It returns
// the lines and packets sent.
func runStatsD(ctx context.Context, addr string, packets [][]byte, lines []int, concurrency int, rate float64) (int64, int64, error) {
	var sentLines, sentPackets atomic.Int64
	var wg sync.WaitGroup
	errc := make(chan error, concurrency)
	start := time.Now()
	for w := range concurrency {
		conn, err := net.Dial("udp", addr)
		if err != nil {
			return 0, 0, err
		}
		wg.Go(func() {
			defer conn.Close()
			for i := w; ctx.Err() == nil; i += concurrency {
				if rate > 0 {
					// Pace: wait until the lines sent so far are due.
					due := start.Add(time.Duration(float64(sentLines.Load()) / rate * float64(time.Second)))
					if d := time.Until(due); d > 0 {
						time.Sleep(d)
					}
				}
				k := i % len(packets)
				if _, err := conn.Write(packets[k]); err != nil {
					// A full socket buffer (ENOBUFS) or an ICMP refusal:
					// the packet is lost, as UDP allows.
					if ctx.Err() == nil && !isTransient(err) {
						errc <- err
						return
					}
					continue
				}
				sentPackets.Add(1)
				sentLines.Add(int64(lines[k]))
			}
		})
	}
	wg.Wait()
	close(errc)
	return sentLines.Load(), sentPackets.Load(), <-errc
}

func isTransient(err error) bool {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	s := err.Error()
	for _, t := range []string{"no buffer space", "connection refused", "resource temporarily unavailable"} {
		if strings.Contains(s, t) {
			return true
		}
	}
	return false
}
