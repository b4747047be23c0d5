package query

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

const (
	// mapMaxRange caps the range the service map reads: it joins every span
	// with its parent. A longer range keeps its last day.
	mapMaxRange = 24 * time.Hour
	// mapSpansPerRow caps the spans the map joins, as a multiple of the row
	// limit: 500,000 by default, about 0.15 s on two cores.
	// A range holding more keeps its most recent part holding about that
	// many.
	mapSpansPerRow = 50
	// mapSlack is how long before its child a parent span may start, and
	// how far outside the range the child of a client span in it may
	// start, and still be found.
	mapSlack = time.Minute
)

// peerKeys are the attributes of a client span that name the peer it
// called, most specific first, for calls into services that send no spans.
var peerKeys = []string{"peer.service", "server.address", "net.peer.name"}

// Health marks of services and calls, from their error rate.
const (
	HealthUnknown  = "unknown"  // no requests
	HealthOK       = "ok"       // under 1% errors
	HealthWarning  = "warning"  // 1% to 5% errors
	HealthCritical = "critical" // 5% errors or more
)

// HealthOf returns the health mark of requests of which errors failed.
func HealthOf(requests, errors int64) string {
	switch {
	case requests <= 0:
		return HealthUnknown
	case errors*100 >= requests*5:
		return HealthCritical
	case errors*100 >= requests:
		return HealthWarning
	}
	return HealthOK
}

// ServiceMap is the services of a range and the calls between them.
type ServiceMap struct {
	// From and To are the range read: the asked range, or its most recent
	// part when it was longer than a day or held too many spans.
	From   time.Time `json:"from"`
	To     time.Time `json:"to"`
	Capped bool      `json:"capped"` // From is later than asked
	Nodes  []MapNode `json:"nodes"`  // sorted by name
	Edges  []MapEdge `json:"edges"`  // sorted by caller, then callee
}

// MapNode is a service of the map, measured by its requests as in
// ServiceSummary. An external node is a peer that sends no spans, named by
// the client spans that call it; its requests are those calls.
type MapNode struct {
	Name         string   `json:"name"`
	External     bool     `json:"external"`
	RequestSpans string   `json:"request_spans"`
	Requests     int64    `json:"requests"`
	Errors       int64    `json:"errors"`
	Rate         float64  `json:"rate"` // requests per second
	ErrorRate    float64  `json:"error_rate"`
	Latency      *Latency `json:"latency_ms"` // nil for external nodes and without requests
	Health       string   `json:"health"`
}

// MapEdge is the calls from one service to another. A call is a span
// starting in the range whose parent span belongs to another service; its
// status and duration are the callee's span's. A call to an external peer is
// a client span starting in the range without a child span, named by its
// peer.service, server.address or net.peer.name attribute and measured by
// the client span; when the name is that of a service that sends spans,
// the call counts on the edge to that service.
type MapEdge struct {
	Caller    string  `json:"caller"`
	Callee    string  `json:"callee"`
	External  bool    `json:"external"`
	Calls     int64   `json:"calls"`
	Errors    int64   `json:"errors"`
	Rate      float64 `json:"rate"` // calls per second
	ErrorRate float64 `json:"error_rate"`
	P95Ms     float64 `json:"p95_ms"`
	Health    string  `json:"health"`
}

// ServiceMap returns the services with requests in the range, every other
// service that took part in a call, and the calls between them, of one
// deployment environment when env is not "". A range longer than a day is
// cut to its last day, and one holding more than 50 times the row limit of
// spans to its most recent part holding about that many.
func (s *Service) ServiceMap(ctx context.Context, r TimeRange, env string) (*ServiceMap, error) {
	return s.serviceGraph(ctx, r, env, "")
}

// Dependencies is what a service calls and what calls it.
type Dependencies struct {
	Service string       `json:"service"`
	From    time.Time    `json:"from"`
	To      time.Time    `json:"to"`
	Capped  bool         `json:"capped"`
	Callers []Dependency `json:"callers"` // most calls first
	Callees []Dependency `json:"callees"` // most calls first
}

// Dependency is the calls between the service and one peer, and the peer's
// own health over all its requests.
type Dependency struct {
	MapEdge
	Peer MapNode `json:"peer"`
}

// Dependencies returns the callers and callees of a service in the range,
// from the edges of the service map (so with its range cut as the map's). A service
// that never sent a span or log record is ErrNotFound.
func (s *Service) Dependencies(ctx context.Context, service string, r TimeRange) (*Dependencies, error) {
	if err := checkService(service); err != nil {
		return nil, err
	}
	m, err := s.serviceGraph(ctx, r, "", service)
	if err != nil {
		return nil, err
	}
	d := &Dependencies{Service: service, From: m.From, To: m.To, Capped: m.Capped, Callers: []Dependency{}, Callees: []Dependency{}}
	nodes := map[string]MapNode{}
	for _, n := range m.Nodes {
		nodes[n.Name] = n
	}
	for _, e := range m.Edges {
		switch service {
		case e.Caller:
			d.Callees = append(d.Callees, Dependency{e, nodes[e.Callee]})
		case e.Callee:
			d.Callers = append(d.Callers, Dependency{e, nodes[e.Caller]})
		}
	}
	byCalls := func(a, b Dependency) int {
		return cmp.Or(cmp.Compare(b.Calls, a.Calls), cmp.Compare(a.Peer.Name, b.Peer.Name))
	}
	slices.SortFunc(d.Callers, byCalls)
	slices.SortFunc(d.Callees, byCalls)
	if _, ok := nodes[service]; !ok && len(d.Callers)+len(d.Callees) == 0 {
		if err := s.checkServiceKnown(ctx, service); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// serviceGraph builds the map over r, of environment env when not "", with
// only the edges touching service when not "".
func (s *Service) serviceGraph(ctx context.Context, r TimeRange, env, service string) (*ServiceMap, error) {
	if err := checkRange(r); err != nil {
		return nil, err
	}
	m := &ServiceMap{From: r.From.UTC(), To: r.To.UTC(), Nodes: []MapNode{}, Edges: []MapEdge{}}
	if m.To.Sub(m.From) > mapMaxRange {
		m.From, m.Capped = m.To.Add(-mapMaxRange), true
	}
	from, err := s.mapStart(ctx, m.From, m.To)
	if err != nil {
		return nil, err
	}
	if from.After(m.From) {
		m.From, m.Capped = from, true
	}
	seconds := m.To.Sub(m.From).Seconds()

	nodes := map[string]*MapNode{}
	rq := s.redQuery(redSpec{scope: spanScope{from: m.From, to: m.To, env: env}, candidates: true, serviceOnly: true, groups: func(redSource) []string {
		return []string{"service_name", requestClass}
	}})
	err = s.scanRows(ctx, func(rows *sql.Rows) error {
		var name string
		var class int
		var x redStats
		if err := rows.Scan(append([]any{&name, &class}, x.dest(rq)...)...); err != nil {
			return fmt.Errorf("cannot read service statistics: %w", err)
		}
		x.finish(rq)
		// Rows come highest class first: keep a service's first.
		if nodes[name] != nil {
			return nil
		}
		nodes[name] = &MapNode{Name: name, RequestSpans: requestKind(class), Requests: x.n, Errors: x.errors,
			Rate: float64(x.n) / seconds, ErrorRate: x.errorRate(), Latency: x.latency()}
		return nil
	}, rq.sql+`
ORDER BY g1, g2 DESC LIMIT ?`, append(rq.args, 2*s.maxRows)...)
	if err != nil {
		return nil, fmt.Errorf("cannot compute service statistics: %w", err)
	}

	q, args := s.callsQuery(m.From, m.To, env, service)
	err = s.scanRows(ctx, func(rows *sql.Rows) error {
		var e MapEdge
		var external int
		var p95 sql.NullFloat64
		if err := rows.Scan(&e.Caller, &e.Callee, &external, &e.Calls, &e.Errors, &p95); err != nil {
			return fmt.Errorf("cannot read call statistics: %w", err)
		}
		e.External = external == 1 // settled below, once every service is known
		e.Rate, e.ErrorRate, e.P95Ms = float64(e.Calls)/seconds, float64(e.Errors)/float64(e.Calls), p95.Float64/1e6
		e.Health = HealthOf(e.Calls, e.Errors)
		m.Edges = append(m.Edges, e)
		return nil
	}, q, append(args, s.maxRows)...)
	if err != nil {
		return nil, fmt.Errorf("cannot compute calls between services: %w", err)
	}

	// Both ends of a call found by its spans send spans; a peer named by
	// client spans alone is external unless it is one of them too.
	for _, e := range m.Edges {
		if nodes[e.Caller] == nil {
			nodes[e.Caller] = &MapNode{Name: e.Caller}
		}
		if !e.External && nodes[e.Callee] == nil {
			nodes[e.Callee] = &MapNode{Name: e.Callee}
		}
	}
	for i := range m.Edges {
		e := &m.Edges[i]
		if !e.External {
			continue
		}
		if n := nodes[e.Callee]; n != nil && !n.External {
			e.External = false
			continue
		}
		n := nodes[e.Callee]
		if n == nil {
			n = &MapNode{Name: e.Callee, External: true}
			nodes[e.Callee] = n
		}
		n.Requests += e.Calls
		n.Errors += e.Errors
	}
	for _, name := range slices.Sorted(maps.Keys(nodes)) {
		n := nodes[name]
		if n.External {
			n.Rate = float64(n.Requests) / seconds
			n.ErrorRate = float64(n.Errors) / float64(max(n.Requests, 1))
		}
		n.Health = HealthOf(n.Requests, n.Errors)
		m.Nodes = append(m.Nodes, *n)
	}
	return m, nil
}

// mapBuckets is how finely mapStart counts spans over the range.
const mapBuckets = 100

// mapStart returns the start of the most recent part of [from, to) holding
// at most mapSpansPerRow times the row limit of spans: from itself when the
// whole range does. It counts the spans per hundredth of the range, which
// reads only the timestamps, a few percent of the cost of the join it
// bounds, and assumes spans are even within the hundredth it cuts.
func (s *Service) mapStart(ctx context.Context, from, to time.Time) (time.Time, error) {
	limit := int64(mapSpansPerRow) * int64(s.maxRows)
	step := (to.Sub(from) / mapBuckets).Truncate(time.Microsecond) + time.Microsecond
	type bucket struct {
		start time.Time
		n     int64
	}
	var buckets []bucket
	var total int64
	err := s.scanRows(ctx, func(rows *sql.Rows) error {
		var b bucket
		if err := rows.Scan(&b.start, &b.n); err != nil {
			return fmt.Errorf("cannot read span count: %w", err)
		}
		buckets = append(buckets, b)
		total += b.n
		return nil
	}, `SELECT `+s.dialect.TimeBucket("timestamp", step)+` AS bucket, count(*) FROM spans
WHERE timestamp >= ? AND timestamp < ? GROUP BY bucket ORDER BY bucket DESC`, from, to)
	if err != nil {
		return time.Time{}, fmt.Errorf("cannot count spans: %w", err)
	}
	if total <= limit {
		return from, nil
	}
	var kept int64
	for _, b := range buckets {
		if kept+b.n <= limit {
			kept += b.n
			continue
		}
		start, end := b.start, b.start.Add(step)
		if start.Before(from) {
			start = from
		}
		if end.After(to) {
			end = to
		}
		fits := float64(limit-kept) / float64(b.n)
		return end.Add(-time.Duration(fits * float64(end.Sub(start)))).Truncate(time.Millisecond), nil
	}
	return from, nil // not reached: the buckets hold more than limit
}

// callsQuery returns the query of the calls in [from, to) and its
// arguments but the row limit, the last. Each row is caller, callee,
// external (1 when every call was a client span without a child), calls,
// errors and the p95 duration in nanoseconds.
//
// One join of each span with its children finds both kinds of call: a
// child in another service is a call between services, counted when the
// child starts in the range; a client span without a child is a call out,
// counted when it starts in the range. Parents may start up to mapSlack
// before the range, and children up to mapSlack outside it either way
// (long calls, skewed clocks).
func (s *Service) callsQuery(from, to time.Time, env, service string) (string, []any) {
	var peer []string
	var args []any
	for _, k := range peerKeys {
		expr, arg := s.dialect.JSONString("p.attributes", k)
		peer = append(peer, "NULLIF("+expr+", '')")
		args = append(args, arg)
	}
	envCond := func(col string) string {
		if env == "" {
			return ""
		}
		args = append(args, env)
		return " AND " + col + " = ?"
	}
	cEnv := ""
	if env != "" {
		cEnv = ", deployment_environment"
	}
	var b strings.Builder
	b.WriteString(`SELECT caller, callee, min(external), count(*), count(CASE WHEN status_code = 'error' THEN 1 END), ` +
		s.dialect.Quantile("duration_ns", 0.95) + `
FROM (
	SELECT p.service_name AS caller,
		CASE WHEN c.service_name IS NULL THEN coalesce(` + strings.Join(peer, ", ") + `) ELSE c.service_name END AS callee,
		CASE WHEN c.service_name IS NULL THEN 1 ELSE 0 END AS external,
		coalesce(c.status_code, p.status_code) AS status_code,
		coalesce(c.duration_ns, p.duration_ns) AS duration_ns
	FROM (SELECT timestamp, trace_id, span_id, service_name, kind, status_code, duration_ns, attributes
		FROM spans WHERE timestamp >= ? AND timestamp < ?`)
	args = append(args, from.Add(-mapSlack).UTC(), to.UTC())
	b.WriteString(envCond("deployment_environment") + `) p
	LEFT JOIN (SELECT timestamp, trace_id, parent_span_id, service_name, status_code, duration_ns` + cEnv + `
		FROM spans WHERE timestamp >= ? AND timestamp < ? AND parent_span_id <> '') c
	ON c.trace_id = p.trace_id AND c.parent_span_id = p.span_id
	WHERE (c.service_name IS NULL AND p.kind = 'client' AND p.timestamp >= ?)
		OR (c.service_name <> p.service_name AND c.timestamp >= ? AND c.timestamp < ?`)
	args = append(args, from.Add(-mapSlack).UTC(), to.Add(mapSlack).UTC(), from.UTC(), from.UTC(), to.UTC())
	b.WriteString(envCond("c.deployment_environment") + `)
) calls
WHERE callee IS NOT NULL AND callee <> caller`)
	if service != "" {
		b.WriteString(` AND (caller = ? OR callee = ?)`)
		args = append(args, service, service)
	}
	b.WriteString(`
GROUP BY caller, callee
ORDER BY caller, callee
LIMIT ?`)
	return b.String(), args
}
