package alert

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fibinc/telltale/internal/config"
	"github.com/fibinc/telltale/internal/notify"
	"github.com/fibinc/telltale/internal/state"
	"github.com/fibinc/telltale/internal/state/duckdb"
)

var ctx = context.Background()

// script is a fake source: per evaluation time, the samples (or an error).
type script struct {
	mu   sync.Mutex
	data map[time.Time][]Sample
	errs map[time.Time]error
}

func (s *script) Read(_ context.Context, at time.Time, _ time.Duration) ([]Sample, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.data[at], s.errs[at]
}

// values scripts a single-instance source: "-" is no data, "E" an error.
func values(vs ...string) *script {
	s := &script{data: map[time.Time][]Sample{}, errs: map[time.Time]error{}}
	for i, v := range vs {
		at := t0.Add(time.Duration(i) * time.Minute)
		switch v {
		case "-":
		case "E":
			s.errs[at] = errors.New("boom")
		default:
			var f float64
			fmt.Sscan(v, &f)
			s.data[at] = []Sample{{Value: f}}
		}
	}
	return s
}

// recorder is a fake Notifier.
type recorder struct {
	mu    sync.Mutex
	calls [][]notify.Alert
}

func (r *recorder) Notify(_ context.Context, alerts []notify.Alert) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, alerts)
}

// summary writes the calls as "name:firing|resolved@mm,..." per call.
func (r *recorder) summary() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var calls []string
	for _, c := range r.calls {
		var parts []string
		for _, a := range c {
			s := a.Labels["alertname"]
			if q := a.Labels["queue"]; q != "" {
				s += "/" + q
			}
			if a.EndsAt.IsZero() {
				s += ":firing@" + a.StartsAt.Format("04")
			} else {
				s += ":resolved@" + a.EndsAt.Format("04")
			}
			parts = append(parts, s)
		}
		slices.Sort(parts)
		calls = append(calls, strings.Join(parts, ","))
	}
	return strings.Join(calls, " ")
}

func newTestEvaluator(t *testing.T, src map[string]Source, st Store, rec *recorder, rules ...config.Rule) *Evaluator {
	t.Helper()
	e, err := New(Options{
		State: st, Notifier: rec, ExternalURL: "http://telltale.example/",
		Now: func() time.Time { return t0.Add(time.Hour) },
		Source: func(r config.Rule) (Source, error) {
			if s, ok := src[r.Name]; ok {
				return s, nil
			}
			return nil, fmt.Errorf("no source for %s", r.Name)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.SetRules(rules); err != nil {
		t.Fatal(err)
	}
	return e
}

// run evaluates every minute from t0 for n minutes and returns the rule's
// state after each, as letters.
func run(e *Evaluator, name string, from, n int) string {
	var b strings.Builder
	for i := from; i < from+n; i++ {
		e.Evaluate(ctx, t0.Add(time.Duration(i)*time.Minute))
		s, _ := e.Rule(name)
		b.WriteByte(string(s.State)[0])
	}
	return b.String()
}

func TestEvaluatorNotifies(t *testing.T) {
	rec := &recorder{}
	rule := config.Rule{
		Name: "errors", Condition: "> 5", Datapoints: 2, ToAlarm: 2, MissingData: config.MissingNotBreaching,
		Labels:      map[string]string{"severity": "page"},
		Annotations: map[string]string{"summary": "errors at {{ .Value }}% (over {{ .Threshold }}) on {{ .Labels.alertname }}"},
	}
	e := newTestEvaluator(t, map[string]Source{"errors": values("1", "7", "8", "9", "2", "1", "1")}, nil, rec, rule)
	if got := run(e, "errors", 0, 7); got != "OPFFOOO" {
		t.Errorf("states %s", got)
	}
	if got, want := rec.summary(), "errors:firing@02 errors:firing@02 errors:resolved@04"; got != want {
		t.Errorf("notifications %q, want %q", got, want)
	}
	a := rec.calls[0][0]
	wantLabels := map[string]string{"alertname": "errors", "severity": "page"}
	if !maps.Equal(a.Labels, wantLabels) || a.Annotations["summary"] != "errors at 8% (over 5) on errors" ||
		a.GeneratorURL != "http://telltale.example/alerts/errors" || a.Value != "8" {
		t.Errorf("alert %+v", a)
	}
	s, _ := e.Rule("errors")
	if s.Source != "" || s.Condition != "> 5" || *s.Threshold != 5 || len(s.Instances) != 1 || *s.Instances[0].Value != 1 ||
		!s.LastEvaluation.Equal(t0.Add(6*time.Minute)) || s.Datapoints != 2 || s.MissingData != config.MissingNotBreaching {
		t.Errorf("status %+v", s)
	}
}

func TestEvaluatorErrorsAreMissing(t *testing.T) {
	rec := &recorder{}
	e := newTestEvaluator(t, map[string]Source{"r": values("9", "E", "E", "E", "1")}, nil, rec, config.Rule{Name: "r", Condition: "> 5"})
	if got := run(e, "r", 0, 2); got != "FF" {
		t.Errorf("states %s", got)
	}
	if s, _ := e.Rule("r"); s.LastError != "boom" {
		t.Errorf("last error %q", s.LastError)
	}
	if got := run(e, "r", 2, 3); got != "FNO" {
		t.Errorf("states %s", got)
	}
	if s, _ := e.Rule("r"); s.LastError != "" {
		t.Errorf("last error after success %q", s.LastError)
	}
	if got := rec.summary(); got != "r:firing@00 r:firing@00 r:firing@00 r:resolved@03" {
		t.Errorf("notifications %q", got)
	}
}

func TestEvaluatorInstances(t *testing.T) {
	src := &script{data: map[time.Time][]Sample{}, errs: map[time.Time]error{}}
	q := func(name string, v float64) Sample { return Sample{Labels: map[string]string{"queue": name}, Value: v} }
	src.data[t0] = []Sample{q("a", 200), q("b", 1)}
	src.data[t0.Add(time.Minute)] = []Sample{q("a", 300), q("b", 500)}
	src.data[t0.Add(2*time.Minute)] = []Sample{q("b", 500)}
	rec := &recorder{}
	e := newTestEvaluator(t, map[string]Source{"q": src}, nil, rec, config.Rule{Name: "q", PromQL: "x", Condition: "> 100"})
	if got := run(e, "q", 0, 6); got != "FFFFFO" {
		t.Errorf("states %s", got)
	}
	// A series that stops is missing data: with N=1 the last real datapoint
	// decides while it is in the range (3 datapoints), then NO_DATA
	// resolves it, and it is forgotten.
	want := "q/a:firing@00 q/a:firing@00,q/b:firing@01 q/a:firing@00,q/b:firing@01 q/a:firing@00,q/b:firing@01 q/a:resolved@04,q/b:firing@01 q/b:resolved@05"
	if got := rec.summary(); got != want {
		t.Errorf("notifications\n got %q\nwant %q", got, want)
	}
	// Series gone for a whole range are forgotten.
	e.Evaluate(ctx, t0.Add(6*time.Minute))
	if s, _ := e.Rule("q"); len(s.Instances) != 0 {
		t.Errorf("instances left: %+v", s.Instances)
	}
	al := e.Alerts()
	if len(al) != 0 {
		t.Errorf("alerts %+v", al)
	}
}

func TestEvaluatorAbsent(t *testing.T) {
	rec := &recorder{}
	e := newTestEvaluator(t, map[string]Source{"gone": values("3", "-", "-", "1")}, nil, rec, config.Rule{Name: "gone", Condition: "absent", Datapoints: 1})
	if got := run(e, "gone", 0, 4); got != "OFFO" {
		t.Errorf("states %s", got)
	}
	s, _ := e.Rule("gone")
	if s.Threshold != nil || s.Condition != "absent" {
		t.Errorf("status %+v", s)
	}
}

func TestEvaluatorEvery(t *testing.T) {
	rec := &recorder{}
	e := newTestEvaluator(t, map[string]Source{"slow": values("9", "9", "9", "9", "9", "9")}, nil, rec,
		config.Rule{Name: "slow", Condition: "> 5", Every: config.Duration(2 * time.Minute)})
	for i := range 6 {
		e.Evaluate(ctx, t0.Add(time.Duration(i)*time.Minute))
	}
	s, _ := e.Rule("slow")
	if len(s.Instances) != 1 || len(s.Instances[0].Datapoints) != 3 {
		t.Errorf("want 3 evaluations at even minutes, got %+v", s.Instances)
	}
	if e.next(t0.Add(time.Minute)) != t0.Add(2*time.Minute) || e.next(t0) != t0.Add(2*time.Minute) {
		t.Errorf("next after t0+1m = %v", e.next(t0.Add(time.Minute)))
	}
}

func TestSetRules(t *testing.T) {
	rec := &recorder{}
	srcs := map[string]Source{"a": values("9", "9", "9"), "b": values("9", "9", "9"), "c": values("9", "9", "9")}
	ra := config.Rule{Name: "a", Condition: "> 5"}
	rb := config.Rule{Name: "b", Condition: "> 5"}
	rc := config.Rule{Name: "c", Condition: "> 5", Line: 3}
	e := newTestEvaluator(t, srcs, nil, rec, ra, rb, rc)
	e.Evaluate(ctx, t0)
	rec.calls = nil

	// a unchanged (c only moved in the file), b changed, and ... c kept.
	rb2 := rb
	rb2.Condition = "> 6"
	rc.Line = 30
	if err := e.SetRules([]config.Rule{rc, rb2, ra}); err != nil {
		t.Fatal(err)
	}
	if got := rec.summary(); got != "b:resolved@00" {
		t.Errorf("notifications after change %q", got)
	}
	var names []string
	for _, s := range e.Rules() {
		names = append(names, s.Name+"="+string(s.State))
	}
	if got := strings.Join(names, " "); got != "c=FIRING b=OK a=FIRING" {
		t.Errorf("rules %s", got)
	}
	rec.calls = nil
	if err := e.SetRules([]config.Rule{ra}); err != nil {
		t.Fatal(err)
	}
	if got := rec.summary(); got != "c:resolved@00" {
		t.Errorf("notifications after removal %q", got)
	}
	// Errors change nothing.
	err := e.SetRules([]config.Rule{{Name: "x", Condition: "~ 1"}, {Name: "y", Condition: "> 1", Annotations: map[string]string{"s": "{{ .Nope }}"}}, ra, ra})
	if err == nil || !strings.Contains(err.Error(), "rule x") || !strings.Contains(err.Error(), "rule y") || !strings.Contains(err.Error(), "defined twice") {
		t.Errorf("SetRules error %v", err)
	}
	if rs := e.Rules(); len(rs) != 1 || rs[0].Name != "a" {
		t.Errorf("rules after a bad SetRules %+v", rs)
	}
}

func openState(t *testing.T, dir string) *duckdb.Store {
	t.Helper()
	s, err := duckdb.Open(ctx, duckdb.Options{Path: filepath.Join(dir, duckdb.FileName), MemoryLimit: "32MB"})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestRestart evaluates a sequence straight through, and again with a
// restart (a new evaluator on the reopened store) half way: the states are
// the same, and the firing alert keeps its start.
func TestRestart(t *testing.T) {
	vs := []string{"1", "9", "9", "9", "-", "9", "1", "1", "1", "1"}
	rule := config.Rule{Name: "r", Condition: "> 5", Datapoints: 3, ToAlarm: 2, For: config.Duration(time.Minute), KeepFiringFor: config.Duration(2 * time.Minute)}

	rec1 := &recorder{}
	st1 := openState(t, t.TempDir())
	defer st1.Close()
	e1 := newTestEvaluator(t, map[string]Source{"r": values(vs...)}, st1, rec1, rule)
	straight := run(e1, "r", 0, len(vs))

	dir := t.TempDir()
	rec2 := &recorder{}
	st2 := openState(t, dir)
	e2 := newTestEvaluator(t, map[string]Source{"r": values(vs...)}, st2, rec2, rule)
	first := run(e2, "r", 0, 5)
	if err := st2.Close(); err != nil {
		t.Fatal(err)
	}
	st3 := openState(t, dir)
	defer st3.Close()
	e3 := newTestEvaluator(t, map[string]Source{"r": values(vs...)}, st3, rec2, rule)
	if s, _ := e3.Rule("r"); s.State != State(string(first[len(first)-1:])) && string(s.State)[0] != first[len(first)-1] {
		t.Errorf("state after restart %s, before %c", s.State, first[len(first)-1])
	}
	second := run(e3, "r", 5, len(vs)-5)
	if first+second != straight {
		t.Errorf("with a restart %s+%s, straight %s", first, second, straight)
	}
	if rec1.summary() != rec2.summary() {
		t.Errorf("notifications with a restart\n%s\nstraight\n%s", rec2.summary(), rec1.summary())
	}
	h1, _ := e1.History(ctx, "r", 0)
	h2, _ := e3.History(ctx, "r", 0)
	if len(h1) == 0 || len(h1) != len(h2) {
		t.Errorf("history %d transitions straight, %d with a restart", len(h1), len(h2))
	}
	for i := range min(len(h1), len(h2)) {
		if h1[i].From != h2[i].From || h1[i].To != h2[i].To || !h1[i].At.Equal(h2[i].At) {
			t.Errorf("transition %d: %+v vs %+v", i, h1[i], h2[i])
		}
	}
	if h, _ := e3.History(ctx, "r", 1); len(h) != 1 || h[0].To != h1[0].To {
		t.Errorf("History limit 1: %+v", h)
	}

	// A changed rule does not take the stored state, and resolves it.
	st3.Close()
	st4 := openState(t, dir)
	defer st4.Close()
	rule.Condition = "> 0"
	rec4 := &recorder{}
	e4 := newTestEvaluator(t, map[string]Source{"r": values(vs...)}, st4, rec4, rule)
	if s, _ := e4.Rule("r"); len(s.Instances) != 0 {
		t.Errorf("changed rule kept state: %+v", s.Instances)
	}
	if ins, _ := st4.AlertInstances(ctx, "r"); len(ins) != 0 {
		t.Errorf("stored state of the old definition kept: %+v", ins)
	}
}

// TestRestartResendsFiring checks that an alert firing before a restart
// is sent with its original start after it.
func TestRestartResendsFiring(t *testing.T) {
	dir := t.TempDir()
	st := openState(t, dir)
	rule := config.Rule{Name: "r", Condition: "> 5"}
	rec := &recorder{}
	e := newTestEvaluator(t, map[string]Source{"r": values("9", "9", "9")}, st, rec, rule)
	run(e, "r", 0, 1)
	st.Close()
	st = openState(t, dir)
	defer st.Close()
	e = newTestEvaluator(t, map[string]Source{"r": values("9", "9", "9")}, st, rec, rule)
	run(e, "r", 1, 2)
	if got := rec.summary(); got != "r:firing@00 r:firing@00 r:firing@00" {
		t.Errorf("notifications %q", got)
	}
	// A rule removed while Telltale was down is resolved at start.
	st.Close()
	st = openState(t, dir)
	defer st.Close()
	rec2 := &recorder{}
	newTestEvaluator(t, nil, st, rec2)
	if got := rec2.summary(); !strings.HasPrefix(got, "r:resolved@") {
		t.Errorf("notifications for a removed rule %q", got)
	}
	if h, _ := st.AlertHistory(ctx, "r", 1); len(h) != 1 || h[0].Reason != "rule removed" {
		t.Errorf("history %+v", h)
	}
}

func TestRun(t *testing.T) {
	rec := &recorder{}
	var mu sync.Mutex
	var ats []time.Time
	src := sourceFunc(func(_ context.Context, at time.Time, _ time.Duration) ([]Sample, error) {
		mu.Lock()
		defer mu.Unlock()
		ats = append(ats, at)
		return []Sample{{Value: 9}}, nil
	})
	e, err := New(Options{Notifier: rec, Source: func(config.Rule) (Source, error) { return src, nil }})
	if err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error)
	go func() { done <- e.Run(rctx) }()
	if err := e.SetRules([]config.Rule{{Name: "fast", Condition: "> 5", Every: config.Duration(20 * time.Millisecond)}}); err != nil {
		t.Fatal(err)
	}
	for {
		mu.Lock()
		n := len(ats)
		mu.Unlock()
		if n >= 3 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	for i, at := range ats {
		if !at.Truncate(20 * time.Millisecond).Equal(at) {
			t.Errorf("evaluation %d at %v: not aligned", i, at)
		}
		if i > 0 && !at.After(ats[i-1]) {
			t.Errorf("evaluation %d at %v not after %v", i, at, ats[i-1])
		}
	}
	if len(rec.calls) == 0 {
		t.Error("no notification")
	}
}

type sourceFunc func(ctx context.Context, at time.Time, window time.Duration) ([]Sample, error)

func (f sourceFunc) Read(ctx context.Context, at time.Time, window time.Duration) ([]Sample, error) {
	return f(ctx, at, window)
}

var _ state.Store = (*duckdb.Store)(nil)
