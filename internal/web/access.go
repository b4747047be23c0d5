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

	"github.com/fibinc/telltale/internal/auth"
)

// Access is what the login, setup and settings pages use; *auth.Service
// is one. Its methods take the request for the actor and client address
// they record in the audit log, and fail with *auth.Error for what the
// user should be told.
type Access interface {
	LoginCSRF(w http.ResponseWriter, r *http.Request) string
	CheckLoginCSRF(r *http.Request, field string) bool
	Login(w http.ResponseWriter, r *http.Request, name, password string) (auth.User, error)
	HasExternal() bool
	SetupOpen(token string) bool
	Setup(w http.ResponseWriter, r *http.Request, token, name, password string) (auth.User, error)
	Users(ctx context.Context) ([]auth.User, error)
	CreateUser(r *http.Request, nu auth.NewUser) (auth.User, error)
	UpdateUser(r *http.Request, id int64, ch auth.UserChange) (auth.User, error)
	DeleteUser(r *http.Request, id int64) error
	Tokens(r *http.Request) ([]auth.Token, error)
	CreateToken(r *http.Request, nt auth.NewToken) (auth.Token, string, error)
	RevokeToken(r *http.Request, id int64) error
	AuditPage(r *http.Request, f auth.AuditFilter) ([]auth.AuditEntry, string, error)
}

// ErrorPage renders an error page: what auth.Options.ErrorPage wants.
func (h *Handler) ErrorPage(w http.ResponseWriter, r *http.Request, status int, title, message string) {
	f := h.s.frame(r, title)
	h.s.render(w, r, status, "error", f, errorPage{Message: message})
}

// maxAccessForm bounds the forms of these pages.
const maxAccessForm = 16 << 10

func (s *server) accessRoutes(mux *http.ServeMux) {
	if s.opt.Access == nil {
		return
	}
	mux.HandleFunc("GET /login", s.loginPage)
	mux.HandleFunc("POST /login", s.loginPost)
	mux.HandleFunc("GET /setup", s.setupPage)
	mux.HandleFunc("POST /setup", s.setupPost)
	mux.HandleFunc("GET /settings", s.page("settings", s.settingsPage))
	mux.HandleFunc("GET /settings/users", s.page("users", s.usersPage))
	mux.HandleFunc("POST /settings/users", s.createUserPost)
	mux.HandleFunc("POST /settings/users/{id}/{op}", s.userOpPost)
	mux.HandleFunc("GET /settings/tokens", s.page("tokens", s.tokensPage))
	mux.HandleFunc("POST /settings/tokens", s.createTokenPost)
	mux.HandleFunc("POST /settings/tokens/{id}/revoke", s.revokeTokenPost)
	mux.HandleFunc("GET /settings/audit", s.page("audit", s.auditPage))
}

// formValues reads a posted form, bounded.
func formValues(w http.ResponseWriter, r *http.Request) (url.Values, error) {
	r.Body = http.MaxBytesReader(w, r.Body, maxAccessForm)
	if err := r.ParseForm(); err != nil {
		return nil, fmt.Errorf("cannot read the form: %w", err)
	}
	return r.PostForm, nil
}

// accessFail renders err as a page: the user's mistakes with their
// status and message, the rest as a 500 that the log explains.
func (s *server) accessFail(w http.ResponseWriter, r *http.Request, err error) {
	status := auth.Status(err)
	msg := err.Error()
	if status >= 500 {
		s.log.Error("settings change failed", "path", r.URL.Path, "err", err)
		msg = "Telltale could not do this; its log says why."
	}
	f := s.frame(r, http.StatusText(status))
	s.render(w, r, status, "error", f, errorPage{Message: msg})
}

type loginPage struct {
	Name, Next, CSRF string
	SSO              bool
	Error            string
}

func (s *server) renderLogin(w http.ResponseWriter, r *http.Request, status int, p loginPage) {
	f := s.frame(r, "Log in")
	f.Bare = true
	p.CSRF = s.opt.Access.LoginCSRF(w, r)
	p.SSO = s.opt.Access.HasExternal()
	s.render(w, r, status, "login", f, p)
}

func (s *server) loginPage(w http.ResponseWriter, r *http.Request) {
	next := auth.SafeNext(r.URL.Query().Get("next"))
	if _, ok := auth.FromContext(r.Context()); ok {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	}
	s.renderLogin(w, r, http.StatusOK, loginPage{Next: next})
}

func (s *server) loginPost(w http.ResponseWriter, r *http.Request) {
	v, err := formValues(w, r)
	if err != nil {
		s.renderLogin(w, r, http.StatusBadRequest, loginPage{Next: "/", Error: err.Error()})
		return
	}
	p := loginPage{Name: v.Get("name"), Next: auth.SafeNext(v.Get("next"))}
	if !s.opt.Access.CheckLoginCSRF(r, v.Get("csrf")) {
		p.Error = "The login form expired; log in again."
		s.renderLogin(w, r, http.StatusForbidden, p)
		return
	}
	if _, err := s.opt.Access.Login(w, r, v.Get("name"), v.Get("password")); err != nil {
		status := auth.Status(err)
		if status >= 500 {
			s.accessFail(w, r, err)
			return
		}
		var ae *auth.Error
		if errors.As(err, &ae) && ae.RetryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int(ae.RetryAfter/time.Second)))
		}
		p.Error = sentence(err.Error())
		s.renderLogin(w, r, status, p)
		return
	}
	http.Redirect(w, r, p.Next, http.StatusSeeOther)
}

// sentence capitalises a message and ends it with a full stop.
func sentence(msg string) string {
	if msg == "" {
		return msg
	}
	msg = strings.ToUpper(msg[:1]) + msg[1:]
	if !strings.HasSuffix(msg, ".") {
		msg += "."
	}
	return msg
}

type setupPage struct {
	Token, Name string
	Error       string
}

func (s *server) renderSetup(w http.ResponseWriter, r *http.Request, status int, p setupPage) {
	f := s.frame(r, "Set up Telltale")
	f.Bare = true
	s.render(w, r, status, "setup", f, p)
}

func (s *server) setupNotFound(w http.ResponseWriter, r *http.Request) {
	f := s.frame(r, "Not found")
	s.render(w, r, http.StatusNotFound, "error", f, errorPage{Message: "There is no setup to do: Telltale has its first admin. Log in at /login."})
}

func (s *server) setupPage(w http.ResponseWriter, r *http.Request) {
	tok := r.URL.Query().Get("token")
	if !s.opt.Access.SetupOpen(tok) {
		s.setupNotFound(w, r)
		return
	}
	s.renderSetup(w, r, http.StatusOK, setupPage{Token: tok, Name: "admin"})
}

func (s *server) setupPost(w http.ResponseWriter, r *http.Request) {
	v, err := formValues(w, r)
	if err != nil {
		s.accessFail(w, r, &auth.Error{Status: http.StatusBadRequest, Message: err.Error()})
		return
	}
	p := setupPage{Token: v.Get("token"), Name: v.Get("name")}
	if !s.opt.Access.SetupOpen(p.Token) {
		s.setupNotFound(w, r)
		return
	}
	if v.Get("password") != v.Get("password2") {
		p.Error = "The two passwords differ."
		s.renderSetup(w, r, http.StatusBadRequest, p)
		return
	}
	if _, err := s.opt.Access.Setup(w, r, p.Token, p.Name, v.Get("password")); err != nil {
		switch status := auth.Status(err); {
		case status == http.StatusNotFound:
			s.setupNotFound(w, r)
		case status >= 500:
			s.accessFail(w, r, err)
		default:
			p.Error = sentence(err.Error())
			s.renderSetup(w, r, status, p)
		}
		return
	}
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

type settingsPage struct {
	Admin bool
}

func (s *server) settingsPage(r *http.Request, f *frame) (any, error) {
	f.Title, f.Nav = "Settings", "settings"
	return settingsPage{Admin: f.Role >= auth.RoleAdmin}, nil
}

// Roles are the choices of the role selects.
var roles = []auth.Role{auth.RoleViewer, auth.RoleEditor, auth.RoleAdmin}

type usersPage struct {
	Users []auth.User
	Roles []auth.Role
	Done  string // what the last change did
	Error string
	Form  struct {
		Name string
		Role auth.Role
	}
	Self int64 // the logged-in user, who cannot delete themselves here
}

// doneMessages are the outcomes a redirect after a change reports (a
// fixed list: a query parameter cannot put words on the page).
var doneMessages = map[string]string{
	"created": "User created.", "role": "Role changed.", "disable": "User disabled; their sessions ended.",
	"enable": "User enabled.", "password": "Password changed; the user's sessions ended.", "delete": "User deleted.",
	"revoked": "Token revoked.",
}

func (s *server) usersData(r *http.Request, errMsg string) (*usersPage, error) {
	us, err := s.opt.Access.Users(r.Context())
	if err != nil {
		return nil, err
	}
	p := &usersPage{Users: us, Roles: roles, Done: doneMessages[r.URL.Query().Get("done")], Error: errMsg}
	p.Form.Role = auth.RoleViewer
	if pr, ok := auth.FromContext(r.Context()); ok {
		p.Self = pr.UserID
	}
	return p, nil
}

func (s *server) usersPage(r *http.Request, f *frame) (any, error) {
	f.Title, f.Nav = "Users", "settings"
	return s.usersData(r, "")
}

// renderUsersError shows the users page again with what went wrong.
func (s *server) renderUsersError(w http.ResponseWriter, r *http.Request, err error, name string, role auth.Role) {
	status := auth.Status(err)
	if status >= 500 {
		s.accessFail(w, r, err)
		return
	}
	p, perr := s.usersData(r, sentence(err.Error()))
	if perr != nil {
		s.accessFail(w, r, perr)
		return
	}
	p.Done = ""
	p.Form.Name, p.Form.Role = name, role
	f := s.frame(r, "Users")
	f.Nav = "settings"
	s.render(w, r, status, "users", f, p)
}

func (s *server) createUserPost(w http.ResponseWriter, r *http.Request) {
	v, err := formValues(w, r)
	if err != nil {
		s.renderUsersError(w, r, &auth.Error{Status: http.StatusBadRequest, Message: err.Error()}, "", auth.RoleViewer)
		return
	}
	role, err := auth.ParseRole(v.Get("role"))
	if err == nil {
		_, err = s.opt.Access.CreateUser(r, auth.NewUser{Name: v.Get("name"), Password: v.Get("password"), Role: role})
	} else {
		err = &auth.Error{Status: http.StatusBadRequest, Message: err.Error()}
	}
	if err != nil {
		s.renderUsersError(w, r, err, v.Get("name"), role)
		return
	}
	http.Redirect(w, r, "/settings/users?done=created", http.StatusSeeOther)
}

// userOpPost applies one of the row actions: role, disable, enable,
// password, delete.
func (s *server) userOpPost(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		s.renderUsersError(w, r, &auth.Error{Status: http.StatusBadRequest, Message: fmt.Sprintf("invalid user id %q", r.PathValue("id"))}, "", auth.RoleViewer)
		return
	}
	v, err := formValues(w, r)
	if err != nil {
		s.renderUsersError(w, r, &auth.Error{Status: http.StatusBadRequest, Message: err.Error()}, "", auth.RoleViewer)
		return
	}
	op := r.PathValue("op")
	var ch auth.UserChange
	switch op {
	case "role":
		role, perr := auth.ParseRole(v.Get("role"))
		if perr != nil {
			s.renderUsersError(w, r, &auth.Error{Status: http.StatusBadRequest, Message: perr.Error()}, "", auth.RoleViewer)
			return
		}
		ch.Role = &role
	case "disable", "enable":
		d := op == "disable"
		ch.Disabled = &d
	case "password":
		pw := v.Get("password")
		ch.Password = &pw
	case "delete":
		if err := s.opt.Access.DeleteUser(r, id); err != nil {
			s.renderUsersError(w, r, err, "", auth.RoleViewer)
			return
		}
		http.Redirect(w, r, "/settings/users?done=delete", http.StatusSeeOther)
		return
	default:
		f := s.frame(r, "Not found")
		s.render(w, r, http.StatusNotFound, "error", f, errorPage{Message: fmt.Sprintf("There is no user action %q.", op)})
		return
	}
	if _, err := s.opt.Access.UpdateUser(r, id, ch); err != nil {
		s.renderUsersError(w, r, err, "", auth.RoleViewer)
		return
	}
	http.Redirect(w, r, "/settings/users?done="+op, http.StatusSeeOther)
}

type tokensPage struct {
	Tokens   []auth.Token
	All      bool // an admin's view: every user's tokens
	Roles    []auth.Role
	Expiries []expiry
	Created  *createdToken // the token just created, shown once
	Done     string
	Error    string
	Form     struct {
		Name    string
		Role    auth.Role
		Expires string
	}
}

type createdToken struct {
	auth.Token
	Secret string
}

type expiry struct{ Value, Label string }

var expiries = []expiry{{"30d", "30 days"}, {"7d", "7 days"}, {"90d", "90 days"}, {"365d", "1 year"}, {"", "never"}}

func (s *server) tokensData(r *http.Request) (*tokensPage, error) {
	ts, err := s.opt.Access.Tokens(r)
	if err != nil {
		return nil, err
	}
	p := &tokensPage{Tokens: ts, Expiries: expiries, Done: doneMessages[r.URL.Query().Get("done")]}
	pr, _ := auth.FromContext(r.Context())
	p.All = pr.Role >= auth.RoleAdmin
	for _, role := range roles {
		if role <= pr.Role {
			p.Roles = append(p.Roles, role)
		}
	}
	p.Form.Role, p.Form.Expires = pr.Role, "30d"
	return p, nil
}

func (s *server) tokensPage(r *http.Request, f *frame) (any, error) {
	f.Title, f.Nav = "API tokens", "settings"
	return s.tokensData(r)
}

func (s *server) createTokenPost(w http.ResponseWriter, r *http.Request) {
	v, err := formValues(w, r)
	var nt auth.NewToken
	if err == nil {
		nt.Name = v.Get("name")
		if nt.Role, err = auth.ParseRole(v.Get("role")); err != nil {
			err = &auth.Error{Status: http.StatusBadRequest, Message: err.Error()}
		}
	} else {
		err = &auth.Error{Status: http.StatusBadRequest, Message: err.Error()}
	}
	if exp := v.Get("expires"); err == nil && exp != "" {
		d, perr := auth.ParseDays(exp)
		if perr != nil || d <= 0 {
			err = &auth.Error{Status: http.StatusBadRequest, Message: fmt.Sprintf("invalid expiry %q: want e.g. 30d", exp)}
		}
		nt.ExpiresAt = s.opt.Now().Add(d)
	}
	var created *createdToken
	if err == nil {
		var t auth.Token
		var secret string
		t, secret, err = s.opt.Access.CreateToken(r, nt)
		created = &createdToken{Token: t, Secret: secret}
	}
	status := http.StatusOK
	if err != nil {
		if status = auth.Status(err); status >= 500 {
			s.accessFail(w, r, err)
			return
		}
	}
	// The new token is shown in this answer, not after a redirect: it
	// must not land in a URL or the history.
	p, perr := s.tokensData(r)
	if perr != nil {
		s.accessFail(w, r, perr)
		return
	}
	if err != nil {
		p.Error = sentence(err.Error())
		p.Form.Name, p.Form.Role, p.Form.Expires = v.Get("name"), nt.Role, v.Get("expires")
	} else {
		p.Created = created
	}
	f := s.frame(r, "API tokens")
	f.Nav = "settings"
	w.Header().Set("Cache-Control", "no-store")
	s.render(w, r, status, "tokens", f, p)
}

func (s *server) revokeTokenPost(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		s.accessFail(w, r, &auth.Error{Status: http.StatusBadRequest, Message: fmt.Sprintf("invalid token id %q", r.PathValue("id"))})
		return
	}
	if err := s.opt.Access.RevokeToken(r, id); err != nil {
		s.accessFail(w, r, err)
		return
	}
	http.Redirect(w, r, "/settings/tokens?done=revoked", http.StatusSeeOther)
}

type auditPage struct {
	Entries []auth.AuditEntry
	Filter  struct{ Actor, Action, Since string }
	Next    string // URL of the next (older) page; "" on the last
}

func (s *server) auditPage(r *http.Request, f *frame) (any, error) {
	f.Title, f.Nav = "Audit log", "settings"
	q := r.URL.Query()
	flt, err := auth.ParseAuditFilter(q, s.opt.Now())
	if err != nil {
		return nil, &userError{err.Error()}
	}
	es, next, err := s.opt.Access.AuditPage(r, flt)
	if err != nil {
		return nil, err
	}
	p := &auditPage{Entries: es}
	p.Filter.Actor, p.Filter.Action, p.Filter.Since = q.Get("actor"), q.Get("action"), q.Get("since")
	if next != "" {
		nq := url.Values{}
		for _, k := range []string{"actor", "action", "since", "until", "limit"} {
			if v := q.Get(k); v != "" {
				nq.Set(k, v)
			}
		}
		nq.Set("cursor", next)
		p.Next = "/settings/audit?" + nq.Encode()
	}
	return p, nil
}
