package state

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestCheckStatus(t *testing.T) {
	for _, tc := range []struct {
		status, substatus string
		ok                bool
	}{
		{StatusUnresolved, SubstatusNew, true},
		{StatusUnresolved, SubstatusOngoing, true},
		{StatusUnresolved, SubstatusRegressed, true},
		{StatusUnresolved, "", false},
		{StatusResolved, "", true},
		{StatusResolved, SubstatusRegressed, false},
		{StatusIgnored, "", true},
		{"", "", false},
		{"Resolved", "", false},
	} {
		if err := CheckStatus(tc.status, tc.substatus); (err == nil) != tc.ok {
			t.Errorf("CheckStatus(%q, %q) = %v, want ok %v", tc.status, tc.substatus, err, tc.ok)
		}
	}
}

func TestCheckSlug(t *testing.T) {
	for slug, ok := range map[string]bool{
		"a": true, "fib-pro": true, "0-9": true, strings.Repeat("x", 50): true,
		"": false, strings.Repeat("x", 51): false, "Fib": false, "a_b": false, "a b": false, "ü": false, "a\n": false,
	} {
		if err := CheckSlug(slug); (err == nil) != ok {
			t.Errorf("CheckSlug(%q) = %v, want ok %v", slug, err, ok)
		}
	}
}

func TestTimestamp(t *testing.T) {
	in := time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.FixedZone("X", 3600))
	got := Timestamp(in)
	if want := time.Date(2026, 1, 2, 2, 4, 5, 123456000, time.UTC); got != want {
		t.Errorf("Timestamp = %v, want %v", got, want)
	}
	if !Timestamp(time.Time{}).IsZero() {
		t.Error("Timestamp(zero) is not zero")
	}
}

func TestNewPublicKey(t *testing.T) {
	a, b := NewPublicKey(), NewPublicKey()
	if len(a) != 32 || strings.Trim(a, "0123456789abcdef") != "" || a == b {
		t.Errorf("NewPublicKey = %q, %q; want two different 32-digit hex keys", a, b)
	}
}

func TestPrepareIssue(t *testing.T) {
	now := time.Date(2026, 11, 21, 10, 0, 0, 999, time.UTC)
	first := now.Add(-time.Hour)
	iss, hs, err := PrepareIssue(Issue{ProjectID: 3, GroupingVersion: "g1", FirstSeen: first},
		[]IssueHash{{Hash: "a"}, {Hash: "b", GroupingVersion: "g0", ProjectID: 3}, {Hash: "a"}}, now)
	if err != nil {
		t.Fatal(err)
	}
	if iss.Status != StatusUnresolved || iss.Substatus != SubstatusNew || iss.StatusChanged != Timestamp(first) {
		t.Errorf("defaults: %+v", iss)
	}
	want := []IssueHash{
		{ProjectID: 3, Hash: "a", GroupingVersion: "g1", CreatedAt: Timestamp(now)},
		{ProjectID: 3, Hash: "b", GroupingVersion: "g0", CreatedAt: Timestamp(now)},
	}
	if !slices.Equal(hs, want) {
		t.Errorf("hashes = %+v, want %+v", hs, want)
	}
	iss, _, _ = PrepareIssue(Issue{ProjectID: 3}, []IssueHash{{Hash: "a"}}, now)
	if iss.StatusChanged != Timestamp(now) {
		t.Errorf("status changed with no first seen = %v, want now", iss.StatusChanged)
	}
	iss, _, err = PrepareIssue(Issue{ProjectID: 3, Status: StatusIgnored}, []IssueHash{{Hash: "a"}}, now)
	if err != nil || iss.Substatus != "" {
		t.Errorf("ignored issue = %+v, %v; want no substatus", iss, err)
	}
}

func TestMergeCounts(t *testing.T) {
	t0 := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	got, err := MergeCounts([]IssueCounts{
		{IssueID: 2, Events: 1, FirstSeen: t0, LastSeen: t0},
		{IssueID: 1, Events: 2, FirstSeen: t0.Add(time.Minute), LastSeen: t0.Add(2 * time.Minute)},
		{IssueID: 2, Events: 3, FirstSeen: t0.Add(-time.Minute), LastSeen: t0.Add(time.Minute)},
		{IssueID: 2, Events: 0, FirstSeen: t0, LastSeen: t0},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []IssueCounts{
		{IssueID: 2, Events: 4, FirstSeen: t0.Add(-time.Minute), LastSeen: t0.Add(time.Minute)},
		{IssueID: 1, Events: 2, FirstSeen: t0.Add(time.Minute), LastSeen: t0.Add(2 * time.Minute)},
	}
	if !slices.Equal(got, want) {
		t.Errorf("MergeCounts = %+v, want %+v", got, want)
	}
}

func TestCheckFilter(t *testing.T) {
	for _, tc := range []struct {
		f  IssueFilter
		ok bool
	}{
		{IssueFilter{}, true},
		{IssueFilter{ProjectID: 1, Statuses: []string{StatusResolved, StatusIgnored}, IDs: []int64{}, Limit: 5}, true},
		{IssueFilter{Statuses: []string{"open"}}, false},
		{IssueFilter{Limit: -1}, false},
		{IssueFilter{ProjectID: -1}, false},
	} {
		if err := CheckFilter(tc.f); (err == nil) != tc.ok {
			t.Errorf("CheckFilter(%+v) = %v, want ok %v", tc.f, err, tc.ok)
		}
	}
}
