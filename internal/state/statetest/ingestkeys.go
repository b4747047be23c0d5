package statetest

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/fibinc/telltale/internal/state"
)

// runIngestKeys runs the ingest key tests.
func runIngestKeys(t *testing.T, open OpenFunc) {
	t.Run("IngestKeys", func(t *testing.T) { testIngestKeys(t, open) })
	t.Run("IngestKeyValidation", func(t *testing.T) { testIngestKeyValidation(t, open) })
}

func normKey(k state.IngestKey) state.IngestKey {
	k.CreatedAt, k.RevokedAt = norm(k.CreatedAt), norm(k.RevokedAt)
	return k
}

func testIngestKeys(t *testing.T, open OpenFunc) {
	dir := t.TempDir()
	s := open(t, dir)
	a, b := mustProject(t, s, "web"), mustProject(t, s, "api")

	// A new project's public key is its first ingest key.
	keys, err := s.IngestKeys(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 || keys[0].Key != a.PublicKey || keys[0].ProjectID != a.ID || keys[0].Name != state.FirstKeyName ||
		!keys[0].Active() || keys[0].RateLimit != 0 || norm(keys[0].CreatedAt) != norm(a.CreatedAt) {
		t.Fatalf("keys of a new project = %+v, want its public key %s", keys, a.PublicKey)
	}
	first := keys[0]

	before := time.Now().Add(-time.Second)
	k, err := s.CreateIngestKey(ctx, a.ID, "ci runners", 250.5)
	if err != nil {
		t.Fatal(err)
	}
	if !keyRE.MatchString(k.Key) || k.Key == a.PublicKey || k.ID == 0 || k.ID == first.ID || k.ProjectID != a.ID ||
		k.Name != "ci runners" || k.RateLimit != 250.5 || !k.Active() || k.CreatedAt.Before(before) {
		t.Errorf("CreateIngestKey = %+v", k)
	}
	if _, err := s.CreateIngestKey(ctx, 999, "x", 0); !errors.Is(err, state.ErrNotFound) {
		t.Errorf("CreateIngestKey of an unknown project: %v, want ErrNotFound", err)
	}

	// Another project's key cannot be revoked through this one.
	if _, err := s.RevokeIngestKey(ctx, b.ID, k.ID, at(0)); !errors.Is(err, state.ErrNotFound) {
		t.Errorf("RevokeIngestKey through another project: %v, want ErrNotFound", err)
	}
	if _, err := s.RevokeIngestKey(ctx, a.ID, 12345, at(0)); !errors.Is(err, state.ErrNotFound) {
		t.Errorf("RevokeIngestKey of an unknown key: %v, want ErrNotFound", err)
	}
	r, err := s.RevokeIngestKey(ctx, a.ID, first.ID, at(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if r.Active() || norm(r.RevokedAt) != norm(state.Timestamp(at(time.Minute))) || r.Key != first.Key {
		t.Errorf("revoked key = %+v", r)
	}
	// A second revocation keeps the first time.
	r2, err := s.RevokeIngestKey(ctx, a.ID, first.ID, at(time.Hour))
	if err != nil || norm(r2.RevokedAt) != norm(r.RevokedAt) {
		t.Errorf("second revocation = %+v, %v; want revoked at %v", r2, err, r.RevokedAt)
	}

	check := func(s state.Store) {
		t.Helper()
		all, err := s.IngestKeys(ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(all) != 3 {
			t.Fatalf("every key: %d, want 3: %+v", len(all), all)
		}
		for i := 1; i < len(all); i++ {
			if all[i].ID <= all[i-1].ID {
				t.Errorf("keys not by id: %+v", all)
			}
		}
		want := map[string]state.IngestKey{first.Key: r, k.Key: k, b.PublicKey: {ProjectID: b.ID, Name: state.FirstKeyName, Key: b.PublicKey, CreatedAt: b.CreatedAt}}
		for _, got := range all {
			w, ok := want[got.Key]
			if !ok {
				t.Errorf("unexpected key %+v", got)
				continue
			}
			if w.ID == 0 {
				w.ID = got.ID
			}
			if normKey(got) != normKey(w) {
				t.Errorf("key:\n got %+v\nwant %+v", got, w)
			}
		}
		ofB, err := s.IngestKeys(ctx, b.ID)
		if err != nil || len(ofB) != 1 || ofB[0].Key != b.PublicKey {
			t.Errorf("keys of %s = %+v, %v", b.Slug, ofB, err)
		}
		none, err := s.IngestKeys(ctx, 999)
		if err != nil || len(none) != 0 {
			t.Errorf("keys of an unknown project = %+v, %v", none, err)
		}
	}
	check(s)
	s.Close()
	s = open(t, dir)
	defer s.Close()
	check(s)
}

func testIngestKeyValidation(t *testing.T, open OpenFunc) {
	s := open(t, t.TempDir())
	defer s.Close()
	p := mustProject(t, s, "web")
	for _, tc := range []struct {
		name string
		rate float64
	}{
		{strings.Repeat("x", state.MaxKeyNameLen+1), 0},
		{"bad \xff utf-8", 0},
		{"negative", -1},
		{"nan", math.NaN()},
		{"inf", math.Inf(1)},
	} {
		if k, err := s.CreateIngestKey(ctx, p.ID, tc.name, tc.rate); err == nil {
			t.Errorf("CreateIngestKey(%q, %v) = %+v, want an error", tc.name, tc.rate, k)
		}
	}
	if _, err := s.CreateIngestKey(ctx, p.ID, "", 0); err != nil {
		t.Errorf("CreateIngestKey without a name: %v", err)
	}
	if _, err := s.CreateIngestKey(ctx, p.ID, strings.Repeat("é", state.MaxKeyNameLen), 1e6); err != nil {
		t.Errorf("CreateIngestKey with the longest name: %v", err)
	}
}
