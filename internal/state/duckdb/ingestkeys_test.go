package duckdb_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/fibinc/telltale/internal/state/duckdb"
)

// TestIngestKeyBackfill opens a database from before ingest keys: each
// project's public key must become its first ingest key.
func TestIngestKeyBackfill(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := open(t, dir)
	a, err := s.CreateProject(ctx, "web", "")
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.CreateProject(ctx, "api", "")
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	// Back to the schema before ingest keys.
	rawExec(t, filepath.Join(dir, duckdb.FileName),
		"DROP TABLE ingest_keys", "DROP SEQUENCE ingest_key_ids",
		"DELETE FROM schema_version WHERE version = (SELECT max(version) FROM schema_version)")

	s = open(t, dir)
	defer s.Close()
	keys, err := s.IngestKeys(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 {
		t.Fatalf("keys after the migration: %+v, want the 2 public keys", keys)
	}
	for i, p := range []struct {
		id  int64
		key string
	}{{a.ID, a.PublicKey}, {b.ID, b.PublicKey}} {
		k := keys[i]
		if k.ProjectID != p.id || k.Key != p.key || !k.Active() || k.Name != "default" || k.RateLimit != 0 {
			t.Errorf("key %d = %+v, want project %d's public key %s", i, k, p.id, p.key)
		}
	}
	// The sequence goes on after the backfilled ids.
	k, err := s.CreateIngestKey(ctx, a.ID, "new", 0)
	if err != nil {
		t.Fatal(err)
	}
	if k.ID <= keys[1].ID {
		t.Errorf("new key id %d, not after the backfilled %d", k.ID, keys[1].ID)
	}
}
