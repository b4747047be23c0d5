package query

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// Span is one span of a trace, laid out for a waterfall view.
type Span struct {
	TraceID       string    `json:"trace_id"`
	SpanID        string    `json:"span_id"`
	ParentSpanID  string    `json:"parent_span_id,omitempty"`
	TraceState    string    `json:"trace_state,omitempty"`
	Name          string    `json:"name"`
	Kind          string    `json:"kind"`
	Start         time.Time `json:"start"`
	DurationNs    int64     `json:"duration_ns"`
	DurationMs    float64   `json:"duration_ms"`
	StatusCode    string    `json:"status_code"`
	StatusMessage string    `json:"status_message,omitempty"`
	RequestID     string    `json:"request_id,omitempty"`
	Resource
	ScopeName    string          `json:"scope_name,omitempty"`
	ScopeVersion string          `json:"scope_version,omitempty"`
	Attributes   json.RawMessage `json:"attributes"`
	Events       json.RawMessage `json:"events"`
	Links        json.RawMessage `json:"links"`

	// Position in the trace: OffsetMs is the time from the trace's start,
	// Depth the distance from the span's root (0 for roots), ChildCount the
	// number of direct children.
	OffsetMs   float64 `json:"offset_ms"`
	Depth      int     `json:"depth"`
	ChildCount int     `json:"child_count"`
}

const spanColumns = `timestamp, duration_ns, trace_id, span_id, parent_span_id, trace_state, name, kind,
	status_code, status_message, request_id, scope_name, scope_version, attributes, events, links, ` + resourceColumns

func scanSpan(rows *sql.Rows) (Span, error) {
	var sp Span
	var attrs, events, links, resAttrs string
	dest := append([]any{&sp.Start, &sp.DurationNs, &sp.TraceID, &sp.SpanID, &sp.ParentSpanID, &sp.TraceState,
		&sp.Name, &sp.Kind, &sp.StatusCode, &sp.StatusMessage, &sp.RequestID, &sp.ScopeName, &sp.ScopeVersion,
		&attrs, &events, &links}, sp.Resource.dest(&resAttrs)...)
	if err := rows.Scan(dest...); err != nil {
		return sp, fmt.Errorf("cannot read span: %w", err)
	}
	sp.DurationMs = millis(sp.DurationNs)
	sp.Attributes = rawJSON(attrs, "{}")
	sp.Events = rawJSON(events, "[]")
	sp.Links = rawJSON(links, "[]")
	sp.ResourceAttributes = rawJSON(resAttrs, "{}")
	return sp, nil
}

// TraceSummary describes a trace as a search result lists it. The root is
// the earliest span without a parent, or the earliest span when the root
// has not arrived.
type TraceSummary struct {
	TraceID       string    `json:"trace_id"`
	RootService   string    `json:"root_service"`
	RootOperation string    `json:"root_operation"`
	Start         time.Time `json:"start"`
	DurationNs    int64     `json:"duration_ns"`
	DurationMs    float64   `json:"duration_ms"`
	SpanCount     int       `json:"span_count"`
	ErrorCount    int       `json:"error_count"`
	Services      []string  `json:"services"`
}

// Trace is a whole trace. Spans are in depth-first order, roots first and
// children by start time, so a waterfall draws them top to bottom.
type Trace struct {
	TraceSummary
	Spans []Span `json:"spans"`
	// Truncated is set when the trace has more spans than the row limit.
	Truncated bool `json:"truncated"`
}

// traceSlack is how far a trace's spans may lie outside the time window in
// which its matching spans were found. Jaeger assumes the same hour.
const traceSlack = time.Hour

// Trace returns the spans of one trace, over the whole retention.
func (s *Service) Trace(ctx context.Context, traceID string) (*Trace, error) {
	id := strings.ToLower(traceID)
	if !isHexID(id, 32) {
		return nil, invalidf("trace id %q is not 32 hex digits", traceID)
	}
	// The whole trace_id column is scanned: about 16 ms per 10M spans on
	// two cores (BenchmarkTraceByID). Narrowing to the trace's time bounds
	// first was measured no faster, as DuckDB reads the other columns only
	// for rows that match.
	spans, truncated, err := s.spans(ctx, "trace_id = ?", id)
	if err != nil {
		return nil, fmt.Errorf("cannot read trace %s: %w", id, err)
	}
	if len(spans) == 0 {
		return nil, fmt.Errorf("trace %s: %w", id, ErrNotFound)
	}
	t := buildTraces(spans)[0]
	t.Truncated = truncated
	return t, nil
}

// spans reads the spans matching where, in start order, at most s.maxRows
// of them.
func (s *Service) spans(ctx context.Context, where string, args ...any) (spans []Span, truncated bool, err error) {
	err = s.scanRows(ctx, func(r *sql.Rows) error {
		sp, err := scanSpan(r)
		spans = append(spans, sp)
		return err
	}, `SELECT `+spanColumns+` FROM spans WHERE `+where+` ORDER BY timestamp, span_id LIMIT ?`, append(args, s.maxRows+1)...)
	if len(spans) > s.maxRows {
		spans, truncated = spans[:s.maxRows], true
	}
	return spans, truncated, err
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

// buildTraces groups spans, given in start order, by trace and orders each
// trace as a tree. Traces come in the order of their first span.
func buildTraces(spans []Span) []*Trace {
	var traces []*Trace
	byID := map[string]*Trace{}
	for _, sp := range spans {
		t := byID[sp.TraceID]
		if t == nil {
			t = &Trace{TraceSummary: TraceSummary{TraceID: sp.TraceID}}
			byID[sp.TraceID] = t
			traces = append(traces, t)
		}
		t.Spans = append(t.Spans, sp)
	}
	for _, t := range traces {
		t.arrange()
	}
	return traces
}

// arrange orders t.Spans depth-first and fills in the summary.
func (t *Trace) arrange() {
	// At-least-once delivery can store a span twice; keep the first copy.
	seen := make(map[string]int, len(t.Spans))
	spans := t.Spans[:0]
	for _, sp := range t.Spans {
		if _, dup := seen[sp.SpanID]; !dup {
			seen[sp.SpanID] = len(spans)
			spans = append(spans, sp)
		}
	}
	children := make(map[int][]int, len(spans))
	var roots []int
	for i, sp := range spans {
		if p, ok := seen[sp.ParentSpanID]; ok && p != i {
			children[p] = append(children[p], i)
		} else {
			roots = append(roots, i)
		}
	}

	out := make([]Span, 0, len(spans))
	visited := make([]bool, len(spans))
	var walk func(i, depth int)
	walk = func(i, depth int) {
		visited[i] = true
		sp := spans[i]
		sp.Depth, sp.ChildCount = depth, len(children[i])
		out = append(out, sp)
		for _, c := range children[i] {
			if !visited[c] {
				walk(c, depth+1)
			}
		}
	}
	for _, i := range roots {
		walk(i, 0)
	}
	// Spans whose parents form a cycle are unreachable from any root; show
	// them anyway, each unvisited one as a root.
	for i := range spans {
		if !visited[i] {
			walk(i, 0)
		}
	}
	t.Spans = out

	start := spans[0].Start
	var end time.Time
	services := map[string]bool{}
	t.SpanCount, t.ErrorCount = len(spans), 0
	for i := range t.Spans {
		sp := &t.Spans[i]
		sp.OffsetMs = millis(int64(sp.Start.Sub(start)))
		if e := sp.Start.Add(time.Duration(sp.DurationNs)); e.After(end) {
			end = e
		}
		if sp.StatusCode == "error" {
			t.ErrorCount++
		}
		services[sp.Service] = true
	}
	root := spans[0]
	for _, sp := range spans {
		if sp.ParentSpanID == "" {
			root = sp
			break
		}
	}
	t.RootService, t.RootOperation = root.Service, root.Name
	t.Start = start
	t.DurationNs = int64(end.Sub(start))
	t.DurationMs = millis(t.DurationNs)
	t.Services = slices.Sorted(maps.Keys(services))
}

// TraceQuery selects traces. A trace matches when one of its spans matches
// every given condition, as in Jaeger: Service, Operation, Status, the
// duration bounds and each of Attrs (compared with the span's attributes,
// or its resource's) must all hold for the same span.
type TraceQuery struct {
	Range       TimeRange
	Service     string
	Operation   string
	MinDuration time.Duration // 0: no lower bound
	MaxDuration time.Duration // 0: no upper bound
	Status      string        // ok, error, unset, or "" for any
	Attrs       map[string]string
	Limit       int
}

// maxAttrFilters bounds the JSON lookups a search runs per span.
const maxAttrFilters = 16

// SearchTraces returns the traces with a span matching q that starts in the
// range, newest first. The summary of each trace covers its spans up to an
// hour outside the range.
func (s *Service) SearchTraces(ctx context.Context, q TraceQuery) ([]TraceSummary, error) {
	if err := checkRange(q.Range); err != nil {
		return nil, err
	}
	where := []string{"timestamp >= ?", "timestamp < ?"}
	args := []any{q.Range.From.UTC(), q.Range.To.UTC()}
	add := func(cond string, a ...any) {
		where = append(where, cond)
		args = append(args, a...)
	}
	if q.Service != "" {
		add("service_name = ?", q.Service)
	}
	if q.Operation != "" {
		add("name = ?", q.Operation)
	}
	switch q.Status {
	case "":
	case "ok", "error", "unset":
		add("status_code = ?", q.Status)
	default:
		return nil, invalidf("status %q is not one of ok, error, unset", q.Status)
	}
	if q.MinDuration < 0 || q.MaxDuration < 0 {
		return nil, invalidf("durations must not be negative")
	}
	if q.MaxDuration > 0 && q.MinDuration > q.MaxDuration {
		return nil, invalidf("min duration %s is above max duration %s", q.MinDuration, q.MaxDuration)
	}
	if q.MinDuration > 0 {
		add("duration_ns >= ?", int64(q.MinDuration))
	}
	if q.MaxDuration > 0 {
		add("duration_ns <= ?", int64(q.MaxDuration))
	}
	if len(q.Attrs) > maxAttrFilters {
		return nil, invalidf("%d attribute filters given, at most %d are allowed", len(q.Attrs), maxAttrFilters)
	}
	for _, k := range slices.Sorted(maps.Keys(q.Attrs)) {
		if k == "" {
			return nil, invalidf("attribute filter with an empty key")
		}
		span, spanArg := s.dialect.JSONString("attributes", k)
		res, resArg := s.dialect.JSONString("resource_attributes", k)
		add("("+span+" = ? OR "+res+" = ?)", spanArg, q.Attrs[k], resArg, q.Attrs[k])
	}

	// First the newest matching traces, then the summary of each over all
	// its spans.
	query := `WITH matched AS (
	SELECT trace_id, min(timestamp) AS first FROM spans WHERE ` + strings.Join(where, " AND ") + `
	GROUP BY trace_id ORDER BY first DESC LIMIT ?
)
SELECT trace_id,
	coalesce(arg_min(service_name, timestamp) FILTER (WHERE parent_span_id = ''), arg_min(service_name, timestamp)),
	coalesce(arg_min(name, timestamp) FILTER (WHERE parent_span_id = ''), arg_min(name, timestamp)),
	min(timestamp),
	max(epoch_us(timestamp) * 1000 + duration_ns) - epoch_us(min(timestamp)) * 1000,
	count(DISTINCT span_id),
	count(DISTINCT span_id) FILTER (WHERE status_code = 'error'),
	list(DISTINCT service_name)
FROM spans
WHERE timestamp >= ? AND timestamp < ? AND trace_id IN (SELECT trace_id FROM matched)
GROUP BY trace_id
ORDER BY min(timestamp) DESC, trace_id`
	args = append(args, s.limit(q.Limit), q.Range.From.Add(-traceSlack).UTC(), q.Range.To.Add(traceSlack).UTC())
	out := []TraceSummary{}
	err := s.scanRows(ctx, func(r *sql.Rows) error {
		var t TraceSummary
		var services stringList
		if err := r.Scan(&t.TraceID, &t.RootService, &t.RootOperation, &t.Start, &t.DurationNs,
			&t.SpanCount, &t.ErrorCount, &services); err != nil {
			return fmt.Errorf("cannot read trace summary: %w", err)
		}
		t.DurationMs = millis(t.DurationNs)
		t.Services = slices.Sorted(slices.Values(services))
		out = append(out, t)
		return nil
	}, query, args...)
	if err != nil {
		return nil, fmt.Errorf("cannot search traces: %w", err)
	}
	return out, nil
}
