package statetest

import (
	"reflect"
	"testing"
	"time"

	"github.com/fibinc/telltale/internal/state"
)

// testAlerts checks the alert evaluator's state: instances replaced per
// rule, kept across a reopen with their datapoints, and the history newest
// first, limited and pruned.
func testAlerts(t *testing.T, open OpenFunc) {
	dir := t.TempDir()
	s := open(t, dir)
	if got, err := s.AlertInstances(ctx, ""); err != nil || len(got) != 0 {
		t.Fatalf("AlertInstances on an empty store = %v, %v", got, err)
	}
	a := state.AlertInstance{
		Fingerprint: "00000000000000aa", RuleHash: "h1", Labels: map[string]string{"queue": "q1"},
		State: "FIRING", Since: at(time.Minute), ActiveAt: at(0), FiredAt: at(time.Minute), EvaluatedAt: at(2 * time.Minute),
		Value: 12.5, Reason: "2 of 2 breaching",
		Datapoints: []state.AlertDatapoint{{At: at(time.Minute), Outcome: "breach", Value: 11}, {At: at(2 * time.Minute), Outcome: "missing"}},
	}
	b := state.AlertInstance{Fingerprint: "00000000000000bb", RuleHash: "h1", State: "OK", Since: at(0), EvaluatedAt: at(2 * time.Minute)}
	c := state.AlertInstance{Fingerprint: "00000000000000cc", RuleHash: "h2", State: "NO_DATA", Since: at(0), ResolvedAt: at(time.Hour), ClearedAt: at(time.Hour)}
	trs := []state.AlertTransition{
		{Fingerprint: a.Fingerprint, Labels: a.Labels, From: "OK", To: "PENDING", At: at(0), Value: 11, Reason: "r1"},
		{Fingerprint: a.Fingerprint, Labels: a.Labels, From: "PENDING", To: "FIRING", At: at(time.Minute), Value: 12.5, Reason: "r2"},
	}
	if err := s.SaveAlertState(ctx, "queue", []state.AlertInstance{b, a}, trs); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveAlertState(ctx, "other", []state.AlertInstance{c}, []state.AlertTransition{{Fingerprint: c.Fingerprint, From: "OK", To: "NO_DATA", At: at(-48 * time.Hour)}}); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveAlertState(ctx, "", nil, nil); err == nil {
		t.Error("SaveAlertState without a rule: no error")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, dir)
	defer s.Close()

	want := func(rule string, in state.AlertInstance) state.AlertInstance {
		in.Rule = rule
		if in.Labels == nil {
			in.Labels = map[string]string{}
		}
		if in.Datapoints == nil {
			in.Datapoints = []state.AlertDatapoint{}
		}
		for _, p := range []*time.Time{&in.Since, &in.ActiveAt, &in.ClearedAt, &in.FiredAt, &in.ResolvedAt, &in.EvaluatedAt} {
			*p = state.Timestamp(*p)
		}
		for i := range in.Datapoints {
			in.Datapoints[i].At = state.Timestamp(in.Datapoints[i].At)
		}
		return in
	}
	got, err := s.AlertInstances(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	wantAll := []state.AlertInstance{want("other", c), want("queue", a), want("queue", b)}
	if !reflect.DeepEqual(got, wantAll) {
		t.Errorf("AlertInstances after reopen:\n got %+v\nwant %+v", got, wantAll)
	}
	if got, _ := s.AlertInstances(ctx, "queue"); len(got) != 2 || got[0].Fingerprint != a.Fingerprint {
		t.Errorf("AlertInstances(queue) = %+v", got)
	}

	// Saving replaces the rule's instances, leaving others alone.
	a.State = "OK"
	if err := s.SaveAlertState(ctx, "queue", []state.AlertInstance{a}, []state.AlertTransition{{Fingerprint: a.Fingerprint, Labels: a.Labels, From: "FIRING", To: "OK", At: at(3 * time.Minute), Reason: "r3"}}); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.AlertInstances(ctx, "queue"); len(got) != 1 || got[0].State != "OK" {
		t.Errorf("after replacing: %+v", got)
	}
	if got, _ := s.AlertInstances(ctx, "other"); len(got) != 1 {
		t.Errorf("other rule after replacing queue: %+v", got)
	}

	h, err := s.AlertHistory(ctx, "queue", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != 3 || h[0].Reason != "r3" || h[2].Reason != "r1" || h[1].To != "FIRING" || h[1].Value != 12.5 ||
		!h[1].At.Equal(state.Timestamp(at(time.Minute))) || h[1].Labels["queue"] != "q1" || h[0].ID == 0 || h[0].Rule != "queue" {
		t.Errorf("AlertHistory(queue) = %+v", h)
	}
	if h, _ := s.AlertHistory(ctx, "queue", 1); len(h) != 1 || h[0].Reason != "r3" {
		t.Errorf("AlertHistory(queue, 1) = %+v", h)
	}
	if h, _ := s.AlertHistory(ctx, "", 0); len(h) != 4 {
		t.Errorf("AlertHistory of every rule: %d transitions, want 4", len(h))
	}
	n, err := s.PruneAlertHistory(ctx, at(-time.Hour))
	if err != nil || n != 1 {
		t.Errorf("PruneAlertHistory = %d, %v; want 1", n, err)
	}
	if h, _ := s.AlertHistory(ctx, "other", 0); len(h) != 0 {
		t.Errorf("history of other after pruning: %+v", h)
	}
	if err := s.SaveAlertState(ctx, "queue", nil, nil); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.AlertInstances(ctx, "queue"); len(got) != 0 {
		t.Errorf("after deleting: %+v", got)
	}
}
