package web

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fibinc/telltale/internal/grouping"
	"github.com/fibinc/telltale/internal/query"
	"github.com/fibinc/telltale/internal/state"
	"github.com/fibinc/telltale/internal/telemetry"
)

// errorQueries is what the errors pages read.
type errorQueries interface {
	Issues(ctx context.Context, q query.IssueQuery) (*query.IssueList, error)
	Issue(ctx context.Context, id int64, r query.TimeRange) (*query.IssueDetail, error)
	IssueEvents(ctx context.Context, id int64, r query.TimeRange, limit int) ([]query.EventSummary, error)
	IssueTrends(ctx context.Context, q query.IssueQuery, ids []int64, step time.Duration) (map[int64]query.Trend, error)
	Event(ctx context.Context, eventID string) (*query.Event, error)
}

const (
	issuesPerPage = 50
	// issueEventsShown is how many of an issue's latest events its page
	// lists; older ones are reached by narrowing the range.
	issueEventsShown = 50
	// Trend resolution: bars of a list sparkline and of the issue chart.
	sparkSteps = 30
	chartSteps = 60
	// maxFormBytes bounds the body of a status change: one short field.
	maxFormBytes = 1 << 12
)

func (s *server) errorRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /errors", s.page("errors", s.errorList))
	mux.HandleFunc("GET /errors/{id}", s.page("issue", s.issuePage))
	if s.opt.Status != nil {
		// Without an issue tracker there is nothing to change: the route
		// is left out, and a POST is answered 405 by the mux.
		mux.HandleFunc("POST /errors/{id}/status", s.setIssueStatus)
	}
}

// issueSorts maps the list's sort parameter to the query's.
var issueSorts = []struct{ Param, Query, Label string }{
	{"last_seen", "last_seen", "Last seen"},
	{"first_seen", "first_seen", "First seen"},
	{"events", "count", "Events"},
	{"users", "users", "Users"},
}

// issueStatusTabs are the list's status filters; "all" is every status.
var issueStatusTabs = []string{state.StatusUnresolved, state.StatusResolved, state.StatusIgnored, "all"}

// errorsPage is the issue list.
type errorsPage struct {
	frame     frame
	Status    string // unresolved, resolved, ignored or all
	Service   string
	Search    string
	Sort      string // a Param of issueSorts
	Page      int    // 1-based
	Services  []string
	Issues    []issueRow
	Total     int
	First     int // 1-based number of the first issue shown
	Last      int
	Prev      string // URL of the previous page, "" on the first
	Next      string
	Actions   bool // issues can be resolved and ignored
	IngestURL string
	DSN       string
}

// issueRow is one issue of the list.
type issueRow struct {
	query.IssueSummary
	Kind, Text string // the title split into exception type and message
	Spark      template.HTML
	URL        string
	Actions    []statusAction
}

// statusAction is a button that moves an issue to Status.
type statusAction struct{ Status, Label string }

// URL is the list's URL with the current filters and frame, changed by kv
// (key, value, ...; an empty value removes the key). Changing a filter
// goes back to the first page.
func (p errorsPage) URL(kv ...string) string {
	cur := map[string]string{"status": p.Status, "service": p.Service, "search": p.Search, "sort": p.Sort}
	if p.Page > 1 {
		cur["page"] = strconv.Itoa(p.Page)
	}
	var pairs []string
	for i := 0; i+1 < len(kv); i += 2 {
		if _, ok := cur[kv[i]]; !ok && kv[i] != "page" {
			pairs = append(pairs, kv[i], kv[i+1]) // a key of the frame, such as env
		} else {
			cur[kv[i]] = kv[i+1]
		}
		if kv[i] != "page" {
			delete(cur, "page")
		}
	}
	// Defaults stay out of links, so that equal lists have equal URLs.
	if cur["status"] == state.StatusUnresolved {
		cur["status"] = ""
	}
	if cur["sort"] == "last_seen" {
		cur["sort"] = ""
	}
	if cur["page"] == "1" {
		cur["page"] = ""
	}
	for _, k := range []string{"status", "service", "search", "sort", "page"} {
		pairs = append(pairs, k, cur[k])
	}
	return link(p.frame, "/errors", pairs...)
}

// ServiceURL links to a service's page.
func (p errorsPage) ServiceURL(name string) string { return serviceURL(p.frame, name) }

func serviceURL(f frame, name string) string { return link(f, "/services/"+url.PathEscape(name)) }

func requestURL(f frame, id string) string { return link(f, "/requests/"+url.PathEscape(id)) }

// Tabs are the status filters, in order.
func (p errorsPage) Tabs() []string { return issueStatusTabs }

// Sorts are the sort choices.
func (p errorsPage) Sorts() any { return issueSorts }

// Filtered reports whether a filter beyond the status narrows the list.
func (p errorsPage) Filtered() bool { return p.Service != "" || p.Search != "" || p.frame.Env != "" }

func (s *server) errorList(r *http.Request, f *frame) (any, error) {
	f.Title, f.Nav = "Errors", "errors"
	v := r.URL.Query()
	p := errorsPage{frame: *f, Status: cmp.Or(v.Get("status"), state.StatusUnresolved), Service: v.Get("service"),
		Search: strings.TrimSpace(v.Get("search")), Sort: cmp.Or(v.Get("sort"), "last_seen"), Page: 1,
		Actions: s.opt.Status != nil, IngestURL: s.opt.IngestURL, DSN: s.opt.DSN}
	q := query.IssueQuery{Range: f.Range, Environment: f.Env, Service: p.Service, Text: p.Search, Limit: issuesPerPage}
	switch p.Status {
	case "all":
		q.Statuses = []string{state.StatusUnresolved, state.StatusResolved, state.StatusIgnored}
	case state.StatusUnresolved, state.StatusResolved, state.StatusIgnored:
		q.Statuses = []string{p.Status}
	default:
		return nil, &userError{fmt.Sprintf("status %q is not one of unresolved, resolved, ignored or all", p.Status)}
	}
	i := slices.IndexFunc(issueSorts, func(s struct{ Param, Query, Label string }) bool { return s.Param == p.Sort })
	if i < 0 {
		return nil, &userError{fmt.Sprintf("sort %q is not one of last_seen, first_seen, events or users", p.Sort)}
	}
	q.Sort = issueSorts[i].Query
	if pg := v.Get("page"); pg != "" {
		n, err := strconv.Atoi(pg)
		if err != nil || n < 1 || n > 1_000_000 {
			return nil, &userError{fmt.Sprintf("page %q is not a page number", pg)}
		}
		p.Page = n
	}
	q.Offset = (p.Page - 1) * issuesPerPage

	ctx := r.Context()
	svcs, err := s.opt.Query.Services(ctx, f.Range)
	if err != nil {
		return nil, err
	}
	f.Envs = environments(svcs)
	for _, sv := range svcs {
		p.Services = append(p.Services, sv.Name)
	}
	list, err := s.opt.Query.Issues(ctx, q)
	if err != nil {
		return nil, err
	}
	ids := make([]int64, len(list.Issues))
	for i, iss := range list.Issues {
		ids[i] = iss.ID
	}
	trends, err := s.opt.Query.IssueTrends(ctx, q, ids, trendStep(f.Range, sparkSteps))
	if err != nil {
		return nil, err
	}
	for _, iss := range list.Issues {
		// An issue whose events come only from Sentry SDKs may belong to
		// a service that sent nothing else: it is a choice all the same.
		if !slices.Contains(p.Services, iss.Service) && iss.Service != "" {
			p.Services = append(p.Services, iss.Service)
		}
		row := issueRow{IssueSummary: iss, URL: link(*f, fmt.Sprintf("/errors/%d", iss.ID)), Actions: s.actions(iss.Status)}
		row.Kind, row.Text = splitTitle(iss.Issue)
		row.Spark = trendSpark(trimTrend(trends[iss.ID], f.Range.To))
		p.Issues = append(p.Issues, row)
	}
	if p.Service != "" && !slices.Contains(p.Services, p.Service) {
		p.Services = append(p.Services, p.Service)
	}
	slices.Sort(p.Services)
	p.Total = list.Total
	if len(p.Issues) > 0 {
		p.First, p.Last = q.Offset+1, q.Offset+len(p.Issues)
	}
	if p.Page > 1 {
		p.Prev = p.URL("page", strconv.Itoa(p.Page-1))
	}
	if q.Offset+len(p.Issues) < p.Total {
		p.Next = p.URL("page", strconv.Itoa(p.Page+1))
	}
	return p, nil
}

// actions are the status changes offered for an issue in status, none
// without an issue tracker.
func (s *server) actions(status string) []statusAction {
	switch {
	case s.opt.Status == nil:
		return nil
	case status == state.StatusUnresolved:
		return []statusAction{{state.StatusResolved, "Resolve"}, {state.StatusIgnored, "Ignore"}}
	default:
		return []statusAction{{state.StatusUnresolved, "Unresolve"}}
	}
}

// splitTitle splits an error issue's title, "type: message", so that the
// type can stand out; a message issue's title is all message.
func splitTitle(iss state.Issue) (kind, text string) {
	if iss.Type == grouping.TypeError {
		if k, t, ok := strings.Cut(iss.Title, ": "); ok && !strings.Contains(k, " ") {
			return k, t
		}
	}
	return "", iss.Title
}

// trendSteps are the steps a trend can take; each divides a day.
var trendSteps = []time.Duration{
	time.Second, 5 * time.Second, 10 * time.Second, 30 * time.Second, time.Minute, 2 * time.Minute, 5 * time.Minute,
	10 * time.Minute, 15 * time.Minute, 30 * time.Minute, time.Hour, 2 * time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour,
}

// trendStep is the shortest step that splits r into at most n steps.
func trendStep(r query.TimeRange, n int) time.Duration {
	for _, s := range trendSteps {
		if r.To.Sub(r.From) <= s*time.Duration(n) {
			return s
		}
	}
	return trendSteps[len(trendSteps)-1]
}

// trimTrend drops the steps that start at or after to: a trend's last
// step starts at its range's end when that is a whole step.
func trimTrend(tr query.Trend, to time.Time) query.Trend {
	step := time.Duration(tr.StepMs) * time.Millisecond
	for len(tr.Counts) > 0 && step > 0 && !tr.Start.Add(time.Duration(len(tr.Counts)-1)*step).Before(to) {
		tr.Counts = tr.Counts[:len(tr.Counts)-1]
	}
	return tr
}

// Issue sparkline size, in CSS pixels.
const (
	trendW = 100
	trendH = 24
)

// trendSpark draws a trend as bars, with the count and time of each bar
// in its title. It is built from numbers only.
func trendSpark(tr query.Trend) template.HTML {
	if len(tr.Counts) == 0 {
		return ""
	}
	top := slices.Max(tr.Counts)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="trend" viewBox="0 0 %d %d" width="%d" height="%d" role="img" aria-label="events over time">`, trendW, trendH, trendW, trendH)
	fmt.Fprintf(&b, `<line x1="0" x2="%d" y1="%d" y2="%d"/>`, trendW, trendH, trendH)
	w := float64(trendW) / float64(len(tr.Counts))
	step := time.Duration(tr.StepMs) * time.Millisecond
	for i, c := range tr.Counts {
		if c == 0 {
			continue
		}
		h := max(1.5, float64(c)/float64(top)*(trendH-2))
		fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f"><title>%s: %d</title></rect>`,
			float64(i)*w, trendH-h, max(w-0.5, 0.5), h, tr.Start.Add(time.Duration(i)*step).UTC().Format("Jan 2 15:04:05"), c)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// notFound is a 404 with a message of its own.
type notFound struct{ msg string }

func (e *notFound) Error() string        { return e.msg }
func (e *notFound) Is(target error) bool { return target == query.ErrNotFound }

// issueID reads an issue id from a path.
func issueID(s string) (int64, error) {
	id, err := strconv.ParseInt(strings.TrimPrefix(s, "#"), 10, 64)
	if err != nil || id <= 0 {
		return 0, &userError{fmt.Sprintf("%q is not an issue id: issue ids are positive numbers", s)}
	}
	return id, nil
}

// issuePage is one issue, with one of its events.
type issuePage struct {
	frame     frame
	Issue     *query.IssueDetail
	Kind      string // the title split as in the list
	Text      string
	Actions   []statusAction
	Chart     template.HTML
	Tags      []tagView
	Events    []query.EventSummary
	Event     *query.Event // nil when the issue has no stored event
	Latest    bool         // the event is the issue's latest
	Newer     string       // event ids around the event, in Events
	Older     string
	Request   string // URL of the event's request view
	Stack     []exceptionView
	Chain     []chainHop
	Fields    []field // what the event is: ids, service, release, ...
	HTTP      []field // the request
	Headers   []field
	User      []field
	EventTags []field
	Contexts  []field // JSON values, indented
	Extra     []field
	Resource  []field
	Grouping  groupingView
	Release   string // of the event, else of the breakdown when one
}

// field is a labelled value; Link makes the value a link, Pre shows it
// as preformatted text.
type field struct {
	Key, Value, Link string
	Pre              bool
}

// EventURL links to another event of the issue.
func (p issuePage) EventURL(eventID string) string {
	return link(p.frame, fmt.Sprintf("/errors/%d", p.Issue.ID), "event", eventID)
}

// ServiceURL links to a service's page.
func (p issuePage) ServiceURL(name string) string { return serviceURL(p.frame, name) }

// RequestURL links to a request's view, by trace id or request id.
func (p issuePage) RequestURL(id string) string { return requestURL(p.frame, id) }

// Seen tells whether the event is the one shown.
func (p issuePage) Seen(eventID string) bool { return p.Event != nil && p.Event.EventID == eventID }

func (s *server) issuePage(r *http.Request, f *frame) (any, error) {
	f.Nav = "errors"
	id, err := issueID(r.PathValue("id"))
	if err != nil {
		return nil, err
	}
	ctx := r.Context()
	d, err := s.opt.Query.Issue(ctx, id, f.Range)
	if errors.Is(err, query.ErrNotFound) {
		return nil, &notFound{fmt.Sprintf("There is no issue #%d.", id)}
	}
	if err != nil {
		return nil, err
	}
	f.Title = fmt.Sprintf("#%d %s", id, truncate(d.Title, 80))
	p := issuePage{frame: *f, Issue: d, Actions: s.actions(d.Status), Event: d.LatestEvent}
	p.Kind, p.Text = splitTitle(d.Issue)
	if p.Events, err = s.opt.Query.IssueEvents(ctx, id, f.Range, issueEventsShown); err != nil {
		return nil, err
	}
	if eid := r.URL.Query().Get("event"); eid != "" {
		ev, err := s.opt.Query.Event(ctx, eid)
		if err != nil && !errors.Is(err, query.ErrNotFound) {
			return nil, err
		}
		if ev == nil || ev.IssueID != id {
			return nil, &notFound{fmt.Sprintf("Issue #%d has no event %s.", id, eid)}
		}
		p.Event = ev
	}
	step := trendStep(f.Range, chartSteps)
	trends, err := s.opt.Query.IssueTrends(ctx, query.IssueQuery{Range: f.Range}, []int64{id}, step)
	if err != nil {
		return nil, err
	}
	p.Chart = issueChart(*f, id, trimTrend(trends[id], f.Range.To), step)
	p.Tags = tagViews(*f, d)
	for _, t := range d.Tags {
		if t.Key == "release" && len(t.Top) > 0 {
			p.Release = t.Top[0].Value
		}
	}
	if ev := p.Event; ev != nil {
		p.Latest = d.LatestEvent != nil && ev.EventID == d.LatestEvent.EventID
		for i, e := range p.Events {
			if e.EventID == ev.EventID {
				if i > 0 {
					p.Newer = p.Events[i-1].EventID
				}
				if i+1 < len(p.Events) {
					p.Older = p.Events[i+1].EventID
				}
			}
		}
		if ev.Release != "" {
			p.Release = ev.Release
		}
		if rid := cmp.Or(ev.TraceID, ev.RequestID); rid != "" {
			p.Request = requestURL(*f, rid)
		}
		p.Stack = stackViews(&ev.ErrorEvent)
		p.Chain = chainHops(*f, ev)
		p.eventFields(*f, ev)
		p.Grouping = groupingOf(ev, d.Hashes)
	}
	return p, nil
}

// issueChart draws an issue's events over the range as bars, each a link
// that zooms into its step.
func issueChart(f frame, id int64, tr query.Trend, step time.Duration) template.HTML {
	c := Chart{From: f.Range.From, To: f.Range.To, Step: step, Bars: true, Label: "events of the issue over time",
		BarLink: func(from, to time.Time) string {
			return link(f, fmt.Sprintf("/errors/%d", id), "from", from.UTC().Format(time.RFC3339), "to", to.UTC().Format(time.RFC3339))
		}}
	sr := ChartSeries{Name: "events", Class: "err"}
	for i, n := range tr.Counts {
		sr.Points = append(sr.Points, ChartPoint{T: tr.Start.Add(time.Duration(i) * step), V: float64(n)})
	}
	c.Series = []ChartSeries{sr}
	return c.SVG()
}

// tagView is one tag's breakdown, with each value's share of the issue's
// events in the range.
type tagView struct {
	Key      string
	Distinct int
	Values   []tagValue
	Other    *tagValue // the values beyond the top ones, and events without the tag
}

type tagValue struct {
	Value, Link, Pct string
	Count            int64
	Width            float64 // of the bar, 0..100
}

func tagViews(f frame, d *query.IssueDetail) []tagView {
	var out []tagView
	total := d.Events
	share := func(n int64) (string, float64) {
		if total <= 0 {
			return "", 0
		}
		frac := float64(n) / float64(total)
		return fmtPct(frac), min(100, frac*100)
	}
	for _, t := range d.Tags {
		v := tagView{Key: t.Key, Distinct: t.Distinct}
		var shown int64
		for _, tv := range t.Top {
			val := tagValue{Value: tv.Value, Count: tv.Count}
			val.Pct, val.Width = share(tv.Count)
			if t.Key == "service" {
				val.Link = serviceURL(f, tv.Value)
			}
			shown += tv.Count
			v.Values = append(v.Values, val)
		}
		if rest := total - shown; rest > 0 {
			label := "(not set)"
			if t.Distinct > len(t.Top) {
				label = fmt.Sprintf("other %d values or not set", t.Distinct-len(t.Top))
			}
			o := tagValue{Value: label, Count: rest}
			o.Pct, o.Width = share(rest)
			v.Other = &o
		}
		out = append(out, v)
	}
	return out
}

// exceptionView is one exception of the stack, or the stack of a message.
type exceptionView struct {
	Type, Value, Module string
	Mechanism           *telemetry.Mechanism
	Cause               bool // not the main exception: it caused the one above
	Runs                []frameRun
	Frames              int
	Raw                 string // the stack text as received
}

// Unhandled tells whether the SDK said the exception was not handled.
func (e exceptionView) Unhandled() bool {
	return e.Mechanism != nil && e.Mechanism.Handled != nil && !*e.Mechanism.Handled
}

// frameRun is a run of frames, most recent first; a run of two or more
// system frames is collapsed, the way Sentry hides library frames.
type frameRun struct {
	Collapse bool
	Frames   []frameView
}

type frameView struct {
	telemetry.Frame
	App   bool
	Lines []sourceLine
}

type sourceLine struct {
	N       int
	Text    string
	Current bool
}

// stackViews returns the event's exceptions, main first, or its message's
// stack.
func stackViews(ev *telemetry.ErrorEvent) []exceptionView {
	var out []exceptionView
	for i, ex := range slices.Backward(ev.Exceptions) {
		v := exceptionView{Type: ex.Type, Value: ex.Value, Module: ex.Module, Mechanism: ex.Mechanism, Cause: i < len(ev.Exceptions)-1,
			Runs: frameRuns(ex.Frames), Frames: len(ex.Frames), Raw: ex.RawStacktrace}
		out = append(out, v)
	}
	if len(out) == 0 && len(ev.Stacktrace) > 0 {
		out = append(out, exceptionView{Value: ev.Message, Runs: frameRuns(ev.Stacktrace), Frames: len(ev.Stacktrace)})
	}
	return out
}

func inApp(f telemetry.Frame) bool { return f.InApp != nil && *f.InApp }

// frameRuns orders frames most recent first and groups the system ones.
// A stack without any in-app frame is shown whole: collapsing all of it
// would hide everything.
func frameRuns(frames []telemetry.Frame) []frameRun {
	anyApp := slices.ContainsFunc(frames, inApp)
	var runs []frameRun
	var sys []frameView
	show := func(v frameView) {
		if n := len(runs); n > 0 && !runs[n-1].Collapse {
			runs[n-1].Frames = append(runs[n-1].Frames, v)
		} else {
			runs = append(runs, frameRun{Frames: []frameView{v}})
		}
	}
	flush := func() {
		if len(sys) >= 2 {
			runs = append(runs, frameRun{Collapse: true, Frames: sys})
		} else {
			for _, v := range sys {
				show(v)
			}
		}
		sys = nil
	}
	for _, fr := range slices.Backward(frames) {
		v := frameView{Frame: fr, App: inApp(fr), Lines: sourceLines(fr)}
		if !v.App && anyApp {
			sys = append(sys, v)
			continue
		}
		flush()
		show(v)
	}
	flush()
	return runs
}

// sourceLines numbers a frame's source context, when the SDK sent it.
func sourceLines(f telemetry.Frame) []sourceLine {
	if f.ContextLine == "" && len(f.PreContext) == 0 && len(f.PostContext) == 0 {
		return nil
	}
	var out []sourceLine
	n := f.Lineno - len(f.PreContext)
	for _, l := range f.PreContext {
		out = append(out, sourceLine{N: n, Text: l})
		n++
	}
	out = append(out, sourceLine{N: n, Text: f.ContextLine, Current: true})
	for _, l := range f.PostContext {
		n++
		out = append(out, sourceLine{N: n, Text: l})
	}
	if f.Lineno <= 0 {
		for i := range out {
			out[i].N = 0
		}
	}
	return out
}

// chainHop is one service's error in the remote chain.
type chainHop struct {
	query.ChainLink
	This     bool        // the event shown
	IssueURL string      // the hop's own issue, if it has one
	Frames   []frameView // its in-app frames, most recent first
}

func chainHops(f frame, ev *query.Event) []chainHop {
	var out []chainHop
	for _, l := range ev.RemoteChain {
		h := chainHop{ChainLink: l, This: l.EventID != "" && l.EventID == ev.EventID}
		if l.IssueID > 0 {
			kv := []string{}
			if l.EventID != "" {
				kv = append(kv, "event", l.EventID)
			}
			h.IssueURL = link(f, fmt.Sprintf("/errors/%d", l.IssueID), kv...)
		}
		for _, fr := range slices.Backward(l.Frames) {
			if inApp(fr) {
				h.Frames = append(h.Frames, frameView{Frame: fr, App: true})
			}
		}
		out = append(out, h)
	}
	return out
}

// eventFields lays out what the event says about itself.
func (p *issuePage) eventFields(f frame, ev *query.Event) {
	add := func(to *[]field, k, v, link string) {
		if v != "" {
			*to = append(*to, field{Key: k, Value: v, Link: link})
		}
	}
	e := &ev.ErrorEvent
	add(&p.Fields, "event id", e.EventID, "")
	add(&p.Fields, "time", e.Time.UTC().Format("2006-01-02 15:04:05.000 MST"), "")
	if e.TraceID != "" {
		add(&p.Fields, "trace id", e.TraceID, requestURL(f, e.TraceID))
	}
	if e.RequestID != "" {
		add(&p.Fields, "request id", e.RequestID, requestURL(f, e.RequestID))
	}
	add(&p.Fields, "span id", e.SpanID, "")
	if e.ServiceName != "" {
		add(&p.Fields, "service", e.ServiceName, serviceURL(f, e.ServiceName))
	}
	add(&p.Fields, "version", e.ServiceVersion, "")
	add(&p.Fields, "release", e.Release, "")
	add(&p.Fields, "dist", e.Dist, "")
	add(&p.Fields, "environment", e.Environment, "")
	add(&p.Fields, "instance", e.InstanceID, "")
	add(&p.Fields, "host", e.Host, "")
	add(&p.Fields, "zone", e.AvailabilityZone, "")
	add(&p.Fields, "server", e.ServerName, "")
	add(&p.Fields, "transaction", e.Transaction, "")
	add(&p.Fields, "level", e.Level, "")
	add(&p.Fields, "logger", e.Logger, "")
	add(&p.Fields, "platform", e.Platform, "")
	add(&p.Fields, "browser", e.Browser, "")
	add(&p.Fields, "os", e.OS, "")
	add(&p.Fields, "source", e.Source, "")
	add(&p.Fields, "sdk", strings.TrimSpace(e.SDK.Name+" "+e.SDK.Version), "")
	add(&p.Fields, "fingerprint", strings.Join(e.Fingerprint, " · "), "")

	rq := e.Request
	add(&p.HTTP, "method", rq.Method, "")
	add(&p.HTTP, "url", rq.URL, "")
	add(&p.HTTP, "query", rq.QueryString, "")
	add(&p.HTTP, "cookies", rq.Cookies, "")
	if rq.Data != "" {
		p.HTTP = append(p.HTTP, field{Key: "body", Value: indentJSON(rq.Data), Pre: true})
	}
	for _, h := range rq.Headers {
		p.Headers = append(p.Headers, field{Key: h.Key, Value: h.Value})
	}
	u := e.User
	add(&p.User, "id", u.ID, "")
	add(&p.User, "email", u.Email, "")
	add(&p.User, "username", u.Username, "")
	add(&p.User, "name", u.Name, "")
	add(&p.User, "ip address", u.IPAddress, "")
	for _, t := range e.Tags {
		p.EventTags = append(p.EventTags, field{Key: t.Key, Value: t.Value})
	}
	p.Contexts = jsonFields(ev.Contexts)
	p.Extra = jsonFields(ev.Extra)
	p.Resource = jsonFields(json.RawMessage(e.Resource.Attributes))
}

// jsonFields lists a JSON object's members by key, each value indented;
// text that is no object is shown as one field.
func jsonFields(raw json.RawMessage) []field {
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return []field{{Key: "(not an object)", Value: string(raw), Pre: true}}
	}
	var out []field
	for _, k := range slices.Sorted(maps.Keys(m)) {
		v := indentJSON(string(m[k]))
		var s string
		if json.Unmarshal(m[k], &s) == nil {
			v = s // a plain string reads better without quotes
		}
		out = append(out, field{Key: k, Value: v, Pre: strings.Contains(v, "\n")})
	}
	return out
}

// indentJSON indents JSON text, and leaves any other text alone.
func indentJSON(s string) string {
	var b bytes.Buffer
	if json.Indent(&b, []byte(s), "", "  ") != nil {
		return s
	}
	return b.String()
}

// groupingView explains why the event is in its issue.
type groupingView struct {
	Hash     string // the hash that chose the issue
	Version  string
	Variants []variantView
	Hashes   []hashView // the issue's hashes
	Raw      string     // the stored explanation, when it cannot be read
}

type variantView struct {
	grouping.Variant
	Chose bool   // its hash chose the issue
	Means string // what the variant hashes, in words
	Tree  componentView
}

// componentView is a node of a variant's tree; Inline nodes (a frame,
// whose children are all leaves) show their children on one line, which
// keeps a long stack readable.
type componentView struct {
	grouping.Component
	Children []componentView
	Inline   bool
}

func componentTree(c grouping.Component) componentView {
	v := componentView{Component: c, Inline: len(c.Children) > 0}
	for _, ch := range c.Children {
		if len(ch.Children) > 0 {
			v.Inline = false
		}
		v.Children = append(v.Children, componentTree(ch))
	}
	return v
}

type hashView struct {
	state.IssueHash
	Event bool // the event has this hash
}

// variantMeanings say what each variant hashes.
var variantMeanings = map[string]string{
	"custom-fingerprint": "the fingerprint the SDK sent",
	"app":                "the in-app frames of the stack trace and the exception types",
	"system":             "every frame of the stack trace and the exception types",
	"default":            "the exception types and messages, or the message, as the event has no stack trace",
}

func groupingOf(ev *query.Event, hashes []state.IssueHash) groupingView {
	g := groupingView{Hash: ev.GroupingHash, Version: ev.GroupingVersion}
	var info grouping.Info
	if err := json.Unmarshal(ev.Grouping, &info); err != nil || len(info.Variants) == 0 {
		if raw := indentJSON(string(ev.Grouping)); raw != "{}" && raw != "" {
			g.Raw = raw
		}
	} else {
		g.Version = cmp.Or(info.Version, g.Version)
	}
	eventHashes := map[string]bool{}
	for _, v := range info.Variants {
		g.Variants = append(g.Variants, variantView{Variant: v, Chose: v.Hash != "" && v.Hash == ev.GroupingHash, Means: variantMeanings[v.Name],
			Tree: componentTree(v.Component)})
		if v.Hash != "" {
			eventHashes[v.Hash] = true
		}
	}
	for _, h := range hashes {
		g.Hashes = append(g.Hashes, hashView{IssueHash: h, Event: eventHashes[h.Hash] || h.Hash == ev.GroupingHash})
	}
	return g
}

// Chosen is the variant whose hash chose the issue, if any.
func (g groupingView) Chosen() *variantView {
	for i := range g.Variants {
		if g.Variants[i].Chose {
			return &g.Variants[i]
		}
	}
	return nil
}

// setIssueStatus resolves, ignores or reopens an issue from a form, and
// sends the browser back where it came from.
func (s *server) setIssueStatus(w http.ResponseWriter, r *http.Request) {
	f := s.frame(r, "")
	fail := func(code int, title, msg string) {
		f.Title = title
		s.render(w, r, code, "error", f, errorPage{Message: msg})
	}
	if msg := crossSite(r); msg != "" {
		fail(http.StatusForbidden, "Forbidden", msg)
		return
	}
	id, err := issueID(r.PathValue("id"))
	if err != nil {
		fail(http.StatusBadRequest, "Bad request", err.Error())
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		fail(http.StatusBadRequest, "Bad request", "cannot read the form: "+err.Error())
		return
	}
	status := r.PostForm.Get("status")
	switch status {
	case state.StatusUnresolved, state.StatusResolved, state.StatusIgnored:
	default:
		fail(http.StatusBadRequest, "Bad request", fmt.Sprintf("status %q is not one of unresolved, resolved or ignored", status))
		return
	}
	if _, err := s.opt.Status.SetStatus(r.Context(), id, status); err != nil {
		if errors.Is(err, state.ErrNotFound) || errors.Is(err, query.ErrNotFound) {
			fail(http.StatusNotFound, "Not found", fmt.Sprintf("There is no issue #%d.", id))
			return
		}
		s.log.Error("cannot set issue status", "issue", id, "status", status, "err", err)
		fail(http.StatusInternalServerError, "Error", "Telltale could not change the issue; its log says why.")
		return
	}
	http.Redirect(w, r, backTo(r, fmt.Sprintf("/errors/%d", id)), http.StatusSeeOther)
}

// crossSite says why a state-changing request may come from another site,
// or "" when it comes from a page of this one. Until sessions bring CSRF
// tokens, the browser's word is what there is: Sec-Fetch-Site must say
// same-origin (or be absent, for older browsers and tools), and Origin, when
// sent, must be this host. http.CrossOriginProtection is laxer: it accepts
// Sec-Fetch-Site "none" and then ignores Origin.
func crossSite(r *http.Request) string {
	switch site := r.Header.Get("Sec-Fetch-Site"); site {
	case "", "same-origin":
	default:
		return fmt.Sprintf("This request came from another site (Sec-Fetch-Site: %s); change issues from Telltale's own pages.", site)
	}
	if o := r.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o)
		if err != nil || u.Host == "" || !strings.EqualFold(u.Host, r.Host) {
			return fmt.Sprintf("This request came from another origin (%s); change issues from Telltale's own pages.", o)
		}
	}
	return ""
}

// backTo is the page that sent r (its Referer, when that is a page of this
// site), else fallback.
func backTo(r *http.Request, fallback string) string {
	u, err := url.Parse(r.Header.Get("Referer"))
	if err != nil || !strings.EqualFold(u.Host, r.Host) || u.Scheme != "http" && u.Scheme != "https" {
		return fallback
	}
	p := u.EscapedPath()
	// "//host" and "/\host" would leave the site.
	if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.HasPrefix(p, `/\`) {
		return fallback
	}
	if u.RawQuery != "" {
		p += "?" + u.RawQuery
	}
	return p
}
