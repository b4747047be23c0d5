package web

import (
	"fmt"
	"html/template"
	"math"
	"strings"
	"time"
)

// Chart is a time-series chart, drawn on the server as SVG so that pages
// need no script to show it. Lines by default; Bars stacks the series as
// bars, as the logs histogram wants.
type Chart struct {
	From, To time.Time
	// Step is the width of a point; it sets the bar width and where lines
	// break: two points further apart than 1.5 steps are not joined.
	Step   time.Duration
	Series []ChartSeries
	// Marks are vertical lines at moments, such as deploys.
	Marks []ChartMark
	// Unit formats the y axis: "rate" (per second), "pct" (a fraction),
	// "ms", "s" or "" for a plain number.
	Unit string
	Bars bool
	// Label describes the chart to screen readers.
	Label string
	// BarLink, when set, makes each bar a link, e.g. to zoom into it.
	BarLink func(from, to time.Time) string
}

// ChartSeries is one line, or one layer of stacked bars.
type ChartSeries struct {
	Name string
	// Class styles the series: "s0" to "s5" for the palette, "prev" for a
	// dashed comparison line, "err", "warn", "info", "debug" for levels.
	Class  string
	Points []ChartPoint
}

// ChartPoint is a value at the start of a step. NaN is a gap.
type ChartPoint struct {
	T time.Time
	V float64
}

// ChartMark is a vertical line with a label, e.g. "v1.4.2".
type ChartMark struct {
	T     time.Time
	Label string
}

// Chart geometry, in SVG units; the SVG scales to its box's width.
const (
	chartW     = 720
	chartH     = 150
	chartLeft  = 52 // room for y labels
	chartRight = 8
	chartTop   = 14 // room for mark labels
	chartBot   = 18 // room for x labels
)

// SVG draws the chart. Every string in it is escaped; the rest is numbers.
func (c Chart) SVG() template.HTML {
	if !c.From.Before(c.To) {
		return ""
	}
	plotW, plotH := float64(chartW-chartLeft-chartRight), float64(chartH-chartTop-chartBot)
	span := float64(c.To.Sub(c.From))
	x := func(t time.Time) float64 { return chartLeft + float64(t.Sub(c.From))/span*plotW }

	top := c.maxValue()
	if top <= 0 {
		top = 1
	}
	top = niceCeil(top)
	y := func(v float64) float64 { return chartTop + plotH - v/top*plotH }

	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %d %d" role="img" aria-label="%s" preserveAspectRatio="xMinYMin meet">`,
		chartW, chartH, template.HTMLEscapeString(c.Label))
	// Grid and y labels: 0, half and the top.
	for _, v := range []float64{0, top / 2, top} {
		fmt.Fprintf(&b, `<line class="grid" x1="%d" x2="%d" y1="%.1f" y2="%.1f"/>`, chartLeft, chartW-chartRight, y(v), y(v))
		fmt.Fprintf(&b, `<text class="ylab" x="%d" y="%.1f">%s</text>`, chartLeft-4, y(v)+4, template.HTMLEscapeString(c.format(v)))
	}
	for _, t := range timeTicks(c.From, c.To) {
		fmt.Fprintf(&b, `<text class="xlab" x="%.1f" y="%d">%s</text>`, x(t), chartH-4, tickLabel(t, c.To.Sub(c.From)))
	}
	if c.Bars {
		c.drawBars(&b, x, y)
	} else {
		c.drawLines(&b, x, y)
	}
	for _, m := range c.Marks {
		if m.T.Before(c.From) || !m.T.Before(c.To) {
			continue
		}
		mx := x(m.T)
		fmt.Fprintf(&b, `<g class="mark"><title>%s at %s</title><line x1="%.1f" x2="%.1f" y1="%d" y2="%.1f"/><text x="%.1f" y="%d">%s</text></g>`,
			template.HTMLEscapeString(m.Label), m.T.UTC().Format(time.DateTime), mx, mx, chartTop-2, chartTop+plotH, mx+2, chartTop-4,
			template.HTMLEscapeString(truncate(m.Label, 16)))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

func (c Chart) maxValue() float64 {
	var top float64
	if c.Bars {
		sums := map[time.Time]float64{}
		for _, s := range c.Series {
			for _, p := range s.Points {
				if !math.IsNaN(p.V) {
					sums[p.T] += p.V
					top = max(top, sums[p.T])
				}
			}
		}
		return top
	}
	for _, s := range c.Series {
		for _, p := range s.Points {
			if !math.IsNaN(p.V) && !math.IsInf(p.V, 0) {
				top = max(top, p.V)
			}
		}
	}
	return top
}

func (c Chart) drawLines(b *strings.Builder, x func(time.Time) float64, y func(float64) float64) {
	for _, s := range c.Series {
		fmt.Fprintf(b, `<path class="line %s" d="`, template.HTMLEscapeString(s.Class))
		var prev time.Time
		pen := false
		for _, p := range s.Points {
			if math.IsNaN(p.V) || math.IsInf(p.V, 0) {
				pen = false
				continue
			}
			if pen && c.Step > 0 && p.T.Sub(prev) > c.Step*3/2 {
				pen = false
			}
			cmd := "L"
			if !pen {
				cmd = "M"
			}
			fmt.Fprintf(b, "%s%.1f %.1f", cmd, x(p.T), y(p.V))
			if cmd == "M" {
				// With round caps a lone point shows as a dot.
				b.WriteString("l0 0")
			}
			pen, prev = true, p.T
		}
		fmt.Fprintf(b, `"><title>%s</title></path>`, template.HTMLEscapeString(s.Name))
	}
}

func (c Chart) drawBars(b *strings.Builder, x func(time.Time) float64, y func(float64) float64) {
	step := c.Step
	if step <= 0 {
		step = c.To.Sub(c.From) / 60
	}
	base := map[time.Time]float64{}
	for _, s := range c.Series {
		fmt.Fprintf(b, `<g class="bars %s"><title>%s</title>`, template.HTMLEscapeString(s.Class), template.HTMLEscapeString(s.Name))
		for _, p := range s.Points {
			if math.IsNaN(p.V) || p.V <= 0 {
				continue
			}
			x0, x1 := x(p.T), x(p.T.Add(step))
			y0, y1 := y(base[p.T]), y(base[p.T]+p.V)
			base[p.T] += p.V
			rect := fmt.Sprintf(`<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f"><title>%s %s: %s</title></rect>`,
				x0, y1, max(x1-x0-1, 1), y0-y1, p.T.UTC().Format(time.TimeOnly), template.HTMLEscapeString(s.Name), template.HTMLEscapeString(c.format(p.V)))
			if c.BarLink != nil {
				fmt.Fprintf(b, `<a href="%s">%s</a>`, template.HTMLEscapeString(c.BarLink(p.T, p.T.Add(step))), rect)
			} else {
				b.WriteString(rect)
			}
		}
		b.WriteString(`</g>`)
	}
}

func (c Chart) format(v float64) string {
	if v == 0 {
		return "0" // "0µs" reads as a measurement
	}
	switch c.Unit {
	case "rate":
		return fmtRate(v)
	case "pct":
		return fmtPct(v)
	case "ms":
		return fmtMs(v)
	case "s":
		return fmtMs(v * 1000)
	}
	return fmtNumber(v)
}

// fmtNumber prints a number in at most five characters or so: 0.25, 12,
// 1.5k, 2.1M.
func fmtNumber(v float64) string {
	a := math.Abs(v)
	switch {
	case a == 0:
		return "0"
	case a < 0.01:
		return fmt.Sprintf("%.1e", v)
	case a < 10:
		return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.2f", v), "0"), ".")
	case a < 1000:
		return fmt.Sprintf("%.0f", v)
	case a < 1e6:
		return strings.Replace(fmt.Sprintf("%.1fk", v/1e3), ".0k", "k", 1)
	case a < 1e9:
		return strings.Replace(fmt.Sprintf("%.1fM", v/1e6), ".0M", "M", 1)
	default:
		return fmt.Sprintf("%.1fG", v/1e9)
	}
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten, so the axis
// reads well.
func niceCeil(v float64) float64 {
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*p*(1+1e-9) {
			return m * p
		}
	}
	return 10 * p
}

// tickSteps are the spacings of x-axis labels.
var tickSteps = []time.Duration{
	10 * time.Second, 30 * time.Second, time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute, 30 * time.Minute,
	time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour, 7 * 24 * time.Hour,
}

// timeTicks returns four to eight round moments in [from, to).
func timeTicks(from, to time.Time) []time.Time {
	rng := to.Sub(from)
	step := tickSteps[len(tickSteps)-1]
	for _, s := range tickSteps {
		if rng/s <= 6 {
			step = s
			break
		}
	}
	var ts []time.Time
	for t := from.UTC().Truncate(step); t.Before(to); t = t.Add(step) {
		if !t.Before(from) {
			ts = append(ts, t)
		}
	}
	return ts
}

func tickLabel(t time.Time, rng time.Duration) string {
	t = t.UTC()
	switch {
	case rng > 3*24*time.Hour:
		return t.Format("Jan 2")
	case rng > 24*time.Hour:
		return t.Format("Jan 2 15:04")
	case rng < 5*time.Minute:
		return t.Format("15:04:05")
	default:
		return t.Format("15:04")
	}
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
