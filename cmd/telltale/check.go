package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/fibinc/telltale/internal/app"
	"github.com/fibinc/telltale/internal/config"
)

func runCheck(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "Usage: telltale check config FILE...\n\n"+
			"Checks configuration files (uptime checks, alert rules, channels, routes,\n"+
			"silences and maintenance windows) as `telltale serve --config` reads them,\n"+
			"and prints every problem as file:line:column: message. Exit status 0 when\n"+
			"all are valid, 1 when one is not.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	if fs.NArg() == 0 || fs.Arg(0) != "config" {
		if fs.NArg() == 0 {
			return usageError{errors.New("what to check? want: telltale check config FILE")}
		}
		return usageError{fmt.Errorf("cannot check %q: want: telltale check config FILE", fs.Arg(0))}
	}
	files := fs.Args()[1:]
	if len(files) == 0 {
		return usageError{errors.New("no file given: want: telltale check config FILE")}
	}
	bad := 0
	for _, file := range files {
		f, err := config.Load(file, app.Validators())
		if err != nil {
			bad++
			fmt.Fprintln(stderr, err)
			continue
		}
		fmt.Fprintf(stdout, "%s: ok (%s)\n", file, summary(f))
	}
	if bad > 0 {
		if len(files) == 1 {
			return fmt.Errorf("%s is not valid", files[0])
		}
		return fmt.Errorf("%d of %d files are not valid", bad, len(files))
	}
	return nil
}

// summary counts what a file configures: "3 checks, 1 route, ...".
func summary(f *config.File) string {
	n := func(k int, one, many string) string {
		if k == 1 {
			return "1 " + one
		}
		return fmt.Sprintf("%d %s", k, many)
	}
	return n(len(f.Checks), "check", "checks") + ", " +
		n(len(f.Rules), "rule", "rules") + ", " +
		n(len(f.Channels), "channel", "channels") + ", " +
		n(len(f.Routes), "route", "routes") + ", " +
		n(len(f.Silences), "silence", "silences") + ", " +
		n(len(f.Maintenance), "maintenance window", "maintenance windows")
}
