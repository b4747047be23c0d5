package api_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fibinc/telltale/internal/api"
	"github.com/fibinc/telltale/internal/config"
	"github.com/fibinc/telltale/internal/query"
	"github.com/fibinc/telltale/internal/state/duckdb"
	storeduckdb "github.com/fibinc/telltale/internal/store/duckdb"
)

// configServer runs the API with a config.Manager over a real state store.
func configServer(t *testing.T, mopt config.ManagerOptions) (*httptest.Server, *config.Manager) {
	t.Helper()
	ctx := context.Background()
	st, err := storeduckdb.Open(ctx, storeduckdb.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	q, err := query.New(query.Options{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	if mopt.Path == "" {
		ss, err := duckdb.Open(ctx, duckdb.Options{Path: filepath.Join(t.TempDir(), duckdb.FileName)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ss.Close() })
		mopt.Store = ss
	}
	m := config.NewManager(mopt)
	if err := m.Load(ctx); err != nil {
		t.Fatal(err)
	}
	h, err := api.New(api.Options{Query: q, Config: m})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv, m
}

type configAnswer struct {
	Data struct {
		Source   string          `json:"source"`
		Path     string          `json:"path"`
		LoadedAt time.Time       `json:"loaded_at"`
		Config   json.RawMessage `json:"config"`
	} `json:"data"`
	Error string `json:"error"`
}

func call(t *testing.T, method, url, body string) (int, configAnswer, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var a configAnswer
	if err := json.Unmarshal(raw, &a); err != nil {
		t.Fatalf("%s %s: %v in %s", method, url, err, raw)
	}
	return resp.StatusCode, a, string(raw)
}

const apiDoc = `checks:
  - name: api
    url: https://user:pw@api.example.com/healthz
    headers: {Authorization: Bearer xyz}
channels:
  - name: mail
    type: email
    smtp: {address: smtp.internal:587, password: hunter2}
    from: telltale@example.com
    to: [oncall@example.com]
`

func TestConfigAPI(t *testing.T) {
	var applied []*config.File
	srv, _ := configServer(t, config.ManagerOptions{
		Apply: func(_ context.Context, f *config.File) error { applied = append(applied, f); return nil },
	})
	url := srv.URL + "/api/v1/config"

	code, a, raw := call(t, "GET", url, "")
	if code != 200 || a.Data.Source != "none" || !a.Data.LoadedAt.IsZero() || !strings.Contains(raw, `"checks":[]`) {
		t.Errorf("GET before any PUT: %d %s", code, raw)
	}

	code, a, raw = call(t, "PUT", url, "checks:\n  - name: api\n    intervl: 1m\nrules:\n  - name: r\n    check: nope\n")
	want := "config:2:5: check \"api\" has no type: set url for an HTTP check, or type (tcp, dns, tls or push)\n" +
		"config:3:5: unknown key intervl in check \"api\"; did you mean interval?\n" +
		"config:6:5: rule \"r\": check \"nope\" is not defined"
	if code != 400 || a.Error != want {
		t.Errorf("PUT of a bad document: %d\n%s\nwant error:\n%s", code, raw, want)
	}
	if len(applied) != 0 {
		t.Errorf("bad document applied")
	}

	code, a, raw = call(t, "PUT", url, apiDoc)
	if code != 200 || a.Data.Source != "api" || a.Data.LoadedAt.IsZero() || len(applied) != 1 {
		t.Fatalf("PUT: %d %s", code, raw)
	}
	for _, secret := range []string{"pw@", "xyz", "hunter2"} {
		if strings.Contains(raw, secret) {
			t.Errorf("PUT answer shows secret %s: %s", secret, raw)
		}
	}
	if applied[0].Checks[0].Headers["Authorization"] != "Bearer xyz" {
		t.Errorf("applied configuration was redacted: %+v", applied[0].Checks[0])
	}
	code, a, raw = call(t, "GET", url, "")
	if code != 200 || a.Data.Source != "api" || !strings.Contains(raw, `"name":"mail"`) || !strings.Contains(raw, config.Secret) || strings.Contains(raw, "hunter2") {
		t.Errorf("GET after PUT: %d %s", code, raw)
	}

	code, _, raw = call(t, "DELETE", url, "")
	if code != 405 {
		t.Errorf("DELETE: %d %s", code, raw)
	}
}

func TestConfigAPIFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "telltale.yaml")
	if err := os.WriteFile(path, []byte(apiDoc), 0o644); err != nil {
		t.Fatal(err)
	}
	srv, _ := configServer(t, config.ManagerOptions{Path: path})
	url := srv.URL + "/api/v1/config"
	code, a, raw := call(t, "GET", url, "")
	if code != 200 || a.Data.Source != "file" || a.Data.Path != path || strings.Contains(raw, "hunter2") || !strings.Contains(raw, `"line":2`) {
		t.Errorf("GET: %d %s", code, raw)
	}
	code, a, raw = call(t, "PUT", url, "rules: []\n")
	if code != 409 || !strings.Contains(a.Error, path) || !strings.Contains(a.Error, "reload") {
		t.Errorf("PUT with a file: %d %s", code, raw)
	}
}

func TestConfigAPINotConfigured(t *testing.T) {
	srv := httptest.NewServer(mustAPI(t))
	defer srv.Close()
	code, a, raw := call(t, "GET", srv.URL+"/api/v1/config", "")
	if code != 200 || a.Data.Source != "none" {
		t.Errorf("GET: %d %s", code, raw)
	}
	if code, _, raw := call(t, "PUT", srv.URL+"/api/v1/config", "rules: []\n"); code != 404 {
		t.Errorf("PUT: %d %s", code, raw)
	}
}

func mustAPI(t *testing.T) http.Handler {
	t.Helper()
	st, err := storeduckdb.Open(context.Background(), storeduckdb.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	q, err := query.New(query.Options{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	h, err := api.New(api.Options{Query: q})
	if err != nil {
		t.Fatal(err)
	}
	return h
}
