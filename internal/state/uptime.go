package state

import "time"

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
