package fibfrontend_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fibinc/telltale/examples/fibpro/fibfrontend"
	"github.com/fibinc/telltale/examples/fibpro/internal/fleettest"
	"github.com/fibinc/telltale/examples/fibpro/service"
	"github.com/fibinc/telltale/kit"
)

const fib100 = "354224848179261915075"

// get asks the frontend for path as user (none when ""), and returns the
// response with its body read, and the error the kit decodes from it.
func get(t *testing.T, base, path, user, password, accept string) (*http.Response, string, *kit.RemoteError) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if user != "" {
		req.SetBasicAuth(user, password)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode >= 400 {
		var re *kit.RemoteError
		if !errors.As(kit.DecodeError(resp), &re) {
			t.Fatalf("GET %s: %d without an error body", path, resp.StatusCode)
		}
		return resp, "", re
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(body), nil
}

func TestAnswers(t *testing.T) {
	f := fleettest.Start(t, fleettest.Options{})
	// The cases run in order: alice pays for each success.
	tests := []struct {
		name           string
		path           string
		user, password string // user "" sends no credentials
		accept         string
		status         int
		answer         *fibfrontend.Answer // for 200 with JSON
		text           string              // for 200 with text/plain
		errType        string              // of the frontend's error
		msg            string              // in the frontend's error message
		is             error               // errors.Is of the error
		causedBy       string              // service of the remote cause
	}{
		{name: "fib 10", path: "/10", user: "alice", status: 200, answer: &fibfrontend.Answer{N: 10, Fib: "55", Cost: 2, Balance: 998}},
		{name: "fib 100 exact", path: "/100", user: "alice", status: 200, answer: &fibfrontend.Answer{N: 100, Fib: fib100, Cost: 11, Balance: 987}},
		{name: "fib 0", path: "/0", user: "alice", status: 200, answer: &fibfrontend.Answer{N: 0, Fib: "0", Cost: 1, Balance: 986}},
		{name: "text", path: "/20", user: "alice", accept: "text/plain", status: 200, text: "6765\n"},
		{name: "fraction", path: "/4.5", user: "alice", status: 400, errType: "*strconv.NumError", msg: `parsing "4.5": invalid syntax`},
		{name: "favicon", path: "/favicon.ico", user: "alice", status: 400, errType: "*strconv.NumError", msg: `parsing "favicon.ico": invalid syntax`},
		{name: "negative", path: "/-3", user: "alice", status: 400, msg: "n must not be negative: -3", is: service.ErrNegativeN},
		{name: "over the cap", path: "/100001", user: "alice", status: 400, msg: "n too large", is: service.ErrNTooLarge},
		{name: "over int", path: "/99999999999999999999999", user: "alice", status: 400, errType: "*strconv.NumError", msg: "n too large"},
		{name: "no credentials", path: "/10", status: 401, is: service.ErrNoCredentials},
		{name: "wrong password", path: "/10", user: "alice", password: "guess", status: 401, is: service.ErrWrongPassword, causedBy: "userstore"},
		{name: "unknown user", path: "/10", user: "mallory", status: 401, is: service.ErrUnknownUser, causedBy: "userstore"},
		{name: "out of credit", path: "/50", user: "erin", status: 402, msg: "insufficient credit: balance 3, cost 6",
			is: service.ErrInsufficientCredit, causedBy: "userstore"},
		{name: "buggy n", path: "/26", user: "alice", status: 502, msg: `unknown log level "verbose"`, is: service.ErrUnknownLevel, causedBy: "pricing"},
		{name: "still charged right", path: "/1", user: "alice", status: 200, answer: &fibfrontend.Answer{N: 1, Fib: "1", Cost: 1, Balance: 982}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			password := tt.password
			if password == "" {
				password = service.Password(tt.user)
			}
			resp, body, re := get(t, f.Frontend, tt.path, tt.user, password, tt.accept)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d (error %v)", resp.StatusCode, tt.status, re)
			}
			if resp.Header.Get(kit.RequestIDHeader) == "" {
				t.Error("no request id in the answer")
			}
			if got := resp.Header.Get("WWW-Authenticate"); (tt.status == 401) != strings.HasPrefix(got, "Basic ") {
				t.Errorf("WWW-Authenticate %q with status %d", got, tt.status)
			}
			switch {
			case tt.answer != nil:
				var a fibfrontend.Answer
				if err := json.Unmarshal([]byte(body), &a); err != nil {
					t.Fatalf("answer %q: %v", body, err)
				}
				if a != *tt.answer {
					t.Errorf("answer %+v, want %+v", a, *tt.answer)
				}
			case tt.text != "":
				if body != tt.text {
					t.Errorf("text answer %q, want %q", body, tt.text)
				}
			}
			if tt.status < 400 {
				return
			}
			if re.Service != "fibfrontend" || re.StatusCode != tt.status {
				t.Errorf("error from %q with status %d", re.Service, re.StatusCode)
			}
			if tt.errType != "" && re.Type != tt.errType {
				t.Errorf("error type %q, want %q", re.Type, tt.errType)
			}
			if !strings.Contains(re.Message, tt.msg) {
				t.Errorf("error message %q lacks %q", re.Message, tt.msg)
			}
			if tt.is != nil && !errors.Is(re, tt.is) {
				t.Errorf("errors.Is(%v, %v) is false", re, tt.is)
			}
			var cause string
			if re.Cause != nil {
				cause = re.Cause.Service
			}
			if cause != tt.causedBy {
				t.Errorf("caused by %q, want %q", cause, tt.causedBy)
			}
		})
	}
}

// The buggy path, through a kit.Client as another kit service would call
// the frontend: one chain across three services.
func TestRemoteChainThroughClient(t *testing.T) {
	f := fleettest.Start(t, fleettest.Options{})
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, f.Frontend+"/13", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth("bob", service.Password("bob"))
	_, err = kit.NewClient(f.Frontend).Do(req)
	if !errors.Is(err, service.ErrUnknownLevel) {
		t.Fatalf("errors.Is does not find ErrUnknownLevel in %v", err)
	}
	if kit.StatusOf(err) != http.StatusBadGateway {
		t.Errorf("status %d, want 502", kit.StatusOf(err))
	}
	var front *kit.RemoteError
	if !errors.As(err, &front) {
		t.Fatal("no RemoteError")
	}
	var services []string
	for re := front; re != nil; re = re.Cause {
		services = append(services, re.Service)
	}
	if got := strings.Join(services, ">"); got != "fibfrontend>pricing" {
		t.Fatalf("remote chain %s, want fibfrontend>pricing", got)
	}
	p := front.Cause
	if p.StatusCode != 500 || p.Message != `cannot price n=13: cannot load pricing rules "bulk": cannot set up the logger of rules "bulk": unknown log level "verbose"` {
		t.Errorf("pricing's error: %d %q", p.StatusCode, p.Message)
	}
	// The stack is where parseLevel made the error, under the calls that
	// led there.
	want := []string{"pricing.parseLevel", "pricing.ruleLogger", "pricing.loadRules", "pricing.(*pricer).priceFor"}
	at := 0
	for _, fn := range want {
		i := strings.Index(p.Stack[at:], fn+"(")
		if i < 0 {
			t.Fatalf("pricing's stack lacks %s after the frames before it:\n%s", fn, p.Stack)
		}
		at += i
	}
	if front.TraceID == "" || front.TraceID != p.TraceID || front.RequestID != p.RequestID {
		t.Errorf("frontend and pricing in trace %q/%q, request %q/%q: want one of each", front.TraceID, p.TraceID, front.RequestID, p.RequestID)
	}

	// The user was not charged for the failure.
	var acct struct{ Balance int64 }
	if err := kit.NewClient(f.Userstore).Get(context.Background(), "/users/bob", &acct); err != nil {
		t.Fatal(err)
	}
	if acct.Balance != service.SeedUsers[1].Balance {
		t.Errorf("bob's balance %d after a failed request, want %d", acct.Balance, service.SeedUsers[1].Balance)
	}
}

// Debits add up, under concurrent requests too, and the answers, the
// userstore and the 402 agree.
func TestCreditAcrossDebits(t *testing.T) {
	f := fleettest.Start(t, fleettest.Options{})
	users := kit.NewClient(f.Userstore)
	balance := func(user string) int64 {
		t.Helper()
		var a struct{ Balance int64 }
		if err := users.Get(context.Background(), "/users/"+user, &a); err != nil {
			t.Fatal(err)
		}
		return a.Balance
	}

	// carol (120) pays 10 for fib(95) until she cannot.
	want := int64(120)
	for want >= 10 {
		want -= 10
		_, body, re := get(t, f.Frontend, "/95", "carol", service.Password("carol"), "")
		if re != nil {
			t.Fatalf("with %d left: %v", want+10, re)
		}
		var a fibfrontend.Answer
		if err := json.Unmarshal([]byte(body), &a); err != nil || a.Balance != want || a.Cost != 10 {
			t.Fatalf("answer %s (%v), want balance %d", body, err, want)
		}
	}
	_, _, re := get(t, f.Frontend, "/95", "carol", service.Password("carol"), "")
	if re == nil || re.StatusCode != 402 || !strings.Contains(re.Message, "balance 0, cost 10") {
		t.Fatalf("with nothing left: %v", re)
	}
	if got := balance("carol"); got != 0 {
		t.Errorf("carol's balance %d, want 0", got)
	}

	// dave (5000) asks 40 times at once for fib(25), at 3 credits each.
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for range 40 {
		wg.Go(func() {
			req, _ := http.NewRequest(http.MethodGet, f.Frontend+"/25", nil)
			req.SetBasicAuth("dave", service.Password("dave"))
			_, err := kit.NewClient(f.Frontend).Do(req)
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := balance("dave"); got != 5000-40*3 {
		t.Errorf("dave's balance %d, want %d", got, 5000-40*3)
	}
}

// The frontend sends its two StatsD metrics.
func TestStatsD(t *testing.T) {
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	f := fleettest.Start(t, fleettest.Options{StatsD: conn.LocalAddr().String()})
	get(t, f.Frontend, "/10", "alice", service.Password("alice"), "")
	get(t, f.Frontend, "/4.5", "alice", service.Password("alice"), "")
	f.Stop() // the StatsD client sends what it holds as it closes

	want := map[string]bool{
		"fibpro.requests:1|c|#service:fibfrontend,status:200": false,
		"fibpro.requests:1|c|#service:fibfrontend,status:400": false,
		"fibpro.fib_time:": false,
	}
	var got []string
	buf := make([]byte, 64<<10)
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	for missing(want) {
		n, _, err := conn.ReadFrom(buf)
		if err != nil {
			t.Fatalf("missing StatsD lines %v; got %q (%v)", want, got, err)
		}
		for line := range strings.Lines(string(buf[:n])) {
			line = strings.TrimSpace(line)
			got = append(got, line)
			for w := range want {
				if strings.HasPrefix(line, w) {
					want[w] = true
				}
			}
		}
	}
}

func missing(want map[string]bool) bool {
	for _, ok := range want {
		if !ok {
			return true
		}
	}
	return false
}
