package notify

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/fibinc/telltale/internal/state"
)

// memStore keeps the notifier's state in memory, for a notifier without a
// store: nothing survives a restart.
type memStore struct {
	mu       sync.Mutex
	silences []state.Silence
	logs     map[string]state.NotificationLog
	attempts []state.NotificationAttempt
	nextID   int64
}

func newMemStore() *memStore { return &memStore{logs: map[string]state.NotificationLog{}} }

func (m *memStore) CreateSilence(ctx context.Context, s state.Silence) (state.Silence, error) {
	if err := state.CheckSilence(s); err != nil {
		return state.Silence{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	s.ID = state.NewSilenceID()
	s.Matchers = slices.Clone(s.Matchers)
	m.silences = append(m.silences, s)
	return s, nil
}

func (m *memStore) Silences(ctx context.Context) ([]state.Silence, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.silences), nil
}

func (m *memStore) ExpireSilence(ctx context.Context, id string, at time.Time) (state.Silence, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, s := range m.silences {
		if s.ID == id {
			if s.EndsAt.After(at) {
				s.EndsAt = at
			}
			if s.StartsAt.After(at) {
				s.StartsAt = at
			}
			s.UpdatedAt = at
			m.silences[i] = s
			return s, nil
		}
	}
	return state.Silence{}, fmt.Errorf("silence %s: %w", id, state.ErrNotFound)
}

func (m *memStore) SaveNotificationLog(ctx context.Context, e state.NotificationLog) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.logs[logKey(e.GroupKey, e.Channel)] = e
	return nil
}

func (m *memStore) NotificationLogs(ctx context.Context) ([]state.NotificationLog, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]state.NotificationLog, 0, len(m.logs))
	for _, e := range m.logs {
		out = append(out, e)
	}
	return out, nil
}

// memAttempts bounds the attempts kept in memory.
const memAttempts = 10000

func (m *memStore) AddNotificationAttempt(ctx context.Context, a state.NotificationAttempt) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.nextID++
	a.ID = m.nextID
	m.attempts = append(m.attempts, a)
	if len(m.attempts) > memAttempts {
		m.attempts = slices.Delete(m.attempts, 0, len(m.attempts)-memAttempts)
	}
	return a.ID, nil
}

func (m *memStore) NotificationAttempts(ctx context.Context, f state.AttemptFilter) ([]state.NotificationAttempt, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []state.NotificationAttempt
	for i := len(m.attempts) - 1; i >= 0; i-- {
		if f.Limit > 0 && len(out) >= f.Limit {
			break
		}
		if a := m.attempts[i]; f.Channel == "" || a.Channel == f.Channel {
			out = append(out, a)
		}
	}
	return out, nil
}

func (m *memStore) PruneNotifications(ctx context.Context, before time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.attempts = slices.DeleteFunc(m.attempts, func(a state.NotificationAttempt) bool { return a.At.Before(before) })
	for k, e := range m.logs {
		if e.SentAt.Before(before) {
			delete(m.logs, k)
		}
	}
	return nil
}
