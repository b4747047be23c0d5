package auth

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/fibinc/telltale/internal/state"
)

// Token is an API token as the API shows it (never the token itself,
// which only its creation answers with).
type Token struct {
	ID         int64     `json:"id"`
	UserID     int64     `json:"user_id"`
	User       string    `json:"user"`
	Name       string    `json:"name"`
	Role       Role      `json:"role"`
	Prefix     string    `json:"prefix"`
	CreatedAt  time.Time `json:"created_at"`
	ExpiresAt  time.Time `json:"expires_at,omitzero"`
	LastUsedAt time.Time `json:"last_used_at,omitzero"`
	RevokedAt  time.Time `json:"revoked_at,omitzero"`
	// Active is false once revoked or expired.
	Active bool `json:"active"`
}

func (s *Service) tokenOf(t state.APIToken, user string) Token {
	role, _ := ParseRole(t.Role)
	now := s.now()
	return Token{ID: t.ID, UserID: t.UserID, User: user, Name: t.Name, Role: role, Prefix: t.Prefix, CreatedAt: t.CreatedAt,
		ExpiresAt: t.ExpiresAt, LastUsedAt: t.LastUsedAt, RevokedAt: t.RevokedAt,
		Active: t.RevokedAt.IsZero() && (t.ExpiresAt.IsZero() || now.Before(t.ExpiresAt))}
}

// tokenLen is the length of the random part of a token: 24 bytes in
// base64url.
const tokenLen = 32

// validToken reports whether tok has the shape of a token: tt_ and 32
// base64url characters.
func validToken(tok string) bool {
	rest, ok := strings.CutPrefix(tok, TokenPrefix)
	return ok && len(rest) == tokenLen && validB64(rest)
}

func validB64(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// tokenPrincipal returns the principal of an API token; a zero Principal
// for a token that does not work (malformed, unknown, expired, revoked,
// user disabled or deleted).
func (s *Service) tokenPrincipal(ctx context.Context, tok string) (Principal, error) {
	if !validToken(tok) {
		return Principal{}, nil
	}
	h := digest(tok)
	now := s.now()
	s.mu.Lock()
	c := s.cache[h]
	var p Principal
	touch := false
	if c != nil {
		if !c.expires.IsZero() && !now.Before(c.expires) {
			delete(s.cache, h)
			c = nil
		} else {
			p = c.p
			if now.Sub(c.touched) >= touchEvery {
				c.touched, touch = now, true
			}
		}
	}
	s.mu.Unlock()
	if c != nil {
		if touch {
			s.touchToken(ctx, p.TokenID, now)
		}
		return p, nil
	}

	t, err := s.store.APITokenByHash(ctx, h)
	if errors.Is(err, state.ErrNotFound) {
		return Principal{}, nil
	}
	if err != nil {
		return Principal{}, err
	}
	if !t.RevokedAt.IsZero() || !t.ExpiresAt.IsZero() && !now.Before(t.ExpiresAt) {
		return Principal{}, nil
	}
	u, err := s.store.User(ctx, t.UserID)
	if errors.Is(err, state.ErrNotFound) {
		return Principal{}, nil
	}
	if err != nil {
		return Principal{}, err
	}
	urole, _ := ParseRole(u.Role)
	trole, _ := ParseRole(t.Role)
	role := min(urole, trole)
	if u.Disabled || role == RoleNone {
		return Principal{}, nil
	}
	p = Principal{UserID: u.ID, Name: u.Name, Role: role, TokenID: t.ID}
	s.touchToken(ctx, t.ID, now)
	s.remember(h, &cached{p: p, expires: t.ExpiresAt, touched: now})
	return p, nil
}

func (s *Service) touchToken(ctx context.Context, id int64, now time.Time) {
	if err := s.store.TouchAPIToken(ctx, id, now); err != nil && !errors.Is(err, state.ErrNotFound) {
		s.log.Warn("cannot record an API token's use", "token", id, "err", err)
	}
}

// NewToken is what CreateToken needs.
type NewToken struct {
	Name string `json:"name"`
	// Role caps the token; RoleNone means the user's role.
	Role Role `json:"role"`
	// ExpiresAt ends the token; zero: never.
	ExpiresAt time.Time `json:"expires_at"`
}

// CreateToken creates an API token of the request's user and returns it
// with the token itself, which is not shown again.
func (s *Service) CreateToken(r *http.Request, nt NewToken) (Token, string, error) {
	p, ok := FromContext(r.Context())
	if !ok {
		return Token{}, "", errorf(http.StatusUnauthorized, "not logged in")
	}
	nt.Name = strings.TrimSpace(nt.Name)
	if nt.Name == "" || len(nt.Name) > 100 {
		return Token{}, "", errorf(http.StatusBadRequest, "invalid token name %q: want 1 to 100 bytes", clip(nt.Name, 100))
	}
	if nt.Role == RoleNone {
		nt.Role = p.Role
	}
	if nt.Role < RoleViewer || nt.Role > RoleAdmin {
		return Token{}, "", errorf(http.StatusBadRequest, "invalid role %s", nt.Role)
	}
	if nt.Role > p.Role {
		return Token{}, "", errorf(http.StatusForbidden, "a %s cannot create a token with role %s", p.Role, nt.Role)
	}
	now := s.now()
	if !nt.ExpiresAt.IsZero() && !nt.ExpiresAt.After(now) {
		return Token{}, "", errorf(http.StatusBadRequest, "the expiry %s is in the past", nt.ExpiresAt.UTC().Format(time.RFC3339))
	}
	tok := TokenPrefix + randomToken(24)
	t, err := s.store.CreateAPIToken(r.Context(), state.APIToken{UserID: p.UserID, Name: nt.Name, Role: nt.Role.String(), Hash: digest(tok),
		Prefix: tok[:len(TokenPrefix)+6], CreatedAt: now, ExpiresAt: nt.ExpiresAt})
	if err != nil {
		return Token{}, "", err
	}
	detail := "name " + t.Name + ", role " + t.Role
	if !t.ExpiresAt.IsZero() {
		detail += ", expires " + t.ExpiresAt.Format(time.RFC3339)
	}
	s.auditReq(r, state.AuditEntry{Action: "token.create", Target: target("token", t.ID), Detail: detail, Outcome: state.AuditOK})
	return s.tokenOf(t, p.Name), tok, nil
}

// Tokens returns the request's user's tokens; an admin's, every user's.
func (s *Service) Tokens(r *http.Request) ([]Token, error) {
	p, ok := FromContext(r.Context())
	if !ok {
		return nil, errorf(http.StatusUnauthorized, "not logged in")
	}
	of := p.UserID
	if p.Role == RoleAdmin {
		of = 0
	}
	ts, err := s.store.APITokens(r.Context(), of)
	if err != nil {
		return nil, err
	}
	names := map[int64]string{p.UserID: p.Name}
	if of == 0 {
		us, err := s.store.Users(r.Context())
		if err != nil {
			return nil, err
		}
		for _, u := range us {
			names[u.ID] = u.Name
		}
	}
	out := make([]Token, len(ts))
	for i, t := range ts {
		out[i] = s.tokenOf(t, names[t.UserID])
	}
	return out, nil
}

// RevokeToken revokes a token of the request's user (an admin: of anyone).
func (s *Service) RevokeToken(r *http.Request, id int64) error {
	p, ok := FromContext(r.Context())
	if !ok {
		return errorf(http.StatusUnauthorized, "not logged in")
	}
	t, err := s.store.APIToken(r.Context(), id)
	if err == nil && t.UserID != p.UserID && p.Role < RoleAdmin {
		// Someone else's token is none of the user's business: as if
		// it did not exist.
		err = state.ErrNotFound
	}
	if errors.Is(err, state.ErrNotFound) {
		return errorf(http.StatusNotFound, "there is no API token %d", id)
	}
	if err != nil {
		return err
	}
	if err := s.store.RevokeAPIToken(r.Context(), id, s.now()); err != nil {
		return err
	}
	s.forgetToken(id)
	s.auditReq(r, state.AuditEntry{Action: "token.revoke", Target: target("token", id), Detail: "name " + t.Name, Outcome: state.AuditOK})
	return nil
}
