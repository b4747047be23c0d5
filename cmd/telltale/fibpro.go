package main

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/fibinc/telltale/examples/fibpro"
)

// runFibpro runs one service of the FibPro demo fleet; telltale demo
// starts the fleet this way, so that one binary is all it needs.
func runFibpro(ctx context.Context, args []string, _, stderr io.Writer) error {
	names := make([]string, 0, len(fibpro.Services))
	for n := range fibpro.Services {
		names = append(names, n)
	}
	sort.Strings(names)
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprintf(stderr, "Usage: telltale fibpro <%s> [flags]\n", strings.Join(names, "|"))
		return nil
	}
	main, ok := fibpro.Services[args[0]]
	if !ok {
		return usageError{fmt.Errorf("no FibPro service %q: want one of %s", args[0], strings.Join(names, ", "))}
	}
	return main(ctx, args[1:])
}
