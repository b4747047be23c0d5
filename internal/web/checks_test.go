package web

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/fibinc/telltale/internal/config"
	"github.com/fibinc/telltale/internal/state"
	statedb "github.com/fibinc/telltale/internal/state/duckdb"
	"github.com/fibinc/telltale/internal/uptime"
)

const xss = `<script>alert(1)</script>"><img src=x onerror=alert(2)>`

// newRunner returns a Runner at now with an HTTP check holding three days
// of results (a 20-minute outage yesterday, a failed probe with a trace an
// hour ago), a push check with a token, and a TCP check whose label,
// target and error carry markup.
func newRunner(t *testing.T) *uptime.Runner {
	t.Helper()
	ctx := context.Background()
	st, err := statedb.Open(ctx, statedb.Options{Path: t.TempDir() + "/state.duckdb"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	var res []state.CheckResult
	start := now.Add(-72 * time.Hour)
	for i := range 72 * 12 { // every 5 minutes
		at := start.Add(time.Duration(i) * 5 * time.Minute)
		r := state.CheckResult{Check: "api-health", At: at, OK: true, Duration: time.Duration(20+i%7) * time.Millisecond, Source: "probe", Status: 200, Attempts: 1,
			TraceID: "4bf92f3577b34da6a3ce929d0e0e4736"}
		if d := now.Sub(at); d <= 30*time.Hour && d > 29*time.Hour+40*time.Minute || d == time.Hour {
			r.OK, r.Status = false, 503
			r.Error = "failed: [STATUS] (503) == 200"
			r.Conditions = []state.ConditionResult{{Condition: "[STATUS] == 200", OK: false, Actual: "[STATUS] (503) == 200"}, {Condition: "[RESPONSE_TIME] < 500", OK: true, Actual: "[RESPONSE_TIME] (21) < 500"}}
			r.Attempts = 2
		}
		res = append(res, r)
	}
	res = append(res, state.CheckResult{Check: "db", At: now.Add(-time.Minute), OK: false, Source: "probe", Error: xss, Attempts: 1})
	if err := st.AddCheckResults(ctx, res); err != nil {
		t.Fatal(err)
	}
	r := uptime.New(uptime.Options{Store: st, Now: func() time.Time { return now }})
	r.SetChecks([]config.Check{
		{Name: "api-health", URL: "https://api.example.com/healthz", Interval: config.Duration(5 * time.Minute), Retries: 1,
			Conditions: []string{"[STATUS] == 200", "[RESPONSE_TIME] < 500"}, Labels: map[string]string{"team": "checkout"}},
		{Name: "nightly-backup", Type: "push", Interval: config.Duration(24 * time.Hour), Grace: config.Duration(30 * time.Minute), Token: "s3cret"},
		{Name: "db", Type: "tcp", Address: "db.internal:5432" + xss, Labels: map[string]string{"note": xss}},
	}, nil)
	// Run loads the latest results; it stops at once.
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { r.Run(rctx); close(done) }()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if st, _ := r.Check("db"); !st.Last.At.IsZero() || time.Now().After(deadline) {
			break
		}
	}
	cancel()
	<-done
	return r
}

func TestChecksPages(t *testing.T) {
	run := newRunner(t)
	for _, tc := range []struct {
		name, target string
		uptime       bool
		status       int
	}{
		{"checks", "/checks", true, 200},
		{"checks-24h", "/checks?bar=24h", true, 200},
		{"checks-empty", "/checks", false, 200},
		{"checks-bad-bar", "/checks?bar=1y", true, 400},
		{"check", "/checks/api-health", true, 200},
		{"check-7d", "/checks/api-health?range=7d", true, 200},
		{"check-push", "/checks/nightly-backup", true, 200},
		{"check-xss", "/checks/db", true, 200},
		{"check-unknown", "/checks/nope", true, 404},
		{"check-bad-range", "/checks/api-health?range=2d", true, 400},
		{"check-off", "/checks/api-health", false, 404},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opt := Options{Query: fleet(), Now: func() time.Time { return now }}
			if tc.uptime {
				opt.Uptime = run
			}
			h, err := New(opt)
			if err != nil {
				t.Fatal(err)
			}
			rec := httptest.NewRecorder()
			req := httptest.NewRequest("GET", tc.target, nil)
			req.Host = "telltale.example:4320"
			h.ServeHTTP(rec, req)
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d:\n%s", rec.Code, tc.status, rec.Body)
			}
			body := rec.Body.String()
			if strings.Contains(body, "<script>alert") || strings.Contains(body, "<img src=x") {
				t.Error("markup from data appears unescaped")
			}
			golden(t, tc.name, body)
		})
	}
}

// TestChecksPageContent checks the facts the goldens hold, so that a
// careless -update cannot bless a wrong page.
func TestChecksPageContent(t *testing.T) {
	h, err := New(Options{Query: fleet(), Now: func() time.Time { return now }, Uptime: newRunner(t)})
	if err != nil {
		t.Fatal(err)
	}
	get := func(target string) string {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", target, nil))
		if rec.Code != http.StatusOK {
			t.Fatalf("%s: %d", target, rec.Code)
		}
		return rec.Body.String()
	}
	list := get("/checks")
	for _, want := range []string{
		`<span class="status st-up">up</span>`, `<span class="status st-pending">pending</span>`, `<span class="status st-down">down</span>`,
		// yesterday (2026-05-03): 20 minutes down (4 results of 5 minutes) plus none else.
		`<title>2026-05-03: 98.61%, 20 min down</title>`,
		`<title>2026-02-04: no data</title>`,
		`href="/checks/api-health"`,
	} {
		if !strings.Contains(list, want) {
			t.Errorf("/checks lacks %s", want)
		}
	}
	if n := strings.Count(list, `<rect x=`); n != 3*90 {
		t.Errorf("%d cells, want 3 checks × 90 days", n)
	}
	detail := get("/checks/api-health")
	for _, want := range []string{
		`<code class="failed-condition">[STATUS] (503) == 200</code>`,
		`<a class="request-link" href="/requests/4bf92f3577b34da6a3ce929d0e0e4736">`,
		`(2 attempts)`,
		`<svg class="chart"`,
	} {
		if !strings.Contains(detail, want) {
			t.Errorf("/checks/api-health lacks %s", want)
		}
	}
	push := get("/checks/nightly-backup")
	if !strings.Contains(push, `curl -fsS -H &#34;Authorization: Bearer $TOKEN&#34; &#34;http://example.com/api/v1/push/nightly-backup?status=up&amp;duration_ms=1200&#34;`) || strings.Contains(push, "s3cret") {
		t.Errorf("push page: curl example missing or token shown")
	}
}
