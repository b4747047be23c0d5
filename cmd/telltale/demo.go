package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
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
	// The demo has access control like any server; without
	// TELLTALE_ADMIN_PASSWORD it makes up the first admin's password and
	// prints it, since a demo is for looking at at once.
	madeUp := opt.AdminPassword == ""
	if madeUp {
		opt.AdminPassword = randomPassword()
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
	f.env = []string{"OTEL_EXPORTER_OTLP_HEADERS=Authorization=Bearer%20" + info.IngestKey}
	ferr := f.start(ctx, info, *rate)
	login := "log in as " + opt.AdminUser + " with the password in TELLTALE_ADMIN_PASSWORD"
	if ferr == nil {
		api, err := demoLogin(ctx, info, opt.AdminUser, opt.AdminPassword)
		switch {
		case err != nil:
			// A kept data directory whose admin has another password.
			login = "log in as the admin of " + opt.DataDir
			fmt.Fprintln(stderr, "telltale demo: cannot log in to configure uptime checks and alert rules:", err)
		case opt.ConfigPath == "":
			// Not fatal: the demo's telemetry is worth seeing without checks.
			if err := putDemoConfig(ctx, api, info, f); err != nil {
				fmt.Fprintln(stderr, "telltale demo: cannot configure uptime checks and alert rules:", err)
			}
		}
		if err == nil && madeUp {
			login = fmt.Sprintf("log in as %s, password %s", opt.AdminUser, opt.AdminPassword)
		}
	}
	if ferr == nil {
		printBanner(stdout, info, f, *rate, *duration, dataGiven, logDir, login)
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
	exe    string
	logDir string
	stderr io.Writer
	// env is added to the members' environment: the ingest key, for the
	// OpenTelemetry exporters.
	env     []string
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
	cmd.Env = append(os.Environ(), f.env...)
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

func printBanner(w io.Writer, info app.Info, f *fleet, rate float64, duration time.Duration, keep bool, logDir, login string) {
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

  API and dashboard   http://%s (%s)
  FibPro frontend     curl -u alice:alice-pw http://%s/10
  OTLP                gRPC %s, HTTP http://%s
  Sentry DSN          %s

  Live view:          telltale top --server http://%s --token <an API token from Settings>
  Ingest key          %s (OTLP: Authorization: Bearer <key>)
  Fleet logs:         %s
`, rate, until, loopback(info.HTTPAddr), login, front, loopback(info.OTLPGRPCAddr), loopback(info.OTLPHTTPAddr), info.DSN,
		loopback(info.HTTPAddr), info.IngestKey, logDir)
	if !keep {
		fmt.Fprintln(w, "\n  The data is in a temporary directory, deleted when the demo stops; keep it with --data-dir.")
	}
	fmt.Fprintln(w)
}

// putDemoConfig configures, through the API as a user could, an uptime
// check of each FibPro service and alert rules on the fleet: a check
// failing, an error rate, a latency and new issues.
func putDemoConfig(ctx context.Context, api *apiClient, info app.Info, f *fleet) error {
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
	_, err := api.do(ctx, http.MethodPut, "/api/v1/config", "application/yaml", &b)
	return err
}

// apiClient calls the API with a login session, as the dashboard does.
type apiClient struct {
	base string
	http *http.Client
	csrf string
}

// demoLogin logs in to the demo's server.
func demoLogin(ctx context.Context, info app.Info, user, password string) (*apiClient, error) {
	jar, err := cookiejar.New(nil)
	if err != nil {
		return nil, err
	}
	c := &apiClient{base: "http://" + loopback(info.HTTPAddr), http: &http.Client{Jar: jar, Timeout: 30 * time.Second}}
	body, err := json.Marshal(map[string]string{"name": user, "password": password})
	if err != nil {
		return nil, err
	}
	data, err := c.do(ctx, http.MethodPost, "/api/v1/login", "application/json", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	var login struct {
		Data struct {
			CSRF string `json:"csrf"`
		} `json:"data"`
	}
	if err := json.Unmarshal(data, &login); err != nil {
		return nil, fmt.Errorf("cannot read the login answer: %w", err)
	}
	c.csrf = login.Data.CSRF
	return c, nil
}

// do sends a request and returns the body of a 2xx answer.
func (c *apiClient) do(ctx context.Context, method, path, ctype string, body io.Reader) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", ctype)
	if c.csrf != "" {
		req.Header.Set("X-CSRF-Token", c.csrf)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		return nil, fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, bytes.TrimSpace(data))
	}
	return data, nil
}

// randomPassword makes up a password: 26 random base32 characters.
func randomPassword() string { return rand.Text() }
