package notifytest_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"net/http"
	"net/mail"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/fibinc/telltale/internal/config"
	"github.com/fibinc/telltale/internal/notify"
	"github.com/fibinc/telltale/internal/notify/notifytest"
)

var update = flag.Bool("update", false, "rewrite the golden files")

var t0 = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

// sample is a notification with two firing alerts and a resolved one,
// with text that channels must escape.
func sample() *notify.Notification {
	alert := func(instance, summary string, start, end time.Time) notify.SentAlert {
		a := notify.Alert{
			Labels:       map[string]string{"alertname": "api-down", "severity": "page", "instance": instance},
			Annotations:  map[string]string{"summary": summary},
			StartsAt:     start,
			EndsAt:       end,
			GeneratorURL: "http://telltale.example:4320/rules/api-down",
			Value:        "3",
		}
		st := notify.StatusFiring
		if !end.IsZero() {
			st = notify.StatusResolved
		}
		return notify.SentAlert{Alert: a, Status: st, Fingerprint: a.Fingerprint()}
	}
	return &notify.Notification{
		Channel:     "team",
		GroupKey:    `{}/{severity="page"}:{alertname="api-down"}`,
		GroupLabels: map[string]string{"alertname": "api-down"},
		Status:      notify.StatusFiring,
		Alerts: []notify.SentAlert{
			alert("a", "api <a> & down", t0, time.Time{}),
			alert("b", "api b down", t0.Add(time.Minute), time.Time{}),
			alert("c", "api c down", t0.Add(-time.Hour), t0.Add(2*time.Minute)),
		},
		CommonLabels:      map[string]string{"alertname": "api-down", "severity": "page"},
		CommonAnnotations: map[string]string{},
		ExternalURL:       "http://telltale.example:4320",
		Reason:            notify.ReasonFirst,
		At:                t0.Add(5 * time.Minute),
	}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file:\n%s", name, got)
	}
}

// canonical re-encodes a JSON document with sorted keys and indentation,
// failing on anything that is not one JSON object.
func canonical(t *testing.T, b []byte) []byte {
	t.Helper()
	var v map[string]any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("not a JSON object: %v\n%s", err, b)
	}
	out, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(out, '\n')
}

func newChannel(t *testing.T, c config.Channel, opt notify.ChannelOptions) notify.Channel {
	t.Helper()
	ch, err := notify.NewChannel(c, opt)
	if err != nil {
		t.Fatalf("NewChannel: %v", err)
	}
	return ch
}

var httpTypes = []string{config.ChannelWebhook, config.ChannelAlertmanager, config.ChannelSlack}

func TestHTTPPayloads(t *testing.T) {
	for _, typ := range httpTypes {
		t.Run(typ, func(t *testing.T) {
			rcv := notifytest.NewReceiver(t)
			ch := newChannel(t, config.Channel{Name: "team", Type: typ, URL: rcv.URL + "/hook",
				Headers: map[string]string{"X-Team": "checkout"}}, notify.ChannelOptions{})
			if err := ch.Send(context.Background(), sample()); err != nil {
				t.Fatalf("Send: %v", err)
			}
			reqs := rcv.Requests()
			if len(reqs) != 1 {
				t.Fatalf("got %d requests, want 1", len(reqs))
			}
			r := reqs[0]
			if r.Method != http.MethodPost || r.Path != "/hook" || r.Header.Get("Content-Type") != "application/json" || r.Header.Get("X-Team") != "checkout" {
				t.Errorf("request %s %s, headers %v", r.Method, r.Path, r.Header)
			}
			golden(t, typ+".json", canonical(t, r.Body))
		})
	}
}

// TestAlertmanagerShape checks what Alertmanager receivers rely on,
// independently of the golden file.
func TestAlertmanagerShape(t *testing.T) {
	rcv := notifytest.NewReceiver(t)
	ch := newChannel(t, config.Channel{Name: "team", Type: config.ChannelAlertmanager, URL: rcv.URL}, notify.ChannelOptions{})
	if err := ch.Send(context.Background(), sample()); err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(rcv.Requests()[0].Body, &m); err != nil {
		t.Fatal(err)
	}
	want := []string{"alerts", "commonAnnotations", "commonLabels", "externalURL", "groupKey", "groupLabels", "receiver", "status", "truncatedAlerts", "version"}
	var got []string
	for k := range m {
		got = append(got, k)
	}
	if strings.Join(sorted(got), ",") != strings.Join(want, ",") {
		t.Errorf("fields %v, want %v", sorted(got), want)
	}
	if m["version"] != "4" || m["receiver"] != "team" || m["status"] != "firing" {
		t.Errorf("version %v receiver %v status %v", m["version"], m["receiver"], m["status"])
	}
	alerts := m["alerts"].([]any)
	first := alerts[0].(map[string]any)
	if first["endsAt"] != "0001-01-01T00:00:00Z" || first["status"] != "firing" {
		t.Errorf("firing alert: endsAt %v status %v", first["endsAt"], first["status"])
	}
	var keys []string
	for k := range first {
		keys = append(keys, k)
	}
	if got, want := strings.Join(sorted(keys), ","), "annotations,endsAt,fingerprint,generatorURL,labels,startsAt,status"; got != want {
		t.Errorf("alert fields %s, want %s", got, want)
	}
	last := alerts[2].(map[string]any)
	if last["endsAt"] != "2026-11-22T10:02:00Z" || last["status"] != "resolved" {
		t.Errorf("resolved alert: endsAt %v status %v", last["endsAt"], last["status"])
	}
}

func sorted(s []string) []string {
	out := append([]string(nil), s...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

// TestHTTPFailures checks how every HTTP channel reports an answer other
// than 2xx: the status and the start of the body, permanent for a 4xx
// other than 408 and 429.
func TestHTTPFailures(t *testing.T) {
	long := strings.Repeat("x", 500)
	tests := []struct {
		reply     notifytest.Reply
		permanent bool
		want      string
	}{
		{notifytest.Reply{Status: 500, Body: "boom"}, false, "status 500: boom"},
		{notifytest.Reply{Status: 503, Body: long}, false, "status 503: " + long[:200] + "..."},
		{notifytest.Reply{Status: 400, Body: "bad payload"}, true, "status 400: bad payload"},
		{notifytest.Reply{Status: 404}, true, "status 404"},
		{notifytest.Reply{Status: 408}, false, "status 408"},
		{notifytest.Reply{Status: 429, Body: "slow down"}, false, "status 429: slow down"},
		{notifytest.Reply{Status: 302}, true, "status 302"},
	}
	for _, typ := range httpTypes {
		for _, tt := range tests {
			rcv := notifytest.NewReceiver(t, tt.reply)
			ch := newChannel(t, config.Channel{Name: "team", Type: typ, URL: rcv.URL}, notify.ChannelOptions{
				Client: &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
			})
			err := ch.Send(context.Background(), sample())
			var de *notify.DeliveryError
			if !errors.As(err, &de) {
				t.Errorf("%s %d: error %v, want a DeliveryError", typ, tt.reply.Status, err)
				continue
			}
			if err.Error() != tt.want || de.StatusCode != tt.reply.Status || notify.IsPermanent(err) != tt.permanent {
				t.Errorf("%s %d: error %q (status %d, permanent %v), want %q (permanent %v)", typ, tt.reply.Status, err, de.StatusCode, notify.IsPermanent(err), tt.want, tt.permanent)
			}
		}
	}
}

func TestHTTPTimeoutAndRefused(t *testing.T) {
	for _, typ := range httpTypes {
		rcv := notifytest.NewReceiver(t, notifytest.Reply{Status: 200, Delay: 5 * time.Second})
		ch := newChannel(t, config.Channel{Name: "team", Type: typ, URL: rcv.URL}, notify.ChannelOptions{})
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		err := ch.Send(ctx, sample())
		cancel()
		if err == nil || notify.IsPermanent(err) || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s timeout: error %v, want a retryable deadline error", typ, err)
		}

		ch = newChannel(t, config.Channel{Name: "team", Type: typ, URL: "http://127.0.0.1:1/hook"}, notify.ChannelOptions{})
		err = ch.Send(context.Background(), sample())
		if err == nil || notify.IsPermanent(err) {
			t.Errorf("%s refused: error %v, want a retryable error", typ, err)
		}
	}
}

func TestSlackSecretNotInErrors(t *testing.T) {
	ch := newChannel(t, config.Channel{Name: "chat", Type: config.ChannelSlack, URL: "http://127.0.0.1:1/services/T0/B0/SECRET"}, notify.ChannelOptions{})
	err := ch.Send(context.Background(), sample())
	if err == nil || strings.Contains(err.Error(), "SECRET") {
		t.Errorf("error %v shows the Slack token", err)
	}
	if d := notify.Describe(config.Channel{Name: "chat", Type: config.ChannelSlack, URL: "https://hooks.slack.com/services/T0/B0/SECRET"}); strings.Contains(d.Target, "SECRET") || d.Target != "https://hooks.slack.com/..." {
		t.Errorf("Describe target %q", d.Target)
	}
	if d := notify.Describe(config.Channel{Name: "m", Type: config.ChannelEmail, SMTP: config.SMTP{Address: "smtp:587", Password: "pw"}, To: []string{"a@b"}}); strings.Contains(d.Target, "pw") {
		t.Errorf("Describe target %q", d.Target)
	}
}

var volatileHeader = regexp.MustCompile(`(?m)^(Date|Message-ID): .*\r\n`)

func TestEmail(t *testing.T) {
	srvTLS, pool := notifytest.SelfSigned(t)
	clientTLS := &tls.Config{RootCAs: pool}
	tests := []struct {
		name    string
		smtp    notifytest.SMTPOptions
		mode    string
		user    string
		wantTLS bool
	}{
		{"none-auth", notifytest.SMTPOptions{Username: "u", Password: "p"}, "none", "u", false},
		{"none-noauth", notifytest.SMTPOptions{}, "none", "", false},
		{"starttls-offered", notifytest.SMTPOptions{TLS: srvTLS, Username: "u", Password: "p"}, "starttls", "u", true},
		{"starttls-default-not-offered", notifytest.SMTPOptions{}, "", "", false},
		{"implicit", notifytest.SMTPOptions{TLS: srvTLS, Implicit: true, Username: "u", Password: "p"}, "tls", "u", true},
		{"none-ignores-offer", notifytest.SMTPOptions{TLS: srvTLS}, "none", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := notifytest.StartSMTP(t, tt.smtp)
			ch := newChannel(t, config.Channel{Name: "team", Type: config.ChannelEmail,
				SMTP: config.SMTP{Address: srv.Addr, Username: tt.user, Password: "p", TLS: tt.mode},
				From: "Telltale <telltale@example.com>", To: []string{"oncall@example.com", "Ana <ana@example.com>"}},
				notify.ChannelOptions{TLS: clientTLS, Hostname: "tt.test"})
			if err := ch.Send(context.Background(), sample()); err != nil {
				t.Fatalf("Send: %v", err)
			}
			msgs := srv.Messages()
			if len(msgs) != 1 {
				t.Fatalf("got %d messages, want 1", len(msgs))
			}
			m := msgs[0]
			if m.From != "telltale@example.com" || strings.Join(m.To, ",") != "oncall@example.com,ana@example.com" || m.TLS != tt.wantTLS || m.AuthUser != tt.user {
				t.Errorf("envelope from %q to %v tls %v auth %q", m.From, m.To, m.TLS, m.AuthUser)
			}
			msg, err := mail.ReadMessage(bytes.NewReader(m.Data))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := msg.Header.Date(); err != nil {
				t.Errorf("Date: %v", err)
			}
			if id := msg.Header.Get("Message-ID"); !regexp.MustCompile(`^<[0-9a-f]{24}@tt\.test>$`).MatchString(id) {
				t.Errorf("Message-ID %q", id)
			}
			if s := msg.Header.Get("Subject"); s != "[FIRING:2] api-down" {
				t.Errorf("Subject %q", s)
			}
			golden(t, "email.eml", volatileHeader.ReplaceAll(m.Data, nil))
		})
	}
}

func TestEmailFailures(t *testing.T) {
	tests := []struct {
		name      string
		smtp      notifytest.SMTPOptions
		user      string
		permanent bool
		want      string
	}{
		{"rcpt-550", notifytest.SMTPOptions{RcptReply: "550 5.1.1 no such user"}, "", true, "RCPT TO: 550"},
		{"rcpt-451", notifytest.SMTPOptions{RcptReply: "451 4.3.0 try later"}, "", false, "RCPT TO: 451"},
		{"auth-535", notifytest.SMTPOptions{Username: "u", Password: "right"}, "u", true, "AUTH: 535"},
	}
	for _, tt := range tests {
		srv := notifytest.StartSMTP(t, tt.smtp)
		ch := newChannel(t, config.Channel{Name: "team", Type: config.ChannelEmail,
			SMTP: config.SMTP{Address: srv.Addr, Username: tt.user, Password: "wrong", TLS: "none"},
			From: "telltale@example.com", To: []string{"oncall@example.com"}}, notify.ChannelOptions{})
		err := ch.Send(context.Background(), sample())
		if err == nil || notify.IsPermanent(err) != tt.permanent || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v (permanent %v), want %q (permanent %v)", tt.name, err, notify.IsPermanent(err), tt.want, tt.permanent)
		}
	}
	ch := newChannel(t, config.Channel{Name: "team", Type: config.ChannelEmail, SMTP: config.SMTP{Address: "127.0.0.1:1", TLS: "none"},
		From: "telltale@example.com", To: []string{"oncall@example.com"}}, notify.ChannelOptions{})
	if err := ch.Send(context.Background(), sample()); err == nil || notify.IsPermanent(err) {
		t.Errorf("refused: error %v, want a retryable error", err)
	}
}

// TestEmailHeaderInjection checks that a label cannot add a header.
func TestEmailHeaderInjection(t *testing.T) {
	srv := notifytest.StartSMTP(t, notifytest.SMTPOptions{})
	ch := newChannel(t, config.Channel{Name: "team", Type: config.ChannelEmail, SMTP: config.SMTP{Address: srv.Addr, TLS: "none"},
		From: "telltale@example.com", To: []string{"oncall@example.com"}}, notify.ChannelOptions{})
	n := sample()
	n.GroupLabels = map[string]string{"alertname": "x\r\nBcc: evil@example.com"}
	n.GroupKey = "k\r\nX-Evil: 1"
	if err := ch.Send(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	msg, err := mail.ReadMessage(bytes.NewReader(srv.Messages()[0].Data))
	if err != nil {
		t.Fatal(err)
	}
	if msg.Header.Get("Bcc") != "" || msg.Header.Get("X-Evil") != "" {
		t.Errorf("injected headers: %v", msg.Header)
	}
}

func TestNewChannelErrors(t *testing.T) {
	for _, c := range []config.Channel{
		{Name: "a", Type: "pager"},
		{Name: "b", Type: config.ChannelWebhook, URL: "ftp://x/y"},
		{Name: "c", Type: config.ChannelSlack, URL: ""},
		{Name: "d", Type: config.ChannelEmail, SMTP: config.SMTP{Address: "nohost"}, From: "a@b", To: []string{"c@d"}},
		{Name: "e", Type: config.ChannelEmail, SMTP: config.SMTP{Address: "h:25"}, From: "not an address", To: []string{"c@d"}},
		{Name: "f", Type: config.ChannelEmail, SMTP: config.SMTP{Address: "h:25"}, From: "a@b"},
		{Name: "g", Type: config.ChannelEmail, SMTP: config.SMTP{Address: "h:25", TLS: "ssl"}, From: "a@b", To: []string{"c@d"}},
	} {
		if _, err := notify.NewChannel(c, notify.ChannelOptions{}); err == nil || !strings.Contains(err.Error(), "channel "+c.Name) {
			t.Errorf("NewChannel(%+v): error %v, want one naming the channel", c, err)
		}
	}
}
