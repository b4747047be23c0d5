package duckdb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/fibinc/telltale/internal/state"
)

// configRow is the id of the one row of config_document.
const configRow = 1

// ConfigDocument implements state.ConfigStore.
func (s *Store) ConfigDocument(ctx context.Context) (string, time.Time, error) {
	var doc string
	var at sql.NullTime
	err := s.db.QueryRowContext(ctx, "SELECT doc, updated_at FROM config_document WHERE id = ?", configRow).Scan(&doc, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return "", time.Time{}, fmt.Errorf("configuration document: %w", state.ErrNotFound)
	}
	if err != nil {
		return "", time.Time{}, fmt.Errorf("cannot read configuration document: %w", err)
	}
	return doc, timeOf(at), nil
}

// SetConfigDocument implements state.ConfigStore.
func (s *Store) SetConfigDocument(ctx context.Context, doc string, at time.Time) error {
	if at.IsZero() {
		return errors.New("cannot store configuration document: no time given")
	}
	at = state.Timestamp(at)
	s.wmu.Lock()
	defer s.wmu.Unlock()
	// UPDATE, then INSERT if there was no row: DuckDB refuses to delete and
	// re-insert a primary key in one transaction.
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "UPDATE config_document SET doc = ?, updated_at = ? WHERE id = ?", doc, at, configRow)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n > 0 {
			return err
		}
		_, err = tx.ExecContext(ctx, "INSERT INTO config_document (id, doc, updated_at) VALUES (?, ?, ?)", configRow, doc, at)
		return err
	})
	if err != nil {
		return fmt.Errorf("cannot store configuration document: %w", err)
	}
	return nil
}
