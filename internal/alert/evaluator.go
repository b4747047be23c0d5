package alert

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"net/url"
	"slices"
	"strings"
	"sync"
	"text/template"
	"time"

	"github.com/fibinc/telltale/internal/config"
	"github.com/fibinc/telltale/internal/notify"
	"github.com/fibinc/telltale/internal/state"
)

// EvalTimeout bounds one evaluation of one rule; a source that takes longer
// gives missing data and an error on the rule.
const EvalTimeout = 30 * time.Second

// Notifier receives, after each evaluation of a rule, its firing instances
// (EndsAt zero) and the ones that just stopped firing (EndsAt set).
type Notifier interface {
	Notify(ctx context.Context, alerts []notify.Alert)
}

// Store is what the evaluator keeps in the state store: instance state,
// history, and the issues the issues source counts.
type Store interface {
	state.AlertStore
	Issues(ctx context.Context, f state.IssueFilter) ([]state.Issue, error)
}

// Options configure an Evaluator. Every field may be zero: a source whose
// dependency is missing records an error on its rules at each evaluation.
type Options struct {
	Query  QueryService // metric, service and logs sources
	PromQL PromQLEngine // promql sources
	State  Store        // instance state, history, issues; nil keeps state in memory only
	// Checks reads uptime results for check sources; nil uses State when it
	// has CheckResults.
	Checks   CheckResultReader
	Notifier Notifier
	Now      func() time.Time // default time.Now
	Logger   *slog.Logger
	// ExternalURL is Telltale's address as users reach it, for the
	// generatorURL of alerts (<ExternalURL>/alerts/<rule>).
	ExternalURL string
	// Source, when set, builds the source of a rule instead of the
	// built-in ones (tests, embedders).
	Source func(config.Rule) (Source, error)
}

// Evaluator evaluates alert rules on schedule. Safe for concurrent use.
type Evaluator struct {
	opt Options
	log *slog.Logger

	// evalMu serialises evaluations, so that Run and Evaluate never
	// overlap and instance state moves one datapoint at a time.
	evalMu sync.Mutex

	mu     sync.Mutex // guards the fields below
	rules  map[string]*rule
	names  []string // in configuration order
	loaded bool     // stored state was read
	wake   chan struct{}
}

// rule is a compiled rule with its instances.
type rule struct {
	def       config.Rule
	hash      string
	params    Params
	cond      Condition
	src       Source
	fixed     map[string]string // labels of the single instance; nil for promql
	counts    bool              // the source counts (logs, issues): absent is a count of 0
	ann       map[string]*template.Template
	instances map[string]*Instance // by fingerprint of the alert labels

	lastEval time.Time
	lastErr  string
	lastDur  time.Duration
}

// New returns an Evaluator without rules.
func New(opt Options) (*Evaluator, error) {
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.Checks == nil && opt.State != nil {
		if c, ok := opt.State.(CheckResultReader); ok {
			opt.Checks = c
		}
	}
	if opt.ExternalURL != "" {
		if _, err := url.Parse(opt.ExternalURL); err != nil {
			return nil, fmt.Errorf("cannot create alert evaluator: bad external URL: %w", err)
		}
	}
	opt.ExternalURL = strings.TrimSuffix(opt.ExternalURL, "/")
	return &Evaluator{
		opt:   opt,
		log:   opt.Logger.With("component", "alert"),
		rules: map[string]*rule{},
		wake:  make(chan struct{}, 1),
	}, nil
}

// ruleHash identifies a rule's definition; Line is left out, so that moving
// a rule in its file keeps its state.
func ruleHash(r config.Rule) string {
	r.Line = 0
	b, _ := json.Marshal(r)
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:8])
}

// every returns the rule's evaluation interval (default 1m).
func every(r config.Rule) time.Duration {
	if r.Every > 0 {
		return r.Every.D()
	}
	return time.Minute
}

// window returns the data each datapoint aggregates (default every).
func window(r config.Rule) time.Duration {
	if r.Window > 0 {
		return r.Window.D()
	}
	return every(r)
}

// compile checks a rule and builds what evaluating it needs.
func (e *Evaluator) compile(def config.Rule) (*rule, error) {
	r := &rule{def: def, hash: ruleHash(def), params: ParamsOf(def), instances: map[string]*Instance{}, ann: map[string]*template.Template{}}
	cond := def.Condition
	if cond == "" && (def.Issues != nil || def.Check != "") {
		cond = "> 0"
	}
	c, err := ParseCondition(cond)
	if err != nil {
		return nil, fmt.Errorf("rule %s: %w", def.Name, err)
	}
	r.cond = c
	for k, text := range def.Annotations {
		if err := CheckAnnotation(text); err != nil {
			return nil, fmt.Errorf("rule %s: annotation %s: %w", def.Name, k, err)
		}
		r.ann[k], _ = parseAnnotation(text)
	}
	switch {
	case def.Service != nil:
		r.fixed = map[string]string{"service": def.Service.Name}
	case def.Check != "":
		r.fixed = map[string]string{"check": def.Check}
	case def.PromQL != "":
		if c.Absent {
			r.fixed = map[string]string{}
		}
	default:
		r.fixed = map[string]string{}
	}
	if e.opt.Source != nil {
		r.src, err = e.opt.Source(def)
	} else {
		r.src, err = e.newSource(def)
	}
	if err != nil {
		return nil, fmt.Errorf("rule %s: %w", def.Name, err)
	}
	_, r.counts = r.src.(counter)
	return r, nil
}

// SetRules replaces the rules; it may be called at any time (a config
// reload). A rule whose definition is unchanged keeps its instances; the
// firing instances of a changed or removed rule are resolved. On error
// nothing changes.
func (e *Evaluator) SetRules(rules []config.Rule) error {
	compiled := make([]*rule, 0, len(rules))
	seen := map[string]bool{}
	var errs []error
	for _, def := range rules {
		if def.Name == "" {
			errs = append(errs, errors.New("rule without a name"))
			continue
		}
		if seen[def.Name] {
			errs = append(errs, fmt.Errorf("rule %s: defined twice", def.Name))
			continue
		}
		seen[def.Name] = true
		r, err := e.compile(def)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		compiled = append(compiled, r)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("cannot set alert rules: %w", err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), EvalTimeout)
	defer cancel()
	now := e.opt.Now()
	var stored map[string][]state.AlertInstance
	e.mu.Lock()
	if !e.loaded && e.opt.State != nil {
		e.mu.Unlock()
		all, err := e.opt.State.AlertInstances(ctx, "")
		if err != nil {
			return fmt.Errorf("cannot set alert rules: %w", err)
		}
		stored = map[string][]state.AlertInstance{}
		for _, in := range all {
			stored[in.Rule] = append(stored[in.Rule], in)
		}
		e.mu.Lock()
	}
	e.loaded = true

	type retired struct {
		name   string
		alerts []notify.Alert
		trs    []state.AlertTransition
	}
	var gone []retired
	next := map[string]*rule{}
	names := make([]string, 0, len(compiled))
	for _, r := range compiled {
		name := r.def.Name
		names = append(names, name)
		if old := e.rules[name]; old != nil && old.hash == r.hash {
			next[name] = old
			continue
		}
		next[name] = r
		if ins, ok := stored[name]; ok {
			delete(stored, name)
			if ins[0].RuleHash == r.hash {
				for _, s := range ins {
					in := instanceFromState(s)
					r.instances[s.Fingerprint] = in
					if s.EvaluatedAt.After(r.lastEval) {
						r.lastEval = s.EvaluatedAt
					}
				}
				continue
			}
			// Stored for an older definition: resolve it.
			old := &rule{def: r.def, fixed: r.fixed, ann: r.ann, cond: r.cond, instances: map[string]*Instance{}}
			for _, s := range ins {
				old.instances[s.Fingerprint] = instanceFromState(s)
			}
			a, trs := e.retire(old, now, "rule changed")
			gone = append(gone, retired{name, a, trs})
		}
	}
	for name, old := range e.rules {
		if n := next[name]; n != old {
			reason := "rule removed"
			if n != nil {
				reason = "rule changed"
			}
			a, trs := e.retire(old, now, reason)
			gone = append(gone, retired{name, a, trs})
		}
	}
	for name, ins := range stored {
		// State of rules no longer configured, found at start.
		old := &rule{def: config.Rule{Name: name}, instances: map[string]*Instance{}, ann: map[string]*template.Template{}}
		for _, s := range ins {
			old.instances[s.Fingerprint] = instanceFromState(s)
		}
		a, trs := e.retire(old, now, "rule removed")
		gone = append(gone, retired{name, a, trs})
	}
	e.rules, e.names = next, names
	e.mu.Unlock()

	for _, g := range gone {
		e.save(ctx, g.name, nil, g.trs)
		e.notify(ctx, g.alerts)
	}
	select {
	case e.wake <- struct{}{}:
	default:
	}
	return nil
}

// retire resolves the firing instances of a rule that is going away and
// returns their resolved alerts and transitions.
func (e *Evaluator) retire(r *rule, at time.Time, reason string) ([]notify.Alert, []state.AlertTransition) {
	var alerts []notify.Alert
	var trs []state.AlertTransition
	for _, fp := range slices.Sorted(maps.Keys(r.instances)) {
		in := r.instances[fp]
		if in.State != StateFiring {
			continue
		}
		alerts = append(alerts, e.alert(r, in, at))
		v, _ := in.value()
		trs = append(trs, state.AlertTransition{Rule: r.def.Name, Fingerprint: fp, Labels: r.labels(in), From: string(StateFiring), To: string(StateOK), At: at, Value: v, Reason: reason})
	}
	return alerts, trs
}

// labels returns the alert labels of an instance: alertname, the rule's
// labels, the instance's.
func (r *rule) labels(in *Instance) map[string]string {
	l := make(map[string]string, len(r.def.Labels)+len(in.Labels)+1)
	maps.Copy(l, r.def.Labels)
	maps.Copy(l, in.Labels)
	l["alertname"] = r.def.Name
	return l
}

// value returns the last real datapoint's value.
func (in *Instance) value() (float64, bool) {
	for i := len(in.Datapoints) - 1; i >= 0; i-- {
		if in.Datapoints[i].Outcome != OutcomeMissing {
			return in.Datapoints[i].Value, true
		}
	}
	return 0, false
}

// alert builds the notification of an instance; endsAt is zero while it
// fires.
func (e *Evaluator) alert(r *rule, in *Instance, endsAt time.Time) notify.Alert {
	labels := r.labels(in)
	v, ok := in.value()
	value := ""
	if ok {
		value = formatValue(v)
	}
	a := notify.Alert{
		Labels:       labels,
		Annotations:  map[string]string{},
		StartsAt:     in.FiredAt,
		EndsAt:       endsAt,
		GeneratorURL: e.opt.ExternalURL + "/alerts/" + url.PathEscape(r.def.Name),
		Value:        value,
	}
	d := annotationData{Value: value, Labels: labels}
	if !r.cond.Absent {
		d.Threshold = formatValue(r.cond.Threshold)
	}
	for k, t := range r.ann {
		a.Annotations[k] = renderAnnotation(t, d)
	}
	return a
}

// Evaluate evaluates every rule due at t: those whose interval divides t
// (t aligned to a multiple of `every`).
func (e *Evaluator) Evaluate(ctx context.Context, t time.Time) {
	e.mu.Lock()
	var due []*rule
	for _, n := range e.names {
		r := e.rules[n]
		if t.Truncate(every(r.def)).Equal(t) {
			due = append(due, r)
		}
	}
	e.mu.Unlock()
	for _, r := range due {
		if ctx.Err() != nil {
			return
		}
		e.evaluate(ctx, r, t)
	}
}

// EvaluateRule evaluates one rule at t, due or not. Unknown rules are an
// error.
func (e *Evaluator) EvaluateRule(ctx context.Context, name string, t time.Time) error {
	e.mu.Lock()
	r := e.rules[name]
	e.mu.Unlock()
	if r == nil {
		return fmt.Errorf("cannot evaluate rule %s: %w", name, state.ErrNotFound)
	}
	e.evaluate(ctx, r, t)
	return nil
}

// evaluate reads a rule's source for the window ending at t, steps its
// instances, stores their state and notifies.
func (e *Evaluator) evaluate(ctx context.Context, r *rule, t time.Time) {
	e.evalMu.Lock()
	defer e.evalMu.Unlock()
	start := time.Now()
	rctx, cancel := context.WithTimeout(ctx, EvalTimeout)
	samples, err := r.src.Read(rctx, t, window(r.def))
	cancel()
	if err == nil {
		err = checkSamples(samples)
	}
	if err != nil && ctx.Err() != nil {
		return // shutting down: not the rule's fault
	}

	e.mu.Lock()
	if e.rules[r.def.Name] != r {
		e.mu.Unlock()
		return // replaced while its source was read
	}
	r.lastEval, r.lastDur, r.lastErr = t, time.Since(start), ""
	if err != nil {
		r.lastErr = err.Error()
		e.log.Warn("alert rule evaluation failed", "rule", r.def.Name, "err", err)
	}
	points := r.datapoints(t, samples, err)
	var alerts []notify.Alert
	var trs []state.AlertTransition
	for _, fp := range slices.Sorted(maps.Keys(points)) {
		p := points[fp]
		in := r.instances[fp]
		if in == nil {
			in = &Instance{Labels: p.labels}
			r.instances[fp] = in
		}
		tr, changed := in.Step(r.params, p.dp)
		if changed {
			trs = append(trs, state.AlertTransition{Rule: r.def.Name, Fingerprint: fp, Labels: r.labels(in),
				From: string(tr.From), To: string(tr.To), At: t, Value: tr.Value, Reason: tr.Reason})
		}
		switch {
		case in.State == StateFiring:
			alerts = append(alerts, e.alert(r, in, time.Time{}))
		case changed && tr.From == StateFiring:
			alerts = append(alerts, e.alert(r, in, t))
		}
		if r.fixed == nil && in.State != StateFiring && allMissing(in.Datapoints, r.params) {
			// A series that has gone: forget it, as Prometheus does.
			delete(r.instances, fp)
		}
	}
	saved := r.snapshot(t)
	e.mu.Unlock()

	e.save(ctx, r.def.Name, saved, trs)
	e.notify(ctx, alerts)
}

// allMissing reports whether a full evaluation range holds no data.
func allMissing(dps []Datapoint, p Params) bool {
	if len(dps) < p.normal().rangeLen() {
		return false
	}
	for _, d := range dps {
		if d.Outcome != OutcomeMissing {
			return false
		}
	}
	return true
}

// checkSamples refuses values that cannot be compared or stored.
func checkSamples(samples []Sample) error {
	for _, s := range samples {
		if math.IsNaN(s.Value) || math.IsInf(s.Value, 0) {
			return fmt.Errorf("source gave the value %v for %v", s.Value, s.Labels)
		}
	}
	return nil
}

type point struct {
	labels map[string]string
	dp     Datapoint
}

// datapoints turns a source's answer into one datapoint per instance: the
// samples, missing data for known instances without one, and the single
// instance of a rule that has one.
func (r *rule) datapoints(t time.Time, samples []Sample, err error) map[string]point {
	out := map[string]point{}
	add := func(labels map[string]string, dp Datapoint) {
		l := make(map[string]string, len(labels)+len(r.fixed))
		maps.Copy(l, labels)
		maps.Copy(l, r.fixed)
		fp := notify.Fingerprint(r.labels(&Instance{Labels: l}))
		out[fp] = point{l, dp}
	}
	if r.cond.Absent {
		dp := Datapoint{At: t, Outcome: OutcomeMissing}
		if err == nil {
			dp.Value = float64(len(samples))
			if r.counts {
				dp.Value = 0
				for _, s := range samples {
					dp.Value += s.Value
				}
			}
			dp.Outcome = OutcomeOK
			if len(samples) == 0 || r.counts && dp.Value == 0 {
				dp.Outcome = OutcomeBreach
			}
		}
		add(nil, dp)
		return out
	}
	if err == nil {
		for _, s := range samples {
			o := OutcomeOK
			if r.cond.Breaches(s.Value) {
				o = OutcomeBreach
			}
			add(s.Labels, Datapoint{At: t, Outcome: o, Value: s.Value})
		}
	}
	for fp, in := range r.instances {
		if _, ok := out[fp]; !ok {
			out[fp] = point{in.Labels, Datapoint{At: t, Outcome: OutcomeMissing}}
		}
	}
	if r.fixed != nil && len(out) == 0 {
		add(nil, Datapoint{At: t, Outcome: OutcomeMissing})
	}
	return out
}

// snapshot returns the rule's instances as the store keeps them.
func (r *rule) snapshot(t time.Time) []state.AlertInstance {
	out := make([]state.AlertInstance, 0, len(r.instances))
	for _, fp := range slices.Sorted(maps.Keys(r.instances)) {
		in := r.instances[fp]
		v, _ := in.value()
		s := state.AlertInstance{
			Rule: r.def.Name, Fingerprint: fp, RuleHash: r.hash, Labels: in.Labels, State: string(in.State),
			Since: in.Since, ActiveAt: in.ActiveAt, ClearedAt: in.ClearedAt, FiredAt: in.FiredAt, ResolvedAt: in.ResolvedAt,
			EvaluatedAt: t, Value: v, Reason: in.Reason,
		}
		for _, d := range in.Datapoints {
			s.Datapoints = append(s.Datapoints, state.AlertDatapoint{At: d.At, Outcome: string(d.Outcome), Value: d.Value})
		}
		out = append(out, s)
	}
	return out
}

// instanceFromState is the inverse of snapshot.
func instanceFromState(s state.AlertInstance) *Instance {
	in := &Instance{
		Labels: s.Labels, State: State(s.State), Since: s.Since, ActiveAt: s.ActiveAt, ClearedAt: s.ClearedAt,
		FiredAt: s.FiredAt, ResolvedAt: s.ResolvedAt, Reason: s.Reason,
	}
	for _, d := range s.Datapoints {
		in.Datapoints = append(in.Datapoints, Datapoint{At: d.At, Outcome: Outcome(d.Outcome), Value: d.Value})
	}
	return in
}

func (e *Evaluator) save(ctx context.Context, name string, ins []state.AlertInstance, trs []state.AlertTransition) {
	if e.opt.State == nil {
		return
	}
	if err := e.opt.State.SaveAlertState(context.WithoutCancel(ctx), name, ins, trs); err != nil {
		e.log.Error("cannot save alert state", "rule", name, "err", err)
	}
}

func (e *Evaluator) notify(ctx context.Context, alerts []notify.Alert) {
	if e.opt.Notifier == nil || len(alerts) == 0 {
		return
	}
	e.opt.Notifier.Notify(ctx, alerts)
}

// next returns the earliest evaluation time after now over all rules, or
// the zero time without rules.
func (e *Evaluator) next(now time.Time) time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	var best time.Time
	for _, r := range e.rules {
		ev := every(r.def)
		t := now.Truncate(ev).Add(ev)
		if best.IsZero() || t.Before(best) {
			best = t
		}
	}
	return best
}

// Run evaluates each rule every `every`, at multiples of it, until ctx is
// done, and prunes the history older than state.AlertHistoryRetention
// hourly. It returns nil when ctx is done.
func (e *Evaluator) Run(ctx context.Context) error {
	prune := time.NewTicker(time.Hour)
	defer prune.Stop()
	e.prune(ctx)
	for {
		now := e.opt.Now()
		at := e.next(now)
		var fire <-chan time.Time
		var timer *time.Timer
		if !at.IsZero() {
			timer = time.NewTimer(at.Sub(now))
			fire = timer.C
		}
		select {
		case <-ctx.Done():
			if timer != nil {
				timer.Stop()
			}
			return nil
		case <-prune.C:
			e.prune(ctx)
		case <-e.wake:
		case <-fire:
			e.Evaluate(ctx, at)
		}
		if timer != nil {
			timer.Stop()
		}
	}
}

func (e *Evaluator) prune(ctx context.Context) {
	if e.opt.State == nil {
		return
	}
	n, err := e.opt.State.PruneAlertHistory(ctx, e.opt.Now().Add(-state.AlertHistoryRetention))
	if err != nil {
		e.log.Error("cannot prune alert history", "err", err)
	} else if n > 0 {
		e.log.Info("pruned alert history", "transitions", n)
	}
}
