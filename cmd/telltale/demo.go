package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"time"

	"github.com/fibinc/telltale/examples/fibpro"
	"github.com/fibinc/telltale/internal/app"
)

// runDemo starts a server, the FibPro fleet as child processes of this
// same binary (the hidden "fibpro" command), and traffic against it.
func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	options := serveFlags(fs)
	duration := fs.Duration("duration", 0, "stop after this long, e.g. 2m; 0 runs until Ctrl-C")
	rate := fs.Float64("rate", 5, "requests per second of demo traffic")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "Usage: telltale demo [flags]\n\nRuns Telltale with the FibPro demo fleet and traffic. Without --data-dir the data goes to a\ntemporary directory, deleted at the end. Flags are those of serve, and:")
		fs.PrintDefaults()
	}
	if err := parse(fs, args); err != nil {
		return err
	}
	opt, err := options(stderr)
	if err != nil {
		return err
	}
	if *rate <= 0 {
		return usageError{fmt.Errorf("invalid --rate %v: want more than 0", *rate)}
	}
	dataGiven := false
	fs.Visit(func(f *flag.Flag) { dataGiven = dataGiven || f.Name == "data-dir" })
	if !dataGiven {
		dir, err := os.MkdirTemp("", "telltale-demo-")
		if err != nil {
			return fmt.Errorf("cannot make a data directory: %w", err)
		}
		defer os.RemoveAll(dir)
		opt.DataDir = dir
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("cannot find this program to start the fleet: %w", err)
	}

	if *duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *duration)
		defer cancel()
	}
	// The server outlives the fleet, so that it receives what the fleet
	// sends as it stops.
	srvCtx, stopServer := context.WithCancel(context.WithoutCancel(ctx))
	defer stopServer()
	ready := make(chan app.Info, 1)
	opt.Ready = func(i app.Info) { ready <- i }
	srvDone := make(chan error, 1)
	go func() { srvDone <- app.Run(srvCtx, opt) }()
	var info app.Info
	select {
	case info = <-ready:
	case err := <-srvDone:
		return err
	case <-ctx.Done():
		stopServer()
		return <-srvDone
	}

	logDir := filepath.Join(opt.DataDir, "demo-logs")
	f := &fleet{exe: exe, logDir: logDir, stderr: stderr}
	ferr := f.start(ctx, info, *rate)
	if ferr == nil && opt.ConfigPath == "" {
		// Not fatal: the demo's telemetry is worth seeing without checks.
		if err := putDemoConfig(ctx, info, f); err != nil {
			fmt.Fprintln(stderr, "telltale demo: cannot configure uptime checks and alert rules:", err)
		}
	}
	if ferr == nil {
		printBanner(stdout, info, f, *rate, *duration, dataGiven, logDir)
		select {
		case <-ctx.Done():
		case ferr = <-f.exited:
		}
	}
	fmt.Fprintln(stderr, "telltale demo: stopping")
	f.stop()
	stopServer()
	return errors.Join(ferr, <-srvDone)
}

// member is one process of the fleet.
type member struct {
	name  string
	addr  string // where it serves, once healthy; "" for the traffic generator
	bound chan string
	cmd   *exec.Cmd
	done  chan struct{}
}

// listeningLine is how a FibPro service logs the address it serves on.
var listeningLine = regexp.MustCompile(`listening on http://([^\s"]+)`)

// addrWatcher passes a member's output on to w, and sends the address of
// its first "listening on" line to found.
type addrWatcher struct {
	w       io.Writer
	found   chan<- string
	partial []byte
	done    bool
}

func (a *addrWatcher) Write(p []byte) (int, error) {
	if !a.done {
		a.partial = append(a.partial, p...)
		for {
			i := bytes.IndexByte(a.partial, '\n')
			if i < 0 {
				break
			}
			if m := listeningLine.FindSubmatch(a.partial[:i]); m != nil {
				a.found <- string(m[1])
				a.done, a.partial = true, nil
				break
			}
			a.partial = a.partial[i+1:]
		}
		if len(a.partial) > 64<<10 {
			a.partial = nil // a line that long is no listening line
		}
	}
	return a.w.Write(p)
}

type fleet struct {
	exe     string
	logDir  string
	stderr  io.Writer
	members []*member
	// exited receives an error when a member stops on its own.
	exited chan error
}

func (f *fleet) start(ctx context.Context, info app.Info, rate float64) error {
	f.exited = make(chan error, 8)
	if err := os.MkdirAll(f.logDir, 0o755); err != nil {
		return fmt.Errorf("cannot make the fleet's log directory: %w", err)
	}
	otlp := "http://" + loopback(info.OTLPHTTPAddr)
	statsd := ""
	if info.StatsDAddr != "" {
		statsd = loopback(info.StatsDAddr)
	}
	// Each service picks a free port and says which in its log, so that
	// no other program can take a port between choosing and binding it.
	common := []string{"--addr", "127.0.0.1:0", "--otlp", otlp, "--env", "demo"}
	userstore, err := f.startService(ctx, "userstore", append(common, "--zone", "us-east-1a"))
	if err != nil {
		return err
	}
	pricing, err := f.startService(ctx, "pricing", append(common, "--zone", "us-east-1b", "--sentry-dsn", info.DSN))
	if err != nil {
		return err
	}
	front, err := f.startService(ctx, "fibfrontend", append(common, "--zone", "us-east-1a",
		"--userstore", "http://"+userstore.addr, "--pricing", "http://"+pricing.addr, "--statsd", statsd))
	if err != nil {
		return err
	}
	_, err = f.run(ctx, "traffic", []string{"--target", "http://" + front.addr, "--userstore", "http://" + userstore.addr,
		"--otlp", otlp, "--rate", strconv.FormatFloat(rate, 'g', -1, 64)})
	return err
}

// startService starts a service and waits until it answers its health
// check.
func (f *fleet) startService(ctx context.Context, name string, args []string) (*member, error) {
	m, err := f.run(ctx, name, args)
	if err != nil {
		return nil, err
	}
	if err := m.waitHealthy(ctx, 20*time.Second); err != nil {
		return nil, fmt.Errorf("%s did not start (see %s): %w", name, f.logFile(name), err)
	}
	return m, nil
}

func (f *fleet) logFile(name string) string { return filepath.Join(f.logDir, name+".log") }

func (f *fleet) run(ctx context.Context, name string, args []string) (*member, error) {
	if _, ok := fibpro.Services[name]; !ok {
		return nil, fmt.Errorf("no FibPro service %q", name)
	}
	out, err := os.Create(f.logFile(name))
	if err != nil {
		return nil, fmt.Errorf("cannot open log of %s: %w", name, err)
	}
	cmd := exec.Command(f.exe, append([]string{"fibpro", name}, args...)...)
	m := &member{name: name, cmd: cmd, done: make(chan struct{}), bound: make(chan string, 1)}
	w := &addrWatcher{w: out, found: m.bound}
	cmd.Stdout, cmd.Stderr = w, w
	cmd.SysProcAttr = childProcAttr()
	if err := cmd.Start(); err != nil {
		out.Close()
		return nil, fmt.Errorf("cannot start %s: %w", name, err)
	}
	f.members = append(f.members, m)
	go func() {
		err := cmd.Wait()
		out.Close()
		close(m.done)
		if ctx.Err() == nil {
			f.exited <- fmt.Errorf("%s stopped unexpectedly (%v); its log: %s", name, err, f.logFile(name))
		}
	}()
	return m, nil
}

// stop ends the members in reverse order of start, traffic first, each
// with SIGTERM and, after a grace period, SIGKILL.
func (f *fleet) stop() {
	for i := len(f.members) - 1; i >= 0; i-- {
		m := f.members[i]
		m.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-m.done:
		case <-time.After(10 * time.Second):
			m.cmd.Process.Kill()
			<-m.done
		}
	}
}

func (m *member) waitHealthy(ctx context.Context, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	select {
	case m.addr = <-m.bound:
	case <-m.done:
		return errors.New("it exited")
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(limit):
		return fmt.Errorf("it did not say where it listens within %s", limit)
	}
	for {
		resp, err := http.Get("http://" + m.addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-m.done:
			return errors.New("it exited")
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not healthy after %s: %v", limit, err)
		}
	}
}

// loopback turns a listening address such as "[::]:4318" into one to
// connect to.
func loopback(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "localhost"
	}
	return net.JoinHostPort(host, port)
}

func printBanner(w io.Writer, info app.Info, f *fleet, rate float64, duration time.Duration, keep bool, logDir string) {
	var front string
	for _, m := range f.members {
		if m.name == "fibfrontend" {
			front = m.addr
		}
	}
	until := "until Ctrl-C"
	if duration > 0 {
		until = "for " + duration.String()
	}
	fmt.Fprintf(w, `
Telltale demo: the FibPro fleet is running with traffic (%g requests/s, %s).

  API and dashboard   http://%s
  FibPro frontend     curl -u alice:alice-pw http://%s/10
  OTLP                gRPC %s, HTTP http://%s
  Sentry DSN          %s

  Live view:          telltale top --server http://%s
  Services:           curl http://%s/api/v1/services
  Issues:             curl http://%s/api/v1/issues
  Fleet logs:         %s
`, rate, until, loopback(info.HTTPAddr), front, loopback(info.OTLPGRPCAddr), loopback(info.OTLPHTTPAddr), info.DSN,
		loopback(info.HTTPAddr), loopback(info.HTTPAddr), loopback(info.HTTPAddr), logDir)
	if !keep {
		fmt.Fprintln(w, "\n  The data is in a temporary directory, deleted when the demo stops; keep it with --data-dir.")
	}
	fmt.Fprintln(w)
}

// putDemoConfig configures, through the API as a user could, an uptime
// check of each FibPro service and alert rules on the fleet: a check
// failing, an error rate, a latency and new issues.
func putDemoConfig(ctx context.Context, info app.Info, f *fleet) error {
	var b bytes.Buffer
	b.WriteString("# The FibPro demo's checks and rules, set by telltale demo through PUT /api/v1/config.\nchecks:\n")
	var names []string
	for _, m := range f.members {
		if m.addr == "" {
			continue
		}
		names = append(names, m.name)
		fmt.Fprintf(&b, "  - name: %s\n    url: http://%s/healthz\n    interval: 10s\n    conditions: [\"[STATUS] == 200\", \"[RESPONSE_TIME] < 500\"]\n    labels: {service: %s}\n", m.name, m.addr, m.name)
	}
	b.WriteString("rules:\n")
	for _, n := range names {
		fmt.Fprintf(&b, "  - name: %s-down\n    check: %s\n    every: 10s\n    datapoints: 3\n    to_alarm: 2\n    labels: {severity: page, service: %s}\n    annotations: {summary: \"%s fails its health check\"}\n", n, n, n, n)
	}
	b.WriteString(`  - name: fibfrontend-errors
    service: {name: fibfrontend, measure: error_rate}
    condition: "> 20"
    window: 5m
    every: 30s
    labels: {severity: ticket, service: fibfrontend}
    annotations: {summary: "fibfrontend fails {{ .Value }}% of its requests"}
  - name: pricing-latency
    service: {name: pricing, measure: p95}
    condition: "> 500"
    window: 5m
    every: 30s
    labels: {severity: ticket, service: pricing}
  - name: new-issues
    issues: {event: new}
    window: 10m
    every: 30s
    labels: {severity: ticket}
    annotations: {summary: "{{ .Value }} new issues in the last 10 minutes"}
`)
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, "http://"+loopback(info.HTTPAddr)+"/api/v1/config", &b)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("PUT /api/v1/config: %s: %s", resp.Status, msg)
	}
	return nil
}
