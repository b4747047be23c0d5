package web

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/fibinc/telltale/internal/auth"
	"github.com/fibinc/telltale/internal/ingest/ingestkey/ingestkeytest"
	"github.com/fibinc/telltale/internal/state"
)

// fixedProjects answers fixed projects and keys, for golden pages.
type fixedProjects struct {
	*ingestkeytest.MemStore // changes, unused by the pages
	projects                []state.Project
	keys                    []state.IngestKey
}

func (f *fixedProjects) Projects(context.Context) ([]state.Project, error) { return f.projects, nil }

func (f *fixedProjects) IngestKeys(_ context.Context, id int64) ([]state.IngestKey, error) {
	var out []state.IngestKey
	for _, k := range f.keys {
		if id == 0 || k.ProjectID == id {
			out = append(out, k)
		}
	}
	return out, nil
}

func projectFixture() *fixedProjects {
	created := now.Add(-48 * time.Hour)
	return &fixedProjects{
		MemStore: &ingestkeytest.MemStore{},
		projects: []state.Project{
			{ID: 1, Slug: "default", Name: "Default", PublicKey: "0123456789abcdef0123456789abcdef", CreatedAt: created},
			{ID: 2, Slug: "web", Name: xss, PublicKey: "fedcba9876543210fedcba9876543210", CreatedAt: created},
		},
		keys: []state.IngestKey{
			{ID: 1, ProjectID: 1, Name: "default", Key: "0123456789abcdef0123456789abcdef", CreatedAt: created},
			{ID: 2, ProjectID: 2, Name: "default", Key: "fedcba9876543210fedcba9876543210", CreatedAt: created, RevokedAt: now.Add(-time.Hour)},
			{ID: 3, ProjectID: 2, Name: xss, Key: "aaaabbbbccccddddeeeeffff00001111", RateLimit: 250.5, CreatedAt: now.Add(-time.Hour)},
			{ID: 4, ProjectID: 1, Name: "ci", Key: "22223333444455556666777788889999", RateLimit: 1000, CreatedAt: now.Add(-time.Minute)},
		},
	}
}

func newProjectServer(t *testing.T, p ProjectKeys, header string) http.Handler {
	t.Helper()
	opt := Options{Query: fleet(), IngestURL: "http://localhost:4318", IngestKeyHeader: header, Now: func() time.Time { return now }}
	if p != nil {
		opt.Projects = p
	}
	h, err := New(opt)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestProjectsPage(t *testing.T) {
	for _, tc := range []struct {
		name   string
		p      ProjectKeys
		header string
	}{
		{"projects", projectFixture(), ""},
		{"projects-header", projectFixture(), "X-Telltale-Key"},
		{"projects-off", nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			newProjectServer(t, tc.p, tc.header).ServeHTTP(rec, httptest.NewRequest("GET", "/settings/projects", nil))
			if rec.Code != 200 {
				t.Fatalf("status %d:\n%s", rec.Code, rec.Body)
			}
			body := rec.Body.String()
			if strings.Contains(body, "<script>alert") || strings.Contains(body, "<img src=x") {
				t.Errorf("page shows unescaped input:\n%s", body)
			}
			golden(t, tc.name, body)
		})
	}
}

func TestProjectsPageContent(t *testing.T) {
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/settings/projects", nil)
	req = req.WithContext(auth.WithPrincipal(req.Context(), auth.Principal{Name: "ana", Role: auth.RoleAdmin, CSRF: "csrf-token-1"}))
	newProjectServer(t, projectFixture(), "").ServeHTTP(rec, req)
	body := rec.Body.String()
	for _, want := range []string{
		`<code class="dsn">http://0123456789abcdef0123456789abcdef@localhost:4318/1</code>`,
		// Project 2's first key is revoked: its DSN is the next one's.
		`<code class="dsn">http://aaaabbbbccccddddeeeeffff00001111@localhost:4318/2</code>`,
		"OTEL_EXPORTER_OTLP_HEADERS=Authorization=Bearer%200123456789abcdef0123456789abcdef",
		`&lt;script&gt;alert(1)&lt;/script&gt;`,
		`action="/settings/projects/2/keys/3/revoke"`,
		`250.5 records/s`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	if strings.Contains(body, `action="/settings/projects/2/keys/2/revoke"`) {
		t.Error("a revoked key can be revoked again")
	}
	if n := strings.Count(body, `name="csrf" value="csrf-token-1"`); n != 1+2+3+1 {
		t.Errorf("%d forms carry the CSRF token, want 7 (6 and the logout form)", n)
	}
}

func postForm(t *testing.T, h http.Handler, target string, form url.Values, header map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest("POST", target, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestProjectForms(t *testing.T) {
	ctx := context.Background()
	st := &ingestkeytest.MemStore{}
	def, err := st.CreateProject(ctx, "default", "")
	if err != nil {
		t.Fatal(err)
	}
	h := newProjectServer(t, st, "")
	same := map[string]string{"Sec-Fetch-Site": "same-origin"}
	for _, tc := range []struct {
		name, target string
		form         url.Values
		header       map[string]string
		status       int
		want         string // Location of a 303, else in the body
	}{
		{"create project", "/settings/projects", url.Values{"slug": {"web"}, "name": {"Web"}}, same, 303, "/settings/projects#project-2"},
		{"duplicate slug", "/settings/projects", url.Values{"slug": {"web"}}, same, 400, "already exists"},
		{"bad slug", "/settings/projects", url.Values{"slug": {xss}}, same, 400, "invalid project slug"},
		{"create key", "/settings/projects/1/keys", url.Values{"name": {"ci"}, "rate_limit": {"100"}}, nil, 303, "/settings/projects#project-1"},
		{"bad rate", "/settings/projects/1/keys", url.Values{"name": {"ci"}, "rate_limit": {"fast"}}, same, 400, "is not a number"},
		{"negative rate", "/settings/projects/1/keys", url.Values{"rate_limit": {"-5"}}, same, 400, "invalid ingest key rate limit"},
		{"key of unknown project", "/settings/projects/99/keys", url.Values{"name": {"x"}}, same, 404, "project 99"},
		{"bad project id", "/settings/projects/x/keys", url.Values{}, same, 400, "not a valid id"},
		{"revoke", "/settings/projects/1/keys/1/revoke", url.Values{}, same, 303, "/settings/projects#project-1"},
		{"revoke unknown", "/settings/projects/1/keys/99/revoke", url.Values{}, same, 404, "ingest key 99"},
		{"revoke through another project", "/settings/projects/2/keys/3/revoke", url.Values{}, same, 404, "ingest key 3 of project 2"},
		{"cross-site", "/settings/projects", url.Values{"slug": {"evil"}}, map[string]string{"Sec-Fetch-Site": "cross-site"}, 403, "from Telltale"},
		{"other origin", "/settings/projects/1/keys/3/revoke", url.Values{}, map[string]string{"Origin": "http://evil.example"}, 403, "from Telltale"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := postForm(t, h, tc.target, tc.form, tc.header)
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d:\n%s", rec.Code, tc.status, rec.Body)
			}
			if tc.status == 303 {
				if got := rec.Header().Get("Location"); got != tc.want {
					t.Errorf("Location %q, want %q", got, tc.want)
				}
				return
			}
			body := rec.Body.String()
			if !strings.Contains(body, tc.want) {
				t.Errorf("body lacks %q:\n%s", tc.want, body)
			}
			if strings.Contains(body, "<script>alert") {
				t.Error("unescaped input")
			}
		})
	}
	keys, _ := st.IngestKeys(ctx, def.ID)
	if len(keys) != 2 || keys[0].Active() || keys[1].Name != "ci" || keys[1].RateLimit != 100 || !keys[1].Active() {
		t.Errorf("keys after the forms: %+v", keys)
	}
	ps, _ := st.Projects(ctx)
	if len(ps) != 2 {
		t.Errorf("projects after the forms: %+v", ps)
	}
	// Without key management the forms answer 503.
	if rec := postForm(t, newProjectServer(t, nil, ""), "/settings/projects", url.Values{"slug": {"x"}}, nil); rec.Code != 503 {
		t.Errorf("without key management: %d", rec.Code)
	}
}
