package alert

import (
	"fmt"
	"time"

	"github.com/fibinc/telltale/internal/config"
)

// State is the state of an alert instance.
type State string

// Instance states, from best to worst (see Worse).
const (
	StateOK      State = "OK"
	StateNoData  State = "NO_DATA"
	StatePending State = "PENDING"
	StateFiring  State = "FIRING"
)

// rank orders states for a rule's summary: the worst instance wins.
func (s State) rank() int {
	switch s {
	case StateFiring:
		return 3
	case StatePending:
		return 2
	case StateNoData:
		return 1
	}
	return 0
}

// Worse returns the worse of two states: FIRING, then PENDING, NO_DATA, OK.
func Worse(a, b State) State {
	if b.rank() > a.rank() {
		return b
	}
	return a
}

// Outcome classifies one datapoint.
type Outcome string

// Datapoint outcomes.
const (
	OutcomeOK      Outcome = "ok"
	OutcomeBreach  Outcome = "breach"
	OutcomeMissing Outcome = "missing" // no data in the datapoint's window
)

// Datapoint is what one evaluation of a rule produced for one instance.
type Datapoint struct {
	At      time.Time `json:"at"`
	Outcome Outcome   `json:"outcome"`
	Value   float64   `json:"value"` // meaningless when missing
}

// Params are the parts of a rule that drive the state machine.
type Params struct {
	N             int    // datapoints evaluated
	M             int    // breaching datapoints of N that make the rule breach
	Missing       string // config.Missing*
	For           time.Duration
	KeepFiringFor time.Duration
}

// ParamsOf takes the state-machine parameters from a rule, with defaults for
// zero fields (N 1, M N, missing "missing"), so that a rule that did not go
// through config.Parse still evaluates sensibly.
func ParamsOf(r config.Rule) Params {
	p := Params{N: r.Datapoints, M: r.ToAlarm, Missing: r.MissingData, For: r.For.D(), KeepFiringFor: r.KeepFiringFor.D()}
	return p.normal()
}

func (p Params) normal() Params {
	if p.N < 1 {
		p.N = 1
	}
	if p.M < 1 || p.M > p.N {
		p.M = p.N
	}
	switch p.Missing {
	case config.MissingBreaching, config.MissingNotBreaching, config.MissingIgnore:
	default:
		p.Missing = config.MissingMissing
	}
	return p
}

// rangeLen is the evaluation range: N+2 datapoints, as CloudWatch fetches
// for M=N=3.
func (p Params) rangeLen() int { return p.N + 2 }

// verdict is what the datapoints of the evaluation range say.
type verdict int

const (
	verdictOK verdict = iota
	verdictBreach
	verdictNoData
	verdictKeep // missing data treated as ignore: keep the state
)

// judgement is a verdict with what it was based on.
type judgement struct {
	verdict   verdict
	used      int  // datapoints evaluated, including filled ones
	breaches  int  // breaching among them
	anyBreach bool // some evaluated datapoint breaches
	reason    string
}

// judge applies the CloudWatch algorithm (docs/design/alerting.md,
// "Evaluation semantics") to the evaluation range dps, oldest first; it
// holds at most N+2 datapoints and fewer while an instance is young (the
// time before an instance existed is not missing data: it is unknown, and
// counting it would fire a new rule that treats missing data as breaching).
func judge(dps []Datapoint, p Params) judgement {
	real, missing := 0, 0
	for _, d := range dps {
		if d.Outcome == OutcomeMissing {
			missing++
		} else {
			real++
		}
	}
	if real >= p.N {
		// The most recent N real datapoints; missing data plays no part.
		b, n := 0, 0
		for i := len(dps) - 1; i >= 0 && n < p.N; i-- {
			if dps[i].Outcome == OutcomeMissing {
				continue
			}
			n++
			if dps[i].Outcome == OutcomeBreach {
				b++
			}
		}
		j := judgement{used: n, breaches: b, anyBreach: b > 0}
		j.reason = fmt.Sprintf("%d of the last %d datapoints breaching (%d needed)", b, n, p.M)
		if b >= p.M {
			j.verdict = verdictBreach
		}
		return j
	}
	b := 0
	for _, d := range dps {
		if d.Outcome == OutcomeBreach {
			b++
		}
	}
	switch p.Missing {
	case config.MissingBreaching, config.MissingNotBreaching:
		// Fill as few missing slots as make N, keeping every real one.
		fill := min(p.N-real, missing)
		j := judgement{used: real + fill, breaches: b}
		if p.Missing == config.MissingBreaching {
			j.breaches += fill
		}
		j.anyBreach = j.breaches > 0
		j.reason = fmt.Sprintf("%d of %d datapoints breaching (%d needed; %d missing treated as %s)", j.breaches, j.used, p.M, fill, p.Missing)
		if j.breaches >= p.M {
			j.verdict = verdictBreach
		}
		return j
	}
	// missing and ignore: the real datapoints decide.
	j := judgement{used: real, breaches: b, anyBreach: b > 0}
	switch {
	case real == 0:
		j.verdict = verdictNoData
		j.reason = fmt.Sprintf("no data in the last %d datapoints", len(dps))
	case b < min(p.M, real):
		j.verdict = verdictOK
		j.reason = fmt.Sprintf("%d of %d datapoints breaching (%d missing)", b, real, missing)
	case b < p.M && dps[len(dps)-1].Outcome == OutcomeBreach:
		// CloudWatch's avoidance of premature alarms: a breach that has
		// just arrived among missing data does not alarm until M breach
		// (its table: "- - - - X" is INSUFFICIENT_DATA, "X - - - -" ALARM).
		j.verdict = verdictNoData
		j.reason = fmt.Sprintf("%d of %d datapoints breaching (%d missing): not enough data to alarm yet", b, real, missing)
	default:
		j.verdict = verdictBreach
		j.reason = fmt.Sprintf("%d of %d datapoints breaching (%d missing)", b, real, missing)
	}
	if p.Missing == config.MissingIgnore && j.verdict != verdictOK {
		j.verdict = verdictKeep
		j.reason += "; missing data ignored: state kept"
	}
	return j
}

// Instance is the state of one alert instance (a rule and a label set). Its
// zero value is a new instance in state OK. It holds everything the state
// machine needs, so a stored copy resumes exactly.
type Instance struct {
	Labels map[string]string `json:"labels"` // the instance's own labels (not the rule's)
	State  State             `json:"state"`
	Since  time.Time         `json:"since"` // when State began
	// ActiveAt is when the current run of breaching verdicts began (the
	// start of `for`); zero when the last verdict did not breach.
	ActiveAt time.Time `json:"active_at,omitzero"`
	// ClearedAt is when a firing instance stopped breaching (the start of
	// keep_firing_for); zero otherwise.
	ClearedAt  time.Time   `json:"cleared_at,omitzero"`
	FiredAt    time.Time   `json:"fired_at,omitzero"`    // when it last began firing
	ResolvedAt time.Time   `json:"resolved_at,omitzero"` // when it last stopped firing
	Datapoints []Datapoint `json:"datapoints"`           // the evaluation range, oldest first
	Reason     string      `json:"reason"`               // what the last evaluation found
}

// Last returns the most recent datapoint (zero if none).
func (in *Instance) Last() Datapoint {
	if len(in.Datapoints) == 0 {
		return Datapoint{}
	}
	return in.Datapoints[len(in.Datapoints)-1]
}

// Transition is a change of state of an instance.
type Transition struct {
	From, To State
	At       time.Time
	Value    float64
	Reason   string
}

// Step adds the datapoint of one evaluation and moves the state machine.
// It returns the transition, if the state changed. Step is deterministic:
// time only enters through dp.At.
func (in *Instance) Step(p Params, dp Datapoint) (Transition, bool) {
	p = p.normal()
	if in.State == "" {
		in.State = StateOK
		in.Since = dp.At
	}
	in.Datapoints = append(in.Datapoints, dp)
	if n := len(in.Datapoints) - p.rangeLen(); n > 0 {
		in.Datapoints = append(in.Datapoints[:0:0], in.Datapoints[n:]...)
	}
	j := judge(in.Datapoints, p)
	in.Reason = j.reason
	from := in.State
	to := from
	switch j.verdict {
	case verdictKeep:
		// ignore: the state, and the clocks of for and keep_firing_for,
		// stay as they are.
	case verdictBreach:
		in.ClearedAt = time.Time{}
		if in.ActiveAt.IsZero() {
			in.ActiveAt = dp.At
		}
		switch {
		case from == StateFiring:
		case dp.At.Sub(in.ActiveAt) >= p.For:
			to = StateFiring
		default:
			to = StatePending
			in.Reason += fmt.Sprintf("; firing after %s", p.For)
		}
	default: // OK or NO_DATA
		in.ActiveAt = time.Time{}
		next := StateOK
		if j.verdict == verdictNoData {
			next = StateNoData
		} else if j.anyBreach && from != StateFiring && (from == StatePending || dp.Outcome == OutcomeBreach || dp.Outcome == OutcomeMissing && p.Missing == config.MissingBreaching) {
			// Breaches on their way to M of N. The breaches left in the
			// window of an alert that stopped firing are not: it
			// resolves to OK, and stays there until a new breach.
			next = StatePending
		}
		if from == StateFiring && p.KeepFiringFor > 0 {
			if in.ClearedAt.IsZero() {
				in.ClearedAt = dp.At
			}
			if dp.At.Sub(in.ClearedAt) < p.KeepFiringFor {
				in.Reason += fmt.Sprintf("; kept firing for %s", p.KeepFiringFor)
				break
			}
		}
		in.ClearedAt = time.Time{}
		to = next
	}
	if to == from {
		return Transition{}, false
	}
	in.State = to
	in.Since = dp.At
	if to == StateFiring {
		in.FiredAt = dp.At
	}
	if from == StateFiring {
		in.ResolvedAt = dp.At
	}
	return Transition{From: from, To: to, At: dp.At, Value: dp.Value, Reason: in.Reason}, true
}
