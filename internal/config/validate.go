package config

import (
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Defaults that Parse fills in (see the field comments in config.go).
const (
	DefaultInterval       = Duration(60 * time.Second)
	DefaultTimeout        = Duration(10 * time.Second)
	DefaultRetryInterval  = Duration(5 * time.Second)
	DefaultGrace          = Duration(time.Minute)
	DefaultEvery          = Duration(time.Minute)
	DefaultChannelTimeout = Duration(10 * time.Second)
	DefaultGroupWait      = Duration(30 * time.Second)
	DefaultGroupInterval  = Duration(5 * time.Minute)
	DefaultRepeatInterval = Duration(4 * time.Hour)
	DefaultCondition      = "> 0"
)

// Limits that Parse enforces.
const (
	MinPushInterval = Duration(10 * time.Second)
	MinEvery        = Duration(time.Second)
	MaxWindow       = Duration(7 * 24 * time.Hour)
	MaxDatapoints   = 100
	MaxRetries      = 10
)

var (
	nameRE  = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,99}$`)
	labelRE = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_.]*$`)
	// condRE is the built-in rule condition check: "<op> <number>".
	condRE = regexp.MustCompile(`^\s*(>=|<=|==|!=|>|<)\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*$`)
	// checkCondRE is the built-in check condition check, Gatus' shape:
	// "<left> <op> <right>".
	checkCondRE = regexp.MustCompile(`^\s*\S.*?\s*(==|!=|>=|<=|>|<)\s*\S.*$`)
)

var (
	checkTypes   = []string{CheckHTTP, CheckTCP, CheckDNS, CheckTLS, CheckPush}
	dnsRecords   = []string{"A", "AAAA", "CNAME", "MX", "NS", "TXT"}
	httpMethods  = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}
	missingData  = []string{MissingMissing, MissingBreaching, MissingNotBreaching, MissingIgnore}
	aggregations = []string{"avg", "sum", "min", "max", "count", "rate", "p50", "p90", "p95", "p99"}
	measures     = []string{"error_rate", "p50", "p95", "p99", "rate"}
	issueEvents  = []string{"new", "regression"}
	channelTypes = []string{ChannelWebhook, ChannelAlertmanager, ChannelSlack, ChannelEmail}
	smtpTLS      = []string{"starttls", "tls", "none"}
	weekdays     = []string{"monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"}
)

// oneOf lists choices for a message: "a, b or c".
func oneOf(choices []string) string {
	if len(choices) < 2 {
		return strings.Join(choices, "")
	}
	return strings.Join(choices[:len(choices)-1], ", ") + " or " + choices[len(choices)-1]
}

// validate fills defaults into f and reports what is wrong with it.
func (p *parser) validate(f *File, opt Options) {
	checks := p.names("checks", "check", len(f.Checks), func(i int) string { return f.Checks[i].Name })
	for i := range f.Checks {
		p.check(&f.Checks[i], fmt.Sprintf("checks[%d]", i), opt)
	}
	p.names("rules", "rule", len(f.Rules), func(i int) string { return f.Rules[i].Name })
	stale := make(map[string]Duration, len(f.Checks))
	for _, c := range f.Checks {
		stale[c.Name] = c.Staleness()
	}
	for i := range f.Rules {
		p.rule(&f.Rules[i], fmt.Sprintf("rules[%d]", i), checks, stale, opt)
	}
	channels := p.names("channels", "channel", len(f.Channels), func(i int) string { return f.Channels[i].Name })
	for i := range f.Channels {
		p.channel(&f.Channels[i], fmt.Sprintf("channels[%d]", i))
	}
	for i := range f.Routes {
		p.route(&f.Routes[i], fmt.Sprintf("routes[%d]", i), i, channels)
	}
	for i := range f.Silences {
		p.silence(&f.Silences[i], fmt.Sprintf("silences[%d]", i), i)
	}
	p.names("maintenance", "maintenance window", len(f.Maintenance), func(i int) string { return f.Maintenance[i].Name })
	for i := range f.Maintenance {
		p.maintenance(&f.Maintenance[i], fmt.Sprintf("maintenance[%d]", i))
	}
}

// names checks the names of one kind of object, required, well formed and
// unique, and returns the set of them.
func (p *parser) names(list, kind string, n int, name func(int) string) []string {
	var seen []string
	first := map[string]int{}
	for i := range n {
		path := fmt.Sprintf("%s[%d].name", list, i)
		nm := name(i)
		switch {
		case nm == "":
			p.errAt(path, "%s %d has no name", kind, i+1)
		case !nameRE.MatchString(nm):
			p.errAt(path, "%s %q: invalid name: want 1 to 100 of a-z, 0-9, '.', '_' and '-', starting with a letter or digit", kind, nm)
		default:
			if j, dup := first[nm]; dup {
				p.errAt(path, "%s %q is defined twice (first at line %d)", kind, nm, p.at(fmt.Sprintf("%s[%d]", list, j)).line)
				continue
			}
			first[nm] = i
			seen = append(seen, nm)
		}
	}
	return seen
}

// who names an object in messages.
func who(kind, name string, i int) string {
	if name == "" {
		return fmt.Sprintf("%s %d", kind, i+1)
	}
	return fmt.Sprintf("%s %q", kind, name)
}

func index(path string) int {
	i := strings.LastIndexByte(path, '[')
	n, _ := strconv.Atoi(strings.TrimSuffix(path[i+1:], "]"))
	return n
}

// hostPort checks a host:port address.
func hostPort(s string) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("invalid address %q: want host:port", s)
	}
	if host == "" {
		return fmt.Errorf("invalid address %q: no host", s)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("invalid address %q: port must be 1 to 65535", s)
	}
	return nil
}

// httpURL checks an absolute http(s) URL.
func httpURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("invalid url %q: %v", s, strings.TrimPrefix(err.Error(), "parse "+strconv.Quote(s)+": "))
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return fmt.Errorf("invalid url %q: want an absolute http:// or https:// URL", s)
	}
	return nil
}

func (p *parser) labels(path, what string, labels map[string]string) {
	for k := range labels {
		if !labelRE.MatchString(k) {
			p.errAt(path+"."+k, "%s: invalid label name %q: want letters, digits, '_' and '.', not starting with a digit", what, k)
		}
	}
}

func (p *parser) check(c *Check, path string, opt Options) {
	what := who("check", c.Name, index(path))
	if c.Type == "" && c.URL != "" {
		c.Type = CheckHTTP
	}
	switch {
	case c.Type == "" && p.failed[path+".url"]:
		return
	case c.Type == "":
		p.errAt(path, "%s has no type: set url for an HTTP check, or type (%s)", what, oneOf(checkTypes[1:]))
		return
	case !slices.Contains(checkTypes, c.Type):
		p.errAt(path+".type", "%s: unknown type %s; want %s", what, c.Type, oneOf(checkTypes))
		return
	}
	// Fields of other types are mistakes, most often a wrong type.
	unused := func(field string, set bool) {
		if set {
			p.errAt(path+"."+field, "%s: %s is not used by %s checks", what, field, c.Type)
		}
	}
	isHTTP, isPush := c.Type == CheckHTTP, c.Type == CheckPush
	unused("url", !isHTTP && c.URL != "")
	unused("method", !isHTTP && c.Method != "")
	unused("headers", !isHTTP && len(c.Headers) > 0)
	unused("body", !isHTTP && c.Body != "")
	unused("follow_redirects", !isHTTP && c.FollowRedirects != nil)
	unused("insecure", !isHTTP && c.Type != CheckTLS && c.Insecure)
	unused("address", (isHTTP || isPush) && c.Address != "")
	unused("query", c.Type != CheckDNS && c.Query != "")
	unused("record", c.Type != CheckDNS && c.Record != "")
	unused("token", !isPush && c.Token != "")
	unused("grace", !isPush && c.Grace != 0)
	unused("timeout", isPush && c.Timeout != 0)
	unused("retries", isPush && c.Retries != 0)
	unused("retry_interval", isPush && c.RetryInterval != 0)
	unused("conditions", isPush && len(c.Conditions) > 0)

	switch c.Type {
	case CheckHTTP:
		if c.URL == "" {
			p.errAt(path, "%s: an http check needs a url", what)
		} else if err := httpURL(c.URL); err != nil {
			p.errAt(path+".url", "%s: %v", what, err)
		}
		if c.Method == "" {
			c.Method = "GET"
		}
		c.Method = strings.ToUpper(c.Method)
		if !slices.Contains(httpMethods, c.Method) {
			p.errAt(path+".method", "%s: unknown method %s; want %s", what, c.Method, oneOf(httpMethods))
		}
		if c.FollowRedirects == nil {
			t := true
			c.FollowRedirects = &t
		}
		for k := range c.Headers {
			if k == "" || strings.ContainsAny(k, " \t\r\n:") {
				p.errAt(path+".headers."+k, "%s: invalid header name %q", what, k)
			}
		}
	case CheckTCP, CheckTLS:
		if c.Address == "" {
			p.errAt(path, "%s: a %s check needs an address (host:port)", what, c.Type)
		} else if err := hostPort(c.Address); err != nil {
			p.errAt(path+".address", "%s: %v", what, err)
		}
	case CheckDNS:
		if c.Query == "" {
			p.errAt(path, "%s: a dns check needs a query (the name to resolve)", what)
		}
		if c.Record == "" {
			c.Record = "A"
		}
		c.Record = strings.ToUpper(c.Record)
		if !slices.Contains(dnsRecords, c.Record) {
			p.errAt(path+".record", "%s: unknown record %s; want %s", what, c.Record, oneOf(dnsRecords))
		}
		if c.Address != "" {
			if err := hostPort(c.Address); err != nil {
				p.errAt(path+".address", "%s: resolver address: %v", what, err)
			}
		}
	}

	if c.Interval == 0 {
		c.Interval = DefaultInterval
	}
	if isPush {
		if c.Interval < MinPushInterval {
			p.errAt(path+".interval", "%s: interval %v is too short for a push check; want at least %v", what, c.Interval.D(), MinPushInterval.D())
		}
		if c.Grace == 0 {
			c.Grace = DefaultGrace
		}
	} else {
		if c.Interval < Duration(time.Second) {
			p.errAt(path+".interval", "%s: interval %v is too short; want at least 1s", what, c.Interval.D())
		}
		if c.Timeout == 0 {
			c.Timeout = min(DefaultTimeout, c.Interval)
		}
		if c.Timeout > c.Interval {
			p.errAt(path+".timeout", "%s: timeout %v is longer than interval %v", what, c.Timeout.D(), c.Interval.D())
		}
		if c.RetryInterval == 0 {
			c.RetryInterval = DefaultRetryInterval
		}
		if c.Retries < 0 || c.Retries > MaxRetries {
			p.errAt(path+".retries", "%s: retries %d: want 0 to %d", what, c.Retries, MaxRetries)
		}
	}
	for i, cond := range c.Conditions {
		cp := fmt.Sprintf("%s.conditions[%d]", path, i)
		if opt.CheckCondition != nil {
			if err := opt.CheckCondition(cond); err != nil {
				p.errAt(cp, "%s: condition %q: %v", what, cond, err)
			}
		} else if !checkCondRE.MatchString(cond) {
			p.errAt(cp, "%s: invalid condition %q: want e.g. \"[STATUS] == 200\"", what, cond)
		}
	}
	p.labels(path+".labels", what, c.Labels)
}

func (p *parser) rule(r *Rule, path string, checks []string, stale map[string]Duration, opt Options) {
	what := who("rule", r.Name, index(path))
	var sources []string
	for _, s := range []struct {
		name string
		set  bool
	}{
		{"metric", r.Metric != nil}, {"promql", r.PromQL != ""}, {"service", r.Service != nil},
		{"logs", r.Logs != nil}, {"issues", r.Issues != nil}, {"check", r.Check != ""},
	} {
		if s.set {
			sources = append(sources, s.name)
		}
	}
	switch len(sources) {
	case 0:
		p.errAt(path, "%s has no source: set one of metric, promql, service, logs, issues or check", what)
	case 1:
	default:
		p.errAt(path+"."+sources[1], "%s has %d sources (%s): a rule takes exactly one", what, len(sources), strings.Join(sources, ", "))
	}
	if m := r.Metric; m != nil {
		sp := path + ".metric"
		if m.Name == "" {
			p.errAt(sp, "%s: metric needs a name", what)
		}
		if m.Aggregation == "" {
			m.Aggregation = "avg"
		}
		if !slices.Contains(aggregations, m.Aggregation) {
			p.errAt(sp+".aggregation", "%s: unknown aggregation %s; want %s", what, m.Aggregation, oneOf(aggregations))
		}
		if m.Filter != "" && opt.MetricFilter != nil {
			if err := opt.MetricFilter(m.Filter); err != nil {
				p.errAt(sp+".filter", "%s: metric filter %q: %v", what, m.Filter, err)
			}
		}
	}
	if r.PromQL != "" && opt.PromQL != nil {
		if err := opt.PromQL(r.PromQL); err != nil {
			p.errAt(path+".promql", "%s: promql: %v", what, err)
		}
	}
	if s := r.Service; s != nil {
		sp := path + ".service"
		if s.Name == "" {
			p.errAt(sp, "%s: service needs a name", what)
		}
		if s.Measure == "" {
			s.Measure = "error_rate"
		}
		if !slices.Contains(measures, s.Measure) {
			p.errAt(sp+".measure", "%s: unknown measure %s; want %s", what, s.Measure, oneOf(measures))
		}
	}
	if l := r.Logs; l != nil && l.Query != "" && opt.LogQuery != nil {
		if err := opt.LogQuery(l.Query); err != nil {
			p.errAt(path+".logs.query", "%s: log query %q: %v", what, l.Query, err)
		}
	}
	if is := r.Issues; is != nil {
		if is.Event == "" {
			is.Event = "new"
		}
		if !slices.Contains(issueEvents, is.Event) {
			p.errAt(path+".issues.event", "%s: unknown issues event %s; want %s", what, is.Event, oneOf(issueEvents))
		}
	}
	if r.Check != "" && !slices.Contains(checks, r.Check) {
		msg := fmt.Sprintf("%s: check %q is not defined", what, r.Check)
		if s := suggest(r.Check, checks); s != "" {
			msg += "; did you mean " + s + "?"
		}
		p.errAt(path+".check", "%s", msg)
	}

	if r.Condition == "" && (r.Issues != nil || r.Check != "") {
		r.Condition = DefaultCondition
	}
	switch {
	case r.Condition == "":
		if len(sources) > 0 {
			p.errAt(path, "%s needs a condition, e.g. \"> 5\" or absent", what)
		}
	case opt.RuleCondition != nil:
		if err := opt.RuleCondition(r.Condition); err != nil {
			p.errAt(path+".condition", "%s: condition %q: %v", what, r.Condition, err)
		}
	case r.Condition != "absent" && !condRE.MatchString(r.Condition):
		p.errAt(path+".condition", "%s: invalid condition %q: want an operator (> >= < <= == !=) and a number, e.g. \"> 5\", or absent", what, r.Condition)
	}

	if r.Every == 0 {
		r.Every = DefaultEvery
	}
	if r.Every < MinEvery {
		p.errAt(path+".every", "%s: every %v is too short; want at least %v", what, r.Every.D(), MinEvery.D())
	}
	if r.Window == 0 {
		r.Window = r.Every
		// A check rule looks at the check's latest result, which is up
		// to an interval old when the rule runs.
		if w := stale[r.Check]; r.Check != "" && w > r.Window {
			r.Window = w
		}
	}
	if r.Window > MaxWindow {
		p.errAt(path+".window", "%s: window %v is longer than 7d", what, r.Window.D())
	}
	if r.Datapoints == 0 {
		r.Datapoints = 1
	}
	if r.Datapoints < 1 || r.Datapoints > MaxDatapoints {
		p.errAt(path+".datapoints", "%s: datapoints %d: want 1 to %d", what, r.Datapoints, MaxDatapoints)
	}
	if r.ToAlarm == 0 {
		r.ToAlarm = r.Datapoints
	}
	if r.ToAlarm < 1 || r.ToAlarm > r.Datapoints {
		p.errAt(path+".to_alarm", "%s: to_alarm %d: want 1 to datapoints (%d)", what, r.ToAlarm, r.Datapoints)
	}
	if r.MissingData == "" {
		r.MissingData = MissingMissing
	}
	if !slices.Contains(missingData, r.MissingData) {
		p.errAt(path+".missing_data", "%s: unknown missing_data %s; want %s", what, r.MissingData, oneOf(missingData))
	}
	p.labels(path+".labels", what, r.Labels)
	if _, ok := r.Labels["alertname"]; ok {
		p.errAt(path+".labels.alertname", "%s: label alertname is the rule's name and cannot be set", what)
	}
	for k, a := range r.Annotations {
		if !labelRE.MatchString(k) {
			p.errAt(path+".annotations."+k, "%s: invalid annotation name %q", what, k)
		}
		if opt.Annotation != nil {
			if err := opt.Annotation(a); err != nil {
				p.errAt(path+".annotations."+k, "%s: annotation %s: %v", what, k, err)
			}
		}
	}
}

func (p *parser) channel(c *Channel, path string) {
	what := who("channel", c.Name, index(path))
	switch {
	case c.Type == "":
		p.errAt(path, "%s has no type; want %s", what, oneOf(channelTypes))
		return
	case !slices.Contains(channelTypes, c.Type):
		p.errAt(path+".type", "%s: unknown type %s; want %s", what, c.Type, oneOf(channelTypes))
		return
	}
	unused := func(field string, set bool) {
		if set {
			p.errAt(path+"."+field, "%s: %s is not used by %s channels", what, field, c.Type)
		}
	}
	if c.Type == ChannelEmail {
		unused("url", c.URL != "")
		unused("headers", len(c.Headers) > 0)
		if c.SMTP.Address == "" {
			p.errAt(path, "%s: an email channel needs smtp.address (host:port)", what)
		} else if err := hostPort(c.SMTP.Address); err != nil {
			p.errAt(path+".smtp.address", "%s: smtp.address: %v", what, err)
		}
		if c.SMTP.TLS == "" {
			c.SMTP.TLS = "starttls"
		}
		if !slices.Contains(smtpTLS, c.SMTP.TLS) {
			p.errAt(path+".smtp.tls", "%s: unknown smtp tls %s; want %s", what, c.SMTP.TLS, oneOf(smtpTLS))
		}
		if c.From == "" {
			p.errAt(path, "%s: an email channel needs from", what)
		} else if _, err := mail.ParseAddress(c.From); err != nil {
			p.errAt(path+".from", "%s: invalid from address %q: %s", what, c.From, mailErr(err))
		}
		if len(c.To) == 0 {
			p.errAt(path, "%s: an email channel needs at least one address in to", what)
		}
		for i, to := range c.To {
			if _, err := mail.ParseAddress(to); err != nil {
				p.errAt(fmt.Sprintf("%s.to[%d]", path, i), "%s: invalid to address %q: %s", what, to, mailErr(err))
			}
		}
	} else {
		unused("smtp", c.SMTP != SMTP{})
		unused("from", c.From != "")
		unused("to", len(c.To) > 0)
		if c.URL == "" {
			p.errAt(path, "%s: a %s channel needs a url", what, c.Type)
		} else if err := httpURL(c.URL); err != nil {
			p.errAt(path+".url", "%s: %v", what, err)
		}
		for k := range c.Headers {
			if k == "" || strings.ContainsAny(k, " \t\r\n:") {
				p.errAt(path+".headers."+k, "%s: invalid header name %q", what, k)
			}
		}
	}
	if c.SendResolved == nil {
		t := true
		c.SendResolved = &t
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultChannelTimeout
	}
}

func (p *parser) route(r *Route, path string, i int, channels []string) {
	what := who("route", "", i)
	if len(r.Channels) == 0 {
		p.errAt(path, "%s has no channels", what)
	}
	for j, ch := range r.Channels {
		if !slices.Contains(channels, ch) {
			msg := fmt.Sprintf("%s: channel %q is not defined", what, ch)
			if s := suggest(ch, channels); s != "" {
				msg += "; did you mean " + s + "?"
			}
			p.errAt(fmt.Sprintf("%s.channels[%d]", path, j), "%s", msg)
		}
	}
	if r.GroupBy == nil {
		r.GroupBy = []string{"alertname"}
	}
	for j, l := range r.GroupBy {
		if l == "..." {
			if len(r.GroupBy) > 1 {
				p.errAt(fmt.Sprintf("%s.group_by[%d]", path, j), "%s: group_by [...] groups nothing and takes no other labels", what)
			}
			continue
		}
		if !labelRE.MatchString(l) {
			p.errAt(fmt.Sprintf("%s.group_by[%d]", path, j), "%s: invalid label name %q in group_by", what, l)
		}
	}
	if r.GroupWait == 0 {
		r.GroupWait = DefaultGroupWait
	}
	if r.GroupInterval == 0 {
		r.GroupInterval = DefaultGroupInterval
	}
	if r.RepeatInterval == 0 {
		r.RepeatInterval = DefaultRepeatInterval
	}
	// As Alertmanager: a repeat can only go out at a group interval tick.
	if rem := r.RepeatInterval % r.GroupInterval; rem != 0 {
		r.RepeatInterval += r.GroupInterval - rem
	}
}

func (p *parser) silence(s *Silence, path string, i int) {
	what := who("silence", "", i)
	if len(s.Matchers) == 0 {
		p.errAt(path, "%s has no matchers: a silence must say which alerts it mutes", what)
	}
	switch {
	case s.Ends.IsZero():
		p.errAt(path, "%s has no ends", what)
	case !s.Ends.After(s.Starts):
		p.errAt(path+".ends", "%s ends (%s) before it starts (%s)", what, s.Ends.Format(time.RFC3339), s.Starts.Format(time.RFC3339))
	}
}

func (p *parser) maintenance(m *Maintenance, path string) {
	what := who("maintenance window", m.Name, index(path))
	oneOff := !m.From.IsZero() || !m.To.IsZero()
	recurring := m.Start != "" || m.Duration != 0 || len(m.Weekdays) > 0
	switch {
	case oneOff && recurring:
		p.errAt(path, "%s: set either from and to (one-off) or start and duration (recurring), not both", what)
	case oneOff:
		switch {
		case m.From.IsZero():
			p.errAt(path, "%s has to but no from", what)
		case m.To.IsZero():
			p.errAt(path, "%s has from but no to", what)
		case !m.To.After(m.From):
			p.errAt(path+".to", "%s: to (%s) is not after from (%s)", what, m.To.Format(time.RFC3339), m.From.Format(time.RFC3339))
		}
	case recurring:
		if m.Start == "" {
			p.errAt(path, "%s has no start (HH:MM)", what)
		} else if _, _, ok := parseClock(m.Start); !ok {
			p.errAt(path+".start", "%s: invalid start %q: want HH:MM, 00:00 to 23:59", what, m.Start)
		}
		if m.Duration == 0 {
			p.errAt(path, "%s has no duration", what)
		} else if m.Duration > MaxWindow {
			p.errAt(path+".duration", "%s: duration %v is longer than 7d", what, m.Duration.D())
		}
		for j, d := range m.Weekdays {
			if !knownWeekday(d) {
				p.errAt(fmt.Sprintf("%s.weekdays[%d]", path, j), "%s: unknown weekday %q; want monday to sunday", what, d)
			}
		}
	default:
		p.errAt(path, "%s has no time: set from and to, or start and duration", what)
	}
	if m.Timezone == "" {
		m.Timezone = "UTC"
	}
	if _, err := time.LoadLocation(m.Timezone); err != nil || m.Timezone == "Local" {
		p.errAt(path+".timezone", "%s: unknown timezone %q: want an IANA name such as Europe/Amsterdam", what, m.Timezone)
	}
}

func knownWeekday(d string) bool {
	for _, w := range weekdays {
		if strings.EqualFold(d, w) || strings.EqualFold(d, w[:3]) {
			return true
		}
	}
	return false
}

// mailErr words a net/mail error without its repeated "mail: " prefixes.
func mailErr(err error) string { return strings.ReplaceAll(err.Error(), "mail: ", "") }
