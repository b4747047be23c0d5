package sentryhttp

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/fibinc/telltale/internal/ingest/ingestkey"
	"github.com/fibinc/telltale/internal/ingest/ingestkey/ingestkeytest"
)

func keysHandler(t *testing.T, opt ingestkey.Options) (*Handler, *ingestkeytest.Fixture, *recorder) {
	k := ingestkeytest.New(t, opt)
	rec := &recorder{}
	return New(Options{Appender: rec, Keys: k.Keys, Now: k.Now}), k, rec
}

func serveSentry(h *Handler, path string, hdr map[string]string, body []byte) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
	for name, v := range hdr {
		req.Header.Set(name, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

// envelopeWithDSN is an envelope of one event whose header names the DSN.
func envelopeWithDSN(dsn string) []byte {
	return []byte(`{"event_id":"9ec79c33ec9942ab8353589fcb2e04dc","dsn":"` + dsn + `"}` + "\n" + eventItem(eventJSON) + "\n")
}

func TestIngestKeys(t *testing.T) {
	h, k, rec := keysHandler(t, ingestkey.Options{})
	path := fmt.Sprintf("/api/%d/envelope/", k.Project.ID)
	// Each source of the key: the auth header, the query, the envelope's DSN.
	send := func(key string) []*httptest.ResponseRecorder {
		var hdr map[string]string
		q := ""
		dsn := ""
		if key != "" {
			hdr = map[string]string{"X-Sentry-Auth": "Sentry sentry_version=7, sentry_key=" + key}
			q = "?sentry_key=" + key
			dsn = fmt.Sprintf("http://%s@localhost/%d", key, k.Project.ID)
		}
		return []*httptest.ResponseRecorder{
			serveSentry(h, path, hdr, envelope(eventItem(eventJSON))),
			serveSentry(h, path+q, nil, envelope(eventItem(eventJSON))),
			serveSentry(h, path, nil, envelopeWithDSN(dsn)),
			serveSentry(h, fmt.Sprintf("/api/%d/store/%s", k.Project.ID, q), nil, []byte(eventJSON)),
		}
	}
	bad := append(k.BadKeys(true), ingestkeytest.BadKey{Name: "malformed header"})
	want := `{"detail":"` + ingestkey.Message + `"}` + "\n"
	for _, b := range bad {
		ws := send(b.Key)
		if b.Name == "malformed header" {
			ws = []*httptest.ResponseRecorder{serveSentry(h, path, map[string]string{"X-Sentry-Auth": "Basic dXNlcg=="}, envelope(eventItem(eventJSON)))}
		}
		for i, w := range ws {
			if w.Code != http.StatusUnauthorized || w.Body.String() != want || w.Header().Get("X-Sentry-Error") != ingestkey.Message {
				t.Errorf("%s (source %d): %d %s, want 401 %s", b.Name, i, w.Code, w.Body, want)
			}
		}
	}
	if n := len(rec.errors()); n != 0 {
		t.Fatalf("%d refused events reached the pipeline", n)
	}
	if n := k.Metrics.AuthFailures.With("sentry").Value(); n == 0 {
		t.Error("failures not counted")
	}
	for i, w := range send(k.Good) {
		if w.Code != http.StatusOK {
			t.Errorf("good key (source %d): %d %s", i, w.Code, w.Body)
		}
	}
	evs := rec.errors()
	if len(evs) != 4 || evs[0].ProjectID != k.Project.ID {
		t.Errorf("%d events stored, first in project %d", len(evs), evs[0].ProjectID)
	}
	// The other project's key works for the other project.
	if w := serveSentry(h, fmt.Sprintf("/api/%d/envelope/?sentry_key=%s", k.Other.ID, k.OtherKey), nil, envelope(eventItem(eventJSON))); w.Code != http.StatusOK {
		t.Errorf("other project's key at its project: %d %s", w.Code, w.Body)
	}
}

func TestIngestKeysOff(t *testing.T) {
	h, k, rec := keysHandler(t, ingestkey.Options{Off: true})
	for _, tc := range []struct {
		path string
		hdr  map[string]string
		want int
	}{
		{fmt.Sprintf("/api/%d/envelope/", k.Other.ID), nil, 200},
		{fmt.Sprintf("/api/%d/envelope/?sentry_key=0123456789abcdef0123456789abcdef", k.Other.ID), nil, 200},
		{fmt.Sprintf("/api/%d/envelope/", k.Other.ID), map[string]string{"X-Sentry-Auth": "Basic x"}, 200},
		{"/api/999/envelope/", nil, 404},
	} {
		if w := serveSentry(h, tc.path, tc.hdr, envelope(eventItem(eventJSON))); w.Code != tc.want {
			t.Errorf("%s: %d %s, want %d", tc.path, w.Code, w.Body, tc.want)
		}
	}
	for _, ev := range rec.errors() {
		if ev.ProjectID != k.Other.ID {
			t.Errorf("event in project %d, want the URL's %d", ev.ProjectID, k.Other.ID)
		}
	}
}

func TestRateLimit(t *testing.T) {
	h, k, rec := keysHandler(t, ingestkey.Options{MaxRecordsPerRequest: 3})
	key, err := k.Keys.CreateIngestKey(context.Background(), k.Project.ID, "slow", 1) // burst 2
	if err != nil {
		t.Fatal(err)
	}
	path := fmt.Sprintf("/api/%d/envelope/?sentry_key=%s", k.Project.ID, key.Key)
	checkIn := `{"type":"check_in"}` + "\n" + `{"check_in_id":"83a7c03ed0a04e1b97e2e3b18d38f244","monitor_slug":"nightly","status":"ok"}`
	steps := []struct {
		advance    time.Duration
		items      []string
		status     int
		retryAfter string
		msg        string
	}{
		{0, []string{eventItem(eventJSON), checkIn, checkIn, checkIn}, 413, "", "over the limit of 3 records per request"},
		{0, []string{eventItem(eventJSON), checkIn, checkIn}, 413, "", "more than the 2 records"},
		{0, []string{eventItem(eventJSON), checkIn}, 200, "", ""},
		{0, []string{eventItem(eventJSON)}, 429, "1", "rate limit of 1 records/s"},
		{time.Second, []string{eventItem(eventJSON)}, 200, "", ""},
	}
	for i, s := range steps {
		k.Advance(s.advance)
		w := serveSentry(h, path, nil, envelope(s.items...))
		if w.Code != s.status || w.Header().Get("Retry-After") != s.retryAfter || !strings.Contains(w.Body.String(), s.msg) {
			t.Errorf("step %d: %d Retry-After %q %s; want %d %q %q", i, w.Code, w.Header().Get("Retry-After"), w.Body, s.status, s.retryAfter, s.msg)
		}
		if s.status == 429 && w.Header().Get("X-Sentry-Rate-Limits") != s.retryAfter+"::key" {
			t.Errorf("step %d: X-Sentry-Rate-Limits %q", i, w.Header().Get("X-Sentry-Rate-Limits"))
		}
	}
	if n := len(rec.errors()); n != 2 {
		t.Errorf("%d events stored, want 2", n)
	}
}
