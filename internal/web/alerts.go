package web

import (
	"cmp"
	"context"
	"fmt"
	"html/template"
	"maps"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fibinc/telltale/internal/alert"
	"github.com/fibinc/telltale/internal/state"
)

// The alert rules (/alerts), one rule (/alerts/{name}) and the firing
// alerts on the services board, read from the alert evaluator.

// AlertReader reads the alert evaluator's rules, instances and history;
// *alert.Evaluator implements it.
type AlertReader interface {
	Rules() []alert.RuleStatus
	Rule(name string) (alert.RuleStatus, bool)
	History(ctx context.Context, name string, limit int) ([]state.AlertTransition, error)
	Alerts() []alert.ActiveAlert
}

var _ AlertReader = (*alert.Evaluator)(nil)

// historyLimit is the transitions a rule's page lists.
const historyLimit = 100

// alertsSnippet is the configuration shown where alerting is not set up.
const alertsSnippet = `rules:
  - name: checkout-errors
    service: {name: checkout, measure: error_rate}
    condition: "> 5"        # percent
    window: 5m
    for: 2m
    labels: {severity: page}`

// stateRank orders rules and instances worst first.
var stateRank = map[alert.State]int{alert.StateFiring: 0, alert.StatePending: 1, alert.StateNoData: 2, alert.StateOK: 3}

func (s *server) alertRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /alerts", s.page("alerts", s.alerts))
	mux.HandleFunc("GET /alerts/{name}", s.page("alert", s.alertRule))
}

// moment is a time as the pages show it: how long ago, with the full time
// on hover; zero shows nothing.
type moment struct {
	At, Ago, Full string
}

func newMoment(now, t time.Time) moment {
	if t.IsZero() {
		return moment{}
	}
	t = t.UTC()
	return moment{At: t.Format(time.RFC3339), Ago: fmtAgo(now, t), Full: t.Format("2006-01-02 15:04:05 MST")}
}

type labelPair struct{ Key, Value string }

// labelList sorts labels, leaving out those of skip with the same value:
// under a rule, its name and its own labels say nothing.
func labelList(m, skip map[string]string) []labelPair {
	var out []labelPair
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if v, ok := skip[k]; ok && v == m[k] {
			continue
		}
		out = append(out, labelPair{k, m[k]})
	}
	return out
}

// ruleLabels are the labels every instance of a rule carries.
func ruleLabels(rs alert.RuleStatus) map[string]string {
	m := maps.Clone(rs.Labels)
	if m == nil {
		m = map[string]string{}
	}
	m["alertname"] = rs.Name
	return m
}

// fmtValue writes a datapoint's value briefly.
func fmtValue(v *float64) string {
	if v == nil || math.IsNaN(*v) {
		return "–"
	}
	if *v == math.Trunc(*v) && math.Abs(*v) < 1e15 {
		return strconv.FormatFloat(*v, 'f', -1, 64)
	}
	return strconv.FormatFloat(*v, 'g', 4, 64)
}

// fmtDur writes a duration without trailing zero units ("5m", not
// "5m0s"); zero is "0".
func fmtDur(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

func alertPath(f *frame, name string) string {
	return link(*f, "/alerts/"+url.PathEscape(name))
}

// alertsPage is /alerts.
type alertsPage struct {
	Configured bool
	Snippet    string
	Rules      []ruleRow
	Counts     map[string]int // rules per state
}

// ruleRow is a rule in the list, with its worst instance's value and
// since, and its firing and pending instances.
type ruleRow struct {
	Name, URL, State       string
	Source, Query          string
	Condition, Value       string
	Since, Evaluated       moment
	Error                  string
	Instances              int
	Active                 []instanceRow
	Datapoints, ToAlarm    int
	Every, Window, For     string
	KeepFiringFor, Missing string
}

type instanceRow struct {
	Labels []labelPair
	State  string
	Since  moment
	Value  string
	Reason string
	Points []pointCell
}

// pointCell is one datapoint in an instance's strip.
type pointCell struct{ Outcome, Title string }

func newRuleRow(f *frame, rs alert.RuleStatus) ruleRow {
	r := ruleRow{
		Name: rs.Name, URL: alertPath(f, rs.Name), State: string(rs.State), Source: rs.Source, Query: rs.Query,
		Condition: rs.Condition, Value: "–", Evaluated: newMoment(f.Now, rs.LastEvaluation), Error: rs.LastError,
		Instances: len(rs.Instances), Datapoints: rs.Datapoints, ToAlarm: rs.ToAlarm,
		Every: fmtDur(rs.Every.D()), Window: fmtDur(rs.Window.D()), For: fmtDur(rs.For.D()),
		KeepFiringFor: fmtDur(rs.KeepFiringFor.D()), Missing: rs.MissingData,
	}
	skip := ruleLabels(rs)
	worst := -1
	for i, in := range rs.Instances {
		if in.State == rs.State && worst < 0 {
			worst = i
		}
		if in.State == alert.StateFiring || in.State == alert.StatePending {
			r.Active = append(r.Active, newInstanceRow(f, in, skip))
		}
	}
	if worst >= 0 {
		in := rs.Instances[worst]
		r.Value, r.Since = fmtValue(in.Value), newMoment(f.Now, in.Since)
	}
	slices.SortStableFunc(r.Active, func(a, b instanceRow) int {
		return cmp.Compare(stateRank[alert.State(a.State)], stateRank[alert.State(b.State)])
	})
	return r
}

func newInstanceRow(f *frame, in alert.InstanceStatus, skip map[string]string) instanceRow {
	row := instanceRow{Labels: labelList(in.Labels, skip), State: string(in.State), Since: newMoment(f.Now, in.Since), Value: fmtValue(in.Value), Reason: in.Reason}
	for _, d := range in.Datapoints {
		title := d.At.UTC().Format(time.TimeOnly) + " " + string(d.Outcome)
		if d.Outcome != alert.OutcomeMissing {
			title += " " + fmtValue(&d.Value)
		}
		row.Points = append(row.Points, pointCell{Outcome: string(d.Outcome), Title: title})
	}
	return row
}

func (s *server) alerts(r *http.Request, f *frame) (any, error) {
	f.Title, f.Nav = "Alerts", "alerts"
	p := alertsPage{Configured: s.opt.Alerts != nil, Snippet: alertsSnippet, Counts: map[string]int{}}
	if s.opt.Alerts == nil {
		return p, nil
	}
	for _, rs := range s.opt.Alerts.Rules() {
		p.Rules = append(p.Rules, newRuleRow(f, rs))
		p.Counts[string(rs.State)]++
	}
	// Worst first, then by name: the page is read top down.
	slices.SortStableFunc(p.Rules, func(a, b ruleRow) int {
		return cmp.Or(cmp.Compare(stateRank[alert.State(a.State)], stateRank[alert.State(b.State)]), cmp.Compare(a.Name, b.Name))
	})
	return p, nil
}

// rulePage is /alerts/{name}.
type rulePage struct {
	ruleRow
	Labels, Annotations []labelPair
	Instances           []instanceRow
	Chart               template.HTML
	History             []historyRow
	HistoryError        string
}

type historyRow struct {
	At       moment
	Labels   []labelPair
	From, To string
	Value    string
	Reason   string
}

func (s *server) alertRule(r *http.Request, f *frame) (any, error) {
	name := r.PathValue("name")
	f.Title, f.Nav = name, "alerts"
	if s.opt.Alerts == nil {
		return nil, &notFoundError{fmt.Sprintf("There is no alert rule %q: alerting is not configured (see the alerts page).", name)}
	}
	rs, ok := s.opt.Alerts.Rule(name)
	if !ok {
		return nil, &notFoundError{fmt.Sprintf("There is no alert rule %q. The alerts page lists every rule.", name)}
	}
	p := rulePage{ruleRow: newRuleRow(f, rs), Labels: labelList(rs.Labels, nil), Annotations: labelList(rs.Annotations, nil), Chart: ruleChart(rs)}
	skip := ruleLabels(rs)
	for _, in := range rs.Instances {
		p.Instances = append(p.Instances, newInstanceRow(f, in, skip))
	}
	slices.SortStableFunc(p.Instances, func(a, b instanceRow) int {
		return cmp.Compare(stateRank[alert.State(a.State)], stateRank[alert.State(b.State)])
	})
	hist, err := s.opt.Alerts.History(r.Context(), name, historyLimit)
	if err != nil {
		s.log.Error("cannot read alert history", "rule", name, "err", err)
		p.HistoryError = "Telltale could not read the history of this rule; its log says why."
	}
	for _, t := range hist {
		h := historyRow{At: newMoment(f.Now, t.At), Labels: labelList(t.Labels, skip), From: t.From, To: t.To, Value: "–", Reason: t.Reason}
		if h.From == "" {
			h.From = "–"
		}
		if t.To != string(alert.StateNoData) {
			h.Value = fmtValue(&t.Value)
		}
		p.History = append(p.History, h)
	}
	return p, nil
}

// ruleChart draws the recent datapoints of a rule's instances (the first
// six) with the threshold dashed; nothing without two evaluations with a
// value.
func ruleChart(rs alert.RuleStatus) template.HTML {
	var first, last time.Time
	c := Chart{Label: "recent datapoints of rule " + rs.Name}
	for i, in := range rs.Instances {
		if i == 6 {
			break
		}
		var names []string
		for _, l := range labelList(in.Labels, ruleLabels(rs)) {
			names = append(names, l.Key+"="+l.Value)
		}
		cs := ChartSeries{Name: cmp.Or(strings.Join(names, ", "), rs.Name), Class: fmt.Sprintf("s%d", i)}
		for _, d := range in.Datapoints {
			if d.Outcome == alert.OutcomeMissing {
				cs.Points = append(cs.Points, ChartPoint{T: d.At, V: math.NaN()})
				continue
			}
			cs.Points = append(cs.Points, ChartPoint{T: d.At, V: d.Value})
			if first.IsZero() || d.At.Before(first) {
				first = d.At
			}
			if d.At.After(last) {
				last = d.At
			}
		}
		c.Series = append(c.Series, cs)
	}
	if !first.Before(last) {
		return ""
	}
	if rs.Threshold != nil {
		th := *rs.Threshold
		c.Series = append(c.Series, ChartSeries{Name: "threshold " + rs.Condition, Class: "prev", Points: []ChartPoint{{first, th}, {last, th}}})
	}
	c.From, c.To = first, last
	return c.SVG()
}

// firingAlert is a firing alert on the services board.
type firingAlert struct {
	Rule, URL string
	Labels    []labelPair
	Since     moment
}

// firingAlerts lists the firing alerts for the board; none without an
// evaluator.
func (s *server) firingAlerts(f *frame) []firingAlert {
	if s.opt.Alerts == nil {
		return nil
	}
	var out []firingAlert
	for _, a := range s.opt.Alerts.Alerts() {
		if a.State != alert.StateFiring {
			continue
		}
		out = append(out, firingAlert{Rule: a.Rule, URL: alertPath(f, a.Rule), Labels: labelList(a.Labels, map[string]string{"alertname": a.Rule}), Since: newMoment(f.Now, a.StartsAt)})
	}
	return out
}
