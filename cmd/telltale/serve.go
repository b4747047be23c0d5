package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/fibinc/telltale/internal/app"
	"github.com/fibinc/telltale/internal/ingest/cardinality"
	"github.com/fibinc/telltale/internal/telemetry"
)

func runServe(ctx context.Context, args []string, _, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	options := serveFlags(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	opt, err := options(stderr)
	if err != nil {
		return err
	}
	return app.Run(ctx, opt)
}

// parse parses args into fs, which takes no positional arguments.
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected argument %q", fs.Arg(0))}
	}
	return nil
}

// serveFlags defines the server's flags on fs. The function it returns
// builds the options from them once fs is parsed, logging to stderr.
func serveFlags(fs *flag.FlagSet) func(stderr io.Writer) (app.Options, error) {
	var opt app.Options
	fs.StringVar(&opt.DataDir, "data-dir", "./telltale-data", "directory for the embedded database")
	fs.StringVar(&opt.OTLPGRPCAddr, "otlp-grpc-addr", ":4317", "address for OTLP over gRPC")
	fs.StringVar(&opt.OTLPHTTPAddr, "otlp-http-addr", ":4318", "address for OTLP over HTTP")
	fs.StringVar(&opt.HTTPAddr, "http-addr", ":4320", "address for the UI, the API, /metrics and health checks")
	fs.StringVar(&opt.StatsDAddr, "statsd-addr", ":8125", "address for StatsD and DogStatsD over UDP and TCP; - turns it off")
	fs.DurationVar(&opt.StatsDFlushInterval, "statsd-flush-interval", 10*time.Second, "how long StatsD metrics are aggregated before they are stored")
	maxSeries := fs.Int("max-series-per-metric", cardinality.DefaultMaxSeriesPerMetric,
		"series a metric name may have active (a point in the last hour), over OTLP and StatsD; points of new series beyond are rejected; 0 means no limit")
	retention := map[telemetry.Signal]*days{}
	for _, s := range telemetry.Signals {
		d := days(app.DefaultRetention(s))
		retention[s] = &d
		fs.Var(&d, "retention-"+string(s), "how long to keep "+string(s)+", e.g. 72h or 30d; 0 keeps them forever")
	}
	maxDisk := bytesize(0)
	fs.Var(&maxDisk, "max-disk", "cap on telemetry bytes on disk, e.g. 20GB; the oldest days are deleted first; 0 means no cap")
	maxBody := bytesize(16 << 20)
	fs.Var(&maxBody, "max-body-size", "largest ingest request body, before and after decompression")
	fs.IntVar(&opt.QueueRecords, "queue-records", 200_000, "records that may wait for a commit, per signal, before ingest answers 503")
	fs.StringVar(&opt.MemoryLimit, "memory-limit", "", "memory limit of the embedded database, e.g. 256MB (default: 35% of -memory-budget)")
	limits := limitFlags(fs, &opt)
	fs.StringVar(&opt.ConfigPath, "config", "", "YAML file of uptime checks, alert rules and notifications (check it with telltale check config; reloaded on SIGHUP and POST /-/reload)")
	level := fs.String("log-level", "info", "log level: debug, info, warn or error")
	format := fs.String("log-format", "text", "log format: text or json")

	return func(stderr io.Writer) (app.Options, error) {
		var lvl slog.Level
		if err := lvl.UnmarshalText([]byte(*level)); err != nil {
			return opt, usageError{fmt.Errorf("invalid -log-level %q: want debug, info, warn or error", *level)}
		}
		hopts := &slog.HandlerOptions{Level: lvl}
		switch *format {
		case "text":
			opt.Logger = slog.New(slog.NewTextHandler(stderr, hopts))
		case "json":
			opt.Logger = slog.New(slog.NewJSONHandler(stderr, hopts))
		default:
			return opt, usageError{fmt.Errorf("invalid -log-format %q: want text or json", *format)}
		}
		opt.Retention = map[telemetry.Signal]time.Duration{}
		for s, d := range retention {
			opt.Retention[s] = time.Duration(*d)
		}
		switch {
		case *maxSeries < 0:
			return opt, usageError{fmt.Errorf("invalid -max-series-per-metric %d: want 0 (no limit) or more", *maxSeries)}
		case *maxSeries == 0:
			opt.MaxSeriesPerMetric = -1 // app.Options: negative turns the limit off
		default:
			opt.MaxSeriesPerMetric = *maxSeries
		}
		opt.MaxDiskBytes = int64(maxDisk)
		opt.MaxBodyBytes = int64(maxBody)
		if err := limits(); err != nil {
			return opt, err
		}
		return opt, nil
	}
}

// days is a duration flag that also accepts a "d" suffix for days.
type days time.Duration

func (d *days) String() string {
	td := time.Duration(*d)
	if td > 0 && td%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", td/(24*time.Hour))
	}
	return td.String()
}

func (d *days) Set(s string) error {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		v, err := strconv.ParseFloat(n, 64)
		if err != nil || v < 0 {
			return fmt.Errorf("invalid duration %q", s)
		}
		*d = days(v * float64(24*time.Hour))
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil || v < 0 {
		return fmt.Errorf("invalid duration %q: want e.g. 36h or 7d", s)
	}
	*d = days(v)
	return nil
}

// bytesize is a size flag: 1048576, 512KB, 16MB, 20GB (powers of 1024).
type bytesize int64

func (b *bytesize) String() string {
	for _, u := range []struct {
		suffix string
		size   int64
	}{{"GB", 1 << 30}, {"MB", 1 << 20}, {"KB", 1 << 10}} {
		if int64(*b) >= u.size && int64(*b)%u.size == 0 {
			return fmt.Sprintf("%d%s", int64(*b)/u.size, u.suffix)
		}
	}
	return strconv.FormatInt(int64(*b), 10)
}

func (b *bytesize) Set(s string) error {
	mult := int64(1)
	t := strings.ToUpper(strings.TrimSpace(s))
	for _, u := range []struct {
		suffix string
		size   int64
	}{{"GB", 1 << 30}, {"MB", 1 << 20}, {"KB", 1 << 10}, {"B", 1}} {
		if n, ok := strings.CutSuffix(t, u.suffix); ok {
			t, mult = strings.TrimSpace(n), u.size
			break
		}
	}
	v, err := strconv.ParseInt(t, 10, 64)
	if err != nil || v < 0 {
		return fmt.Errorf("invalid size %q: want e.g. 512KB, 16MB or 20GB", s)
	}
	*b = bytesize(v * mult)
	return nil
}
