package web

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
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

	"github.com/prometheus/prometheus/model/labels"
	prom "github.com/prometheus/prometheus/promql"

	"github.com/fibinc/telltale/internal/api"
	"github.com/fibinc/telltale/internal/promql"
	"github.com/fibinc/telltale/internal/query"
	"github.com/fibinc/telltale/internal/telemetry"
)

// metricQueries is what the explore page reads.
type metricQueries interface {
	MetricNames(ctx context.Context, r query.TimeRange, limit int) ([]query.MetricInfo, error)
	QueryMetric(ctx context.Context, q query.MetricQuery) (*query.MetricResult, error)
	MetricResolution(ctx context.Context, r query.TimeRange, name string) (time.Duration, error)
}

// PromQL evaluates PromQL range queries for the explorer's PromQL mode;
// *promql.Engine is one.
type PromQL interface {
	RangeQuery(ctx context.Context, qs string, start, end time.Time, step, lookback time.Duration) (prom.Query, error)
}

// Limits of the explorer.
const (
	// exploreMaxMetrics caps the metric list; MetricNames caps it again.
	exploreMaxMetrics = 1000
	// exploreMaxSeries caps the series drawn: more lines than this make a
	// chart nobody can read.
	exploreMaxSeries = 20
	// exploreMaxSteps is the Prometheus API's cap on points per series.
	exploreMaxSteps = 11_000
	// exploreMaxPromQL caps an expression's bytes, far above any a person
	// types.
	exploreMaxPromQL = 16 << 10
	// explorePromQLTimeout bounds a PromQL evaluation for a page, shorter
	// than the engine's own timeout for API clients.
	explorePromQLTimeout = 30 * time.Second
)

// Explorer modes.
const (
	exploreModeMetric = "metric"
	exploreModePromQL = "promql"
)

// exploreSteps are the steps the form offers besides auto.
var exploreSteps = []string{"10s", "30s", "1m", "5m", "15m", "1h"}

// exploreState is what the URL says: every choice of the page is a GET
// parameter, so a URL reproduces the chart.
type exploreState struct {
	Mode    string
	Find    string // filters the metric list
	Metric  string
	Filter  string
	Agg     string
	GroupBy []string
	Step    string // as given; "" is auto
	PromQL  string
}

func parseExploreState(v url.Values) exploreState {
	st := exploreState{Mode: v.Get("mode"), Find: v.Get("find"), Metric: v.Get("metric"), Filter: v.Get("filter"),
		Agg: strings.ToLower(v.Get("agg")), Step: v.Get("step"), PromQL: v.Get("promql")}
	if st.Mode == "" {
		st.Mode = exploreModeMetric
		if st.PromQL != "" {
			st.Mode = exploreModePromQL
		}
	}
	if st.Step == "auto" {
		st.Step = ""
	}
	// Checkboxes repeat the parameter; links join the keys with commas.
	for _, g := range v["group_by"] {
		for k := range strings.SplitSeq(g, ",") {
			if k = strings.TrimSpace(k); k != "" && !slices.Contains(st.GroupBy, k) {
				st.GroupBy = append(st.GroupBy, k)
			}
		}
	}
	return st
}

// values returns the state as URL parameters, without the empty ones. The
// mode is left out when the other parameters imply it.
func (st exploreState) values() url.Values {
	v := url.Values{}
	for _, kv := range [][2]string{{"find", st.Find}, {"metric", st.Metric}, {"filter", st.Filter}, {"agg", st.Agg},
		{"group_by", strings.Join(st.GroupBy, ",")}, {"step", st.Step}, {"promql", st.PromQL}} {
		if kv[1] != "" {
			v.Set(kv[0], kv[1])
		}
	}
	implied := exploreModeMetric
	if st.PromQL != "" {
		implied = exploreModePromQL
	}
	if st.Mode != implied {
		v.Set("mode", st.Mode)
	}
	return v
}

// explorePage is the explore template's data.
type explorePage struct {
	frame     frame
	State     exploreState
	IngestURL string

	Metrics []query.MetricInfo // the list, after Find
	Total   int                // metrics in the range, before Find
	Capped  bool               // the list stops at exploreMaxMetrics
	Info    *query.MetricInfo  // the chosen metric, if it has points in the range
	Aggs    []exploreOption
	Keys    []exploreOption // the label keys to group by
	Steps   []exploreOption
	EnvNote string // the environment filter applied from the picker

	// Error is a problem with a parameter, shown by its input; the page
	// is then a 400.
	Error, ErrorParam string
	status            int

	// The result.
	Step    time.Duration
	Caption string // what the y axis counts, e.g. "MiB" or "request/s"
	Chart   template.HTML
	Plot    explorePlot
	Columns []string // the legend's label columns
	Series  []exploreSeries
	More    int      // series not drawn
	Notes   []string // engine warnings and infos, and why nothing is drawn
}

type exploreOption struct {
	Value, Label string
	Selected     bool
}

// exploreSeries is one row of the legend.
type exploreSeries struct {
	Class               string
	Labels              []exploreLabel
	Last, Min, Max, Avg string
	// Points are the series' values as JSON [[unix ms, "formatted"], ...],
	// for the script that shows the values under the pointer.
	Points string
}

// exploreLabel is a label value in the legend; Href narrows the filter to
// it with the filter term Term.
type exploreLabel struct {
	Value, Term, Href string
}

type exploreParam struct{ Name, Value string }

// URL returns the page's URL with some parameters changed: name, value,
// ... for mode, filter and promql.
func (p *explorePage) URL(kv ...string) string {
	st := p.State
	for i := 0; i+1 < len(kv); i += 2 {
		switch kv[i] {
		case "mode":
			st.Mode = kv[i+1]
		case "filter":
			st.Filter = kv[i+1]
		case "promql":
			st.PromQL = kv[i+1]
		}
	}
	v := st.values()
	pairs := make([]string, 0, 2*len(v))
	for _, k := range slices.Sorted(maps.Keys(v)) {
		pairs = append(pairs, k, v.Get(k))
	}
	return link(p.frame, "/explore", pairs...)
}

// MetricURL is the link of a metric in the list: it starts a new query,
// keeping only the list's search.
func (p *explorePage) MetricURL(name string) string {
	return link(p.frame, "/explore", "find", p.State.Find, "metric", name)
}

// Hidden returns the parameters a form must carry besides its own inputs,
// named in except, so that submitting it keeps the rest of the page.
func (p *explorePage) Hidden(except ...string) []exploreParam {
	v := p.State.values()
	for _, k := range []string{"from", "to", "env", "refresh"} {
		if k == "from" && p.frame.From == "now-1h" {
			continue
		}
		if val := map[string]string{"from": p.frame.From, "to": p.frame.To, "env": p.frame.Env, "refresh": p.frame.Refresh}[k]; val != "" {
			v.Set(k, val)
		}
	}
	var out []exploreParam
	for _, k := range slices.Sorted(maps.Keys(v)) {
		if !slices.Contains(except, k) {
			out = append(out, exploreParam{k, v.Get(k)})
		}
	}
	return out
}

// StepLabel is the step of the chart, as the step menu writes it.
func (p *explorePage) StepLabel() string { return exploreFmtStep(p.Step) }

// exploreParamError is a bad parameter: the page shows it next to the input and
// answers status.
type exploreParamError struct {
	param, msg string
	status     int
}

func (e *exploreParamError) Error() string { return e.msg }

func exploreBadParam(param, format string, args ...any) error {
	return &exploreParamError{param: param, msg: param + ": " + fmt.Sprintf(format, args...), status: http.StatusBadRequest}
}

func (s *server) metricRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /explore", s.explore)
}

// explore serves the page itself rather than through s.page, since a bad
// parameter gives the page again, with the message by its input, as a 400.
func (s *server) explore(w http.ResponseWriter, r *http.Request) {
	f := s.frame(r, "Metrics")
	f.Nav = "metrics"
	if err := s.timeRange(&f); err != nil {
		f.Title = "Bad time range"
		s.render(w, r, http.StatusBadRequest, "error", f, errorPage{Message: err.Error()})
		return
	}
	if f.Env != "" {
		f.Envs = []string{f.Env} // so that the picker can clear it
	}
	p := &explorePage{frame: f, State: parseExploreState(r.URL.Query()), IngestURL: s.opt.IngestURL,
		status: http.StatusOK}
	err := s.fillExplore(r.Context(), p)
	var pe *exploreParamError
	switch {
	case err == nil:
	case errors.As(err, &pe):
		p.Error, p.ErrorParam, p.status = pe.msg, pe.param, pe.status
	case errors.Is(err, query.ErrInvalid):
		p.Error, p.status = strings.TrimPrefix(err.Error(), query.ErrInvalid.Error()+": "), http.StatusBadRequest
		for _, k := range []string{"filter", "group_by", "agg", "step"} {
			if strings.HasPrefix(p.Error, k) {
				p.ErrorParam = k
			}
		}
	case timedOut(r, err):
		s.renderTimeout(w, r, f, "explore", err)
		return
	default:
		s.log.Error("page failed", "page", "explore", "path", r.URL.Path, "err", err)
		f.Title = "Error"
		s.render(w, r, http.StatusInternalServerError, "error", f, errorPage{Message: "Telltale could not build this page; its log says why."})
		return
	}
	if p.State.Metric != "" && p.State.Mode == exploreModeMetric {
		f.Title = p.State.Metric + " · Metrics"
	}
	s.render(w, r, p.status, "explore", f, p)
}

// fillExplore lists the metrics and draws the chart the state asks for.
func (s *server) fillExplore(ctx context.Context, p *explorePage) error {
	st, f := &p.State, &p.frame
	all, err := s.opt.Query.MetricNames(ctx, f.Range, exploreMaxMetrics)
	if err != nil {
		return err
	}
	p.Total, p.Capped = len(all), len(all) >= exploreMaxMetrics
	find := strings.ToLower(strings.TrimSpace(st.Find))
	for i, m := range all {
		if find == "" || strings.Contains(strings.ToLower(m.Name), find) || strings.Contains(strings.ToLower(m.Description), find) {
			p.Metrics = append(p.Metrics, m)
		}
		if m.Name == st.Metric {
			p.Info = &all[i]
		}
	}
	if st.Mode != exploreModeMetric && st.Mode != exploreModePromQL {
		return exploreBadParam("mode", "%q is not a mode: use metric or promql", st.Mode)
	}
	rng := f.Range.To.Sub(f.Range.From)
	step, err := exploreParseStep(st.Step, rng)
	// The form shows the steps whatever happens next, with auto's value
	// once it is known.
	defer func() { p.setSteps(step) }()
	if err != nil {
		return err
	}
	if st.Mode == exploreModePromQL {
		if step == 0 {
			step = query.DefaultStep(rng)
		}
		return s.explorePromQL(ctx, p, step)
	}
	if p.Info == nil {
		switch {
		case st.Metric != "" && p.Capped:
			// The list is cut by name, so the metric may exist past it.
			p.Notes = append(p.Notes, fmt.Sprintf("Metric %q is not among the first %d metrics with points in this range.", st.Metric, exploreMaxMetrics))
		case st.Metric != "":
			p.Notes = append(p.Notes, fmt.Sprintf("Metric %q has no points in this range.", st.Metric))
		}
		return nil
	}
	p.Keys = make([]exploreOption, 0, len(p.Info.LabelKeys))
	for _, k := range p.Info.LabelKeys {
		p.Keys = append(p.Keys, exploreOption{Value: k, Label: k, Selected: slices.Contains(st.GroupBy, k)})
	}
	if err := p.setAggs(); err != nil {
		return err
	}
	for _, k := range st.GroupBy {
		if !slices.Contains(p.Info.LabelKeys, k) {
			return exploreBadParam("group_by", "metric %q has no label %q; its labels are %s", st.Metric, k, strings.Join(p.Info.LabelKeys, ", "))
		}
	}
	if step == 0 {
		// Auto: the API's default, but no finer than the points, so that
		// steps are not mostly empty.
		res, err := s.opt.Query.MetricResolution(ctx, f.Range, st.Metric)
		if err != nil {
			return err
		}
		step = max(query.DefaultStep(rng), exploreStepAtLeast(res))
	}
	filter := st.Filter
	if f.Env != "" && slices.Contains(p.Info.LabelKeys, "env") {
		filter = strings.TrimSpace(filter + " env=" + strconv.Quote(f.Env))
		p.EnvNote = "env=" + f.Env
	}
	res, err := s.opt.Query.QueryMetric(ctx, query.MetricQuery{Range: f.Range, Name: st.Metric, Filter: filter,
		Agg: st.Agg, GroupBy: st.GroupBy, Step: step})
	if err != nil {
		return err
	}
	p.Step = step
	if len(res.Series) == 0 {
		p.Notes = append(p.Notes, "No series matches the filter in this range.")
	}
	ax := exploreAxisFor(p.Info.Unit, p.Info.Type, st.Agg, exploreTop(res.Series))
	p.Caption = ax.caption
	p.Columns = st.GroupBy
	if len(st.GroupBy) == 0 {
		p.Columns = []string{"series"}
	}
	var series []exploreLine
	for _, sr := range res.Series {
		l := exploreLine{name: exploreSeriesName(st.GroupBy, sr.Labels)}
		if len(st.GroupBy) == 0 {
			l.labels = []exploreLabel{{Value: l.name}}
		}
		for _, k := range st.GroupBy {
			v := sr.Labels[k]
			l.labels = append(l.labels, exploreLabel{Value: v, Term: k + "=" + exploreQuote(v), Href: p.URL("filter", exploreNarrow(st.Filter, k, v))})
		}
		for _, pt := range sr.Points {
			l.points = append(l.points, ChartPoint{T: pt.Time, V: pt.Value})
		}
		series = append(series, l)
	}
	p.draw(series, ax, fmt.Sprintf("%s %s", st.Metric, st.Agg))
	return nil
}

// explorePromQL evaluates the state's expression as a range query.
func (s *server) explorePromQL(ctx context.Context, p *explorePage, step time.Duration) error {
	expr := strings.TrimSpace(p.State.PromQL)
	switch {
	case s.opt.PromQL == nil:
		p.Notes = append(p.Notes, "This server has no PromQL engine.")
		return nil
	case expr == "":
		return nil
	case len(expr) > exploreMaxPromQL:
		return exploreBadParam("promql", "the expression has %d bytes, more than %d", len(expr), exploreMaxPromQL)
	}
	ctx, cancel := context.WithTimeout(ctx, explorePromQLTimeout)
	defer cancel()
	f := p.frame
	q, err := s.opt.PromQL.RangeQuery(ctx, expr, f.Range.From, f.Range.To, step, 0)
	if err != nil {
		return explorePromQLError(err)
	}
	defer q.Close()
	res := q.Exec(ctx)
	if res.Err != nil {
		return explorePromQLError(res.Err)
	}
	warn, info := res.Warnings.AsStrings(expr, 10, 10)
	p.Notes = append(append(p.Notes, warn...), info...)
	m, ok := res.Value.(prom.Matrix)
	if !ok {
		return exploreBadParam("promql", "the expression gives a %s, not a range of samples", res.Value.Type())
	}
	p.Step = step
	if len(m) == 0 {
		p.Notes = append(p.Notes, "The expression gives no series in this range.")
	}
	var series []exploreLine
	top := 0.0
	histograms := 0
	for _, sr := range m {
		l := exploreLine{name: explorePromSeries(sr.Metric)}
		l.labels = []exploreLabel{{Value: l.name}}
		for _, pt := range sr.Floats {
			l.points = append(l.points, ChartPoint{T: time.UnixMilli(pt.T).UTC(), V: pt.F})
			if !math.IsNaN(pt.F) && !math.IsInf(pt.F, 0) {
				top = max(top, math.Abs(pt.F))
			}
		}
		histograms += len(sr.Histograms)
		series = append(series, l)
	}
	if histograms > 0 {
		p.Notes = append(p.Notes, fmt.Sprintf("%d native histogram samples are not drawn; use histogram_quantile() or histogram_count() to chart them.", histograms))
	}
	p.Columns = []string{"series"}
	p.draw(series, exploreAxis{scale: 1}, expr)
	return nil
}

// explorePromSeries writes a series' labels as Prometheus' UI does:
// name{label="value", ...}.
func explorePromSeries(ls labels.Labels) string {
	var b strings.Builder
	b.WriteString(ls.Get(labels.MetricName))
	b.WriteByte('{')
	first := true
	ls.Range(func(l labels.Label) {
		if l.Name == labels.MetricName {
			return
		}
		if !first {
			b.WriteString(", ")
		}
		first = false
		b.WriteString(l.Name + "=" + strconv.Quote(l.Value))
	})
	b.WriteByte('}')
	return b.String()
}

// explorePromQLError maps an engine error: a timeout is a 503, a store failure an
// internal error, and anything else (syntax, limits, evaluation) the
// expression's problem.
func explorePromQLError(err error) error {
	var (
		timeout  prom.ErrQueryTimeout
		canceled prom.ErrQueryCanceled
		storeErr *promql.StoreError
		promErr  prom.ErrStorage
	)
	switch {
	case errors.As(err, &storeErr), errors.As(err, &promErr):
		return fmt.Errorf("cannot evaluate PromQL: %w", err)
	case errors.As(err, &timeout), errors.As(err, &canceled), errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return &exploreParamError{param: "promql", msg: "promql: " + err.Error(), status: http.StatusServiceUnavailable}
	}
	return exploreBadParam("promql", "%v", err)
}

// exploreLine is a series before drawing.
type exploreLine struct {
	name   string
	labels []exploreLabel
	points []ChartPoint
}

// draw charts the series, at most exploreMaxSeries of them, and fills the
// legend.
func (p *explorePage) draw(lines []exploreLine, ax exploreAxis, label string) {
	if len(lines) > exploreMaxSeries {
		// The series with the highest peaks, in their original order.
		peak := func(l exploreLine) float64 {
			top := math.Inf(-1)
			for _, pt := range l.points {
				if !math.IsNaN(pt.V) {
					top = max(top, pt.V)
				}
			}
			return top
		}
		idx := make([]int, len(lines))
		for i := range idx {
			idx[i] = i
		}
		slices.SortStableFunc(idx, func(a, b int) int { return cmp.Compare(peak(lines[b]), peak(lines[a])) })
		idx = idx[:exploreMaxSeries]
		slices.Sort(idx)
		kept := make([]exploreLine, 0, exploreMaxSeries)
		for _, i := range idx {
			kept = append(kept, lines[i])
		}
		p.More = len(lines) - exploreMaxSeries
		lines = kept
	}
	c := Chart{From: p.frame.Range.From, To: p.frame.Range.To, Step: p.Step, Unit: ax.chartUnit, Label: label}
	for i, l := range lines {
		class := fmt.Sprintf("s%d", i%6)
		if i >= 6 {
			class += fmt.Sprintf(" ls%d", i/6) // dashed, dotted, ...: six colours repeat
		}
		cs := ChartSeries{Name: l.name, Class: class}
		cursor := make([][2]any, 0, len(l.points)) // [unix ms, formatted value] for the script
		var last, lo, hi, sum float64
		n := 0
		lo, hi = math.Inf(1), math.Inf(-1)
		for _, pt := range l.points {
			v := pt.V / ax.scale
			if pt.T.Before(c.From) {
				pt.T = c.From // the first step starts before the range
			}
			cs.Points = append(cs.Points, ChartPoint{T: pt.T, V: v})
			if math.IsNaN(v) || math.IsInf(v, 0) {
				continue
			}
			last, lo, hi, sum, n = v, min(lo, v), max(hi, v), sum+v, n+1
			cursor = append(cursor, [2]any{pt.T.UnixMilli(), c.format(v)})
		}
		c.Series = append(c.Series, cs)
		row := exploreSeries{Class: class, Labels: l.labels, Last: "–", Min: "–", Max: "–", Avg: "–"}
		if js, err := json.Marshal(cursor); err == nil { // numbers and strings always encode
			row.Points = string(js)
		}
		if n > 0 {
			row.Last, row.Min, row.Max, row.Avg = c.format(last), c.format(lo), c.format(hi), c.format(sum/float64(n))
		}
		p.Series = append(p.Series, row)
	}
	if len(lines) > 0 {
		p.Chart = c.SVG()
		p.Plot = explorePlot{From: c.From.UnixMilli(), To: c.To.UnixMilli(), Step: c.Step.Milliseconds(),
			Width: chartW, Left: chartLeft, Right: chartW - chartRight, Top: chartTop, Bottom: chartH - chartBot}
	}
}

// explorePlot is where the chart's plot lies, for the script that reads
// the values under the pointer: times in Unix milliseconds, coordinates in
// SVG units.
type explorePlot struct {
	From, To, Step                  int64
	Width, Left, Right, Top, Bottom int
}

// setAggs offers the aggregations valid for the chosen metric's type and
// checks the one asked for; without one, the type's usual one is taken.
func (p *explorePage) setAggs() error {
	m, st := p.Info, &p.State
	var opts []exploreOption
	add := func(v, label string) { opts = append(opts, exploreOption{Value: v, Label: label}) }
	quantiles := func() {
		for _, q := range []string{"p50", "p90", "p95", "p99"} {
			add(q, q)
		}
	}
	switch m.Type {
	case telemetry.MetricGauge:
		add("avg", "avg")
		add("max", "max")
		add("min", "min")
		add("sum", "sum of series")
		add("count", "count of points")
	case telemetry.MetricSum:
		if m.Monotonic {
			add("rate", "rate per second")
			add("sum", "increase")
		} else {
			add("sum", "sum (level)")
			add("rate", "change per second")
		}
		add("avg", "avg")
		add("max", "max")
		add("min", "min")
		add("count", "count of points")
	case telemetry.MetricHistogram, telemetry.MetricExponentialHistogram:
		quantiles()
		add("avg", "avg")
		add("max", "max")
		add("min", "min")
		add("rate", "rate per second")
		add("count", "count")
		add("sum", "sum")
	case telemetry.MetricSummary:
		quantiles()
		add("avg", "avg")
		add("rate", "rate per second")
		add("count", "count")
		add("sum", "sum")
	default:
		return fmt.Errorf("metric %q has unknown type %q", m.Name, m.Type)
	}
	if st.Agg == "" {
		// What a dashboard usually shows: a counter's rate, a latency's p95.
		st.Agg = opts[0].Value
		if m.Type == telemetry.MetricHistogram || m.Type == telemetry.MetricExponentialHistogram {
			st.Agg = "p95"
		}
	}
	found := slices.ContainsFunc(opts, func(o exploreOption) bool { return o.Value == st.Agg })
	if !found && explorePercentile(st.Agg) && (m.Type != telemetry.MetricGauge && m.Type != telemetry.MetricSum) {
		add(st.Agg, st.Agg) // any pNN, such as p99.9
		found = true
	}
	for i := range opts {
		opts[i].Selected = opts[i].Value == st.Agg
	}
	p.Aggs = opts
	if !found {
		vals := make([]string, len(opts))
		for i, o := range opts {
			vals[i] = o.Value
		}
		return exploreBadParam("agg", "%q does not apply to %s %q; use one of %s", st.Agg, exploreTypeLabel(m), m.Name, strings.Join(vals, ", "))
	}
	return nil
}

func explorePercentile(agg string) bool {
	n, err := strconv.ParseFloat(strings.TrimPrefix(agg, "p"), 64)
	return strings.HasPrefix(agg, "p") && err == nil && n > 0 && n < 100 && strings.Trim(agg[1:], "0123456789.") == ""
}

// TypeLabel names a metric's kind as a Prometheus user knows it.
func (p *explorePage) TypeLabel(m query.MetricInfo) string { return exploreTypeLabel(&m) }

func exploreTypeLabel(m *query.MetricInfo) string {
	switch {
	case m.Type == telemetry.MetricSum && m.Monotonic:
		return "counter"
	case m.Type == telemetry.MetricSum:
		return "up-down counter"
	case m.Type == telemetry.MetricExponentialHistogram:
		return "exp. histogram"
	}
	return m.Type
}

// setSteps fills the step choices; step is the one in use (auto's value
// when the state asks for auto).
func (p *explorePage) setSteps(step time.Duration) {
	auto := "auto"
	if p.State.Step == "" && step > 0 {
		auto += " · " + exploreFmtStep(step)
	}
	p.Steps = []exploreOption{{Value: "", Label: auto, Selected: p.State.Step == ""}}
	for _, v := range exploreSteps {
		p.Steps = append(p.Steps, exploreOption{Value: v, Label: v, Selected: v == p.State.Step})
	}
	if p.State.Step != "" && !slices.Contains(exploreSteps, p.State.Step) {
		p.Steps = append(p.Steps, exploreOption{Value: p.State.Step, Label: p.State.Step, Selected: true})
	}
}

// exploreParseStep reads the step parameter; 0 is auto.
func exploreParseStep(s string, rng time.Duration) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	d, err := api.ParseDuration(s)
	switch {
	case err != nil:
		return 0, exploreBadParam("step", "%q is not a duration like 30s, 5m or 1h", s)
	case d < time.Second:
		return 0, exploreBadParam("step", "%s is below the minimum of 1s", d)
	case d%time.Millisecond != 0:
		return 0, exploreBadParam("step", "%s is not a whole number of milliseconds", d)
	case rng/d > exploreMaxSteps:
		return 0, exploreBadParam("step", "%s gives %d points over the range, more than %d; use a larger step", d, rng/d, exploreMaxSteps)
	}
	return d, nil
}

// exploreStepAtLeast returns the smallest default step that is at least d.
func exploreStepAtLeast(d time.Duration) time.Duration {
	s := time.Second
	for s < d && s < 24*time.Hour {
		s = query.DefaultStep(s * 151) // the next default step
	}
	return s
}

func exploreFmtStep(d time.Duration) string {
	switch {
	case d%(24*time.Hour) == 0:
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	case d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d%time.Minute == 0:
		return fmt.Sprintf("%dm", d/time.Minute)
	}
	return d.String()
}

// exploreSeriesName is a group's label values as k=v pairs, for the chart's
// tooltips.
func exploreSeriesName(keys []string, ls map[string]string) string {
	if len(keys) == 0 {
		return "all series"
	}
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + exploreQuote(ls[k])
	}
	return strings.Join(parts, " ")
}

// exploreNarrow adds key=value to a filter, replacing an equality term on
// the same key.
func exploreNarrow(filter, key, value string) string {
	term := key + "=" + exploreQuote(value)
	var kept []string
	for _, t := range strings.Fields(filter) {
		if !strings.HasPrefix(t, key+"=") {
			kept = append(kept, t)
		}
	}
	return strings.Join(append(kept, term), " ")
}

// exploreQuote quotes a filter value when the filter syntax needs it.
func exploreQuote(v string) string {
	if v == "" || strings.ContainsAny(v, " ,\t\r\n\"*") || strings.HasSuffix(v, "*") {
		return strconv.Quote(v)
	}
	return v
}

// exploreAxis is how a chart's values read.
type exploreAxis struct {
	chartUnit string  // Chart.Unit
	scale     float64 // values are divided by it
	caption   string  // what the axis counts, when the numbers do not say
}

// exploreByteUnits are OpenTelemetry's byte units and their sizes.
var exploreByteUnits = map[string]float64{"By": 1, "KBy": 1e3, "MBy": 1e6, "GBy": 1e9, "TBy": 1e12,
	"KiBy": 1 << 10, "MiBy": 1 << 20, "GiBy": 1 << 30, "TiBy": 1 << 40}

// exploreAxisFor chooses the y axis of an aggregation of a metric with unit (UCUM,
// as OpenTelemetry writes it), whose largest value is top.
func exploreAxisFor(unit, typ, agg string, top float64) exploreAxis {
	dist := typ == telemetry.MetricHistogram || typ == telemetry.MetricExponentialHistogram || typ == telemetry.MetricSummary
	name := strings.Trim(unit, "{}")
	switch {
	case agg == "count" && dist:
		return exploreAxis{scale: 1, caption: "observations"}
	case agg == "count":
		return exploreAxis{scale: 1, caption: "points"}
	case agg == "rate" && dist:
		return exploreAxis{chartUnit: "rate", scale: 1, caption: "observations/s"}
	case agg == "rate":
		if size, ok := exploreByteUnits[unit]; ok {
			ax := exploreBytesAxis(size, top)
			ax.caption += "/s"
			return ax
		}
		if name == "" || name == "1" {
			return exploreAxis{chartUnit: "rate", scale: 1}
		}
		return exploreAxis{chartUnit: "rate", scale: 1, caption: name + "/s"}
	}
	if size, ok := exploreByteUnits[unit]; ok {
		return exploreBytesAxis(size, top)
	}
	switch unit {
	case "s":
		return exploreAxis{chartUnit: "s", scale: 1}
	case "ms":
		return exploreAxis{chartUnit: "ms", scale: 1}
	case "us":
		return exploreAxis{chartUnit: "ms", scale: 1e3}
	case "ns":
		return exploreAxis{chartUnit: "ms", scale: 1e6}
	case "", "1":
		return exploreAxis{scale: 1}
	}
	return exploreAxis{scale: 1, caption: name}
}

// exploreBytesAxis scales byte values by powers of 1024 so that the top reads
// below 1024.
func exploreBytesAxis(size, top float64) exploreAxis {
	v := top * size
	for i, u := range []string{"B", "KiB", "MiB", "GiB", "TiB"} {
		div := math.Pow(1024, float64(i))
		if v < div*1024 || u == "TiB" {
			return exploreAxis{scale: div / size, caption: u}
		}
	}
	return exploreAxis{scale: 1, caption: "B"} // unreachable
}

// exploreTop is the largest absolute value of a result.
func exploreTop(series []query.Series) float64 {
	top := 0.0
	for _, s := range series {
		for _, p := range s.Points {
			if !math.IsNaN(p.Value) && !math.IsInf(p.Value, 0) {
				top = max(top, math.Abs(p.Value))
			}
		}
	}
	return top
}
