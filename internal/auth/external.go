package auth

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/fibinc/telltale/internal/state"
)

// ExternalIdentity is a user as an identity provider vouches for them.
type ExternalIdentity struct {
	Issuer, Subject string // identify the user at the provider
	Email, Name     string
	// Role is the role the provider grants; RoleNone when it does not
	// say.
	Role Role
}

// ExternalLogin is a login through an identity provider (internal/auth/oidc
// implements it for OpenID Connect). Begin sends the browser to the
// provider; Finish handles its return to /auth/oidc/callback and says
// who logged in and where they were going.
type ExternalLogin interface {
	Begin(w http.ResponseWriter, r *http.Request, returnTo string) error
	Finish(w http.ResponseWriter, r *http.Request) (id ExternalIdentity, returnTo string, err error)
}

// HasExternal reports whether users may log in through a provider.
func (s *Service) HasExternal() bool { return s.opt.External != nil }

func (s *Service) oidcLogin(w http.ResponseWriter, r *http.Request) {
	if s.opt.External == nil {
		s.opt.ErrorPage(w, r, http.StatusNotFound, "Not found", "Single sign-on is not configured.")
		return
	}
	if err := s.opt.External.Begin(w, r, SafeNext(r.URL.Query().Get("next"))); err != nil {
		s.log.Error("cannot start an external login", "err", err)
		s.opt.ErrorPage(w, r, http.StatusBadGateway, "Login failed", "Telltale could not reach the identity provider; its log says why.")
	}
}

func (s *Service) oidcCallback(w http.ResponseWriter, r *http.Request) {
	if s.opt.External == nil {
		s.opt.ErrorPage(w, r, http.StatusNotFound, "Not found", "Single sign-on is not configured.")
		return
	}
	id, returnTo, err := s.opt.External.Finish(w, r)
	if err != nil {
		s.auditReq(r, state.AuditEntry{Action: "login", Detail: "external: " + err.Error(), Outcome: state.AuditFailed})
		s.log.Warn("external login failed", "err", err)
		s.opt.ErrorPage(w, r, http.StatusUnauthorized, "Login failed", "The identity provider's answer was not accepted: "+err.Error())
		return
	}
	u, err := s.externalUser(r, id)
	if err != nil {
		if Status(err) >= 500 {
			s.log.Error("cannot log in an external user", "issuer", id.Issuer, "subject", id.Subject, "err", err)
			s.opt.ErrorPage(w, r, http.StatusInternalServerError, "Login failed", "Telltale could not log you in; its log says why.")
			return
		}
		s.opt.ErrorPage(w, r, Status(err), "Login failed", err.Error())
		return
	}
	if _, err := s.startSession(w, r, u); err != nil {
		s.log.Error("cannot start a session", "err", err)
		s.opt.ErrorPage(w, r, http.StatusInternalServerError, "Login failed", "Telltale could not log you in; its log says why.")
		return
	}
	s.auditReq(r, state.AuditEntry{Actor: u.Name, ActorID: u.ID, Action: "login", Detail: "external " + id.Issuer, Outcome: state.AuditOK})
	http.Redirect(w, r, SafeNext(returnTo), http.StatusSeeOther)
}

// externalUser finds the user of an identity, or creates it: named after
// the email (else the subject), made unique; the provider's role, else
// the default. A known user's role follows the provider's when it gives
// one.
func (s *Service) externalUser(r *http.Request, id ExternalIdentity) (state.User, error) {
	ctx := r.Context()
	if id.Issuer == "" || id.Subject == "" {
		return state.User{}, errors.New("the identity has no issuer or subject")
	}
	s.userMu.Lock()
	defer s.userMu.Unlock()
	now := s.now()
	u, err := s.store.UserByExternal(ctx, id.Issuer, id.Subject)
	switch {
	case err == nil:
		if u.Disabled {
			s.auditReq(r, state.AuditEntry{Actor: u.Name, ActorID: u.ID, Action: "login", Detail: "external: user disabled", Outcome: state.AuditFailed})
			return state.User{}, errorf(http.StatusForbidden, "the user %s is disabled", u.Name)
		}
		if id.Role != RoleNone && id.Role.String() != u.Role {
			s.auditReq(r, state.AuditEntry{Actor: u.Name, ActorID: u.ID, Action: "user.update", Target: target("user", u.ID),
				Detail: fmt.Sprintf("%s: role %s → %s by %s", u.Name, u.Role, id.Role, id.Issuer), Outcome: state.AuditOK})
			u.Role = id.Role.String()
			s.forget("", u.ID)
		}
		if id.Email != "" {
			u.Email = id.Email
		}
		u.LastLoginAt, u.UpdatedAt = now, now
		return u, s.store.UpdateUser(ctx, u)
	case !errors.Is(err, state.ErrNotFound):
		return state.User{}, err
	}
	role := id.Role
	if role == RoleNone {
		role = s.opt.ExternalDefaultRole
	}
	base := externalName(id)
	for i := 1; i <= 100; i++ {
		name := base
		if i > 1 {
			suffix := fmt.Sprintf("-%d", i)
			name = base[:min(len(base), 64-len(suffix))] + suffix
		}
		u, err = s.store.CreateUser(ctx, state.User{Name: name, Role: role.String(), Issuer: id.Issuer, Subject: id.Subject, Email: id.Email,
			CreatedAt: now, UpdatedAt: now, LastLoginAt: now})
		if errors.Is(err, state.ErrExists) {
			// The name is taken, or the identity was created just now
			// by a concurrent login of the same user.
			if u, err := s.store.UserByExternal(ctx, id.Issuer, id.Subject); err == nil {
				return u, nil
			}
			continue
		}
		if err != nil {
			return state.User{}, err
		}
		s.auditReq(r, state.AuditEntry{Actor: u.Name, ActorID: u.ID, Action: "user.create", Target: target("user", u.ID),
			Detail: fmt.Sprintf("name %s, role %s, from %s", u.Name, u.Role, id.Issuer), Outcome: state.AuditOK})
		return u, nil
	}
	return state.User{}, errorf(http.StatusConflict, "cannot find a free login name for %s", base)
}

// externalName is the login name of a new external user: the email when
// it is a valid name, else the subject with invalid characters replaced.
func externalName(id ExternalIdentity) string {
	if CheckName(id.Email) == nil {
		return id.Email
	}
	name := strings.Map(func(r rune) rune {
		if r < 128 && nameRE.MatchString(string(r)) {
			return r
		}
		return '-'
	}, id.Subject)
	if len(name) > 64 {
		name = name[:64]
	}
	if name == "" {
		name = "user"
	}
	return name
}
