package alert

import (
	"context"
	"errors"
	"fmt"
	"time"

	prom "github.com/prometheus/prometheus/promql"

	"github.com/fibinc/telltale/internal/config"
	"github.com/fibinc/telltale/internal/query"
	"github.com/fibinc/telltale/internal/state"
)

// Sample is a source's value for one instance over a window.
type Sample struct {
	Labels map[string]string // the instance's labels; none for single-instance sources
	Value  float64
}

// Source reads a rule's data for the window (at-window, at]. Instances
// without data are left out; an empty answer is "no data".
type Source interface {
	Read(ctx context.Context, at time.Time, window time.Duration) ([]Sample, error)
}

// counter marks sources that count (logs, issues): their count is always
// a value, and absent means a count of 0.
type counter interface{ counts() }

// QueryService is the part of *query.Service the sources use.
type QueryService interface {
	QueryMetric(ctx context.Context, q query.MetricQuery) (*query.MetricResult, error)
	ServiceSeries(ctx context.Context, q query.ServiceSeriesQuery) (*query.ServiceSeriesResult, error)
	Operations(ctx context.Context, service string, r query.TimeRange) ([]query.OperationSummary, error)
	LogHistogram(ctx context.Context, q query.LogHistogramQuery) (*query.LogHistogram, error)
	CheckLogFilter(text string) error
}

// PromQLEngine is the part of *promql.Engine the promql source uses.
type PromQLEngine interface {
	InstantQuery(ctx context.Context, qs string, ts time.Time, lookback time.Duration) (prom.Query, error)
}

// CheckResultReader reads stored uptime results, newest first.
type CheckResultReader interface {
	CheckResults(ctx context.Context, check string, from, to time.Time, limit int) ([]state.CheckResult, error)
}

// errUnavailable marks a source whose backend Telltale was started without.
var errUnavailable = errors.New("not available")

// newSource builds the built-in source of a rule. A missing dependency is
// not an error here (the rule is valid); it is reported at each evaluation.
func (e *Evaluator) newSource(r config.Rule) (Source, error) {
	n := 0
	for _, set := range []bool{r.Metric != nil, r.PromQL != "", r.Service != nil, r.Logs != nil, r.Issues != nil, r.Check != ""} {
		if set {
			n++
		}
	}
	if n != 1 {
		return nil, fmt.Errorf("want exactly one source (metric, promql, service, logs, issues or check), got %d", n)
	}
	switch {
	case r.Metric != nil:
		return newMetricSource(e.opt.Query, *r.Metric)
	case r.PromQL != "":
		return newPromQLSource(e.opt.PromQL, r.PromQL)
	case r.Service != nil:
		return newServiceSource(e.opt.Query, *r.Service)
	case r.Logs != nil:
		return newLogSource(e.opt.Query, *r.Logs)
	case r.Issues != nil:
		var st issueReader
		if e.opt.State != nil {
			st = e.opt.State
		}
		return newIssueSource(st, *r.Issues)
	default:
		return newCheckSource(e.opt.Checks, r.Check), nil
	}
}

// SourceSummary describes a rule's source in a line: its kind and what it
// reads.
func SourceSummary(r config.Rule) (kind, text string) {
	switch {
	case r.Metric != nil:
		agg := r.Metric.Aggregation
		if agg == "" {
			agg = "avg"
		}
		text = agg + "(" + r.Metric.Name + ")"
		if r.Metric.Filter != "" {
			text += " where " + r.Metric.Filter
		}
		return "metric", text
	case r.PromQL != "":
		return "promql", r.PromQL
	case r.Service != nil:
		m := r.Service.Measure
		if m == "" {
			m = "error_rate"
		}
		text = m + " of " + r.Service.Name
		if r.Service.Operation != "" {
			text += " " + r.Service.Operation
		}
		if r.Service.Environment != "" {
			text += " in " + r.Service.Environment
		}
		return "service", text
	case r.Logs != nil:
		return "logs", "count of logs matching " + r.Logs.Query
	case r.Issues != nil:
		ev := r.Issues.Event
		if ev == "" {
			ev = "new"
		}
		text = ev + " issues"
		if r.Issues.Service != "" {
			text += " of " + r.Issues.Service
		}
		return "issues", text
	case r.Check != "":
		return "check", "check " + r.Check + " failing"
	}
	return "", ""
}
