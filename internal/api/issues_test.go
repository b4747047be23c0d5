package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/fibinc/telltale/internal/api"
	"github.com/fibinc/telltale/internal/issues"
	"github.com/fibinc/telltale/internal/pipeline"
	"github.com/fibinc/telltale/internal/query"
	statedb "github.com/fibinc/telltale/internal/state/duckdb"
	"github.com/fibinc/telltale/internal/store/duckdb"
	"github.com/fibinc/telltale/internal/telemetry"
)

// issueAPI is the API over real stores holding one issue with two events,
// assigned by the real issue tracker, and the issue's id.
func issueAPI(t *testing.T) (http.Handler, int64, string) {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	st, err := duckdb.Open(ctx, duckdb.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	sta, err := statedb.Open(ctx, statedb.Options{Path: dir + "/state.duckdb"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sta.Close() })
	p, err := sta.CreateProject(ctx, "default", "")
	if err != nil {
		t.Fatal(err)
	}
	pipe := pipeline.New(pipeline.Options{Writer: st})
	pctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { pipe.Run(pctx); close(done) }()
	t.Cleanup(func() { stop(); <-done })
	tr, err := issues.New(issues.Options{State: sta, Appender: pipe, DefaultProjectID: p.ID})
	if err != nil {
		t.Fatal(err)
	}
	b := &telemetry.Batch{}
	for i, user := range []string{"u1", "u2"} {
		b.Errors = append(b.Errors, telemetry.ErrorEvent{
			Resource: telemetry.Resource{ServiceName: "pricing"}, EventID: fmt.Sprintf("%032d", i+1),
			Time: t0.Add(time.Duration(i) * time.Minute), Platform: "go", Level: "error", User: telemetry.User{ID: user},
			Exceptions: []telemetry.Exception{{Type: "*errors.errorString", Value: fmt.Sprintf("no price for fib(%d)", 40+i)}},
		})
	}
	if err := tr.Append(ctx, b); err != nil {
		t.Fatal(err)
	}
	if err := tr.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	q, err := query.New(query.Options{Store: st, State: sta})
	if err != nil {
		t.Fatal(err)
	}
	h, err := api.New(api.Options{Query: q, Status: tr, Projects: sta, IngestURL: "http://telltale.example:4318",
		Now: func() time.Time { return t0.Add(30 * time.Minute) }})
	if err != nil {
		t.Fatal(err)
	}
	return h, b.Errors[0].IssueID, p.PublicKey
}

func TestIssueEndpoints(t *testing.T) {
	h, id, key := issueAPI(t)
	do := func(method, path, contentType, body string) (int, string) {
		req := httptest.NewRequest(method, path, strings.NewReader(body))
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w.Code, w.Body.String()
	}
	issue := fmt.Sprintf("/api/v1/issues/%d", id)
	for _, tc := range []struct {
		method, path, contentType, body string
		want                            int
		contains                        string
	}{
		{"GET", "/api/v1/issues", "", "", 200, `"events":2,"users":2`},
		{"GET", "/api/v1/issues?status=resolved", "", "", 200, `"data":[]`},
		{"GET", "/api/v1/issues?status=open", "", "", 400, "unknown status"},
		{"GET", "/api/v1/issues?sort=newest", "", "", 400, "unknown sort"},
		{"GET", "/api/v1/issues?project=x", "", "", 400, "parameter project"},
		{"GET", "/api/v1/issues?offset=-1", "", "", 400, "parameter offset"},
		{"GET", issue, "", "", 200, `"key":"user"`},
		{"GET", issue + "/events?limit=1", "", "", 200, `"event_id":"00000000000000000000000000000002"`},
		{"GET", "/api/v1/issues/abc", "", "", 400, "not an issue id"},
		{"GET", "/api/v1/issues/999", "", "", 404, "issue 999"},
		{"GET", "/api/v1/events/00000000000000000000000000000001", "", "", 200, `"variants"`},
		{"GET", issue + "/status", "", "", 405, "use POST"},
		{"POST", issue + "/status", "application/json", `{"status":"done"}`, 400, "unknown status"},
		{"POST", issue + "/status", "application/json", `{"status":`, 400, "invalid JSON"},
		{"POST", issue + "/status", "", "", 400, "missing"},
		{"POST", "/api/v1/issues/999/status", "application/json", `{"status":"resolved"}`, 404, "issue 999"},
		{"POST", issue + "/status", "application/json", `{"status":"resolved"}`, 200, `"status":"resolved"`},
		{"GET", "/api/v1/issues?status=resolved", "", "", 200, `"total":1`},
		{"POST", issue + "/status", "application/x-www-form-urlencoded", "status=ignored", 200, `"status":"ignored"`},
		{"POST", issue + "/status?status=unresolved", "", "", 200, `"substatus":"ongoing"`},
		{"GET", "/api/v1/projects", "", "", 200, `"dsn":"http://` + key + `@telltale.example:4318/1"`},
	} {
		code, body := do(tc.method, tc.path, tc.contentType, tc.body)
		if code != tc.want || !strings.Contains(body, tc.contains) {
			t.Errorf("%s %s %s: %d %s, want %d containing %s", tc.method, tc.path, tc.body, code, body, tc.want, tc.contains)
		}
		if code != 200 {
			var e struct{ Error string }
			if json.Unmarshal([]byte(body), &e) != nil || e.Error == "" {
				t.Errorf("%s %s: error body %s has no error message", tc.method, tc.path, body)
			}
		}
	}
}
