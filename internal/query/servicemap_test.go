package query_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/fibinc/telltale/internal/query"
	"github.com/fibinc/telltale/internal/store/duckdb"
	"github.com/fibinc/telltale/internal/telemetry"
)

// chainFixture is a fleet A → B → C, B → postgres (no spans), A →
// api.stripe.com (no spans), and a staging service D → B:
//
//	trace A: A server → A client → B server → B client → C server (→ C internal)
//	                                         → B client to postgres, unanswered
//	trace B: A server (error) → A client → B server (error) → B client → C server (error)
//	trace C: A server → B server, without a client span between
//	trace D: A client before the range (its parent further back) → B server in it
//	trace E: A server → A client to api.stripe.com (error), unanswered
//	                  → A client naming peer.service C, unanswered
//	                  → A client naming nothing, unanswered
//	trace F: D server (staging) → D client → B server
func chainFixture() *telemetry.Batch {
	var sb spanBuilder
	ms := time.Millisecond
	at := func(d time.Duration) time.Duration { return time.Minute + d }

	a := sb.addIn(traceA, "A", "server", "GET /", "", "ok", at(0), 100*ms)
	ac := sb.addIn(traceA, "A", "client", "GET", a, "unset", at(ms), 80*ms)
	b := sb.addIn(traceA, "B", "server", "GET /price", ac, "ok", at(2*ms), 70*ms)
	bc := sb.addIn(traceA, "B", "client", "GET", b, "unset", at(3*ms), 30*ms)
	c := sb.addIn(traceA, "C", "server", "GET /user", bc, "ok", at(4*ms), 20*ms)
	sb.addIn(traceA, "C", "internal", "load", c, "ok", at(5*ms), 10*ms)
	sb.addIn(traceA, "B", "client", "SELECT", b, "unset", at(40*ms), 5*ms)
	sb.last().Attributes = `{"peer.service":"postgres","server.address":"db.internal"}`

	a = sb.addIn(traceB, "A", "server", "GET /", "", "error", at(time.Second), 300*ms)
	ac = sb.addIn(traceB, "A", "client", "GET", a, "error", at(time.Second+ms), 250*ms)
	b = sb.addIn(traceB, "B", "server", "GET /price", ac, "error", at(time.Second+2*ms), 200*ms)
	bc = sb.addIn(traceB, "B", "client", "GET", b, "error", at(time.Second+3*ms), 40*ms)
	sb.addIn(traceB, "C", "server", "GET /user", bc, "error", at(time.Second+4*ms), 30*ms)

	a = sb.addIn(traceC, "A", "server", "GET /", "", "ok", at(2*time.Second), 60*ms)
	sb.addIn(traceC, "B", "server", "GET /price", a, "ok", at(2*time.Second+ms), 50*ms)

	const traceD, traceE, traceF = "d0000000000000000000000000000001", "e0000000000000000000000000000001", "f0000000000000000000000000000001"
	a = sb.addIn(traceD, "A", "server", "GET /", "", "ok", -3*time.Minute, 5*time.Minute)
	ac = sb.addIn(traceD, "A", "client", "GET", a, "unset", -30*time.Second, 4*time.Minute)
	sb.addIn(traceD, "B", "server", "GET /price", ac, "ok", time.Second, 40*ms)

	a = sb.addIn(traceE, "A", "server", "POST /pay", "", "ok", at(3*time.Second), 500*ms)
	sb.addIn(traceE, "A", "client", "POST", a, "error", at(3*time.Second+ms), 400*ms)
	sb.last().Attributes = `{"server.address":"api.stripe.com","server.port":443}`
	sb.addIn(traceE, "A", "client", "GET", a, "ok", at(3*time.Second+2*ms), 15*ms)
	sb.last().Attributes = `{"peer.service":"C"}`
	sb.addIn(traceE, "A", "client", "GET", a, "ok", at(3*time.Second+3*ms), 1*ms)

	d := sb.addIn(traceF, "D", "server", "GET /d", "", "ok", at(4*time.Second), 90*ms)
	sb.last().Environment = "staging"
	dc := sb.addIn(traceF, "D", "client", "GET", d, "ok", at(4*time.Second+ms), 80*ms)
	sb.last().Environment = "staging"
	sb.addIn(traceF, "B", "server", "GET /price", dc, "ok", at(4*time.Second+2*ms), 60*ms)

	sb.add("lib", "internal", "parse", "00000000000000ff", "ok", 0, ms)
	return &sb.b
}

// edgeString is the parts of an edge a test compares.
func edgeString(e query.MapEdge) string {
	return fmt.Sprintf("%s→%s ext=%t calls=%d errors=%d p95=%.4g %s", e.Caller, e.Callee, e.External, e.Calls, e.Errors, e.P95Ms, e.Health)
}

func nodeString(n query.MapNode) string {
	return fmt.Sprintf("%s ext=%t %q requests=%d errors=%d %s", n.Name, n.External, n.RequestSpans, n.Requests, n.Errors, n.Health)
}

func TestServiceMap(t *testing.T) {
	svc := newTestService(t, chainFixture(), query.Options{})
	tenMin := query.TimeRange{From: t0, To: t0.Add(10 * time.Minute)}
	tests := []struct {
		name  string
		env   string
		nodes []string
		edges []string
	}{
		{"every environment", "", []string{
			`A ext=false "server" requests=4 errors=1 critical`,
			`B ext=false "server" requests=5 errors=1 critical`,
			`C ext=false "server" requests=2 errors=1 critical`,
			`D ext=false "server" requests=1 errors=0 ok`,
			`api.stripe.com ext=true "" requests=1 errors=1 critical`,
			`postgres ext=true "" requests=1 errors=0 ok`,
		}, []string{
			// p95 of 40, 50, 70 and 200 ms.
			"A→B ext=false calls=4 errors=1 p95=180.5 critical",
			// The unanswered call naming C counts for C, measured by the client.
			"A→C ext=false calls=1 errors=0 p95=15 ok",
			"A→api.stripe.com ext=true calls=1 errors=1 p95=400 critical",
			"B→C ext=false calls=2 errors=1 p95=29.5 critical",
			"B→postgres ext=true calls=1 errors=0 p95=5 ok",
			"D→B ext=false calls=1 errors=0 p95=60 ok",
		}},
		{"prod", "prod", []string{
			`A ext=false "server" requests=4 errors=1 critical`,
			`B ext=false "server" requests=5 errors=1 critical`,
			`C ext=false "server" requests=2 errors=1 critical`,
			`api.stripe.com ext=true "" requests=1 errors=1 critical`,
			`postgres ext=true "" requests=1 errors=0 ok`,
		}, []string{
			"A→B ext=false calls=4 errors=1 p95=180.5 critical",
			"A→C ext=false calls=1 errors=0 p95=15 ok",
			"A→api.stripe.com ext=true calls=1 errors=1 p95=400 critical",
			"B→C ext=false calls=2 errors=1 p95=29.5 critical",
			"B→postgres ext=true calls=1 errors=0 p95=5 ok",
		}},
		{"empty environment", "qa", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := svc.ServiceMap(context.Background(), tenMin, tt.env)
			if err != nil {
				t.Fatalf("ServiceMap: %v", err)
			}
			var nodes, edges []string
			for _, n := range m.Nodes {
				nodes = append(nodes, nodeString(n))
			}
			for _, e := range m.Edges {
				edges = append(edges, edgeString(e))
				if !near(e.Rate, float64(e.Calls)/600) || !near(e.ErrorRate, float64(e.Errors)/float64(e.Calls)) {
					t.Errorf("edge %s: rate %g, error rate %g", edgeString(e), e.Rate, e.ErrorRate)
				}
			}
			if !slices.Equal(nodes, tt.nodes) {
				t.Errorf("nodes =\n%q\nwant\n%q", nodes, tt.nodes)
			}
			if !slices.Equal(edges, tt.edges) {
				t.Errorf("edges =\n%q\nwant\n%q", edges, tt.edges)
			}
			if m.Nodes == nil || m.Edges == nil || m.Capped || !m.From.Equal(t0) {
				t.Errorf("map = %+v", m)
			}
		})
	}

	m, err := svc.ServiceMap(context.Background(), query.TimeRange{From: t0.Add(-47 * time.Hour), To: t0.Add(time.Hour)}, "")
	if err != nil {
		t.Fatal(err)
	}
	if !m.Capped || !m.From.Equal(t0.Add(-23*time.Hour)) || !m.To.Equal(t0.Add(time.Hour)) || len(m.Edges) != 6 {
		t.Errorf("two days: capped %t, %s..%s, %d edges; want the last day", m.Capped, m.From, m.To, len(m.Edges))
	}
	// The day holds the 5-minute request of trace D too.
	if a := m.Nodes[0]; a.Name != "A" || a.Requests != 5 || !near(a.Rate, 5.0/86400) || a.Latency == nil || !nearLatency(a.Latency.P50, 300) {
		t.Errorf("node A over a day = %+v", a)
	}
	if _, err := svc.ServiceMap(context.Background(), query.TimeRange{From: t0}, ""); !errors.Is(err, query.ErrInvalid) {
		t.Errorf("ServiceMap without an end: %v, want ErrInvalid", err)
	}
}

// TestServiceMapSpanCap: a range holding more than 50 times the row limit of
// spans is cut to its most recent part holding about that many.
func TestServiceMapSpanCap(t *testing.T) {
	var sb spanBuilder
	for i := range 100 {
		trace := fmt.Sprintf("%032x", i+1)
		at := time.Duration(i) * 36 * time.Second // over an hour
		a := sb.addIn(trace, "A", "client", "GET", "", "ok", at, time.Millisecond)
		sb.addIn(trace, "B", "server", "GET /", a, "ok", at, time.Millisecond)
	}
	svc := newTestService(t, &sb.b, query.Options{MaxRows: 1})
	hour := query.TimeRange{From: t0, To: t0.Add(time.Hour)}
	m, err := svc.ServiceMap(context.Background(), hour, "")
	if err != nil {
		t.Fatal(err)
	}
	// 200 spans, 50 allowed: the last 25 calls, from after the 75th (at
	// 44m24s) up to the 76th (at 45m).
	lo, hi := t0.Add(44*time.Minute+24*time.Second), t0.Add(45*time.Minute)
	if !m.Capped || !m.From.After(lo) || m.From.After(hi) || len(m.Edges) != 1 || m.Edges[0].Calls != 25 {
		t.Errorf("capped %t from %s, edges %+v; want from (%s, %s] with 25 calls", m.Capped, m.From, m.Edges, lo, hi)
	}
	svc = newTestService(t, &sb.b, query.Options{MaxRows: 4})
	if m, err := svc.ServiceMap(context.Background(), hour, ""); err != nil || m.Capped || len(m.Edges) != 1 || m.Edges[0].Calls != 100 {
		t.Errorf("uncapped map = %+v, %v; want 100 calls", m, err)
	}
}

func TestDependencies(t *testing.T) {
	svc := newTestService(t, chainFixture(), query.Options{})
	ctx := context.Background()
	tenMin := query.TimeRange{From: t0, To: t0.Add(10 * time.Minute)}
	deps := func(ds []query.Dependency) []string {
		var out []string
		for _, d := range ds {
			out = append(out, edgeString(d.MapEdge)+" / "+nodeString(d.Peer))
		}
		return out
	}
	tests := []struct {
		service          string
		callers, callees []string
	}{
		{"B", []string{
			`A→B ext=false calls=4 errors=1 p95=180.5 critical / A ext=false "server" requests=4 errors=1 critical`,
			`D→B ext=false calls=1 errors=0 p95=60 ok / D ext=false "server" requests=1 errors=0 ok`,
		}, []string{
			`B→C ext=false calls=2 errors=1 p95=29.5 critical / C ext=false "server" requests=2 errors=1 critical`,
			`B→postgres ext=true calls=1 errors=0 p95=5 ok / postgres ext=true "" requests=1 errors=0 ok`,
		}},
		{"C", []string{
			`B→C ext=false calls=2 errors=1 p95=29.5 critical / B ext=false "server" requests=5 errors=1 critical`,
			`A→C ext=false calls=1 errors=0 p95=15 ok / A ext=false "server" requests=4 errors=1 critical`,
		}, nil},
		{"lib", nil, nil},
	}
	for _, tt := range tests {
		d, err := svc.Dependencies(ctx, tt.service, tenMin)
		if err != nil {
			t.Fatalf("Dependencies(%s): %v", tt.service, err)
		}
		if got := deps(d.Callers); !slices.Equal(got, tt.callers) {
			t.Errorf("callers of %s =\n%q\nwant\n%q", tt.service, got, tt.callers)
		}
		if got := deps(d.Callees); !slices.Equal(got, tt.callees) {
			t.Errorf("callees of %s =\n%q\nwant\n%q", tt.service, got, tt.callees)
		}
		if d.Service != tt.service || d.Callers == nil || d.Callees == nil {
			t.Errorf("dependencies of %s = %+v", tt.service, d)
		}
	}
	if _, err := svc.Dependencies(ctx, "nobody", tenMin); !errors.Is(err, query.ErrNotFound) {
		t.Errorf("dependencies of an unknown service: %v, want ErrNotFound", err)
	}
	if _, err := svc.Dependencies(ctx, "", tenMin); !errors.Is(err, query.ErrInvalid) {
		t.Errorf("dependencies without a service: %v, want ErrInvalid", err)
	}
}

func TestHealthOf(t *testing.T) {
	for _, tt := range []struct {
		requests, errors int64
		want             string
	}{
		{0, 0, query.HealthUnknown},
		{1000, 0, query.HealthOK},
		{1000, 9, query.HealthOK},
		{1000, 10, query.HealthWarning},
		{1000, 49, query.HealthWarning},
		{1000, 50, query.HealthCritical},
		{1, 1, query.HealthCritical},
	} {
		if got := query.HealthOf(tt.requests, tt.errors); got != tt.want {
			t.Errorf("HealthOf(%d, %d) = %s, want %s", tt.requests, tt.errors, got, tt.want)
		}
	}
}

// benchFleet writes about n spans of a demo-like fleet over five minutes
// before end to a new store in dir: traffic calls fibfrontend, which calls
// pricing, which calls userstore, which calls postgres (no spans); each hop
// a client span and a server span, and an internal span in userstore.
func benchFleet(b *testing.B, dir string, n int, end time.Time) *query.Service {
	b.Helper()
	ctx := context.Background()
	st, err := duckdb.Open(ctx, duckdb.Options{Dir: dir})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	rng := rand.New(rand.NewPCG(1, 2))
	const perTrace = 9
	var batch telemetry.Batch
	id := 0
	next := func() string { id++; return fmt.Sprintf("%016x", id) }
	for tr := range n / perTrace {
		trace := fmt.Sprintf("%032x", tr+1)
		start := end.Add(-5 * time.Minute).Add(time.Duration(tr) * 5 * time.Minute / time.Duration(n/perTrace))
		add := func(service, kind, name, parent string, off, d time.Duration, status string) string {
			sid := next()
			sp := span(service, trace, sid, parent, 0, d)
			sp.Start, sp.Kind, sp.Name, sp.StatusCode = start.Add(off), kind, name, status
			sp.InstanceID = fmt.Sprintf("%s-%d", service, tr%3)
			batch.Spans = append(batch.Spans, sp)
			return sid
		}
		status := "ok"
		if rng.IntN(50) == 0 {
			status = "error"
		}
		ms := time.Millisecond
		d := time.Duration(rng.IntN(40)+5) * ms
		t := add("traffic", "client", "GET", "", 0, d+4*ms, status)
		f := add("fibfrontend", "server", "GET /{n}", t, ms, d+3*ms, status)
		fc := add("fibfrontend", "client", "GET", f, ms, d+2*ms, status)
		p := add("pricing", "server", "GET /{n}", fc, 2*ms, d+ms, status)
		pc := add("pricing", "client", "GET", p, 2*ms, d, status)
		u := add("userstore", "server", "GET /users/{id}", pc, 3*ms, d, status)
		add("userstore", "internal", "debit", u, 3*ms, d/2, status)
		add("userstore", "client", "SELECT", u, 4*ms, ms, "ok")
		batch.Spans[len(batch.Spans)-1].Attributes = `{"peer.service":"postgres","db.system":"postgresql"}`
		add("fibfrontend", "internal", "render", f, 40*ms, ms, "ok")
		if len(batch.Spans) >= 10_000 {
			if err := st.Write(ctx, &batch); err != nil {
				b.Fatal(err)
			}
			batch.Spans = batch.Spans[:0]
		}
	}
	if err := st.Write(ctx, &batch); err != nil {
		b.Fatal(err)
	}
	svc, err := query.New(query.Options{Store: st})
	if err != nil {
		b.Fatal(err)
	}
	return svc
}

// BenchmarkServiceMap builds the map of 100k spans, about what `telltale
// demo` sends in a few minutes.
func BenchmarkServiceMap(b *testing.B) {
	end := t0.Add(time.Hour)
	svc := benchFleet(b, b.TempDir(), 100_000, end)
	r := query.TimeRange{From: end.Add(-15 * time.Minute), To: end}
	m, err := svc.ServiceMap(context.Background(), r, "")
	if err != nil {
		b.Fatal(err)
	}
	if len(m.Edges) != 4 || m.Edges[0].Calls != 100_000/9 {
		b.Fatalf("map = %+v", m.Edges)
	}
	for b.Loop() {
		if _, err := svc.ServiceMap(context.Background(), r, ""); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDependencies is the dependencies of one service, as a service
// page asks for them.
func BenchmarkDependencies(b *testing.B) {
	end := t0.Add(time.Hour)
	svc := benchFleet(b, b.TempDir(), 100_000, end)
	r := query.TimeRange{From: end.Add(-15 * time.Minute), To: end}
	for b.Loop() {
		if _, err := svc.Dependencies(context.Background(), "pricing", r); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkServiceSeries is the series of every service over the same
// 100k spans, at the default step, as the services board asks for them.
func BenchmarkServiceSeries(b *testing.B) {
	end := t0.Add(time.Hour)
	svc := benchFleet(b, b.TempDir(), 100_000, end)
	for _, bm := range []struct {
		name string
		q    query.ServiceSeriesQuery
	}{
		{"all", query.ServiceSeriesQuery{Range: query.TimeRange{From: end.Add(-15 * time.Minute), To: end}}},
		{"one", query.ServiceSeriesQuery{Range: query.TimeRange{From: end.Add(-15 * time.Minute), To: end}, Service: "pricing"}},
		{"yesterday", query.ServiceSeriesQuery{Range: query.TimeRange{From: end.Add(-15 * time.Minute), To: end}, Offset: 24 * time.Hour}},
	} {
		b.Run(bm.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := svc.ServiceSeries(context.Background(), bm.q); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
