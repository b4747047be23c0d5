package alert

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/fibinc/telltale/internal/config"
	"github.com/fibinc/telltale/internal/state"
)

// RuleStatus is a rule as the API and pages show it: its definition, its
// worst instance state and its instances.
type RuleStatus struct {
	Name          string            `json:"name"`
	Source        string            `json:"source"` // metric, promql, service, logs, issues, check
	Query         string            `json:"query"`  // what the source reads, in a line
	Condition     string            `json:"condition"`
	Threshold     *float64          `json:"threshold,omitempty"` // nil for absent
	Every         config.Duration   `json:"every"`
	Window        config.Duration   `json:"window"`
	Datapoints    int               `json:"datapoints"`
	ToAlarm       int               `json:"to_alarm"`
	MissingData   string            `json:"missing_data"`
	For           config.Duration   `json:"for"`
	KeepFiringFor config.Duration   `json:"keep_firing_for"`
	Labels        map[string]string `json:"labels"`
	Annotations   map[string]string `json:"annotations"`
	Definition    config.Rule       `json:"-"`

	State          State            `json:"state"` // worst of the instances; OK without any
	LastEvaluation time.Time        `json:"last_evaluation,omitzero"`
	LastDuration   time.Duration    `json:"last_duration_ns"`
	LastError      string           `json:"last_error,omitempty"`
	Instances      []InstanceStatus `json:"instances"`
}

// InstanceStatus is one alert instance.
type InstanceStatus struct {
	Fingerprint string            `json:"fingerprint"`
	Labels      map[string]string `json:"labels"` // the alert's labels
	State       State             `json:"state"`
	Since       time.Time         `json:"since"`
	Value       *float64          `json:"value"` // the last real datapoint's; nil without one
	ActiveAt    time.Time         `json:"active_at,omitzero"`
	FiredAt     time.Time         `json:"fired_at,omitzero"`
	ResolvedAt  time.Time         `json:"resolved_at,omitzero"`
	Reason      string            `json:"reason"`
	Datapoints  []Datapoint       `json:"datapoints"`
}

func (e *Evaluator) status(r *rule) RuleStatus {
	kind, text := SourceSummary(r.def)
	p := r.params
	s := RuleStatus{
		Name: r.def.Name, Source: kind, Query: text, Condition: r.cond.String(),
		Every: config.Duration(every(r.def)), Window: config.Duration(window(r.def)),
		Datapoints: p.N, ToAlarm: p.M, MissingData: p.Missing, For: config.Duration(p.For), KeepFiringFor: config.Duration(p.KeepFiringFor),
		Labels: r.def.Labels, Annotations: r.def.Annotations, Definition: r.def,
		State: StateOK, LastEvaluation: r.lastEval, LastDuration: r.lastDur, LastError: r.lastErr,
		Instances: []InstanceStatus{},
	}
	if s.Labels == nil {
		s.Labels = map[string]string{}
	}
	if s.Annotations == nil {
		s.Annotations = map[string]string{}
	}
	if !r.cond.Absent {
		th := r.cond.Threshold
		s.Threshold = &th
	}
	for _, fp := range slices.Sorted(maps.Keys(r.instances)) {
		in := r.instances[fp]
		is := InstanceStatus{
			Fingerprint: fp, Labels: r.labels(in), State: in.State, Since: in.Since, ActiveAt: in.ActiveAt,
			FiredAt: in.FiredAt, ResolvedAt: in.ResolvedAt, Reason: in.Reason, Datapoints: slices.Clone(in.Datapoints),
		}
		if v, ok := in.value(); ok {
			is.Value = &v
		}
		s.State = Worse(s.State, in.State)
		s.Instances = append(s.Instances, is)
	}
	return s
}

// Rules returns the status of every rule, in configuration order.
func (e *Evaluator) Rules() []RuleStatus {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]RuleStatus, 0, len(e.names))
	for _, n := range e.names {
		out = append(out, e.status(e.rules[n]))
	}
	return out
}

// Rule returns the status of one rule.
func (e *Evaluator) Rule(name string) (RuleStatus, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	r := e.rules[name]
	if r == nil {
		return RuleStatus{}, false
	}
	return e.status(r), true
}

// History returns a rule's transitions, newest first, at most limit (0: no
// limit); none without a state store.
func (e *Evaluator) History(ctx context.Context, name string, limit int) ([]state.AlertTransition, error) {
	if e.opt.State == nil {
		return []state.AlertTransition{}, nil
	}
	h, err := e.opt.State.AlertHistory(ctx, name, limit)
	if err != nil {
		return nil, fmt.Errorf("cannot read history of rule %s: %w", name, err)
	}
	return h, nil
}

// ActiveAlert is a firing or pending instance, with Alertmanager's fields.
type ActiveAlert struct {
	Rule         string            `json:"rule"`
	Fingerprint  string            `json:"fingerprint"`
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	State        State             `json:"state"`             // FIRING or PENDING
	ActiveAt     time.Time         `json:"activeAt,omitzero"` // when it began breaching
	StartsAt     time.Time         `json:"startsAt,omitzero"` // when it began firing
	Since        time.Time         `json:"since"`             // when it entered State
	Value        string            `json:"value,omitempty"`
	GeneratorURL string            `json:"generatorURL"`
}

// Alerts returns the firing and pending instances of every rule, firing
// first, then by rule and fingerprint.
func (e *Evaluator) Alerts() []ActiveAlert {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := []ActiveAlert{}
	for _, want := range []State{StateFiring, StatePending} {
		for _, n := range slices.Sorted(maps.Keys(e.rules)) {
			r := e.rules[n]
			for _, fp := range slices.Sorted(maps.Keys(r.instances)) {
				in := r.instances[fp]
				if in.State != want {
					continue
				}
				a := e.alert(r, in, time.Time{})
				aa := ActiveAlert{Rule: n, Fingerprint: fp, Labels: a.Labels, Annotations: a.Annotations, State: in.State,
					ActiveAt: in.ActiveAt, Since: in.Since, Value: a.Value, GeneratorURL: a.GeneratorURL}
				if in.State == StateFiring {
					aa.StartsAt = in.FiredAt
				}
				out = append(out, aa)
			}
		}
	}
	return out
}
