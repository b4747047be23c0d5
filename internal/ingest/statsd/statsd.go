// Package statsd receives StatsD and DogStatsD metrics over UDP and TCP and
// aggregates them per flush interval, the StatsD way, into metric points:
// counters into delta sums, gauges into their last value, timers, histograms
// and distributions into a histogram point and a summary point, sets into the
// number of distinct members. The mapping is described in
// docs/design/statsd.md.
//
// Read goroutines parse and aggregate; they never wait for a flush beyond
// the swap of the interval's aggregates. The flush hands one batch per
// interval to the Appender; when that fails, the points are retried with the
// next flush, up to a bound beyond which the oldest are dropped and counted.
// Malformed lines are counted by reason and logged at most once per reason
// every 10 seconds; they are never fatal.
//
// StatsD has no credentials: only sources in Options.Allow are heard (UDP
// packets by source address, TCP connections by remote address); others
// are dropped, counted and logged at most every 10 seconds.
package statsd

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	dec "github.com/fibinc/telltale/internal/decode/statsd"
	"github.com/fibinc/telltale/internal/ingest/ingestkey"
	"github.com/fibinc/telltale/internal/pipeline"
	"github.com/fibinc/telltale/internal/selfmetrics"
	"github.com/fibinc/telltale/internal/telemetry"
)

// Source is the source label of the records this listener commits, and the
// scope name of its metric points.
const Source = "statsd"

// Defaults of Options.
const (
	DefaultAddr           = ":8125"
	DefaultFlushInterval  = 10 * time.Second
	DefaultService        = "statsd"
	DefaultMaxSeries      = 100_000
	DefaultMaxSamples     = 10_000
	DefaultGaugeTTL       = 5 * time.Minute
	DefaultMaxLineBytes   = 64 << 10
	DefaultTCPIdleTimeout = 5 * time.Minute
	DefaultMaxTCPConns    = 1024
)

// Disabled as UDPAddr or TCPAddr turns that transport off.
const Disabled = "-"

const (
	// udpPacketBytes holds the largest UDP payload.
	udpPacketBytes = 64 << 10
	// udpSocketBuffer is asked of the kernel (which may cap it) so that a
	// burst of packets survives a moment of slow reading.
	udpSocketBuffer = 8 << 20
	// tcpReadBuffer is the per-connection buffer; longer lines are
	// assembled in a growing slice up to MaxLineBytes.
	tcpReadBuffer = 4 << 10
	// finalFlushTimeout bounds the commit of the last interval at shutdown.
	finalFlushTimeout = 10 * time.Second
	// logEvery is the least time between two log lines of one reason.
	logEvery = 10 * time.Second
)

// Reasons for dropping points after aggregation (counted in
// telltale_ingest_rejected_total like the line reasons).
const (
	reasonOverloaded = "overloaded" // the retry queue of failed flushes was full
	reasonShutdown   = "shutdown"   // the final flush failed
)

// Appender takes the points of a flush into the ingest pipeline.
type Appender interface {
	// Append blocks until every record of b is durably committed. It
	// returns pipeline.ErrOverloaded when the queue is full,
	// pipeline.ErrStopped when shutting down, a ctx error, or another error.
	Append(ctx context.Context, b *telemetry.Batch) error
}

// SeriesLimiter bounds the series of each metric name
// (internal/ingest/cardinality implements it).
type SeriesLimiter interface {
	// Admit reports whether a point of series id of metric name may be
	// stored, and counts the series as active when it may.
	Admit(name string, id uint64) bool
	// Limit is the number of series a metric may have, for messages.
	Limit() int
}

// Options configure a Server. Appender is required; every other field has a
// working zero value.
type Options struct {
	// UDPAddr and TCPAddr are the listen addresses; "" means ":8125" and
	// Disabled ("-") turns the transport off.
	UDPAddr, TCPAddr string
	// FlushInterval is the aggregation interval. Default 10s.
	FlushInterval time.Duration
	Appender      Appender
	// Service is the service.name of series without a service tag.
	// Default "statsd".
	Service string
	// MaxSeries bounds the series aggregated at once: those seen in the
	// interval plus the gauges kept from earlier ones. Lines of new series
	// beyond it are rejected with reason "cardinality". Default 100,000.
	MaxSeries int
	// MaxSamples bounds the samples kept per timer, histogram or
	// distribution series per interval for the exact quantiles (reservoir
	// sampling beyond it). Default 10,000.
	MaxSamples int
	// GaugeTTL is how long a gauge that receives nothing keeps being
	// reported with its last value. Default 5 minutes.
	GaugeTTL time.Duration
	// MaxLineBytes bounds a TCP line; longer lines are rejected with reason
	// "too_long". Default 64 KiB.
	MaxLineBytes int
	// TCPIdleTimeout closes TCP connections that send nothing for this long.
	// Default 5 minutes.
	TCPIdleTimeout time.Duration
	// MaxTCPConns bounds concurrent TCP connections; further ones are closed
	// at once. Default 1024.
	MaxTCPConns int
	// Series, when set, bounds the active series of each metric name; the
	// app shares one limiter between StatsD and OTLP. Lines of new series
	// beyond it are rejected with reason "cardinality".
	Series SeriesLimiter
	// Window, when set, returns the range of |T timestamps accepted; lines
	// stamped outside it are rejected as too_old or too_new.
	Window func(telemetry.Signal) (min, max time.Time)
	// Metrics count committed points (source "statsd") and rejected lines
	// and points by reason; nil counts into a private registry.
	Metrics *selfmetrics.Ingest
	// TLS, when set, makes the TCP listener serve TLS (UDP stays plain).
	TLS *tls.Config
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Allow lists the source networks heard; nil means loopback only
	// (ingestkey.DefaultStatsDAllow). 0.0.0.0/0 and ::/0 allow every
	// source.
	Allow []netip.Prefix
	// Denied counts what Allow drops, by transport ("udp" packets, "tcp"
	// connections); nil counts into a private registry.
	Denied *selfmetrics.CounterVec
}

func (o *Options) setDefaults() {
	if o.UDPAddr == "" {
		o.UDPAddr = DefaultAddr
	}
	if o.TCPAddr == "" {
		o.TCPAddr = DefaultAddr
	}
	if o.FlushInterval <= 0 {
		o.FlushInterval = DefaultFlushInterval
	}
	if o.Service == "" {
		o.Service = DefaultService
	}
	if o.MaxSeries <= 0 {
		o.MaxSeries = DefaultMaxSeries
	}
	if o.MaxSamples <= 0 {
		o.MaxSamples = DefaultMaxSamples
	}
	if o.GaugeTTL <= 0 {
		o.GaugeTTL = DefaultGaugeTTL
	}
	if o.MaxLineBytes <= 0 {
		o.MaxLineBytes = DefaultMaxLineBytes
	}
	if o.TCPIdleTimeout <= 0 {
		o.TCPIdleTimeout = DefaultTCPIdleTimeout
	}
	if o.MaxTCPConns <= 0 {
		o.MaxTCPConns = DefaultMaxTCPConns
	}
	if o.Metrics == nil {
		o.Metrics = selfmetrics.NewIngest(selfmetrics.New())
	}
	if o.Allow == nil {
		o.Allow = ingestkey.MustPrefixes(ingestkey.DefaultStatsDAllow)
	}
	if o.Denied == nil {
		o.Denied = ingestkey.NewMetrics(selfmetrics.New()).StatsDDenied
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// Server is a StatsD listener. Create it with Listen, then call Run once.
type Server struct {
	opt  Options
	log  *slog.Logger
	udp  *net.UDPConn // nil when disabled
	tcp  net.Listener // nil when disabled
	agg  *aggregator
	logs rateLog

	lines atomic.Uint64 // lines received, accepted or not

	connsMu sync.Mutex
	conns   map[net.Conn]struct{}
	closed  bool

	pending []telemetry.MetricPoint // points of failed flushes; Run's goroutine only
}

// Listen binds the UDP and TCP sockets, so that a busy port fails the start
// before anything is served. It panics if opt.Appender is nil.
func Listen(opt Options) (*Server, error) {
	if opt.Appender == nil {
		panic("statsd: Options.Appender is nil")
	}
	opt.setDefaults()
	s := &Server{
		opt:   opt,
		log:   opt.Logger.With("component", "statsd"),
		agg:   newAggregator(&opt, time.Now()),
		conns: map[net.Conn]struct{}{},
	}
	if opt.UDPAddr != Disabled {
		addr, err := net.ResolveUDPAddr("udp", opt.UDPAddr)
		if err != nil {
			return nil, fmt.Errorf("cannot resolve StatsD UDP address %s: %w", opt.UDPAddr, err)
		}
		if s.udp, err = net.ListenUDP("udp", addr); err != nil {
			return nil, fmt.Errorf("cannot listen for StatsD on UDP %s: %w", opt.UDPAddr, err)
		}
		// Best effort: the kernel caps it at net.core.rmem_max.
		_ = s.udp.SetReadBuffer(udpSocketBuffer)
	}
	if opt.TCPAddr != Disabled {
		l, err := net.Listen("tcp", opt.TCPAddr)
		if err != nil {
			if s.udp != nil {
				s.udp.Close()
			}
			return nil, fmt.Errorf("cannot listen for StatsD on TCP %s: %w", opt.TCPAddr, err)
		}
		s.tcp = l
		if opt.TLS != nil {
			s.tcp = tls.NewListener(l, opt.TLS)
		}
	}
	return s, nil
}

// UDPAddr is the bound UDP address, or nil when UDP is disabled.
func (s *Server) UDPAddr() net.Addr {
	if s.udp == nil {
		return nil
	}
	return s.udp.LocalAddr()
}

// TCPAddr is the bound TCP address, or nil when TCP is disabled.
func (s *Server) TCPAddr() net.Addr {
	if s.tcp == nil {
		return nil
	}
	return s.tcp.Addr()
}

// Close releases the sockets. Run closes them itself; Close is for a server
// whose Run is never called.
func (s *Server) Close() error {
	s.connsMu.Lock()
	defer s.connsMu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	var errs []error
	if s.udp != nil {
		errs = append(errs, s.udp.Close())
	}
	if s.tcp != nil {
		errs = append(errs, s.tcp.Close())
	}
	for c := range s.conns {
		c.Close()
	}
	return errors.Join(errs...)
}

// Run serves until ctx is done, flushing every FlushInterval, then stops
// reading, flushes the last interval and returns. It returns an error only
// when a socket fails.
func (s *Server) Run(ctx context.Context) error {
	errc := make(chan error, 2)
	var wg sync.WaitGroup
	if s.udp != nil {
		wg.Go(func() {
			if err := s.serveUDP(); err != nil {
				errc <- err
			}
		})
	}
	if s.tcp != nil {
		wg.Go(func() { s.serveTCP(&wg) })
	}
	s.log.Info("listening for StatsD", "udp", addrString(s.UDPAddr()), "tcp", addrString(s.TCPAddr()),
		"flush_interval", s.opt.FlushInterval)

	tick := time.NewTicker(s.opt.FlushInterval)
	defer tick.Stop()
	var runErr error
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case err := <-errc:
			runErr = err
			break loop
		case <-tick.C:
			// The tick's own time may be stale after a slow flush.
			s.flush(ctx, time.Now(), false)
		}
	}
	_ = s.Close() // a close error leaves nothing to do
	wg.Wait()
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finalFlushTimeout)
	defer cancel()
	s.flush(fctx, time.Now(), true)
	return runErr
}

func addrString(a net.Addr) string {
	if a == nil {
		return "disabled"
	}
	return a.String()
}

// flush hands the points of the interval ending now, after those of earlier
// failed flushes, to the Appender. Failed points wait for the next flush;
// the retry queue holds at most 2 × MaxSeries points, the most one interval
// can produce (every series a timer, two points each), and the oldest points
// go first.
func (s *Server) flush(ctx context.Context, now time.Time, final bool) {
	points := append(s.pending, s.agg.flush(now)...)
	s.pending = nil
	if len(points) == 0 {
		return
	}
	b := telemetry.Batch{Metrics: points}
	err := s.opt.Appender.Append(ctx, &b)
	if err == nil {
		s.opt.Metrics.Records.With(string(telemetry.SignalMetrics), Source).Add(uint64(len(points)))
		return
	}
	if final || errors.Is(err, pipeline.ErrStopped) {
		s.drop(reasonShutdown, len(points), err)
		return
	}
	if limit := 2 * s.opt.MaxSeries; len(points) > limit {
		s.drop(reasonOverloaded, len(points)-limit, err)
		points = points[len(points)-limit:]
	}
	s.log.Debug("cannot commit StatsD points, retrying at the next flush", "points", len(points), "err", err)
	s.pending = points
}

func (s *Server) drop(reason string, n int, err error) {
	s.opt.Metrics.Rejected.With(string(telemetry.SignalMetrics), reason).Add(uint64(n))
	s.log.Warn("dropped StatsD points", "reason", reason, "points", n, "err", err)
}

func (s *Server) serveUDP() error {
	buf := make([]byte, udpPacketBytes)
	var m dec.Metric
	denied := s.opt.Denied.With("udp")
	for {
		n, from, err := s.udp.ReadFromUDPAddrPort(buf)
		if n > 0 && !ingestkey.Contains(s.opt.Allow, from.Addr()) {
			denied.Inc()
			s.logs.log(s.log, "denied_udp", "dropped StatsD packet from a source not in --statsd-allow", "source", from.Addr().String())
			n = 0
		}
		if n > 0 {
			for line := range dec.Lines(buf[:n]) {
				s.handleLine(line, &m)
			}
		}
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return fmt.Errorf("cannot read StatsD UDP packet: %w", err)
		}
	}
}

func (s *Server) serveTCP(wg *sync.WaitGroup) {
	delay := time.Duration(0)
	for {
		c, err := s.tcp.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Accept fails transiently (out of file descriptors): back off
			// as net/http does, without giving up.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			s.logs.log(s.log, "accept", "cannot accept StatsD TCP connection", "err", err)
			time.Sleep(delay)
			continue
		}
		delay = 0
		if !s.allowed(c) {
			c.Close()
			continue
		}
		if !s.track(c) {
			c.Close()
			continue
		}
		wg.Go(func() {
			defer s.untrack(c)
			s.serveConn(c)
		})
	}
}

// allowed reports whether a connection comes from an allowed network, and
// counts it when not.
func (s *Server) allowed(c net.Conn) bool {
	ap, err := netip.ParseAddrPort(c.RemoteAddr().String())
	if err == nil && ingestkey.Contains(s.opt.Allow, ap.Addr()) {
		return true
	}
	s.opt.Denied.With("tcp").Inc()
	s.logs.log(s.log, "denied_tcp", "refused StatsD connection from a source not in --statsd-allow", "remote", c.RemoteAddr().String())
	return false
}

// track registers a connection so that shutdown can close it; it refuses it
// when the server is closed or has MaxTCPConns connections.
func (s *Server) track(c net.Conn) bool {
	s.connsMu.Lock()
	defer s.connsMu.Unlock()
	if s.closed {
		return false
	}
	if len(s.conns) >= s.opt.MaxTCPConns {
		s.logs.log(s.log, "too_many_connections", "refused StatsD TCP connection",
			"limit", s.opt.MaxTCPConns, "remote", c.RemoteAddr().String())
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *Server) untrack(c net.Conn) {
	c.Close()
	s.connsMu.Lock()
	delete(s.conns, c)
	s.connsMu.Unlock()
}

// serveConn reads newline-delimited lines until EOF, an error, or
// TCPIdleTimeout without data.
func (s *Server) serveConn(c net.Conn) {
	br := bufio.NewReaderSize(c, tcpReadBuffer)
	var (
		m       dec.Metric
		long    []byte // a line longer than the buffer, being assembled
		tooLong bool   // the line being read exceeds MaxLineBytes
	)
	for {
		if br.Buffered() == 0 {
			// Only a read that reaches the socket needs a fresh deadline.
			if err := c.SetReadDeadline(time.Now().Add(s.opt.TCPIdleTimeout)); err != nil {
				return
			}
		}
		frag, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			if !tooLong && len(long)+len(frag) <= s.opt.MaxLineBytes {
				long = append(long, frag...)
			} else {
				tooLong = true // long keeps the start of the line, for the log
			}
			continue
		}
		line := frag
		switch {
		case tooLong:
			s.lines.Add(1)
			s.reject(string(dec.ReasonTooLong), long, errLineTooLong)
			line, long, tooLong = nil, long[:0], false
		case len(long) > 0:
			long = append(long, frag...)
			line, long = long, long[:0]
		}
		if n := len(line); n > 0 && line[n-1] == '\n' {
			line = line[:n-1]
		}
		if n := len(line); n > 0 && line[n-1] == '\r' {
			line = line[:n-1]
		}
		if len(line) > s.opt.MaxLineBytes {
			s.lines.Add(1)
			s.reject(string(dec.ReasonTooLong), line, errLineTooLong)
		} else if len(line) > 0 {
			s.handleLine(line, &m)
		}
		if err != nil {
			if err != io.EOF && !errors.Is(err, net.ErrClosed) {
				s.log.Debug("StatsD TCP connection ended", "remote", c.RemoteAddr().String(), "err", err)
			}
			return
		}
	}
}

var errLineTooLong = errors.New("line exceeds the TCP line length limit")

// handleLine parses and aggregates one line.
func (s *Server) handleLine(line []byte, m *dec.Metric) {
	s.lines.Add(1)
	if err := dec.Parse(line, m); err != nil {
		s.reject(string(dec.ReasonOf(err)), line, err)
		return
	}
	var minT, maxT time.Time
	if m.Timestamp != 0 && s.opt.Window != nil {
		minT, maxT = s.opt.Window(telemetry.SignalMetrics)
	}
	if reason, err := s.agg.add(m, minT, maxT); err != nil {
		s.reject(reason, line, err)
	}
}

var (
	errCardinality = errors.New("too many series: MaxSeries reached, new series are refused until the next flush")
	errSetTooLarge = errors.New("set has too many distinct members in this interval; new ones are not counted")
	errTooOld      = errors.New("timestamp |T is before the accepted window (the metrics retention)")
	errTooNew      = errors.New("timestamp |T is more than a day ahead")
)

// seriesLimitError is the rejection of a line of a new series of a metric
// at its series limit.
type seriesLimitError struct {
	name  string
	limit int
}

func (e *seriesLimitError) Error() string {
	return fmt.Sprintf("metric %q has reached its limit of %d active series (--max-series-per-metric); "+
		"lines of new series are rejected, those of its existing series are accepted", e.name, e.limit)
}

func (s *Server) reject(reason string, line []byte, err error) {
	s.opt.Metrics.Rejected.With(string(telemetry.SignalMetrics), reason).Inc()
	s.logs.logLine(s.log, reason, line, err)
}

// rateLog logs at most one line per reason every logEvery, with the number
// of occurrences it did not log.
type rateLog struct {
	mu         sync.Mutex
	last       map[string]time.Time
	suppressed map[string]int
}

// logLine logs a rejected line, cut to 200 bytes.
func (r *rateLog) logLine(log *slog.Logger, reason string, line []byte, err error) {
	if !r.allow(reason) {
		return
	}
	const maxShown = 200
	shown := string(line[:min(len(line), maxShown)])
	r.emit(log, reason, "rejected StatsD line", "reason", reason, "err", err, "line", shown)
}

func (r *rateLog) log(log *slog.Logger, reason, msg string, args ...any) {
	if r.allow(reason) {
		r.emit(log, reason, msg, args...)
	}
}

// allow reports whether reason may be logged now; otherwise it counts it.
func (r *rateLog) allow(reason string) bool {
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.last == nil {
		r.last, r.suppressed = map[string]time.Time{}, map[string]int{}
	}
	if t, ok := r.last[reason]; ok && now.Sub(t) < logEvery {
		r.suppressed[reason]++
		return false
	}
	r.last[reason] = now
	return true
}

func (r *rateLog) emit(log *slog.Logger, reason, msg string, args ...any) {
	r.mu.Lock()
	n := r.suppressed[reason]
	r.suppressed[reason] = 0
	r.mu.Unlock()
	if n > 0 {
		args = append(args, "not_logged_since_last", n)
	}
	log.Warn(msg, args...)
}
