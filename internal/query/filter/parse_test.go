package filter

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in, want string // want is the normalised String() form
	}{
		{"", ""},
		{"  \t\n", ""},
		{"timeout", "timeout"},
		{`service:userstore level>=warn "insufficient credit" user=u42 request_id:3b9d41f8`,
			`service:userstore level>=warn "insufficient credit" user:u42 request_id:3b9d41f8`},
		// Precedence: NOT > AND > OR; implicit and explicit AND are the same.
		{"a OR b c", "a OR (b c)"},
		{"a OR b AND c", "a OR (b c)"},
		{"a b OR c", "(a b) OR c"},
		{"(a OR b) c", "(a OR b) c"},
		{"NOT a b", "NOT a b"},
		{"NOT (a b)", "NOT (a b)"},
		{"-a -(b OR c)", `NOT a NOT (b OR c)`},
		{"--a", "NOT NOT a"},
		{"NOT-a", "NOT-a"},
		// Redundant parentheses and nested operators of one kind flatten.
		{"((a))", "a"},
		{"a AND (b AND c)", "a b c"},
		{"(a OR b) OR (c OR d)", "a OR b OR c OR d"},
		{"(a)(b)", "a b"},
		// Lower-case keywords are words.
		{"connection not found", "connection not found"},
		{"a or b and c", "a or b and c"},
		{`"AND" "OR" "NOT"`, `"AND" "OR" "NOT"`},
		// Quoting and escapes.
		{`"a \"b\" \\c"`, `"a \"b\" \\c"`},
		{`"C:\temp"`, `"C:\\temp"`},
		{`""`, `""`},
		{`"a"b`, `a b`},
		{`"-x" "a:b" "x*"`, `"-x" "a:b" "x*"`},
		// A trailing * on text is redundant.
		{"time*", "time"},
		{`"time"*`, "time"},
		{"*", `""`},
		// Operators.
		{"f:v f=v f!=v f<v f<=v f>v f>=v", "f:v f:v f!=v f<v f<=v f>v f>=v"},
		{`user:"John Doe"`, `user:"John Doe"`},
		{`url:http://x.io/a?b=c`, `url:http://x.io/a?b=c`},
		{"f:=v", "f:=v"},
		{"f:-1", "f:-1"},
		{"f:AND", "f:AND"},
		// Prefix match.
		{"service:user*", "service:user*"},
		{`service:"user store"*`, `service:"user store"*`},
		{`service:"user*"`, `service:"user*"`},
		{"attr.k:*", `attr.k:*`},
		{"f:**", `f:"*"*`},
		// Words that do not start with a field name and an operator are text.
		{"12:30", `"12:30"`},
		{"hello!", `"hello!"`},
		{":x", `":x"`},
		// Field names.
		{"http.response.status_code>=500 x-request-id:abc _k:v", "http.response.status_code>=500 x-request-id:abc _k:v"},
		{"attr.service:x resource.k8s.pod.name:p", "attr.service:x resource.k8s.pod.name:p"},
		{"level:WARNING severity:err level<=13 level:0", "level:WARNING severity:err level<=13 level:0"},
		{"msg:time* body!=x", "msg:time* body!=x"},
		// Values end at parentheses.
		{"(service:a OR service:b) -env:dev", "(service:a OR service:b) NOT env:dev"},
		{"f:a(b)", "f:a b"},
	}
	for _, tt := range tests {
		e, err := Parse(tt.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.in, err)
			continue
		}
		if got := e.String(); got != tt.want {
			t.Errorf("Parse(%q).String() = %q, want %q", tt.in, got, tt.want)
		}
		e2, err := Parse(e.String())
		if err != nil || !reflect.DeepEqual(e, e2) {
			t.Errorf("Parse(%q) = %#v, %v; want %#v", e.String(), e2, err, e)
		}
	}
}

func TestParseTree(t *testing.T) {
	tests := []struct {
		in   string
		want Expr
	}{
		{"", And{}},
		{`a -b:"c d"* OR level>warn`, Or{
			And{Text{"a"}, Not{Term{Field: "b", Op: Eq, Value: "c d", Prefix: true}}},
			Term{Field: "level", Op: Gt, Value: "warn"},
		}},
		{"user=u42", Term{Field: "user", Op: Eq, Value: "u42"}},
		{`f!=""`, Term{Field: "f", Op: Ne, Value: ""}},
	}
	for _, tt := range tests {
		got, err := Parse(tt.in)
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Parse(%q) = %#v, %v; want %#v", tt.in, got, err, tt.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"service:userstore level>=", `filter: at 25: expected value after "level>="`},
		{"level>= warn", `filter: at 7: expected value after "level>="`},
		{"f:(a OR b)", `filter: at 2: expected value after "f:"`},
		{"a level:warnx", `filter: at 2: unknown level "warnx" (want trace, debug, info, warn, error or fatal)`},
		{"level:25", `filter: at 0: severity 25 out of range 0 to 24`},
		{"level:warn*", `filter: at 0: prefix match (*) does not apply to "level"`},
		{"f>a*", `filter: at 0: prefix match (*) needs ":" or "!=", not ">"`},
		{"msg>a", `filter: at 0: operator ">" does not apply to text field "msg", only ":" and "!="`},
		{"attr.:x", `filter: at 0: expected an attribute name after "attr."`},
		{"resource.=x", `filter: at 0: expected an attribute name after "resource."`},
		{"a (b c", `filter: at 2: unbalanced parenthesis`},
		{"a b) c", `filter: at 3: unbalanced parenthesis`},
		{"(a))", `filter: at 3: unbalanced parenthesis`},
		{"()", `filter: at 1: expected a term after "("`},
		{`x "abc`, `filter: at 2: unterminated quote`},
		{`f:"abc\"`, `filter: at 2: unterminated quote`},
		{"a AND", `filter: at 5: expected a term after "AND"`},
		{"a OR OR b", `filter: at 5: expected a term after "OR"`},
		{"OR a", `filter: at 0: expected a term, found "OR"`},
		{") a", `filter: at 0: expected a term, found ")"`},
		{"NOT", `filter: at 3: expected a term after "NOT"`},
		{"a - b", `filter: at 3: expected a term after "-"`},
		{"a -", `filter: at 3: expected a term after "-"`},
		{"(a -)", `filter: at 4: expected a term after "-"`},
		{"a \xff", `filter: at 2: invalid UTF-8`},
		{strings.Repeat("a ", 64) + "b", `filter: at 128: more than 64 terms`},
		{strings.Repeat("(", 17) + "a" + strings.Repeat(")", 17), `filter: at 16: nesting deeper than 16`},
		{strings.Repeat("-", 17) + "a", `filter: at 16: nesting deeper than 16`},
		{"-(" + strings.Repeat("NOT ", 15) + "a)", `filter: at 58: nesting deeper than 16`},
		{strings.Repeat("a", 4097), `filter: at 4096: query longer than 4096 bytes`},
	}
	for _, tt := range tests {
		e, err := Parse(tt.in)
		if err == nil {
			t.Errorf("Parse(%.40q) = %v, want error %s", tt.in, e, tt.want)
			continue
		}
		if err.Error() != tt.want {
			t.Errorf("Parse(%.40q): got error\n\t%s\nwant\n\t%s", tt.in, err, tt.want)
		}
		var fe *Error
		if !errors.As(err, &fe) {
			t.Errorf("Parse(%.40q): error %T is not *Error", tt.in, err)
		}
	}
}

func TestParseLimitsAccepted(t *testing.T) {
	for _, in := range []string{
		strings.Repeat("a ", 63) + "b",
		strings.Repeat("(", 16) + "a" + strings.Repeat(")", 16),
		strings.Repeat("-", 16) + "a",
		strings.Repeat(`"`+strings.Repeat("x", 61)+`" `, 64), // 4096 bytes
	} {
		if _, err := Parse(in); err != nil {
			t.Errorf("Parse(%.40q): %v", in, err)
		}
	}
}
