package duckdb

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/fibinc/telltale/internal/state"
)

// Lists (matchers, fingerprints) are stored as JSON text, which PostgreSQL
// stores alike.

func encodeList(l []string) string {
	if l == nil {
		l = []string{}
	}
	b, _ := json.Marshal(l) // strings always encode
	return string(b)
}

func decodeList(s string) ([]string, error) {
	var l []string
	if err := json.Unmarshal([]byte(s), &l); err != nil {
		return nil, fmt.Errorf("corrupt list %q: %w", s, err)
	}
	return l, nil
}

const silenceCols = "id, matchers, starts_at, ends_at, created_by, comment, created_at, updated_at"

func scanSilence(sc interface{ Scan(...any) error }) (state.Silence, error) {
	var s state.Silence
	var ms string
	if err := sc.Scan(&s.ID, &ms, &s.StartsAt, &s.EndsAt, &s.CreatedBy, &s.Comment, &s.CreatedAt, &s.UpdatedAt); err != nil {
		return state.Silence{}, err
	}
	for _, t := range []*time.Time{&s.StartsAt, &s.EndsAt, &s.CreatedAt, &s.UpdatedAt} {
		*t = t.UTC()
	}
	var err error
	s.Matchers, err = decodeList(ms)
	return s, err
}

// CreateSilence implements state.NotifyStore.
func (s *Store) CreateSilence(ctx context.Context, sil state.Silence) (state.Silence, error) {
	if err := state.CheckSilence(sil); err != nil {
		return state.Silence{}, err
	}
	now := state.Timestamp(time.Now())
	sil.ID = state.NewSilenceID()
	sil.StartsAt, sil.EndsAt = state.Timestamp(sil.StartsAt), state.Timestamp(sil.EndsAt)
	sil.CreatedAt, sil.UpdatedAt = state.Timestamp(sil.CreatedAt), state.Timestamp(sil.UpdatedAt)
	if sil.CreatedAt.IsZero() {
		sil.CreatedAt = now
	}
	if sil.UpdatedAt.IsZero() {
		sil.UpdatedAt = sil.CreatedAt
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	_, err := s.db.ExecContext(ctx, "INSERT INTO silences ("+silenceCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
		sil.ID, encodeList(sil.Matchers), sil.StartsAt, sil.EndsAt, sil.CreatedBy, sil.Comment, sil.CreatedAt, sil.UpdatedAt)
	if err != nil {
		return state.Silence{}, fmt.Errorf("cannot create silence: %w", err)
	}
	sil.Matchers = append([]string{}, sil.Matchers...)
	return sil, nil
}

// Silences implements state.NotifyStore.
func (s *Store) Silences(ctx context.Context) ([]state.Silence, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT "+silenceCols+" FROM silences ORDER BY created_at, id")
	if err != nil {
		return nil, fmt.Errorf("cannot list silences: %w", err)
	}
	defer rows.Close()
	var out []state.Silence
	for rows.Next() {
		sil, err := scanSilence(rows)
		if err != nil {
			return nil, fmt.Errorf("cannot list silences: %w", err)
		}
		out = append(out, sil)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cannot list silences: %w", err)
	}
	return out, nil
}

// ExpireSilence implements state.NotifyStore.
func (s *Store) ExpireSilence(ctx context.Context, id string, at time.Time) (state.Silence, error) {
	at = state.Timestamp(at)
	s.wmu.Lock()
	defer s.wmu.Unlock()
	var sil state.Silence
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		sil, err = scanSilence(tx.QueryRowContext(ctx, "SELECT "+silenceCols+" FROM silences WHERE id = ?", id))
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("silence %s: %w", id, state.ErrNotFound)
		}
		if err != nil {
			return err
		}
		if sil.EndsAt.After(at) {
			sil.EndsAt = at
		}
		if sil.StartsAt.After(at) {
			sil.StartsAt = at
		}
		sil.UpdatedAt = at
		_, err = tx.ExecContext(ctx, "UPDATE silences SET starts_at = ?, ends_at = ?, updated_at = ? WHERE id = ?", sil.StartsAt, sil.EndsAt, sil.UpdatedAt, id)
		return err
	})
	if errors.Is(err, state.ErrNotFound) {
		return state.Silence{}, err
	}
	if err != nil {
		return state.Silence{}, fmt.Errorf("cannot expire silence %s: %w", id, err)
	}
	return sil, nil
}

// SaveNotificationLog implements state.NotifyStore.
func (s *Store) SaveNotificationLog(ctx context.Context, e state.NotificationLog) error {
	if e.GroupKey == "" || e.Channel == "" {
		return errors.New("cannot save notification log: group key and channel are required")
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	_, err := s.db.ExecContext(ctx, `INSERT INTO notification_log (group_key, channel, firing, resolved, sent_at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (group_key, channel) DO UPDATE SET firing = excluded.firing, resolved = excluded.resolved, sent_at = excluded.sent_at`,
		e.GroupKey, e.Channel, encodeList(e.Firing), encodeList(e.Resolved), state.Timestamp(e.SentAt))
	if err != nil {
		return fmt.Errorf("cannot save notification log of %s: %w", e.GroupKey, err)
	}
	return nil
}

// NotificationLogs implements state.NotifyStore.
func (s *Store) NotificationLogs(ctx context.Context) ([]state.NotificationLog, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT group_key, channel, firing, resolved, sent_at FROM notification_log ORDER BY group_key, channel")
	if err != nil {
		return nil, fmt.Errorf("cannot read notification log: %w", err)
	}
	defer rows.Close()
	var out []state.NotificationLog
	for rows.Next() {
		var e state.NotificationLog
		var f, r string
		if err := rows.Scan(&e.GroupKey, &e.Channel, &f, &r, &e.SentAt); err != nil {
			return nil, fmt.Errorf("cannot read notification log: %w", err)
		}
		e.SentAt = e.SentAt.UTC()
		if e.Firing, err = decodeList(f); err != nil {
			return nil, fmt.Errorf("cannot read notification log: %w", err)
		}
		if e.Resolved, err = decodeList(r); err != nil {
			return nil, fmt.Errorf("cannot read notification log: %w", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cannot read notification log: %w", err)
	}
	return out, nil
}

// AddNotificationAttempt implements state.NotifyStore.
func (s *Store) AddNotificationAttempt(ctx context.Context, a state.NotificationAttempt) (int64, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	var id int64
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, "SELECT nextval('notification_attempt_ids')").Scan(&id); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO notification_attempts
			(id, attempted_at, channel, group_key, status, alerts, attempt, outcome, http_status, error, duration_us)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			id, state.Timestamp(a.At), a.Channel, a.GroupKey, a.Status, a.Alerts, a.Attempt, a.Outcome, a.HTTPStatus, a.Error, a.Duration.Microseconds())
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("cannot record notification attempt: %w", err)
	}
	return id, nil
}

// NotificationAttempts implements state.NotifyStore.
func (s *Store) NotificationAttempts(ctx context.Context, f state.AttemptFilter) ([]state.NotificationAttempt, error) {
	if f.Limit < 0 {
		return nil, fmt.Errorf("invalid attempt filter: limit %d", f.Limit)
	}
	var where []string
	var args []any
	if f.Channel != "" {
		where = append(where, "channel = ?")
		args = append(args, f.Channel)
	}
	q := "SELECT id, attempted_at, channel, group_key, status, alerts, attempt, outcome, http_status, error, duration_us FROM notification_attempts"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY attempted_at DESC, id DESC"
	if f.Limit > 0 {
		q += fmt.Sprintf(" LIMIT %d", f.Limit)
	}
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("cannot list notification attempts: %w", err)
	}
	defer rows.Close()
	var out []state.NotificationAttempt
	for rows.Next() {
		var a state.NotificationAttempt
		var us int64
		if err := rows.Scan(&a.ID, &a.At, &a.Channel, &a.GroupKey, &a.Status, &a.Alerts, &a.Attempt, &a.Outcome, &a.HTTPStatus, &a.Error, &us); err != nil {
			return nil, fmt.Errorf("cannot list notification attempts: %w", err)
		}
		a.At = a.At.UTC()
		a.Duration = time.Duration(us) * time.Microsecond
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cannot list notification attempts: %w", err)
	}
	return out, nil
}

// PruneNotifications implements state.NotifyStore.
func (s *Store) PruneNotifications(ctx context.Context, before time.Time) error {
	before = state.Timestamp(before)
	s.wmu.Lock()
	defer s.wmu.Unlock()
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "DELETE FROM notification_attempts WHERE attempted_at < ?", before); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, "DELETE FROM notification_log WHERE sent_at < ?", before)
		return err
	})
	if err != nil {
		return fmt.Errorf("cannot prune notification attempts: %w", err)
	}
	return nil
}
