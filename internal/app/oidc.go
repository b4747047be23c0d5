package app

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync"

	"github.com/fibinc/telltale/internal/auth"
	"github.com/fibinc/telltale/internal/auth/oidc"
)

// OIDC configures login through an OpenID Connect provider; the zero value
// (no Issuer) offers password login only.
type OIDC struct {
	Issuer, ClientID, ClientSecret string
	// RedirectURL is Telltale's callback as the provider knows it; default
	// <UI base URL>/auth/oidc/callback.
	RedirectURL string
	Scopes      []string // default openid, email, profile
	RoleClaim   string   // claim naming the user's role, e.g. groups
	RoleMap     map[string]string
	// DefaultRole is the role of users the provider gives none; default
	// viewer.
	DefaultRole auth.Role
}

// oidcLogin adapts the OIDC provider to auth's external login. The
// provider's discovery document is fetched at the first login, not at
// start, so that Telltale starts (and keeps its password logins) while the
// identity provider is down; a failed discovery is tried again at the next
// login.
type oidcLogin struct {
	opt oidc.Options

	mu sync.Mutex
	p  *oidc.Provider
}

func newOIDCLogin(c OIDC, uiBase string, log *slog.Logger) *oidcLogin {
	redirect := c.RedirectURL
	if redirect == "" {
		redirect = uiBase + "/auth/oidc/callback"
	}
	return &oidcLogin{opt: oidc.Options{Issuer: c.Issuer, ClientID: c.ClientID, ClientSecret: c.ClientSecret, RedirectURL: redirect,
		Scopes: c.Scopes, RoleClaim: c.RoleClaim, RoleMap: c.RoleMap, Logger: log}}
}

func (o *oidcLogin) provider(ctx context.Context) (*oidc.Provider, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.p != nil {
		return o.p, nil
	}
	p, err := oidc.New(ctx, o.opt)
	if err != nil {
		return nil, fmt.Errorf("cannot reach the identity provider %s: %w", o.opt.Issuer, err)
	}
	o.p = p
	return p, nil
}

func (o *oidcLogin) Begin(w http.ResponseWriter, r *http.Request, returnTo string) error {
	p, err := o.provider(r.Context())
	if err != nil {
		return err
	}
	return p.Begin(w, r, returnTo)
}

func (o *oidcLogin) Finish(w http.ResponseWriter, r *http.Request) (auth.ExternalIdentity, string, error) {
	p, err := o.provider(r.Context())
	if err != nil {
		return auth.ExternalIdentity{}, "/", err
	}
	id, returnTo, err := p.Finish(w, r)
	if err != nil {
		return auth.ExternalIdentity{}, returnTo, err
	}
	ext := auth.ExternalIdentity{Issuer: id.Issuer, Subject: id.Subject, Email: id.Email, Name: id.Name}
	if id.Role != "" {
		// The provider maps claims to role names; an unknown one is
		// treated as no role rather than failing the login.
		if role, err := auth.ParseRole(id.Role); err == nil {
			ext.Role = role
		}
	}
	return ext, returnTo, nil
}
