package alert

import "testing"

func TestCondition(t *testing.T) {
	tests := []struct {
		in       string
		v        float64
		breaches bool
		str      string
	}{
		{"> 5", 6, true, "> 5"},
		{">5", 5, false, "> 5"},
		{">= 5", 5, true, ">= 5"},
		{"<= 0.5", 0.5, true, "<= 0.5"},
		{"< 0.5", 0.5, false, "< 0.5"},
		{"== 0", 0, true, "== 0"},
		{"!= 0", 0, false, "!= 0"},
		{" > -1e3 ", -999, true, "> -1000"},
		{"absent", 0, false, "absent"},
	}
	for _, tt := range tests {
		c, err := ParseCondition(tt.in)
		if err != nil {
			t.Errorf("%q: %v", tt.in, err)
			continue
		}
		if c.Breaches(tt.v) != tt.breaches || c.String() != tt.str {
			t.Errorf("%q on %v: breaches %v, string %q", tt.in, tt.v, c.Breaches(tt.v), c.String())
		}
	}
	for _, bad := range []string{"", "5", "> ", "> five", "=> 5", "> NaN", "> Inf", "absent 5", "~ 5"} {
		if err := CheckCondition(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestCheckAnnotation(t *testing.T) {
	for _, good := range []string{"", "plain", "{{ .Value }}% on {{ .Labels.service }} over {{ .Threshold }}", `{{ index .Labels "a.b" }}`} {
		if err := CheckAnnotation(good); err != nil {
			t.Errorf("%q: %v", good, err)
		}
	}
	for _, bad := range []string{"{{ .Value", "{{ .Nope }}", "{{ template \"x\" }}", "{{ .Value.Foo }}"} {
		if err := CheckAnnotation(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}
