// Package api serves Telltale's JSON API under /api/v1: services, traces,
// logs, requests and metrics, each a thin HTTP layer over the query service.
// docs/api.md describes every endpoint.
//
// Every response is JSON. Success is 200 with {"data": ...}; failures carry
// {"error": "..."}: 400 for bad parameters, 404 for unknown things and paths,
// 405 for other methods than the endpoint's (GET, or POST for changes), 504 when a query times out and 500, with
// the cause logged rather than shown, for anything else.
package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/fibinc/telltale/internal/query"
	"github.com/fibinc/telltale/internal/querylimit"
)

// Options configure the API handler. Only Query is required.
type Options struct {
	Query *query.Service
	// Status changes issue status; without it POST .../status fails.
	Status StatusSetter
	// Projects lists projects for /api/v1/projects.
	Projects Projects
	// IngestURL is the base URL Sentry DSNs point at. Default
	// http://localhost:4318.
	IngestURL string
	// MaxRange caps the time range of a request. Default 31 days.
	MaxRange time.Duration
	// MaxRows caps the limit parameter of the queries: a larger one is
	// refused with 400. Default 10,000.
	MaxRows int
	// Now is the clock that relative times and default ranges use.
	// Default time.Now.
	Now func() time.Time
	// Prometheus, when set, serves the Prometheus HTTP API paths
	// (internal/api/prom): /api/v1/query, query_range, labels,
	// label/{name}/values, series, metadata and status/buildinfo.
	Prometheus http.Handler
	// Config serves GET and PUT /api/v1/config; nil shows an empty
	// configuration and refuses PUT.
	Config ConfigSource
	Logger *slog.Logger
	// Checks serves /api/v1/checks and /api/v1/push; nil answers 404.
	Checks Checks
	Alerts AlertReader // alert rules and active alerts; nil: none
	// Notify serves silences, notification attempts and channels
	// (internal/api/notify.go); nil: empty lists, changes answer 503.
	Notify Notifications
	// Keys creates projects and manages ingest keys
	// (internal/api/projects.go); nil: changes answer 503.
	Keys IngestKeys
}

type handler struct {
	q           *query.Service
	status      StatusSetter
	projectList Projects
	ingestURL   string
	maxRange    time.Duration
	maxRows     int
	now         func() time.Time
	log         *slog.Logger
	uptime      Checks
}

// New returns the handler of every path under /api/: the endpoints under
// /api/v1 and a JSON 404 for any other path.
func New(opt Options) (http.Handler, error) {
	if opt.Query == nil {
		return nil, errors.New("cannot create API handler: no query service")
	}
	if opt.MaxRange <= 0 {
		opt.MaxRange = 31 * 24 * time.Hour
	}
	if opt.MaxRows <= 0 {
		opt.MaxRows = 10_000
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	h := &handler{q: opt.Query, status: opt.Status, projectList: opt.Projects, ingestURL: opt.IngestURL, maxRange: opt.MaxRange, maxRows: opt.MaxRows, now: opt.Now, log: opt.Logger.With("component", "api"), uptime: opt.Checks}
	mux := http.NewServeMux()
	for pattern, fn := range map[string]endpoint{
		"/api/v1/services":           h.services,
		"/api/v1/traces":             h.searchTraces,
		"/api/v1/traces/{trace_id}":  h.trace,
		"/api/v1/logs":               h.logs,
		"/api/v1/requests/{id}":      h.request,
		"/api/v1/metrics":            h.metrics,
		"/api/v1/metrics/query":      h.metricQuery,
		"/api/v1/issues":             h.issues,
		"/api/v1/issues/{id}":        h.issue,
		"/api/v1/issues/{id}/events": h.issueEvents,
		"/api/v1/events/{event_id}":  h.event,

		"/api/v1/series/services":              h.servicesSeries,
		"/api/v1/services/{name}/series":       h.serviceSeries,
		"/api/v1/services/{name}/operations":   h.serviceOperations,
		"/api/v1/services/{name}/dependencies": h.serviceDependencies,
		"/api/v1/services/{name}/versions":     h.serviceVersions,
		"/api/v1/services/{name}/slowest":      h.serviceSlowest,
		"/api/v1/service-map":                  h.serviceMap,
	} {
		mux.Handle(pattern, h.serve(fn))
	}
	mux.Handle("/api/v1/issues/{id}/status", h.serveMethod(http.MethodPost, h.setIssueStatus))
	mux.Handle("/api/v1/config", h.configHandler(opt.Config))
	h.checkRoutes(mux)
	registerAlerts(mux, h, opt.Alerts)
	h.notifyRoutes(mux, opt.Notify)
	h.projectRoutes(mux, opt.Keys)
	if opt.Prometheus != nil {
		for _, p := range []string{"/api/v1/query", "/api/v1/query_range", "/api/v1/labels", "/api/v1/label/{name}/values",
			"/api/v1/series", "/api/v1/metadata", "/api/v1/status/buildinfo"} {
			mux.Handle(p, opt.Prometheus)
		}
	}
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		h.writeJSON(w, http.StatusNotFound, errorBody{fmt.Sprintf("no API endpoint at %s", r.URL.Path)})
	})
	return mux, nil
}

// endpoint answers one request with the body of a 200 response.
type endpoint func(r *http.Request) (any, error)

// response is the body of every successful answer.
type response struct {
	Data any `json:"data"`
	// NextCursor is set by paginated endpoints when there is another page.
	NextCursor string `json:"next_cursor,omitempty"`
}

type errorBody struct {
	Error string `json:"error"`
}

// serve adapts an endpoint: it refuses methods other than GET (and HEAD,
// which net/http answers without the body), and turns its result or error
// into a response.
func (h *handler) serve(fn endpoint) http.Handler {
	return h.serveMethod(http.MethodGet, fn)
}

// serveMethod adapts an endpoint that answers one method (GET also takes
// HEAD).
func (h *handler) serveMethod(method string, fn endpoint) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != method && (method != http.MethodGet || r.Method != http.MethodHead) {
			allow := method
			if method == http.MethodGet {
				allow = "GET, HEAD"
			}
			w.Header().Set("Allow", allow)
			h.writeJSON(w, http.StatusMethodNotAllowed, errorBody{fmt.Sprintf("method %s is not allowed; use %s", r.Method, method)})
			return
		}
		body, err := fn(r)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		h.writeJSON(w, http.StatusOK, body)
	})
}

// errTooLarge marks a request body over its endpoint's limit: 413.
var errTooLarge = errors.New("request body too large")

// fail answers err with the status its kind calls for.
func (h *handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	var pe *paramError
	switch {
	case errors.Is(err, errTooLarge):
		h.writeJSON(w, http.StatusRequestEntityTooLarge, errorBody{err.Error()})
	case errors.As(err, &pe), errors.Is(err, query.ErrInvalid):
		h.writeJSON(w, http.StatusBadRequest, errorBody{err.Error()})
	case errors.Is(err, query.ErrNotFound):
		h.writeJSON(w, http.StatusNotFound, errorBody{err.Error()})
	case errors.Is(err, context.DeadlineExceeded), errors.Is(r.Context().Err(), context.DeadlineExceeded):
		// The request's deadline (querylimit) or the query service's own.
		h.log.Warn("query timed out", "path", r.URL.Path, "query", r.URL.RawQuery, "err", err)
		msg, ok := querylimit.TimeoutMessage(r.Context())
		if !ok {
			msg = "the query took too long; narrow the time range or the filter"
		}
		w.Header().Set("Retry-After", strconv.Itoa(int(querylimit.RetryAfterTimeout/time.Second)))
		h.writeJSON(w, http.StatusServiceUnavailable, errorBody{msg})
	case r.Context().Err() != nil:
		// The client went away; nobody reads the answer.
		h.log.Debug("request abandoned", "path", r.URL.Path, "err", err)
	default:
		h.log.Error("query failed", "path", r.URL.Path, "query", r.URL.RawQuery, "err", err)
		h.writeJSON(w, http.StatusInternalServerError, errorBody{"internal error; the server log has the details"})
	}
}

func (h *handler) writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		h.log.Error("cannot encode response", "err", err)
		status = http.StatusInternalServerError
		buf.Reset()
		buf.WriteString(`{"error":"internal error; the server log has the details"}` + "\n")
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

func (h *handler) services(r *http.Request) (any, error) {
	rng, err := h.timeRange(r)
	if err != nil {
		return nil, err
	}
	s, err := h.q.Services(r.Context(), rng)
	return response{Data: s}, err
}

func (h *handler) trace(r *http.Request) (any, error) {
	t, err := h.q.Trace(r.Context(), r.PathValue("trace_id"))
	return response{Data: t}, err
}

func (h *handler) searchTraces(r *http.Request) (any, error) {
	tq, err := h.traceQuery(r)
	if err != nil {
		return nil, err
	}
	ts, err := h.q.SearchTraces(r.Context(), tq)
	return response{Data: ts}, err
}

func (h *handler) logs(r *http.Request) (any, error) {
	rng, err := h.timeRange(r)
	if err != nil {
		return nil, err
	}
	limit, err := h.limitParam(r)
	if err != nil {
		return nil, err
	}
	v := r.URL.Query()
	page, err := h.q.Logs(r.Context(), query.LogQuery{Range: rng, Filter: v.Get("q"), Limit: limit, Cursor: v.Get("cursor")})
	if err != nil {
		return nil, err
	}
	return response{Data: page.Records, NextCursor: page.NextCursor}, nil
}

func (h *handler) request(r *http.Request) (any, error) {
	req, err := h.q.Request(r.Context(), r.PathValue("id"))
	if err != nil {
		return nil, err
	}
	errs, err := h.q.RequestErrors(r.Context(), req)
	if err != nil {
		return nil, err
	}
	return response{Data: struct {
		*query.Request
		// Errors are the request's errors with their remote chains.
		Errors []query.RequestError `json:"errors"`
	}{req, errs}}, nil
}

func (h *handler) metrics(r *http.Request) (any, error) {
	rng, err := h.timeRange(r)
	if err != nil {
		return nil, err
	}
	limit, err := h.limitParam(r)
	if err != nil {
		return nil, err
	}
	ms, err := h.q.MetricNames(r.Context(), rng, limit)
	return response{Data: ms}, err
}

func (h *handler) metricQuery(r *http.Request) (any, error) {
	mq, err := h.metricQueryParams(r)
	if err != nil {
		return nil, err
	}
	res, err := h.q.QueryMetric(r.Context(), mq)
	return response{Data: res}, err
}
