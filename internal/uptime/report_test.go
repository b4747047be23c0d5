package uptime

import (
	"math"
	"testing"
	"time"

	"github.com/fibinc/telltale/internal/config"
	"github.com/fibinc/telltale/internal/state"
)

// series returns n results of check "c" every step from start; down says
// which (by index) fail; durations are i+1 ms.
func series(start time.Time, n int, step time.Duration, down func(i int) bool) []state.CheckResult {
	out := make([]state.CheckResult, n)
	for i := range out {
		out[i] = state.CheckResult{Check: "c", At: start.Add(time.Duration(i) * step), OK: true, Duration: time.Duration(i+1) * time.Millisecond, Source: SourceProbe, Attempts: 1}
		if down != nil && down(i) {
			out[i].OK = false
			out[i].Error = "boom"
		}
	}
	return out
}

func mustMatcher(t *testing.T, s string) config.Matcher {
	m, err := config.ParseMatcher(s)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestComputeReport(t *testing.T) {
	day := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	h := time.Hour
	tests := []struct {
		name      string
		interval  time.Duration
		from, to  time.Time
		results   []state.CheckResult
		maint     []config.Maintenance
		want      Seconds
		uptime    float64 // NaN: no data
		downtimes []Downtime
	}{
		{"all up", time.Minute, day, day.Add(h), series(day, 60, time.Minute, nil),
			nil, Seconds{Up: 3600}, 100, nil},
		{"one failed minute", time.Minute, day, day.Add(h), series(day, 60, time.Minute, func(i int) bool { return i == 1 }),
			nil, Seconds{Up: 3540, Down: 60}, 100 * 3540.0 / 3600, []Downtime{{Start: day.Add(time.Minute), End: day.Add(2 * time.Minute), Duration: time.Minute, Error: "boom"}}},
		{"gap is unknown, not up", time.Minute, day, day.Add(h), series(day, 30, time.Minute, nil),
			// the result at 29m owns 2 intervals: up to 31m
			nil, Seconds{Up: 31 * 60, Unknown: 29 * 60}, 100, nil},
		{"no results", time.Minute, day, day.Add(h), nil, nil, Seconds{Unknown: 3600}, math.NaN(), nil},
		{"earlier result owns the start", time.Minute, day, day.Add(2 * time.Minute),
			series(day.Add(-30*time.Second), 3, time.Minute, func(i int) bool { return i == 0 }),
			nil, Seconds{Down: 30, Up: 90}, 75, []Downtime{{Start: day, End: day.Add(30 * time.Second), Duration: 30 * time.Second, Error: "boom"}}},
		{"failures in maintenance do not count", time.Minute, day, day.Add(h),
			series(day, 60, time.Minute, func(i int) bool { return i >= 10 && i < 20 }),
			[]config.Maintenance{{Name: "deploy", From: day.Add(10 * time.Minute), To: day.Add(20 * time.Minute)}},
			Seconds{Up: 3000, Maintenance: 600}, 100,
			[]Downtime{{Start: day.Add(10 * time.Minute), End: day.Add(20 * time.Minute), Duration: 10 * time.Minute, Error: "boom"}}},
		{"maintenance of other labels", time.Minute, day, day.Add(h), series(day, 60, time.Minute, nil),
			[]config.Maintenance{{Name: "x", Matchers: []config.Matcher{mustMatcher(t, `team="other"`)}, From: day, To: day.Add(h)}},
			Seconds{Up: 3600}, 100, nil},
		{"recurring maintenance 23:00 for 1h", 10 * time.Minute, day, day.Add(48 * h),
			series(day, 288, 10*time.Minute, nil),
			[]config.Maintenance{{Name: "nightly", Start: "23:00", Duration: config.Duration(h)}},
			Seconds{Up: 46 * 3600, Maintenance: 2 * 3600}, 100, nil},
		{"recurring in a time zone on tuesdays", time.Hour, day, day.Add(7 * 24 * h), // 2026-11-20 is a Friday
			series(day, 7*24, time.Hour, nil),
			[]config.Maintenance{{Name: "tue", Start: "23:00", Duration: config.Duration(2 * h), Weekdays: []string{"tuesday"}, Timezone: "Europe/Amsterdam"}},
			// Tuesday 24 Nov 23:00 CET = 22:00 UTC, for two hours.
			Seconds{Up: 166 * 3600, Maintenance: 2 * 3600}, 100, nil},
		// Uptime Kuma #4396: a daily push job showed 0.08 %. Each beat owns
		// the day until the next.
		{"sparse daily push beats", 24 * time.Hour, day, day.Add(7 * 24 * h),
			series(day.Add(2*time.Minute), 7, 24*time.Hour, nil),
			// before the first beat (2 minutes) nothing is known
			nil, Seconds{Up: 7*86400 - 120, Unknown: 120}, 100, nil},
		// Uptime Kuma #919: a 20 s outage of a 10 s check is 20 s of a day,
		// not a fraction of the beats.
		{"20 s outage", 10 * time.Second, day, day.Add(24 * h),
			series(day, 8640, 10*time.Second, func(i int) bool { return i == 100 || i == 101 }),
			nil, Seconds{Up: 86400 - 20, Down: 20}, 100 * (86400 - 20) / 86400.0,
			[]Downtime{{Start: day.Add(1000 * time.Second), End: day.Add(1020 * time.Second), Duration: 20 * time.Second, Error: "boom"}}},
		{"ongoing outage", time.Minute, day, day.Add(10 * time.Minute),
			series(day, 10, time.Minute, func(i int) bool { return i >= 8 }),
			nil, Seconds{Up: 480, Down: 120}, 80,
			[]Downtime{{Start: day.Add(8 * time.Minute), End: day.Add(10 * time.Minute), Duration: 2 * time.Minute, Error: "boom", Ongoing: true}}},
		{"missed push then beats", time.Hour, day, day.Add(4 * h),
			[]state.CheckResult{
				{At: day, OK: true}, {At: day.Add(h + 5*time.Minute), Error: "no heartbeat in 1h5m", Source: SourceMissed},
				{At: day.Add(2*h + 5*time.Minute), Error: "no heartbeat in 1h5m", Source: SourceMissed}, {At: day.Add(2*h + 30*time.Minute), OK: true},
			},
			nil, Seconds{Up: 65*60 + 90*60, Down: 85 * 60}, 100 * 155.0 / 240,
			[]Downtime{{Start: day.Add(h + 5*time.Minute), End: day.Add(2*h + 30*time.Minute), Duration: 85 * time.Minute, Error: "no heartbeat in 1h5m"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var maint []config.Maintenance
			for _, m := range tt.maint {
				if config.MatchAll(m.Matchers, map[string]string{"check": "c"}) {
					maint = append(maint, m)
				}
			}
			rep := ComputeReport("c", tt.interval, tt.from, tt.to, tt.results, maint)
			if !closeSeconds(rep.Seconds, tt.want) {
				t.Errorf("seconds %+v, want %+v", rep.Seconds, tt.want)
			}
			if math.IsNaN(tt.uptime) {
				if rep.HasData {
					t.Errorf("has data, uptime %v", rep.Uptime)
				}
			} else if !rep.HasData || math.Abs(rep.Uptime-tt.uptime) > 1e-9 {
				t.Errorf("uptime %v (has data %v), want %v", rep.Uptime, rep.HasData, tt.uptime)
			}
			if len(rep.Downtimes) != len(tt.downtimes) {
				t.Fatalf("downtimes %+v, want %+v", rep.Downtimes, tt.downtimes)
			}
			for i := range tt.downtimes {
				if rep.Downtimes[i] != tt.downtimes[i] {
					t.Errorf("downtime %d: %+v, want %+v", i, rep.Downtimes[i], tt.downtimes[i])
				}
			}
			// The days add up to the whole.
			var sum Seconds
			for _, d := range rep.Days {
				sum.Up += d.Seconds.Up
				sum.Down += d.Seconds.Down
				sum.Unknown += d.Seconds.Unknown
				sum.Maintenance += d.Seconds.Maintenance
			}
			if !closeSeconds(sum, rep.Seconds) {
				t.Errorf("days sum to %+v, total %+v", sum, rep.Seconds)
			}
			total := sum.Up + sum.Down + sum.Unknown + sum.Maintenance
			if math.Abs(total-tt.to.Sub(tt.from).Seconds()) > 1e-6 {
				t.Errorf("days cover %v s, range is %v", total, tt.to.Sub(tt.from).Seconds())
			}
		})
	}
}

func closeSeconds(a, b Seconds) bool {
	c := func(x, y float64) bool { return math.Abs(x-y) < 1e-6 }
	return c(a.Up, b.Up) && c(a.Down, b.Down) && c(a.Unknown, b.Unknown) && c(a.Maintenance, b.Maintenance)
}

func TestReportDaysAndPercentiles(t *testing.T) {
	from := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	to := from.Add(36 * time.Hour)
	// 100 results a quarter of an hour apart, the 10th failing.
	res := series(from, 100, 15*time.Minute, func(i int) bool { return i == 9 })
	rep := ComputeReport("c", 15*time.Minute, from, to, res, nil)
	if len(rep.Days) != 2 || !rep.Days[0].Start.Equal(from) || !rep.Days[1].Start.Equal(from.Add(12*time.Hour)) || !rep.Days[1].End.Equal(to) {
		t.Fatalf("days %+v", rep.Days)
	}
	if len(rep.Hours) != 36 {
		t.Errorf("%d hours, want 36", len(rep.Hours))
	}
	// Day 1: 12 h, one 15-minute failure.
	if d := rep.Days[0]; d.Seconds.Down != 900 || d.Seconds.Up != 12*3600-900 || d.Results != 48 {
		t.Errorf("day 1 %+v", d)
	}
	// Day 2: results until 12:00+99×15m = 24h45m after from, owned to 25h15m.
	if d := rep.Days[1]; d.Seconds.Up != (13*3600+15*60) || d.Seconds.Unknown != 10*3600+45*60 {
		t.Errorf("day 2 %+v", d)
	}
	// Successful durations are 1..100 ms but for 10 ms.
	if rep.Results != 100 || rep.Failures != 1 || rep.P50 != 51*time.Millisecond || rep.P95 != 96*time.Millisecond {
		t.Errorf("results %d failures %d p50 %v p95 %v", rep.Results, rep.Failures, rep.P50, rep.P95)
	}
	if want := 5040 * time.Millisecond / 99; rep.Avg != want {
		t.Errorf("avg %v, want %v", rep.Avg, want)
	}
	// Hour 3 (14:00-15:00) holds results 8 to 11, 9 failed: 9, 11 and 12 ms.
	if h := rep.Hours[2]; h.Results != 4 || h.P50 != 11*time.Millisecond || h.P95 != 12*time.Millisecond || h.Seconds.Down != 900 {
		t.Errorf("hour 3 %+v", h)
	}
}

func TestRangeOf(t *testing.T) {
	now := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	for preset, want := range map[string]time.Time{
		"24h": now.Add(-24 * time.Hour), "7d": now.AddDate(0, 0, -7), "30d": now.AddDate(0, 0, -30), "90d": now.AddDate(0, 0, -90),
	} {
		from, to, err := RangeOf(preset, now)
		if err != nil || !from.Equal(want) || !to.Equal(now) {
			t.Errorf("%s: %v %v %v", preset, from, to, err)
		}
	}
	if _, _, err := RangeOf("1y", now); err == nil {
		t.Error("1y accepted")
	}
}

// BenchmarkReport90d computes a 90-day report of a 30 s check: 259,200
// results.
func BenchmarkReport90d(b *testing.B) {
	to := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	from := to.AddDate(0, 0, -90)
	res := series(from, 90*2880, 30*time.Second, func(i int) bool { return i%1000 < 3 })
	maint := []config.Maintenance{{Name: "nightly", Start: "23:00", Duration: config.Duration(time.Hour)}}
	b.ResetTimer()
	for b.Loop() {
		rep := ComputeReport("c", 30*time.Second, from, to, res, maint)
		if len(rep.Days) != 90 {
			b.Fatal(len(rep.Days))
		}
	}
}
