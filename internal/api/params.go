package api

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/fibinc/telltale/internal/query"
)

// paramError is a query parameter the API cannot use.
type paramError struct {
	name, problem string
}

func (e *paramError) Error() string { return fmt.Sprintf("parameter %s: %s", e.name, e.problem) }

func badParam(name, format string, args ...any) error {
	return &paramError{name, fmt.Sprintf(format, args...)}
}

// defaultRange is the range of a request that gives neither from nor to.
const defaultRange = time.Hour

// timeRange reads from and to. Either may be omitted: to defaults to now,
// from to an hour before to.
func (h *handler) timeRange(r *http.Request) (query.TimeRange, error) {
	v := r.URL.Query()
	now := h.now()
	to, err := parseTime(v.Get("to"), now)
	if err != nil {
		return query.TimeRange{}, badParam("to", "%v", err)
	}
	from, err := parseTime(v.Get("from"), now)
	if err != nil {
		return query.TimeRange{}, badParam("from", "%v", err)
	}
	if to.IsZero() {
		to = now
	}
	if from.IsZero() {
		from = to.Add(-defaultRange)
	}
	if !from.Before(to) {
		return query.TimeRange{}, badParam("from", "%s is not before to (%s)", from.Format(time.RFC3339Nano), to.Format(time.RFC3339Nano))
	}
	if d := to.Sub(from); d > h.maxRange {
		return query.TimeRange{}, badParam("from", "the range from..to is %s long, more than the maximum of %s", d, h.maxRange)
	}
	return query.TimeRange{From: from, To: to}, nil
}

// unixMillisFrom tells Unix milliseconds from seconds: 1e11 seconds is
// in the year 5138, 1e11 milliseconds in 1973.
const unixMillisFrom = 1e11

// parseTime reads an RFC 3339 time, Unix seconds or milliseconds, "now" or
// now-<duration>. "" gives the zero time.
func parseTime(s string, now time.Time) (time.Time, error) {
	switch {
	case s == "":
		return time.Time{}, nil
	case s == "now":
		return now.UTC(), nil
	case strings.HasPrefix(s, "now-"):
		d, err := parseDuration(s[len("now-"):])
		if err != nil || d <= 0 {
			return time.Time{}, fmt.Errorf("%q is not now-<positive duration>, like now-15m or now-7d", s)
		}
		return now.Add(-d).UTC(), nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil && n >= 0 {
		if n >= unixMillisFrom {
			return time.UnixMilli(n).UTC(), nil
		}
		return time.Unix(n, 0).UTC(), nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not a time: use RFC 3339 (2026-05-04T10:00:00Z), Unix seconds or milliseconds, or now-15m", s)
	}
	return t.UTC(), nil
}

// parseDuration reads a Go duration, or a whole number of days like 7d.
func parseDuration(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 0 || n > 100*365 {
			return 0, fmt.Errorf("%q is not a duration", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	return time.ParseDuration(s)
}

// durationParam reads a non-negative duration; 0 when absent.
func durationParam(r *http.Request, name string) (time.Duration, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return 0, nil
	}
	d, err := parseDuration(s)
	if err != nil || d < 0 {
		return 0, badParam(name, "%q is not a duration like 250ms, 1.5s or 2m", s)
	}
	return d, nil
}

// intParam reads a positive integer; 0 when absent.
func intParam(r *http.Request, name string) (int, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		return 0, badParam(name, "%q is not a positive integer", s)
	}
	return n, nil
}

// limitParam reads the limit parameter of a query: a positive integer up
// to the row cap, 0 when absent (the query's default).
func (h *handler) limitParam(r *http.Request) (int, error) {
	n, err := intParam(r, "limit")
	if err == nil && n > h.maxRows {
		return 0, badParam("limit", "%d is more than the maximum of %d rows", n, h.maxRows)
	}
	return n, err
}

// attrPrefix starts the parameters that filter traces by attribute.
const attrPrefix = "attr."

func (h *handler) traceQuery(r *http.Request) (query.TraceQuery, error) {
	var q query.TraceQuery
	var err error
	if q.Range, err = h.timeRange(r); err != nil {
		return q, err
	}
	if q.Limit, err = h.limitParam(r); err != nil {
		return q, err
	}
	if q.MinDuration, err = durationParam(r, "min_duration"); err != nil {
		return q, err
	}
	if q.MaxDuration, err = durationParam(r, "max_duration"); err != nil {
		return q, err
	}
	v := r.URL.Query()
	q.Service, q.Operation, q.Status = v.Get("service"), v.Get("operation"), v.Get("status")
	for name, vals := range v {
		key, ok := strings.CutPrefix(name, attrPrefix)
		switch {
		case !ok:
			continue
		case key == "":
			return q, badParam(name, "an attribute filter needs a key, as in attr.http.route=/cart")
		case len(vals) > 1:
			return q, badParam(name, "given %d times; an attribute can only equal one value", len(vals))
		}
		if q.Attrs == nil {
			q.Attrs = map[string]string{}
		}
		q.Attrs[key] = vals[0]
	}
	return q, nil
}

const (
	// minStep is the finest metric resolution the API serves.
	minStep = time.Second
)

func (h *handler) metricQueryParams(r *http.Request) (query.MetricQuery, error) {
	v := r.URL.Query()
	q := query.MetricQuery{Name: v.Get("name"), Filter: v.Get("filter"), Agg: v.Get("agg")}
	if q.Name == "" {
		return q, badParam("name", "required: the metric to query")
	}
	if q.Agg == "" {
		q.Agg = "avg"
	}
	for _, k := range strings.Split(v.Get("group_by"), ",") {
		if k = strings.TrimSpace(k); k != "" {
			q.GroupBy = append(q.GroupBy, k)
		}
	}
	var err error
	if q.Range, err = h.timeRange(r); err != nil {
		return q, err
	}
	if q.Step, err = durationParam(r, "step"); err != nil {
		return q, err
	}
	switch {
	case q.Step == 0:
		q.Step = query.DefaultStep(q.Range.To.Sub(q.Range.From))
	case q.Step < minStep:
		return q, badParam("step", "%s is below the minimum of %s", q.Step, minStep)
	}
	return q, nil
}

// ParseTime reads a time parameter as the API does: RFC 3339, Unix seconds
// or milliseconds, "now" or now-<duration>; "" gives the zero time. The web
// pages take the same forms.
func ParseTime(s string, now time.Time) (time.Time, error) { return parseTime(s, now) }

// ParseDuration reads a Go duration or a whole number of days like 7d.
func ParseDuration(s string) (time.Duration, error) { return parseDuration(s) }
