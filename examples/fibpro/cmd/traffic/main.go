// Command traffic runs FibPro's traffic on its own; see package
// github.com/fibinc/telltale/examples/fibpro/traffic and its flags (-h).
package main

import (
	"github.com/fibinc/telltale/examples/fibpro/service"
	"github.com/fibinc/telltale/examples/fibpro/traffic"
)

func main() { service.RunCommand(traffic.Main) }
