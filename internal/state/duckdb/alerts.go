package duckdb

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/fibinc/telltale/internal/state"
)

const alertInstanceCols = `rule, fingerprint, rule_hash, labels, state, since, active_at, cleared_at,
	fired_at, resolved_at, evaluated_at, value, reason, datapoints`

// AlertInstances implements state.AlertStore.
func (s *Store) AlertInstances(ctx context.Context, rule string) ([]state.AlertInstance, error) {
	q := "SELECT " + alertInstanceCols + " FROM alert_instances"
	var args []any
	if rule != "" {
		q += " WHERE rule = ?"
		args = append(args, rule)
	}
	rows, err := s.db.QueryContext(ctx, q+" ORDER BY rule, fingerprint", args...)
	if err != nil {
		return nil, fmt.Errorf("cannot read alert instances: %w", err)
	}
	defer rows.Close()
	out := []state.AlertInstance{}
	for rows.Next() {
		var in state.AlertInstance
		var labels, dps string
		var since, active, cleared, fired, resolved, evaluated sql.NullTime
		if err := rows.Scan(&in.Rule, &in.Fingerprint, &in.RuleHash, &labels, &in.State, &since, &active, &cleared,
			&fired, &resolved, &evaluated, &in.Value, &in.Reason, &dps); err != nil {
			return nil, fmt.Errorf("cannot read alert instances: %w", err)
		}
		in.Since, in.ActiveAt, in.ClearedAt = timeOf(since), timeOf(active), timeOf(cleared)
		in.FiredAt, in.ResolvedAt, in.EvaluatedAt = timeOf(fired), timeOf(resolved), timeOf(evaluated)
		if err := json.Unmarshal([]byte(labels), &in.Labels); err != nil {
			return nil, fmt.Errorf("cannot read labels of alert instance %s/%s: %w", in.Rule, in.Fingerprint, err)
		}
		if err := json.Unmarshal([]byte(dps), &in.Datapoints); err != nil {
			return nil, fmt.Errorf("cannot read datapoints of alert instance %s/%s: %w", in.Rule, in.Fingerprint, err)
		}
		for i := range in.Datapoints {
			in.Datapoints[i].At = in.Datapoints[i].At.UTC()
		}
		out = append(out, in)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cannot read alert instances: %w", err)
	}
	return out, nil
}

// finite keeps NaN and infinities, which JSON cannot hold, out of the store.
func finite(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	return v
}

// SaveAlertState implements state.AlertStore.
func (s *Store) SaveAlertState(ctx context.Context, rule string, instances []state.AlertInstance, transitions []state.AlertTransition) error {
	if rule == "" {
		return fmt.Errorf("cannot save alert state: no rule given")
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("cannot save alert state of %s: %w", rule, err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, "DELETE FROM alert_instances WHERE rule = ?", rule); err != nil {
		return fmt.Errorf("cannot save alert state of %s: %w", rule, err)
	}
	for _, in := range instances {
		labels, err := json.Marshal(nonNil(in.Labels))
		if err != nil {
			return fmt.Errorf("cannot save alert state of %s: %w", rule, err)
		}
		dps := make([]state.AlertDatapoint, len(in.Datapoints))
		for i, d := range in.Datapoints {
			dps[i] = state.AlertDatapoint{At: state.Timestamp(d.At), Outcome: d.Outcome, Value: finite(d.Value)}
		}
		dpsJSON, err := json.Marshal(dps)
		if err != nil {
			return fmt.Errorf("cannot save alert state of %s: %w", rule, err)
		}
		_, err = tx.ExecContext(ctx, "INSERT INTO alert_instances ("+alertInstanceCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
			rule, in.Fingerprint, in.RuleHash, string(labels), in.State, ts(in.Since), ts(in.ActiveAt), ts(in.ClearedAt),
			ts(in.FiredAt), ts(in.ResolvedAt), ts(in.EvaluatedAt), finite(in.Value), in.Reason, string(dpsJSON))
		if err != nil {
			return fmt.Errorf("cannot save alert instance %s/%s: %w", rule, in.Fingerprint, err)
		}
	}
	for _, tr := range transitions {
		labels, err := json.Marshal(nonNil(tr.Labels))
		if err != nil {
			return fmt.Errorf("cannot save alert history of %s: %w", rule, err)
		}
		if tr.At.IsZero() {
			return fmt.Errorf("cannot save alert history of %s: transition without a time", rule)
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO alert_history (id, rule, fingerprint, labels, from_state, to_state, changed_at, value, reason)
			VALUES (nextval('alert_history_ids'), ?, ?, ?, ?, ?, ?, ?, ?)`,
			rule, tr.Fingerprint, string(labels), tr.From, tr.To, state.Timestamp(tr.At), finite(tr.Value), tr.Reason)
		if err != nil {
			return fmt.Errorf("cannot save alert history of %s: %w", rule, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("cannot save alert state of %s: %w", rule, err)
	}
	return nil
}

func ts(t time.Time) any { return nullTime(state.Timestamp(t)) }

func nonNil(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

// AlertHistory implements state.AlertStore.
func (s *Store) AlertHistory(ctx context.Context, rule string, limit int) ([]state.AlertTransition, error) {
	q := "SELECT id, rule, fingerprint, labels, from_state, to_state, changed_at, value, reason FROM alert_history"
	var args []any
	if rule != "" {
		q += " WHERE rule = ?"
		args = append(args, rule)
	}
	q += " ORDER BY changed_at DESC, id DESC"
	if limit > 0 {
		q += fmt.Sprintf(" LIMIT %d", limit)
	}
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("cannot read alert history: %w", err)
	}
	defer rows.Close()
	out := []state.AlertTransition{}
	for rows.Next() {
		var tr state.AlertTransition
		var labels string
		if err := rows.Scan(&tr.ID, &tr.Rule, &tr.Fingerprint, &labels, &tr.From, &tr.To, &tr.At, &tr.Value, &tr.Reason); err != nil {
			return nil, fmt.Errorf("cannot read alert history: %w", err)
		}
		tr.At = tr.At.UTC()
		if err := json.Unmarshal([]byte(labels), &tr.Labels); err != nil {
			return nil, fmt.Errorf("cannot read labels of alert transition %d: %w", tr.ID, err)
		}
		out = append(out, tr)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cannot read alert history: %w", err)
	}
	return out, nil
}

// PruneAlertHistory implements state.AlertStore.
func (s *Store) PruneAlertHistory(ctx context.Context, before time.Time) (int64, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	res, err := s.db.ExecContext(ctx, "DELETE FROM alert_history WHERE changed_at < ?", state.Timestamp(before))
	if err != nil {
		return 0, fmt.Errorf("cannot prune alert history: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("cannot prune alert history: %w", err)
	}
	return n, nil
}
