// Command userstore runs FibPro's userstore on its own; see package
// github.com/fibinc/telltale/examples/fibpro/userstore and its flags (-h).
package main

import (
	"github.com/fibinc/telltale/examples/fibpro/service"
	"github.com/fibinc/telltale/examples/fibpro/userstore"
)

func main() { service.RunCommand(userstore.Main) }
