package fibfrontend_test

import (
	"testing"

	"github.com/fibinc/telltale/examples/fibpro/internal/fleettest"
)

// TestMain lets fleettest run the fleet's services from this test binary.
func TestMain(m *testing.M) { fleettest.Main(m) }
