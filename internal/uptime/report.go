package uptime

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fibinc/telltale/internal/config"
	"github.com/fibinc/telltale/internal/state"
)

// Report is a check's availability over a time range. Availability is
// time-weighted: each result owns the time until the next one, at most two
// intervals (a longer gap is unknown, not up); time in a maintenance window
// counts as maintenance whatever the results say. Uptime is up time over up
// plus down time.
type Report struct {
	Check    string        `json:"check"`
	From     time.Time     `json:"from"`
	To       time.Time     `json:"to"`
	Interval time.Duration `json:"interval_ns"`

	HasData bool    `json:"has_data"`   // some up or down time: Uptime means something
	Uptime  float64 `json:"uptime_pct"` // 0..100
	Seconds Seconds `json:"seconds"`

	Results  int `json:"results"`
	Failures int `json:"failures"`
	// Response times of the successful results.
	P50 time.Duration `json:"p50_ns"`
	P95 time.Duration `json:"p95_ns"`
	Avg time.Duration `json:"avg_ns"`

	Days      []Bucket   `json:"days"`            // UTC days
	Hours     []Bucket   `json:"hours,omitempty"` // for ranges up to 48 hours
	Downtimes []Downtime `json:"downtimes"`       // oldest first
}

// Seconds splits a time range by state.
type Seconds struct {
	Up          float64 `json:"up"`
	Down        float64 `json:"down"`
	Unknown     float64 `json:"unknown"`
	Maintenance float64 `json:"maintenance"`
}

// Bucket is one day (or hour) of a report.
type Bucket struct {
	Start   time.Time `json:"start"`
	End     time.Time `json:"end"`
	HasData bool      `json:"has_data"`
	Uptime  float64   `json:"uptime_pct"`
	Seconds Seconds   `json:"seconds"`
	// Response time percentiles of the successful results in the bucket.
	P50     time.Duration `json:"p50_ns"`
	P95     time.Duration `json:"p95_ns"`
	Results int           `json:"results"`
}

// Downtime is a period of continuous down time.
type Downtime struct {
	Start    time.Time     `json:"start"`
	End      time.Time     `json:"end"`
	Duration time.Duration `json:"duration_ns"`
	Error    string        `json:"error"`   // of the first failed result
	Ongoing  bool          `json:"ongoing"` // the latest result is still a failure
}

// Ranges are the report presets.
var Ranges = []string{"24h", "7d", "30d", "90d"}

// RangeOf returns the time range of a preset ending at now.
func RangeOf(preset string, now time.Time) (from, to time.Time, err error) {
	switch preset {
	case "24h":
		return now.Add(-24 * time.Hour), now, nil
	case "7d", "30d", "90d":
		d, _ := strconv.Atoi(strings.TrimSuffix(preset, "d"))
		return now.AddDate(0, 0, -d), now, nil
	}
	return time.Time{}, time.Time{}, fmt.Errorf("unknown range %q: want 24h, 7d, 30d or 90d", preset)
}

// ErrInvalidRange is returned (wrapped) for a range that ends before it starts.
var ErrInvalidRange = errors.New("invalid range")

// maxReportRange bounds a report: results are kept 100 days.
const maxReportRange = 400 * 24 * time.Hour

// Report computes a check's report over [from, to).
func (r *Runner) Report(ctx context.Context, name string, from, to time.Time) (*Report, error) {
	c, maint, ok := r.config(name)
	if !ok {
		return nil, fmt.Errorf("check %q: %w", name, ErrUnknownCheck)
	}
	if !from.Before(to) || to.Sub(from) > maxReportRange {
		return nil, fmt.Errorf("%w: from %s to %s (want from before to, at most 400 days)", ErrInvalidRange, from.Format(time.RFC3339), to.Format(time.RFC3339))
	}
	if r.opt.Store == nil {
		return ComputeReport(name, c.cfg.Interval.D(), from, to, nil, maint), nil
	}
	// The results before from that may still own time in the range.
	results, err := r.opt.Store.CheckResults(ctx, name, from.Add(-2*c.cfg.Interval.D()), to, 0)
	if err != nil {
		return nil, fmt.Errorf("cannot compute report of %s: %w", name, err)
	}
	return ComputeReport(name, c.cfg.Interval.D(), from, to, results, maint), nil
}

// segment is a time span in one state.
type segment struct {
	start, end time.Time
	kind       int // kindUp, kindDown, kindUnknown
	res        *state.CheckResult
}

const (
	kindUnknown = iota
	kindUp
	kindDown
	kindMaint
)

// ComputeReport computes a report from results sorted by At (those before
// from count for the time they own inside the range) and the maintenance
// windows that select the check.
func ComputeReport(name string, interval time.Duration, from, to time.Time, results []state.CheckResult, maint []config.Maintenance) *Report {
	from, to = from.UTC(), to.UTC()
	rep := &Report{Check: name, From: from, To: to, Interval: interval, Downtimes: []Downtime{}}
	if interval <= 0 {
		interval = time.Minute
	}
	rep.Days = buckets(from, to, 24*time.Hour)
	if to.Sub(from) <= 48*time.Hour {
		rep.Hours = buckets(from, to, time.Hour)
	}
	windows := maintenanceWindows(maint, from, to)

	var okDur []time.Duration
	dayDur := make([][]time.Duration, len(rep.Days))
	hourDur := make([][]time.Duration, len(rep.Hours))

	// The timeline: each result owns [At, min(next At, At + 2 intervals)).
	acc := accumulator{rep: rep, windows: windows}
	cur := from
	var down *Downtime
	for i := range results {
		res := &results[i]
		start := res.At
		end := start.Add(2 * interval)
		if i+1 < len(results) && results[i+1].At.Before(end) {
			end = results[i+1].At
		}
		if !start.Before(to) {
			break
		}
		if !end.After(from) {
			continue
		}
		if !start.Before(from) {
			rep.Results++
			d, h := bucketIndex(rep.Days, start), bucketIndex(rep.Hours, start)
			if d >= 0 {
				rep.Days[d].Results++
			}
			if h >= 0 {
				rep.Hours[h].Results++
			}
			if !res.OK {
				rep.Failures++
			} else {
				okDur = append(okDur, res.Duration)
				if d >= 0 {
					dayDur[d] = append(dayDur[d], res.Duration)
				}
				if h >= 0 {
					hourDur[h] = append(hourDur[h], res.Duration)
				}
			}
		}
		start = maxTime(start, from)
		end = minTime(end, to)
		if cur.Before(start) {
			acc.add(cur, start, kindUnknown)
		}
		kind := kindUp
		if !res.OK {
			kind = kindDown
		}
		acc.add(start, end, kind)
		cur = end
		// Downtime periods: touching down spans merge.
		if res.OK {
			down = nil
			continue
		}
		if down != nil && down.End.Equal(start) {
			down.End = end
		} else {
			rep.Downtimes = append(rep.Downtimes, Downtime{Start: start, End: end, Error: res.Error})
			down = &rep.Downtimes[len(rep.Downtimes)-1]
		}
	}
	if cur.Before(to) {
		acc.add(cur, to, kindUnknown)
	}
	for i := range rep.Downtimes {
		d := &rep.Downtimes[i]
		d.Duration = d.End.Sub(d.Start)
	}
	if n := len(rep.Downtimes); n > 0 && rep.Downtimes[n-1].End.Equal(to) {
		rep.Downtimes[n-1].Ongoing = true
	}

	rep.HasData, rep.Uptime = uptimeOf(rep.Seconds)
	rep.P50, rep.P95, rep.Avg = percentiles(okDur)
	fill := func(bs []Bucket, durs [][]time.Duration) {
		for i := range bs {
			bs[i].HasData, bs[i].Uptime = uptimeOf(bs[i].Seconds)
			bs[i].P50, bs[i].P95, _ = percentiles(durs[i])
		}
	}
	fill(rep.Days, dayDur)
	fill(rep.Hours, hourDur)
	return rep
}

func uptimeOf(s Seconds) (bool, float64) {
	known := s.Up + s.Down
	if known <= 0 {
		return false, 0
	}
	// Seconds are sums of float durations: snap their noise, so that no
	// downtime reads 100, not 100.00000000000001 (1e-9 % of 90 days is
	// 8 µs).
	u := 100 * s.Up / known
	if math.Abs(u-100) < 1e-9 {
		u = 100
	}
	return true, min(100, max(0, u))
}

// percentiles returns p50, p95 (nearest rank) and the mean; it sorts ds.
func percentiles(ds []time.Duration) (p50, p95, avg time.Duration) {
	if len(ds) == 0 {
		return 0, 0, 0
	}
	slices.Sort(ds)
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	rank := func(p float64) time.Duration {
		i := int(p*float64(len(ds))+0.999999999) - 1
		return ds[max(0, min(i, len(ds)-1))]
	}
	return rank(0.50), rank(0.95), sum / time.Duration(len(ds))
}

// buckets splits [from, to) at UTC multiples of step (days or hours).
func buckets(from, to time.Time, step time.Duration) []Bucket {
	var out []Bucket
	for s := from; s.Before(to); {
		e := s.Truncate(step).Add(step)
		if e.After(to) {
			e = to
		}
		out = append(out, Bucket{Start: s, End: e})
		s = e
	}
	return out
}

// bucketIndex finds the bucket holding t, or -1.
func bucketIndex(bs []Bucket, t time.Time) int {
	i, _ := slices.BinarySearchFunc(bs, t, func(b Bucket, t time.Time) int {
		if b.End.After(t) {
			return 1
		}
		return -1
	})
	if i < len(bs) && !t.Before(bs[i].Start) && t.Before(bs[i].End) {
		return i
	}
	return -1
}

// accumulator adds spans of time to the report's totals and buckets,
// splitting them at maintenance windows and bucket edges. Spans arrive in
// time order, so it walks the windows and buckets once.
type accumulator struct {
	rep     *Report
	windows []span
	wi      int // first window that may still matter
	day     int
	hour    int
}

type span struct{ start, end time.Time }

func (a *accumulator) add(start, end time.Time, kind int) {
	for start.Before(end) {
		for a.wi < len(a.windows) && !a.windows[a.wi].end.After(start) {
			a.wi++
		}
		piece, k := end, kind
		if a.wi < len(a.windows) {
			w := a.windows[a.wi]
			if !start.Before(w.start) {
				piece, k = minTime(end, w.end), kindMaint
			} else if w.start.Before(end) {
				piece = w.start
			}
		}
		a.put(start, piece, k)
		start = piece
	}
}

// put adds a span of one kind, split at bucket edges.
func (a *accumulator) put(start, end time.Time, kind int) {
	addTo(&a.rep.Seconds, end.Sub(start).Seconds(), kind)
	a.day = spread(a.rep.Days, a.day, start, end, kind)
	a.hour = spread(a.rep.Hours, a.hour, start, end, kind)
}

func spread(bs []Bucket, i int, start, end time.Time, kind int) int {
	for i < len(bs) && start.Before(end) {
		b := &bs[i]
		if !b.End.After(start) {
			i++
			continue
		}
		e := minTime(end, b.End)
		addTo(&b.Seconds, e.Sub(start).Seconds(), kind)
		start = e
	}
	return i
}

func addTo(s *Seconds, sec float64, kind int) {
	switch kind {
	case kindUp:
		s.Up += sec
	case kindDown:
		s.Down += sec
	case kindMaint:
		s.Maintenance += sec
	default:
		s.Unknown += sec
	}
}

// maintenanceWindows returns the windows of ms that overlap [from, to),
// merged and sorted. Recurring windows are expanded day by day in their
// time zone.
func maintenanceWindows(ms []config.Maintenance, from, to time.Time) []span {
	var out []span
	for _, m := range ms {
		if !m.From.IsZero() || !m.To.IsZero() {
			out = append(out, span{m.From, m.To})
			continue
		}
		hh, mm, ok := clock(m.Start)
		if !ok || m.Duration <= 0 {
			continue
		}
		loc := time.UTC
		if m.Timezone != "" {
			l, err := time.LoadLocation(m.Timezone)
			if err != nil {
				continue
			}
			loc = l
		}
		first := from.Add(-m.Duration.D()).In(loc)
		for d := time.Date(first.Year(), first.Month(), first.Day()-1, 0, 0, 0, 0, loc); d.Before(to); d = d.AddDate(0, 0, 1) {
			if !onWeekday(m.Weekdays, d.Weekday()) {
				continue
			}
			s := time.Date(d.Year(), d.Month(), d.Day(), hh, mm, 0, 0, loc)
			out = append(out, span{s, s.Add(m.Duration.D())})
		}
	}
	var merged []span
	slices.SortFunc(out, func(a, b span) int { return a.start.Compare(b.start) })
	for _, s := range out {
		s.start, s.end = maxTime(s.start, from), minTime(s.end, to)
		if !s.start.Before(s.end) {
			continue
		}
		if n := len(merged); n > 0 && !s.start.After(merged[n-1].end) {
			merged[n-1].end = maxTime(merged[n-1].end, s.end)
			continue
		}
		merged = append(merged, s)
	}
	return merged
}

// clock parses "HH:MM" as config.Maintenance.ActiveAt does.
func clock(s string) (hh, mm int, ok bool) {
	h, m, found := strings.Cut(s, ":")
	if !found || len(m) != 2 {
		return 0, 0, false
	}
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if err1 != nil || err2 != nil || hh < 0 || hh > 23 || mm < 0 || mm > 59 {
		return 0, 0, false
	}
	return hh, mm, true
}

func onWeekday(days []string, d time.Weekday) bool {
	if len(days) == 0 {
		return true
	}
	for _, w := range days {
		if strings.EqualFold(w, d.String()) || strings.EqualFold(w, d.String()[:3]) {
			return true
		}
	}
	return false
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
