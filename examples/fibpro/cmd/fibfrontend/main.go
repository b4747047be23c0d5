// Command fibfrontend runs FibPro's fibfrontend on its own; see package
// github.com/fibinc/telltale/examples/fibpro/fibfrontend and its flags (-h).
package main

import (
	"github.com/fibinc/telltale/examples/fibpro/fibfrontend"
	"github.com/fibinc/telltale/examples/fibpro/service"
)

func main() { service.RunCommand(fibfrontend.Main) }
