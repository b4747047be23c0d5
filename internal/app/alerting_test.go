package app

import "testing"

func TestValidators(t *testing.T) {
	opt := Validators()
	for _, tt := range []struct {
		check func(string) error
		in    string
		ok    bool
	}{
		{opt.PromQL, `sum by (job) (rate(http_requests_total[5m]))`, true},
		{opt.PromQL, `sum by (job) (`, false},
		{opt.PromQL, `foo @ 100`, true}, // the engine enables @
		{opt.LogQuery, `service:api "timed out" level>=warn`, true},
		{opt.LogQuery, `a "unterminated`, false},
		{opt.LogQuery, `msg>3`, false}, // parses, but does not compile
		{opt.CheckCondition, `[STATUS] == 200`, true},
		{opt.CheckCondition, `[STATUS] == `, false},
		{opt.CheckCondition, `[BODY].a == pat(x*)`, true},
		{opt.RuleCondition, `> 5`, true},
		{opt.RuleCondition, `absent`, true},
		{opt.RuleCondition, `>> 5`, false},
		{opt.Annotation, `{{ .Value }} on {{ .Labels.service }}`, true},
		{opt.Annotation, `{{ .Value `, false},
		{opt.MetricFilter, `service.name="pricing"`, true},
		{opt.MetricFilter, `="pricing"`, false},
	} {
		if err := tt.check(tt.in); (err == nil) != tt.ok {
			t.Errorf("%q: %v, want ok=%v", tt.in, err, tt.ok)
		}
	}
}
