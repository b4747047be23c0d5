// Package uptime runs Telltale's uptime checks: HTTP(S), TCP, DNS and TLS
// probes with Gatus-style conditions, push monitors (heartbeats that a job
// sends, and Sentry cron check-ins), the scheduler that runs them from the
// configuration file, the storage of every result, and the time-weighted
// uptime reports the API and pages show.
//
// A Runner is given the checks with SetChecks (again on every config
// reload) and runs them until its context ends. Results go to a
// ResultStore (the state store) in batches; reports are computed from the
// stored results. See docs/design/alerting.md, "Uptime checks".
package uptime

import (
	"context"
	"crypto/x509"
	"errors"
	"log/slog"
	"math/rand/v2"
	"reflect"
	"slices"
	"sync"
	"time"

	"github.com/fibinc/telltale/internal/config"
	"github.com/fibinc/telltale/internal/state"
)

// Result sources.
const (
	SourceProbe   = "probe"
	SourcePush    = "push"
	SourceCheckIn = "check_in"
	SourceMissed  = "missed"
)

// Retention is how long results are kept: long enough for a 90-day report
// with margin. The Runner deletes older ones once an hour.
const Retention = 100 * 24 * time.Hour

// Queue policy: results wait in memory for the next flush (every second,
// or when flushBatch are waiting). When maxQueue results are waiting (the
// store is stuck), new results are dropped and counted in the log; the
// latest result of each check stays current in memory all the same.
const (
	maxQueue      = 10_000
	flushBatch    = 500
	flushEvery    = time.Second
	cleanupEvery  = time.Hour
	maxStartDelay = 10 * time.Second
)

// ResultStore keeps results; state.Store satisfies it.
type ResultStore interface {
	AddCheckResults(ctx context.Context, results []state.CheckResult) error
	CheckResults(ctx context.Context, check string, from, to time.Time, limit int) ([]state.CheckResult, error)
	LatestCheckResults(ctx context.Context) (map[string]state.CheckResult, error)
	DeleteCheckResultsBefore(ctx context.Context, t time.Time) (int64, error)
}

// Options configure a Runner. The zero value works but keeps no results
// (Store nil: reports are empty).
type Options struct {
	Store  ResultStore
	Logger *slog.Logger
	Now    func() time.Time // default time.Now
	// Concurrency caps the probes running at once. Default 8.
	Concurrency int
	// RootCAs verifies HTTPS and TLS checks; nil means the system's.
	RootCAs *x509.CertPool
	// ResolvConf is where DNS checks without an address find their
	// resolver. Default /etc/resolv.conf.
	ResolvConf string
}

// Errors of Push and CheckIn.
var (
	ErrUnknownCheck = errors.New("unknown check")
	ErrBadToken     = errors.New("bad push token")
	ErrNotPush      = errors.New("not a push check")
)

// Runner schedules the checks and keeps their latest state. Safe for
// concurrent use.
type Runner struct {
	opt Options
	log *slog.Logger
	sem chan struct{}

	mu      sync.Mutex
	checks  map[string]*checkState
	order   []string // config order, for listings
	maint   []config.Maintenance
	runCtx  context.Context // nil until Run starts
	queue   []state.CheckResult
	dropped int
	flushC  chan struct{}
	// summaries caches Summary per check (one entry per configured check).
	summaries map[string]cachedSummary
}

// checkState is a configured check and what the Runner knows of it.
type checkState struct {
	c      *compiled
	cancel context.CancelFunc // stops its probe loop
	since  time.Time          // when it was configured (or the Runner started)
	last   state.CheckResult
	// deadline is when a push check counts as missed if no push comes.
	deadline time.Time
}

// New returns a Runner with no checks.
func New(opt Options) *Runner {
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Concurrency <= 0 {
		opt.Concurrency = 8
	}
	return &Runner{
		opt:       opt,
		log:       opt.Logger.With("component", "uptime"),
		sem:       make(chan struct{}, opt.Concurrency),
		checks:    map[string]*checkState{},
		flushC:    make(chan struct{}, 1),
		summaries: map[string]cachedSummary{},
	}
}

// SetChecks replaces the configuration; it may be called at any time.
// Unchanged checks keep their schedule and push state; changed ones
// restart; removed ones stop. Checks that do not compile (config.Parse
// rejects them first) are skipped with a log record.
func (r *Runner) SetChecks(checks []config.Check, maint []config.Maintenance) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.opt.Now()
	seen := map[string]bool{}
	r.order = r.order[:0]
	for _, c := range checks {
		if seen[c.Name] {
			r.log.Warn("duplicate check skipped", "check", c.Name)
			continue
		}
		comp, err := compile(c)
		if err != nil {
			r.log.Error("check skipped", "check", c.Name, "err", err)
			continue
		}
		seen[c.Name] = true
		r.order = append(r.order, c.Name)
		old := r.checks[c.Name]
		if old != nil && sameCheck(old.c.cfg, comp.cfg) {
			continue
		}
		cs := &checkState{c: comp, since: now}
		if old != nil {
			old.stop()
			cs.last = old.last // the page keeps showing it until the next run
		}
		if comp.cfg.Type == config.CheckPush {
			cs.deadline = now.Add(comp.cfg.Interval.D() + comp.cfg.Grace.D())
		}
		r.checks[c.Name] = cs
		if r.runCtx != nil {
			r.start(cs)
		}
	}
	for name, cs := range r.checks {
		if !seen[name] {
			cs.stop()
			delete(r.checks, name)
			delete(r.summaries, name)
		}
	}
	r.maint = slices.Clone(maint)
}

// sameCheck compares two checks but for where they are in the file.
func sameCheck(a, b config.Check) bool {
	a.Line, b.Line = 0, 0
	return reflect.DeepEqual(a, b)
}

func (cs *checkState) stop() {
	if cs.cancel != nil {
		cs.cancel()
		cs.cancel = nil
	}
}

// start starts a probe check's loop; r.mu is held.
func (r *Runner) start(cs *checkState) {
	if cs.c.cfg.Type == config.CheckPush {
		return
	}
	ctx, cancel := context.WithCancel(r.runCtx)
	cs.cancel = cancel
	go r.loop(ctx, cs.c)
}

// loop runs a check every Interval: the next start is the previous start
// plus the interval, whatever the probe took, after a random initial delay
// so that checks loaded together do not fire together.
func (r *Runner) loop(ctx context.Context, c *compiled) {
	iv := c.cfg.Interval.D()
	delay := time.Duration(rand.Int64N(int64(min(iv, maxStartDelay)) + 1))
	next := time.Now().Add(delay)
	t := time.NewTimer(delay)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		select {
		case r.sem <- struct{}{}:
		case <-ctx.Done():
			return
		}
		res := r.probe(ctx, c)
		<-r.sem
		if ctx.Err() != nil {
			return // stopped or changed meanwhile: the result is stale
		}
		r.record(c.cfg.Name, res)
		// Skip starts that a slow probe (retries) overran.
		next = next.Add(iv)
		if now := time.Now(); next.Before(now) {
			next = now.Add(iv - now.Sub(next)%iv)
		}
		t.Reset(time.Until(next))
	}
}

// record keeps a result as the check's latest and queues it for the store.
func (r *Runner) record(name string, res state.CheckResult) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if cs := r.checks[name]; cs != nil && !res.At.Before(cs.last.At) {
		cs.last = res
	}
	if r.opt.Store == nil {
		return
	}
	if len(r.queue) >= maxQueue {
		r.dropped++
		return
	}
	r.queue = append(r.queue, res)
	if len(r.queue) >= flushBatch {
		select {
		case r.flushC <- struct{}{}:
		default:
		}
	}
}

// Run runs the checks until ctx ends, then stores the results still
// queued. It returns nil when ctx ends.
func (r *Runner) Run(ctx context.Context) error {
	if r.opt.Store != nil {
		latest, err := r.opt.Store.LatestCheckResults(ctx)
		if err != nil {
			r.log.Warn("cannot read latest results", "err", err)
		}
		r.mu.Lock()
		for name, res := range latest {
			if cs := r.checks[name]; cs != nil && cs.last.At.IsZero() {
				cs.last = res
			}
		}
		r.mu.Unlock()
	}
	r.mu.Lock()
	r.runCtx = ctx
	now := r.opt.Now()
	for _, cs := range r.checks {
		if cs.c.cfg.Type == config.CheckPush {
			// A push missed while Telltale was down cannot be told from
			// one that was never due: the clock starts now.
			cs.deadline = now.Add(cs.c.cfg.Interval.D() + cs.c.cfg.Grace.D())
		}
		r.start(cs)
	}
	r.mu.Unlock()

	flush := time.NewTicker(flushEvery)
	defer flush.Stop()
	cleanup := time.NewTimer(time.Minute)
	defer cleanup.Stop()
	for {
		select {
		case <-ctx.Done():
			r.mu.Lock()
			for _, cs := range r.checks {
				cs.stop()
			}
			r.runCtx = nil
			r.mu.Unlock()
			// The run's context is done: the last flush gets a short one.
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			r.flush(fctx)
			cancel()
			return nil
		case <-flush.C:
			r.sweepPush(r.opt.Now())
			r.flush(ctx)
		case <-r.flushC:
			r.flush(ctx)
		case <-cleanup.C:
			r.cleanup(ctx)
			cleanup.Reset(cleanupEvery)
		}
	}
}

// flush stores the queued results. On failure they are put back (within
// the queue bound) for the next flush.
func (r *Runner) flush(ctx context.Context) {
	r.mu.Lock()
	batch := r.queue
	r.queue = nil
	dropped := r.dropped
	r.dropped = 0
	r.mu.Unlock()
	if dropped > 0 {
		r.log.Warn("check results dropped: queue full", "dropped", dropped)
	}
	if len(batch) == 0 || r.opt.Store == nil {
		return
	}
	if err := r.opt.Store.AddCheckResults(ctx, batch); err != nil {
		r.log.Error("cannot store check results", "results", len(batch), "err", err)
		r.mu.Lock()
		keep := min(len(batch), maxQueue-len(r.queue))
		r.dropped += len(batch) - keep
		r.queue = append(batch[len(batch)-keep:], r.queue...)
		r.mu.Unlock()
	}
}

// Flush stores the queued results now; for tests and shutdown paths that do
// not wait for Run's ticker.
func (r *Runner) Flush(ctx context.Context) { r.flush(ctx) }

func (r *Runner) cleanup(ctx context.Context) {
	if r.opt.Store == nil {
		return
	}
	n, err := r.opt.Store.DeleteCheckResultsBefore(ctx, r.opt.Now().Add(-Retention))
	if err != nil {
		r.log.Error("cannot delete old check results", "err", err)
		return
	}
	if n > 0 {
		r.log.Info("deleted old check results", "results", n)
	}
}

// CheckStatus is a check as the API and pages list it.
type CheckStatus struct {
	Check config.Check `json:"check"` // with defaults filled
	// Status is up, down, pending (no result yet), maintenance (in a
	// maintenance window now) or unknown (the latest result is older than
	// two intervals: the checks are not running).
	Status string            `json:"status"`
	Last   state.CheckResult `json:"last,omitzero"`
	Since  time.Time         `json:"since"` // when this configuration started
}

// Statuses.
const (
	StatusUp          = "up"
	StatusDown        = "down"
	StatusPending     = "pending"
	StatusMaintenance = "maintenance"
	StatusUnknown     = "unknown"
)

// Checks returns every configured check with its status, in config order.
func (r *Runner) Checks() []CheckStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.opt.Now()
	out := make([]CheckStatus, 0, len(r.order))
	for _, name := range r.order {
		cs := r.checks[name]
		if cs == nil {
			continue
		}
		out = append(out, r.status(cs, now))
	}
	return out
}

// Check returns one check's status; false if it is not configured.
func (r *Runner) Check(name string) (CheckStatus, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	cs := r.checks[name]
	if cs == nil {
		return CheckStatus{}, false
	}
	return r.status(cs, r.opt.Now()), true
}

func (r *Runner) status(cs *checkState, now time.Time) CheckStatus {
	st := CheckStatus{Check: cs.c.cfg, Last: cs.last, Since: cs.since}
	stale := 2*cs.c.cfg.Interval.D() + cs.c.cfg.Timeout.D() + cs.c.cfg.Grace.D() +
		time.Duration(cs.c.cfg.Retries)*(cs.c.cfg.RetryInterval.D()+cs.c.cfg.Timeout.D())
	switch {
	case r.inMaintenance(cs.c.cfg, now):
		st.Status = StatusMaintenance
	case cs.last.At.IsZero():
		st.Status = StatusPending
	case now.Sub(cs.last.At) > stale && now.Sub(cs.since) > stale:
		st.Status = StatusUnknown
	case cs.last.OK:
		st.Status = StatusUp
	default:
		st.Status = StatusDown
	}
	return st
}

// Labels are a check's labels for maintenance matching: its own plus
// "check": its name (the alert rules' convention too).
func Labels(c config.Check) map[string]string {
	out := make(map[string]string, len(c.Labels)+1)
	for k, v := range c.Labels {
		out[k] = v
	}
	out["check"] = c.Name
	return out
}

// inMaintenance reports whether a maintenance window covers the check at t;
// r.mu is held.
func (r *Runner) inMaintenance(c config.Check, t time.Time) bool {
	labels := Labels(c)
	for _, m := range r.maint {
		if config.MatchAll(m.Matchers, labels) && m.ActiveAt(t) {
			return true
		}
	}
	return false
}

// config returns a check's compiled config and the maintenance windows
// that select it.
func (r *Runner) config(name string) (*compiled, []config.Maintenance, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	cs := r.checks[name]
	if cs == nil {
		return nil, nil, false
	}
	labels := Labels(cs.c.cfg)
	var ms []config.Maintenance
	for _, m := range r.maint {
		if config.MatchAll(m.Matchers, labels) {
			ms = append(ms, m)
		}
	}
	return cs.c, ms, true
}
