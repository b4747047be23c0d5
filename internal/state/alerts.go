package state

import (
	"context"
	"time"
)

// AlertInstance is the stored state of one alert instance: a rule and a
// label set, with everything its state machine needs to resume after a
// restart (internal/alert.Instance).
type AlertInstance struct {
	Rule        string `json:"rule"`
	Fingerprint string `json:"fingerprint"` // of the alert's labels
	// RuleHash identifies the rule's definition the state belongs to: a
	// state kept for a changed rule is discarded.
	RuleHash    string            `json:"rule_hash"`
	Labels      map[string]string `json:"labels"` // the instance's own labels
	State       string            `json:"state"`  // OK, PENDING, FIRING, NO_DATA
	Since       time.Time         `json:"since"`
	ActiveAt    time.Time         `json:"active_at,omitzero"`
	ClearedAt   time.Time         `json:"cleared_at,omitzero"`
	FiredAt     time.Time         `json:"fired_at,omitzero"`
	ResolvedAt  time.Time         `json:"resolved_at,omitzero"`
	EvaluatedAt time.Time         `json:"evaluated_at"`
	Value       float64           `json:"value"` // of the last datapoint
	Reason      string            `json:"reason"`
	// Datapoints is the evaluation range, oldest first.
	Datapoints []AlertDatapoint `json:"datapoints"`
}

// AlertDatapoint is one evaluation's datapoint of an instance.
type AlertDatapoint struct {
	At      time.Time `json:"at"`
	Outcome string    `json:"outcome"` // ok, breach, missing
	Value   float64   `json:"value"`
}

// AlertTransition is one change of state of an alert instance.
type AlertTransition struct {
	ID          int64             `json:"id"`
	Rule        string            `json:"rule"`
	Fingerprint string            `json:"fingerprint"`
	Labels      map[string]string `json:"labels"`
	From        string            `json:"from"`
	To          string            `json:"to"`
	At          time.Time         `json:"at"`
	Value       float64           `json:"value"`
	Reason      string            `json:"reason"`
}

// AlertHistoryRetention is how long transitions are kept.
const AlertHistoryRetention = 30 * 24 * time.Hour

// AlertStore keeps the alert evaluator's state and history.
type AlertStore interface {
	// AlertInstances returns the stored instances of a rule ("" for every
	// rule), by rule and fingerprint.
	AlertInstances(ctx context.Context, rule string) ([]AlertInstance, error)
	// SaveAlertState replaces the stored instances of a rule by instances
	// (none deletes them) and appends transitions to the history, in one
	// transaction. Times go through Timestamp.
	SaveAlertState(ctx context.Context, rule string, instances []AlertInstance, transitions []AlertTransition) error
	// AlertHistory returns the transitions of a rule ("" for every rule),
	// newest first, at most limit of them (0: no limit).
	AlertHistory(ctx context.Context, rule string, limit int) ([]AlertTransition, error)
	// PruneAlertHistory deletes the transitions before t and says how many.
	PruneAlertHistory(ctx context.Context, before time.Time) (int64, error)
}
