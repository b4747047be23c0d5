package web

import (
	"context"
	"fmt"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fibinc/telltale/internal/query"
)

// fakeMap is the map page's part of fakeQueries: the map of each
// environment ("" for all), empty when not set.
type fakeMap struct {
	maps map[string]*query.ServiceMap
	envs []string // the environments asked for
}

func (f *fakeMap) ServiceMap(_ context.Context, r query.TimeRange, env string) (*query.ServiceMap, error) {
	f.envs = append(f.envs, env)
	if m := f.maps[env]; m != nil {
		return m, nil
	}
	return &query.ServiceMap{From: r.From, To: r.To, Nodes: []query.MapNode{}, Edges: []query.MapEdge{}}, nil
}

// fleetMap is a map of the fleet with what the drawing must cope with: a
// cycle (pricing calls back into fibfrontend), a call skipping a layer,
// an external peer, a failing call, an idle service and a name holding
// markup.
func fleetMap() *query.ServiceMap {
	node := func(name string, req, errs int64, p95 float64) query.MapNode {
		n := query.MapNode{Name: name, Requests: req, Errors: errs, Rate: float64(req) / 3600, Health: query.HealthOf(req, errs)}
		if req > 0 {
			n.ErrorRate = float64(errs) / float64(req)
			n.Latency = &query.Latency{P50: p95 / 4, P95: p95, P99: p95 * 2}
		}
		return n
	}
	edge := func(caller, callee string, calls, errs int64) query.MapEdge {
		return query.MapEdge{Caller: caller, Callee: callee, Calls: calls, Errors: errs, Rate: float64(calls) / 3600,
			ErrorRate: float64(errs) / float64(calls), P95Ms: 12, Health: query.HealthOf(calls, errs)}
	}
	pg := node("postgres:5432", 50, 0, 0)
	pg.External, pg.Latency = true, nil
	ext := edge("userstore", "postgres:5432", 50, 0)
	ext.External = true
	return &query.ServiceMap{From: now.Add(-time.Hour), To: now,
		Nodes: []query.MapNode{
			node(svcXSS, 10, 0, 1), node("fibfrontend", 1200, 84, 40), node("fibpro-traffic", 1300, 400, 50),
			node("idle", 0, 0, 0), pg, node("pricing", 900, 3, 812), node("userstore", 2000, 0, 0.2),
		},
		Edges: []query.MapEdge{
			edge("fibfrontend", "pricing", 900, 3), edge("fibfrontend", "userstore", 1900, 0),
			edge("fibpro-traffic", "fibfrontend", 1200, 84), edge("fibpro-traffic", "userstore", 100, 0),
			edge("pricing", "fibfrontend", 20, 0), edge("userstore", svcXSS, 10, 0), ext,
		}}
}

func mapFleet() *fakeQueries {
	q := fleet()
	staging := &query.ServiceMap{From: now.Add(-time.Hour), To: now, Nodes: []query.MapNode{{Name: "userstore", Requests: 5, Rate: 0.001, Health: query.HealthOK}}, Edges: []query.MapEdge{}}
	q.fakeMap.maps = map[string]*query.ServiceMap{"": fleetMap(), "prod": fleetMap(), "staging": staging}
	return q
}

func TestMapPages(t *testing.T) {
	capped := mapFleet()
	m := *fleetMap()
	m.Capped, m.From = true, now.Add(-20*time.Minute)
	capped.fakeMap.maps["prod"] = &m
	for _, tc := range []struct {
		name, target string
		q            *fakeQueries
		status       int
	}{
		{"map", "/map", mapFleet(), 200},
		{"map-nocalls", "/map?env=staging&refresh=5s", mapFleet(), 200},
		{"map-empty", "/map", &fakeQueries{}, 200},
		{"map-capped", "/map?env=prod&from=now-7d", capped, 200},
		{"map-bad-range", "/map?from=now-1h&to=now-2h", mapFleet(), 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := getPage(t, newServer(t, tc.q), tc.target)
			if code != tc.status {
				t.Fatalf("status %d, want %d:\n%s", code, tc.status, body)
			}
			golden(t, tc.name, body)
		})
	}
}

func TestMapPage(t *testing.T) {
	q := mapFleet()
	code, body := getPage(t, newServer(t, q), "/map?env=prod&from=now-6h")
	if code != 200 {
		t.Fatalf("status %d:\n%s", code, body)
	}
	if !slices.Equal(q.fakeMap.envs, []string{"prod"}) {
		t.Errorf("map asked for environments %q, want prod", q.fakeMap.envs)
	}
	for _, want := range []string{
		// nodes link to their pages, keeping the frame, marked as on the board
		`<a class="node h-crit" href="/services/fibfrontend?env=prod&amp;from=now-6h" data-service="fibfrontend">`,
		`<a class="node h-warn" href="/services/pricing?env=prod&amp;from=now-6h" data-service="pricing">`,
		`<g class="node h-ok ext" data-service="postgres:5432">`,
		`<a class="node h-idle" href="/services/idle?env=prod&amp;from=now-6h" data-service="idle">`,
		// edges: failing ones red, the one closing the cycle drawn back
		`<g class="edge err" data-caller="fibpro-traffic" data-callee="fibfrontend">`,
		`<g class="edge back" data-caller="pricing" data-callee="fibfrontend">`,
		`<text class="elabel"`, `>0.33/s · 7.0%</text>`,
		// and the table of calls
		`<tr class="edge-row failing" data-caller="fibfrontend" data-callee="pricing">`,
		`<td>postgres:5432 <span class="muted">external</span></td>`,
		`<option selected>prod</option>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("map lacks %s", want)
		}
	}
	for _, raw := range []string{"<script>alert", `data-service="<`} {
		if strings.Contains(body, raw) {
			t.Errorf("map holds %s unescaped", raw)
		}
	}
	if !strings.Contains(body, `data-service="&lt;script&gt;alert(1)&lt;/script&gt;"`) ||
		!strings.Contains(body, `href="/services/%3Cscript%3Ealert%281%29%3C%2Fscript%3E?env=prod&amp;from=now-6h"`) {
		t.Error("the service named with markup is not escaped in the map, or not linked")
	}
}

func TestLayoutGraph(t *testing.T) {
	for _, tc := range []struct {
		name   string
		n      int
		edges  [][2]int
		layers []int
		back   []int // indices of edges drawn backwards
	}{
		{"empty", 0, nil, []int{}, nil},
		{"lone nodes", 3, nil, []int{0, 0, 0}, nil},
		{"chain", 3, [][2]int{{0, 1}, {1, 2}}, []int{0, 1, 2}, nil},
		{"chain given backwards", 3, [][2]int{{2, 1}, {1, 0}}, []int{2, 1, 0}, nil},
		{"diamond", 4, [][2]int{{0, 1}, {0, 2}, {1, 3}, {2, 3}}, []int{0, 1, 1, 2}, nil},
		{"longest path wins", 3, [][2]int{{0, 2}, {0, 1}, {1, 2}}, []int{0, 1, 2}, nil},
		{"cycle without a root", 3, [][2]int{{0, 1}, {1, 2}, {2, 0}}, []int{0, 1, 2}, []int{2}},
		{"cycle behind a root", 3, [][2]int{{0, 1}, {1, 2}, {2, 1}}, []int{0, 1, 2}, []int{2}},
		{"mutual calls", 2, [][2]int{{1, 0}, {0, 1}}, []int{0, 1}, []int{0}},
		{"two cycles sharing a node", 4, [][2]int{{0, 1}, {1, 0}, {1, 2}, {2, 3}, {3, 1}}, []int{0, 1, 2, 3}, []int{1, 4}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := layoutGraph(tc.n, tc.edges)
			layers := make([]int, tc.n)
			for v := range tc.n {
				layers[v] = l.vertices[v].layer
			}
			if !slices.Equal(layers, tc.layers) {
				t.Errorf("layers %v, want %v", layers, tc.layers)
			}
			var back []int
			for i, r := range l.routes {
				if r.back {
					back = append(back, i)
				}
			}
			if !slices.Equal(back, tc.back) {
				t.Errorf("back edges %v, want %v", back, tc.back)
			}
			checkLayout(t, tc.n, tc.edges, l)
		})
	}
}

// TestLayoutUncrosses checks that the ordering sweeps undo a crossing the
// names would cause: a calls d and b calls c, with c above d by name.
func TestLayoutUncrosses(t *testing.T) {
	edges := [][2]int{{0, 3}, {1, 2}}
	l := layoutGraph(4, edges)
	right := make([][]int, len(l.vertices))
	pos := make([]float64, len(l.vertices))
	for _, r := range l.routes {
		right[r.pts[0]] = append(right[r.pts[0]], r.pts[1])
	}
	for _, ly := range l.layers {
		for i, v := range ly {
			pos[v] = float64(i)
		}
	}
	if x := l.crossings(right, pos); x != 0 {
		t.Errorf("%d crossings, want 0; layers %v", x, l.layers)
	}
}

func TestLayoutLongEdge(t *testing.T) {
	// 0 → 1 → 2 → 3 and 0 → 3: the long edge bends through two dummies.
	l := layoutGraph(4, [][2]int{{0, 1}, {1, 2}, {2, 3}, {0, 3}})
	r := l.routes[3]
	if len(r.pts) != 4 || !l.vertices[r.pts[1]].dummy || !l.vertices[r.pts[2]].dummy {
		t.Fatalf("route of the long edge %v, want two bends", r.pts)
	}
	a := l.paths()[3]
	if len(a) != 6 || !a[1].straight || !a[3].straight || a[0].straight || a[2].straight {
		t.Errorf("anchors %+v: want exit, two straight runs through the bends, entry", a)
	}
	d := pathD(a)
	if strings.Count(d, "L") != 2 || strings.Count(d, "C") != 3 {
		t.Errorf("path %s: want two lines and three curves", d)
	}
}

// checkLayout checks what every layout must hold: each route steps one
// layer at a time rightwards, from the caller (or, drawn backwards, the
// callee) to the other end; vertices of a column do not overlap; and
// everything is inside the drawing.
func checkLayout(t *testing.T, n int, edges [][2]int, l graphLayout) {
	t.Helper()
	if len(l.routes) != len(edges) {
		t.Fatalf("%d routes for %d edges", len(l.routes), len(edges))
	}
	for i, r := range l.routes {
		from, to := edges[i][0], edges[i][1]
		if r.back {
			from, to = to, from
		}
		if r.pts[0] != from || r.pts[len(r.pts)-1] != to {
			t.Errorf("route %d %v does not join %d to %d", i, r.pts, from, to)
		}
		for j := 1; j < len(r.pts); j++ {
			if l.vertices[r.pts[j]].layer != l.vertices[r.pts[j-1]].layer+1 {
				t.Errorf("route %d %v skips or goes back a layer", i, r.pts)
			}
			if j < len(r.pts)-1 && !l.vertices[r.pts[j]].dummy {
				t.Errorf("route %d %v passes through a node", i, r.pts)
			}
		}
	}
	seen := 0
	for _, ly := range l.layers {
		seen += len(ly)
		for i, v := range ly {
			vx := l.vertices[v]
			if vx.x < 0 || vx.y < 0 || vx.x+mapNodeW > l.w || vx.y+vx.h > l.h {
				t.Errorf("vertex %d at %.0f,%.0f is outside %.0fx%.0f", v, vx.x, vx.y, l.w, l.h)
			}
			if i > 0 {
				if prev := l.vertices[ly[i-1]]; prev.y+prev.h > vx.y || prev.x != vx.x {
					t.Errorf("vertices %d and %d overlap or are not in one column", ly[i-1], v)
				}
			}
		}
	}
	if seen != len(l.vertices) {
		t.Errorf("the layers hold %d vertices of %d", seen, len(l.vertices))
	}
	for i, a := range l.paths() {
		if len(a) < 2 {
			t.Errorf("path %d has %d anchors", i, len(a))
		}
		if !strings.HasPrefix(pathD(a), "M") {
			t.Errorf("path %d does not start with a move", i)
		}
	}
}

// FuzzLayoutGraph lays out arbitrary graphs: two bytes make an edge.
func FuzzLayoutGraph(f *testing.F) {
	f.Add(uint8(3), []byte{0, 1, 1, 2, 2, 0})
	f.Add(uint8(5), []byte{0, 4, 0, 1, 1, 2, 2, 3, 3, 4, 4, 1})
	f.Add(uint8(6), []byte{5, 4, 4, 3, 3, 2, 2, 1, 1, 0, 0, 5, 0, 3})
	f.Add(uint8(1), []byte{})
	f.Fuzz(func(t *testing.T, n uint8, raw []byte) {
		nodes := int(n%40) + 1
		seen := map[[2]int]bool{}
		var edges [][2]int
		for i := 0; i+1 < len(raw) && len(edges) < 120; i += 2 {
			e := [2]int{int(raw[i]) % nodes, int(raw[i+1]) % nodes}
			// The map has no self calls and one edge per caller and callee.
			if e[0] == e[1] || seen[e] {
				continue
			}
			seen[e] = true
			edges = append(edges, e)
		}
		l := layoutGraph(nodes, edges)
		if l.size > mapMaxSize {
			return // drawn as a table only, never laid out
		}
		checkLayout(t, nodes, edges, l)
	})
}

func TestSpreadLabels(t *testing.T) {
	labels := [][2]float64{{10, 50}, {10, 45}, {20, 46}, {10, 70}, {10, 52}}
	bottom := spreadLabels(labels, 12)
	want := [][2]float64{{10, 57}, {10, 45}, {20, 46}, {10, 81}, {10, 69}}
	if !slices.Equal(labels, want) || bottom != 81 {
		t.Errorf("spread to %v (bottom %v), want %v (bottom 81)", labels, bottom, want)
	}
}

// BenchmarkLayoutGraph lays out and draws a fleet of 120 services in six
// tiers of 20, each calling three services of the next tiers, and every
// seventh calling one of the tier before.
func BenchmarkLayoutGraph(b *testing.B) {
	const n, tier = 120, 20
	var edges [][2]int
	var rows []mapEdgeRow
	nodes := make([]mapNodeRow, n)
	for i := range n {
		nodes[i] = mapNodeRow{MapNode: query.MapNode{Name: fmt.Sprintf("svc-%03d", i), Requests: 10, Rate: 1}, Health: healthOK}
	}
	seen := map[[2]int]bool{}
	add := func(a, c int) {
		if c < 0 || c >= n || seen[[2]int{a, c}] {
			return
		}
		seen[[2]int{a, c}] = true
		edges = append(edges, [2]int{a, c})
		rows = append(rows, mapEdgeRow{MapEdge: query.MapEdge{Caller: nodes[a].Name, Callee: nodes[c].Name, Calls: 10, Rate: 1}})
	}
	for i := range n - tier {
		t := i / tier
		add(i, (t+1)*tier+(i*7)%tier)
		add(i, (t+1)*tier+(i*13+5)%tier)
		add(i, (t+2)*tier+(i*3)%tier)
		if i%7 == 0 && t > 0 {
			add(i, (t-1)*tier+(i*11)%tier)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		l := layoutGraph(n, edges)
		if l.size > mapMaxSize {
			b.Fatalf("size %d is over the cap", l.size)
		}
		drawMap(l, nodes, rows, edges)
	}
}

func BenchmarkMapPage(b *testing.B) {
	h, err := New(Options{Query: mapFleet(), Now: func() time.Time { return now }})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/map", nil))
		if rec.Code != 200 {
			b.Fatal(rec.Code)
		}
	}
}
