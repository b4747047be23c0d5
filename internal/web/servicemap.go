package web

import (
	"cmp"
	"context"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/fibinc/telltale/internal/query"
)

// mapQueries is what the map page reads, besides the board's Services.
type mapQueries interface {
	ServiceMap(ctx context.Context, r query.TimeRange, env string) (*query.ServiceMap, error)
}

func (s *server) mapRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /map", s.page("map", s.serviceMap))
}

// mapMaxSize caps the vertices (nodes and bends of long edges) plus the
// edge segments the map draws: a larger graph is listed in the table only,
// since no one reads a drawing of it, and ordering it costs time
// quadratic in the segments between two layers.
const mapMaxSize = 2000

type mapPage struct {
	SVG       template.HTML // "" when there is nothing to draw or too much
	TooBig    bool
	Nodes     []mapNodeRow
	Edges     []mapEdgeRow
	Capped    bool
	From, To  time.Time
	IngestURL string
}

type mapNodeRow struct {
	query.MapNode
	Href    string // "" for external nodes
	Health  string
	Reasons []string
}

type mapEdgeRow struct {
	query.MapEdge
	CallerHref, CalleeHref string
}

func (s *server) serviceMap(r *http.Request, f *frame) (any, error) {
	f.Title, f.Nav = "Service map", "map"
	var svcs []query.ServiceSummary
	var m *query.ServiceMap
	err := parallel(r.Context(),
		func(ctx context.Context) (err error) { svcs, err = s.opt.Query.Services(ctx, f.Range); return },
		func(ctx context.Context) (err error) { m, err = s.opt.Query.ServiceMap(ctx, f.Range, f.Env); return },
	)
	if err != nil {
		return nil, err
	}
	f.Envs = environments(svcs)
	byName := map[string]query.ServiceSummary{}
	for _, sv := range svcs {
		byName[sv.Name] = sv
	}
	p := mapPage{Capped: m.Capped, From: m.From, To: m.To, IngestURL: s.opt.IngestURL}
	index := map[string]int{}
	for _, n := range m.Nodes {
		row := mapNodeRow{MapNode: n}
		// A service is marked as on the board, so that colours agree
		// across pages; a peer known only from calls, by its calls.
		if sv, ok := byName[n.Name]; ok && !n.External {
			row.Health, row.Reasons, _ = markService(f, sv, nil)
		} else {
			row.Health, row.Reasons = nodeHealth(n)
		}
		if !n.External {
			row.Href = servicePath(f, n.Name)
		}
		index[n.Name] = len(p.Nodes)
		p.Nodes = append(p.Nodes, row)
	}
	var edges [][2]int
	for _, e := range m.Edges {
		row := mapEdgeRow{MapEdge: e}
		if i, ok := index[e.Caller]; ok {
			row.CallerHref = p.Nodes[i].Href
		}
		if i, ok := index[e.Callee]; ok {
			row.CalleeHref = p.Nodes[i].Href
		}
		p.Edges = append(p.Edges, row)
		a, okA := index[e.Caller]
		b, okB := index[e.Callee]
		if okA && okB && a != b {
			edges = append(edges, [2]int{a, b})
		}
	}
	if len(p.Nodes) > 0 {
		l := layoutGraph(len(p.Nodes), edges)
		if l.size > mapMaxSize {
			p.TooBig = true
		} else {
			p.SVG = drawMap(l, p.Nodes, p.Edges, edges)
		}
	}
	return p, nil
}

// The map's geometry, in SVG units (CSS pixels: the drawing is not scaled).
const (
	mapNodeW    = 176
	mapNodeH    = 42
	mapDummyH   = 12 // the height a long edge takes where it crosses a column
	mapColGap   = 128
	mapRowGap   = 16
	mapPad      = 12
	mapSweeps   = 8
	mapNameLen  = 24 // runes of a name drawn in a node
	mapLabelGap = 12 // the least distance of two edge labels' baselines
)

// graphLayout places a directed graph in layers, callers left of their
// callees: the Sugiyama method, simply. Edges that close a cycle (found
// by a depth-first search) are turned around for the layering and drawn
// backwards; each node's layer is its longest path from a root; an edge
// spanning several layers bends through a dummy vertex in each layer it
// crosses; and a few barycentre sweeps order each layer to reduce
// crossings.
type graphLayout struct {
	vertices []vertex // the n nodes first, then the dummies
	routes   []route  // one per edge, in the order given
	layers   [][]int  // the vertices of each layer, top to bottom
	size     int      // vertices plus segments of routes
	w, h     float64
}

type vertex struct {
	layer int
	dummy bool
	x, y  float64 // top left
	h     float64
}

// route is the way of one edge through the layers, from its leftmost
// vertex to its rightmost. A back edge is drawn from the right end.
type route struct {
	pts  []int
	back bool
}

func layoutGraph(n int, edges [][2]int) graphLayout {
	out := make([][]int, n)
	in := make([]int, n)
	for i, e := range edges {
		out[e[0]] = append(out[e[0]], i)
		in[e[1]]++
	}
	back := findBackEdges(n, edges, out, in)

	// The DAG: back edges turned around.
	dag := make([][2]int, len(edges))
	for i, e := range edges {
		dag[i] = e
		if back[i] {
			dag[i] = [2]int{e[1], e[0]}
		}
	}
	layer := longestPathLayers(n, dag)

	l := graphLayout{vertices: make([]vertex, n)}
	nLayers := 0
	for v := range n {
		l.vertices[v] = vertex{layer: layer[v], h: mapNodeH}
		nLayers = max(nLayers, layer[v]+1)
	}
	for i, e := range dag {
		r := route{pts: []int{e[0]}, back: back[i]}
		for k := layer[e[0]] + 1; k < layer[e[1]]; k++ {
			r.pts = append(r.pts, len(l.vertices))
			l.vertices = append(l.vertices, vertex{layer: k, dummy: true, h: mapDummyH})
		}
		r.pts = append(r.pts, e[1])
		l.routes = append(l.routes, r)
		l.size += len(r.pts) - 1
	}
	if l.size += len(l.vertices); l.size > mapMaxSize {
		return l // too big to draw: not laid out
	}
	l.order(nLayers)
	l.place()
	return l
}

// findBackEdges marks the edges that close a cycle in a depth-first search
// starting from the roots (no incoming edge), then from whatever is left,
// lowest index first. Turning them around leaves a DAG.
func findBackEdges(n int, edges [][2]int, out [][]int, in []int) []bool {
	const (
		unseen = iota
		onStack
		done
	)
	state := make([]int, n)
	back := make([]bool, len(edges))
	// An explicit stack: a chain of thousands of services must not
	// exhaust anything.
	type step struct{ v, next int }
	visit := func(root int) {
		stack := []step{{root, 0}}
		state[root] = onStack
		for len(stack) > 0 {
			top := &stack[len(stack)-1]
			if top.next == len(out[top.v]) {
				state[top.v] = done
				stack = stack[:len(stack)-1]
				continue
			}
			ei := out[top.v][top.next]
			top.next++
			switch w := edges[ei][1]; state[w] {
			case onStack:
				back[ei] = true
			case unseen:
				state[w] = onStack
				stack = append(stack, step{w, 0})
			}
		}
	}
	for v := range n {
		if in[v] == 0 && state[v] == unseen {
			visit(v)
		}
	}
	for v := range n {
		if state[v] == unseen {
			visit(v)
		}
	}
	return back
}

// longestPathLayers puts each node of a DAG one layer right of its
// furthest predecessor, so every edge points right.
func longestPathLayers(n int, dag [][2]int) []int {
	out := make([][]int, n)
	in := make([]int, n)
	for _, e := range dag {
		out[e[0]] = append(out[e[0]], e[1])
		in[e[1]]++
	}
	layer := make([]int, n)
	var queue []int
	for v := range n {
		if in[v] == 0 {
			queue = append(queue, v)
		}
	}
	for len(queue) > 0 {
		v := queue[0]
		queue = queue[1:]
		for _, w := range out[v] {
			layer[w] = max(layer[w], layer[v]+1)
			if in[w]--; in[w] == 0 {
				queue = append(queue, w)
			}
		}
	}
	return layer
}

// order sorts each layer by the mean position of each vertex's neighbours
// in the layer before it (sweeping right) or after it (sweeping left),
// keeping the order of the best sweep by crossings counted.
func (l *graphLayout) order(nLayers int) {
	l.layers = make([][]int, nLayers)
	for v, vx := range l.vertices {
		l.layers[vx.layer] = append(l.layers[vx.layer], v)
	}
	left := make([][]int, len(l.vertices)) // neighbours one layer left
	right := make([][]int, len(l.vertices))
	for _, r := range l.routes {
		for i := 0; i+1 < len(r.pts); i++ {
			a, b := r.pts[i], r.pts[i+1]
			right[a] = append(right[a], b)
			left[b] = append(left[b], a)
		}
	}
	pos := make([]float64, len(l.vertices))
	setPos := func() {
		for _, ly := range l.layers {
			for i, v := range ly {
				pos[v] = float64(i)
			}
		}
	}
	setPos()
	best, bestX := cloneLayers(l.layers), l.crossings(right, pos)
	for sweep := range mapSweeps {
		rightward := sweep%2 == 0
		for k := range nLayers {
			li, nb := k, left
			if !rightward {
				li, nb = nLayers-1-k, right
			}
			key := make(map[int]float64, len(l.layers[li]))
			for _, v := range l.layers[li] {
				key[v] = pos[v]
				if len(nb[v]) > 0 {
					var sum float64
					for _, w := range nb[v] {
						sum += pos[w]
					}
					// A neighbourless vertex keeps its place; others move
					// to their neighbours' mean, a little after one that
					// is already there, so ties keep the current order.
					key[v] = sum/float64(len(nb[v])) + pos[v]*1e-6
				}
			}
			slices.SortStableFunc(l.layers[li], func(a, b int) int { return cmp.Compare(key[a], key[b]) })
			for i, v := range l.layers[li] {
				pos[v] = float64(i)
			}
		}
		if x := l.crossings(right, pos); x < bestX {
			best, bestX = cloneLayers(l.layers), x
		}
	}
	l.layers = best
	setPos()
}

// crossings counts the pairs of segments between adjacent layers that
// cross: quadratic in the segments of a layer, which the vertex cap bounds.
func (l *graphLayout) crossings(right [][]int, pos []float64) int {
	x := 0
	for _, ly := range l.layers {
		var segs [][2]float64
		for _, v := range ly {
			for _, w := range right[v] {
				segs = append(segs, [2]float64{pos[v], pos[w]})
			}
		}
		for i := range segs {
			for j := i + 1; j < len(segs); j++ {
				if (segs[i][0]-segs[j][0])*(segs[i][1]-segs[j][1]) < 0 {
					x++
				}
			}
		}
	}
	return x
}

func cloneLayers(ls [][]int) [][]int {
	out := make([][]int, len(ls))
	for i, l := range ls {
		out[i] = slices.Clone(l)
	}
	return out
}

// place gives each vertex its coordinates: columns by layer, each column
// stacked top to bottom and centred on the tallest.
func (l *graphLayout) place() {
	heights := make([]float64, len(l.layers))
	for k, ly := range l.layers {
		for i, v := range ly {
			if i > 0 {
				heights[k] += l.gap(ly[i-1], v)
			}
			heights[k] += l.vertices[v].h
		}
		l.h = max(l.h, heights[k])
	}
	for k, ly := range l.layers {
		y := mapPad + (l.h-heights[k])/2
		for i, v := range ly {
			if i > 0 {
				y += l.gap(ly[i-1], v)
			}
			l.vertices[v].x = mapPad + float64(k)*(mapNodeW+mapColGap)
			l.vertices[v].y = y
			y += l.vertices[v].h
		}
	}
	l.w = 2*mapPad + float64(len(l.layers))*mapNodeW + float64(max(len(l.layers)-1, 0))*mapColGap
	l.h += 2 * mapPad
}

// gap is the space between two vertices of a column: less between bends
// of long edges, which are thin.
func (l *graphLayout) gap(a, b int) float64 {
	if l.vertices[a].dummy && l.vertices[b].dummy {
		return 4
	}
	return mapRowGap
}

// anchor is a point where an edge's path is horizontal.
type anchor struct {
	x, y     float64
	straight bool // the path goes straight on to the next anchor
}

// paths returns the anchors of each route, spreading the edges that leave
// or enter one side of a node over its height, ordered by where their
// other end is, so that they neither cross nor overlap there.
func (l *graphLayout) paths() [][]anchor {
	type port struct {
		route int
		other float64 // the y of the next vertex along the route
	}
	rightPorts := map[int][]port{}
	leftPorts := map[int][]port{}
	center := func(v int) float64 { return l.vertices[v].y + l.vertices[v].h/2 }
	for i, r := range l.routes {
		first, last := r.pts[0], r.pts[len(r.pts)-1]
		rightPorts[first] = append(rightPorts[first], port{i, center(r.pts[1])})
		leftPorts[last] = append(leftPorts[last], port{i, center(r.pts[len(r.pts)-2])})
	}
	portY := func(ports map[int][]port, v, route int) float64 {
		ps := ports[v]
		slices.SortStableFunc(ps, func(a, b port) int { return cmp.Compare(a.other, b.other) })
		for i, p := range ps {
			if p.route == route {
				vx := l.vertices[v]
				return vx.y + 8 + (vx.h-16)*float64(i+1)/float64(len(ps)+1)
			}
		}
		return center(v)
	}
	out := make([][]anchor, len(l.routes))
	for i, r := range l.routes {
		first, last := r.pts[0], r.pts[len(r.pts)-1]
		a := []anchor{{x: l.vertices[first].x + mapNodeW, y: portY(rightPorts, first, i)}}
		for _, d := range r.pts[1 : len(r.pts)-1] {
			a = append(a, anchor{x: l.vertices[d].x, y: center(d), straight: true}, anchor{x: l.vertices[d].x + mapNodeW, y: center(d)})
		}
		a = append(a, anchor{x: l.vertices[last].x, y: portY(leftPorts, last, i)})
		if r.back {
			// Drawn from the caller: reversed, the straight run from
			// anchor j to j+1 becomes the one from n-2-j to n-1-j.
			straight := make([]bool, len(a))
			for j := range a {
				straight[j] = a[j].straight
			}
			slices.Reverse(a)
			for j := range a {
				a[j].straight = j+1 < len(a) && straight[len(a)-2-j]
			}
		}
		out[i] = a
	}
	return out
}

// pathD draws anchors as an SVG path: straight runs through bends, and
// between them cubic curves leaving and arriving horizontally.
func pathD(a []anchor) string {
	var b strings.Builder
	fmt.Fprintf(&b, "M%.1f %.1f", a[0].x, a[0].y)
	for i := 1; i < len(a); i++ {
		p, q := a[i-1], a[i]
		if p.straight {
			fmt.Fprintf(&b, "L%.1f %.1f", q.x, q.y)
			continue
		}
		dx := (q.x - p.x) / 2
		fmt.Fprintf(&b, "C%.1f %.1f %.1f %.1f %.1f %.1f", p.x+dx, p.y, q.x-dx, q.y, q.x, q.y)
	}
	return b.String()
}

// drawMap draws the laid-out map: edges under nodes, each node a link to
// its service's page. Every string in it is escaped; the rest is numbers.
func drawMap(l graphLayout, nodes []mapNodeRow, rows []mapEdgeRow, edges [][2]int) template.HTML {
	esc := template.HTMLEscapeString
	paths := l.paths()
	// A label sits on the middle of its edge's first curve, in the gap
	// beside the caller, pushed down from the one above if they would
	// overlap.
	labels := make([][2]float64, len(paths))
	for i, a := range paths {
		labels[i] = [2]float64{(a[0].x + a[1].x) / 2, (a[0].y+a[1].y)/2 - 3}
	}
	h := max(l.h, spreadLabels(labels, mapLabelGap)+mapPad)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="map" xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" aria-labelledby="map-title">`,
		l.w, h, l.w, h)
	b.WriteString(`<title id="map-title">Services and the calls between them; the table below lists the calls.</title>`)
	// Arrowheads in user units: scaled by the stroke, busy edges would get
	// huge ones.
	b.WriteString(`<defs>`)
	for _, id := range []string{"map-arrow", "map-arrow-err"} {
		fmt.Fprintf(&b, `<marker id="%s" viewBox="0 0 10 10" refX="9" refY="5" markerUnits="userSpaceOnUse" markerWidth="9" markerHeight="9" orient="auto"><path d="M0 1L10 5L0 9z"/></marker>`, id)
	}
	b.WriteString(`</defs>`)

	// Edges are matched to their rows by caller and callee.
	rowOf := map[[2]string]*mapEdgeRow{}
	for i := range rows {
		rowOf[[2]string{rows[i].Caller, rows[i].Callee}] = &rows[i]
	}
	var maxRate float64
	for _, r := range rows {
		maxRate = max(maxRate, r.Rate)
	}
	b.WriteString(`<g class="edges">`)
	for i, a := range paths {
		e := rowOf[[2]string{nodes[edges[i][0]].Name, nodes[edges[i][1]].Name}]
		if e == nil {
			continue
		}
		class, marker := "edge", "map-arrow"
		if e.Errors > 0 {
			class, marker = "edge err", "map-arrow-err"
		}
		if l.routes[i].back {
			class += " back"
		}
		label := fmtRate(e.Rate) + " · " + fmtPct(e.ErrorRate)
		// Busier calls draw thicker, on a log scale: 1 to 4 units.
		width := 1.0
		if maxRate > 0 && e.Rate > 0 {
			width = 1 + 3*max(0, 1+math.Log10(e.Rate/maxRate)/3)
		}
		lx, ly := labels[i][0], labels[i][1]
		fmt.Fprintf(&b, `<g class="%s" data-caller="%s" data-callee="%s"><title>%s → %s: %s, %s errors (%d of %d calls), p95 %s</title><path d="%s" stroke-width="%.1f" marker-end="url(#%s)"/><text class="elabel" x="%.1f" y="%.1f">%s</text></g>`,
			class, esc(e.Caller), esc(e.Callee), esc(e.Caller), esc(e.Callee), esc(fmtRate(e.Rate)), esc(fmtPct(e.ErrorRate)), e.Errors, e.Calls, esc(fmtMs(e.P95Ms)),
			pathD(a), width, marker, lx, ly, esc(label))
	}
	b.WriteString(`</g><g class="nodes">`)
	for i, n := range nodes {
		v := l.vertices[i]
		stat := fmtRate(n.Rate) + " · " + fmtPct(n.ErrorRate)
		if n.Latency != nil {
			stat += " · p95 " + fmtMs(n.Latency.P95)
		}
		if n.External {
			stat = "external · " + stat
		} else if n.Requests == 0 {
			stat = "no requests"
		}
		why := n.Health
		if len(n.Reasons) > 0 {
			why += ": " + strings.Join(n.Reasons, ", ")
		}
		class := "node h-" + n.Health
		if n.External {
			class += " ext"
		}
		body := fmt.Sprintf(`<title>%s (%s)</title><rect x="%.1f" y="%.1f" width="%d" height="%d" rx="4"/><circle class="dot" cx="%.1f" cy="%.1f" r="4"/><text class="nname" x="%.1f" y="%.1f">%s</text><text class="nstat" x="%.1f" y="%.1f">%s</text>`,
			esc(n.Name), esc(why), v.x, v.y, mapNodeW, mapNodeH, v.x+11, v.y+15, v.x+20, v.y+18, esc(truncate(n.Name, mapNameLen)), v.x+20, v.y+33, esc(stat))
		if n.Href != "" {
			fmt.Fprintf(&b, `<a class="%s" href="%s" data-service="%s">%s</a>`, class, esc(n.Href), esc(n.Name), body)
		} else {
			fmt.Fprintf(&b, `<g class="%s" data-service="%s">%s</g>`, class, esc(n.Name), body)
		}
	}
	b.WriteString(`</g></svg>`)
	return template.HTML(b.String())
}

// spreadLabels moves labels that share an x apart vertically, keeping their
// order, so that each is at least gap below the one above; it returns the
// lowest baseline. Labels are points: x, then the y of the baseline.
func spreadLabels(labels [][2]float64, gap float64) float64 {
	byX := map[float64][]int{}
	for i, p := range labels {
		byX[p[0]] = append(byX[p[0]], i)
	}
	var bottom float64
	for _, idx := range byX {
		slices.SortStableFunc(idx, func(a, b int) int { return cmp.Compare(labels[a][1], labels[b][1]) })
		for k, i := range idx {
			if k > 0 {
				labels[i][1] = max(labels[i][1], labels[idx[k-1]][1]+gap)
			}
			bottom = max(bottom, labels[i][1])
		}
	}
	return bottom
}
