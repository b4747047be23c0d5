package web

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/fibinc/telltale/internal/query"
)

// tailOptions bound the live tails of the logs page. The zero value gives
// the defaults.
type tailOptions struct {
	// Poll is how often a tail asks the store for new records. Default 1s.
	Poll time.Duration
	// Heartbeat is how often an idle stream sends a comment, so that
	// proxies and browsers keep it open. Default 15s.
	Heartbeat time.Duration
	// MaxDuration ends a tail; the page offers to start it again. Default
	// 30m, so that forgotten tabs do not poll forever.
	MaxDuration time.Duration
	// Late is how far before the newest record seen a poll looks, to catch
	// records stored after newer ones (exporters batch, clocks differ).
	// Default 15s.
	Late time.Duration
	// MaxTails is the most tails open at once; more are refused with 429.
	// Default 16: each polls the store every second.
	MaxTails int
	// Batch is the most records a poll reads. Default 500; a tail that
	// falls further behind says it skipped some.
	Batch int
}

// tailFuture is how far after now a poll looks, for clocks that run ahead.
const tailFuture = 5 * time.Minute

// tailFailures is how many polls in a row may fail before a tail gives up.
const tailFailures = 5

// tailer serves /logs/tail: the records matching a filter, as server-sent
// events, as they are stored. Each event is a row of the results table,
// rendered by the page's own template, so escaping is html/template's.
type tailer struct {
	s     *server
	opt   tailOptions
	slots chan struct{} // one token per open tail
	seed  maphash.Seed
}

func newTailer(s *server, opt tailOptions) *tailer {
	if opt.Poll <= 0 {
		opt.Poll = time.Second
	}
	if opt.Heartbeat <= 0 {
		opt.Heartbeat = 15 * time.Second
	}
	if opt.MaxDuration <= 0 {
		opt.MaxDuration = 30 * time.Minute
	}
	if opt.Late <= 0 {
		opt.Late = 15 * time.Second
	}
	if opt.MaxTails <= 0 {
		opt.MaxTails = 16
	}
	if opt.Batch <= 0 {
		opt.Batch = 500
	}
	return &tailer{s: s, opt: opt, slots: make(chan struct{}, opt.MaxTails), seed: maphash.MakeSeed()}
}

func (t *tailer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	v := r.URL.Query()
	q := v.Get("q")
	if err := t.s.opt.Query.CheckLogFilter(q); err != nil {
		http.Error(w, "bad filter: "+newFilterProblem(q, err).String(), http.StatusBadRequest)
		return
	}
	f := t.s.frame(r, "")
	text, base, err := logsFilter(q, f.Env)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	// The tail starts after since: the newest record the page shows, or
	// the last one this stream sent when the browser reconnects.
	since := f.Now
	for _, s := range []string{r.Header.Get("Last-Event-ID"), v.Get("since")} {
		if s == "" {
			continue
		}
		if since, err = time.Parse(time.RFC3339Nano, s); err != nil {
			http.Error(w, fmt.Sprintf("since: %q is not an RFC 3339 time", s), http.StatusBadRequest)
			return
		}
		break
	}
	long := t.s.timeRange(&f) == nil && f.Range.To.Sub(f.Range.From) > 24*time.Hour

	select {
	case t.slots <- struct{}{}:
		defer func() { <-t.slots }()
	default:
		w.Header().Set("Retry-After", "10")
		http.Error(w, fmt.Sprintf("too many live tails: at most %d may be open; close one or try again later", t.opt.MaxTails), http.StatusTooManyRequests)
		return
	}

	rc := http.NewResponseController(w)
	// The server's write timeout, if any, is for pages, not streams.
	_ = rc.SetWriteDeadline(time.Time{})
	h := w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // nginx would hold the events back
	w.WriteHeader(http.StatusOK)
	ctx, cancel := context.WithTimeout(r.Context(), t.opt.MaxDuration)
	defer cancel()
	st := &tailStream{t: t, w: w, rc: rc, f: f, base: base, long: long, text: text,
		mark: since.UTC(), since: since.UTC(), first: true, seen: map[uint64]time.Time{}}
	log := t.s.log.With("filter", text)
	log.Debug("live tail started", "since", since)
	if err := st.send("", "", ": live tail of "+strconv.Quote(text)+"\nretry: 5000"); err != nil {
		return
	}
	err = st.run(ctx)
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded) && r.Context().Err() == nil:
		st.send("end", "", fmt.Sprintf("The live tail stops after %s; start it again to go on.", t.opt.MaxDuration))
	case err != nil && r.Context().Err() == nil:
		log.Warn("live tail failed", "err", err)
		st.send("end", "", "The live tail stopped: Telltale could not read the logs; its log says why.")
	}
	log.Debug("live tail ended", "err", err)
}

// tailStream is one open tail.
type tailStream struct {
	t    *tailer
	w    http.ResponseWriter
	rc   *http.ResponseController
	f    frame
	base string // q, for the rows' "filter by this" links
	text string // the filter run
	long bool   // the rows show dates

	since time.Time // the first poll sends only records after since
	first bool
	mark  time.Time // the newest record time seen, at most now
	// seen holds the records at or after mark-Late already handled, by
	// key: polls overlap, so each finds some of the last one's records.
	seen map[uint64]time.Time
}

func (st *tailStream) run(ctx context.Context) error {
	poll := time.NewTicker(st.t.opt.Poll)
	defer poll.Stop()
	beat := time.NewTicker(st.t.opt.Heartbeat)
	defer beat.Stop()
	failures := 0
	for {
		if err := st.poll(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if failures++; failures >= tailFailures || errors.Is(err, query.ErrInvalid) {
				return err
			}
			st.t.s.log.Warn("live tail poll failed", "err", err)
		} else {
			failures = 0
		}
		if !st.wait(ctx, poll.C, beat.C) {
			return nil
		}
	}
}

// wait waits for the next poll, sending heartbeats meanwhile; false means
// the tail is over: its time is up or the client went away.
func (st *tailStream) wait(ctx context.Context, poll, beat <-chan time.Time) bool {
	for {
		select {
		case <-ctx.Done():
			return false
		case <-poll:
			return true
		case <-beat:
			if st.send("", "", ": keep-alive") != nil {
				return false
			}
		}
	}
}

// poll reads the records since mark-Late and sends those not seen yet,
// oldest first, so that the page, which prepends them, shows newest first.
func (st *tailStream) poll(ctx context.Context) error {
	now := st.t.s.opt.Now().UTC()
	from := st.mark.Add(-st.t.opt.Late)
	page, err := st.t.s.opt.Query.Logs(ctx, query.LogQuery{
		Range: query.TimeRange{From: from, To: now.Add(tailFuture)}, Filter: st.text, Limit: st.t.opt.Batch})
	if err != nil {
		return err
	}
	var fresh []query.LogRecord
	oldestFresh := false
	for i, rec := range page.Records {
		k := st.key(rec)
		if _, ok := st.seen[k]; ok {
			continue
		}
		st.seen[k] = rec.Time
		if st.first && !rec.Time.After(st.since) {
			continue // the page shows it already
		}
		fresh = append(fresh, rec)
		oldestFresh = i == len(page.Records)-1
	}
	st.first = false
	// A full batch whose oldest record is new may hide newer records still:
	// say so rather than show a tail with a silent hole.
	if page.NextCursor != "" && oldestFresh {
		if err := st.send("gap", "", fmt.Sprintf("More than %d records arrived at once; the live tail skipped some. Search the range to see them all.", st.t.opt.Batch)); err != nil {
			return err
		}
	}
	for i := len(fresh) - 1; i >= 0; i-- {
		rec := fresh[i]
		var b strings.Builder
		row := newLogRow(st.f, st.base, rec, st.long)
		if err := st.t.s.pages["logs"].ExecuteTemplate(&b, "logrow", row); err != nil {
			return fmt.Errorf("cannot render log row: %w", err)
		}
		if rec.Time.After(st.mark) {
			st.mark = rec.Time.UTC()
		}
		if err := st.send("log", row.Stamp, b.String()); err != nil {
			return err
		}
	}
	if st.mark.After(now) {
		st.mark = now // a record from a clock running ahead must not hide the others
	}
	for k, at := range st.seen {
		if at.Before(st.mark.Add(-st.t.opt.Late)) {
			delete(st.seen, k)
		}
	}
	return nil
}

// key tells records apart, as the store's tiebreak does.
func (st *tailStream) key(r query.LogRecord) uint64 {
	var h maphash.Hash
	h.SetSeed(st.t.seed)
	for _, s := range []string{r.Time.UTC().Format(time.RFC3339Nano), r.ObservedTime.UTC().Format(time.RFC3339Nano),
		r.Service, r.InstanceID, r.Body, string(r.Attributes), r.TraceID, r.SpanID, strconv.Itoa(int(r.SeverityNumber))} {
		h.WriteString(s)
		h.WriteByte(0)
	}
	return h.Sum64()
}

// send writes one event: data is split into data: lines, which the browser
// joins with newlines again. A carriage return would end a line too, so it
// travels as an HTML character reference (data is HTML or plain text). An
// event with no name and no id is written as is: comments and fields.
func (st *tailStream) send(event, id, data string) error {
	var b strings.Builder
	if event == "" && id == "" {
		b.WriteString(data)
		b.WriteString("\n\n")
	} else {
		b.WriteString("event: " + event + "\n")
		if id != "" {
			b.WriteString("id: " + id + "\n")
		}
		for line := range strings.SplitSeq(strings.ReplaceAll(data, "\r", "&#13;"), "\n") {
			b.WriteString("data: " + line + "\n")
		}
		b.WriteString("\n")
	}
	if _, err := st.w.Write([]byte(b.String())); err != nil {
		return fmt.Errorf("cannot write event: %w", err)
	}
	if err := st.rc.Flush(); err != nil {
		return fmt.Errorf("cannot flush event: %w", err)
	}
	return nil
}
