package issues

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/fibinc/telltale/internal/state"
	statedb "github.com/fibinc/telltale/internal/state/duckdb"
	"github.com/fibinc/telltale/internal/telemetry"
)

type recorder struct {
	mu      sync.Mutex
	batches []*telemetry.Batch
	err     error
}

func (r *recorder) Append(_ context.Context, b *telemetry.Batch) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return r.err
	}
	r.batches = append(r.batches, b)
	return nil
}

type fixture struct {
	tr  *Tracker
	st  *statedb.Store
	rec *recorder
	now time.Time
}

func newFixture(t *testing.T, maxCached int) *fixture {
	t.Helper()
	st, err := statedb.Open(context.Background(), statedb.Options{Path: t.TempDir() + "/state.duckdb"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	p, err := st.CreateProject(context.Background(), "default", "")
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{st: st, rec: &recorder{}, now: time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)}
	f.tr, err = New(Options{State: st, Appender: f.rec, DefaultProjectID: p.ID, MaxCached: maxCached, Now: func() time.Time { return f.now }})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// goError is a sentry-go-shaped event of the bug in fn; msg varies per
// occurrence as real messages do.
func goError(fn, msg string, at time.Time) telemetry.ErrorEvent {
	yes := true
	return telemetry.ErrorEvent{
		Resource: telemetry.Resource{ServiceName: "fibfrontend"}, EventID: fmt.Sprintf("%032x", at.UnixNano()),
		Time: at, Platform: "go", Level: telemetry.LevelError, Source: telemetry.ErrorSourceSentry,
		Exceptions: []telemetry.Exception{{Type: "*errors.errorString", Value: msg, Frames: []telemetry.Frame{
			{Module: "main", Function: "main", AbsPath: "/app/main.go", Lineno: 10, InApp: &yes},
			{Module: "main", Function: fn, AbsPath: "/app/main.go", Lineno: 42, InApp: &yes},
		}}},
	}
}

func (f *fixture) append(t *testing.T, evs ...telemetry.ErrorEvent) []telemetry.ErrorEvent {
	t.Helper()
	b := &telemetry.Batch{Errors: evs}
	if err := f.tr.Append(context.Background(), b); err != nil {
		t.Fatalf("Append: %v", err)
	}
	if err := f.tr.Flush(context.Background()); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	return b.Errors
}

func (f *fixture) issue(t *testing.T, id int64) state.Issue {
	t.Helper()
	iss, err := f.st.Issue(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return iss
}

func TestGroupingIntoIssues(t *testing.T) {
	for _, maxCached := range []int{0, 1} { // 1: every lookup misses the cache
		t.Run(fmt.Sprintf("cache=%d", maxCached), func(t *testing.T) {
			f := newFixture(t, maxCached)
			t0 := f.now.Add(-time.Hour)
			evs := f.append(t,
				goError("debit", "user 42 has insufficient credit", t0),
				goError("debit", "user 7 has insufficient credit", t0.Add(time.Minute)),
				goError("price", "pricing unavailable", t0.Add(2*time.Minute)),
			)
			evs = append(evs, f.append(t, goError("debit", "user 9 has insufficient credit", t0.Add(3*time.Minute)))...)
			if evs[0].IssueID == 0 || evs[0].IssueID != evs[1].IssueID || evs[1].IssueID != evs[3].IssueID {
				t.Errorf("same bug in issues %d, %d, %d", evs[0].IssueID, evs[1].IssueID, evs[3].IssueID)
			}
			if evs[2].IssueID == evs[0].IssueID {
				t.Errorf("different bugs share issue %d", evs[0].IssueID)
			}
			for _, ev := range evs {
				if ev.GroupingVersion == "" || ev.GroupingHash == "" || ev.Grouping == "" || ev.Title == "" || ev.ProjectID == 0 {
					t.Errorf("event %s lacks grouping fields: %+v", ev.EventID, ev)
				}
			}
			iss := f.issue(t, evs[0].IssueID)
			if iss.TimesSeen != 3 || !iss.FirstSeen.Equal(t0) || !iss.LastSeen.Equal(t0.Add(3*time.Minute)) ||
				iss.Status != state.StatusUnresolved || iss.Substatus != state.SubstatusNew || iss.Service != "fibfrontend" {
				t.Errorf("issue = %+v", iss)
			}
		})
	}
}

func TestRegression(t *testing.T) {
	f := newFixture(t, 0)
	id := f.append(t, goError("debit", "no credit", f.now))[0].IssueID
	if _, err := f.tr.SetStatus(context.Background(), id, state.StatusResolved); err != nil {
		t.Fatal(err)
	}
	f.now = f.now.Add(time.Hour)
	f.append(t, goError("debit", "no credit", f.now))
	iss := f.issue(t, id)
	if iss.Status != state.StatusUnresolved || iss.Substatus != state.SubstatusRegressed || !iss.RegressedAt.Equal(f.now) {
		t.Errorf("after a new event: %s/%s regressed at %s", iss.Status, iss.Substatus, iss.RegressedAt)
	}

	// An ignored issue stays ignored but keeps counting.
	if _, err := f.tr.SetStatus(context.Background(), id, state.StatusIgnored); err != nil {
		t.Fatal(err)
	}
	f.append(t, goError("debit", "no credit", f.now))
	if iss := f.issue(t, id); iss.Status != state.StatusIgnored || iss.TimesSeen != 3 {
		t.Errorf("ignored issue: %s with %d events", iss.Status, iss.TimesSeen)
	}
	if _, err := f.tr.SetStatus(context.Background(), id, "done"); !errors.Is(err, ErrInvalid) {
		t.Errorf("SetStatus(done) = %v, want ErrInvalid", err)
	}
	if _, err := f.tr.SetStatus(context.Background(), 999, state.StatusResolved); !errors.Is(err, state.ErrNotFound) {
		t.Errorf("SetStatus(999) = %v, want ErrNotFound", err)
	}
}

func TestFailedAppendCountsNothing(t *testing.T) {
	f := newFixture(t, 0)
	f.rec.err = errors.New("disk full")
	b := &telemetry.Batch{Errors: []telemetry.ErrorEvent{goError("debit", "x", f.now)}}
	if err := f.tr.Append(context.Background(), b); err == nil {
		t.Fatal("Append succeeded")
	}
	f.tr.Flush(context.Background())
	if iss := f.issue(t, b.Errors[0].IssueID); iss.TimesSeen != 0 {
		t.Errorf("issue counts %d events that were not stored", iss.TimesSeen)
	}
}

const goStack = `goroutine 7 [running]:
runtime/debug.Stack()
	/usr/local/go/src/runtime/debug/stack.go:26 +0x5e
main.debit({0xc000012345, 0x2})
	/app/userstore/main.go:42 +0x1d
main.handler(0xc000010000)
	/app/userstore/main.go:30 +0x2a
net/http.HandlerFunc.ServeHTTP(0x0?, {0x0?, 0x0?}, 0x0?)
	/usr/local/go/src/net/http/server.go:2294 +0x29
`

func TestFromOpenTelemetry(t *testing.T) {
	f := newFixture(t, 0)
	res := telemetry.Resource{ServiceName: "userstore", Attributes: `{"telemetry.sdk.language":"go"}`}
	b := &telemetry.Batch{
		Spans: []telemetry.Span{
			{Resource: res, TraceID: "0af7651916cd43dd8448eb211c80319c", SpanID: "b7ad6b7169203331", Name: "GET /debit", Start: f.now,
				Attributes: `{"http.request.method":"GET","enduser.id":"u42"}`,
				Events: `[{"time":"2026-11-21T12:00:00.5Z","name":"exception","attributes":{"exception.type":"*errors.errorString",` +
					`"exception.message":"insufficient credit","exception.stacktrace":` + quote(goStack) + `}}]`},
			{Resource: res, TraceID: "0af7651916cd43dd8448eb211c80319c", SpanID: "b7ad6b7169203332", Start: f.now, Events: `[]`},
		},
		Logs: []telemetry.Log{
			{Resource: res, Time: f.now, Severity: telemetry.SeverityError, Body: "debit failed", TraceID: "0af7651916cd43dd8448eb211c80319c",
				Attributes: `{"exception.type":"CreditError","exception.message":"balance 3"}`},
			{Resource: res, Time: f.now, Severity: telemetry.SeverityWarn, Body: "slow", Attributes: `{"exception.type":"Timeout"}`},
			{Resource: res, Time: f.now, Severity: telemetry.SeverityError, Body: "plain error", Attributes: `{}`},
		},
	}
	if err := f.tr.Append(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	if len(b.Errors) != 2 {
		t.Fatalf("%d error events, want 2: %+v", len(b.Errors), b.Errors)
	}
	span, log := b.Errors[0], b.Errors[1]
	ex := span.MainException()
	if span.Source != telemetry.ErrorSourceSpan || span.Platform != "go" || span.SpanID != "b7ad6b7169203331" || span.User.ID != "u42" ||
		ex.Type != "*errors.errorString" || ex.Value != "insufficient credit" || ex.RawStacktrace != goStack {
		t.Errorf("span error event = %+v", span)
	}
	var funcs []string
	for _, fr := range ex.Frames {
		funcs = append(funcs, fr.Module+"."+fr.Function)
	}
	var lastApp string
	for _, fr := range ex.Frames {
		if fr.InApp != nil && *fr.InApp {
			lastApp = fr.Module + "." + fr.Function
		}
	}
	if len(ex.Frames) < 3 || lastApp != "main.debit" {
		t.Errorf("frames = %v, want main.debit as the last in-app frame, got %q", funcs, lastApp)
	}
	if span.Culprit == "" || span.IssueID == 0 {
		t.Errorf("span event not grouped: culprit %q issue %d", span.Culprit, span.IssueID)
	}
	if log.Source != telemetry.ErrorSourceLog || log.Message != "debit failed" || log.MainException().Type != "CreditError" || log.IssueID == span.IssueID {
		t.Errorf("log error event = %+v", log)
	}
	// A retried export gives the same event ids.
	again := &telemetry.Batch{Spans: b.Spans[:1]}
	f.tr.Append(context.Background(), again)
	if again.Errors[0].EventID != span.EventID {
		t.Errorf("event id changed on retry: %s then %s", span.EventID, again.Errors[0].EventID)
	}
}

// TestRemoteCauseSplitsIssues: two errors raised on the same line of a
// caller, one caused by pricing and one by userstore, are two issues,
// because the kit names the remote root cause and its stack.
func TestRemoteCauseSplitsIssues(t *testing.T) {
	f := newFixture(t, 0)
	res := telemetry.Resource{ServiceName: "fibfrontend", Attributes: `{"telemetry.sdk.language":"go"}`}
	span := func(id, causeService, causeMsg, causeFunc string) telemetry.Span {
		causeStack := "goroutine 7 [running]:\nmain." + causeFunc + "(...)\n\t/src/" + causeService + "/main.go:40 +0x1d\n"
		return telemetry.Span{Resource: res, TraceID: "0af7651916cd43dd8448eb211c8031" + id, SpanID: "b7ad6b71692033" + id, Name: "GET /{n}", Start: f.now,
			Events: `[{"time":"2026-11-21T12:00:00.5Z","name":"exception","attributes":{"exception.type":"*kit.RemoteError",` +
				`"exception.message":"cannot do it","exception.stacktrace":` + quote(goStack) + `,` +
				`"exception.cause.service":"` + causeService + `","exception.cause.type":"*errors.errorString",` +
				`"exception.cause.message":"` + causeMsg + `","exception.cause.stacktrace":` + quote(causeStack) + `}}]`}
	}
	b := &telemetry.Batch{Spans: []telemetry.Span{
		span("01", "pricing", "unknown log level", "parseLevel"),
		span("02", "userstore", "insufficient credit", "debit"),
		span("03", "pricing", "unknown log level", "parseLevel"),
	}}
	if err := f.tr.Append(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	if len(b.Errors) != 3 {
		t.Fatalf("%d error events, want 3", len(b.Errors))
	}
	pricing, userstore, again := b.Errors[0], b.Errors[1], b.Errors[2]
	if pricing.IssueID == userstore.IssueID || again.IssueID != pricing.IssueID {
		t.Errorf("issues %d, %d, %d: want the pricing causes together and userstore's apart", pricing.IssueID, userstore.IssueID, again.IssueID)
	}
	// The cause comes first, Sentry's order; the title stays the caller's.
	if n := len(pricing.Exceptions); n != 2 {
		t.Fatalf("%d exceptions, want the cause and the error", n)
	}
	cause := pricing.Exceptions[0]
	if cause.Module != "pricing" || cause.Value != "unknown log level" || cause.Mechanism.Type != "remote" || len(cause.Frames) == 0 ||
		cause.Frames[len(cause.Frames)-1].Function != "parseLevel" {
		t.Errorf("cause = %+v", cause)
	}
	if pricing.MainException().Type != "*kit.RemoteError" {
		t.Errorf("main exception %+v", pricing.MainException())
	}
}

func quote(s string) string {
	b := []byte{'"'}
	for _, r := range s {
		switch r {
		case '\n':
			b = append(b, `\n`...)
		case '\t':
			b = append(b, `\t`...)
		case '"':
			b = append(b, `\"`...)
		default:
			b = append(b, string(r)...)
		}
	}
	return string(append(b, '"'))
}

func BenchmarkAssign(b *testing.B) {
	st, err := statedb.Open(context.Background(), statedb.Options{Path: b.TempDir() + "/state.duckdb"})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	p, _ := st.CreateProject(context.Background(), "default", "")
	tr, _ := New(Options{State: st, Appender: &recorder{}, DefaultProjectID: p.ID})
	now := time.Now()
	batch := make([]telemetry.ErrorEvent, 100)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		for j := range batch {
			batch[j] = goError(fmt.Sprintf("fn%d", j%20), fmt.Sprintf("failure %d", i), now)
		}
		if err := tr.Assign(context.Background(), batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(batch))/b.Elapsed().Seconds(), "events/s")
}
