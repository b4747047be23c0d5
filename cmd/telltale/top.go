package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/fibinc/telltale/internal/top"
)

func runTop(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("top", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "Usage: telltale top [flags]\n\n"+
			"Shows each service of a running Telltale server: instances up (seen in the\n"+
			"last 30s) of those seen in the window, requests/s, error %, p50 and p95 call\n"+
			"time. Ctrl-C quits.\n\nFlags:")
		fs.PrintDefaults()
	}
	var opt top.Options
	fs.StringVar(&opt.Server, "server", "http://localhost:4320", "URL of the Telltale server's API")
	fs.DurationVar(&opt.Window, "window", time.Minute, "range that rates and latencies are computed over, ending now")
	fs.DurationVar(&opt.Interval, "interval", time.Second, "time between refreshes")
	fs.BoolVar(&opt.Once, "once", false, "print one frame and exit, for scripts; exit status 1 if the server cannot be read")
	// The default is not the flag's, so that -help does not print it.
	fs.StringVar(&opt.Token, "token", "", "API token (tt_...) to read with, as created under Settings, API tokens (default $TELLTALE_TOKEN)")
	fs.StringVar(&opt.Env, "env", "", "show only instances of this deployment environment (request figures stay per service)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected argument %q", fs.Arg(0))}
	}
	if opt.Token == "" {
		opt.Token = os.Getenv("TELLTALE_TOKEN")
	}
	if opt.Window <= 0 {
		return usageError{fmt.Errorf("invalid -window %s: want a positive duration such as 1m", opt.Window)}
	}
	if opt.Interval <= 0 {
		return usageError{fmt.Errorf("invalid -interval %s: want a positive duration such as 1s", opt.Interval)}
	}
	server := opt.Server
	if !strings.Contains(server, "://") {
		server = "http://" + server
	}
	if u, err := url.Parse(server); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return usageError{fmt.Errorf("invalid -server %q: want a URL such as http://localhost:4320", opt.Server)}
	}
	opt.Out = stdout
	opt.Terminal = top.IsTerminal(stdout)
	return top.Run(ctx, opt)
}
