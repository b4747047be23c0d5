// Command telltale is the Telltale observability platform: one binary that
// ingests OpenTelemetry traces, logs and metrics, stores them in an embedded
// DuckDB, and answers queries over a JSON API.
//
// Run "telltale help" for the subcommands.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"syscall"
)

// command is one subcommand.
type command struct {
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
	hidden  bool // not listed: used by telltale itself
}

func commands() map[string]command {
	return map[string]command{
		"serve":   {"run the Telltale server (ingest, store, API)", runServe, false},
		"demo":    {"run Telltale with the FibPro demo fleet and traffic", runDemo, false},
		"fibpro":  {"run one FibPro demo service", runFibpro, true},
		"check":   {"check a configuration file: telltale check config FILE", runCheck, false},
		"top":     {"show each service of a running server, live or once (--once)", runTop, false},
		"version": {"print the version", runVersion, false},
	}
}

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cmds := commands()
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		if len(args) > 1 {
			if c, ok := cmds[args[1]]; ok {
				c.run(ctx, []string{"-h"}, stdout, stdout)
				return 0
			}
		}
		usage(stdout, cmds)
		return 0
	}
	c, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "telltale: unknown command %q\n\n", args[0])
		usage(stderr, cmds)
		return 2
	}
	if err := c.run(ctx, args[1:], stdout, stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		var ue usageError
		if errors.As(err, &ue) {
			fmt.Fprintf(stderr, "telltale %s: %v\n", args[0], err)
			return 2
		}
		fmt.Fprintf(stderr, "telltale %s: %v\n", args[0], err)
		return 1
	}
	return 0
}

// usageError marks errors in the command line, which exit with status 2.
type usageError struct{ error }

func usage(w io.Writer, cmds map[string]command) {
	fmt.Fprintln(w, "Telltale: logs, traces, errors and metrics for your services, in one binary.")
	fmt.Fprintln(w, "\nUsage: telltale <command> [flags]\n\nCommands:")
	names := make([]string, 0, len(cmds))
	for n, c := range cmds {
		if c.hidden {
			continue
		}
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, cmds[n].summary)
	}
	fmt.Fprintf(w, "  %-10s %s\n", "help", "show this help, or a command's flags: telltale help <command>")
}

func runVersion(_ context.Context, _ []string, stdout, _ io.Writer) error {
	fmt.Fprintln(stdout, "telltale", version)
	return nil
}
