package web

import (
	"cmp"
	"context"
	"net/http"
	"slices"
	"time"

	"github.com/fibinc/telltale/internal/query"
)

// Health marks, worst last.
const (
	healthIdle = "idle" // no requests in the range
	healthOK   = "ok"
	healthWarn = "warn"
	healthCrit = "crit"
)

// Thresholds of the health marks; docs/design/ui.md explains them.
const (
	warnErrorRate = 0.01
	critErrorRate = 0.05
	warnP95       = 500 * time.Millisecond
	critP95       = 2 * time.Second
	// An instance not seen for this long is stale, and down after
	// downAfter; a service whose instances are all down is critical.
	staleAfter = time.Minute
	downAfter  = 5 * time.Minute
)

type boardQueries interface {
	Services(ctx context.Context, r query.TimeRange) ([]query.ServiceSummary, error)
	ServiceSeries(ctx context.Context, q query.ServiceSeriesQuery) (*query.ServiceSeriesResult, error)
	ServiceMap(ctx context.Context, r query.TimeRange, env string) (*query.ServiceMap, error)
	InstanceStats(ctx context.Context, r query.TimeRange) (map[string]map[string]query.InstanceStat, error)
}

type boardPage struct {
	Services  []boardService
	IngestURL string
	Counts    map[string]int // services per health mark
	Firing    []firingAlert  // firing alerts, shown above the cards
}

type boardService struct {
	query.ServiceSummary
	Health  string
	Reasons []string // why the mark is not ok
	Zones   []zoneGroup
	Up      int
	Series  []query.REDPoint
	URL     string
	Calls   []boardCall // the services it calls, most calls first
	More    int         // calls not shown
}

// boardCall is a dependency of a service on the board: the callee marked
// with its own health, and the calls' error rate.
type boardCall struct {
	Name, URL string // URL is "" for an external peer
	Health    string
	ErrorRate float64
	Rate      float64
}

// maxBoardCalls caps the dependencies listed on a card.
const maxBoardCalls = 6

// zoneGroup is the instances of a service in one availability zone and
// environment.
type zoneGroup struct {
	Zone, Env string
	Instances []boardInstance
}

type boardInstance struct {
	query.Instance
	Health string
	Why    string              // the health's reason
	Stat   *query.InstanceStat // nil without requests
}

func (s *server) board(r *http.Request, f *frame) (any, error) {
	f.Title, f.Nav = "Services", "services"
	svcs, err := s.opt.Query.Services(r.Context(), f.Range)
	if err != nil {
		return nil, err
	}
	f.Envs = environments(svcs)
	series, err := s.opt.Query.ServiceSeries(r.Context(), query.ServiceSeriesQuery{Range: f.Range, Environment: f.Env})
	if err != nil {
		return nil, err
	}
	bySvc := map[string][]query.REDPoint{}
	for _, sr := range series.Series {
		bySvc[sr.Service] = sr.Points
	}
	graph, err := s.opt.Query.ServiceMap(r.Context(), f.Range, f.Env)
	if err != nil {
		return nil, err
	}
	stats, err := s.opt.Query.InstanceStats(r.Context(), f.Range)
	if err != nil {
		return nil, err
	}
	p := boardPage{IngestURL: s.opt.IngestURL, Counts: map[string]int{}, Firing: s.firingAlerts(f)}
	health := map[string]string{}
	for _, sv := range svcs {
		if f.Env != "" && !slices.Contains(sv.Environments, f.Env) {
			continue
		}
		b := boardService{ServiceSummary: sv, Series: bySvc[sv.Name], URL: servicePath(f, sv.Name)}
		var insts []boardInstance
		b.Health, b.Reasons, insts = markService(f, sv, stats[sv.Name])
		groups := map[[2]string]*zoneGroup{}
		for _, in := range insts {
			if in.Health == healthOK {
				b.Up++
			}
			k := [2]string{in.AvailabilityZone, in.Environment}
			if groups[k] == nil {
				groups[k] = &zoneGroup{Zone: in.AvailabilityZone, Env: in.Environment}
			}
			groups[k].Instances = append(groups[k].Instances, in)
		}
		for _, g := range groups {
			b.Zones = append(b.Zones, *g)
		}
		slices.SortFunc(b.Zones, func(a, c zoneGroup) int {
			return cmp.Or(cmp.Compare(a.Env, c.Env), cmp.Compare(a.Zone, c.Zone))
		})
		health[sv.Name] = b.Health
		p.Counts[b.Health]++
		p.Services = append(p.Services, b)
	}
	nodes := map[string]query.MapNode{}
	for _, n := range graph.Nodes {
		nodes[n.Name] = n
	}
	for i := range p.Services {
		b := &p.Services[i]
		var edges []query.MapEdge
		for _, e := range graph.Edges {
			if e.Caller == b.Name && e.Callee != b.Name {
				edges = append(edges, e)
			}
		}
		slices.SortStableFunc(edges, func(a, c query.MapEdge) int { return cmp.Compare(c.Calls, a.Calls) })
		for j, e := range edges {
			if j == maxBoardCalls {
				b.More = len(edges) - j
				break
			}
			c := boardCall{Name: e.Callee, Health: health[e.Callee], ErrorRate: e.ErrorRate, Rate: e.Rate}
			if !e.External {
				c.URL = servicePath(f, e.Callee)
			}
			if c.Health == "" { // an external peer, or a service not on the board
				c.Health, _ = nodeHealth(nodes[e.Callee])
			}
			b.Calls = append(b.Calls, c)
		}
	}
	// Worst first, then by name: the board is read top down.
	order := map[string]int{healthCrit: 0, healthWarn: 1, healthOK: 2, healthIdle: 3}
	slices.SortStableFunc(p.Services, func(a, c boardService) int {
		return cmp.Or(cmp.Compare(order[a.Health], order[c.Health]), cmp.Compare(a.Name, c.Name))
	})
	return p, nil
}

// serviceHealth marks a service by its error rate, its p95 and whether any
// instance is up.
func serviceHealth(sv query.ServiceSummary, allDown bool) (string, []string) {
	h, why := healthOK, []string(nil)
	raise := func(to, reason string) {
		if order := map[string]int{healthOK: 0, healthWarn: 1, healthCrit: 2}; order[to] > order[h] {
			h = to
		}
		why = append(why, reason)
	}
	if allDown {
		raise(healthCrit, "no instance seen for "+downAfter.String())
	}
	if sv.Requests == 0 {
		if h == healthOK {
			return healthIdle, nil
		}
		return h, why
	}
	switch {
	case sv.ErrorRate >= critErrorRate:
		raise(healthCrit, "errors ≥ 5%")
	case sv.ErrorRate >= warnErrorRate:
		raise(healthWarn, "errors ≥ 1%")
	}
	if sv.Latency != nil {
		p95 := time.Duration(sv.Latency.P95 * float64(time.Millisecond))
		switch {
		case p95 >= critP95:
			raise(healthCrit, "p95 ≥ "+critP95.String())
		case p95 >= warnP95:
			raise(healthWarn, "p95 ≥ "+warnP95.String())
		}
	}
	return h, why
}

func environments(svcs []query.ServiceSummary) []string {
	var out []string
	for _, sv := range svcs {
		for _, e := range sv.Environments {
			if !slices.Contains(out, e) {
				out = append(out, e)
			}
		}
	}
	slices.Sort(out)
	return out
}
