package apptest

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/getsentry/sentry-go"
	sentryhttp "github.com/getsentry/sentry-go/http"
)

// apiProject is a project as /api/v1/projects lists it.
type apiProject struct {
	ID        int64  `json:"id"`
	Slug      string `json:"slug"`
	PublicKey string `json:"public_key"`
	DSN       string `json:"dsn"`
}

type apiIssue struct {
	ID        int64     `json:"id"`
	Title     string    `json:"title"`
	Culprit   string    `json:"culprit"`
	Level     string    `json:"level"`
	Platform  string    `json:"platform"`
	Count     int64     `json:"count"`
	Events    int64     `json:"events"`
	Users     int64     `json:"users"`
	Status    string    `json:"status"`
	Substatus string    `json:"substatus"`
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
	Trend     struct {
		Counts []int64 `json:"counts"`
	} `json:"trend"`
}

type apiFrame struct {
	Function string `json:"function"`
	Module   string `json:"module"`
	AbsPath  string `json:"abs_path"`
	Lineno   int    `json:"lineno"`
	InApp    *bool  `json:"in_app"`
}

type apiEvent struct {
	EventID     string `json:"event_id"`
	IssueID     int64  `json:"issue_id"`
	Title       string `json:"title"`
	Message     string `json:"message"`
	Level       string `json:"level"`
	Platform    string `json:"platform"`
	Release     string `json:"release"`
	Environment string `json:"environment"`
	Service     string `json:"service_name"`
	TraceID     string `json:"trace_id"`
	SpanID      string `json:"span_id"`
	Exceptions  []struct {
		Type   string     `json:"type"`
		Value  string     `json:"value"`
		Frames []apiFrame `json:"frames"`
	} `json:"exceptions"`
	User struct {
		ID    string `json:"id"`
		Email string `json:"email"`
	} `json:"user"`
	Request struct {
		URL    string `json:"url"`
		Method string `json:"method"`
	} `json:"request"`
	Tags     []struct{ Key, Value string } `json:"tags"`
	Grouping struct {
		Version  string `json:"version"`
		Variants []struct {
			Name        string `json:"name"`
			Hash        string `json:"hash"`
			Contributes bool   `json:"contributes"`
		} `json:"variants"`
	} `json:"grouping"`
	RemoteChain []struct {
		Service string     `json:"service"`
		Type    string     `json:"type"`
		Value   string     `json:"value"`
		EventID string     `json:"event_id"`
		Frames  []apiFrame `json:"frames"`
	} `json:"remote_chain"`
}

type apiIssueDetail struct {
	apiIssue
	Hashes []struct {
		Hash string `json:"Hash"`
	} `json:"hashes"`
	Tags []struct {
		Key string `json:"key"`
		Top []struct {
			Value string `json:"value"`
			Count int64  `json:"count"`
		} `json:"top"`
	} `json:"tags"`
	LatestEvent apiEvent `json:"latest_event"`
}

func (s *server) project() apiProject {
	s.t.Helper()
	var ps struct{ Data []apiProject }
	s.get("/api/v1/projects", 200, &ps)
	if len(ps.Data) != 1 || ps.Data[0].Slug != "default" || len(ps.Data[0].PublicKey) != 32 {
		s.t.Fatalf("projects = %+v, want one default project with a 32-hex key", ps.Data)
	}
	return ps.Data[0]
}

// issues polls the issue list until want issues have count total events, or
// fails after 10 seconds.
func (s *server) issues(query string, want int, total int64) []apiIssue {
	s.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var list struct{ Data []apiIssue }
		s.get("/api/v1/issues?"+query, 200, &list)
		var n int64
		for _, iss := range list.Data {
			n += iss.Count
		}
		if len(list.Data) == want && n == total {
			return list.Data
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("issues?%s: got %d issues with %d events, want %d with %d: %+v", query, len(list.Data), n, want, total, list.Data)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// CreditError is a typed error as a service would define it.
type CreditError struct{ Balance int }

func (e *CreditError) Error() string {
	return fmt.Sprintf("insufficient credit: balance %d", e.Balance)
}

func chargeUser(user string, n int) error {
	return fmt.Errorf("cannot charge %s for fib(%d): %w", user, n, &CreditError{Balance: n % 7})
}

func TestSentrySDK(t *testing.T) {
	s := start(t, t.TempDir())
	p := s.project()
	if !strings.Contains(s.log.String(), "dsn="+p.DSN) {
		t.Errorf("the server log does not print the default project's DSN %s:\n%s", p.DSN, s.log.String())
	}
	client, err := sentry.NewClient(sentry.ClientOptions{
		Dsn: p.DSN, Release: "fibfrontend@1.4.0", Environment: "staging", ServerName: "fib-1",
	})
	if err != nil {
		t.Fatalf("sentry.NewClient(%s): %v", p.DSN, err)
	}
	capture := func(user string, f func(*sentry.Hub) *sentry.EventID) string {
		hub := sentry.NewHub(client, sentry.NewScope())
		hub.Scope().SetUser(sentry.User{ID: user, Email: user + "@example.com"})
		hub.Scope().SetTag("service", "fibfrontend")
		id := f(hub)
		if id == nil {
			t.Fatal("sentry-go dropped the event")
		}
		return string(*id)
	}

	// The same bug for two users and two values of n: one issue.
	credit1 := capture("u1", func(h *sentry.Hub) *sentry.EventID { return h.CaptureException(chargeUser("u1", 10)) })
	capture("u2", func(h *sentry.Hub) *sentry.EventID { return h.CaptureException(chargeUser("u2", 23)) })
	// Messages that differ only in numbers: one issue.
	capture("u1", func(h *sentry.Hub) *sentry.EventID {
		return h.CaptureMessage("pricing answered in 1532ms for request 3b9d41f8-0c4e-4a7b-9a43-2f0d8c1e6a11, over budget 1000")
	})
	capture("u3", func(h *sentry.Hub) *sentry.EventID {
		return h.CaptureMessage("pricing answered in 2204ms for request 8e2f6a90-71d3-4c55-b0e2-9a8c7d6e5f40, over budget 1000")
	})
	// A panic through sentryhttp.
	hub := sentry.NewHub(client, sentry.NewScope())
	panicky := sentryhttp.New(sentryhttp.Options{}).Handle(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var prices map[string]int
		prices[r.URL.Path] = 1 // assignment to entry in nil map
	}))
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		panicky.ServeHTTP(w, r.WithContext(sentry.SetHubOnContext(r.Context(), hub)))
	}))
	defer web.Close()
	if resp, err := http.Get(web.URL + "/fib/12"); err == nil {
		resp.Body.Close()
	}
	// A cron check-in.
	if id := hub.CaptureCheckIn(&sentry.CheckIn{MonitorSlug: "nightly-report", Status: sentry.CheckInStatusOK, Duration: 3 * time.Second}, nil); id == nil {
		t.Fatal("sentry-go dropped the check-in")
	}
	if !client.Flush(10 * time.Second) {
		t.Fatal("sentry-go did not flush within 10s")
	}

	issues := s.issues("sort=count", 3, 5)
	byTitle := map[string]apiIssue{}
	for _, iss := range issues {
		byTitle[iss.Title] = iss
		if iss.Status != "unresolved" || iss.Substatus != "new" || iss.Platform != "go" {
			t.Errorf("issue %q: status %s/%s platform %s, want unresolved/new on go", iss.Title, iss.Status, iss.Substatus, iss.Platform)
		}
	}
	if issues[0].Count != 2 || issues[1].Count != 2 || issues[2].Count != 1 {
		t.Errorf("counts = %d, %d, %d; want 2, 2, 1", issues[0].Count, issues[1].Count, issues[2].Count)
	}
	var credit apiIssue
	for title, iss := range byTitle {
		if bytes.Contains([]byte(title), []byte("cannot charge")) {
			credit = iss
		}
	}
	if credit.ID == 0 {
		t.Fatalf("no issue for the credit error among %v", issues)
	}
	if credit.Users != 2 || credit.Level != "error" {
		t.Errorf("credit issue: users %d level %s, want 2 users at error", credit.Users, credit.Level)
	}

	var ev struct{ Data apiEvent }
	s.get("/api/v1/events/"+credit1, 200, &ev)
	e := ev.Data
	if e.IssueID != credit.ID || e.Release != "fibfrontend@1.4.0" || e.Environment != "staging" || e.Service != "fibfrontend" || e.User.ID != "u1" {
		t.Errorf("event: issue %d release %q env %q service %q user %q", e.IssueID, e.Release, e.Environment, e.Service, e.User.ID)
	}
	if len(e.Exceptions) != 2 || e.Exceptions[0].Type != "*apptest.CreditError" || e.Exceptions[1].Type != "*fmt.wrapError" {
		t.Fatalf("exception chain = %+v, want *apptest.CreditError caused *fmt.wrapError", e.Exceptions)
	}
	var appFrame bool
	for _, f := range e.Exceptions[1].Frames {
		if f.InApp == nil {
			t.Errorf("frame %s.%s has no in_app decision", f.Module, f.Function)
			continue
		}
		if f.Function == "TestSentrySDK" && *f.InApp {
			appFrame = true
		}
		if f.Module == "testing" && *f.InApp {
			t.Errorf("frame testing.%s marked in-app", f.Function)
		}
	}
	if !appFrame {
		t.Errorf("no in-app TestSentrySDK frame in %+v", e.Exceptions[1].Frames)
	}
	if e.Grouping.Version == "" || len(e.Grouping.Variants) == 0 {
		t.Errorf("event has no grouping explanation: %+v", e.Grouping)
	}

	var detail struct{ Data apiIssueDetail }
	s.get("/api/v1/issues/"+strconv.FormatInt(credit.ID, 10), 200, &detail)
	tags := map[string]int64{}
	for _, tb := range detail.Data.Tags {
		for _, v := range tb.Top {
			tags[tb.Key+"="+v.Value] = v.Count
		}
	}
	for _, want := range []string{"environment=staging", "release=fibfrontend@1.4.0", "server_name=fib-1", "service=fibfrontend"} {
		if tags[want] != 2 {
			t.Errorf("tag breakdown %s = %d, want 2 (all: %v)", want, tags[want], tags)
		}
	}
	if tags["user=u1"] != 1 || tags["user=u2"] != 1 {
		t.Errorf("user breakdown: %v", tags)
	}
	if detail.Data.LatestEvent.IssueID != credit.ID || len(detail.Data.Hashes) == 0 {
		t.Errorf("issue detail: latest event of issue %d, %d hashes", detail.Data.LatestEvent.IssueID, len(detail.Data.Hashes))
	}
	var events struct {
		Data []struct {
			EventID string `json:"event_id"`
		}
	}
	s.get(fmt.Sprintf("/api/v1/issues/%d/events", credit.ID), 200, &events)
	if len(events.Data) != 2 {
		t.Errorf("issue events = %d, want 2", len(events.Data))
	}

	// The panic: a runtime error whose culprit is the handler.
	var panicIssue apiIssue
	for _, iss := range issues {
		if iss.Count == 1 {
			panicIssue = iss
		}
	}
	if !bytes.Contains([]byte(panicIssue.Title), []byte("assignment to entry in nil map")) {
		t.Errorf("panic issue title = %q", panicIssue.Title)
	}

	// Resolve the credit issue; a new event reopens it as a regression.
	resp, err := s.client.Post(fmt.Sprintf("http://%s/api/v1/issues/%d/status", s.ui, credit.ID), "application/json", bytes.NewBufferString(`{"status":"resolved"}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Contains(body, []byte(`"status":"resolved"`)) {
		t.Fatalf("resolve: %d %s", resp.StatusCode, body)
	}
	s.issues("status=resolved", 1, 2)
	capture("u4", func(h *sentry.Hub) *sentry.EventID { return h.CaptureException(chargeUser("u4", 99)) })
	client.Flush(10 * time.Second)
	again := s.issues("status=unresolved&q=cannot+charge", 1, 3)
	if again[0].ID != credit.ID || again[0].Substatus != "regressed" {
		t.Errorf("after a new event: issue %d substatus %q, want %d regressed", again[0].ID, again[0].Substatus, credit.ID)
	}

	// The check-in is a log record.
	var logs struct {
		Data []struct {
			Body       string         `json:"body"`
			Attributes map[string]any `json:"attributes"`
		}
	}
	s.get("/api/v1/logs?from=now-1h&q="+url.QueryEscape(`"nightly-report"`), 200, &logs)
	if len(logs.Data) != 1 || logs.Data[0].Attributes["check_in.status"] != "ok" {
		t.Errorf("check-in logs = %+v", logs.Data)
	}
}

// TestSentryAuth checks the answers to requests with missing or wrong keys:
// all alike, so that they do not say which part was wrong.
func TestSentryAuth(t *testing.T) {
	s := start(t, t.TempDir(), "--ingest-auth=true")
	p := s.project()
	envelope := `{"event_id":"9ec79c33ec9942ab8353589fcb2e04dc"}` + "\n" + `{"type":"event"}` + "\n" + `{"message":"hello","platform":"go"}` + "\n"
	post := func(path, auth, body string) (int, string) {
		req, _ := http.NewRequest("POST", "http://"+s.otlpAddr+path, bytes.NewBufferString(body))
		if auth != "" {
			req.Header.Set("X-Sentry-Auth", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	path := fmt.Sprintf("/api/%d/envelope/", p.ID)
	for _, tc := range []struct {
		name, path, auth, body string
		want                   int
	}{
		{"no key", path, "", envelope, 401},
		{"unknown key", path, "Sentry sentry_key=00000000000000000000000000000000, sentry_version=7", envelope, 401},
		{"other project", "/api/99/envelope/", "Sentry sentry_key=" + p.PublicKey, envelope, 401},
		{"good key", path, "Sentry sentry_key=" + p.PublicKey + ", sentry_version=7", envelope, 200},
		{"query key", path + "?sentry_key=" + p.PublicKey + "&sentry_version=7", "", envelope, 200},
		{"dsn header", path, "", `{"dsn":"` + p.DSN + `"}` + "\n" + `{"type":"event"}` + "\n" + `{"message":"hi"}` + "\n", 200},
		{"client report only", path, "Sentry sentry_key=" + p.PublicKey, "{}\n" + `{"type":"client_report"}` + "\n" + `{"discarded_events":[]}` + "\n", 200},
		{"malformed", path, "Sentry sentry_key=" + p.PublicKey, "{}\n" + `{"type":"event","length":500}` + "\n{}\n", 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := post(tc.path, tc.auth, tc.body)
			if code != tc.want {
				t.Errorf("status %d, want %d: %s", code, tc.want, body)
			}
			if code == 401 && !strings.Contains(body, "missing or invalid ingest key") {
				t.Errorf("401 body %s, want the uniform message", body)
			}
		})
	}
	s.healthy()
}

// TestSentryFixtures posts what other SDKs send, each the way that SDK sends
// it, through the real binary: the Python SDK gzips and uses X-Sentry-Auth,
// the browser SDK puts the key in the query string and posts text/plain to
// avoid a CORS preflight, the Java SDK uses Authorization: Sentry, and old
// raven clients post base64 and zlib bodies to the store endpoint.
func TestSentryFixtures(t *testing.T) {
	s := start(t, t.TempDir())
	p := s.project()
	auth := "Sentry sentry_version=7, sentry_client=fixture/1.0, sentry_key=" + p.PublicKey
	fixture := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join("..", "internal", "decode", "sentry", "testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	gz := func(b []byte) []byte {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		zw.Write(b)
		zw.Close()
		return buf.Bytes()
	}
	for _, tc := range []struct {
		file, endpoint, query, contentType string
		headers                            map[string]string
		gzip                               bool
		platform, service, mainType        string
	}{
		{"python.envelope", "envelope", "", "application/x-sentry-envelope", map[string]string{"X-Sentry-Auth": auth}, true, "python", "shop-web", "ValueError"},
		{"javascript-browser.envelope", "envelope", "?sentry_key=" + p.PublicKey + "&sentry_version=7&sentry_client=sentry.javascript.browser%2F8.47.0", "text/plain;charset=UTF-8", nil, false, "javascript", "shop-frontend", "TypeError"},
		{"java.envelope", "envelope", "", "application/x-sentry-envelope", map[string]string{"Authorization": auth}, false, "java", "orders-api", "DataAccessResourceFailureException"},
		{"go.envelope", "envelope", "", "application/x-sentry-envelope", map[string]string{"X-Sentry-Auth": auth}, false, "go", "checkout", "*errors.withStack"},
		{"store-base64.txt", "store", "", "application/octet-stream", map[string]string{"X-Sentry-Auth": auth}, false, "", "", ""},
		{"store-zlib-base64.txt", "store", "", "application/octet-stream", map[string]string{"X-Sentry-Auth": auth}, false, "", "", ""},
	} {
		t.Run(tc.file, func(t *testing.T) {
			body := fixture(tc.file)
			if tc.gzip {
				body = gz(body)
			}
			req, _ := http.NewRequest("POST", fmt.Sprintf("http://%s/api/%d/%s/%s", s.otlpAddr, p.ID, tc.endpoint, tc.query), bytes.NewReader(body))
			req.Header.Set("Content-Type", tc.contentType)
			if tc.gzip {
				req.Header.Set("Content-Encoding", "gzip")
			}
			for k, v := range tc.headers {
				req.Header.Set(k, v)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			answer, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var got struct{ ID string }
			if resp.StatusCode != 200 || json.Unmarshal(answer, &got) != nil || len(got.ID) != 32 {
				t.Fatalf("answer %d %s, want 200 with an event id", resp.StatusCode, answer)
			}
			if tc.platform == "" {
				return
			}
			var ev struct{ Data apiEvent }
			s.get("/api/v1/events/"+got.ID, 200, &ev)
			e := ev.Data
			if e.Platform != tc.platform || e.Service != tc.service || len(e.Exceptions) == 0 || e.Exceptions[len(e.Exceptions)-1].Type != tc.mainType || e.IssueID == 0 {
				t.Errorf("event: platform %q service %q issue %d exceptions %+v", e.Platform, e.Service, e.IssueID, e.Exceptions)
			}
			var inApp, system int
			for _, ex := range e.Exceptions {
				for _, f := range ex.Frames {
					switch {
					case f.InApp == nil:
						t.Errorf("frame %s has no in_app decision", f.Function)
					case *f.InApp:
						inApp++
					default:
						system++
					}
				}
			}
			// The browser stack is all the shop's own bundle.
			if inApp == 0 || system == 0 && tc.platform != "javascript" {
				t.Errorf("%d in-app and %d system frames; want both", inApp, system)
			}
		})
	}
	// Five envelopes and two store bodies; the fixtures are different bugs
	// but for the store bodies, which are one event twice.
	var list struct {
		Data []apiIssue
	}
	s.get("/api/v1/issues?limit=100", 200, &list)
	var total int64
	for _, iss := range list.Data {
		total += iss.Events
	}
	if total != 6 {
		t.Errorf("issues count %d events, want 6: %+v", total, list.Data)
	}
}
