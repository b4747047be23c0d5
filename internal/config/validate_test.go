package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestOptions(t *testing.T) {
	src := `checks:
  - name: api
    url: https://api.example.com
    conditions: ["[STATUS] == 200", "[BODY] ~~ x"]
rules:
  - name: q
    promql: "sum(("
    condition: "above 5"
  - name: l
    logs: {query: "level:nope"}
    condition: "> 1"
    annotations: {summary: "{{ .Value"}
  - name: m
    metric: {name: x, filter: "a~b"}
    condition: "> 1"
`
	bad := func(what string) func(string) error {
		return func(s string) error {
			if strings.Contains(s, "~~") || strings.Contains(s, "((") || strings.Contains(s, "nope") ||
				strings.Contains(s, "above") || strings.HasSuffix(s, "Value") || strings.Contains(s, "a~b") {
				return fmt.Errorf("bad %s", what)
			}
			return nil
		}
	}
	opt := Options{CheckCondition: bad("check condition"), RuleCondition: bad("rule condition"), PromQL: bad("promql"),
		LogQuery: bad("log query"), MetricFilter: bad("filter"), Annotation: bad("template")}
	_, err := Parse("t.yaml", []byte(src), opt)
	want := `t.yaml:4:37: check "api": condition "[BODY] ~~ x": bad check condition
t.yaml:7:5: rule "q": promql: bad promql
t.yaml:8:5: rule "q": condition "above 5": bad rule condition
t.yaml:10:12: rule "l": log query "level:nope": bad log query
t.yaml:12:28: rule "l": annotation summary: bad template
t.yaml:14:23: rule "m": metric filter "a~b": bad filter`
	if err == nil || err.Error() != want {
		t.Errorf("got:\n%v\nwant:\n%s", err, want)
	}
}

func TestTooManyErrors(t *testing.T) {
	var b strings.Builder
	b.WriteString("checks:\n")
	for i := range 60 {
		fmt.Fprintf(&b, "  - {name: c%d, type: tcp}\n", i)
	}
	_, err := Parse("t.yaml", []byte(b.String()), Options{})
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != MaxErrors+1 || lines[MaxErrors] != "t.yaml: 10 more errors not shown" || len(Errors(err)) != MaxErrors {
		t.Errorf("got %d lines, last %q", len(lines), lines[len(lines)-1])
	}
	if !strings.HasPrefix(lines[0], `t.yaml:2:5: check "c0"`) {
		t.Errorf("first error %q", lines[0])
	}
	var e *Error
	if !errors.As(err, &e) || e.Line != 2 {
		t.Errorf("errors.As: %+v", e)
	}
}

func TestMergeAndAliases(t *testing.T) {
	src := `x-probe: &probe
  interval: 30s
  labels: {team: a}
checks:
  - &api
    <<: *probe
    name: api
    url: https://api.example.com
    interval: 20s
  - <<: [*api]
    name: api2
`
	f, err := Parse("t.yaml", []byte(src), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Checks) != 2 {
		t.Fatalf("checks: %+v", f.Checks)
	}
	for _, c := range f.Checks {
		if c.Interval.D().String() != "20s" || c.Labels["team"] != "a" || c.URL != "https://api.example.com" {
			t.Errorf("check %s: %+v", c.Name, c)
		}
	}
	if f.Checks[1].Name != "api2" {
		t.Errorf("merged key overrode an explicit one: %q", f.Checks[1].Name)
	}
}

func TestAliasBomb(t *testing.T) {
	// Each level merges ten of the one below: 10^8 keys if expanded.
	src := "x-m0: &m0 {interval: 30s}\n"
	for i := 1; i <= 8; i++ {
		prev := fmt.Sprintf("*m%d", i-1)
		src += fmt.Sprintf("x-m%d: &m%d {<<: [%s]}\n", i, i, strings.Repeat(prev+", ", 9)+prev)
	}
	src += "checks:\n  - <<: *m8\n    name: c\n    url: https://x.example\n"
	_, err := Parse("t.yaml", []byte(src), Options{})
	if err == nil || !strings.Contains(err.Error(), "too many YAML nodes") {
		t.Errorf("got %v", err)
	}
}

func TestEmpty(t *testing.T) {
	for _, src := range []string{"", "\n", "# nothing\n", "---\n", "~\n", "checks: []\nrules:\n"} {
		f, err := Parse("t.yaml", []byte(src), Options{})
		if err != nil || f == nil || len(f.Checks)+len(f.Rules) != 0 {
			t.Errorf("Parse(%q) = %+v, %v", src, f, err)
		}
	}
}

func TestRedacted(t *testing.T) {
	f, err := Load("testdata/good/full.yaml", Options{})
	if err != nil {
		t.Fatal(err)
	}
	before, _ := json.Marshal(f)
	r := f.Redacted()
	after, _ := json.Marshal(f)
	if string(before) != string(after) {
		t.Error("Redacted changed the original")
	}
	out, _ := json.Marshal(r)
	for _, secret := range []string{"abc123", "s3cret", "user:pw", "k1", "k2", "B000/XXX", `"secret"`} {
		if strings.Contains(string(out), secret) {
			t.Errorf("redacted file still holds %s", secret)
		}
	}
	for _, kept := range []string{"X-Request-Source\":\"telltale", "X-Env\":\"prod", "hooks.slack.com", "ops.internal/hooks/telltale", "x=1", `"username":"telltale"`} {
		if !strings.Contains(string(out), kept) {
			t.Errorf("redacted file lost %s:\n%s", kept, out)
		}
	}
	if r.Checks[0].Headers["Authorization"] != Secret || r.Channels[3].SMTP.Password != Secret || r.Checks[4].Token != Secret {
		t.Errorf("secrets not replaced by %s", Secret)
	}
	r.Checks[0].Labels["team"] = "changed"
	*r.Channels[0].SendResolved = false
	if f.Checks[0].Labels["team"] != "checkout" || !*f.Channels[0].SendResolved {
		t.Error("Redacted shares maps or pointers with the original")
	}
	if (*File)(nil).Redacted() != nil {
		t.Error("nil.Redacted() != nil")
	}
}

func TestDistance(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		d    int
	}{{"", "", 0}, {"intervl", "interval", 1}, {"kitten", "sitting", 3}, {"abc", "", 3}} {
		if got := distance(tt.a, tt.b); got != tt.d {
			t.Errorf("distance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.d)
		}
	}
	if s := suggest("cheks", []string{"checks", "rules"}); s != "checks" {
		t.Errorf("suggest = %q", s)
	}
	if s := suggest("zzz", []string{"checks", "rules"}); s != "" {
		t.Errorf("suggest = %q", s)
	}
}
