// Package auth decides who may use Telltale's UI and API: users with roles
// (viewer, editor, admin), their login sessions and API tokens, CSRF
// protection of state-changing requests, login rate limiting, optional OIDC
// login, and an audit log of what users change. See docs/design/security.md.
package auth

import (
	"context"
	"fmt"
)

// Role is what a user may do. Roles are ordered: each may do everything the
// ones below it may.
type Role int8

const (
	// RoleNone is the role of a request that is not logged in.
	RoleNone Role = iota
	// RoleViewer reads every page and every GET endpoint.
	RoleViewer
	// RoleEditor also changes issues and silences and manages its own API
	// tokens.
	RoleEditor
	// RoleAdmin also manages users, projects and ingest keys, the
	// configuration, and reads the audit log.
	RoleAdmin
)

var roleNames = [...]string{RoleNone: "none", RoleViewer: "viewer", RoleEditor: "editor", RoleAdmin: "admin"}

func (r Role) String() string {
	if r < 0 || int(r) >= len(roleNames) {
		return fmt.Sprintf("Role(%d)", int8(r))
	}
	return roleNames[r]
}

// ParseRole parses viewer, editor or admin.
func ParseRole(s string) (Role, error) {
	for r, name := range roleNames {
		if r != int(RoleNone) && s == name {
			return Role(r), nil
		}
	}
	return RoleNone, fmt.Errorf("invalid role %q: want viewer, editor or admin", s)
}

// MarshalText and UnmarshalText make a Role read and write as its name in
// JSON.
func (r Role) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

func (r *Role) UnmarshalText(b []byte) error {
	v, err := ParseRole(string(b))
	if err != nil {
		return err
	}
	*r = v
	return nil
}

// Principal is who made a request.
type Principal struct {
	UserID int64
	Name   string // the user's login name
	Role   Role
	// TokenID is the API token the request carried, 0 for a session.
	TokenID int64
	// CSRF is the token that state-changing forms of a session must
	// carry (hidden field "csrf" or header X-CSRF-Token); empty for API
	// tokens, which need none.
	CSRF string
}

type principalKey struct{}

// WithPrincipal returns ctx carrying p.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// FromContext returns the principal of a request; ok is false when the
// request is not logged in.
func FromContext(ctx context.Context) (p Principal, ok bool) {
	p, ok = ctx.Value(principalKey{}).(Principal)
	return p, ok
}
