package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/fibinc/telltale/internal/query"
	"github.com/fibinc/telltale/internal/state"
)

// IngestKeys creates projects and manages their ingest keys;
// *ingestkey.Keys is one (its changes apply to ingest at once).
type IngestKeys interface {
	Projects(ctx context.Context) ([]state.Project, error)
	CreateProject(ctx context.Context, slug, name string) (state.Project, error)
	IngestKeys(ctx context.Context, projectID int64) ([]state.IngestKey, error)
	CreateIngestKey(ctx context.Context, projectID int64, name string, rateLimit float64) (state.IngestKey, error)
	RevokeIngestKey(ctx context.Context, projectID, keyID int64, at time.Time) (state.IngestKey, error)
}

// maxProjectBody bounds the JSON body of a project or key creation.
const maxProjectBody = 4 << 10

var errNoKeys = errors.New("projects and ingest keys are not managed by this server")

// projectAPI serves the project and ingest key endpoints; keys may be nil
// (the list of projects still works, changes answer 503).
type projectAPI struct {
	*handler
	keys IngestKeys
}

func (h *handler) projectRoutes(mux *http.ServeMux, keys IngestKeys) {
	a := &projectAPI{handler: h, keys: keys}
	mux.Handle("/api/v1/projects", a.byMethod(map[string]endpoint{http.MethodGet: a.listProjects, http.MethodPost: a.createProject}))
	mux.Handle("/api/v1/projects/{id}/keys", a.byMethod(map[string]endpoint{http.MethodGet: a.listKeys, http.MethodPost: a.createKey}))
	mux.Handle("/api/v1/projects/{id}/keys/{key_id}", a.byMethod(map[string]endpoint{http.MethodDelete: a.revokeKey}))
}

// byMethod answers each method with its endpoint (GET also takes HEAD),
// other methods with 405; a duplicate is 409, no key management 503.
func (a *projectAPI) byMethod(fns map[string]endpoint) http.Handler {
	allow := ""
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodDelete} {
		if fns[m] == nil {
			continue
		}
		if allow != "" {
			allow += ", "
		}
		allow += m
		if m == http.MethodGet {
			allow += ", HEAD"
		}
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		method := r.Method
		if method == http.MethodHead {
			method = http.MethodGet
		}
		fn := fns[method]
		if fn == nil {
			w.Header().Set("Allow", allow)
			a.writeJSON(w, http.StatusMethodNotAllowed, errorBody{fmt.Sprintf("method %s is not allowed; use %s", r.Method, allow)})
			return
		}
		body, err := fn(r)
		switch {
		case errors.Is(err, state.ErrExists):
			a.writeJSON(w, http.StatusConflict, errorBody{err.Error()})
		case errors.Is(err, errNoKeys):
			a.writeJSON(w, http.StatusServiceUnavailable, errorBody{err.Error()})
		case err != nil:
			a.fail(w, r, err)
		default:
			a.writeJSON(w, http.StatusOK, body)
		}
	})
}

// apiKey is an ingest key as the API shows it, with the DSN Sentry SDKs
// use it in.
type apiKey struct {
	state.IngestKey
	DSN string `json:"dsn"`
}

// listProjects lists the projects with the DSN of their first active key
// ("" when every key is revoked).
func (a *projectAPI) listProjects(r *http.Request) (any, error) {
	if a.keys == nil {
		return a.projects(r)
	}
	ps, err := a.keys.Projects(r.Context())
	if err != nil {
		return nil, err
	}
	keys, err := a.keys.IngestKeys(r.Context(), 0)
	if err != nil {
		return nil, err
	}
	first := map[int64]string{}
	for _, k := range keys {
		if _, ok := first[k.ProjectID]; !ok && k.Active() {
			first[k.ProjectID] = k.Key
		}
	}
	out := make([]project, len(ps))
	for i, p := range ps {
		out[i] = project{Project: p}
		if key, ok := first[p.ID]; ok {
			p.PublicKey = key
			out[i].DSN = DSN(a.ingestURL, p)
		}
	}
	return response{Data: out}, nil
}

// createProject takes {"slug": "...", "name": "..."} and answers the
// project with its first key.
func (a *projectAPI) createProject(r *http.Request) (any, error) {
	if a.keys == nil {
		return nil, errNoKeys
	}
	var req struct {
		Slug string `json:"slug"`
		Name string `json:"name"`
	}
	if err := readJSON(r, &req, `{"slug": "web", "name": "Web shop"}`); err != nil {
		return nil, err
	}
	if err := state.CheckSlug(req.Slug); err != nil {
		return nil, badParam("slug", "%v", err)
	}
	if len(req.Name) > 200 {
		return nil, badParam("name", "longer than 200 bytes")
	}
	p, err := a.keys.CreateProject(r.Context(), req.Slug, req.Name)
	if err != nil {
		return nil, err
	}
	keys, err := a.keys.IngestKeys(r.Context(), p.ID)
	if err != nil {
		return nil, err
	}
	return response{Data: struct {
		project
		Keys []apiKey `json:"keys"`
	}{project{p, DSN(a.ingestURL, p)}, a.apiKeys(p, keys)}}, nil
}

func (a *projectAPI) apiKeys(p state.Project, keys []state.IngestKey) []apiKey {
	out := make([]apiKey, len(keys))
	for i, k := range keys {
		q := p
		q.PublicKey = k.Key
		out[i] = apiKey{k, DSN(a.ingestURL, q)}
	}
	return out
}

// projectOf returns the project of the {id} in the path, or a 404.
func (a *projectAPI) projectOf(r *http.Request) (state.Project, error) {
	v := r.PathValue("id")
	id, err := strconv.ParseInt(v, 10, 64)
	if err != nil || id <= 0 {
		return state.Project{}, badParam("id", "%q is not a project id", v)
	}
	if a.keys == nil {
		return state.Project{}, errNoKeys
	}
	ps, err := a.keys.Projects(r.Context())
	if err != nil {
		return state.Project{}, err
	}
	for _, p := range ps {
		if p.ID == id {
			return p, nil
		}
	}
	return state.Project{}, fmt.Errorf("project %d: %w", id, query.ErrNotFound)
}

func (a *projectAPI) listKeys(r *http.Request) (any, error) {
	p, err := a.projectOf(r)
	if err != nil {
		return nil, err
	}
	keys, err := a.keys.IngestKeys(r.Context(), p.ID)
	if err != nil {
		return nil, err
	}
	return response{Data: a.apiKeys(p, keys)}, nil
}

// createKey takes {"name": "...", "rate_limit": records per second (0 or
// absent: the server's default)}.
func (a *projectAPI) createKey(r *http.Request) (any, error) {
	p, err := a.projectOf(r)
	if err != nil {
		return nil, err
	}
	var req struct {
		Name      string  `json:"name"`
		RateLimit float64 `json:"rate_limit"`
	}
	if err := readJSON(r, &req, `{"name": "ci runners", "rate_limit": 1000}`); err != nil {
		return nil, err
	}
	if err := state.CheckIngestKey(req.Name, req.RateLimit); err != nil {
		return nil, badParam("body", "%v", err)
	}
	k, err := a.keys.CreateIngestKey(r.Context(), p.ID, req.Name, req.RateLimit)
	if errors.Is(err, state.ErrNotFound) {
		return nil, fmt.Errorf("project %d: %w", p.ID, query.ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	return response{Data: a.apiKeys(p, []state.IngestKey{k})[0]}, nil
}

func (a *projectAPI) revokeKey(r *http.Request) (any, error) {
	p, err := a.projectOf(r)
	if err != nil {
		return nil, err
	}
	v := r.PathValue("key_id")
	id, err := strconv.ParseInt(v, 10, 64)
	if err != nil || id <= 0 {
		return nil, badParam("key_id", "%q is not a key id", v)
	}
	k, err := a.keys.RevokeIngestKey(r.Context(), p.ID, id, a.now())
	if errors.Is(err, state.ErrNotFound) {
		return nil, fmt.Errorf("ingest key %d of project %d: %w", id, p.ID, query.ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	return response{Data: a.apiKeys(p, []state.IngestKey{k})[0]}, nil
}

// readJSON decodes a small JSON object body into v, refusing unknown
// fields; example shows the expected shape in the error.
func readJSON(r *http.Request, v any, example string) error {
	data, err := io.ReadAll(io.LimitReader(r.Body, maxProjectBody+1))
	if err != nil {
		return badParam("body", "cannot read: %v", err)
	}
	if len(data) > maxProjectBody {
		return fmt.Errorf("%w: at most %d bytes", errTooLarge, maxProjectBody)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return badParam("body", "invalid JSON: %v; want %s", err, example)
	}
	if dec.More() {
		return badParam("body", "more than one JSON value; want %s", example)
	}
	return nil
}
