// Package prom serves the Prometheus HTTP API over Telltale's PromQL engine:
// the query, label, series, metadata and build information endpoints that
// Grafana's Prometheus data source calls, in Prometheus' JSON shapes and
// with its status codes. docs/design/promql.md describes what differs.
package prom

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	prom "github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/util/annotations"

	"github.com/fibinc/telltale/internal/promql"
	"github.com/fibinc/telltale/internal/query"
)

// Paths are the endpoints the handler serves, as http.ServeMux patterns.
var Paths = []string{
	"/api/v1/query",
	"/api/v1/query_range",
	"/api/v1/labels",
	"/api/v1/label/{name}/values",
	"/api/v1/series",
	"/api/v1/metadata",
	"/api/v1/status/buildinfo",
}

// PrometheusVersion is the Prometheus version whose query engine and API
// Telltale embeds, reported by /api/v1/status/buildinfo so that Grafana
// enables the features of that version.
const PrometheusVersion = "3.16.0"

// Limits of the API, as Prometheus sets them.
const (
	// maxPoints caps the steps of a range query.
	maxPoints = 11_000
	// maxFormBytes caps a POST body.
	maxFormBytes = 1 << 20
	// defaultRange is how far back label, series and metadata lookups
	// reach when the request gives no start.
	defaultRange = 24 * time.Hour
)

// Options configure the handler. Only Engine is required.
type Options struct {
	Engine *promql.Engine
	// Revision is reported as the build revision, Telltale's version.
	Revision string
	// MaxConcurrent caps the requests evaluated at once (queries and
	// lookups); others wait for a slot until their timeout or the client
	// gives up, then get 503. Default 4.
	MaxConcurrent int
	// Now is the clock of default times. Default time.Now.
	Now    func() time.Time
	Logger *slog.Logger
}

type handler struct {
	e        *promql.Engine
	revision string
	slots    chan struct{} // one token per request being evaluated
	now      func() time.Time
	log      *slog.Logger
}

// New returns the handler of Paths.
func New(opt Options) (http.Handler, error) {
	if opt.Engine == nil {
		return nil, errors.New("cannot create Prometheus API handler: no PromQL engine")
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.MaxConcurrent <= 0 {
		opt.MaxConcurrent = 4
	}
	h := &handler{e: opt.Engine, revision: opt.Revision, slots: make(chan struct{}, opt.MaxConcurrent), now: opt.Now,
		log: opt.Logger.With("component", "prometheus-api")}
	mux := http.NewServeMux()
	for pattern, fn := range map[string]func(*http.Request) result{
		"/api/v1/query":               h.limited(h.query),
		"/api/v1/query_range":         h.limited(h.queryRange),
		"/api/v1/labels":              h.limited(h.labelNames),
		"/api/v1/label/{name}/values": h.limited(h.labelValues),
		"/api/v1/series":              h.limited(h.series),
		"/api/v1/metadata":            h.limited(h.metadata),
		"/api/v1/status/buildinfo":    h.buildInfo,
	} {
		mux.Handle(pattern, h.serve(fn))
	}
	return mux, nil
}

// limited runs fn once a slot is free. A request waits as long as its
// context lives (the client, the server's write timeout); Grafana's own
// timeout then ends it with 503, as Prometheus answers a query that waited
// too long in its queue.
func (h *handler) limited(fn func(*http.Request) result) func(*http.Request) result {
	return func(r *http.Request) result {
		ctx := r.Context()
		if v := r.FormValue("timeout"); v != "" {
			if d, err := parseDuration(v); err == nil && d > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, d)
				defer cancel()
			}
		}
		// A free slot is taken even when the deadline has passed: the
		// engine then reports the timeout as Prometheus does.
		select {
		case h.slots <- struct{}{}:
		default:
			select {
			case h.slots <- struct{}{}:
			case <-ctx.Done():
				return result{err: execError(fmt.Errorf("query timed out waiting for one of %d query slots: %w", cap(h.slots), ctx.Err()))}
			}
		}
		defer func() { <-h.slots }()
		return fn(r)
	}
}

// result is an endpoint's answer: data, or an error of a Prometheus type.
type result struct {
	data     any
	err      *apiError
	warnings annotations.Annotations
	query    string // for positions in warnings
}

type apiError struct {
	typ string // bad_data, execution, timeout, canceled, internal
	err error
}

func badData(err error) result { return result{err: &apiError{"bad_data", err}} }

func invalidParam(name string, err error) result {
	return badData(fmt.Errorf("invalid parameter %q: %w", name, err))
}

// status is the HTTP status of an error type, as in Prometheus.
func (e *apiError) status() int {
	switch e.typ {
	case "bad_data":
		return http.StatusBadRequest
	case "execution":
		return http.StatusUnprocessableEntity
	case "timeout", "unavailable":
		return http.StatusServiceUnavailable
	case "canceled":
		return 499 // client closed request
	case "not_found":
		return http.StatusNotFound
	}
	return http.StatusInternalServerError
}

// response is Prometheus' envelope.
type response struct {
	Status    string   `json:"status"`
	Data      any      `json:"data,omitempty"`
	ErrorType string   `json:"errorType,omitempty"`
	Error     string   `json:"error,omitempty"`
	Warnings  []string `json:"warnings,omitempty"`
	Infos     []string `json:"infos,omitempty"`
}

// serve parses the form (query string and, for POST, the body) and writes
// the endpoint's result.
func (h *handler) serve(fn func(*http.Request) result) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet, http.MethodHead, http.MethodPost:
		default:
			w.Header().Set("Allow", "GET, HEAD, POST")
			h.write(w, http.StatusMethodNotAllowed, response{Status: "error", ErrorType: "bad_data",
				Error: fmt.Sprintf("method %s is not allowed; use GET or POST", r.Method)})
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
		if err := r.ParseForm(); err != nil {
			h.fail(w, r, &apiError{"bad_data", fmt.Errorf("error parsing form values: %w", err)})
			return
		}
		res := fn(r)
		if res.err != nil {
			h.fail(w, r, res.err)
			return
		}
		warn, info := res.warnings.AsStrings(res.query, 10, 10)
		if qd, ok := res.data.(queryData); ok {
			h.writeQuery(w, qd, warn, info)
			return
		}
		h.write(w, http.StatusOK, response{Status: "success", Data: res.data, Warnings: warn, Infos: info})
	})
}

func (h *handler) fail(w http.ResponseWriter, r *http.Request, e *apiError) {
	switch e.typ {
	case "internal":
		h.log.Error("query failed", "path", r.URL.Path, "err", e.err)
	case "timeout":
		h.log.Warn("query timed out", "path", r.URL.Path, "err", e.err)
	}
	h.write(w, e.status(), response{Status: "error", ErrorType: e.typ, Error: e.err.Error()})
}

func (h *handler) write(w http.ResponseWriter, status int, resp response) {
	b, err := json.Marshal(resp)
	if err != nil {
		h.log.Error("cannot encode response", "err", err)
		status = http.StatusInternalServerError
		b = []byte(`{"status":"error","errorType":"internal","error":"cannot encode the response"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(b)
}

// writeQuery writes a query answer around its encoded result, which
// encoding/json would parse again to check it.
func (h *handler) writeQuery(w http.ResponseWriter, qd queryData, warn, info []string) {
	b := make([]byte, 0, len(qd.Result)+128)
	b = append(b, `{"status":"success","data":{"resultType":`...)
	b = appendString(b, qd.ResultType)
	b = append(b, `,"result":`...)
	b = append(b, qd.Result...)
	b = append(b, '}')
	for _, l := range []struct {
		key  string
		list []string
	}{{"warnings", warn}, {"infos", info}} {
		if len(l.list) > 0 {
			enc, _ := json.Marshal(l.list) // strings always encode
			b = append(b, `,"`+l.key+`":`...)
			b = append(b, enc...)
		}
	}
	b = append(b, '}')
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	w.Write(b)
}

// queryData is the data of a query answer; Result is encoded by
// appendValue.
type queryData struct {
	ResultType string          `json:"resultType"`
	Result     json.RawMessage `json:"result"`
}

func (h *handler) query(r *http.Request) result {
	limit, err := parseLimit(r.FormValue("limit"))
	if err != nil {
		return invalidParam("limit", err)
	}
	ts, err := parseTimeParam(r, "time", h.now())
	if err != nil {
		return invalidParam("time", err)
	}
	ctx, cancel, res := h.queryContext(r)
	if res != nil {
		return *res
	}
	defer cancel()
	lookback, err := parseLookback(r)
	if err != nil {
		return badData(err)
	}
	qs := r.FormValue("query")
	q, err := h.e.InstantQuery(ctx, qs, ts, lookback)
	if err != nil {
		return constructionError(err)
	}
	defer q.Close()
	return h.exec(ctx, q, qs, limit)
}

func (h *handler) queryRange(r *http.Request) result {
	limit, err := parseLimit(r.FormValue("limit"))
	if err != nil {
		return invalidParam("limit", err)
	}
	start, err := parseTime(r.FormValue("start"))
	if err != nil {
		return invalidParam("start", err)
	}
	end, err := parseTime(r.FormValue("end"))
	if err != nil {
		return invalidParam("end", err)
	}
	if end.Before(start) {
		return invalidParam("end", errors.New("end timestamp must not be before start time"))
	}
	step, err := parseDuration(r.FormValue("step"))
	if err != nil {
		return invalidParam("step", err)
	}
	if step <= 0 {
		return invalidParam("step", errors.New("zero or negative query resolution step widths are not accepted. Try a positive integer"))
	}
	// As Prometheus: enough for a week at a minute or a year at an hour.
	if end.Sub(start)/step > maxPoints {
		return badData(errors.New("exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)"))
	}
	ctx, cancel, res := h.queryContext(r)
	if res != nil {
		return *res
	}
	defer cancel()
	lookback, err := parseLookback(r)
	if err != nil {
		return badData(err)
	}
	qs := r.FormValue("query")
	q, err := h.e.RangeQuery(ctx, qs, start, end, step, lookback)
	if err != nil {
		return constructionError(err)
	}
	defer q.Close()
	return h.exec(ctx, q, qs, limit)
}

// queryContext applies the timeout parameter.
func (h *handler) queryContext(r *http.Request) (context.Context, context.CancelFunc, *result) {
	v := r.FormValue("timeout")
	if v == "" {
		ctx, cancel := context.WithCancel(r.Context())
		return ctx, cancel, nil
	}
	d, err := parseDuration(v)
	if err != nil {
		res := invalidParam("timeout", err)
		return nil, nil, &res
	}
	if d <= 0 {
		res := invalidParam("timeout", fmt.Errorf("timeout must be positive, got %s", d))
		return nil, nil, &res
	}
	ctx, cancel := context.WithTimeout(r.Context(), d)
	return ctx, cancel, nil
}

func parseLookback(r *http.Request) (time.Duration, error) {
	v := r.FormValue("lookback_delta")
	if v == "" {
		return 0, nil
	}
	d, err := parseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("error parsing lookback delta duration: %w", err)
	}
	return d, nil
}

// constructionError is the answer to a query that cannot be built: a parse
// error is bad data.
func constructionError(err error) result {
	var timeout prom.ErrQueryTimeout
	var canceled prom.ErrQueryCanceled
	if errors.As(err, &timeout) || errors.As(err, &canceled) {
		return result{err: execError(err)}
	}
	return invalidParam("query", err)
}

// exec runs q and encodes its value.
func (h *handler) exec(ctx context.Context, q prom.Query, qs string, limit int) result {
	res := q.Exec(ctx)
	if res.Err != nil {
		return result{err: execError(res.Err), warnings: res.Warnings, query: qs}
	}
	warnings := res.Warnings
	if limit > 0 {
		switch v := res.Value.(type) {
		case prom.Matrix:
			if len(v) > limit {
				res.Value = v[:limit]
				warnings = warnings.Add(errors.New("results truncated due to limit"))
			}
		case prom.Vector:
			if len(v) > limit {
				res.Value = v[:limit]
				warnings = warnings.Add(errors.New("results truncated due to limit"))
			}
		}
	}
	b, err := appendValue(nil, res.Value)
	if err != nil {
		return result{err: &apiError{"internal", err}}
	}
	return result{data: queryData{ResultType: string(res.Value.Type()), Result: b}, warnings: warnings, query: qs}
}

// execError maps an evaluation failure to Prometheus' error types.
func execError(err error) *apiError {
	var (
		canceled prom.ErrQueryCanceled
		timeout  prom.ErrQueryTimeout
		storeErr *promql.StoreError
		promErr  prom.ErrStorage
	)
	switch {
	case errors.As(err, &canceled), errors.Is(err, context.Canceled):
		return &apiError{"canceled", err}
	case errors.As(err, &timeout), errors.Is(err, context.DeadlineExceeded):
		return &apiError{"timeout", err}
	case errors.As(err, &storeErr), errors.As(err, &promErr):
		return &apiError{"internal", err}
	}
	// Limits (too many series, samples or points) and evaluation errors.
	return &apiError{"execution", err}
}

// lookupError maps a failure of a label or series lookup.
func lookupError(err error) *apiError {
	if errors.Is(err, query.ErrInvalid) || errors.Is(err, promql.ErrTooManySeries) {
		return &apiError{"execution", err}
	}
	return execError(err)
}

// lookupRange returns the start and end parameters; without them, the
// last day.
func (h *handler) lookupRange(r *http.Request) (start, end time.Time, res *result) {
	end, err := parseTimeParam(r, "end", h.now())
	if err != nil {
		ip := invalidParam("end", err)
		return start, end, &ip
	}
	start, err = parseTimeParam(r, "start", end.Add(-defaultRange))
	if err != nil {
		ip := invalidParam("start", err)
		return start, end, &ip
	}
	if end.Before(start) {
		ip := invalidParam("end", errors.New("end timestamp must not be before start time"))
		return start, end, &ip
	}
	return start, end, nil
}

// matcherSets parses match[] parameters; each must have a matcher that
// does not match the empty string, as in Prometheus.
func (h *handler) matcherSets(r *http.Request) ([][]*labels.Matcher, error) {
	sets, err := h.e.Parser().ParseMetricSelectors(r.Form["match[]"])
	if err != nil {
		return nil, err
	}
next:
	for _, ms := range sets {
		for _, m := range ms {
			if m != nil && !m.Matches("") {
				continue next
			}
		}
		return nil, errors.New("match[] must contain at least one non-empty matcher")
	}
	return sets, nil
}

func (h *handler) labelNames(r *http.Request) result {
	return h.labelLookup(r, "")
}

func (h *handler) labelValues(r *http.Request) result {
	name := r.PathValue("name")
	if strings.HasPrefix(name, "U__") {
		name = model.UnescapeName(name, model.ValueEncodingEscaping)
	}
	if !model.UTF8Validation.IsValidLabelName(name) {
		return badData(fmt.Errorf("invalid label name: %q", name))
	}
	return h.labelLookup(r, name)
}

// labelLookup answers /labels (name empty) and /label/<name>/values.
func (h *handler) labelLookup(r *http.Request, name string) result {
	limit, err := parseLimit(r.FormValue("limit"))
	if err != nil {
		return invalidParam("limit", err)
	}
	start, end, res := h.lookupRange(r)
	if res != nil {
		return *res
	}
	sets, err := h.matcherSets(r)
	if err != nil {
		return badData(err)
	}
	if len(sets) == 0 {
		sets = [][]*labels.Matcher{nil}
	}
	q, err := h.e.Queryable().Querier(start.UnixMilli(), end.UnixMilli())
	if err != nil {
		return result{err: execError(err)}
	}
	defer q.Close()
	hints := &storage.LabelHints{Limit: hintLimit(limit)}
	seen := map[string]struct{}{}
	for _, ms := range sets {
		var vals []string
		if name == "" {
			vals, _, err = q.LabelNames(r.Context(), hints, ms...)
		} else {
			vals, _, err = q.LabelValues(r.Context(), name, hints, ms...)
		}
		if err != nil {
			return result{err: lookupError(err)}
		}
		for _, v := range vals {
			seen[v] = struct{}{}
		}
	}
	out := make([]string, 0, len(seen))
	for v := range seen {
		out = append(out, v)
	}
	slices.Sort(out)
	var warnings annotations.Annotations
	if limit > 0 && len(out) > limit {
		out = out[:limit]
		warnings = warnings.Add(errors.New("results truncated due to limit"))
	}
	return result{data: out, warnings: warnings}
}

func (h *handler) series(r *http.Request) result {
	if len(r.Form["match[]"]) == 0 {
		return badData(errors.New("no match[] parameter provided"))
	}
	limit, err := parseLimit(r.FormValue("limit"))
	if err != nil {
		return invalidParam("limit", err)
	}
	start, end, res := h.lookupRange(r)
	if res != nil {
		return *res
	}
	sets, err := h.matcherSets(r)
	if err != nil {
		return invalidParam("match[]", err)
	}
	q, err := h.e.Queryable().Querier(start.UnixMilli(), end.UnixMilli())
	if err != nil {
		return result{err: execError(err)}
	}
	defer q.Close()
	hints := &storage.SelectHints{Start: start.UnixMilli(), End: end.UnixMilli(), Func: "series", Limit: hintLimit(limit)}
	seen := map[string]bool{}
	var all []labels.Labels
	for _, ms := range sets {
		set := q.Select(r.Context(), true, hints, ms...)
		for set.Next() {
			ls := set.At().Labels()
			if k := ls.String(); !seen[k] {
				seen[k] = true
				all = append(all, ls)
			}
		}
		if err := set.Err(); err != nil {
			return result{err: lookupError(err)}
		}
	}
	slices.SortFunc(all, labels.Compare)
	var warnings annotations.Annotations
	if limit > 0 && len(all) > limit {
		all = all[:limit]
		warnings = warnings.Add(errors.New("results truncated due to limit"))
	}
	out := make([]map[string]string, len(all))
	for i, ls := range all {
		out[i] = ls.Map()
	}
	return result{data: out, warnings: warnings}
}

func (h *handler) metadata(r *http.Request) result {
	limit, limitPer := -1, -1
	var err error
	if s := r.FormValue("limit"); s != "" {
		if limit, err = strconv.Atoi(s); err != nil {
			return badData(errors.New("limit must be a number"))
		}
	}
	if s := r.FormValue("limit_per_metric"); s != "" {
		if limitPer, err = strconv.Atoi(s); err != nil {
			return badData(errors.New("limit_per_metric must be a number"))
		}
	}
	start, end, res := h.lookupRange(r)
	if res != nil {
		return *res
	}
	if limit == 0 {
		return result{data: map[string][]promql.Metadata{}}
	}
	md, err := h.e.Metadata(r.Context(), start, end.Add(time.Millisecond), r.FormValue("metric"), limit, limitPer)
	if err != nil {
		return result{err: lookupError(err)}
	}
	return result{data: md}
}

func (h *handler) buildInfo(*http.Request) result {
	return result{data: map[string]string{
		"version":   PrometheusVersion,
		"revision":  h.revision,
		"branch":    "",
		"buildUser": "telltale",
		"buildDate": "",
		"goVersion": runtime.Version(),
	}}
}

// hintLimit asks the store for one more than limit, to tell that there
// were more.
func hintLimit(limit int) int {
	if limit > 0 && limit < math.MaxInt {
		return limit + 1
	}
	return limit
}

func parseLimit(s string) (int, error) {
	if s == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, err
	}
	if n < 0 {
		return 0, errors.New("limit must be non-negative")
	}
	return n, nil
}

func parseTimeParam(r *http.Request, name string, def time.Time) (time.Time, error) {
	v := r.FormValue(name)
	if v == "" {
		return def, nil
	}
	t, err := parseTime(v)
	if err != nil {
		return time.Time{}, fmt.Errorf("invalid time value for '%s': %w", name, err)
	}
	return t, nil
}

// Bounds of times Prometheus accepts, as it formats them for its own
// defaults.
var (
	minTime = time.Unix(math.MinInt64/1000+62135596801, 0).UTC()
	maxTime = time.Unix(math.MaxInt64/1000-62135596801, 999999999).UTC()
)

// parseTime accepts Unix seconds (with a fraction, to the millisecond) and
// RFC 3339, as Prometheus does.
func parseTime(s string) (time.Time, error) {
	if t, err := strconv.ParseFloat(s, 64); err == nil {
		if math.IsNaN(t) || t < float64(minTime.Unix()) || t > float64(maxTime.Unix()) {
			return time.Time{}, fmt.Errorf("cannot parse %q to a valid timestamp", s)
		}
		sec, frac := math.Modf(t)
		frac = math.Round(frac*1000) / 1000
		return time.Unix(int64(sec), int64(frac*float64(time.Second))).UTC(), nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	switch s {
	case minTime.Format(time.RFC3339Nano):
		return minTime, nil
	case maxTime.Format(time.RFC3339Nano):
		return maxTime, nil
	}
	return time.Time{}, fmt.Errorf("cannot parse %q to a valid timestamp", s)
}

// parseDuration accepts seconds as a float or a Prometheus duration (5m,
// 1h30m).
func parseDuration(s string) (time.Duration, error) {
	if d, err := strconv.ParseFloat(s, 64); err == nil {
		ns := d * float64(time.Second)
		if math.IsNaN(ns) || ns >= float64(math.MaxInt64) || ns < float64(math.MinInt64) {
			return 0, fmt.Errorf("cannot parse %q to a valid duration. It overflows int64", s)
		}
		return time.Duration(ns), nil
	}
	if d, err := model.ParseDuration(s); err == nil {
		return time.Duration(d), nil
	}
	return 0, fmt.Errorf("cannot parse %q to a valid duration", s)
}
