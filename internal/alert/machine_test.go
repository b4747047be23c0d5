package alert

import (
	"strings"
	"testing"
	"time"

	"github.com/fibinc/telltale/internal/config"
)

var t0 = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

// points reads "0 - X" (ok, missing, breach; oldest first) as datapoints
// one minute apart from t0.
func points(t testing.TB, s string) []Datapoint {
	t.Helper()
	var dps []Datapoint
	for i, f := range strings.Fields(s) {
		d := Datapoint{At: t0.Add(time.Duration(i) * time.Minute)}
		switch f {
		case "0":
			d.Outcome, d.Value = OutcomeOK, 1
		case "X":
			d.Outcome, d.Value = OutcomeBreach, 10
		case "-":
			d.Outcome = OutcomeMissing
		default:
			t.Fatalf("bad datapoint %q in %q", f, s)
		}
		dps = append(dps, d)
	}
	return dps
}

// TestCloudWatchTable checks every row of CloudWatch's missing-data tables
// (AWS CloudWatch user guide, "How alarm state is evaluated when data is
// missing"), each under the four treatments, from two starting states so
// that "retain current state" is seen to retain.
func TestCloudWatchTable(t *testing.T) {
	const keep = "kept"
	treatments := []string{config.MissingMissing, config.MissingIgnore, config.MissingBreaching, config.MissingNotBreaching}
	rows := []struct {
		m    int
		dps  string
		want [4]string // missing, ignore, breaching, not_breaching, as AWS orders them
	}{
		{3, "0 - X - X", [4]string{"OK", "OK", "OK", "OK"}},
		{3, "0 - - - -", [4]string{"OK", "OK", "OK", "OK"}},
		{3, "- - - - -", [4]string{"NO_DATA", keep, "FIRING", "OK"}},
		{3, "0 X X - X", [4]string{"FIRING", "FIRING", "FIRING", "FIRING"}},
		{3, "- - - - X", [4]string{"NO_DATA", keep, "FIRING", "OK"}},
		{3, "X - - - -", [4]string{"FIRING", keep, "FIRING", "OK"}},
		{2, "0 - X - X", [4]string{"FIRING", "FIRING", "FIRING", "FIRING"}},
		{2, "0 0 X 0 X", [4]string{"FIRING", "FIRING", "FIRING", "FIRING"}},
		{2, "0 - X - -", [4]string{"OK", "OK", "FIRING", "OK"}},
		{2, "- - - - 0", [4]string{"OK", "OK", "FIRING", "OK"}},
		{2, "- - - - X", [4]string{"NO_DATA", keep, "FIRING", "OK"}},
	}
	for _, r := range rows {
		for i, tr := range treatments {
			p := Params{N: 3, M: r.m, Missing: tr}
			for _, start := range []State{StateOK, StateFiring} {
				dps := points(t, r.dps)
				// The range is already there; the last datapoint arrives.
				in := Instance{State: start, Since: t0, Datapoints: dps[:len(dps)-1]}
				in.Step(p, dps[len(dps)-1])
				want := State(r.want[i])
				if r.want[i] == keep {
					want = start
				}
				got := in.State
				// The table's ALARM is our FIRING; OK may show as
				// PENDING when some evaluated datapoint breaches.
				if want == StateOK && got == StatePending {
					got = StateOK
				}
				if got != want {
					t.Errorf("M=%d N=3 %q %s from %s: got %s, want %s (%s)", r.m, r.dps, tr, start, in.State, want, in.Reason)
				}
			}
		}
	}
}

// states runs a fresh instance over the datapoints and writes its states as
// letters: O(K), P(ENDING), F(IRING), N(O_DATA).
func states(p Params, dps []Datapoint) string {
	var in Instance
	var b strings.Builder
	for _, d := range dps {
		in.Step(p, d)
		b.WriteByte(string(in.State)[0])
	}
	return b.String()
}

func TestSequences(t *testing.T) {
	m := time.Minute
	tests := []struct {
		name string
		p    Params
		dps  string
		want string
	}{
		{"1 of 1", Params{N: 1}, "0 X X 0 X 0", "OFFOFO"},
		{"3 of 3", Params{N: 3}, "0 X X X 0 X X X X", "OPPFOPPFF"},
		{"2 of 3 not consecutive", Params{N: 3, M: 2}, "0 X 0 X 0 0 0", "OPPFOOO"},
		{"2 of 3 resolves when one left", Params{N: 3, M: 2}, "X X X 0 0 0", "NFFFOO"},
		{"young instance, missing data", Params{N: 3}, "X X X", "NNF"},
		{"young instance, not breaching", Params{N: 3, Missing: config.MissingNotBreaching}, "X X X", "PPF"},
		{"young instance, breaching, ok data", Params{N: 3, M: 2, Missing: config.MissingBreaching}, "0 0 0", "OOO"},
		{"NO_DATA entered and left", Params{N: 1}, "0 - - - 0 X", "OOONOF"},
		{"NO_DATA to firing", Params{N: 1}, "- - - X", "NNNF"},
		{"missing as breaching fires", Params{N: 2, Missing: config.MissingBreaching}, "0 0 - - - -", "OOOOPF"},
		{"missing as not breaching resolves", Params{N: 2, Missing: config.MissingNotBreaching}, "X X - - - -", "PFFFOO"},
		{"ignore keeps firing through a gap", Params{N: 1, Missing: config.MissingIgnore}, "X - - - - - 0", "FFFFFFO"},
		{"ignore keeps ok through a gap", Params{N: 1, Missing: config.MissingIgnore}, "0 - - - - - X", "OOOOOOF"},
		{"for 2m", Params{N: 1, For: 2 * m}, "X X X X 0", "PPFFO"},
		{"for 2m interrupted", Params{N: 1, For: 2 * m}, "X X 0 X X X", "PPOPPF"},
		{"for with M of N", Params{N: 2, M: 2, For: m}, "X X X 0", "NPFO"},
		{"keep_firing_for 3m", Params{N: 1, KeepFiringFor: 3 * m}, "X 0 0 0 0", "FFFFO"},
		{"keep_firing_for rearmed by a breach", Params{N: 1, KeepFiringFor: 2 * m}, "X 0 X 0 0 0", "FFFFFO"},
		{"keep_firing_for over no data", Params{N: 1, KeepFiringFor: 2 * m}, "X - - - - - -", "FFFFFNN"},
		{"keep_firing_for with for", Params{N: 1, For: m, KeepFiringFor: m}, "X X 0 0 X", "PFFOP"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := states(tt.p, points(t, tt.dps)); got != tt.want {
				t.Errorf("%q: got %s, want %s", tt.dps, got, tt.want)
			}
		})
	}
}

func TestTransitions(t *testing.T) {
	var in Instance
	p := Params{N: 1, KeepFiringFor: time.Minute}
	var got []string
	for _, d := range points(t, "0 X X 0 0 - - -") {
		if tr, ok := in.Step(p, d); ok {
			got = append(got, string(tr.From)+">"+string(tr.To)+"@"+tr.At.Format("04"))
		}
	}
	want := "OK>FIRING@01 FIRING>OK@04 OK>NO_DATA@07"
	if strings.Join(got, " ") != want {
		t.Errorf("transitions %v, want %s", got, want)
	}
	if !in.FiredAt.Equal(t0.Add(time.Minute)) || !in.ResolvedAt.Equal(t0.Add(4*time.Minute)) {
		t.Errorf("fired %v resolved %v", in.FiredAt, in.ResolvedAt)
	}
}

func TestParamsOf(t *testing.T) {
	p := ParamsOf(config.Rule{})
	if p.N != 1 || p.M != 1 || p.Missing != config.MissingMissing {
		t.Errorf("defaults: %+v", p)
	}
	p = ParamsOf(config.Rule{Datapoints: 5, ToAlarm: 9, MissingData: "bogus"})
	if p.N != 5 || p.M != 5 || p.Missing != config.MissingMissing {
		t.Errorf("clamped: %+v", p)
	}
}
