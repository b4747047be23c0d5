package api_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fibinc/telltale/internal/query"
	"github.com/fibinc/telltale/internal/store/storetest"
	"github.com/fibinc/telltale/internal/telemetry"
)

// redData is frontend → api → postgres (which sends no spans), twice, and
// a frontend request on its own:
//
//	t0+1m:  frontend server (100ms) → frontend client → api server (error, 50ms) → api client to postgres
//	t0+2m:  frontend server (20ms)
func redData() *telemetry.Batch {
	mk := func(service, id, parent, kind, name, status string, at, d time.Duration) telemetry.Span {
		sp := storetest.Span(service, traceA, id, parent, t0.Add(at), d)
		sp.Kind, sp.Name, sp.StatusCode = kind, name, status
		return sp
	}
	db := mk("api", "00000000000000a4", "00000000000000a3", "client", "SELECT", "ok", time.Minute+3*time.Millisecond, 5*time.Millisecond)
	db.Attributes = `{"peer.service":"postgres"}`
	return &telemetry.Batch{Spans: []telemetry.Span{
		mk("frontend", "00000000000000a1", "", "server", "GET /fib", "ok", time.Minute, 100*time.Millisecond),
		mk("frontend", "00000000000000a2", "00000000000000a1", "client", "GET", "error", time.Minute+time.Millisecond, 60*time.Millisecond),
		mk("api", "00000000000000a3", "00000000000000a2", "server", "GET /price", "error", time.Minute+2*time.Millisecond, 50*time.Millisecond),
		db,
		mk("frontend", "00000000000000b1", "", "server", "GET /", "ok", 2*time.Minute, 20*time.Millisecond),
	}}
}

func TestREDEndpoints(t *testing.T) {
	h, _ := newAPI(t, redData(), query.Options{})
	rng := fmt.Sprintf("from=%d&to=%d", t0.Unix(), t0.Add(10*time.Minute).Unix())
	type check func(t *testing.T, data json.RawMessage)
	// seriesIs checks step_ms, the services of the series and the requests
	// of the first one's points.
	seriesIs := func(stepMs int64, offsetMs int64, services []string, requests ...int64) check {
		return func(t *testing.T, data json.RawMessage) {
			var res struct {
				StepMs   int64 `json:"step_ms"`
				OffsetMs int64 `json:"offset_ms"`
				Series   []struct {
					Service string
					Points  []struct {
						Time     time.Time
						Requests int64
					}
				}
			}
			if err := json.Unmarshal(data, &res); err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, s := range res.Series {
				names = append(names, s.Service)
			}
			if res.StepMs != stepMs || res.OffsetMs != offsetMs || !slices.Equal(names, services) {
				t.Fatalf("step %d, offset %d, services %q; want %d, %d, %q", res.StepMs, res.OffsetMs, names, stepMs, offsetMs, services)
			}
			if len(requests) == 0 {
				return
			}
			var got []int64
			for _, p := range res.Series[0].Points {
				got = append(got, p.Requests)
			}
			if !slices.Equal(got, requests) {
				t.Errorf("requests per step = %v, want %v", got, requests)
			}
		}
	}
	pluckIs := func(name string, want ...string) check {
		return func(t *testing.T, data json.RawMessage) {
			if got := pluck(t, data, name); !slices.Equal(got, want) {
				t.Errorf("data[].%s = %q, want %q", name, got, want)
			}
		}
	}
	mapIs := func(nodes, edges []string) check {
		return func(t *testing.T, data json.RawMessage) {
			var m query.ServiceMap
			if err := json.Unmarshal(data, &m); err != nil {
				t.Fatal(err)
			}
			var ns, es []string
			for _, n := range m.Nodes {
				ns = append(ns, fmt.Sprintf("%s ext=%t %s", n.Name, n.External, n.Health))
			}
			for _, e := range m.Edges {
				es = append(es, fmt.Sprintf("%s→%s calls=%d errors=%d p95=%g", e.Caller, e.Callee, e.Calls, e.Errors, e.P95Ms))
			}
			if !slices.Equal(ns, nodes) || !slices.Equal(es, edges) {
				t.Errorf("map nodes %q edges %q; want %q %q", ns, es, nodes, edges)
			}
		}
	}

	tests := []struct {
		target string
		status int
		check  check  // for 200s
		err    string // part of the error message otherwise
	}{
		// series of every service: the default hour at the default 30s step
		{"/api/v1/series/services", 200, func(t *testing.T, data json.RawMessage) {
			seriesIs(30_000, 0, []string{"api", "frontend"})(t, data)
			if n := strings.Count(string(data), `"time"`); n != 2*120 {
				t.Errorf("%d points, want 120 for each of two services", n)
			}
		}, ""},
		{"/api/v1/series/services?step=1m&" + rng, 200, seriesIs(60_000, 0, []string{"api", "frontend"}, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0), ""},
		{"/api/v1/series/services?step=1m&env=staging&" + rng, 200, seriesIs(60_000, 0, nil), ""},
		{"/api/v1/series/services?step=1m&offset=1d&" + rng, 200, seriesIs(60_000, 86_400_000, nil), ""},
		{"/api/v1/series/services?step=10ms", 400, nil, "parameter step: 10ms is below the minimum of 1s"},
		{"/api/v1/series/services?step=fast", 400, nil, "parameter step"},
		{"/api/v1/series/services?offset=-1h", 400, nil, "parameter offset"},
		{"/api/v1/series/services?step=7m&offset=1d", 400, nil, "offset 24h0m0s is not a whole number of steps of 7m0s"},
		{"/api/v1/series/services?step=1s&from=now-30d", 400, nil, "use a larger step"},
		{"/api/v1/series/services?from=soon", 400, nil, "parameter from"},

		// series of one service
		{"/api/v1/services/frontend/series?step=5m&" + rng, 200, seriesIs(300_000, 0, []string{"frontend"}, 2, 0), ""},
		{"/api/v1/services/frontend/series?step=5m&offset=10m&" + rng, 200, seriesIs(300_000, 600_000, []string{"frontend"}, 0, 0), ""},
		{"/api/v1/services/nobody/series", 404, nil, `service "nobody": not found`},

		// operations
		{"/api/v1/services/frontend/operations?" + rng, 200, pluckIs("name", "GET /", "GET /fib"), ""},
		{"/api/v1/services/api/operations?" + rng, 200, pluckIs("error_rate", "1"), ""},
		{"/api/v1/services/nobody/operations", 404, nil, "not found"},
		{"/api/v1/services/frontend/operations?to=yesterday", 400, nil, "parameter to"},

		// dependencies
		{"/api/v1/services/api/dependencies?" + rng, 200, func(t *testing.T, data json.RawMessage) {
			var d query.Dependencies
			if err := json.Unmarshal(data, &d); err != nil {
				t.Fatal(err)
			}
			if len(d.Callers) != 1 || d.Callers[0].Caller != "frontend" || d.Callers[0].Errors != 1 || d.Callers[0].Peer.Name != "frontend" ||
				len(d.Callees) != 1 || d.Callees[0].Callee != "postgres" || !d.Callees[0].External || d.Callees[0].Health != query.HealthOK {
				t.Errorf("dependencies = %s", data)
			}
		}, ""},
		{"/api/v1/services/nobody/dependencies", 404, nil, "not found"},

		// versions
		{"/api/v1/services/frontend/versions?" + rng, 200, pluckIs("version", "1.2.3"), ""},
		{"/api/v1/services/frontend/versions?" + rng, 200, pluckIs("first_seen", "2026-05-04T10:01:00Z"), ""},
		{"/api/v1/services/nobody/versions", 404, nil, "not found"},

		// slowest requests
		{"/api/v1/services/frontend/slowest?" + rng, 200, pluckIs("duration_ms", "100", "20"), ""},
		{"/api/v1/services/frontend/slowest?limit=1&" + rng, 200, pluckIs("operation", "GET /fib"), ""},
		{"/api/v1/services/frontend/slowest?limit=0", 400, nil, "parameter limit"},
		{"/api/v1/services/nobody/slowest", 404, nil, "not found"},

		// the map
		{"/api/v1/service-map?" + rng, 200, mapIs(
			[]string{"api ext=false critical", "frontend ext=false ok", "postgres ext=true ok"},
			[]string{"api→postgres calls=1 errors=0 p95=5", "frontend→api calls=1 errors=1 p95=50"}), ""},
		{"/api/v1/service-map?env=staging&" + rng, 200, mapIs(nil, nil), ""},
		{"/api/v1/service-map?from=now-1x", 400, nil, "parameter from"},
	}
	for _, tt := range tests {
		t.Run(tt.target, func(t *testing.T) {
			status, b, _ := get(t, h, http.MethodGet, tt.target)
			if status != tt.status {
				t.Fatalf("status %d, want %d; error %q", status, tt.status, b.Error)
			}
			if tt.status == 200 {
				tt.check(t, b.Data)
			} else if !strings.Contains(b.Error, tt.err) {
				t.Errorf("error %q does not contain %q", b.Error, tt.err)
			}
		})
	}
}
