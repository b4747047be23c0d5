package notify

import (
	"bytes"
	"encoding/json"
	"maps"
	"net/mail"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/fibinc/telltale/internal/config"
)

// slackLink is a link as encodeSlack writes it: <url|text>.
var slackLink = regexp.MustCompile(`<[^<>|]*\|[^<>]*>`)

// FuzzEncode checks the channels' documents for any label and annotation
// text: every HTTP document is valid JSON that carries the labels
// unchanged, Slack text never holds a raw < or > from the data, and the
// mail has exactly its own headers.
func FuzzEncode(f *testing.F) {
	f.Add("api-down", "a", "api <b> & down", "http://x/y")
	f.Add("x\r\nBcc: evil@example.com", "\x00\xff", "<!channel>", "")
	f.Add("ünïcödé", "\"quoted\"", "line\nbreak", "javascript:alert(1)")
	f.Fuzz(func(t *testing.T, name, instance, summary, url string) {
		a := Alert{Labels: map[string]string{"alertname": name, "instance": instance}, Annotations: map[string]string{"summary": summary},
			StartsAt: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC), GeneratorURL: url, Value: summary}
		n := &Notification{Channel: "c", GroupKey: "{}:" + labelString(map[string]string{"alertname": name}), GroupLabels: map[string]string{"alertname": name},
			Status: StatusFiring, Alerts: []SentAlert{{Alert: a, Status: StatusFiring, Fingerprint: a.Fingerprint()}},
			CommonLabels: a.Labels, CommonAnnotations: a.Annotations, ExternalURL: "http://telltale", Reason: ReasonFirst, At: a.StartsAt}

		for _, enc := range []func(*Notification) ([]byte, error){encodeWebhook, encodeAlertmanager} {
			b, err := enc(n)
			if err != nil {
				t.Fatal(err)
			}
			var m struct {
				Alerts []struct {
					Labels map[string]string `json:"labels"`
				} `json:"alerts"`
			}
			if err := json.Unmarshal(b, &m); err != nil {
				t.Fatalf("invalid JSON: %v\n%s", err, b)
			}
			// JSON replaces each byte of invalid UTF-8 with U+FFFD.
			want := map[string]string{}
			for k, v := range a.Labels {
				want[k] = strings.Map(func(r rune) rune { return r }, v)
			}
			if len(m.Alerts) != 1 || !maps.Equal(m.Alerts[0].Labels, want) {
				t.Fatalf("labels %v, want %v", m.Alerts, want)
			}
		}

		b, err := encodeSlack(n)
		if err != nil {
			t.Fatal(err)
		}
		var sm slackMessage
		if err := json.Unmarshal(b, &sm); err != nil {
			t.Fatalf("invalid Slack JSON: %v", err)
		}
		for _, blk := range sm.Attachments[0].Blocks {
			if blk.Text == nil {
				continue
			}
			// Our own links are <url|text>; strip them and no < or >
			// may remain.
			text := slackLink.ReplaceAllString(blk.Text.Text, "")
			if strings.ContainsAny(text, "<>") {
				t.Fatalf("raw < or > in Slack text %q", blk.Text.Text)
			}
		}

		e, err := newEmail(config.Channel{Name: "m", Type: config.ChannelEmail, SMTP: config.SMTP{Address: "h:25"}, From: "a@example.com", To: []string{"b@example.com"}},
			ChannelOptions{Hostname: "h"})
		if err != nil {
			t.Fatal(err)
		}
		msg, err := mail.ReadMessage(bytes.NewReader(e.message(n)))
		if err != nil {
			t.Fatalf("unreadable mail: %v", err)
		}
		if len(msg.Header) != 9 || msg.Header.Get("Bcc") != "" {
			t.Fatalf("mail headers %v", msg.Header)
		}
	})
}

// BenchmarkNotify measures the evaluator's call: 1,000 firing alerts of
// one rule reported again into their groups.
func BenchmarkNotify(b *testing.B) {
	n := New(Options{})
	if err := n.SetConfig([]config.Channel{{Name: "ops", Type: config.ChannelWebhook, URL: "http://127.0.0.1:1/"}}, nil, nil, nil); err != nil {
		b.Fatal(err)
	}
	alerts := make([]Alert, 1000)
	for i := range alerts {
		alerts[i] = Alert{Labels: map[string]string{"alertname": "api-down", "instance": strings.Repeat("x", i%7) + string(rune('a'+i%26)) + time.Duration(i).String()},
			StartsAt: time.Now()}
	}
	b.ReportAllocs()
	for b.Loop() {
		n.Notify(b.Context(), alerts)
	}
}
