package query_test

import (
	"context"
	"fmt"
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

// The benchmarks run over a store holding TELLTALE_BENCH_RECORDS spans and as
// many log records (default 1M each) spread over three days. Filling 10M
// takes minutes, so the store is kept, in TELLTALE_BENCH_DIR or else in
// $TMPDIR/telltale-bench-<records>, and later runs reuse it. Delete it when
// done, or when the generator below changes.
//
//	TELLTALE_BENCH_RECORDS=10000000 go test ./internal/query -run '^$' -bench . -benchtime 20x

// benchNeedle is the text of the one log line the needle search must find.
const benchNeedle = "some rare phrase"

// benchData is the store shared by the benchmarks and what they look up.
type benchData struct {
	svc       *query.Service
	traceID   string    // a trace in the middle of the data
	end       time.Time // just after the newest record
	requestID string    // the request of trace traceID
}

// all is a range holding every record.
func (d *benchData) all() query.TimeRange {
	return query.TimeRange{From: d.end.Add(-benchDays * 24 * time.Hour), To: d.end}
}

// benchStore opens, and fills if needed, the store of every benchmark.
var benchStore = sync.OnceValues(func() (*benchData, error) {
	n := 1_000_000
	if v := os.Getenv("TELLTALE_BENCH_RECORDS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1000 {
			return nil, fmt.Errorf("TELLTALE_BENCH_RECORDS=%q: want an integer >= 1000", v)
		}
	}
	dir := os.Getenv("TELLTALE_BENCH_DIR")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), fmt.Sprintf("telltale-bench-%d", n))
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
	mid := n / 2 / benchSpansPerTrace
	d := &benchData{svc: svc, traceID: g.traceID(mid), requestID: g.requestID(mid), end: g.time(n)}
	r, err := st.Query(ctx, "SELECT count(*) FROM spans")
	if err != nil {
		return nil, err
	}
	have := 0
	for r.Next() {
		err = r.Scan(&have)
	}
	r.Close()
	switch {
	case err != nil || have == n:
		return d, err
	case have != 0:
		return nil, fmt.Errorf("%s holds %d spans, not %d: delete it", dir, have, n)
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
	benchConcurrent    = 100
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

func (g benchGen) traceID(t int) string {
	return fmt.Sprintf("%016x%016x", uint64(t)*0x9e3779b97f4a7c15, uint64(t))
}

func (g benchGen) spanID(t, pos int) string {
	return fmt.Sprintf("%016x", uint64(t*benchSpansPerTrace+pos)*0x9e3779b97f4a7c15+1)
}

func (g benchGen) requestID(t int) string { return fmt.Sprintf("%016x", uint64(t)*0xbf58476d1ce4e5b9) }

func (g benchGen) batch(from, to int) *telemetry.Batch {
	rnd := rand.New(rand.NewPCG(uint64(from), 42))
	routes := []string{"/api/items", "/api/users", "/api/cart", "/api/checkout", "/healthz"}
	b := &telemetry.Batch{Spans: make([]telemetry.Span, 0, to-from), Logs: make([]telemetry.Log, 0, to-from)}
	for i := from; i < to; i++ {
		// The spans of benchConcurrent traces interleave, as they arrive
		// from concurrent requests.
		block, r := i/(benchConcurrent*benchSpansPerTrace), i%(benchConcurrent*benchSpansPerTrace)
		trace, pos := block*benchConcurrent+r%benchConcurrent, r/benchConcurrent
		svc := fmt.Sprintf("svc-%02d", (trace+pos)%20)
		res := telemetry.Resource{
			ServiceName: svc, ServiceVersion: "1." + strconv.Itoa(trace%3), InstanceID: fmt.Sprintf("%s-%d", svc, trace%4),
			Environment: "prod", Host: fmt.Sprintf("host-%d", trace%10), AvailabilityZone: "eu-west-1a", Attributes: `{"k8s.pod.name":"p"}`,
		}
		tid := g.traceID(trace)
		sid := g.spanID(trace, pos)
		parent, kind := "", "server"
		if pos > 0 {
			parent, kind = g.spanID(trace, 0), "client"
		}
		status := "unset"
		if rnd.IntN(100) == 0 {
			status = "error"
		}
		route := routes[rnd.IntN(len(routes))]
		t := g.time(i)
		reqID := g.requestID(trace)
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
	d, err := benchStore()
	if err != nil {
		b.Fatal(err)
	}
	return d
}

func BenchmarkTraceByID(b *testing.B) {
	d := benchSetup(b)
	for b.Loop() {
		t, err := d.svc.Trace(context.Background(), d.traceID)
		if err != nil || len(t.Spans) != benchSpansPerTrace {
			b.Fatalf("Trace = %v, %v", t, err)
		}
	}
}

func BenchmarkLogNeedleSearch(b *testing.B) {
	d := benchSetup(b)
	q := query.LogQuery{Range: d.all(), Filter: `"` + benchNeedle + `"`}
	for b.Loop() {
		page, err := d.svc.Logs(context.Background(), q)
		if err != nil || len(page.Records) != 1 {
			b.Fatalf("Logs = %v, %v", page, err)
		}
	}
}

func BenchmarkServices(b *testing.B) {
	d := benchSetup(b)
	for _, rng := range []struct {
		name string
		r    query.TimeRange
	}{
		{"LastHour", query.TimeRange{From: d.end.Add(-time.Hour), To: d.end}},
		{"All", d.all()},
	} {
		b.Run(rng.name, func(b *testing.B) {
			for b.Loop() {
				s, err := d.svc.Services(context.Background(), rng.r)
				if err != nil || len(s) != 20 {
					b.Fatalf("Services = %d services, %v", len(s), err)
				}
			}
		})
	}
}

func BenchmarkSearchTraces(b *testing.B) {
	d := benchSetup(b)
	q := query.TraceQuery{Range: query.TimeRange{From: d.end.Add(-time.Hour), To: d.end}, Service: "svc-03", Status: "error"}
	for b.Loop() {
		if ts, err := d.svc.SearchTraces(context.Background(), q); err != nil || len(ts) == 0 {
			b.Fatalf("SearchTraces = %d traces, %v", len(ts), err)
		}
	}
}

func BenchmarkLogsNewest(b *testing.B) {
	d := benchSetup(b)
	q := query.LogQuery{Range: query.TimeRange{From: d.end.Add(-time.Hour), To: d.end}}
	for b.Loop() {
		if page, err := d.svc.Logs(context.Background(), q); err != nil || len(page.Records) != 100 {
			b.Fatalf("Logs = %v, %v", page, err)
		}
	}
}

func BenchmarkRequest(b *testing.B) {
	d := benchSetup(b)
	for b.Loop() {
		req, err := d.svc.Request(context.Background(), d.requestID)
		if err != nil || len(req.Traces) != 1 || len(req.Logs) != benchSpansPerTrace {
			b.Fatalf("Request = %v, %v", req, err)
		}
	}
}
