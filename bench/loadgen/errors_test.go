package main

import (
	"bytes"
	"math/rand/v2"
	"testing"
	"time"

	sentry "github.com/fibinc/telltale/internal/decode/sentry"
	"github.com/fibinc/telltale/internal/grouping"
)

// TestErrorsTemplates checks that the generated envelopes are what the
// benchmark claims: valid sentry-go-shaped envelopes of 3-5 KB events (as
// big as 15-25 frames of real length make them) with a chain of two
// exceptions, distinct event ids per send, times that advance through the
// spread, and
// one issue per bug after grouping, whatever the message, user, environment
// and release.
func TestErrorsTemplates(t *testing.T) {
	const nBugs, n = 200, 1000
	r := rand.New(rand.NewPCG(1, 2))
	p := project{ID: 3, PublicKey: "0f1e2d3c4b5a69788796a5b4c3d2e1f0", DSN: "http://0f1e2d3c4b5a69788796a5b4c3d2e1f0@127.0.0.1:4318/3"}
	templates := errorsTemplates(r, n, nBugs, p)
	start := time.Now()
	stream := &errorStream{templates: templates, start: start, spread: 24 * time.Hour, total: n}
	g := grouping.New(grouping.Options{})
	seenIDs := map[string]bool{}
	hashes := map[string]bool{}
	var total int
	var last time.Time
	for i := range templates {
		if len(templates[i].ids) != 2 {
			t.Fatalf("template %d: event id placeholder found %d times, want 2 (envelope and event)", i, len(templates[i].ids))
		}
		body := stream.next(i)
		for _, ph := range []string{idPlaceholder, timePlaceholder, sentAtPlaceholder} {
			if bytes.Contains(body, []byte(ph)) {
				t.Fatalf("template %d: placeholder %s left after next", i, ph)
			}
		}
		env, err := sentry.ParseEnvelope(bytes.NewReader(body), sentry.Limits{})
		if err != nil {
			t.Fatalf("template %d: %v", i, err)
		}
		if len(env.Items) != 1 || env.Items[0].Type != "event" {
			t.Fatalf("template %d: want one event item, got %+v", i, env.Items)
		}
		size := len(env.Items[0].Payload)
		total += size
		if size < 3000 || size > 5500 {
			t.Errorf("template %d: event of %d bytes, want about 3-5 KB", i, size)
		}
		ev, err := sentry.DecodeEvent(env.Items[0].Payload)
		if err != nil {
			t.Fatalf("template %d: %v", i, err)
		}
		if ev.EventID != env.Header.EventID || seenIDs[ev.EventID] {
			t.Fatalf("template %d: event id %q (header %q) not fresh", i, ev.EventID, env.Header.EventID)
		}
		seenIDs[ev.EventID] = true
		if ev.Time.Before(start.Add(-24*time.Hour)) || ev.Time.After(start) || ev.Time.Before(last) {
			t.Fatalf("template %d: event time %v, want after %v and within the day before %v", i, ev.Time, last, start)
		}
		last = ev.Time
		if d := time.Since(env.Header.SentAt); d < 0 || d > time.Minute {
			t.Fatalf("template %d: sent_at %v, want now", i, env.Header.SentAt)
		}
		if len(ev.Exceptions) != 2 {
			t.Fatalf("template %d: %d exceptions, want 2", i, len(ev.Exceptions))
		}
		if nf := len(ev.Exceptions[1].Frames); nf < 15 || nf > 25 {
			t.Errorf("template %d: %d frames, want 15-25", i, nf)
		}
		if ev.ServiceName == "" || ev.Environment == "" || ev.Release == "" || ev.User.ID == "" {
			t.Errorf("template %d: service %q, environment %q, release %q, user %q: want all set", i, ev.ServiceName, ev.Environment, ev.Release, ev.User.ID)
		}
		res := g.Group(&ev)
		if len(res.Hashes) == 0 {
			t.Fatalf("template %d: no grouping hash", i)
		}
		hashes[res.Hashes[0]] = true
	}
	if len(hashes) != nBugs {
		t.Errorf("%d distinct primary hashes over %d envelopes, want %d (one per bug)", len(hashes), n, nBugs)
	}
	if mean := total / n; mean > 4500 {
		t.Errorf("mean event size %d bytes, want at most 4500", mean)
	} else {
		t.Logf("mean event size %d bytes", mean)
	}
}
