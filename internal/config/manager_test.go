package config

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fibinc/telltale/internal/state"
)

// memStore is a state.ConfigStore in memory.
type memStore struct {
	mu   sync.Mutex
	doc  string
	at   time.Time
	fail error
}

func (s *memStore) ConfigDocument(context.Context) (string, time.Time, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.at.IsZero() {
		return "", time.Time{}, state.ErrNotFound
	}
	return s.doc, s.at, nil
}

func (s *memStore) SetConfigDocument(_ context.Context, doc string, at time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return s.fail
	}
	s.doc, s.at = doc, at
	return nil
}

const oneCheck = "checks:\n  - name: api\n    url: https://api.example.com\n"

func TestManagerAPI(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	store := &memStore{}
	var applied []*File
	opt := ManagerOptions{Store: store, Now: func() time.Time { return now },
		Apply: func(_ context.Context, f *File) error { applied = append(applied, f); return nil }}
	m := NewManager(opt)
	if err := m.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if f, src, path, at := m.Current(); src != SourceNone || f == nil || len(f.Checks) != 0 || path != "" || !at.IsZero() || len(applied) != 0 {
		t.Fatalf("empty manager: %v %q %q %v, applied %d", f, src, path, at, len(applied))
	}
	err := m.Set(ctx, []byte("checks:\n  - name: api\n"))
	if len(Errors(err)) != 1 || !strings.HasPrefix(err.Error(), "config:2:5: ") {
		t.Fatalf("Set of a bad document: %v", err)
	}
	if err := m.Set(ctx, []byte(oneCheck)); err != nil {
		t.Fatal(err)
	}
	if f, src, _, at := m.Current(); src != SourceAPI || len(f.Checks) != 1 || !at.Equal(now) || len(applied) != 1 || store.doc != oneCheck {
		t.Fatalf("after Set: %q %v, applied %d, stored %q", src, at, len(applied), store.doc)
	}

	// A new manager on the same store starts from the stored document.
	m2 := NewManager(opt)
	if err := m2.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if f, src, _, _ := m2.Current(); src != SourceAPI || len(f.Checks) != 1 || f.Checks[0].Name != "api" {
		t.Fatalf("after restart: %q %+v", src, f)
	}

	// Apply failures and store failures are reported; an apply failure
	// changes nothing.
	m3 := NewManager(ManagerOptions{Store: store, Apply: func(context.Context, *File) error { return errors.New("boom") }})
	if err := m3.Set(ctx, []byte("rules: []\n")); err == nil || !strings.Contains(err.Error(), "boom") || len(Errors(err)) != 0 {
		t.Errorf("Set with a failing Apply: %v", err)
	}
	if _, src, _, _ := m3.Current(); src != SourceNone || store.doc != oneCheck {
		t.Errorf("failed Set changed the configuration: %q, stored %q", src, store.doc)
	}
	store.fail = errors.New("disk full")
	if err := m.Set(ctx, []byte("rules: []\n")); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("Set with a failing store: %v", err)
	}
}

func TestManagerFile(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "telltale.yaml")
	if err := os.WriteFile(path, []byte(oneCheck), 0o644); err != nil {
		t.Fatal(err)
	}
	store := &memStore{}
	m := NewManager(ManagerOptions{Path: path, Store: store})
	if err := m.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if f, src, p, at := m.Current(); src != SourceFile || p != path || len(f.Checks) != 1 || at.IsZero() {
		t.Fatalf("Current = %q %q %v", src, p, at)
	}
	if err := m.Set(ctx, []byte("rules: []\n")); !errors.Is(err, ErrFileSource) || !strings.Contains(err.Error(), path) {
		t.Errorf("Set on a file manager: %v", err)
	}
	// A broken file on reload keeps the configuration in effect.
	if err := os.WriteFile(path, []byte("checks:\n  - name: api\n    intervl: 1m\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := m.Load(ctx)
	if len(Errors(err)) != 2 || !strings.HasPrefix(err.Error(), path+":2:5:") {
		t.Errorf("reload of a broken file: %v", err)
	}
	if f, _, _, _ := m.Current(); len(f.Checks) != 1 || f.Checks[0].URL == "" {
		t.Errorf("broken reload replaced the configuration: %+v", f)
	}
}
