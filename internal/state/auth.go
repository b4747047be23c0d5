package state

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// User is a person (or a robot) who may log in. Roles are stored by name
// ("viewer", "editor", "admin"); internal/auth gives them meaning.
type User struct {
	ID   int64  `json:"id"`
	Name string `json:"name"` // unique, compared case-insensitively
	Role string `json:"role"`
	// PasswordHash is a PHC string (argon2id); empty for a user who logs
	// in only through an external provider.
	PasswordHash string `json:"-"`
	Disabled     bool   `json:"disabled"`
	// Issuer and Subject identify the user at an external (OIDC)
	// provider; both empty for a local user. The pair is unique.
	Issuer      string    `json:"issuer,omitempty"`
	Subject     string    `json:"subject,omitempty"`
	Email       string    `json:"email,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
	LastLoginAt time.Time `json:"last_login_at,omitzero"`
}

// Session is a login session. Only the SHA-256 of its cookie value is
// stored, so that a copy of the database opens no session.
type Session struct {
	Hash       string    // hex SHA-256 of the session token
	UserID     int64     //
	CSRF       string    // the token its state-changing requests carry
	CreatedAt  time.Time //
	LastSeenAt time.Time // for the idle timeout; updated coarsely
	ExpiresAt  time.Time // absolute end
	IP         string    // of the login
	UserAgent  string    // of the login
}

// APIToken is a bearer token of a user, for the CLI and automation. Only
// its SHA-256 is stored.
type APIToken struct {
	ID     int64  `json:"id"`
	UserID int64  `json:"user_id"`
	Name   string `json:"name"`
	// Role caps the token: it acts with the lesser of this and its
	// user's role.
	Role       string    `json:"role"`
	Hash       string    `json:"-"`      // hex SHA-256 of the token
	Prefix     string    `json:"prefix"` // the first characters, to recognise it
	CreatedAt  time.Time `json:"created_at"`
	ExpiresAt  time.Time `json:"expires_at,omitzero"` // zero: never
	LastUsedAt time.Time `json:"last_used_at,omitzero"`
	RevokedAt  time.Time `json:"revoked_at,omitzero"`
}

// Audit outcomes.
const (
	AuditOK     = "ok"
	AuditFailed = "failed" // the change was tried and did not happen
	AuditDenied = "denied" // not allowed (role, CSRF, rate limit)
)

// AuditEntry records one change made through the UI or the API.
type AuditEntry struct {
	ID      int64     `json:"id"`
	At      time.Time `json:"at"`
	ActorID int64     `json:"actor_id,omitempty"` // 0: anonymous or the system
	Actor   string    `json:"actor"`              // login name as it was then
	Action  string    `json:"action"`             // e.g. login, user.create, silence.expire
	Target  string    `json:"target,omitempty"`   // what was changed, e.g. user:3
	Detail  string    `json:"detail,omitempty"`
	IP      string    `json:"ip,omitempty"`
	Outcome string    `json:"outcome"` // AuditOK, AuditFailed, AuditDenied
}

// AuditFilter selects audit entries, newest first. The zero value selects
// all.
type AuditFilter struct {
	Actor  string    // exact login name; "" = any
	Action string    // exact action, or a prefix ending in "." (user.); "" = any
	Since  time.Time // inclusive; zero = no bound
	Until  time.Time // exclusive; zero = no bound
	Before int64     // only ids below it (the paging cursor); 0 = no bound
	Limit  int       // 0 = no limit
}

// AuditRetention is how long audit entries are kept.
const AuditRetention = 400 * 24 * time.Hour

// AuthStore keeps users, their sessions and API tokens, and the audit log.
type AuthStore interface {
	// CountUsers returns how many users exist, and how many of them are
	// enabled admins.
	CountUsers(ctx context.Context) (users, admins int, err error)
	// CreateUser stores a new user and returns it with its ID. ErrExists
	// when the name (case-insensitively) or the external identity is
	// taken.
	CreateUser(ctx context.Context, u User) (User, error)
	User(ctx context.Context, id int64) (User, error)
	// UserByName finds a user by name, case-insensitively.
	UserByName(ctx context.Context, name string) (User, error)
	UserByExternal(ctx context.Context, issuer, subject string) (User, error)
	// Users returns every user, by id.
	Users(ctx context.Context) ([]User, error)
	// UpdateUser stores role, password hash, disabled, email and the
	// times of u (found by ID; the name is not changed). ErrNotFound for
	// an unknown user.
	UpdateUser(ctx context.Context, u User) error
	// DeleteUser deletes a user with its sessions and API tokens.
	DeleteUser(ctx context.Context, id int64) error

	CreateSession(ctx context.Context, s Session) error
	Session(ctx context.Context, hash string) (Session, error)
	// TouchSession sets a session's last_seen_at.
	TouchSession(ctx context.Context, hash string, at time.Time) error
	DeleteSession(ctx context.Context, hash string) error
	// DeleteUserSessions deletes every session of a user and says how many.
	DeleteUserSessions(ctx context.Context, userID int64) (int64, error)
	// DeleteStaleSessions deletes sessions that expired before now or
	// were last seen before idleSince, and says how many.
	DeleteStaleSessions(ctx context.Context, now, idleSince time.Time) (int64, error)

	// CreateAPIToken stores a token and returns it with its ID.
	// ErrExists when the hash is taken.
	CreateAPIToken(ctx context.Context, t APIToken) (APIToken, error)
	APIToken(ctx context.Context, id int64) (APIToken, error)
	APITokenByHash(ctx context.Context, hash string) (APIToken, error)
	// APITokens returns the tokens of a user (0: of every user), by id.
	APITokens(ctx context.Context, userID int64) ([]APIToken, error)
	// TouchAPIToken sets a token's last_used_at.
	TouchAPIToken(ctx context.Context, id int64, at time.Time) error
	// RevokeAPIToken sets revoked_at if it is not set yet. ErrNotFound
	// for an unknown token.
	RevokeAPIToken(ctx context.Context, id int64, at time.Time) error

	// AddAudit appends an entry (its ID is assigned).
	AddAudit(ctx context.Context, e AuditEntry) error
	// Audit returns the entries that match f, newest first.
	Audit(ctx context.Context, f AuditFilter) ([]AuditEntry, error)
	// PruneAudit deletes the entries before t and says how many.
	PruneAudit(ctx context.Context, before time.Time) (int64, error)
}

// CheckUser checks what every store requires of a user to store: a name,
// a known role, both or neither of issuer and subject.
func CheckUser(u User) error {
	if u.Name == "" || len(u.Name) > 256 {
		return fmt.Errorf("invalid user name %q", u.Name)
	}
	switch u.Role {
	case "viewer", "editor", "admin":
	default:
		return fmt.Errorf("invalid role %q of user %s", u.Role, u.Name)
	}
	if (u.Issuer == "") != (u.Subject == "") {
		return fmt.Errorf("user %s has an issuer or a subject but not both", u.Name)
	}
	return nil
}

// CheckAPIToken checks what every store requires of a token to store.
func CheckAPIToken(t APIToken) error {
	if t.UserID <= 0 {
		return errors.New("invalid API token: no user")
	}
	if t.Hash == "" {
		return errors.New("invalid API token: no hash")
	}
	switch t.Role {
	case "viewer", "editor", "admin":
	default:
		return fmt.Errorf("invalid role %q of API token", t.Role)
	}
	return nil
}
