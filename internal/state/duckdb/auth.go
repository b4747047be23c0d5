package duckdb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/fibinc/telltale/internal/state"
)

// Users: name_key is the lower-case name, so that the unique index makes
// names unique case-insensitively (PostgreSQL would use an expression
// index; a column works on both).

const userCols = "id, name, role, password_hash, disabled, issuer, subject, email, created_at, updated_at, last_login_at"

func scanUser(sc interface{ Scan(...any) error }) (state.User, error) {
	var u state.User
	var last sql.NullTime
	if err := sc.Scan(&u.ID, &u.Name, &u.Role, &u.PasswordHash, &u.Disabled, &u.Issuer, &u.Subject, &u.Email, &u.CreatedAt, &u.UpdatedAt, &last); err != nil {
		return u, err
	}
	u.CreatedAt, u.UpdatedAt, u.LastLoginAt = u.CreatedAt.UTC(), u.UpdatedAt.UTC(), timeOf(last)
	return u, nil
}

// CountUsers implements state.AuthStore.
func (s *Store) CountUsers(ctx context.Context) (users, admins int, err error) {
	err = s.db.QueryRowContext(ctx, "SELECT count(*), count(*) FILTER (WHERE role = 'admin' AND NOT disabled) FROM users").Scan(&users, &admins)
	if err != nil {
		return 0, 0, fmt.Errorf("cannot count users: %w", err)
	}
	return users, admins, nil
}

// CreateUser implements state.AuthStore.
func (s *Store) CreateUser(ctx context.Context, u state.User) (state.User, error) {
	if err := state.CheckUser(u); err != nil {
		return state.User{}, err
	}
	now := state.Timestamp(time.Now())
	u.CreatedAt, u.UpdatedAt, u.LastLoginAt = state.Timestamp(u.CreatedAt), state.Timestamp(u.UpdatedAt), state.Timestamp(u.LastLoginAt)
	if u.CreatedAt.IsZero() {
		u.CreatedAt = now
	}
	if u.UpdatedAt.IsZero() {
		u.UpdatedAt = u.CreatedAt
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM users WHERE name_key = ? OR (issuer <> '' AND issuer = ? AND subject = ?)",
			strings.ToLower(u.Name), u.Issuer, u.Subject).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("user %q: %w", u.Name, state.ErrExists)
		}
		if err := tx.QueryRowContext(ctx, "SELECT nextval('user_ids')").Scan(&u.ID); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, "INSERT INTO users (name_key, "+userCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
			strings.ToLower(u.Name), u.ID, u.Name, u.Role, u.PasswordHash, u.Disabled, u.Issuer, u.Subject, u.Email, u.CreatedAt, u.UpdatedAt, nullTime(u.LastLoginAt))
		return err
	})
	if errors.Is(err, state.ErrExists) {
		return state.User{}, err
	}
	if err != nil {
		return state.User{}, fmt.Errorf("cannot create user %q: %w", u.Name, err)
	}
	return u, nil
}

func (s *Store) user(ctx context.Context, what, where string, args ...any) (state.User, error) {
	u, err := scanUser(s.db.QueryRowContext(ctx, "SELECT "+userCols+" FROM users WHERE "+where, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return state.User{}, fmt.Errorf("user %s: %w", what, state.ErrNotFound)
	}
	if err != nil {
		return state.User{}, fmt.Errorf("cannot read user %s: %w", what, err)
	}
	return u, nil
}

// User implements state.AuthStore.
func (s *Store) User(ctx context.Context, id int64) (state.User, error) {
	return s.user(ctx, fmt.Sprint(id), "id = ?", id)
}

// UserByName implements state.AuthStore.
func (s *Store) UserByName(ctx context.Context, name string) (state.User, error) {
	return s.user(ctx, fmt.Sprintf("%q", name), "name_key = ?", strings.ToLower(name))
}

// UserByExternal implements state.AuthStore.
func (s *Store) UserByExternal(ctx context.Context, issuer, subject string) (state.User, error) {
	if issuer == "" || subject == "" {
		return state.User{}, fmt.Errorf("user of an empty external identity: %w", state.ErrNotFound)
	}
	return s.user(ctx, fmt.Sprintf("%s of %s", subject, issuer), "issuer = ? AND subject = ?", issuer, subject)
}

// Users implements state.AuthStore.
func (s *Store) Users(ctx context.Context) ([]state.User, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT "+userCols+" FROM users ORDER BY id")
	if err != nil {
		return nil, fmt.Errorf("cannot list users: %w", err)
	}
	defer rows.Close()
	var out []state.User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, fmt.Errorf("cannot list users: %w", err)
		}
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cannot list users: %w", err)
	}
	return out, nil
}

// UpdateUser implements state.AuthStore.
func (s *Store) UpdateUser(ctx context.Context, u state.User) error {
	if err := state.CheckUser(u); err != nil {
		return err
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	res, err := s.db.ExecContext(ctx, `UPDATE users SET role = ?, password_hash = ?, disabled = ?, email = ?, updated_at = ?, last_login_at = ? WHERE id = ?`,
		u.Role, u.PasswordHash, u.Disabled, u.Email, state.Timestamp(u.UpdatedAt), nullTime(state.Timestamp(u.LastLoginAt)), u.ID)
	return affected(res, err, fmt.Sprintf("user %d", u.ID), "update")
}

// affected turns the result of a statement that should change one row
// into an error: ErrNotFound when it changed none.
func affected(res sql.Result, err error, what, verb string) error {
	if err != nil {
		return fmt.Errorf("cannot %s %s: %w", verb, what, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("cannot %s %s: %w", verb, what, err)
	}
	if n == 0 {
		return fmt.Errorf("%s: %w", what, state.ErrNotFound)
	}
	return nil
}

// DeleteUser implements state.AuthStore.
func (s *Store) DeleteUser(ctx context.Context, id int64) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	var n int64
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		for _, q := range []string{"DELETE FROM sessions WHERE user_id = ?", "DELETE FROM api_tokens WHERE user_id = ?"} {
			if _, err := tx.ExecContext(ctx, q, id); err != nil {
				return err
			}
		}
		res, err := tx.ExecContext(ctx, "DELETE FROM users WHERE id = ?", id)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return fmt.Errorf("cannot delete user %d: %w", id, err)
	}
	if n == 0 {
		return fmt.Errorf("user %d: %w", id, state.ErrNotFound)
	}
	return nil
}

const sessionCols = "hash, user_id, csrf, created_at, last_seen_at, expires_at, ip, user_agent"

// CreateSession implements state.AuthStore.
func (s *Store) CreateSession(ctx context.Context, se state.Session) error {
	if se.Hash == "" || se.UserID <= 0 {
		return errors.New("invalid session: no hash or no user")
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	_, err := s.db.ExecContext(ctx, "INSERT INTO sessions ("+sessionCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
		se.Hash, se.UserID, se.CSRF, state.Timestamp(se.CreatedAt), state.Timestamp(se.LastSeenAt), state.Timestamp(se.ExpiresAt), se.IP, se.UserAgent)
	if err != nil {
		return fmt.Errorf("cannot create session: %w", err)
	}
	return nil
}

// Session implements state.AuthStore.
func (s *Store) Session(ctx context.Context, hash string) (state.Session, error) {
	var se state.Session
	err := s.db.QueryRowContext(ctx, "SELECT "+sessionCols+" FROM sessions WHERE hash = ?", hash).
		Scan(&se.Hash, &se.UserID, &se.CSRF, &se.CreatedAt, &se.LastSeenAt, &se.ExpiresAt, &se.IP, &se.UserAgent)
	if errors.Is(err, sql.ErrNoRows) {
		return state.Session{}, fmt.Errorf("session: %w", state.ErrNotFound)
	}
	if err != nil {
		return state.Session{}, fmt.Errorf("cannot read session: %w", err)
	}
	se.CreatedAt, se.LastSeenAt, se.ExpiresAt = se.CreatedAt.UTC(), se.LastSeenAt.UTC(), se.ExpiresAt.UTC()
	return se, nil
}

// TouchSession implements state.AuthStore.
func (s *Store) TouchSession(ctx context.Context, hash string, at time.Time) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	res, err := s.db.ExecContext(ctx, "UPDATE sessions SET last_seen_at = ? WHERE hash = ?", state.Timestamp(at), hash)
	return affected(res, err, "session", "touch")
}

// DeleteSession implements state.AuthStore.
func (s *Store) DeleteSession(ctx context.Context, hash string) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if _, err := s.db.ExecContext(ctx, "DELETE FROM sessions WHERE hash = ?", hash); err != nil {
		return fmt.Errorf("cannot delete session: %w", err)
	}
	return nil
}

// DeleteUserSessions implements state.AuthStore.
func (s *Store) DeleteUserSessions(ctx context.Context, userID int64) (int64, error) {
	return s.deleteRows(ctx, "sessions of user", "DELETE FROM sessions WHERE user_id = ?", userID)
}

// DeleteStaleSessions implements state.AuthStore.
func (s *Store) DeleteStaleSessions(ctx context.Context, now, idleSince time.Time) (int64, error) {
	return s.deleteRows(ctx, "stale sessions", "DELETE FROM sessions WHERE expires_at <= ? OR last_seen_at < ?", state.Timestamp(now), state.Timestamp(idleSince))
}

func (s *Store) deleteRows(ctx context.Context, what, q string, args ...any) (int64, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	res, err := s.db.ExecContext(ctx, q, args...)
	if err != nil {
		return 0, fmt.Errorf("cannot delete %s: %w", what, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("cannot delete %s: %w", what, err)
	}
	return n, nil
}

const tokenCols = "id, user_id, name, role, hash, prefix, created_at, expires_at, last_used_at, revoked_at"

func scanToken(sc interface{ Scan(...any) error }) (state.APIToken, error) {
	var t state.APIToken
	var exp, used, rev sql.NullTime
	if err := sc.Scan(&t.ID, &t.UserID, &t.Name, &t.Role, &t.Hash, &t.Prefix, &t.CreatedAt, &exp, &used, &rev); err != nil {
		return t, err
	}
	t.CreatedAt, t.ExpiresAt, t.LastUsedAt, t.RevokedAt = t.CreatedAt.UTC(), timeOf(exp), timeOf(used), timeOf(rev)
	return t, nil
}

// CreateAPIToken implements state.AuthStore.
func (s *Store) CreateAPIToken(ctx context.Context, t state.APIToken) (state.APIToken, error) {
	if err := state.CheckAPIToken(t); err != nil {
		return state.APIToken{}, err
	}
	t.CreatedAt, t.ExpiresAt, t.LastUsedAt, t.RevokedAt = state.Timestamp(t.CreatedAt), state.Timestamp(t.ExpiresAt), state.Timestamp(t.LastUsedAt), state.Timestamp(t.RevokedAt)
	if t.CreatedAt.IsZero() {
		t.CreatedAt = state.Timestamp(time.Now())
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM api_tokens WHERE hash = ?", t.Hash).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("API token: %w", state.ErrExists)
		}
		if err := tx.QueryRowContext(ctx, "SELECT nextval('api_token_ids')").Scan(&t.ID); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, "INSERT INTO api_tokens ("+tokenCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
			t.ID, t.UserID, t.Name, t.Role, t.Hash, t.Prefix, t.CreatedAt, nullTime(t.ExpiresAt), nullTime(t.LastUsedAt), nullTime(t.RevokedAt))
		return err
	})
	if errors.Is(err, state.ErrExists) {
		return state.APIToken{}, err
	}
	if err != nil {
		return state.APIToken{}, fmt.Errorf("cannot create API token: %w", err)
	}
	return t, nil
}

func (s *Store) apiToken(ctx context.Context, what, where string, arg any) (state.APIToken, error) {
	t, err := scanToken(s.db.QueryRowContext(ctx, "SELECT "+tokenCols+" FROM api_tokens WHERE "+where, arg))
	if errors.Is(err, sql.ErrNoRows) {
		return state.APIToken{}, fmt.Errorf("API token %s: %w", what, state.ErrNotFound)
	}
	if err != nil {
		return state.APIToken{}, fmt.Errorf("cannot read API token %s: %w", what, err)
	}
	return t, nil
}

// APIToken implements state.AuthStore.
func (s *Store) APIToken(ctx context.Context, id int64) (state.APIToken, error) {
	return s.apiToken(ctx, fmt.Sprint(id), "id = ?", id)
}

// APITokenByHash implements state.AuthStore.
func (s *Store) APITokenByHash(ctx context.Context, hash string) (state.APIToken, error) {
	return s.apiToken(ctx, "by hash", "hash = ?", hash)
}

// APITokens implements state.AuthStore.
func (s *Store) APITokens(ctx context.Context, userID int64) ([]state.APIToken, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT "+tokenCols+" FROM api_tokens WHERE ? = 0 OR user_id = ? ORDER BY id", userID, userID)
	if err != nil {
		return nil, fmt.Errorf("cannot list API tokens: %w", err)
	}
	defer rows.Close()
	var out []state.APIToken
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, fmt.Errorf("cannot list API tokens: %w", err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cannot list API tokens: %w", err)
	}
	return out, nil
}

// TouchAPIToken implements state.AuthStore.
func (s *Store) TouchAPIToken(ctx context.Context, id int64, at time.Time) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	res, err := s.db.ExecContext(ctx, "UPDATE api_tokens SET last_used_at = ? WHERE id = ?", state.Timestamp(at), id)
	return affected(res, err, fmt.Sprintf("API token %d", id), "touch")
}

// RevokeAPIToken implements state.AuthStore.
func (s *Store) RevokeAPIToken(ctx context.Context, id int64, at time.Time) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	res, err := s.db.ExecContext(ctx, "UPDATE api_tokens SET revoked_at = coalesce(revoked_at, ?) WHERE id = ?", state.Timestamp(at), id)
	return affected(res, err, fmt.Sprintf("API token %d", id), "revoke")
}

const auditCols = "id, at_time, actor_id, actor, action, target, detail, ip, outcome"

// AddAudit implements state.AuthStore.
func (s *Store) AddAudit(ctx context.Context, e state.AuditEntry) error {
	if e.Action == "" || e.At.IsZero() {
		return errors.New("invalid audit entry: no action or no time")
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	_, err := s.db.ExecContext(ctx, "INSERT INTO audit_log ("+auditCols+") VALUES (nextval('audit_ids'), ?, ?, ?, ?, ?, ?, ?, ?)",
		state.Timestamp(e.At), e.ActorID, e.Actor, e.Action, e.Target, e.Detail, e.IP, e.Outcome)
	if err != nil {
		return fmt.Errorf("cannot add audit entry %s: %w", e.Action, err)
	}
	return nil
}

// Audit implements state.AuthStore.
func (s *Store) Audit(ctx context.Context, f state.AuditFilter) ([]state.AuditEntry, error) {
	var where []string
	var args []any
	if f.Actor != "" {
		where, args = append(where, "actor = ?"), append(args, f.Actor)
	}
	if prefix, ok := strings.CutSuffix(f.Action, "."); ok {
		where, args = append(where, "starts_with(action, ?)"), append(args, prefix+".")
	} else if f.Action != "" {
		where, args = append(where, "action = ?"), append(args, f.Action)
	}
	if !f.Since.IsZero() {
		where, args = append(where, "at_time >= ?"), append(args, state.Timestamp(f.Since))
	}
	if !f.Until.IsZero() {
		where, args = append(where, "at_time < ?"), append(args, state.Timestamp(f.Until))
	}
	if f.Before > 0 {
		where, args = append(where, "id < ?"), append(args, f.Before)
	}
	q := "SELECT " + auditCols + " FROM audit_log"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY id DESC"
	if f.Limit > 0 {
		q += fmt.Sprintf(" LIMIT %d", f.Limit)
	}
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("cannot read the audit log: %w", err)
	}
	defer rows.Close()
	var out []state.AuditEntry
	for rows.Next() {
		var e state.AuditEntry
		if err := rows.Scan(&e.ID, &e.At, &e.ActorID, &e.Actor, &e.Action, &e.Target, &e.Detail, &e.IP, &e.Outcome); err != nil {
			return nil, fmt.Errorf("cannot read the audit log: %w", err)
		}
		e.At = e.At.UTC()
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cannot read the audit log: %w", err)
	}
	return out, nil
}

// PruneAudit implements state.AuthStore.
func (s *Store) PruneAudit(ctx context.Context, before time.Time) (int64, error) {
	return s.deleteRows(ctx, "old audit entries", "DELETE FROM audit_log WHERE at_time < ?", state.Timestamp(before))
}
