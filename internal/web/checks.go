package web

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/fibinc/telltale/internal/config"
	"github.com/fibinc/telltale/internal/query"
	"github.com/fibinc/telltale/internal/state"
	"github.com/fibinc/telltale/internal/uptime"
)

// UptimeReader is what the checks pages read; *uptime.Runner satisfies it.
type UptimeReader interface {
	Checks() []uptime.CheckStatus
	Check(name string) (uptime.CheckStatus, bool)
	Summary(ctx context.Context, name string) (*uptime.Summary, error)
	Report(ctx context.Context, name string, from, to time.Time) (*uptime.Report, error)
	Results(ctx context.Context, name string, from, to time.Time, limit int) ([]state.CheckResult, error)
}

var _ UptimeReader = (*uptime.Runner)(nil)

func (s *server) checkRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /checks", s.page("checks", s.checks))
	mux.HandleFunc("GET /checks/{name}", s.page("check", s.check))
}

// checksSnippet is the empty state: how to configure checks.
const checksSnippet = `checks:
  - name: api-health
    url: https://api.example.com/healthz
    interval: 30s
    conditions: ["[STATUS] == 200", "[RESPONSE_TIME] < 500"]
  - name: nightly-backup
    type: push
    interval: 24h
    grace: 30m
    token: s3cret

# telltale serve --config telltale.yaml`

type checksPage struct {
	Configured bool
	Snippet    string
	Bar        string // 24h, 7d, 30d, 90d
	BarOptions []barOption
	Checks     []checkRow
}

type barOption struct {
	Value, Label, Href string
	Current            bool
}

type checkRow struct {
	Name, Type, Target, Status string
	Href                       string
	Uptime                     string // over the bar's range
	P95                        string // last 24 h
	LastChecked                string
	LastAt                     time.Time
	Bar                        statusBar
}

// statusBar is a row of cells, one per day or hour, drawn as SVG.
type statusBar struct {
	Width int
	Cells []barCell
}

type barCell struct {
	X, W  int
	Class string // up, degraded, down, maint, nodata
	Title string
}

var barRanges = []barOption{{Value: "24h", Label: "24 hours"}, {Value: "7d", Label: "7 days"}, {Value: "30d", Label: "30 days"}, {Value: "90d", Label: "90 days"}}

func barRange(r *http.Request, name string) (string, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return "90d", nil
	}
	for _, b := range barRanges {
		if b.Value == v {
			return v, nil
		}
	}
	return "", &userError{fmt.Sprintf("unknown %s %q: want 24h, 7d, 30d or 90d", name, v)}
}

func (s *server) checks(r *http.Request, f *frame) (any, error) {
	f.Title, f.Nav = "Checks", "checks"
	page := &checksPage{Snippet: checksSnippet}
	bar, err := barRange(r, "bar")
	if err != nil {
		return nil, err
	}
	page.Bar = bar
	for _, b := range barRanges {
		b.Current = b.Value == bar
		b.Href = link(*f, "/checks", "bar", b.Value)
		page.BarOptions = append(page.BarOptions, b)
	}
	if s.opt.Uptime == nil {
		return page, nil
	}
	page.Configured = true
	for _, st := range s.opt.Uptime.Checks() {
		sum, err := s.opt.Uptime.Summary(r.Context(), st.Check.Name)
		if err != nil {
			return nil, err
		}
		row := checkRow{
			Name: st.Check.Name, Type: st.Check.Type, Target: uptime.Target(st.Check), Status: st.Status,
			Href: link(*f, "/checks/"+url.PathEscape(st.Check.Name)), Uptime: fmtUptime(sum.Uptime(bar)),
			P95: "–", LastChecked: "never", LastAt: st.Last.At,
		}
		if u := sum.Uptime("24h"); u.P95 > 0 {
			row.P95 = fmtMs(float64(u.P95) / float64(time.Millisecond))
		}
		if !st.Last.At.IsZero() {
			row.LastChecked = fmtAgo(f.Now, st.Last.At)
		}
		row.Bar = barOf(sum, bar)
		page.Checks = append(page.Checks, row)
	}
	return page, nil
}

// barOf picks the summary's cells for a range: hours for 24h, the last n
// days otherwise.
func barOf(sum *uptime.Summary, rng string) statusBar {
	if rng == "24h" {
		return newBar(sum.Hours, true)
	}
	n := map[string]int{"7d": 7, "30d": 30, "90d": 90}[rng]
	days := sum.Days
	if len(days) > n {
		days = days[len(days)-n:]
	}
	return newBar(days, false)
}

// Bar geometry: the SVG scales to its box.
const (
	barGap   = 2
	barCellW = 8
)

func newBar(bs []uptime.Bucket, hourly bool) statusBar {
	b := statusBar{Width: len(bs)*(barCellW+barGap) - barGap}
	for i, x := range bs {
		b.Cells = append(b.Cells, barCell{X: i * (barCellW + barGap), W: barCellW, Class: cellClass(x), Title: cellTitle(x, hourly)})
	}
	return b
}

func cellClass(b uptime.Bucket) string {
	switch {
	case !b.HasData && b.Seconds.Maintenance > 0:
		return "maint"
	case !b.HasData:
		return "nodata"
	case b.Uptime >= 99.9:
		return "up"
	case b.Uptime >= 99:
		return "degraded"
	}
	return "down"
}

// cellTitle is the tooltip: "2026-11-20: 99.95%, 43 s down".
func cellTitle(b uptime.Bucket, hourly bool) string {
	when := b.Start.Format("2006-01-02")
	if hourly {
		when = b.Start.Format("2006-01-02 15:04")
	}
	if !b.HasData {
		if b.Seconds.Maintenance > 0 {
			return when + ": maintenance"
		}
		return when + ": no data"
	}
	s := when + ": " + fmtUptimePct(b.Uptime)
	if b.Seconds.Down > 0 {
		s += ", " + fmtSeconds(b.Seconds.Down) + " down"
	}
	if b.Seconds.Maintenance > 0 {
		s += ", " + fmtSeconds(b.Seconds.Maintenance) + " maintenance"
	}
	return s
}

func fmtUptime(u uptime.RangeUptime) string {
	if !u.HasData {
		return "–"
	}
	return fmtUptimePct(u.Uptime)
}

// fmtUptimePct keeps the digits that matter near 100: 99.95%, never a
// rounded-up 100% for a check that was down.
func fmtUptimePct(p float64) string {
	if p >= 100 {
		return "100%"
	}
	v := math.Floor(p*100) / 100
	return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.2f", v), "0"), ".") + "%"
}

// fmtSeconds prints a duration of seconds as "43 s", "12 min", "3.5 h".
func fmtSeconds(sec float64) string {
	switch {
	case sec < 120:
		return fmt.Sprintf("%.0f s", sec)
	case sec < 7200:
		return fmt.Sprintf("%.0f min", sec/60)
	case sec < 48*3600:
		return fmt.Sprintf("%.1f h", sec/3600)
	}
	return fmt.Sprintf("%.1f d", sec/86400)
}

type checkPage struct {
	Check     uptime.CheckStatus
	Target    string
	Range     string
	Ranges    []barOption
	Uptimes   []uptimeCell
	Report    *uptime.Report
	Summary   string // uptime of the range
	P50, P95  string // response times of the range
	Chart     Chart
	Bar       statusBar
	Downtimes []downtimeRow
	Results   []resultRow
	Def       []defRow
	PushURL   string
	Curl      string
}

type uptimeCell struct{ Range, Value string }

type downtimeRow struct {
	Start, End, Duration, Error string
	Ongoing                     bool
}

type resultRow struct {
	At, Ago, Duration, Error, Source, TraceID, TraceHref string
	OK                                                   bool
	Status, Attempts                                     int
	Failed                                               []string // failed conditions with actual values
}

type defRow struct{ Key, Value string }

const pageResults = 50

func (s *server) check(r *http.Request, f *frame) (any, error) {
	name := r.PathValue("name")
	f.Title, f.Nav = name, "checks"
	if s.opt.Uptime == nil {
		return nil, fmt.Errorf("%w: uptime checks are not configured", query.ErrNotFound)
	}
	st, ok := s.opt.Uptime.Check(name)
	if !ok {
		return nil, fmt.Errorf("%w: no check named %q", query.ErrNotFound, name)
	}
	rng, err := barRange(r, "range")
	if err != nil {
		return nil, err
	}
	if r.URL.Query().Get("range") == "" {
		rng = "24h"
	}
	page := &checkPage{Check: st, Target: uptime.Target(st.Check), Range: rng}
	for _, b := range barRanges {
		b.Current = b.Value == rng
		b.Href = link(*f, "/checks/"+url.PathEscape(name), "range", b.Value)
		page.Ranges = append(page.Ranges, b)
	}
	sum, err := s.opt.Uptime.Summary(r.Context(), name)
	if err != nil {
		return nil, err
	}
	for _, u := range sum.Ranges {
		page.Uptimes = append(page.Uptimes, uptimeCell{u.Range, fmtUptime(u)})
	}
	from, to, _ := uptime.RangeOf(rng, f.Now)
	rep, err := s.opt.Uptime.Report(r.Context(), name, from, to)
	if err != nil {
		if errors.Is(err, uptime.ErrUnknownCheck) {
			return nil, fmt.Errorf("%w: %w", query.ErrNotFound, err)
		}
		return nil, err
	}
	page.Report = rep
	page.Summary = fmtUptime(uptime.RangeUptime{HasData: rep.HasData, Uptime: rep.Uptime})
	if rep.P95 > 0 {
		page.P50, page.P95 = fmtMs(float64(rep.P50)/float64(time.Millisecond)), fmtMs(float64(rep.P95)/float64(time.Millisecond))
	}
	buckets, step := rep.Days, 24*time.Hour
	if rng == "24h" {
		buckets, step = rep.Hours, time.Hour
		page.Bar = newBar(rep.Hours, true)
	} else {
		page.Bar = barOf(sum, rng)
	}
	p50 := ChartSeries{Name: "p50", Class: "s0"}
	p95 := ChartSeries{Name: "p95", Class: "s1"}
	for _, b := range buckets {
		v50, v95 := math.NaN(), math.NaN()
		if b.P50 > 0 {
			v50, v95 = float64(b.P50)/float64(time.Millisecond), float64(b.P95)/float64(time.Millisecond)
		}
		p50.Points = append(p50.Points, ChartPoint{T: b.Start, V: v50})
		p95.Points = append(p95.Points, ChartPoint{T: b.Start, V: v95})
	}
	page.Chart = Chart{From: from, To: to, Step: step, Series: []ChartSeries{p50, p95}, Unit: "ms", Label: "Response time p50 and p95 of " + name}
	for _, d := range slices.Backward(rep.Downtimes) {
		page.Downtimes = append(page.Downtimes, downtimeRow{
			Start: d.Start.Format("2006-01-02 15:04:05"), End: d.End.Format("2006-01-02 15:04:05"),
			Duration: fmtSeconds(d.Duration.Seconds()), Error: d.Error, Ongoing: d.Ongoing,
		})
	}
	results, err := s.opt.Uptime.Results(r.Context(), name, from, to, pageResults)
	if err != nil {
		return nil, err
	}
	for _, x := range slices.Backward(results) {
		row := resultRow{
			At: x.At.UTC().Format("2006-01-02 15:04:05"), Ago: fmtAgo(f.Now, x.At), OK: x.OK, Status: x.Status,
			Duration: fmtMs(float64(x.Duration) / float64(time.Millisecond)), Error: x.Error, Source: x.Source,
			Attempts: x.Attempts, TraceID: x.TraceID,
		}
		if x.TraceID != "" {
			row.TraceHref = "/requests/" + url.PathEscape(x.TraceID)
		}
		for _, c := range x.Conditions {
			if !c.OK {
				row.Failed = append(row.Failed, c.Actual)
			}
		}
		if len(row.Failed) > 0 && strings.HasPrefix(row.Error, "failed: ") {
			row.Error = "" // the conditions say it
		}
		page.Results = append(page.Results, row)
	}
	page.Def = definition(st.Check)
	if st.Check.Type == config.CheckPush {
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		page.PushURL = scheme + "://" + r.Host + uptime.Target(st.Check)
		auth := ""
		if st.Check.Token != "" {
			auth = `-H "Authorization: Bearer $TOKEN" `
		}
		page.Curl = "curl -fsS " + auth + `"` + page.PushURL + `?status=up&duration_ms=1200"`
	}
	return page, nil
}

// definition lists a check's settings as its YAML would; the token is not
// shown.
func definition(c config.Check) []defRow {
	var out []defRow
	add := func(k, v string) {
		if v != "" {
			out = append(out, defRow{k, v})
		}
	}
	add("type", c.Type)
	add("url", c.URL)
	add("method", c.Method)
	add("address", c.Address)
	add("query", c.Query)
	add("record", c.Record)
	if c.Type != config.CheckPush {
		add("timeout", c.Timeout.D().String())
	}
	add("interval", c.Interval.D().String())
	if c.Type == config.CheckPush {
		add("grace", c.Grace.D().String())
	}
	if c.Retries > 0 {
		add("retries", fmt.Sprint(c.Retries))
		add("retry_interval", c.RetryInterval.D().String())
	}
	if c.Insecure {
		add("insecure", "true")
	}
	if c.FollowRedirects != nil && !*c.FollowRedirects {
		add("follow_redirects", "false")
	}
	for _, k := range sortedKeys(c.Headers) {
		add("header "+k, c.Headers[k])
	}
	for _, cond := range c.Conditions {
		add("condition", cond)
	}
	for _, k := range sortedKeys(c.Labels) {
		add("label "+k, c.Labels[k])
	}
	if c.Token != "" {
		add("token", "(set)")
	}
	return out
}
