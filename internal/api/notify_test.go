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
	"github.com/fibinc/telltale/internal/notify"
	"github.com/fibinc/telltale/internal/query"
	"github.com/fibinc/telltale/internal/store/duckdb"
)

// notifyAPI returns the API with a real notifier on a fixed clock: a
// config silence, a webhook and a Slack channel.
func notifyAPI(t *testing.T, withNotifier bool) (http.Handler, *notify.Notifier) {
	t.Helper()
	st, err := duckdb.Open(context.Background(), duckdb.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	q, err := query.New(query.Options{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	now := func() time.Time { return t0 }
	n := notify.New(notify.Options{Now: now})
	m, _ := config.ParseMatcher(`alertname="api-down"`)
	err = n.SetConfig([]config.Channel{
		{Name: "ops", Type: config.ChannelWebhook, URL: "http://user:pw@ops.internal/hook?token=s3cret"},
		{Name: "chat", Type: config.ChannelSlack, URL: "https://hooks.slack.com/services/T0/B0/SECRET"},
		{Name: "mail", Type: config.ChannelEmail, SMTP: config.SMTP{Address: "smtp.internal:587", Username: "u", Password: "hunter2"}, From: "a@example.com", To: []string{"b@example.com"}},
	}, nil, []config.Silence{{Matchers: []config.Matcher{m}, Starts: t0.Add(-time.Hour), Ends: t0.Add(time.Hour), CreatedBy: "ana", Comment: "migration"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	opt := api.Options{Query: q, Now: now}
	if withNotifier {
		opt.Notify = n
	}
	h, err := api.New(opt)
	if err != nil {
		t.Fatal(err)
	}
	return h, n
}

func send(t *testing.T, h http.Handler, method, target, payload string) (int, body) {
	t.Helper()
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(method, target, strings.NewReader(payload))
	req.Header.Set("Content-Type", "application/json")
	h.ServeHTTP(rec, req)
	var b body
	if err := json.Unmarshal(rec.Body.Bytes(), &b); err != nil {
		t.Fatalf("%s %s: body %q is not JSON: %v", method, target, rec.Body, err)
	}
	return rec.Code, b
}

func TestSilenceEndpoints(t *testing.T) {
	h, _ := notifyAPI(t, true)
	code, b := send(t, h, "POST", "/api/v1/silences", `{"matchers": ["instance=\"db-1\"", "env=~\"prod|eu\""], "ends": "2026-05-04T12:00:00Z", "created_by": "bo", "comment": "disk swap"}`)
	if code != 200 {
		t.Fatalf("POST: %d %s", code, b.Error)
	}
	var created notify.Silence
	if err := json.Unmarshal(b.Data, &created); err != nil {
		t.Fatal(err)
	}
	if created.State != "active" || created.Source != "api" || created.CreatedBy != "bo" || len(created.Matchers) != 2 || created.Matchers[0] != `instance="db-1"` {
		t.Errorf("created %+v", created)
	}

	code, b = send(t, h, "GET", "/api/v1/silences", "")
	if code != 200 {
		t.Fatalf("GET: %d %s", code, b.Error)
	}
	var list []notify.Silence
	if err := json.Unmarshal(b.Data, &list); err != nil {
		t.Fatal(err)
	}
	// Active silences come latest start first.
	if len(list) != 2 || list[0].ID != created.ID || list[1].Source != "config" || list[1].State != "active" {
		t.Fatalf("list %+v", list)
	}

	if code, b = send(t, h, "DELETE", "/api/v1/silences/"+list[1].ID, ""); code != http.StatusConflict || !strings.Contains(b.Error, "configuration file") {
		t.Errorf("DELETE config silence: %d %q", code, b.Error)
	}
	if code, b = send(t, h, "DELETE", "/api/v1/silences/no-such", ""); code != http.StatusNotFound || !strings.Contains(b.Error, "no-such") {
		t.Errorf("DELETE unknown: %d %q", code, b.Error)
	}
	code, b = send(t, h, "DELETE", "/api/v1/silences/"+created.ID, "")
	var expired notify.Silence
	json.Unmarshal(b.Data, &expired)
	if code != 200 || expired.State != "expired" || !expired.EndsAt.Equal(t0) {
		t.Errorf("DELETE: %d %+v", code, expired)
	}
	if code, _ = send(t, h, "PUT", "/api/v1/silences", ""); code != http.StatusMethodNotAllowed {
		t.Errorf("PUT: %d", code)
	}
}

func TestCreateSilenceErrors(t *testing.T) {
	h, _ := notifyAPI(t, true)
	for _, tt := range []struct{ payload, want string }{
		{`{`, "invalid JSON"},
		{`{"matchers": ["a=\"b\""], "ends": "tomorrow"}`, "invalid JSON"},
		{`{"matchers": ["a=\"b\""], "endsAt": "2026-05-04T12:00:00Z"}`, `unknown field "endsAt"`},
		{`{"ends": "2026-05-04T12:00:00Z"}`, "at least one matcher"},
		{`{"matchers": ["a"], "ends": "2026-05-04T12:00:00Z"}`, `invalid matcher "a"`},
		{`{"matchers": ["a=\"b\""]}`, "ends is required"},
		{`{"matchers": ["a=\"b\""], "ends": "2026-05-04T09:00:00Z"}`, "ends must be after starts"},
		{`{"matchers": ["a=\"b\""], "starts": "2026-05-04T08:00:00Z", "ends": "2026-05-04T09:00:00Z"}`, "in the future"},
	} {
		code, b := send(t, h, "POST", "/api/v1/silences", tt.payload)
		if code != http.StatusBadRequest || !strings.Contains(b.Error, tt.want) {
			t.Errorf("POST %s: %d %q, want 400 naming %q", tt.payload, code, b.Error, tt.want)
		}
	}
}

func TestCreateSilenceTooLarge(t *testing.T) {
	h, _ := notifyAPI(t, true)
	big := `{"matchers": ["a=\"b\""], "comment": "` + strings.Repeat("x", 1<<16) + `", "ends": "2026-05-04T12:00:00Z"}`
	if code, b := send(t, h, "POST", "/api/v1/silences", big); code != http.StatusRequestEntityTooLarge || !strings.Contains(b.Error, "64 KiB") {
		t.Errorf("POST of %d bytes: %d %q, want 413 naming the limit", len(big), code, b.Error)
	}
}

func TestChannelsRedacted(t *testing.T) {
	h, _ := notifyAPI(t, true)
	code, b := send(t, h, "GET", "/api/v1/channels", "")
	if code != 200 {
		t.Fatalf("%d %s", code, b.Error)
	}
	for _, secret := range []string{"pw", "s3cret", "SECRET", "hunter2", "T0"} {
		if strings.Contains(string(b.Data), secret) {
			t.Errorf("channels show %q: %s", secret, b.Data)
		}
	}
	want := `[{"name":"ops","type":"webhook","target":"http://ops.internal/hook?...","send_resolved":true},{"name":"chat","type":"slack","target":"https://hooks.slack.com/...","send_resolved":true},{"name":"mail","type":"email","target":"smtp smtp.internal:587 -> b@example.com","send_resolved":true}]`
	if string(b.Data) != want {
		t.Errorf("channels\n got %s\nwant %s", b.Data, want)
	}
}

func TestNotificationAttemptsEndpoint(t *testing.T) {
	h, _ := notifyAPI(t, true)
	code, b := send(t, h, "GET", "/api/v1/notifications?channel=ops&limit=5", "")
	if code != 200 || string(b.Data) != "[]" {
		t.Errorf("empty log: %d %s %s", code, b.Data, b.Error)
	}
	for _, bad := range []string{"limit=0", "limit=x", "limit=5000"} {
		if code, b := send(t, h, "GET", "/api/v1/notifications?"+bad, ""); code != http.StatusBadRequest || !strings.Contains(b.Error, "limit") {
			t.Errorf("%s: %d %q", bad, code, b.Error)
		}
	}
}

func TestNotifyEndpointsWithoutNotifier(t *testing.T) {
	h, _ := notifyAPI(t, false)
	for _, path := range []string{"/api/v1/silences", "/api/v1/notifications", "/api/v1/channels"} {
		if code, b := send(t, h, "GET", path, ""); code != 200 || string(b.Data) != "[]" {
			t.Errorf("GET %s: %d %s", path, code, b.Data)
		}
	}
	if code, _ := send(t, h, "POST", "/api/v1/silences", `{}`); code != http.StatusServiceUnavailable {
		t.Errorf("POST without notifier: %d", code)
	}
}
