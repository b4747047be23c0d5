package app

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/prometheus/promql/parser"

	"github.com/fibinc/telltale/internal/alert"
	"github.com/fibinc/telltale/internal/config"
	"github.com/fibinc/telltale/internal/notify"
	"github.com/fibinc/telltale/internal/promql"
	"github.com/fibinc/telltale/internal/query"
	"github.com/fibinc/telltale/internal/query/dialect"
	"github.com/fibinc/telltale/internal/query/filter"
	"github.com/fibinc/telltale/internal/state"
	"github.com/fibinc/telltale/internal/uptime"
)

// Validators are the checks a configuration goes through, at start, on
// reload, through the API and in `telltale check config`: uptime and rule
// conditions, annotation templates, PromQL, metric filters and log queries.
func Validators() config.Options {
	promParser := parser.NewParser(parser.Options{}) // as internal/promql configures it
	return config.Options{
		CheckCondition: uptime.CheckCondition,
		RuleCondition:  alert.CheckCondition,
		Annotation:     alert.CheckAnnotation,
		PromQL: func(s string) error {
			_, err := promParser.ParseExpr(s)
			return err
		},
		MetricFilter: query.CheckMetricFilter,
		// The logs explorer's filter, parsed and compiled as
		// query.Service.CheckLogFilter does, without a store.
		LogQuery: func(s string) error {
			e, err := filter.Parse(s)
			if err != nil {
				return err
			}
			_, _, err = filter.Compile(e, dialect.DuckDB{})
			return err
		},
	}
}

// alerting is uptime checks, alert rules and notifications, configured by
// the --config file or the API and reconfigured on reload without losing
// state.
type alerting struct {
	runner   *uptime.Runner
	eval     *alert.Evaluator
	notifier *notify.Notifier
	manager  *config.Manager
	log      *slog.Logger
}

func newAlerting(path string, sta state.Store, qs *query.Service, eng *promql.Engine, externalURL string, log *slog.Logger) (*alerting, error) {
	a := &alerting{log: log.With("component", "alerting")}
	a.notifier = notify.New(notify.Options{Store: sta, Logger: log, ExternalURL: externalURL})
	a.runner = uptime.New(uptime.Options{Store: sta, Logger: log})
	eval, err := alert.New(alert.Options{Query: qs, PromQL: eng, State: sta, Notifier: a.notifier, Logger: log, ExternalURL: externalURL})
	if err != nil {
		return nil, fmt.Errorf("cannot create the alert evaluator: %w", err)
	}
	a.eval = eval
	a.manager = config.NewManager(config.ManagerOptions{Path: path, Store: sta, Options: Validators(), Apply: a.apply})
	return a, nil
}

// apply puts a valid configuration into effect: channels first, so that
// alerts of the new rules find them, then checks, then the rules that may
// watch them.
func (a *alerting) apply(_ context.Context, f *config.File) error {
	if err := a.notifier.SetConfig(f.Channels, f.Routes, f.Silences, f.Maintenance); err != nil {
		return fmt.Errorf("cannot apply notification channels: %w", err)
	}
	a.runner.SetChecks(f.Checks, f.Maintenance)
	if err := a.eval.SetRules(f.Rules); err != nil {
		return fmt.Errorf("cannot apply alert rules: %w", err)
	}
	a.log.Info("configuration applied", "checks", len(f.Checks), "rules", len(f.Rules), "channels", len(f.Channels),
		"routes", len(f.Routes), "silences", len(f.Silences), "maintenance", len(f.Maintenance))
	return nil
}

// reload reads the configuration again; a configuration that is not valid
// is refused and the running one kept.
func (a *alerting) reload(ctx context.Context, why string) error {
	if err := a.manager.Load(ctx); err != nil {
		a.log.Error("configuration not reloaded; the running one is kept", "trigger", why, "err", err)
		return err
	}
	return nil
}

// watchSignals reloads on SIGHUP until ctx is done.
func (a *alerting) watchSignals(ctx context.Context) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			a.reload(ctx, "SIGHUP")
		}
	}
}

// reloadHandler serves POST /-/reload, as Prometheus does: 200 when the
// configuration was reloaded, 400 with every problem when it was not.
func (a *alerting) reloadHandler(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if err := a.reload(ctx, "POST /-/reload"); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, "configuration not reloaded; the running one is kept:\n%s\n", strings.TrimSpace(err.Error()))
		return
	}
	f, source, path, _ := a.manager.Current()
	from := map[string]string{config.SourceFile: path, config.SourceAPI: "the document set through the API", config.SourceNone: "nothing: no --config file and no document set through the API"}[source]
	fmt.Fprintf(w, "configuration reloaded from %s: %d checks, %d rules, %d channels\n", from, len(f.Checks), len(f.Rules), len(f.Channels))
}
