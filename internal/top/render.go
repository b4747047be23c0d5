package top

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Frame is what one screen of top shows.
type Frame struct {
	Server string
	Env    string // the environment filter, "" for all
	Window time.Duration
	Time   time.Time // shown in its own location
	Rows   []Row
	// Err replaces the table when the server could not be read.
	Err error
}

// Row is one service's line.
type Row struct {
	Name          string
	Up, Instances int
	// Requests and Errors are counts over the window; Rate is requests
	// per second. Without requests the request columns show "-".
	Requests, Errors int64
	Rate             float64
	HasLatency       bool
	P50, P95         time.Duration
}

// UpWithin is how recently an instance must have been seen to count as up,
// unless the window is shorter.
const UpWithin = 30 * time.Second

// Rows turns the services of a window ending at now into rows sorted by
// name. With env set, only services with an instance in that environment
// are kept, and only those instances are counted; the request columns stay
// those of the whole service, because the API does not split them by
// environment.
func Rows(svcs []Service, now time.Time, window time.Duration, env string) []Row {
	upSince := now.Add(-min(UpWithin, window))
	rows := make([]Row, 0, len(svcs))
	for _, s := range svcs {
		r := Row{Name: s.Name, Requests: s.Requests, Errors: s.RequestErrors, Rate: s.RequestRate}
		for _, in := range s.Instances {
			if env != "" && in.Environment != env {
				continue
			}
			r.Instances++
			if !in.LastSeen.Before(upSince) {
				r.Up++
			}
		}
		if env != "" && r.Instances == 0 {
			continue
		}
		if s.Latency != nil && s.Requests > 0 {
			r.HasLatency = true
			r.P50, r.P95 = msDuration(s.Latency.P50), msDuration(s.Latency.P95)
		}
		rows = append(rows, r)
	}
	slices.SortStableFunc(rows, func(a, b Row) int { return strings.Compare(a.Name, b.Name) })
	return rows
}

// msDuration converts float milliseconds, saturating instead of
// overflowing on absurd values.
func msDuration(ms float64) time.Duration {
	ns := ms * 1e6
	switch {
	case !(ns > 0): // also NaN
		return 0
	case ns >= math.MaxInt64:
		return math.MaxInt64
	}
	return time.Duration(ns)
}

// Layout: every line fits in 80 columns.
const (
	lineWidth = 80
	nameWidth = 30
	rowFormat = "%-30s %9s %9s %7s %9s %9s\n" // 78 columns
)

// Render writes f as text. Every line fits in 80 columns.
func Render(w io.Writer, f Frame) error {
	var b strings.Builder
	b.WriteString(header(f))
	b.WriteByte('\n')
	switch {
	case f.Err != nil:
		b.WriteString(wrap("error: "+f.Err.Error(), lineWidth))
	case len(f.Rows) == 0 && f.Env != "":
		b.WriteString(wrap(fmt.Sprintf("no service in environment %s sent telemetry in the last %s", truncate(f.Env, 20), formatWindow(f.Window)), lineWidth))
	case len(f.Rows) == 0:
		b.WriteString(wrap("no service sent telemetry in the last "+formatWindow(f.Window), lineWidth))
	default:
		b.WriteString(totals(f.Rows))
		b.WriteString("\n\n")
		fmt.Fprintf(&b, rowFormat, "SERVICE", "UP", "REQ/S", "ERR%", "P50", "P95")
		for _, r := range f.Rows {
			rate, errPct, p50, p95 := "-", "-", "-", "-"
			if r.Requests > 0 {
				rate, errPct = formatRate(r.Rate), formatPercent(r.Errors, r.Requests)
				if r.HasLatency {
					p50, p95 = formatDuration(r.P50), formatDuration(r.P95)
				}
			}
			up := fmt.Sprintf("%d/%d", r.Up, r.Instances)
			fmt.Fprintf(&b, rowFormat, truncate(r.Name, nameWidth), truncate(up, 9), rate, errPct, p50, p95)
		}
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("cannot write frame: %w", err)
	}
	return nil
}

// header is the first line: server, environment, window and time. The
// server address gives way when the line is too long.
func header(f Frame) string {
	rest := ""
	if f.Env != "" {
		rest += "  env " + truncate(f.Env, 16)
	}
	rest += "  window " + formatWindow(f.Window) + "  " + f.Time.Format("2006-01-02 15:04:05 MST")
	const prefix = "telltale "
	room := lineWidth - utf8.RuneCountInString(prefix) - utf8.RuneCountInString(rest)
	return truncate(prefix+truncate(f.Server, max(room, 10))+rest, lineWidth)
}

// totals is the second line: services, instances up, request rate and error
// percentage over all rows.
func totals(rows []Row) string {
	var up, instances int
	var requests, errors int64
	var rate float64
	for _, r := range rows {
		up, instances = up+r.Up, instances+r.Instances
		requests, errors, rate = requests+r.Requests, errors+r.Errors, rate+r.Rate
	}
	s := fmt.Sprintf("%d service%s  %d/%d instance%s up", len(rows), plural(len(rows)), up, instances, plural(instances))
	if requests == 0 {
		s += "  no requests"
	} else {
		s += "  " + formatRate(rate) + "  " + formatPercent(errors, requests) + " errors"
	}
	return truncate(s, lineWidth)
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// truncate cuts s to n runes, the last one an ellipsis when it cuts.
// Control characters, which would move the cursor, become '?'.
func truncate(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return '?'
		}
		return r
	}, strings.ToValidUTF8(s, "?"))
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	rs := []rune(s)
	return string(rs[:n-1]) + "…"
}

// wrap breaks s into lines of at most n runes at spaces, so that a long
// error message stays readable; a word longer than a line is cut.
func wrap(s string, n int) string {
	var b strings.Builder
	line := 0
	for _, word := range strings.Fields(s) {
		word = truncate(word, n)
		w := utf8.RuneCountInString(word)
		switch {
		case line == 0:
		case line+1+w > n:
			b.WriteByte('\n')
			line = 0
		default:
			b.WriteByte(' ')
			line++
		}
		b.WriteString(word)
		line += w
	}
	b.WriteByte('\n')
	return b.String()
}

// formatWindow writes a duration without the zero parts that
// time.Duration.String keeps: 1m, 1h30m, 90s.
func formatWindow(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// formatRate writes requests per second with at most three significant
// digits and a k, M or G suffix: 0.25/s, 12.5/s, 1.2k/s.
func formatRate(r float64) string {
	switch {
	case math.IsNaN(r) || r <= 0:
		return "0/s"
	case r < 0.005:
		return "<0.01/s"
	}
	v, unit := r, ""
	for _, u := range []string{"k", "M", "G"} {
		if v < 999.5 {
			break
		}
		v, unit = v/1000, u
	}
	if v >= 999.5 {
		return ">999G/s"
	}
	decimals := 0
	switch {
	case unit == "" && v < 9.995:
		decimals = 2
	case unit == "" && v < 99.95, unit != "" && v < 9.95:
		decimals = 1
	}
	s := strconv.FormatFloat(v, 'f', decimals, 64)
	if decimals > 0 {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s + unit + "/s"
}

// formatPercent writes errors/requests as a percentage with one decimal,
// never rounding a failure to 0% or a success to 100%.
func formatPercent(errors, requests int64) string {
	p := 100 * float64(errors) / float64(requests)
	switch {
	case errors <= 0:
		return "0%"
	case errors >= requests:
		return "100%"
	case p < 0.05:
		return "<0.1%"
	case p >= 99.95:
		return ">99.9%"
	}
	return strconv.FormatFloat(p, 'f', 1, 64) + "%"
}

// formatDuration writes a call time with three significant digits: 850µs,
// 12.3ms, 1.20s.
func formatDuration(d time.Duration) string {
	us := float64(d) / 1e3
	if us < 999.5 {
		return strconv.FormatFloat(us, 'f', 0, 64) + "µs"
	}
	if ms := us / 1e3; ms < 999.5 {
		return sig3(ms) + "ms"
	}
	s := us / 1e6
	switch {
	case s < 999.5:
		return sig3(s) + "s"
	case s < 9_999_999.5: // 115 days
		return strconv.FormatFloat(s, 'f', 0, 64) + "s"
	}
	return ">9999999s"
}

// sig3 writes v, at least 1 and below 999.5, with three significant digits.
func sig3(v float64) string {
	switch {
	case v < 9.995:
		return strconv.FormatFloat(v, 'f', 2, 64)
	case v < 99.95:
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
	return strconv.FormatFloat(v, 'f', 0, 64)
}
