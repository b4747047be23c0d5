// Package promql runs PromQL over Telltale's metric points: a
// storage.Queryable that reads the store through the query service, maps
// OpenTelemetry metrics to Prometheus series the way Prometheus' own OTLP
// ingestion does, and the Prometheus query engine with explicit limits.
//
// docs/design/promql.md describes the mapping: names, labels, and how delta
// sums, histograms and summaries become Prometheus samples.
package promql

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	prom "github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/storage"

	"github.com/fibinc/telltale/internal/query"
)

// LookbackDelta is how far back an instant selector looks for a sample, as
// in Prometheus; reads also start this much before the range asked for, so
// that delta sums have a running total and counters a baseline when the
// range begins.
const LookbackDelta = 5 * time.Minute

// Options configure an Engine. Only Query is required.
type Options struct {
	Query *query.Service
	// MaxSamples caps the samples a query holds in memory at once, as
	// Prometheus' --query.max-samples. Default 50,000,000.
	MaxSamples int
	// Timeout bounds a query's evaluation. Default 2 minutes.
	Timeout time.Duration
	// MaxSeries caps the series one selector matches. Default 50,000.
	MaxSeries int
	// MaxPoints caps the stored points one selector reads. Default
	// 20,000,000 (a day of 14,000 series at one point a minute).
	MaxPoints int
	// MaxMetrics caps the kinds of metric (name, type, unit) in a query's
	// range. Default 100,000.
	MaxMetrics int
	Logger     *slog.Logger
}

// Engine evaluates PromQL over the store.
type Engine struct {
	engine  *prom.Engine
	storage *Storage
	parser  parser.Parser
	log     *slog.Logger
}

// New returns an Engine.
func New(opt Options) (*Engine, error) {
	if opt.Query == nil {
		return nil, errors.New("cannot create PromQL engine: no query service")
	}
	if opt.MaxSamples <= 0 {
		opt.MaxSamples = 50_000_000
	}
	if opt.Timeout <= 0 {
		opt.Timeout = 2 * time.Minute
	}
	if opt.MaxSeries <= 0 {
		opt.MaxSeries = 50_000
	}
	if opt.MaxPoints <= 0 {
		opt.MaxPoints = 20_000_000
	}
	if opt.MaxMetrics <= 0 {
		opt.MaxMetrics = 100_000
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	log := opt.Logger.With("component", "promql")
	p := parser.NewParser(parser.Options{})
	e := prom.NewEngine(prom.EngineOpts{
		Logger:               log,
		MaxSamples:           opt.MaxSamples,
		Timeout:              opt.Timeout,
		LookbackDelta:        LookbackDelta,
		EnableAtModifier:     true,
		EnableNegativeOffset: true,
		// A subquery without a step, [1h:], steps by a minute, Prometheus'
		// default evaluation interval.
		NoStepSubqueryIntervalFn: func(int64) int64 { return time.Minute.Milliseconds() },
		Parser:                   p,
	})
	st := &Storage{q: opt.Query, maxSeries: opt.MaxSeries, maxPoints: opt.MaxPoints, maxMetrics: opt.MaxMetrics}
	return &Engine{engine: e, storage: st, parser: p, log: log}, nil
}

// Queryable is the store as Prometheus storage.
func (e *Engine) Queryable() storage.Queryable { return e.storage }

// Parser is the PromQL parser the engine uses, for match[] selectors.
func (e *Engine) Parser() parser.Parser { return e.parser }

// MaxQueryBytes caps the length of an expression. Prometheus' parser takes
// time quadratic in the length of a chain of binary operators or of nested
// parentheses (a 160 KB "1+1+...+1" takes seconds of CPU): without a cap,
// one request could keep a core busy for minutes.
const MaxQueryBytes = 16 << 10

func checkLength(qs string) error {
	if len(qs) > MaxQueryBytes {
		return fmt.Errorf("the expression has %d bytes, more than %d", len(qs), MaxQueryBytes)
	}
	return nil
}

// InstantQuery prepares the evaluation of qs at ts. lookback overrides
// LookbackDelta for this query when positive.
func (e *Engine) InstantQuery(ctx context.Context, qs string, ts time.Time, lookback time.Duration) (prom.Query, error) {
	if err := checkLength(qs); err != nil {
		return nil, err
	}
	return e.engine.NewInstantQuery(ctx, e.storage, queryOpts(lookback), qs, ts)
}

// RangeQuery prepares the evaluation of qs at every step from start to end.
// lookback overrides LookbackDelta for this query when positive.
func (e *Engine) RangeQuery(ctx context.Context, qs string, start, end time.Time, step, lookback time.Duration) (prom.Query, error) {
	if err := checkLength(qs); err != nil {
		return nil, err
	}
	return e.engine.NewRangeQuery(ctx, e.storage, queryOpts(lookback), qs, start, end, step)
}

func queryOpts(lookback time.Duration) prom.QueryOpts {
	if lookback <= 0 {
		return nil
	}
	return prom.NewPrometheusQueryOpts(false, lookback, nil)
}
