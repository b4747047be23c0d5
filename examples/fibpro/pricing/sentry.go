package pricing

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/getsentry/sentry-go"

	"github.com/fibinc/telltale/examples/fibpro/service"
	"github.com/fibinc/telltale/kit"
)

// newSentryHub makes a Sentry hub of its own rather than using the SDK's
// global one, so that nothing else in the process reports through it.
func newSentryHub(dsn string, tel kit.Config) (*sentry.Hub, error) {
	client, err := sentry.NewClient(sentry.ClientOptions{
		Dsn:         dsn,
		Release:     tel.Service + "@" + tel.Version,
		Environment: tel.Environment,
	})
	if err != nil {
		return nil, fmt.Errorf("cannot set up Sentry reporting (--sentry-dsn): %w", err)
	}
	scope := sentry.NewScope()
	scope.SetTag("service", tel.Service)
	if tel.Zone != "" {
		scope.SetTag("zone", tel.Zone)
	}
	return sentry.NewHub(client, scope), nil
}

// rateFeed is the exchange-rate feed as the refresh job receives it: now
// and then it carries a currency with a malformed rate.
var rateFeed = [][2]string{{"EUR", "0.92"}, {"GBP", "0.79"}, {"CHF", "0,88"}}

// refreshRates stands for the background job every pricing service has:
// it reloads exchange rates every interval until ctx is done. Every
// third refresh reads the feed's malformed entry and fails. Errors outside
// any request are what a Sentry SDK is for: they go to hub (when set),
// with the stack of where the error was made, and to the log as a
// warning.
func refreshRates(ctx context.Context, every time.Duration, hub *sentry.Hub, log *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	for round := 1; ; round++ {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		feed := rateFeed[:2]
		if round%3 == 0 {
			feed = rateFeed
		}
		err := loadRates(feed)
		if err == nil {
			continue
		}
		log.WarnContext(ctx, "cannot refresh exchange rates", "error", err.Error())
		if hub != nil {
			hub.CaptureException(err)
		}
	}
}

func loadRates(feed [][2]string) error {
	rates := map[string]float64{}
	for _, e := range feed {
		r, err := parseRate(e[0], e[1])
		if err != nil {
			return fmt.Errorf("cannot refresh exchange rates: %w", err)
		}
		rates[e[0]] = r
	}
	return nil
}

func parseRate(currency, s string) (float64, error) {
	r, err := strconv.ParseFloat(s, 64)
	if err != nil || r <= 0 {
		return 0, kit.Errorf("%w: %s rate %q", service.ErrBadRate, currency, s)
	}
	return r, nil
}
