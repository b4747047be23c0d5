// Package notifytest holds real local receivers for testing notification
// channels: an HTTP receiver that records what it is sent and answers as
// scripted, and a small SMTP server (EHLO, STARTTLS, AUTH PLAIN, MAIL,
// RCPT, DATA, QUIT) that captures messages. Its tests are the conformance
// suite of every channel type of package notify.
package notifytest

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// Request is what a Receiver was sent.
type Request struct {
	Method string
	Path   string
	Header http.Header
	Body   []byte
}

// Reply is a scripted answer.
type Reply struct {
	Status int
	Body   string
	Delay  time.Duration // before answering (to test timeouts)
}

// Receiver is an HTTP server that records requests. It answers the
// requests with the script's replies in order, then 200 "ok".
type Receiver struct {
	URL string

	mu     sync.Mutex
	reqs   []Request
	script []Reply
	notify chan struct{}
}

// NewReceiver starts a receiver, closed when the test ends.
func NewReceiver(t testing.TB, script ...Reply) *Receiver {
	r := &Receiver{script: script, notify: make(chan struct{}, 1)}
	srv := httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(srv.Close)
	r.URL = srv.URL
	return r
}

func (r *Receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	reply := Reply{Status: http.StatusOK, Body: "ok"}
	if len(r.script) > 0 {
		reply, r.script = r.script[0], r.script[1:]
	}
	r.reqs = append(r.reqs, Request{Method: req.Method, Path: req.URL.Path, Header: req.Header.Clone(), Body: body})
	r.mu.Unlock()
	select {
	case r.notify <- struct{}{}:
	default:
	}
	if reply.Delay > 0 {
		select {
		case <-time.After(reply.Delay):
		case <-req.Context().Done():
			return
		}
	}
	w.WriteHeader(reply.Status)
	io.WriteString(w, reply.Body)
}

// Requests returns the requests received so far.
func (r *Receiver) Requests() []Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Request(nil), r.reqs...)
}

// WaitFor waits until n requests have arrived, failing the test after
// timeout, and returns them.
func (r *Receiver) WaitFor(t testing.TB, n int, timeout time.Duration) []Request {
	t.Helper()
	deadline := time.After(timeout)
	for {
		if reqs := r.Requests(); len(reqs) >= n {
			return reqs
		}
		select {
		case <-r.notify:
		case <-time.After(10 * time.Millisecond):
		case <-deadline:
			t.Fatalf("receiver got %d requests, want %d within %s", len(r.Requests()), n, timeout)
		}
	}
}
