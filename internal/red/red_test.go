package red

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/fibinc/telltale/internal/telemetry"
)

func TestBuckets(t *testing.T) {
	if got := Index(MaxDuration); got != Buckets-1 {
		t.Fatalf("Index(MaxDuration) = %d, want %d", got, Buckets-1)
	}
	var prevHi int64
	for i := range Buckets {
		lo, hi := Bounds(i)
		if lo != prevHi || hi <= lo {
			t.Fatalf("bucket %d is [%d, %d), after one ending at %d", i, lo, hi, prevHi)
		}
		prevHi = hi
		if Index(lo) != i || Index(hi-1) != i {
			t.Fatalf("bucket %d [%d, %d): Index(lo) = %d, Index(hi-1) = %d", i, lo, hi, Index(lo), Index(hi-1))
		}
		if i < Buckets-1 && Index(hi) != i+1 {
			t.Fatalf("Index(%d) = %d, want %d", hi, Index(hi), i+1)
		}
		// The stated bound holds at both ends of the bucket.
		v := Value(i)
		for _, d := range []int64{lo, hi - 1} {
			if e := math.Abs(v-float64(d)) / float64(d); d > 0 && e > MaxRelativeError {
				t.Fatalf("bucket %d: Value %g is %.4f off %d", i, v, e, d)
			}
		}
	}
	if prevHi != MaxDuration+1 {
		t.Errorf("the last bucket ends at %d, want %d", prevHi, int64(MaxDuration+1))
	}
	for _, tt := range []struct {
		ns   int64
		want int
	}{{-5, 0}, {0, 0}, {1, 1}, {15, 15}, {16, 16}, {17, 16}, {18, 17}, {31, 23}, {32, 24}, {math.MaxInt64, Buckets - 1}} {
		if got := Index(tt.ns); got != tt.want {
			t.Errorf("Index(%d) = %d, want %d", tt.ns, got, tt.want)
		}
	}
}

// exactQuantile is DuckDB's quantile_cont.
func exactQuantile(sorted []int64, p float64) float64 {
	k, frac := Rank(int64(len(sorted)), p)
	a := float64(sorted[k])
	if frac == 0 {
		return a
	}
	return a + frac*(float64(sorted[k+1])-a)
}

// estimate does what the queries do: histogram, then Quantiles.
func estimate(sorted []int64, p float64) float64 {
	hist := map[int]int64{}
	for _, d := range sorted {
		hist[Index(d)]++
	}
	var bins []Bin
	for i, c := range hist {
		bins = append(bins, Bin{int16(i), c})
	}
	n, qs := Quantiles(bins, []float64{p})
	if n != int64(len(sorted)) {
		panic("count lost")
	}
	return qs[0]
}

func TestQuantile(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	dists := map[string]func() int64{
		"uniform ms":    func() int64 { return rng.Int64N(1e9) },
		"log-normal":    func() int64 { return int64(math.Exp(rng.NormFloat64()*2 + 15)) },
		"two modes":     func() int64 { return []int64{2e6, 800e6}[rng.IntN(2)] + rng.Int64N(1e5) },
		"tiny":          func() int64 { return rng.Int64N(40) },
		"one value":     func() int64 { return 123456789 },
		"huge and zero": func() int64 { return []int64{0, math.MaxInt64}[rng.IntN(2)] },
	}
	for name, gen := range dists {
		for _, n := range []int{1, 2, 3, 10, 99, 1000} {
			ds := make([]int64, n)
			for i := range ds {
				ds[i] = min(gen(), MaxDuration)
			}
			slices.Sort(ds)
			for _, p := range []float64{0, 0.5, 0.95, 0.99, 1} {
				want, got := exactQuantile(ds, p), estimate(ds, p)
				if e := math.Abs(got-want) / want; want > 0 && e > MaxRelativeError || want == 0 && got != 0 {
					t.Errorf("%s, n %d, p%g: estimate %g, exact %g, error %.4f", name, n, p*100, got, want, e)
				}
			}
		}
	}
}

func TestQuantilesEmpty(t *testing.T) {
	if n, qs := Quantiles(nil, []float64{0.5, 0.99}); n != 0 || len(qs) != 2 || qs[0] != 0 || qs[1] != 0 {
		t.Errorf("Quantiles of nothing = %d, %v", n, qs)
	}
}

func TestAggregator(t *testing.T) {
	t0 := time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)
	span := func(service, kind, name, parent, status string, at, d time.Duration) telemetry.Span {
		return telemetry.Span{Resource: telemetry.Resource{ServiceName: service, Environment: "prod", ServiceVersion: "1"},
			Kind: kind, Name: name, ParentSpanID: parent, StatusCode: status, Start: t0.Add(at), Duration: d}
	}
	spans := []telemetry.Span{
		span("a", "server", "GET /", "", "ok", 0, 10*time.Millisecond),
		span("a", "server", "GET /", "", "ok", 59*time.Second, 10*time.Millisecond),
		span("a", "server", "GET /", "", "error", 30*time.Second, 20*time.Millisecond),
		span("a", "server", "GET /", "", "ok", time.Minute, 30*time.Millisecond),
		span("a", "client", "SELECT 1", "p", "ok", 0, time.Millisecond),
		span("a", "client", "SELECT 2", "p", "ok", time.Second, time.Millisecond),
		span("a", "internal", "tick", "", "unset", 0, -time.Second), // a root keeps its name
	}
	minutes := NewAggregator(time.Minute)
	for i := range spans {
		minutes.Add(&spans[i])
	}
	type row struct {
		at         time.Duration
		op, kind   string
		root, err  bool
		count, sum int64
		hist       []Bin
	}
	ms := int64(time.Millisecond)
	want := []row{
		{0, "", "client", false, false, 2, 2 * ms, []Bin{{int16(Index(ms)), 2}}},
		{0, "GET /", "server", true, false, 2, 20 * ms, []Bin{{int16(Index(10 * ms)), 2}}},
		{0, "GET /", "server", true, true, 1, 20 * ms, []Bin{{int16(Index(20 * ms)), 1}}},
		{0, "tick", "internal", true, false, 1, -int64(time.Second), []Bin{{0, 1}}},
		{time.Minute, "GET /", "server", true, false, 1, 30 * ms, []Bin{{int16(Index(30 * ms)), 1}}},
	}
	check := func(name string, rows []Row, want []row) {
		t.Helper()
		var got []row
		rows = slices.Clone(rows)
		slices.SortFunc(rows, func(x, y Row) int {
			return cmp.Or(x.Bucket.Compare(y.Bucket), cmp.Compare(x.Operation, y.Operation), cmp.Compare(x.Kind, y.Kind), compareBool(x.Error, y.Error))
		})
		for _, r := range rows {
			if r.Service != "a" || r.Environment != "prod" || r.Version != "1" {
				t.Errorf("%s: row %+v lost its resource", name, r)
			}
			got = append(got, row{r.Bucket.Sub(t0), r.Operation, r.Kind, r.Root, r.Error, r.Count, r.SumNs, r.Hist})
		}
		if !slices.EqualFunc(got, want, func(a, b row) bool {
			return a.at == b.at && a.op == b.op && a.kind == b.kind && a.root == b.root && a.err == b.err &&
				a.count == b.count && a.sum == b.sum && slices.Equal(a.hist, b.hist)
		}) {
			t.Errorf("%s rows =\n%+v\nwant\n%+v", name, got, want)
		}
	}
	check("minute", minutes.Rows(), want)

	check("hour", Level{Width: time.Hour}.Rollup(minutes.Rows()), []row{
		{0, "", "client", false, false, 2, 2 * ms, []Bin{{int16(Index(ms)), 2}}},
		{0, "GET /", "server", true, false, 3, 50 * ms, []Bin{{int16(Index(10 * ms)), 2}, {int16(Index(30 * ms)), 1}}},
		{0, "GET /", "server", true, true, 1, 20 * ms, []Bin{{int16(Index(20 * ms)), 1}}},
		{0, "tick", "internal", true, false, 1, -int64(time.Second), []Bin{{0, 1}}},
	})
	svc := Level{Width: 5 * time.Minute, ServiceOnly: true}.Rollup(minutes.Rows())
	for i := range svc {
		svc[i].Version = "1" // for check
	}
	check("service", svc, []row{
		{0, "", "client", false, false, 2, 2 * ms, []Bin{{int16(Index(ms)), 2}}},
		{0, "", "internal", true, false, 1, -int64(time.Second), []Bin{{0, 1}}},
		{0, "", "server", true, false, 3, 50 * ms, []Bin{{int16(Index(10 * ms)), 2}, {int16(Index(30 * ms)), 1}}},
		{0, "", "server", true, true, 1, 20 * ms, []Bin{{int16(Index(20 * ms)), 1}}},
	})
}

func TestLevels(t *testing.T) {
	ls := Levels()
	if ls[0].Width != time.Minute || ls[0].ServiceOnly {
		t.Errorf("first level %+v, want minutes of the full key", ls[0])
	}
	for _, a := range ls {
		if (24*time.Hour)%a.Width != 0 {
			t.Errorf("%s: width %s does not divide a day", a.Table, a.Width)
		}
		for _, b := range ls {
			if a.Width < b.Width && b.Width%a.Width != 0 {
				t.Errorf("%s: width %s does not divide %s's %s", a.Table, a.Width, b.Table, b.Width)
			}
		}
	}
}

func TestAddSat(t *testing.T) {
	for _, tt := range []struct{ a, b, want int64 }{
		{1, 2, 3}, {math.MaxInt64, 1, math.MaxInt64}, {math.MinInt64, -1, math.MinInt64}, {math.MaxInt64, math.MinInt64, -1},
	} {
		if got := addSat(tt.a, tt.b); got != tt.want {
			t.Errorf("addSat(%d, %d) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}

// FuzzIndex checks that every duration lands in a bucket whose bounds hold
// it and whose Value is within the stated error.
func FuzzIndex(f *testing.F) {
	for _, d := range []int64{-1, 0, 1, 15, 16, 17, 1e6, 1 << 49, MaxDuration, math.MaxInt64} {
		f.Add(d)
	}
	f.Fuzz(func(t *testing.T, d int64) {
		i := Index(d)
		if i < 0 || i >= Buckets {
			t.Fatalf("Index(%d) = %d, out of [0, %d)", d, i, Buckets)
		}
		c := min(max(d, 0), MaxDuration)
		lo, hi := Bounds(i)
		if c < lo || c >= hi {
			t.Fatalf("Index(%d) = %d, whose bounds [%d, %d) do not hold it", d, i, lo, hi)
		}
		if v := Value(i); c > 0 && math.Abs(v-float64(c))/float64(c) > MaxRelativeError {
			t.Fatalf("Value(%d) = %g, too far from %d", i, v, c)
		}
	})
}

// BenchmarkAggregator aggregates a batch of spans of 50 services with 20
// operations, as the store does with every write.
func BenchmarkAggregator(b *testing.B) {
	const batch = 10_000
	now := time.Now()
	spans := make([]telemetry.Span, batch)
	for i := range spans {
		req := i / 3
		sp := &spans[i]
		sp.ServiceName, sp.Environment, sp.ServiceVersion = fmt.Sprintf("svc-%02d", req%50), "prod", "1.2.3"
		sp.Kind, sp.Name, sp.StatusCode = "server", fmt.Sprintf("GET /api/v1/op-%02d", req/50%20), "ok"
		sp.Start, sp.Duration = now.Add(time.Duration(i)*time.Millisecond), time.Duration(1+(i*7919)%500)*time.Millisecond
		switch i % 3 {
		case 1:
			sp.Kind, sp.Name, sp.ParentSpanID = "client", "SELECT", "p"
		case 2:
			sp.Kind, sp.Name, sp.ParentSpanID = "internal", "render", "p"
		}
	}
	for b.Loop() {
		m := NewAggregator(time.Minute)
		for i := range spans {
			m.Add(&spans[i])
		}
		for _, l := range Levels()[1:] {
			l.Rollup(m.Rows())
		}
	}
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "spans/s")
}

func compareBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}
