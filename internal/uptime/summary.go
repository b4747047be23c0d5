package uptime

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"time"

	"github.com/fibinc/telltale/internal/config"
	"github.com/fibinc/telltale/internal/state"
)

// Summary is what listings show of a check: its uptime over the report
// presets and its status bars.
type Summary struct {
	Check  string        `json:"check"`
	At     time.Time     `json:"at"`     // when it was computed
	Ranges []RangeUptime `json:"ranges"` // 24h, 7d, 30d, 90d
	Days   []Bucket      `json:"days"`   // 90 UTC days, the last one today (so far)
	Hours  []Bucket      `json:"hours"`  // the last 24 hours, by clock hour
}

// RangeUptime is a check's uptime over one preset range.
type RangeUptime struct {
	Range   string        `json:"range"`
	HasData bool          `json:"has_data"`
	Uptime  float64       `json:"uptime_pct"`
	P50     time.Duration `json:"p50_ns"`
	P95     time.Duration `json:"p95_ns"`
}

// Uptime returns the preset's figures (zero if it is not one).
func (s *Summary) Uptime(preset string) RangeUptime {
	for _, r := range s.Ranges {
		if r.Range == preset {
			return r
		}
	}
	return RangeUptime{Range: preset}
}

// summaryTTL is how long a Summary is reused: listings are read often and
// a 90-day report of a 30 s check is a quarter of a million results, while
// a minute-old uptime figure is as good as a new one (the status and the
// latest result are always live).
const summaryTTL = time.Minute

// Summary returns the check's summary, computed at most summaryTTL ago.
func (r *Runner) Summary(ctx context.Context, name string) (*Summary, error) {
	c, maint, ok := r.config(name)
	if !ok {
		return nil, fmt.Errorf("check %q: %w", name, ErrUnknownCheck)
	}
	now := r.opt.Now()
	r.mu.Lock()
	if s, ok := r.summaries[name]; ok && now.Sub(s.sum.At) < summaryTTL && now.Sub(s.sum.At) >= 0 && s.cfg == c {
		r.mu.Unlock()
		return s.sum, nil
	}
	r.mu.Unlock()

	iv := c.cfg.Interval.D()
	today := now.UTC().Truncate(24 * time.Hour)
	barFrom := today.AddDate(0, 0, -89)
	from90, _, _ := RangeOf("90d", now)
	from := minTime(barFrom, from90)
	var results []state.CheckResult
	if r.opt.Store != nil {
		var err error
		results, err = r.opt.Store.CheckResults(ctx, name, from.Add(-2*iv), now, 0)
		if err != nil {
			return nil, fmt.Errorf("cannot summarise check %s: %w", name, err)
		}
	}
	// Reports over sub-ranges take the results from two intervals before
	// their start.
	since := func(t time.Time) []state.CheckResult {
		i, _ := slices.BinarySearchFunc(results, t.Add(-2*iv), func(x state.CheckResult, t time.Time) int { return x.At.Compare(t) })
		return results[i:]
	}
	s := &Summary{Check: name, At: now}
	for _, preset := range Ranges {
		f, t, _ := RangeOf(preset, now)
		rep := ComputeReport(name, iv, f, t, since(f), maint)
		s.Ranges = append(s.Ranges, RangeUptime{Range: preset, HasData: rep.HasData, Uptime: rep.Uptime, P50: rep.P50, P95: rep.P95})
		if preset == "24h" {
			hourFrom := now.UTC().Truncate(time.Hour).Add(-23 * time.Hour)
			s.Hours = ComputeReport(name, iv, hourFrom, now, since(hourFrom), maint).Hours
		}
	}
	s.Days = ComputeReport(name, iv, barFrom, now, since(barFrom), maint).Days
	r.mu.Lock()
	r.summaries[name] = cachedSummary{sum: s, cfg: c}
	r.mu.Unlock()
	return s, nil
}

type cachedSummary struct {
	sum *Summary
	cfg *compiled // the configuration it was computed for
}

// Results returns a configured check's stored results with from <= At <
// to, ascending; with limit > 0 the latest limit of them.
func (r *Runner) Results(ctx context.Context, name string, from, to time.Time, limit int) ([]state.CheckResult, error) {
	if _, _, ok := r.config(name); !ok {
		return nil, fmt.Errorf("check %q: %w", name, ErrUnknownCheck)
	}
	if r.opt.Store == nil {
		return nil, nil
	}
	return r.opt.Store.CheckResults(ctx, name, from, to, limit)
}

// Target is what a check watches, for listings: the URL, the address, the
// DNS query, or the push path.
func Target(c config.Check) string {
	switch c.Type {
	case config.CheckTCP, config.CheckTLS:
		return c.Address
	case config.CheckDNS:
		rec := c.Record
		if rec == "" {
			rec = "A"
		}
		s := c.Query + " " + rec
		if c.Address != "" {
			s += " @" + c.Address
		}
		return s
	case config.CheckPush:
		return "/api/v1/push/" + url.PathEscape(c.Name)
	}
	return c.URL
}
