package query

import (
	"context"
	"database/sql"
	"fmt"
	"maps"
	"slices"
	"time"
)

// ServiceSummary describes one service over a time range.
//
// Its requests are its server spans; a service without any (a worker, a
// consumer, a cron job) is measured by its root and consumer spans instead,
// and RequestSpans says which ("server", "root_or_consumer", or "" when the
// service has neither and only its span and log counts are known).
type ServiceSummary struct {
	Name          string   `json:"name"`
	RequestSpans  string   `json:"request_spans"`
	Requests      int64    `json:"requests"`
	RequestErrors int64    `json:"request_errors"`
	RequestRate   float64  `json:"request_rate"` // requests per second over the range
	ErrorRate     float64  `json:"error_rate"`   // fraction of requests with status error
	Latency       *Latency `json:"latency_ms"`   // nil without requests
	SpanCount     int64    `json:"span_count"`
	ErrorCount    int64    `json:"error_count"` // spans with status error
	LogCount      int64    `json:"log_count"`

	Instances    []Instance `json:"instances"` // most recently seen first
	Versions     []string   `json:"versions"`
	Environments []string   `json:"environments"`
}

// Latency holds request duration percentiles in milliseconds.
type Latency struct {
	P50 float64 `json:"p50"`
	P95 float64 `json:"p95"`
	P99 float64 `json:"p99"`
}

// Instance is one running copy of a service, as its resource fields tell.
type Instance struct {
	ID               string    `json:"id"`
	Host             string    `json:"host"`
	AvailabilityZone string    `json:"availability_zone"`
	Environment      string    `json:"environment"`
	Version          string    `json:"version"`
	LastSeen         time.Time `json:"last_seen"`
}

// Classes of spans for the request statistics.
const (
	classServer = 1 + iota
	classRootOrConsumer
	classOther
)

// Services lists every service that sent spans or logs in the range, sorted
// by name. At most the row limit of instances are listed in all.
func (s *Service) Services(ctx context.Context, r TimeRange) ([]ServiceSummary, error) {
	if err := checkRange(r); err != nil {
		return nil, err
	}
	from, to := r.From.UTC(), r.To.UTC()
	byName := map[string]*ServiceSummary{}
	get := func(name string) *ServiceSummary {
		if byName[name] == nil {
			byName[name] = &ServiceSummary{Name: name, Instances: []Instance{}}
		}
		return byName[name]
	}

	// One row per service and class of span; the service's request class is
	// chosen afterwards, once it is known whether it has server spans.
	stats := map[string]map[int]redStats{}
	rq := s.redQuery(redSpec{scope: spanScope{from: from, to: to}, serviceOnly: true, groups: func(src redSource) []string {
		return []string{"service_name", fmt.Sprintf("CASE WHEN kind = 'server' THEN %d WHEN %s OR kind = 'consumer' THEN %d ELSE %d END",
			classServer, src.root, classRootOrConsumer, classOther)}
	}})
	err := s.scanRows(ctx, func(rows *sql.Rows) error {
		var name string
		var class int
		var x redStats
		if err := rows.Scan(append([]any{&name, &class}, x.dest(rq)...)...); err != nil {
			return fmt.Errorf("cannot read span statistics: %w", err)
		}
		x.finish(rq)
		if stats[name] == nil {
			stats[name] = map[int]redStats{}
		}
		stats[name][class] = x
		return nil
	}, rq.sql, rq.args...)
	if err != nil {
		return nil, fmt.Errorf("cannot compute service statistics: %w", err)
	}
	seconds := r.To.Sub(r.From).Seconds()
	for name, classes := range stats {
		sum := get(name)
		for _, c := range classes {
			sum.SpanCount += c.n
			sum.ErrorCount += c.errors
		}
		req, kind := classes[classServer], "server"
		if req.n == 0 {
			req, kind = classes[classRootOrConsumer], "root_or_consumer"
		}
		if req.n == 0 {
			continue
		}
		sum.RequestSpans, sum.Requests, sum.RequestErrors = kind, req.n, req.errors
		sum.RequestRate = float64(req.n) / seconds
		sum.ErrorRate = req.errorRate()
		sum.Latency = req.latency()
	}

	err = s.scanRows(ctx, func(rows *sql.Rows) error {
		var name string
		var n int64
		if err := rows.Scan(&name, &n); err != nil {
			return fmt.Errorf("cannot read log counts: %w", err)
		}
		get(name).LogCount = n
		return nil
	}, `SELECT service_name, count(*) FROM logs WHERE timestamp >= ? AND timestamp < ? GROUP BY service_name`, from, to)
	if err != nil {
		return nil, fmt.Errorf("cannot count logs per service: %w", err)
	}

	const resource = `service_name, service_instance_id, host_name, availability_zone, deployment_environment, service_version, timestamp`
	err = s.scanRows(ctx, func(rows *sql.Rows) error {
		var name string
		var in Instance
		if err := rows.Scan(&name, &in.ID, &in.Host, &in.AvailabilityZone, &in.Environment, &in.Version, &in.LastSeen); err != nil {
			return fmt.Errorf("cannot read instance: %w", err)
		}
		sum := get(name)
		sum.Instances = append(sum.Instances, in)
		return nil
	}, `SELECT service_name, service_instance_id, host_name, availability_zone, deployment_environment, service_version, max(timestamp) AS last_seen
FROM (SELECT `+resource+` FROM spans WHERE timestamp >= ? AND timestamp < ?
	UNION ALL SELECT `+resource+` FROM logs WHERE timestamp >= ? AND timestamp < ?)
GROUP BY 1, 2, 3, 4, 5, 6
ORDER BY service_name, last_seen DESC, service_instance_id
LIMIT ?`, from, to, from, to, s.maxRows)
	if err != nil {
		return nil, fmt.Errorf("cannot list service instances: %w", err)
	}

	out := make([]ServiceSummary, 0, len(byName))
	for _, name := range slices.Sorted(maps.Keys(byName)) {
		sum := byName[name]
		sum.Versions = distinct(sum.Instances, func(in *Instance) string { return in.Version })
		sum.Environments = distinct(sum.Instances, func(in *Instance) string { return in.Environment })
		out = append(out, *sum)
	}
	return out, nil
}

// distinct returns the sorted non-empty values of field over ins.
func distinct(ins []Instance, field func(*Instance) string) []string {
	set := map[string]bool{}
	for i := range ins {
		if v := field(&ins[i]); v != "" {
			set[v] = true
		}
	}
	return append([]string{}, slices.Sorted(maps.Keys(set))...)
}
