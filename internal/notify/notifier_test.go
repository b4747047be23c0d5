package notify

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fibinc/telltale/internal/config"
	"github.com/fibinc/telltale/internal/notify/notifytest"
	"github.com/fibinc/telltale/internal/state"
	"github.com/fibinc/telltale/internal/state/duckdb"
)

var (
	ctx = context.Background()
	t0  = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
)

// clock is a fake clock that tests move by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// env is a notifier on a fake clock with webhook receivers.
type env struct {
	t     *testing.T
	clock *clock
	n     *Notifier
	rcv   map[string]*notifytest.Receiver
	seen  map[string]int // requests already returned by sent
}

func newEnv(t *testing.T, store state.NotifyStore, routes []config.Route, channels ...string) *env {
	e := &env{t: t, clock: &clock{t: t0}, rcv: map[string]*notifytest.Receiver{}, seen: map[string]int{}}
	e.n = New(Options{Store: store, Now: e.clock.Now, RetryInitial: time.Millisecond, RetryMax: 4 * time.Millisecond, ExternalURL: "http://telltale.test"})
	var chs []config.Channel
	for _, c := range channels {
		e.rcv[c] = notifytest.NewReceiver(t)
		chs = append(chs, config.Channel{Name: c, Type: config.ChannelWebhook, URL: e.rcv[c].URL})
	}
	if err := e.n.SetConfig(chs, routes, nil, nil); err != nil {
		t.Fatalf("SetConfig: %v", err)
	}
	return e
}

// at moves the clock to t0+d and runs the flushes due, as Run would.
func (e *env) at(d time.Duration) {
	e.clock.set(t0.Add(d))
	for _, j := range e.n.due(e.n.now()) {
		e.n.flush(ctx, j)
	}
}

// sent returns the notifications a channel received since the last call.
func (e *env) sent(channel string) []webhookMessage {
	e.t.Helper()
	reqs := e.rcv[channel].Requests()
	var out []webhookMessage
	for _, r := range reqs[e.seen[channel]:] {
		var m webhookMessage
		if err := json.Unmarshal(r.Body, &m); err != nil {
			e.t.Fatalf("bad webhook body: %v", err)
		}
		out = append(out, m)
	}
	e.seen[channel] = len(reqs)
	return out
}

// expect checks the notifications a channel received since the last
// check: one line each, "status reason fingerprint-ish summary".
func (e *env) expect(channel string, want ...string) {
	e.t.Helper()
	var got []string
	for _, m := range e.sent(channel) {
		got = append(got, describe(m))
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		e.t.Errorf("channel %s got:\n  %s\nwant:\n  %s", channel, strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

// describe writes a notification as "group status reason alerts", the
// alerts as instance:status.
func describe(m webhookMessage) string {
	var as []string
	for _, st := range []string{StatusFiring, StatusResolved} {
		var part []string
		for _, a := range m.Alerts {
			if a.Status == st {
				part = append(part, a.Labels["instance"]+":"+a.Status)
			}
		}
		sort.Strings(part)
		as = append(as, part...)
	}
	return m.GroupKey + " " + m.Status + " " + m.Reason + " [" + strings.Join(as, " ") + "]"
}

func firing(name, instance string, start time.Duration) Alert {
	return Alert{Labels: map[string]string{"alertname": name, "instance": instance}, StartsAt: t0.Add(start),
		Annotations: map[string]string{"summary": name + " on " + instance}}
}

func resolved(a Alert, end time.Duration) Alert {
	a.EndsAt = t0.Add(end)
	return a
}

func testRoute(mod func(*config.Route)) config.Route {
	r := config.Route{Channels: []string{"ops"}, GroupWait: config.Duration(30 * time.Second),
		GroupInterval: config.Duration(5 * time.Minute), RepeatInterval: config.Duration(4 * time.Hour)}
	if mod != nil {
		mod(&r)
	}
	return r
}

const (
	gAPI = `{}:{alertname="api-down"}`
	gDB  = `{}:{alertname="db-down"}`
)

func TestGroupWaitAndGrouping(t *testing.T) {
	e := newEnv(t, nil, nil, "ops")
	e.n.Notify(ctx, []Alert{firing("api-down", "a", 0)})
	e.at(0)
	e.expect("ops")
	e.at(10 * time.Second)
	e.n.Notify(ctx, []Alert{firing("api-down", "b", 10*time.Second), firing("db-down", "x", 10*time.Second)})
	e.at(29 * time.Second)
	e.expect("ops")
	e.at(30 * time.Second)
	e.expect("ops", gAPI+" firing first_notification [a:firing b:firing]")
	e.at(40 * time.Second)
	e.expect("ops", gDB+" firing first_notification [x:firing]")
	// Nothing changes: nothing more until the repeat interval.
	for d := time.Minute; d < 4*time.Hour; d += 10 * time.Second {
		e.at(d)
	}
	e.expect("ops")
	e.at(4*time.Hour + 30*time.Second)
	e.expect("ops", gAPI+" firing repeat_interval_elapsed [a:firing b:firing]")
	e.at(4*time.Hour + 40*time.Second)
	e.expect("ops", gDB+" firing repeat_interval_elapsed [x:firing]")
}

func TestGroupIntervalForChanges(t *testing.T) {
	e := newEnv(t, nil, []config.Route{testRoute(nil)}, "ops")
	a, b := firing("api-down", "a", 0), firing("api-down", "b", time.Minute)
	e.n.Notify(ctx, []Alert{a})
	e.at(30 * time.Second)
	e.expect("ops", gAPI+" firing first_notification [a:firing]")
	// A new alert waits for the group's next interval.
	e.at(time.Minute)
	e.n.Notify(ctx, []Alert{a, b})
	e.at(5 * time.Minute)
	e.expect("ops")
	e.at(5*time.Minute + 30*time.Second)
	e.expect("ops", gAPI+" firing new_alerts_in_group [a:firing b:firing]")
	// One of two resolves: told at the next interval (send_resolved).
	e.at(6 * time.Minute)
	e.n.Notify(ctx, []Alert{resolved(a, 6*time.Minute), b})
	e.at(6*time.Minute + time.Second)
	e.expect("ops")
	e.at(10*time.Minute + 30*time.Second)
	e.expect("ops", gAPI+" firing new_resolved_alerts [b:firing a:resolved]")
	// The resolved alert was sent and is forgotten.
	e.at(15*time.Minute + 30*time.Second)
	e.expect("ops")
}

func TestResolvedAtOnce(t *testing.T) {
	e := newEnv(t, nil, []config.Route{testRoute(nil)}, "ops")
	a, b := firing("api-down", "a", 0), firing("api-down", "b", 0)
	e.n.Notify(ctx, []Alert{a, b})
	e.at(30 * time.Second)
	e.expect("ops", gAPI+" firing first_notification [a:firing b:firing]")
	e.at(2 * time.Minute)
	e.n.Notify(ctx, []Alert{resolved(a, 2*time.Minute), resolved(b, 2*time.Minute)})
	e.at(2 * time.Minute) // no group_interval wait (Alertmanager #1660)
	e.expect("ops", gAPI+" resolved all_alerts_resolved [a:resolved b:resolved]")
	e.n.mu.Lock()
	groups := len(e.n.groups)
	e.n.mu.Unlock()
	if groups != 0 {
		t.Errorf("%d groups left after the resolved notification, want 0", groups)
	}
	// Firing again is a new first notification after group_wait.
	e.at(3 * time.Minute)
	e.n.Notify(ctx, []Alert{firing("api-down", "a", 3*time.Minute)})
	e.at(3*time.Minute + 29*time.Second)
	e.expect("ops")
	e.at(3*time.Minute + 30*time.Second)
	e.expect("ops", gAPI+" firing new_alerts_in_group [a:firing]")
}

func TestResolvedDuringGroupWaitIsNotSent(t *testing.T) {
	e := newEnv(t, nil, []config.Route{testRoute(nil)}, "ops")
	a := firing("api-down", "a", 0)
	e.n.Notify(ctx, []Alert{a})
	e.at(10 * time.Second)
	e.n.Notify(ctx, []Alert{resolved(a, 10*time.Second)})
	e.at(10 * time.Second)
	e.at(time.Hour)
	e.expect("ops")
}

func TestSendResolvedFalse(t *testing.T) {
	e := newEnv(t, nil, nil, "ops")
	no := false
	err := e.n.SetConfig([]config.Channel{{Name: "ops", Type: config.ChannelWebhook, URL: e.rcv["ops"].URL, SendResolved: &no}}, []config.Route{testRoute(nil)}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	a, b := firing("api-down", "a", 0), firing("api-down", "b", 0)
	e.n.Notify(ctx, []Alert{a, b})
	e.at(30 * time.Second)
	e.expect("ops", gAPI+" firing first_notification [a:firing b:firing]")
	e.at(time.Minute)
	e.n.Notify(ctx, []Alert{resolved(a, time.Minute)})
	e.at(5*time.Minute + 30*time.Second)
	e.expect("ops") // b still firing, a's resolution not wanted
	e.at(6 * time.Minute)
	e.n.Notify(ctx, []Alert{resolved(b, 6*time.Minute)})
	e.at(6 * time.Minute)
	e.expect("ops")
	// The log was cleared: b firing again is new.
	e.at(7 * time.Minute)
	e.n.Notify(ctx, []Alert{firing("api-down", "b", 7*time.Minute)})
	e.at(7*time.Minute + 30*time.Second)
	e.expect("ops", gAPI+" firing new_alerts_in_group [b:firing]")
}

func TestRoutes(t *testing.T) {
	routes := []config.Route{
		testRoute(func(r *config.Route) {
			r.Matchers = []config.Matcher{mustMatcher(t, `severity="page"`)}
			r.Channels = []string{"pager"}
			r.Continue = true
		}),
		testRoute(func(r *config.Route) {
			r.Matchers = []config.Matcher{mustMatcher(t, `team=~"api|web"`)}
			r.Channels = []string{"team"}
			r.GroupBy = []string{"..."}
		}),
		testRoute(func(r *config.Route) { r.Channels = []string{"ops"} }),
	}
	e := newEnv(t, nil, routes, "pager", "team", "ops")
	page := firing("api-down", "a", 0)
	page.Labels["severity"], page.Labels["team"] = "page", "api"
	other := firing("disk-full", "b", 0)
	other.Labels["team"] = "api"
	rest := firing("slow", "c", 0)
	e.n.Notify(ctx, []Alert{page, other, rest})
	e.at(30 * time.Second)
	e.expect("pager", `{}/{severity="page"}:{alertname="api-down"} firing first_notification [a:firing]`)
	e.expect("team",
		`{}/{team=~"api|web"}:{alertname="api-down",instance="a",severity="page",team="api"} firing first_notification [a:firing]`,
		`{}/{team=~"api|web"}:{alertname="disk-full",instance="b",team="api"} firing first_notification [b:firing]`)
	e.expect("ops", `{}/{}:{alertname="slow"} firing first_notification [c:firing]`)
}

func mustMatcher(t *testing.T, s string) config.Matcher {
	m, err := config.ParseMatcher(s)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestNoRoutesEveryChannel(t *testing.T) {
	e := newEnv(t, nil, nil, "a", "b")
	e.n.Notify(ctx, []Alert{firing("api-down", "x", 0)})
	e.at(30 * time.Second)
	e.expect("a", gAPI+" firing first_notification [x:firing]")
	e.expect("b", gAPI+" firing first_notification [x:firing]")
}

func TestSilences(t *testing.T) {
	e := newEnv(t, nil, []config.Route{testRoute(nil)}, "ops")
	cfgSilence := config.Silence{Matchers: []config.Matcher{mustMatcher(t, `instance="a"`)}, Starts: t0, Ends: t0.Add(time.Hour), CreatedBy: "ana"}
	if err := e.n.SetConfig([]config.Channel{{Name: "ops", Type: config.ChannelWebhook, URL: e.rcv["ops"].URL}}, []config.Route{testRoute(nil)}, []config.Silence{cfgSilence}, nil); err != nil {
		t.Fatal(err)
	}
	api, err := e.n.CreateSilence(ctx, SilenceRequest{Matchers: []string{`instance="b"`}, EndsAt: t0.Add(2 * time.Hour), CreatedBy: "bo", Comment: "db work"})
	if err != nil {
		t.Fatalf("CreateSilence: %v", err)
	}
	pending, err := e.n.CreateSilence(ctx, SilenceRequest{Matchers: []string{`instance="c"`}, StartsAt: t0.Add(3 * time.Hour), EndsAt: t0.Add(6 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	a, b, c := firing("api-down", "a", 0), firing("api-down", "b", 0), firing("api-down", "c", 0)
	e.n.Notify(ctx, []Alert{a, b, c})
	e.at(30 * time.Second)
	e.expect("ops", gAPI+" firing first_notification [c:firing]")

	list, err := e.n.Silences(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var states []string
	for _, s := range list {
		var muted []string
		for _, m := range s.Muting {
			muted = append(muted, m.Labels["instance"])
		}
		states = append(states, s.Source+":"+s.State+":"+strings.Join(muted, ","))
	}
	if got, want := strings.Join(states, " "), "config:active:a api:active:b api:pending:"; got != want {
		t.Errorf("silences %s, want %s", got, want)
	}
	if _, err := e.n.ExpireSilence(ctx, list[0].ID); !errors.Is(err, ErrConfigSilence) || !strings.Contains(err.Error(), "configuration file") {
		t.Errorf("expiring a config silence: %v", err)
	}
	if _, err := e.n.ExpireSilence(ctx, "nope"); !errors.Is(err, state.ErrNotFound) {
		t.Error("expiring an unknown silence succeeded")
	}

	// The config silence ends at 1h: a is told at the next flush.
	e.at(time.Hour + 30*time.Second)
	e.expect("ops", gAPI+" firing new_alerts_in_group [a:firing c:firing]")
	// Expiring the API silence unmutes b at the next flush.
	e.at(time.Hour + 31*time.Second)
	if _, err := e.n.ExpireSilence(ctx, api.ID); err != nil {
		t.Fatal(err)
	}
	e.at(time.Hour + 5*time.Minute + 30*time.Second)
	e.expect("ops", gAPI+" firing new_alerts_in_group [a:firing b:firing c:firing]")
	// The pending silence mutes c from 3h: no notification about that,
	// and the repeat then leaves c out.
	e.at(3*time.Hour + 30*time.Second)
	e.expect("ops")
	e.at(5*time.Hour + 10*time.Minute + 30*time.Second)
	e.expect("ops", gAPI+" firing repeat_interval_elapsed [a:firing b:firing]")
	// Expiring the pending silence after it started: c still fires and
	// is notified as new at the next flush.
	if _, err := e.n.ExpireSilence(ctx, pending.ID); err != nil {
		t.Fatal(err)
	}
	e.at(5*time.Hour + 15*time.Minute + 30*time.Second)
	e.expect("ops", gAPI+" firing new_alerts_in_group [a:firing b:firing c:firing]")
}

func TestMaintenance(t *testing.T) {
	e := newEnv(t, nil, nil, "ops")
	maint := []config.Maintenance{{Name: "deploy", Matchers: []config.Matcher{mustMatcher(t, `alertname="api-down"`)}, From: t0, To: t0.Add(20 * time.Minute)}}
	if err := e.n.SetConfig([]config.Channel{{Name: "ops", Type: config.ChannelWebhook, URL: e.rcv["ops"].URL}}, []config.Route{testRoute(nil)}, nil, maint); err != nil {
		t.Fatal(err)
	}
	e.n.Notify(ctx, []Alert{firing("api-down", "a", 0), firing("db-down", "x", 0)})
	e.at(30 * time.Second)
	e.expect("ops", gDB+" firing first_notification [x:firing]")
	e.at(15*time.Minute + 30*time.Second)
	e.expect("ops")
	e.at(20*time.Minute + 30*time.Second)
	e.expect("ops", gAPI+" firing first_notification [a:firing]")
}

func TestRetries(t *testing.T) {
	e := newEnv(t, nil, []config.Route{testRoute(nil)}, "ops", "bad")
	e.rcv["ops"] = notifytest.NewReceiver(t, notifytest.Reply{Status: 500, Body: "boom"}, notifytest.Reply{Status: 503})
	e.rcv["bad"] = notifytest.NewReceiver(t, notifytest.Reply{Status: 400, Body: "bad payload"})
	chs := []config.Channel{{Name: "ops", Type: config.ChannelWebhook, URL: e.rcv["ops"].URL}, {Name: "bad", Type: config.ChannelAlertmanager, URL: e.rcv["bad"].URL}}
	if err := e.n.SetConfig(chs, []config.Route{testRoute(func(r *config.Route) { r.Channels = []string{"ops", "bad"} })}, nil, nil); err != nil {
		t.Fatal(err)
	}
	e.n.Notify(ctx, []Alert{firing("api-down", "a", 0)})
	e.at(30 * time.Second)
	e.expect("ops", gAPI+" firing first_notification [a:firing]", gAPI+" firing first_notification [a:firing]", gAPI+" firing first_notification [a:firing]")
	if n := len(e.rcv["bad"].Requests()); n != 1 {
		t.Errorf("a 400 was tried %d times, want 1", n)
	}
	got := attempts(t, e.n, "")
	want := []string{
		"bad 1 gave up 400 status 400: bad payload",
		"ops 3 ok 0 ",
		"ops 2 failed 503 status 503",
		"ops 1 failed 500 status 500: boom",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("attempts:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// The failed channel is tried again at the next flush; the other is
	// not repeated.
	e.at(5*time.Minute + 30*time.Second)
	e.expect("ops")
	if n := len(e.rcv["bad"].Requests()); n != 2 {
		t.Errorf("after the next interval the 400 channel was tried %d times, want 2", n)
	}
}

// attempts writes the attempt log as "channel attempt outcome status
// error", newest first, sorted by channel.
func attempts(t *testing.T, n *Notifier, channel string) []string {
	t.Helper()
	list, err := n.Attempts(ctx, state.AttemptFilter{Channel: channel})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, ch := range []string{"bad", "ops"} {
		for _, a := range list {
			if a.Channel == ch {
				out = append(out, strings.Join([]string{a.Channel, itoa(a.Attempt), a.Outcome, itoa(a.HTTPStatus), a.Error}, " "))
			}
		}
	}
	return out
}

func itoa(i int) string { return strconv.Itoa(i) }

func TestRetryBudget(t *testing.T) {
	// Waits of 1, 2, then 4 ms (48 of them) fit a group_interval of
	// 200ms: 51 attempts at most, fewer when the attempts themselves take
	// time (the interval bounds them too). The interval is long enough
	// for a second attempt on a loaded machine.
	e := newEnv(t, nil, nil, "ops")
	var script []notifytest.Reply
	for range 60 {
		script = append(script, notifytest.Reply{Status: 502})
	}
	e.rcv["ops"] = notifytest.NewReceiver(t, script...)
	r := testRoute(func(r *config.Route) { r.GroupInterval = config.Duration(200 * time.Millisecond) })
	if err := e.n.SetConfig([]config.Channel{{Name: "ops", Type: config.ChannelWebhook, URL: e.rcv["ops"].URL}}, []config.Route{r}, nil, nil); err != nil {
		t.Fatal(err)
	}
	e.n.Notify(ctx, []Alert{firing("api-down", "a", 0)})
	e.at(30 * time.Second)
	got := attempts(t, e.n, "ops")
	bad := len(got) < 2 || len(got) > 51 || !strings.HasPrefix(got[0], "ops "+itoa(len(got))+" gave up")
	for i, a := range got[1:] {
		if !strings.HasPrefix(a, "ops "+itoa(len(got)-1-i)+" failed 502") {
			bad = true
		}
	}
	if bad {
		t.Errorf("attempts:\n%s", strings.Join(got, "\n"))
	}
}

func TestRestart(t *testing.T) {
	dir := t.TempDir()
	open := func() *duckdb.Store {
		s, err := duckdb.Open(ctx, duckdb.Options{Path: filepath.Join(dir, duckdb.FileName)})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	store := open()
	e := newEnv(t, store, []config.Route{testRoute(nil)}, "ops")
	a := firing("api-down", "a", 0)
	e.n.Notify(ctx, []Alert{a})
	e.at(30 * time.Second)
	e.expect("ops", gAPI+" firing first_notification [a:firing]")
	sil, err := e.n.CreateSilence(ctx, SilenceRequest{Matchers: []string{`instance="z"`}, EndsAt: t0.Add(10 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	store.Close()

	// A new notifier on the reopened store, later: the evaluator reports
	// the alert again; it is not re-sent.
	store = open()
	defer store.Close()
	e2 := newEnv(t, store, nil, "ops")
	e2.rcv["ops"] = e.rcv["ops"]
	e2.seen["ops"] = e.seen["ops"]
	if err := e2.n.SetConfig([]config.Channel{{Name: "ops", Type: config.ChannelWebhook, URL: e.rcv["ops"].URL}}, []config.Route{testRoute(nil)}, nil, nil); err != nil {
		t.Fatal(err)
	}
	e2.at(time.Hour)
	e2.n.Notify(ctx, []Alert{a})
	for d := time.Hour; d < 4*time.Hour; d += time.Minute {
		e2.at(d)
	}
	e2.expect("ops")
	// The repeat interval counts from the send before the restart.
	e2.at(4*time.Hour + time.Minute)
	e2.expect("ops", gAPI+" firing repeat_interval_elapsed [a:firing]")
	list, err := e2.n.Silences(ctx)
	if err != nil || len(list) != 1 || list[0].ID != sil.ID {
		t.Errorf("silences after restart = %+v, %v", list, err)
	}
	if got := attempts(t, e2.n, "ops"); len(got) != 2 {
		t.Errorf("attempts after restart: %v", got)
	}

	// Restarted again without the alert in memory: its resolution still
	// reaches the channel (the log says it was firing).
	store.Close()
	store = open()
	defer store.Close()
	e3 := newEnv(t, store, nil, "ops")
	e3.rcv["ops"] = e.rcv["ops"]
	e3.seen["ops"] = e2.seen["ops"]
	if err := e3.n.SetConfig([]config.Channel{{Name: "ops", Type: config.ChannelWebhook, URL: e.rcv["ops"].URL}}, []config.Route{testRoute(nil)}, nil, nil); err != nil {
		t.Fatal(err)
	}
	e3.at(5 * time.Hour)
	e3.n.Notify(ctx, []Alert{resolved(a, 5*time.Hour)})
	e3.at(5 * time.Hour)
	e3.expect("ops", gAPI+" resolved all_alerts_resolved [a:resolved]")
}

func TestSetConfigKeepsGroups(t *testing.T) {
	e := newEnv(t, nil, []config.Route{testRoute(nil)}, "ops")
	e.n.Notify(ctx, []Alert{firing("api-down", "a", 0)})
	e.at(30 * time.Second)
	e.expect("ops", gAPI+" firing first_notification [a:firing]")
	e.at(time.Minute)
	if err := e.n.SetConfig([]config.Channel{{Name: "ops", Type: config.ChannelWebhook, URL: e.rcv["ops"].URL}}, []config.Route{testRoute(nil)}, nil, nil); err != nil {
		t.Fatal(err)
	}
	e.at(5*time.Minute + 30*time.Second)
	e.expect("ops")
	// A bad configuration is refused and the old one stays.
	if err := e.n.SetConfig(nil, []config.Route{{Channels: []string{"nope"}}}, nil, nil); err == nil {
		t.Error("SetConfig with an unknown channel succeeded")
	}
	if got := e.n.Channels(); len(got) != 1 || got[0].Name != "ops" {
		t.Errorf("channels after a refused config: %+v", got)
	}
	e.at(6 * time.Minute)
	e.n.Notify(ctx, []Alert{resolved(firing("api-down", "a", 0), 6*time.Minute)})
	e.at(6 * time.Minute)
	e.expect("ops", gAPI+" resolved all_alerts_resolved [a:resolved]")
}

func TestMaxAlerts(t *testing.T) {
	e := newEnv(t, nil, []config.Route{testRoute(nil)}, "ops")
	e.n.opt.MaxAlerts = 2
	e.n.Notify(ctx, []Alert{firing("api-down", "a", 0), firing("api-down", "b", 0), firing("api-down", "c", 0)})
	e.at(30 * time.Second)
	e.expect("ops", gAPI+" firing first_notification [a:firing b:firing]")
}

func TestNeedsUpdate(t *testing.T) {
	now := t0
	entry := func(firing, resolved []string, ago time.Duration) *state.NotificationLog {
		return &state.NotificationLog{Firing: firing, Resolved: resolved, SentAt: now.Add(-ago)}
	}
	l := func(s ...string) []string { return s }
	tests := []struct {
		name         string
		prev         *state.NotificationLog
		firing, res  []string
		sendResolved bool
		want         string
	}{
		{"first", nil, l("a"), nil, true, ReasonFirst},
		{"first only resolved", nil, nil, l("a"), true, ""},
		{"new alert", entry(l("a"), nil, time.Minute), l("a", "b"), nil, true, ReasonNewAlerts},
		{"fewer firing, none resolved", entry(l("a", "b"), nil, time.Minute), l("a"), nil, true, ""},
		{"all resolved", entry(l("a"), nil, time.Minute), nil, l("a"), false, ReasonAllResolved},
		{"resolved again", entry(nil, l("a"), time.Minute), nil, l("a"), true, ""},
		{"new resolved", entry(l("a", "b"), nil, time.Minute), l("a"), l("b"), true, ReasonNewResolved},
		{"new resolved unwanted", entry(l("a", "b"), nil, time.Minute), l("a"), l("b"), false, ""},
		{"repeat", entry(l("a"), nil, 4*time.Hour), l("a"), nil, true, ReasonRepeat},
		{"not yet repeat", entry(l("a"), nil, 4*time.Hour-time.Second), l("a"), nil, true, ""},
	}
	for _, tt := range tests {
		if got := needsUpdate(tt.prev, tt.firing, tt.res, tt.sendResolved, 4*time.Hour, now); got != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestCreateSilenceValidation(t *testing.T) {
	e := newEnv(t, nil, nil, "ops")
	for _, tt := range []struct {
		req  SilenceRequest
		want string
	}{
		{SilenceRequest{EndsAt: t0.Add(time.Hour)}, "at least one matcher"},
		{SilenceRequest{Matchers: []string{"nonsense"}, EndsAt: t0.Add(time.Hour)}, "invalid matcher"},
		{SilenceRequest{Matchers: []string{`a=~"("`}, EndsAt: t0.Add(time.Hour)}, "invalid matcher"},
		{SilenceRequest{Matchers: []string{`a="b"`}}, "ends is required"},
		{SilenceRequest{Matchers: []string{`a="b"`}, StartsAt: t0.Add(time.Hour), EndsAt: t0.Add(time.Minute)}, "ends must be after starts"},
		{SilenceRequest{Matchers: []string{`a="b"`}, StartsAt: t0.Add(-time.Hour), EndsAt: t0.Add(-time.Minute)}, "in the future"},
	} {
		_, err := e.n.CreateSilence(ctx, tt.req)
		if err == nil || !strings.Contains(err.Error(), tt.want) || !errors.Is(err, ErrInvalid) {
			t.Errorf("CreateSilence(%+v) = %v, want ErrInvalid naming %q", tt.req, err, tt.want)
		}
	}
}

// ctxStore refuses writes with a cancelled context, as DuckDB does.
type ctxStore struct{ state.NotifyStore }

func (s ctxStore) SaveNotificationLog(ctx context.Context, e state.NotificationLog) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.NotifyStore.SaveNotificationLog(ctx, e)
}

// TestLogSavedAsServerStops checks that a notification delivered just as
// the server stops is still logged, so that the next start does not send
// it again.
func TestLogSavedAsServerStops(t *testing.T) {
	store := ctxStore{newMemStore()}
	n := New(Options{Store: store})
	if err := n.load(ctx); err != nil {
		t.Fatal(err)
	}
	stopping, cancel := context.WithCancel(ctx)
	cancel()
	e := state.NotificationLog{GroupKey: gAPI, Channel: "ops", Firing: []string{"a"}, SentAt: t0}
	n.saveLog(stopping, logKey(e.GroupKey, e.Channel), e)
	logs, err := store.NotificationLogs(ctx)
	if err != nil || len(logs) != 1 || logs[0].GroupKey != gAPI {
		t.Fatalf("logs after a save with a cancelled context = %+v, %v; want the entry", logs, err)
	}
}
