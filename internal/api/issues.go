package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/fibinc/telltale/internal/issues"
	"github.com/fibinc/telltale/internal/query"
	"github.com/fibinc/telltale/internal/state"
)

// StatusSetter changes an issue's status; the issue tracker does, so that a
// user's change cannot race a regression found at ingest.
type StatusSetter interface {
	SetStatus(ctx context.Context, id int64, status string) (state.Issue, error)
}

// Projects lists the projects.
type Projects interface {
	Projects(ctx context.Context) ([]state.Project, error)
}

// issueRange is the default time range of the issue endpoints: errors are
// few, and an issue's history matters more than a log line's.
const issueRange = 14 * 24 * time.Hour

func (h *handler) issueTimeRange(r *http.Request) (query.TimeRange, error) {
	if r.URL.Query().Get("from") == "" {
		q := r.URL.Query()
		q.Set("from", "now-"+issueRange.String())
		r = r.Clone(r.Context())
		r.URL.RawQuery = q.Encode()
	}
	return h.timeRange(r)
}

func (h *handler) issues(r *http.Request) (any, error) {
	rng, err := h.issueTimeRange(r)
	if err != nil {
		return nil, err
	}
	v := r.URL.Query()
	q := query.IssueQuery{Range: rng, Environment: v.Get("environment"), Service: v.Get("service"), Release: v.Get("release"),
		Text: v.Get("q"), Sort: v.Get("sort")}
	if q.ProjectID, err = int64Param(r, "project"); err != nil {
		return nil, err
	}
	if q.Limit, err = h.limitParam(r); err != nil {
		return nil, err
	}
	if q.Offset, err = intParam(r, "offset"); err != nil {
		return nil, err
	}
	for _, s := range v["status"] {
		for st := range strings.SplitSeq(s, ",") {
			if st = strings.TrimSpace(st); st != "" {
				q.Statuses = append(q.Statuses, st)
			}
		}
	}
	list, err := h.q.Issues(r.Context(), q)
	if err != nil {
		return nil, err
	}
	return struct {
		Data  []query.IssueSummary `json:"data"`
		Total int                  `json:"total"`
	}{list.Issues, list.Total}, nil
}

func (h *handler) issue(r *http.Request) (any, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	rng, err := h.issueTimeRange(r)
	if err != nil {
		return nil, err
	}
	d, err := h.q.Issue(r.Context(), id, rng)
	return response{Data: d}, err
}

func (h *handler) issueEvents(r *http.Request) (any, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	rng, err := h.issueTimeRange(r)
	if err != nil {
		return nil, err
	}
	limit, err := h.limitParam(r)
	if err != nil {
		return nil, err
	}
	evs, err := h.q.IssueEvents(r.Context(), id, rng, limit)
	return response{Data: evs}, err
}

func (h *handler) event(r *http.Request) (any, error) {
	ev, err := h.q.Event(r.Context(), r.PathValue("event_id"))
	return response{Data: ev}, err
}

// setIssueStatus takes {"status": "resolved"} as JSON, or status=resolved
// as a form or query parameter.
func (h *handler) setIssueStatus(r *http.Request) (any, error) {
	if h.status == nil {
		return nil, errors.New("issue status cannot be changed: no issue tracker")
	}
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	status := r.URL.Query().Get("status")
	if ct := r.Header.Get("Content-Type"); strings.HasPrefix(ct, "application/json") {
		var body struct {
			Status string `json:"status"`
		}
		data, err := io.ReadAll(io.LimitReader(r.Body, 1<<16))
		if err != nil {
			return nil, badParam("body", "cannot read: %v", err)
		}
		if err := json.Unmarshal(data, &body); err != nil {
			return nil, badParam("body", "invalid JSON: %v", err)
		}
		status = body.Status
	} else if err := r.ParseForm(); err == nil && r.PostForm.Get("status") != "" {
		status = r.PostForm.Get("status")
	}
	if status == "" {
		return nil, badParam("status", "missing: want unresolved, resolved or ignored")
	}
	iss, err := h.status.SetStatus(r.Context(), id, status)
	switch {
	case errors.Is(err, issues.ErrInvalid):
		return nil, badParam("status", "%v", err)
	case errors.Is(err, state.ErrNotFound):
		return nil, fmt.Errorf("issue %d: %w", id, query.ErrNotFound)
	}
	return response{Data: iss}, err
}

// project is a project as the API shows it, with its DSN.
type project struct {
	state.Project
	DSN string `json:"dsn"`
}

func (h *handler) projects(r *http.Request) (any, error) {
	if h.projectList == nil {
		return response{Data: []project{}}, nil
	}
	ps, err := h.projectList.Projects(r.Context())
	if err != nil {
		return nil, err
	}
	out := make([]project, len(ps))
	for i, p := range ps {
		out[i] = project{p, DSN(h.ingestURL, p)}
	}
	return response{Data: out}, nil
}

// DSN returns the Sentry DSN of a project whose SDKs send to ingestURL
// (scheme, host and port of the OTLP/HTTP listener, e.g.
// http://localhost:4318).
func DSN(ingestURL string, p state.Project) string {
	u, err := url.Parse(ingestURL)
	if err != nil || u.Host == "" {
		u = &url.URL{Scheme: "http", Host: "localhost:4318"}
	}
	u.User = url.User(p.PublicKey)
	u.Path = strings.TrimSuffix(u.Path, "/") + "/" + strconv.FormatInt(p.ID, 10)
	return u.String()
}

func pathID(r *http.Request, name string) (int64, error) {
	v := r.PathValue(name)
	id, err := strconv.ParseInt(v, 10, 64)
	if err != nil || id <= 0 {
		return 0, badParam(name, "%q is not an issue id", v)
	}
	return id, nil
}

func int64Param(r *http.Request, name string) (int64, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, badParam(name, "%q is not a non-negative integer", v)
	}
	return n, nil
}
