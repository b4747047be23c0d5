package query

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/fibinc/telltale/internal/store"
	"github.com/fibinc/telltale/internal/telemetry"
)

// rowsOnly hides the store's column-wise reads, so that the query service
// takes its row-by-row path.
type rowsOnly struct{ Store }

// TestPromPointsChunked checks that reading points column-wise gives what
// the row path gives: every point of every series, series in order and each
// series in time order although the points were written out of order, with
// the packed start time, temporality and stale flag, NULL values as stale,
// counts and sums of histograms and summaries.
func TestPromPointsChunked(t *testing.T) {
	t0 := time.Date(2026, 2, 1, 22, 0, 0, 0, time.UTC)
	rng := rand.New(rand.NewPCG(1, 2))
	var points []telemetry.MetricPoint
	res := telemetry.Resource{ServiceName: "api", Attributes: "{}"}
	for s := range 40 {
		for i := range 300 {
			p := telemetry.MetricPoint{
				Resource: res, Name: fmt.Sprintf("m%d", s%3), SeriesID: uint64(s)*0x9E3779B97F4A7C15 + 1, Attributes: "{}",
				Time: t0.Add(time.Duration(i) * 17 * time.Second), // over midnight: two partitions
			}
			switch s % 4 {
			case 0:
				p.Type, p.Value = telemetry.MetricGauge, rng.Float64()
				if i%50 == 7 {
					p.Flags = 1 // no recorded value
				}
				if i%50 == 9 {
					p.Value = math.NaN()
				}
			case 1:
				p.Type, p.Temporality, p.Monotonic, p.Value = telemetry.MetricSum, telemetry.TemporalityCumulative, true, float64(i)
				p.StartTime = t0.Add(time.Duration(i/100) * time.Hour)
			case 2:
				p.Type, p.Temporality, p.Value = telemetry.MetricSum, telemetry.TemporalityDelta, 1
			case 3:
				p.Type, p.Temporality, p.Count, p.Sum = telemetry.MetricHistogram, telemetry.TemporalityCumulative, uint64(i)<<40, float64(i)/3
				p.BucketBounds, p.BucketCounts = []float64{1}, []uint64{0, uint64(i) << 40}
			}
			points = append(points, p)
		}
	}
	// Written in shuffled batches: the store's order is not time order.
	rng.Shuffle(len(points), func(i, j int) { points[i], points[j] = points[j], points[i] })
	chunked := metricServiceBatches(t, points, 7)
	if _, ok := chunked.store.(store.ChunkQuerier); !ok {
		t.Fatal("the test store does not read column-wise")
	}
	rows := *chunked
	rows.store = rowsOnly{chunked.store}

	ctx := context.Background()
	r := TimeRange{From: t0.Add(-time.Hour), To: t0.Add(3 * time.Hour)}
	read := func(s *Service, q PromPointsQuery) ([]PromPoint, error) {
		var out []PromPoint
		err := s.PromPoints(ctx, q, func(p *PromPoint) error {
			out = append(out, *p)
			return nil
		})
		return out, err
	}
	names := []string{"m0", "m1", "m2"}
	for _, q := range []PromPointsQuery{
		{Range: r, Names: names, Type: telemetry.MetricGauge},
		{Range: r, Names: names, Type: telemetry.MetricSum},
		{Range: r, Names: names, Type: telemetry.MetricHistogram},
		{Range: TimeRange{From: t0.Add(time.Hour), To: t0.Add(80 * time.Minute)}, Names: names[:1], Type: telemetry.MetricSum},
		{Range: r, Names: names, Type: telemetry.MetricSum, Series: []uint64{points[0].SeriesID, 1 + 0x9E3779B97F4A7C15}},
	} {
		want, err := read(&rows, q)
		if err != nil {
			t.Fatal(err)
		}
		got, err := read(chunked, q)
		if err != nil {
			t.Fatal(err)
		}
		if len(want) == 0 && len(q.Series) == 0 {
			t.Errorf("%s: no points read", q.Type)
		}
		eq := func(a, b PromPoint) bool {
			return a.Series == b.Series && a.Time == b.Time && a.Start == b.Start && a.Delta == b.Delta && a.Stale == b.Stale &&
				(a.Stale || a.Value == b.Value || math.IsNaN(a.Value) && math.IsNaN(b.Value)) && a.Count == b.Count && a.Sum == b.Sum
		}
		if !slices.EqualFunc(got, want, eq) {
			t.Errorf("%s %v: chunked read of %d points differs from the row path's %d", q.Type, q.Series, len(got), len(want))
		}
		for i := 1; i < len(got); i++ {
			if got[i].Series < got[i-1].Series || got[i].Series == got[i-1].Series && got[i].Time < got[i-1].Time {
				t.Fatalf("%s: point %d out of order", q.Type, i)
			}
		}
	}
	_, err := read(chunked, PromPointsQuery{Range: r, Names: names, Type: telemetry.MetricGauge, Limit: 100})
	if !errors.Is(err, ErrInvalid) {
		t.Errorf("over the limit: %v, want ErrInvalid", err)
	}
}

// metricServiceBatches is metricService writing points in n batches.
func metricServiceBatches(t *testing.T, points []telemetry.MetricPoint, n int) *Service {
	t.Helper()
	size := (len(points) + n - 1) / n
	s := metricService(t, Options{}, points[:size])
	for i := size; i < len(points); i += size {
		b := &telemetry.Batch{Metrics: points[i:min(i+size, len(points))]}
		if err := s.store.(store.Store).Write(context.Background(), b); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// TestPromBuffer checks that points end in time order with their counts,
// whether moved into place as they come (a few places late) or sorted at
// the end (far out of order).
func TestPromBuffer(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, tc := range []struct {
		name     string
		late     int // how many places late points may come
		unsorted bool
	}{{"in order", 0, false}, {"a few places late", 10, false}, {"far out of order", 500, true}} {
		n := 2000
		order := make([]int64, n)
		for i := range order {
			order[i] = int64(i)
		}
		// Shuffle within windows of late+1 points: none is more than late
		// places from where it belongs.
		for i := 0; i < n; i += tc.late + 1 {
			w := order[i:min(i+tc.late+1, n)]
			rng.Shuffle(len(w), func(a, b int) { w[a], w[b] = w[b], w[a] })
		}
		var b promBuffer
		for _, ts := range order {
			b.add(promRaw{t: ts, v: float64(ts) / 2}, uint64(ts)*3, true)
		}
		if b.unsorted != tc.unsorted {
			t.Errorf("%s: unsorted = %v, want %v", tc.name, b.unsorted, tc.unsorted)
		}
		if b.unsorted {
			b.sort()
		}
		for i, r := range b.pts {
			if r.t != int64(i) || r.v != float64(i)/2 || b.counts[i] != uint64(i)*3 {
				t.Fatalf("%s: point %d = %+v count %d", tc.name, i, r, b.counts[i])
			}
		}
	}
}

func TestPromTable(t *testing.T) {
	var tab promTable
	rng := rand.New(rand.NewPCG(5, 6))
	want := map[uint64]*promBuffer{}
	for range 5000 {
		id := rng.Uint64() % 3000 // repeats, and ids sharing low bits
		id <<= 20
		b := tab.get(id)
		if w, ok := want[id]; ok && w != b {
			t.Fatalf("id %x: a second buffer", id)
		}
		want[id] = b
	}
	if tab.n != len(want) {
		t.Errorf("n = %d, want %d", tab.n, len(want))
	}
}
