package sentry

import (
	"errors"
	"strings"
	"testing"
)

var checkInCases = []struct {
	name string
	in   string
	want *CheckIn // nil: ErrMalformed
}{
	{"minimal", `{"check_in_id":"4F9A1C3E-5B7D-4F2A-8C0E-1A3C5E7A9C1E","monitor_slug":"job","status":"in_progress"}`,
		&CheckIn{CheckInID: "4f9a1c3e5b7d4f2a8c0e1a3c5e7a9c1e", MonitorSlug: "job", Status: "in_progress"}},
	{"full", `{"check_in_id":"4f9a1c3e5b7d4f2a8c0e1a3c5e7a9c1e","monitor_slug":"Nightly Backup!","status":"ERROR","duration":"1.5","release":"r","environment":"e",` +
		`"monitor_config":{"schedule":{"type":"interval","value":10,"unit":"Minute"},"checkin_margin":null,"max_runtime":-3,"timezone":"UTC"},"contexts":{"trace":{"trace_id":"D2E3F4A5B6C70819A2B3C4D5E6F70819"}}}`,
		&CheckIn{CheckInID: "4f9a1c3e5b7d4f2a8c0e1a3c5e7a9c1e", MonitorSlug: "nightly-backup", Status: "error", Duration: 1.5, Release: "r", Environment: "e",
			TraceID: "d2e3f4a5b6c70819a2b3c4d5e6f70819", MonitorConfig: &MonitorConfig{ScheduleType: "interval", Schedule: "10", Unit: "minute", Timezone: "UTC"}}},
	{"zero id", `{"check_in_id":"00000000000000000000000000000000","monitor_slug":"` + strings.Repeat("a", 60) + `","status":"ok","duration":-1}`,
		&CheckIn{CheckInID: "00000000000000000000000000000000", MonitorSlug: strings.Repeat("a", 50), Status: "ok"}},
	{"missing id", `{"monitor_slug":"job","status":"ok"}`, nil},
	{"bad id", `{"check_in_id":"xyz","monitor_slug":"job","status":"ok"}`, nil},
	{"empty slug", `{"check_in_id":"4f9a1c3e5b7d4f2a8c0e1a3c5e7a9c1e","monitor_slug":"!!!","status":"ok"}`, nil},
	{"missed status", `{"check_in_id":"4f9a1c3e5b7d4f2a8c0e1a3c5e7a9c1e","monitor_slug":"job","status":"missed"}`, nil},
	{"no status", `{"check_in_id":"4f9a1c3e5b7d4f2a8c0e1a3c5e7a9c1e","monitor_slug":"job"}`, nil},
	{"bad schedule type", `{"check_in_id":"4f9a1c3e5b7d4f2a8c0e1a3c5e7a9c1e","monitor_slug":"job","status":"ok","monitor_config":{"schedule":{"type":"sometimes"}}}`, nil},
	{"empty crontab", `{"check_in_id":"4f9a1c3e5b7d4f2a8c0e1a3c5e7a9c1e","monitor_slug":"job","status":"ok","monitor_config":{"schedule":{"type":"crontab","value":" "}}}`, nil},
	{"bad interval", `{"check_in_id":"4f9a1c3e5b7d4f2a8c0e1a3c5e7a9c1e","monitor_slug":"job","status":"ok","monitor_config":{"schedule":{"type":"interval","value":0,"unit":"day"}}}`, nil},
	{"bad unit", `{"check_in_id":"4f9a1c3e5b7d4f2a8c0e1a3c5e7a9c1e","monitor_slug":"job","status":"ok","monitor_config":{"schedule":{"type":"interval","value":2,"unit":"fortnight"}}}`, nil},
	{"not an object", `["job"]`, nil},
	{"invalid JSON", `{"check_in_id":`, nil},
}

func TestDecodeCheckIn(t *testing.T) {
	for _, c := range checkInCases {
		t.Run(c.name, func(t *testing.T) {
			got, err := DecodeCheckIn([]byte(c.in))
			if c.want == nil {
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("got %+v, %v; want ErrMalformed", got, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			checkCheckIn(t, got)
			gotConfig, wantConfig := got.MonitorConfig, c.want.MonitorConfig
			got.MonitorConfig, c.want.MonitorConfig = nil, nil
			if got != *c.want || (gotConfig == nil) != (wantConfig == nil) || gotConfig != nil && *gotConfig != *wantConfig {
				t.Fatalf("got %+v %+v\nwant %+v %+v", got, gotConfig, *c.want, wantConfig)
			}
			c.want.MonitorConfig = wantConfig
		})
	}
}

func TestCheckInFixture(t *testing.T) {
	_, g := decodeFixture(t, "checkin.envelope")
	c := g.Items[0].CheckIn
	want := MonitorConfig{ScheduleType: "crontab", Schedule: "0 3 * * *", CheckinMargin: 5, MaxRuntime: 30, Timezone: "Europe/Paris"}
	if c.MonitorSlug != "nightly-backup" || c.Status != "ok" || c.Duration != 12.345 || c.TraceID != "d2e3f4a5b6c70819a2b3c4d5e6f70819" || *c.MonitorConfig != want {
		t.Fatalf("%+v %+v", *c, *c.MonitorConfig)
	}
}
