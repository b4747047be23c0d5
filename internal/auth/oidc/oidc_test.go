package oidc

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fibinc/telltale/internal/auth/oidc/oidctest"
)

const callbackPath = "/auth/oidc/callback"

// clock is the relying party's clock; tests move it forward.
type clock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
}

// rp is a tiny relying party: /auth/oidc/login calls Begin, the callback
// calls Finish and sends the browser on to returnTo, "/" and everything
// else answers 200 with the path.
type rp struct {
	p     *Provider
	srv   *httptest.Server
	clock *clock

	mu       sync.Mutex
	finished int
	id       Identity
	returnTo string
	err      error
}

func newRP(t *testing.T, op *oidctest.Provider, edit func(*Options)) *rp {
	t.Helper()
	h := &rp{clock: &clock{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /auth/oidc/login", func(w http.ResponseWriter, r *http.Request) {
		if err := h.p.Begin(w, r, r.URL.Query().Get("next")); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	})
	mux.HandleFunc("GET "+callbackPath, func(w http.ResponseWriter, r *http.Request) {
		id, returnTo, err := h.p.Finish(w, r)
		h.mu.Lock()
		h.finished++
		h.id, h.returnTo, h.err = id, returnTo, err
		h.mu.Unlock()
		if err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		http.Redirect(w, r, returnTo, http.StatusSeeOther)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "page "+r.URL.RequestURI())
	})
	h.srv = httptest.NewServer(mux)
	t.Cleanup(h.srv.Close)

	o := op.Options()
	opt := Options{
		Issuer:       op.URL,
		ClientID:     o.ClientID,
		ClientSecret: o.ClientSecret,
		RedirectURL:  h.srv.URL + callbackPath,
		Now:          h.clock.Now,
	}
	if edit != nil {
		edit(&opt)
	}
	p, err := New(t.Context(), opt)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	h.p = p
	return h
}

// result returns what the last Finish call returned.
func (h *rp) result() (int, Identity, string, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.finished, h.id, h.returnTo, h.err
}

func browser(t *testing.T) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar}
}

// stopAtCallback is a browser that does not follow the provider's
// redirect to the callback, so a test can look at it or change it.
func stopAtCallback(t *testing.T) *http.Client {
	c := browser(t)
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if req.URL.Path == callbackPath {
			return http.ErrUseLastResponse
		}
		return nil
	}
	return c
}

func get(t *testing.T, c *http.Client, u string) *http.Response {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	resp.Body.Close()
	return resp
}

// callbackURL runs a login up to the provider's redirect back and returns
// the callback URL it carries.
func (h *rp) callbackURL(t *testing.T, c *http.Client) *url.URL {
	t.Helper()
	resp := get(t, c, h.srv.URL+"/auth/oidc/login?next=/errors")
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("login answered %s, want a redirect to the callback", resp.Status)
	}
	u, err := resp.Location()
	if err != nil || u.Path != callbackPath {
		t.Fatalf("login ended at %v (%v), want the callback", u, err)
	}
	return u
}

func TestLoginFlow(t *testing.T) {
	op := oidctest.Start(t, oidctest.Options{User: oidctest.User{
		Subject: "u-42", Email: "ada@example.com", Name: "Ada Lovelace",
	}})
	h := newRP(t, op, nil)
	c := browser(t)

	// The first step alone, to see the cookie Begin sets.
	first := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp := get(t, first, h.srv.URL+"/auth/oidc/login?next=/x")
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(resp.Header.Get("Location"), op.URL+"/authorize?") {
		t.Fatalf("Begin answered %s to %q, want 302 to the provider", resp.Status, resp.Header.Get("Location"))
	}
	cookies := resp.Cookies()
	if len(cookies) != 1 {
		t.Fatalf("Begin set %d cookies, want 1", len(cookies))
	}
	ck := cookies[0]
	if ck.Name != cookieName || !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.Path != callbackPath ||
		ck.MaxAge != 600 || ck.Secure {
		t.Errorf("login cookie = %+v, want HttpOnly, SameSite=Lax, Path=%s, Max-Age=600, not Secure over http", ck, callbackPath)
	}
	if got := resp.Header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", got)
	}

	resp = get(t, c, h.srv.URL+"/auth/oidc/login?next="+url.QueryEscape("/errors?project=web"))
	if resp.StatusCode != http.StatusOK || resp.Request.URL.RequestURI() != "/errors?project=web" {
		t.Fatalf("login ended with %s at %s, want 200 at /errors?project=web", resp.Status, resp.Request.URL)
	}
	n, id, returnTo, err := h.result()
	if err != nil || n != 1 {
		t.Fatalf("Finish ran %d times, last error %v", n, err)
	}
	want := Identity{Issuer: op.URL, Subject: "u-42", Email: "ada@example.com", Name: "Ada Lovelace"}
	if id != want {
		t.Errorf("identity = %+v, want %+v", id, want)
	}
	if returnTo != "/errors?project=web" {
		t.Errorf("returnTo = %q", returnTo)
	}

	auth := op.LastAuthorization()
	if auth.Get("code_challenge_method") != "S256" || len(auth.Get("code_challenge")) != 43 {
		t.Errorf("authorization request has no S256 PKCE challenge: %v", auth)
	}
	if auth.Get("nonce") == "" || len(auth.Get("state")) < 26 || auth.Get("state") == auth.Get("nonce") {
		t.Errorf("authorization request lacks a random state and nonce: %v", auth)
	}
	if auth.Get("scope") != "openid email profile" || auth.Get("response_type") != "code" {
		t.Errorf("authorization request scope %q, response_type %q", auth.Get("scope"), auth.Get("response_type"))
	}
	st := op.Stats()
	if st.Authorizations != 1 || st.TokenRequests != 1 || st.TokensIssued != 1 || st.UserInfoRequests != 0 {
		t.Errorf("provider stats = %+v, want 1 authorization, 1 token exchange, no userinfo", st)
	}
	cbURL, _ := url.Parse(h.srv.URL + callbackPath)
	for _, ck := range c.Jar.Cookies(cbURL) {
		if ck.Name == cookieName {
			t.Errorf("the login cookie survived Finish: %v", ck)
		}
	}
}

func TestFinishFailures(t *testing.T) {
	op := oidctest.Start(t, oidctest.Options{})
	secret := op.Options().ClientSecret
	cases := []struct {
		name  string
		setup func(*oidctest.Options)
		rp    func(*Options)
		// run drives the browser; the default is a whole login.
		run     func(t *testing.T, h *rp)
		wantErr error
		want    string
		notWant string
	}{
		{
			name:    "provider error access_denied",
			setup:   func(o *oidctest.Options) { o.Deny, o.DenyDescription = true, "user said no" },
			wantErr: ErrDenied, want: "access_denied: user said no",
		},
		{
			name: "forged provider error",
			run: func(t *testing.T, h *rp) {
				c := stopAtCallback(t)
				u := h.callbackURL(t, c)
				u.RawQuery = url.Values{"error": {"access_denied"}, "error_description": {"call +1 555 0100"}, "state": {"forged"}}.Encode()
				get(t, c, u.String())
			},
			wantErr: ErrDenied, want: "access_denied", notWant: "555",
		},
		{
			name: "wrong state",
			run: func(t *testing.T, h *rp) {
				c := stopAtCallback(t)
				u := h.callbackURL(t, c)
				q := u.Query()
				q.Set("state", q.Get("state")+"x")
				u.RawQuery = q.Encode()
				get(t, c, u.String())
			},
			wantErr: ErrState, want: "state",
		},
		{
			name: "missing state cookie",
			run: func(t *testing.T, h *rp) {
				u := h.callbackURL(t, stopAtCallback(t))
				get(t, browser(t), u.String()) // another browser: no cookie
			},
			wantErr: ErrNoLogin, want: "missing",
		},
		{
			name: "tampered state cookie",
			run: func(t *testing.T, h *rp) {
				c := stopAtCallback(t)
				u := h.callbackURL(t, c)
				ck := c.Jar.Cookies(u)[0]
				b, err := base64.RawURLEncoding.DecodeString(ck.Value)
				if err != nil {
					t.Fatal(err)
				}
				b[len(b)/2] ^= 1
				ck.Value, ck.Path = base64.RawURLEncoding.EncodeToString(b), callbackPath
				c.Jar.SetCookies(u, []*http.Cookie{ck})
				get(t, c, u.String())
			},
			wantErr: ErrNoLogin, want: "not made by this server",
		},
		{
			name: "login took too long",
			run: func(t *testing.T, h *rp) {
				c := stopAtCallback(t)
				u := h.callbackURL(t, c)
				h.clock.Advance(11 * time.Minute)
				get(t, c, u.String())
			},
			wantErr: ErrNoLogin, want: "longer than 10m0s",
		},
		{
			name: "callback without code",
			run: func(t *testing.T, h *rp) {
				c := stopAtCallback(t)
				u := h.callbackURL(t, c)
				q := u.Query()
				q.Del("code")
				u.RawQuery = q.Encode()
				get(t, c, u.String())
			},
			wantErr: ErrExchange, want: "no code",
		},
		{
			name: "replayed code",
			run: func(t *testing.T, h *rp) {
				c := stopAtCallback(t)
				u := h.callbackURL(t, c)
				saved := c.Jar.Cookies(u)[0]
				saved.Path = callbackPath
				get(t, c, u.String())
				if _, _, _, err := h.result(); err != nil {
					t.Fatalf("first use of the code: %v", err)
				}
				// An attacker who copied both the callback URL and the cookie.
				c.Jar.SetCookies(u, []*http.Cookie{saved})
				get(t, c, u.String())
			},
			wantErr: ErrExchange, want: "invalid_grant: code already used",
		},
		{
			name: "PKCE verifier mismatch (injected code)",
			run: func(t *testing.T, h *rp) {
				stolen := h.callbackURL(t, stopAtCallback(t)).Query().Get("code")
				victim := stopAtCallback(t)
				u := h.callbackURL(t, victim)
				q := u.Query()
				q.Set("code", stolen)
				u.RawQuery = q.Encode()
				get(t, victim, u.String())
			},
			wantErr: ErrExchange, want: "PKCE verification failed",
		},
		{
			name:    "wrong client secret",
			rp:      func(o *Options) { o.ClientSecret = "not-" + o.ClientSecret },
			wantErr: ErrExchange, want: "invalid_client", notWant: "not-" + secret,
		},
		{
			name:    "wrong nonce",
			setup:   func(o *oidctest.Options) { o.EditIDToken = func(c map[string]any) { c["nonce"] = "other" } },
			wantErr: ErrIDToken, want: "nonce",
		},
		{
			name:    "expired token",
			setup:   func(o *oidctest.Options) { o.TokenTTL = -time.Minute },
			wantErr: ErrIDToken, want: "expired",
		},
		{
			name:    "wrong audience",
			setup:   func(o *oidctest.Options) { o.EditIDToken = func(c map[string]any) { c["aud"] = "someone-else" } },
			wantErr: ErrIDToken, want: "audience",
		},
		{
			name: "wrong issuer",
			setup: func(o *oidctest.Options) {
				o.EditIDToken = func(c map[string]any) { c["iss"] = "https://evil.example" }
			},
			wantErr: ErrIDToken, want: "different provider",
		},
		{
			name:    "signed by another key",
			setup:   func(o *oidctest.Options) { o.SignWithOtherKey = true },
			wantErr: ErrIDToken, want: "signature",
		},
		{
			name:    "no subject",
			setup:   func(o *oidctest.Options) { o.EditIDToken = func(c map[string]any) { delete(c, "sub") } },
			wantErr: ErrIDToken, want: "subject",
		},
		{
			name: "another authorized party",
			setup: func(o *oidctest.Options) {
				o.EditIDToken = func(c map[string]any) {
					c["aud"] = []string{c["aud"].(string), "other-app"}
					c["azp"] = "other-app"
				}
			},
			wantErr: ErrIDToken, want: "azp",
		},
		{
			name: "userinfo about another subject",
			setup: func(o *oidctest.Options) {
				o.ClaimsInUserInfoOnly = true
				o.EditUserInfo = func(c map[string]any) { c["sub"] = "someone-else" }
			},
			wantErr: ErrIDToken, want: "userinfo is about another subject",
		},
		{
			name:    "unverified email",
			setup:   func(o *oidctest.Options) { o.User.EmailUnverified = true },
			wantErr: ErrEmailNotVerified, want: "user@example.com",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			op.Update(func(o *oidctest.Options) {
				*o = oidctest.Options{}
				if tc.setup != nil {
					tc.setup(o)
				}
			})
			h := newRP(t, op, tc.rp)
			if tc.run != nil {
				tc.run(t, h)
			} else {
				resp := get(t, browser(t), h.srv.URL+"/auth/oidc/login")
				if resp.StatusCode != http.StatusUnauthorized {
					t.Errorf("login answered %s, want 401", resp.Status)
				}
			}
			n, id, _, err := h.result()
			if n == 0 {
				t.Fatal("Finish never ran")
			}
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Finish error = %v, want %v", err, tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Finish error %q does not mention %q", err, tc.want)
			}
			if tc.notWant != "" && strings.Contains(err.Error(), tc.notWant) {
				t.Errorf("Finish error %q repeats %q", err, tc.notWant)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("Finish error %q leaks the client secret", err)
			}
			t.Logf("error: %v", err)
			if id != (Identity{}) {
				t.Errorf("failed Finish returned identity %+v", id)
			}
		})
	}
}

func TestRoleClaim(t *testing.T) {
	op := oidctest.Start(t, oidctest.Options{})
	groupsMap := map[string]string{"admins": "admin", "devs": "editor", "staff": "viewer"}
	cases := []struct {
		name      string
		claim     string
		roleMap   map[string]string
		claims    map[string]any
		inUserInf bool
		want      string
	}{
		{"role name", "telltale_role", nil, map[string]any{"telltale_role": "editor"}, false, "editor"},
		{"role name any case", "telltale_role", nil, map[string]any{"telltale_role": "Admin"}, false, "admin"},
		{"not a role name", "telltale_role", nil, map[string]any{"telltale_role": "superuser"}, false, ""},
		{"list of role names", "roles", nil, map[string]any{"roles": []string{"viewer", "editor"}}, false, "editor"},
		{"groups mapped, highest wins", "groups", groupsMap, map[string]any{"groups": []string{"devs", "admins", "x"}}, false, "admin"},
		{"groups mapped", "groups", groupsMap, map[string]any{"groups": []string{"devs"}}, false, "editor"},
		{"string claim mapped", "team", groupsMap, map[string]any{"team": "staff"}, false, "viewer"},
		{"unmapped group", "groups", groupsMap, map[string]any{"groups": []string{"others"}}, false, ""},
		{"map ignores bare role names", "groups", groupsMap, map[string]any{"groups": []string{"admin"}}, false, ""},
		{"claim absent", "groups", groupsMap, nil, false, ""},
		{"nested claim", "realm_access.roles", map[string]string{"telltale-admin": "admin"},
			map[string]any{"realm_access": map[string]any{"roles": []string{"offline_access", "telltale-admin"}}}, false, "admin"},
		{"claim name with dots", "https://telltale.example/roles", nil,
			map[string]any{"https://telltale.example/roles": []string{"viewer"}}, false, "viewer"},
		{"claim only in userinfo", "groups", groupsMap, map[string]any{"groups": []string{"admins"}}, true, "admin"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			op.Update(func(o *oidctest.Options) {
				*o = oidctest.Options{User: oidctest.User{Claims: tc.claims}, ClaimsInUserInfoOnly: tc.inUserInf}
			})
			before := op.Stats().UserInfoRequests
			h := newRP(t, op, func(o *Options) { o.RoleClaim, o.RoleMap = tc.claim, tc.roleMap })
			get(t, browser(t), h.srv.URL+"/auth/oidc/login")
			_, id, _, err := h.result()
			if err != nil {
				t.Fatalf("Finish: %v", err)
			}
			if id.Role != tc.want {
				t.Errorf("role = %q, want %q", id.Role, tc.want)
			}
			if id.Email != "user@example.com" {
				t.Errorf("email = %q", id.Email)
			}
			// Userinfo is asked only when the ID token lacks something.
			if got := op.Stats().UserInfoRequests - before; got != map[bool]int{false: 0, true: 1}[tc.inUserInf || tc.claims == nil] {
				t.Errorf("%d userinfo requests", got)
			}
		})
	}
}

func TestUserInfoFallback(t *testing.T) {
	cases := []struct {
		name string
		opt  oidctest.Options
		want Identity
	}{
		{"claims from userinfo", oidctest.Options{ClaimsInUserInfoOnly: true},
			Identity{Subject: "user-1", Email: "user@example.com", Name: "Test User"}},
		{"no userinfo endpoint", oidctest.Options{ClaimsInUserInfoOnly: true, NoUserInfo: true},
			Identity{Subject: "user-1"}},
		{"preferred_username as name", oidctest.Options{User: oidctest.User{Name: "-", Claims: map[string]any{"preferred_username": "ada"}}},
			Identity{Subject: "user-1", Email: "user@example.com", Name: "ada"}},
		{"email_verified absent", oidctest.Options{EditIDToken: func(c map[string]any) { delete(c, "email_verified") }},
			Identity{Subject: "user-1", Name: "Test User"}},
		{"email_verified as string", oidctest.Options{EditIDToken: func(c map[string]any) { c["email_verified"] = "true" }},
			Identity{Subject: "user-1", Email: "user@example.com", Name: "Test User"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			op := oidctest.Start(t, tc.opt)
			h := newRP(t, op, nil)
			get(t, browser(t), h.srv.URL+"/auth/oidc/login")
			_, id, _, err := h.result()
			if err != nil {
				t.Fatalf("Finish: %v", err)
			}
			tc.want.Issuer = op.URL
			if id != tc.want {
				t.Errorf("identity = %+v, want %+v", id, tc.want)
			}
		})
	}
}

func TestNewErrors(t *testing.T) {
	op := oidctest.Start(t, oidctest.Options{})
	good := Options{Issuer: op.URL, ClientID: "telltale", RedirectURL: "http://localhost:5200/auth/oidc/callback"}
	cases := []struct {
		name string
		edit func(*Options)
		want string
	}{
		{"no issuer", func(o *Options) { o.Issuer = "" }, "needs an issuer"},
		{"no client id", func(o *Options) { o.ClientID = "" }, "needs an issuer"},
		{"relative redirect", func(o *Options) { o.RedirectURL = "/auth/oidc/callback" }, "absolute"},
		{"bad role map", func(o *Options) { o.RoleMap = map[string]string{"admins": "root"} }, `"admins" maps to "root"`},
		{"issuer mismatch", func(o *Options) { o.Issuer = op.URL + "/" }, "cannot discover"},
		{"unreachable", func(o *Options) { o.Issuer = "http://127.0.0.1:1" }, "cannot discover"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := good
			tc.edit(&o)
			_, err := New(context.Background(), o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New error = %v, want one mentioning %q", err, tc.want)
			}
		})
	}
	if _, err := New(context.Background(), good); err != nil {
		t.Errorf("New with good options: %v", err)
	}
}

func TestPrintable(t *testing.T) {
	cases := []struct{ in, want string }{
		{"plain text", "plain text"},
		{"line\nbreak\x1b[31m", "line?break?[31m"},
		{"héllo", "héllo"},
		{"\xff", "?"},
		{strings.Repeat("a", 5), "aaa…"},
	}
	for _, tc := range cases {
		max := 200
		if len(tc.in) == 5 {
			max = 3
		}
		if got := printable(tc.in, max); got != tc.want {
			t.Errorf("printable(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
