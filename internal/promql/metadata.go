package promql

import (
	"context"
	"slices"
	"time"

	"github.com/fibinc/telltale/internal/query"
)

// Metadata is what /api/v1/metadata reports of a metric.
type Metadata struct {
	Type string `json:"type"` // counter, gauge, histogram, summary
	Help string `json:"help"`
	Unit string `json:"unit"`
}

// Metadata returns the metadata of the metrics with points in [from, to],
// by Prometheus metric family name (without _bucket, _sum, _count), of
// metric alone when it is not empty. limit caps the metrics and
// limitPerMetric the entries of each (0 or less: no cap).
func (e *Engine) Metadata(ctx context.Context, from, to time.Time, metric string, limit, limitPerMetric int) (map[string][]Metadata, error) {
	ms, err := e.storage.q.PromMetrics(ctx, query.TimeRange{From: from, To: to}, e.storage.maxMetrics)
	if err != nil {
		return nil, e.storage.wrap(err)
	}
	out := map[string][]Metadata{}
	var names []string
	for _, m := range ms {
		t := promTypeOf(m)
		name := metricName(m.Name, m.Unit, t)
		if name == "" || metric != "" && name != metric {
			continue
		}
		md := Metadata{Type: t.metadataType(), Help: m.Description, Unit: unitName(m.Unit)}
		list, ok := out[name]
		switch {
		case !ok:
			names = append(names, name)
		case slices.Contains(list, md), limitPerMetric > 0 && len(list) >= limitPerMetric:
			continue
		}
		out[name] = append(list, md)
	}
	if limit > 0 && len(names) > limit {
		// PromMetrics sorts by stored name; keep the first names in
		// Prometheus order, so that the answer is stable.
		slices.Sort(names)
		for _, n := range names[limit:] {
			delete(out, n)
		}
	}
	return out, nil
}
