package apptest

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/fibinc/telltale/internal/notify/notifytest"
)

// TestAlertingEndToEnd runs real uptime checks against a real HTTP server
// and a real TCP server that go down and come back, with alert rules on
// them routed to every channel type: a generic webhook, an Alertmanager
// webhook, a Slack incoming webhook (real local HTTP receivers) and e-mail
// (a real local SMTP server). Each alert must be notified firing once and
// resolved once on every channel, across a restart of the server while the
// alerts fire.
func TestAlertingEndToEnd(t *testing.T) {
	web, db := newFlakyHTTP(t), newFlakyTCP(t)
	hook, am, slack := newReceiver(t), newReceiver(t), newReceiver(t)
	smtp := notifytest.StartSMTP(t, notifytest.SMTPOptions{})

	cfg := filepath.Join(t.TempDir(), "telltale.yaml")
	writeFile(t, cfg, fmt.Sprintf(`
checks:
  - name: web
    url: http://%s/health
    interval: 1s
    timeout: 1s
    conditions: ["[STATUS] == 200", "[BODY].status == UP", "[RESPONSE_TIME] < 2000"]
    labels: {team: web}
  - name: db
    type: tcp
    address: %s
    interval: 1s
    timeout: 1s
rules:
  - name: web-down
    check: web
    every: 1s
    datapoints: 3
    to_alarm: 2
    labels: {severity: page}
    annotations: {summary: "web answers {{ .Value }}"}
  - name: db-down
    check: db
    every: 1s
    datapoints: 2
    labels: {severity: page}
channels:
  - {name: hook, type: webhook, url: "%s"}
  - {name: am, type: alertmanager, url: "%s"}
  - {name: chat, type: slack, url: "%s"}
  - name: mail
    type: email
    smtp: {address: "%s", tls: none}
    from: telltale@example.com
    to: [oncall@example.com]
routes:
  - matchers: ['severity="page"']
    channels: [hook, am, chat, mail]
    group_by: [alertname]
    group_wait: 1s
    group_interval: 1m
    repeat_interval: 4h
`, web.addr, db.addr, hook.url, am.url, slack.url, smtp.Addr))

	dataDir := t.TempDir()
	s := start(t, dataDir, "--config", cfg)
	waitRules(t, s, map[string]string{"web-down": "OK", "db-down": "OK"})

	web.up.Store(false)
	db.setUp(false)
	waitRules(t, s, map[string]string{"web-down": "FIRING", "db-down": "FIRING"})
	for _, r := range []*receiver{hook, am, slack} {
		r.waitFor(t, 2)
	}
	waitMail(t, smtp, 2)

	// A failed HTTP probe carries the trace id it sent as traceparent.
	var results struct {
		Data []struct {
			OK      bool   `json:"ok"`
			Status  int    `json:"status"`
			TraceID string `json:"trace_id"`
			Error   string `json:"error"`
		} `json:"data"`
	}
	s.get("/api/v1/checks/web/results?limit=50", 200, &results)
	failed := 0
	for _, r := range results.Data {
		if r.OK {
			continue
		}
		failed++
		if r.Status != 503 || len(r.TraceID) != 32 || !strings.Contains(r.Error, "[STATUS] (503) == 200") {
			t.Errorf("failed result: status %d, trace id %q, error %q", r.Status, r.TraceID, r.Error)
		}
		if !slices.ContainsFunc(web.traceparentsSeen(), func(tp string) bool { return strings.HasPrefix(tp, "00-"+r.TraceID+"-") }) {
			t.Errorf("trace id %s of a failed probe was not sent as traceparent (saw %q)", r.TraceID, web.traceparentsSeen())
		}
	}
	if failed == 0 {
		t.Fatalf("no failed result of check web stored: %+v", results.Data)
	}

	// A restart while the alerts fire neither forgets them nor notifies
	// them again.
	s.stop()
	s = start(t, dataDir, "--config", cfg)
	waitRules(t, s, map[string]string{"web-down": "FIRING", "db-down": "FIRING"})
	time.Sleep(3 * time.Second) // longer than group_wait: a repeat would have come

	web.up.Store(true)
	db.setUp(true)
	waitRules(t, s, map[string]string{"web-down": "OK", "db-down": "OK"})
	for _, r := range []*receiver{hook, am, slack} {
		r.waitFor(t, 4)
	}
	waitMail(t, smtp, 4)
	time.Sleep(3 * time.Second) // anything sent twice would arrive by now

	for _, alertname := range []string{"web-down", "db-down"} {
		if got := amStatuses(t, am.received(), alertname); !slices.Equal(got, []string{"firing", "resolved"}) {
			t.Errorf("Alertmanager notifications of %s: %q, want firing then resolved, once each", alertname, got)
		}
		if got := webhookStatuses(t, hook.received(), alertname); !slices.Equal(got, []string{"firing", "resolved"}) {
			t.Errorf("webhook notifications of %s: %q, want firing then resolved, once each", alertname, got)
		}
		if got := slackTitles(t, slack.received(), alertname); !slices.Equal(got, []string{"[FIRING:1] " + alertname, "[RESOLVED] " + alertname}) {
			t.Errorf("Slack messages of %s: %q", alertname, got)
		}
		if got := mailSubjects(smtp, alertname); !slices.Equal(got, []string{"[FIRING:1] " + alertname, "[RESOLVED] " + alertname}) {
			t.Errorf("e-mail subjects of %s: %q", alertname, got)
		}
	}
	if n := len(hook.received()); n != 4 {
		t.Errorf("webhook got %d notifications, want 4", n)
	}

	// The Alertmanager payload is v4, with the rule's labels and the
	// rendered annotation.
	var p amPayload
	json.Unmarshal(am.received()[0], &p)
	if p.Version != "4" || p.Receiver != "am" || len(p.Alerts) != 1 || p.Alerts[0].Labels["severity"] != "page" ||
		len(p.Alerts[0].Fingerprint) != 16 || p.ExternalURL == "" {
		t.Errorf("Alertmanager payload: %s", am.received()[0])
	}
	for _, b := range am.received() {
		json.Unmarshal(b, &p)
		if p.Alerts[0].Labels["alertname"] == "web-down" && p.Status == "firing" && !strings.HasPrefix(p.Alerts[0].Annotations["summary"], "web answers ") {
			t.Errorf("annotation not rendered: %s", b)
		}
	}

	// Every attempt is recorded, and the history shows the transitions.
	var attempts struct {
		Data []struct {
			Channel string `json:"channel"`
			Outcome string `json:"outcome"`
		} `json:"data"`
	}
	s.get("/api/v1/notifications?limit=100", 200, &attempts)
	if len(attempts.Data) != 16 {
		t.Errorf("%d attempts recorded, want 16 (2 alerts × 2 notifications × 4 channels): %+v", len(attempts.Data), attempts.Data)
	}
	for _, a := range attempts.Data {
		if a.Outcome != "ok" {
			t.Errorf("attempt %+v", a)
		}
	}
	var rule struct {
		Data struct {
			History []struct {
				From string `json:"from"`
				To   string `json:"to"`
			} `json:"history"`
		} `json:"data"`
	}
	s.get("/api/v1/rules/web-down", 200, &rule)
	var path []string
	for _, h := range rule.Data.History {
		path = append(path, h.From+">"+h.To)
	}
	// Newest first: it fired once (from PENDING, or from NO_DATA when the
	// first results came in already failing) and resolved once.
	if len(path) == 0 || path[0] != "FIRING>OK" || !slices.ContainsFunc(path, func(p string) bool { return strings.HasSuffix(p, ">FIRING") }) {
		t.Errorf("history of web-down: %v", path)
	}
}

type amPayload struct {
	Version     string `json:"version"`
	Status      string `json:"status"`
	Receiver    string `json:"receiver"`
	ExternalURL string `json:"externalURL"`
	Alerts      []struct {
		Status      string            `json:"status"`
		Labels      map[string]string `json:"labels"`
		Annotations map[string]string `json:"annotations"`
		Fingerprint string            `json:"fingerprint"`
	} `json:"alerts"`
}

func amStatuses(t *testing.T, bodies []json.RawMessage, alertname string) []string {
	var out []string
	for _, b := range bodies {
		var p amPayload
		if err := json.Unmarshal(b, &p); err != nil {
			t.Fatalf("Alertmanager payload %s: %v", b, err)
		}
		if len(p.Alerts) > 0 && p.Alerts[0].Labels["alertname"] == alertname {
			out = append(out, p.Status)
		}
	}
	return out
}

func webhookStatuses(t *testing.T, bodies []json.RawMessage, alertname string) []string {
	var out []string
	for _, b := range bodies {
		var p struct {
			Status string `json:"status"`
			Alerts []struct {
				Status string            `json:"status"`
				Labels map[string]string `json:"labels"`
			} `json:"alerts"`
		}
		if err := json.Unmarshal(b, &p); err != nil {
			t.Fatalf("webhook payload %s: %v", b, err)
		}
		if len(p.Alerts) > 0 && p.Alerts[0].Labels["alertname"] == alertname {
			if p.Alerts[0].Status != p.Status {
				t.Errorf("webhook payload status %q, its alert %q", p.Status, p.Alerts[0].Status)
			}
			out = append(out, p.Status)
		}
	}
	return out
}

func slackTitles(t *testing.T, bodies []json.RawMessage, alertname string) []string {
	var out []string
	for _, b := range bodies {
		var p struct {
			Text string `json:"text"`
		}
		if err := json.Unmarshal(b, &p); err != nil {
			t.Fatalf("Slack payload %s: %v", b, err)
		}
		if strings.HasSuffix(p.Text, " "+alertname) {
			out = append(out, p.Text)
		}
	}
	return out
}

func mailSubjects(s *notifytest.SMTPServer, alertname string) []string {
	var out []string
	for _, m := range s.Messages() {
		for _, line := range strings.Split(string(m.Data), "\r\n") {
			if subj, ok := strings.CutPrefix(line, "Subject: "); ok && strings.HasSuffix(subj, " "+alertname) {
				out = append(out, subj)
			}
		}
	}
	return out
}

// waitRules waits until each rule is in the state given.
func waitRules(t *testing.T, s *server, want map[string]string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var rules struct {
			Data []struct {
				Name  string `json:"name"`
				State string `json:"state"`
			} `json:"data"`
		}
		s.get("/api/v1/rules", 200, &rules)
		got := map[string]string{}
		for _, r := range rules.Data {
			got[r.Name] = r.State
		}
		ok := true
		for name, st := range want {
			ok = ok && got[name] == st
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("rules are %v, want %v", got, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func waitMail(t *testing.T, s *notifytest.SMTPServer, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for len(s.Messages()) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d e-mails received, want %d", len(s.Messages()), n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// flakyHTTP is a real HTTP backend whose health endpoint can be switched
// between up (200 {"status":"UP"}) and down (503). It remembers the
// traceparent headers of the probes it saw.
type flakyHTTP struct {
	srv  *http.Server
	addr string
	up   atomic.Bool

	mu           sync.Mutex
	traceparents []string
}

func newFlakyHTTP(t *testing.T) *flakyHTTP {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &flakyHTTP{addr: l.Addr().String()}
	f.up.Store(true)
	f.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.traceparents = append(f.traceparents, r.Header.Get("traceparent"))
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if !f.up.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, `{"status":"DOWN"}`)
			return
		}
		io.WriteString(w, `{"status":"UP"}`)
	})}
	go f.srv.Serve(l)
	t.Cleanup(func() { f.srv.Close() })
	return f
}

func (f *flakyHTTP) traceparentsSeen() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.traceparents...)
}

// flakyTCP is a real TCP server that can be taken down (its listener
// closed) and brought back on the same port.
type flakyTCP struct {
	t    *testing.T
	addr string
	mu   sync.Mutex
	l    net.Listener
}

func newFlakyTCP(t *testing.T) *flakyTCP {
	f := &flakyTCP{t: t, addr: freeAddr(t)}
	f.setUp(true)
	t.Cleanup(func() { f.setUp(false) })
	return f
}

func (f *flakyTCP) setUp(up bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !up {
		if f.l != nil {
			f.l.Close()
			f.l = nil
		}
		return
	}
	if f.l != nil {
		return
	}
	var err error
	for i := 0; i < 50; i++ { // the port may linger briefly after close
		if f.l, err = net.Listen("tcp", f.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		f.t.Fatalf("cannot reopen %s: %v", f.addr, err)
	}
	go func(l net.Listener) {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}(f.l)
}

// receiver is a real HTTP endpoint that records every notification posted
// to it.
type receiver struct {
	url    string
	mu     sync.Mutex
	bodies []json.RawMessage
}

func newReceiver(t *testing.T) *receiver {
	t.Helper()
	r := &receiver{}
	srv := http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, err := io.ReadAll(req.Body)
		if err != nil || !json.Valid(b) {
			http.Error(w, "want JSON", http.StatusBadRequest)
			return
		}
		r.mu.Lock()
		r.bodies = append(r.bodies, b)
		r.mu.Unlock()
	})}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r.url = "http://" + l.Addr().String() + "/hook"
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return r
}

func (r *receiver) received() []json.RawMessage {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]json.RawMessage(nil), r.bodies...)
}

func (r *receiver) waitFor(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for len(r.received()) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%s received %d notifications, want %d: %s", r.url, len(r.received()), n, r.received())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestConfigReload changes the configuration of a running server through
// SIGHUP and POST /-/reload: a valid file takes effect without losing the
// state of the rules it keeps, a broken one is refused with its problems
// named and the running configuration stays.
func TestConfigReload(t *testing.T) {
	db := newFlakyTCP(t)
	db.setUp(false)
	cfg := filepath.Join(t.TempDir(), "telltale.yaml")
	base := fmt.Sprintf(`
checks:
  - {name: db, type: tcp, address: "%s", interval: 1s, timeout: 1s}
rules:
  - {name: db-down, check: db, every: 1s}
`, db.addr)
	writeFile(t, cfg, base)
	s := start(t, t.TempDir(), "--config", cfg)
	waitRules(t, s, map[string]string{"db-down": "FIRING"})
	var before struct {
		Data struct {
			Instances []struct {
				FiredAt time.Time `json:"fired_at"`
			} `json:"instances"`
		} `json:"data"`
	}
	s.get("/api/v1/rules/db-down", 200, &before)

	// SIGHUP: a rule added, the firing one kept as it was.
	writeFile(t, cfg, base+"  - {name: db-slow, check: db, every: 1s, datapoints: 5, to_alarm: 5}\n")
	s.cmd.Process.Signal(syscall.SIGHUP)
	waitRules(t, s, map[string]string{"db-down": "FIRING", "db-slow": "FIRING"})
	var after struct {
		Data struct {
			State     string `json:"state"`
			Instances []struct {
				FiredAt time.Time `json:"fired_at"`
			} `json:"instances"`
		} `json:"data"`
	}
	s.get("/api/v1/rules/db-down", 200, &after)
	if len(after.Data.Instances) != 1 || len(before.Data.Instances) != 1 || !after.Data.Instances[0].FiredAt.Equal(before.Data.Instances[0].FiredAt) {
		t.Errorf("db-down after reload: %+v, before %+v", after.Data, before.Data)
	}

	// POST /-/reload with a broken file: 400 naming the line, nothing
	// changes.
	writeFile(t, cfg, base+"  - {name: db-typo, check: dbx, every: 1s}\n")
	resp, err := s.client.Post("http://"+s.ui+"/-/reload", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 400 || !strings.Contains(string(body), `telltale.yaml:6:`) || !strings.Contains(string(body), `check "dbx" is not defined; did you mean db?`) {
		t.Errorf("reload of a broken file: %d %s", resp.StatusCode, body)
	}
	waitRules(t, s, map[string]string{"db-down": "FIRING", "db-slow": "FIRING"})

	// The file is the source of truth: the API does not replace it.
	req, _ := http.NewRequest(http.MethodPut, "http://"+s.ui+"/api/v1/config", strings.NewReader("checks: []\n"))
	resp, err = s.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusConflict {
		t.Errorf("PUT /api/v1/config with a file: status %d, want 409", resp.StatusCode)
	}

	// A fixed file and POST /-/reload: the rule is gone, its alert
	// resolved.
	writeFile(t, cfg, base)
	resp, err = s.client.Post("http://"+s.ui+"/-/reload", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("reload: status %d", resp.StatusCode)
	}
	s.get("/api/v1/rules/db-slow", 404, nil)
	s.healthy()
}
