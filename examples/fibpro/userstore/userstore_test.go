package userstore_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fibinc/telltale/examples/fibpro/internal/fleettest"
	"github.com/fibinc/telltale/examples/fibpro/service"
	"github.com/fibinc/telltale/examples/fibpro/userstore"
	"github.com/fibinc/telltale/kit"
)

type account struct {
	Name    string `json:"name"`
	Balance int64  `json:"balance"`
}

// start runs a userstore in this process and returns a client for it and
// a function that stops it and returns Run's error.
func start(t *testing.T, data string) (*kit.Client, func() error) {
	t.Helper()
	tel := fleettest.Telemetry(t)
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- userstore.Run(ctx, userstore.Config{Addr: "127.0.0.1:0", Data: data, Telemetry: tel, Ready: ready})
	}()
	stopped := false
	stop := func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		return <-done
	}
	t.Cleanup(func() { stop() })
	select {
	case addr := <-ready:
		return kit.NewClient("http://" + addr), stop
	case err := <-done:
		t.Fatalf("userstore did not start: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("userstore did not start")
	}
	return nil, nil
}

func TestAPI(t *testing.T) {
	c, _ := start(t, "")
	ctx := context.Background()
	type call struct {
		method, path string
		in           any
		status       int   // 200 or the error's
		balance      int64 // after a 200
		msg          string
		is           error
	}
	calls := []call{
		{method: "GET", path: "/users/erin", status: 200, balance: 3},
		{method: "GET", path: "/users/mallory", status: 404, msg: `unknown user "mallory"`, is: service.ErrUnknownUser},
		{method: "POST", path: "/users/erin/authenticate", in: map[string]string{"password": "erin-pw"}, status: 200, balance: 3},
		{method: "POST", path: "/users/erin/authenticate", in: map[string]string{"password": "erin"}, status: 401, is: service.ErrWrongPassword},
		{method: "POST", path: "/users/mallory/authenticate", in: map[string]string{"password": "x"}, status: 404, is: service.ErrUnknownUser},
		{method: "POST", path: "/users/erin/debit", in: map[string]int{"amount": 2, "n": 9}, status: 200, balance: 1},
		{method: "POST", path: "/users/erin/debit", in: map[string]int{"amount": 5, "n": 40}, status: 402,
			msg: "insufficient credit: balance 1, cost 5", is: service.ErrInsufficientCredit},
		{method: "POST", path: "/users/erin/debit", in: map[string]int{"amount": 0}, status: 400},
		{method: "POST", path: "/users/erin/debit", in: "not an object", status: 400},
		{method: "POST", path: "/users/erin/topup", in: map[string]int{"amount": 100}, status: 200, balance: 101},
		{method: "POST", path: "/users/erin/topup", in: map[string]int{"amount": -1}, status: 400},
		{method: "POST", path: "/users/erin/debit", in: map[string]int{"amount": 5, "n": 40}, status: 200, balance: 96},
		{method: "GET", path: "/users/erin", status: 200, balance: 96},
	}
	for _, tt := range calls {
		var out account
		var err error
		if tt.method == "GET" {
			err = c.Get(ctx, tt.path, &out)
		} else {
			err = c.Post(ctx, tt.path, tt.in, &out)
		}
		if tt.status == 200 {
			if err != nil || out.Balance != tt.balance {
				t.Errorf("%s %s: %+v, %v; want balance %d", tt.method, tt.path, out, err, tt.balance)
			}
			continue
		}
		var re *kit.RemoteError
		if !errors.As(err, &re) || re.StatusCode != tt.status || re.Service != "userstore" {
			t.Errorf("%s %s: %v; want a %d from userstore", tt.method, tt.path, err, tt.status)
			continue
		}
		if !strings.Contains(re.Message, tt.msg) {
			t.Errorf("%s %s: message %q lacks %q", tt.method, tt.path, re.Message, tt.msg)
		}
		if tt.is != nil && !errors.Is(err, tt.is) {
			t.Errorf("%s %s: errors.Is(%v, %v) is false", tt.method, tt.path, err, tt.is)
		}
	}
	resp, err := http.Get(c.BaseURL + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Errorf("healthz: %v %v", resp, err)
	}
}

// The data file keeps every change across a restart, and is replaced
// whole each time.
func TestPersistence(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "users.json")
	ctx := context.Background()

	c, stop := start(t, data)
	if err := c.Post(ctx, "/users/bob/debit", map[string]int{"amount": 42, "n": 400}, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Post(ctx, "/users/erin/topup", map[string]int{"amount": 7}, nil); err != nil {
		t.Fatal(err)
	}
	if err := stop(); err != nil {
		t.Fatalf("userstore stopped with %v", err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("data directory holds %d files, want only users.json: %v", len(entries), entries)
	}

	c, _ = start(t, data)
	for name, want := range map[string]int64{"bob": 300 - 42, "erin": 3 + 7, "dave": 5000} {
		var a account
		if err := c.Get(ctx, "/users/"+name, &a); err != nil || a.Balance != want {
			t.Errorf("%s after a restart: %+v, %v; want balance %d", name, a, err, want)
		}
	}
	// The salted password hashes survived too.
	if err := c.Post(ctx, "/users/bob/authenticate", map[string]string{"password": "bob-pw"}, nil); err != nil {
		t.Errorf("bob cannot log in after a restart: %v", err)
	}
}

func TestBadDataFile(t *testing.T) {
	data := filepath.Join(t.TempDir(), "users.json")
	if err := os.WriteFile(data, []byte(`{"users":[{"name":"x","balance":-1,"salt":"00","hash":"00"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	err := userstore.Run(context.Background(), userstore.Config{Addr: "127.0.0.1:0", Data: data, Telemetry: fleettest.Telemetry(t)})
	if err == nil || !strings.Contains(err.Error(), "cannot load users from") {
		t.Errorf("Run with a bad data file: %v", err)
	}
}

func TestMainFlags(t *testing.T) {
	for _, args := range [][]string{{"--bogus"}, {"extra"}, {"--addr"}} {
		if err := userstore.Main(context.Background(), args); err == nil {
			t.Errorf("Main(%q) accepted", args)
		}
	}
}
