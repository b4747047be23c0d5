// Package app is Telltale's composition root: it builds every subsystem from
// Options, runs them, and shuts them down in order.
//
// Shutdown order: readiness off, ingest listeners stop (in-flight requests
// finish, which waits for their commits; StatsD commits its last interval), the pipeline commits what is
// queued, the issue tracker adds its last counts, uptime checks and alert
// rules stop, the notifier delivers what they reported, the API server
// stops, the state and the store close.
package app

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"

	"github.com/fibinc/telltale/internal/api"
	"github.com/fibinc/telltale/internal/api/prom"
	"github.com/fibinc/telltale/internal/auth"
	"github.com/fibinc/telltale/internal/datadir"
	"github.com/fibinc/telltale/internal/diskguard"
	"github.com/fibinc/telltale/internal/ingest/cardinality"
	"github.com/fibinc/telltale/internal/ingest/ingestkey"
	"github.com/fibinc/telltale/internal/ingest/jsonlogs"
	"github.com/fibinc/telltale/internal/ingest/otlpgrpc"
	"github.com/fibinc/telltale/internal/ingest/otlphttp"
	"github.com/fibinc/telltale/internal/ingest/sentryhttp"
	statsdingest "github.com/fibinc/telltale/internal/ingest/statsd"
	"github.com/fibinc/telltale/internal/issues"
	"github.com/fibinc/telltale/internal/pipeline"
	"github.com/fibinc/telltale/internal/promql"
	"github.com/fibinc/telltale/internal/query"
	"github.com/fibinc/telltale/internal/retention"
	"github.com/fibinc/telltale/internal/selfmetrics"
	"github.com/fibinc/telltale/internal/state"
	statedb "github.com/fibinc/telltale/internal/state/duckdb"
	"github.com/fibinc/telltale/internal/store/duckdb"
	"github.com/fibinc/telltale/internal/telemetry"
	"github.com/fibinc/telltale/internal/web"
)

// Options configure Telltale. The zero value serves on the default ports
// with data in ./telltale-data.
type Options struct {
	DataDir      string // default ./telltale-data
	OTLPGRPCAddr string // default :4317
	OTLPHTTPAddr string // default :4318
	HTTPAddr     string // UI, API, /metrics, health; default :4320
	// StatsDAddr is where StatsD is received, over UDP and TCP; default
	// :8125, "-" turns StatsD off.
	StatsDAddr string
	// StatsDFlushInterval is the StatsD aggregation interval; default 10s.
	StatsDFlushInterval time.Duration
	// MaxSeriesPerMetric bounds the series of each metric name active in
	// the last hour, over OTLP and StatsD; points of new series beyond it
	// are rejected. Default 10,000; negative turns the limit off.
	MaxSeriesPerMetric int

	// Retention is the age limit per signal; see DefaultRetention for the
	// signals it does not name.
	Retention map[telemetry.Signal]time.Duration
	// MaxDiskBytes caps the telemetry on disk; 0 means no cap.
	MaxDiskBytes int64
	// MaxBodyBytes caps an ingest request body, before and after
	// decompression. Default 16 MiB.
	MaxBodyBytes int64
	// QueueRecords caps the records waiting for a commit, per signal.
	QueueRecords int
	// MemoryLimit caps DuckDB's memory, e.g. "256MB". Default: its share
	// of MemoryBudget.
	MemoryLimit string
	// MemoryBudget is the memory Telltale aims to stay within: it sets the
	// Go soft memory limit, DuckDB's (unless MemoryLimit is given), the
	// bytes of ingest requests in flight and of the queue
	// (docs/design/security.md, "Limits"). Default 1 GiB; negative: none.
	MemoryBudget int64
	// Limits bound the fields of each record; the zero value applies the
	// defaults.
	Limits pipeline.Limits
	// QueryTimeout is the deadline of every API and page request. Default
	// 30s; negative: none.
	QueryTimeout time.Duration
	// MaxQueryRange caps the time range of a query. Default 31 days.
	MaxQueryRange time.Duration
	// MaxQueryRows caps the rows a query returns; API limits above it
	// answer 400. Default 10,000.
	MaxQueryRows int
	// MaxConcurrentQueries caps the API and page requests served at once.
	// Default 4; negative: no cap.
	MaxConcurrentQueries int
	// ShutdownTimeout bounds the graceful stop of each listener. Default 10s.
	ShutdownTimeout time.Duration
	// ConfigPath is the configuration file of uptime checks, alert rules
	// and notifications (docs/design/alerting.md), reloaded on SIGHUP and
	// POST /-/reload. Empty: the configuration set through the API, if any.
	ConfigPath string

	// IngestAuthOff turns ingest key checks off (--ingest-auth=false): any
	// client may send, StatsD from anywhere. For local development only;
	// the server says so loudly at start.
	IngestAuthOff bool
	// IngestKeyHeader is the header (and gRPC metadata key) that carries
	// ingest keys; "" means Authorization: Bearer <key>.
	IngestKeyHeader string
	// IngestRate is a key's default rate limit in records per second:
	// 0 means 100,000, negative no limit.
	IngestRate float64
	// MaxRecordsPerRequest bounds the records of one ingest request: 0
	// means 100,000, negative no limit.
	MaxRecordsPerRequest int
	// StatsDAllow lists the networks StatsD accepts; nil means loopback.
	StatsDAllow []netip.Prefix
	// AdminUser and AdminPassword create the first admin when no user
	// exists (serve reads the password from TELLTALE_ADMIN_PASSWORD).
	// Without a password, the first start logs a one-time /setup link.
	// AdminUser defaults to "admin".
	AdminUser, AdminPassword string
	// SessionTTL is the absolute lifetime of a login session; default 7
	// days (sessions also end after 24 hours unused).
	SessionTTL time.Duration
	// OIDC turns on login through an OpenID Connect provider.
	OIDC OIDC
	// MinFreeDisk is the free space of the data directory's file system
	// below which ingest is refused (503 + Retry-After) until there is
	// more. Default 512MB; negative turns the check off.
	MinFreeDisk int64
	// TLSCert and TLSKey are PEM files: when set, every TCP listener (UI
	// and API, OTLP/HTTP, OTLP/gRPC, StatsD TCP) serves TLS 1.2 or later.
	// The files are read again when they change. TLSClientCA, when set,
	// makes the ingest listeners require client certificates it signed.
	TLSCert, TLSKey, TLSClientCA string
	// Version is written in the marker of a new data directory.
	Version string

	Logger *slog.Logger
	// Ready, when set, is called once every listener serves.
	Ready func(Info)
}

// Info describes a running Telltale: the addresses it listens on (with the
// ports chosen when the options asked for port 0) and the DSN of its
// default project.
type Info struct {
	OTLPGRPCAddr, OTLPHTTPAddr, HTTPAddr string
	StatsDAddr                           string // UDP; "" when off
	DSN                                  string
	// IngestKey is the default project's first active ingest key.
	IngestKey string
}

// DefaultRetention returns the age limit of a signal that Options do not
// name: a week of telemetry, a month of error events, which are few and
// which people look back on when an issue regresses.
func DefaultRetention(s telemetry.Signal) time.Duration {
	if s == telemetry.SignalErrors {
		return 30 * 24 * time.Hour
	}
	return 7 * 24 * time.Hour
}

func (o *Options) setDefaults() {
	if o.DataDir == "" {
		o.DataDir = "./telltale-data"
	}
	if o.OTLPGRPCAddr == "" {
		o.OTLPGRPCAddr = ":4317"
	}
	if o.OTLPHTTPAddr == "" {
		o.OTLPHTTPAddr = ":4318"
	}
	if o.HTTPAddr == "" {
		o.HTTPAddr = ":4320"
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = 16 << 20
	}
	if o.ShutdownTimeout <= 0 {
		o.ShutdownTimeout = 10 * time.Second
	}
	if o.MinFreeDisk == 0 {
		o.MinFreeDisk = diskguard.DefaultReserve
	}
	if o.MemoryBudget == 0 {
		o.MemoryBudget = DefaultMemoryBudget
	}
	ret := map[telemetry.Signal]time.Duration{}
	for _, s := range telemetry.Signals {
		ret[s] = DefaultRetention(s)
		if d, ok := o.Retention[s]; ok {
			ret[s] = d
		}
	}
	o.Retention = ret
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Run starts Telltale and blocks until ctx is cancelled and everything has
// shut down, or until a component fails.
func Run(ctx context.Context, opt Options) (err error) {
	opt.setDefaults()
	log := opt.Logger
	started := time.Now()

	uiTLS, ingestTLS, err := tlsConfigs(opt, log)
	if err != nil {
		return err
	}
	if _, adopted, err := datadir.Prepare(opt.DataDir, opt.Version, started); err != nil {
		return err
	} else if adopted {
		log.Info("marked the data directory of an earlier Telltale as Telltale's", "component", "app", "data_dir", opt.DataDir)
	}

	memory := splitMemory(opt.MemoryBudget)
	duckdbMemory, restoreGoLimit := applyMemoryLimits(memory, opt.MemoryLimit, log)
	defer restoreGoLimit()

	st, err := duckdb.Open(ctx, duckdb.Options{Dir: opt.DataDir, MemoryLimit: duckdbMemory, Logger: log})
	if err != nil {
		return err
	}
	defer func() {
		if cerr := st.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("cannot close store: %w", cerr)
		}
	}()

	sta, err := statedb.Open(ctx, statedb.Options{Path: filepath.Join(opt.DataDir, "state.duckdb"), Logger: log})
	if err != nil {
		return err
	}
	defer func() {
		if cerr := sta.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("cannot close state: %w", cerr)
		}
	}()
	project, err := defaultProject(ctx, sta)
	if err != nil {
		return err
	}

	guard := diskguard.New(diskguard.Options{Dir: opt.DataDir, Reserve: max(opt.MinFreeDisk, 0),
		Broken: st.Broken, Reopen: st.Reopen, Logger: log})

	reg := selfmetrics.New()
	ingestMetrics := selfmetrics.NewIngest(reg)
	keys, ingestKey, err := ingestKeys(ctx, opt, sta, reg, project, log)
	if err != nil {
		return err
	}
	dsnProject := project
	if ingestKey != "" {
		dsnProject.PublicKey = ingestKey
	}
	commitSeconds := reg.NewHistogram("telltale_commit_duration_seconds", "Time to commit one group of records to the store.",
		[]float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}, "signal")
	commitRecords := reg.NewCounter("telltale_commit_records_total", "Records committed to the store.", "signal")
	commitErrors := reg.NewCounter("telltale_commit_errors_total", "Commits that failed.", "signal")

	var pipe *pipeline.Pipeline
	lim := newLimits(opt, memory, reg, func() float64 { return float64(pipe.QueuedBytes()) })
	pipe = pipeline.New(pipeline.Options{
		Writer:       diskguard.Writer(st, guard),
		QueueRecords: opt.QueueRecords,
		QueueBytes:   memory.queue,
		Limits:       opt.Limits,
		OnTruncate: func(s telemetry.Signal, what string, n int) {
			lim.metrics.Truncated.With(string(s), what).Add(uint64(n))
		},
		Logger: log,
		OnCommit: func(s telemetry.Signal, n int, took time.Duration, err error) {
			commitSeconds.With(string(s)).ObserveDuration(took)
			if err != nil {
				commitErrors.With(string(s)).Inc()
				return
			}
			commitRecords.With(string(s)).Add(uint64(n))
		},
	})
	queueDepth := reg.NewGauge("telltale_queue_records", "Records waiting for a commit.", "signal")
	for _, s := range telemetry.Signals {
		queueDepth.With(string(s)).SetFunc(func() float64 { return float64(pipe.Depth(s)) })
	}
	reg.NewGaugeFunc("telltale_disk_bytes", "Bytes used by the data directory.", func() float64 {
		n, _ := st.DiskUsage()
		return float64(n)
	})
	reg.NewGaugeFunc("telltale_disk_free_bytes", "Free bytes of the data directory's file system; ingest stops below the reserve.", func() float64 {
		n, _ := guard.Free()
		return float64(n)
	})
	reg.NewGaugeFunc("telltale_store_broken", "1 while the store waits to be reopened after a failed write.", func() float64 {
		if st.Broken() != nil {
			return 1
		}
		return 0
	})
	reg.NewGaugeFunc("telltale_uptime_seconds", "Seconds since Telltale started.", func() float64 {
		return time.Since(started).Seconds()
	})

	tracker, err := issues.New(issues.Options{State: sta, Appender: pipe, DefaultProjectID: project.ID, Logger: log})
	if err != nil {
		return err
	}
	// Listeners append through the guard, which refuses before any work.
	ingest := diskguard.Appender(tracker, guard)

	qs, err := query.New(query.Options{Store: st, State: sta, Timeout: queryTimeout(opt.QueryTimeout), MaxRows: opt.MaxQueryRows})
	if err != nil {
		return err
	}

	promEngine, err := promql.New(promql.Options{Query: qs, Logger: log})
	if err != nil {
		return err
	}

	series := cardinality.New(cardinality.Options{MaxSeriesPerMetric: opt.MaxSeriesPerMetric})
	seedSeries(ctx, qs, series, log)
	reg.NewGaugeFunc("telltale_metric_series_active", "Metric series with a point in the last hour, as counted for the per-metric series limit.",
		func() float64 { return float64(series.Series()) })

	// Timestamps outside the window are refused with a partial success:
	// older ones would be deleted by retention at once.
	window := func(s telemetry.Signal) (time.Time, time.Time) {
		now := time.Now()
		var earliest time.Time // retention 0 keeps everything
		if r := opt.Retention[s]; r > 0 {
			earliest = now.Add(-r)
		}
		return earliest, now.Add(24 * time.Hour)
	}

	// Bind every port before serving anything, so that a busy port fails
	// the start instead of leaving a half-running server. Until serving
	// starts, a failure closes what was bound.
	var listeners []net.Listener
	var statsd *statsdingest.Server
	serving := false
	defer func() {
		if serving {
			return
		}
		for _, l := range listeners {
			l.Close()
		}
		if statsd != nil {
			statsd.Close()
		}
	}()
	listen := func(addr, what string) (net.Listener, error) {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("cannot listen for %s on %s: %w", what, addr, err)
		}
		listeners = append(listeners, l)
		return l, nil
	}
	grpcLn, err := listen(opt.OTLPGRPCAddr, "OTLP/gRPC")
	if err != nil {
		return err
	}
	otlpLn, err := listen(opt.OTLPHTTPAddr, "OTLP/HTTP")
	if err != nil {
		return err
	}
	httpLn, err := listen(opt.HTTPAddr, "UI and API")
	if err != nil {
		return err
	}
	if opt.StatsDAddr != statsdingest.Disabled {
		allow := opt.StatsDAllow
		if opt.IngestAuthOff {
			allow = ingestkey.MustPrefixes("0.0.0.0/0,::/0")
		}
		statsd, err = statsdingest.Listen(statsdingest.Options{UDPAddr: opt.StatsDAddr, TCPAddr: opt.StatsDAddr, TLS: ingestTLS,
			FlushInterval: opt.StatsDFlushInterval, Appender: diskguard.Appender(pipe, guard), Series: series, Window: window, Metrics: ingestMetrics, Logger: log,
			Allow: allow, Denied: keys.Metrics().StatsDDenied})
		if err != nil {
			return err
		}
	}

	// Checks, rules and notifications start from a valid configuration or
	// not at all: a broken file fails the start with every problem named.
	alerts, err := newAlerting(opt.ConfigPath, sta, qs, promEngine, baseURL(uiTLS, httpLn.Addr()), log)
	if err != nil {
		return err
	}
	if err := alerts.manager.Load(ctx); err != nil {
		return fmt.Errorf("cannot load the configuration: %w", err)
	}

	grpcSrv := otlpgrpc.NewServer(otlpgrpc.Options{
		Appender: ingest, Metrics: ingestMetrics, MaxRecvMsgBytes: int(opt.MaxBodyBytes), Window: window, Series: series, Logger: log, Keys: keys,
	}, lim.grpcOpts...)
	otlpMux := http.NewServeMux()
	otlpMux.Handle("/v1/", otlphttp.New(otlphttp.Options{
		Appender: ingest, Metrics: ingestMetrics, MaxBodyBytes: opt.MaxBodyBytes, Window: window, Series: series, Logger: log, Keys: keys,
	}))
	otlpMux.Handle("/api/v1/logs", jsonlogs.New(jsonlogs.Options{Appender: ingest, Metrics: ingestMetrics, MaxBodyBytes: opt.MaxBodyBytes, Window: window, Logger: log, Keys: keys}))
	// Sentry SDKs post to [/prefix]/api/<project>/envelope/ or /store/.
	otlpMux.Handle("/", sentryhttp.New(sentryhttp.Options{
		Appender: ingest, Keys: keys, Metrics: ingestMetrics, MaxBodyBytes: opt.MaxBodyBytes, Window: window, Logger: log,
		CheckIns: func(ctx context.Context, slug, status string, took time.Duration, at time.Time) {
			// A check-in for a monitor that is not a push check is kept
			// as a log record only.
			alerts.runner.CheckIn(ctx, slug, status, took, at)
		},
	}))
	otlpSrv := &http.Server{Handler: lim.ingestHTTP(otlpMux), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}

	var ready atomic.Bool
	uiMux := http.NewServeMux()
	uiMux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	uiMux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if !ready.Load() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	uiMux.Handle("GET /metrics", reg.Handler())
	// Profiles of a live server, as Prometheus and VictoriaMetrics offer.
	uiMux.HandleFunc("GET /debug/pprof/", pprof.Index)
	uiMux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	uiMux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	uiMux.HandleFunc("POST /-/reload", alerts.reloadHandler)
	ingestURL := baseURL(ingestTLS, otlpLn.Addr())
	promHandler, err := prom.New(prom.Options{Engine: promEngine, Logger: log})
	if err != nil {
		return err
	}
	apiHandler, err := api.New(api.Options{Query: qs, Status: tracker, Projects: sta, IngestURL: ingestURL, Prometheus: promHandler,
		Config: alerts.manager, Checks: alerts.runner, Alerts: alerts.eval, Notify: alerts.notifier, Logger: log, Keys: keys,
		MaxRange: opt.MaxQueryRange, MaxRows: opt.MaxQueryRows})
	if err != nil {
		return err
	}
	uiMux.Handle("/api/", lim.queries.Handler(apiHandler))
	// Access control wraps the whole UI port; its error pages are the
	// dashboard's.
	var webHandler *web.Handler
	var external auth.ExternalLogin
	if opt.OIDC.Issuer != "" {
		external = newOIDCLogin(opt.OIDC, baseURL(uiTLS, httpLn.Addr()), log)
	}
	access, err := auth.New(auth.Options{Store: sta, Logger: log, SessionTTL: opt.SessionTTL, External: external, ExternalDefaultRole: opt.OIDC.DefaultRole,
		ErrorPage: func(w http.ResponseWriter, r *http.Request, status int, title, msg string) {
			webHandler.ErrorPage(w, r, status, title, msg)
		}})
	if err != nil {
		return err
	}
	setupToken, err := access.Bootstrap(ctx, opt.AdminUser, opt.AdminPassword)
	if err != nil {
		return err
	}
	access.Routes(uiMux)
	webHandler, err = web.New(web.Options{Query: qs, PromQL: promEngine, Status: tracker, IngestURL: ingestURL, DSN: api.DSN(ingestURL, dsnProject),
		Uptime: alerts.runner, Alerts: alerts.eval, Notify: alerts.notifier, Access: access, Logger: log,
		Projects: keys, IngestKeyHeader: opt.IngestKeyHeader, MaxRange: opt.MaxQueryRange})
	if err != nil {
		return err
	}
	uiMux.Handle("/", lim.queries.Handler(webHandler))
	uiSrv := &http.Server{Handler: securityHeaders(access.Handler(uiMux)), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	warnPlainHTTP(log, httpLn.Addr(), uiTLS != nil)

	ret := retention.New(retention.Options{Store: st, MaxAge: opt.Retention, MaxBytes: opt.MaxDiskBytes, Logger: log})

	// The pipeline outlives ctx: it stops only after the listeners drained.
	pipeCtx, stopPipe := context.WithCancel(context.WithoutCancel(ctx))
	defer stopPipe()
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()

	var wg sync.WaitGroup
	errc := make(chan error, 8)
	goRun := func(name string, f func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(); err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, grpc.ErrServerStopped) {
				errc <- fmt.Errorf("%s: %w", name, err)
				cancel()
			}
		}()
	}
	serving = true
	pipeDone := make(chan struct{})
	go func() { pipe.Run(pipeCtx); close(pipeDone) }()
	goRun("retention", func() error { return ret.Run(runCtx) })
	wg.Go(func() { keys.Run(runCtx) })
	goRun("access control", func() error { access.Run(runCtx); return nil })
	// The notifier outlives the checks and rules, so that what they
	// report as they stop is still delivered.
	notifyCtx, stopNotify := context.WithCancel(context.WithoutCancel(ctx))
	defer stopNotify()
	notifyDone := make(chan struct{})
	go func() { alerts.notifier.Run(notifyCtx); close(notifyDone) }()
	var alertWG sync.WaitGroup
	alertWG.Add(3)
	go func() { defer alertWG.Done(); alerts.runner.Run(runCtx) }()
	go func() { defer alertWG.Done(); alerts.eval.Run(runCtx) }()
	go func() { defer alertWG.Done(); alerts.watchSignals(runCtx) }()
	trackerDone := make(chan struct{})
	go func() { tracker.Run(pipeCtx); close(trackerDone) }()
	goRun("disk guard", func() error { guard.Run(runCtx); return nil })
	if ingestTLS != nil {
		// gRPC serves HTTP/2 over the TLS connection as over a plain one;
		// its clients insist on the h2 protocol being negotiated.
		grpcTLS := ingestTLS.Clone()
		grpcTLS.NextProtos = []string{"h2"}
		grpcLn = tls.NewListener(grpcLn, grpcTLS)
		otlpSrv.TLSConfig, uiSrv.TLSConfig = ingestTLS, uiTLS
	}
	goRun("OTLP/gRPC server", func() error { return grpcSrv.Serve(grpcLn) })
	goRun("OTLP/HTTP server", func() error { return serveHTTP(otlpSrv, otlpLn) })
	goRun("UI and API server", func() error { return serveHTTP(uiSrv, httpLn) })
	// StatsD commits its last interval as it stops, so the pipeline waits
	// for it.
	statsdDone := make(chan error, 1)
	statsdAddr := ""
	if statsd != nil {
		go func() {
			err := statsd.Run(runCtx)
			if err != nil && runCtx.Err() == nil {
				errc <- fmt.Errorf("StatsD listener: %w", err)
				cancel()
				err = nil
			}
			statsdDone <- err
		}()
		if a := statsd.UDPAddr(); a != nil {
			statsdAddr = a.String()
		}
	} else {
		statsdDone <- nil
	}

	ready.Store(true)
	log.Info("telltale is ready", "ui", baseURL(uiTLS, httpLn.Addr()), "tls", uiTLS != nil,
		"otlp_grpc", grpcLn.Addr().String(), "otlp_http", otlpLn.Addr().String(), "http", httpLn.Addr().String(),
		"statsd", statsdAddr, "data_dir", opt.DataDir, "startup", time.Since(started).Round(time.Millisecond))
	log.Info("send Sentry SDK events to project "+project.Slug, "dsn", api.DSN(ingestURL, dsnProject))
	if setupToken != "" {
		log.Warn("no user exists yet: open this link to create the first admin (it works once; or restart with TELLTALE_ADMIN_PASSWORD set)",
			"component", "auth", "url", baseURL(uiTLS, httpLn.Addr())+"/setup?token="+setupToken)
	}
	if opt.Ready != nil {
		opt.Ready(Info{OTLPGRPCAddr: grpcLn.Addr().String(), OTLPHTTPAddr: otlpLn.Addr().String(), HTTPAddr: httpLn.Addr().String(), StatsDAddr: statsdAddr,
			DSN: api.DSN(ingestURL, dsnProject), IngestKey: ingestKey})
	}

	<-runCtx.Done()
	ready.Store(false)
	log.Info("shutting down")

	// Ingest first: in-flight requests finish, which waits for their commits.
	shutdownCtx, done := context.WithTimeout(context.WithoutCancel(ctx), opt.ShutdownTimeout)
	defer done()
	if err := otlpSrv.Shutdown(shutdownCtx); err != nil {
		log.Warn("OTLP/HTTP server did not stop in time", "err", err)
	}
	grpcStopped := make(chan struct{})
	go func() { grpcSrv.GracefulStop(); close(grpcStopped) }()
	select {
	case <-grpcStopped:
	case <-shutdownCtx.Done():
		grpcSrv.Stop()
	}
	if err := <-statsdDone; err != nil {
		log.Warn("StatsD listener stopped with an error", "err", err)
	}
	alertWG.Wait()
	stopNotify()
	<-notifyDone
	stopPipe()
	<-pipeDone
	<-trackerDone
	if err := uiSrv.Shutdown(shutdownCtx); err != nil {
		log.Warn("UI and API server did not stop in time", "err", err)
	}
	wg.Wait()
	close(errc)
	var errs []error
	for err := range errc {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// seedSeries counts the series stored within the limiter's window, so that
// a restart does not reset the per-metric series limit. A failure only
// weakens the limit until the window has passed: it is logged, not fatal.
func seedSeries(ctx context.Context, qs *query.Service, lim *cardinality.Limiter, log *slog.Logger) {
	start := time.Now()
	n := 0
	err := qs.MetricSeriesSince(ctx, start.Add(-cardinality.DefaultWindow), func(name string, id uint64, last time.Time) {
		lim.Seed(name, id, last)
		n++
	})
	if err != nil {
		log.Warn("cannot count the stored metric series; the series limit starts from zero", "component", "app", "err", err)
		return
	}
	log.Debug("counted the stored metric series for the series limit", "component", "app", "series", n, "took", time.Since(start).Round(time.Millisecond))
}

// defaultProject returns the first project, creating it on the first start,
// so that Sentry SDKs have a DSN to send to and OpenTelemetry errors a
// project to belong to.
func defaultProject(ctx context.Context, sta state.Store) (state.Project, error) {
	ps, err := sta.Projects(ctx)
	if err != nil {
		return state.Project{}, fmt.Errorf("cannot list projects: %w", err)
	}
	if len(ps) > 0 {
		return ps[0], nil
	}
	p, err := sta.CreateProject(ctx, "default", "Default")
	if err != nil {
		return state.Project{}, fmt.Errorf("cannot create the default project: %w", err)
	}
	return p, nil
}

// ingestKeys loads the ingest keys and returns them with the default
// project's first active key. With checks off it warns loudly.
func ingestKeys(ctx context.Context, opt Options, sta state.Store, reg *selfmetrics.Registry, project state.Project, log *slog.Logger) (*ingestkey.Keys, string, error) {
	if opt.IngestKeyHeader != "" {
		if err := ingestkey.CheckHeaderName(opt.IngestKeyHeader); err != nil {
			return nil, "", err
		}
	}
	keys := ingestkey.New(ingestkey.Options{Store: sta, Off: opt.IngestAuthOff, Header: opt.IngestKeyHeader, Rate: opt.IngestRate,
		MaxRecordsPerRequest: opt.MaxRecordsPerRequest, Metrics: ingestkey.NewMetrics(reg), Logger: log})
	if err := keys.Load(ctx); err != nil {
		return nil, "", err
	}
	first, err := keys.FirstKey(ctx, project.ID)
	if err != nil {
		return nil, "", fmt.Errorf("cannot read the ingest keys of project %s: %w", project.Slug, err)
	}
	if opt.IngestAuthOff {
		for _, line := range []string{
			"**************************************************************************",
			"INGEST AUTHENTICATION IS OFF (--ingest-auth=false): anyone who can reach",
			"the ingest ports can send telemetry, with or without a key, and StatsD",
			"accepts packets from any address. Use this for local development only.",
			"**************************************************************************",
		} {
			log.Warn(line, "component", "app")
		}
	}
	return keys, first, nil
}

// warnPlainHTTP warns when the UI is served over plain HTTP to other
// machines: browsers drop Secure cookies there, so session cookies go
// without it, readable on the network.
func warnPlainHTTP(log *slog.Logger, addr net.Addr, tls bool) {
	if tls {
		return
	}
	host, _, err := net.SplitHostPort(addr.String())
	if err != nil {
		return
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return
	}
	log.Warn("the UI and API are served over plain HTTP on "+addr.String()+": passwords, session cookies and API tokens cross the network in clear; serve them with TLS (--tls-cert, --tls-key) or behind a TLS proxy",
		"component", "auth")
}

// baseURL is the URL clients reach a listener at: its host, or localhost
// when it listens on every address; https when it serves TLS.
func baseURL(tlsConfig *tls.Config, addr net.Addr) string {
	scheme := "http://"
	if tlsConfig != nil {
		scheme = "https://"
	}
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return scheme + addr.String()
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "localhost"
	}
	return scheme + net.JoinHostPort(host, port)
}

// serveHTTP serves srv on l, over TLS when srv has a TLS configuration
// (ServeTLS also offers HTTP/2).
func serveHTTP(srv *http.Server, l net.Listener) error {
	if srv.TLSConfig != nil {
		return srv.ServeTLS(l, "", "")
	}
	return srv.Serve(l)
}
