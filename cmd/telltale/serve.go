package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/fibinc/telltale/internal/app"
	"github.com/fibinc/telltale/internal/auth"
	"github.com/fibinc/telltale/internal/auth/oidc"
	"github.com/fibinc/telltale/internal/ingest/cardinality"
	"github.com/fibinc/telltale/internal/ingest/ingestkey"
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
	ingestAuth := fs.Bool("ingest-auth", true, "require an ingest key on OTLP, JSON logs and Sentry, and limit StatsD to --statsd-allow; false is for local development only")
	fs.StringVar(&opt.IngestKeyHeader, "ingest-key-header", "", "header (and gRPC metadata key) carrying the raw ingest key, instead of Authorization: Bearer <key>")
	ingestRate := fs.Float64("ingest-rate", ingestkey.DefaultRate, "records per second an ingest key may send unless it has its own limit (bursts of 2 s); 0 means no limit")
	maxRecords := fs.Int("max-records-per-request", ingestkey.DefaultMaxRecordsPerRequest, "records one ingest request may carry (larger ones are refused with 413); 0 means no limit")
	statsdAllow := fs.String("statsd-allow", ingestkey.DefaultStatsDAllow, "comma-separated networks StatsD accepts packets and connections from")
	fs.StringVar(&opt.AdminUser, "admin-user", "admin", "login name of the first admin, created at the first start when TELLTALE_ADMIN_PASSWORD is set (else a one-time /setup link is logged)")
	sessionTTL := days(7 * 24 * time.Hour)
	fs.Var(&sessionTTL, "session-ttl", "how long a login session lasts at most, e.g. 12h or 7d (it also ends after 24h unused)")
	fs.StringVar(&opt.OIDC.Issuer, "oidc-issuer", "", "OpenID Connect issuer URL; turns on \"Sign in with SSO\" (client secret from TELLTALE_OIDC_CLIENT_SECRET)")
	fs.StringVar(&opt.OIDC.ClientID, "oidc-client-id", "", "OIDC client id registered with the provider")
	fs.StringVar(&opt.OIDC.RedirectURL, "oidc-redirect-url", "", "OIDC callback URL registered with the provider; default <UI URL>/auth/oidc/callback")
	oidcScopes := fs.String("oidc-scopes", "openid,email,profile", "comma-separated OIDC scopes to request, e.g. openid,email,profile,groups")
	fs.StringVar(&opt.OIDC.RoleClaim, "oidc-role-claim", "", "ID token claim that names the user's role or groups, e.g. groups or realm_access.roles")
	oidcRoleMap := fs.String("oidc-role-map", "", "role claim values to roles, e.g. admins=admin,devs=editor; without it the claim must say viewer, editor or admin")
	oidcDefaultRole := fs.String("oidc-default-role", "viewer", "role of a new OIDC user the provider gives no role: viewer, editor or admin")
	minFree := bytesize(512 << 20)
	fs.Var(&minFree, "min-free-disk", "free space the data directory's disk keeps: below it ingest is refused with 503 until there is more; 0 turns the check off")
	fs.StringVar(&opt.TLSCert, "tls-cert", "", "PEM certificate (chain) file: with -tls-key, every TCP listener serves TLS; reloaded when it changes")
	fs.StringVar(&opt.TLSKey, "tls-key", "", "PEM private key file of -tls-cert")
	fs.StringVar(&opt.TLSClientCA, "tls-client-ca", "", "PEM CA file: ingest listeners (OTLP, StatsD TCP) then require client certificates it signed")
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
		opt.IngestAuthOff = !*ingestAuth
		if opt.IngestKeyHeader != "" {
			if err := ingestkey.CheckHeaderName(opt.IngestKeyHeader); err != nil {
				return opt, usageError{fmt.Errorf("invalid -ingest-key-header: %w", err)}
			}
		}
		switch {
		case *ingestRate < 0 || *ingestRate != *ingestRate:
			return opt, usageError{fmt.Errorf("invalid -ingest-rate %v: want 0 (no limit) or more records per second", *ingestRate)}
		case *ingestRate == 0:
			opt.IngestRate = -1 // app.Options: negative turns the limit off
		default:
			opt.IngestRate = *ingestRate
		}
		switch {
		case *maxRecords < 0:
			return opt, usageError{fmt.Errorf("invalid -max-records-per-request %d: want 0 (no limit) or more", *maxRecords)}
		case *maxRecords == 0:
			opt.MaxRecordsPerRequest = -1
		default:
			opt.MaxRecordsPerRequest = *maxRecords
		}
		allow, err := ingestkey.ParsePrefixes(*statsdAllow)
		if err != nil {
			return opt, usageError{fmt.Errorf("invalid -statsd-allow: %w", err)}
		}
		opt.StatsDAllow = allow
		opt.SessionTTL = time.Duration(sessionTTL)
		if opt.SessionTTL <= 0 {
			return opt, usageError{fmt.Errorf("invalid -session-ttl %s: want a positive duration such as 7d", &sessionTTL)}
		}
		// A password is not a flag: flags show in ps and shell history.
		opt.AdminPassword = os.Getenv("TELLTALE_ADMIN_PASSWORD")
		if opt.OIDC.Issuer != "" {
			if opt.OIDC.ClientID == "" {
				return opt, usageError{errors.New("-oidc-issuer needs -oidc-client-id")}
			}
			opt.OIDC.ClientSecret = os.Getenv("TELLTALE_OIDC_CLIENT_SECRET")
			opt.OIDC.Scopes = strings.Split(*oidcScopes, ",")
			m, err := oidc.ParseRoleMap(*oidcRoleMap)
			if err != nil {
				return opt, usageError{fmt.Errorf("invalid -oidc-role-map: %w", err)}
			}
			opt.OIDC.RoleMap = m
			if opt.OIDC.DefaultRole, err = auth.ParseRole(*oidcDefaultRole); err != nil {
				return opt, usageError{fmt.Errorf("invalid -oidc-default-role: %w", err)}
			}
		}
		opt.MaxDiskBytes = int64(maxDisk)
		opt.MinFreeDisk = int64(minFree)
		if minFree == 0 {
			opt.MinFreeDisk = -1 // app.Options: negative turns the check off
		}
		opt.Version = version
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
