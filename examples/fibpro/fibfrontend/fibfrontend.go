// Package fibfrontend is FibPro's public face: GET /{n} answers fib(n),
// for a user who pays for it.
//
// A request is authenticated with HTTP Basic auth against userstore,
// priced by pricing, debited from the user's credit in userstore, and
// then computed. The answer is JSON {"n","fib","cost","balance"} (fib as a
// decimal string, since it outgrows every number type), or the bare
// number when the client accepts text/plain and not JSON. A bad n is a
// 400, bad credentials a 401, too little credit a 402 with the balance,
// and a failure of pricing or userstore a 502 caused by their error.
//
// The frontend also sends StatsD metrics: a fibpro.requests counter
// tagged with the status, and a fibpro.fib_time timer.
package fibfrontend

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/DataDog/datadog-go/v5/statsd"

	"github.com/fibinc/telltale/examples/fibpro/service"
	"github.com/fibinc/telltale/kit"
)

// Version is reported as service.version unless --version says otherwise.
const Version = "3.0.2"

// Config of a frontend. The zero value serves on service.FrontendAddr
// against the default addresses of userstore and pricing, without
// StatsD.
type Config struct {
	Addr      string // listen address; "127.0.0.1:0" picks a free port
	Userstore string // base URL of userstore
	Pricing   string // base URL of pricing
	// StatsD is the host:port StatsD metrics go to over UDP; "" sends
	// none.
	StatsD string
	// MaxN is the largest n served; default DefaultMaxN.
	MaxN int
	// Telemetry is passed to kit.Init; Service defaults to "fibfrontend".
	Telemetry kit.Config
	// Ready, when set, receives the bound address once serving.
	Ready chan<- string
}

// Main runs a frontend configured by command-line flags until ctx is
// done.
func Main(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("fibfrontend", flag.ContinueOnError)
	var cfg Config
	fs.StringVar(&cfg.Addr, "addr", service.FrontendAddr, "listen address")
	fs.StringVar(&cfg.Userstore, "userstore", "http://"+service.UserstoreAddr, "userstore base URL")
	fs.StringVar(&cfg.Pricing, "pricing", "http://"+service.PricingAddr, "pricing base URL")
	fs.StringVar(&cfg.StatsD, "statsd", service.StatsDAddr, "StatsD host:port (UDP); empty sends no StatsD metrics")
	fs.IntVar(&cfg.MaxN, "max-n", DefaultMaxN, "largest n served")
	service.TelemetryFlags(fs, &cfg.Telemetry, Version)
	if err := service.ParseFlags(fs, args); err != nil {
		return err
	}
	if cfg.MaxN <= 0 {
		return fmt.Errorf("fibfrontend: bad --max-n %d: want more than 0", cfg.MaxN)
	}
	if err := Run(ctx, cfg); err != nil {
		return fmt.Errorf("fibfrontend: %w", err)
	}
	return nil
}

// Run serves the frontend until ctx is done.
func Run(ctx context.Context, cfg Config) error {
	if cfg.Addr == "" {
		cfg.Addr = service.FrontendAddr
	}
	if cfg.Userstore == "" {
		cfg.Userstore = "http://" + service.UserstoreAddr
	}
	if cfg.Pricing == "" {
		cfg.Pricing = "http://" + service.PricingAddr
	}
	if cfg.MaxN <= 0 {
		cfg.MaxN = DefaultMaxN
	}
	if cfg.Telemetry.Service == "" {
		cfg.Telemetry.Service = "fibfrontend"
	}
	users, err := service.CheckURL("userstore", cfg.Userstore)
	if err != nil {
		return err
	}
	pricing, err := service.CheckURL("pricing", cfg.Pricing)
	if err != nil {
		return err
	}
	var stats *statsd.Client // nil sends nothing: its methods accept a nil receiver
	if cfg.StatsD != "" {
		stats, err = statsd.New(cfg.StatsD,
			statsd.WithTags([]string{"service:" + cfg.Telemetry.Service}),
			statsd.WithoutTelemetry(), statsd.WithoutOriginDetection())
		if err != nil {
			return fmt.Errorf("bad --statsd %q: %w", cfg.StatsD, err)
		}
		defer stats.Close() // sends what is buffered
	}

	shutdown, err := kit.Init(ctx, cfg.Telemetry)
	if err != nil {
		return err
	}
	defer service.Flush(ctx, shutdown)

	f := &frontend{users: kit.NewClient(users), pricing: kit.NewClient(pricing), stats: stats, maxN: cfg.MaxN, log: kit.Logger()}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", service.Healthz)
	mux.HandleFunc("GET /{$}", usage)
	mux.Handle("GET /{n}", kit.HandlerFunc(f.fib))
	return service.Serve(ctx, cfg.Addr, countRequests(stats, kit.Handler(mux)), cfg.Ready)
}

type frontend struct {
	users, pricing *kit.Client
	stats          *statsd.Client
	maxN           int
	log            *slog.Logger
}

// Answer is the JSON answer of GET /{n}.
type Answer struct {
	N       int    `json:"n"`
	Fib     string `json:"fib"`
	Cost    int64  `json:"cost"`
	Balance int64  `json:"balance"` // what the user has left
}

// account is userstore's answer.
type account struct {
	Name    string `json:"name"`
	Balance int64  `json:"balance"`
}

func (f *frontend) fib(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	user, err := f.authenticate(ctx, r)
	if err != nil {
		if kit.StatusOf(err) == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", `Basic realm="FibPro", charset="UTF-8"`)
		}
		return err
	}
	n, err := parseN(r.PathValue("n"), f.maxN)
	if err != nil {
		return err
	}
	var price struct {
		Cost int64 `json:"cost"`
	}
	if err := f.pricing.Get(ctx, "/cost/"+strconv.Itoa(n), &price); err != nil {
		return fmt.Errorf("cannot price fib(%d): %w", n, err)
	}
	var acct account
	debit := struct {
		Amount int64 `json:"amount"`
		N      int   `json:"n"`
	}{price.Cost, n}
	if err := f.users.Post(ctx, "/users/"+url.PathEscape(user)+"/debit", debit, &acct); err != nil {
		return fmt.Errorf("cannot charge %s %d credits for fib(%d): %w", user, price.Cost, n, err)
	}

	start := time.Now()
	fib := Fib(n).String()
	f.stats.Timing("fibpro.fib_time", time.Since(start), nil, 1)
	f.log.InfoContext(ctx, "fib served", "user", user, "n", n, "cost", price.Cost, "balance", acct.Balance)

	if wantsText(r.Header.Get("Accept")) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, err := fmt.Fprintln(w, fib)
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	return json.NewEncoder(w).Encode(Answer{N: n, Fib: fib, Cost: price.Cost, Balance: acct.Balance})
}

// authenticate checks the request's Basic credentials with userstore and
// returns the user name. Missing or wrong credentials are a 401, caused
// by userstore's error when it refused them.
func (f *frontend) authenticate(ctx context.Context, r *http.Request) (string, error) {
	user, password, ok := r.BasicAuth()
	if !ok || user == "" {
		return "", kit.WithStatus(kit.WithStack(service.ErrNoCredentials), http.StatusUnauthorized)
	}
	in := struct {
		Password string `json:"password"`
	}{password}
	err := f.users.Post(ctx, "/users/"+url.PathEscape(user)+"/authenticate", in, nil)
	switch {
	case errors.Is(err, service.ErrWrongPassword) || errors.Is(err, service.ErrUnknownUser):
		return "", kit.WithStatus(fmt.Errorf("cannot authenticate %q: %w", user, err), http.StatusUnauthorized)
	case err != nil:
		return "", fmt.Errorf("cannot authenticate %q: %w", user, err)
	}
	return user, nil
}

// wantsText tells whether an Accept header asks for text/plain rather
// than JSON. A full content negotiation is more than a demo needs.
func wantsText(accept string) bool {
	return strings.Contains(accept, "text/plain") && !strings.Contains(accept, "json")
}

func usage(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintf(w, "FibPro: GET /{n} answers fib(n), with HTTP Basic auth, e.g.\n\n  curl -u alice:%s http://%s/10\n", service.Password("alice"), r.Host)
}

// countRequests counts every answer in the fibpro.requests StatsD
// counter, tagged with its status. It sits outside kit.Handler, so that
// it sees the status of every answer, errors and panics included.
func countRequests(stats *statsd.Client, next http.Handler) http.Handler {
	if stats == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(sw, r)
		stats.Incr("fibpro.requests", []string{"status:" + strconv.Itoa(sw.status)}, 1)
	})
}

type statusWriter struct {
	http.ResponseWriter
	status      int
	wroteHeader bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wroteHeader {
		w.status, w.wroteHeader = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the writer's Flush and the
// others.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
