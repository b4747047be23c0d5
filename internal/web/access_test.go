package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/fibinc/telltale/internal/auth"
	"github.com/fibinc/telltale/internal/state/duckdb"
)

// accessEnv is the dashboard behind the real access control, on a real
// state store: what app.go builds.
type accessEnv struct {
	t       *testing.T
	svc     *auth.Service
	store   *duckdb.Store
	handler http.Handler
}

type fakeSSO struct{}

func (fakeSSO) Begin(w http.ResponseWriter, r *http.Request, returnTo string) error { return nil }
func (fakeSSO) Finish(w http.ResponseWriter, r *http.Request) (auth.ExternalIdentity, string, error) {
	return auth.ExternalIdentity{}, "", nil
}

func newAccessEnv(t *testing.T, sso bool) *accessEnv {
	t.Helper()
	st, err := duckdb.Open(context.Background(), duckdb.Options{Path: filepath.Join(t.TempDir(), duckdb.FileName)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	var h *Handler
	opt := auth.Options{Store: st, Now: func() time.Time { return now }, Argon2: auth.Argon2Params{Memory: 64, Time: 1, Threads: 1},
		ErrorPage: func(w http.ResponseWriter, r *http.Request, status int, title, msg string) {
			h.ErrorPage(w, r, status, title, msg)
		}}
	if sso {
		opt.External = fakeSSO{}
	}
	svc, err := auth.New(opt)
	if err != nil {
		t.Fatal(err)
	}
	h, err = New(Options{Query: fleet(), Now: func() time.Time { return now }, Access: svc, Notify: newNotifier(t)})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	svc.Routes(mux)
	mux.Handle("/", h)
	return &accessEnv{t: t, svc: svc, store: st, handler: svc.Handler(mux)}
}

type session struct{ cookie, csrf string }

func (e *accessEnv) do(method, target string, as session, form url.Values) *httptest.ResponseRecorder {
	e.t.Helper()
	var r *http.Request
	if form != nil {
		if as.csrf != "" && form.Get("csrf") == "" {
			form.Set("csrf", as.csrf)
		}
		r = httptest.NewRequest(method, target, strings.NewReader(form.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else {
		r = httptest.NewRequest(method, target, nil)
	}
	if as.cookie != "" {
		r.AddCookie(&http.Cookie{Name: auth.SessionCookie, Value: as.cookie})
	}
	w := httptest.NewRecorder()
	e.handler.ServeHTTP(w, r)
	return w
}

// user creates a user through the API as the bootstrap admin would.
func (e *accessEnv) user(name string, role auth.Role) {
	e.t.Helper()
	r := httptest.NewRequest("POST", "/", nil)
	r = r.WithContext(auth.WithPrincipal(r.Context(), auth.Principal{UserID: 0, Name: "test", Role: auth.RoleAdmin}))
	if _, err := e.svc.CreateUser(r, auth.NewUser{Name: name, Password: "password-" + name, Role: role}); err != nil {
		e.t.Fatal(err)
	}
}

func (e *accessEnv) login(name string) session {
	e.t.Helper()
	r := httptest.NewRequest("POST", "/api/v1/login", strings.NewReader(fmt.Sprintf(`{"name":%q,"password":"password-%s"}`, name, name)))
	r.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	e.handler.ServeHTTP(w, r)
	var body struct{ Data struct{ CSRF string } }
	json.Unmarshal(w.Body.Bytes(), &body)
	for _, c := range w.Result().Cookies() {
		if c.Name == auth.SessionCookie {
			return session{cookie: c.Value, csrf: body.Data.CSRF}
		}
	}
	e.t.Fatalf("login %s: %d %s", name, w.Code, w.Body)
	return session{}
}

// randomRE matches what differs between runs: CSRF tokens and API tokens.
var (
	csrfRE   = regexp.MustCompile(`value="[A-Za-z0-9_-]{43}"`)
	secretRE = regexp.MustCompile(`tt_[A-Za-z0-9_-]{32}`)
	prefixRE = regexp.MustCompile(`tt_[A-Za-z0-9_-]{6}…`)
)

func stable(body string) string {
	body = csrfRE.ReplaceAllString(body, `value="CSRF"`)
	body = secretRE.ReplaceAllString(body, "tt_SECRET")
	return prefixRE.ReplaceAllString(body, "tt_PREFIX…")
}

const hostile = `<script>alert(1)</script>"><img src=x onerror=alert(2)>`

func TestAccessPages(t *testing.T) {
	e := newAccessEnv(t, true)
	e.user("root", auth.RoleAdmin)
	e.user("ana", auth.RoleEditor)
	e.user("bo", auth.RoleViewer)
	admin, ana := e.login("root"), e.login("ana")
	// Hostile text where users can put it: a login name tried, a token
	// name.
	lr := httptest.NewRequest("POST", "/api/v1/login", strings.NewReader(fmt.Sprintf(`{"name":%q,"password":"whatever-password"}`, hostile)))
	lr.Header.Set("Content-Type", "application/json")
	e.handler.ServeHTTP(httptest.NewRecorder(), lr)
	e.do("POST", "/settings/tokens", ana, url.Values{"name": {"ci " + hostile}, "role": {"viewer"}, "expires": {"30d"}})
	e.do("POST", "/settings/tokens", ana, url.Values{"name": {"old"}, "role": {"editor"}, "expires": {""}})
	e.do("POST", "/settings/tokens/2/revoke", ana, url.Values{})
	e.do("POST", "/settings/users/3/disable", admin, url.Values{})

	for _, tc := range []struct {
		name, target string
		as           session
		status       int
	}{
		{"login", "/login?next=/logs%3Fq%3Derror", session{}, 200},
		{"settings", "/settings", admin, 200},
		{"settings-editor", "/settings", ana, 200},
		{"users", "/settings/users?done=disable", admin, 200},
		{"tokens", "/settings/tokens", ana, 200},
		{"tokens-admin", "/settings/tokens", admin, 200},
		{"audit", "/settings/audit", admin, 200},
		{"audit-filter", "/settings/audit?action=token.&limit=1", admin, 200},
		{"forbidden", "/settings/users", ana, 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := e.do("GET", tc.target, tc.as, nil)
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d:\n%s", w.Code, tc.status, w.Body)
			}
			body := w.Body.String()
			if strings.Contains(body, "<script>alert") || strings.Contains(body, "<img src=x") {
				t.Errorf("unescaped script in %s", tc.name)
			}
			golden(t, "access-"+tc.name, stable(body))
		})
	}
	// The hostile text is there, escaped.
	for _, target := range []string{"/settings/audit", "/settings/tokens"} {
		body := e.do("GET", target, admin, nil).Body.String()
		if !strings.Contains(body, "&lt;script&gt;alert(1)&lt;/script&gt;&#34;&gt;&lt;img src=x onerror=alert(2)&gt;") {
			t.Errorf("%s does not show the hostile text escaped", target)
		}
	}
}

func TestLoginForm(t *testing.T) {
	e := newAccessEnv(t, false)
	e.user("ana", auth.RoleViewer)
	get := e.do("GET", "/login?next=/errors", session{}, nil)
	if get.Code != 200 || strings.Contains(get.Body.String(), "Sign in with SSO") || strings.Contains(get.Body.String(), `<nav>`) {
		t.Fatalf("login page: %d", get.Code)
	}
	var csrfCookie *http.Cookie
	for _, c := range get.Result().Cookies() {
		if c.Name == auth.LoginCSRFCookie {
			csrfCookie = c
		}
	}
	if csrfCookie == nil || !strings.Contains(get.Body.String(), `name="csrf" value="`+csrfCookie.Value+`"`) {
		t.Fatal("the login form's CSRF field does not match its cookie")
	}
	post := func(form url.Values, withCookie bool) *httptest.ResponseRecorder {
		r := httptest.NewRequest("POST", "/login", strings.NewReader(form.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if withCookie {
			r.AddCookie(csrfCookie)
		}
		w := httptest.NewRecorder()
		e.handler.ServeHTTP(w, r)
		return w
	}
	good := url.Values{"name": {"ana"}, "password": {"password-ana"}, "csrf": {csrfCookie.Value}, "next": {"/errors"}}
	if w := post(good, false); w.Code != 403 || !strings.Contains(w.Body.String(), "The login form expired") {
		t.Errorf("no CSRF cookie: %d", w.Code)
	}
	bad := url.Values{"name": {"ana"}, "password": {"wrong-password"}, "csrf": {csrfCookie.Value}, "next": {"/errors"}}
	w := post(bad, true)
	if w.Code != 401 || !strings.Contains(w.Body.String(), "Wrong login name or password.") || !strings.Contains(w.Body.String(), `value="ana"`) {
		t.Errorf("wrong password: %d\n%s", w.Code, w.Body)
	}
	golden(t, "access-login-error", stable(w.Body.String()))
	w = post(good, true)
	if w.Code != 303 || w.Header().Get("Location") != "/errors" || !strings.Contains(w.Header().Get("Set-Cookie"), auth.SessionCookie) {
		t.Errorf("login: %d %v", w.Code, w.Header())
	}
	evil := url.Values{"name": {"ana"}, "password": {"password-ana"}, "csrf": {csrfCookie.Value}, "next": {"//evil.example/x"}}
	if w := post(evil, true); w.Header().Get("Location") != "/" {
		t.Errorf("login with a foreign next: to %q", w.Header().Get("Location"))
	}
	for range 4 {
		post(bad, true)
	}
	if w := post(good, true); w.Code != 429 || w.Header().Get("Retry-After") == "" || !strings.Contains(w.Body.String(), "Too many failed logins") {
		t.Errorf("6th failure: %d %v", w.Code, w.Header())
	}
}

func TestSetupForm(t *testing.T) {
	e := newAccessEnv(t, false)
	tok, err := e.svc.Bootstrap(context.Background(), "admin", "")
	if err != nil || tok == "" {
		t.Fatal(tok, err)
	}
	if w := e.do("GET", "/setup?token=wrong", session{}, nil); w.Code != 404 {
		t.Errorf("wrong token: %d", w.Code)
	}
	w := e.do("GET", "/setup?token="+tok, session{}, nil)
	if w.Code != 200 {
		t.Fatalf("setup page: %d", w.Code)
	}
	golden(t, "access-setup", strings.ReplaceAll(w.Body.String(), tok, "SETUP-TOKEN"))
	form := url.Values{"token": {tok}, "name": {"root"}, "password": {"password-root"}, "password2": {"password-rooT"}}
	if w := e.do("POST", "/setup", session{}, form); w.Code != 400 || !strings.Contains(w.Body.String(), "The two passwords differ.") {
		t.Errorf("different passwords: %d", w.Code)
	}
	form.Set("password2", "password-root")
	w = e.do("POST", "/setup", session{}, form)
	if w.Code != 303 || w.Header().Get("Location") != "/" || !strings.Contains(w.Header().Get("Set-Cookie"), auth.SessionCookie) {
		t.Fatalf("setup: %d %v %s", w.Code, w.Header(), w.Body)
	}
	for _, w := range []*httptest.ResponseRecorder{e.do("GET", "/setup?token="+tok, session{}, nil), e.do("POST", "/setup", session{}, form)} {
		if w.Code != 404 {
			t.Errorf("setup after use: %d", w.Code)
		}
	}
	e.login("root")
}

func TestUserForms(t *testing.T) {
	e := newAccessEnv(t, false)
	e.user("root", auth.RoleAdmin)
	admin := e.login("root")
	for _, tc := range []struct {
		path   string
		form   url.Values
		status int
		want   string // Location, or text of the page
	}{
		{"/settings/users", url.Values{"name": {"ana"}, "password": {"password-ana"}, "role": {"editor"}}, 303, "/settings/users?done=created"},
		{"/settings/users", url.Values{"name": {"ANA"}, "password": {"password-ana"}, "role": {"editor"}}, 409, "A user named &#34;ANA&#34; exists."},
		{"/settings/users", url.Values{"name": {"bo"}, "password": {"short"}, "role": {"viewer"}}, 400, "Invalid password: want 10 to 256 bytes"},
		{"/settings/users", url.Values{"name": {"bo"}, "password": {"password-bo"}, "role": {"root"}}, 400, "Invalid role"},
		{"/settings/users/2/role", url.Values{"role": {"admin"}}, 303, "/settings/users?done=role"},
		{"/settings/users/2/disable", url.Values{}, 303, "/settings/users?done=disable"},
		{"/settings/users/2/enable", url.Values{}, 303, "/settings/users?done=enable"},
		{"/settings/users/2/password", url.Values{"password": {"new-password"}}, 303, "/settings/users?done=password"},
		{"/settings/users/2/password", url.Values{"password": {"x"}}, 400, "Invalid password"},
		{"/settings/users/x/role", url.Values{"role": {"admin"}}, 400, "Invalid user id &#34;x&#34;"},
		{"/settings/users/2/promote", url.Values{}, 404, "no user action"},
		{"/settings/users/99/delete", url.Values{}, 404, "There is no user 99."},
		{"/settings/users/2/delete", url.Values{}, 303, "/settings/users?done=delete"},
		{"/settings/users/1/delete", url.Values{}, 409, "This is the last admin"},
		{"/settings/users/1/role", url.Values{"role": {"viewer"}, "csrf": {"wrong"}}, 403, "missing or invalid CSRF token"},
	} {
		w := e.do("POST", tc.path, admin, tc.form)
		if w.Code != tc.status {
			t.Errorf("POST %s %v: %d, want %d\n%s", tc.path, tc.form, w.Code, tc.status, w.Body)
			continue
		}
		if tc.status == 303 && w.Header().Get("Location") != tc.want || tc.status != 303 && !strings.Contains(w.Body.String(), tc.want) {
			t.Errorf("POST %s: %d %v, want %q\n%s", tc.path, w.Code, w.Header().Get("Location"), tc.want, w.Body)
		}
	}
	es, _ := e.store.Audit(context.Background(), auth.AuditFilter{Action: "user."})
	if len(es) != 10 {
		t.Errorf("%d user audit entries, want 10 (3 creations, 4 updates, 2 deletions, the test's root)", len(es))
	}
}

func TestTokenForms(t *testing.T) {
	e := newAccessEnv(t, false)
	e.user("bo", auth.RoleViewer)
	bo := e.login("bo")
	w := e.do("POST", "/settings/tokens", bo, url.Values{"name": {"laptop"}, "role": {"viewer"}, "expires": {"7d"}})
	m := regexp.MustCompile(`<pre class="token-secret">(tt_[A-Za-z0-9_-]{32})</pre>`).FindStringSubmatch(w.Body.String())
	if w.Code != 200 || m == nil || w.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("create: %d %v\n%s", w.Code, w.Header(), w.Body)
	}
	golden(t, "access-tokens-created", stable(w.Body.String()))
	// The token works, and is not shown again.
	r := httptest.NewRequest("GET", "/api/v1/me", nil)
	r.Header.Set("Authorization", "Bearer "+m[1])
	rw := httptest.NewRecorder()
	e.handler.ServeHTTP(rw, r)
	if rw.Code != 200 {
		t.Errorf("the new token: %d", rw.Code)
	}
	if body := e.do("GET", "/settings/tokens", bo, nil).Body.String(); strings.Contains(body, m[1]) || !strings.Contains(body, "2026-05-11 10:00 UTC") {
		t.Error("the token is shown again, or its expiry is not")
	}
	for _, tc := range []struct {
		form   url.Values
		status int
		want   string
	}{
		{url.Values{"name": {""}, "role": {"viewer"}}, 400, "Invalid token name"},
		{url.Values{"name": {"x"}, "role": {"admin"}}, 403, "A viewer cannot create a token with role admin."},
		{url.Values{"name": {"x"}, "role": {"viewer"}, "expires": {"soon"}}, 400, "Invalid expiry"},
	} {
		w := e.do("POST", "/settings/tokens", bo, tc.form)
		if w.Code != tc.status || !strings.Contains(w.Body.String(), tc.want) || strings.Contains(w.Body.String(), "token-secret") {
			t.Errorf("create %v: %d, want %d %q", tc.form, w.Code, tc.status, tc.want)
		}
	}
	if w := e.do("POST", "/settings/tokens/1/revoke", bo, url.Values{}); w.Code != 303 || w.Header().Get("Location") != "/settings/tokens?done=revoked" {
		t.Errorf("revoke: %d %v", w.Code, w.Header())
	}
	if w := e.do("POST", "/settings/tokens/99/revoke", bo, url.Values{}); w.Code != 404 {
		t.Errorf("revoke unknown: %d", w.Code)
	}
	rw = httptest.NewRecorder()
	e.handler.ServeHTTP(rw, r)
	if rw.Code != 401 {
		t.Errorf("revoked token: %d", rw.Code)
	}
}

// TestLoggedInLayout checks what a session adds to every page: the user
// menu with a logout form, and the CSRF field of the existing forms.
func TestLoggedInLayout(t *testing.T) {
	e := newAccessEnv(t, false)
	e.user("ana", auth.RoleEditor)
	ana := e.login("ana")
	body := e.do("GET", "/silences", ana, nil).Body.String()
	for _, want := range []string{
		`<span class="user-name">ana</span> <span class="user-role">editor</span>`,
		`<form class="logout" method="post" action="/logout"><input type="hidden" name="csrf" value="` + ana.csrf + `">`,
		`<form class="silence-form" method="post" action="/silences"><input type="hidden" name="csrf" value="` + ana.csrf + `">`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("silences page lacks %s", want)
		}
	}
	// The form posts work with the field the page carries.
	if w := e.do("POST", "/silences", ana, url.Values{"matchers": {`alertname="x"`}, "duration": {"1h"}}); w.Code != 303 {
		t.Errorf("silence form with its CSRF field: %d %s", w.Code, w.Body)
	}
	// Logged in, /login moves on; anonymous pages go to the login.
	if w := e.do("GET", "/login?next=/errors", ana, nil); w.Code != 303 || w.Header().Get("Location") != "/errors" {
		t.Errorf("login page when logged in: %d %v", w.Code, w.Header())
	}
	if w := e.do("GET", "/errors", session{}, nil); w.Code != 303 || w.Header().Get("Location") != "/login?next=%2Ferrors" {
		t.Errorf("anonymous page: %d %v", w.Code, w.Header())
	}
	if w := e.do("POST", "/logout", ana, url.Values{}); w.Code != 303 || w.Header().Get("Location") != "/login" {
		t.Errorf("logout: %d %v", w.Code, w.Header())
	}
}

func TestNoAccessControl(t *testing.T) {
	h := newServer(t, fleet())
	for _, p := range []string{"/login", "/setup", "/settings", "/settings/users"} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", p, nil))
		if w.Code != 404 {
			t.Errorf("%s without access control: %d", p, w.Code)
		}
	}
}
