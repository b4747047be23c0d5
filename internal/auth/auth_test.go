package auth

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fibinc/telltale/internal/state"
	"github.com/fibinc/telltale/internal/state/duckdb"
)

// cheap are argon2 parameters that keep tests fast; TestPassword uses the
// real ones.
var cheap = Argon2Params{Memory: 64, Time: 1, Threads: 1}

var t0 = time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// env is a service on a real state store behind a real server: the
// access control's routes, and a stub answering "stub" for every other
// path.
type env struct {
	t     *testing.T
	store *duckdb.Store
	svc   *Service
	clock *clock
	srv   *httptest.Server
}

func openStore(t testing.TB) *duckdb.Store {
	t.Helper()
	st, err := duckdb.Open(context.Background(), duckdb.Options{Path: filepath.Join(t.TempDir(), duckdb.FileName)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func newEnv(t *testing.T, mod func(*Options)) *env {
	t.Helper()
	e := &env{t: t, store: openStore(t), clock: &clock{t: t0}}
	opt := Options{Store: e.store, Now: e.clock.Now, Argon2: cheap}
	if mod != nil {
		mod(&opt)
	}
	svc, err := New(opt)
	if err != nil {
		t.Fatal(err)
	}
	e.svc = svc
	mux := http.NewServeMux()
	svc.Routes(mux)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		// Read the form as the dashboard's handlers do.
		r.ParseForm()
		fmt.Fprint(w, "stub")
	})
	e.srv = httptest.NewServer(svc.Handler(mux))
	t.Cleanup(e.srv.Close)
	return e
}

// who is how a request authenticates.
type who struct {
	session, csrf, token string
}

type reply struct {
	status int
	header http.Header
	body   string
}

func (e *env) do(method, path string, as who, body string, hdr ...string) reply {
	e.t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	if strings.HasPrefix(body, "{") {
		req.Header.Set("Content-Type", "application/json")
	} else if body != "" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if as.session != "" {
		req.AddCookie(&http.Cookie{Name: SessionCookie, Value: as.session})
	}
	if as.token != "" {
		req.Header.Set("Authorization", "Bearer "+as.token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := noRedirect.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{resp.StatusCode, resp.Header, string(b)}
}

var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// user creates a user directly in the service.
func (e *env) user(name string, role Role) state.User {
	e.t.Helper()
	u, err := e.svc.createUser(context.Background(), name, "password-"+name, role)
	if err != nil {
		e.t.Fatal(err)
	}
	return u
}

// login logs a user in through the API and returns its session.
func (e *env) login(name string) who {
	e.t.Helper()
	r := e.do("POST", "/api/v1/login", who{}, fmt.Sprintf(`{"name":%q,"password":%q}`, name, "password-"+name))
	if r.status != 200 {
		e.t.Fatalf("login %s: %d %s", name, r.status, r.body)
	}
	var m struct{ Data me }
	if err := json.Unmarshal([]byte(r.body), &m); err != nil {
		e.t.Fatal(err)
	}
	for _, v := range r.header.Values("Set-Cookie") {
		if c, err := http.ParseSetCookie(v); err == nil && c.Name == SessionCookie {
			if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || !c.Secure || c.Path != "/" {
				e.t.Errorf("session cookie %s: want HttpOnly, SameSite=Lax, Secure (loopback), Path=/", v)
			}
			return who{session: c.Value, csrf: m.Data.CSRF}
		}
	}
	e.t.Fatalf("login %s set no session cookie", name)
	return who{}
}

// token creates an API token through the API.
func (e *env) token(as who, body string) (string, int64) {
	e.t.Helper()
	r := e.do("POST", "/api/v1/tokens", as, body, "X-CSRF-Token", as.csrf)
	if r.status != 201 {
		e.t.Fatalf("create token: %d %s", r.status, r.body)
	}
	var m struct {
		Data struct {
			ID    int64
			Token string
		}
	}
	json.Unmarshal([]byte(r.body), &m)
	if !validToken(m.Data.Token) {
		e.t.Fatalf("created token %q is not tt_ and 32 base64url characters", m.Data.Token)
	}
	return m.Data.Token, m.Data.ID
}

func (e *env) audit(f AuditFilter) []AuditEntry {
	e.t.Helper()
	es, err := e.store.Audit(context.Background(), f)
	if err != nil {
		e.t.Fatal(err)
	}
	return es
}

// policyCases are requests for every rule of the policy (checked by
// TestPolicyCoverage) and for the defaults, with the least role allowed.
var policyCases = []struct {
	method, path, body string
	role               Role
}{
	{"GET", "/healthz", "", RoleNone},
	{"GET", "/readyz", "", RoleNone},
	{"GET", "/metrics", "", RoleNone},
	{"GET", "/static/app.css", "", RoleNone},
	{"GET", "/login", "", RoleNone},
	{"POST", "/login", "name=x", RoleNone},
	{"GET", "/setup", "", RoleNone},
	{"POST", "/setup", "name=x", RoleNone},
	{"GET", "/auth/oidc/login", "", RoleNone},
	{"GET", "/auth/oidc/callback", "", RoleNone},
	{"POST", "/logout", "", RoleNone},
	{"POST", "/api/v1/login", `{"x":1}`, RoleNone},
	{"POST", "/api/v1/logout", "", RoleNone},
	{"GET", "/api/v1/push/nightly", "", RoleNone},
	{"POST", "/api/v1/push/nightly", "x=1", RoleNone},

	{"GET", "/", "", RoleViewer},
	{"GET", "/logs", "", RoleViewer},
	{"GET", "/api/v1/services", "", RoleViewer},
	{"HEAD", "/api/v1/issues", "", RoleViewer},
	{"GET", "/api/v1/projects", "", RoleViewer},
	{"GET", "/api/v1/projects/1", "", RoleViewer},
	{"POST", "/api/v1/query", "query=up", RoleViewer},
	{"POST", "/api/v1/query_range", "query=up", RoleViewer},
	{"POST", "/api/v1/series", "match[]=up", RoleViewer},
	{"POST", "/api/v1/labels", "x=1", RoleViewer},
	{"GET", "/api/v1/me", "", RoleViewer},
	{"GET", "/api/v1/tokens", "", RoleViewer},
	{"POST", "/api/v1/tokens", `{}`, RoleViewer},
	{"DELETE", "/api/v1/tokens/999", "", RoleViewer},
	{"GET", "/settings", "", RoleViewer},
	{"GET", "/settings/tokens", "", RoleViewer},
	{"POST", "/settings/tokens", "name=x", RoleViewer},
	{"POST", "/settings/tokens/999/revoke", "x=1", RoleViewer},

	{"POST", "/errors/1/status", "status=resolved", RoleEditor},
	{"POST", "/api/v1/issues/1/status", `{"status":"resolved"}`, RoleEditor},
	{"POST", "/silences", "matchers=a", RoleEditor},
	{"POST", "/silences/abc/expire", "x=1", RoleEditor},
	{"POST", "/api/v1/silences", `{}`, RoleEditor},
	{"DELETE", "/api/v1/silences/abc", "", RoleEditor},

	{"GET", "/settings/users", "", RoleAdmin},
	{"POST", "/settings/users/999/role", "role=viewer", RoleAdmin},
	{"GET", "/api/v1/users", "", RoleAdmin},
	{"PATCH", "/api/v1/users/999", `{}`, RoleAdmin},
	{"GET", "/settings/audit", "", RoleAdmin},
	{"GET", "/api/v1/audit", "", RoleAdmin},
	{"GET", "/settings/projects", "", RoleAdmin},
	{"POST", "/settings/projects/1/keys", "name=x", RoleAdmin},
	{"POST", "/api/v1/projects", `{}`, RoleAdmin},
	{"DELETE", "/api/v1/projects/1/keys/2", "", RoleAdmin},
	{"PUT", "/api/v1/config", "checks: []", RoleAdmin},
	{"GET", "/api/v1/config", "", RoleAdmin},
	{"POST", "/-/reload", "", RoleAdmin},
	{"GET", "/debug/pprof/", "", RoleAdmin},
	// Not in the table: GET needs a viewer, anything else an admin.
	{"POST", "/api/v1/something-new", `{}`, RoleAdmin},
	{"DELETE", "/whatever", "", RoleAdmin},
}

func TestPolicyCoverage(t *testing.T) {
	pm := newPolicyMux(policy)
	covered := map[string]bool{}
	for _, c := range policyCases {
		r := httptest.NewRequest(c.method, c.path, nil)
		rl := pm.lookup(r)
		covered[rl.pattern] = true
		if rl.role != c.role {
			t.Errorf("%s %s: rule %q wants %s, the test %s", c.method, c.path, rl.pattern, rl.role, c.role)
		}
	}
	for _, rl := range policy {
		if !covered[rl.pattern] {
			t.Errorf("policy rule %q has no case in policyCases", rl.pattern)
		}
	}
}

// TestRoles tries every case as anonymous and as each role, with a
// session and with an API token.
func TestRoles(t *testing.T) {
	e := newEnv(t, nil)
	sessions := map[Role]who{}
	tokens := map[Role]who{}
	for _, role := range []Role{RoleViewer, RoleEditor, RoleAdmin} {
		e.user(role.String(), role)
		sessions[role] = e.login(role.String())
		tok, _ := e.token(sessions[role], `{"name":"t"}`)
		tokens[role] = who{token: tok}
	}
	type caller struct {
		name string
		role Role
		as   who
	}
	callers := []caller{{"anonymous", RoleNone, who{}}}
	for _, role := range []Role{RoleViewer, RoleEditor, RoleAdmin} {
		callers = append(callers, caller{role.String() + " session", role, sessions[role]}, caller{role.String() + " token", role, tokens[role]})
	}
	for _, c := range policyCases {
		for _, cl := range callers {
			if c.path == "/api/v1/logout" || c.path == "/logout" {
				continue // would end the session; TestLogout covers them
			}
			var hdr []string
			if cl.as.csrf != "" {
				hdr = []string{"X-CSRF-Token", cl.as.csrf}
			}
			r := e.do(c.method, c.path, cl.as, c.body, hdr...)
			what := fmt.Sprintf("%s %s as %s", c.method, c.path, cl.name)
			switch {
			case cl.role >= c.role:
				if r.status == 401 || r.status == 403 || r.status == 303 && strings.HasPrefix(r.header.Get("Location"), "/login") {
					t.Errorf("%s: %d %s, want allowed", what, r.status, r.body)
				}
			case cl.role == RoleNone && IsAPI(c.path):
				if r.status != 401 || r.header.Get("WWW-Authenticate") == "" || c.method != "HEAD" && !strings.Contains(r.body, `"error"`) {
					t.Errorf("%s: %d %q, want 401 JSON with WWW-Authenticate", what, r.status, r.body)
				}
			case cl.role == RoleNone:
				if r.status != 303 || !strings.HasPrefix(r.header.Get("Location"), "/login") {
					t.Errorf("%s: %d to %q, want 303 to /login", what, r.status, r.header.Get("Location"))
				}
			default:
				if r.status != 403 {
					t.Errorf("%s: %d %s, want 403", what, r.status, r.body)
				}
			}
		}
	}
	// A page redirects to the login with the way back.
	r := e.do("GET", "/logs?q=a%20b", who{}, "")
	if loc := r.header.Get("Location"); loc != "/login?next=%2Flogs%3Fq%3Da%2520b" {
		t.Errorf("redirect to %q", loc)
	}
	// A bad token is refused even where a session would not be needed
	// to see that it is bad.
	for _, tok := range []string{"tt_nope", "tt_" + strings.Repeat("A", 32)} {
		if r := e.do("GET", "/api/v1/services", who{token: tok}, ""); r.status != 401 || !strings.Contains(r.body, "invalid, expired or revoked") {
			t.Errorf("token %q: %d %s", tok, r.status, r.body)
		}
	}
	// Tokens of other schemes belong to others (push checks).
	if r := e.do("POST", "/api/v1/push/nightly", who{token: "push-secret"}, "x=1"); r.status != 200 {
		t.Errorf("push with its own token: %d", r.status)
	}
}

func TestCSRF(t *testing.T) {
	e := newEnv(t, nil)
	e.user("ed", RoleEditor)
	s := e.login("ed")
	tok, _ := e.token(s, `{"name":"ci"}`)
	for _, tc := range []struct {
		name   string
		as     who
		body   string
		hdr    []string
		status int
	}{
		{"missing", s, "matchers=a", nil, 403},
		{"wrong field", s, "matchers=a&csrf=nope", nil, 403},
		{"other session's", s, "matchers=a&csrf=" + e.login("ed").csrf, nil, 403},
		{"wrong header", s, "matchers=a", []string{"X-CSRF-Token", "nope"}, 403},
		{"right field", s, "matchers=a&csrf=" + url.QueryEscape(s.csrf), nil, 200},
		{"right header", s, "matchers=a", []string{"X-CSRF-Token", s.csrf}, 200},
		{"API token needs none", who{token: tok}, "matchers=a", nil, 200},
	} {
		r := e.do("POST", "/silences", tc.as, tc.body, tc.hdr...)
		if r.status != tc.status {
			t.Errorf("%s: %d %s, want %d", tc.name, r.status, r.body, tc.status)
		}
		if tc.status == 403 && !strings.Contains(r.body, "missing or invalid CSRF token") {
			t.Errorf("%s: body %q does not name the CSRF token", tc.name, r.body)
		}
	}
	// GETs need none.
	if r := e.do("GET", "/silences", s, ""); r.status != 200 {
		t.Errorf("GET with a session: %d", r.status)
	}
	denied := e.audit(AuditFilter{Action: "silence.create"})
	var n int
	for _, a := range denied {
		if a.Outcome == state.AuditDenied {
			n++
		}
	}
	if n != 4 {
		t.Errorf("%d denied silence.create entries, want 4: %+v", n, denied)
	}
}

func TestLoginRateLimit(t *testing.T) {
	e := newEnv(t, nil)
	e.user("ana", RoleViewer)
	login := func(name, pw string) reply {
		return e.do("POST", "/api/v1/login", who{}, fmt.Sprintf(`{"name":%q,"password":%q}`, name, pw))
	}
	for i := range 5 {
		if r := login("ana", "wrong-password"); r.status != 401 || !strings.Contains(r.body, "wrong login name or password") {
			t.Fatalf("failure %d: %d %s", i+1, r.status, r.body)
		}
	}
	r := login("ana", "password-ana")
	if r.status != 429 || r.header.Get("Retry-After") != "900" {
		t.Fatalf("6th attempt: %d Retry-After %q %s, want 429 after 900 s", r.status, r.header.Get("Retry-After"), r.body)
	}
	e.clock.Advance(10 * time.Minute)
	if r := login("ana", "password-ana"); r.status != 429 || r.header.Get("Retry-After") != "300" {
		t.Errorf("10 minutes later: %d Retry-After %q", r.status, r.header.Get("Retry-After"))
	}
	e.clock.Advance(5 * time.Minute)
	if r := login("ana", "password-ana"); r.status != 200 {
		t.Fatalf("15 minutes later: %d %s", r.status, r.body)
	}
	// Unknown names count against the client address too, and answer
	// like wrong passwords.
	e.clock.Advance(time.Hour)
	for i := range 5 {
		if r := login(fmt.Sprintf("nobody%d", i), "whatever-password"); r.status != 401 || !strings.Contains(r.body, "wrong login name or password") {
			t.Fatalf("unknown user %d: %d %s", i, r.status, r.body)
		}
	}
	if r := login("ana", "password-ana"); r.status != 429 {
		t.Errorf("after 5 failures from one address: %d, want 429", r.status)
	}
	var outcomes []string
	for _, a := range e.audit(AuditFilter{Action: "login"}) {
		outcomes = append(outcomes, a.Outcome)
	}
	want := "denied failed failed failed failed failed ok denied denied failed failed failed failed failed"
	if got := strings.Join(outcomes, " "); got != want {
		t.Errorf("login audit outcomes:\n got %s\nwant %s", got, want)
	}
}

func TestLimiter(t *testing.T) {
	l := newLimiter(5, 15*time.Minute, 100)
	now := t0
	// A success resets the name, not the address.
	for range 4 {
		l.fail(now, "ip:a", "name:x")
	}
	l.reset("name:x")
	l.fail(now, "ip:a", "name:x")
	if w := l.blocked(now, "name:x"); w != 0 {
		t.Errorf("name blocked after a reset: %v", w)
	}
	if w := l.blocked(now, "ip:a"); w != 15*time.Minute {
		t.Errorf("address blocked for %v, want 15m", w)
	}
	// Sliding: the oldest failures leave the window one by one.
	l2 := newLimiter(5, 15*time.Minute, 100)
	for i := range 6 {
		l2.fail(t0.Add(time.Duration(i)*time.Minute), "k")
	}
	if w := l2.blocked(t0.Add(6*time.Minute), "k"); w != 10*time.Minute {
		t.Errorf("blocked for %v, want 10m (until the 2nd failure leaves)", w)
	}
	// Bounded memory.
	l3 := newLimiter(5, 15*time.Minute, 100)
	for i := range 1000 {
		l3.fail(t0, fmt.Sprint("k", i))
	}
	if n := l3.keys(); n > 100 {
		t.Errorf("%d keys tracked, cap 100", n)
	}
	l3.fail(t0.Add(time.Hour), "new")
	if n := l3.keys(); n > 100 {
		t.Errorf("%d keys tracked, cap 100", n)
	}
}

func TestSessionExpiry(t *testing.T) {
	e := newEnv(t, nil)
	e.user("ana", RoleViewer)
	ok := func(as who) bool {
		t.Helper()
		r := e.do("GET", "/api/v1/me", as, "")
		if r.status != 200 && r.status != 401 {
			t.Fatalf("me: %d %s", r.status, r.body)
		}
		return r.status == 200
	}
	// Idle: a day without use ends it.
	s := e.login("ana")
	e.clock.Advance(23 * time.Hour)
	if !ok(s) {
		t.Fatal("session ended after 23h idle")
	}
	e.clock.Advance(24*time.Hour - time.Second)
	if !ok(s) {
		t.Fatal("session ended 1s before the idle limit")
	}
	e.clock.Advance(24 * time.Hour)
	if ok(s) {
		t.Fatal("session works after 24h idle")
	}
	// Absolute: in use every 20 hours, it still ends after 7 days.
	s = e.login("ana")
	start := e.clock.Now()
	for e.clock.Now().Sub(start) < 7*24*time.Hour-20*time.Hour {
		e.clock.Advance(20 * time.Hour)
		if !ok(s) {
			t.Fatalf("session ended %v after login", e.clock.Now().Sub(start))
		}
	}
	e.clock.Advance(20 * time.Hour)
	if ok(s) {
		t.Fatalf("session works %v after login", e.clock.Now().Sub(start))
	}
	// A restarted server (no cache) reads the idle time from the store.
	s = e.login("ana")
	e.clock.Advance(2 * time.Hour)
	ok(s)
	svc2, _ := New(Options{Store: e.store, Now: e.clock.Now, Argon2: cheap})
	p, err := svc2.sessionPrincipal(context.Background(), s.session)
	if err != nil || p.Name != "ana" || p.CSRF != s.csrf {
		t.Errorf("restarted: %+v, %v", p, err)
	}
	e.clock.Advance(25 * time.Hour)
	svc3, _ := New(Options{Store: e.store, Now: e.clock.Now, Argon2: cheap})
	if p, err := svc3.sessionPrincipal(context.Background(), s.session); err != nil || p.UserID != 0 {
		t.Errorf("restarted after 25h idle: %+v, %v", p, err)
	}
	if _, err := e.store.Session(context.Background(), digest(s.session)); err == nil {
		t.Error("idle session still stored")
	}
}

func TestLogout(t *testing.T) {
	e := newEnv(t, nil)
	e.user("ana", RoleViewer)
	s := e.login("ana")
	if r := e.do("POST", "/logout", s, "csrf=nope"); r.status != 403 {
		t.Errorf("logout without the CSRF token: %d", r.status)
	}
	r := e.do("POST", "/logout", s, "csrf="+url.QueryEscape(s.csrf))
	if r.status != 303 || r.header.Get("Location") != "/login" || !strings.Contains(r.header.Get("Set-Cookie"), "Max-Age=0") {
		t.Errorf("logout: %d %v", r.status, r.header)
	}
	if r := e.do("GET", "/api/v1/me", s, ""); r.status != 401 {
		t.Errorf("me after logout: %d", r.status)
	}
	s = e.login("ana")
	if r := e.do("POST", "/api/v1/logout", s, "", "X-CSRF-Token", s.csrf); r.status != 204 {
		t.Errorf("API logout: %d %s", r.status, r.body)
	}
	if r := e.do("GET", "/api/v1/me", s, ""); r.status != 401 {
		t.Errorf("me after API logout: %d", r.status)
	}
	if r := e.do("POST", "/api/v1/logout", who{}, ""); r.status != 204 {
		t.Errorf("logout without a session: %d", r.status)
	}
	if n := len(e.audit(AuditFilter{Action: "logout"})); n != 2 {
		t.Errorf("%d logout entries, want 2", n)
	}
}

func TestPassword(t *testing.T) {
	h := newHasher(DefaultArgon2, 4)
	ctx := context.Background()
	phc, err := h.Hash(ctx, "correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(phc, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Errorf("hash %q", phc)
	}
	p, salt, key, err := ParseHash(phc)
	if err != nil || p != DefaultArgon2 || len(salt) != 16 || len(key) != 32 {
		t.Fatalf("ParseHash = %+v, %d, %d, %v", p, len(salt), len(key), err)
	}
	if PHC(p, salt, key) != phc {
		t.Error("PHC(ParseHash(h)) != h")
	}
	for pw, want := range map[string]bool{"correct horse battery": true, "correct horse batterY": false, "": false} {
		if ok, err := h.Verify(ctx, pw, phc); ok != want || err != nil {
			t.Errorf("Verify(%q) = %v, %v", pw, ok, err)
		}
	}
	if ok, _ := h.Verify(ctx, "", ""); ok {
		t.Error("an empty hash matched")
	}
	if ok, _ := h.Verify(ctx, "x", h.dummy); ok {
		t.Error("the dummy matched")
	}
	if h.NeedsRehash(phc) || !h.NeedsRehash(PHC(cheap, salt, key)) {
		t.Error("NeedsRehash")
	}
	// The reference implementation's vector (phc-winner-argon2,
	// src/test.c): "password" with salt "somesalt", m=65536, t=2, p=1.
	known := "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc"
	if _, _, _, err := ParseHash(known); err != nil {
		t.Fatal(err)
	}
	hc := newHasher(cheap, 1)
	if ok, err := hc.Verify(ctx, "password", known); err != nil || !ok {
		t.Errorf("known vector: %v, %v", ok, err)
	}
	for _, bad := range []string{
		"", "$argon2i$v=19$m=64,t=1,p=1$c29tZXNhbHQ$7CEvtYUEmLU1+FZU+uSqQlSZX+KbMSTu3JGc2Ghn2MM",
		"$argon2id$v=18$m=64,t=1,p=1$c29tZXNhbHQ$7CEvtYUEmLU1+FZU+uSqQlSZX+KbMSTu3JGc2Ghn2MM",
		"$argon2id$v=19$t=1,m=64,p=1$c29tZXNhbHQ$7CEvtYUEmLU1+FZU+uSqQlSZX+KbMSTu3JGc2Ghn2MM",
		"$argon2id$v=19$m=064,t=1,p=1$c29tZXNhbHQ$7CEvtYUEmLU1+FZU+uSqQlSZX+KbMSTu3JGc2Ghn2MM",
		"$argon2id$v=19$m=4194304,t=1,p=1$c29tZXNhbHQ$7CEvtYUEmLU1+FZU+uSqQlSZX+KbMSTu3JGc2Ghn2MM",
		"$argon2id$v=19$m=64,t=1,p=0$c29tZXNhbHQ$7CEvtYUEmLU1+FZU+uSqQlSZX+KbMSTu3JGc2Ghn2MM",
		"$argon2id$v=19$m=64,t=1,p=1$c29tZXNhbHQ=$7CEvtYUEmLU1+FZU+uSqQlSZX+KbMSTu3JGc2Ghn2MM",
		"$argon2id$v=19$m=64,t=1,p=1$c29t$7CEvtYUEmLU1+FZU+uSqQlSZX+KbMSTu3JGc2Ghn2MM",
		"$argon2id$v=19$m=64,t=1,p=1$c29tZXNhbHQ$short",
	} {
		if _, _, _, err := ParseHash(bad); err == nil {
			t.Errorf("ParseHash(%q) succeeded", bad)
		}
	}
}

func FuzzParseHash(f *testing.F) {
	f.Add("$argon2id$v=19$m=64,t=1,p=1$c29tZXNhbHQ$7CEvtYUEmLU1+FZU+uSqQlSZX+KbMSTu3JGc2Ghn2MM")
	f.Add("$argon2id$v=19$m=19456,t=2,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	f.Add("$argon2id$v=19$m=0,t=0,p=0$$")
	f.Add("$argon2id$v=19$m=64,t=1,p=256$c29tZXNhbHQ$c29tZXNhbHQ")
	f.Add("$$$$$")
	f.Fuzz(func(t *testing.T, s string) {
		p, salt, key, err := ParseHash(s)
		if err != nil {
			return
		}
		// What parses is canonical, within bounds, and formats back to
		// itself.
		if got := PHC(p, salt, key); got != s {
			t.Errorf("PHC(ParseHash(%q)) = %q", s, got)
		}
		if p.Memory > maxMemory || p.Time < 1 || p.Time > maxTime || p.Threads < 1 || len(salt) < 8 || len(key) < 16 {
			t.Errorf("ParseHash(%q) accepted %+v salt %d key %d", s, p, len(salt), len(key))
		}
	})
}

func TestBootstrapPassword(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	if _, err := e.svc.Bootstrap(ctx, "root", "short"); err == nil || !strings.Contains(err.Error(), "password") {
		t.Errorf("Bootstrap with a short password: %v", err)
	}
	tok, err := e.svc.Bootstrap(ctx, "root", "password-root")
	if err != nil || tok != "" {
		t.Fatalf("Bootstrap = %q, %v", tok, err)
	}
	s := e.login("root")
	if r := e.do("GET", "/api/v1/me", s, ""); !strings.Contains(r.body, `"role":"admin"`) {
		t.Errorf("me: %s", r.body)
	}
	// Users exist: nothing to do, the password is not applied again.
	if tok, err := e.svc.Bootstrap(ctx, "other", "password-other"); err != nil || tok != "" {
		t.Errorf("second Bootstrap = %q, %v", tok, err)
	}
	if n, _, _ := e.store.CountUsers(ctx); n != 1 {
		t.Errorf("%d users", n)
	}
	if es := e.audit(AuditFilter{Actor: "bootstrap"}); len(es) != 1 || es[0].Action != "user.create" {
		t.Errorf("audit: %+v", es)
	}
}

func TestBootstrapSetupToken(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	tok, err := e.svc.Bootstrap(ctx, "admin", "")
	if err != nil || len(tok) < 32 {
		t.Fatalf("Bootstrap = %q, %v", tok, err)
	}
	if !e.svc.SetupOpen(tok) || e.svc.SetupOpen("") || e.svc.SetupOpen(tok+"x") {
		t.Error("SetupOpen")
	}
	setup := func(token, name, pw string) (*httptest.ResponseRecorder, error) {
		w := httptest.NewRecorder()
		r := httptest.NewRequest("POST", "http://127.0.0.1/setup", nil)
		_, err := e.svc.Setup(w, r, token, name, pw)
		return w, err
	}
	if _, err := setup("wrong", "ana", "password-ana"); Status(err) != 404 {
		t.Errorf("wrong token: %v", err)
	}
	if _, err := setup(tok, "ana", "short"); Status(err) != 400 {
		t.Errorf("short password: %v", err)
	}
	if _, err := setup(tok, "a b", "password-ana"); Status(err) != 400 {
		t.Errorf("bad name: %v", err)
	}
	w, err := setup(tok, "ana", "password-ana")
	if err != nil || !strings.Contains(w.Header().Get("Set-Cookie"), SessionCookie+"=") {
		t.Fatalf("setup: %v, %v", err, w.Header())
	}
	if _, err := setup(tok, "bo", "password-bo"); Status(err) != 404 {
		t.Errorf("setup token used twice: %v", err)
	}
	if e.svc.SetupOpen(tok) {
		t.Error("setup still open")
	}
	if u, err := e.store.UserByName(ctx, "ana"); err != nil || u.Role != "admin" {
		t.Errorf("first admin: %+v, %v", u, err)
	}
	// A restart with users: no setup.
	if tok, err := e.svc.Bootstrap(ctx, "admin", ""); tok != "" || err != nil {
		t.Errorf("Bootstrap with users = %q, %v", tok, err)
	}
}

func TestUsersAPI(t *testing.T) {
	e := newEnv(t, nil)
	e.user("root", RoleAdmin)
	admin := e.login("root")
	csrf := []string{"X-CSRF-Token", admin.csrf}
	r := e.do("POST", "/api/v1/users", admin, `{"name":"ana","password":"password-ana","role":"editor"}`, csrf...)
	if r.status != 201 || !strings.Contains(r.body, `"role":"editor"`) || strings.Contains(r.body, "argon2") {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	for _, tc := range []struct {
		body   string
		status int
		msg    string
	}{
		{`{"name":"ANA","password":"password-ana"}`, 409, "exists"},
		{`{"name":"a b","password":"password-ana"}`, 400, "invalid login name"},
		{`{"name":"bo","password":"short"}`, 400, "10 to 256 bytes"},
		{`{"name":"bo","password":"password-bo","role":"root"}`, 400, "invalid role"},
		{`{"name":"bo","pasword":"password-bo"}`, 400, "unknown field"},
		{`{"name":"bo","password":"` + strings.Repeat("x", 70000) + `"}`, 413, "larger than"},
	} {
		r := e.do("POST", "/api/v1/users", admin, tc.body, csrf...)
		if r.status != tc.status || !strings.Contains(r.body, tc.msg) {
			t.Errorf("create %.60s: %d %s, want %d %q", tc.body, r.status, r.body, tc.status, tc.msg)
		}
	}
	ana := e.login("ana")
	var anaID int64
	var list struct{ Data []User }
	json.Unmarshal([]byte(e.do("GET", "/api/v1/users", admin, "").body), &list)
	for _, u := range list.Data {
		if u.Name == "ana" {
			anaID = u.ID
		}
	}
	if len(list.Data) != 2 || anaID == 0 {
		t.Fatalf("users: %+v", list.Data)
	}
	anaTok, _ := e.token(ana, `{"name":"ci","role":"editor"}`)
	// Demotion applies at once, to sessions and tokens.
	if r := e.do("PATCH", fmt.Sprintf("/api/v1/users/%d", anaID), admin, `{"role":"viewer"}`, csrf...); r.status != 200 || !strings.Contains(r.body, `"role":"viewer"`) {
		t.Fatalf("demote: %d %s", r.status, r.body)
	}
	if r := e.do("POST", "/silences", ana, "csrf="+url.QueryEscape(ana.csrf)); r.status != 403 {
		t.Errorf("demoted session: %d", r.status)
	}
	if r := e.do("POST", "/silences", who{token: anaTok}, "x=1"); r.status != 403 {
		t.Errorf("demoted user's editor token: %d", r.status)
	}
	// A new password ends the sessions; the token keeps working.
	if r := e.do("PATCH", fmt.Sprintf("/api/v1/users/%d", anaID), admin, `{"password":"new-password-ana"}`, csrf...); r.status != 200 {
		t.Fatalf("password: %d %s", r.status, r.body)
	}
	if r := e.do("GET", "/api/v1/me", ana, ""); r.status != 401 {
		t.Errorf("session after a password change: %d", r.status)
	}
	if r := e.do("GET", "/api/v1/me", who{token: anaTok}, ""); r.status != 200 {
		t.Errorf("token after a password change: %d", r.status)
	}
	// Disabled: neither works.
	e.do("PATCH", fmt.Sprintf("/api/v1/users/%d", anaID), admin, `{"disabled":true}`, csrf...)
	if r := e.do("GET", "/api/v1/me", who{token: anaTok}, ""); r.status != 401 {
		t.Errorf("token of a disabled user: %d", r.status)
	}
	if r := e.do("POST", "/api/v1/login", who{}, `{"name":"ana","password":"new-password-ana"}`); r.status != 401 {
		t.Errorf("login of a disabled user: %d", r.status)
	}
	// The last admin stays.
	var rootID int64 = 1
	for _, body := range []string{`{"role":"editor"}`, `{"disabled":true}`} {
		if r := e.do("PATCH", fmt.Sprintf("/api/v1/users/%d", rootID), admin, body, csrf...); r.status != 409 || !strings.Contains(r.body, "last admin") {
			t.Errorf("demote the last admin with %s: %d %s", body, r.status, r.body)
		}
	}
	if r := e.do("DELETE", fmt.Sprintf("/api/v1/users/%d", rootID), admin, "", csrf...); r.status != 409 {
		t.Errorf("delete the last admin: %d %s", r.status, r.body)
	}
	if r := e.do("DELETE", fmt.Sprintf("/api/v1/users/%d", anaID), admin, "", csrf...); r.status != 204 {
		t.Errorf("delete: %d %s", r.status, r.body)
	}
	for _, p := range []string{"/api/v1/users/999", "/api/v1/users/x"} {
		r := e.do("DELETE", p, admin, "", csrf...)
		if want := map[bool]int{true: 404, false: 400}[strings.HasSuffix(p, "999")]; r.status != want {
			t.Errorf("DELETE %s: %d, want %d", p, r.status, want)
		}
	}
	var actions []string
	for _, a := range e.audit(AuditFilter{Action: "user."}) {
		actions = append(actions, a.Action+"/"+a.Outcome)
	}
	want := "user.delete/ok user.delete/failed user.update/failed user.update/failed user.update/ok user.update/ok user.update/ok " +
		"user.create/failed user.create/failed user.create/failed user.create/ok"
	if got := strings.Join(actions, " "); got != want {
		t.Errorf("audit:\n got %s\nwant %s", got, want)
	}
}

func TestTokens(t *testing.T) {
	e := newEnv(t, nil)
	e.user("root", RoleAdmin)
	e.user("ana", RoleEditor)
	admin, ana := e.login("root"), e.login("ana")
	// A token cannot exceed its user.
	if r := e.do("POST", "/api/v1/tokens", ana, `{"name":"x","role":"admin"}`, "X-CSRF-Token", ana.csrf); r.status != 403 {
		t.Errorf("editor's admin token: %d %s", r.status, r.body)
	}
	for _, body := range []string{`{"name":""}`, `{"name":"x","expires_in":"soon"}`, `{"name":"x","expires_at":"2020-01-01T00:00:00Z"}`,
		`{"name":"x","expires_in":"1d","expires_at":"2030-01-01T00:00:00Z"}`} {
		if r := e.do("POST", "/api/v1/tokens", ana, body, "X-CSRF-Token", ana.csrf); r.status != 400 {
			t.Errorf("create %s: %d %s", body, r.status, r.body)
		}
	}
	tok, id := e.token(ana, `{"name":"ci","expires_in":"1d"}`)
	viewerTok, _ := e.token(ana, `{"name":"grafana","role":"viewer"}`)
	if r := e.do("POST", "/silences", who{token: viewerTok}, "x=1"); r.status != 403 {
		t.Errorf("viewer token of an editor: %d", r.status)
	}
	last := func() time.Time {
		tk, err := e.store.APIToken(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		return tk.LastUsedAt
	}
	if !last().IsZero() {
		t.Error("last_used_at set before use")
	}
	e.clock.Advance(time.Minute)
	if r := e.do("POST", "/silences", who{token: tok}, "x=1"); r.status != 200 {
		t.Fatalf("token: %d %s", r.status, r.body)
	}
	used := e.clock.Now()
	if !last().Equal(used) {
		t.Errorf("last_used_at %v, want %v", last(), used)
	}
	e.clock.Advance(30 * time.Second)
	e.do("GET", "/api/v1/me", who{token: tok}, "")
	if !last().Equal(used) {
		t.Errorf("last_used_at written again within a minute: %v", last())
	}
	e.clock.Advance(time.Minute)
	e.do("GET", "/api/v1/me", who{token: tok}, "")
	if !last().Equal(e.clock.Now()) {
		t.Errorf("last_used_at %v, want %v", last(), e.clock.Now())
	}
	// Listing: own tokens; an admin sees all. Never the secret.
	r := e.do("GET", "/api/v1/tokens", ana, "")
	if strings.Count(r.body, `"name"`) != 2 || strings.Contains(r.body, tok) || strings.Contains(r.body, digest(tok)) {
		t.Errorf("ana's tokens: %s", r.body)
	}
	adminTok, adminTokID := e.token(admin, `{"name":"admin"}`)
	if r := e.do("GET", "/api/v1/tokens", admin, ""); strings.Count(r.body, `"name"`) != 3 || !strings.Contains(r.body, `"user":"ana"`) {
		t.Errorf("admin's list: %s", r.body)
	}
	// Someone else's token: 404 for a non-admin; an admin revokes it.
	if r := e.do("DELETE", fmt.Sprintf("/api/v1/tokens/%d", adminTokID), ana, "", "X-CSRF-Token", ana.csrf); r.status != 404 {
		t.Errorf("revoke another's token: %d", r.status)
	}
	if r := e.do("GET", "/api/v1/me", who{token: adminTok}, ""); r.status != 200 {
		t.Errorf("admin token: %d", r.status)
	}
	if r := e.do("DELETE", fmt.Sprintf("/api/v1/tokens/%d", id), admin, "", "X-CSRF-Token", admin.csrf); r.status != 204 {
		t.Errorf("admin revokes: %d %s", r.status, r.body)
	}
	if r := e.do("GET", "/api/v1/me", who{token: tok}, ""); r.status != 401 {
		t.Errorf("revoked token: %d", r.status)
	}
	// Expiry.
	tok2, _ := e.token(ana, `{"name":"short","expires_in":"1h"}`)
	if r := e.do("GET", "/api/v1/me", who{token: tok2}, ""); r.status != 200 {
		t.Errorf("fresh token: %d", r.status)
	}
	e.clock.Advance(time.Hour)
	if r := e.do("GET", "/api/v1/me", who{token: tok2}, ""); r.status != 401 {
		t.Errorf("expired token: %d", r.status)
	}
	var acts []string
	for _, a := range e.audit(AuditFilter{Action: "token."}) {
		acts = append(acts, a.Action)
	}
	if got := strings.Join(acts, " "); got != "token.create token.revoke token.create token.create token.create" {
		t.Errorf("audit: %s", got)
	}
}

func TestAuditAPI(t *testing.T) {
	e := newEnv(t, nil)
	e.user("root", RoleAdmin)
	admin := e.login("root")
	for i := range 5 {
		e.do("POST", "/silences", admin, fmt.Sprintf("csrf=%s&comment=c%d&token=secret", url.QueryEscape(admin.csrf), i))
		e.clock.Advance(time.Minute)
	}
	e.do("POST", "/-/reload", admin, "", "X-CSRF-Token", admin.csrf)
	e.do("PUT", "/api/v1/config", admin, "checks: []", "X-CSRF-Token", admin.csrf)
	e.do("POST", "/api/v1/something", admin, "{}", "X-CSRF-Token", admin.csrf)
	get := func(q string) (entries []AuditEntry, next string, status int) {
		r := e.do("GET", "/api/v1/audit?"+q, admin, "")
		var body struct {
			Data       []AuditEntry
			NextCursor string `json:"next_cursor"`
		}
		json.Unmarshal([]byte(r.body), &body)
		return body.Data, body.NextCursor, r.status
	}
	all, next, _ := get("")
	if len(all) != 9 || next != "" {
		t.Fatalf("audit: %d entries, next %q: %+v", len(all), next, all)
	}
	wantActions := "request config.put config.reload silence.create silence.create silence.create silence.create silence.create login"
	var got []string
	for _, a := range all {
		got = append(got, a.Action)
	}
	if strings.Join(got, " ") != wantActions {
		t.Errorf("actions %v", got)
	}
	sc := all[3]
	if sc.Actor != "root" || sc.Target != "/silences" || sc.Detail != `comment="c4"` || sc.IP != "127.0.0.1" || sc.Outcome != "ok" {
		t.Errorf("silence entry %+v: want actor, target, detail without csrf or token, IP", sc)
	}
	if all[0].Detail != "POST /api/v1/something" {
		t.Errorf("default entry detail %q", all[0].Detail)
	}
	page1, next, _ := get("action=silence.create&limit=2")
	page2, next2, _ := get("action=silence.create&limit=2&cursor=" + next)
	page3, next3, _ := get("action=silence.create&limit=2&cursor=" + next2)
	if len(page1) != 2 || len(page2) != 2 || len(page3) != 1 || next3 != "" || page2[0].ID >= page1[1].ID {
		t.Errorf("pages %d %d %d, next %q %q %q", len(page1), len(page2), len(page3), next, next2, next3)
	}
	if es, _, _ := get("actor=root&since=" + url.QueryEscape(t0.Add(3*time.Minute).Format(time.RFC3339))); len(es) != 5 {
		t.Errorf("since: %d entries, want 5", len(es))
	}
	if es, _, _ := get("since=2m"); len(es) != 5 {
		t.Errorf("since=2m: %d entries, want 5", len(es))
	}
	for _, q := range []string{"limit=0", "limit=x", "limit=1001", "cursor=-1", "since=yesterday"} {
		if _, _, status := get(q); status != 400 {
			t.Errorf("%s: %d, want 400", q, status)
		}
	}
}

// fakeIdP is an external login that vouches for whoever the test says.
type fakeIdP struct {
	id       ExternalIdentity
	returnTo string
	err      error
	begun    string
}

func (f *fakeIdP) Begin(w http.ResponseWriter, r *http.Request, returnTo string) error {
	f.begun = returnTo
	http.Redirect(w, r, "https://idp.example/authorize", http.StatusFound)
	return nil
}

func (f *fakeIdP) Finish(w http.ResponseWriter, r *http.Request) (ExternalIdentity, string, error) {
	return f.id, f.returnTo, f.err
}

func TestExternalLogin(t *testing.T) {
	idp := &fakeIdP{}
	e := newEnv(t, func(o *Options) { o.External = idp })
	if !e.svc.HasExternal() {
		t.Fatal("HasExternal")
	}
	e.user("bo@example.com", RoleViewer) // a local user with the email as name
	r := e.do("GET", "/auth/oidc/login?next=/errors%3Fq%3D1", who{}, "")
	if r.status != 302 || idp.begun != "/errors?q=1" {
		t.Errorf("begin: %d, returnTo %q", r.status, idp.begun)
	}
	e.do("GET", "/auth/oidc/login?next=//evil.example/", who{}, "")
	if idp.begun != "/" {
		t.Errorf("begin with a foreign next: returnTo %q", idp.begun)
	}
	callback := func() (reply, who) {
		r := e.do("GET", "/auth/oidc/callback?code=x", who{}, "")
		for _, v := range r.header.Values("Set-Cookie") {
			if c, err := http.ParseSetCookie(v); err == nil && c.Name == SessionCookie {
				return r, who{session: c.Value}
			}
		}
		return r, who{}
	}
	me := func(s who) string { return e.do("GET", "/api/v1/me", s, "").body }

	idp.id = ExternalIdentity{Issuer: "https://idp.example", Subject: "u-1", Email: "bo@example.com", Name: "Bo"}
	idp.returnTo = "/errors"
	r, s := callback()
	if r.status != 303 || r.header.Get("Location") != "/errors" || s.session == "" {
		t.Fatalf("callback: %d %v", r.status, r.header)
	}
	if m := me(s); !strings.Contains(m, `"name":"bo@example.com-2"`) || !strings.Contains(m, `"role":"viewer"`) {
		t.Errorf("new external user: %s", m)
	}
	// The provider grants a role: it applies.
	idp.id.Role, idp.returnTo = RoleEditor, "https://evil.example/"
	r, s = callback()
	if r.header.Get("Location") != "/" {
		t.Errorf("foreign returnTo: redirected to %q", r.header.Get("Location"))
	}
	if m := me(s); !strings.Contains(m, `"name":"bo@example.com-2"`) || !strings.Contains(m, `"role":"editor"`) {
		t.Errorf("role from the provider: %s", m)
	}
	// It says nothing: the role stays.
	idp.id.Role = RoleNone
	_, s = callback()
	if m := me(s); !strings.Contains(m, `"role":"editor"`) {
		t.Errorf("role kept: %s", m)
	}
	// A subject without a usable email.
	idp.id = ExternalIdentity{Issuer: "https://idp.example", Subject: "weird subject/ü", Role: RoleAdmin}
	_, s = callback()
	if m := me(s); !strings.Contains(m, `"name":"weird-subject--"`) || !strings.Contains(m, `"role":"admin"`) {
		t.Errorf("subject-named user: %s", m)
	}
	// Disabled users stay out; provider errors too.
	u, _ := e.store.UserByExternal(context.Background(), "https://idp.example", "u-1")
	u.Disabled = true
	e.store.UpdateUser(context.Background(), u)
	idp.id = ExternalIdentity{Issuer: "https://idp.example", Subject: "u-1"}
	if r, s := callback(); r.status != 403 || s.session != "" {
		t.Errorf("disabled: %d", r.status)
	}
	idp.err = fmt.Errorf("state mismatch")
	if r, _ := callback(); r.status != 401 {
		t.Errorf("provider error: %d", r.status)
	}
	var acts []string
	for _, a := range e.audit(AuditFilter{}) {
		acts = append(acts, a.Action+"/"+a.Outcome)
	}
	want := "login/failed login/failed login/ok user.create/ok login/ok login/ok user.update/ok login/ok user.create/ok"
	if got := strings.Join(acts, " "); got != want {
		t.Errorf("audit:\n got %s\nwant %s", got, want)
	}
	// Without a provider, the routes are 404.
	e2 := newEnv(t, nil)
	if r := e2.do("GET", "/auth/oidc/login", who{}, ""); r.status != 404 {
		t.Errorf("no provider: %d", r.status)
	}
}

func TestSafeNext(t *testing.T) {
	for in, want := range map[string]string{
		"": "/", "/": "/", "/errors?q=1": "/errors?q=1", "//evil.example": "/", `/\evil.example`: "/",
		"https://evil.example/": "/", "errors": "/", "/a\r\nLocation: x": "/", "/logs#x": "/logs#x",
	} {
		if got := SafeNext(in); got != want {
			t.Errorf("SafeNext(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSecureCookie(t *testing.T) {
	for host, want := range map[string]bool{"localhost:4320": true, "127.0.0.1:4320": true, "[::1]:80": true, "app.localhost": true,
		"telltale.example:4320": false, "10.0.0.5": false} {
		r := httptest.NewRequest("GET", "http://"+host+"/", nil)
		if got := DefaultSecureCookie(r); got != want {
			t.Errorf("%s: %v", host, got)
		}
	}
	r := httptest.NewRequest("GET", "http://telltale.example/", nil)
	r.Header.Set("X-Forwarded-Proto", "https")
	if !DefaultSecureCookie(r) {
		t.Error("X-Forwarded-Proto: https")
	}
}

func BenchmarkHandler(b *testing.B) {
	st := openStore(b)
	svc, err := New(Options{Store: st, Argon2: cheap})
	if err != nil {
		b.Fatal(err)
	}
	u, err := svc.createUser(context.Background(), "ana", "password-ana", RoleAdmin)
	if err != nil {
		b.Fatal(err)
	}
	w := httptest.NewRecorder()
	csrf, err := svc.startSession(w, httptest.NewRequest("POST", "/login", nil), u)
	if err != nil {
		b.Fatal(err)
	}
	cookie := w.Result().Cookies()[0]
	r := httptest.NewRequest("POST", "/", nil).WithContext(WithPrincipal(context.Background(), Principal{UserID: u.ID, Name: u.Name, Role: RoleAdmin, CSRF: csrf}))
	_, tok, err := svc.CreateToken(r, NewToken{Name: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	h := svc.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := FromContext(r.Context()); !ok {
			b.Fatal("no principal")
		}
	}))
	for _, bc := range []struct {
		name string
		set  func(*http.Request)
	}{
		{"session", func(r *http.Request) { r.AddCookie(cookie) }},
		{"token", func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			req := httptest.NewRequest("GET", "/api/v1/services", nil)
			bc.set(req)
			for b.Loop() {
				h.ServeHTTP(httptest.NewRecorder(), req)
			}
		})
	}
}
