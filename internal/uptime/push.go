package uptime

import (
	"context"
	"crypto/subtle"
	"fmt"
	"strings"
	"time"

	"github.com/fibinc/telltale/internal/config"
	"github.com/fibinc/telltale/internal/state"
)

// PushResult is what a job reports to its push check.
type PushResult struct {
	OK       bool
	Message  string        // why it failed, or any note
	Duration time.Duration // how long the job took, if it says
}

// Push records a heartbeat of a push check. The token must equal the
// check's (compared in constant time); a check without a token takes any.
// ErrUnknownCheck, ErrNotPush or ErrBadToken (wrapped) otherwise.
func (r *Runner) Push(ctx context.Context, name, token string, p PushResult) error {
	r.mu.Lock()
	cs := r.checks[name]
	if cs == nil {
		r.mu.Unlock()
		return fmt.Errorf("check %q: %w", name, ErrUnknownCheck)
	}
	cfg := cs.c.cfg
	r.mu.Unlock()
	if cfg.Type != config.CheckPush {
		return fmt.Errorf("check %q is of type %s: %w", name, cfg.Type, ErrNotPush)
	}
	if cfg.Token != "" && subtle.ConstantTimeCompare([]byte(token), []byte(cfg.Token)) != 1 {
		return fmt.Errorf("push to check %q: %w", name, ErrBadToken)
	}
	res := state.CheckResult{Check: name, At: r.opt.Now(), OK: p.OK, Duration: p.Duration, Source: SourcePush, Attempts: 1}
	if !p.OK {
		res.Error = p.Message
		if res.Error == "" {
			res.Error = "the job reported a failure"
		}
	}
	r.beat(name, res)
	return nil
}

// CheckIn records a Sentry cron check-in for the push check named by the
// monitor slug. Status ok and error are results (error a failed one, with
// the job's duration); in_progress is ignored: only a finished job proves
// that the job ran, so one that starts and hangs is caught as missed.
// Check-ins are authenticated by their DSN, so the check's token plays no
// part. ErrUnknownCheck or ErrNotPush (wrapped) for a slug that names no
// push check.
func (r *Runner) CheckIn(ctx context.Context, slug, status string, duration time.Duration, at time.Time) error {
	r.mu.Lock()
	cs := r.checks[slug]
	var typ string
	if cs != nil {
		typ = cs.c.cfg.Type
	}
	r.mu.Unlock()
	if cs == nil {
		return fmt.Errorf("monitor %q: %w", slug, ErrUnknownCheck)
	}
	if typ != config.CheckPush {
		return fmt.Errorf("monitor %q is a check of type %s: %w", slug, typ, ErrNotPush)
	}
	if at.IsZero() {
		at = r.opt.Now()
	}
	res := state.CheckResult{Check: slug, At: at, Duration: duration, Source: SourceCheckIn, Attempts: 1}
	switch status {
	case "ok":
		res.OK = true
	case "error":
		res.Error = "check-in status error"
	case "in_progress":
		return nil
	default:
		return fmt.Errorf("monitor %q: unknown check-in status %q: want ok, error or in_progress", slug, status)
	}
	r.beat(slug, res)
	return nil
}

// beat records a push or check-in and moves the check's deadline.
func (r *Runner) beat(name string, res state.CheckResult) {
	r.mu.Lock()
	if cs := r.checks[name]; cs != nil {
		cs.deadline = res.At.Add(cs.c.cfg.Interval.D() + cs.c.cfg.Grace.D())
	}
	r.mu.Unlock()
	r.record(name, res)
}

// sweepPush records a missed result for every push check whose deadline
// has passed, once per missed period: the next deadline is one interval
// later.
func (r *Runner) sweepPush(now time.Time) {
	var missed []state.CheckResult
	r.mu.Lock()
	for name, cs := range r.checks {
		cfg := cs.c.cfg
		if cfg.Type != config.CheckPush || cs.deadline.IsZero() || now.Before(cs.deadline) {
			continue
		}
		wait := cfg.Interval.D() + cfg.Grace.D()
		missed = append(missed, state.CheckResult{
			Check: name, At: cs.deadline, Source: SourceMissed, Attempts: 1,
			Error: "no heartbeat in " + formatDuration(wait),
		})
		cs.deadline = cs.deadline.Add(cfg.Interval.D())
		if cs.deadline.Before(now) {
			// Telltale was stopped or the clock jumped: one result for
			// the whole gap.
			cs.deadline = now.Add(cfg.Interval.D())
		}
	}
	r.mu.Unlock()
	for _, res := range missed {
		r.record(res.Check, res)
	}
}

// formatDuration writes 24h30m rather than 24h30m0s.
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
