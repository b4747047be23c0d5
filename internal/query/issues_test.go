package query_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/fibinc/telltale/internal/query"
	"github.com/fibinc/telltale/internal/state"
	statedb "github.com/fibinc/telltale/internal/state/duckdb"
	"github.com/fibinc/telltale/internal/telemetry"
)

// issueFixture stores issues in a real state store and their events in a
// real telemetry store.
type issueFixture struct {
	svc    *query.Service
	st     *statedb.Store
	issues map[string]int64 // by title
}

func newIssueFixture(t *testing.T, b *telemetry.Batch, issues map[string]string) *issueFixture {
	t.Helper()
	ctx := context.Background()
	st, err := statedb.Open(ctx, statedb.Options{Path: t.TempDir() + "/state.duckdb"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	p, err := st.CreateProject(ctx, "default", "")
	if err != nil {
		t.Fatal(err)
	}
	f := &issueFixture{st: st, issues: map[string]int64{}}
	// Created in title order, so that ids (the last tie-breaker of every
	// sort) are the same on every run.
	for _, title := range slices.Sorted(maps.Keys(issues)) {
		status := issues[title]
		iss, err := st.CreateIssue(ctx, state.Issue{ProjectID: p.ID, Title: title, Type: "error", Level: "error", Platform: "go",
			FirstSeen: t0.Add(-24 * time.Hour), LastSeen: t0}, []state.IssueHash{{ProjectID: p.ID, Hash: "h-" + title, GroupingVersion: "v"}})
		if err != nil {
			t.Fatal(err)
		}
		if status != state.StatusUnresolved {
			if err := st.SetIssueStatus(ctx, iss.ID, status, "", t0); err != nil {
				t.Fatal(err)
			}
		}
		f.issues[title] = iss.ID
	}
	for i := range b.Errors {
		ev := &b.Errors[i]
		ev.ProjectID, ev.IssueID = p.ID, f.issues[ev.Title]
	}
	f.svc = newTestService(t, b, query.Options{State: st})
	return f
}

// errorAt is an error event of the issue titled title at t0+at.
func errorAt(title, service, env, user string, at time.Duration) telemetry.ErrorEvent {
	return telemetry.ErrorEvent{
		Resource: telemetry.Resource{ServiceName: service, Environment: env},
		EventID:  fmt.Sprintf("%032x", int64(at)+1<<40), Time: t0.Add(at), Received: t0.Add(at),
		Platform: "go", Level: telemetry.LevelError, Title: title, Release: "fib@1.0",
		User:       telemetry.User{ID: user},
		Exceptions: []telemetry.Exception{{Type: "*errors.errorString", Value: title}},
	}
}

func TestIssues(t *testing.T) {
	b := &telemetry.Batch{Errors: []telemetry.ErrorEvent{
		errorAt("credit", "frontend", "prod", "u1", -50*time.Minute),
		errorAt("credit", "frontend", "prod", "u2", -40*time.Minute),
		errorAt("credit", "frontend", "staging", "u1", -30*time.Minute),
		errorAt("timeout", "pricing", "prod", "", -20*time.Minute),
		errorAt("parse", "frontend", "prod", "u3", -10*time.Minute),
		errorAt("gone", "frontend", "prod", "u3", -5*time.Minute),
		errorAt("credit", "frontend", "prod", "u9", -3*time.Hour), // outside the range
	}}
	f := newIssueFixture(t, b, map[string]string{"credit": "unresolved", "timeout": "unresolved", "parse": "ignored", "gone": "resolved", "idle": "unresolved"})
	rng := query.TimeRange{From: t0.Add(-time.Hour), To: t0}
	list := func(q query.IssueQuery) []string {
		t.Helper()
		q.Range = rng
		l, err := f.svc.Issues(context.Background(), q)
		if err != nil {
			t.Fatalf("Issues(%+v): %v", q, err)
		}
		var out []string
		for _, iss := range l.Issues {
			out = append(out, fmt.Sprintf("%s:%d/%d", iss.Title, iss.Events, iss.Users))
		}
		return out
	}
	for _, tc := range []struct {
		name string
		q    query.IssueQuery
		want []string
	}{
		{"default: unresolved with events in range", query.IssueQuery{Sort: "count"}, []string{"credit:3/2", "timeout:1/0"}},
		{"environment filter counts only matching events", query.IssueQuery{Environment: "staging"}, []string{"credit:1/1"}},
		{"service", query.IssueQuery{Service: "pricing"}, []string{"timeout:1/0"}},
		{"statuses", query.IssueQuery{Statuses: []string{"ignored", "resolved"}, Sort: "first_seen"}, []string{"parse:1/1", "gone:1/1"}},
		{"text", query.IssueQuery{Text: "TIME"}, []string{"timeout:1/0"}},
		{"sort by users", query.IssueQuery{Sort: "users"}, []string{"credit:3/2", "timeout:1/0"}},
		{"limit", query.IssueQuery{Sort: "count", Limit: 1}, []string{"credit:3/2"}},
		{"offset", query.IssueQuery{Sort: "count", Offset: 1}, []string{"timeout:1/0"}},
		{"offset past the end", query.IssueQuery{Offset: 10}, nil},
		{"release", query.IssueQuery{Release: "other"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := list(tc.q); !slices.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}

	// The trend of the list has hourly steps over the range.
	l, err := f.svc.Issues(context.Background(), query.IssueQuery{Range: rng, Sort: "count"})
	if err != nil {
		t.Fatal(err)
	}
	tr := l.Issues[0].Trend
	var sum int64
	for _, c := range tr.Counts {
		sum += c
	}
	if tr.StepMs != time.Hour.Milliseconds() || sum != 3 || l.Total != 2 {
		t.Errorf("trend %+v (sum %d), total %d", tr, sum, l.Total)
	}

	for _, q := range []query.IssueQuery{
		{Statuses: []string{"open"}}, {Sort: "newest"}, {Offset: -1},
	} {
		q.Range = rng
		if _, err := f.svc.Issues(context.Background(), q); !errors.Is(err, query.ErrInvalid) {
			t.Errorf("Issues(%+v) = %v, want ErrInvalid", q, err)
		}
	}
}

func TestIssueDetail(t *testing.T) {
	b := &telemetry.Batch{Errors: []telemetry.ErrorEvent{
		errorAt("credit", "frontend", "prod", "u1", -50*time.Minute),
		errorAt("credit", "frontend", "prod", "u2", -40*time.Minute),
		errorAt("credit", "frontend", "staging", "u1", -30*time.Minute),
	}}
	b.Errors[2].Browser = "Firefox 120"
	f := newIssueFixture(t, b, map[string]string{"credit": "unresolved"})
	id := f.issues["credit"]
	rng := query.TimeRange{From: t0.Add(-time.Hour), To: t0}
	d, err := f.svc.Issue(context.Background(), id, rng)
	if err != nil {
		t.Fatal(err)
	}
	tags := map[string]string{}
	for _, tb := range d.Tags {
		tags[tb.Key] = fmt.Sprintf("%d/%d %v", tb.Events, tb.Distinct, tb.Top)
	}
	want := map[string]string{
		"environment": "3/2 [{prod 2} {staging 1}]",
		"user":        "3/2 [{u1 2} {u2 1}]",
		"service":     "3/1 [{frontend 3}]",
		"release":     "3/1 [{fib@1.0 3}]",
		"browser":     "1/1 [{Firefox 120 1}]",
		"level":       "3/1 [{error 3}]",
	}
	for k, v := range want {
		if tags[k] != v {
			t.Errorf("tag %s = %q, want %q", k, tags[k], v)
		}
	}
	if _, ok := tags["os"]; ok {
		t.Errorf("tag os broken down though no event has it: %v", tags)
	}
	if d.Events != 3 || d.Users != 2 || len(d.Hashes) != 1 || d.LatestEvent == nil || d.LatestEvent.EventID != b.Errors[2].EventID {
		t.Errorf("detail: %d events, %d users, %d hashes, latest %+v", d.Events, d.Users, len(d.Hashes), d.LatestEvent)
	}
	evs, err := f.svc.IssueEvents(context.Background(), id, rng, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 2 || evs[0].EventID != b.Errors[2].EventID || evs[0].User != "u1" || evs[0].Environment != "staging" {
		t.Errorf("events = %+v", evs)
	}
	if _, err := f.svc.Issue(context.Background(), 999, rng); !errors.Is(err, query.ErrNotFound) {
		t.Errorf("Issue(999) = %v, want ErrNotFound", err)
	}
	if _, err := f.svc.Event(context.Background(), "not-an-id"); !errors.Is(err, query.ErrInvalid) {
		t.Errorf("Event(not-an-id) = %v, want ErrInvalid", err)
	}
	if _, err := f.svc.Event(context.Background(), "00000000-0000-0000-0000-000000000000"); !errors.Is(err, query.ErrNotFound) {
		t.Errorf("Event(zero uuid) = %v, want ErrNotFound", err)
	}
}

// TestRemoteChain builds the trace frontend -> pricing -> userstore by
// hand: userstore fails without recording an error event (only its span
// status says why), pricing records one on an internal span below its
// server span, and frontend's event is on its server span. A healthy call
// to a cache next to the failing one is not part of the chain.
func TestRemoteChain(t *testing.T) {
	tr := traceA
	mk := func(service, id, parent, kind, status string, at time.Duration) telemetry.Span {
		sp := span(service, tr, id, parent, at, time.Millisecond)
		sp.Kind, sp.StatusCode = kind, status
		return sp
	}
	b := &telemetry.Batch{Spans: []telemetry.Span{
		mk("frontend", "a000000000000001", "", "server", "error", 0),
		mk("frontend", "a000000000000002", "a000000000000001", "client", "unset", time.Millisecond), // to the cache
		mk("cache", "c000000000000001", "a000000000000002", "server", "ok", 2*time.Millisecond),
		mk("frontend", "a000000000000003", "a000000000000001", "client", "error", 3*time.Millisecond), // to pricing
		mk("pricing", "b000000000000001", "a000000000000003", "server", "error", 4*time.Millisecond),
		mk("pricing", "b000000000000002", "b000000000000001", "internal", "error", 5*time.Millisecond),
		mk("pricing", "b000000000000003", "b000000000000002", "client", "error", 6*time.Millisecond),
		mk("userstore", "d000000000000001", "b000000000000003", "server", "error", 7*time.Millisecond),
	}}
	b.Spans[7].StatusMessage = "user has insufficient credit"
	b.Spans[7].Events = "[]"
	front := errorAt("price", "frontend", "prod", "u1", time.Millisecond)
	front.TraceID, front.SpanID = tr, "a000000000000001"
	pricing := errorAt("debit", "pricing", "prod", "u1", 5*time.Millisecond)
	pricing.TraceID, pricing.SpanID = tr, "b000000000000002"
	pricing.Exceptions[0].Frames = []telemetry.Frame{{Module: "main", Function: "debit"}}
	unrelated := errorAt("debit", "pricing", "prod", "u1", 5*time.Millisecond)
	unrelated.EventID, unrelated.TraceID = "ffffffffffffffffffffffffffffffff", traceB
	b.Errors = []telemetry.ErrorEvent{front, pricing, unrelated}
	f := newIssueFixture(t, b, map[string]string{"price": "unresolved", "debit": "unresolved"})

	ev, err := f.svc.Event(context.Background(), front.EventID)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, l := range ev.RemoteChain {
		got = append(got, fmt.Sprintf("%s %s %q %s %d", l.Service, l.SpanID, l.Value, l.EventID, len(l.Frames)))
	}
	want := []string{
		fmt.Sprintf("frontend a000000000000001 \"price\" %s 0", front.EventID),
		fmt.Sprintf("pricing b000000000000001 \"debit\" %s 1", pricing.EventID),
		"userstore d000000000000001 \"user has insufficient credit\"  0",
	}
	if !slices.Equal(got, want) {
		t.Errorf("chain:\n got %q\nwant %q", got, want)
	}

	// The callee's own event sees no chain below it but the userstore
	// span's status.
	ev, err = f.svc.Event(context.Background(), pricing.EventID)
	if err != nil {
		t.Fatal(err)
	}
	if len(ev.RemoteChain) != 2 || ev.RemoteChain[1].Service != "userstore" {
		t.Errorf("pricing chain = %+v", ev.RemoteChain)
	}
	// An event whose trace has no failing callee has no chain.
	ev, err = f.svc.Event(context.Background(), unrelated.EventID)
	if err != nil {
		t.Fatal(err)
	}
	if len(ev.RemoteChain) != 0 {
		t.Errorf("unrelated chain = %+v", ev.RemoteChain)
	}
}
