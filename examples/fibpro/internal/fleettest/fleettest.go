// Package fleettest starts the FibPro fleet for tests: each service in a
// process of its own, as telltale demo runs them, on free loopback ports.
// The processes are the test binary itself, started again with an
// environment variable that makes Main run a service instead of the
// tests; so a test package using Start must call Main from its TestMain.
//
// Separate processes matter: the kit's service name, like the
// OpenTelemetry globals, belongs to a process, and the remote error
// chains the tests check name the service that answered.
//
// The fleet's telemetry goes to a sink that accepts and drops it: what
// these tests check is the fleet's answers; the end-to-end test of
// telltale demo checks the telemetry against a real server.
package fleettest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/signal"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fibinc/telltale/examples/fibpro"
	"github.com/fibinc/telltale/kit"
)

// envService names the service a test binary started by Start runs.
const envService = "FIBPRO_FLEETTEST_SERVICE"

// Main runs the service named by the environment when Start started this
// test binary as one, and the tests otherwise. Call it from TestMain.
func Main(m *testing.M) {
	name := os.Getenv(envService)
	if name == "" {
		os.Exit(m.Run())
	}
	run, ok := fibpro.Services[name]
	if !ok {
		fmt.Fprintf(os.Stderr, "no FibPro service %q\n", name)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(0)
}

// Options change the fleet from its defaults.
type Options struct {
	Data      string // userstore's data file; "" in memory
	SentryDSN string // pricing's
	StatsD    string // the frontend's StatsD address; "" none
}

// Fleet is a running fleet: the base URLs of its services.
type Fleet struct {
	Frontend, Pricing, Userstore string

	t       testing.TB
	members []*member
}

type member struct {
	name string
	cmd  *exec.Cmd
	log  *syncBuffer
	done chan error
}

// Telemetry returns a kit.Config that sends to a sink accepting
// everything, and prints nothing, for a service run in the test's own
// process. The sink stops with the test.
func Telemetry(t testing.TB) kit.Config {
	t.Helper()
	return kit.Config{Endpoint: sink(t), LogOutput: io.Discard, ExportInterval: 100 * time.Millisecond}
}

func sink(t testing.TB) string {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	t.Cleanup(s.Close)
	return s.URL
}

// Start starts userstore, pricing (slow path shortened to at most 20 ms)
// and the frontend, and stops them when the test ends.
func Start(t testing.TB, o Options) *Fleet {
	t.Helper()
	otlp := sink(t) // before Stop is registered, so that it closes after the fleet
	f := &Fleet{t: t}
	t.Cleanup(f.Stop)
	f.Userstore = f.start("userstore", "--otlp", otlp, "--data", o.Data)
	f.Pricing = f.start("pricing", "--otlp", otlp, "--slow-max", "20ms", "--sentry-dsn", o.SentryDSN)
	f.Frontend = f.start("fibfrontend", "--otlp", otlp, "--userstore", f.Userstore, "--pricing", f.Pricing, "--statsd", o.StatsD)
	return f
}

var listening = regexp.MustCompile(`listening on (http://\S+?)"`)

// start runs the service name on a free port and returns its base URL,
// which it learns from the service's "listening on" log line.
func (f *Fleet) start(name string, args ...string) string {
	f.t.Helper()
	exe, err := os.Executable()
	if err != nil {
		f.t.Fatal(err)
	}
	cmd := exec.Command(exe, append([]string{"--addr", "127.0.0.1:0", "--env", "test"}, args...)...)
	cmd.Env = append(os.Environ(), envService+"="+name)
	if os.Getenv("GORACE") == "" {
		// A binary built with -race waits a second as it exits, unless told.
		cmd.Env = append(cmd.Env, "GORACE=atexit_sleep_ms=0")
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		f.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		f.t.Fatalf("cannot start %s: %v", name, err)
	}
	m := &member{name: name, cmd: cmd, log: &syncBuffer{}, done: make(chan error, 1)}
	f.members = append(f.members, m)
	url := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			m.log.WriteString(sc.Text() + "\n")
			if u := listening.FindStringSubmatch(sc.Text()); u != nil {
				select {
				case url <- u[1]:
				default:
				}
			}
		}
		io.Copy(io.Discard, stderr)
		m.done <- cmd.Wait()
	}()
	select {
	case u := <-url:
		return u
	case <-time.After(20 * time.Second):
		f.t.Fatalf("%s did not start in 20 s; its log:\n%s", name, m.log)
	}
	return ""
}

// Stop stops the fleet, the frontend first, as telltale demo does: each
// with SIGTERM, and fails the test if one does not stop cleanly. It runs
// when the test ends, and may run before.
func (f *Fleet) Stop() {
	for i := len(f.members) - 1; i >= 0; i-- {
		m := f.members[i]
		if err := m.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
			m.cmd.Process.Kill()
		}
		select {
		case err := <-m.done:
			if err != nil {
				f.t.Errorf("%s stopped with %v; its log:\n%s", m.name, err, m.log)
			}
		case <-time.After(15 * time.Second):
			m.cmd.Process.Kill()
			f.t.Errorf("%s did not stop in 15 s; its log:\n%s", m.name, m.log)
		}
	}
	f.members = nil
}

// Log returns what the service name printed so far.
func (f *Fleet) Log(name string) string {
	for _, m := range f.members {
		if m.name == name {
			return m.log.String()
		}
	}
	return ""
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *syncBuffer) WriteString(s string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.b.WriteString(s)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
