package apptest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/fibinc/telltale/internal/auth/oidc/oidctest"
)

// principal is one way of calling the UI port in TestRoles.
type principal struct {
	name string
	role int // 0 anonymous, 1 viewer, 2 editor, 3 admin
	// do sends a request as this principal.
	do func(method, path, ctype string, body []byte) (*http.Response, error)
}

// TestRoles calls every kind of route of the UI port, pages and API, as
// each role (with a login session and with an API token) and not logged
// in, and checks who is let in: the least role of each route, 401 or a
// redirect to the login page when not logged in, 403 when the role is too
// small. Then it checks CSRF, logout and login rate limiting.
func TestRoles(t *testing.T) {
	s := start(t, t.TempDir())
	admin := s.login("admin", adminPassword)
	principals := []principal{{name: "anonymous", do: s.anonymous()}}
	for role, name := range []string{"", "viewer", "editor", "admin"} {
		if role == 0 {
			continue
		}
		user := "user-" + name
		admin.call("POST", "/api/v1/users", map[string]string{"name": user, "password": "password-of-" + name, "role": name}, 201, nil)
		sess := s.login(user, "password-of-"+name)
		token := sess.createToken("roles", "")
		principals = append(principals,
			principal{name: name + " session", role: role, do: sess.do},
			principal{name: name + " token", role: role, do: s.withToken(token)})
	}

	const (
		anyone = 0
		viewer = 1
		editor = 2
		admins = 3
	)
	routes := []struct {
		method, path string
		body         string
		role         int
	}{
		{"GET", "/healthz", "", anyone},
		{"GET", "/readyz", "", anyone},
		{"GET", "/metrics", "", anyone},
		{"GET", "/login", "", anyone},
		{"GET", "/static/app.css", "", anyone},
		{"GET", "/api/v1/push/nothing?token=x", "", anyone},

		// Pages.
		{"GET", "/", "", viewer},
		{"GET", "/services/fibfrontend", "", viewer},
		{"GET", "/map", "", viewer},
		{"GET", "/logs", "", viewer},
		{"GET", "/requests/0123456789abcdef0123456789abcdef", "", viewer},
		{"GET", "/errors", "", viewer},
		{"GET", "/errors/1", "", viewer},
		{"GET", "/explore", "", viewer},
		{"GET", "/checks", "", viewer},
		{"GET", "/alerts", "", viewer},
		{"GET", "/silences", "", viewer},
		{"GET", "/notifications", "", viewer},
		{"GET", "/settings", "", viewer},
		{"GET", "/settings/tokens", "", viewer},
		{"GET", "/settings/users", "", admins},
		{"GET", "/settings/audit", "", admins},
		{"GET", "/settings/projects", "", admins},
		{"GET", "/debug/pprof/", "", admins},

		// Reading through the API.
		{"GET", "/api/v1/services", "", viewer},
		{"GET", "/api/v1/traces", "", viewer},
		{"GET", "/api/v1/logs", "", viewer},
		{"GET", "/api/v1/metrics", "", viewer},
		{"GET", "/api/v1/issues", "", viewer},
		{"GET", "/api/v1/projects", "", viewer},
		{"GET", "/api/v1/projects/1/keys", "", viewer},
		{"GET", "/api/v1/checks", "", viewer},
		{"GET", "/api/v1/rules", "", viewer},
		{"GET", "/api/v1/alerts", "", viewer},
		{"GET", "/api/v1/silences", "", viewer},
		{"GET", "/api/v1/notifications", "", viewer},
		{"GET", "/api/v1/channels", "", viewer},
		{"GET", "/api/v1/service-map", "", viewer},
		{"GET", "/api/v1/query?query=1", "", viewer},
		{"POST", "/api/v1/query", "query=1", viewer},
		{"GET", "/api/v1/me", "", viewer},
		{"GET", "/api/v1/tokens", "", viewer},
		{"GET", "/api/v1/config", "", admins},
		{"GET", "/api/v1/users", "", admins},
		{"GET", "/api/v1/audit", "", admins},

		// Changes.
		{"POST", "/api/v1/tokens", `{}`, viewer},
		{"POST", "/api/v1/issues/999/status", `{"status":"resolved"}`, editor},
		{"POST", "/errors/999/status", "status=resolved", editor},
		{"POST", "/api/v1/silences", `{}`, editor},
		{"DELETE", "/api/v1/silences/nothing", "", editor},
		{"POST", "/silences", "matchers=", editor},
		{"POST", "/api/v1/projects", `{}`, admins},
		{"POST", "/api/v1/projects/1/keys", `{"name":""}`, admins},
		{"DELETE", "/api/v1/projects/1/keys/999", "", admins},
		{"POST", "/api/v1/users", `{}`, admins},
		{"PATCH", "/api/v1/users/999", `{}`, admins},
		{"DELETE", "/api/v1/users/999", "", admins},
		{"PUT", "/api/v1/config", "checks: [", admins},
		{"POST", "/-/reload", "", admins},
		{"POST", "/settings/projects", "slug=", admins},
	}
	for _, rt := range routes {
		for _, p := range principals {
			t.Run(fmt.Sprintf("%s %s as %s", rt.method, rt.path, p.name), func(t *testing.T) {
				ctype := ""
				switch {
				case strings.HasPrefix(rt.body, "{"):
					ctype = "application/json"
				case rt.body != "" && !strings.HasPrefix(rt.path, "/api/v1/config"):
					ctype = "application/x-www-form-urlencoded"
				}
				resp, err := p.do(rt.method, rt.path, ctype, []byte(rt.body))
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				got := resp.StatusCode
				toLogin := got == http.StatusSeeOther && strings.HasPrefix(resp.Header.Get("Location"), "/login")
				switch {
				case p.role >= rt.role:
					if got == 401 || got == 403 || toLogin {
						t.Errorf("status %d (%s), want to be let in: %.200s", got, resp.Header.Get("Location"), body)
					}
				case p.role == anyone:
					api := strings.HasPrefix(rt.path, "/api/") || rt.path == "/-/reload"
					if api && got != 401 || !api && !toLogin && !(rt.method != "GET" && got == 401) {
						t.Errorf("status %d (%s), want 401 or a redirect to /login: %.200s", got, resp.Header.Get("Location"), body)
					}
				default:
					if got != 403 {
						t.Errorf("status %d, want 403: %.200s", got, body)
					}
				}
			})
		}
	}

	t.Run("CSRF", func(t *testing.T) {
		editor := s.login("user-editor", "password-of-editor")
		editor.csrf = ""
		resp, err := editor.do("POST", "/api/v1/silences", "application/json", []byte(`{}`))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 403 || !strings.Contains(string(body), "CSRF") {
			t.Errorf("a session's change without its CSRF token: %d %s, want 403 naming CSRF", resp.StatusCode, body)
		}
		editor.csrf = "0" + strings.Repeat("1", 42)
		resp, err = editor.do("POST", "/errors/999/status", "application/x-www-form-urlencoded", []byte("status=resolved&csrf="+editor.csrf))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 403 {
			t.Errorf("a form with a wrong CSRF token: %d, want 403", resp.StatusCode)
		}
	})

	t.Run("logout", func(t *testing.T) {
		viewer := s.login("user-viewer", "password-of-viewer")
		viewer.call("GET", "/api/v1/me", nil, 200, nil)
		viewer.call("POST", "/api/v1/logout", nil, 204, nil)
		viewer.call("GET", "/api/v1/me", nil, 401, nil)
	})

	t.Run("login rate limit", func(t *testing.T) {
		anon := s.anonymous()
		var last *http.Response
		for range 6 {
			resp, err := anon("POST", "/api/v1/login", "application/json", []byte(`{"name":"user-editor","password":"wrong password"}`))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			last = resp
		}
		if last.StatusCode != 429 || last.Header.Get("Retry-After") == "" {
			t.Errorf("6th failed login: %d, Retry-After %q; want 429 with Retry-After", last.StatusCode, last.Header.Get("Retry-After"))
		}
	})

	// The audit log has the changes above, with their actors.
	var audit struct {
		Data []struct {
			Actor, Action, Outcome string
		}
	}
	admin.call("GET", "/api/v1/audit?limit=500", nil, 200, &audit)
	seen := map[string]bool{}
	for _, e := range audit.Data {
		seen[e.Actor+" "+e.Action+" "+e.Outcome] = true
	}
	for _, want := range []string{"admin user.create ok", "user-viewer login ok", "user-viewer logout ok", "user-editor login failed", "user-admin config.reload ok"} {
		if !seen[want] {
			t.Errorf("audit log lacks %q; has %v", want, seen)
		}
	}
	s.healthy()
}

// anonymous sends requests without credentials and without following
// redirects.
func (s *server) anonymous() func(method, path, ctype string, body []byte) (*http.Response, error) {
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }, Timeout: 30 * time.Second}
	return func(method, path, ctype string, body []byte) (*http.Response, error) {
		req, err := http.NewRequest(method, "http://"+s.ui+path, bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		return c.Do(req)
	}
}

// withToken sends requests with an API token.
func (s *server) withToken(token string) func(method, path, ctype string, body []byte) (*http.Response, error) {
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }, Timeout: 30 * time.Second}
	return func(method, path, ctype string, body []byte) (*http.Response, error) {
		req, err := http.NewRequest(method, "http://"+s.ui+path, bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		req.Header.Set("Authorization", "Bearer "+token)
		return c.Do(req)
	}
}

// do sends a request with the session's cookie and CSRF token (as header
// and, for forms, as field), without following redirects.
func (c *session) do(method, path, ctype string, body []byte) (*http.Response, error) {
	if ctype == "application/x-www-form-urlencoded" && c.csrf != "" && !bytes.Contains(body, []byte("csrf=")) {
		body = append(body, "&csrf="+url.QueryEscape(c.csrf)...)
	}
	req, err := http.NewRequest(method, "http://"+c.s.ui+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if c.csrf != "" && ctype != "application/x-www-form-urlencoded" {
		req.Header.Set("X-CSRF-Token", c.csrf)
	}
	client := *c.client
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return client.Do(req)
}

// TestOIDCLogin logs in through a real (small, local) OpenID Connect
// provider: the authorization code flow with PKCE through the real binary,
// the role from a group claim, the user created on first login, and a
// provider's refusal shown as a failed login.
func TestOIDCLogin(t *testing.T) {
	idp := oidctest.Start(t, oidctest.Options{ClientID: "telltale", ClientSecret: "s3cret",
		User: oidctest.User{Subject: "u-42", Email: "grace@example.com", Name: "Grace", Claims: map[string]any{"groups": []string{"devs"}}}})
	s := startEnv(t, t.TempDir(), []string{"TELLTALE_OIDC_CLIENT_SECRET=s3cret"}, "--statsd-addr", "-",
		"--oidc-issuer", idp.URL, "--oidc-client-id", "telltale", "--oidc-role-claim", "groups", "--oidc-role-map", "devs=editor")

	// The login page offers SSO.
	resp, err := http.Get("http://" + s.ui + "/login")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(page), "/auth/oidc/login") {
		t.Fatalf("login page has no SSO link:\n%s", page)
	}

	// A browser follows the redirects: Telltale, the provider, back.
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, Timeout: 30 * time.Second}
	resp, err = browser.Get("http://" + s.ui + "/auth/oidc/login?next=" + url.QueryEscape("/errors"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Request.URL.Path != "/errors" {
		t.Fatalf("after the SSO login: %d at %s, want 200 at /errors", resp.StatusCode, resp.Request.URL)
	}
	resp, err = browser.Get("http://" + s.ui + "/api/v1/me")
	if err != nil {
		t.Fatal(err)
	}
	var me struct {
		Data struct{ Name, Role string }
	}
	json.NewDecoder(resp.Body).Decode(&me)
	resp.Body.Close()
	if me.Data.Role != "editor" || !strings.Contains(me.Data.Name, "grace") {
		t.Errorf("me after SSO = %+v, want grace as editor (group devs)", me.Data)
	}
	if st := idp.Stats(); st.TokensIssued != 1 {
		t.Errorf("provider issued %d tokens, want 1", st.TokensIssued)
	}

	// The provider refuses: no session, a failed login in the audit log.
	idp.Update(func(o *oidctest.Options) { o.Deny, o.DenyDescription = true, "not in this organisation" })
	jar2, _ := cookiejar.New(nil)
	denied := &http.Client{Jar: jar2, Timeout: 30 * time.Second}
	resp, err = denied.Get("http://" + s.ui + "/auth/oidc/login")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode < 400 || !strings.Contains(string(body), "not in this organisation") {
		t.Errorf("denied SSO login: %d %.300s, want an error page with the provider's reason", resp.StatusCode, body)
	}
	resp, err = denied.Get("http://" + s.ui + "/api/v1/me")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Errorf("after a denied login /api/v1/me answers %d, want 401", resp.StatusCode)
	}
	var audit struct {
		Data []struct{ Action, Outcome, Detail string }
	}
	s.get("/api/v1/audit?action=login", 200, &audit)
	var ok, failed int
	for _, e := range audit.Data {
		if strings.Contains(e.Detail, "external") {
			switch e.Outcome {
			case "ok":
				ok++
			case "failed":
				failed++
			}
		}
	}
	if ok != 1 || failed != 1 {
		t.Errorf("audit: %d SSO logins ok, %d failed; want 1 and 1: %+v", ok, failed, audit.Data)
	}
}

// waitReady waits until the server answers /readyz.
func (s *server) waitReady() {
	s.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + s.ui + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		select {
		case <-s.exited:
			s.t.Fatalf("telltale exited during start-up:\n%s", s.log.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("telltale not ready after 30s:\n%s", s.log.String())
		}
	}
}

// TestIngestKeys sends spans with the real OpenTelemetry exporters over
// OTLP/HTTP and OTLP/gRPC: with the project's key they are stored; without
// a key, with an unknown one, and with a key revoked through the API, the
// exporter gets 401 or UNAUTHENTICATED.
func TestIngestKeys(t *testing.T) {
	s := start(t, t.TempDir(), "--ingest-auth=true")
	key := s.project().PublicKey
	// A second key, to revoke.
	var created struct {
		Data struct {
			ID  int64  `json:"id"`
			Key string `json:"key"`
		} `json:"data"`
	}
	admin := s.login("admin", adminPassword)
	admin.call("POST", "/api/v1/projects/1/keys", map[string]string{"name": "ci"}, 200, &created)

	export := func(proto, service, key string) error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		headers := map[string]string{}
		if key != "" {
			headers["Authorization"] = "Bearer " + key
		}
		var exp sdktrace.SpanExporter
		var err error
		if proto == "grpc" {
			exp, err = otlptracegrpc.New(ctx, otlptracegrpc.WithEndpoint(s.grpcAddr), otlptracegrpc.WithInsecure(), otlptracegrpc.WithHeaders(headers),
				otlptracegrpc.WithRetry(otlptracegrpc.RetryConfig{Enabled: false}))
		} else {
			exp, err = otlptracehttp.New(ctx, otlptracehttp.WithEndpoint(s.otlpAddr), otlptracehttp.WithInsecure(), otlptracehttp.WithHeaders(headers),
				otlptracehttp.WithRetry(otlptracehttp.RetryConfig{Enabled: false}))
		}
		if err != nil {
			return err
		}
		defer exp.Shutdown(ctx)
		now := time.Now()
		stub := tracetest.SpanStub{
			Name: "GET /keyed",
			SpanContext: trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{1, byte(len(service))}, SpanID: trace.SpanID{2, byte(len(service))},
				TraceFlags: trace.FlagsSampled}),
			SpanKind: trace.SpanKindServer, StartTime: now.Add(-time.Millisecond), EndTime: now,
			Resource: resource.NewSchemaless(attribute.String("service.name", service)),
		}
		return exp.ExportSpans(ctx, tracetest.SpanStubs{stub}.Snapshots())
	}
	for _, proto := range []string{"http", "grpc"} {
		if err := export(proto, "keyed-"+proto, key); err != nil {
			t.Errorf("%s export with the project's key: %v", proto, err)
		}
		for _, bad := range []string{"", "0123456789abcdef0123456789abcdef", "not a key"} {
			err := export(proto, "unkeyed-"+proto, bad)
			if err == nil || !(strings.Contains(err.Error(), "401") || strings.Contains(err.Error(), "Unauthenticated")) {
				t.Errorf("%s export with key %q: %v, want 401 or Unauthenticated", proto, bad, err)
			}
		}
	}
	if err := export("http", "keyed-ci", created.Data.Key); err != nil {
		t.Errorf("export with a new key: %v", err)
	}
	admin.call("DELETE", fmt.Sprintf("/api/v1/projects/1/keys/%d", created.Data.ID), nil, 200, nil)
	if err := export("http", "revoked", created.Data.Key); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("export with a revoked key: %v, want 401", err)
	}

	deadline := time.Now().Add(10 * time.Second)
	for {
		var svcs struct{ Data []struct{ Name string } }
		s.get("/api/v1/services?from=now-1h", 200, &svcs)
		got := map[string]bool{}
		for _, sv := range svcs.Data {
			got[sv.Name] = true
		}
		if got["keyed-http"] && got["keyed-grpc"] && got["keyed-ci"] {
			if got["unkeyed-http"] || got["unkeyed-grpc"] || got["revoked"] {
				t.Errorf("spans sent without a valid key were stored: %v", got)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("services after keyed exports: %v", got)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestSecurityHeaders checks the headers of every kind of answer of the UI
// port: a page, the login page, a redirect to it, an API answer and a 401.
func TestSecurityHeaders(t *testing.T) {
	s := start(t, t.TempDir())
	anon := s.anonymous()
	for _, c := range []struct {
		path   string
		anon   bool
		status int
		csp    string
	}{
		{"/", false, 200, "script-src 'self'"},
		{"/login", true, 200, "script-src 'self'"},
		{"/", true, 303, "default-src 'none'"},
		{"/api/v1/services", false, 200, "default-src 'none'"},
		{"/api/v1/services", true, 401, "default-src 'none'"},
		{"/healthz", true, 200, "default-src 'none'"},
	} {
		var resp *http.Response
		var err error
		if c.anon {
			resp, err = anon("GET", c.path, "", nil)
		} else {
			resp, err = s.client.Get("http://" + s.ui + c.path)
		}
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		h := resp.Header
		if resp.StatusCode != c.status || h.Get("X-Frame-Options") != "DENY" || h.Get("X-Content-Type-Options") != "nosniff" ||
			h.Get("Referrer-Policy") != "same-origin" || !strings.Contains(h.Get("Content-Security-Policy"), c.csp) ||
			!strings.Contains(h.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
			t.Errorf("GET %s (anonymous %v): %d, headers %v", c.path, c.anon, resp.StatusCode, h)
		}
	}
}
