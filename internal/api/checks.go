package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/fibinc/telltale/internal/query"
	"github.com/fibinc/telltale/internal/state"
	"github.com/fibinc/telltale/internal/uptime"
)

// Checks is the uptime runner as the API reads it; *uptime.Runner
// satisfies it.
type Checks interface {
	Checks() []uptime.CheckStatus
	Check(name string) (uptime.CheckStatus, bool)
	Summary(ctx context.Context, name string) (*uptime.Summary, error)
	Report(ctx context.Context, name string, from, to time.Time) (*uptime.Report, error)
	Results(ctx context.Context, name string, from, to time.Time, limit int) ([]state.CheckResult, error)
	Push(ctx context.Context, name, token string, p uptime.PushResult) error
}

var _ Checks = (*uptime.Runner)(nil)

// Result limits of /api/v1/checks/{name}/results.
const (
	defaultResults = 1000
	maxResults     = 10_000
	recentResults  = 50 // in a check's detail
)

func (h *handler) checkRoutes(mux *http.ServeMux) {
	mux.Handle("/api/v1/checks", h.serve(h.checks))
	mux.Handle("/api/v1/checks/{name}", h.serve(h.check))
	mux.Handle("/api/v1/checks/{name}/results", h.serve(h.checkResults))
	mux.HandleFunc("/api/v1/push/{name}", h.push)
}

// checkJSON is a check as the API lists it.
type checkJSON struct {
	Name     string             `json:"name"`
	Type     string             `json:"type"`
	Target   string             `json:"target"`
	Interval string             `json:"interval"`
	Labels   map[string]string  `json:"labels,omitempty"`
	Status   string             `json:"status"`
	Last     *state.CheckResult `json:"last"`
	// Uptime is the percentage per range (24h, 7d, 30d, 90d); null when
	// nothing is known of the range.
	Uptime map[string]*float64 `json:"uptime"`
	// P95Ms is the 95th percentile response time of the last 24 hours.
	P95Ms *float64 `json:"p95_ms"`
}

func (h *handler) noChecks() error {
	if h.uptime == nil {
		return fmt.Errorf("%w: uptime checks are not configured (start with telltale serve --config FILE)", query.ErrNotFound)
	}
	return nil
}

// checkError maps the runner's errors to the API's.
func checkError(err error) error {
	switch {
	case errors.Is(err, uptime.ErrUnknownCheck):
		return fmt.Errorf("%w: %w", query.ErrNotFound, err)
	case errors.Is(err, uptime.ErrInvalidRange):
		return badParam("from", "%v", err)
	}
	return err
}

func (h *handler) checkOf(ctx context.Context, st uptime.CheckStatus) (checkJSON, error) {
	c := st.Check
	out := checkJSON{
		Name: c.Name, Type: c.Type, Target: uptime.Target(c), Interval: c.Interval.D().String(),
		Labels: c.Labels, Status: st.Status, Uptime: map[string]*float64{},
	}
	if !st.Last.At.IsZero() {
		last := st.Last
		out.Last = &last
	}
	sum, err := h.uptime.Summary(ctx, c.Name)
	if err != nil {
		return out, checkError(err)
	}
	for _, r := range sum.Ranges {
		out.Uptime[r.Range] = nil
		if r.HasData {
			v := r.Uptime
			out.Uptime[r.Range] = &v
		}
	}
	if u := sum.Uptime("24h"); u.P95 > 0 {
		ms := float64(u.P95) / float64(time.Millisecond)
		out.P95Ms = &ms
	}
	return out, nil
}

func (h *handler) checks(r *http.Request) (any, error) {
	if err := h.noChecks(); err != nil {
		return nil, err
	}
	out := []checkJSON{}
	for _, st := range h.uptime.Checks() {
		c, err := h.checkOf(r.Context(), st)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return response{Data: out}, nil
}

// checkRange reads ?range=24h|7d|30d|90d (default 24h), or from and to.
func (h *handler) checkRange(r *http.Request) (from, to time.Time, err error) {
	v := r.URL.Query()
	if v.Get("from") != "" || v.Get("to") != "" {
		if v.Get("range") != "" {
			return from, to, badParam("range", "give range or from/to, not both")
		}
		now := h.now()
		if to, err = parseTime(v.Get("to"), now); err != nil {
			return from, to, badParam("to", "%v", err)
		}
		if from, err = parseTime(v.Get("from"), now); err != nil {
			return from, to, badParam("from", "%v", err)
		}
		if to.IsZero() {
			to = now
		}
		if from.IsZero() {
			from = to.Add(-24 * time.Hour)
		}
		if !from.Before(to) {
			return from, to, badParam("from", "%s is not before to (%s)", from.Format(time.RFC3339), to.Format(time.RFC3339))
		}
		return from, to, nil
	}
	preset := v.Get("range")
	if preset == "" {
		preset = "24h"
	}
	from, to, err = uptime.RangeOf(preset, h.now())
	if err != nil {
		return from, to, badParam("range", "%v", err)
	}
	return from, to, nil
}

func (h *handler) check(r *http.Request) (any, error) {
	if err := h.noChecks(); err != nil {
		return nil, err
	}
	st, ok := h.uptime.Check(r.PathValue("name"))
	if !ok {
		return nil, fmt.Errorf("%w: no check named %q", query.ErrNotFound, r.PathValue("name"))
	}
	from, to, err := h.checkRange(r)
	if err != nil {
		return nil, err
	}
	c, err := h.checkOf(r.Context(), st)
	if err != nil {
		return nil, err
	}
	rep, err := h.uptime.Report(r.Context(), st.Check.Name, from, to)
	if err != nil {
		return nil, checkError(err)
	}
	recent, err := h.uptime.Results(r.Context(), st.Check.Name, from, to, recentResults)
	if err != nil {
		return nil, checkError(err)
	}
	if recent == nil {
		recent = []state.CheckResult{}
	}
	return response{Data: struct {
		checkJSON
		Report *uptime.Report      `json:"report"`
		Recent []state.CheckResult `json:"recent_results"` // the latest 50 of the range, oldest first
	}{c, rep, recent}}, nil
}

func (h *handler) checkResults(r *http.Request) (any, error) {
	if err := h.noChecks(); err != nil {
		return nil, err
	}
	from, to, err := h.checkRange(r)
	if err != nil {
		return nil, err
	}
	limit, err := intParam(r, "limit")
	if err != nil {
		return nil, err
	}
	if limit == 0 {
		limit = defaultResults
	}
	if limit > maxResults {
		return nil, badParam("limit", "%d is more than the maximum of %d", limit, maxResults)
	}
	res, err := h.uptime.Results(r.Context(), r.PathValue("name"), from, to, limit)
	if err != nil {
		return nil, checkError(err)
	}
	if res == nil {
		res = []state.CheckResult{}
	}
	return response{Data: res}, nil
}

// pushBody is the answer of the push endpoint, as Uptime Kuma's, so that
// scripts written for it work.
type pushBody struct {
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
}

// push takes a heartbeat: GET or POST /api/v1/push/{name}?status=up|down
// &msg=...&duration_ms=..., with the token as Authorization: Bearer or
// ?token=.
func (h *handler) push(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, POST")
		h.writeJSON(w, http.StatusMethodNotAllowed, pushBody{Error: fmt.Sprintf("method %s is not allowed; use GET or POST", r.Method)})
		return
	}
	if h.uptime == nil {
		h.writeJSON(w, http.StatusNotFound, pushBody{Error: "uptime checks are not configured"})
		return
	}
	v := r.URL.Query()
	p := uptime.PushResult{OK: true, Message: v.Get("msg")}
	switch s := strings.ToLower(v.Get("status")); s {
	case "", "up", "ok":
	case "down", "error", "fail":
		p.OK = false
	default:
		h.writeJSON(w, http.StatusBadRequest, pushBody{Error: fmt.Sprintf("parameter status: %q is not up or down", s)})
		return
	}
	if s := v.Get("duration_ms"); s != "" {
		ms, err := strconv.ParseFloat(s, 64)
		if err != nil || ms < 0 || ms > 1e12 {
			h.writeJSON(w, http.StatusBadRequest, pushBody{Error: fmt.Sprintf("parameter duration_ms: %q is not a number of milliseconds", s)})
			return
		}
		p.Duration = time.Duration(ms * float64(time.Millisecond))
	}
	token := v.Get("token")
	if auth := r.Header.Get("Authorization"); auth != "" {
		scheme, t, ok := strings.Cut(auth, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") {
			h.writeJSON(w, http.StatusUnauthorized, pushBody{Error: "Authorization must be Bearer <token>"})
			return
		}
		token = strings.TrimSpace(t)
	}
	err := h.uptime.Push(r.Context(), r.PathValue("name"), token, p)
	switch {
	case err == nil:
		h.writeJSON(w, http.StatusOK, pushBody{OK: true})
	case errors.Is(err, uptime.ErrBadToken):
		h.writeJSON(w, http.StatusUnauthorized, pushBody{Error: "bad or missing token"})
	case errors.Is(err, uptime.ErrUnknownCheck):
		h.writeJSON(w, http.StatusNotFound, pushBody{Error: fmt.Sprintf("no check named %q", r.PathValue("name"))})
	case errors.Is(err, uptime.ErrNotPush):
		h.writeJSON(w, http.StatusBadRequest, pushBody{Error: err.Error()})
	default:
		h.log.Error("push failed", "check", r.PathValue("name"), "err", err)
		h.writeJSON(w, http.StatusInternalServerError, pushBody{Error: "internal error; the server log has the details"})
	}
}
