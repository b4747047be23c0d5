package uptime

import (
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)

func TestCondition(t *testing.T) {
	body := `{"status":"UP","version":"1.0","count":3,"items":[{"id":7,"state":"running"},{"id":8,"state":"stopped"}],
		"empty":[],"name":"john smith","ok":true,"nothing":null,"age":7,"meta":{"a":1,"b":2}}`
	res := func() *Result {
		return &Result{
			At: t0, Connected: true, Status: 200, Body: []byte(body), Duration: 123 * time.Millisecond,
			IP: "127.0.0.1", CertExpiry: t0.Add(72 * time.Hour), DNSRcode: "NOERROR",
		}
	}
	down := func() *Result {
		return &Result{At: t0, Status: 503, Body: []byte("Service Unavailable"), Duration: 2 * time.Second}
	}
	tests := []struct {
		cond   string
		r      func() *Result
		ok     bool
		actual string
	}{
		{"[STATUS] == 200", res, true, "[STATUS] (200) == 200"},
		{"[STATUS] == 200", down, false, "[STATUS] (503) == 200"},
		{"[STATUS] != 200", down, true, "[STATUS] (503) != 200"},
		{"[STATUS] < 300", res, true, "[STATUS] (200) < 300"},
		{"[STATUS] >= 500", down, true, "[STATUS] (503) >= 500"},
		{"[STATUS] <= 199", res, false, "[STATUS] (200) <= 199"},
		{"[STATUS] > 199", res, true, "[STATUS] (200) > 199"},
		{"[STATUS] == any(200, 429)", res, true, "[STATUS] (200) == any(200, 429)"},
		{"[STATUS] == any(200, 429)", down, false, "[STATUS] (503) == any(200, 429)"},
		{"[STATUS] != any(500, 503)", down, false, "[STATUS] (503) != any(500, 503)"},
		{"any(200, 204) == [STATUS]", res, true, "any(200, 204) == [STATUS] (200)"},
		{"[STATUS] == pat(2*)", res, true, "[STATUS] (200) == pat(2*)"},
		{"[STATUS] == pat(2*)", down, false, "[STATUS] (503) == pat(2*)"},
		{"[RESPONSE_TIME] < 500", res, true, "[RESPONSE_TIME] (123) < 500"},
		{"[RESPONSE_TIME] < 500", down, false, "[RESPONSE_TIME] (2000) < 500"},
		{"[RESPONSE_TIME] < 1s", res, true, "[RESPONSE_TIME] (123) < 1s"},
		{"[BODY].status == UP", res, true, "[BODY].status (UP) == UP"},
		{`[BODY].status == "UP"`, res, true, `[BODY].status (UP) == "UP"`},
		{"[BODY].status == UP", down, false, "[BODY].status (missing) == UP"},
		{"[BODY].status != UP", down, false, "[BODY].status (missing) != UP"},
		{"[BODY].version == 1.0", res, true, "[BODY].version (1.0) == 1.0"},
		{"[BODY].version == 1", res, true, "[BODY].version (1.0) == 1"},
		{"[BODY].count > 2", res, true, "[BODY].count (3) > 2"},
		{"[BODY].items[0].state == running", res, true, "[BODY].items[0].state (running) == running"},
		{"[BODY].items[1].id == 8", res, true, "[BODY].items[1].id (8) == 8"},
		{"[BODY].items[2].id == 9", res, false, "[BODY].items[2].id (missing) == 9"},
		{"[BODY].items[0] == x", res, false, `[BODY].items[0] ({"id":7,"state":"running"}) == x`},
		{"len([BODY].items) == 2", res, true, "len([BODY].items) (2) == 2"},
		{"len([BODY].empty) > 0", res, false, "len([BODY].empty) (0) > 0"},
		{"len([BODY].meta) == 2", res, true, "len([BODY].meta) (2) == 2"},
		{"len([BODY].name) == 10", res, true, "len([BODY].name) (10) == 10"},
		{"len([BODY]) == 19", down, true, "len([BODY]) (19) == 19"},
		{"has([BODY].nothing) == true", res, true, "has([BODY].nothing) (true) == true"},
		{"has([BODY].errors) == false", res, true, "has([BODY].errors) (false) == false"},
		{"has([BODY].errors) == true", down, false, "has([BODY].errors) (false) == true"},
		{"[BODY].name == pat(john*)", res, true, "[BODY].name (john smith) == pat(john*)"},
		{"[BODY].name == pat(*smith)", res, true, "[BODY].name (john smith) == pat(*smith)"},
		{"[BODY].name == pat(j*n*h)", res, true, "[BODY].name (john smith) == pat(j*n*h)"},
		{"[BODY].name != pat(jane*)", res, true, "[BODY].name (john smith) != pat(jane*)"},
		{"[BODY].ok == true", res, true, "[BODY].ok (true) == true"},
		{"[BODY].nothing == null", res, true, "[BODY].nothing (null) == null"},
		{"[BODY].age == [BODY].items[0].id", res, true, "[BODY].age (7) == [BODY].items[0].id (7)"},
		{"[BODY] == pat(*Unavailable)", down, true, "[BODY] (Service Unavailable) == pat(*Unavailable)"},
		{"[BODY].status < 5", res, false, "[BODY].status (UP) < 5"},
		{"[CERTIFICATE_EXPIRATION] > 48h", res, true, "[CERTIFICATE_EXPIRATION] (72h0m0s) > 48h"},
		{"[CERTIFICATE_EXPIRATION] > 7d", res, false, "[CERTIFICATE_EXPIRATION] (72h0m0s) > 7d"},
		{"[CERTIFICATE_EXPIRATION] > 259200000", res, false, "[CERTIFICATE_EXPIRATION] (72h0m0s) > 259200000"},
		{"[CERTIFICATE_EXPIRATION] >= 259200000", res, true, "[CERTIFICATE_EXPIRATION] (72h0m0s) >= 259200000"},
		{"[CERTIFICATE_EXPIRATION] > 48h", down, false, "[CERTIFICATE_EXPIRATION] (0s) > 48h"},
		{"[IP] == 127.0.0.1", res, true, "[IP] (127.0.0.1) == 127.0.0.1"},
		{"[IP] == pat(10.*)", res, false, "[IP] (127.0.0.1) == pat(10.*)"},
		{"[CONNECTED] == true", res, true, "[CONNECTED] (true) == true"},
		{"[CONNECTED] == true", down, false, "[CONNECTED] (false) == true"},
		{"[DNS_RCODE] == NOERROR", res, true, "[DNS_RCODE] (NOERROR) == NOERROR"},
		{"[DNS_RCODE] == NXDOMAIN", res, false, "[DNS_RCODE] (NOERROR) == NXDOMAIN"},
		{"[BODY].status == a < b", res, false, "[BODY].status (UP) == a < b"},
	}
	for _, tt := range tests {
		c, err := ParseCondition(tt.cond)
		if err != nil {
			t.Errorf("ParseCondition(%q): %v", tt.cond, err)
			continue
		}
		got := c.Eval(tt.r())
		if got.OK != tt.ok || got.Actual != tt.actual || got.Condition != tt.cond {
			t.Errorf("%q: got %+v, want ok=%v actual %q", tt.cond, got, tt.ok, tt.actual)
		}
	}
}

func TestConditionErrors(t *testing.T) {
	tests := []struct{ cond, want string }{
		{"", "want <left> <op> <right>"},
		{"[STATUS]==200", "a space on each side"},
		{"[STATUS] 200", "want <left> <op> <right>"},
		{"[STATUS] ==", "want <left> <op> <right>"},
		{"[STATUS] =~ 200", "want <left> <op> <right>"},
		{"[STAUTS] == 200", "unknown placeholder [STAUTS]"},
		{"[STATUS].code == 200", "[STATUS] takes no path"},
		{"[BODY].a..b == 1", "empty key"},
		{"[BODY].a[x] == 1", `index "x" is not a number`},
		{"[BODY].a[-1] == 1", `index "-1" is not a number`},
		{"[BODY].a[0 == 1", "want <left> <op> <right>"},
		{"[BODY]a == 1", "want .key or [index]"},
		{"[BODY].name < pat(j*)", "pat() works only with == and !="},
		{"[STATUS] > any(1, 2)", "any() works only with == and !="},
		{"len(200) > 1", `len(): "200" is not a placeholder`},
		{"has([NOPE]) == true", "unknown placeholder [NOPE]"},
		{"size([BODY]) > 1", "unknown function size()"},
		{"[STATUS] == any()", "any() needs at least one value"},
		{"[STATUS] == pat()", "pat() needs a pattern"},
		{"any(1) == any(2)", "any() on both sides"},
		{"[STATUS] == any(len([BODY]))", "is not a value or placeholder"},
	}
	for _, tt := range tests {
		err := CheckCondition(tt.cond)
		if err == nil {
			t.Errorf("CheckCondition(%q) = nil, want error with %q", tt.cond, tt.want)
			continue
		}
		if !strings.Contains(err.Error(), tt.want) {
			t.Errorf("CheckCondition(%q) = %v, want it to contain %q", tt.cond, err, tt.want)
		}
	}
}

func FuzzParseCondition(f *testing.F) {
	for _, s := range []string{
		"[STATUS] == 200", "[BODY].items[0].state == pat(run*)", "len([BODY].items) > 0",
		"has([BODY].x) == false", "[STATUS] == any(200, 429)", "[CERTIFICATE_EXPIRATION] > 48h",
		`[BODY].a == "x y"`, "[BODY][0] != [BODY][1]", "[RESPONSE_TIME] <= 1e3", "any(1, [STATUS]) == 2",
	} {
		f.Add(s, `{"items":[{"state":"running"}],"a":"x y","x":1}`)
	}
	f.Fuzz(func(t *testing.T, s, body string) {
		c, err := ParseCondition(s)
		if err != nil {
			if !strings.Contains(err.Error(), "condition") {
				t.Errorf("error %q does not say it is about a condition", err)
			}
			return
		}
		if c.String() != s {
			t.Errorf("String() = %q, want %q", c.String(), s)
		}
		// A parsed condition evaluates without panicking, says what it
		// evaluated, and keeps its operator between the resolved sides.
		r := &Result{At: t0, Status: 200, Body: []byte(body), Connected: true}
		got := c.Eval(r)
		if got.Condition != s || !strings.Contains(got.Actual, " "+c.op+" ") {
			t.Errorf("Eval(%q) = %+v", s, got)
		}
		if again := c.Eval(r); again != got {
			t.Errorf("Eval(%q) not deterministic: %+v then %+v", s, got, again)
		}
		// Negation flips the outcome for == and !=, unless a side is missing.
		if c.op == "==" && !strings.Contains(got.Actual, "(missing)") {
			neg, err := ParseCondition(strings.Replace(s, " == ", " != ", 1))
			if err == nil && neg.op == "!=" && neg.left.text == c.left.text && neg.right.text == c.right.text {
				if n := neg.Eval(r); n.OK == got.OK {
					t.Errorf("%q and its negation both %v", s, got.OK)
				}
			}
		}
	})
}
