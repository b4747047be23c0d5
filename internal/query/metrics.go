package query

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fibinc/telltale/internal/telemetry"
)

// Limits on metric queries. docs/design/metrics-query.md explains the
// semantics of every aggregation.
const (
	// metricMaxSteps caps the points of one result series, as Prometheus does.
	metricMaxSteps = 11_000
	// metricMaxPoints caps the rows one query reads: the points in the
	// range, or series × steps when SQL aggregates per step.
	metricMaxPoints = 1_000_000
	// metricLookback is how far before the range a query reads cumulative
	// points, so that the first point in range has a predecessor to take its
	// increase from.
	metricLookback = 5 * time.Minute
	// Caps on the labels of a group_by, the terms and bytes of a filter and
	// the bytes of a label name.
	metricMaxLabels   = 10
	metricMaxMatchers = 32
	metricMaxFilter   = 4096
	metricMaxKey      = 256
)

// metricResourceLabels are the label names of the resource columns, in the
// order MetricNames lists them.
var metricResourceLabels = [...]struct{ name, column string }{
	{"service", "service_name"},
	{"instance", "service_instance_id"},
	{"env", "deployment_environment"},
	{"host", "host_name"},
	{"zone", "availability_zone"},
	{"version", "service_version"},
}

// metricLikeEscaper escapes a LIKE pattern for ESCAPE '\'. Replacers are
// safe for concurrent use and never change once built.
var metricLikeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

// metricColumn returns the column of a resource label, or "" when label
// names a point attribute.
func metricColumn(label string) string {
	for _, l := range metricResourceLabels {
		if l.name == label {
			return l.column
		}
	}
	return ""
}

// MetricInfo describes one metric seen in a time range.
type MetricInfo struct {
	Name        string `json:"name"`
	Type        string `json:"type"`
	Unit        string `json:"unit"`
	Description string `json:"description"`
	// LabelKeys lists the labels a query can filter and group by: the
	// resource labels that are set, then the point attribute keys. An
	// attribute whose key is also a resource label appears as attr.<key>.
	LabelKeys   []string `json:"label_keys"`
	Temporality string   `json:"temporality"`
	Monotonic   bool     `json:"monotonic"`
}

// MetricNames lists the metrics with points in r, by name, at most limit of
// them. Type, unit, description and temporality are those of the newest point.
func (s *Service) MetricNames(ctx context.Context, r TimeRange, limit int) ([]MetricInfo, error) {
	if err := metricCheckRange(r); err != nil {
		return nil, err
	}
	// Keys are collected once per series rather than once per point.
	var inner, outer strings.Builder
	for _, l := range metricResourceLabels {
		fmt.Fprintf(&inner, ", any_value(%s) <> '' AS has_%s", l.column, l.name)
		fmt.Fprintf(&outer, ", bool_or(has_%s)", l.name)
	}
	q := `WITH s AS (
	SELECT name, max(timestamp) AS last, arg_max(type, timestamp) AS type, arg_max(unit, timestamp) AS unit,
		arg_max(description, timestamp) AS description, arg_max(temporality, timestamp) AS temporality,
		bool_or(monotonic) AS monotonic, any_value(attributes) AS attributes` + inner.String() + `
	FROM metric_points WHERE timestamp >= ? AND timestamp < ?
	GROUP BY name, series_id
)
SELECT name, arg_max(type, last), arg_max(unit, last), arg_max(description, last), arg_max(temporality, last),
	bool_or(monotonic), list_sort(list_distinct(flatten(list(json_keys(attributes)))))` + outer.String() + `
FROM s GROUP BY name ORDER BY name LIMIT ?`
	rows, cancel, err := s.query(ctx, q, r.From.UTC(), r.To.UTC(), s.limit(limit))
	if err != nil {
		return nil, fmt.Errorf("cannot list metrics: %w", err)
	}
	defer cancel()
	defer rows.Close()
	out := []MetricInfo{}
	for rows.Next() {
		var m MetricInfo
		var keys metricList[string]
		var has [len(metricResourceLabels)]bool
		dest := []any{&m.Name, &m.Type, &m.Unit, &m.Description, &m.Temporality, &m.Monotonic, &keys}
		for i := range has {
			dest = append(dest, &has[i])
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, fmt.Errorf("cannot read metric list: %w", err)
		}
		m.LabelKeys = make([]string, 0, len(has)+len(keys))
		for i, l := range metricResourceLabels {
			if has[i] {
				m.LabelKeys = append(m.LabelKeys, l.name)
			}
		}
		for _, k := range keys {
			if metricColumn(k) != "" || strings.HasPrefix(k, "attr.") {
				k = "attr." + k
			}
			m.LabelKeys = append(m.LabelKeys, k)
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cannot read metric list: %w", err)
	}
	return out, nil
}

// MetricQuery asks for one metric, aggregated per Step and per group.
type MetricQuery struct {
	Range TimeRange
	Name  string
	// Filter selects series by label: label=value and label!=value terms
	// separated by spaces or commas, all of which must match; a trailing *
	// matches a prefix. See metricParseFilter.
	Filter string
	// Agg is avg, sum, min, max, count, rate, or pNN for the NN-th
	// percentile (p50, p90, p95, p99, p99.9, ...).
	Agg     string
	GroupBy []string
	Step    time.Duration
}

// MetricResult is the answer to a MetricQuery. Series are sorted by their
// label values, in group_by order.
type MetricResult struct {
	Name   string        `json:"name"`
	Agg    string        `json:"agg"`
	Type   string        `json:"type"` // "" when no point matched
	Unit   string        `json:"unit"`
	Step   time.Duration `json:"-"` // marshalled as step_ms
	Series []Series      `json:"series"`
}

// MarshalJSON writes Step as whole milliseconds, the unit of Grafana's
// interval variables.
func (r MetricResult) MarshalJSON() ([]byte, error) {
	type plain MetricResult
	return json.Marshal(struct {
		plain
		StepMS int64 `json:"step_ms"`
	}{plain(r), r.Step.Milliseconds()})
}

// Series is the result of one group: the values of the group_by labels and
// one point per step that has data.
type Series struct {
	Labels map[string]string `json:"labels"`
	Points []Point           `json:"points"`
}

// Point is the value of one step; Time is the start of the step.
type Point struct {
	Time  time.Time `json:"time"`
	Value float64   `json:"value"`
}

// QueryMetric aggregates the points of one metric per step and group. A
// metric without points in the range gives a result without series.
func (s *Service) QueryMetric(ctx context.Context, q MetricQuery) (*MetricResult, error) {
	return s.queryMetric(ctx, q, metricMaxPoints)
}

// queryMetric is QueryMetric reading at most maxRead rows.
func (s *Service) queryMetric(ctx context.Context, q MetricQuery, maxRead int) (*MetricResult, error) {
	p, err := metricParse(q)
	if err != nil {
		return nil, err
	}
	res := &MetricResult{Name: q.Name, Agg: p.agg, Step: q.Step, Series: []Series{}}
	x := &metricExec{q: q, plan: p, maxRead: maxRead}
	x.where, x.args = s.metricWhere(q.Name, p.matchers)
	if err := s.metricSeries(ctx, x, res); err != nil {
		return nil, err
	}
	if len(x.groups) == 0 {
		return res, nil
	}
	if p.inSQL {
		err = s.metricReadSteps(ctx, x)
	} else {
		err = s.metricReadPoints(ctx, x)
	}
	if err != nil {
		return nil, err
	}
	res.Series = x.result()
	return res, nil
}

// metricExec is a QueryMetric call in progress.
type metricExec struct {
	q       MetricQuery
	plan    *metricPlan
	where   string // the condition on name and filter
	args    []any  // and its arguments
	maxRead int

	groupOf map[uint64]int // index in groups by series_id
	groups  []*metricGroup
}

// metricSeries finds the series matching the query, groups them, and
// completes the plan and the type and unit of res. It reads one row per
// series, so that an unsuitable or oversized query fails before any point
// is read.
func (s *Service) metricSeries(ctx context.Context, x *metricExec, res *MetricResult) error {
	q := x.q
	var sel strings.Builder
	var args []any
	for _, k := range q.GroupBy {
		expr, a := s.metricLabel(k)
		fmt.Fprintf(&sel, ", any_value(%s)", expr)
		args = append(args, a...)
	}
	args = slices.Concat(args, []any{q.Range.From.UTC(), q.Range.To.UTC()}, x.args)
	rows, cancel, err := s.query(ctx, `SELECT series_id, type, bool_or(temporality <> 'delta'), any_value(unit), count(*)`+
		sel.String()+`
FROM metric_points WHERE timestamp >= ? AND timestamp < ? AND `+x.where+` GROUP BY series_id, type`, args...)
	if err != nil {
		return fmt.Errorf("cannot query series of metric %q: %w", q.Name, err)
	}
	defer cancel()
	defer rows.Close()
	x.groupOf = map[uint64]int{}
	index := map[string]int{}
	types := map[string]int{}
	var (
		id                        uint64
		typ                       string
		cumulative, anyCumulative bool
		n, points                 int
		labels                    = make([]string, len(q.GroupBy))
	)
	dest := []any{&id, &typ, &cumulative, &res.Unit, &n}
	for i := range labels {
		dest = append(dest, &labels[i])
	}
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return fmt.Errorf("cannot read series of metric %q: %w", q.Name, err)
		}
		types[typ]++
		points += n
		anyCumulative = anyCumulative || cumulative
		key := strings.Join(labels, "\x00")
		g, ok := index[key]
		if !ok {
			g = len(x.groups)
			index[key] = g
			x.groups = append(x.groups, &metricGroup{key: key, labels: slices.Clone(labels), cells: map[int64]*metricCell{}})
		}
		x.groupOf[id] = g
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("cannot read series of metric %q: %w", q.Name, err)
	}
	if len(types) > 1 {
		var list []string
		for t, n := range types {
			list = append(list, fmt.Sprintf("%s (%d series)", t, n))
		}
		slices.Sort(list)
		return invalidf("metric %q has points of several types: %s; filter to one of them", q.Name, strings.Join(list, ", "))
	}
	if len(x.groups) > s.maxRows {
		return invalidf("query gives %d series, more than %d; filter or group by fewer labels", len(x.groups), s.maxRows)
	}
	for t := range types {
		res.Type = t
		if err := x.plan.setType(q.Name, t, anyCumulative); err != nil {
			return err
		}
	}
	if x.plan.inSQL {
		// One row per series and step, or fewer when points are sparse.
		steps := int(q.Range.To.Sub(q.Range.From)/q.Step) + 1
		if reads := min(points, len(x.groupOf)*steps); reads > x.maxRead {
			return invalidf("metric %q needs %d values read (%d series over %d steps), more than %d; "+
				"narrow the range or filter, or use a larger step", q.Name, reads, len(x.groupOf), steps, x.maxRead)
		}
	} else if points > x.maxRead {
		return invalidf("metric %q has %d points in the range, more than %d; narrow the range or filter", q.Name, points, x.maxRead)
	}
	return nil
}

// metricReadSteps reads the points aggregated per series and step by SQL,
// for plans that need no point-to-point state.
func (s *Service) metricReadSteps(ctx context.Context, x *metricExec) error {
	q, p := x.q, x.plan
	col := map[metricField]string{metricValue: "value", metricMin: "min", metricMax: "max",
		metricCount: "CAST(count AS DOUBLE)", metricSum: "sum"}[p.field]
	nan := ""
	if p.typ == telemetry.MetricGauge || p.typ == telemetry.MetricSum {
		nan = " AND NOT isnan(value)" // points without a recorded value
	}
	rows, cancel, err := s.query(ctx, `SELECT series_id, epoch_us(`+s.dialect.TimeBucket("timestamp", q.Step)+`) AS step,
	count(`+col+`), sum(`+col+`), min(`+col+`), max(`+col+`), arg_max(`+col+`, timestamp), sum(CAST(count AS DOUBLE))
FROM metric_points WHERE timestamp >= ? AND timestamp < ? AND `+x.where+nan+` AND type = ?
GROUP BY series_id, step LIMIT ?`,
		slices.Concat([]any{q.Range.From.UTC(), q.Range.To.UTC()}, x.args, []any{p.typ, x.maxRead + 1})...)
	if err != nil {
		return fmt.Errorf("cannot query metric %q: %w", q.Name, err)
	}
	defer cancel()
	defer rows.Close()
	var (
		id                         uint64
		step                       int64
		n                          int
		sum, lo, hi, last, counted sql.NullFloat64
	)
	for read := 0; rows.Next(); read++ {
		if read == x.maxRead {
			return invalidf("metric %q needs more than %d values read; narrow the range or filter, or use a larger step", q.Name, x.maxRead)
		}
		if err := rows.Scan(&id, &step, &n, &sum, &lo, &hi, &last, &counted); err != nil {
			return fmt.Errorf("cannot read metric %q: %w", q.Name, err)
		}
		g, ok := x.groupOf[id]
		if !ok || n == 0 {
			continue
		}
		c := x.groups[g].cell(step)
		switch p.mode {
		case metricRaw:
			c.n += n
			c.sum += sum.Float64
			c.min, c.max = math.Min(c.min, lo.Float64), math.Max(c.max, hi.Float64)
		case metricLast:
			c.n++
			c.sum += last.Float64
		default: // the increase of delta points
			c.n++
			c.sum += sum.Float64
			c.count += counted.Float64
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("cannot read metric %q: %w", q.Name, err)
	}
	return nil
}

// metricReadPoints reads the points one by one, ordered by series and time,
// for plans that take increases between points or merge buckets.
func (s *Service) metricReadPoints(ctx context.Context, x *metricExec) error {
	q, p := x.q, x.plan
	// Cumulative points need their predecessor; see metricLookback.
	from := q.Range.From.Add(-metricLookback)
	var r metricRow
	cols, dest := p.columns(&r)
	// Times travel as Unix microseconds: the driver converts each TIMESTAMP
	// value with a cgo call, which would double the cost of a large query.
	rows, cancel, err := s.query(ctx, `SELECT series_id, epoch_us(`+s.dialect.TimeBucket("timestamp", q.Step)+`), timestamp >= ?,
	coalesce(epoch_us(start_timestamp), 0), temporality <> 'delta', monotonic, `+cols+`
FROM metric_points WHERE timestamp >= ? AND timestamp < ? AND `+x.where+` AND type = ?
ORDER BY series_id, timestamp`,
		slices.Concat([]any{q.Range.From.UTC(), from.UTC(), q.Range.To.UTC()}, x.args, []any{p.typ})...)
	if err != nil {
		return fmt.Errorf("cannot query metric %q: %w", q.Name, err)
	}
	defer cancel()
	defer rows.Close()
	w := metricWalker{plan: p, lookFrom: from.UnixMicro()}
	// The cap counts points in the range, as metricSeries did; the lookback
	// adds at most a few minutes' worth.
	for read := 0; rows.Next(); {
		if err := rows.Scan(dest...); err != nil {
			return fmt.Errorf("cannot read points of metric %q: %w", q.Name, err)
		}
		if r.in {
			if read++; read > x.maxRead {
				return invalidf("metric %q has more than %d points in the range; narrow the range or filter", q.Name, x.maxRead)
			}
		}
		g, ok := x.groupOf[r.series]
		if !ok {
			continue // a series with points only before the range
		}
		w.add(x.groups[g], &r)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("cannot read points of metric %q: %w", q.Name, err)
	}
	w.flush()
	return nil
}

// metricWhere returns the condition selecting the points of a metric that
// match the filter, after the time condition.
func (s *Service) metricWhere(name string, ms []metricMatcher) (string, []any) {
	// Points flagged "no recorded value" mark a stream's end; as counts of
	// zero they would read as counter resets.
	var b strings.Builder
	b.WriteString("name = ? AND (flags & 1) = 0")
	args := []any{name}
	for _, m := range ms {
		expr, a := s.metricLabel(m.key)
		args = append(args, a...)
		switch {
		case m.prefix:
			op := "LIKE"
			if m.not {
				op = "NOT LIKE"
			}
			fmt.Fprintf(&b, ` AND %s %s ? ESCAPE '\'`, expr, op)
			args = append(args, metricLikeEscaper.Replace(m.value)+"%")
		case m.not:
			fmt.Fprintf(&b, " AND %s <> ?", expr)
			args = append(args, m.value)
		default:
			fmt.Fprintf(&b, " AND %s = ?", expr)
			args = append(args, m.value)
		}
	}
	return b.String(), args
}

// metricLabel returns the expression of a label's value, "" when the
// series lacks it, and the arguments of its placeholders.
func (s *Service) metricLabel(key string) (string, []any) {
	if col := metricColumn(key); col != "" {
		return col, nil
	}
	expr, arg := s.dialect.JSONString("attributes", strings.TrimPrefix(key, "attr."))
	return "coalesce(" + expr + ", '')", []any{arg}
}

func metricCheckRange(r TimeRange) error {
	if r.From.IsZero() || r.To.IsZero() || !r.From.Before(r.To) {
		return invalidf("time range [%s, %s) is empty; from must be before to",
			r.From.UTC().Format(time.RFC3339), r.To.UTC().Format(time.RFC3339))
	}
	return nil
}

// metricAggs are the aggregations besides pNN, for error messages.
const metricAggs = "avg, sum, min, max, count, rate, p50, p90, p95, p99 (or any pNN)"

// metricParse checks q and returns its plan; the type-dependent part of the
// plan is set once the metric's type is known.
func metricParse(q MetricQuery) (*metricPlan, error) {
	if q.Name == "" {
		return nil, invalidf("metric name is required")
	}
	if err := metricCheckRange(q.Range); err != nil {
		return nil, err
	}
	if err := checkStep(q.Range.To.Sub(q.Range.From), q.Step, metricMaxSteps); err != nil {
		return nil, err
	}
	p := &metricPlan{agg: strings.ToLower(q.Agg)}
	switch p.agg {
	case "avg", "sum", "min", "max", "count", "rate":
	case "":
		return nil, invalidf("agg is required: one of %s", metricAggs)
	default:
		n, err := strconv.ParseFloat(strings.TrimPrefix(p.agg, "p"), 64)
		if p.agg[0] != 'p' || strings.TrimLeft(p.agg[1:], "0123456789.") != "" || err != nil || n <= 0 || n >= 100 {
			return nil, invalidf("unknown agg %q: use one of %s", q.Agg, metricAggs)
		}
		p.quantile = n / 100
	}
	if len(q.GroupBy) > metricMaxLabels {
		return nil, invalidf("group_by has %d labels, at most %d are allowed", len(q.GroupBy), metricMaxLabels)
	}
	for i, k := range q.GroupBy {
		if err := metricCheckKey(k); err != nil {
			return nil, invalidf("group_by: %v", err)
		}
		if slices.Contains(q.GroupBy[:i], k) {
			return nil, invalidf("group_by lists %q twice", k)
		}
	}
	ms, err := metricParseFilter(q.Filter)
	if err != nil {
		return nil, invalidf("filter: %v", err)
	}
	p.matchers = ms
	return p, nil
}

// metricCheckKey accepts the label names OpenTelemetry and Prometheus use,
// so that a typo fails loudly rather than matching nothing.
func metricCheckKey(k string) error {
	switch {
	case k == "":
		return fmt.Errorf("empty label name")
	case len(k) > metricMaxKey:
		return fmt.Errorf("label name of %d bytes is longer than %d", len(k), metricMaxKey)
	}
	for i := 0; i < len(k); i++ {
		if !metricKeyByte(k[i]) {
			return fmt.Errorf("label name %q holds %q; use letters, digits and _ . - / :", k, k[i])
		}
	}
	return nil
}

func metricKeyByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '_' || c == '.' || c == '-' || c == '/' || c == ':'
}

// metricMatcher is one term of a label filter.
type metricMatcher struct {
	key, value  string
	not, prefix bool
}

// metricParseFilter parses a label filter: terms separated by spaces or
// commas, all of which must match.
//
//	service=checkout http.route!=/health env=prod* region="eu west"
//
// A term is label=value or label!=value. A value ending in * matches by
// prefix; a value in double quotes (Go syntax) may hold spaces, commas and
// escapes, and a * after the closing quote makes it a prefix too. Labels are
// service, instance, env, host, zone and version for the resource fields, or
// else point attribute keys; attr.<key> names an attribute explicitly. As in
// Prometheus, a series without the label has the value "", so label="" selects
// series without it and label!=x selects them too.
func metricParseFilter(s string) ([]metricMatcher, error) {
	if len(s) > metricMaxFilter {
		return nil, fmt.Errorf("longer than %d bytes", metricMaxFilter)
	}
	sep := func(c byte) bool { return c == ' ' || c == ',' || c == '\t' || c == '\n' || c == '\r' }
	var ms []metricMatcher
	i := 0
	for {
		for i < len(s) && sep(s[i]) {
			i++
		}
		if i == len(s) {
			return ms, nil
		}
		if len(ms) == metricMaxMatchers {
			return nil, fmt.Errorf("more than %d terms", metricMaxMatchers)
		}
		start := i
		for i < len(s) && metricKeyByte(s[i]) {
			i++
		}
		m := metricMatcher{key: s[start:i]}
		if m.key == "" {
			return nil, fmt.Errorf("at %d: expected a label name, found %q", i, s[i])
		}
		if err := metricCheckKey(m.key); err != nil {
			return nil, fmt.Errorf("at %d: %w", start, err)
		}
		switch rest := s[i:]; {
		case strings.HasPrefix(rest, "=~"), strings.HasPrefix(rest, "!~"):
			return nil, fmt.Errorf("at %d: regular expressions (%s) are not supported; end a value with * to match a prefix", i, rest[:2])
		case strings.HasPrefix(rest, "!="):
			m.not = true
			i += 2
		case strings.HasPrefix(rest, "="):
			i++
		default:
			return nil, fmt.Errorf("at %d: expected = or != after label %q", i, m.key)
		}
		if i < len(s) && s[i] == '"' {
			quoted, err := strconv.QuotedPrefix(s[i:])
			if err != nil {
				return nil, fmt.Errorf("at %d: unterminated or invalid quoted value", i)
			}
			m.value, _ = strconv.Unquote(quoted)
			i += len(quoted)
			if i < len(s) && s[i] == '*' {
				m.prefix = true
				i++
			}
			if i < len(s) && !sep(s[i]) {
				return nil, fmt.Errorf("at %d: expected a space or comma after the quoted value", i)
			}
		} else {
			start := i
			for i < len(s) && !sep(s[i]) {
				i++
			}
			m.value, m.prefix = strings.CutSuffix(s[start:i], "*")
		}
		ms = append(ms, m)
	}
}

// metricMode is how the points of one series feed the cells of its group.
type metricMode int

const (
	metricRaw      metricMode = iota // every value counts: sum, count, min, max
	metricLast                       // the series' last value in each step counts once
	metricIncrease                   // the increase since the previous point counts
	metricDist                       // the increase of the bucket counts is merged
)

// metricField is the number of a point that an aggregation uses.
type metricField int

const (
	metricValue metricField = iota
	metricCount
	metricSum
	metricMin
	metricMax
	metricQuantile // the summary's value for the plan's quantile
)

// metricPlan is how a query computes its aggregation.
type metricPlan struct {
	agg      string
	quantile float64 // 0 unless agg is pNN
	matchers []metricMatcher

	typ   string
	mode  metricMode
	field metricField
	// inSQL is true when SQL can aggregate each series per step, as it can
	// unless increases must be taken between points or buckets merged.
	inSQL bool
}

// setType completes the plan for the metric's type and whether any series
// is cumulative, or rejects an aggregation that makes no sense for the type.
func (p *metricPlan) setType(name, typ string, cumulative bool) error {
	p.typ = typ
	dist := typ == telemetry.MetricHistogram || typ == telemetry.MetricExponentialHistogram
	switch {
	case typ == telemetry.MetricGauge || typ == telemetry.MetricSum:
		switch {
		case p.agg == "rate" && typ == telemetry.MetricSum:
			p.mode = metricIncrease
		case p.agg == "sum" && typ == telemetry.MetricSum:
			p.mode = metricIncrease // metricLast for non-monotonic cumulative series; see modeOf
		case p.agg == "sum":
			p.mode = metricLast
		case p.agg == "rate" || p.quantile > 0:
			return invalidf("%s needs a %s; %q is a %s", p.agg, metricNeeds(p.agg), name, typ)
		}
	case dist || typ == telemetry.MetricSummary:
		switch p.agg {
		case "count", "rate":
			p.mode, p.field = metricIncrease, metricCount
		case "sum", "avg":
			p.mode, p.field = metricIncrease, metricSum
		case "min", "max":
			if !dist {
				return invalidf("%s needs a %s; %q is a summary", p.agg, metricNeeds(p.agg), name)
			}
			p.field = metricMin
			if p.agg == "max" {
				p.field = metricMax
			}
		default:
			p.mode = metricDist
			if !dist {
				p.mode, p.field = metricLast, metricQuantile
			}
		}
	default:
		return fmt.Errorf("metric %q has unknown type %q", name, typ)
	}
	p.inSQL = p.mode == metricRaw || p.mode == metricLast && typ == telemetry.MetricGauge ||
		p.mode == metricIncrease && !cumulative
	return nil
}

func metricNeeds(agg string) string {
	switch agg {
	case "rate":
		return "sum (counter), histogram or summary metric"
	case "min", "max":
		return "gauge, sum or histogram metric"
	}
	return "histogram, exponential histogram or summary metric"
}

// modeOf returns the mode for a series: summing a non-monotonic cumulative
// sum (an up-down counter) adds the series' current levels, not their changes.
func (p *metricPlan) modeOf(cumulative, monotonic bool) metricMode {
	if p.typ == telemetry.MetricSum && p.agg == "sum" && cumulative && !monotonic {
		return metricLast
	}
	return p.mode
}

// columns returns the value columns the plan reads, after the common ones,
// and where Scan puts them in r.
func (p *metricPlan) columns(r *metricRow) (string, []any) {
	d := []any{&r.series, &r.bucket, &r.in, &r.start, &r.cumulative, &r.monotonic}
	if p.typ == telemetry.MetricGauge || p.typ == telemetry.MetricSum {
		return "value", append(d, &r.value)
	}
	d = append(d, &r.count, &r.sum, &r.min, &r.max)
	switch {
	case p.mode != metricDist && p.field != metricQuantile:
		return "count, sum, min, max", d
	case p.typ == telemetry.MetricHistogram:
		return "count, sum, min, max, bucket_bounds, bucket_counts", append(d, &r.bounds, &r.counts)
	case p.typ == telemetry.MetricExponentialHistogram:
		return `count, sum, min, max, exp_scale, exp_zero_count,
	exp_positive_offset, exp_positive_counts, exp_negative_offset, exp_negative_counts`,
			append(d, &r.scale, &r.zero, &r.posOff, &r.pos, &r.negOff, &r.neg)
	default:
		return "count, sum, min, max, quantiles, quantile_values", append(d, &r.quantiles, &r.qvalues)
	}
}

// metricRow is one point as read from the store.
type metricRow struct {
	series                uint64
	bucket                int64 // start of the step, Unix microseconds
	in                    bool  // in the range rather than the lookback
	start                 int64 // Unix microseconds, 0 when unknown
	cumulative, monotonic bool
	value, sum, min, max  sql.NullFloat64
	count                 sql.Null[uint64]
	bounds                metricList[float64]
	counts                metricList[uint64]
	scale, posOff, negOff sql.Null[int32]
	zero                  sql.Null[uint64]
	pos, neg              metricList[uint64]
	quantiles, qvalues    metricList[float64]
}

// metricList scans a list column; NULL gives an empty list.
type metricList[T float64 | uint64 | string] []T

func (l *metricList[T]) Scan(src any) error {
	if src == nil {
		*l = nil
		return nil
	}
	vs, ok := src.([]any)
	if !ok {
		return fmt.Errorf("cannot scan %T into a list", src)
	}
	out := make([]T, len(vs))
	for i, v := range vs {
		if out[i], ok = v.(T); !ok {
			return fmt.Errorf("cannot scan list element %T into %T", v, out[i])
		}
	}
	*l = out
	return nil
}

// metricSample is what a point holds, or the increase between two points.
type metricSample struct {
	start             int64 // Unix microseconds, 0 when unknown
	value, count, sum float64
	hist              *metricHist // only when quantiles are asked of a histogram
	exp               *metricExp  // only when quantiles are asked of an exponential histogram
}

func (p *metricPlan) sample(r *metricRow) metricSample {
	s := metricSample{start: r.start, value: r.value.Float64, count: float64(r.count.V), sum: r.sum.Float64}
	if p.mode != metricDist {
		return s
	}
	if p.typ == telemetry.MetricHistogram {
		s.hist = &metricHist{bounds: r.bounds, counts: metricFloats(r.counts)}
		return s
	}
	s.exp = &metricExp{scale: r.scale.V, zero: float64(r.zero.V),
		pos: metricExpBuckets{r.posOff.V, metricFloats(r.pos)}, neg: metricExpBuckets{r.negOff.V, metricFloats(r.neg)}}
	return s
}

func metricFloats(us []uint64) []float64 {
	fs := make([]float64, len(us))
	for i, u := range us {
		fs[i] = float64(u)
	}
	return fs
}

// pick returns the value, count or sum of s.
func (s *metricSample) pick(f metricField) float64 {
	switch f {
	case metricCount:
		return s.count
	case metricSum:
		return s.sum
	}
	return s.value
}

// sub returns the increase from prev to s, or false when the counter was
// reset between them: its start time changed or a monotonic count fell.
func (s *metricSample) sub(prev *metricSample, monotonic bool) (metricSample, bool) {
	if s.start != 0 && prev.start != 0 && s.start != prev.start {
		return metricSample{}, false
	}
	d := metricSample{value: s.value - prev.value, count: s.count - prev.count, sum: s.sum - prev.sum}
	if d.count < 0 || monotonic && d.value < 0 {
		return metricSample{}, false
	}
	var ok bool
	switch {
	case s.hist != nil:
		d.hist, ok = s.hist.sub(prev.hist)
	case s.exp != nil:
		d.exp, ok = s.exp.sub(prev.exp)
	default:
		ok = true
	}
	return d, ok
}

// metricGroup is one result series in the making.
type metricGroup struct {
	key    string
	labels []string
	cells  map[int64]*metricCell // by step start, Unix microseconds
}

// cell returns the cell of the step starting at b, Unix microseconds.
func (g *metricGroup) cell(b int64) *metricCell {
	c := g.cells[b]
	if c == nil {
		c = &metricCell{min: math.Inf(1), max: math.Inf(-1)}
		g.cells[b] = c
	}
	return c
}

// metricCell accumulates one step of one group.
type metricCell struct {
	n        int     // contributions: values, series' last values, increases
	sum      float64 // their sum
	count    float64 // the sum of count increases, which divides a histogram's sum
	min, max float64 // NaN once a contribution had none
	hist     *metricHist
	exp      *metricExp
}

// metricWalker feeds the points, ordered by series and time, into cells.
type metricWalker struct {
	plan     *metricPlan
	lookFrom int64 // start of the read in Unix microseconds, before the range for cumulative metrics

	// The series being read.
	id      uint64
	started bool
	group   *metricGroup
	bucket  int64
	cell    *metricCell
	hasLast bool
	last    float64
	hasPrev bool
	prev    metricSample
}

// add feeds the point r of group g.
func (w *metricWalker) add(g *metricGroup, r *metricRow) {
	if !w.started || r.series != w.id {
		w.flush()
		w.started, w.id, w.group, w.hasPrev = true, r.series, g, false
		w.bucket, w.cell = r.bucket, nil
	} else if r.bucket != w.bucket {
		w.flush()
		w.bucket, w.cell = r.bucket, nil
	}
	in := r.in
	p := w.plan
	switch mode := p.modeOf(r.cumulative, r.monotonic); mode {
	case metricLast:
		if x := metricPick(p.field, r, p.quantile); in && !math.IsNaN(x) {
			w.hasLast, w.last = true, x
		}
	default:
		cur := p.sample(r)
		if math.IsNaN(cur.value) {
			return
		}
		d, ok := w.increase(&cur, r.cumulative, r.monotonic || p.typ != telemetry.MetricSum)
		if !ok || !in {
			return
		}
		c := w.cellNow()
		c.n++
		c.count += d.count
		if mode == metricIncrease {
			c.sum += d.pick(p.field)
			return
		}
		c.min = math.Min(c.min, metricNaN(r.min))
		c.max = math.Max(c.max, metricNaN(r.max))
		// d may share its slices with the previous point, which the next
		// increase is taken from: hist.add works in place, so the cell
		// gets a copy; exp.add returns a new histogram.
		switch {
		case c.hist == nil && d.hist != nil:
			c.hist = d.hist.clone()
		case d.hist != nil:
			c.hist.add(d.hist)
		case c.exp == nil:
			c.exp = d.exp
		default:
			c.exp = c.exp.add(d.exp)
		}
	}
}

// increase returns what cur adds over the previous point of its series.
// Delta points add themselves. A cumulative point adds its difference to the
// previous one, or itself after a reset; the first point of a series adds
// itself only if its stream started within the read, since otherwise it
// holds counts from before the range.
func (w *metricWalker) increase(cur *metricSample, cumulative, monotonic bool) (metricSample, bool) {
	if !cumulative {
		return *cur, true
	}
	prev, hadPrev := w.prev, w.hasPrev
	w.prev, w.hasPrev = *cur, true
	if !hadPrev {
		return *cur, cur.start != 0 && cur.start >= w.lookFrom
	}
	if d, ok := cur.sub(&prev, monotonic); ok {
		return d, true
	}
	return *cur, true
}

func (w *metricWalker) cellNow() *metricCell {
	if w.cell == nil {
		w.cell = w.group.cell(w.bucket)
	}
	return w.cell
}

// flush adds the last value of the series in the current step to its cell.
func (w *metricWalker) flush() {
	if w.hasLast {
		c := w.cellNow()
		c.n++
		c.sum += w.last
		w.hasLast = false
	}
}

// result returns the groups' points, groups sorted by labels.
func (x *metricExec) result() []Series {
	slices.SortFunc(x.groups, func(a, b *metricGroup) int { return strings.Compare(a.key, b.key) })
	out := []Series{}
	for _, g := range x.groups {
		s := Series{Labels: make(map[string]string, len(g.labels))}
		for i, l := range x.q.GroupBy {
			s.Labels[l] = g.labels[i]
		}
		for b, c := range g.cells {
			// JSON has no NaN or infinity, and neither helps a graph.
			if v, ok := x.plan.value(c, x.q.Step); ok && !math.IsNaN(v) && !math.IsInf(v, 0) {
				s.Points = append(s.Points, Point{Time: time.UnixMicro(b).UTC(), Value: v})
			}
		}
		if len(s.Points) > 0 {
			slices.SortFunc(s.Points, func(a, b Point) int { return a.Time.Compare(b.Time) })
			out = append(out, s)
		}
	}
	return out
}

// value is the aggregation's result for a cell.
func (p *metricPlan) value(c *metricCell, step time.Duration) (float64, bool) {
	if c.n == 0 {
		return 0, false
	}
	switch p.agg {
	case "avg":
		if p.mode == metricIncrease {
			return c.sum / c.count, c.count > 0
		}
		return c.sum / float64(c.n), true
	case "min":
		return c.min, true
	case "max":
		return c.max, true
	case "count":
		if p.mode == metricRaw {
			return float64(c.n), true
		}
		return c.sum, true
	case "sum":
		return c.sum, true
	case "rate":
		return c.sum / step.Seconds(), true
	}
	switch {
	case p.mode == metricLast: // summary quantiles, averaged across series
		return c.sum / float64(c.n), true
	case c.hist != nil:
		return c.hist.quantile(p.quantile, c.min, c.max)
	case c.exp != nil:
		return c.exp.quantile(p.quantile, c.min, c.max)
	}
	return 0, false
}

// metricPick returns the value of a row, or its value for quantile q, NaN
// when the row lacks it.
func metricPick(f metricField, r *metricRow, q float64) float64 {
	switch f {
	case metricValue:
		return metricNaN(r.value)
	case metricQuantile:
		for i, rq := range r.quantiles {
			if math.Abs(rq-q) < 1e-9 && i < len(r.qvalues) {
				return r.qvalues[i]
			}
		}
	}
	return math.NaN()
}

// metricNaN returns v, or NaN when it is NULL.
func metricNaN(v sql.NullFloat64) float64 {
	if !v.Valid {
		return math.NaN()
	}
	return v.Float64
}

// metricKnown reports whether a cell's min or max is usable.
func metricKnown(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// metricHist is an explicit-bucket histogram: counts[i] counts values in
// (bounds[i-1], bounds[i]], the last one those above every bound.
type metricHist struct {
	bounds []float64
	counts []float64
}

func (h *metricHist) clone() *metricHist {
	return &metricHist{bounds: h.bounds, counts: slices.Clone(h.counts)}
}

// sub returns h minus prev, or false when they differ in bounds or a count fell.
func (h *metricHist) sub(prev *metricHist) (*metricHist, bool) {
	if prev == nil || !slices.Equal(h.bounds, prev.bounds) || len(h.counts) != len(prev.counts) {
		return nil, false
	}
	d := &metricHist{bounds: h.bounds, counts: make([]float64, len(h.counts))}
	for i := range h.counts {
		if d.counts[i] = h.counts[i] - prev.counts[i]; d.counts[i] < 0 {
			return nil, false
		}
	}
	return d, true
}

// add adds o's counts to h. When the bounds differ, each of o's buckets goes
// to the bucket of h that holds its upper bound: exact when the bounds agree,
// as they do for one instrument, and a fair approximation otherwise.
func (h *metricHist) add(o *metricHist) {
	if slices.Equal(h.bounds, o.bounds) && len(h.counts) == len(o.counts) {
		for i, c := range o.counts {
			h.counts[i] += c
		}
		return
	}
	for i, c := range o.counts {
		j := len(h.bounds)
		if i < len(o.bounds) {
			j, _ = slices.BinarySearch(h.bounds, o.bounds[i])
		}
		if j < len(h.counts) {
			h.counts[j] += c
		}
	}
}

// quantile estimates the q-quantile as Prometheus' histogram_quantile does:
// linear interpolation within the bucket holding the rank. The lowest bucket
// starts at min when known, else at 0 (or is its upper bound when that is not
// positive); the overflow bucket ends at max when known, else the estimate is
// the highest finite bound. The result is clamped to [min, max] when known.
func (h *metricHist) quantile(q, vmin, vmax float64) (float64, bool) {
	if len(h.counts) != len(h.bounds)+1 {
		return 0, false // a malformed point; the decoder rejects them
	}
	total := 0.0
	for _, c := range h.counts {
		total += c
	}
	if total <= 0 {
		return 0, false
	}
	rank, cum := q*total, 0.0
	i := 0
	for ; i < len(h.counts)-1 && cum+h.counts[i] < rank; i++ {
		cum += h.counts[i]
	}
	lo, hi := math.Inf(-1), math.Inf(1)
	if i > 0 {
		lo = h.bounds[i-1]
	}
	if i < len(h.bounds) {
		hi = h.bounds[i]
	}
	if math.IsInf(lo, -1) {
		switch {
		case metricKnown(vmin) && vmin <= hi:
			lo = vmin
		case hi > 0:
			lo = 0
		default:
			return hi, true
		}
	}
	if math.IsInf(hi, 1) {
		if !metricKnown(vmax) || vmax < lo {
			return lo, true
		}
		hi = vmax
	}
	v := lo + (hi-lo)*(rank-cum)/h.counts[i]
	return metricClamp(v, vmin, vmax), true
}

func metricClamp(v, vmin, vmax float64) float64 {
	if metricKnown(vmin) && v < vmin {
		v = vmin
	}
	if metricKnown(vmax) && v > vmax {
		v = vmax
	}
	return v
}

// metricExp is an exponential histogram. With base = 2^(2^-scale), positive
// bucket index i counts values in (base^i, base^(i+1)] and negative bucket i
// values in [-base^(i+1), -base^i).
type metricExp struct {
	scale    int32
	zero     float64
	pos, neg metricExpBuckets
}

type metricExpBuckets struct {
	offset int32
	counts []float64
}

// at returns e at a scale no greater than its own: each bucket merges into
// the coarser bucket that holds it.
func (e *metricExp) at(scale int32) *metricExp {
	if scale == e.scale {
		return e
	}
	return &metricExp{scale: scale, zero: e.zero, pos: e.pos.downscale(e.scale - scale), neg: e.neg.downscale(e.scale - scale)}
}

func (b metricExpBuckets) downscale(by int32) metricExpBuckets {
	if len(b.counts) == 0 {
		return b
	}
	first := b.offset >> by
	out := make([]float64, (b.offset+int32(len(b.counts))-1)>>by-first+1)
	for i, c := range b.counts {
		out[(b.offset+int32(i))>>by-first] += c
	}
	return metricExpBuckets{first, out}
}

// add returns the sum of e and o at the smaller of their scales.
func (e *metricExp) add(o *metricExp) *metricExp {
	scale := min(e.scale, o.scale)
	a, b := e.at(scale), o.at(scale)
	return &metricExp{scale: scale, zero: a.zero + b.zero, pos: a.pos.add(b.pos), neg: a.neg.add(b.neg)}
}

func (b metricExpBuckets) add(o metricExpBuckets) metricExpBuckets {
	switch {
	case len(o.counts) == 0:
		return b
	case len(b.counts) == 0:
		return o
	}
	first := min(b.offset, o.offset)
	end := max(b.offset+int32(len(b.counts)), o.offset+int32(len(o.counts)))
	out := make([]float64, end-first)
	for _, x := range [2]metricExpBuckets{b, o} {
		for i, c := range x.counts {
			out[x.offset+int32(i)-first] += c
		}
	}
	return metricExpBuckets{first, out}
}

// sub returns e minus prev at the smaller of their scales, or false when a
// count fell.
func (e *metricExp) sub(prev *metricExp) (*metricExp, bool) {
	if prev == nil {
		return nil, false
	}
	scale := min(e.scale, prev.scale)
	a, b := e.at(scale), prev.at(scale)
	pos, ok1 := a.pos.sub(b.pos)
	neg, ok2 := a.neg.sub(b.neg)
	d := &metricExp{scale: scale, zero: a.zero - b.zero, pos: pos, neg: neg}
	return d, ok1 && ok2 && d.zero >= 0
}

func (b metricExpBuckets) sub(o metricExpBuckets) (metricExpBuckets, bool) {
	out := metricExpBuckets{b.offset, slices.Clone(b.counts)}
	for i, c := range o.counts {
		j := int(o.offset) + i - int(b.offset)
		if j < 0 || j >= len(out.counts) {
			if c > 0 {
				return out, false
			}
			continue
		}
		if out.counts[j] -= c; out.counts[j] < 0 {
			return out, false
		}
	}
	return out, true
}

// quantile estimates the q-quantile with exponential interpolation inside the
// bucket holding the rank, which suits buckets whose widths grow
// exponentially; zero-bucket values count as 0. The result is clamped to
// [min, max] when known.
func (e *metricExp) quantile(q, vmin, vmax float64) (float64, bool) {
	total := e.zero
	for _, c := range e.pos.counts {
		total += c
	}
	for _, c := range e.neg.counts {
		total += c
	}
	if total <= 0 {
		return 0, false
	}
	pow := func(x float64) float64 { return math.Exp2(math.Ldexp(x, -int(e.scale))) }
	rank, cum := q*total, 0.0
	// Negative buckets hold the smallest values, the highest index first.
	for i := len(e.neg.counts) - 1; i >= 0; i-- {
		if c := e.neg.counts[i]; cum+c >= rank {
			idx := float64(e.neg.offset) + float64(i)
			return metricClamp(-pow(idx+1-(rank-cum)/c), vmin, vmax), true
		}
		cum += e.neg.counts[i]
	}
	if cum+e.zero >= rank {
		return metricClamp(0, vmin, vmax), true
	}
	cum += e.zero
	// Counts are whole numbers, so the sums are exact and the rank is found.
	for i, c := range e.pos.counts {
		if cum+c >= rank {
			idx := float64(e.pos.offset) + float64(i)
			return metricClamp(pow(idx+(rank-cum)/c), vmin, vmax), true
		}
		cum += c
	}
	return 0, false
}

// CheckMetricFilter reports whether s is a valid label filter of
// MetricQuery, for validating configurations before they run.
func CheckMetricFilter(s string) error {
	if _, err := metricParseFilter(s); err != nil {
		return fmt.Errorf("invalid metric filter: %w", err)
	}
	return nil
}
