package notify

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/fibinc/telltale/internal/config"
	"github.com/fibinc/telltale/internal/notify/notifytest"
	"github.com/fibinc/telltale/internal/state"
)

// TestEndToEnd runs the notifier on the real clock with real receivers of
// every HTTP channel type: each notification arrives exactly once, one
// after a failed attempt.
func TestEndToEnd(t *testing.T) {
	rcv := map[string]*notifytest.Receiver{
		"hook":  notifytest.NewReceiver(t),
		"am":    notifytest.NewReceiver(t),
		"chat":  notifytest.NewReceiver(t),
		"flaky": notifytest.NewReceiver(t, notifytest.Reply{Status: 500, Body: "warming up"}),
	}
	channels := []config.Channel{
		{Name: "hook", Type: config.ChannelWebhook, URL: rcv["hook"].URL},
		{Name: "am", Type: config.ChannelAlertmanager, URL: rcv["am"].URL},
		{Name: "chat", Type: config.ChannelSlack, URL: rcv["chat"].URL + "/services/T/B/X"},
		{Name: "flaky", Type: config.ChannelWebhook, URL: rcv["flaky"].URL},
	}
	routes := []config.Route{{Channels: []string{"hook", "am", "chat", "flaky"}, GroupWait: config.Duration(100 * time.Millisecond),
		GroupInterval: config.Duration(300 * time.Millisecond), RepeatInterval: config.Duration(time.Hour)}}
	n := New(Options{RetryInitial: 20 * time.Millisecond, ExternalURL: "http://telltale.test"})
	if err := n.SetConfig(channels, routes, nil, nil); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := n.Run(ctx); err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	defer func() { cancel(); wg.Wait() }()

	now := time.Now()
	a := Alert{Labels: map[string]string{"alertname": "api-down", "instance": "a"}, StartsAt: now}
	b := Alert{Labels: map[string]string{"alertname": "api-down", "instance": "b"}, StartsAt: now}
	n.Notify(ctx, []Alert{a, b})
	// The evaluator reports the firing alerts again at every evaluation.
	for range 3 {
		time.Sleep(50 * time.Millisecond)
		n.Notify(ctx, []Alert{a, b})
	}
	for name, r := range rcv {
		want := 1
		if name == "flaky" {
			want = 2
		}
		r.WaitFor(t, want, 5*time.Second)
	}
	end := time.Now()
	a.EndsAt, b.EndsAt = end, end
	n.Notify(ctx, []Alert{a, b})
	for name, r := range rcv {
		want := 2
		if name == "flaky" {
			want = 3
		}
		r.WaitFor(t, want, 5*time.Second)
	}
	// Several group intervals later nothing more has come.
	time.Sleep(time.Second)
	for name, r := range rcv {
		reqs := r.Requests()
		want := 2
		if name == "flaky" {
			want = 3
			reqs = reqs[1:] // the failed attempt
		}
		if len(r.Requests()) != want {
			t.Errorf("%s got %d requests, want %d", name, len(r.Requests()), want)
			continue
		}
		var statuses []string
		for _, req := range reqs {
			var m struct {
				Status string `json:"status"`
				Text   string `json:"text"`
			}
			if err := json.Unmarshal(req.Body, &m); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			statuses = append(statuses, m.Status+m.Text)
		}
		wantStatuses := []string{"firing", "resolved"}
		if name == "chat" {
			wantStatuses = []string{"[FIRING:2] api-down", "[RESOLVED] api-down"}
		}
		if len(statuses) != 2 || statuses[0] != wantStatuses[0] || statuses[1] != wantStatuses[1] {
			t.Errorf("%s got %v, want %v", name, statuses, wantStatuses)
		}
	}
	got, err := n.Attempts(ctx, state.AttemptFilter{Channel: "flaky"})
	if err != nil || len(got) != 3 || got[2].Outcome != "failed" || got[2].HTTPStatus != 500 || got[1].Outcome != "ok" {
		t.Errorf("flaky attempts %+v, %v", got, err)
	}
}
