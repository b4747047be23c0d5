package uptime

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/fibinc/telltale/internal/config"
	"github.com/fibinc/telltale/internal/state"
)

// Result is what one probe attempt observed; conditions are evaluated
// against it.
type Result struct {
	At         time.Time // when the attempt started
	Connected  bool
	Status     int           // HTTP status
	Body       []byte        // HTTP: the first MiB of the body; DNS: the first answer
	Duration   time.Duration // until the response (HTTP: headers and body read)
	IP         string
	CertExpiry time.Time // leaf certificate's NotAfter
	DNSRcode   string    // NOERROR, NXDOMAIN, SERVFAIL...
	TraceID    string    // the traceparent's trace id of an HTTP probe
	Err        error     // transport error

	jsonDoc  any
	jsonDone bool
	jsonOK   bool
}

// maxBody is the most of an HTTP body a probe reads: enough for any health
// document, bounded so that a large page cannot hold memory.
const maxBody = 1 << 20

// defaultConditions are what a check without conditions wants.
func defaultConditions(typ string) []string {
	switch typ {
	case config.CheckHTTP, "":
		return []string{"[STATUS] == pat(2*)"}
	case config.CheckTCP:
		return []string{"[CONNECTED] == true"}
	case config.CheckDNS:
		return []string{"[DNS_RCODE] == NOERROR", "len([BODY]) > 0"}
	case config.CheckTLS:
		return []string{"[CERTIFICATE_EXPIRATION] > 7d"}
	}
	return nil
}

// compiled is a check ready to run.
type compiled struct {
	cfg        config.Check
	conditions []Condition
	connected  bool // a condition looks at [CONNECTED]
}

func compile(c config.Check) (*compiled, error) {
	if c.Type == "" {
		c.Type = config.CheckHTTP
	}
	if c.Interval <= 0 {
		c.Interval = config.Duration(time.Minute)
	}
	if c.Timeout <= 0 {
		c.Timeout = min(config.Duration(10*time.Second), c.Interval)
	}
	if c.RetryInterval <= 0 {
		c.RetryInterval = config.Duration(5 * time.Second)
	}
	if c.Grace <= 0 && c.Type == config.CheckPush {
		c.Grace = config.Duration(time.Minute)
	}
	out := &compiled{cfg: c}
	conds := c.Conditions
	if len(conds) == 0 {
		conds = defaultConditions(c.Type)
	}
	for _, s := range conds {
		cond, err := ParseCondition(s)
		if err != nil {
			return nil, fmt.Errorf("check %s: %w", c.Name, err)
		}
		out.conditions = append(out.conditions, cond)
		out.connected = out.connected || cond.usesConnected()
	}
	switch c.Type {
	case config.CheckHTTP, config.CheckTCP, config.CheckDNS, config.CheckTLS, config.CheckPush:
	default:
		return nil, fmt.Errorf("check %s: unknown type %q", c.Name, c.Type)
	}
	return out, nil
}

// attempt runs one probe and evaluates the conditions.
func (r *Runner) attempt(ctx context.Context, c *compiled) state.CheckResult {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout.D())
	defer cancel()
	res := &Result{At: r.opt.Now()}
	switch c.cfg.Type {
	case config.CheckHTTP:
		r.probeHTTP(ctx, c.cfg, res)
	case config.CheckTCP:
		r.probeTCP(ctx, c.cfg, res)
	case config.CheckDNS:
		r.probeDNS(ctx, c.cfg, res)
	case config.CheckTLS:
		r.probeTLS(ctx, c.cfg, res)
	}
	return evaluate(c, res)
}

// evaluate turns a probe result into the stored result: it succeeds when
// every condition holds and the transport did not fail (unless a condition
// asks about [CONNECTED], for a check that wants a port closed).
func evaluate(c *compiled, res *Result) state.CheckResult {
	out := state.CheckResult{
		Check: c.cfg.Name, At: res.At, Duration: res.Duration, Source: SourceProbe,
		Status: res.Status, TraceID: res.TraceID, CertExpiry: res.CertExpiry,
		OK: res.Err == nil || c.connected, Attempts: 1,
	}
	var failed []string
	for _, cond := range c.conditions {
		cr := cond.Eval(res)
		out.Conditions = append(out.Conditions, cr)
		if !cr.OK {
			out.OK = false
			failed = append(failed, cr.Actual)
		}
	}
	switch {
	case res.Err != nil && !out.OK:
		out.Error = res.Err.Error()
	case len(failed) > 0:
		out.Error = "failed: " + strings.Join(failed, "; ")
	}
	return out
}

// probe runs a check's attempts: on failure it retries up to Retries times,
// RetryInterval apart, and keeps the last attempt's result.
func (r *Runner) probe(ctx context.Context, c *compiled) state.CheckResult {
	var res state.CheckResult
	for i := 0; i <= max(0, c.cfg.Retries); i++ {
		if i > 0 {
			t := time.NewTimer(c.cfg.RetryInterval.D())
			select {
			case <-ctx.Done():
				t.Stop()
				return res
			case <-t.C:
			}
		}
		res = r.attempt(ctx, c)
		res.Attempts = i + 1
		if res.OK || ctx.Err() != nil {
			break
		}
	}
	return res
}

// errNoAddress is returned for a check without the address its type needs.
var errNoAddress = errors.New("no address configured")
