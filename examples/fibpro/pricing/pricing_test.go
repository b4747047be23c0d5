package pricing_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fibinc/telltale/examples/fibpro/internal/fleettest"
	"github.com/fibinc/telltale/examples/fibpro/pricing"
	"github.com/fibinc/telltale/examples/fibpro/service"
	"github.com/fibinc/telltale/kit"
)

// sentrySink receives Sentry envelopes.
type sentrySink struct {
	mu     sync.Mutex
	events []map[string]any
}

func (s *sentrySink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	// An envelope is JSON lines: a header, then item header and payload
	// pairs.
	lines := bytes.Split(body, []byte("\n"))
	for i := 1; i+1 < len(lines); i += 2 {
		var item struct{ Type string }
		if json.Unmarshal(lines[i], &item) == nil && item.Type == "event" {
			var ev map[string]any
			if json.Unmarshal(lines[i+1], &ev) == nil {
				s.mu.Lock()
				s.events = append(s.events, ev)
				s.mu.Unlock()
			}
		}
	}
	w.Write([]byte(`{}`))
}

func TestPricing(t *testing.T) {
	sink := &sentrySink{}
	sentry := httptest.NewServer(sink)
	defer sentry.Close()
	dsn := "http://public@" + strings.TrimPrefix(sentry.URL, "http://") + "/1"

	tel := fleettest.Telemetry(t)
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- pricing.Run(ctx, pricing.Config{Addr: "127.0.0.1:0", SlowAbove: 500, SlowMax: 10 * time.Millisecond,
			BuggyEvery: 13, RefreshEvery: 10 * time.Millisecond, SentryDSN: dsn, Telemetry: tel, Ready: ready})
	}()
	var c *kit.Client
	select {
	case addr := <-ready:
		c = kit.NewClient("http://" + addr)
	case err := <-done:
		t.Fatal(err)
	}

	tests := []struct {
		n      string
		cost   int64
		status int // of the error, 0 when none
		is     error
	}{
		{n: "0", cost: 1},
		{n: "9", cost: 1},
		{n: "10", cost: 2},
		{n: "1000", cost: 101}, // slow path
		{n: "12", cost: 2},
		{n: "13", status: 500, is: service.ErrUnknownLevel},
		{n: "26", status: 500, is: service.ErrUnknownLevel},
		{n: "4.5", status: 400},
		{n: "-1", status: 400, is: service.ErrNegativeN},
	}
	for _, tt := range tests {
		var out struct {
			N    int
			Cost int64
		}
		err := c.Get(context.Background(), "/cost/"+tt.n, &out)
		if tt.status == 0 {
			if err != nil || out.Cost != tt.cost || out.Cost != pricing.Cost(out.N) {
				t.Errorf("cost(%s) = %+v, %v; want %d", tt.n, out, err, tt.cost)
			}
			continue
		}
		if kit.StatusOf(err) != tt.status && !(tt.status == 500 && kit.StatusOf(err) == 502) {
			t.Errorf("cost(%s): %v (status %d), want status %d", tt.n, err, kit.StatusOf(err), tt.status)
		}
		if tt.is != nil && !errors.Is(err, tt.is) {
			t.Errorf("cost(%s): errors.Is(%v, %v) is false", tt.n, err, tt.is)
		}
	}

	// The refresh job fails every third round; let it run a few.
	time.Sleep(100 * time.Millisecond)
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("pricing stopped with %v", err)
	}
	// Run flushed the Sentry client as it stopped: the refresh job's
	// failures are there, with the stack of where the error was made
	// (sentry-go reads the kit's stacks), and the request errors, which
	// the kit reports, are not.
	sink.mu.Lock()
	defer sink.mu.Unlock()
	if len(sink.events) == 0 {
		t.Fatal("Sentry got no events from the refresh job")
	}
	for _, ev := range sink.events {
		exc := exception(t, ev["exception"])
		if !strings.Contains(exc.Value, `malformed exchange rate: CHF rate "0,88"`) {
			t.Errorf("Sentry exception value %q, want the refresh job's", exc.Value)
		}
		last := exc.Stacktrace.Frames[len(exc.Stacktrace.Frames)-1]
		if last.Function != "parseRate" || !last.InApp || !strings.HasSuffix(last.Module, "/pricing") {
			t.Errorf("innermost Sentry frame %+v, want pricing's parseRate, in app", last)
		}
		if tags, _ := ev["tags"].(map[string]any); tags["service"] != "pricing" {
			t.Errorf("Sentry event tags %v lack service pricing", tags)
		}
	}
}

type sentryException struct {
	Value      string
	Stacktrace struct {
		Frames []struct {
			Function, Module string
			InApp            bool `json:"in_app"`
		}
	}
}

// exception reads the first exception with a stack of an event, which
// Sentry SDKs send as a list or as {"values": list}.
func exception(t *testing.T, v any) sentryException {
	t.Helper()
	data, _ := json.Marshal(v)
	var list []sentryException
	if json.Unmarshal(data, &list) != nil {
		var obj struct{ Values []sentryException }
		json.Unmarshal(data, &obj)
		list = obj.Values
	}
	for _, e := range list {
		if len(e.Stacktrace.Frames) > 0 {
			return e
		}
	}
	t.Fatalf("no exception with a stack in %s", data)
	return sentryException{}
}

func TestMainFlags(t *testing.T) {
	for _, args := range [][]string{{"--slow-above", "-1"}, {"--buggy-every", "x"}, {"--sentry-dsn", "::bad"}, {"extra"}} {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := pricing.Main(ctx, append(args, "--addr", "127.0.0.1:0", "--otlp", fleettest.Telemetry(t).Endpoint))
		cancel()
		if err == nil {
			t.Errorf("Main(%q) accepted", args)
		}
	}
}
