package query

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"time"
)

// RED (rate, errors, duration) of each service's requests, computed from
// spans. A service's requests are chosen as Services chooses them: its server
// spans, or its root and consumer spans when it has no server span in the
// range.

const (
	// seriesMaxPoints caps the points of a ServiceSeries answer over all its
	// series: 150 points each for 666 services, or 11,000 for nine.
	seriesMaxPoints = 100_000
	// seriesMaxOffset bounds Offset: a year back is as far as retention goes.
	seriesMaxOffset = 366 * 24 * time.Hour
	// maxOperations caps the operations listed for one service.
	maxOperations = 200
	// versionLookback is how far before a range VersionChanges looks to tell
	// a version deployed in the range from one already running.
	versionLookback = 24 * time.Hour
	// seriesTargetPoints sets the default step: the smallest of seriesSteps
	// giving at most this many points, so 60 to 150 of them.
	seriesTargetPoints = 150
)

// seriesSteps are the default steps, the metrics API's: consecutive ones
// differ by at most 2.5x, and each divides a day, so a series offset by whole
// days lines up with the unshifted one.
var seriesSteps = []time.Duration{
	time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second, 15 * time.Second, 30 * time.Second,
	time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute, 30 * time.Minute,
	time.Hour, 2 * time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour,
}

// DefaultStep returns the step of a series over a range of length rng when
// the caller gives none: the smallest of 1s, 2s, 5s, ... 12h, 1d giving at
// most 150 points (30s for an hour). It is the metrics API's rule.
func DefaultStep(rng time.Duration) time.Duration {
	for _, s := range seriesSteps {
		if rng/s <= seriesTargetPoints {
			return s
		}
	}
	return seriesSteps[len(seriesSteps)-1]
}

// checkStep checks the step of a series over a range of length rng: a
// positive whole number of milliseconds giving at most maxSteps points.
func checkStep(rng, step time.Duration, maxSteps int64) error {
	switch {
	case step <= 0:
		return invalidf("step must be positive, got %s", step)
	case step%time.Millisecond != 0:
		return invalidf("step %s is not a whole number of milliseconds", step)
	}
	if n := int64((rng + step - 1) / step); n > maxSteps {
		return invalidf("range %s at step %s gives %d points per series, more than %d; use a larger step", rng, step, n, maxSteps)
	}
	return nil
}

// spanScope selects the spans a RED query reads.
type spanScope struct {
	from, to     time.Time
	service, env string // "" for any
}

// where returns the condition selecting the scope's spans, unqualified.
func (sc spanScope) where() (string, []any) { return sc.whereOn("timestamp") }

// whereOn is where with ts the time column.
func (sc spanScope) whereOn(ts string) (string, []any) {
	w, args := ts+" >= ? AND "+ts+" < ?", []any{sc.from.UTC(), sc.to.UTC()}
	if sc.service != "" {
		w += " AND service_name = ?"
		args = append(args, sc.service)
	}
	if sc.env != "" {
		w += " AND deployment_environment = ?"
		args = append(args, sc.env)
	}
	return w, args
}

// Request spans. Candidates are the spans that can be requests; their
// class is 1 for server spans, else 0. A service's requests are its
// candidates of the highest class it has in the scope, so queries group by
// class and keep, per service, the rows of its highest class: a join or
// window to pick them in SQL costs more, and DuckDB 1.4.4 mis-plans a CTE
// read twice under ORDER BY ... LIMIT ("Expected unified vector format of
// type INT64, but found type INT32").
const (
	requestCandidates = `(kind = 'server' OR kind = 'consumer' OR parent_span_id = '')`
	requestClass      = `CASE WHEN kind = 'server' THEN 1 ELSE 0 END`
)

// requestKind names the request spans a service is measured by, from their
// class.
func requestKind(class int) string {
	if class == 1 {
		return "server"
	}
	return "root_or_consumer"
}

// latency returns the percentiles in milliseconds, nil without requests.
func (r *redStats) latency() *Latency {
	if r.n == 0 || !r.p50.Valid {
		return nil
	}
	return &Latency{P50: r.p50.Float64 / 1e6, P95: r.p95.Float64 / 1e6, P99: r.p99.Float64 / 1e6}
}

func (r *redStats) errorRate() float64 {
	if r.n == 0 {
		return 0
	}
	return float64(r.errors) / float64(r.n)
}

// ServiceSeriesQuery asks for the request rate, errors and latency of
// services over time.
type ServiceSeriesQuery struct {
	Range TimeRange
	// Step is the width of a point; 0 picks DefaultStep of the range. A
	// whole number of milliseconds.
	Step time.Duration
	// Offset reads the range this much earlier and moves the points forward
	// by it, so that the series of "the same time yesterday" (24h) draws on
	// the same time axis as today's. A whole number of steps, at most a year.
	Offset time.Duration
	// Service restricts the answer to one service; "" gives every service
	// with request spans.
	Service string
	// Environment keeps only spans of this deployment environment.
	Environment string
}

// ServiceSeriesResult holds one series per service, sorted by name.
type ServiceSeriesResult struct {
	Step   time.Duration   `json:"-"` // marshalled as step_ms
	Offset time.Duration   `json:"-"` // marshalled as offset_ms
	Series []ServiceSeries `json:"series"`
}

// MarshalJSON writes Step and Offset as whole milliseconds.
func (r ServiceSeriesResult) MarshalJSON() ([]byte, error) {
	type plain ServiceSeriesResult
	return json.Marshal(struct {
		plain
		StepMS   int64 `json:"step_ms"`
		OffsetMS int64 `json:"offset_ms"`
	}{plain(r), r.Step.Milliseconds(), r.Offset.Milliseconds()})
}

// ServiceSeries is the requests of one service, one point per step from the
// step holding the range's start to the one holding its end. Steps without
// requests are there, with zero requests and no latency.
type ServiceSeries struct {
	Service      string     `json:"service"`
	RequestSpans string     `json:"request_spans"` // as in ServiceSummary
	Points       []REDPoint `json:"points"`
}

// REDPoint is one step of a ServiceSeries. Time is the start of the step
// (moved forward by the query's Offset); Rate is per second of the part of
// the step inside the range, so that partial steps at either end do not dip.
type REDPoint struct {
	Time      time.Time `json:"time"`
	Requests  int64     `json:"requests"`
	Errors    int64     `json:"errors"`
	Rate      float64   `json:"rate"`
	ErrorRate float64   `json:"error_rate"`
	Latency   *Latency  `json:"latency_ms"` // nil for a step without requests
}

// ServiceSeries returns the request series of every service with request
// spans in the range, or of q.Service alone. A q.Service that never sent a
// span or log record is ErrNotFound; one without requests in the range gets
// a series of zeros, with RequestSpans "".
func (s *Service) ServiceSeries(ctx context.Context, q ServiceSeriesQuery) (*ServiceSeriesResult, error) {
	if err := checkRange(q.Range); err != nil {
		return nil, err
	}
	rng := q.Range.To.Sub(q.Range.From)
	step := q.Step
	if step == 0 {
		step = DefaultStep(rng)
	}
	if err := checkStep(rng, step, metricMaxSteps); err != nil {
		return nil, err
	}
	switch {
	case q.Offset < 0:
		return nil, invalidf("offset %s is negative", q.Offset)
	case q.Offset > seriesMaxOffset:
		return nil, invalidf("offset %s is more than the maximum of %s", q.Offset, seriesMaxOffset)
	case q.Offset%step != 0:
		// Otherwise the shifted steps would straddle the unshifted ones.
		return nil, invalidf("offset %s is not a whole number of steps of %s", q.Offset, step)
	}
	sc := spanScope{from: q.Range.From.Add(-q.Offset), to: q.Range.To.Add(-q.Offset), service: q.Service, env: q.Environment}

	// The store decides where steps start; ask it for the step holding the
	// range's start rather than assume its origin.
	var first time.Time
	err := s.scanRows(ctx, func(r *sql.Rows) error { return r.Scan(&first) },
		`SELECT `+s.dialect.TimeBucket("CAST(? AS TIMESTAMP)", step), sc.from.UTC())
	if err != nil {
		return nil, fmt.Errorf("cannot align steps: %w", err)
	}
	first = first.UTC()
	steps := int((sc.to.Sub(first) + step - 1) / step)

	type row struct {
		class  int
		bucket time.Time
		redStats
	}
	classes := map[string]int{} // the highest class of each service
	rows := map[string][]row{}
	read := 0
	rq := s.redQuery(redSpec{scope: sc, candidates: true, step: step, serviceOnly: true, groups: func(src redSource) []string {
		return []string{"service_name", requestClass, s.dialect.TimeBucket(src.ts, step)}
	}})
	err = s.scanRows(ctx, func(r *sql.Rows) error {
		if read++; read > seriesMaxPoints {
			return invalidf("more than %d points; narrow the range, use a larger step or ask for one service", seriesMaxPoints)
		}
		var name string
		var x row
		if err := r.Scan(append([]any{&name, &x.class, &x.bucket}, x.dest(rq)...)...); err != nil {
			return fmt.Errorf("cannot read service step: %w", err)
		}
		x.finish(rq)
		classes[name] = max(classes[name], x.class)
		rows[name] = append(rows[name], x)
		return nil
	}, rq.sql+` LIMIT ?`, append(rq.args, seriesMaxPoints+1)...)
	if err != nil {
		return nil, fmt.Errorf("cannot compute service series: %w", err)
	}
	if q.Service != "" && len(rows) == 0 {
		if err := s.checkServiceKnown(ctx, q.Service); err != nil {
			return nil, err
		}
		rows[q.Service] = nil
	}
	if len(rows)*steps > seriesMaxPoints {
		return nil, invalidf("%d services over %d steps give more than %d points; narrow the range, use a larger step or ask for one service",
			len(rows), steps, seriesMaxPoints)
	}

	res := &ServiceSeriesResult{Step: step, Offset: q.Offset, Series: make([]ServiceSeries, 0, len(rows))}
	for _, name := range slices.Sorted(maps.Keys(rows)) {
		ser := ServiceSeries{Service: name, Points: make([]REDPoint, steps)}
		if len(rows[name]) > 0 {
			ser.RequestSpans = requestKind(classes[name])
		}
		for i := range ser.Points {
			ser.Points[i].Time = first.Add(time.Duration(i)*step + q.Offset)
		}
		for _, x := range rows[name] {
			if x.class != classes[name] {
				continue
			}
			i := int(x.bucket.Sub(first) / step)
			if i < 0 || i >= steps {
				continue // cannot happen with a store that buckets as it aligned
			}
			start, end := x.bucket, x.bucket.Add(step)
			if start.Before(sc.from) {
				start = sc.from
			}
			if end.After(sc.to) {
				end = sc.to
			}
			seconds := end.Sub(start).Seconds()
			p := &ser.Points[i]
			p.Requests, p.Errors, p.ErrorRate, p.Latency = x.n, x.errors, x.errorRate(), x.latency()
			if seconds > 0 {
				p.Rate = float64(x.n) / seconds
			}
		}
		res.Series = append(res.Series, ser)
	}
	return res, nil
}

// OperationSummary is the requests of one operation (span name) of a
// service over a range.
type OperationSummary struct {
	Name      string   `json:"name"`
	Requests  int64    `json:"requests"`
	Errors    int64    `json:"errors"`
	Rate      float64  `json:"rate"` // requests per second over the range
	ErrorRate float64  `json:"error_rate"`
	Latency   *Latency `json:"latency_ms"`
}

// Operations lists the operations of a service's request spans in the
// range, most requests first, at most 200 (or the row limit if lower). A
// service that never sent a span or log record is ErrNotFound.
func (s *Service) Operations(ctx context.Context, service string, r TimeRange) ([]OperationSummary, error) {
	if err := checkService(service); err != nil {
		return nil, err
	}
	if err := checkRange(r); err != nil {
		return nil, err
	}
	seconds := r.To.Sub(r.From).Seconds()
	rq := s.redQuery(redSpec{scope: spanScope{from: r.From, to: r.To, service: service}, candidates: true, groups: func(redSource) []string {
		return []string{"name", requestClass}
	}})
	out := []OperationSummary{}
	top := -1 // the class of the first row: rows come highest class first
	err := s.scanRows(ctx, func(rows *sql.Rows) error {
		var op OperationSummary
		var class int
		var x redStats
		if err := rows.Scan(append([]any{&op.Name, &class}, x.dest(rq)...)...); err != nil {
			return fmt.Errorf("cannot read operation: %w", err)
		}
		x.finish(rq)
		if top == -1 {
			top = class
		}
		if class != top {
			return nil
		}
		op.Requests, op.Errors, op.ErrorRate, op.Latency = x.n, x.errors, x.errorRate(), x.latency()
		op.Rate = float64(x.n) / seconds
		out = append(out, op)
		return nil
	}, rq.sql+`
ORDER BY g2 DESC, requests DESC, g1 LIMIT ?`, append(rq.args, min(maxOperations, s.maxRows))...)
	if err != nil {
		return nil, fmt.Errorf("cannot list operations of %s: %w", service, err)
	}
	if len(out) == 0 {
		if err := s.checkServiceKnown(ctx, service); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// SlowRequest is one request span, as the slowest requests list it.
type SlowRequest struct {
	TraceID       string    `json:"trace_id"`
	SpanID        string    `json:"span_id"`
	Operation     string    `json:"operation"`
	Start         time.Time `json:"start"`
	DurationNs    int64     `json:"duration_ns"`
	DurationMs    float64   `json:"duration_ms"`
	StatusCode    string    `json:"status_code"`
	StatusMessage string    `json:"status_message,omitempty"`
	RequestID     string    `json:"request_id,omitempty"`
	InstanceID    string    `json:"service_instance_id,omitempty"`
}

// SlowestTraces returns the slowest request spans of a service that start in
// the range, slowest first (the newest first among equals), at most limit (default and cap as
// every limit). A service that never sent a span or log record is
// ErrNotFound.
func (s *Service) SlowestTraces(ctx context.Context, service string, r TimeRange, limit int) ([]SlowRequest, error) {
	if err := checkService(service); err != nil {
		return nil, err
	}
	if err := checkRange(r); err != nil {
		return nil, err
	}
	where, args := spanScope{from: r.From, to: r.To, service: service}.where()
	var class sql.NullInt64
	err := s.scanRows(ctx, func(rows *sql.Rows) error { return rows.Scan(&class) },
		`SELECT max(`+requestClass+`) FROM spans WHERE `+where+` AND `+requestCandidates, args...)
	if err != nil {
		return nil, fmt.Errorf("cannot find the request spans of %s: %w", service, err)
	}
	out := []SlowRequest{}
	if class.Valid {
		err = s.scanRows(ctx, func(rows *sql.Rows) error {
			var sr SlowRequest
			if err := rows.Scan(&sr.TraceID, &sr.SpanID, &sr.Operation, &sr.Start, &sr.DurationNs, &sr.StatusCode,
				&sr.StatusMessage, &sr.RequestID, &sr.InstanceID); err != nil {
				return fmt.Errorf("cannot read request span: %w", err)
			}
			sr.DurationMs = millis(sr.DurationNs)
			out = append(out, sr)
			return nil
		}, `SELECT trace_id, span_id, name, timestamp, duration_ns, status_code, status_message, request_id, service_instance_id
FROM spans WHERE `+where+` AND `+requestCandidates+` AND `+requestClass+` = ?
ORDER BY duration_ns DESC, timestamp DESC, span_id LIMIT ?`, append(args, class.Int64, s.limit(limit))...)
	}
	if err != nil {
		return nil, fmt.Errorf("cannot list slowest requests of %s: %w", service, err)
	}
	if len(out) == 0 {
		if err := s.checkServiceKnown(ctx, service); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// VersionChange is one service.version of a service seen in a range.
type VersionChange struct {
	Version   string    `json:"version"`
	FirstSeen time.Time `json:"first_seen"` // in the range
	LastSeen  time.Time `json:"last_seen"`
	Instances int       `json:"instances"` // distinct service.instance.id in the range
	// SeenBefore is set when the version was seen in the 24 hours before
	// the range: it was running already, FirstSeen is no deploy.
	SeenBefore bool `json:"seen_before"`
}

// VersionChanges lists the versions (service.version) a service's spans and
// log records carry in the range, by the time each was first seen in it, at
// most the row limit. Records without a version are left out. A service
// that never sent a span or log record is ErrNotFound.
func (s *Service) VersionChanges(ctx context.Context, service string, r TimeRange) ([]VersionChange, error) {
	if err := checkService(service); err != nil {
		return nil, err
	}
	if err := checkRange(r); err != nil {
		return nil, err
	}
	from, to, before := r.From.UTC(), r.To.UTC(), r.From.Add(-versionLookback).UTC()
	const cols = `service_version, service_instance_id, timestamp`
	const where = ` WHERE service_name = ? AND timestamp >= ? AND timestamp < ? AND service_version <> ''`
	out := []VersionChange{}
	err := s.scanRows(ctx, func(rows *sql.Rows) error {
		var v VersionChange
		var seenBefore int
		if err := rows.Scan(&v.Version, &v.FirstSeen, &v.LastSeen, &v.Instances, &seenBefore); err != nil {
			return fmt.Errorf("cannot read version: %w", err)
		}
		v.SeenBefore = seenBefore == 1
		out = append(out, v)
		return nil
	}, `SELECT service_version,
	min(CASE WHEN timestamp >= ? THEN timestamp END) AS first_seen,
	max(timestamp),
	count(DISTINCT CASE WHEN timestamp >= ? THEN service_instance_id END),
	max(CASE WHEN timestamp < ? THEN 1 ELSE 0 END)
FROM (SELECT `+cols+` FROM spans`+where+` UNION ALL SELECT `+cols+` FROM logs`+where+`)
GROUP BY service_version
HAVING max(timestamp) >= ?
ORDER BY first_seen, service_version
LIMIT ?`, from, from, from, service, before, to, service, before, to, from, s.maxRows)
	if err != nil {
		return nil, fmt.Errorf("cannot list versions of %s: %w", service, err)
	}
	if len(out) == 0 {
		if err := s.checkServiceKnown(ctx, service); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// checkService rejects an empty service name.
func checkService(name string) error {
	if name == "" {
		return invalidf("no service given")
	}
	return nil
}

// checkServiceKnown returns ErrNotFound unless the service sent a span or a
// log record at some time. Callers ask only when a range holds nothing of
// the service, to tell a quiet service from a name nobody uses; the lookup
// reads the service_name column of the whole retention.
func (s *Service) checkServiceKnown(ctx context.Context, name string) error {
	var known bool
	err := s.scanRows(ctx, func(r *sql.Rows) error { return r.Scan(&known) },
		`SELECT EXISTS (SELECT 1 FROM spans WHERE service_name = ?) OR EXISTS (SELECT 1 FROM logs WHERE service_name = ?)`, name, name)
	if err != nil {
		return fmt.Errorf("cannot look up service %s: %w", name, err)
	}
	if !known {
		return fmt.Errorf("service %q: %w", name, ErrNotFound)
	}
	return nil
}
