package cardinality

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

// clock is a settable time for the limiter.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestAdmit(t *testing.T) {
	type step struct {
		advance time.Duration
		name    string
		id      uint64
		want    bool
	}
	tests := []struct {
		name   string
		limit  int
		steps  []step
		series int // active series at the end
	}{
		{"under the limit", 3, []step{{0, "a", 1, true}, {0, "a", 2, true}, {0, "a", 3, true}}, 3},
		{"new series over the limit", 2, []step{{0, "a", 1, true}, {0, "a", 2, true}, {0, "a", 3, false}, {0, "a", 4, false}}, 2},
		{"existing series still admitted", 2, []step{{0, "a", 1, true}, {0, "a", 2, true}, {0, "a", 3, false}, {time.Second, "a", 1, true}, {0, "a", 2, true}}, 2},
		{"limit is per metric name", 1, []step{{0, "a", 1, true}, {0, "b", 2, true}, {0, "a", 2, false}, {0, "b", 1, false}, {0, "c", 1, true}}, 3},
		{"idle series free their place after the window", 2, []step{
			{0, "a", 1, true}, {0, "a", 2, true},
			{30 * time.Minute, "a", 2, true}, // refreshes 2 only
			{31 * time.Minute, "a", 3, true}, // 1 idle for 61 minutes: forgotten
			{0, "a", 1, false},               // 1 is new again, and 2 and 3 are active
		}, 2},
		{"no limit", -1, []step{{0, "a", 1, true}, {0, "a", 2, true}, {0, "a", 3, true}}, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &clock{t: time.Unix(1_800_000_000, 0)}
			l := New(Options{MaxSeriesPerMetric: tt.limit, Now: c.now})
			for i, s := range tt.steps {
				c.add(s.advance)
				if got := l.Admit(s.name, s.id); got != s.want {
					t.Errorf("step %d: Admit(%q, %d) = %v, want %v", i, s.name, s.id, got, s.want)
				}
			}
			if got := l.Series(); got != tt.series {
				t.Errorf("Series() = %d, want %d", got, tt.series)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	l := New(Options{})
	if l.Limit() != DefaultMaxSeriesPerMetric {
		t.Errorf("Limit() = %d, want %d", l.Limit(), DefaultMaxSeriesPerMetric)
	}
	for i := range DefaultMaxSeriesPerMetric {
		if !l.Admit("m", uint64(i)) {
			t.Fatalf("series %d rejected below the limit", i)
		}
	}
	if l.Admit("m", DefaultMaxSeriesPerMetric) {
		t.Error("series over the default limit admitted")
	}
	if New(Options{MaxSeriesPerMetric: -5}).Limit() != 0 {
		t.Error("a negative limit must mean no limit (0)")
	}
}

// TestSeed checks that seeded series count toward the limit, whatever the
// limit, and that series older than the window are not seeded.
func TestSeed(t *testing.T) {
	c := &clock{t: time.Unix(1_800_000_000, 0)}
	l := New(Options{MaxSeriesPerMetric: 2, Now: c.now})
	l.Seed("a", 1, c.now().Add(-10*time.Minute))
	l.Seed("a", 2, c.now().Add(-2*time.Hour)) // beyond the window
	l.Seed("a", 3, c.now().Add(-time.Minute))
	l.Seed("a", 3, c.now().Add(-30*time.Minute)) // older than what is known: ignored
	l.Seed("a", 4, c.now())                      // over the limit: still counted
	if got := l.Series(); got != 3 {
		t.Fatalf("Series() after seeding = %d, want 3", got)
	}
	if l.Admit("a", 2) {
		t.Error("new series admitted although seeded series fill the limit")
	}
	for _, id := range []uint64{3, 4} {
		if !l.Admit("a", id) {
			t.Errorf("seeded series %d rejected", id)
		}
	}
	// Series 1, last seen 10 minutes before the start, expires 50 minutes
	// later; 3 and 4 were refreshed at the start and still fill the limit.
	c.add(51 * time.Minute)
	if l.Admit("a", 5) {
		t.Error("new series admitted while 3 and 4 fill the limit")
	}
	if got := l.Series(); got != 2 {
		t.Errorf("Series() once series 1 expired = %d, want 2", got)
	}
	c.add(10 * time.Minute)
	if !l.Admit("a", 5) {
		t.Error("new series rejected once every seeded series expired")
	}
}

// TestSweep checks that metrics no longer sent are forgotten even below
// their limit.
func TestSweep(t *testing.T) {
	c := &clock{t: time.Unix(1_800_000_000, 0)}
	l := New(Options{MaxSeriesPerMetric: 100, Now: c.now})
	for i := range 50 {
		l.Admit(fmt.Sprintf("old.%d", i), 1)
	}
	c.add(2 * time.Hour)
	l.Admit("new", 1)
	if got := l.Series(); got != 1 {
		t.Errorf("Series() after a sweep = %d, want 1", got)
	}
	n := 0
	for i := range l.shards {
		n += len(l.shards[i].metrics)
	}
	if n != 1 {
		t.Errorf("%d metric names kept after a sweep, want 1", n)
	}
}

// TestConcurrent admits from many goroutines (run with -race): exactly the
// limit of distinct series is admitted.
func TestConcurrent(t *testing.T) {
	const limit, workers, perWorker = 500, 8, 200
	l := New(Options{MaxSeriesPerMetric: limit})
	var mu sync.Mutex
	admitted := map[uint64]bool{}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range perWorker {
				id := uint64(w*perWorker + i)
				for _, name := range []string{"x", "y"} {
					if l.Admit(name, id) && name == "x" {
						mu.Lock()
						admitted[id] = true
						mu.Unlock()
					}
				}
			}
		})
	}
	wg.Wait()
	if len(admitted) != limit {
		t.Errorf("%d series of x admitted, want %d", len(admitted), limit)
	}
	if got := l.Series(); got != 2*limit {
		t.Errorf("Series() = %d, want %d", got, 2*limit)
	}
}

func BenchmarkAdmitExisting(b *testing.B) {
	l := New(Options{})
	for i := range 1000 {
		l.Admit(fmt.Sprintf("metric.%d", i%10), uint64(i))
	}
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			l.Admit("metric.3", uint64(i%100*10+3))
			i++
		}
	})
}
