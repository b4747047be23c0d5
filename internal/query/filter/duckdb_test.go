package filter

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fibinc/telltale/internal/query/dialect"
	"github.com/fibinc/telltale/internal/store/duckdb"
	"github.com/fibinc/telltale/internal/telemetry"
)

// testLog is a row of the logs table; the test names rows by span_id.
type testLog struct {
	span, service, env string
	severity           int
	body               string
	attrs, resource    string
	requestID          string
}

var testLogs = []testLog{
	{"s01", "userstore", "prod", 13, "insufficient credit for order 7", `{"user":"u42","latency":9,"http.status":200}`, `{}`, "3b9d41f8aa"},
	{"s02", "userstore", "dev", 17, "Insufficient Credit", `{"user":"u7","latency":"12.5"}`, `{}`, "77"},
	{"s03", "billing", "prod", 9, "payment accepted", `{"user":"u42"}`, `{}`, ""},
	{"s04", "billing", "prod", 5, "100% done_ok", `{}`, `{}`, ""},
	{"s05", "gateway", "prod", 21, `quote "x" and back\slash`, `{"latency":"abc"}`, `{"k8s.pod.name":"gw-1"}`, ""},
	{"s06", "users-api", "staging", 1, "connection not found", `{"latency":100}`, `{}`, ""},
	{"s07", "user_store", "prod", 16, "retrying", `{"user":"u420"}`, `{}`, ""},
	{"s08", "gateway", "dev", 12, "Timeout after 30s", `{"service":"inner"}`, `{"k8s.pod.name":"gw-2"}`, "3b9d41f8bb"},
	{"s09", "billing", "dev", 20, "payment failed: card declined", `{"user":"u7","amount":1200.5}`, `{}`, ""},
	{"s10", "auth", "prod", 0, "", `{}`, `{}`, ""},
	{"s11", "auth", "prod", 24, "panic: nil map", `{"user":null}`, `{}`, ""},
	{"s12", "userstore", "prod", 9, "cache hit", `{"user":"U42"}`, `{}`, ""},
}

// openLogs writes testLogs to a real store in a temporary directory.
func openLogs(t *testing.T) *duckdb.Store {
	t.Helper()
	st, err := duckdb.Open(context.Background(), duckdb.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ts := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	b := &telemetry.Batch{}
	for _, l := range testLogs {
		b.Logs = append(b.Logs, telemetry.Log{
			Resource: telemetry.Resource{ServiceName: l.service, ServiceVersion: "1.0", InstanceID: "i-1", Environment: l.env,
				Host: "h1", AvailabilityZone: "z1", Attributes: l.resource},
			Scope: telemetry.Scope{Name: "scope"}, Time: ts, ObservedTime: ts, SpanID: l.span,
			Severity: int32(l.severity), Body: l.body, RequestID: l.requestID, Attributes: l.attrs, Source: "otlp",
		})
	}
	if err := st.Write(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	return st
}

func TestFiltersOnDuckDB(t *testing.T) {
	db := openLogs(t)
	tests := []struct {
		filter string
		want   string // span IDs of the selected rows, space separated
	}{
		{"", "s01 s02 s03 s04 s05 s06 s07 s08 s09 s10 s11 s12"},
		{`service:userstore level>=warn "insufficient credit" user=u42 request_id:3b9d41f8*`, "s01"},
		{`"insufficient CREDIT"`, "s01 s02"},
		{`"100%"`, "s04"},
		{`done_ok`, "s04"},
		{`"d_ne"`, ""},
		{`"\"x\"" "back\\slash"`, "s05"},
		{`msg:timeout`, "s08"},
		{`-body:a`, "s01 s02 s04 s06 s07 s10"},
		{`service:user*`, "s01 s02 s06 s07 s12"},
		{`service:user_*`, "s07"},
		{`service!=userstore service!=billing`, "s05 s06 s07 s08 s10 s11"},
		{`service:gateway OR service:auth -level:fatal`, "s05 s08 s10"},
		{`(service:gateway OR service:auth) -level:fatal`, "s08 s10"},
		{`NOT (env:prod OR env:dev)`, "s06"},
		{`level:warn`, "s01 s07"},
		{`level:WARNING`, "s01 s07"},
		{`level!=warn level>info`, "s02 s05 s09 s11"},
		{`level>=error`, "s02 s05 s09 s11"},
		{`level>error`, "s05 s11"},
		{`level<debug`, "s06 s10"},
		{`level<=debug`, "s04 s06 s10"},
		{`level:24`, "s11"},
		{`level>16 level<21`, "s02 s09"},
		{`user:u42`, "s01 s03"},
		{`user:u42*`, "s01 s03 s07"},
		{`user:*`, "s01 s02 s03 s07 s09 s12"},
		{`-user:*`, "s04 s05 s06 s08 s10 s11"},
		{`user!=u42`, "s02 s04 s05 s06 s07 s08 s09 s10 s11 s12"},
		{`-user:u42`, "s02 s04 s05 s06 s07 s08 s09 s10 s11 s12"},
		{`latency>10`, "s02 s06"},
		{`latency<=9`, "s01"},
		{`-latency>10`, "s01 s03 s04 s05 s07 s08 s09 s10 s11 s12"},
		{`latency>=abc`, "s05"},
		{`amount>1000`, "s09"},
		{`http.status:200`, "s01"},
		{`service:inner`, ""},
		{`attr.service:inner`, "s08"},
		{`resource.k8s.pod.name:gw-1`, "s05"},
		{`resource.k8s.pod.name:gw*`, "s05 s08"},
		{`service.name:auth resource.service.name:auth`, "s10 s11"},
		{`source:otlp host:h1 zone:z1 version:1.0 instance:i-1 scope:scope`, "s01 s02 s03 s04 s05 s06 s07 s08 s09 s10 s11 s12"},
		{`-source:otlp`, ""},
		{`""`, "s01 s02 s03 s04 s05 s06 s07 s08 s09 s10 s11 s12"},
	}
	for _, tt := range tests {
		e, err := Parse(tt.filter)
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.filter, err)
			continue
		}
		where, args, err := Compile(e, dialect.DuckDB{})
		if err != nil {
			t.Errorf("Compile(%q): %v", tt.filter, err)
			continue
		}
		// No parentheses around where: Compile promises it is self-contained.
		got, err := selectSpans(db, "SELECT span_id FROM logs WHERE TRUE AND "+where+" ORDER BY span_id", args)
		if err != nil {
			t.Errorf("filter %q: %v\n\t%s", tt.filter, err, where)
			continue
		}
		if got != tt.want {
			t.Errorf("filter %q selected %q, want %q\n\t%s %v", tt.filter, got, tt.want, where, args)
		}
	}
}

func selectSpans(db *duckdb.Store, query string, args []any) (string, error) {
	rows, err := db.Query(context.Background(), query, args...)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	var spans []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return "", err
		}
		spans = append(spans, s)
	}
	slices.Sort(spans)
	return strings.Join(spans, " "), rows.Err()
}

func TestOddFiltersRun(t *testing.T) {
	db := openLogs(t)
	for _, f := range oddFilters {
		e, err := Parse(f)
		if err != nil {
			t.Errorf("Parse(%q): %v", f, err)
			continue
		}
		where, args, err := Compile(e, dialect.DuckDB{})
		if err != nil {
			t.Errorf("Compile(%q): %v", f, err)
			continue
		}
		if _, err := selectSpans(db, "SELECT span_id FROM logs WHERE "+where, args); err != nil {
			t.Errorf("filter %q: %v\n\t%s", f, err, where)
		}
	}
}
