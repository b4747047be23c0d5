// Package querylimit guards the query side of the server: it caps the
// requests that run queries at once and gives each a deadline, so that a
// few heavy pages or API calls cannot take every core and all the memory
// DuckDB has.
//
// Queue policy: a request over the cap waits for a slot up to QueueWait (or
// until its client leaves), in no particular order; then it is refused with
// 503 and Retry-After. A request whose deadline passes is answered by its
// handler, which finds the cause with TimeoutMessage.
package querylimit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// Defaults of Options.
const (
	DefaultMaxConcurrent = 4
	DefaultQueueWait     = 5 * time.Second
	DefaultTimeout       = 30 * time.Second
)

// Retry-After values. A timed-out query costs as much when retried, so its
// retry is spaced further than that of a request that only found no slot.
const (
	RetryAfterBusy    = time.Second
	RetryAfterTimeout = 5 * time.Second
)

// Reasons a request is refused, as passed to Options.OnReject.
const (
	ReasonBusy    = "concurrency" // no slot within the queue wait
	ReasonTimeout = "timeout"     // the deadline passed while it ran
)

// Options configure a Limiter. The zero value applies the defaults.
type Options struct {
	// MaxConcurrent caps the requests served at once. Default 4; negative:
	// no cap.
	MaxConcurrent int
	// QueueWait bounds how long a request waits for a slot. Default 5s.
	QueueWait time.Duration
	// Timeout is every request's deadline. Default 30s; negative: none.
	Timeout time.Duration
	// Skip, if set, picks requests that are neither counted nor given a
	// deadline: static files, live tails with their own cap.
	Skip func(r *http.Request) bool
	// OnReject, if set, is called with ReasonBusy or ReasonTimeout.
	OnReject func(reason string)
}

// Limiter is the middleware. Share one between the handlers whose requests
// share the cap.
type Limiter struct {
	opt      Options
	slots    chan struct{} // nil: no cap
	inFlight atomic.Int64
}

// New returns a Limiter.
func New(opt Options) *Limiter {
	if opt.MaxConcurrent == 0 {
		opt.MaxConcurrent = DefaultMaxConcurrent
	}
	if opt.QueueWait <= 0 {
		opt.QueueWait = DefaultQueueWait
	}
	if opt.Timeout == 0 {
		opt.Timeout = DefaultTimeout
	}
	l := &Limiter{opt: opt}
	if opt.MaxConcurrent > 0 {
		l.slots = make(chan struct{}, opt.MaxConcurrent)
	}
	return l
}

// InFlight returns the requests being served now (not those waiting).
func (l *Limiter) InFlight() int { return int(l.inFlight.Load()) }

// TimeoutError is the cause of a request context ended by the Limiter's
// deadline.
type TimeoutError struct{ Timeout time.Duration }

func (e *TimeoutError) Error() string {
	return fmt.Sprintf("query took longer than %s; narrow the range or the filter", e.Timeout)
}

// TimeoutMessage returns what to tell the client whose request ctx ended by
// the Limiter's deadline, and whether it did.
func TimeoutMessage(ctx context.Context) (string, bool) {
	var te *TimeoutError
	if errors.As(context.Cause(ctx), &te) {
		return te.Error(), true
	}
	return "", false
}

// Handler returns next behind the limiter.
func (l *Limiter) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if l.opt.Skip != nil && l.opt.Skip(r) {
			next.ServeHTTP(w, r)
			return
		}
		if l.slots != nil {
			if !l.acquire(r.Context()) {
				if r.Context().Err() != nil {
					return // the client left while waiting
				}
				if l.opt.OnReject != nil {
					l.opt.OnReject(ReasonBusy)
				}
				Refuse(w, r, RetryAfterBusy, fmt.Sprintf("too many queries at once (%d running); retry shortly", cap(l.slots)))
				return
			}
			defer func() { <-l.slots }()
		}
		l.inFlight.Add(1)
		defer l.inFlight.Add(-1)
		if l.opt.Timeout <= 0 {
			next.ServeHTTP(w, r)
			return
		}
		ctx, cancel := context.WithTimeoutCause(r.Context(), l.opt.Timeout, &TimeoutError{l.opt.Timeout})
		defer cancel()
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r.WithContext(ctx))
		// Counted when the handler answered the timeout, not when a
		// request that failed otherwise also ran out of time.
		if _, timedOut := TimeoutMessage(ctx); timedOut && sw.status == http.StatusServiceUnavailable && l.opt.OnReject != nil {
			l.opt.OnReject(ReasonTimeout)
		}
	})
}

// statusWriter notes the status a handler answers with.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// acquire takes a slot, waiting up to QueueWait.
func (l *Limiter) acquire(ctx context.Context) bool {
	select {
	case l.slots <- struct{}{}:
		return true
	default:
	}
	t := time.NewTimer(l.opt.QueueWait)
	defer t.Stop()
	select {
	case l.slots <- struct{}{}:
		return true
	case <-t.C:
		return false
	case <-ctx.Done():
		return false
	}
}

// Refuse answers 503 with Retry-After: JSON {"error": msg} under /api/, a
// small page elsewhere. Handlers use it for their timeouts too.
func Refuse(w http.ResponseWriter, r *http.Request, retryAfter time.Duration, msg string) {
	h := w.Header()
	h.Set("Retry-After", strconv.Itoa(int(retryAfter.Round(time.Second)/time.Second)))
	if strings.HasPrefix(r.URL.Path, "/api/") {
		h.Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		json.NewEncoder(w).Encode(struct {
			Error string `json:"error"`
		}{msg})
		return
	}
	h.Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusServiceUnavailable)
	fmt.Fprintf(w, "<!doctype html>\n<meta charset=\"utf-8\">\n<title>Telltale is busy</title>\n<p>%s</p>\n<p><a href=\"\">Try again</a></p>\n", html.EscapeString(msg))
}
