package oidctest

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

const (
	verifier    = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk" // RFC 7636 appendix B
	redirectURI = "http://rp.example/cb?keep=1"
)

func challenge(v string) string {
	h := sha256.Sum256([]byte(v))
	return base64.RawURLEncoding.EncodeToString(h[:])
}

func authorizeQuery() url.Values {
	return url.Values{
		"client_id": {"telltale"}, "redirect_uri": {redirectURI}, "response_type": {"code"},
		"scope": {"openid email"}, "state": {"st"}, "nonce": {"no"},
		"code_challenge": {challenge(verifier)}, "code_challenge_method": {"S256"},
	}
}

// authorize returns the query the provider redirects back with.
func authorize(t *testing.T, p *Provider, q url.Values) url.Values {
	t.Helper()
	resp, err := noRedirect.Get(p.URL + "/authorize?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := resp.Location()
	if resp.StatusCode != http.StatusFound || err != nil {
		t.Fatalf("/authorize answered %s (%v), want a redirect", resp.Status, err)
	}
	if !strings.HasPrefix(loc.String(), "http://rp.example/cb?") || loc.Query().Get("keep") != "1" {
		t.Fatalf("redirected to %s, want the redirect URI with its query kept", loc)
	}
	return loc.Query()
}

func exchange(t *testing.T, p *Provider, form url.Values, basic bool) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest("POST", p.URL+"/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basic {
		req.SetBasicAuth("telltale", "telltale-secret")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("token answer is not JSON: %v", err)
	}
	return resp.StatusCode, body
}

func tokenForm(code string) url.Values {
	return url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirectURI}, "code_verifier": {verifier}}
}

func TestCodeFlow(t *testing.T) {
	p := Start(t, Options{User: User{Subject: "s1", Claims: map[string]any{"groups": []string{"g"}}}})

	resp, err := http.Get(p.URL + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&doc)
	resp.Body.Close()
	if doc["issuer"] != p.URL || doc["token_endpoint"] != p.URL+"/token" || doc["userinfo_endpoint"] != p.URL+"/userinfo" {
		t.Errorf("discovery = %v", doc)
	}

	back := authorize(t, p, authorizeQuery())
	if back.Get("state") != "st" || back.Get("code") == "" {
		t.Fatalf("authorize sent back %v", back)
	}
	status, tok := exchange(t, p, tokenForm(back.Get("code")), true)
	if status != http.StatusOK {
		t.Fatalf("token: %d %v", status, tok)
	}

	// The ID token verifies with the published key and says what it should.
	resp, err = http.Get(p.URL + "/jwks")
	if err != nil {
		t.Fatal(err)
	}
	var keys jose.JSONWebKeySet
	_ = json.NewDecoder(resp.Body).Decode(&keys)
	resp.Body.Close()
	jws, err := jose.ParseSigned(tok["id_token"].(string), []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatal(err)
	}
	if len(keys.Keys) != 1 || keys.Keys[0].KeyID != jws.Signatures[0].Header.KeyID {
		t.Fatalf("JWKS %v does not hold the signing key", keys)
	}
	payload, err := jws.Verify(keys.Keys[0].Key)
	if err != nil {
		t.Fatalf("ID token does not verify: %v", err)
	}
	var claims map[string]any
	_ = json.Unmarshal(payload, &claims)
	if claims["iss"] != p.URL || claims["aud"] != "telltale" || claims["sub"] != "s1" || claims["nonce"] != "no" ||
		claims["email_verified"] != true || claims["groups"] == nil {
		t.Errorf("ID token claims = %v", claims)
	}

	req, _ := http.NewRequest("GET", p.URL+"/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+tok["access_token"].(string))
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var info map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&info)
	resp.Body.Close()
	if info["sub"] != "s1" || info["email"] != "user@example.com" {
		t.Errorf("userinfo = %v", info)
	}
	if st := p.Stats(); st.Authorizations != 1 || st.TokenRequests != 1 || st.TokensIssued != 1 || st.UserInfoRequests != 1 {
		t.Errorf("stats = %+v", st)
	}
}

func TestAuthorizeRefusals(t *testing.T) {
	p := Start(t, Options{})
	for _, tc := range []struct {
		name, key, value, wantError string
	}{
		{"no PKCE", "code_challenge", "", "invalid_request"},
		{"plain PKCE", "code_challenge_method", "plain", "invalid_request"},
		{"no openid scope", "scope", "email", "invalid_scope"},
		{"implicit flow", "response_type", "token", "unsupported_response_type"},
	} {
		q := authorizeQuery()
		q.Set(tc.key, tc.value)
		if got := authorize(t, p, q); got.Get("error") != tc.wantError || got.Get("code") != "" {
			t.Errorf("%s: sent back %v, want error %s", tc.name, got, tc.wantError)
		}
	}
	// An unknown client is not redirected anywhere.
	q := authorizeQuery()
	q.Set("client_id", "other")
	resp, err := noRedirect.Get(p.URL + "/authorize?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("unknown client: %s, want 400", resp.Status)
	}
	p.Update(func(o *Options) { o.Deny, o.DenyDescription = true, "no thanks" })
	if got := authorize(t, p, authorizeQuery()); got.Get("error") != "access_denied" || got.Get("error_description") != "no thanks" || got.Get("state") != "st" {
		t.Errorf("deny sent back %v", got)
	}
}

func TestTokenRefusals(t *testing.T) {
	var clock atomic.Int64 // Unix seconds; atomic because the server reads it
	p := Start(t, Options{Now: func() time.Time { return time.Unix(clock.Load(), 0) }})
	cases := []struct {
		name   string
		edit   func(url.Values)
		basic  bool
		later  time.Duration
		status int
		want   string
	}{
		{"secret in the form", func(f url.Values) { f.Set("client_id", "telltale"); f.Set("client_secret", "telltale-secret") }, false, 0, 200, ""},
		{"wrong secret", func(f url.Values) { f.Set("client_id", "telltale"); f.Set("client_secret", "x") }, false, 0, 401, "client authentication failed"},
		{"no client auth", func(url.Values) {}, false, 0, 401, "client authentication failed"},
		{"wrong verifier", func(f url.Values) { f.Set("code_verifier", verifier[1:]+"A") }, true, 0, 400, "PKCE verification failed"},
		{"no verifier", func(f url.Values) { f.Del("code_verifier") }, true, 0, 400, "PKCE verification failed"},
		{"other redirect_uri", func(f url.Values) { f.Set("redirect_uri", "http://rp.example/cb") }, true, 0, 400, "redirect_uri"},
		{"unknown code", func(f url.Values) { f.Set("code", "nope") }, true, 0, 400, "unknown code"},
		{"expired code", func(url.Values) {}, true, 2 * time.Minute, 400, "code expired"},
		{"other grant type", func(f url.Values) { f.Set("grant_type", "password") }, true, 0, 400, "only authorization_code"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			clock.Store(1_800_000_000)
			code := authorize(t, p, authorizeQuery()).Get("code")
			clock.Add(int64(tc.later / time.Second))
			form := tokenForm(code)
			tc.edit(form)
			status, body := exchange(t, p, form, tc.basic)
			if status != tc.status || (tc.want != "" && body["error_description"] != tc.want && !strings.Contains(body["error_description"].(string), tc.want)) {
				t.Errorf("token answered %d %v, want %d %q", status, body, tc.status, tc.want)
			}
			if tc.status == 200 {
				return
			}
			if p.Stats().LastTokenError == "" {
				t.Error("LastTokenError is empty after a failure")
			}
		})
	}
	// A code works once, even after a failed attempt.
	clock.Store(1_800_000_000)
	code := authorize(t, p, authorizeQuery()).Get("code")
	bad := tokenForm(code)
	bad.Set("code_verifier", "wrong")
	exchange(t, p, bad, true)
	if status, body := exchange(t, p, tokenForm(code), true); status != 400 || body["error_description"] != "code already used" {
		t.Errorf("second use of a code: %d %v", status, body)
	}
}
