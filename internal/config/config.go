// Package config holds Telltale's configuration as code: the uptime checks,
// alert rules, notification channels, routes, silences and maintenance
// windows that a team keeps in a YAML file next to its code
// (`telltale serve --config FILE`), checked by `telltale check config FILE`.
//
// The types here are the data model that the uptime, alert and notify
// packages run from; Parse fills and validates them, naming the line of
// every problem. The file format is described in docs/design/alerting.md.
package config

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// File is one configuration file.
type File struct {
	Checks      []Check       `yaml:"checks"`
	Rules       []Rule        `yaml:"rules"`
	Channels    []Channel     `yaml:"channels"`
	Routes      []Route       `yaml:"routes"`
	Silences    []Silence     `yaml:"silences"`
	Maintenance []Maintenance `yaml:"maintenance"`
}

// Check types.
const (
	CheckHTTP = "http"
	CheckTCP  = "tcp"
	CheckDNS  = "dns"
	CheckTLS  = "tls"
	CheckPush = "push"
)

// Check is an uptime check: a probe Telltale runs every Interval, or, for
// type push, a heartbeat that a job sends at least every Interval (plus
// Grace).
type Check struct {
	Name string `yaml:"name"` // unique; [a-z0-9][a-z0-9._-]{0,99}
	Type string `yaml:"type"` // http (default when url is set), tcp, dns, tls, push

	// HTTP
	URL             string            `yaml:"url"`
	Method          string            `yaml:"method"` // default GET
	Headers         map[string]string `yaml:"headers"`
	Body            string            `yaml:"body"`
	FollowRedirects *bool             `yaml:"follow_redirects"` // default true
	Insecure        bool              `yaml:"insecure"`         // skip TLS verification

	// TCP and TLS: host:port. DNS: the resolver host:port (default the
	// system's).
	Address string `yaml:"address"`
	// DNS
	Query  string `yaml:"query"`  // the name to resolve
	Record string `yaml:"record"` // A (default), AAAA, CNAME, MX, NS, TXT

	// Conditions all must hold for a success, Gatus-style:
	// "[STATUS] == 200", "[RESPONSE_TIME] < 500", "[BODY].status == UP",
	// "[CERTIFICATE_EXPIRATION] > 168h", "len([BODY].items) > 0". Without
	// any: HTTP wants a 2xx status, TCP a connection, DNS an answer with
	// NOERROR, TLS a certificate valid for 7 more days.
	Conditions []string `yaml:"conditions"`

	Interval      Duration `yaml:"interval"`       // default 60s; push: the expected period
	Timeout       Duration `yaml:"timeout"`        // default min(10s, interval)
	Retries       int      `yaml:"retries"`        // attempts after a failure before it counts; default 0
	RetryInterval Duration `yaml:"retry_interval"` // default 5s
	Grace         Duration `yaml:"grace"`          // push: lateness allowed; default 1m

	// Token authenticates pushes (Authorization: Bearer, or ?token=);
	// empty means the check's push URL needs none.
	Token string `yaml:"token"`

	Labels map[string]string `yaml:"labels"` // for routing, silences and maintenance
	Line   int               `yaml:"-"`      // where the check starts in its file
}

// Staleness is how old the latest result of the check may be while it
// still tells the check's state: two intervals for a probe, so that one
// slow run does not count as no data; the interval plus the grace for a
// push check, after which a missed push is recorded anyway. A check rule's
// default window is at least this.
func (c Check) Staleness() Duration {
	if c.Type == CheckPush {
		return c.Interval + c.Grace
	}
	return 2 * c.Interval
}

// Missing-data treatments, as CloudWatch's TreatMissingData.
const (
	MissingMissing      = "missing"
	MissingBreaching    = "breaching"
	MissingNotBreaching = "not_breaching"
	MissingIgnore       = "ignore"
)

// Rule is an alert rule. Exactly one source is set: Metric, PromQL,
// Service, Logs, Issues or Check.
type Rule struct {
	Name string `yaml:"name"` // unique; the alertname label

	Metric  *MetricSource  `yaml:"metric"`
	PromQL  string         `yaml:"promql"` // each series of the result is one alert instance
	Service *ServiceSource `yaml:"service"`
	Logs    *LogSource     `yaml:"logs"`
	Issues  *IssueSource   `yaml:"issues"`
	Check   string         `yaml:"check"` // breaches while the named check fails

	// Condition is "<op> <number>" with op one of > >= < <= == !=, or
	// "absent", which breaches when the source has no data. Default for
	// issues and check sources: "> 0"; required for the others.
	Condition string `yaml:"condition"`

	Every       Duration `yaml:"every"`        // evaluation interval and datapoint period; default 1m
	Window      Duration `yaml:"window"`       // data each datapoint aggregates; default Every
	Datapoints  int      `yaml:"datapoints"`   // N, the datapoints evaluated; default 1
	ToAlarm     int      `yaml:"to_alarm"`     // M, breaching datapoints of N to fire; default N
	MissingData string   `yaml:"missing_data"` // missing (default), breaching, not_breaching, ignore

	For           Duration `yaml:"for"`             // breaching this long before firing
	KeepFiringFor Duration `yaml:"keep_firing_for"` // firing this long after it stops breaching

	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"` // text/template: {{ .Value }}, {{ .Labels.x }}
	Line        int               `yaml:"-"`
}

// MetricSource aggregates one metric over the window.
type MetricSource struct {
	Name        string `yaml:"name"`
	Filter      string `yaml:"filter"`      // label matchers, as the metrics explorer takes them
	Aggregation string `yaml:"aggregation"` // avg (default), sum, min, max, count, rate, p50, p90, p95, p99
}

// ServiceSource measures a service's requests (server spans).
type ServiceSource struct {
	Name        string `yaml:"name"`
	Measure     string `yaml:"measure"` // error_rate (%, default), p50, p95, p99 (ms), rate (req/s)
	Environment string `yaml:"environment"`
	Operation   string `yaml:"operation"`
}

// LogSource counts the log records matching a query of the logs explorer.
type LogSource struct {
	Query string `yaml:"query"`
}

// IssueSource counts new or regressed issues.
type IssueSource struct {
	Event   string `yaml:"event"` // new (default) or regression
	Service string `yaml:"service"`
}

// Channel types.
const (
	ChannelWebhook      = "webhook"
	ChannelAlertmanager = "alertmanager"
	ChannelSlack        = "slack"
	ChannelEmail        = "email"
)

// Channel is where notifications go.
type Channel struct {
	Name string `yaml:"name"`
	Type string `yaml:"type"` // webhook, alertmanager, slack, email

	URL     string            `yaml:"url"` // webhook, alertmanager, slack
	Headers map[string]string `yaml:"headers"`

	SMTP SMTP     `yaml:"smtp"` // email
	From string   `yaml:"from"`
	To   []string `yaml:"to"`

	// SendResolved sends a notification when alerts resolve; default true.
	SendResolved *bool    `yaml:"send_resolved"`
	Timeout      Duration `yaml:"timeout"` // per attempt; default 10s
	Line         int      `yaml:"-"`
}

// SMTP is a mail server.
type SMTP struct {
	Address  string `yaml:"address"` // host:port
	Username string `yaml:"username"`
	Password string `yaml:"password"`
	// TLS is "starttls" (default: used when the server offers it),
	// "tls" (implicit, port 465) or "none".
	TLS string `yaml:"tls"`
}

// Route sends the alerts its matchers select to its channels, grouped by
// the GroupBy labels. Routes are tried in order; the first that matches
// takes the alert unless it says Continue. With no routes, every alert goes
// to every channel.
type Route struct {
	Matchers       []Matcher `yaml:"matchers"` // all must match; none matches every alert
	Channels       []string  `yaml:"channels"`
	GroupBy        []string  `yaml:"group_by"`        // default [alertname]; ["..."] groups nothing
	GroupWait      Duration  `yaml:"group_wait"`      // default 30s
	GroupInterval  Duration  `yaml:"group_interval"`  // default 5m
	RepeatInterval Duration  `yaml:"repeat_interval"` // default 4h
	Continue       bool      `yaml:"continue"`
	Line           int       `yaml:"-"`
}

// Silence mutes the alerts its matchers select between Starts and Ends.
type Silence struct {
	Matchers  []Matcher `yaml:"matchers"`
	Starts    time.Time `yaml:"starts"`
	Ends      time.Time `yaml:"ends"`
	CreatedBy string    `yaml:"created_by"`
	Comment   string    `yaml:"comment"`
	Line      int       `yaml:"-"`
}

// Maintenance is a window, one-off (From, To) or recurring (Start,
// Duration, Weekdays in Timezone), in which the alerts and checks its
// matchers select send no notifications and do not count against uptime.
type Maintenance struct {
	Name     string    `yaml:"name"`
	Matchers []Matcher `yaml:"matchers"` // none selects everything

	From time.Time `yaml:"from"`
	To   time.Time `yaml:"to"`

	Start    string   `yaml:"start"` // "HH:MM"
	Duration Duration `yaml:"duration"`
	Weekdays []string `yaml:"weekdays"` // monday..sunday; none means every day
	Timezone string   `yaml:"timezone"` // IANA name; default UTC
	Line     int      `yaml:"-"`
}

// ActiveAt reports whether the window covers t. A recurring window that
// starts late in the day may run into the next: it is active there too.
// An unknown timezone or malformed start is never active (Parse rejects
// both).
func (m Maintenance) ActiveAt(t time.Time) bool {
	if !m.From.IsZero() || !m.To.IsZero() {
		return !t.Before(m.From) && t.Before(m.To)
	}
	hh, mm, ok := parseClock(m.Start)
	if !ok || m.Duration <= 0 {
		return false
	}
	loc := time.UTC
	if m.Timezone != "" {
		l, err := time.LoadLocation(m.Timezone)
		if err != nil {
			return false
		}
		loc = l
	}
	lt := t.In(loc)
	// A window is at most a week long in practice; look back over the
	// starts that could still be running.
	days := int(time.Duration(m.Duration)/(24*time.Hour)) + 1
	for back := 0; back <= days; back++ {
		d := lt.AddDate(0, 0, -back)
		start := time.Date(d.Year(), d.Month(), d.Day(), hh, mm, 0, 0, loc)
		if !m.onWeekday(start.Weekday()) {
			continue
		}
		if !t.Before(start) && t.Before(start.Add(time.Duration(m.Duration))) {
			return true
		}
	}
	return false
}

func (m Maintenance) onWeekday(d time.Weekday) bool {
	if len(m.Weekdays) == 0 {
		return true
	}
	for _, w := range m.Weekdays {
		if strings.EqualFold(w, d.String()) || strings.EqualFold(w, d.String()[:3]) {
			return true
		}
	}
	return false
}

func parseClock(s string) (hh, mm int, ok bool) {
	h, m, found := strings.Cut(s, ":")
	if !found {
		return 0, 0, false
	}
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if err1 != nil || err2 != nil || hh < 0 || hh > 23 || mm < 0 || mm > 59 || len(m) != 2 {
		return 0, 0, false
	}
	return hh, mm, true
}

// Duration is a time.Duration written as in Go ("90s", "1h30m") or in days
// ("7d").
type Duration time.Duration

// ParseDuration parses "90s", "1h30m" or "7d"; negative durations are
// refused.
func ParseDuration(s string) (Duration, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		v, err := strconv.ParseFloat(n, 64)
		// !(v >= 0) also refuses NaN; the bound keeps the conversion
		// from overflowing (about 106751 days).
		if err != nil || !(v >= 0) || v*float64(24*time.Hour) >= math.MaxInt64 {
			return 0, fmt.Errorf("invalid duration %q: want e.g. 30s, 5m, 2h or 7d", s)
		}
		return Duration(v * float64(24*time.Hour)), nil
	}
	v, err := time.ParseDuration(s)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("invalid duration %q: want e.g. 30s, 5m, 2h or 7d", s)
	}
	return Duration(v), nil
}

// UnmarshalText implements encoding.TextUnmarshaler, which YAML decoding
// uses.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// MarshalText writes the duration as Go does ("1h30m0s").
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// Matcher is a label matcher as Alertmanager writes it: name="value",
// name!="value", name=~"regexp", name!~"regexp". Regular expressions are
// anchored.
type Matcher struct {
	Name  string
	Op    string // = != =~ !~
	Value string
	re    *regexp.Regexp
}

var matcherRE = regexp.MustCompile(`^\s*([a-zA-Z_][a-zA-Z0-9_.]*)\s*(=~|!~|!=|=)\s*(.*?)\s*$`)

// ParseMatcher parses one matcher. The value may be quoted (Go syntax) or
// bare.
func ParseMatcher(s string) (Matcher, error) {
	p := matcherRE.FindStringSubmatch(s)
	if p == nil {
		return Matcher{}, fmt.Errorf("invalid matcher %q: want name=\"value\", !=, =~ or !~", s)
	}
	m := Matcher{Name: p[1], Op: p[2], Value: p[3]}
	if strings.HasPrefix(m.Value, `"`) {
		v, err := strconv.Unquote(m.Value)
		if err != nil {
			return Matcher{}, fmt.Errorf("invalid matcher %q: bad quoted value", s)
		}
		m.Value = v
	}
	if m.Op == "=~" || m.Op == "!~" {
		re, err := regexp.Compile("^(?:" + m.Value + ")$")
		if err != nil {
			return Matcher{}, fmt.Errorf("invalid matcher %q: %w", s, err)
		}
		m.re = re
	}
	return m, nil
}

// Matches reports whether the labels satisfy m; a missing label is the
// empty string, as in Alertmanager.
func (m Matcher) Matches(labels map[string]string) bool {
	v := labels[m.Name]
	switch m.Op {
	case "=":
		return v == m.Value
	case "!=":
		return v != m.Value
	case "=~":
		return m.re != nil && m.re.MatchString(v)
	case "!~":
		return m.re != nil && !m.re.MatchString(v)
	}
	return false
}

// String writes m back as ParseMatcher reads it.
func (m Matcher) String() string { return m.Name + m.Op + strconv.Quote(m.Value) }

// UnmarshalText implements encoding.TextUnmarshaler.
func (m *Matcher) UnmarshalText(b []byte) error {
	v, err := ParseMatcher(string(b))
	if err != nil {
		return err
	}
	*m = v
	return nil
}

// MarshalText implements encoding.TextMarshaler.
func (m Matcher) MarshalText() ([]byte, error) { return []byte(m.String()), nil }

// MatchAll reports whether every matcher matches labels (true for none).
func MatchAll(ms []Matcher, labels map[string]string) bool {
	for _, m := range ms {
		if !m.Matches(labels) {
			return false
		}
	}
	return true
}
