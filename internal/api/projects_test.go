package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fibinc/telltale/internal/api"
	"github.com/fibinc/telltale/internal/ingest/ingestkey"
	"github.com/fibinc/telltale/internal/query"
	"github.com/fibinc/telltale/internal/state"
	statedb "github.com/fibinc/telltale/internal/state/duckdb"
	"github.com/fibinc/telltale/internal/store/duckdb"
)

// projectsAPI returns the API over a real state store, with key changes
// going through ingestkey.Keys as in the server.
func projectsAPI(t *testing.T, withKeys bool) (http.Handler, *ingestkey.Keys, state.Project) {
	t.Helper()
	ctx := context.Background()
	st, err := duckdb.Open(ctx, duckdb.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	sta, err := statedb.Open(ctx, statedb.Options{Path: filepath.Join(t.TempDir(), statedb.FileName)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sta.Close() })
	p, err := sta.CreateProject(ctx, "default", "Default")
	if err != nil {
		t.Fatal(err)
	}
	q, err := query.New(query.Options{Store: st, State: sta})
	if err != nil {
		t.Fatal(err)
	}
	keys := ingestkey.New(ingestkey.Options{Store: sta})
	if err := keys.Load(ctx); err != nil {
		t.Fatal(err)
	}
	opt := api.Options{Query: q, Projects: sta, IngestURL: "http://ingest.example:4318", Now: func() time.Time { return t0 }}
	if withKeys {
		opt.Keys = keys
	}
	h, err := api.New(opt)
	if err != nil {
		t.Fatal(err)
	}
	return h, keys, p
}

type apiKey struct {
	state.IngestKey
	DSN string `json:"dsn"`
}

func TestProjectEndpoints(t *testing.T) {
	h, keys, def := projectsAPI(t, true)

	code, b := send(t, h, "POST", "/api/v1/projects", `{"slug": "web", "name": "Web <shop>"}`)
	if code != 200 {
		t.Fatalf("create project: %d %s", code, b.Error)
	}
	var created struct {
		state.Project
		DSN  string   `json:"dsn"`
		Keys []apiKey `json:"keys"`
	}
	if err := json.Unmarshal(b.Data, &created); err != nil {
		t.Fatal(err)
	}
	wantDSN := fmt.Sprintf("http://%s@ingest.example:4318/%d", created.PublicKey, created.ID)
	if created.Slug != "web" || created.Name != "Web <shop>" || created.DSN != wantDSN || len(created.Keys) != 1 ||
		created.Keys[0].Key != created.PublicKey || created.Keys[0].DSN != wantDSN {
		t.Errorf("created %+v", created)
	}
	// The new project's key works for ingest at once.
	if k, err := keys.Authenticate(created.PublicKey, "test"); err != nil || k.Project.ID != created.ID {
		t.Errorf("new project's key: %v, %v", k, err)
	}

	code, b = send(t, h, "POST", fmt.Sprintf("/api/v1/projects/%d/keys", created.ID), `{"name": "ci", "rate_limit": 500}`)
	if code != 200 {
		t.Fatalf("create key: %d %s", code, b.Error)
	}
	var k apiKey
	if err := json.Unmarshal(b.Data, &k); err != nil {
		t.Fatal(err)
	}
	if k.Name != "ci" || k.RateLimit != 500 || k.ProjectID != created.ID || !k.Active() || !strings.Contains(k.DSN, k.Key+"@") {
		t.Errorf("created key %+v", k)
	}
	if key, err := keys.Authenticate(k.Key, "test"); err != nil || key.Rate != 500 {
		t.Errorf("new key: %+v, %v", key, err)
	}

	code, b = send(t, h, "GET", fmt.Sprintf("/api/v1/projects/%d/keys", created.ID), "")
	var list []apiKey
	if err := json.Unmarshal(b.Data, &list); code != 200 || err != nil || len(list) != 2 || list[1].Key != k.Key {
		t.Errorf("list keys: %d %s %+v %v", code, b.Error, list, err)
	}

	// Revoking the first key: it stops working, and the project's DSN
	// moves to the next active key.
	code, b = send(t, h, "DELETE", fmt.Sprintf("/api/v1/projects/%d/keys/%d", created.ID, created.Keys[0].ID), "")
	var revoked apiKey
	if err := json.Unmarshal(b.Data, &revoked); code != 200 || err != nil || revoked.Active() || !revoked.RevokedAt.Equal(t0) {
		t.Errorf("revoke: %d %s %+v", code, b.Error, revoked)
	}
	if _, err := keys.Authenticate(created.PublicKey, "test"); err == nil {
		t.Error("revoked key still works")
	}
	code, b = send(t, h, "GET", "/api/v1/projects", "")
	var ps []struct {
		state.Project
		DSN string `json:"dsn"`
	}
	if err := json.Unmarshal(b.Data, &ps); code != 200 || err != nil || len(ps) != 2 {
		t.Fatalf("list projects: %d %s %v", code, b.Error, err)
	}
	if ps[0].ID != def.ID || ps[1].DSN != fmt.Sprintf("http://%s@ingest.example:4318/%d", k.Key, created.ID) {
		t.Errorf("projects %+v", ps)
	}
}

func TestProjectEndpointErrors(t *testing.T) {
	h, _, def := projectsAPI(t, true)
	keysPath := fmt.Sprintf("/api/v1/projects/%d/keys", def.ID)
	for _, tc := range []struct {
		method, target, body string
		want                 int
		msg                  string
	}{
		{"POST", "/api/v1/projects", `{"slug": "default"}`, 409, "already exists"},
		{"POST", "/api/v1/projects", `{"slug": "Not A Slug"}`, 400, "invalid project slug"},
		{"POST", "/api/v1/projects", `{"slug": "x", "extra": 1}`, 400, "unknown field"},
		{"POST", "/api/v1/projects", `{"slug": "x"} {}`, 400, "more than one"},
		{"POST", "/api/v1/projects", `{"slug": "` + strings.Repeat("x", 5000) + `"}`, 413, "at most"},
		{"POST", "/api/v1/projects", `nope`, 400, "invalid JSON"},
		{"PUT", "/api/v1/projects", `{}`, 405, "use GET, HEAD, POST"},
		{"GET", "/api/v1/projects/x/keys", "", 400, "not a project id"},
		{"GET", "/api/v1/projects/999/keys", "", 404, "project 999"},
		{"POST", "/api/v1/projects/999/keys", `{}`, 404, "project 999"},
		{"POST", keysPath, `{"rate_limit": -1}`, 400, "rate limit"},
		{"POST", keysPath, `{"name": "` + strings.Repeat("n", 101) + `"}`, 400, "name"},
		{"DELETE", keysPath + "/999", "", 404, "ingest key 999"},
		{"DELETE", keysPath + "/x", "", 400, "not a key id"},
		{"DELETE", "/api/v1/projects/999/keys/1", "", 404, "project 999"},
		{"GET", keysPath + "/1", "", 405, "use DELETE"},
	} {
		code, b := send(t, h, tc.method, tc.target, tc.body)
		if code != tc.want || !strings.Contains(b.Error, tc.msg) {
			t.Errorf("%s %s %.40s: %d %q, want %d %q", tc.method, tc.target, tc.body, code, b.Error, tc.want, tc.msg)
		}
	}
	// Another project's key cannot be revoked through this one.
	h2, keys, _ := projectsAPI(t, true)
	p, err := keys.CreateProject(context.Background(), "other", "")
	if err != nil {
		t.Fatal(err)
	}
	ks, _ := keys.IngestKeys(context.Background(), p.ID)
	if code, b := send(t, h2, "DELETE", fmt.Sprintf("/api/v1/projects/%d/keys/%d", def.ID, ks[0].ID), ""); code != 404 {
		t.Errorf("revoke through another project: %d %s", code, b.Error)
	}
}

func TestProjectEndpointsWithoutKeys(t *testing.T) {
	h, _, def := projectsAPI(t, false)
	if code, b := send(t, h, "GET", "/api/v1/projects", ""); code != 200 || !strings.Contains(string(b.Data), def.PublicKey) {
		t.Errorf("list: %d %s", code, b.Data)
	}
	if code, _ := send(t, h, "POST", "/api/v1/projects", `{"slug": "web"}`); code != 503 {
		t.Errorf("create without key management: %d, want 503", code)
	}
}
