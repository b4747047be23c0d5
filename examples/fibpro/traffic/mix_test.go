package traffic

import (
	"strconv"
	"testing"

	"github.com/fibinc/telltale/examples/fibpro/service"
)

// The mix holds every kind of request, in about the planned shares, the
// same for the same seed.
func TestMix(t *testing.T) {
	const draws = 20000
	a, b := newMix(42), newMix(42)
	seen := map[string]int{}
	for range draws {
		ra, rb := a.next(), b.next()
		if ra != rb {
			t.Fatalf("same seed, different requests: %+v %+v", ra, rb)
		}
		seen[ra.kind]++
		n, err := strconv.Atoi(ra.n)
		switch ra.kind {
		case "small", "big", "slow", "wrong-password", "unknown-user", "no-auth":
			if err != nil || n <= 0 || n%service.BuggyEvery == 0 {
				t.Fatalf("%s request with n %q", ra.kind, ra.n)
			}
		case "buggy":
			if err != nil || n%service.BuggyEvery != 0 {
				t.Fatalf("buggy request with n %q", ra.n)
			}
		}
		if (ra.user == "") != (ra.kind == "no-auth") {
			t.Fatalf("request %+v", ra)
		}
	}
	for _, k := range kinds {
		share := float64(seen[k.name]) / draws * 100
		if share < float64(k.weight)*0.8-0.5 || share > float64(k.weight)*1.2+0.5 {
			t.Errorf("%s: %.1f%% of requests, want about %d%%", k.name, share, k.weight)
		}
	}
}
