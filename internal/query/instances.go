package query

import (
	"context"
	"database/sql"
	"fmt"
)

// InstanceStat is the requests of one service instance, measured as its
// service's are: by server spans, or by root and consumer spans when the
// service has no server span in the range.
type InstanceStat struct {
	Requests  int64   `json:"requests"`
	Errors    int64   `json:"errors"`
	ErrorRate float64 `json:"error_rate"`
}

// InstanceStats returns the request statistics of every service instance
// with requests in the range, by service name and then instance id, so that
// a bad instance stands out among good ones.
func (s *Service) InstanceStats(ctx context.Context, r TimeRange) (map[string]map[string]InstanceStat, error) {
	if err := checkRange(r); err != nil {
		return nil, err
	}
	type key struct{ service, instance string }
	byClass := map[int]map[key]InstanceStat{}
	err := s.scanRows(ctx, func(rows *sql.Rows) error {
		var k key
		var class int
		var st InstanceStat
		if err := rows.Scan(&k.service, &k.instance, &class, &st.Requests, &st.Errors); err != nil {
			return fmt.Errorf("cannot read instance statistics: %w", err)
		}
		if byClass[class] == nil {
			byClass[class] = map[key]InstanceStat{}
		}
		byClass[class][k] = st
		return nil
	}, fmt.Sprintf(`SELECT service_name, service_instance_id,
	CASE WHEN kind = 'server' THEN %d ELSE %d END AS class,
	count(*), count(CASE WHEN status_code = 'error' THEN 1 END)
FROM spans WHERE timestamp >= ? AND timestamp < ? AND %s
GROUP BY service_name, service_instance_id, class`, classServer, classRootOrConsumer, requestCandidates),
		r.From.UTC(), r.To.UTC())
	if err != nil {
		return nil, fmt.Errorf("cannot compute instance statistics: %w", err)
	}
	hasServer := map[string]bool{}
	for k := range byClass[classServer] {
		hasServer[k.service] = true
	}
	out := map[string]map[string]InstanceStat{}
	for class, stats := range byClass {
		for k, st := range stats {
			if class != classServer && hasServer[k.service] {
				continue
			}
			if st.Requests > 0 {
				st.ErrorRate = float64(st.Errors) / float64(st.Requests)
			}
			if out[k.service] == nil {
				out[k.service] = map[string]InstanceStat{}
			}
			out[k.service][k.instance] = st
		}
	}
	return out, nil
}
