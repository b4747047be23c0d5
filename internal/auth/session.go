package auth

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/fibinc/telltale/internal/state"
)

// Login checks a name and password and starts a session (its cookie is
// set on w). Every failure is ErrBadLogin, or a 429 *Error once the
// client or the name has failed too often; unknown names cost a hash like
// known ones.
func (s *Service) Login(w http.ResponseWriter, r *http.Request, name, password string) (User, error) {
	u, _, err := s.login(w, r, name, password)
	return u, err
}

// login is Login that also returns the session's CSRF token.
func (s *Service) login(w http.ResponseWriter, r *http.Request, name, password string) (User, string, error) {
	ctx := r.Context()
	ip := s.opt.ClientIP(r)
	now := s.now()
	logName := clip(name, 64)
	if wait := s.limiter.blocked(now, "ip:"+ip, "name:"+strings.ToLower(name)); wait > 0 {
		s.auditReq(r, state.AuditEntry{Actor: logName, Action: "login", Detail: "too many failed logins", Outcome: state.AuditDenied})
		secs := int((wait + time.Second - 1) / time.Second)
		return User{}, "", &Error{Status: http.StatusTooManyRequests, RetryAfter: time.Duration(secs) * time.Second,
			Message: fmt.Sprintf("too many failed logins; try again in %d seconds", secs)}
	}
	var u state.User
	var err error
	why := ""
	if CheckName(name) != nil || len(password) > MaxPassword {
		why = "invalid name or password"
	} else if u, err = s.store.UserByName(ctx, name); errors.Is(err, state.ErrNotFound) {
		why = "no such user"
	} else if err != nil {
		return User{}, "", err
	}
	// Unknown users, disabled ones and those without a password are
	// checked against a dummy hash, so that the answer takes as long.
	phc := u.PasswordHash
	if why != "" || u.Disabled {
		phc = ""
	}
	ok, err := s.hash.Verify(ctx, password, phc)
	if err != nil {
		return User{}, "", err
	}
	if !ok {
		switch {
		case why != "":
		case u.Disabled:
			why = "user disabled"
		case u.PasswordHash == "":
			why = "user has no password (external login)"
		default:
			why = "wrong password"
		}
		s.limiter.fail(now, "ip:"+ip, "name:"+strings.ToLower(name))
		s.auditReq(r, state.AuditEntry{Actor: logName, ActorID: u.ID, Action: "login", Detail: why, Outcome: state.AuditFailed})
		return User{}, "", ErrBadLogin
	}
	s.limiter.reset("name:" + strings.ToLower(name))
	if s.hash.NeedsRehash(u.PasswordHash) {
		if h, err := s.hash.Hash(ctx, password); err == nil {
			u.PasswordHash = h
		}
	}
	u.LastLoginAt = now
	if err := s.store.UpdateUser(ctx, u); err != nil {
		return User{}, "", err
	}
	csrf, err := s.startSession(w, r, u)
	if err != nil {
		return User{}, "", err
	}
	s.auditReq(r, state.AuditEntry{Actor: u.Name, ActorID: u.ID, Action: "login", Detail: "password", Outcome: state.AuditOK})
	return userOf(u), csrf, nil
}

// startSession stores a new session of u and sets its cookie.
func (s *Service) startSession(w http.ResponseWriter, r *http.Request, u state.User) (csrf string, err error) {
	tok := randomToken(32)
	now := s.now()
	se := state.Session{Hash: digest(tok), UserID: u.ID, CSRF: randomToken(32), CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(s.opt.SessionTTL),
		IP: s.opt.ClientIP(r), UserAgent: clip(r.UserAgent(), 200)}
	if err := s.store.CreateSession(r.Context(), se); err != nil {
		return "", err
	}
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: tok, Path: "/", Expires: se.ExpiresAt, MaxAge: int(s.opt.SessionTTL / time.Second),
		HttpOnly: true, Secure: s.opt.SecureCookie(r), SameSite: http.SameSiteLaxMode})
	return se.CSRF, nil
}

// Logout ends the request's session, if any, and clears its cookie.
func (s *Service) Logout(w http.ResponseWriter, r *http.Request) error {
	c, err := r.Cookie(SessionCookie)
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: s.opt.SecureCookie(r), SameSite: http.SameSiteLaxMode})
	if err != nil || !validSessionToken(c.Value) {
		return nil
	}
	h := digest(c.Value)
	s.forget(h, 0)
	if err := s.store.DeleteSession(r.Context(), h); err != nil {
		return err
	}
	s.auditReq(r, state.AuditEntry{Action: "logout", Outcome: state.AuditOK})
	return nil
}

// LoginCSRF returns the login form's CSRF token, setting its cookie when
// the browser has none: the form posts it back and Login's caller checks
// the two match (CheckLoginCSRF), so that another site cannot log a
// browser into an account of its choosing.
func (s *Service) LoginCSRF(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(LoginCSRFCookie); err == nil && validSessionToken(c.Value) {
		return c.Value
	}
	tok := randomToken(32)
	http.SetCookie(w, &http.Cookie{Name: LoginCSRFCookie, Value: tok, Path: "/", HttpOnly: true, Secure: s.opt.SecureCookie(r), SameSite: http.SameSiteLaxMode})
	return tok
}

// CheckLoginCSRF reports whether a login form's csrf field matches its
// cookie.
func (s *Service) CheckLoginCSRF(r *http.Request, field string) bool {
	c, err := r.Cookie(LoginCSRFCookie)
	return err == nil && validSessionToken(c.Value) && subtle.ConstantTimeCompare([]byte(c.Value), []byte(field)) == 1
}

// validSessionToken reports whether s looks like a token of randomToken(32):
// 43 base64url characters. Anything else is not looked up.
func validSessionToken(s string) bool {
	if len(s) != 43 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// credential is what a request carries.
type credential int

const (
	credNone    credential = iota
	credSession            // a session cookie
	credToken              // Authorization: Bearer tt_...
	credBad                // a token that is malformed, unknown, expired or revoked
)

// authenticate finds the request's principal.
func (s *Service) authenticate(r *http.Request) (Principal, credential, error) {
	if a := r.Header.Get("Authorization"); a != "" {
		scheme, tok, _ := strings.Cut(a, " ")
		tok = strings.TrimSpace(tok)
		if strings.EqualFold(scheme, "Bearer") && strings.HasPrefix(tok, TokenPrefix) {
			p, err := s.tokenPrincipal(r.Context(), tok)
			if err != nil {
				return Principal{}, credBad, err
			}
			if p.UserID == 0 {
				return Principal{}, credBad, nil
			}
			return p, credToken, nil
		}
		// Other schemes and tokens are someone else's (push checks
		// carry their own): not ours to judge.
	}
	c, err := r.Cookie(SessionCookie)
	if err != nil || !validSessionToken(c.Value) {
		return Principal{}, credNone, nil
	}
	p, err := s.sessionPrincipal(r.Context(), c.Value)
	if err != nil || p.UserID == 0 {
		return Principal{}, credNone, err
	}
	return p, credSession, nil
}

// sessionPrincipal returns the principal of a session token; a zero
// Principal for none (unknown, expired, idle, user disabled).
func (s *Service) sessionPrincipal(ctx context.Context, tok string) (Principal, error) {
	h := digest(tok)
	now := s.now()
	s.mu.Lock()
	c := s.cache[h]
	if c != nil {
		if !now.Before(c.expires) || now.Sub(c.lastSeen) >= s.opt.IdleTimeout {
			delete(s.cache, h)
			c = nil
		} else {
			c.lastSeen = now
		}
	}
	var touch bool
	var p Principal
	if c != nil {
		p = c.p
		if now.Sub(c.touched) >= touchEvery {
			c.touched, touch = now, true
		}
	}
	s.mu.Unlock()
	if c != nil {
		if touch {
			if err := s.store.TouchSession(ctx, h, now); err != nil && !errors.Is(err, state.ErrNotFound) {
				s.log.Warn("cannot record a session's use", "err", err)
			}
		}
		return p, nil
	}

	se, err := s.store.Session(ctx, h)
	if errors.Is(err, state.ErrNotFound) {
		return Principal{}, nil
	}
	if err != nil {
		return Principal{}, err
	}
	if !now.Before(se.ExpiresAt) || now.Sub(se.LastSeenAt) >= s.opt.IdleTimeout {
		if err := s.store.DeleteSession(ctx, h); err != nil {
			s.log.Warn("cannot delete an expired session", "err", err)
		}
		return Principal{}, nil
	}
	u, err := s.store.User(ctx, se.UserID)
	if errors.Is(err, state.ErrNotFound) {
		return Principal{}, nil
	}
	if err != nil {
		return Principal{}, err
	}
	role, _ := ParseRole(u.Role)
	if u.Disabled || role == RoleNone {
		return Principal{}, nil
	}
	p = Principal{UserID: u.ID, Name: u.Name, Role: role, CSRF: se.CSRF}
	if err := s.store.TouchSession(ctx, h, now); err != nil && !errors.Is(err, state.ErrNotFound) {
		s.log.Warn("cannot record a session's use", "err", err)
	}
	s.remember(h, &cached{p: p, expires: se.ExpiresAt, lastSeen: now, touched: now})
	return p, nil
}

func (s *Service) remember(h string, c *cached) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.cache) >= maxCache {
		// Rare (ten thousand live credentials); starting over costs a
		// lookup each.
		clear(s.cache)
	}
	s.cache[h] = c
}
