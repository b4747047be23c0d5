package duckdb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/fibinc/telltale/internal/state"
)

const ingestKeyCols = "id, project_id, name, key, rate_limit, created_at, revoked_at"

func scanIngestKey(sc interface{ Scan(...any) error }) (state.IngestKey, error) {
	var k state.IngestKey
	var revoked sql.NullTime
	err := sc.Scan(&k.ID, &k.ProjectID, &k.Name, &k.Key, &k.RateLimit, &k.CreatedAt, &revoked)
	k.CreatedAt = k.CreatedAt.UTC()
	k.RevokedAt = timeOf(revoked)
	return k, err
}

// insertIngestKey adds a key in tx, setting its ID.
func insertIngestKey(ctx context.Context, tx *sql.Tx, k *state.IngestKey) error {
	if err := tx.QueryRowContext(ctx, "SELECT nextval('ingest_key_ids')").Scan(&k.ID); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, "INSERT INTO ingest_keys (id, project_id, name, key, rate_limit, created_at) VALUES (?, ?, ?, ?, ?, ?)",
		k.ID, k.ProjectID, k.Name, k.Key, k.RateLimit, k.CreatedAt)
	return err
}

// CreateIngestKey implements state.IngestKeyStore.
func (s *Store) CreateIngestKey(ctx context.Context, projectID int64, name string, rateLimit float64) (state.IngestKey, error) {
	if err := state.CheckIngestKey(name, rateLimit); err != nil {
		return state.IngestKey{}, err
	}
	k := state.IngestKey{ProjectID: projectID, Name: name, Key: state.NewPublicKey(), RateLimit: rateLimit, CreatedAt: state.Timestamp(time.Now())}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM projects WHERE id = ?", projectID).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("project %d: %w", projectID, state.ErrNotFound)
		}
		return insertIngestKey(ctx, tx, &k)
	})
	if errors.Is(err, state.ErrNotFound) {
		return state.IngestKey{}, err
	}
	if err != nil {
		return state.IngestKey{}, fmt.Errorf("cannot create ingest key of project %d: %w", projectID, err)
	}
	return k, nil
}

// IngestKeys implements state.IngestKeyStore.
func (s *Store) IngestKeys(ctx context.Context, projectID int64) ([]state.IngestKey, error) {
	q, args := "SELECT "+ingestKeyCols+" FROM ingest_keys ORDER BY id", []any(nil)
	if projectID != 0 {
		q, args = "SELECT "+ingestKeyCols+" FROM ingest_keys WHERE project_id = ? ORDER BY id", []any{projectID}
	}
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("cannot list ingest keys: %w", err)
	}
	defer rows.Close()
	var out []state.IngestKey
	for rows.Next() {
		k, err := scanIngestKey(rows)
		if err != nil {
			return nil, fmt.Errorf("cannot list ingest keys: %w", err)
		}
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cannot list ingest keys: %w", err)
	}
	return out, nil
}

// RevokeIngestKey implements state.IngestKeyStore.
func (s *Store) RevokeIngestKey(ctx context.Context, projectID, keyID int64, at time.Time) (state.IngestKey, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	var k state.IngestKey
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "UPDATE ingest_keys SET revoked_at = ? WHERE id = ? AND project_id = ? AND revoked_at IS NULL",
			state.Timestamp(at), keyID, projectID)
		if err != nil {
			return err
		}
		k, err = scanIngestKey(tx.QueryRowContext(ctx, "SELECT "+ingestKeyCols+" FROM ingest_keys WHERE id = ? AND project_id = ?", keyID, projectID))
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("ingest key %d of project %d: %w", keyID, projectID, state.ErrNotFound)
		}
		return err
	})
	if errors.Is(err, state.ErrNotFound) {
		return state.IngestKey{}, err
	}
	if err != nil {
		return state.IngestKey{}, fmt.Errorf("cannot revoke ingest key %d: %w", keyID, err)
	}
	return k, nil
}
