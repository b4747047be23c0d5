package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/fibinc/telltale/internal/alert"
	"github.com/fibinc/telltale/internal/api"
	"github.com/fibinc/telltale/internal/config"
	"github.com/fibinc/telltale/internal/query"
	statedb "github.com/fibinc/telltale/internal/state/duckdb"
	"github.com/fibinc/telltale/internal/store/duckdb"
)

type constSource float64

func (c constSource) Read(context.Context, time.Time, time.Duration) ([]alert.Sample, error) {
	return []alert.Sample{{Labels: map[string]string{"queue": "q1"}, Value: float64(c)}}, nil
}

func newAlertsAPI(t *testing.T, withAlerts bool) http.Handler {
	t.Helper()
	ctx := context.Background()
	st, err := duckdb.Open(ctx, duckdb.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	q, err := query.New(query.Options{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	opt := api.Options{Query: q}
	if withAlerts {
		ss, err := statedb.Open(ctx, statedb.Options{Path: filepath.Join(t.TempDir(), "state.duckdb")})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ss.Close() })
		e, err := alert.New(alert.Options{State: ss, ExternalURL: "http://tt.example",
			Source: func(r config.Rule) (alert.Source, error) {
				if r.Name == "hot" {
					return constSource(200), nil
				}
				return constSource(1), nil
			}})
		if err != nil {
			t.Fatal(err)
		}
		err = e.SetRules([]config.Rule{
			{Name: "hot", PromQL: "jobs_waiting", Condition: "> 100", Labels: map[string]string{"severity": "page"}},
			{Name: "cool", PromQL: "jobs_waiting", Condition: "> 100", Datapoints: 3},
		})
		if err != nil {
			t.Fatal(err)
		}
		for i := range 3 {
			e.Evaluate(ctx, t0.Add(time.Duration(i)*time.Minute))
		}
		opt.Alerts = e
	}
	h, err := api.New(opt)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestAlertsAPI(t *testing.T) {
	h := newAlertsAPI(t, true)

	code, b, _ := get(t, h, "GET", "/api/v1/rules")
	var rules []alert.RuleStatus
	if err := json.Unmarshal(b.Data, &rules); code != 200 || err != nil || len(rules) != 2 {
		t.Fatalf("rules: %d %s %v", code, b.Data, err)
	}
	if rules[0].Name != "hot" || rules[0].State != alert.StateFiring || rules[0].Source != "promql" || len(rules[0].Instances) != 1 ||
		rules[0].Instances[0].Labels["queue"] != "q1" || *rules[0].Instances[0].Value != 200 || rules[1].State != alert.StateOK {
		t.Errorf("rules %s", b.Data)
	}

	code, b, _ = get(t, h, "GET", "/api/v1/rules/hot?limit=5")
	var d struct {
		alert.RuleStatus
		History []struct{ From, To string } `json:"history"`
	}
	if err := json.Unmarshal(b.Data, &d); code != 200 || err != nil || d.Name != "hot" || len(d.History) != 1 || d.History[0].To != "FIRING" {
		t.Errorf("rule: %d %s %v", code, b.Data, err)
	}
	if code, b, _ = get(t, h, "GET", "/api/v1/rules/nope"); code != 404 || b.Error == "" {
		t.Errorf("unknown rule: %d %+v", code, b)
	}
	if code, _, _ = get(t, h, "GET", "/api/v1/rules/hot?limit=x"); code != 400 {
		t.Errorf("bad limit: %d", code)
	}

	code, b, _ = get(t, h, "GET", "/api/v1/alerts")
	var alerts []alert.ActiveAlert
	if err := json.Unmarshal(b.Data, &alerts); code != 200 || err != nil || len(alerts) != 1 {
		t.Fatalf("alerts: %d %s %v", code, b.Data, err)
	}
	a := alerts[0]
	if a.Labels["alertname"] != "hot" || a.Labels["severity"] != "page" || a.State != alert.StateFiring || !a.StartsAt.Equal(t0) ||
		a.GeneratorURL != "http://tt.example/alerts/hot" || a.Value != "200" {
		t.Errorf("alert %+v", a)
	}
	if code, _, _ = get(t, h, "POST", "/api/v1/alerts"); code != 405 {
		t.Errorf("POST alerts: %d", code)
	}
}

func TestAlertsAPIWithoutEvaluator(t *testing.T) {
	h := newAlertsAPI(t, false)
	for _, p := range []string{"/api/v1/rules", "/api/v1/alerts"} {
		if code, b, _ := get(t, h, "GET", p); code != 200 || string(b.Data) != "[]" {
			t.Errorf("%s: %d %s", p, code, b.Data)
		}
	}
	if code, _, _ := get(t, h, "GET", "/api/v1/rules/x"); code != 404 {
		t.Errorf("rule without evaluator: %d", code)
	}
}
