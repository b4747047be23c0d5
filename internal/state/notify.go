package state

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Silence is a silence created through the API (silences of the
// configuration file live there, not here). It mutes the alerts that all
// its matchers select between StartsAt and EndsAt.
type Silence struct {
	ID        string    `json:"id"`
	Matchers  []string  `json:"matchers"` // name="value", name!="value", name=~"re", name!~"re"
	StartsAt  time.Time `json:"starts_at"`
	EndsAt    time.Time `json:"ends_at"`
	CreatedBy string    `json:"created_by"`
	Comment   string    `json:"comment"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// NotificationLog is what was last sent about a group to a channel: the
// fingerprints of its firing and resolved alerts, and when. The notifier
// decides from it whether a group needs another notification, so that a
// restart neither re-sends nor forgets.
type NotificationLog struct {
	GroupKey string    `json:"group_key"`
	Channel  string    `json:"channel"`
	Firing   []string  `json:"firing"`
	Resolved []string  `json:"resolved"`
	SentAt   time.Time `json:"sent_at"`
}

// Outcomes of a delivery attempt.
const (
	OutcomeOK     = "ok"
	OutcomeFailed = "failed"  // will be retried
	OutcomeGaveUp = "gave up" // the last attempt: permanent error or no time left
)

// NotificationAttempt is one attempt to deliver a notification.
type NotificationAttempt struct {
	ID         int64         `json:"id"`
	At         time.Time     `json:"at"`
	Channel    string        `json:"channel"`
	GroupKey   string        `json:"group_key"`
	Status     string        `json:"status"` // firing or resolved
	Alerts     int           `json:"alerts"`
	Attempt    int           `json:"attempt"` // 1, 2, ...
	Outcome    string        `json:"outcome"`
	HTTPStatus int           `json:"http_status,omitempty"`
	Error      string        `json:"error,omitempty"`
	Duration   time.Duration `json:"duration_ns"`
}

// AttemptFilter selects attempts; the zero value selects all.
type AttemptFilter struct {
	Channel string // "" = every channel
	Limit   int    // 0 = no limit
}

// NotifyStore holds the notifier's state: silences, the notification log
// and the attempt log.
type NotifyStore interface {
	// CreateSilence stores a new silence with a new random ID (what
	// s.ID holds is ignored) and returns it as Silences reads it back.
	// See CheckSilence.
	CreateSilence(ctx context.Context, s Silence) (Silence, error)
	// Silences returns every silence, by creation time.
	Silences(ctx context.Context) ([]Silence, error)
	// ExpireSilence ends a silence at at: EndsAt (and StartsAt of a
	// pending one) becomes at unless already earlier, UpdatedAt at.
	// ErrNotFound for an unknown id.
	ExpireSilence(ctx context.Context, id string, at time.Time) (Silence, error)

	// SaveNotificationLog replaces the entry of the group and channel.
	SaveNotificationLog(ctx context.Context, e NotificationLog) error
	// NotificationLogs returns every entry.
	NotificationLogs(ctx context.Context) ([]NotificationLog, error)

	// AddNotificationAttempt stores an attempt and returns its ID.
	AddNotificationAttempt(ctx context.Context, a NotificationAttempt) (int64, error)
	// NotificationAttempts returns attempts, newest first.
	NotificationAttempts(ctx context.Context, f AttemptFilter) ([]NotificationAttempt, error)
	// PruneNotifications deletes attempts made and log entries written
	// before before.
	PruneNotifications(ctx context.Context, before time.Time) error
}

// CheckSilence validates a silence for CreateSilence: at least one
// matcher, times set, ending after it starts, texts of sane length. The
// matchers' syntax is the notifier's to check.
func CheckSilence(s Silence) error {
	switch {
	case len(s.Matchers) == 0:
		return errors.New("invalid silence: no matchers")
	case s.StartsAt.IsZero() || s.EndsAt.IsZero():
		return errors.New("invalid silence: starts and ends are required")
	case !s.EndsAt.After(s.StartsAt):
		return fmt.Errorf("invalid silence: ends (%s) is not after starts (%s)", s.EndsAt.Format(time.RFC3339), s.StartsAt.Format(time.RFC3339))
	case len(s.CreatedBy) > 200 || len(s.Comment) > 2000:
		return errors.New("invalid silence: created_by is limited to 200 bytes, comment to 2000")
	}
	for _, m := range s.Matchers {
		if m == "" || len(m) > 1000 {
			return fmt.Errorf("invalid silence: matcher %q is empty or too long", m)
		}
	}
	return nil
}

// NewSilenceID returns a random silence id in UUID form, as Alertmanager's.
func NewSilenceID() string {
	k := NewPublicKey()
	return k[0:8] + "-" + k[8:12] + "-" + k[12:16] + "-" + k[16:20] + "-" + k[20:32]
}
