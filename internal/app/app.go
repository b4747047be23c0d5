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
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"

	"github.com/fibinc/telltale/internal/api"
	"github.com/fibinc/telltale/internal/api/prom"
	"github.com/fibinc/telltale/internal/ingest/cardinality"
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

	reg := selfmetrics.New()
	ingestMetrics := selfmetrics.NewIngest(reg)
	commitSeconds := reg.NewHistogram("telltale_commit_duration_seconds", "Time to commit one group of records to the store.",
		[]float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}, "signal")
	commitRecords := reg.NewCounter("telltale_commit_records_total", "Records committed to the store.", "signal")
	commitErrors := reg.NewCounter("telltale_commit_errors_total", "Commits that failed.", "signal")

	var pipe *pipeline.Pipeline
	lim := newLimits(opt, memory, reg, func() float64 { return float64(pipe.QueuedBytes()) })
	pipe = pipeline.New(pipeline.Options{
		Writer:       st,
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
	reg.NewGaugeFunc("telltale_uptime_seconds", "Seconds since Telltale started.", func() float64 {
		return time.Since(started).Seconds()
	})

	tracker, err := issues.New(issues.Options{State: sta, Appender: pipe, DefaultProjectID: project.ID, Logger: log})
	if err != nil {
		return err
	}

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
		statsd, err = statsdingest.Listen(statsdingest.Options{UDPAddr: opt.StatsDAddr, TCPAddr: opt.StatsDAddr,
			FlushInterval: opt.StatsDFlushInterval, Appender: pipe, Series: series, Window: window, Metrics: ingestMetrics, Logger: log})
		if err != nil {
			return err
		}
	}

	// Checks, rules and notifications start from a valid configuration or
	// not at all: a broken file fails the start with every problem named.
	alerts, err := newAlerting(opt.ConfigPath, sta, qs, promEngine, baseURL(httpLn.Addr()), log)
	if err != nil {
		return err
	}
	if err := alerts.manager.Load(ctx); err != nil {
		return fmt.Errorf("cannot load the configuration: %w", err)
	}

	grpcSrv := otlpgrpc.NewServer(otlpgrpc.Options{
		Appender: tracker, Metrics: ingestMetrics, MaxRecvMsgBytes: int(opt.MaxBodyBytes), Window: window, Series: series, Logger: log,
	}, lim.grpcOpts...)
	otlpMux := http.NewServeMux()
	otlpMux.Handle("/v1/", otlphttp.New(otlphttp.Options{
		Appender: tracker, Metrics: ingestMetrics, MaxBodyBytes: opt.MaxBodyBytes, Window: window, Series: series, Logger: log,
	}))
	otlpMux.Handle("/api/v1/logs", jsonlogs.New(jsonlogs.Options{Appender: tracker, Metrics: ingestMetrics, MaxBodyBytes: opt.MaxBodyBytes, Window: window, Logger: log}))
	// Sentry SDKs post to [/prefix]/api/<project>/envelope/ or /store/.
	otlpMux.Handle("/", sentryhttp.New(sentryhttp.Options{
		Appender: tracker, Projects: sta, Metrics: ingestMetrics, MaxBodyBytes: opt.MaxBodyBytes, Window: window, Logger: log,
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
	ingestURL := baseURL(otlpLn.Addr())
	promHandler, err := prom.New(prom.Options{Engine: promEngine, Logger: log})
	if err != nil {
		return err
	}
	apiHandler, err := api.New(api.Options{Query: qs, Status: tracker, Projects: sta, IngestURL: ingestURL, Prometheus: promHandler,
		Config: alerts.manager, Checks: alerts.runner, Alerts: alerts.eval, Notify: alerts.notifier, Logger: log,
		MaxRange: opt.MaxQueryRange, MaxRows: opt.MaxQueryRows})
	if err != nil {
		return err
	}
	uiMux.Handle("/api/", lim.queries.Handler(apiHandler))
	webHandler, err := web.New(web.Options{Query: qs, PromQL: promEngine, Status: tracker, IngestURL: ingestURL, DSN: api.DSN(ingestURL, project),
		Uptime: alerts.runner, Alerts: alerts.eval, Notify: alerts.notifier, Logger: log, MaxRange: opt.MaxQueryRange})
	if err != nil {
		return err
	}
	uiMux.Handle("/", lim.queries.Handler(webHandler))
	uiSrv := &http.Server{Handler: uiMux, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}

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
	goRun("OTLP/gRPC server", func() error { return grpcSrv.Serve(grpcLn) })
	goRun("OTLP/HTTP server", func() error { return otlpSrv.Serve(otlpLn) })
	goRun("UI and API server", func() error { return uiSrv.Serve(httpLn) })
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
	log.Info("telltale is ready",
		"otlp_grpc", grpcLn.Addr().String(), "otlp_http", otlpLn.Addr().String(), "http", httpLn.Addr().String(),
		"statsd", statsdAddr, "data_dir", opt.DataDir, "startup", time.Since(started).Round(time.Millisecond))
	log.Info("send Sentry SDK events to project "+project.Slug, "dsn", api.DSN(ingestURL, project))
	if opt.Ready != nil {
		opt.Ready(Info{OTLPGRPCAddr: grpcLn.Addr().String(), OTLPHTTPAddr: otlpLn.Addr().String(), HTTPAddr: httpLn.Addr().String(), StatsDAddr: statsdAddr, DSN: api.DSN(ingestURL, project)})
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

// baseURL is the URL clients reach a listener at: its host, or localhost
// when it listens on every address.
func baseURL(addr net.Addr) string {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return "http://" + addr.String()
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}
