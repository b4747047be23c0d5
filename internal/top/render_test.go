package top

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

var frameTime = time.Date(2026, 5, 4, 10, 1, 0, 0, time.UTC)

func frameOf(rows ...Row) Frame {
	return Frame{Server: "http://localhost:4320", Window: time.Minute, Time: frameTime, Rows: rows}
}

func TestRenderGolden(t *testing.T) {
	fleet := []Row{
		{Name: "fibfrontend", Up: 2, Instances: 3, Requests: 1234, Errors: 7, Rate: 20.57, HasLatency: true, P50: 12300 * time.Microsecond, P95: 1200 * time.Millisecond},
		{Name: "pricing", Up: 1, Instances: 1, Requests: 1200, Errors: 0, Rate: 20, HasLatency: true, P50: 850 * time.Microsecond, P95: 4567 * time.Microsecond},
		{Name: "userstore", Up: 1, Instances: 1, Requests: 15, Errors: 15, Rate: 0.25, HasLatency: true, P50: 2 * time.Millisecond, P95: 3 * time.Millisecond},
	}
	var many []Row
	for i := range 40 {
		many = append(many, Row{Name: fmt.Sprintf("svc-%02d", i), Up: i % 3, Instances: 2, Requests: int64(i * 100), Errors: int64(i), Rate: float64(i) * 1.7, HasLatency: i > 0, P50: time.Duration(i) * time.Millisecond, P95: time.Duration(i*i) * time.Millisecond})
	}
	withEnv := frameOf(fleet[:2]...)
	withEnv.Env = "prod"
	emptyEnv := frameOf()
	emptyEnv.Env = "staging"
	longServer := frameOf(fleet[:1]...)
	longServer.Server = "https://telltale.observability.internal.example.com:4320/some/proxy/prefix"
	longServer.Env = "production-eu-west-1"
	failed := frameOf()
	failed.Err = errors.New("cannot reach the server at http://127.0.0.1:1: dial tcp 127.0.0.1:1: connect: connection refused; and a-word-far-longer-than-any-line-could-hold-" + strings.Repeat("x", 100))
	local := frameOf(fleet...)
	local.Time = frameTime.In(time.FixedZone("CEST", 2*3600))
	local.Window = 90 * time.Second

	tests := []struct {
		name  string
		frame Frame
	}{
		{"fleet", frameOf(fleet...)},
		{"env", withEnv},
		{"local_time", local},
		{"long_names", frameOf(
			Row{Name: "a-service-with-a-name-far-too-long-for-its-column", Up: 1, Instances: 1, Requests: 1, Rate: 0.02, HasLatency: true, P50: time.Millisecond, P95: time.Millisecond},
			Row{Name: "exactly-thirty-characters-long", Up: 1, Instances: 1},
			Row{Name: "thirty-one-characters-long-name", Up: 1, Instances: 1},
			Row{Name: "ünïcödé-sérvïcé-nämé-whïch-ïs-tóó-lóng", Up: 0, Instances: 12345678},
			Row{Name: "bad\x1b[2Jname\n", Up: 1, Instances: 1},
		)},
		{"long_server", longServer},
		{"zero_traffic", frameOf()},
		{"zero_traffic_env", emptyEnv},
		{"no_latency", frameOf(
			Row{Name: "logs-only", Up: 1, Instances: 1},
			Row{Name: "requests-without-latency", Up: 1, Instances: 2, Requests: 3, Errors: 1, Rate: 0.05},
		)},
		{"many_services", frameOf(many...)},
		{"units", frameOf(
			Row{Name: "tiny", Up: 1, Instances: 1, Requests: 1, Rate: 0.001, HasLatency: true, P50: 400 * time.Nanosecond, P95: 999 * time.Microsecond},
			Row{Name: "kilo", Up: 1, Instances: 1, Requests: 100000, Errors: 1, Rate: 1234, HasLatency: true, P50: 999600 * time.Microsecond, P95: 12 * time.Second},
			Row{Name: "mega", Up: 9, Instances: 9, Requests: 1000000, Errors: 999999, Rate: 2.5e6, HasLatency: true, P50: 45 * time.Minute, P95: 400 * 24 * time.Hour},
		)},
		{"error", failed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			if err := Render(&b, tt.frame); err != nil {
				t.Fatal(err)
			}
			got := b.String()
			checkWidth(t, got)
			golden(t, filepath.Join("testdata", tt.name+".golden"), got)
		})
	}
}

// checkWidth fails if a line is wider than 80 columns or carries a control
// character.
func checkWidth(t *testing.T, text string) {
	t.Helper()
	for i, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		if n := utf8.RuneCountInString(line); n > lineWidth {
			t.Errorf("line %d is %d columns wide: %q", i+1, n, line)
		}
		if strings.ContainsFunc(line, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			t.Errorf("line %d has a control character: %q", i+1, line)
		}
	}
}

func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (run with -update to accept):\n--- got\n%s--- want\n%s", path, got, want)
	}
}

func TestFormat(t *testing.T) {
	rates := []struct {
		in   float64
		want string
	}{
		{0, "0/s"}, {-1, "0/s"}, {0.001, "<0.01/s"}, {0.005, "0.01/s"}, {0.25, "0.25/s"}, {1.0 / 60, "0.02/s"},
		{2.5, "2.5/s"}, {3, "3/s"}, {9.996, "10/s"}, {12.54, "12.5/s"}, {99.96, "100/s"}, {250, "250/s"},
		{999.4, "999/s"}, {999.5, "1k/s"}, {1234, "1.2k/s"}, {12345, "12k/s"}, {999_600, "1M/s"}, {2.5e6, "2.5M/s"},
		{3e9, "3G/s"}, {1e15, ">999G/s"},
	}
	for _, tt := range rates {
		if got := formatRate(tt.in); got != tt.want {
			t.Errorf("formatRate(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
	durations := []struct {
		in   time.Duration
		want string
	}{
		{0, "0µs"}, {400, "0µs"}, {850 * time.Microsecond, "850µs"}, {999499, "999µs"}, {999500, "1.00ms"},
		{1234567, "1.23ms"}, {12300 * time.Microsecond, "12.3ms"}, {99960 * time.Microsecond, "100ms"},
		{999499 * time.Microsecond, "999ms"}, {999500 * time.Microsecond, "1.00s"}, {1200 * time.Millisecond, "1.20s"},
		{90 * time.Second, "90.0s"}, {45 * time.Minute, "2700s"}, {1 << 62, ">9999999s"},
	}
	for _, tt := range durations {
		if got := formatDuration(tt.in); got != tt.want {
			t.Errorf("formatDuration(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
	percents := []struct {
		errors, requests int64
		want             string
	}{
		{0, 10, "0%"}, {1, 100000, "<0.1%"}, {1, 1000, "0.1%"}, {1, 3, "33.3%"}, {9989, 10000, "99.9%"},
		{99999, 100000, ">99.9%"}, {5, 5, "100%"}, {7, 5, "100%"},
	}
	for _, tt := range percents {
		if got := formatPercent(tt.errors, tt.requests); got != tt.want {
			t.Errorf("formatPercent(%d, %d) = %q, want %q", tt.errors, tt.requests, got, tt.want)
		}
	}
	windows := []struct {
		in   time.Duration
		want string
	}{
		{time.Minute, "1m"}, {90 * time.Second, "1m30s"}, {time.Hour, "1h"}, {90 * time.Minute, "1h30m"},
		{30 * time.Second, "30s"}, {500 * time.Millisecond, "500ms"}, {25 * time.Hour, "25h"},
	}
	for _, tt := range windows {
		if got := formatWindow(tt.in); got != tt.want {
			t.Errorf("formatWindow(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
	truncs := []struct {
		in   string
		n    int
		want string
	}{
		{"abc", 3, "abc"}, {"abcd", 3, "ab…"}, {"ääää", 3, "ää…"}, {"a\tb", 5, "a?b"}, {"a\xffb", 5, "a?b"},
	}
	for _, tt := range truncs {
		if got := truncate(tt.in, tt.n); got != tt.want {
			t.Errorf("truncate(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
		}
	}
}

func TestRows(t *testing.T) {
	now := frameTime
	inst := func(env string, ago time.Duration) Instance {
		return Instance{ID: env, Environment: env, LastSeen: now.Add(-ago)}
	}
	svcs := []Service{
		{Name: "zeta", Requests: 10, RequestErrors: 2, RequestRate: 10.0 / 60, Latency: &Latency{P50: 1.5, P95: 20},
			Instances: []Instance{inst("prod", time.Second), inst("prod", 30*time.Second), inst("prod", 31*time.Second), inst("dev", 0)}},
		{Name: "alpha", Instances: []Instance{inst("dev", 10*time.Second)}},
		{Name: "mid", Requests: 0, Latency: &Latency{P50: 5}, Instances: []Instance{}},
	}
	tests := []struct {
		name   string
		window time.Duration
		env    string
		want   []Row
	}{
		{"all", time.Minute, "", []Row{
			{Name: "alpha", Up: 1, Instances: 1},
			{Name: "mid"},
			{Name: "zeta", Up: 3, Instances: 4, Requests: 10, Errors: 2, Rate: 10.0 / 60, HasLatency: true, P50: 1500 * time.Microsecond, P95: 20 * time.Millisecond},
		}},
		{"short window", 5 * time.Second, "", []Row{
			{Name: "alpha", Up: 0, Instances: 1},
			{Name: "mid"},
			{Name: "zeta", Up: 2, Instances: 4, Requests: 10, Errors: 2, Rate: 10.0 / 60, HasLatency: true, P50: 1500 * time.Microsecond, P95: 20 * time.Millisecond},
		}},
		{"prod", time.Minute, "prod", []Row{
			{Name: "zeta", Up: 2, Instances: 3, Requests: 10, Errors: 2, Rate: 10.0 / 60, HasLatency: true, P50: 1500 * time.Microsecond, P95: 20 * time.Millisecond},
		}},
		{"unknown env", time.Minute, "qa", []Row{}},
	}
	for _, tt := range tests {
		got := Rows(svcs, now, tt.window, tt.env)
		if fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("%s: Rows =\n%+v\nwant\n%+v", tt.name, got, tt.want)
		}
	}
}
