package uptime

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	sentrygo "github.com/getsentry/sentry-go"

	"github.com/fibinc/telltale/internal/config"
	"github.com/fibinc/telltale/internal/ingest/sentryhttp"
	"github.com/fibinc/telltale/internal/state"
	statedb "github.com/fibinc/telltale/internal/state/duckdb"
	"github.com/fibinc/telltale/internal/telemetry"
)

func openStore(t *testing.T) *statedb.Store {
	t.Helper()
	st, err := statedb.Open(context.Background(), statedb.Options{Path: t.TempDir() + "/state.duckdb"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// waitFor polls cond until it holds or 10 seconds pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func statusOf(r *Runner, name string) CheckStatus {
	st, _ := r.Check(name)
	return st
}

// TestRunnerUpDownUp runs an HTTP check and a TCP check against real
// servers that go down and come back, and finds every result in the store.
func TestRunnerUpDownUp(t *testing.T) {
	var down atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	st := openStore(t)
	r := New(Options{Store: st})
	iv := config.Duration(20 * time.Millisecond)
	r.SetChecks([]config.Check{
		{Name: "web", Type: config.CheckHTTP, URL: srv.URL, Interval: iv},
		{Name: "port", Type: config.CheckTCP, Address: srv.Listener.Addr().String(), Interval: iv},
		{Name: "job", Type: config.CheckPush, Interval: config.Duration(time.Hour)},
	}, nil)
	if got := statusOf(r, "web").Status; got != StatusPending {
		t.Errorf("before the first run: %s, want pending", got)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- r.Run(ctx) }()

	waitFor(t, "web up", func() bool { return statusOf(r, "web").Status == StatusUp })
	down.Store(true)
	waitFor(t, "web down", func() bool { return statusOf(r, "web").Status == StatusDown })
	if e := statusOf(r, "web").Last.Error; !strings.Contains(e, "[STATUS] (503)") {
		t.Errorf("down error %q", e)
	}
	down.Store(false)
	waitFor(t, "web up again", func() bool { return statusOf(r, "web").Status == StatusUp })
	waitFor(t, "port up", func() bool { return statusOf(r, "port").Status == StatusUp })
	if got := statusOf(r, "job").Status; got != StatusPending {
		t.Errorf("push check without pushes: %s", got)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// Stopped: every result was flushed, in order, down ones among them.
	res, err := st.CheckResults(context.Background(), "web", time.Time{}, time.Time{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	var ups, downs int
	for i, x := range res {
		if x.OK {
			ups++
		} else {
			downs++
		}
		if i > 0 && x.At.Before(res[i-1].At) {
			t.Errorf("results out of order at %d", i)
		}
	}
	if ups < 2 || downs < 1 {
		t.Errorf("stored %d up and %d down results of web", ups, downs)
	}
	latest, _ := st.LatestCheckResults(context.Background())
	if latest["port"].Source != SourceProbe || !latest["port"].OK {
		t.Errorf("latest port %+v", latest["port"])
	}
	// A new Runner over the same store shows the latest results at once.
	r2 := New(Options{Store: st})
	r2.SetChecks([]config.Check{{Name: "web", URL: srv.URL, Interval: config.Duration(time.Hour)}}, nil)
	ctx2, cancel2 := context.WithCancel(context.Background())
	go func() { done <- r2.Run(ctx2) }()
	waitFor(t, "latest loaded", func() bool { return !statusOf(r2, "web").Last.At.IsZero() })
	cancel2()
	<-done
}

func TestSetChecks(t *testing.T) {
	now := t0
	r := New(Options{Now: func() time.Time { return now }})
	checks := []config.Check{
		{Name: "a", URL: "http://127.0.0.1:1/", Interval: config.Duration(time.Hour), Line: 3},
		{Name: "b", URL: "http://127.0.0.1:1/", Interval: config.Duration(time.Hour)},
		{Name: "job", Type: config.CheckPush, Interval: config.Duration(time.Hour), Labels: map[string]string{"team": "x"}},
	}
	r.SetChecks(checks, nil)
	if err := r.Push(context.Background(), "job", "", PushResult{OK: true}); err != nil {
		t.Fatal(err)
	}
	a, b, job := r.checks["a"], r.checks["b"], r.checks["job"]
	deadline := job.deadline

	now = now.Add(time.Minute)
	checks[0].Line = 10 // moved in the file: unchanged
	checks[1].Interval = config.Duration(time.Minute)
	r.SetChecks([]config.Check{checks[1], checks[0], checks[2]}, nil)
	if r.checks["a"] != a || r.checks["job"] != job || r.checks["job"].deadline != deadline {
		t.Error("unchanged checks were restarted")
	}
	if r.checks["b"] == b || r.checks["b"].c.cfg.Interval.D() != time.Minute {
		t.Error("changed check kept its old state")
	}
	if got := names(r.Checks()); got != "b,a,job" {
		t.Errorf("order %s", got)
	}
	r.SetChecks(checks[1:2], nil)
	if got := names(r.Checks()); got != "b" {
		t.Errorf("after removal %s", got)
	}
	if _, ok := r.Check("a"); ok {
		t.Error("removed check still there")
	}
	// A bad check is skipped, the others run.
	r.SetChecks([]config.Check{{Name: "bad", URL: "x", Conditions: []string{"[NOPE] == 1"}}, checks[0]}, nil)
	if got := names(r.Checks()); got != "a" {
		t.Errorf("with a bad check %s", got)
	}
}

func names(cs []CheckStatus) string {
	var s []string
	for _, c := range cs {
		s = append(s, c.Check.Name)
	}
	return strings.Join(s, ",")
}

func TestMaintenanceStatus(t *testing.T) {
	now := t0
	r := New(Options{Now: func() time.Time { return now }})
	m, _ := config.ParseMatcher(`check="a"`)
	r.SetChecks([]config.Check{{Name: "a", URL: "http://x/"}, {Name: "b", URL: "http://x/"}},
		[]config.Maintenance{{Name: "w", Matchers: []config.Matcher{m}, From: t0, To: t0.Add(time.Hour)}})
	if s := statusOf(r, "a").Status; s != StatusMaintenance {
		t.Errorf("a: %s", s)
	}
	if s := statusOf(r, "b").Status; s != StatusPending {
		t.Errorf("b: %s", s)
	}
	r.record("b", state.CheckResult{Check: "b", At: now, OK: true})
	if s := statusOf(r, "b").Status; s != StatusUp {
		t.Errorf("b after a result: %s", s)
	}
	now = now.Add(10 * time.Minute) // two intervals and more: the checks are not running
	if s := statusOf(r, "b").Status; s != StatusUnknown {
		t.Errorf("b much later: %s", s)
	}
}

func TestPush(t *testing.T) {
	ctx := context.Background()
	now := t0
	st := openStore(t)
	r := New(Options{Store: st, Now: func() time.Time { return now }})
	r.SetChecks([]config.Check{
		{Name: "backup", Type: config.CheckPush, Interval: config.Duration(24 * time.Hour), Grace: config.Duration(30 * time.Minute), Token: "s3cret"},
		{Name: "open", Type: config.CheckPush, Interval: config.Duration(time.Hour)},
		{Name: "web", URL: "http://127.0.0.1:1/"},
	}, nil)
	for _, tt := range []struct {
		name, token string
		want        error
	}{
		{"backup", "wrong", ErrBadToken}, {"backup", "", ErrBadToken}, {"backup", "s3cret!", ErrBadToken},
		{"nope", "s3cret", ErrUnknownCheck}, {"web", "", ErrNotPush},
		{"backup", "s3cret", nil}, {"open", "", nil}, {"open", "anything", nil},
	} {
		if err := r.Push(ctx, tt.name, tt.token, PushResult{OK: true}); !errors.Is(err, tt.want) {
			t.Errorf("Push(%s, %q) = %v, want %v", tt.name, tt.token, err, tt.want)
		}
	}
	now = now.Add(time.Hour)
	if err := r.Push(ctx, "backup", "s3cret", PushResult{Message: "disk full", Duration: 3 * time.Second}); err != nil {
		t.Fatal(err)
	}
	if l := statusOf(r, "backup").Last; l.OK || l.Error != "disk full" || l.Duration != 3*time.Second || l.Source != SourcePush {
		t.Errorf("failed push: %+v", l)
	}
	last := now
	// No push for 24h30m after the last one: one missed result, once.
	for _, d := range []time.Duration{time.Hour, 24 * time.Hour, 24*time.Hour + 29*time.Minute} {
		r.sweepPush(last.Add(d))
	}
	if l := statusOf(r, "backup").Last; l.Source != SourcePush {
		t.Errorf("missed too early: %+v", l)
	}
	now = last.Add(24*time.Hour + 31*time.Minute)
	r.sweepPush(now)
	r.sweepPush(now.Add(time.Minute))
	l := statusOf(r, "backup").Last
	if l.Source != SourceMissed || l.OK || l.Error != "no heartbeat in 24h30m" || !l.At.Equal(last.Add(24*time.Hour+30*time.Minute)) {
		t.Errorf("missed: %+v", l)
	}
	// Another period without a push: a second missed result.
	r.sweepPush(last.Add(48*time.Hour + 31*time.Minute))
	r.Flush(ctx)
	res, err := st.CheckResults(ctx, "backup", time.Time{}, time.Time{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, x := range res {
		got = append(got, fmt.Sprintf("%s %v %s", x.Source, x.OK, x.At.Sub(t0)))
	}
	want := "push true 0s|push false 1h0m0s|missed false 25h30m0s|missed false 49h30m0s"
	if strings.Join(got, "|") != want {
		t.Errorf("stored\n %s\nwant\n %s", strings.Join(got, "|"), want)
	}
	// A push moves the deadline.
	now = last.Add(50 * time.Hour)
	r.Push(ctx, "backup", "s3cret", PushResult{OK: true})
	r.sweepPush(now.Add(24 * time.Hour))
	if l := statusOf(r, "backup").Last; l.Source != SourcePush || !l.OK {
		t.Errorf("after a push: %+v", l)
	}
}

// appender takes the Sentry handler's batches.
type appender struct {
	mu   sync.Mutex
	logs []telemetry.Log
}

func (a *appender) Append(_ context.Context, b *telemetry.Batch) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.logs = append(a.logs, b.Logs...)
	return nil
}

// TestSentryCheckIns sends check-ins with a real sentry-go client to the
// Sentry ingest handler, wired to a Runner.
func TestSentryCheckIns(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	proj, err := st.CreateProject(ctx, "fib", "FibPro")
	if err != nil {
		t.Fatal(err)
	}
	now := t0
	r := New(Options{Store: st, Now: func() time.Time { return now }})
	r.SetChecks([]config.Check{{Name: "nightly-backup", Type: config.CheckPush, Interval: config.Duration(24 * time.Hour)}}, nil)
	app := &appender{}
	var unknown atomic.Int32
	h := sentryhttp.New(sentryhttp.Options{
		Appender: app, Projects: st,
		CheckIns: func(ctx context.Context, slug, status string, d time.Duration, at time.Time) {
			if err := r.CheckIn(ctx, slug, status, d, at); errors.Is(err, ErrUnknownCheck) {
				unknown.Add(1)
			}
		},
	})
	srv := httptest.NewServer(h)
	defer srv.Close()
	dsn := strings.Replace(srv.URL, "http://", "http://"+proj.PublicKey+"@", 1) + fmt.Sprintf("/%d", proj.ID)
	client, err := sentrygo.NewClient(sentrygo.ClientOptions{Dsn: dsn})
	if err != nil {
		t.Fatal(err)
	}
	hub := sentrygo.NewHub(client, sentrygo.NewScope())
	send := func(slug string, status sentrygo.CheckInStatus, d time.Duration) {
		hub.CaptureCheckIn(&sentrygo.CheckIn{MonitorSlug: slug, Status: status, Duration: d}, nil)
		if !client.Flush(5 * time.Second) {
			t.Fatal("sentry client did not flush")
		}
	}

	send("nightly-backup", sentrygo.CheckInStatusInProgress, 0)
	if l := statusOf(r, "nightly-backup").Last; !l.At.IsZero() {
		t.Errorf("in_progress recorded: %+v", l)
	}
	send("nightly-backup", sentrygo.CheckInStatusOK, 90*time.Second)
	waitFor(t, "ok check-in", func() bool { return statusOf(r, "nightly-backup").Last.OK })
	if l := statusOf(r, "nightly-backup").Last; l.Source != SourceCheckIn || l.Duration != 90*time.Second {
		t.Errorf("ok check-in: %+v", l)
	}
	now = now.Add(time.Hour)
	send("nightly-backup", sentrygo.CheckInStatusError, time.Second)
	waitFor(t, "error check-in", func() bool { return !statusOf(r, "nightly-backup").Last.OK })
	if l := statusOf(r, "nightly-backup").Last; l.Error != "check-in status error" {
		t.Errorf("error check-in: %+v", l)
	}
	send("other-job", sentrygo.CheckInStatusOK, 0)
	if unknown.Load() != 1 {
		t.Errorf("%d check-ins for unknown monitors, want 1", unknown.Load())
	}
	// The handler's own log records are kept.
	app.mu.Lock()
	n := len(app.logs)
	app.mu.Unlock()
	if n != 4 {
		t.Errorf("%d check-in log records, want 4", n)
	}
	if err := r.CheckIn(ctx, "nightly-backup", "bogus", 0, time.Time{}); err == nil {
		t.Error("unknown status accepted")
	}
}

// TestReportFromStore stores results and reads a report back through the
// Runner, with a maintenance window that selects the check by label.
func TestReportFromStore(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	now := t0.Add(time.Hour)
	r := New(Options{Store: st, Now: func() time.Time { return now }})
	m, _ := config.ParseMatcher(`team="checkout"`)
	r.SetChecks([]config.Check{{Name: "c", URL: "http://x/", Interval: config.Duration(time.Minute), Labels: map[string]string{"team": "checkout"}}},
		[]config.Maintenance{{Name: "deploy", Matchers: []config.Matcher{m}, From: t0.Add(50 * time.Minute), To: t0.Add(70 * time.Minute)}})
	res := series(t0.Add(-time.Minute), 61, time.Minute, func(i int) bool { return i == 5 })
	if err := st.AddCheckResults(ctx, res); err != nil {
		t.Fatal(err)
	}
	rep, err := r.Report(ctx, "c", t0, t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	want := Seconds{Up: 49 * 60, Down: 60, Maintenance: 600}
	if !closeSeconds(rep.Seconds, want) || rep.Results != 60 || len(rep.Downtimes) != 1 {
		t.Errorf("report %+v, want %+v", rep, want)
	}
	if _, err := r.Report(ctx, "nope", t0, now); !errors.Is(err, ErrUnknownCheck) {
		t.Errorf("unknown check: %v", err)
	}
	if _, err := r.Report(ctx, "c", now, t0); !errors.Is(err, ErrInvalidRange) {
		t.Errorf("reversed range: %v", err)
	}
}

func TestSummary(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	now := time.Date(2026, 11, 20, 12, 30, 0, 0, time.UTC)
	r := New(Options{Store: st, Now: func() time.Time { return now }})
	r.SetChecks([]config.Check{{Name: "c", URL: "http://x/", Interval: config.Duration(time.Hour)}}, nil)
	// Hourly results for 10 days, failing from 2 days ago for 12 hours.
	start := now.Add(-10 * 24 * time.Hour)
	res := series(start, 240, time.Hour, func(i int) bool { return i >= 192 && i < 204 })
	if err := st.AddCheckResults(ctx, res); err != nil {
		t.Fatal(err)
	}
	s, err := r.Summary(ctx, "c")
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Days) != 90 || !s.Days[89].Start.Equal(time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)) || len(s.Hours) != 24 {
		t.Fatalf("%d days (last %v), %d hours", len(s.Days), s.Days[len(s.Days)-1].Start, len(s.Hours))
	}
	if d := s.Days[0]; d.HasData {
		t.Errorf("day 1 of 90 has data: %+v", d)
	}
	if u := s.Uptime("24h"); !u.HasData || u.Uptime != 100 {
		t.Errorf("24h %+v", u)
	}
	// 7 days: 12 hours down.
	if u := s.Uptime("7d"); math.Abs(u.Uptime-100*(7*24-12)/(7*24.0)) > 1e-9 {
		t.Errorf("7d %+v", u)
	}
	// The cached summary is reused within a minute, recomputed after.
	st.AddCheckResults(ctx, []state.CheckResult{{Check: "c", At: now, OK: false, Source: SourceProbe}})
	now = now.Add(30 * time.Second)
	if s2, _ := r.Summary(ctx, "c"); s2 != s {
		t.Error("summary recomputed within its TTL")
	}
	now = now.Add(time.Minute)
	if s2, _ := r.Summary(ctx, "c"); s2 == s || s2.Uptime("24h").Uptime == 100 {
		t.Error("summary not recomputed after its TTL")
	}
	if _, err := r.Summary(ctx, "nope"); !errors.Is(err, ErrUnknownCheck) {
		t.Errorf("unknown: %v", err)
	}
}

// BenchmarkSummary90dStore reads 90 days of a 30 s check (259,200 stored
// results) from the state store and computes its summary, uncached.
func BenchmarkSummary90dStore(b *testing.B) {
	ctx := context.Background()
	st, err := statedb.Open(ctx, statedb.Options{Path: b.TempDir() + "/state.duckdb"})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	now := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	res := series(now.AddDate(0, 0, -90), 90*2880, 30*time.Second, func(i int) bool { return i%1000 < 3 })
	for i := 0; i < len(res); i += 20000 {
		if err := st.AddCheckResults(ctx, res[i:min(i+20000, len(res))]); err != nil {
			b.Fatal(err)
		}
	}
	clock := now
	r := New(Options{Store: st, Now: func() time.Time { return clock }})
	r.SetChecks([]config.Check{{Name: "c", URL: "http://x/", Interval: config.Duration(30 * time.Second)}}, nil)
	b.ResetTimer()
	for range b.N {
		clock = clock.Add(summaryTTL) // defeat the cache
		if _, err := r.Summary(ctx, "c"); err != nil {
			b.Fatal(err)
		}
	}
}
