// Package pricing is FibPro's stateless price list: GET /cost/{n} answers
// what fib(n) costs, {"n","cost"}.
//
// It has two paths made for the demo. Above --slow-above, answers get
// slower with n (capped by --slow-max). For every n divisible by
// --buggy-every, the price comes from the "bulk" rule set, whose log
// level nobody taught the code: the call fails several calls deep
// (priceFor → loadRules → ruleLogger → parseLevel), and the frontend's
// error is caused by this remote one.
//
// A background job refreshes exchange rates every --refresh-every, and
// every third refresh fails. With --sentry-dsn, pricing reports those
// failures through the Sentry Go SDK (sentry.CaptureException), so that
// Telltale's Sentry ingest has traffic too; request errors go through the
// kit only, so that no failure is reported twice.
package pricing

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/getsentry/sentry-go"

	"github.com/fibinc/telltale/examples/fibpro/service"
	"github.com/fibinc/telltale/kit"
)

// Version is reported as service.version unless --version says otherwise.
const Version = "1.4.0"

// Defaults of the slow path.
const (
	DefaultSlowAbove = 500
	DefaultSlowMax   = 1500 * time.Millisecond
)

// Config of a pricing service. The zero value serves on
// service.PricingAddr with no slow path, no buggy path and no Sentry.
type Config struct {
	Addr string // listen address; "127.0.0.1:0" picks a free port
	// SlowAbove makes n above it slow: 1 ms per unit above, up to SlowMax.
	// 0 turns the slow path off.
	SlowAbove int
	SlowMax   time.Duration
	// BuggyEvery makes the price of every positive n divisible by it fail
	// deep inside; 0 turns the buggy path off.
	BuggyEvery int
	// RefreshEvery is the interval of the rate refresh job; 0 turns it off.
	RefreshEvery time.Duration
	// SentryDSN, when set, reports the refresh job's errors through
	// sentry-go.
	SentryDSN string
	// Telemetry is passed to kit.Init; Service defaults to "pricing".
	Telemetry kit.Config
	// Ready, when set, receives the bound address once serving.
	Ready chan<- string
}

// Main runs a pricing service configured by command-line flags until ctx
// is done.
func Main(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("pricing", flag.ContinueOnError)
	var cfg Config
	fs.StringVar(&cfg.Addr, "addr", service.PricingAddr, "listen address")
	fs.IntVar(&cfg.SlowAbove, "slow-above", DefaultSlowAbove, "n above this answers slowly, 1 ms per unit above; 0 never")
	fs.DurationVar(&cfg.SlowMax, "slow-max", DefaultSlowMax, "longest delay of the slow path")
	fs.IntVar(&cfg.BuggyEvery, "buggy-every", service.BuggyEvery, "pricing n divisible by this fails deep inside; 0 never")
	fs.DurationVar(&cfg.RefreshEvery, "refresh-every", 5*time.Second, "interval of the exchange-rate refresh job, which fails every third time; 0 never")
	fs.StringVar(&cfg.SentryDSN, "sentry-dsn", "", "report the refresh job's errors to this Sentry DSN (e.g. Telltale's)")
	service.TelemetryFlags(fs, &cfg.Telemetry, Version)
	if err := service.ParseFlags(fs, args); err != nil {
		return err
	}
	switch {
	case cfg.SlowAbove < 0:
		return fmt.Errorf("pricing: bad --slow-above %d: want 0 or more", cfg.SlowAbove)
	case cfg.SlowMax < 0:
		return fmt.Errorf("pricing: bad --slow-max %s: want 0 or more", cfg.SlowMax)
	case cfg.RefreshEvery < 0:
		return fmt.Errorf("pricing: bad --refresh-every %s: want 0 or more", cfg.RefreshEvery)
	case cfg.BuggyEvery < 0:
		return fmt.Errorf("pricing: bad --buggy-every %d: want 0 or more", cfg.BuggyEvery)
	}
	if err := Run(ctx, cfg); err != nil {
		return fmt.Errorf("pricing: %w", err)
	}
	return nil
}

// Run serves pricing until ctx is done.
func Run(ctx context.Context, cfg Config) error {
	if cfg.Addr == "" {
		cfg.Addr = service.PricingAddr
	}
	if cfg.Telemetry.Service == "" {
		cfg.Telemetry.Service = "pricing"
	}
	shutdown, err := kit.Init(ctx, cfg.Telemetry)
	if err != nil {
		return err
	}
	defer service.Flush(ctx, shutdown)

	p := &pricer{slowAbove: cfg.SlowAbove, slowMax: cfg.SlowMax, buggyEvery: cfg.BuggyEvery, log: kit.Logger()}
	var hub *sentry.Hub
	if cfg.SentryDSN != "" {
		if hub, err = newSentryHub(cfg.SentryDSN, cfg.Telemetry); err != nil {
			return err
		}
		defer hub.Flush(2 * time.Second)
	}
	if cfg.RefreshEvery > 0 {
		jobCtx, stopJob := context.WithCancel(ctx)
		jobDone := make(chan struct{})
		go func() { refreshRates(jobCtx, cfg.RefreshEvery, hub, p.log); close(jobDone) }()
		// Deferred calls run last first: the job stops before the flush.
		defer func() { stopJob(); <-jobDone }()
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", service.Healthz)
	mux.Handle("GET /cost/{n}", kit.HandlerFunc(p.cost))
	return service.Serve(ctx, cfg.Addr, kit.Handler(mux), cfg.Ready)
}

// Cost is the price of fib(n) in credits.
func Cost(n int) int64 { return 1 + int64(n)/10 }

type pricer struct {
	slowAbove  int
	slowMax    time.Duration
	buggyEvery int
	log        *slog.Logger
}

func (p *pricer) cost(w http.ResponseWriter, r *http.Request) error {
	n, err := strconv.Atoi(r.PathValue("n"))
	if err != nil {
		return kit.WithStatus(kit.Errorf("n must be a whole number: %w", err), http.StatusBadRequest)
	}
	if n < 0 {
		return kit.WithStatus(kit.Errorf("%w: %d", service.ErrNegativeN, n), http.StatusBadRequest)
	}
	if err := p.slowPath(r.Context(), n); err != nil {
		return err
	}
	cost, err := p.priceFor(r.Context(), n)
	if err != nil {
		return err
	}
	p.log.InfoContext(r.Context(), "priced", "n", n, "cost", cost)
	w.Header().Set("Content-Type", "application/json")
	return json.NewEncoder(w).Encode(struct {
		N    int   `json:"n"`
		Cost int64 `json:"cost"`
	}{n, cost})
}

// delay is how long the slow path takes for n.
func (p *pricer) delay(n int) time.Duration {
	if p.slowAbove <= 0 || n <= p.slowAbove {
		return 0
	}
	return min(time.Duration(n-p.slowAbove)*time.Millisecond, p.slowMax)
}

// slowPath stands for an expensive lookup that grows with n.
func (p *pricer) slowPath(ctx context.Context, n int) error {
	d := p.delay(n)
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("cannot price %d: %w", n, context.Cause(ctx))
	}
}

// ruleSets are the pricing rules as a config file would give them. The
// bulk set has a log level parseLevel does not know.
var ruleSets = map[string]map[string]string{
	"standard": {"base": "1", "per": "10", "log_level": "info"},
	"bulk":     {"base": "1", "per": "10", "log_level": "verbose"},
}

type rules struct {
	base, per int64
	log       *slog.Logger
}

func (p *pricer) priceFor(ctx context.Context, n int) (int64, error) {
	set := "standard"
	if p.buggyEvery > 0 && n > 0 && n%p.buggyEvery == 0 {
		set = "bulk"
	}
	rs, err := loadRules(set)
	if err != nil {
		return 0, fmt.Errorf("cannot price n=%d: %w", n, err)
	}
	cost := rs.base + int64(n)/rs.per
	rs.log.DebugContext(ctx, "rules applied", "n", n, "cost", cost)
	return cost, nil
}

func loadRules(set string) (rules, error) {
	cfg := ruleSets[set]
	base, err1 := strconv.ParseInt(cfg["base"], 10, 64)
	per, err2 := strconv.ParseInt(cfg["per"], 10, 64)
	if err1 != nil || err2 != nil || per <= 0 {
		return rules{}, kit.Errorf("cannot load pricing rules %q: bad base %q or per %q", set, cfg["base"], cfg["per"])
	}
	log, err := ruleLogger(set, cfg)
	if err != nil {
		return rules{}, fmt.Errorf("cannot load pricing rules %q: %w", set, err)
	}
	return rules{base: base, per: per, log: log}, nil
}

func ruleLogger(set string, cfg map[string]string) (*slog.Logger, error) {
	level, err := parseLevel(cfg["log_level"])
	if err != nil {
		return nil, fmt.Errorf("cannot set up the logger of rules %q: %w", set, err)
	}
	return slog.New(kit.NewLogHandler(level)).With("rules", set), nil
}

// parseLevel knows the slog level names, and not "verbose".
func parseLevel(s string) (slog.Level, error) {
	switch strings.ToLower(s) {
	case "debug":
		return slog.LevelDebug, nil
	case "info", "":
		return slog.LevelInfo, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, kit.Errorf("%w %q", service.ErrUnknownLevel, s)
}
