package web

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/fibinc/telltale/internal/alert"
	"github.com/fibinc/telltale/internal/config"
	"github.com/fibinc/telltale/internal/state"
)

// fakeAlerts answers with fixed rules, alerts and history.
type fakeAlerts struct {
	rules   []alert.RuleStatus
	history map[string][]state.AlertTransition
	histErr error
}

func (f *fakeAlerts) Rules() []alert.RuleStatus { return f.rules }

func (f *fakeAlerts) Rule(name string) (alert.RuleStatus, bool) {
	for _, r := range f.rules {
		if r.Name == name {
			return r, true
		}
	}
	return alert.RuleStatus{}, false
}

func (f *fakeAlerts) History(_ context.Context, name string, limit int) ([]state.AlertTransition, error) {
	h := f.history[name]
	return h[:min(len(h), limit)], f.histErr
}

// Alerts derives the active alerts from the rules, as the evaluator does:
// firing first.
func (f *fakeAlerts) Alerts() []alert.ActiveAlert {
	var out []alert.ActiveAlert
	for _, want := range []alert.State{alert.StateFiring, alert.StatePending} {
		for _, r := range f.rules {
			for _, in := range r.Instances {
				if in.State == want {
					out = append(out, alert.ActiveAlert{Rule: r.Name, Fingerprint: in.Fingerprint, Labels: in.Labels, Annotations: r.Annotations,
						State: in.State, ActiveAt: in.ActiveAt, StartsAt: in.FiredAt, Since: in.Since, Value: fmtValue(in.Value)})
				}
			}
		}
	}
	return out
}

func fp(v float64) *float64 { return &v }

// points makes datapoints a minute apart ending a minute before now: "o"
// ok, "b" breach, "-" missing.
func points(outcomes string, v float64) []alert.Datapoint {
	var out []alert.Datapoint
	for i, c := range outcomes {
		d := alert.Datapoint{At: now.Add(time.Duration(i-len(outcomes)) * time.Minute), Value: v + float64(i)}
		switch c {
		case 'o':
			d.Outcome = alert.OutcomeOK
		case 'b':
			d.Outcome = alert.OutcomeBreach
		default:
			d.Outcome, d.Value = alert.OutcomeMissing, 0
		}
		out = append(out, d)
	}
	return out
}

func ruleStatus(name, source, q, cond string, th *float64, labels map[string]string, ins ...alert.InstanceStatus) alert.RuleStatus {
	r := alert.RuleStatus{Name: name, Source: source, Query: q, Condition: cond, Threshold: th,
		Every: config.Duration(time.Minute), Window: config.Duration(5 * time.Minute), Datapoints: 1, ToAlarm: 1,
		MissingData: "missing", Labels: labels, Annotations: map[string]string{}, State: alert.StateOK,
		LastEvaluation: now.Add(-20 * time.Second), Instances: ins}
	for _, in := range ins {
		r.State = alert.Worse(r.State, in.State)
	}
	return r
}

func instance(labels map[string]string, st alert.State, since time.Duration, v *float64, dps []alert.Datapoint) alert.InstanceStatus {
	in := alert.InstanceStatus{Fingerprint: labels["alertname"] + labels["queue"], Labels: labels, State: st, Since: now.Add(-since), Value: v, Datapoints: dps, Reason: "2 of 3 datapoints breaching"}
	if st == alert.StateFiring {
		in.FiredAt = in.Since
	}
	return in
}

// alertFleet is five rules in every state, given in configuration order.
func alertFleet() *fakeAlerts {
	page := map[string]string{"severity": "page"}
	checkout := ruleStatus("checkout-errors", "service", "error_rate of checkout", "> 5", fp(5), page,
		instance(map[string]string{"alertname": "checkout-errors", "severity": "page", "service": "checkout"}, alert.StateFiring, 3*time.Minute, fp(7.25), points("obbb", 4.25)))
	checkout.Datapoints, checkout.ToAlarm, checkout.For, checkout.KeepFiringFor = 3, 2, config.Duration(2*time.Minute), config.Duration(5*time.Minute)
	checkout.Annotations = map[string]string{"summary": "checkout errors at {{ .Value }}%"}
	q := func(name string) map[string]string {
		return map[string]string{"alertname": "queue-backlog", "queue": name}
	}
	queue := ruleStatus("queue-backlog", "promql", "sum by (queue) (jobs_waiting)", "> 100", fp(100), nil,
		instance(q("emails"), alert.StatePending, time.Minute, fp(150), points("ob", 90)),
		instance(q("push"), alert.StateOK, time.Hour, fp(3), points("oo", 2)),
		instance(q("sms"), alert.StateFiring, 10*time.Minute, fp(240.5), points("bb", 239.5)))
	orders := ruleStatus("no-orders", "metric", "count(orders.created)", "absent", nil, nil,
		instance(map[string]string{"alertname": "no-orders"}, alert.StateNoData, 30*time.Minute, nil, points("--", 0)))
	orders.LastError = "cannot read metric orders.created: timeout"
	api := ruleStatus("api-down", "check", "check api-health failing", "> 0", fp(0), nil,
		instance(map[string]string{"alertname": "api-down", "check": "api-health"}, alert.StateOK, 2*time.Hour, fp(0), points("ooo", 0)))
	issues := ruleStatus("new-issues", "issues", "new issues", "> 0", fp(0), nil)
	issues.LastEvaluation = time.Time{}
	return &fakeAlerts{
		rules: []alert.RuleStatus{api, checkout, issues, orders, queue},
		history: map[string][]state.AlertTransition{"checkout-errors": {
			{Rule: "checkout-errors", Labels: checkout.Instances[0].Labels, From: "PENDING", To: "FIRING", At: now.Add(-3 * time.Minute), Value: 7.25, Reason: "breaching for 2m0s"},
			{Rule: "checkout-errors", Labels: checkout.Instances[0].Labels, From: "OK", To: "PENDING", At: now.Add(-5 * time.Minute), Value: 6, Reason: "2 of 3 datapoints breaching"},
			{Rule: "checkout-errors", Labels: checkout.Instances[0].Labels, From: "", To: "NO_DATA", At: now.Add(-time.Hour), Reason: "no data"},
		}},
	}
}

// xssAlerts has hostile label values, annotations and errors.
func xssAlerts() *fakeAlerts {
	bad := `<script>alert(1)</script>`
	attr := `"><img src=x onerror=alert(2)>`
	r := ruleStatus("x"+bad, "logs", "count of logs matching "+attr, "> 1", fp(1), map[string]string{"team": attr},
		instance(map[string]string{"alertname": "x" + bad, "team": attr, "service": bad, attr: bad}, alert.StateFiring, time.Minute, fp(2), points("bb", 1)))
	r.Annotations = map[string]string{"summary": bad, "runbook": attr}
	r.LastError = bad
	return &fakeAlerts{rules: []alert.RuleStatus{r}, history: map[string][]state.AlertTransition{r.Name: {
		{Rule: r.Name, Labels: r.Instances[0].Labels, From: "PENDING", To: "FIRING", At: now.Add(-time.Minute), Value: 2, Reason: bad},
	}}}
}

func newAlertServer(t *testing.T, q Queries, a AlertReader) http.Handler {
	t.Helper()
	h, err := New(Options{Query: q, IngestURL: "http://localhost:4318", Now: func() time.Time { return now }, Alerts: a})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func alertGet(t *testing.T, h http.Handler, target string) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", target, nil))
	return rec
}

func TestAlertPages(t *testing.T) {
	for _, tc := range []struct {
		name, target string
		a            AlertReader // nil: alerting not configured
		q            *fakeQueries
		status       int
	}{
		{"alerts", "/alerts", alertFleet(), &fakeQueries{}, 200},
		{"alerts-norules", "/alerts", &fakeAlerts{}, &fakeQueries{}, 200},
		{"alerts-off", "/alerts", nil, &fakeQueries{}, 200},
		{"alert", "/alerts/checkout-errors?from=now-15m", alertFleet(), &fakeQueries{}, 200},
		{"alert-instances", "/alerts/queue-backlog", alertFleet(), &fakeQueries{}, 200},
		{"alert-nodata", "/alerts/no-orders", alertFleet(), &fakeQueries{}, 200},
		{"alert-history-error", "/alerts/checkout-errors", &fakeAlerts{rules: alertFleet().rules, histErr: errors.New("disk on fire")}, &fakeQueries{}, 200},
		{"alert-unknown", "/alerts/checkout-erors", alertFleet(), &fakeQueries{}, 404},
		{"alert-off", "/alerts/checkout-errors", nil, &fakeQueries{}, 404},
		{"board-firing", "/", alertFleet(), fleet(), 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var h http.Handler
			if tc.a == nil {
				h = newAlertServer(t, tc.q, nil)
			} else {
				h = newAlertServer(t, tc.q, tc.a)
			}
			rec := alertGet(t, h, tc.target)
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d:\n%s", rec.Code, tc.status, rec.Body)
			}
			golden(t, tc.name, rec.Body.String())
		})
	}
}

// TestAlertsOrder: worst first, then by name; firing and pending instances
// under their rule, the rest not.
func TestAlertsOrder(t *testing.T) {
	body := alertGet(t, newAlertServer(t, &fakeQueries{}, alertFleet()), "/alerts").Body.String()
	order := []string{
		`data-rule="checkout-errors" data-state="FIRING"`, `<code class="label">service=checkout</code>`,
		`data-rule="queue-backlog" data-state="FIRING"`, `queue=sms`, `queue=emails`,
		`data-rule="no-orders" data-state="NO_DATA"`,
		`data-rule="api-down" data-state="OK"`, `data-rule="new-issues" data-state="OK"`,
	}
	last := -1
	for _, s := range order {
		i := strings.Index(body, s)
		if i < 0 || i < last {
			t.Fatalf("%s missing or out of order", s)
		}
		last = i
	}
	for _, not := range []string{"queue=push", "check=api-health", "severity=page"} {
		if strings.Contains(body, not) {
			t.Errorf("the list shows %s, which is no firing or pending instance's own label", not)
		}
	}
	if n := strings.Count(body, `<tr class="instance"`); n != 3 {
		t.Errorf("%d instance rows, want 3 (firing and pending)", n)
	}
	for _, want := range []string{`<td class="num value">7.25</td>`, `<span class="error">cannot read metric orders.created: timeout</span>`, `<span class="muted">not yet</span>`, `<span class="h-crit">2 firing</span>`} {
		if !strings.Contains(body, want) {
			t.Errorf("the list lacks %s", want)
		}
	}
}

// TestAlertRule: the definition, every instance with its datapoint strip,
// the chart with the threshold dashed and the history.
func TestAlertRule(t *testing.T) {
	body := alertGet(t, newAlertServer(t, &fakeQueries{}, alertFleet()), "/alerts/checkout-errors").Body.String()
	for _, want := range []string{
		`<dd>2 of 3</dd>`, `<dd>1m / 5m</dd>`, `<dd>2m</dd>`, `<dd>5m</dd>`, `severity=page`,
		`<dd>checkout errors at {{ .Value }}%</dd>`,
		`<span class="dp dp-ok" title="09:56:00 ok 4.25"></span><span class="dp dp-breach" title="09:57:00 breach 5.25"></span>`,
		`<path class="line prev"`, `threshold &gt; 5`,
		`<span class="badge st-PENDING">PENDING</span> → <span class="badge st-FIRING">FIRING</span>`,
		`<span class="badge st-–">–</span> → <span class="badge st-NO_DATA">NO_DATA</span>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the rule page lacks %s", want)
		}
	}
	if n := strings.Count(body, `<tr class="transition"`); n != 3 {
		t.Errorf("%d transitions, want 3", n)
	}
	// One evaluation has no line to draw.
	if body := alertGet(t, newAlertServer(t, &fakeQueries{}, alertFleet()), "/alerts/no-orders").Body.String(); strings.Contains(body, `<svg class="chart"`) {
		t.Error("a rule without values has a chart")
	}
}

func TestAlertsEscaping(t *testing.T) {
	a := xssAlerts()
	h := newAlertServer(t, fleet(), a)
	for _, target := range []string{"/alerts", "/alerts/x%3Cscript%3Ealert(1)%3C%2Fscript%3E", "/"} {
		rec := alertGet(t, h, target)
		if rec.Code != 200 {
			t.Fatalf("%s: status %d", target, rec.Code)
		}
		body := rec.Body.String()
		for _, raw := range []string{"<script>alert", "<img src=x", `"><img`} {
			if strings.Contains(body, raw) {
				t.Errorf("%s shows %s unescaped", target, raw)
			}
		}
		if !strings.Contains(body, "&lt;script&gt;alert(1)&lt;/script&gt;") {
			t.Errorf("%s does not show the hostile label as text", target)
		}
	}
}

// TestBoardAlerts: the strip lists firing alerts only, and is absent
// without firing alerts or without alerting.
func TestBoardAlerts(t *testing.T) {
	body := alertGet(t, newAlertServer(t, fleet(), alertFleet()), "/").Body.String()
	for _, want := range []string{
		`<strong>2 firing</strong>`,
		`<a href="/alerts/checkout-errors">checkout-errors</a> <code class="label">service=checkout</code> <code class="label">severity=page</code> <time class="muted" datetime="2026-05-04T09:57:00Z" title="firing since 2026-05-04 09:57:00 UTC">3m ago</time>`,
		`<a href="/alerts/queue-backlog">queue-backlog</a> <code class="label">queue=sms</code>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the board lacks %s", want)
		}
	}
	if strings.Contains(body, "queue=emails") {
		t.Error("the board shows a pending alert")
	}
	quiet := alertFleet()
	quiet.rules = quiet.rules[:1] // api-down, OK
	for name, h := range map[string]http.Handler{"no firing alert": newAlertServer(t, fleet(), quiet), "no alerting": newAlertServer(t, fleet(), nil)} {
		rec := alertGet(t, h, "/")
		if strings.Contains(rec.Body.String(), "alert-strip") {
			t.Errorf("%s: the board has an alert strip", name)
		}
		if name == "no alerting" {
			golden(t, "board", rec.Body.String()) // unchanged
		}
	}
}

// TestAlertsEvaluator renders the state of a real evaluator fed by fixed
// sources: the pages read what *alert.Evaluator answers.
func TestAlertsEvaluator(t *testing.T) {
	src := map[string]fixedSource{"hot": {9}, "cold": {1}}
	e, err := alert.New(alert.Options{Now: func() time.Time { return now }, Source: func(r config.Rule) (alert.Source, error) { return src[r.Name], nil }})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.SetRules([]config.Rule{
		{Name: "hot", PromQL: "hot", Condition: "> 5", Labels: map[string]string{"team": "a"}},
		{Name: "cold", PromQL: "cold", Condition: "> 5"},
	}); err != nil {
		t.Fatal(err)
	}
	e.Evaluate(context.Background(), now.Add(-time.Minute))
	e.Evaluate(context.Background(), now)
	h := newAlertServer(t, fleet(), e)
	body := alertGet(t, h, "/alerts").Body.String()
	hot, cold := strings.Index(body, `data-rule="hot" data-state="FIRING"`), strings.Index(body, `data-rule="cold" data-state="OK"`)
	if hot < 0 || cold < hot {
		t.Errorf("hot firing then cold ok: %d, %d\n%s", hot, cold, body)
	}
	if body := alertGet(t, h, "/").Body.String(); !strings.Contains(body, `<a href="/alerts/hot">hot</a> <code class="label">team=a</code>`) {
		t.Error("the board lacks the firing rule")
	}
	if rec := alertGet(t, h, "/alerts/hot"); rec.Code != 200 || !strings.Contains(rec.Body.String(), `<svg class="chart"`) {
		t.Errorf("rule page: status %d, or no chart", rec.Code)
	}
}

// fixedSource answers one value for one instance.
type fixedSource struct{ v float64 }

func (s fixedSource) Read(context.Context, time.Time, time.Duration) ([]alert.Sample, error) {
	return []alert.Sample{{Value: s.v}}, nil
}
