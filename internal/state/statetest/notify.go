package statetest

import (
	"errors"
	"reflect"
	"regexp"
	"testing"
	"time"

	"github.com/fibinc/telltale/internal/state"
)

// notifyTests are the conformance tests of state.NotifyStore.
var notifyTests = []struct {
	name string
	fn   func(*testing.T, OpenFunc)
}{
	{"Silences", testSilences},
	{"SilenceValidation", testSilenceValidation},
	{"NotificationLog", testNotificationLog},
	{"NotificationAttempts", testNotificationAttempts},
}

func runNotify(t *testing.T, open OpenFunc) {
	for _, tt := range notifyTests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, open) })
	}
}

var silenceIDRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

func normSilence(s state.Silence) state.Silence {
	for _, p := range []*time.Time{&s.StartsAt, &s.EndsAt, &s.CreatedAt, &s.UpdatedAt} {
		*p = norm(*p)
	}
	return s
}

func testSilences(t *testing.T, open OpenFunc) {
	dir := t.TempDir()
	s := open(t, dir)
	active := state.Silence{Matchers: []string{`alertname="api-down"`, `env=~"prod|eu"`}, StartsAt: at(0), EndsAt: at(2 * time.Hour),
		CreatedBy: "ana", Comment: "deploy", CreatedAt: at(0), UpdatedAt: at(0), ID: "ignored"}
	a, err := s.CreateSilence(ctx, active)
	if err != nil {
		t.Fatalf("CreateSilence: %v", err)
	}
	if !silenceIDRE.MatchString(a.ID) {
		t.Errorf("silence id %q is not a UUID", a.ID)
	}
	active.ID = a.ID
	if got, want := normSilence(a), normSilence(state.Silence{ID: a.ID, Matchers: active.Matchers, StartsAt: state.Timestamp(at(0)), EndsAt: state.Timestamp(at(2 * time.Hour)),
		CreatedBy: "ana", Comment: "deploy", CreatedAt: state.Timestamp(at(0)), UpdatedAt: state.Timestamp(at(0))}); !reflect.DeepEqual(got, want) {
		t.Errorf("created %+v, want %+v", got, want)
	}
	pending, err := s.CreateSilence(ctx, state.Silence{Matchers: []string{`team="x"`}, StartsAt: at(time.Hour), EndsAt: at(3 * time.Hour), CreatedAt: at(time.Minute), UpdatedAt: at(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if pending.ID == a.ID {
		t.Error("two silences share an id")
	}

	// Expiring a pending silence ends it before it starts; an active one
	// ends now.
	exp, err := s.ExpireSilence(ctx, pending.ID, at(10*time.Minute))
	if err != nil {
		t.Fatalf("ExpireSilence: %v", err)
	}
	if !norm(exp.StartsAt).Equal(norm(state.Timestamp(at(10*time.Minute)))) || !norm(exp.EndsAt).Equal(norm(state.Timestamp(at(10*time.Minute)))) || !exp.UpdatedAt.Equal(state.Timestamp(at(10*time.Minute))) {
		t.Errorf("expired pending silence %+v", exp)
	}
	if _, err := s.ExpireSilence(ctx, "no-such-id", at(0)); !errors.Is(err, state.ErrNotFound) {
		t.Errorf("ExpireSilence(unknown) = %v, want ErrNotFound", err)
	}
	// Expiring an already expired silence keeps its end.
	if again, err := s.ExpireSilence(ctx, pending.ID, at(time.Hour)); err != nil || !again.EndsAt.Equal(exp.EndsAt) {
		t.Errorf("second expire = %+v, %v; want the end kept", again, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = open(t, dir)
	defer s.Close()
	list, err := s.Silences(ctx)
	if err != nil || len(list) != 2 {
		t.Fatalf("Silences after reopen = %+v, %v; want 2", list, err)
	}
	if list[0].ID != a.ID || list[1].ID != pending.ID {
		t.Errorf("silences not in creation order: %s, %s", list[0].ID, list[1].ID)
	}
	if got, want := normSilence(list[0]), normSilence(a); !reflect.DeepEqual(got, want) {
		t.Errorf("silence after reopen %+v, want %+v", got, want)
	}
	if !list[1].EndsAt.Equal(exp.EndsAt) {
		t.Errorf("expired silence after reopen ends %v, want %v", list[1].EndsAt, exp.EndsAt)
	}
}

func testSilenceValidation(t *testing.T, open OpenFunc) {
	s := open(t, t.TempDir())
	defer s.Close()
	for _, bad := range []state.Silence{
		{StartsAt: at(0), EndsAt: at(time.Hour)},
		{Matchers: []string{`a="b"`}, EndsAt: at(time.Hour)},
		{Matchers: []string{`a="b"`}, StartsAt: at(time.Hour), EndsAt: at(time.Hour)},
		{Matchers: []string{""}, StartsAt: at(0), EndsAt: at(time.Hour)},
	} {
		if _, err := s.CreateSilence(ctx, bad); err == nil {
			t.Errorf("CreateSilence(%+v) succeeded", bad)
		}
	}
	if list, err := s.Silences(ctx); err != nil || len(list) != 0 {
		t.Errorf("Silences = %v, %v; want none", list, err)
	}
}

func testNotificationLog(t *testing.T, open OpenFunc) {
	dir := t.TempDir()
	s := open(t, dir)
	e1 := state.NotificationLog{GroupKey: `{}:{alertname="a"}`, Channel: "ops", Firing: []string{"f1", "f2"}, Resolved: []string{}, SentAt: at(0)}
	e2 := state.NotificationLog{GroupKey: `{}:{alertname="a"}`, Channel: "mail", Firing: []string{"f1"}, Resolved: []string{"f3"}, SentAt: at(time.Minute)}
	for _, e := range []state.NotificationLog{e1, e2} {
		if err := s.SaveNotificationLog(ctx, e); err != nil {
			t.Fatalf("SaveNotificationLog: %v", err)
		}
	}
	// Saving again replaces the entry of the group and channel.
	e1 = state.NotificationLog{GroupKey: e1.GroupKey, Channel: "ops", Firing: []string{}, Resolved: []string{"f1", "f2"}, SentAt: at(time.Hour)}
	if err := s.SaveNotificationLog(ctx, e1); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveNotificationLog(ctx, state.NotificationLog{Channel: "x"}); err == nil {
		t.Error("SaveNotificationLog without a group key succeeded")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, dir)
	defer s.Close()
	got, err := s.NotificationLogs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]state.NotificationLog{"ops": e1, "mail": e2}
	if len(got) != 2 {
		t.Fatalf("NotificationLogs = %+v, want 2 entries", got)
	}
	for _, e := range got {
		w := want[e.Channel]
		w.SentAt = norm(state.Timestamp(w.SentAt))
		e.SentAt = norm(e.SentAt)
		if !reflect.DeepEqual(e, w) {
			t.Errorf("entry %+v, want %+v", e, w)
		}
	}
	// Pruning drops entries written before the cut.
	if err := s.PruneNotifications(ctx, at(30*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if got, err := s.NotificationLogs(ctx); err != nil || len(got) != 1 || got[0].Channel != "ops" {
		t.Errorf("after prune = %+v, %v; want only ops", got, err)
	}
}

func testNotificationAttempts(t *testing.T, open OpenFunc) {
	dir := t.TempDir()
	s := open(t, dir)
	var ids []int64
	for i, a := range []state.NotificationAttempt{
		{At: at(0), Channel: "ops", GroupKey: "g", Status: "firing", Alerts: 2, Attempt: 1, Outcome: state.OutcomeFailed, HTTPStatus: 500, Error: "status 500: boom", Duration: 1500 * time.Microsecond},
		{At: at(time.Second), Channel: "ops", GroupKey: "g", Status: "firing", Alerts: 2, Attempt: 2, Outcome: state.OutcomeOK, Duration: time.Millisecond},
		{At: at(time.Hour), Channel: "mail", GroupKey: "g", Status: "resolved", Alerts: 1, Attempt: 1, Outcome: state.OutcomeGaveUp, Error: "smtp: 550"},
	} {
		id, err := s.AddNotificationAttempt(ctx, a)
		if err != nil {
			t.Fatalf("AddNotificationAttempt %d: %v", i, err)
		}
		ids = append(ids, id)
	}
	if ids[0] == ids[1] || ids[1] == ids[2] {
		t.Errorf("ids %v are not distinct", ids)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, dir)
	defer s.Close()
	all, err := s.NotificationAttempts(ctx, state.AttemptFilter{})
	if err != nil || len(all) != 3 {
		t.Fatalf("NotificationAttempts = %+v, %v; want 3", all, err)
	}
	if all[0].ID != ids[2] || all[2].ID != ids[0] {
		t.Errorf("attempts not newest first: %d %d %d", all[0].ID, all[1].ID, all[2].ID)
	}
	want := state.NotificationAttempt{ID: ids[0], At: norm(state.Timestamp(at(0))), Channel: "ops", GroupKey: "g", Status: "firing", Alerts: 2, Attempt: 1,
		Outcome: state.OutcomeFailed, HTTPStatus: 500, Error: "status 500: boom", Duration: 1500 * time.Microsecond}
	got := all[2]
	got.At = norm(got.At)
	if got != want {
		t.Errorf("attempt %+v, want %+v", got, want)
	}
	ops, err := s.NotificationAttempts(ctx, state.AttemptFilter{Channel: "ops", Limit: 1})
	if err != nil || len(ops) != 1 || ops[0].ID != ids[1] {
		t.Errorf("ops, limit 1 = %+v, %v; want the second attempt", ops, err)
	}
	if err := s.PruneNotifications(ctx, at(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if left, err := s.NotificationAttempts(ctx, state.AttemptFilter{}); err != nil || len(left) != 1 || left[0].ID != ids[2] {
		t.Errorf("after prune = %+v, %v; want the last attempt", left, err)
	}
}
