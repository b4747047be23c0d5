package api

import (
	"net/http"

	"github.com/fibinc/telltale/internal/query"
)

// The endpoints of the services board, the service page and the service
// map: request rate, errors and duration computed from spans.

// seriesQuery reads from, to, step, offset and env.
func (h *handler) seriesQuery(r *http.Request, service string) (query.ServiceSeriesQuery, error) {
	q := query.ServiceSeriesQuery{Service: service, Environment: r.URL.Query().Get("env")}
	var err error
	if q.Range, err = h.timeRange(r); err != nil {
		return q, err
	}
	if q.Step, err = durationParam(r, "step"); err != nil {
		return q, err
	}
	if q.Step != 0 && q.Step < minStep {
		return q, badParam("step", "%s is below the minimum of %s", q.Step, minStep)
	}
	if q.Offset, err = durationParam(r, "offset"); err != nil {
		return q, err
	}
	return q, nil
}

func (h *handler) servicesSeries(r *http.Request) (any, error) {
	q, err := h.seriesQuery(r, "")
	if err != nil {
		return nil, err
	}
	res, err := h.q.ServiceSeries(r.Context(), q)
	return response{Data: res}, err
}

func (h *handler) serviceSeries(r *http.Request) (any, error) {
	q, err := h.seriesQuery(r, r.PathValue("name"))
	if err != nil {
		return nil, err
	}
	res, err := h.q.ServiceSeries(r.Context(), q)
	return response{Data: res}, err
}

func (h *handler) serviceOperations(r *http.Request) (any, error) {
	rng, err := h.timeRange(r)
	if err != nil {
		return nil, err
	}
	ops, err := h.q.Operations(r.Context(), r.PathValue("name"), rng)
	return response{Data: ops}, err
}

func (h *handler) serviceDependencies(r *http.Request) (any, error) {
	rng, err := h.timeRange(r)
	if err != nil {
		return nil, err
	}
	d, err := h.q.Dependencies(r.Context(), r.PathValue("name"), rng)
	return response{Data: d}, err
}

func (h *handler) serviceVersions(r *http.Request) (any, error) {
	rng, err := h.timeRange(r)
	if err != nil {
		return nil, err
	}
	vs, err := h.q.VersionChanges(r.Context(), r.PathValue("name"), rng)
	return response{Data: vs}, err
}

func (h *handler) serviceSlowest(r *http.Request) (any, error) {
	rng, err := h.timeRange(r)
	if err != nil {
		return nil, err
	}
	limit, err := h.limitParam(r)
	if err != nil {
		return nil, err
	}
	reqs, err := h.q.SlowestTraces(r.Context(), r.PathValue("name"), rng, limit)
	return response{Data: reqs}, err
}

func (h *handler) serviceMap(r *http.Request) (any, error) {
	rng, err := h.timeRange(r)
	if err != nil {
		return nil, err
	}
	m, err := h.q.ServiceMap(r.Context(), rng, r.URL.Query().Get("env"))
	return response{Data: m}, err
}
