// Package ingestkeytest builds ingest keys over a real state store for the
// tests of the ingest listeners: two projects, a good key, a revoked one,
// one of the other project, and a clock the test moves.
package ingestkeytest

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/fibinc/telltale/internal/ingest/ingestkey"
	"github.com/fibinc/telltale/internal/selfmetrics"
	"github.com/fibinc/telltale/internal/state"
	statedb "github.com/fibinc/telltale/internal/state/duckdb"
)

// Fixture is a Keys over a state store in a temporary directory.
type Fixture struct {
	Keys    *ingestkey.Keys
	Store   *statedb.Store
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
	st, err := statedb.Open(ctx, statedb.Options{Path: filepath.Join(t.TempDir(), statedb.FileName)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
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
