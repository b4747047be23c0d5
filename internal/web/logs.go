package web

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/fibinc/telltale/internal/query"
	"github.com/fibinc/telltale/internal/query/filter"
)

// logQueries is what the logs page reads.
type logQueries interface {
	Logs(ctx context.Context, q query.LogQuery) (*query.LogPage, error)
	LogHistogram(ctx context.Context, q query.LogHistogramQuery) (*query.LogHistogram, error)
	CheckLogFilter(text string) error
}

// Limits of the logs page.
const (
	logRows    = 100 // records per page unless limit= says otherwise
	logMaxRows = 500 // the most limit= may ask for: more is slow to render and read
	// logBars is the most bars the histogram draws; the step is the
	// smallest of logSteps that keeps within it.
	logBars = 100
	// logAttrFilterMax is the longest attribute value offered as a filter;
	// longer ones (stack traces, payloads) make poor filters.
	logAttrFilterMax = 256
)

// logSteps are the histogram's steps; each divides a day, so that bars
// start on round times.
var logSteps = []time.Duration{
	time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second, 15 * time.Second, 30 * time.Second,
	time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute, 30 * time.Minute,
	time.Hour, 2 * time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour,
}

func logStep(rng time.Duration) time.Duration {
	for _, s := range logSteps {
		if rng/s <= logBars {
			return s
		}
	}
	return logSteps[len(logSteps)-1]
}

func (s *server) logRoutes(mux *http.ServeMux) {
	page := s.page("logs", s.logs)
	// A bad filter is answered with the page itself, its form and help, and
	// the problem next to the search box, so that it can be fixed in place.
	mux.HandleFunc("GET /logs", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query().Get("q")
		if err := s.opt.Query.CheckLogFilter(q); err != nil {
			f := s.frame(r, "Bad filter")
			f.Nav = "logs"
			s.render(w, r, http.StatusBadRequest, "logs", f, logsPage{Q: q, Problem: newFilterProblem(q, err), Examples: filterExamples(f)})
			return
		}
		page(w, r)
	})
	mux.Handle("GET /logs/tail", newTailer(s, tailOptions{}))
}

// logsPage is what templates/logs.html shows.
type logsPage struct {
	Q        string
	Problem  *filterProblem // the filter's problem; nothing else is shown
	Examples []filterExample
	Limit    int // "" in the form when it is the default
	Chart    template.HTML
	Step     time.Duration
	Total    int64
	Rows     []logRow
	// Older is the link to the next page, "" on the last; Newest the link
	// to the first, "" on it.
	Older, Newest string
	Refresh       string // this page again, from its first record
	// Tail is the live tail's URL and Since the time it starts after when
	// the page has no record; "" when the range does not end now or this
	// is not the first page.
	Tail, Since string
	IngestURL   string
}

// filterProblem is a bad filter, cut where the problem is.
type filterProblem struct {
	Message           string
	Offset            int // in bytes; -1 when the problem has no place
	Before, At, After string
}

func newFilterProblem(q string, err error) *filterProblem {
	var fe *filter.Error
	if !errors.As(err, &fe) {
		msg := strings.TrimPrefix(strings.TrimPrefix(err.Error(), query.ErrInvalid.Error()+": "), "filter: ")
		return &filterProblem{Message: msg, Offset: -1}
	}
	p := &filterProblem{Message: fe.Msg, Offset: fe.Offset}
	off := min(max(fe.Offset, 0), len(q))
	_, n := utf8.DecodeRuneInString(q[off:])
	p.Before, p.At, p.After = strings.ToValidUTF8(q[:off], "�"), strings.ToValidUTF8(q[off:off+n], "�"), strings.ToValidUTF8(q[off+n:], "�")
	if p.At == "" || p.At == " " {
		p.At = "␣" // a visible mark where the problem is at the end or a space
	}
	return p
}

// filterExample is a clickable example of the filter help.
type filterExample struct {
	Filter, Means, URL string
}

func filterExamples(f frame) []filterExample {
	ex := []filterExample{
		{Filter: `timeout`, Means: `bodies containing "timeout", any case`},
		{Filter: `"connection refused" service:api`, Means: `that text in the api service`},
		{Filter: `level>=warn -env:dev`, Means: `warnings and worse outside dev`},
		{Filter: `service:user* (level:error OR status>=500)`, Means: `services starting with "user", errors or attribute status ≥ 500`},
		{Filter: `user:u42 latency>250`, Means: `attribute user is u42 and attribute latency above 250`},
		{Filter: `attr.service:inner`, Means: `the log attribute "service", not the service`},
		{Filter: `resource.k8s.pod.name:web-*`, Means: `a resource attribute by prefix`},
		{Filter: `-user:*`, Means: `records without a user attribute`},
	}
	for i := range ex {
		ex[i].URL = link(f, "/logs", "q", ex[i].Filter)
	}
	return ex
}

func (s *server) logs(r *http.Request, f *frame) (any, error) {
	f.Title, f.Nav = "Logs", "logs"
	v := r.URL.Query()
	p := logsPage{Q: v.Get("q"), IngestURL: s.opt.IngestURL, Examples: filterExamples(*f), Limit: logRows}
	if f.Q != "" {
		f.Title = "Logs: " + truncate(f.Q, 60)
	}
	if l := v.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > logMaxRows {
			return nil, &userError{"limit must be a number from 1 to " + strconv.Itoa(logMaxRows) + ", not " + strconv.Quote(l)}
		}
		p.Limit = n
	}
	limit := ""
	if p.Limit != logRows {
		limit = strconv.Itoa(p.Limit)
	}
	if f.Env != "" {
		f.Envs = []string{f.Env}
	}
	text, base, err := logsFilter(p.Q, f.Env)
	if err != nil {
		return nil, err
	}
	cursor := v.Get("cursor")
	page, err := s.opt.Query.Logs(r.Context(), query.LogQuery{Range: f.Range, Filter: text, Limit: p.Limit, Cursor: cursor})
	if err != nil {
		return nil, err
	}
	p.Step = logStep(f.Range.To.Sub(f.Range.From))
	hist, err := s.opt.Query.LogHistogram(r.Context(), query.LogHistogramQuery{Range: f.Range, Filter: text, Step: p.Step})
	if err != nil {
		return nil, err
	}
	p.Total, p.Step = hist.Total, hist.Step
	if hist.Total > 0 {
		p.Chart = logChart(*f, p.Q, hist)
	}
	long := f.Range.To.Sub(f.Range.From) > 24*time.Hour
	for _, rec := range page.Records {
		p.Rows = append(p.Rows, newLogRow(*f, base, rec, long))
	}
	if page.NextCursor != "" {
		p.Older = link(*f, "/logs", "q", p.Q, "limit", limit, "cursor", page.NextCursor)
	}
	p.Refresh = link(*f, "/logs", "q", p.Q, "limit", limit)
	if cursor != "" {
		p.Newest = p.Refresh
	}
	if cursor == "" && (f.To == "" || f.To == "now") && f.Refresh == "" {
		p.Tail = link(*f, "/logs/tail", "q", p.Q)
		p.Since = f.Now.Format(time.RFC3339Nano)
	}
	return p, nil
}

// logsFilter returns the filter to run, the page's q restricted to the
// frame's environment, and base, the q that "filter by this" links extend.
func logsFilter(q, env string) (text, base string, err error) {
	e, err := filter.Parse(q)
	if err != nil {
		return "", "", &userError{"bad filter: " + err.Error()}
	}
	base = strings.TrimSpace(q)
	if _, ok := e.(filter.Or); ok {
		base = "(" + base + ")" // so that an added term applies to all of q
	}
	text = q
	if env != "" {
		text = filter.Term{Field: "env", Op: filter.Eq, Value: env}.String()
		if base != "" {
			text += " " + base
		}
	}
	return text, base, nil
}

// logChart draws the histogram: one stacked bar per step, by level, each a
// link that zooms into its step.
func logChart(f frame, q string, h *query.LogHistogram) template.HTML {
	type level struct {
		name, class string
		n           func(query.LogBucket) int64
	}
	levels := []level{
		{"error", "err", func(b query.LogBucket) int64 { return b.Error }},
		{"warn", "warn", func(b query.LogBucket) int64 { return b.Warn }},
		{"info", "info", func(b query.LogBucket) int64 { return b.Info }},
		{"debug", "debug", func(b query.LogBucket) int64 { return b.Debug }},
		{"no level", "other", func(b query.LogBucket) int64 { return b.Other }},
	}
	c := Chart{
		From: f.Range.From, To: f.Range.To, Step: h.Step, Bars: true,
		Label: "Matching log records per " + h.Step.String() + " by level",
		BarLink: func(from, to time.Time) string {
			return link(f, "/logs", "q", q, "from", from.UTC().Format(time.RFC3339), "to", to.UTC().Format(time.RFC3339))
		},
	}
	if len(h.Buckets) > 0 && h.Buckets[0].Time.Before(c.From) {
		c.From = h.Buckets[0].Time // the first step starts before the range
	}
	for _, l := range levels {
		sr := ChartSeries{Name: l.name, Class: l.class}
		var sum int64
		for _, b := range h.Buckets {
			n := l.n(b)
			sum += n
			sr.Points = append(sr.Points, ChartPoint{T: b.Time, V: float64(n)})
		}
		if sum > 0 {
			c.Series = append(c.Series, sr)
		}
	}
	return c.SVG()
}

// stampLayout is RFC 3339 with all nine digits of nanoseconds, so that
// stamps sort as text: the script orders live rows by them.
const stampLayout = "2006-01-02T15:04:05.000000000Z07:00"

// logRow is one record as the page shows it, with its links made.
type logRow struct {
	query.LogRecord
	Stamp      string // in stampLayout, for datetime=, data-time and the tail
	Clock      string
	LevelClass string
	Level      string
	ServiceURL string
	// RequestURL is the request view of the record's request, or of its
	// trace when it has no request id; RequestLabel says which.
	RequestURL, RequestLabel, RequestKind string
	// JSON is the body pretty-printed when it is JSON; other bodies show
	// in full in the summary when the details are open.
	JSON     string
	Sections []attrSection
}

type attrSection struct {
	Title string
	Attrs []logAttr
}

// logAttr is one key and value of a record's details.
type logAttr struct {
	Key, Value string
	// Filter is this page with key:value added to the filter; "" when no
	// filter can say it.
	Filter string
	// Link is where the value leads: the request view for ids, the
	// service page for services.
	Link, LinkClass string
}

func newLogRow(f frame, base string, rec query.LogRecord, long bool) logRow {
	t := rec.Time.UTC()
	row := logRow{LogRecord: rec, Stamp: t.Format(stampLayout), Clock: t.Format("15:04:05.000"), Level: cmp.Or(rec.Level, "–")}
	if long {
		row.Clock = t.Format("Jan 02 15:04:05.000")
	}
	switch rec.Level {
	case "fatal", "error":
		row.LevelClass = "error"
	case "warn", "info", "debug":
		row.LevelClass = rec.Level
	case "trace":
		row.LevelClass = "debug"
	default:
		row.LevelClass = "other"
	}
	if rec.Service != "" {
		row.ServiceURL = link(f, "/services/"+url.PathEscape(rec.Service))
	}
	switch {
	case rec.RequestID != "":
		row.RequestURL, row.RequestLabel, row.RequestKind = requestURL(f, rec.RequestID), rec.RequestID, "request"
	case rec.TraceID != "":
		row.RequestURL, row.RequestLabel, row.RequestKind = requestURL(f, rec.TraceID), rec.TraceID, "trace"
	}
	if b := strings.TrimSpace(rec.Body); len(b) > 1 && (b[0] == '{' || b[0] == '[') && json.Valid([]byte(b)) {
		var out bytes.Buffer
		if json.Indent(&out, []byte(b), "", "  ") == nil {
			row.JSON = out.String()
		}
	}

	add := func(sec *attrSection, key, value, field string) {
		a := logAttr{Key: key, Value: value}
		if field != "" {
			a.Filter = filterBy(f, base, field, value)
		}
		sec.Attrs = append(sec.Attrs, a)
	}
	idLink := func(sec *attrSection, key, value, field string) {
		add(sec, key, value, field)
		sec.Attrs[len(sec.Attrs)-1].Link, sec.Attrs[len(sec.Attrs)-1].LinkClass = requestURL(f, value), "request-link"
	}
	recSec := attrSection{Title: "Record"}
	add(&recSec, "time", t.Format(time.RFC3339Nano), "")
	if !rec.ObservedTime.IsZero() {
		add(&recSec, "observed", rec.ObservedTime.UTC().Format(time.RFC3339Nano), "")
	}
	if rec.Level != "" {
		add(&recSec, "level", rec.Level+" ("+strconv.Itoa(int(rec.SeverityNumber))+")", "")
		recSec.Attrs[len(recSec.Attrs)-1].Filter = filterBy(f, base, "level", rec.Level)
	}
	for _, kv := range []struct{ key, value, field string }{
		// Only the fields worth filtering by get a link: the page is
		// long enough with them.
		{"severity_text", rec.SeverityText, ""},
		{"trace_id", rec.TraceID, "trace_id"},
		{"span_id", rec.SpanID, ""},
		{"request_id", rec.RequestID, "request_id"},
		{"event_name", rec.EventName, "event"},
		{"scope", strings.TrimSpace(rec.ScopeName + " " + rec.ScopeVersion), ""},
		{"source", rec.Source, ""},
	} {
		switch {
		case kv.value == "":
		case kv.key == "trace_id" || kv.key == "request_id":
			idLink(&recSec, kv.key, kv.value, kv.field)
		default:
			add(&recSec, kv.key, kv.value, kv.field)
		}
	}

	resSec := attrSection{Title: "Resource"}
	for _, kv := range []struct{ key, value, field string }{
		{"service.name", rec.Service, "service"},
		{"service.version", rec.ServiceVersion, "version"},
		{"service.instance.id", rec.InstanceID, "instance"},
		{"deployment.environment", rec.Environment, "env"},
		{"host.name", rec.Host, "host"},
		{"cloud.availability_zone", rec.AvailabilityZone, "zone"},
	} {
		if kv.value != "" {
			add(&resSec, kv.key, kv.value, kv.field)
		}
	}
	if row.ServiceURL != "" {
		resSec.Attrs[0].Link, resSec.Attrs[0].LinkClass = row.ServiceURL, "service-link"
	}
	for _, kv := range jsonAttrs(rec.ResourceAttributes) {
		a := logAttr{Key: kv.key, Value: kv.value}
		if kv.scalar {
			a.Filter = filterBy(f, base, "resource."+kv.key, kv.value)
		}
		resSec.Attrs = append(resSec.Attrs, a)
	}

	attrSec := attrSection{Title: "Attributes"}
	for _, kv := range jsonAttrs(rec.Attributes) {
		a := logAttr{Key: kv.key, Value: kv.value}
		if kv.scalar {
			a.Filter = filterBy(f, base, "attr."+kv.key, kv.value)
			if isIDKey(kv.key) && kv.value != "" {
				a.Link, a.LinkClass = requestURL(f, kv.value), "request-link"
			}
		}
		attrSec.Attrs = append(attrSec.Attrs, a)
	}
	for _, sec := range []attrSection{recSec, resSec, attrSec} {
		if len(sec.Attrs) > 0 {
			row.Sections = append(row.Sections, sec)
		}
	}
	return row
}

// isIDKey says whether an attribute holds a trace or request id, whose
// value then links to the request view.
func isIDKey(key string) bool {
	k := strings.ToLower(key)
	for _, suffix := range []string{"request.id", "request_id", "requestid", "request-id", "trace.id", "trace_id", "traceid"} {
		if strings.HasSuffix(k, suffix) {
			return true
		}
	}
	return false
}

// filterBy returns this page with field:value added to the filter base, or
// "" when the filter language cannot say it (a key with spaces, a long
// value).
func filterBy(f frame, base, field, value string) string {
	if len(value) > logAttrFilterMax || strings.ContainsAny(value, "\n\r") {
		return ""
	}
	term := filter.Term{Field: field, Op: filter.Eq, Value: value}.String()
	// Read the term back: a key the grammar cannot hold as a field name
	// would parse as something else.
	e, err := filter.Parse(term)
	if t, ok := e.(filter.Term); err != nil || !ok || t.Field != field || t.Value != value || t.Op != filter.Eq || t.Prefix {
		return ""
	}
	q := term
	if base != "" {
		q = base + " " + term
	}
	if len(q) > filter.MaxQueryBytes {
		return ""
	}
	return link(f, "/logs", "q", q)
}

type jsonAttr struct {
	key, value string
	scalar     bool // a string, number or boolean, which a filter can match
}

// jsonAttrs lists the keys of a JSON object, sorted, with their values as
// text: strings as they are, anything else as compact JSON.
func jsonAttrs(raw json.RawMessage) []jsonAttr {
	var m map[string]json.RawMessage
	if len(raw) == 0 || json.Unmarshal(raw, &m) != nil {
		return nil
	}
	out := make([]jsonAttr, 0, len(m))
	for k, v := range m {
		a := jsonAttr{key: k}
		var s string
		switch {
		case json.Unmarshal(v, &s) == nil:
			a.value, a.scalar = s, true
		case len(v) > 0 && (v[0] == '{' || v[0] == '['):
			var b bytes.Buffer
			if json.Compact(&b, v) == nil {
				a.value = b.String()
			} else {
				a.value = string(v)
			}
		case string(v) == "null":
			a.value = "null"
		default: // numbers and booleans: the filter compares their text
			a.value, a.scalar = string(v), true
		}
		out = append(out, a)
	}
	slices.SortFunc(out, func(a, b jsonAttr) int { return strings.Compare(a.key, b.key) })
	return out
}

func (p *filterProblem) String() string {
	if p.Offset < 0 {
		return p.Message
	}
	return "at " + strconv.Itoa(p.Offset) + ": " + p.Message
}
