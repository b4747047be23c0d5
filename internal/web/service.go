package web

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fibinc/telltale/internal/query"
	"github.com/fibinc/telltale/internal/query/filter"
)

// serviceQueries is what the service page reads, besides the board's
// Services and ServiceSeries.
type serviceQueries interface {
	Operations(ctx context.Context, service string, r query.TimeRange) ([]query.OperationSummary, error)
	SlowestTraces(ctx context.Context, service string, r query.TimeRange, limit int) ([]query.SlowRequest, error)
	VersionChanges(ctx context.Context, service string, r query.TimeRange) ([]query.VersionChange, error)
	Dependencies(ctx context.Context, service string, r query.TimeRange) (*query.Dependencies, error)
	Issues(ctx context.Context, q query.IssueQuery) (*query.IssueList, error)
}

// Rows of the service page's short lists.
const (
	serviceIssues  = 10
	serviceSlowest = 10
)

func (s *server) serviceRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /services/{name}", s.page("service", s.service))
	// A bare /services is the list of services: the board.
	mux.HandleFunc("GET /services", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, link(s.frame(r, ""), "/"), http.StatusSeeOther)
	})
}

type servicePage struct {
	Name    string
	Summary query.ServiceSummary
	// Seen is false when the service sent nothing in the range (it did
	// before, or the page would be a 404).
	Seen    bool
	Health  string
	Reasons []string
	// Compare names the range the dashed lines show.
	Compare   string
	Charts    []serviceChart
	Versions  []query.VersionChange
	Ops       []query.OperationSummary
	Instances []serviceInstance
	Deps      *query.Dependencies
	Callers   []serviceDep
	Callees   []serviceDep
	Issues    []serviceIssue
	IssueN    int // issues in the range, over all pages
	Slowest   []slowRow
	// EnvNote is set when an environment is chosen: the operations,
	// dependencies and slowest requests cover every environment.
	EnvNote   bool
	Links     serviceLinks
	IngestURL string
}

// serviceLinks lead from the page's sections to the fuller pages.
type serviceLinks struct {
	Logs, Errors, Metrics, Map string
	LogQuery                   string // the logs filter, shown as a hint
}

type serviceChart struct {
	Title  string
	SVG    template.HTML
	Legend []ChartSeries // Points unused: the legend shows Name and Class
}

type serviceInstance struct {
	query.Instance
	Health string
	Why    string              // the health's reason
	Stat   *query.InstanceStat // nil without requests
	Logs   string              // the instance's logs
}

// serviceDep is a caller or callee, with the peer marked as the board
// marks it.
type serviceDep struct {
	query.Dependency
	Href    string // the peer's page; "" for an external peer
	Health  string
	Reasons []string
}

type serviceIssue struct {
	query.IssueSummary
	Href string
}

type slowRow struct {
	query.SlowRequest
	Href, RequestHref string
}

// notFoundError is a 404 whose message is written for people.
type notFoundError struct{ msg string }

func (e *notFoundError) Error() string        { return e.msg }
func (e *notFoundError) Is(target error) bool { return target == query.ErrNotFound }

func (s *server) service(r *http.Request, f *frame) (any, error) {
	name := r.PathValue("name")
	f.Title, f.Nav = name, "services"
	ctx := r.Context()
	compare, offset := "yesterday", 24*time.Hour
	if f.Range.To.Sub(f.Range.From) > 24*time.Hour {
		compare, offset = "the week before", 7*24*time.Hour
	}

	var (
		svcs      []query.ServiceSummary
		cur, prev *query.ServiceSeriesResult
		versions  []query.VersionChange
		ops       []query.OperationSummary
		deps      *query.Dependencies
		issues    *query.IssueList
		slowest   []query.SlowRequest
		instStats map[string]map[string]query.InstanceStat
		seriesQ   = query.ServiceSeriesQuery{Range: f.Range, Service: name, Environment: f.Env}
	)
	err := parallel(ctx,
		func(ctx context.Context) (err error) { svcs, err = s.opt.Query.Services(ctx, f.Range); return },
		func(ctx context.Context) (err error) {
			instStats, err = s.opt.Query.InstanceStats(ctx, f.Range)
			return
		},
		func(ctx context.Context) (err error) { cur, err = s.opt.Query.ServiceSeries(ctx, seriesQ); return },
		func(ctx context.Context) (err error) {
			q := seriesQ
			q.Offset = offset
			prev, err = s.opt.Query.ServiceSeries(ctx, q)
			return
		},
		func(ctx context.Context) (err error) {
			versions, err = s.opt.Query.VersionChanges(ctx, name, f.Range)
			return
		},
		func(ctx context.Context) (err error) { ops, err = s.opt.Query.Operations(ctx, name, f.Range); return },
		func(ctx context.Context) (err error) {
			deps, err = s.opt.Query.Dependencies(ctx, name, f.Range)
			return
		},
		func(ctx context.Context) (err error) {
			issues, err = s.opt.Query.Issues(ctx, query.IssueQuery{Range: f.Range, Service: name, Environment: f.Env, Limit: serviceIssues})
			return
		},
		func(ctx context.Context) (err error) {
			slowest, err = s.opt.Query.SlowestTraces(ctx, name, f.Range, serviceSlowest)
			return
		},
	)
	if errors.Is(err, query.ErrNotFound) {
		return nil, unknownService(name, svcs)
	}
	if err != nil {
		return nil, err
	}
	f.Envs = environments(svcs)

	p := servicePage{Name: name, Compare: compare, Versions: versions, Ops: ops, Deps: deps, IssueN: issues.Total,
		EnvNote: f.Env != "", IngestURL: s.opt.IngestURL}
	byName := map[string]query.ServiceSummary{}
	for _, sv := range svcs {
		byName[sv.Name] = sv
	}
	p.Summary, p.Seen = byName[name]
	if !p.Seen {
		p.Summary.Name = name
	}
	var insts []boardInstance
	p.Health, p.Reasons, insts = markService(f, p.Summary, instStats[name])
	for _, in := range insts {
		p.Instances = append(p.Instances, serviceInstance{Instance: in.Instance, Health: in.Health, Why: in.Why, Stat: in.Stat,
			Logs: link(*f, "/logs", "q", logFilter("service", name)+" "+logFilter("instance", in.ID))})
	}
	p.Charts = serviceCharts(f, seriesOf(cur, name), seriesOf(prev, name), stepOf(cur), compare, versionMarks(versions))
	for _, d := range deps.Callers {
		p.Callers = append(p.Callers, dependencyRow(f, d, byName))
	}
	for _, d := range deps.Callees {
		p.Callees = append(p.Callees, dependencyRow(f, d, byName))
	}
	for _, iss := range issues.Issues {
		p.Issues = append(p.Issues, serviceIssue{IssueSummary: iss, Href: link(*f, "/errors/"+strconv.FormatInt(iss.ID, 10))})
	}
	for _, sr := range slowest {
		row := slowRow{SlowRequest: sr, Href: link(*f, "/requests/"+url.PathEscape(sr.TraceID))}
		if sr.RequestID != "" {
			row.RequestHref = link(*f, "/requests/"+url.PathEscape(sr.RequestID))
		}
		p.Slowest = append(p.Slowest, row)
	}
	p.Links = serviceLinks{
		LogQuery: logFilter("service", name),
		Errors:   link(*f, "/errors", "service", name),
		Metrics:  link(*f, "/explore", "filter", "service="+metricValue(name)),
		Map:      link(*f, "/map"),
	}
	p.Links.Logs = link(*f, "/logs", "q", p.Links.LogQuery)
	return p, nil
}

// dependencyRow marks a caller or callee as the board marks it.
func dependencyRow(f *frame, d query.Dependency, byName map[string]query.ServiceSummary) serviceDep {
	sd := serviceDep{Dependency: d}
	if !d.Peer.External {
		sd.Href = servicePath(f, d.Peer.Name)
	}
	if sv, ok := byName[d.Peer.Name]; ok && !d.Peer.External {
		sd.Health, sd.Reasons, _ = markService(f, sv, nil)
	} else {
		sd.Health, sd.Reasons = nodeHealth(d.Peer)
	}
	return sd
}

// servicePath links to a service's page, keeping the frame.
func servicePath(f *frame, name string) string {
	return link(*f, "/services/"+url.PathEscape(name))
}

// markService marks a service and its instances of the frame's
// environment as the board does: an instance is stale after a minute
// without a record and down after five, when the range ends now, and
// marked by its own error rate when stats has it.
func markService(f *frame, sv query.ServiceSummary, stats map[string]query.InstanceStat) (string, []string, []boardInstance) {
	live := f.Range.To.After(f.Now.Add(-staleAfter))
	var insts []boardInstance
	up := 0
	for _, in := range sv.Instances {
		if f.Env != "" && in.Environment != f.Env {
			continue
		}
		b := boardInstance{Instance: in, Health: healthOK}
		if live {
			switch age := f.Now.Sub(in.LastSeen); {
			case age > downAfter:
				b.Health, b.Why = healthCrit, "down: not seen for "+downAfter.String()
			case age > staleAfter:
				b.Health, b.Why = healthWarn, "stale: not seen for "+staleAfter.String()
			}
		}
		if b.Health == healthOK {
			up++
		}
		if st, ok := stats[in.ID]; ok && st.Requests > 0 {
			b.Stat = &st
			switch {
			case st.ErrorRate >= critErrorRate && b.Health != healthCrit:
				b.Health, b.Why = healthCrit, "errors ≥ 5%"
			case st.ErrorRate >= warnErrorRate && b.Health == healthOK:
				b.Health, b.Why = healthWarn, "errors ≥ 1%"
			}
		}
		insts = append(insts, b)
	}
	h, why := serviceHealth(sv, live && len(sv.Instances) > 0 && up == 0)
	return h, why, insts
}

// nodeHealth marks a peer known only from the service map (an external
// one) by its calls, with the board's thresholds.
func nodeHealth(n query.MapNode) (string, []string) {
	return serviceHealth(query.ServiceSummary{Requests: n.Requests, ErrorRate: n.ErrorRate, Latency: n.Latency}, false)
}

// logFilter writes a term of the log filter language matching a field
// exactly, quoting the value when it must be.
func logFilter(field, value string) string {
	return filter.Term{Field: field, Op: filter.Eq, Value: value}.String()
}

// metricValue writes a value of the metrics filter, quoted (Go syntax)
// when it holds anything but plain characters.
func metricValue(v string) string {
	if v == "" || strings.ContainsAny(v, " \t\n,\"*\\=!") {
		return strconv.Quote(v)
	}
	return v
}

func seriesOf(res *query.ServiceSeriesResult, name string) []query.REDPoint {
	if res == nil {
		return nil
	}
	for _, sr := range res.Series {
		if sr.Service == name {
			return sr.Points
		}
	}
	return nil
}

func stepOf(res *query.ServiceSeriesResult) time.Duration {
	if res == nil {
		return 0
	}
	return res.Step
}

// versionMarks marks the versions deployed in the range: those first seen
// in it after another version ran. The first version of a service that
// started in the range is no change.
func versionMarks(vs []query.VersionChange) []ChartMark {
	var marks []ChartMark
	for _, v := range vs {
		if v.SeenBefore {
			continue
		}
		earlier := slices.ContainsFunc(vs, func(u query.VersionChange) bool {
			return u.Version != v.Version && (u.SeenBefore || u.FirstSeen.Before(v.FirstSeen))
		})
		if earlier {
			marks = append(marks, ChartMark{T: v.FirstSeen, Label: v.Version})
		}
	}
	return marks
}

// serviceCharts draws requests, errors and latency, each with the
// comparison range dashed beside it. The latency chart compares p95 only:
// three dashed lines more would hide the three solid ones.
func serviceCharts(f *frame, cur, prev []query.REDPoint, step time.Duration, compare string, marks []ChartMark) []serviceChart {
	type line struct {
		name, class string
		pts         []query.REDPoint
		v           func(query.REDPoint) float64
	}
	rate := func(p query.REDPoint) float64 { return p.Rate }
	errRate := func(p query.REDPoint) float64 {
		if p.Requests == 0 {
			return math.NaN()
		}
		return p.ErrorRate
	}
	lat := func(q func(*query.Latency) float64) func(query.REDPoint) float64 {
		return func(p query.REDPoint) float64 {
			if p.Latency == nil {
				return math.NaN()
			}
			return q(p.Latency)
		}
	}
	p50 := lat(func(l *query.Latency) float64 { return l.P50 })
	p95 := lat(func(l *query.Latency) float64 { return l.P95 })
	p99 := lat(func(l *query.Latency) float64 { return l.P99 })
	defs := []struct {
		title, unit string
		lines       []line
	}{
		{"Requests", "rate", []line{{"requests/s", "s0", cur, rate}, {"requests/s " + compare, "prev", prev, rate}}},
		{"Errors", "pct", []line{{"errors", "err", cur, errRate}, {"errors " + compare, "prev", prev, errRate}}},
		{"Latency", "ms", []line{{"p50", "s2", cur, p50}, {"p95", "s0", cur, p95}, {"p99", "s1", cur, p99}, {"p95 " + compare, "prev", prev, p95}}},
	}
	var out []serviceChart
	for _, d := range defs {
		c := Chart{From: f.Range.From, To: f.Range.To, Step: step, Unit: d.unit, Marks: marks, Label: d.title + " of the service over time"}
		sc := serviceChart{Title: d.title}
		for _, l := range d.lines {
			cs := ChartSeries{Name: l.name, Class: l.class}
			for _, p := range l.pts {
				// The first step starts before the range; draw it at the
				// range's start rather than left of the axis.
				t := p.Time
				if t.Before(f.Range.From) {
					t = f.Range.From
				}
				cs.Points = append(cs.Points, ChartPoint{T: t, V: l.v(p)})
			}
			c.Series = append(c.Series, cs)
			sc.Legend = append(sc.Legend, ChartSeries{Name: l.name, Class: l.class})
		}
		sc.SVG = c.SVG()
		out = append(out, sc)
	}
	return out
}

// unknownService explains a 404, suggesting the nearest name of the
// services seen in the range.
func unknownService(name string, svcs []query.ServiceSummary) error {
	msg := fmt.Sprintf("No service named %q has sent spans or logs.", name)
	if near := nearestName(name, svcs); near != "" {
		msg += fmt.Sprintf(" Did you mean %q?", near)
	}
	return &notFoundError{msg + " The services page lists every service that has."}
}

// nearestName returns the service name closest to name by edit distance,
// ignoring case, if it is close enough to be a typo.
func nearestName(name string, svcs []query.ServiceSummary) string {
	const maxLen = 128 // the distance is quadratic; longer names are no typos
	if len(name) > maxLen {
		return ""
	}
	best, bestD := "", 0
	for _, sv := range svcs {
		if len(sv.Name) > maxLen {
			continue
		}
		d := editDistance(strings.ToLower(name), strings.ToLower(sv.Name))
		if limit := max(2, len([]rune(sv.Name))/3); d <= limit && (best == "" || d < bestD) {
			best, bestD = sv.Name, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance of a and b, in runes.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	row := make([]int, len(rb)+1)
	for j := range row {
		row[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		diag := row[0]
		row[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			diag, row[j] = row[j], min(row[j]+1, row[j-1]+1, diag+cost)
		}
	}
	return row[len(rb)]
}

// parallel runs fns at once, since a page's queries are independent and
// the store answers them concurrently, and returns the first of their
// errors in the order of fns. It does not cancel the others on an error:
// a 404 still wants the list of services to suggest a name from.
func parallel(ctx context.Context, fns ...func(context.Context) error) error {
	errs := make([]error, len(fns))
	var wg sync.WaitGroup
	for i, fn := range fns {
		wg.Go(func() { errs[i] = fn(ctx) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
