package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/fibinc/telltale/internal/api"
	"github.com/fibinc/telltale/internal/state"
)

// ProjectKeys lists and changes projects and their ingest keys;
// *ingestkey.Keys is one (its changes apply to ingest at once).
type ProjectKeys interface {
	Projects(ctx context.Context) ([]state.Project, error)
	CreateProject(ctx context.Context, slug, name string) (state.Project, error)
	IngestKeys(ctx context.Context, projectID int64) ([]state.IngestKey, error)
	CreateIngestKey(ctx context.Context, projectID int64, name string, rateLimit float64) (state.IngestKey, error)
	RevokeIngestKey(ctx context.Context, projectID, keyID int64, at time.Time) (state.IngestKey, error)
}

// crossSiteProjects answers a change that crossSite refuses.
const crossSiteProjects = "This request came from another site; change projects and keys from Telltale's own pages."

func (s *server) projectRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /settings/projects", s.page("projects", s.projectsPage))
	mux.HandleFunc("POST /settings/projects", s.createProject)
	mux.HandleFunc("POST /settings/projects/{id}/keys", s.createKey)
	mux.HandleFunc("POST /settings/projects/{id}/keys/{key_id}/revoke", s.revokeKey)
}

type projectsPage struct {
	Configured bool
	Projects   []projectRow
	IngestURL  string
	// Error says why a form was refused; ErrorProject is the project
	// whose key form it was (0: the new project form).
	Error        string
	ErrorProject int64
	// Form holds what was typed into the refused form.
	Form map[string]string
	// header is the ingest key header; "" is Authorization: Bearer.
	header string
}

type projectRow struct {
	state.Project
	Keys []keyRow
	// Key is the first active key, "" when every key is revoked.
	Key string
	DSN string
}

type keyRow struct {
	state.IngestKey
	DSN string
}

// RateText is the key's rate limit as shown.
func (k keyRow) RateText() string {
	if k.RateLimit == 0 {
		return "server default"
	}
	return strconv.FormatFloat(k.RateLimit, 'f', -1, 64) + " records/s"
}

// HeaderLine is the HTTP header line a client sends with key.
func (p *projectsPage) HeaderLine(key string) string {
	if p.header == "" {
		return "Authorization: Bearer " + key
	}
	return p.header + ": " + key
}

// OTLPEnv is the environment of an OpenTelemetry SDK sending to Telltale
// with key. The header value is percent-encoded, as the SDKs decode it.
func (p *projectsPage) OTLPEnv(key string) string {
	name, value := "Authorization", "Bearer%20"+key
	if p.header != "" {
		name, value = p.header, url.PathEscape(key)
	}
	return fmt.Sprintf("OTEL_EXPORTER_OTLP_ENDPOINT=%s\nOTEL_EXPORTER_OTLP_HEADERS=%s=%s", p.IngestURL, name, value)
}

// CurlLogs is a command that sends a JSON log line with key.
func (p *projectsPage) CurlLogs(key string) string {
	return fmt.Sprintf("echo '{\"msg\":\"hello\",\"level\":\"info\"}' | curl -H '%s' -H 'Content-Type: application/x-ndjson' --data-binary @- '%s/api/v1/logs?service=myapp'",
		p.HeaderLine(key), p.IngestURL)
}

// FormValue is what was typed into a field of the refused form.
func (p *projectsPage) FormValue(name string) string { return p.Form[name] }

func (s *server) projectsPage(r *http.Request, f *frame) (any, error) {
	f.Title, f.Nav = "Projects and ingest keys", "settings"
	return s.projectsData(r.Context(), "", 0, nil)
}

func (s *server) projectsData(ctx context.Context, formErr string, errProject int64, form map[string]string) (*projectsPage, error) {
	p := &projectsPage{Configured: s.opt.Projects != nil, IngestURL: s.ingestURL(), Error: formErr, ErrorProject: errProject, Form: form, header: s.opt.IngestKeyHeader}
	if s.opt.Projects == nil {
		return p, nil
	}
	ps, err := s.opt.Projects.Projects(ctx)
	if err != nil {
		return nil, err
	}
	keys, err := s.opt.Projects.IngestKeys(ctx, 0)
	if err != nil {
		return nil, err
	}
	byProject := map[int64][]state.IngestKey{}
	for _, k := range keys {
		byProject[k.ProjectID] = append(byProject[k.ProjectID], k)
	}
	for _, pr := range ps {
		row := projectRow{Project: pr}
		for _, k := range byProject[pr.ID] {
			withKey := pr
			withKey.PublicKey = k.Key
			kr := keyRow{IngestKey: k, DSN: api.DSN(p.IngestURL, withKey)}
			if k.Active() && row.Key == "" {
				row.Key, row.DSN = k.Key, kr.DSN
			}
			row.Keys = append(row.Keys, kr)
		}
		p.Projects = append(p.Projects, row)
	}
	return p, nil
}

func (s *server) ingestURL() string {
	if s.opt.IngestURL == "" {
		return "http://localhost:4318"
	}
	return strings.TrimSuffix(s.opt.IngestURL, "/")
}

// projectForm checks a change's origin and reads its form; it answers the
// request itself (and returns false) when it cannot go on.
func (s *server) projectForm(w http.ResponseWriter, r *http.Request, f *frame) bool {
	fail := func(code int, title, msg string) {
		f.Title = title
		s.render(w, r, code, "error", *f, errorPage{Message: msg})
	}
	if crossSite(r) != "" {
		fail(http.StatusForbidden, "Forbidden", crossSiteProjects)
		return false
	}
	if s.opt.Projects == nil {
		fail(http.StatusServiceUnavailable, "Not available", "This server does not manage projects and ingest keys.")
		return false
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		fail(http.StatusBadRequest, "Bad request", "cannot read the form: "+err.Error())
		return false
	}
	return true
}

// refused renders the page with the form's error (400), or an error page
// for a failure that is not the form's fault.
func (s *server) refused(w http.ResponseWriter, r *http.Request, f frame, err error, project int64, form map[string]string) {
	var ue *userError
	switch {
	case errors.As(err, &ue), errors.Is(err, state.ErrExists):
	case errors.Is(err, state.ErrNotFound):
		f.Title = "Not found"
		s.render(w, r, http.StatusNotFound, "error", f, errorPage{Message: err.Error()})
		return
	default:
		s.log.Error("cannot change projects", "err", err)
		f.Title = "Error"
		s.render(w, r, http.StatusInternalServerError, "error", f, errorPage{Message: "Telltale could not make the change; its log says why."})
		return
	}
	data, derr := s.projectsData(r.Context(), err.Error(), project, form)
	if derr != nil {
		s.log.Error("cannot list projects", "err", derr)
		f.Title = "Error"
		s.render(w, r, http.StatusInternalServerError, "error", f, errorPage{Message: "Telltale could not list the projects; its log says why."})
		return
	}
	s.render(w, r, http.StatusBadRequest, "projects", f, data)
}

func (s *server) createProject(w http.ResponseWriter, r *http.Request) {
	f := s.frame(r, "Projects and ingest keys")
	f.Nav = "settings"
	if !s.projectForm(w, r, &f) {
		return
	}
	slug, name := strings.TrimSpace(r.PostForm.Get("slug")), strings.TrimSpace(r.PostForm.Get("name"))
	form := map[string]string{"slug": slug, "name": name}
	var err error
	if err = state.CheckSlug(slug); err != nil {
		err = &userError{err.Error()}
	} else if len(name) > 200 {
		err = &userError{"the name is longer than 200 bytes"}
	} else {
		var p state.Project
		if p, err = s.opt.Projects.CreateProject(r.Context(), slug, name); err == nil {
			http.Redirect(w, r, fmt.Sprintf("/settings/projects#project-%d", p.ID), http.StatusSeeOther)
			return
		}
	}
	s.refused(w, r, f, err, 0, form)
}

// pathIDs reads the {id} (and {key_id}) of the path.
func pathIDs(r *http.Request, names ...string) ([]int64, error) {
	out := make([]int64, len(names))
	for i, name := range names {
		v := r.PathValue(name)
		id, err := strconv.ParseInt(v, 10, 64)
		if err != nil || id <= 0 {
			return nil, &userError{fmt.Sprintf("%q is not a valid id", v)}
		}
		out[i] = id
	}
	return out, nil
}

func (s *server) createKey(w http.ResponseWriter, r *http.Request) {
	f := s.frame(r, "Projects and ingest keys")
	f.Nav = "settings"
	if !s.projectForm(w, r, &f) {
		return
	}
	ids, err := pathIDs(r, "id")
	if err != nil {
		f.Title = "Bad request"
		s.render(w, r, http.StatusBadRequest, "error", f, errorPage{Message: err.Error()})
		return
	}
	name, rateText := strings.TrimSpace(r.PostForm.Get("name")), strings.TrimSpace(r.PostForm.Get("rate_limit"))
	form := map[string]string{"name": name, "rate_limit": rateText}
	rate := 0.0
	if rateText != "" {
		if rate, err = strconv.ParseFloat(rateText, 64); err != nil {
			s.refused(w, r, f, &userError{fmt.Sprintf("rate limit %q is not a number of records per second", rateText)}, ids[0], form)
			return
		}
	}
	if err := state.CheckIngestKey(name, rate); err != nil {
		s.refused(w, r, f, &userError{err.Error()}, ids[0], form)
		return
	}
	if _, err := s.opt.Projects.CreateIngestKey(r.Context(), ids[0], name, rate); err != nil {
		s.refused(w, r, f, err, ids[0], form)
		return
	}
	http.Redirect(w, r, fmt.Sprintf("/settings/projects#project-%d", ids[0]), http.StatusSeeOther)
}

func (s *server) revokeKey(w http.ResponseWriter, r *http.Request) {
	f := s.frame(r, "Projects and ingest keys")
	f.Nav = "settings"
	if !s.projectForm(w, r, &f) {
		return
	}
	ids, err := pathIDs(r, "id", "key_id")
	if err != nil {
		f.Title = "Bad request"
		s.render(w, r, http.StatusBadRequest, "error", f, errorPage{Message: err.Error()})
		return
	}
	if _, err := s.opt.Projects.RevokeIngestKey(r.Context(), ids[0], ids[1], s.opt.Now()); err != nil {
		s.refused(w, r, f, err, ids[0], nil)
		return
	}
	http.Redirect(w, r, fmt.Sprintf("/settings/projects#project-%d", ids[0]), http.StatusSeeOther)
}
