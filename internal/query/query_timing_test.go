package query_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/fibinc/telltale/internal/query"
	"github.com/fibinc/telltale/internal/store/duckdb"
	"github.com/fibinc/telltale/internal/telemetry"
)

// The benchmarks run over a store holding TELLTALE_BENCH_RECORDS spans and as
// many log records (default 1M each) spread over three days. Filling 10M
// takes minutes, so TELLTALE_BENCH_DIR may name a directory to keep the
// store in between runs; it is filled only when it holds too few spans.
//
//	TELLTALE_BENCH_RECORDS=10000000 TELLTALE_BENCH_DIR=/tmp/telltale-bench \
//	    go test ./internal/query -run '^$' -bench . -benchtime 20x

// benchNeedle is the text of the one log line the needle search must find.
const benchNeedle = "some rare phrase"

// benchData is the store shared by the benchmarks and what they look up.
type benchData struct {
	svc     *query.Service
	st      *duckdb.Store
	traceID string    // a trace in the middle of the data
	end     time.Time // just after the newest record
}

var bench = sync.OnceValues(func() (*benchData, error) {
	n := 1_000_000
	if v := os.Getenv("TELLTALE_BENCH_RECORDS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1000 {
			return nil, fmt.Errorf("TELLTALE_BENCH_RECORDS=%q: want an integer >= 1000", v)
		}
	}
	dir := os.Getenv("TELLTALE_BENCH_DIR")
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "telltale-bench-"); err != nil {
			return nil, err
		}
	}
	ctx := context.Background()
	st, err := duckdb.Open(ctx, duckdb.Options{Dir: dir})
	if err != nil {
		return nil, err
	}
	svc, err := query.New(query.Options{Store: st, Timeout: time.Minute})
	if err != nil {
		return nil, err
	}
	g := benchGen{n: n, start: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)}
	d := &benchData{svc: svc, st: st, traceID: g.traceID(n / 2 / benchSpansPerTrace), end: g.time(n)}
	r, err := st.Query(ctx, "SELECT count(*) FROM spans")
	if err != nil {
		return nil, err
	}
	have := 0
	for r.Next() {
		err = r.Scan(&have)
	}
	r.Close()
	if err != nil || have >= n {
		return d, err
	}
	t0 := time.Now()
	for i := 0; i < n; i += benchBatch {
		if err := st.Write(ctx, g.batch(i, min(i+benchBatch, n))); err != nil {
			return nil, err
		}
	}
	fmt.Fprintf(os.Stderr, "filled %s with %d spans and %d logs in %s\n", dir, n, n, time.Since(t0).Round(time.Second))
	return d, nil
})

const (
	benchBatch         = 100_000
	benchSpansPerTrace = 8
	benchDays          = 3
)

// benchGen makes record i of n, deterministically, so that a reused store
// and a fresh one hold the same data.
type benchGen struct {
	n     int
	start time.Time
}

func (g benchGen) time(i int) time.Time {
	return g.start.Add(time.Duration(float64(i) / float64(g.n) * float64(benchDays*24*time.Hour)))
}

func (g benchGen) traceID(t int) string { return fmt.Sprintf("%016x%016x", uint64(t)*0x9e3779b97f4a7c15, uint64(t)) }

func (g benchGen) batch(from, to int) *telemetry.Batch {
	rnd := rand.New(rand.NewPCG(uint64(from), 42))
	routes := []string{"/api/items", "/api/users", "/api/cart", "/api/checkout", "/healthz"}
	b := &telemetry.Batch{Spans: make([]telemetry.Span, 0, to-from), Logs: make([]telemetry.Log, 0, to-from)}
	for i := from; i < to; i++ {
		trace, pos := i/benchSpansPerTrace, i%benchSpansPerTrace
		svc := fmt.Sprintf("svc-%02d", (trace+pos)%20)
		res := telemetry.Resource{
			ServiceName: svc, ServiceVersion: "1." + strconv.Itoa(trace%3), InstanceID: fmt.Sprintf("%s-%d", svc, trace%4),
			Environment: "prod", Host: fmt.Sprintf("host-%d", trace%10), AvailabilityZone: "eu-west-1a", Attributes: `{"k8s.pod.name":"p"}`,
		}
		tid := g.traceID(trace)
		sid := fmt.Sprintf("%016x", uint64(i)*0x9e3779b97f4a7c15+1)
		parent, kind := "", "server"
		if pos > 0 {
			parent, kind = fmt.Sprintf("%016x", uint64(i-pos)*0x9e3779b97f4a7c15+1), "client"
		}
		status := "unset"
		if rnd.IntN(100) == 0 {
			status = "error"
		}
		route := routes[rnd.IntN(len(routes))]
		t := g.time(i)
		reqID := fmt.Sprintf("%016x", uint64(trace)*0xbf58476d1ce4e5b9)
		b.Spans = append(b.Spans, telemetry.Span{
			Resource: res, Scope: telemetry.Scope{Name: "bench"}, TraceID: tid, SpanID: sid, ParentSpanID: parent,
			Name: "GET " + route, Kind: kind, Start: t, Duration: time.Duration(rnd.ExpFloat64() * float64(20*time.Millisecond)),
			StatusCode: status, RequestID: reqID,
			Attributes: fmt.Sprintf(`{"http.method":"GET","http.route":%q,"http.status_code":200,"user.id":"u%d"}`, route, rnd.IntN(10000)),
			Events:     "[]", Links: "[]",
		})
		body := fmt.Sprintf("handled GET %s/%d in %dms for user u%d status=200", route, rnd.IntN(100000), rnd.IntN(500), rnd.IntN(10000))
		if i == g.n/3 {
			body = "payment declined: " + benchNeedle + " from the issuer"
		}
		l := telemetry.Log{
			Resource: res, Time: t, ObservedTime: t.Add(time.Millisecond), Severity: telemetry.SeverityInfo, SeverityText: "INFO",
			Body: body, RequestID: reqID, Attributes: fmt.Sprintf(`{"route":%q}`, route), Source: "otlp",
		}
		if pos%2 == 0 {
			l.TraceID, l.SpanID = tid, sid
		}
		b.Logs = append(b.Logs, l)
	}
	return b
}

func benchSetup(b *testing.B) *benchData {
	b.Helper()
	d, err := bench()
	if err != nil {
		b.Fatal(err)
	}
	return d
}

func BenchmarkProbe(b *testing.B) {
	d := benchSetup(b)
	_ = d
}
