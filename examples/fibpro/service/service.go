// Package service is what the FibPro services share: the sentinel errors
// that cross the wire between them, the seed users, their default
// addresses, and the flags, serving and shutdown that every one of them
// does the same way.
//
// Sentinel errors work across services because a kit.RemoteError matches
// errors.Is by the type and message of the callee's errors: a caller of
// userstore can test errors.Is(err, service.ErrInsufficientCredit).
package service

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/fibinc/telltale/kit"
)

// Errors that one service answers and another tests for.
var (
	ErrUnknownUser        = errors.New("unknown user")
	ErrWrongPassword      = errors.New("wrong password")
	ErrInsufficientCredit = errors.New("insufficient credit")
	ErrNoCredentials      = errors.New("no credentials: use HTTP Basic auth")
	ErrNegativeN          = errors.New("n must not be negative")
	ErrNTooLarge          = errors.New("n too large")
	// ErrBadRate is the failure of pricing's rate refresh job.
	ErrBadRate = errors.New("malformed exchange rate")
	// ErrUnknownLevel is pricing's deep failure on its buggy path.
	ErrUnknownLevel = errors.New("unknown log level")
)

// Default listen addresses of the fleet.
const (
	FrontendAddr  = "127.0.0.1:8081"
	PricingAddr   = "127.0.0.1:8082"
	UserstoreAddr = "127.0.0.1:8083"
	StatsDAddr    = "127.0.0.1:8125"
)

// BuggyEvery is pricing's default: the price of every n divisible by it
// fails deep inside pricing. The traffic generator aims at it.
const BuggyEvery = 13

// SeedUser is a user the userstore starts with; its password is
// Password(Name).
type SeedUser struct {
	Name    string
	Balance int64
}

// SeedUsers are FibPro's first customers. erin starts with almost no
// credit, so that "insufficient credit" shows up at once.
var SeedUsers = []SeedUser{
	{"alice", 1000},
	{"bob", 300},
	{"carol", 120},
	{"dave", 5000},
	{"erin", 3},
}

// Password is the demo password of a seed user.
func Password(user string) string { return user + "-pw" }

// TelemetryFlags adds the flags that say who a service is and where its
// telemetry goes, filling tel when fs is parsed. version is the default
// of --version.
func TelemetryFlags(fs *flag.FlagSet, tel *kit.Config, version string) {
	fs.StringVar(&tel.Endpoint, "otlp", "", "Telltale's OTLP/HTTP endpoint, host:port or URL (default $OTEL_EXPORTER_OTLP_ENDPOINT, else "+kit.DefaultEndpoint+")")
	fs.StringVar(&tel.Version, "version", version, "version of this service, as reported")
	fs.StringVar(&tel.Environment, "env", "", "deployment environment, e.g. prod or preprod")
	fs.StringVar(&tel.Zone, "zone", "", "availability zone of this instance, e.g. us-east-1b")
	fs.StringVar(&tel.Instance, "instance", "", "name of this instance (default a random id)")
}

// ParseFlags parses args into fs, which must be made with
// flag.ContinueOnError, and refuses arguments that are not flags. A bad
// flag has been explained on fs.Output() when it returns; -h returns
// flag.ErrHelp.
func ParseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%s: bad flags: %w", fs.Name(), err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%s: unexpected argument %q (all settings are flags, see -h)", fs.Name(), fs.Arg(0))
	}
	return nil
}

// CheckURL checks that the value of the flag named flagName is an
// http(s) base URL, and returns it without a trailing slash.
func CheckURL(flagName, value string) (string, error) {
	u, err := url.Parse(value)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("bad --%s %q: want an http(s) URL such as http://%s", flagName, value, FrontendAddr)
	}
	return strings.TrimRight(value, "/"), nil
}

// Timeouts of serving and stopping.
const (
	readHeaderTimeout = 10 * time.Second
	// stopTimeout bounds the wait for requests in flight, and then for the
	// telemetry flush; pricing's slowest answer is well within it.
	stopTimeout = 5 * time.Second
)

// Serve serves h on addr until ctx is done, then stops gracefully: it
// stops accepting, and waits for the requests in flight, at most 5 s. It
// logs "listening on http://ADDR" once listening, and sends the bound
// address (useful with port 0) on ready, unless ready is nil.
func Serve(ctx context.Context, addr string, h http.Handler, ready chan<- string) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("cannot listen on %s: %w", addr, err)
	}
	bound := ln.Addr().String()
	log := kit.Logger()
	var conns activeConns
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: readHeaderTimeout,
		ConnState:         conns.track,
		ErrorLog:          slog.NewLogLogger(kit.NewLogHandler(slog.LevelWarn), slog.LevelWarn),
	}
	log.Info("listening on http://" + bound)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	if ready != nil {
		select {
		case ready <- bound:
		case <-ctx.Done():
		}
	}
	select {
	case err := <-served:
		return fmt.Errorf("cannot serve on %s: %w", bound, err)
	case <-ctx.Done():
	}

	log.Info("stopping")
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stopTimeout)
	defer cancel()
	stopped := make(chan error, 1)
	go func() { stopped <- srv.Shutdown(sctx) }()
	// Shutdown also waits up to 5 s for connections that clients opened
	// and never used (an HTTP client dials spare connections under
	// load). Once no request is in flight, those are closed at once.
	poll := time.NewTicker(20 * time.Millisecond)
	defer poll.Stop()
	closed := false
	for {
		select {
		case err := <-stopped:
			if err != nil {
				srv.Close()
				return fmt.Errorf("cannot stop serving on %s gracefully: %w", bound, err)
			}
			return nil
		case <-poll.C:
			if !closed && conns.idle() {
				srv.Close()
				closed = true
			}
		}
	}
}

// activeConns counts the connections with a request in flight.
type activeConns struct {
	mu     sync.Mutex
	active map[net.Conn]bool
}

func (c *activeConns) track(conn net.Conn, state http.ConnState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if state == http.StateActive {
		if c.active == nil {
			c.active = map[net.Conn]bool{}
		}
		c.active[conn] = true
	} else {
		delete(c.active, conn)
	}
}

func (c *activeConns) idle() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.active) == 0
}

// Flush runs the shutdown function that kit.Init returned, bounded in
// time. A failed flush (Telltale gone first) is logged, not returned: it
// loses telemetry, but the service did its work and stopped cleanly.
func Flush(ctx context.Context, shutdown func(context.Context) error) {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stopTimeout)
	defer cancel()
	if err := shutdown(sctx); err != nil {
		kit.Logger().Warn("cannot flush telemetry", "error", err)
	}
}

// Healthz answers the health checks of every service.
func Healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintln(w, "ok")
}

// RunCommand runs a service's Main as a standalone command: until SIGINT or
// SIGTERM, exiting 1 with the error printed when it fails.
func RunCommand(main func(ctx context.Context, args []string) error) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := main(ctx, os.Args[1:])
	stop()
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
