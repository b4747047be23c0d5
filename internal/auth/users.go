package auth

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/fibinc/telltale/internal/state"
)

// Users returns every user, by id.
func (s *Service) Users(ctx context.Context) ([]User, error) {
	us, err := s.store.Users(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]User, len(us))
	for i, u := range us {
		out[i] = userOf(u)
	}
	return out, nil
}

// NewUser is what CreateUser needs.
type NewUser struct {
	Name     string `json:"name"`
	Password string `json:"password"`
	Role     Role   `json:"role"` // RoleNone: viewer
}

// CreateUser creates a user with a password (the request's principal must
// be an admin: the policy sees to it).
func (s *Service) CreateUser(r *http.Request, nu NewUser) (User, error) {
	if nu.Role == RoleNone {
		nu.Role = RoleViewer
	}
	s.userMu.Lock()
	defer s.userMu.Unlock()
	u, err := s.createUser(r.Context(), nu.Name, nu.Password, nu.Role)
	if err != nil {
		if Status(err) < 500 {
			s.auditReq(r, state.AuditEntry{Action: "user.create", Target: "user:" + clip(nu.Name, 64), Detail: err.Error(), Outcome: state.AuditFailed})
		}
		return User{}, err
	}
	s.auditReq(r, state.AuditEntry{Action: "user.create", Target: target("user", u.ID), Detail: "name " + u.Name + ", role " + u.Role, Outcome: state.AuditOK})
	return userOf(u), nil
}

// UserChange is a change of a user; nil fields stay as they are.
type UserChange struct {
	Role     *Role   `json:"role,omitempty"`
	Password *string `json:"password,omitempty"`
	Disabled *bool   `json:"disabled,omitempty"`
}

// UpdateUser changes a user's role, password or disabled flag. A new
// password or disabling ends the user's sessions. The last enabled admin
// cannot be demoted or disabled.
func (s *Service) UpdateUser(r *http.Request, id int64, ch UserChange) (User, error) {
	ctx := r.Context()
	s.userMu.Lock()
	defer s.userMu.Unlock()
	u, err := s.store.User(ctx, id)
	if errors.Is(err, state.ErrNotFound) {
		return User{}, errorf(http.StatusNotFound, "there is no user %d", id)
	}
	if err != nil {
		return User{}, err
	}
	var what []string
	endSessions := false
	wasAdmin := u.Role == RoleAdmin.String() && !u.Disabled
	if ch.Role != nil {
		if *ch.Role < RoleViewer || *ch.Role > RoleAdmin {
			return User{}, errorf(http.StatusBadRequest, "invalid role %s", *ch.Role)
		}
		if u.Role != ch.Role.String() {
			what = append(what, "role "+u.Role+" → "+ch.Role.String())
			u.Role = ch.Role.String()
		}
	}
	if ch.Disabled != nil && *ch.Disabled != u.Disabled {
		u.Disabled = *ch.Disabled
		if u.Disabled {
			what, endSessions = append(what, "disabled"), true
		} else {
			what = append(what, "enabled")
		}
	}
	if ch.Password != nil {
		if err := CheckPassword(*ch.Password); err != nil {
			return User{}, err
		}
		h, err := s.hash.Hash(ctx, *ch.Password)
		if err != nil {
			return User{}, err
		}
		u.PasswordHash = h
		what, endSessions = append(what, "password changed"), true
	}
	if len(what) == 0 {
		return userOf(u), nil
	}
	if wasAdmin && (u.Role != RoleAdmin.String() || u.Disabled) {
		if err := s.notLastAdmin(ctx); err != nil {
			s.auditReq(r, state.AuditEntry{Action: "user.update", Target: target("user", id), Detail: err.Error(), Outcome: state.AuditFailed})
			return User{}, err
		}
	}
	u.UpdatedAt = s.now()
	if err := s.store.UpdateUser(ctx, u); err != nil {
		return User{}, err
	}
	s.forget("", id)
	if endSessions {
		if _, err := s.store.DeleteUserSessions(ctx, id); err != nil {
			return User{}, err
		}
	}
	s.auditReq(r, state.AuditEntry{Action: "user.update", Target: target("user", id), Detail: u.Name + ": " + strings.Join(what, ", "), Outcome: state.AuditOK})
	return userOf(u), nil
}

// notLastAdmin fails when fewer than two enabled admins exist.
func (s *Service) notLastAdmin(ctx context.Context) error {
	_, admins, err := s.store.CountUsers(ctx)
	if err != nil {
		return err
	}
	if admins < 2 {
		return errorf(http.StatusConflict, "this is the last admin: make another user admin first")
	}
	return nil
}

// DeleteUser deletes a user with its sessions and tokens. The last
// enabled admin cannot be deleted.
func (s *Service) DeleteUser(r *http.Request, id int64) error {
	ctx := r.Context()
	s.userMu.Lock()
	defer s.userMu.Unlock()
	u, err := s.store.User(ctx, id)
	if errors.Is(err, state.ErrNotFound) {
		return errorf(http.StatusNotFound, "there is no user %d", id)
	}
	if err != nil {
		return err
	}
	if u.Role == RoleAdmin.String() && !u.Disabled {
		if err := s.notLastAdmin(ctx); err != nil {
			s.auditReq(r, state.AuditEntry{Action: "user.delete", Target: target("user", id), Detail: err.Error(), Outcome: state.AuditFailed})
			return err
		}
	}
	if err := s.store.DeleteUser(ctx, id); err != nil {
		return err
	}
	s.forget("", id)
	s.auditReq(r, state.AuditEntry{Action: "user.delete", Target: target("user", id), Detail: "name " + u.Name, Outcome: state.AuditOK})
	return nil
}

// AuditEntry and AuditFilter are the audit log's entries and filter.
type (
	AuditEntry  = state.AuditEntry
	AuditFilter = state.AuditFilter
)

// Audit returns the audit entries f selects, newest first.
func (s *Service) Audit(ctx context.Context, f AuditFilter) ([]AuditEntry, error) {
	return s.store.Audit(ctx, f)
}
