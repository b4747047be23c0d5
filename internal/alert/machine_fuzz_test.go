package alert

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/fibinc/telltale/internal/config"
)

// fuzzInput turns bytes into parameters and a datapoint sequence: the
// first four bytes choose N, M, the treatment, for and keep_firing_for;
// each further byte is a datapoint (ok, breach, missing) and a gap.
func fuzzInput(data []byte) (Params, []Datapoint) {
	for len(data) < 4 {
		data = append(data, 0)
	}
	treatments := []string{config.MissingMissing, config.MissingBreaching, config.MissingNotBreaching, config.MissingIgnore}
	p := Params{
		N:             int(data[0]%5) + 1,
		Missing:       treatments[data[2]%4],
		For:           time.Duration(data[3]%4) * time.Minute,
		KeepFiringFor: time.Duration(data[3]/4%4) * time.Minute,
	}
	p.M = int(data[1])%p.N + 1
	at := t0
	var dps []Datapoint
	for _, b := range data[4:] {
		at = at.Add(time.Duration(b/3%2+1) * time.Minute)
		d := Datapoint{At: at, Value: float64(b)}
		d.Outcome = []Outcome{OutcomeOK, OutcomeBreach, OutcomeMissing}[b%3]
		dps = append(dps, d)
	}
	return p, dps
}

func FuzzStep(f *testing.F) {
	f.Add([]byte{2, 2, 0, 0, 0, 1, 2, 1, 1, 2, 2, 2, 2, 0})
	f.Add([]byte{2, 1, 1, 5, 2, 2, 2, 1, 0, 0, 0})
	f.Add([]byte{0, 0, 3, 9, 1, 2, 2, 2, 0, 1, 0, 0, 0, 0})
	f.Add([]byte{4, 2, 2, 15, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 2, 2, 2, 2})
	f.Fuzz(func(t *testing.T, data []byte) {
		p, dps := fuzzInput(data)
		var in, again Instance
		resumeAt := len(data) % (len(dps) + 1)
		for i, d := range dps {
			prev := in
			prev.Datapoints = append([]Datapoint(nil), in.Datapoints...)
			tr, changed := in.Step(p, d)
			if i == resumeAt {
				// A stored copy resumes exactly.
				b, err := json.Marshal(again)
				if err != nil {
					t.Fatal(err)
				}
				again = Instance{}
				if err := json.Unmarshal(b, &again); err != nil {
					t.Fatal(err)
				}
			}
			again.Step(p, d)
			if !reflect.DeepEqual(stripTimes(in), stripTimes(again)) {
				t.Fatalf("step %d: not deterministic across a resume:\n%+v\n%+v", i, in, again)
			}
			if len(in.Datapoints) > p.N+2 {
				t.Fatalf("range holds %d datapoints, want at most %d", len(in.Datapoints), p.N+2)
			}
			if changed != (prev.State != in.State && prev.State != "") && !(prev.State == "" && in.State != StateOK) {
				t.Fatalf("step %d: changed=%v from %q to %q", i, changed, prev.State, in.State)
			}
			if changed && (tr.From != prev.State && prev.State != "" || tr.To != in.State || !tr.At.Equal(d.At)) {
				t.Fatalf("step %d: transition %+v from %q to %q", i, tr, prev.State, in.State)
			}
			j := judge(in.Datapoints, p)
			realBreaches, missing := 0, 0
			for _, x := range in.Datapoints {
				switch x.Outcome {
				case OutcomeBreach:
					realBreaches++
				case OutcomeMissing:
					missing++
				}
			}
			if in.State == StateFiring && prev.State != StateFiring {
				if j.verdict != verdictBreach {
					t.Fatalf("step %d: began firing on verdict %d (%s)", i, j.verdict, j.reason)
				}
				if d.At.Sub(in.ActiveAt) < p.For {
					t.Fatalf("step %d: began firing %s after becoming active, before for %s", i, d.At.Sub(in.ActiveAt), p.For)
				}
				switch p.Missing {
				case config.MissingNotBreaching:
					if realBreaches < p.M {
						t.Fatalf("step %d: firing with %d real breaches, M=%d", i, realBreaches, p.M)
					}
				case config.MissingBreaching:
					if realBreaches+missing < p.M {
						t.Fatalf("step %d: firing with %d breaches and %d missing, M=%d", i, realBreaches, missing, p.M)
					}
				default:
					if realBreaches == 0 {
						t.Fatalf("step %d: firing without a breach", i)
					}
				}
			}
			if in.State == StateFiring && prev.State == StateFiring && j.verdict != verdictBreach && j.verdict != verdictKeep {
				if p.KeepFiringFor == 0 || d.At.Sub(in.ClearedAt) >= p.KeepFiringFor {
					t.Fatalf("step %d: still firing without a breach (%s), keep_firing_for %s", i, j.reason, p.KeepFiringFor)
				}
			}
			if in.State != StateFiring && j.verdict == verdictBreach && p.For == 0 {
				t.Fatalf("step %d: breaching with for 0 but %s", i, in.State)
			}
			if in.State == StateNoData && prev.State != StateNoData {
				if p.Missing != config.MissingMissing {
					t.Fatalf("step %d: NO_DATA with missing data treated as %s", i, p.Missing)
				}
				if missing == 0 && len(in.Datapoints) >= p.N {
					t.Fatalf("step %d: NO_DATA with no missing datapoint", i)
				}
			}
			if in.Since.After(d.At) {
				t.Fatalf("step %d: since %v after now %v", i, in.Since, d.At)
			}
		}
	})
}

// stripTimes normalises an instance for comparison: JSON keeps times to
// the nanosecond, but monotonic readings and locations differ.
func stripTimes(in Instance) Instance {
	b, _ := json.Marshal(in)
	var out Instance
	_ = json.Unmarshal(b, &out)
	return out
}
