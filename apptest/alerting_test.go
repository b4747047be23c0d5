package apptest

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

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

func (f *flakyHTTP) sawTraceparent(tp string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, s := range f.traceparents {
		if s == tp {
			return true
		}
	}
	return false
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
