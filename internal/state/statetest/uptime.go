package statetest

import (
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/fibinc/telltale/internal/state"
)

func normResult(r state.CheckResult) state.CheckResult {
	r.At = norm(state.Timestamp(r.At))
	r.CertExpiry = norm(state.Timestamp(r.CertExpiry))
	r.Duration = r.Duration.Truncate(time.Microsecond)
	return r
}

func checkResults(t *testing.T, what string, got, want []state.CheckResult) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: got %d results, want %d:\n got %+v\nwant %+v", what, len(got), len(want), got, want)
	}
	for i := range got {
		if g, w := normResult(got[i]), normResult(want[i]); !reflect.DeepEqual(g, w) {
			t.Errorf("%s[%d]:\n got %+v\nwant %+v", what, i, g, w)
		}
	}
}

// testCheckResults stores probe, push and missed results of two checks and
// reads them back by range, with limits, latest per check, after a reopen
// and after deleting old ones.
func testCheckResults(t *testing.T, open OpenFunc) {
	dir := t.TempDir()
	s := open(t, dir)
	full := state.CheckResult{
		Check: "api-health", At: at(0), OK: false, Duration: 1234567 * time.Nanosecond, Source: "probe",
		Status: 503, Error: "failed: [STATUS] (503) == 200",
		Conditions: []state.ConditionResult{
			{Condition: "[STATUS] == 200", OK: false, Actual: "[STATUS] (503) == 200"},
			{Condition: "[RESPONSE_TIME] < 500", OK: true, Actual: "[RESPONSE_TIME] (1) < 500"},
		},
		TraceID: "4bf92f3577b34da6a3ce929d0e0e4736", CertExpiry: at(90 * 24 * time.Hour), Attempts: 2,
	}
	var api []state.CheckResult
	api = append(api, full)
	for i := 1; i <= 5; i++ {
		api = append(api, state.CheckResult{Check: "api-health", At: at(time.Duration(i) * 30 * time.Second), OK: true,
			Duration: time.Duration(i) * time.Millisecond, Source: "probe", Status: 200, Attempts: 1})
	}
	backup := []state.CheckResult{
		{Check: "backup", At: at(-time.Hour), OK: true, Source: "push", Attempts: 1},
		{Check: "backup", At: at(time.Hour), OK: false, Source: "missed", Error: "no heartbeat in 1h30m0s", Attempts: 1},
	}
	// Out of order and mixed, as a flush of several checks may be.
	batch := []state.CheckResult{api[3], backup[1], api[0], api[1], backup[0], api[5], api[2], api[4]}
	if err := s.AddCheckResults(ctx, batch); err != nil {
		t.Fatal(err)
	}
	if err := s.AddCheckResults(ctx, nil); err != nil {
		t.Errorf("AddCheckResults(nil): %v", err)
	}
	for _, bad := range []state.CheckResult{{At: at(0)}, {Check: "x"}} {
		if err := s.AddCheckResults(ctx, []state.CheckResult{bad}); err == nil {
			t.Errorf("AddCheckResults(%+v) succeeded", bad)
		}
	}

	got, err := s.CheckResults(ctx, "api-health", time.Time{}, time.Time{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	checkResults(t, "all", got, api)
	got, _ = s.CheckResults(ctx, "api-health", at(30*time.Second), at(120*time.Second), 0)
	checkResults(t, "[30s, 120s)", got, api[1:4])
	got, _ = s.CheckResults(ctx, "api-health", time.Time{}, time.Time{}, 2)
	checkResults(t, "limit 2", got, api[4:])
	got, _ = s.CheckResults(ctx, "api-health", at(0), at(60*time.Second), 10)
	checkResults(t, "limit 10 of 2", got, api[:2])
	got, _ = s.CheckResults(ctx, "nope", time.Time{}, time.Time{}, 0)
	checkResults(t, "unknown check", got, nil)
	if _, err := s.CheckResults(ctx, "api-health", time.Time{}, time.Time{}, -1); err == nil {
		t.Error("limit -1 accepted")
	}

	latest, err := s.LatestCheckResults(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(latest) != 2 {
		t.Fatalf("latest: %d checks, want 2: %+v", len(latest), latest)
	}
	checkResults(t, "latest api-health", []state.CheckResult{latest["api-health"]}, api[5:])
	checkResults(t, "latest backup", []state.CheckResult{latest["backup"]}, backup[1:])

	s.Close()
	s = open(t, dir)
	got, _ = s.CheckResults(ctx, "backup", time.Time{}, time.Time{}, 0)
	checkResults(t, "after reopen", got, backup)

	n, err := s.DeleteCheckResultsBefore(ctx, at(60*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if n != 3 {
		t.Errorf("deleted %d, want 3", n)
	}
	got, _ = s.CheckResults(ctx, "api-health", time.Time{}, time.Time{}, 0)
	checkResults(t, "after delete", got, api[2:])
	got, _ = s.CheckResults(ctx, "backup", time.Time{}, time.Time{}, 0)
	checkResults(t, "backup after delete", got, backup[1:])
}

// testConcurrentCheckResults writes results of several checks while others
// read them, as the scheduler's flush and the alert evaluator do.
func testConcurrentCheckResults(t *testing.T, open OpenFunc) {
	s := open(t, t.TempDir())
	var wg sync.WaitGroup
	names := []string{"a", "b", "c", "d"}
	for _, name := range names {
		wg.Go(func() {
			for i := range 20 {
				r := state.CheckResult{Check: name, At: at(time.Duration(i) * time.Second), OK: i%2 == 0, Source: "probe", Attempts: 1}
				if err := s.AddCheckResults(ctx, []state.CheckResult{r}); err != nil {
					t.Error(err)
					return
				}
				if _, err := s.CheckResults(ctx, name, time.Time{}, time.Time{}, 5); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	for _, name := range names {
		got, err := s.CheckResults(ctx, name, time.Time{}, time.Time{}, 0)
		if err != nil || len(got) != 20 {
			t.Errorf("%s: %d results, %v; want 20", name, len(got), err)
		}
	}
}
