package filter

import (
	"database/sql"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	_ "github.com/duckdb/duckdb-go/v2"

	"github.com/fibinc/telltale/internal/query/dialect"
)

// logsDDL copies the logs columns of internal/store/duckdb/schema.go, which
// this package must not import.
const logsDDL = `CREATE TABLE logs (
	timestamp              TIMESTAMP NOT NULL,
	observed_timestamp     TIMESTAMP NOT NULL,
	trace_id               VARCHAR   NOT NULL,
	span_id                VARCHAR   NOT NULL,
	severity_number        INTEGER   NOT NULL,
	severity_text          VARCHAR   NOT NULL,
	body                   VARCHAR   NOT NULL,
	request_id             VARCHAR   NOT NULL,
	service_name           VARCHAR   NOT NULL,
	service_version        VARCHAR   NOT NULL,
	service_instance_id    VARCHAR   NOT NULL,
	deployment_environment VARCHAR   NOT NULL,
	host_name              VARCHAR   NOT NULL,
	availability_zone      VARCHAR   NOT NULL,
	resource_attributes    JSON      NOT NULL,
	scope_name             VARCHAR   NOT NULL,
	scope_version          VARCHAR   NOT NULL,
	attributes             JSON      NOT NULL,
	event_name             VARCHAR   NOT NULL,
	source                 VARCHAR   NOT NULL
)`

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

func openLogs(t *testing.T) *sql.DB {
	t.Helper()
	db, err := sql.Open("duckdb", filepath.Join(t.TempDir(), "logs.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Exec(logsDDL); err != nil {
		t.Fatal(err)
	}
	ts := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, l := range testLogs {
		_, err := db.Exec(`INSERT INTO logs VALUES (?, ?, '', ?, ?, '', ?, ?, ?, '1.0', 'i-1', ?, 'h1', 'z1', ?, 'scope', '', ?, '', 'otlp')`,
			ts, ts, l.span, l.severity, l.body, l.requestID, l.service, l.env, l.resource, l.attrs)
		if err != nil {
			t.Fatalf("insert %s: %v", l.span, err)
		}
	}
	return db
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

func selectSpans(db *sql.DB, query string, args []any) (string, error) {
	rows, err := db.Query(query, args...)
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
