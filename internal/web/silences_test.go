package web

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fibinc/telltale/internal/config"
	"github.com/fibinc/telltale/internal/notify"
	"github.com/fibinc/telltale/internal/state"
)

// fakeNotifier is a real notifier on the test clock whose attempt log is
// fixed (attempts come only from deliveries, which the notify package
// tests).
type fakeNotifier struct {
	*notify.Notifier
	attempts []state.NotificationAttempt
}

func (f *fakeNotifier) Attempts(_ context.Context, flt state.AttemptFilter) ([]state.NotificationAttempt, error) {
	var out []state.NotificationAttempt
	for _, a := range f.attempts {
		if (flt.Channel == "" || a.Channel == flt.Channel) && (flt.Limit == 0 || len(out) < flt.Limit) {
			out = append(out, a)
		}
	}
	return out, nil
}

// newNotifier has a silence in the file muting the firing api-down, one
// active and one pending created through the API, and an expired one
// whose texts try to break out of the page.
func newNotifier(t *testing.T) *fakeNotifier {
	t.Helper()
	clock := now
	n := notify.New(notify.Options{Now: func() time.Time { return clock }})
	m, err := config.ParseMatcher(`alertname="api-down"`)
	if err != nil {
		t.Fatal(err)
	}
	err = n.SetConfig([]config.Channel{
		{Name: "ops", Type: config.ChannelWebhook, URL: "http://ops.internal/hook"},
		{Name: "chat", Type: config.ChannelSlack, URL: "https://hooks.slack.com/services/T0/B0/SECRET"},
	}, nil, []config.Silence{{Matchers: []config.Matcher{m}, Starts: now.Add(-time.Hour), Ends: now.Add(time.Hour), CreatedBy: "ana", Comment: "migration"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	clock = now.Add(-3 * time.Hour)
	exp, err := n.CreateSilence(ctx, notify.SilenceRequest{Matchers: []string{"team=" + strconv.Quote(xss)}, EndsAt: now.Add(time.Hour), CreatedBy: xss, Comment: xss})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.ExpireSilence(ctx, exp.ID); err != nil {
		t.Fatal(err)
	}
	clock = now.Add(-time.Minute)
	for _, req := range []notify.SilenceRequest{
		{Matchers: []string{`instance=~"db-.*"`}, EndsAt: now.Add(2 * time.Hour), CreatedBy: "bo", Comment: "disk swap"},
		{Matchers: []string{`env="staging"`}, StartsAt: now.Add(24 * time.Hour), EndsAt: now.Add(26 * time.Hour), CreatedBy: "cy"},
	} {
		if _, err := n.CreateSilence(ctx, req); err != nil {
			t.Fatal(err)
		}
	}
	clock = now
	n.Notify(ctx, []notify.Alert{
		{Labels: map[string]string{"alertname": "api-down", "instance": "a"}, StartsAt: now.Add(-time.Minute)},
		{Labels: map[string]string{"alertname": "disk-full", "instance": "db-1"}, StartsAt: now.Add(-time.Minute)},
		{Labels: map[string]string{"alertname": "slow", "instance": "web-1"}, StartsAt: now.Add(-time.Minute)},
	})
	return &fakeNotifier{Notifier: n, attempts: []state.NotificationAttempt{
		{ID: 3, At: now.Add(-time.Minute), Channel: "ops", GroupKey: `{}:{alertname="slow"}`, Status: "firing", Alerts: 1, Attempt: 2, Outcome: "ok", Duration: 12 * time.Millisecond},
		{ID: 2, At: now.Add(-time.Minute - time.Second), Channel: "ops", GroupKey: `{}:{alertname="slow"}`, Status: "firing", Alerts: 1, Attempt: 1, Outcome: "failed", HTTPStatus: 500, Error: "status 500: " + xss, Duration: 3 * time.Millisecond},
		{ID: 1, At: now.Add(-time.Hour), Channel: "chat", GroupKey: `{}:{alertname="x"}`, Status: "resolved", Alerts: 2, Attempt: 1, Outcome: "gave up", HTTPStatus: 404, Error: "status 404: no_team", Duration: 40 * time.Millisecond},
	}}
}

func newNotifyServer(t *testing.T, n Notifier) http.Handler {
	t.Helper()
	opt := Options{Query: fleet(), Now: func() time.Time { return now }}
	if n != nil {
		opt.Notify = n
	}
	h, err := New(opt)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestNotifyPages(t *testing.T) {
	for _, tc := range []struct {
		name, target string
		off          bool
		status       int
	}{
		{"silences", "/silences", false, 200},
		{"silences-prefilled", "/silences?matchers=" + url.QueryEscape(`alertname="slow"`) + "&duration=30m&comment=" + url.QueryEscape(xss), false, 200},
		{"silences-off", "/silences", true, 200},
		{"notifications", "/notifications", false, 200},
		{"notifications-channel", "/notifications?channel=chat", false, 200},
		{"notifications-off", "/notifications", true, 200},
		{"notifications-bad-limit", "/notifications?limit=0", false, 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var n Notifier
			if !tc.off {
				n = newNotifier(t)
			}
			rec := httptest.NewRecorder()
			newNotifyServer(t, n).ServeHTTP(rec, httptest.NewRequest("GET", tc.target, nil))
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d:\n%s", rec.Code, tc.status, rec.Body)
			}
			body := rec.Body.String()
			if strings.Contains(body, "<script>alert") || strings.Contains(body, "<img src=x") || strings.Contains(body, "SECRET") {
				t.Errorf("page shows unescaped input or a secret:\n%s", body)
			}
			golden(t, tc.name, stableIDs(body))
		})
	}
}

var uuidRE = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)

// stableIDs replaces the random ids of silences, for golden files.
func stableIDs(body string) string { return uuidRE.ReplaceAllString(body, "SILENCE-ID") }

func TestSilencesPageContent(t *testing.T) {
	rec := httptest.NewRecorder()
	newNotifyServer(t, newNotifier(t)).ServeHTTP(rec, httptest.NewRequest("GET", "/silences", nil))
	body := rec.Body.String()
	for _, want := range []string{
		`<span class="muted-alert">api-down instance=a</span>`, // the file's silence mutes it
		`<span class="muted-alert">disk-full instance=db-1</span>`,
		`starts 2026-05-05 10:00 UTC`,
		`&lt;script&gt;alert(1)&lt;/script&gt;`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	if strings.Contains(body, "web-1") {
		t.Error("an unmuted alert is listed as muted")
	}
	if got := strings.Count(body, `class="expire"`); got != 2 {
		t.Errorf("%d expire buttons, want 2 (the API's active and pending)", got)
	}
}

func TestCreateSilenceForm(t *testing.T) {
	same := map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": "http://example.com"}
	for _, tc := range []struct {
		name   string
		form   url.Values
		header map[string]string
		status int
		want   string // in the body
	}{
		{"ok", url.Values{"matchers": {"alertname=\"slow\"\r\n  instance=\"web-1\"\n"}, "duration": {"30m"}, "created_by": {"dee"}}, same, 303, ""},
		{"ok with ends", url.Values{"matchers": {`alertname="slow"`}, "ends": {"2026-05-04T11:00:00Z"}}, nil, 303, ""},
		{"no matchers", url.Values{"matchers": {"  "}, "duration": {"1h"}}, same, 400, "at least one matcher"},
		{"bad matcher", url.Values{"matchers": {"alertname"}, "duration": {"1h"}, "comment": {xss}}, same, 400, `invalid matcher &#34;alertname&#34;`},
		{"bad duration", url.Values{"matchers": {`a="b"`}, "duration": {"soon"}}, same, 400, `duration &#34;soon&#34; is not a duration`},
		{"bad starts", url.Values{"matchers": {`a="b"`}, "starts": {"today"}}, same, 400, `starts &#34;today&#34;`},
		{"ends in the past", url.Values{"matchers": {`a="b"`}, "starts": {"2026-05-04T08:00:00Z"}, "ends": {"2026-05-04T09:00:00Z"}}, same, 400, "in the future"},
		{"cross-site", url.Values{"matchers": {`a="b"`}, "duration": {"1h"}}, map[string]string{"Sec-Fetch-Site": "cross-site"}, 403, "change silences from Telltale"},
		{"other origin", url.Values{"matchers": {`a="b"`}, "duration": {"1h"}}, map[string]string{"Origin": "http://evil.example"}, 403, "change silences from Telltale"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := newNotifier(t)
			before, _ := n.Silences(context.Background())
			req := httptest.NewRequest("POST", "/silences", strings.NewReader(tc.form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			for k, v := range tc.header {
				req.Header.Set(k, v)
			}
			rec := httptest.NewRecorder()
			newNotifyServer(t, n).ServeHTTP(rec, req)
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d:\n%s", rec.Code, tc.status, rec.Body)
			}
			after, _ := n.Silences(context.Background())
			body := rec.Body.String()
			if tc.status == 303 {
				if rec.Header().Get("Location") != "/silences" || len(after) != len(before)+1 {
					t.Errorf("created: location %q, %d silences, had %d", rec.Header().Get("Location"), len(after), len(before))
				}
				return
			}
			if len(after) != len(before) {
				t.Errorf("a refused form created a silence")
			}
			if !strings.Contains(body, tc.want) {
				t.Errorf("body lacks %q:\n%s", tc.want, body)
			}
			if strings.Contains(body, "<script>alert") {
				t.Error("unescaped input")
			}
			if tc.status == 400 && !strings.Contains(body, `class="form-error"`) {
				t.Error("no form error shown")
			}
		})
	}
	// The refused form keeps what was typed.
	n := newNotifier(t)
	req := httptest.NewRequest("POST", "/silences", strings.NewReader(url.Values{"matchers": {"alertname"}, "duration": {"1h"}, "comment": {"keep me"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := httptest.NewRecorder()
	newNotifyServer(t, n).ServeHTTP(rec, req)
	golden(t, "silences-form-error", stableIDs(rec.Body.String()))
}

func TestExpireSilenceForm(t *testing.T) {
	n := newNotifier(t)
	list, _ := n.Silences(context.Background())
	var apiID, cfgID string
	for _, s := range list {
		switch {
		case s.Source == notify.SourceConfig:
			cfgID = s.ID
		case s.State == notify.SilenceActive:
			apiID = s.ID
		}
	}
	h := newNotifyServer(t, n)
	for _, tc := range []struct {
		id     string
		header map[string]string
		status int
	}{
		{apiID, map[string]string{"Sec-Fetch-Site": "cross-site"}, 403},
		{apiID, nil, 303},
		{cfgID, nil, 409},
		{"no-such", nil, 404},
	} {
		req := httptest.NewRequest("POST", "/silences/"+tc.id+"/expire", nil)
		for k, v := range tc.header {
			req.Header.Set(k, v)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != tc.status {
			t.Errorf("expire %s: %d, want %d:\n%s", tc.id, rec.Code, tc.status, rec.Body)
		}
	}
	after, _ := n.Silences(context.Background())
	for _, s := range after {
		if s.ID == apiID && s.State != notify.SilenceExpired {
			t.Errorf("silence %s is %s after expiring", s.ID, s.State)
		}
	}
	// Without a notifier the forms are refused.
	rec := httptest.NewRecorder()
	newNotifyServer(t, nil).ServeHTTP(rec, httptest.NewRequest("POST", "/silences", strings.NewReader("matchers=a%3D%22b%22")))
	if rec.Code != http.StatusServiceUnavailable {
		t.Errorf("POST without a notifier: %d", rec.Code)
	}
}

// FuzzSilenceForm checks the form parser: no panic, one matcher per
// non-blank line, and a duration that is accepted ends after the start.
func FuzzSilenceForm(f *testing.F) {
	f.Add("alertname=\"a\"\n\ninstance=\"b\"", "", "2h", "")
	f.Add("a", "2026-05-04T10:00:00Z", "", "2026-05-04T09:00:00Z")
	f.Add("", "now", "-1h", "x")
	f.Add("a=\"b\"", "", "7d", "")
	f.Fuzz(func(t *testing.T, matchers, starts, duration, ends string) {
		req, err := silenceForm{Matchers: matchers, Starts: starts, Duration: duration, Ends: ends}.request(now)
		if err != nil {
			return
		}
		lines := 0
		for _, l := range strings.Split(matchers, "\n") {
			if strings.TrimSpace(l) != "" {
				lines++
			}
		}
		if len(req.Matchers) != lines {
			t.Fatalf("%d matchers from %d lines", len(req.Matchers), lines)
		}
		from := req.StartsAt
		if from.IsZero() {
			from = now
		}
		if strings.TrimSpace(ends) == "" && strings.TrimSpace(duration) != "" && !req.EndsAt.After(from) {
			t.Fatalf("duration %q gives end %v, not after %v", duration, req.EndsAt, from)
		}
	})
}
