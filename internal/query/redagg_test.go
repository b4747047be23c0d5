package query_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/fibinc/telltale/internal/query"
	"github.com/fibinc/telltale/internal/store/duckdb"
	"github.com/fibinc/telltale/internal/telemetry"
)

// redCompare holds two query services over one store: one reading RED
// aggregates, one raw spans alone.
type redCompare struct {
	agg, raw *query.Service
}

// newREDCompare fills a store with spans of five services over three days
// around t0, written in many batches, and compacts the aggregates of only
// some of them, so that queries meet both merged and partial rows.
func newREDCompare(t *testing.T) *redCompare {
	t.Helper()
	ctx := context.Background()
	st, err := duckdb.Open(ctx, duckdb.Options{Dir: t.TempDir(), REDCompactEvery: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	rng := rand.New(rand.NewPCG(11, 12))
	kinds := []string{"server", "server", "client", "internal", "consumer", "producer"}
	start := t0.Add(-36 * time.Hour)
	for batch := range 16 {
		var b telemetry.Batch
		for range 500 {
			svc := rng.IntN(5)
			kind := kinds[rng.IntN(len(kinds))]
			if svc == 4 && kind == "server" { // a worker: no server spans
				kind = "internal"
			}
			parent := ""
			if rng.IntN(4) > 0 {
				parent = fmt.Sprintf("%016x", rng.Uint64()|1)
			}
			status := []string{"ok", "unset", "error"}[rng.IntN(3)]
			sp := span(fmt.Sprintf("svc-%d", svc), fmt.Sprintf("%032x", rng.Uint64()), fmt.Sprintf("%016x", rng.Uint64()|1), parent,
				time.Duration(rng.Int64N(int64(72*time.Hour))), time.Duration(rng.ExpFloat64()*float64(50*time.Millisecond)))
			sp.Start = start.Add(sp.Start.Sub(t0))
			sp.Kind, sp.StatusCode, sp.Name = kind, status, fmt.Sprintf("op-%d", rng.IntN(4))
			sp.Environment = []string{"prod", "staging"}[rng.IntN(2)]
			sp.ServiceVersion = fmt.Sprintf("v%d", rng.IntN(2))
			b.Spans = append(b.Spans, sp)
		}
		if err := st.Write(ctx, &b); err != nil {
			t.Fatal(err)
		}
		if batch == 8 {
			if err := st.CompactRED(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	agg, err := query.New(query.Options{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := query.New(query.Options{Store: st, RawRED: true})
	if err != nil {
		t.Fatal(err)
	}
	return &redCompare{agg: agg, raw: raw}
}

// sameLatency checks that an estimate is within the stated error of the
// exact percentiles.
func sameLatency(t *testing.T, what string, got, want *query.Latency) {
	t.Helper()
	switch {
	case (got == nil) != (want == nil):
		t.Errorf("%s: latency %+v, want %+v", what, got, want)
	case got != nil && (!nearLatency(got.P50, want.P50) || !nearLatency(got.P95, want.P95) || !nearLatency(got.P99, want.P99)):
		t.Errorf("%s: latency %+v, want %+v within the histogram error", what, got, want)
	}
}

// redRanges are the ranges the comparisons ask about: aligned and not,
// shorter than a minute, across days, of whole hours and not.
func redRanges() []query.TimeRange {
	r := func(from, to time.Duration) query.TimeRange {
		return query.TimeRange{From: t0.Add(from), To: t0.Add(to)}
	}
	return []query.TimeRange{
		r(0, time.Hour),
		r(17*time.Second, time.Hour+3*time.Second),
		r(-20*time.Hour-90*time.Second, 20*time.Hour+1500*time.Millisecond),
		r(-36*time.Hour, 36*time.Hour),
		r(5*time.Second, 40*time.Second),
		r(-time.Minute-time.Second, time.Minute+time.Second),
		r(-10*time.Hour, -10*time.Hour+59*time.Minute),
	}
}

// TestREDAggregatesMatchRaw checks every query that reads RED aggregates
// against the same query over raw spans: counts equal, percentiles within
// the histogram error.
func TestREDAggregatesMatchRaw(t *testing.T) {
	c := newREDCompare(t)
	t.Run("services", c.services)
	t.Run("series", c.series)
	t.Run("operations and map", c.operationsAndMap)
}

func (c *redCompare) services(t *testing.T) {
	ctx := context.Background()
	for _, r := range redRanges() {
		got, err := c.agg.Services(ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		want, err := c.raw.Services(ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Fatalf("%v: %d services, want %d", r, len(got), len(want))
		}
		for i := range got {
			g, w := got[i], want[i]
			what := fmt.Sprintf("%s %s..%s", w.Name, r.From.Format(time.TimeOnly), r.To.Format(time.TimeOnly))
			if g.Name != w.Name || g.RequestSpans != w.RequestSpans || g.Requests != w.Requests || g.RequestErrors != w.RequestErrors ||
				g.SpanCount != w.SpanCount || g.ErrorCount != w.ErrorCount || !near(g.RequestRate, w.RequestRate) || !near(g.ErrorRate, w.ErrorRate) {
				t.Errorf("%s: %+v, want %+v", what, g, w)
			}
			sameLatency(t, what, g.Latency, w.Latency)
		}
	}
}

func (c *redCompare) series(t *testing.T) {
	ctx := context.Background()
	for _, r := range redRanges() {
		for _, q := range []query.ServiceSeriesQuery{
			{Range: r},
			{Range: r, Step: time.Minute},
			{Range: r, Step: 7 * time.Minute, Service: "svc-1"},
			{Range: r, Step: time.Hour, Environment: "prod"},
			{Range: r, Step: 2 * time.Hour, Offset: 24 * time.Hour},
			{Range: r, Step: 90 * time.Second},
		} {
			if n := r.To.Sub(r.From) / max(q.Step, query.DefaultStep(r.To.Sub(r.From))); n > 1500 {
				continue
			}
			got, err := c.agg.ServiceSeries(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			want, err := c.raw.ServiceSeries(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			if len(got.Series) != len(want.Series) || got.Step != want.Step {
				t.Fatalf("%+v: %d series at step %s, want %d at %s", q, len(got.Series), got.Step, len(want.Series), want.Step)
			}
			for i := range got.Series {
				g, w := got.Series[i], want.Series[i]
				if g.Service != w.Service || g.RequestSpans != w.RequestSpans || len(g.Points) != len(w.Points) {
					t.Fatalf("%+v: series %s/%s of %d points, want %s/%s of %d", q, g.Service, g.RequestSpans, len(g.Points), w.Service, w.RequestSpans, len(w.Points))
				}
				for j := range g.Points {
					gp, wp := g.Points[j], w.Points[j]
					what := fmt.Sprintf("%s step %s offset %s at %s", g.Service, q.Step, q.Offset, wp.Time.Format(time.DateTime))
					if !gp.Time.Equal(wp.Time) || gp.Requests != wp.Requests || gp.Errors != wp.Errors || !near(gp.Rate, wp.Rate) || !near(gp.ErrorRate, wp.ErrorRate) {
						t.Errorf("%s: %+v, want %+v", what, gp, wp)
					}
					sameLatency(t, what, gp.Latency, wp.Latency)
				}
			}
		}
	}
}

func (c *redCompare) operationsAndMap(t *testing.T) {
	ctx := context.Background()
	for _, r := range redRanges() {
		for _, svc := range []string{"svc-0", "svc-4"} {
			got, err := c.agg.Operations(ctx, svc, r)
			if err != nil {
				t.Fatal(err)
			}
			want, err := c.raw.Operations(ctx, svc, r)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(want) {
				t.Fatalf("%s %v: %d operations, want %d", svc, r, len(got), len(want))
			}
			for i := range got {
				g, w := got[i], want[i]
				if g.Name != w.Name || g.Requests != w.Requests || g.Errors != w.Errors || !near(g.Rate, w.Rate) || !near(g.ErrorRate, w.ErrorRate) {
					t.Errorf("%s %v: %+v, want %+v", svc, r, g, w)
				}
				sameLatency(t, svc+" "+w.Name, g.Latency, w.Latency)
			}
		}
		for _, env := range []string{"", "staging"} {
			got, err := c.agg.ServiceMap(ctx, r, env)
			if err != nil {
				t.Fatal(err)
			}
			want, err := c.raw.ServiceMap(ctx, r, env)
			if err != nil {
				t.Fatal(err)
			}
			if len(got.Nodes) != len(want.Nodes) || !got.From.Equal(want.From) {
				t.Fatalf("map %v: %d nodes from %s, want %d from %s", r, len(got.Nodes), got.From, len(want.Nodes), want.From)
			}
			for i := range got.Nodes {
				g, w := got.Nodes[i], want.Nodes[i]
				lg, lw := g.Latency, w.Latency
				g.Latency, w.Latency = nil, nil
				if g != w {
					t.Errorf("map %v node %+v, want %+v", r, g, w)
				}
				sameLatency(t, "node "+w.Name, lg, lw)
			}
		}
	}
}
