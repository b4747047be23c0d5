// Command pricing runs FibPro's pricing on its own; see package
// github.com/fibinc/telltale/examples/fibpro/pricing and its flags (-h).
package main

import (
	"github.com/fibinc/telltale/examples/fibpro/pricing"
	"github.com/fibinc/telltale/examples/fibpro/service"
)

func main() { service.RunCommand(pricing.Main) }
