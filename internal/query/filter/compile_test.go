package filter

import (
	"reflect"
	"strings"
	"testing"

	"github.com/fibinc/telltale/internal/query/dialect"
)

func TestCompile(t *testing.T) {
	const body = `contains(lower(body), ?)`
	tests := []struct {
		in   string
		sql  string
		args []any
	}{
		{"", "TRUE", nil},
		{"Timeout", body, []any{"timeout"}},
		{`"100% done_ok"`, body, []any{"100% done_ok"}},
		{`service:userstore level>=warn "insufficient credit" user=u42`,
			"(service_name = ? AND severity_number >= ? AND " + body +
				" AND COALESCE(json_extract_string(attributes, ?) = ?, FALSE))",
			[]any{"userstore", 13, "insufficient credit", `$."user"`, "u42"}},
		{"a OR b -c", "(" + body + " OR (" + body + " AND NOT (" + body + ")))",
			[]any{"a", "b", "c"}},
		{"-(a OR b)", "NOT ((" + body + " OR " + body + "))", []any{"a", "b"}},
		// Known fields.
		{"service:a version:b instance:c env:d environment:e host:f zone:g",
			"(service_name = ? AND service_version = ? AND service_instance_id = ? AND deployment_environment = ? AND deployment_environment = ? AND host_name = ? AND availability_zone = ?)",
			[]any{"a", "b", "c", "d", "e", "f", "g"}},
		{"trace_id:a span_id:b request_id:c scope:d source:e event:f event_name:g severity_text:h",
			"(trace_id = ? AND span_id = ? AND request_id = ? AND scope_name = ? AND source = ? AND event_name = ? AND event_name = ? AND severity_text = ?)",
			[]any{"a", "b", "c", "d", "e", "f", "g", "h"}},
		{"service.name:a deployment.environment.name:b resource.host.name:c",
			"(service_name = ? AND deployment_environment = ? AND host_name = ?)", []any{"a", "b", "c"}},
		{"service!=a", "NOT (service_name = ?)", []any{"a"}},
		{"service>=a", "service_name >= ?", []any{"a"}},
		{"service:us_er*", `service_name LIKE ? ESCAPE '\'`, []any{`us\_er%`}},
		{"service!=user*", `NOT (service_name LIKE ? ESCAPE '\')`, []any{`user%`}},
		// Text fields.
		{"msg:oops message:x* body!=y", "(" + body + " AND " + body + " AND NOT (" + body + "))",
			[]any{"oops", "x", "y"}},
		// Levels by name cover their OpenTelemetry range.
		{"level:warn", "(severity_number >= ? AND severity_number < ?)", []any{13, 17}},
		{"severity:FATAL", "(severity_number >= ? AND severity_number < ?)", []any{21, 25}},
		{"level!=info", "NOT ((severity_number >= ? AND severity_number < ?))", []any{9, 13}},
		{"level>warn", "severity_number >= ?", []any{17}},
		{"level>=warning", "severity_number >= ?", []any{13}},
		{"level<error", "severity_number < ?", []any{17}},
		{"level<=err", "severity_number < ?", []any{21}},
		{"level:13", "(severity_number >= ? AND severity_number < ?)", []any{13, 14}},
		{"level>13", "severity_number >= ?", []any{14}},
		{"level<=13", "severity_number < ?", []any{14}},
		// Attributes.
		{"attr.service:x", "COALESCE(json_extract_string(attributes, ?) = ?, FALSE)", []any{`$."service"`, "x"}},
		{"resource.k8s.pod.name:p", "COALESCE(json_extract_string(resource_attributes, ?) = ?, FALSE)",
			[]any{`$."k8s.pod.name"`, "p"}},
		{"http.status:200", "COALESCE(json_extract_string(attributes, ?) = ?, FALSE)", []any{`$."http.status"`, "200"}},
		{"latency>2.5", "COALESCE(TRY_CAST(json_extract_string(attributes, ?) AS DOUBLE) > ?, FALSE)",
			[]any{`$."latency"`, 2.5}},
		{"code<=abc", "COALESCE(json_extract_string(attributes, ?) <= ?, FALSE)", []any{`$."code"`, "abc"}},
		{"n<Inf", "COALESCE(json_extract_string(attributes, ?) < ?, FALSE)", []any{`$."n"`, "Inf"}},
		{"user!=u42", "NOT (COALESCE(json_extract_string(attributes, ?) = ?, FALSE))", []any{`$."user"`, "u42"}},
		{"user:*", `COALESCE(json_extract_string(attributes, ?) LIKE ? ESCAPE '\', FALSE)`, []any{`$."user"`, "%"}},
	}
	for _, tt := range tests {
		e, err := Parse(tt.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.in, err)
			continue
		}
		sql, args, err := Compile(e, dialect.DuckDB{})
		if err != nil {
			t.Errorf("Compile(%q): %v", tt.in, err)
			continue
		}
		if sql != tt.sql || !reflect.DeepEqual(args, tt.args) {
			t.Errorf("Compile(%q) =\n\t%s %#v\nwant\n\t%s %#v", tt.in, sql, args, tt.sql, tt.args)
		}
	}
}

// TestCompileInvalid covers trees built by hand rather than by Parse, which
// rejects the same mistakes with an offset.
func TestCompileInvalid(t *testing.T) {
	tests := []struct {
		e    Expr
		want string
	}{
		{Term{Field: "level", Op: Eq, Value: "loud"},
			`filter: cannot compile level:loud: unknown level "loud" (want trace, debug, info, warn, error or fatal)`},
		{And{Text{"a"}, Not{Term{Field: "f", Op: "~", Value: "x"}}}, `filter: cannot compile f~x: unknown operator "~"`},
		{Or{Term{Field: "body", Op: Lt, Value: "x"}},
			`filter: cannot compile body<x: operator "<" does not apply to text field "body", only ":" and "!="`},
	}
	for _, tt := range tests {
		sql, _, err := Compile(tt.e, dialect.DuckDB{})
		if err == nil || err.Error() != tt.want {
			t.Errorf("Compile(%v) = %q, %v; want error %s", tt.e, sql, err, tt.want)
		}
	}
}

func TestCompileNil(t *testing.T) {
	sql, args, err := Compile(nil, dialect.DuckDB{})
	if sql != "TRUE" || args != nil || err != nil {
		t.Errorf("Compile(nil) = %q, %v, %v; want TRUE", sql, args, err)
	}
}

const benchQuery = `service:userstore level>=warn "insufficient credit" (user=u42 OR user:u7*) -env:dev latency>250`

func BenchmarkParse(b *testing.B) {
	for b.Loop() {
		if _, err := Parse(benchQuery); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCompile(b *testing.B) {
	e, err := Parse(benchQuery)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, _, err := Compile(e, dialect.DuckDB{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseLongest(b *testing.B) {
	q := strings.Repeat(`"`+strings.Repeat("x", 61)+`" `, MaxTerms)
	for b.Loop() {
		if _, err := Parse(q); err != nil {
			b.Fatal(err)
		}
	}
}
