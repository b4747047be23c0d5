// Package oidctest runs a small but real OpenID Connect provider for tests:
// discovery, a JWKS holding an RSA key made at start, an authorization
// endpoint without a UI that answers at once for one configured user, a
// token endpoint that checks the client, the code, the redirect URI and the
// PKCE verifier, and a userinfo endpoint. Options make it misbehave in the
// ways a relying party must catch (denied logins, tampered or expired ID
// tokens, tokens signed with a key it does not publish).
package oidctest

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// User is who the provider logs in.
type User struct {
	Subject string // default "user-1"
	Email   string // default "user@example.com"; "-" for none
	Name    string // default "Test User"; "-" for none
	// EmailUnverified sends email_verified false.
	EmailUnverified bool
	// Claims are added to the ID token and the userinfo answer, e.g.
	// "groups": []string{"admins"} or "telltale_role": "editor".
	Claims map[string]any
}

// Options configure the provider. The zero value works: it logs in the
// default user for client "telltale" with secret "telltale-secret".
type Options struct {
	ClientID     string // default "telltale"
	ClientSecret string // default "telltale-secret"
	User         User

	// Deny makes /authorize send the browser back with
	// error=access_denied and DenyDescription.
	Deny            bool
	DenyDescription string

	// TokenTTL is the ID token lifetime (default 5 minutes); a negative
	// value issues tokens that have already expired.
	TokenTTL time.Duration
	// Now is the provider's clock (default time.Now).
	Now func() time.Time

	// ClaimsInUserInfoOnly leaves email, name and User.Claims out of the
	// ID token: the relying party finds them only at /userinfo.
	ClaimsInUserInfoOnly bool
	// NoUserInfo neither serves nor advertises /userinfo.
	NoUserInfo bool
	// SignWithOtherKey signs ID tokens with a key the JWKS does not hold.
	SignWithOtherKey bool
	// EditIDToken, when set, may change the ID token's claims just before
	// they are signed (wrong audience, issuer, nonce, ...).
	EditIDToken func(claims map[string]any)
	// EditUserInfo, when set, may change the /userinfo answer.
	EditUserInfo func(claims map[string]any)
}

// Stats count what the provider was asked.
type Stats struct {
	Authorizations   int // /authorize requests that reached a decision
	Denials          int // of which answered access_denied or another error
	TokenRequests    int // /token requests
	TokensIssued     int // of which succeeded
	UserInfoRequests int
	// LastTokenError is the error_description of the last failed /token
	// request, e.g. "PKCE verification failed".
	LastTokenError string
}

// Provider is a running test provider. Its URL is the issuer.
type Provider struct {
	URL string

	srv *httptest.Server
	key *rsa.PrivateKey

	mu       sync.Mutex
	opt      Options
	otherKey *rsa.PrivateKey
	codes    map[string]*grant
	tokens   map[string]User // access token -> user at the time of issue
	stats    Stats
	lastAuth url.Values
}

type grant struct {
	clientID, redirectURI, challenge, nonce string
	user                                    User
	expires                                 time.Time
	used                                    bool
}

const (
	keyID   = "oidctest-1"
	codeTTL = time.Minute
)

// Start runs a provider until the test ends.
func Start(t testing.TB, opt Options) *Provider {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatalf("oidctest: cannot generate key: %v", err)
	}
	p := &Provider{key: key, codes: map[string]*grant{}, tokens: map[string]User{}}
	p.opt = withDefaults(opt)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", p.discovery)
	mux.HandleFunc("GET /jwks", p.jwks)
	mux.HandleFunc("GET /authorize", p.authorize)
	mux.HandleFunc("POST /token", p.token)
	mux.HandleFunc("GET /userinfo", p.userinfo)
	p.srv = httptest.NewServer(mux)
	p.URL = p.srv.URL
	t.Cleanup(p.srv.Close)
	return p
}

func withDefaults(o Options) Options {
	if o.ClientID == "" {
		o.ClientID = "telltale"
	}
	if o.ClientSecret == "" {
		o.ClientSecret = "telltale-secret"
	}
	if o.User.Subject == "" {
		o.User.Subject = "user-1"
	}
	if o.User.Email == "" {
		o.User.Email = "user@example.com"
	}
	if o.User.Name == "" {
		o.User.Name = "Test User"
	}
	if o.TokenTTL == 0 {
		o.TokenTTL = 5 * time.Minute
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// Options returns the options in force, defaults filled in.
func (p *Provider) Options() Options {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.opt
}

// Update changes the options for the requests that follow, so that one
// provider (and its key) serves a whole table of cases.
func (p *Provider) Update(f func(*Options)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	f(&p.opt)
	p.opt = withDefaults(p.opt)
}

// Stats returns the counts so far.
func (p *Provider) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stats
}

// LastAuthorization returns the query of the last /authorize request.
func (p *Provider) LastAuthorization() url.Values {
	p.mu.Lock()
	defer p.mu.Unlock()
	return maps.Clone(p.lastAuth)
}

// SignIDToken signs any claims with the provider's published key.
func (p *Provider) SignIDToken(claims map[string]any) (string, error) {
	return sign(p.key, keyID, claims)
}

func sign(key *rsa.PrivateKey, kid string, claims map[string]any) (string, error) {
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: key, KeyID: kid}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return "", err
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", err
	}
	return jws.CompactSerialize()
}

func (p *Provider) discovery(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	noUserInfo := p.opt.NoUserInfo
	p.mu.Unlock()
	doc := map[string]any{
		"issuer":                                p.URL,
		"authorization_endpoint":                p.URL + "/authorize",
		"token_endpoint":                        p.URL + "/token",
		"jwks_uri":                              p.URL + "/jwks",
		"response_types_supported":              []string{"code"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"code_challenge_methods_supported":      []string{"S256"},
		"scopes_supported":                      []string{"openid", "email", "profile"},
		"token_endpoint_auth_methods_supported": []string{"client_secret_basic", "client_secret_post"},
	}
	if !noUserInfo {
		doc["userinfo_endpoint"] = p.URL + "/userinfo"
	}
	writeJSON(w, http.StatusOK, doc)
}

func (p *Provider) jwks(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
		{Key: &p.key.PublicKey, KeyID: keyID, Algorithm: string(jose.RS256), Use: "sig"},
	}})
}

// authorize answers at once, as a provider would after the user logged in
// and consented. Bad client or redirect URI get a plain 400 (never a
// redirect to an unchecked URI), as RFC 6749 4.1.2.1 asks.
func (p *Provider) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.lastAuth = q
	if q.Get("client_id") != p.opt.ClientID {
		http.Error(w, "unknown client_id", http.StatusBadRequest)
		return
	}
	back, err := url.Parse(q.Get("redirect_uri"))
	if err != nil || !back.IsAbs() {
		http.Error(w, "invalid redirect_uri", http.StatusBadRequest)
		return
	}
	p.stats.Authorizations++
	reply := back.Query()
	if s := q.Get("state"); s != "" {
		reply.Set("state", s)
	}
	fail := func(code, desc string) {
		p.stats.Denials++
		reply.Set("error", code)
		if desc != "" {
			reply.Set("error_description", desc)
		}
		back.RawQuery = reply.Encode()
		http.Redirect(w, r, back.String(), http.StatusFound)
	}
	switch {
	case q.Get("response_type") != "code":
		fail("unsupported_response_type", "only the code flow is supported")
		return
	case !slices.Contains(strings.Fields(q.Get("scope")), "openid"):
		fail("invalid_scope", "scope must include openid")
		return
	case q.Get("code_challenge_method") != "S256" || len(q.Get("code_challenge")) != 43:
		fail("invalid_request", "PKCE with S256 is required")
		return
	case p.opt.Deny:
		fail("access_denied", p.opt.DenyDescription)
		return
	}
	code := rand.Text()
	p.codes[code] = &grant{
		clientID:    p.opt.ClientID,
		redirectURI: q.Get("redirect_uri"),
		challenge:   q.Get("code_challenge"),
		nonce:       q.Get("nonce"),
		user:        p.opt.User,
		expires:     p.opt.Now().Add(codeTTL),
	}
	reply.Set("code", code)
	back.RawQuery = reply.Encode()
	http.Redirect(w, r, back.String(), http.StatusFound)
}

func (p *Provider) token(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stats.TokenRequests++
	fail := func(status int, code, desc string) {
		p.stats.LastTokenError = desc
		writeJSON(w, status, map[string]string{"error": code, "error_description": desc})
	}
	if err := r.ParseForm(); err != nil {
		fail(http.StatusBadRequest, "invalid_request", "cannot parse the form")
		return
	}
	id, secret, basic := r.BasicAuth()
	if basic {
		// RFC 6749 2.3.1: the credentials are form-encoded inside Basic.
		id, _ = url.QueryUnescape(id)
		secret, _ = url.QueryUnescape(secret)
	} else {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	if id != p.opt.ClientID || subtle.ConstantTimeCompare([]byte(secret), []byte(p.opt.ClientSecret)) != 1 {
		fail(http.StatusUnauthorized, "invalid_client", "client authentication failed")
		return
	}
	if r.PostForm.Get("grant_type") != "authorization_code" {
		fail(http.StatusBadRequest, "unsupported_grant_type", "only authorization_code is supported")
		return
	}
	g := p.codes[r.PostForm.Get("code")]
	switch {
	case g == nil:
		fail(http.StatusBadRequest, "invalid_grant", "unknown code")
		return
	case g.used:
		fail(http.StatusBadRequest, "invalid_grant", "code already used")
		return
	}
	// A code is good for one attempt, failed or not: a guessed verifier
	// must not get a second try.
	g.used = true
	challenge := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
	switch {
	case p.opt.Now().After(g.expires):
		fail(http.StatusBadRequest, "invalid_grant", "code expired")
		return
	case g.clientID != id:
		fail(http.StatusBadRequest, "invalid_grant", "code issued to another client")
		return
	case r.PostForm.Get("redirect_uri") != g.redirectURI:
		fail(http.StatusBadRequest, "invalid_grant", "redirect_uri does not match the authorization request")
		return
	case base64.RawURLEncoding.EncodeToString(challenge[:]) != g.challenge:
		fail(http.StatusBadRequest, "invalid_grant", "PKCE verification failed")
		return
	}

	now := p.opt.Now()
	claims := map[string]any{
		"iss": p.URL,
		"sub": g.user.Subject,
		"aud": id,
		"iat": now.Unix(),
		"exp": now.Add(p.opt.TokenTTL).Unix(),
	}
	if g.nonce != "" {
		claims["nonce"] = g.nonce
	}
	if !p.opt.ClaimsInUserInfoOnly {
		maps.Copy(claims, profileClaims(g.user))
	}
	if p.opt.EditIDToken != nil {
		p.opt.EditIDToken(claims)
	}
	key, kid := p.key, keyID
	if p.opt.SignWithOtherKey {
		if p.otherKey == nil {
			k, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				fail(http.StatusInternalServerError, "server_error", "cannot generate key")
				return
			}
			p.otherKey = k
		}
		key, kid = p.otherKey, "oidctest-other"
	}
	idToken, err := sign(key, kid, claims)
	if err != nil {
		fail(http.StatusInternalServerError, "server_error", "cannot sign the ID token")
		return
	}
	access := rand.Text()
	p.tokens[access] = g.user
	p.stats.TokensIssued++
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": access,
		"token_type":   "Bearer",
		"expires_in":   int(p.opt.TokenTTL / time.Second),
		"id_token":     idToken,
	})
}

func (p *Provider) userinfo(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.opt.NoUserInfo {
		http.NotFound(w, r)
		return
	}
	p.stats.UserInfoRequests++
	access, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	u, known := p.tokens[access]
	if !ok || !known {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_token"})
		return
	}
	claims := profileClaims(u)
	claims["sub"] = u.Subject
	if p.opt.EditUserInfo != nil {
		p.opt.EditUserInfo(claims)
	}
	writeJSON(w, http.StatusOK, claims)
}

func profileClaims(u User) map[string]any {
	c := map[string]any{}
	if u.Email != "-" {
		c["email"] = u.Email
		c["email_verified"] = !u.EmailUnverified
	}
	if u.Name != "-" {
		c["name"] = u.Name
	}
	maps.Copy(c, u.Claims)
	return c
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
