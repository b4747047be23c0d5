package service

import (
	"context"
	"flag"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Stopping waits for the request in flight, and not for a connection a
// client opened and never used.
func TestServeStopsGracefully(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
		io.WriteString(w, "done")
	})
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	served := make(chan error, 1)
	go func() { served <- Serve(ctx, "127.0.0.1:0", h, ready) }()
	addr := <-ready

	spare, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer spare.Close()
	answer := make(chan string, 1)
	go func() {
		resp, err := http.Get("http://" + addr + "/")
		if err != nil {
			answer <- err.Error()
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		answer <- string(b)
	}()
	<-entered
	cancel()
	select {
	case err := <-served:
		t.Fatalf("Serve returned with a request in flight: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	if got := <-answer; got != "done" {
		t.Errorf("request in flight got %q", got)
	}
	if err := <-served; err != nil {
		t.Errorf("Serve: %v (held up by the unused connection?)", err)
	}
}

func TestServeBadAddr(t *testing.T) {
	if err := Serve(context.Background(), "127.0.0.1:bad", http.NotFoundHandler(), nil); err == nil || !strings.Contains(err.Error(), "cannot listen") {
		t.Errorf("Serve on a bad address: %v", err)
	}
}

func TestParseFlags(t *testing.T) {
	tests := []struct {
		args []string
		ok   bool
	}{
		{nil, true},
		{[]string{"--addr", "x"}, true},
		{[]string{"--nope"}, false},
		{[]string{"--addr"}, false},
		{[]string{"--addr", "x", "extra"}, false},
	}
	for _, tt := range tests {
		fs := flag.NewFlagSet("svc", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		fs.String("addr", "", "")
		err := ParseFlags(fs, tt.args)
		if (err == nil) != tt.ok || err != nil && !strings.HasPrefix(err.Error(), "svc: ") {
			t.Errorf("ParseFlags(%q) = %v", tt.args, err)
		}
	}
}

func TestCheckURL(t *testing.T) {
	for in, want := range map[string]string{
		"http://127.0.0.1:8081/": "http://127.0.0.1:8081",
		"https://fib.example":    "https://fib.example",
		"127.0.0.1:8081":         "",
		"ftp://x":                "",
		"http://":                "",
	} {
		got, err := CheckURL("target", in)
		if got != want || (err == nil) != (want != "") {
			t.Errorf("CheckURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}
