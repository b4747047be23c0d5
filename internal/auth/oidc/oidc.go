// Package oidc signs users in with any OpenID Connect provider (Keycloak,
// Google, Dex, Okta, ...): the authorization code flow with PKCE (S256), a
// state and a nonce kept in an encrypted short-lived cookie, and an ID token
// verified against the provider's published keys. It knows nothing of
// Telltale's users and sessions: Finish says who the provider vouches for
// and the caller decides what that means. See docs/design/security.md.
package oidc

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// Options configure a Provider.
type Options struct {
	// Issuer is the provider's issuer URL; discovery reads
	// <Issuer>/.well-known/openid-configuration.
	Issuer       string
	ClientID     string
	ClientSecret string // may be empty for a public client (PKCE still applies)
	// RedirectURL is Telltale's callback, e.g.
	// https://telltale.example.com/auth/oidc/callback; it must be
	// registered with the provider.
	RedirectURL string
	// Scopes default to openid, email, profile; openid is always added.
	Scopes []string
	// RoleClaim names the claim that carries the user's role or groups,
	// e.g. "telltale_role", "groups" or "realm_access.roles" (a dotted name
	// walks into nested objects when no claim has the exact name).
	RoleClaim string
	// RoleMap maps claim values to viewer, editor or admin. Without it the
	// claim value itself must be a role name.
	RoleMap map[string]string
	// HTTPClient talks to the provider (default: a client with a 15 s
	// timeout).
	HTTPClient *http.Client
	Logger     *slog.Logger
	Now        func() time.Time
}

// Identity is who the provider says logged in.
type Identity struct {
	Issuer  string // the configured issuer
	Subject string // stable, unique within the issuer
	// Email is "" when the provider sent none or did not say it verified
	// it (no email_verified claim).
	Email string
	Name  string // name, else preferred_username, else ""
	// Role is viewer, editor or admin from the role claim, or "" when the
	// provider says nothing that maps to a role.
	Role string
}

// Errors of Finish; each is wrapped with what went wrong in detail.
var (
	// ErrDenied: the provider sent the user back with an error, e.g. the
	// user refused consent (access_denied).
	ErrDenied = errors.New("the identity provider refused the login")
	// ErrNoLogin: no valid login cookie, so no login was started in this
	// browser, it took too long, or the server restarted meanwhile.
	ErrNoLogin = errors.New("no OIDC login in progress")
	// ErrState: the callback's state is not this browser's login.
	ErrState = errors.New("OIDC state does not match this login")
	// ErrExchange: the code could not be exchanged for tokens.
	ErrExchange = errors.New("cannot exchange the OIDC authorization code")
	// ErrIDToken: the ID token or userinfo answer failed verification.
	ErrIDToken = errors.New("invalid OIDC ID token")
	// ErrEmailNotVerified: the provider sent an email it has not verified.
	ErrEmailNotVerified = errors.New("the identity provider has not verified the email address")
)

const (
	cookieName = "telltale_oidc"
	// loginTTL bounds the time between Begin and Finish.
	loginTTL = 10 * time.Minute
)

// Provider runs logins against one OpenID Connect provider. It is safe for
// concurrent use.
type Provider struct {
	issuer     string
	oauth      *oauth2.Config
	discovered *gooidc.Provider
	verifier   *gooidc.IDTokenVerifier
	client     *http.Client
	sealer     sealer
	cookiePath string
	secure     bool
	wantEmail  bool
	roleClaim  string
	roleMap    map[string]string
	now        func() time.Time
	log        *slog.Logger
}

// New discovers the provider. It fails when the provider cannot be reached
// or its discovery document names another issuer.
func New(ctx context.Context, opt Options) (*Provider, error) {
	if opt.Issuer == "" || opt.ClientID == "" || opt.RedirectURL == "" {
		return nil, errors.New("OIDC needs an issuer, a client ID and a redirect URL")
	}
	redirect, err := url.Parse(opt.RedirectURL)
	if err != nil || (redirect.Scheme != "http" && redirect.Scheme != "https") || redirect.Host == "" {
		return nil, fmt.Errorf("invalid OIDC redirect URL %q: want an absolute http(s) URL", opt.RedirectURL)
	}
	roleMap := make(map[string]string, len(opt.RoleMap))
	for k, v := range opt.RoleMap {
		r, ok := normalizeRole(v)
		if !ok {
			return nil, fmt.Errorf("invalid OIDC role map: %q maps to %q, want viewer, editor or admin", k, v)
		}
		roleMap[k] = r
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	log := opt.Logger.With("component", "oidc")
	if opt.HTTPClient == nil {
		opt.HTTPClient = &http.Client{Timeout: 15 * time.Second}
	}
	scopes := opt.Scopes
	if len(scopes) == 0 {
		scopes = []string{gooidc.ScopeOpenID, "email", "profile"}
	}
	if !slices.Contains(scopes, gooidc.ScopeOpenID) {
		scopes = append([]string{gooidc.ScopeOpenID}, scopes...)
	}

	clientCtx := gooidc.ClientContext(ctx, opt.HTTPClient)
	discovered, err := gooidc.NewProvider(clientCtx, opt.Issuer)
	if err != nil {
		return nil, fmt.Errorf("cannot discover the OIDC provider %s: %w", opt.Issuer, err)
	}
	var meta struct {
		PKCE        []string `json:"code_challenge_methods_supported"`
		AuthMethods []string `json:"token_endpoint_auth_methods_supported"`
	}
	if err := discovered.Claims(&meta); err != nil {
		return nil, fmt.Errorf("cannot read the OIDC discovery document of %s: %w", opt.Issuer, err)
	}
	if len(meta.PKCE) > 0 && !slices.Contains(meta.PKCE, "S256") {
		// Sent anyway: a provider that ignores PKCE still gets state and
		// nonce checks, and one that supports it silently is protected.
		log.Warn("the OIDC provider does not advertise PKCE S256", "issuer", opt.Issuer, "methods", meta.PKCE)
	}
	endpoint := discovered.Endpoint()
	endpoint.AuthStyle = authStyle(opt.ClientSecret, meta.AuthMethods)

	// The key set outlives this call (it refreshes keys in the
	// background), so it must not inherit ctx's cancellation.
	keyCtx := gooidc.ClientContext(context.WithoutCancel(ctx), opt.HTTPClient)
	p := &Provider{
		issuer: opt.Issuer,
		oauth: &oauth2.Config{
			ClientID:     opt.ClientID,
			ClientSecret: opt.ClientSecret,
			Endpoint:     endpoint,
			RedirectURL:  opt.RedirectURL,
			Scopes:       scopes,
		},
		discovered: discovered,
		verifier:   discovered.VerifierContext(keyCtx, &gooidc.Config{ClientID: opt.ClientID, Now: opt.Now}),
		client:     opt.HTTPClient,
		sealer:     newSealer(),
		cookiePath: cmpOr(redirect.EscapedPath(), "/"),
		secure:     redirect.Scheme == "https",
		wantEmail:  slices.Contains(scopes, "email"),
		roleClaim:  opt.RoleClaim,
		roleMap:    roleMap,
		now:        opt.Now,
		log:        log,
	}
	log.Info("OIDC provider discovered", "issuer", opt.Issuer, "client_id", opt.ClientID,
		"redirect_url", opt.RedirectURL, "scopes", scopes, "role_claim", opt.RoleClaim)
	return p, nil
}

// authStyle picks how the client authenticates to the token endpoint from
// what discovery advertises, rather than letting oauth2 guess (its guess
// sends every failed exchange twice).
func authStyle(secret string, methods []string) oauth2.AuthStyle {
	switch {
	case secret == "":
		return oauth2.AuthStyleInParams
	case len(methods) == 0 || slices.Contains(methods, "client_secret_basic"):
		// OIDC Discovery: client_secret_basic is the default when the
		// list is absent.
		return oauth2.AuthStyleInHeader
	case slices.Contains(methods, "client_secret_post"):
		return oauth2.AuthStyleInParams
	}
	return oauth2.AuthStyleAutoDetect
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// Begin starts a login: it sets the login cookie and redirects the browser
// to the provider. returnTo is where Finish will say to go afterwards; it
// must be a local path ("/errors?x=1"), anything else becomes "/".
func (p *Provider) Begin(w http.ResponseWriter, r *http.Request, returnTo string) error {
	st := loginState{
		State:    rand.Text(),
		Nonce:    rand.Text(),
		Verifier: oauth2.GenerateVerifier(),
		ReturnTo: SafeReturnTo(returnTo),
		Expires:  p.now().Add(loginTTL).Unix(),
	}
	value, err := p.sealer.seal(st)
	if err != nil {
		return fmt.Errorf("cannot start the OIDC login: %w", err)
	}
	http.SetCookie(w, &http.Cookie{
		Name:     cookieName,
		Value:    value,
		Path:     p.cookiePath,
		MaxAge:   int(loginTTL / time.Second),
		HttpOnly: true,
		Secure:   p.secure,
		SameSite: http.SameSiteLaxMode,
	})
	w.Header().Set("Cache-Control", "no-store")
	target := p.oauth.AuthCodeURL(st.State, gooidc.Nonce(st.Nonce), oauth2.S256ChallengeOption(st.Verifier))
	http.Redirect(w, r, target, http.StatusFound)
	return nil
}

// Finish completes a login on the callback request: it checks the state,
// exchanges the code (with the PKCE verifier), verifies the ID token and
// its nonce, and returns the identity and the returnTo given to Begin. The
// login cookie is cleared whatever the outcome, so a callback works once.
func (p *Provider) Finish(w http.ResponseWriter, r *http.Request) (Identity, string, error) {
	q := r.URL.Query()
	st, cookieErr := p.readCookie(r)
	http.SetCookie(w, &http.Cookie{
		Name: cookieName, Path: p.cookiePath, MaxAge: -1,
		HttpOnly: true, Secure: p.secure, SameSite: http.SameSiteLaxMode,
	})
	if code := q.Get("error"); code != "" {
		// Anyone can craft a callback URL: the provider's description is
		// repeated only when the state proves the provider sent it.
		err := fmt.Errorf("%w: %s", ErrDenied, printable(code, 64))
		if desc := printable(q.Get("error_description"), 200); desc != "" && cookieErr == nil && sameState(q.Get("state"), st.State) {
			err = fmt.Errorf("%w: %s: %s", ErrDenied, printable(code, 64), desc)
		}
		return Identity{}, "", err
	}
	if cookieErr != nil {
		return Identity{}, "", cookieErr
	}
	if !sameState(q.Get("state"), st.State) {
		return Identity{}, "", fmt.Errorf("%w: the callback's state is not the one this browser's login started with", ErrState)
	}
	code := q.Get("code")
	if code == "" {
		return Identity{}, "", fmt.Errorf("%w: the callback carries no code", ErrExchange)
	}

	ctx := gooidc.ClientContext(r.Context(), p.client)
	tok, err := p.oauth.Exchange(ctx, code, oauth2.VerifierOption(st.Verifier))
	if err != nil {
		return Identity{}, "", exchangeError(err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return Identity{}, "", fmt.Errorf("%w: the token response carries no id_token", ErrIDToken)
	}
	idt, err := p.verifier.Verify(ctx, raw)
	if err != nil {
		return Identity{}, "", fmt.Errorf("%w: %s", ErrIDToken, printable(strings.TrimPrefix(err.Error(), "oidc: "), 300))
	}
	if !sameState(idt.Nonce, st.Nonce) {
		return Identity{}, "", fmt.Errorf("%w: the nonce is not this login's", ErrIDToken)
	}
	if idt.Subject == "" {
		return Identity{}, "", fmt.Errorf("%w: no subject", ErrIDToken)
	}
	var c claims
	if err := idt.Claims(&c.m); err != nil {
		return Identity{}, "", fmt.Errorf("%w: cannot decode claims: %v", ErrIDToken, err)
	}
	// OIDC Core 3.1.3.7: a token for several audiences names the party it
	// was issued to in azp, which must be us.
	if azp, _ := c.m["azp"].(string); azp != "" && azp != p.oauth.ClientID {
		return Identity{}, "", fmt.Errorf("%w: issued to another client (azp %q)", ErrIDToken, azp)
	}
	if err := p.addUserInfo(ctx, tok, idt.Subject, &c); err != nil {
		return Identity{}, "", err
	}

	id := Identity{Issuer: p.issuer, Subject: idt.Subject, Name: c.str("name")}
	if id.Name == "" {
		id.Name = c.str("preferred_username")
	}
	if email := c.str("email"); email != "" {
		// An email the provider says it has not verified fails the login;
		// one it says nothing about (Entra ID) is dropped, since it may be
		// anyone's.
		switch verified, present := c.verified(); {
		case verified:
			id.Email = email
		case present:
			return Identity{}, "", fmt.Errorf("%w: %s", ErrEmailNotVerified, printable(email, 200))
		default:
			p.log.Debug("OIDC email dropped: the provider does not say it is verified", "subject", id.Subject)
		}
	}
	if p.roleClaim != "" {
		values := c.values(p.roleClaim)
		id.Role = pickRole(values, p.roleMap)
		if id.Role == "" {
			p.log.Debug("OIDC role claim maps to no role", "subject", id.Subject, "claim", p.roleClaim, "values", values)
		}
	}
	return id, st.ReturnTo, nil
}

// addUserInfo fetches /userinfo when the ID token lacks the email or the
// role claim (some providers keep them out of ID tokens). Its subject must
// be the ID token's (OIDC Core 5.3.2); ID token claims win over it.
func (p *Provider) addUserInfo(ctx context.Context, tok *oauth2.Token, subject string, c *claims) error {
	needEmail := p.wantEmail && c.str("email") == ""
	needRole := p.roleClaim != "" && !c.has(p.roleClaim)
	if (!needEmail && !needRole) || p.discovered.UserInfoEndpoint() == "" {
		return nil
	}
	ui, err := p.discovered.UserInfo(ctx, oauth2.StaticTokenSource(tok))
	if err != nil {
		return fmt.Errorf("%w: cannot read userinfo: %s", ErrIDToken, printable(strings.TrimPrefix(err.Error(), "oidc: "), 300))
	}
	if ui.Subject != subject {
		return fmt.Errorf("%w: userinfo is about another subject", ErrIDToken)
	}
	var extra map[string]any
	if err := ui.Claims(&extra); err != nil {
		return fmt.Errorf("%w: cannot decode userinfo: %v", ErrIDToken, err)
	}
	if c.m == nil {
		c.m = map[string]any{}
	}
	for k, v := range extra {
		if _, ok := c.m[k]; !ok {
			c.m[k] = v
		}
	}
	return nil
}

func (p *Provider) readCookie(r *http.Request) (loginState, error) {
	ck, err := r.Cookie(cookieName)
	if err != nil {
		return loginState{}, fmt.Errorf("%w: the login cookie is missing (expired, or the browser did not send it)", ErrNoLogin)
	}
	return p.sealer.open(ck.Value, p.now())
}

func sameState(got, want string) bool {
	return want != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// exchangeError names what the token endpoint said without repeating its
// whole answer.
func exchangeError(err error) error {
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		return fmt.Errorf("%w: %w", ErrExchange, err)
	}
	what := printable(re.ErrorCode, 64)
	if what == "" && re.Response != nil {
		what = "HTTP " + re.Response.Status
	}
	if d := printable(re.ErrorDescription, 200); d != "" {
		what += ": " + d
	}
	return fmt.Errorf("%w: the token endpoint answered %s", ErrExchange, what)
}

// printable keeps text from outside fit for a log line or an error page:
// no control characters, at most max runes.
func printable(s string, max int) string {
	var b strings.Builder
	n := 0
	for _, r := range s {
		if n == max {
			b.WriteString("…")
			break
		}
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == '\uFFFD' {
			r = '?'
		}
		b.WriteRune(r)
		n++
	}
	return b.String()
}
