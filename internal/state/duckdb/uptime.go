package duckdb

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/fibinc/telltale/internal/state"
)

// AddCheckResults implements state.UptimeStore with one INSERT of list
// parameters, so that a batch costs one statement however large.
func (s *Store) AddCheckResults(ctx context.Context, results []state.CheckResult) error {
	if len(results) == 0 {
		return nil
	}
	n := len(results)
	var (
		names, sources, errs, conds, traces = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		ats, certs                          = make([]time.Time, n), make([]time.Time, n)
		oks, hasCert                        = make([]bool, n), make([]bool, n)
		durs                                = make([]int64, n)
		statuses, attempts                  = make([]int32, n), make([]int32, n)
	)
	for i, r := range results {
		if err := state.CheckCheckResult(r); err != nil {
			return err
		}
		names[i], ats[i], oks[i], durs[i] = r.Check, state.Timestamp(r.At), r.OK, r.Duration.Microseconds()
		sources[i], statuses[i], errs[i], traces[i], attempts[i] = r.Source, int32(r.Status), r.Error, r.TraceID, int32(r.Attempts)
		if len(r.Conditions) > 0 {
			b, err := json.Marshal(r.Conditions)
			if err != nil {
				return fmt.Errorf("cannot store check results: %w", err)
			}
			conds[i] = string(b)
		}
		// A list parameter cannot hold NULL: a flag says which times are set.
		certs[i], hasCert[i] = state.Timestamp(r.CertExpiry), !r.CertExpiry.IsZero()
		if !hasCert[i] {
			certs[i] = ats[i]
		}
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	_, err := s.db.ExecContext(ctx, `INSERT INTO check_results
		SELECT name, ts, ok, dur, source, status, error, conds, trace, CASE WHEN has_cert THEN cert END, attempts
		FROM (SELECT unnest(?::VARCHAR[]) AS name, unnest(?::TIMESTAMP[]) AS ts, unnest(?::BOOLEAN[]) AS ok,
			unnest(?::BIGINT[]) AS dur, unnest(?::VARCHAR[]) AS source, unnest(?::INTEGER[]) AS status,
			unnest(?::VARCHAR[]) AS error, unnest(?::VARCHAR[]) AS conds, unnest(?::VARCHAR[]) AS trace,
			unnest(?::TIMESTAMP[]) AS cert, unnest(?::BOOLEAN[]) AS has_cert, unnest(?::INTEGER[]) AS attempts)`,
		names, ats, oks, durs, sources, statuses, errs, conds, traces, certs, hasCert, attempts)
	if err != nil {
		return fmt.Errorf("cannot store %d check results: %w", n, err)
	}
	return nil
}

const checkResultCols = "check_name, checked_at, ok, duration_us, source, status, error, conditions, trace_id, cert_expiry, attempts"

func scanCheckResult(sc interface{ Scan(...any) error }) (state.CheckResult, error) {
	var r state.CheckResult
	var dur int64
	var conds string
	var cert sql.NullTime
	if err := sc.Scan(&r.Check, &r.At, &r.OK, &dur, &r.Source, &r.Status, &r.Error, &conds, &r.TraceID, &cert, &r.Attempts); err != nil {
		return r, err
	}
	r.At = r.At.UTC()
	r.Duration = time.Duration(dur) * time.Microsecond
	r.CertExpiry = timeOf(cert)
	if conds != "" {
		if err := json.Unmarshal([]byte(conds), &r.Conditions); err != nil {
			return r, fmt.Errorf("bad conditions of %s at %s: %w", r.Check, r.At, err)
		}
	}
	return r, nil
}

// CheckResults implements state.UptimeStore.
func (s *Store) CheckResults(ctx context.Context, check string, from, to time.Time, limit int) ([]state.CheckResult, error) {
	if limit < 0 {
		return nil, fmt.Errorf("cannot read results of check %s: limit %d", check, limit)
	}
	q := "SELECT " + checkResultCols + " FROM check_results WHERE check_name = ?"
	args := []any{check}
	if !from.IsZero() {
		q += " AND checked_at >= ?"
		args = append(args, state.Timestamp(from))
	}
	if !to.IsZero() {
		q += " AND checked_at < ?"
		args = append(args, state.Timestamp(to))
	}
	if limit > 0 {
		q = "SELECT * FROM (" + q + " ORDER BY checked_at DESC LIMIT ?) ORDER BY checked_at"
		args = append(args, limit)
	} else {
		q += " ORDER BY checked_at"
	}
	out, err := s.queryCheckResults(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("cannot read results of check %s: %w", check, err)
	}
	return out, nil
}

func (s *Store) queryCheckResults(ctx context.Context, q string, args ...any) ([]state.CheckResult, error) {
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []state.CheckResult
	for rows.Next() {
		r, err := scanCheckResult(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// LatestCheckResults implements state.UptimeStore.
func (s *Store) LatestCheckResults(ctx context.Context) (map[string]state.CheckResult, error) {
	rs, err := s.queryCheckResults(ctx, "SELECT "+checkResultCols+` FROM check_results
		WHERE (check_name, checked_at) IN (SELECT check_name, max(checked_at) FROM check_results GROUP BY check_name)`)
	if err != nil {
		return nil, fmt.Errorf("cannot read latest check results: %w", err)
	}
	out := make(map[string]state.CheckResult, len(rs))
	for _, r := range rs {
		out[r.Check] = r
	}
	return out, nil
}

// DeleteCheckResultsBefore implements state.UptimeStore.
func (s *Store) DeleteCheckResultsBefore(ctx context.Context, t time.Time) (int64, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	res, err := s.db.ExecContext(ctx, "DELETE FROM check_results WHERE checked_at < ?", state.Timestamp(t))
	if err != nil {
		return 0, fmt.Errorf("cannot delete check results before %s: %w", t, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("cannot delete check results before %s: %w", t, err)
	}
	return n, nil
}
