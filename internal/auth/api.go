package auth

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/fibinc/telltale/internal/state"
)

// maxJSON bounds the body of a request to these endpoints.
const maxJSON = 64 << 10

// Routes registers the access control's endpoints on mux: the JSON API
// (/api/v1/login, logout, me, users, tokens, audit), POST /logout for the
// dashboard's logout button, and the external login's /auth/oidc/login
// and /auth/oidc/callback. Mount them on the mux that Handler wraps.
func (s *Service) Routes(mux *http.ServeMux) {
	mux.HandleFunc("POST /api/v1/login", s.apiLogin)
	mux.HandleFunc("POST /api/v1/logout", s.apiLogout)
	mux.HandleFunc("GET /api/v1/me", s.apiMe)
	mux.HandleFunc("GET /api/v1/users", s.apiUsers)
	mux.HandleFunc("POST /api/v1/users", s.apiCreateUser)
	mux.HandleFunc("GET /api/v1/users/{id}", s.apiUser)
	mux.HandleFunc("PATCH /api/v1/users/{id}", s.apiUpdateUser)
	mux.HandleFunc("DELETE /api/v1/users/{id}", s.apiDeleteUser)
	mux.HandleFunc("GET /api/v1/tokens", s.apiTokens)
	mux.HandleFunc("POST /api/v1/tokens", s.apiCreateToken)
	mux.HandleFunc("DELETE /api/v1/tokens/{id}", s.apiRevokeToken)
	mux.HandleFunc("GET /api/v1/audit", s.apiAudit)
	mux.HandleFunc("POST /logout", s.pageLogout)
	mux.HandleFunc("GET /auth/oidc/login", s.oidcLogin)
	mux.HandleFunc("GET /auth/oidc/callback", s.oidcCallback)
}

// response is the body of a successful answer, as in internal/api.
type response struct {
	Data       any    `json:"data"`
	NextCursor string `json:"next_cursor,omitempty"`
}

func (s *Service) writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		s.log.Error("cannot encode response", "err", err)
		status = http.StatusInternalServerError
		buf.Reset()
		buf.WriteString(`{"error":"internal error; the server log has the details"}` + "\n")
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

func (s *Service) writeError(w http.ResponseWriter, status int, msg string) {
	s.writeJSON(w, status, struct {
		Error string `json:"error"`
	}{msg})
}

// apiFail answers err with its status.
func (s *Service) apiFail(w http.ResponseWriter, r *http.Request, err error) {
	status := Status(err)
	var e *Error
	if errors.As(err, &e) && e.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(e.RetryAfter/time.Second)))
	}
	if status >= 500 {
		s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		s.writeError(w, status, "internal error; the server log has the details")
		return
	}
	s.writeError(w, status, err.Error())
}

// decode reads a JSON body into v, strictly: unknown fields are errors,
// so that a misspelt field is not silently ignored.
func decode(w http.ResponseWriter, r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxJSON))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return errorf(http.StatusRequestEntityTooLarge, "request body larger than %d bytes", maxJSON)
		}
		if errors.Is(err, io.EOF) {
			return errorf(http.StatusBadRequest, "empty request body: want a JSON object")
		}
		return errorf(http.StatusBadRequest, "invalid JSON body: %v", err)
	}
	if dec.More() {
		return errorf(http.StatusBadRequest, "invalid JSON body: more than one value")
	}
	return nil
}

func pathID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, errorf(http.StatusBadRequest, "invalid id %q: want a positive integer", clip(r.PathValue("id"), 40))
	}
	return id, nil
}

// me is what /api/v1/me and a login answer.
type me struct {
	ID      int64  `json:"id"`
	Name    string `json:"name"`
	Role    Role   `json:"role"`
	TokenID int64  `json:"token_id,omitempty"`
	// CSRF is the header X-CSRF-Token that state changes made with the
	// session cookie must carry.
	CSRF string `json:"csrf,omitempty"`
}

func (s *Service) apiLogin(w http.ResponseWriter, r *http.Request) {
	// A JSON content type cannot be sent cross-site without a CORS
	// preflight, which Telltale does not answer: another site cannot log
	// a browser in.
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct != "application/json" {
		s.writeError(w, http.StatusUnsupportedMediaType, "send the login as Content-Type: application/json")
		return
	}
	var body struct {
		Name     string `json:"name"`
		Password string `json:"password"`
	}
	if err := decode(w, r, &body); err != nil {
		s.apiFail(w, r, err)
		return
	}
	u, csrf, err := s.login(w, r, body.Name, body.Password)
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	s.writeJSON(w, http.StatusOK, response{Data: me{ID: u.ID, Name: u.Name, Role: u.Role, CSRF: csrf}})
}

func (s *Service) apiLogout(w http.ResponseWriter, r *http.Request) {
	if !s.logoutAllowed(r) {
		s.writeError(w, http.StatusForbidden, "missing or invalid CSRF token")
		return
	}
	if err := s.Logout(w, r); err != nil {
		s.apiFail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// logoutAllowed checks the CSRF token of a logout made with a session, so
// that another site cannot log a user out; a request without a working
// session may always "log out" (it only clears the cookie).
func (s *Service) logoutAllowed(r *http.Request) bool {
	p, ok := FromContext(r.Context())
	if !ok || p.TokenID != 0 {
		return true
	}
	return s.checkCSRF(nil, r, p)
}

func (s *Service) pageLogout(w http.ResponseWriter, r *http.Request) {
	if !s.logoutAllowed(r) {
		s.opt.ErrorPage(w, r, http.StatusForbidden, "Forbidden", "missing or invalid CSRF token")
		return
	}
	if err := s.Logout(w, r); err != nil {
		s.log.Error("cannot log out", "err", err)
		s.opt.ErrorPage(w, r, http.StatusInternalServerError, "Error", "Telltale could not end the session; its log says why.")
		return
	}
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

func (s *Service) apiMe(w http.ResponseWriter, r *http.Request) {
	p, ok := FromContext(r.Context())
	if !ok {
		s.writeError(w, http.StatusUnauthorized, "not logged in")
		return
	}
	s.writeJSON(w, http.StatusOK, response{Data: me{ID: p.UserID, Name: p.Name, Role: p.Role, TokenID: p.TokenID, CSRF: p.CSRF}})
}

func (s *Service) apiUsers(w http.ResponseWriter, r *http.Request) {
	us, err := s.Users(r.Context())
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	if us == nil {
		us = []User{}
	}
	s.writeJSON(w, http.StatusOK, response{Data: us})
}

func (s *Service) apiUser(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	u, err := s.store.User(r.Context(), id)
	if errors.Is(err, state.ErrNotFound) {
		err = errorf(http.StatusNotFound, "there is no user %d", id)
	}
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	s.writeJSON(w, http.StatusOK, response{Data: userOf(u)})
}

func (s *Service) apiCreateUser(w http.ResponseWriter, r *http.Request) {
	var nu NewUser
	if err := decode(w, r, &nu); err != nil {
		s.apiFail(w, r, err)
		return
	}
	u, err := s.CreateUser(r, nu)
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	w.Header().Set("Location", fmt.Sprintf("/api/v1/users/%d", u.ID))
	s.writeJSON(w, http.StatusCreated, response{Data: u})
}

func (s *Service) apiUpdateUser(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	var ch UserChange
	if err := decode(w, r, &ch); err != nil {
		s.apiFail(w, r, err)
		return
	}
	u, err := s.UpdateUser(r, id, ch)
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	s.writeJSON(w, http.StatusOK, response{Data: u})
}

func (s *Service) apiDeleteUser(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err == nil {
		err = s.DeleteUser(r, id)
	}
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Service) apiTokens(w http.ResponseWriter, r *http.Request) {
	ts, err := s.Tokens(r)
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	if ts == nil {
		ts = []Token{}
	}
	s.writeJSON(w, http.StatusOK, response{Data: ts})
}

// createdToken is the answer to a token's creation: the only time the
// token itself is shown.
type createdToken struct {
	Token
	Secret string `json:"token"`
}

func (s *Service) apiCreateToken(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Name      string    `json:"name"`
		Role      Role      `json:"role"`
		ExpiresAt time.Time `json:"expires_at"`
		// ExpiresIn is a duration from now: 12h, 30d.
		ExpiresIn string `json:"expires_in"`
	}
	if err := decode(w, r, &body); err != nil {
		s.apiFail(w, r, err)
		return
	}
	nt := NewToken{Name: body.Name, Role: body.Role, ExpiresAt: body.ExpiresAt}
	if body.ExpiresIn != "" {
		if !body.ExpiresAt.IsZero() {
			s.apiFail(w, r, errorf(http.StatusBadRequest, "give expires_at or expires_in, not both"))
			return
		}
		d, err := ParseDays(body.ExpiresIn)
		if err != nil || d <= 0 {
			s.apiFail(w, r, errorf(http.StatusBadRequest, "invalid expires_in %q: want e.g. 12h or 30d", clip(body.ExpiresIn, 40)))
			return
		}
		nt.ExpiresAt = s.now().Add(d)
	}
	t, secret, err := s.CreateToken(r, nt)
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	s.writeJSON(w, http.StatusCreated, response{Data: createdToken{Token: t, Secret: secret}})
}

// ParseDays parses a duration that may also be given in days: 36h, 7d.
func ParseDays(s string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		v, err := strconv.ParseFloat(n, 64)
		if err != nil || v < 0 || v > 100*365 {
			return 0, fmt.Errorf("invalid duration %q", s)
		}
		return time.Duration(v * float64(24*time.Hour)), nil
	}
	return time.ParseDuration(s)
}

func (s *Service) apiRevokeToken(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err == nil {
		err = s.RevokeToken(r, id)
	}
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// Audit paging: the default and largest page.
const (
	DefaultAuditLimit = 100
	MaxAuditLimit     = 1000
)

// ParseAuditFilter reads the audit log's filters from a query: actor,
// action (a prefix when it ends in "."), since and until (RFC 3339, or a
// duration back from now such as 24h or 7d), limit and cursor.
func ParseAuditFilter(q map[string][]string, now time.Time) (AuditFilter, error) {
	get := func(k string) string {
		if v := q[k]; len(v) > 0 {
			return strings.TrimSpace(v[0])
		}
		return ""
	}
	f := AuditFilter{Actor: get("actor"), Action: get("action"), Limit: DefaultAuditLimit}
	for _, t := range []struct {
		name string
		dst  *time.Time
	}{{"since", &f.Since}, {"until", &f.Until}} {
		v := get(t.name)
		if v == "" {
			continue
		}
		if at, err := time.Parse(time.RFC3339, v); err == nil {
			*t.dst = at
		} else if d, err := ParseDays(v); err == nil && d >= 0 {
			*t.dst = now.Add(-d)
		} else {
			return f, errorf(http.StatusBadRequest, "invalid %s %q: want an RFC 3339 time or a duration back from now such as 24h or 7d", t.name, clip(v, 40))
		}
	}
	if v := get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxAuditLimit {
			return f, errorf(http.StatusBadRequest, "invalid limit %q: want 1 to %d", clip(v, 40), MaxAuditLimit)
		}
		f.Limit = n
	}
	if v := get("cursor"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			return f, errorf(http.StatusBadRequest, "invalid cursor %q", clip(v, 40))
		}
		f.Before = n
	}
	return f, nil
}

// AuditPage returns a page of the audit log and the cursor of the next
// page ("" on the last).
func (s *Service) AuditPage(r *http.Request, f AuditFilter) ([]AuditEntry, string, error) {
	limit := f.Limit
	f.Limit++
	es, err := s.Audit(r.Context(), f)
	if err != nil {
		return nil, "", err
	}
	next := ""
	if len(es) > limit {
		es = es[:limit]
		next = strconv.FormatInt(es[limit-1].ID, 10)
	}
	return es, next, nil
}

func (s *Service) apiAudit(w http.ResponseWriter, r *http.Request) {
	f, err := ParseAuditFilter(r.URL.Query(), s.now())
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	es, next, err := s.AuditPage(r, f)
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	if es == nil {
		es = []AuditEntry{}
	}
	s.writeJSON(w, http.StatusOK, response{Data: es, NextCursor: next})
}
