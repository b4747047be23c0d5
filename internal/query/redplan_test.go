package query

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestREDPlan(t *testing.T) {
	day := time.Date(2026, 5, 4, 0, 0, 0, 0, time.UTC)
	at := func(s string) time.Time {
		d, err := time.ParseDuration(s)
		if err != nil {
			t.Fatal(err)
		}
		return day.Add(d)
	}
	s := &Service{}
	tests := []struct {
		from, to    string
		step        time.Duration
		serviceOnly bool
		want        string // table from..to, offsets from day
	}{
		{"0s", "1h", 0, true, "red_service_hours 0s..1h0m0s"},
		{"0s", "1h", 0, false, "red_hours 0s..1h0m0s"},
		{"17s", "3h2m3s", 0, true, "spans 17s..1m0s, red_minutes 1m0s..5m0s, red_service_5m 5m0s..1h0m0s, " +
			"red_service_hours 1h0m0s..3h0m0s, red_minutes 3h0m0s..3h2m0s, spans 3h2m0s..3h2m3s"},
		{"17s", "3h2m3s", 0, false, "spans 17s..1m0s, red_minutes 1m0s..1h0m0s, red_hours 1h0m0s..3h0m0s, red_minutes 3h0m0s..3h2m0s, spans 3h2m0s..3h2m3s"},
		{"17s", "3h2m3s", 10 * time.Minute, true, "spans 17s..1m0s, red_minutes 1m0s..5m0s, red_service_5m 5m0s..3h0m0s, red_minutes 3h0m0s..3h2m0s, spans 3h2m0s..3h2m3s"},
		{"17s", "3h2m3s", 2 * time.Minute, true, "spans 17s..1m0s, red_minutes 1m0s..3h2m0s, spans 3h2m0s..3h2m3s"},
		{"0s", "1h", 90 * time.Second, true, "raw"},
		{"10s", "1m50s", 0, true, "raw"},
		{"10s", "2m", 0, true, "spans 10s..1m0s, red_minutes 1m0s..2m0s"},
		{"0s", "3m", 5 * time.Minute, true, "red_minutes 0s..3m0s"},
	}
	for _, tt := range tests {
		plan := s.redPlan(at(tt.from), at(tt.to), redLevels(tt.step, tt.serviceOnly))
		var got []string
		for _, seg := range plan {
			got = append(got, fmt.Sprintf("%s %s..%s", seg.src.Table, seg.from.Sub(day), seg.to.Sub(day)))
		}
		if plan == nil {
			got = []string{"raw"}
		}
		if g := strings.Join(got, ", "); g != tt.want {
			t.Errorf("%s..%s step %s service-only %t:\n%s\nwant\n%s", tt.from, tt.to, tt.step, tt.serviceOnly, g, tt.want)
		}
	}
	if plan := (&Service{rawRED: true}).redPlan(day, at("24h"), redLevels(0, true)); plan != nil {
		t.Errorf("RawRED plan %v", plan)
	}
}
