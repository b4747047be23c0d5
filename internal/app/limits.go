package app

import (
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"google.golang.org/grpc"

	"github.com/fibinc/telltale/internal/ingest/admission"
	"github.com/fibinc/telltale/internal/querylimit"
	"github.com/fibinc/telltale/internal/selfmetrics"
)

// DefaultMemoryBudget is the default of Options.MemoryBudget.
const DefaultMemoryBudget = 1 << 30

// memorySplit is how the memory budget is shared out; docs/design/security.md
// ("Limits") gives the reasoning.
type memorySplit struct {
	goLimit   int64 // the Go runtime's soft memory limit
	duckdb    int64 // DuckDB's memory_limit
	admission int64 // bytes of ingest requests in flight
	queue     int64 // estimated bytes of records waiting for a commit
}

// splitMemory shares out budget; a budget <= 0 sets no limit at all.
func splitMemory(budget int64) memorySplit {
	if budget <= 0 {
		return memorySplit{queue: -1} // pipeline: negative is no cap
	}
	share := func(percent int64) int64 { return budget / 100 * percent }
	return memorySplit{
		goLimit:   share(45),
		duckdb:    share(35),
		admission: share(20), // within the Go share
		queue:     share(15), // within the Go share, and mostly within admission's
	}
}

// applyMemoryLimits sets the Go soft memory limit and returns DuckDB's
// limit (the one given wins) and a function restoring the previous Go limit.
func applyMemoryLimits(split memorySplit, duckdbLimit string, log *slog.Logger) (string, func()) {
	restore := func() {}
	if split.goLimit > 0 {
		prev := debug.SetMemoryLimit(split.goLimit)
		restore = func() { debug.SetMemoryLimit(prev) }
	}
	if duckdbLimit == "" && split.duckdb > 0 {
		duckdbLimit = fmt.Sprintf("%dMB", max(split.duckdb>>20, 64))
	}
	if split.goLimit > 0 {
		log.Info("memory budget", "component", "app", "go_soft_limit_mb", split.goLimit>>20, "duckdb_limit", duckdbLimit,
			"ingest_inflight_mb", split.admission>>20, "queue_mb", split.queue>>20)
	}
	return duckdbLimit, restore
}

// limits are the admission budget and query limiter of a server.
type limits struct {
	ingest   *admission.Budget
	queries  *querylimit.Limiter
	metrics  *selfmetrics.Limits
	maxBody  int64
	grpcOpts []grpc.ServerOption
}

func newLimits(opt Options, split memorySplit, reg *selfmetrics.Registry, queueBytes func() float64) *limits {
	l := &limits{ingest: admission.NewBudget(split.admission), maxBody: opt.MaxBodyBytes}
	l.queries = querylimit.New(querylimit.Options{
		MaxConcurrent: opt.MaxConcurrentQueries,
		Timeout:       opt.QueryTimeout,
		Skip:          skipQueryLimit,
		OnReject:      func(reason string) { l.metrics.QueriesRejected.With(reason).Inc() },
	})
	l.metrics = selfmetrics.NewLimits(reg, selfmetrics.LimitGauges{
		QueriesInFlight: func() float64 { return float64(l.queries.InFlight()) },
		IngestBytes:     func() float64 { return float64(l.ingest.InUse()) },
		QueueBytes:      queueBytes,
	})
	l.grpcOpts = l.ingest.ServerOptions(admission.GRPCOptions{MaxRecvMsgBytes: opt.MaxBodyBytes,
		OnReject: func(string) { l.metrics.AdmissionRejected.With(selfmetrics.SourceOTLPGRPC).Inc() }})
	return l
}

// ingestHTTP puts the HTTP ingest listener behind the admission budget.
func (l *limits) ingestHTTP(h http.Handler) http.Handler {
	return l.ingest.Handler(h, admission.HTTPOptions{MaxBodyBytes: l.maxBody, OnReject: func(r *http.Request) {
		listener := selfmetrics.SourceSentry
		switch {
		case strings.HasPrefix(r.URL.Path, "/v1/"):
			listener = selfmetrics.SourceOTLPHTTP
		case r.URL.Path == "/api/v1/logs":
			listener = selfmetrics.SourceJSON
		}
		l.metrics.AdmissionRejected.With(listener).Inc()
	}})
}

// skipQueryLimit picks the UI port's requests that run no query, or that
// have a cap of their own: static files, the live tail (its own cap on
// streams), uptime push check-ins.
func skipQueryLimit(r *http.Request) bool {
	p := r.URL.Path
	return strings.HasPrefix(p, "/static/") || p == "/logs/tail" || strings.HasPrefix(p, "/api/v1/push/")
}

// queryTimeout is the query service's timeout for one query: the request
// deadline, or none (an hour) when the deadline is off.
func queryTimeout(d time.Duration) time.Duration {
	switch {
	case d == 0:
		return querylimit.DefaultTimeout
	case d < 0:
		return time.Hour
	}
	return d
}
