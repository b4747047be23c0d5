package web

import (
	"math"
	"strings"
	"testing"
	"time"
)

func TestChart(t *testing.T) {
	from := time.Date(2026, 5, 4, 9, 0, 0, 0, time.UTC)
	pts := func(vs ...float64) []ChartPoint {
		var ps []ChartPoint
		for i, v := range vs {
			ps = append(ps, ChartPoint{T: from.Add(time.Duration(i) * 10 * time.Minute), V: v})
		}
		return ps
	}
	tests := []struct {
		name     string
		chart    Chart
		want     []string
		wantNot  []string
		wantNone bool
	}{
		{name: "empty range", chart: Chart{From: from, To: from}, wantNone: true},
		{
			name: "lines with a gap and a comparison",
			chart: Chart{From: from, To: from.Add(time.Hour), Step: 10 * time.Minute, Unit: "rate", Label: "requests",
				Series: []ChartSeries{{Name: "now", Points: pts(1, 2, math.NaN(), 4)}, {Name: "yesterday", Class: "prev", Points: pts(1, 1)}}},
			// The gap lifts the pen: a second M, no line through it.
			want: []string{`aria-label="requests"`, `class="line prev"`, ">5.00/s<", ">09:00<", ">09:30<", `M52.0 108.4l0 0L162.0 84.8M382.0 37.6l0 0`},
		},
		{
			name: "points further apart than a step are not joined",
			chart: Chart{From: from, To: from.Add(time.Hour), Step: time.Minute,
				Series: []ChartSeries{{Name: "x", Points: pts(1, 1)}}},
			want: []string{`M52.0 14.0l0 0M162.0 14.0l0 0`},
		},
		{
			name: "marks and names are escaped text",
			chart: Chart{From: from, To: from.Add(time.Hour), Series: []ChartSeries{{Name: "<script>alert(1)</script>", Points: pts(1, 2)}},
				Marks: []ChartMark{{T: from.Add(30 * time.Minute), Label: `v2"><script>`}, {T: from.Add(-time.Minute), Label: "before the range"}}},
			want:    []string{"&lt;script&gt;alert(1)&lt;/script&gt;", "v2&#34;&gt;&lt;script&gt;"},
			wantNot: []string{"<script>", "before the range"},
		},
		{
			name: "stacked bars with links",
			chart: Chart{From: from, To: from.Add(time.Hour), Step: 10 * time.Minute, Bars: true,
				Series: []ChartSeries{{Name: "info", Class: "info", Points: pts(3, 0, 1)}, {Name: "error", Class: "err", Points: pts(2)}},
				BarLink: func(a, b time.Time) string {
					return "/logs?from=" + a.Format(time.RFC3339) + "&to=" + b.Format(time.RFC3339)
				}},
			// The top is 3+2 stacked; the zero bar is not drawn.
			want:    []string{`class="bars err"`, "09:00:00 error: 2", `href="/logs?from=2026-05-04T09:00:00Z&amp;to=2026-05-04T09:10:00Z"`, ">5<"},
			wantNot: []string{"09:10:00 info"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := string(tt.chart.SVG())
			if tt.wantNone {
				if got != "" {
					t.Fatalf("SVG = %q, want none", got)
				}
				return
			}
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("SVG lacks %q:\n%s", w, got)
				}
			}
			for _, w := range tt.wantNot {
				if strings.Contains(got, w) {
					t.Errorf("SVG has %q:\n%s", w, got)
				}
			}
		})
	}
}

func TestNiceCeilAndNumbers(t *testing.T) {
	for _, tt := range []struct{ in, want float64 }{{0.7, 1}, {1, 1}, {1.2, 2}, {3, 5}, {7, 10}, {45, 50}, {0.013, 0.02}} {
		if got := niceCeil(tt.in); math.Abs(got-tt.want) > 1e-12 {
			t.Errorf("niceCeil(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
	for _, tt := range []struct {
		in   float64
		want string
	}{{0, "0"}, {0.5, "0.5"}, {2, "2"}, {12.4, "12"}, {1500, "1.5k"}, {2000, "2k"}, {3.2e6, "3.2M"}, {-4, "-4"}} {
		if got := fmtNumber(tt.in); got != tt.want {
			t.Errorf("fmtNumber(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
