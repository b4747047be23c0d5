package traffic_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/fibinc/telltale/examples/fibpro/internal/fleettest"
	"github.com/fibinc/telltale/examples/fibpro/traffic"
)

// TestMain lets fleettest run the fleet's services from this test binary.
func TestMain(m *testing.M) { fleettest.Main(m) }

// Against a running fleet, the traffic gets every kind of answer, and a
// user out of credit gets topped up.
func TestAgainstFleet(t *testing.T) {
	f := fleettest.Start(t, fleettest.Options{})
	var out strings.Builder
	s, err := traffic.Run(context.Background(), traffic.Config{
		Target: f.Frontend, Userstore: f.Userstore, Rate: 150, Duration: 2 * time.Second, Seed: 1,
		Telemetry: fleettest.Telemetry(t), Output: &out,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Log(s)
	answered := 0
	for _, n := range s.ByStatus {
		answered += n
	}
	if s.Sent < 100 || s.Failed != 0 || answered != s.Sent {
		t.Errorf("sent %d, answered %d, failed %d", s.Sent, answered, s.Failed)
	}
	for _, code := range []int{200, 400, 401, 402, 502} {
		if s.ByStatus[code] == 0 {
			t.Errorf("no %d answers in %v", code, s)
		}
	}
	if s.TopUps == 0 {
		t.Error("no user was topped up")
	}
	if !strings.HasPrefix(out.String(), "traffic: done: sent ") {
		t.Errorf("summary %q", out.String())
	}
}

func TestMainFlags(t *testing.T) {
	for _, args := range [][]string{{"--rate", "0"}, {"--rate", "x"}, {"--duration", "-1s"}, {"--target", "ftp://x"}, {"--concurrency", "0"}} {
		if err := traffic.Main(context.Background(), append(args, "--otlp", fleettest.Telemetry(t).Endpoint)); err == nil {
			t.Errorf("Main(%q) accepted", args)
		}
	}
}
