package state

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// CheckResult is one outcome of an uptime check: a probe's result, a push,
// or a Sentry check-in. Every result is stored; uptime is computed from
// them, each owning the time until the next (time-weighted).
type CheckResult struct {
	Check    string        `json:"check"`
	At       time.Time     `json:"at"`
	OK       bool          `json:"ok"`
	Duration time.Duration `json:"duration_ns"`      // response time; for a push, the job's own duration if given
	Source   string        `json:"source"`           // probe, push, check_in, missed (a push that did not come)
	Status   int           `json:"status,omitempty"` // HTTP status
	Error    string        `json:"error,omitempty"`  // why it failed: the failed conditions or the transport error
	// Conditions are the conditions evaluated, each with its outcome and
	// the actual value ("[STATUS] (503) == 200").
	Conditions []ConditionResult `json:"conditions,omitempty"`
	TraceID    string            `json:"trace_id,omitempty"` // the traceparent sent with an HTTP probe
	CertExpiry time.Time         `json:"cert_expiry,omitzero"`
	Attempts   int               `json:"attempts"` // 1 + the retries used
}

// ConditionResult is one evaluated condition of a check.
type ConditionResult struct {
	Condition string `json:"condition"`
	OK        bool   `json:"ok"`
	Actual    string `json:"actual,omitempty"`
}

// UptimeStore keeps the results of uptime checks.
type UptimeStore interface {
	// AddCheckResults stores results (any checks, any order) in one
	// transaction. Times go through Timestamp; a result without a check
	// name or time is refused.
	AddCheckResults(ctx context.Context, results []CheckResult) error
	// CheckResults returns a check's results with from <= At < to,
	// ascending by At (ties in no set order). A zero from or to leaves
	// that end open. With limit > 0 only the latest limit results of the
	// range are returned, still ascending.
	CheckResults(ctx context.Context, check string, from, to time.Time, limit int) ([]CheckResult, error)
	// LatestCheckResults returns the latest result of every check that has
	// one.
	LatestCheckResults(ctx context.Context) (map[string]CheckResult, error)
	// DeleteCheckResultsBefore deletes the results with At < t and returns
	// how many it deleted.
	DeleteCheckResultsBefore(ctx context.Context, t time.Time) (int64, error)
}

// CheckCheckResult reports whether r can be stored.
func CheckCheckResult(r CheckResult) error {
	if r.Check == "" {
		return errors.New("invalid check result: no check name")
	}
	if r.At.IsZero() {
		return fmt.Errorf("invalid check result of %s: no time", r.Check)
	}
	return nil
}
