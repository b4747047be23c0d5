// Package ingestkeytest builds ingest keys for the tests of the ingest
// listeners: two projects, a good key, a revoked one, one of the other
// project, and a clock the test moves. The store is in memory (MemStore),
// so that listener tests do not link DuckDB; the real stores pass the
// conformance suite of internal/state/statetest.
package ingestkeytest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/fibinc/telltale/internal/ingest/ingestkey"
	"github.com/fibinc/telltale/internal/selfmetrics"
	"github.com/fibinc/telltale/internal/state"
)

// Fixture is a Keys over a MemStore.
type Fixture struct {
	Keys    *ingestkey.Keys
	Store   *MemStore
	Metrics *ingestkey.Metrics
	// Project has the keys Good and Revoked; Other has OtherKey.
	Project, Other          state.Project
	Good, Revoked, OtherKey string
	GoodKey                 state.IngestKey

	mu  sync.Mutex
	now time.Time
}

// New returns a fixture; opt's Store, Metrics and Now are set by it.
func New(t testing.TB, opt ingestkey.Options) *Fixture {
	t.Helper()
	ctx := context.Background()
	st := &MemStore{}
	var err error
	f := &Fixture{Store: st, Metrics: ingestkey.NewMetrics(selfmetrics.New()), now: time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)}
	if f.Project, err = st.CreateProject(ctx, "web", "Web"); err != nil {
		t.Fatal(err)
	}
	if f.Other, err = st.CreateProject(ctx, "other", "Other"); err != nil {
		t.Fatal(err)
	}
	f.Good, f.OtherKey = f.Project.PublicKey, f.Other.PublicKey
	keys, err := st.IngestKeys(ctx, f.Project.ID)
	if err != nil {
		t.Fatal(err)
	}
	f.GoodKey = keys[0]
	rev, err := st.CreateIngestKey(ctx, f.Project.ID, "old", 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.RevokeIngestKey(ctx, f.Project.ID, rev.ID, f.now); err != nil {
		t.Fatal(err)
	}
	f.Revoked = rev.Key
	opt.Store, opt.Metrics, opt.Now = st, f.Metrics, f.Now
	f.Keys = ingestkey.New(opt)
	if err := f.Keys.Load(ctx); err != nil {
		t.Fatal(err)
	}
	return f
}

// Now is the fixture's clock.
func (f *Fixture) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

// Advance moves the clock.
func (f *Fixture) Advance(d time.Duration) {
	f.mu.Lock()
	f.now = f.now.Add(d)
	f.mu.Unlock()
}

// BadKey is a key that must be refused, with the name of the case.
type BadKey struct {
	Name string
	Key  string // "" sends no key
}

// BadKeys are the failures every ingest path must answer alike: no key, a
// malformed one, an unknown one, a revoked one. With perProject, a key of
// the other project too (it works where the project is not named).
func (f *Fixture) BadKeys(perProject bool) []BadKey {
	bad := []BadKey{
		{"no key", ""},
		{"malformed", "not-a-key"},
		{"upper case", "ABCDEF0123456789ABCDEF0123456789"},
		{"unknown", "0123456789abcdef0123456789abcdef"},
		{"revoked", f.Revoked},
	}
	if perProject {
		bad = append(bad, BadKey{"other project's key", f.OtherKey})
	}
	return bad
}

// MemStore is an ingestkey.Store in memory, with the rules of the real
// stores. Safe for concurrent use.
type MemStore struct {
	mu       sync.Mutex
	projects []state.Project
	keys     []state.IngestKey
}

// Projects implements ingestkey.Store.
func (m *MemStore) Projects(ctx context.Context) ([]state.Project, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]state.Project(nil), m.projects...), nil
}

// CreateProject implements ingestkey.Store.
func (m *MemStore) CreateProject(ctx context.Context, slug, name string) (state.Project, error) {
	if err := state.CheckSlug(slug); err != nil {
		return state.Project{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, p := range m.projects {
		if p.Slug == slug {
			return state.Project{}, fmt.Errorf("project %q: %w", slug, state.ErrExists)
		}
	}
	if name == "" {
		name = slug
	}
	p := state.Project{ID: int64(len(m.projects) + 1), Slug: slug, Name: name, PublicKey: state.NewPublicKey(), CreatedAt: state.Timestamp(time.Now())}
	m.projects = append(m.projects, p)
	m.keys = append(m.keys, state.IngestKey{ID: int64(len(m.keys) + 1), ProjectID: p.ID, Name: state.FirstKeyName, Key: p.PublicKey, CreatedAt: p.CreatedAt})
	return p, nil
}

// CreateIngestKey implements state.IngestKeyStore.
func (m *MemStore) CreateIngestKey(ctx context.Context, projectID int64, name string, rateLimit float64) (state.IngestKey, error) {
	if err := state.CheckIngestKey(name, rateLimit); err != nil {
		return state.IngestKey{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if projectID <= 0 || projectID > int64(len(m.projects)) {
		return state.IngestKey{}, fmt.Errorf("project %d: %w", projectID, state.ErrNotFound)
	}
	k := state.IngestKey{ID: int64(len(m.keys) + 1), ProjectID: projectID, Name: name, Key: state.NewPublicKey(), RateLimit: rateLimit, CreatedAt: state.Timestamp(time.Now())}
	m.keys = append(m.keys, k)
	return k, nil
}

// IngestKeys implements state.IngestKeyStore.
func (m *MemStore) IngestKeys(ctx context.Context, projectID int64) ([]state.IngestKey, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []state.IngestKey
	for _, k := range m.keys {
		if projectID == 0 || k.ProjectID == projectID {
			out = append(out, k)
		}
	}
	return out, nil
}

// RevokeIngestKey implements state.IngestKeyStore.
func (m *MemStore) RevokeIngestKey(ctx context.Context, projectID, keyID int64, at time.Time) (state.IngestKey, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := range m.keys {
		k := &m.keys[i]
		if k.ID == keyID && k.ProjectID == projectID {
			if k.RevokedAt.IsZero() {
				k.RevokedAt = state.Timestamp(at)
			}
			return *k, nil
		}
	}
	return state.IngestKey{}, fmt.Errorf("ingest key %d of project %d: %w", keyID, projectID, state.ErrNotFound)
}
