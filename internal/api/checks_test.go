package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/fibinc/telltale/internal/api"
	"github.com/fibinc/telltale/internal/config"
	"github.com/fibinc/telltale/internal/query"
	"github.com/fibinc/telltale/internal/state"
	statedb "github.com/fibinc/telltale/internal/state/duckdb"
	"github.com/fibinc/telltale/internal/store/duckdb"
	"github.com/fibinc/telltale/internal/uptime"
)

// newChecksAPI returns the API over a Runner with an HTTP check (with
// results stored for the last two hours, one failed), a push check with a
// token and one without.
func newChecksAPI(t *testing.T) (http.Handler, *uptime.Runner) {
	t.Helper()
	ctx := context.Background()
	now := t0.Add(30 * time.Minute)
	st, err := duckdb.Open(ctx, duckdb.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	q, err := query.New(query.Options{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	ss, err := statedb.Open(ctx, statedb.Options{Path: t.TempDir() + "/state.duckdb"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ss.Close() })
	var res []state.CheckResult
	for i := range 120 {
		r := state.CheckResult{Check: "web", At: now.Add(-2*time.Hour + time.Duration(i)*time.Minute), OK: i != 100, Duration: 20 * time.Millisecond, Source: "probe", Status: 200, Attempts: 1}
		if !r.OK {
			r.Status, r.Error = 503, "failed: [STATUS] (503) == 200"
		}
		res = append(res, r)
	}
	if err := ss.AddCheckResults(ctx, res); err != nil {
		t.Fatal(err)
	}
	run := uptime.New(uptime.Options{Store: ss, Now: func() time.Time { return now }})
	run.SetChecks([]config.Check{
		{Name: "web", Type: "http", URL: "https://example.com/health", Interval: config.Duration(time.Minute)},
		{Name: "backup", Type: "push", Interval: config.Duration(24 * time.Hour), Token: "s3cret"},
		{Name: "open", Type: "push", Interval: config.Duration(time.Hour)},
	}, nil)
	h, err := api.New(api.Options{Query: q, Now: func() time.Time { return now }, Checks: run})
	if err != nil {
		t.Fatal(err)
	}
	return h, run
}

func TestChecksAPI(t *testing.T) {
	h, _ := newChecksAPI(t)
	code, b, _ := get(t, h, "GET", "/api/v1/checks")
	if code != 200 {
		t.Fatalf("checks: %d %s", code, b.Error)
	}
	var list []struct {
		Name, Type, Target, Interval, Status string
		Last                                 *state.CheckResult
		Uptime                               map[string]*float64
		P95Ms                                *float64 `json:"p95_ms"`
	}
	if err := json.Unmarshal(b.Data, &list); err != nil {
		t.Fatal(err)
	}
	if len(list) != 3 || list[0].Name != "web" || list[1].Target != "/api/v1/push/backup" || list[1].Status != "pending" {
		t.Fatalf("checks %s", b.Data)
	}
	web := list[0]
	// 2 hours of results: 24h has 1 minute down of 121 known (the last
	// result owns until now).
	if web.Uptime["24h"] == nil || *web.Uptime["24h"] != 100*119.0/120 || web.P95Ms == nil || *web.P95Ms != 20 {
		t.Errorf("web uptime %v p95 %v", web.Uptime, web.P95Ms)
	}
	if list[1].Uptime["90d"] != nil || list[1].Last != nil {
		t.Errorf("backup without results: %+v", list[1])
	}

	code, b, _ = get(t, h, "GET", "/api/v1/checks/web?range=24h")
	if code != 200 {
		t.Fatalf("check: %d %s", code, b.Error)
	}
	var one struct {
		Name   string
		Report uptime.Report
		Recent []state.CheckResult `json:"recent_results"`
	}
	if err := json.Unmarshal(b.Data, &one); err != nil {
		t.Fatal(err)
	}
	if one.Name != "web" || len(one.Recent) != 50 || len(one.Report.Downtimes) != 1 || one.Report.Downtimes[0].Error != "failed: [STATUS] (503) == 200" {
		t.Errorf("check web: %s", b.Data)
	}
	code, b, _ = get(t, h, "GET", "/api/v1/checks/web/results?from=now-30m&limit=5")
	if code != 200 || len(pluck(t, b.Data, "at")) != 5 {
		t.Errorf("results: %d %s", code, b.Data)
	}
	for _, tt := range []struct {
		target string
		code   int
		want   string
	}{
		{"/api/v1/checks/nope", 404, `no check named "nope"`},
		{"/api/v1/checks/nope/results", 404, "unknown check"},
		{"/api/v1/checks/web?range=1y", 400, "unknown range"},
		{"/api/v1/checks/web?range=24h&from=now-1h", 400, "not both"},
		{"/api/v1/checks/web?from=now&to=now-1h", 400, "not before"},
		{"/api/v1/checks/web/results?limit=x", 400, "limit"},
		{"/api/v1/checks/web/results?limit=20000", 400, "maximum"},
	} {
		code, b, _ := get(t, h, "GET", tt.target)
		if code != tt.code || !strings.Contains(b.Error, tt.want) {
			t.Errorf("%s: %d %q, want %d %q", tt.target, code, b.Error, tt.code, tt.want)
		}
	}
}

func TestPushAPI(t *testing.T) {
	h, run := newChecksAPI(t)
	do := func(method, target, auth string) (int, string) {
		req := httptest.NewRequest(method, target, nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code, strings.TrimSpace(rec.Body.String())
	}
	for _, tt := range []struct {
		method, target, auth string
		code                 int
		body                 string
	}{
		{"POST", "/api/v1/push/backup", "Bearer s3cret", 200, `{"ok":true}`},
		{"GET", "/api/v1/push/backup?token=s3cret&status=down&msg=disk+full&duration_ms=1500", "", 200, `{"ok":true}`},
		{"GET", "/api/v1/push/backup?token=wrong", "", 401, `{"ok":false,"error":"bad or missing token"}`},
		{"GET", "/api/v1/push/backup", "", 401, `{"ok":false,"error":"bad or missing token"}`},
		{"POST", "/api/v1/push/backup", "Basic czNjcmV0", 401, `{"ok":false,"error":"Authorization must be Bearer <token>"}`},
		{"POST", "/api/v1/push/open", "", 200, `{"ok":true}`},
		{"POST", "/api/v1/push/nope", "", 404, `{"ok":false,"error":"no check named \"nope\""}`},
		{"POST", "/api/v1/push/web", "", 400, `{"ok":false,"error":"check \"web\" is of type http: not a push check"}`},
		{"POST", "/api/v1/push/open?status=maybe", "", 400, `{"ok":false,"error":"parameter status: \"maybe\" is not up or down"}`},
		{"POST", "/api/v1/push/open?duration_ms=-1", "", 400, `{"ok":false,"error":"parameter duration_ms: \"-1\" is not a number of milliseconds"}`},
		{"DELETE", "/api/v1/push/open", "", 405, `{"ok":false,"error":"method DELETE is not allowed; use GET or POST"}`},
	} {
		code, body := do(tt.method, tt.target, tt.auth)
		if code != tt.code || body != tt.body {
			t.Errorf("%s %s: %d %s, want %d %s", tt.method, tt.target, code, body, tt.code, tt.body)
		}
	}
	st, _ := run.Check("backup")
	if st.Status != "down" || st.Last.Error != "disk full" || st.Last.Duration != 1500*time.Millisecond || st.Last.Source != "push" {
		t.Errorf("backup after pushes: %+v", st)
	}
}

func TestChecksAPINotConfigured(t *testing.T) {
	h, _ := newAPI(t, testData(), query.Options{})
	if code, b, _ := get(t, h, "GET", "/api/v1/checks"); code != 404 || !strings.Contains(b.Error, "not configured") {
		t.Errorf("checks without a runner: %d %q", code, b.Error)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", "/api/v1/push/x", nil))
	if rec.Code != 404 {
		t.Errorf("push without a runner: %d", rec.Code)
	}
}
