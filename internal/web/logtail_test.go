package web

import (
	"bufio"
	"context"
	"errors"
	"html/template"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/fibinc/telltale/internal/telemetry"
)

// sseEvent is one server-sent event as a browser would see it.
type sseEvent struct {
	name, id, data string
	comments       []string
}

// tailClient reads a live tail over a real connection.
type tailClient struct {
	resp   *http.Response
	events chan sseEvent
	done   chan error // the stream's end: io.EOF or the read error
	cancel context.CancelFunc
}

// newTailServer serves a tailer over fq on a real HTTP server.
func newTailServer(t *testing.T, fq *fakeQueries, opt tailOptions) (*httptest.Server, *tailer) {
	t.Helper()
	s := &server{opt: Options{Query: fq, Now: func() time.Time { return now }, MaxRange: 31 * 24 * time.Hour, Logger: slog.New(slog.DiscardHandler)},
		pages: map[string]*template.Template{}, log: slog.New(slog.DiscardHandler)}
	if err := s.parseTemplates(); err != nil {
		t.Fatal(err)
	}
	tl := newTailer(s, opt)
	srv := httptest.NewServer(tl)
	t.Cleanup(srv.Close)
	return srv, tl
}

func openTail(t *testing.T, srv *httptest.Server, query string, header http.Header) *tailClient {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/logs/tail?"+query, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	c := &tailClient{resp: resp, events: make(chan sseEvent, 100), done: make(chan error, 1), cancel: cancel}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return c
	}
	go func() {
		defer resp.Body.Close()
		r := bufio.NewReader(resp.Body)
		var ev sseEvent
		var data []string
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				c.done <- err
				close(c.events)
				return
			}
			line = strings.TrimSuffix(line, "\n")
			switch {
			case line == "":
				ev.data = strings.Join(data, "\n")
				c.events <- ev
				ev, data = sseEvent{}, nil
			case strings.HasPrefix(line, ":"):
				ev.comments = append(ev.comments, line)
			case strings.HasPrefix(line, "event: "):
				ev.name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "id: "):
				ev.id = strings.TrimPrefix(line, "id: ")
			case strings.HasPrefix(line, "data: "):
				data = append(data, strings.TrimPrefix(line, "data: "))
			}
		}
	}()
	return c
}

// next returns the next event that is not only a comment.
func (c *tailClient) next(t *testing.T) sseEvent {
	t.Helper()
	for {
		select {
		case ev, ok := <-c.events:
			if !ok {
				t.Fatal("the stream ended")
			}
			if ev.name != "" {
				return ev
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no event in 10s")
		}
	}
}

// waitFor polls cond until it holds, failing after 10s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func TestTailStreams(t *testing.T) {
	fq := logFleet() // records up to now-30s, which the page shows already
	srv, tl := newTailServer(t, fq, tailOptions{Poll: 10 * time.Millisecond})
	c := openTail(t, srv, "from=now-15m&q="+url.QueryEscape("-cache"), nil)
	if c.resp.StatusCode != 200 || c.resp.Header.Get("Content-Type") != "text/event-stream; charset=utf-8" {
		t.Fatalf("status %d, content type %q", c.resp.StatusCode, c.resp.Header.Get("Content-Type"))
	}
	// Let the first poll pass, so that what follows arrives "later".
	waitFor(t, "two polls", func() bool { return fq.calls() >= 2 })

	// Two records at the same time, one that does not match, one late (a
	// bit older than the newest seen), and one that could not be XSS.
	a := logRecord("api", -time.Second, telemetry.SeverityInfo, "first new")
	b := logRecord("api", -time.Second, telemetry.SeverityWarn, "second new, same time")
	skip := logRecord("api", -time.Second, telemetry.SeverityInfo, "cache miss")
	fq.addLogs(a, b, skip)
	got := []sseEvent{c.next(t), c.next(t)}
	late := logRecord("api", 5*time.Second, telemetry.SeverityInfo, "late\r\nwith "+xssScript)
	fq.addLogs(late)
	got = append(got, c.next(t))
	fq.addLogs(logRecord("api", -2*time.Second, telemetry.SeverityError, "sentinel"))
	got = append(got, c.next(t))

	// The two with the same time come in either order.
	if strings.Contains(got[0].data, "second new") {
		got[0], got[1] = got[1], got[0]
	}
	for i, want := range []string{"first new", "second new, same time", "late&#13;\nwith &lt;script&gt;alert(1)&lt;/script&gt;", "sentinel"} {
		ev := got[i]
		if ev.name != "log" || !strings.Contains(ev.data, want) || !strings.HasPrefix(ev.data, `<tr class="log `) {
			t.Errorf("event %d = %+v, want a row with %q", i, ev, want)
		}
		if strings.Contains(ev.data, "<script>") {
			t.Errorf("event %d holds a script: %s", i, ev.data)
		}
	}
	if got[0].id != "2026-05-04T10:00:01.000000000Z" || got[2].id != "2026-05-04T09:59:55.000000000Z" {
		t.Errorf("event id %q, want the record's time", got[0].id)
	}
	// Rows are the page's rows: links kept the tail's frame.
	if !strings.Contains(got[0].data, `<a class="service-link" href="/services/api?from=now-15m">api</a>`) {
		t.Errorf("row without its service link: %s", got[0].data)
	}
	// Nothing was sent twice, nor the non-matching record, nor anything
	// the page had (the fleet's records).
	for i := 0; i < 3; i++ {
		n := fq.calls()
		waitFor(t, "another poll", func() bool { return fq.calls() > n })
	}
	for drained := false; !drained; {
		select {
		case ev := <-c.events:
			if ev.name != "" {
				t.Errorf("unexpected event %+v", ev)
			}
		default:
			drained = true
		}
	}
	// A client that goes away ends the handler, which frees its slot.
	c.cancel()
	waitFor(t, "the tail to end", func() bool { return len(tl.slots) == 0 })
}

func TestTailSince(t *testing.T) {
	fq := logFleet()
	srv, _ := newTailServer(t, fq, tailOptions{Poll: 10 * time.Millisecond})
	// Since 09:57: the newer records of the fleet come, oldest first.
	c := openTail(t, srv, "since="+url.QueryEscape("2026-05-04T09:57:00Z"), nil)
	for _, want := range []string{"charged", "payment failed"} {
		if ev := c.next(t); !strings.Contains(ev.data, want) {
			t.Errorf("event %+v, want %q", ev, want)
		}
	}
	// A reconnecting browser says where it was; that wins over since.
	c2 := openTail(t, srv, "since="+url.QueryEscape("2026-05-04T09:57:00Z"), http.Header{"Last-Event-Id": {"2026-05-04T09:58:00Z"}})
	if ev := c2.next(t); !strings.Contains(ev.data, "payment failed") {
		t.Errorf("after Last-Event-ID: %+v", ev)
	}
}

func TestTailLimits(t *testing.T) {
	fq := logFleet()
	srv, tl := newTailServer(t, fq, tailOptions{Poll: 10 * time.Millisecond, MaxTails: 2, Heartbeat: 20 * time.Millisecond})
	c1 := openTail(t, srv, "", nil)
	c2 := openTail(t, srv, "", nil)
	c3 := openTail(t, srv, "", nil)
	if c1.resp.StatusCode != 200 || c2.resp.StatusCode != 200 || c3.resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("statuses %d %d %d, want 200 200 429", c1.resp.StatusCode, c2.resp.StatusCode, c3.resp.StatusCode)
	}
	if c3.resp.Header.Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
	// Heartbeats keep idle streams open.
	waitFor(t, "a heartbeat", func() bool {
		ev := <-c1.events
		return len(ev.comments) > 0 && ev.comments[0] == ": keep-alive"
	})
	// A client that goes away frees its slot for another.
	c1.cancel()
	waitFor(t, "a free slot", func() bool { return len(tl.slots) == 1 })
	if c4 := openTail(t, srv, "", nil); c4.resp.StatusCode != 200 {
		t.Errorf("after a client left: status %d", c4.resp.StatusCode)
	}
	c2.cancel()

	for target, want := range map[string]string{
		"q=" + url.QueryEscape("level:loud"):    "bad filter: at 0: unknown level",
		"since=yesterday":                       "since: \"yesterday\" is not an RFC 3339 time",
		"q=" + url.QueryEscape(`"unterminated`): "bad filter: at 0: unterminated quote",
	} {
		resp, err := http.Get(srv.URL + "/logs/tail?" + target)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 400 || !strings.Contains(string(body), want) {
			t.Errorf("%s: %d %q, want 400 %q", target, resp.StatusCode, body, want)
		}
	}
}

func TestTailEnds(t *testing.T) {
	fq := logFleet()
	srv, tl := newTailServer(t, fq, tailOptions{Poll: 10 * time.Millisecond, MaxDuration: 200 * time.Millisecond})
	c := openTail(t, srv, "", nil)
	ev := c.next(t)
	if ev.name != "end" || !strings.Contains(ev.data, "stops after 200ms") {
		t.Errorf("event %+v, want the end", ev)
	}
	select {
	case err := <-c.done:
		if !errors.Is(err, io.EOF) {
			t.Errorf("stream ended with %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the stream did not end")
	}
	waitFor(t, "the slot to be freed", func() bool { return len(tl.slots) == 0 })
}

func TestTailGap(t *testing.T) {
	fq := logFleet()
	srv, _ := newTailServer(t, fq, tailOptions{Poll: 10 * time.Millisecond, Batch: 2})
	c := openTail(t, srv, "", nil)
	waitFor(t, "two polls", func() bool { return fq.calls() >= 2 })
	for i := range 5 {
		fq.addLogs(logRecord("api", -time.Duration(i+1)*time.Second, telemetry.SeverityInfo, "burst"))
	}
	if ev := c.next(t); ev.name != "gap" || !strings.Contains(ev.data, "More than 2 records") {
		t.Errorf("event %+v, want a gap", ev)
	}
	for range 2 {
		if ev := c.next(t); ev.name != "log" {
			t.Errorf("event %+v, want a record", ev)
		}
	}
}

// TestTailRoute checks that the dashboard serves the tail.
func TestTailRoute(t *testing.T) {
	srv := httptest.NewServer(newServer(t, logFleet()))
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/logs/tail?q=payment", nil)
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if resp.StatusCode != 200 || err != nil || line != ": live tail of \"payment\"\n" {
		t.Errorf("status %d, first line %q, %v", resp.StatusCode, line, err)
	}
}
