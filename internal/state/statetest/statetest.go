// Package statetest is the conformance suite every state.Store must pass.
// Run it from the implementation's tests:
//
//	statetest.Run(t, func(t *testing.T, dir string) state.Store { ... })
//
// Open must open the store kept in dir, creating it when dir is empty; the
// suite calls it twice on one dir to check that data survives a reopen.
// Benchmark measures the hot paths the same way for every implementation.
package statetest

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/fibinc/telltale/internal/state"
)

// OpenFunc opens the store kept in dir.
type OpenFunc func(t *testing.T, dir string) state.Store

// Run runs the conformance suite.
func Run(t *testing.T, open OpenFunc) {
	tests := []struct {
		name string
		fn   func(*testing.T, OpenFunc)
	}{
		{"Projects", testProjects},
		{"ProjectValidation", testProjectValidation},
		{"CreateIssue", testCreateIssue},
		{"HashOrder", testHashOrder},
		{"HashCollision", testHashCollision},
		{"HashesPerProject", testHashesPerProject},
		{"AddIssueHashes", testAddIssueHashes},
		{"IssueValidation", testIssueValidation},
		{"Counts", testCounts},
		{"Status", testStatus},
		{"Filter", testFilter},
		{"FilterManyIDs", testFilterManyIDs},
		{"Reopen", testReopen},
		{"ConcurrentCounts", testConcurrentCounts},
		{"ConcurrentCreate", testConcurrentCreate},
		{"Closed", testClosed},
		{"ConfigDocument", testConfigDocument},
		{"CheckResults", testCheckResults}, {"ConcurrentCheckResults", testConcurrentCheckResults},
		{"Alerts", testAlerts},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, open) })
	}
	runNotify(t, open)
	runIngestKeys(t, open)
	runAuth(t, open)
}

var (
	ctx = context.Background()
	// t0 has nanoseconds, which stores may not keep: want values go
	// through state.Timestamp.
	t0    = time.Date(2026, 11, 20, 23, 59, 1, 123456789, time.UTC)
	keyRE = regexp.MustCompile(`^[0-9a-f]{32}$`)
)

func at(d time.Duration) time.Time { return t0.Add(d) }

// norm makes times comparable with ==: same instant, same location.
func norm(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return time.Unix(0, t.UnixNano()).UTC()
}

func normIssue(iss state.Issue) state.Issue {
	for _, p := range []*time.Time{&iss.FirstSeen, &iss.LastSeen, &iss.StatusChanged, &iss.ResolvedAt, &iss.RegressedAt} {
		*p = norm(*p)
	}
	return iss
}

func checkIssue(t *testing.T, what string, got, want state.Issue) {
	t.Helper()
	if g, w := normIssue(got), normIssue(want); g != w {
		t.Errorf("%s:\n got %+v\nwant %+v", what, g, w)
	}
}

func mustProject(t *testing.T, s state.Store, slug string) state.Project {
	t.Helper()
	p, err := s.CreateProject(ctx, slug, "Project "+slug)
	if err != nil {
		t.Fatalf("CreateProject(%q): %v", slug, err)
	}
	return p
}

// newIssue returns an issue as the issue tracker would create it for a
// first event at t0+d.
func newIssue(project int64, title string, d time.Duration) state.Issue {
	return state.Issue{
		ProjectID: project, GroupingVersion: "telltale:2026-11", Type: "error", Title: title,
		Culprit: "main.handle", Level: "error", Platform: "go", Service: "fibfrontend",
		FirstSeen: at(d), LastSeen: at(d), TimesSeen: 1,
	}
}

func hashes(hs ...string) []state.IssueHash {
	out := make([]state.IssueHash, len(hs))
	for i, h := range hs {
		out[i] = state.IssueHash{Hash: h}
	}
	return out
}

func mustIssue(t *testing.T, s state.Store, iss state.Issue, hs ...string) state.Issue {
	t.Helper()
	got, err := s.CreateIssue(ctx, iss, hashes(hs...))
	if err != nil {
		t.Fatalf("CreateIssue(%q): %v", iss.Title, err)
	}
	return got
}

func mustGet(t *testing.T, s state.Store, id int64) state.Issue {
	t.Helper()
	iss, err := s.Issue(ctx, id)
	if err != nil {
		t.Fatalf("Issue(%d): %v", id, err)
	}
	return iss
}

func lookup(t *testing.T, s state.Store, project int64, hs ...string) int64 {
	t.Helper()
	id, err := s.IssueByHashes(ctx, project, hs)
	if errors.Is(err, state.ErrNotFound) {
		return 0
	}
	if err != nil {
		t.Fatalf("IssueByHashes(%d, %q): %v", project, hs, err)
	}
	return id
}

func testProjects(t *testing.T, open OpenFunc) {
	s := open(t, t.TempDir())
	defer s.Close()
	if ps, err := s.Projects(ctx); err != nil || len(ps) != 0 {
		t.Fatalf("Projects of an empty store = %v, %v", ps, err)
	}
	before := time.Now().Add(-time.Second)
	var created []state.Project
	keys := map[string]bool{}
	for i := range 20 {
		slug := fmt.Sprintf("svc-%d", i)
		p := mustProject(t, s, slug)
		if i == 0 && p.ID != 1 {
			t.Errorf("first project id = %d, want 1", p.ID)
		}
		if i > 0 && p.ID <= created[i-1].ID {
			t.Errorf("project ids not increasing: %d after %d", p.ID, created[i-1].ID)
		}
		if p.Slug != slug || p.Name != "Project "+slug {
			t.Errorf("project = %+v", p)
		}
		if !keyRE.MatchString(p.PublicKey) {
			t.Errorf("public key %q is not 32 lower-case hex digits", p.PublicKey)
		}
		if keys[p.PublicKey] {
			t.Errorf("public key %q given twice", p.PublicKey)
		}
		keys[p.PublicKey] = true
		if p.CreatedAt.Before(before) || p.CreatedAt.After(time.Now().Add(time.Second)) {
			t.Errorf("created at %v, not now", p.CreatedAt)
		}
		created = append(created, p)
	}
	ps, err := s.Projects(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.EqualFunc(ps, created, sameProject) {
		t.Errorf("Projects =\n%+v\nwant\n%+v", ps, created)
	}
	for _, p := range []state.Project{created[0], created[7]} {
		if got, err := s.ProjectByID(ctx, p.ID); err != nil || !sameProject(got, p) {
			t.Errorf("ProjectByID(%d) = %+v, %v; want %+v", p.ID, got, err, p)
		}
		if got, err := s.ProjectByKey(ctx, p.PublicKey); err != nil || !sameProject(got, p) {
			t.Errorf("ProjectByKey(%s) = %+v, %v; want %+v", p.PublicKey, got, err, p)
		}
	}
	if _, err := s.ProjectByID(ctx, 999); !errors.Is(err, state.ErrNotFound) {
		t.Errorf("ProjectByID(unknown) error = %v, want ErrNotFound", err)
	}
	if _, err := s.ProjectByKey(ctx, "00000000000000000000000000000000"); !errors.Is(err, state.ErrNotFound) {
		t.Errorf("ProjectByKey(unknown) error = %v, want ErrNotFound", err)
	}
	if _, err := s.CreateProject(ctx, "svc-3", "again"); !errors.Is(err, state.ErrExists) {
		t.Errorf("CreateProject(duplicate slug) error = %v, want ErrExists", err)
	}
	p, err := s.CreateProject(ctx, "unnamed", "")
	if err != nil || p.Name != "unnamed" {
		t.Errorf("CreateProject with no name = %+v, %v; want the slug as name", p, err)
	}
	if ps, _ := s.Projects(ctx); len(ps) != 21 {
		t.Errorf("%d projects after a rejected duplicate, want 21", len(ps))
	}
}

func sameProject(a, b state.Project) bool {
	a.CreatedAt, b.CreatedAt = norm(a.CreatedAt), norm(b.CreatedAt)
	return a == b
}

func testProjectValidation(t *testing.T, open OpenFunc) {
	s := open(t, t.TempDir())
	defer s.Close()
	for _, slug := range []string{"", "Upper", "with space", "under_score", "dot.ted", "é", string(make([]byte, 51))} {
		if _, err := s.CreateProject(ctx, slug, "x"); err == nil || errors.Is(err, state.ErrExists) {
			t.Errorf("CreateProject(%q) error = %v, want a validation error", slug, err)
		}
	}
	for _, slug := range []string{"a", "0", "-", "fib-pro-2", "abcdefghijklmnopqrstuvwxyz0123456789-abcdefghijklm"} {
		if _, err := s.CreateProject(ctx, slug, "x"); err != nil {
			t.Errorf("CreateProject(%q): %v", slug, err)
		}
	}
}

func testCreateIssue(t *testing.T, open OpenFunc) {
	s := open(t, t.TempDir())
	defer s.Close()
	p := mustProject(t, s, "fib")
	in := newIssue(p.ID, "ValueError: bad n", 0)
	in.LastSeen = at(time.Minute)
	got := mustIssue(t, s, in, "h1", "h2")
	if got.ID <= 0 {
		t.Fatalf("issue id = %d", got.ID)
	}
	want := in
	want.ID = got.ID
	want.FirstSeen, want.LastSeen = state.Timestamp(in.FirstSeen), state.Timestamp(in.LastSeen)
	want.Status, want.Substatus, want.StatusChanged = state.StatusUnresolved, state.SubstatusNew, want.FirstSeen
	checkIssue(t, "CreateIssue result", got, want)
	checkIssue(t, "Issue", mustGet(t, s, got.ID), want)
	for _, h := range []string{"h1", "h2"} {
		if id := lookup(t, s, p.ID, h); id != got.ID {
			t.Errorf("IssueByHashes(%s) = %d, want %d", h, id, got.ID)
		}
	}
	if id := lookup(t, s, p.ID, "nope"); id != 0 {
		t.Errorf("IssueByHashes(unknown) = %d, want ErrNotFound", id)
	}
	hs, err := s.IssueHashes(ctx, got.ID)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, h := range hs {
		names = append(names, h.Hash)
		if h.ProjectID != p.ID || h.IssueID != got.ID || h.GroupingVersion != in.GroupingVersion || h.CreatedAt.IsZero() {
			t.Errorf("hash %+v: want project %d, issue %d, grouping %s, a creation time", h, p.ID, got.ID, in.GroupingVersion)
		}
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{"h1", "h2"}) {
		t.Errorf("IssueHashes = %q, want h1 h2", names)
	}
	if hs, err := s.IssueHashes(ctx, 999); err != nil || len(hs) != 0 {
		t.Errorf("IssueHashes(unknown) = %v, %v; want none", hs, err)
	}
	if _, err := s.Issue(ctx, 999); !errors.Is(err, state.ErrNotFound) {
		t.Errorf("Issue(unknown) error = %v, want ErrNotFound", err)
	}

	// A caller may create an issue in another status, and duplicate hashes
	// in one call are harmless.
	ign := newIssue(p.ID, "ignored from the start", time.Hour)
	ign.Status, ign.StatusChanged = state.StatusIgnored, at(2*time.Hour)
	ig := mustIssue(t, s, ign, "h3", "h3")
	if ig.ID == got.ID || ig.Status != state.StatusIgnored || ig.Substatus != "" || !ig.StatusChanged.Equal(state.Timestamp(at(2*time.Hour))) {
		t.Errorf("ignored issue = %+v", ig)
	}
	checkIssue(t, "ignored issue read back", mustGet(t, s, ig.ID), ig)
}

func testHashOrder(t *testing.T, open OpenFunc) {
	s := open(t, t.TempDir())
	defer s.Close()
	p := mustProject(t, s, "fib")
	a := mustIssue(t, s, newIssue(p.ID, "a", 0), "a1", "a2")
	b := mustIssue(t, s, newIssue(p.ID, "b", 0), "b1")
	for _, tc := range []struct {
		hashes []string
		want   int64
	}{
		{[]string{"a1", "b1"}, a.ID},
		{[]string{"b1", "a1"}, b.ID},
		{[]string{"x", "a2", "b1"}, a.ID},
		{[]string{"x", "y", "b1"}, b.ID},
		{[]string{"x", "y"}, 0},
	} {
		if got := lookup(t, s, p.ID, tc.hashes...); got != tc.want {
			t.Errorf("IssueByHashes(%q) = %d, want %d", tc.hashes, got, tc.want)
		}
	}
	if _, err := s.IssueByHashes(ctx, p.ID, nil); err == nil || errors.Is(err, state.ErrNotFound) {
		t.Errorf("IssueByHashes(no hashes) error = %v, want a validation error", err)
	}
}

func testHashCollision(t *testing.T, open OpenFunc) {
	s := open(t, t.TempDir())
	defer s.Close()
	p := mustProject(t, s, "fib")
	a := mustIssue(t, s, newIssue(p.ID, "a", 0), "a1", "a2")
	got, err := s.CreateIssue(ctx, newIssue(p.ID, "dup", time.Minute), hashes("fresh", "a2"))
	if !errors.Is(err, state.ErrExists) {
		t.Fatalf("CreateIssue with a taken hash: error = %v, want ErrExists", err)
	}
	if got.ID != a.ID {
		t.Errorf("CreateIssue with a taken hash returned issue %d, want the owner %d", got.ID, a.ID)
	}
	if id := lookup(t, s, p.ID, "fresh"); id != 0 {
		t.Errorf("hash of the rejected issue maps to %d; nothing should be created", id)
	}
	if iss, err := s.Issues(ctx, state.IssueFilter{}); err != nil || len(iss) != 1 {
		t.Errorf("Issues after a rejected create = %d issues, %v; want 1", len(iss), err)
	}
	if iss := mustGet(t, s, a.ID); iss.TimesSeen != 1 || iss.Title != "a" {
		t.Errorf("owner changed by the rejected create: %+v", iss)
	}
}

func testHashesPerProject(t *testing.T, open OpenFunc) {
	s := open(t, t.TempDir())
	defer s.Close()
	p1, p2 := mustProject(t, s, "one"), mustProject(t, s, "two")
	a := mustIssue(t, s, newIssue(p1.ID, "a", 0), "h")
	b := mustIssue(t, s, newIssue(p2.ID, "b", 0), "h")
	if a.ID == b.ID {
		t.Fatalf("both projects got issue %d", a.ID)
	}
	if id := lookup(t, s, p1.ID, "h"); id != a.ID {
		t.Errorf("project 1 hash h = %d, want %d", id, a.ID)
	}
	if id := lookup(t, s, p2.ID, "h"); id != b.ID {
		t.Errorf("project 2 hash h = %d, want %d", id, b.ID)
	}
	if id := lookup(t, s, 999, "h"); id != 0 {
		t.Errorf("unknown project hash h = %d, want ErrNotFound", id)
	}
}

func testAddIssueHashes(t *testing.T, open OpenFunc) {
	s := open(t, t.TempDir())
	defer s.Close()
	p1, p2 := mustProject(t, s, "one"), mustProject(t, s, "two")
	a := mustIssue(t, s, newIssue(p1.ID, "a", 0), "a1")
	b := mustIssue(t, s, newIssue(p1.ID, "b", 0), "b1")
	err := s.AddIssueHashes(ctx, []state.IssueHash{
		{IssueID: a.ID, Hash: "a2", GroupingVersion: "v2"},
		{IssueID: a.ID, Hash: "a2", GroupingVersion: "v2"}, // twice in one call
		{ProjectID: p1.ID, IssueID: b.ID, Hash: "a1"},      // a1 is a's: left alone
		{IssueID: b.ID, Hash: "b2"},
	})
	if err != nil {
		t.Fatalf("AddIssueHashes: %v", err)
	}
	for h, want := range map[string]int64{"a1": a.ID, "a2": a.ID, "b1": b.ID, "b2": b.ID} {
		if id := lookup(t, s, p1.ID, h); id != want {
			t.Errorf("hash %s = %d, want %d", h, id, want)
		}
	}
	hs, err := s.IssueHashes(ctx, a.ID)
	if err != nil || len(hs) != 2 {
		t.Fatalf("IssueHashes(a) = %+v, %v; want a1 and a2", hs, err)
	}
	for _, h := range hs {
		if h.Hash == "a2" && (h.ProjectID != p1.ID || h.GroupingVersion != "v2") {
			t.Errorf("added hash = %+v, want project %d and grouping v2", h, p1.ID)
		}
	}
	// Adding again is a no-op.
	if err := s.AddIssueHashes(ctx, []state.IssueHash{{IssueID: a.ID, Hash: "a2"}}); err != nil {
		t.Errorf("AddIssueHashes(present hash): %v", err)
	}
	if err := s.AddIssueHashes(ctx, []state.IssueHash{{IssueID: 999, Hash: "z"}}); !errors.Is(err, state.ErrNotFound) {
		t.Errorf("AddIssueHashes(unknown issue) error = %v, want ErrNotFound", err)
	}
	if err := s.AddIssueHashes(ctx, []state.IssueHash{{ProjectID: p2.ID, IssueID: a.ID, Hash: "z"}}); err == nil {
		t.Error("AddIssueHashes in the wrong project succeeded")
	}
	if err := s.AddIssueHashes(ctx, []state.IssueHash{{IssueID: a.ID, Hash: ""}}); err == nil {
		t.Error("AddIssueHashes(empty hash) succeeded")
	}
	// A failed call adds nothing.
	if err := s.AddIssueHashes(ctx, []state.IssueHash{{IssueID: a.ID, Hash: "a3"}, {IssueID: 999, Hash: "z"}}); err == nil {
		t.Error("AddIssueHashes with an unknown issue succeeded")
	}
	if id := lookup(t, s, p1.ID, "a3"); id != 0 {
		t.Errorf("hash a3 of a failed call maps to %d", id)
	}
}

func testIssueValidation(t *testing.T, open OpenFunc) {
	s := open(t, t.TempDir())
	defer s.Close()
	p := mustProject(t, s, "fib")
	bad := func(f func(*state.Issue)) state.Issue {
		iss := newIssue(p.ID, "x", 0)
		f(&iss)
		return iss
	}
	for _, tc := range []struct {
		name   string
		iss    state.Issue
		hashes []state.IssueHash
	}{
		{"no hashes", newIssue(p.ID, "x", 0), nil},
		{"empty hash", newIssue(p.ID, "x", 0), hashes("")},
		{"no project", bad(func(i *state.Issue) { i.ProjectID = 0 }), hashes("h")},
		{"bad status", bad(func(i *state.Issue) { i.Status = "closed" }), hashes("h")},
		{"bad substatus", bad(func(i *state.Issue) { i.Substatus = "archived" }), hashes("h")},
		{"substatus of resolved", bad(func(i *state.Issue) { i.Status, i.Substatus = state.StatusResolved, state.SubstatusNew }), hashes("h")},
		{"negative count", bad(func(i *state.Issue) { i.TimesSeen = -1 }), hashes("h")},
		{"hash of another project", newIssue(p.ID, "x", 0), []state.IssueHash{{ProjectID: p.ID + 1, Hash: "h"}}},
	} {
		if _, err := s.CreateIssue(ctx, tc.iss, tc.hashes); err == nil || errors.Is(err, state.ErrExists) {
			t.Errorf("CreateIssue(%s) error = %v, want a validation error", tc.name, err)
		}
	}
	if _, err := s.CreateIssue(ctx, newIssue(999, "x", 0), hashes("h")); !errors.Is(err, state.ErrNotFound) {
		t.Errorf("CreateIssue(unknown project) error = %v, want ErrNotFound", err)
	}
	if iss, _ := s.Issues(ctx, state.IssueFilter{}); len(iss) != 0 {
		t.Errorf("%d issues after failed creates, want none", len(iss))
	}
	if _, err := s.Issues(ctx, state.IssueFilter{Statuses: []string{"open"}}); err == nil {
		t.Error("Issues(unknown status) succeeded")
	}
	if _, err := s.Issues(ctx, state.IssueFilter{Limit: -1}); err == nil {
		t.Error("Issues(negative limit) succeeded")
	}
}

func testCounts(t *testing.T, open OpenFunc) {
	s := open(t, t.TempDir())
	defer s.Close()
	p := mustProject(t, s, "fib")
	a := mustIssue(t, s, newIssue(p.ID, "a", time.Hour), "a")
	b := mustIssue(t, s, newIssue(p.ID, "b", time.Hour), "b")
	err := s.AddIssueCounts(ctx, []state.IssueCounts{
		{IssueID: a.ID, Events: 3, FirstSeen: at(2 * time.Hour), LastSeen: at(3 * time.Hour)},
		{IssueID: b.ID, Events: 2, FirstSeen: at(30 * time.Minute), LastSeen: at(40 * time.Minute)},
		{IssueID: a.ID, Events: 4, FirstSeen: at(90 * time.Minute), LastSeen: at(5 * time.Hour)},
		{IssueID: 999, Events: 1, FirstSeen: at(0), LastSeen: at(0)}, // unknown: ignored
	})
	if err != nil {
		t.Fatalf("AddIssueCounts: %v", err)
	}
	check := func(id, n int64, first, last time.Duration) {
		t.Helper()
		iss := mustGet(t, s, id)
		if iss.TimesSeen != n || !iss.FirstSeen.Equal(state.Timestamp(at(first))) || !iss.LastSeen.Equal(state.Timestamp(at(last))) {
			t.Errorf("issue %d: count %d, first %v, last %v; want %d, %v, %v",
				id, iss.TimesSeen, iss.FirstSeen, iss.LastSeen, n, state.Timestamp(at(first)), state.Timestamp(at(last)))
		}
	}
	check(a.ID, 8, time.Hour, 5*time.Hour)
	check(b.ID, 3, 30*time.Minute, time.Hour)
	if err := s.AddIssueCounts(ctx, []state.IssueCounts{{IssueID: b.ID, Events: 1, FirstSeen: at(35 * time.Minute), LastSeen: at(45 * time.Minute)}}); err != nil {
		t.Fatal(err)
	}
	check(b.ID, 4, 30*time.Minute, time.Hour)
	if err := s.AddIssueCounts(ctx, nil); err != nil {
		t.Errorf("AddIssueCounts(nil): %v", err)
	}
	for name, c := range map[string]state.IssueCounts{
		"negative events": {IssueID: a.ID, Events: -1, FirstSeen: at(0), LastSeen: at(0)},
		"no first seen":   {IssueID: a.ID, Events: 1, LastSeen: at(0)},
		"last before":     {IssueID: a.ID, Events: 1, FirstSeen: at(time.Hour), LastSeen: at(0)},
		"no issue id":     {Events: 1, FirstSeen: at(0), LastSeen: at(0)},
	} {
		if err := s.AddIssueCounts(ctx, []state.IssueCounts{{IssueID: b.ID, Events: 100, FirstSeen: at(0), LastSeen: at(0)}, c}); err == nil {
			t.Errorf("AddIssueCounts(%s) succeeded", name)
		}
	}
	check(b.ID, 4, 30*time.Minute, time.Hour) // failed calls add nothing
}

func testStatus(t *testing.T, open OpenFunc) {
	s := open(t, t.TempDir())
	defer s.Close()
	p := mustProject(t, s, "fib")
	a := mustIssue(t, s, newIssue(p.ID, "a", 0), "a")
	steps := []struct {
		status, substatus string
		at                time.Duration
		resolved          time.Duration // -1: never
		regressed         time.Duration
	}{
		{state.StatusResolved, "", time.Hour, time.Hour, -1},
		{state.StatusUnresolved, state.SubstatusRegressed, 2 * time.Hour, time.Hour, 2 * time.Hour},
		{state.StatusUnresolved, state.SubstatusOngoing, 3 * time.Hour, time.Hour, 2 * time.Hour},
		{state.StatusIgnored, "", 4 * time.Hour, time.Hour, 2 * time.Hour},
		{state.StatusResolved, "", 5 * time.Hour, 5 * time.Hour, 2 * time.Hour},
	}
	ts := func(d time.Duration) time.Time {
		if d < 0 {
			return time.Time{}
		}
		return state.Timestamp(at(d))
	}
	for _, st := range steps {
		if err := s.SetIssueStatus(ctx, a.ID, st.status, st.substatus, at(st.at)); err != nil {
			t.Fatalf("SetIssueStatus(%s/%s): %v", st.status, st.substatus, err)
		}
		want := a
		want.Status, want.Substatus, want.StatusChanged = st.status, st.substatus, ts(st.at)
		want.ResolvedAt, want.RegressedAt = ts(st.resolved), ts(st.regressed)
		checkIssue(t, fmt.Sprintf("after %s/%s", st.status, st.substatus), mustGet(t, s, a.ID), want)
	}
	for _, tc := range []struct{ status, substatus string }{
		{"closed", ""}, {state.StatusResolved, state.SubstatusNew}, {state.StatusUnresolved, ""}, {state.StatusUnresolved, "archived"}, {"", ""},
	} {
		if err := s.SetIssueStatus(ctx, a.ID, tc.status, tc.substatus, at(6*time.Hour)); err == nil {
			t.Errorf("SetIssueStatus(%q, %q) succeeded", tc.status, tc.substatus)
		}
	}
	if err := s.SetIssueStatus(ctx, a.ID, state.StatusIgnored, "", time.Time{}); err == nil {
		t.Error("SetIssueStatus with no time succeeded")
	}
	if got := mustGet(t, s, a.ID); got.Status != state.StatusResolved || !got.StatusChanged.Equal(ts(5*time.Hour)) {
		t.Errorf("rejected changes altered the issue: %+v", got)
	}
	if err := s.SetIssueStatus(ctx, 999, state.StatusResolved, "", at(0)); !errors.Is(err, state.ErrNotFound) {
		t.Errorf("SetIssueStatus(unknown) error = %v, want ErrNotFound", err)
	}
}

func ids(iss []state.Issue) []int64 {
	out := make([]int64, len(iss))
	for i, x := range iss {
		out[i] = x.ID
	}
	return out
}

func testFilter(t *testing.T, open OpenFunc) {
	s := open(t, t.TempDir())
	defer s.Close()
	p1, p2 := mustProject(t, s, "one"), mustProject(t, s, "two")
	// Last seen: a 1h, b 3h, c 2h, d 4h, e never counted (first seen 0).
	a := mustIssue(t, s, newIssue(p1.ID, "a", time.Hour), "a")
	b := mustIssue(t, s, newIssue(p1.ID, "b", 3*time.Hour), "b")
	c := mustIssue(t, s, newIssue(p2.ID, "c", 2*time.Hour), "c")
	d := mustIssue(t, s, newIssue(p2.ID, "d", 4*time.Hour), "d")
	e := mustIssue(t, s, newIssue(p1.ID, "e", 0), "e")
	if err := s.SetIssueStatus(ctx, b.ID, state.StatusResolved, "", at(5*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.SetIssueStatus(ctx, c.ID, state.StatusIgnored, "", at(5*time.Hour)); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		f    state.IssueFilter
		want []int64
	}{
		{"all", state.IssueFilter{}, []int64{d.ID, b.ID, c.ID, a.ID, e.ID}},
		{"project", state.IssueFilter{ProjectID: p1.ID}, []int64{b.ID, a.ID, e.ID}},
		{"unknown project", state.IssueFilter{ProjectID: 999}, nil},
		{"unresolved", state.IssueFilter{Statuses: []string{state.StatusUnresolved}}, []int64{d.ID, a.ID, e.ID}},
		{"resolved or ignored", state.IssueFilter{Statuses: []string{state.StatusResolved, state.StatusIgnored}}, []int64{b.ID, c.ID}},
		{"project and status", state.IssueFilter{ProjectID: p2.ID, Statuses: []string{state.StatusUnresolved}}, []int64{d.ID}},
		{"ids", state.IssueFilter{IDs: []int64{a.ID, c.ID, 999}}, []int64{c.ID, a.ID}},
		{"ids and project", state.IssueFilter{ProjectID: p1.ID, IDs: []int64{a.ID, c.ID}}, []int64{a.ID}},
		{"empty ids", state.IssueFilter{IDs: []int64{}}, nil},
		{"limit", state.IssueFilter{Limit: 2}, []int64{d.ID, b.ID}},
		{"limit over count", state.IssueFilter{ProjectID: p2.ID, Limit: 10}, []int64{d.ID, c.ID}},
	} {
		got, err := s.Issues(ctx, tc.f)
		if err != nil {
			t.Errorf("Issues(%s): %v", tc.name, err)
			continue
		}
		if !slices.Equal(ids(got), tc.want) {
			t.Errorf("Issues(%s) = %v, want %v", tc.name, ids(got), tc.want)
		}
	}
	all, _ := s.Issues(ctx, state.IssueFilter{IDs: []int64{b.ID}})
	if len(all) == 1 {
		checkIssue(t, "issue from Issues", all[0], mustGet(t, s, b.ID))
	}
}

func testFilterManyIDs(t *testing.T, open OpenFunc) {
	s := open(t, t.TempDir())
	defer s.Close()
	p := mustProject(t, s, "fib")
	var want []int64
	for i := range 30 {
		iss := mustIssue(t, s, newIssue(p.ID, fmt.Sprint(i), time.Duration(i)*time.Minute), fmt.Sprint("h", i))
		if i%3 == 0 {
			want = append([]int64{iss.ID}, want...) // later last seen first
		}
	}
	var query []int64
	for i := range 10_000 {
		query = append(query, int64(1_000_000+i))
	}
	query = append(query, want...)
	got, err := s.Issues(ctx, state.IssueFilter{IDs: query})
	if err != nil {
		t.Fatalf("Issues(%d ids): %v", len(query), err)
	}
	if !slices.Equal(ids(got), want) {
		t.Errorf("Issues(%d ids) = %v, want %v", len(query), ids(got), want)
	}
}

func testReopen(t *testing.T, open OpenFunc) {
	dir := t.TempDir()
	s := open(t, dir)
	p := mustProject(t, s, "fib")
	a := mustIssue(t, s, newIssue(p.ID, "a", 0), "a1")
	if err := s.AddIssueHashes(ctx, []state.IssueHash{{IssueID: a.ID, Hash: "a2"}}); err != nil {
		t.Fatal(err)
	}
	if err := s.AddIssueCounts(ctx, []state.IssueCounts{{IssueID: a.ID, Events: 5, FirstSeen: at(time.Minute), LastSeen: at(time.Hour)}}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetIssueStatus(ctx, a.ID, state.StatusResolved, "", at(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	a = mustGet(t, s, a.ID)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	s = open(t, dir)
	defer s.Close()
	if got, err := s.ProjectByKey(ctx, p.PublicKey); err != nil || !sameProject(got, p) {
		t.Errorf("project after reopen = %+v, %v; want %+v", got, err, p)
	}
	checkIssue(t, "issue after reopen", mustGet(t, s, a.ID), a)
	if a.TimesSeen != 6 || a.Status != state.StatusResolved {
		t.Errorf("issue before reopen = %+v, want 6 events, resolved", a)
	}
	if id := lookup(t, s, p.ID, "x", "a2"); id != a.ID {
		t.Errorf("hash a2 after reopen = %d, want %d", id, a.ID)
	}
	// Ids are not reused.
	if p2 := mustProject(t, s, "two"); p2.ID <= p.ID {
		t.Errorf("project id after reopen = %d, not above %d", p2.ID, p.ID)
	}
	if b := mustIssue(t, s, newIssue(p.ID, "b", 0), "b"); b.ID <= a.ID {
		t.Errorf("issue id after reopen = %d, not above %d", b.ID, a.ID)
	}
}

func testConcurrentCounts(t *testing.T, open OpenFunc) {
	s := open(t, t.TempDir())
	defer s.Close()
	p := mustProject(t, s, "fib")
	const workers, calls, issues = 6, 20, 5
	var iss []state.Issue
	for i := range issues {
		iss = append(iss, mustIssue(t, s, newIssue(p.ID, fmt.Sprint(i), time.Hour), fmt.Sprint(i)))
	}
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for c := range calls {
				var counts []state.IssueCounts
				for _, x := range iss {
					d := time.Duration(w*calls+c) * time.Second
					counts = append(counts, state.IssueCounts{IssueID: x.ID, Events: int64(w + 1), FirstSeen: at(time.Hour - d), LastSeen: at(time.Hour + d)})
				}
				if err := s.AddIssueCounts(ctx, counts); err != nil {
					errs <- err
					return
				}
				// Readers run alongside the writers.
				if _, err := s.Issues(ctx, state.IssueFilter{ProjectID: p.ID}); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent AddIssueCounts: %v", err)
	}
	want := int64(1 + calls*workers*(workers+1)/2)
	span := time.Duration(workers*calls-1) * time.Second
	for _, x := range iss {
		got := mustGet(t, s, x.ID)
		if got.TimesSeen != want || !got.FirstSeen.Equal(state.Timestamp(at(time.Hour-span))) || !got.LastSeen.Equal(state.Timestamp(at(time.Hour+span))) {
			t.Errorf("issue %d: count %d, first %v, last %v; want %d, %v, %v", x.ID, got.TimesSeen, got.FirstSeen, got.LastSeen,
				want, state.Timestamp(at(time.Hour-span)), state.Timestamp(at(time.Hour+span)))
		}
	}
}

// testConcurrentCreate races the creation of one issue, as concurrent
// ingest requests with the first events of a new error do: one wins, the
// others get its id.
func testConcurrentCreate(t *testing.T, open OpenFunc) {
	s := open(t, t.TempDir())
	defer s.Close()
	p := mustProject(t, s, "fib")
	const workers = 6
	got := make([]int64, workers)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			// Different first hashes, one shared: still one issue.
			iss, err := s.CreateIssue(ctx, newIssue(p.ID, fmt.Sprint(w), 0), hashes(fmt.Sprint("own", w), "shared"))
			got[w], errs[w] = iss.ID, err
		})
	}
	wg.Wait()
	created := 0
	for w, err := range errs {
		switch {
		case err == nil:
			created++
		case !errors.Is(err, state.ErrExists):
			t.Errorf("worker %d: %v", w, err)
		}
		if got[w] != got[0] {
			t.Errorf("worker %d got issue %d, worker 0 %d", w, got[w], got[0])
		}
	}
	if created != 1 {
		t.Errorf("%d issues created, want 1", created)
	}
	if all, _ := s.Issues(ctx, state.IssueFilter{}); len(all) != 1 {
		t.Errorf("%d issues stored, want 1", len(all))
	}
}

func testClosed(t *testing.T, open OpenFunc) {
	s := open(t, t.TempDir())
	p := mustProject(t, s, "fib")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := s.ProjectByID(ctx, p.ID); err == nil {
		t.Error("ProjectByID after Close succeeded")
	}
	if _, err := s.CreateProject(ctx, "two", ""); err == nil {
		t.Error("CreateProject after Close succeeded")
	}
	if _, err := s.CreateIssue(ctx, newIssue(p.ID, "a", 0), hashes("a")); err == nil {
		t.Error("CreateIssue after Close succeeded")
	}
}

// BenchOpenFunc opens the store kept in dir for a benchmark.
type BenchOpenFunc func(b *testing.B, dir string) state.Store

// Benchmark measures the calls on the ingest path: the hash lookup of every
// new event, and the flush of per-issue counts (100 issues a call).
func Benchmark(b *testing.B, open BenchOpenFunc) {
	const nIssues = 2_000
	s := open(b, b.TempDir())
	defer s.Close()
	p, err := s.CreateProject(ctx, "bench", "")
	if err != nil {
		b.Fatal(err)
	}
	var issueIDs []int64
	for i := range nIssues {
		iss, err := s.CreateIssue(ctx, newIssue(p.ID, fmt.Sprint(i), 0), hashes(fmt.Sprintf("%032x", i), fmt.Sprintf("fp-%032x", i)))
		if err != nil {
			b.Fatal(err)
		}
		issueIDs = append(issueIDs, iss.ID)
	}
	b.Run("IssueByHashes", func(b *testing.B) {
		i := 0
		for b.Loop() {
			i = (i + 7919) % nIssues
			// A miss on the first hash, a hit on the second.
			if _, err := s.IssueByHashes(ctx, p.ID, []string{"missing", fmt.Sprintf("fp-%032x", i)}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("AddIssueCounts100", func(b *testing.B) {
		counts := make([]state.IssueCounts, 100)
		i := 0
		for b.Loop() {
			for j := range counts {
				i = (i + 7919) % nIssues
				counts[j] = state.IssueCounts{IssueID: issueIDs[i], Events: 3, FirstSeen: at(time.Hour), LastSeen: at(2 * time.Hour)}
			}
			if err := s.AddIssueCounts(ctx, counts); err != nil {
				b.Fatal(err)
			}
		}
	})
}
