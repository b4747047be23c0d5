package query_test

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/fibinc/telltale/internal/query"
	"github.com/fibinc/telltale/internal/store/duckdb"
	"github.com/fibinc/telltale/internal/telemetry"
)

// BenchmarkRED compares the RED queries over RED aggregates ("agg") with
// the same queries over raw spans ("raw", Options.RawRED: the queries as
// they were before the aggregates) on one store: seven days of traces of 50
// services with 20 operations each, TELLTALE_RED_BENCH_SPANS spans in all
// (default 5M), written through the store's Write in batches of 20,000. The
// store is kept in TELLTALE_BENCH_DIR or else in
// $TMPDIR/telltale-red-bench-<spans> for later runs; delete it when done.
//
//	TELLTALE_RED_BENCH_SPANS=20000000 go test ./internal/query -run '^$' -bench RED -benchtime 5x
func BenchmarkRED(b *testing.B) {
	d, err := redBenchStore()
	if err != nil {
		b.Fatal(err)
	}
	week := query.TimeRange{From: d.end.Add(-7 * 24 * time.Hour), To: d.end}
	day := query.TimeRange{From: d.end.Add(-24 * time.Hour), To: d.end}
	for _, q := range []struct {
		name string
		run  func(s *query.Service) error
	}{
		{"Services/7d", func(s *query.Service) error {
			ss, err := s.Services(context.Background(), week)
			if err == nil && len(ss) != redBenchServices {
				err = fmt.Errorf("%d services", len(ss))
			}
			return err
		}},
		{"ServiceSeries/7d", func(s *query.Service) error { // the default step, 2h
			res, err := s.ServiceSeries(context.Background(), query.ServiceSeriesQuery{Range: week})
			if err == nil && len(res.Series) != redBenchServices {
				err = fmt.Errorf("%d series", len(res.Series))
			}
			return err
		}},
		{"ServiceSeries/7d+offset", func(s *query.Service) error { // the week before, over the 6 days stored
			_, err := s.ServiceSeries(context.Background(), query.ServiceSeriesQuery{Range: week, Offset: 24 * time.Hour})
			return err
		}},
		{"ServiceSeries/24h", func(s *query.Service) error { // 10 minutes
			_, err := s.ServiceSeries(context.Background(), query.ServiceSeriesQuery{Range: day})
			return err
		}},
		{"Operations/7d", func(s *query.Service) error {
			ops, err := s.Operations(context.Background(), "svc-07", week)
			if err == nil && len(ops) != 2*redBenchOps { // its own and those it serves others
				err = fmt.Errorf("%d operations", len(ops))
			}
			return err
		}},
	} {
		for _, mode := range []struct {
			name string
			svc  *query.Service
		}{{"raw", d.raw}, {"agg", d.agg}} {
			b.Run(q.name+"/"+mode.name, func(b *testing.B) {
				for b.Loop() {
					if err := q.run(mode.svc); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

const (
	redBenchServices = 50
	redBenchOps      = 20
	redBenchBatch    = 20_000
	// redBenchSpansPerTrace: a server span, a client span calling another
	// service, that service's server span and an internal span under it.
	redBenchSpansPerTrace = 4
)

type redBench struct {
	agg, raw *query.Service
	end      time.Time
}

var redBenchStore = sync.OnceValues(func() (*redBench, error) {
	n := 5_000_000
	if v := os.Getenv("TELLTALE_RED_BENCH_SPANS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < redBenchBatch {
			return nil, fmt.Errorf("TELLTALE_RED_BENCH_SPANS=%q: want an integer >= %d", v, redBenchBatch)
		}
	}
	dir := os.Getenv("TELLTALE_BENCH_DIR")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), fmt.Sprintf("telltale-red-bench-%d", n))
	}
	ctx := context.Background()
	st, err := duckdb.Open(ctx, duckdb.Options{Dir: dir})
	if err != nil {
		return nil, err
	}
	start := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	d := &redBench{end: start.Add(7 * 24 * time.Hour)}
	if d.agg, err = query.New(query.Options{Store: st, Timeout: 10 * time.Minute}); err != nil {
		return nil, err
	}
	if d.raw, err = query.New(query.Options{Store: st, Timeout: 10 * time.Minute, RawRED: true}); err != nil {
		return nil, err
	}
	r, err := st.Query(ctx, "SELECT count(*) FROM spans")
	if err != nil {
		return nil, err
	}
	have := 0
	for r.Next() {
		err = r.Scan(&have)
	}
	r.Close()
	n -= n % redBenchBatch
	switch {
	case err != nil || have == n:
		return d, err
	case have != 0:
		return nil, fmt.Errorf("%s holds %d spans, not %d: delete it", dir, have, n)
	}
	t0 := time.Now()
	for i := 0; i < n; i += redBenchBatch {
		if err := st.Write(ctx, redBenchBatchAt(start, n, i)); err != nil {
			return nil, err
		}
	}
	if err := st.CompactRED(ctx); err != nil {
		return nil, err
	}
	fmt.Fprintf(os.Stderr, "filled %s with %d spans in %s\n", dir, n, time.Since(t0).Round(time.Second))
	return d, nil
})

// redBenchBatchAt returns spans [i, i+redBenchBatch) of n spread evenly over
// the week from start; the traces of a batch interleave.
func redBenchBatchAt(start time.Time, n, i int) *telemetry.Batch {
	rnd := rand.New(rand.NewPCG(uint64(i), 7))
	b := &telemetry.Batch{Spans: make([]telemetry.Span, 0, redBenchBatch)}
	week := float64(7 * 24 * time.Hour)
	for t := i / redBenchSpansPerTrace; t < (i+redBenchBatch)/redBenchSpansPerTrace; t++ {
		at := start.Add(time.Duration(float64(t*redBenchSpansPerTrace) / float64(n) * week))
		caller, callee := t%redBenchServices, (t*7+3)%redBenchServices
		op := t / redBenchServices % redBenchOps
		// Log-normal durations with a median per operation; errors 1%.
		d := func(scale float64) time.Duration {
			return time.Duration(math.Exp(rnd.NormFloat64()*0.8) * scale * float64(time.Duration(op+1)*time.Millisecond))
		}
		status := func() string {
			if rnd.IntN(100) == 0 {
				return "error"
			}
			return "unset"
		}
		tid := fmt.Sprintf("%016x%016x", uint64(t)*0x9e3779b97f4a7c15, uint64(t))
		id := func(k int) string {
			return fmt.Sprintf("%016x", uint64(t*redBenchSpansPerTrace+k)*0xbf58476d1ce4e5b9+1)
		}
		res := func(svc int) telemetry.Resource {
			name := fmt.Sprintf("svc-%02d", svc)
			version := "1.0"
			if t*redBenchSpansPerTrace > n/2 { // a deploy mid-week
				version = "1.1"
			}
			return telemetry.Resource{ServiceName: name, ServiceVersion: version, InstanceID: fmt.Sprintf("%s-%d", name, t%3),
				Environment: "prod", Host: fmt.Sprintf("host-%d", t%10), Attributes: "{}"}
		}
		outer, inner := d(20), d(8)
		route := fmt.Sprintf("GET /api/v1/op-%02d", op)
		for k, sp := range []telemetry.Span{
			{Resource: res(caller), SpanID: id(0), Name: route, Kind: "server", Duration: outer, StatusCode: status()},
			{Resource: res(caller), SpanID: id(1), ParentSpanID: id(0), Name: "GET", Kind: "client", Duration: inner, StatusCode: status(),
				Attributes: fmt.Sprintf(`{"peer.service":"svc-%02d"}`, callee)},
			{Resource: res(callee), SpanID: id(2), ParentSpanID: id(1), Name: fmt.Sprintf("GET /internal/op-%02d", op), Kind: "server",
				Duration: inner * 9 / 10, StatusCode: status()},
			{Resource: res(callee), SpanID: id(3), ParentSpanID: id(2), Name: "SELECT", Kind: "internal", Duration: inner / 2, StatusCode: "unset"},
		} {
			sp.TraceID, sp.Start = tid, at.Add(time.Duration(k)*time.Millisecond)
			if sp.Attributes == "" {
				sp.Attributes = "{}"
			}
			sp.Events, sp.Links = "[]", "[]"
			b.Spans = append(b.Spans, sp)
		}
	}
	return b
}
