package web

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/fibinc/telltale/internal/query"
	"github.com/fibinc/telltale/internal/query/filter"
)

// requestQueries is what the request page reads.
type requestQueries interface {
	Request(ctx context.Context, id string) (*query.Request, error)
	RequestErrors(ctx context.Context, req *query.Request) ([]query.RequestError, error)
}

const (
	// maxSpansDrawn caps the waterfall rows: beyond a few thousand rows a
	// page is too slow to render and too long to read; the JSON API has
	// the rest.
	maxSpansDrawn = 2000
	// maxRequestIDLen is the query layer's bound on ids, checked here to
	// name the problem before any lookup.
	maxRequestIDLen = 256
	// maxDepthClass is the deepest indentation the stylesheet has a class
	// for; deeper spans are indented as much and show their depth.
	maxDepthClass = 24
	// serviceColours is the size of the palette, classes c0..c9.
	serviceColours = 10
	// topFrames are the in-app frames of a hop shown at once, the
	// innermost; up to maxAppFrames more are behind a disclosure.
	topFrames    = 3
	maxAppFrames = 20
)

func (s *server) requestRoutes(mux *http.ServeMux) {
	page := s.page("request", s.request)
	mux.HandleFunc("GET /requests/{id}", func(w http.ResponseWriter, r *http.Request) {
		// The search box sends one-word queries here first, in case they
		// are request ids; those that are not are a log search.
		if r.URL.Query().Get("fallback") == "logs" {
			id := r.PathValue("id")
			req, err := s.opt.Query.Request(r.Context(), id)
			if errors.Is(err, query.ErrNotFound) {
				// As typed: a one-word query may be a filter, such as level>=warn.
				http.Redirect(w, r, "/logs?"+url.Values{"q": {id}}.Encode(), http.StatusSeeOther)
				return
			}
			if err == nil {
				r = r.WithContext(context.WithValue(r.Context(), foundRequest{}, req))
			}
		}
		page(w, r)
	})
	mux.HandleFunc("GET /requests/{$}", s.page("request", func(*http.Request, *frame) (any, error) {
		return nil, &userError{"No request id given: the request view is at /requests/{trace id or request id}."}
	}))
}

// foundRequest is the context key of a request already looked up.
type foundRequest struct{}

// unknownID is the not-found error of the page, worded for people.
type unknownID struct{ id string }

func (e unknownID) Error() string {
	return fmt.Sprintf("Telltale has no trace and no request with the id %q: no span, log record or error carries it. It may be older than the retention, or not sent yet.", e.id)
}

func (e unknownID) Unwrap() error { return query.ErrNotFound }

// requestPage is what the request view shows.
type requestPage struct {
	ID         string
	TraceIDs   []string
	RequestIDs []string
	// Root is the service and operation of the first trace's root span.
	RootService, RootOperation string
	Start                      time.Time
	DurationMs                 float64
	SpanCount                  int
	FailedSpans                int
	Services                   []serviceChip
	Errors                     []requestError
	Waterfalls                 []waterfall
	// Drawn is the number of spans in the waterfalls, at most
	// maxSpansDrawn; Truncated says that the query left spans or records
	// out.
	Drawn     int
	Truncated bool
	Logs      []logLine
	LogsLinks []idLink // the logs page for each trace and request id
	// SpanParam is the span asked for with ?span=, Selected its details
	// when the request has it.
	SpanParam string
	Selected  *spanDetail
}

type serviceChip struct{ Name, Colour string }

type idLink struct{ Label, URL string }

type requestError struct {
	query.RequestError
	Hops []requestHop
}

type requestHop struct {
	query.ChainLink
	Colour     string
	SpanKnown  bool        // the span is drawn, so the hop links to it
	TopFrames  []frameLine // the innermost in-app frames
	AppFrames  []frameLine // the other in-app frames shown
	MoreFrames int         // in-app frames left out
	OtherCount int         // frames not in the app
}

type frameLine struct{ Function, File string }

type waterfall struct {
	TraceID    string
	DurationMs float64
	Ticks      [5]string // axis labels at 0, 25, 50, 75 and 100%
	Rows       []spanRow
	Hidden     int // spans of the trace not drawn
}

type spanRow struct {
	SpanID, Name, Service, Kind, StatusMessage string
	Colour                                     string
	Depth, DepthClass                          int
	Duration                                   string
	Href                                       string // selects the span
	Err                                        bool
	Selected                                   bool
	// Bar is the span's bar on the trace's time axis, with its log lines
	// marked. It is drawn here rather than in the template as a trace may
	// have thousands of rows; it holds numbers and fixed class names only.
	Bar template.HTML
}

type logLine struct {
	query.LogRecord
	Offset    string
	Colour    string
	SpanKnown bool // its span is in the request
	Selected  bool // its span is the selected one
	Attrs     []kv
}

type kv struct{ Key, Value string }

type spanDetail struct {
	query.Span
	Colour      string
	Offset      string
	ParentKnown bool
	Attrs       []kv
	Resource    []kv
	Events      []spanEvent
	Links       []spanLink
	Logs        int
}

type spanEvent struct {
	Offset, Name string
	Attrs        []kv
	// Exception is set for "exception" events: OpenTelemetry's
	// exception.type, exception.message and exception.stacktrace.
	Exception *exceptionInfo
}

type exceptionInfo struct{ Type, Message, Stack string }

type spanLink struct {
	TraceID, SpanID, TraceState string
	Attrs                       []kv
}

func (s *server) request(r *http.Request, f *frame) (any, error) {
	id := r.PathValue("id")
	f.Title = "Request " + shortenID(id)
	if err := checkRequestID(id); err != nil {
		return nil, err
	}
	spanParam := r.URL.Query().Get("span")
	if spanParam != "" && !isHex(spanParam, 16) {
		return nil, &userError{fmt.Sprintf("span %q is not a span id: want 16 hex digits", spanParam)}
	}
	spanParam = strings.ToLower(spanParam)
	req, _ := r.Context().Value(foundRequest{}).(*query.Request)
	if req == nil {
		var err error
		if req, err = s.opt.Query.Request(r.Context(), id); errors.Is(err, query.ErrNotFound) {
			return nil, unknownID{id}
		} else if err != nil {
			return nil, err
		}
	}
	errs, err := s.opt.Query.RequestErrors(r.Context(), req)
	if err != nil {
		return nil, err
	}
	return buildRequestPage(*f, req, errs, spanParam), nil
}

// checkRequestID refuses ids that no sender could have stored.
func checkRequestID(id string) error {
	switch {
	case len(id) > maxRequestIDLen:
		return &userError{fmt.Sprintf("the request id is %d bytes long; ids are at most %d", len(id), maxRequestIDLen)}
	case !utf8.ValidString(id):
		return &userError{"the request id is not valid UTF-8"}
	case strings.ContainsFunc(id, unicode.IsControl):
		return &userError{"the request id contains control characters"}
	}
	return nil
}

func buildRequestPage(f frame, req *query.Request, errs []query.RequestError, spanParam string) *requestPage {
	p := &requestPage{ID: req.ID, Truncated: req.Truncated, SpanParam: spanParam}
	colours := colourServices(req)

	// The request's extent: its traces and its records.
	var end time.Time
	extend := func(from, to time.Time) {
		if p.Start.IsZero() || from.Before(p.Start) {
			p.Start = from
		}
		if to.After(end) {
			end = to
		}
	}
	for _, t := range req.Traces {
		extend(t.Start, t.Start.Add(time.Duration(t.DurationNs)))
	}
	for _, l := range req.Logs {
		extend(l.Time, l.Time)
	}
	p.DurationMs = float64(end.Sub(p.Start)) / 1e6

	spans := map[string]*query.Span{}
	rids := map[string]bool{}
	for _, t := range req.Traces {
		p.TraceIDs = append(p.TraceIDs, t.TraceID)
		p.SpanCount += t.SpanCount
		p.FailedSpans += t.ErrorCount
		for i := range t.Spans {
			sp := &t.Spans[i]
			spans[sp.SpanID] = sp
			if sp.RequestID != "" {
				rids[sp.RequestID] = true
			}
		}
	}
	logsBySpan := map[string][]query.LogRecord{}
	for _, l := range req.Logs {
		if l.RequestID != "" {
			rids[l.RequestID] = true
		}
		if l.SpanID != "" {
			logsBySpan[l.SpanID] = append(logsBySpan[l.SpanID], l)
		}
	}
	if len(req.Traces) == 0 && len(rids) == 0 {
		rids[req.ID] = true
	}
	p.RequestIDs = slices.Sorted(func(yield func(string) bool) {
		for id := range rids {
			if !yield(id) {
				return
			}
		}
	})
	if len(req.Traces) > 0 {
		p.RootService, p.RootOperation = req.Traces[0].RootService, req.Traces[0].RootOperation
	} else if len(req.Logs) > 0 {
		p.RootService = req.Logs[0].Service
	}
	for _, name := range sortedKeys(colours) {
		p.Services = append(p.Services, serviceChip{name, colours[name]})
	}

	// Links to the logs page over the request's time, a minute either side.
	// Whole seconds, rounded outwards.
	from := p.Start.Add(-time.Minute).Truncate(time.Second).UTC().Format(time.RFC3339)
	to := end.Add(time.Minute + time.Second - 1).Truncate(time.Second).UTC().Format(time.RFC3339)
	for _, t := range p.TraceIDs {
		q := filter.Term{Field: "trace_id", Op: filter.Eq, Value: t}.String()
		p.LogsLinks = append(p.LogsLinks, idLink{"trace " + shortenID(t), link(f, "/logs", "q", q, "from", from, "to", to)})
	}
	for _, rid := range p.RequestIDs {
		q := filter.Term{Field: "request_id", Op: filter.Eq, Value: rid}.String()
		p.LogsLinks = append(p.LogsLinks, idLink{"request " + shortenID(rid), link(f, "/logs", "q", q, "from", from, "to", to)})
	}

	// The waterfalls, one per trace, at most maxSpansDrawn rows in all.
	self := p.Self()
	drawn := map[string]bool{}
	for _, t := range req.Traces {
		w := waterfall{TraceID: t.TraceID, DurationMs: t.DurationMs}
		for i := range w.Ticks {
			w.Ticks[i] = fmtMs(t.DurationMs * float64(i) / 4)
		}
		for _, sp := range t.Spans {
			if p.Drawn == maxSpansDrawn {
				w.Hidden++
				continue
			}
			p.Drawn++
			drawn[sp.SpanID] = true
			href := link(f, self, "span", sp.SpanID) + "#span-" + sp.SpanID
			w.Rows = append(w.Rows, spanRowOf(t, sp, colours[sp.Service], href, logsBySpan[sp.SpanID], sp.SpanID == spanParam))
		}
		p.Waterfalls = append(p.Waterfalls, w)
	}

	for _, l := range req.Logs {
		p.Logs = append(p.Logs, logLine{LogRecord: l, Offset: "+" + fmtMs(float64(l.Time.Sub(p.Start))/1e6), Colour: colours[l.Service],
			SpanKnown: drawn[l.SpanID], Selected: spanParam != "" && l.SpanID == spanParam, Attrs: flatten(l.Attributes)})
	}

	for _, e := range errs {
		re := requestError{RequestError: e}
		for _, l := range e.Chain {
			re.Hops = append(re.Hops, hopOf(l, colours[l.Service], drawn[l.SpanID]))
		}
		p.Errors = append(p.Errors, re)
	}

	if sp := spans[spanParam]; sp != nil {
		p.Selected = spanDetailOf(sp, colours[sp.Service], p.Start, spans, len(logsBySpan[sp.SpanID]))
	}
	return p
}

// colourServices gives each service of the request a palette class: by a
// hash of its name, so that a service keeps its colour from one request to
// the next, moved to the next free colour on a collision, so that the
// services of one request are told apart.
func colourServices(req *query.Request) map[string]string {
	names := map[string]bool{}
	for _, t := range req.Traces {
		for _, sp := range t.Spans {
			names[sp.Service] = true
		}
	}
	for _, l := range req.Logs {
		names[l.Service] = true
	}
	out := map[string]string{}
	used := map[int]bool{}
	for _, name := range sortedKeys(names) {
		h := fnv.New32a()
		h.Write([]byte(name))
		c := int(h.Sum32() % serviceColours)
		for i := 0; i < serviceColours && used[c]; i++ {
			c = (c + 1) % serviceColours
		}
		used[c] = true
		out[name] = "c" + strconv.Itoa(c)
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func spanRowOf(t *query.Trace, sp query.Span, colour, href string, logs []query.LogRecord, selected bool) spanRow {
	row := spanRow{SpanID: sp.SpanID, Name: sp.Name, Service: sp.Service, Kind: sp.Kind, StatusMessage: sp.StatusMessage,
		Colour: colour, Depth: sp.Depth, DepthClass: min(sp.Depth, maxDepthClass), Duration: fmtMs(sp.DurationMs),
		Href: href, Err: sp.StatusCode == "error", Selected: selected}
	total := t.DurationMs
	if total <= 0 {
		total = 1
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg width="100%%" height="14" aria-hidden="true"><rect class="%s" x="%s" y="2" width="%s" height="10" rx="1"/>`,
		colourClass(colour), pct(clamp(sp.OffsetMs/total*100)), pct(max(clamp(sp.DurationMs/total*100), 0.2)))
	for _, l := range logs {
		x := pct(clamp(float64(l.Time.Sub(t.Start)) / 1e6 / total * 100))
		fmt.Fprintf(&b, `<line class="logmark lvl-%s" x1="%s" x2="%[2]s" y1="0" y2="14"/>`, levelClass(l.Level), x)
	}
	b.WriteString(`</svg>`)
	row.Bar = template.HTML(b.String())
	return row
}

// colourClass and levelClass pass only the class names the page makes,
// as they are written into HTML unescaped.
func colourClass(c string) string {
	if len(c) == 2 && c[0] == 'c' && c[1] >= '0' && c[1] <= '9' {
		return c
	}
	return ""
}

func levelClass(l string) string {
	switch l {
	case "trace", "debug", "info", "warn", "error", "fatal":
		return l
	}
	return "none"
}

func clamp(v float64) float64 { return min(max(v, 0), 100) }

func pct(v float64) string { return strconv.FormatFloat(v, 'f', 2, 64) + "%" }

func hopOf(l query.ChainLink, colour string, known bool) requestHop {
	h := requestHop{ChainLink: l, Colour: colour, SpanKnown: known}
	// Frames are stored oldest call first; the failing line is read first.
	for _, fr := range slices.Backward(l.Frames) {
		if fr.InApp == nil || !*fr.InApp {
			h.OtherCount++
			continue
		}
		if len(h.TopFrames)+len(h.AppFrames) == maxAppFrames {
			h.MoreFrames++
			continue
		}
		fn := fr.Function
		if fr.Module != "" {
			fn = fr.Module + "." + fn
		}
		file := cmp.Or(fr.Filename, fr.AbsPath)
		if fr.Lineno > 0 {
			file += ":" + strconv.Itoa(fr.Lineno)
		}
		if len(h.TopFrames) < topFrames {
			h.TopFrames = append(h.TopFrames, frameLine{fn, file})
		} else {
			h.AppFrames = append(h.AppFrames, frameLine{fn, file})
		}
	}
	return h
}

func spanDetailOf(sp *query.Span, colour string, start time.Time, spans map[string]*query.Span, logs int) *spanDetail {
	d := &spanDetail{Span: *sp, Colour: colour, Offset: "+" + fmtMs(float64(sp.Start.Sub(start))/1e6),
		ParentKnown: spans[sp.ParentSpanID] != nil, Attrs: flatten(sp.Attributes), Logs: logs}
	for _, a := range []kv{
		{"service.name", sp.Service}, {"service.version", sp.ServiceVersion}, {"service.instance.id", sp.InstanceID},
		{"deployment.environment.name", sp.Environment}, {"host.name", sp.Host}, {"cloud.availability_zone", sp.AvailabilityZone},
	} {
		if a.Value != "" {
			d.Resource = append(d.Resource, a)
		}
	}
	d.Resource = append(d.Resource, flatten(sp.ResourceAttributes)...)

	var events []struct {
		Time       time.Time       `json:"time"`
		Name       string          `json:"name"`
		Attributes json.RawMessage `json:"attributes"`
	}
	if json.Unmarshal(sp.Events, &events) != nil {
		d.Events = []spanEvent{{Name: "(events not readable)", Attrs: []kv{{"raw", string(sp.Events)}}}}
	}
	for _, e := range events {
		ev := spanEvent{Name: e.Name}
		if !e.Time.IsZero() {
			ev.Offset = "+" + fmtMs(float64(e.Time.Sub(sp.Start))/1e6)
		}
		attrs := flatten(e.Attributes)
		if e.Name == "exception" {
			ex := &exceptionInfo{}
			attrs = slices.DeleteFunc(attrs, func(a kv) bool {
				switch a.Key {
				case "exception.type":
					ex.Type = a.Value
				case "exception.message":
					ex.Message = a.Value
				case "exception.stacktrace":
					ex.Stack = a.Value
				default:
					return false
				}
				return true
			})
			ev.Exception = ex
		}
		ev.Attrs = attrs
		d.Events = append(d.Events, ev)
	}

	var links []struct {
		TraceID    string          `json:"trace_id"`
		SpanID     string          `json:"span_id"`
		TraceState string          `json:"trace_state"`
		Attributes json.RawMessage `json:"attributes"`
	}
	if json.Unmarshal(sp.Links, &links) != nil {
		d.Links = []spanLink{{Attrs: []kv{{"raw", string(sp.Links)}}}}
	}
	for _, l := range links {
		d.Links = append(d.Links, spanLink{TraceID: l.TraceID, SpanID: l.SpanID, TraceState: l.TraceState, Attrs: flatten(l.Attributes)})
	}
	return d
}

// flatten lists the attributes of a JSON object by key, strings as they
// are and other values as JSON. Text that is not an object is one
// attribute, "", so that nothing sent is hidden.
func flatten(raw json.RawMessage) []kv {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "{}" || string(raw) == "null" {
		return nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return []kv{{"", string(raw)}}
	}
	out := make([]kv, 0, len(m))
	for _, k := range sortedKeys(m) {
		out = append(out, kv{k, attrValue(m[k])})
	}
	return out
}

func attrValue(v json.RawMessage) string {
	var s string
	if len(v) > 0 && v[0] == '"' && json.Unmarshal(v, &s) == nil {
		return s
	}
	var b bytes.Buffer
	if json.Compact(&b, v) == nil {
		return b.String()
	}
	return string(v)
}

// shortenID keeps titles short: the first 8 characters of long ids.
func shortenID(id string) string {
	if len(id) <= 12 {
		return id
	}
	for i := range id {
		if i >= 8 {
			return id[:i] + "…"
		}
	}
	return id
}

// TimeOf formats a time in the request view: UTC, to the millisecond.
func (p *requestPage) TimeOf(t time.Time) string {
	return t.UTC().Format("2006-01-02 15:04:05.000 UTC")
}

// Clock formats a log record's time of day.
func (l logLine) Clock() string { return l.Time.UTC().Format("15:04:05.000000") }

// Self is the URL of this request's page.
func (p *requestPage) Self() string { return p.RequestHref(p.ID) }

// RequestHref is the URL of the request view of a trace or request id.
func (p *requestPage) RequestHref(id string) string { return "/requests/" + url.PathEscape(id) }

// ServiceHref is the URL of a service's page.
func (p *requestPage) ServiceHref(name string) string { return "/services/" + url.PathEscape(name) }

// IsTrace tells whether the id asked for is the one trace shown.
func (p *requestPage) IsTrace() bool {
	return len(p.TraceIDs) == 1 && p.TraceIDs[0] == strings.ToLower(p.ID)
}

// Clock formats a time of day in the request view.
func (p *requestPage) Clock(t time.Time) string { return t.UTC().Format("15:04:05.000") }
