package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fibinc/telltale/internal/config"
	"github.com/fibinc/telltale/internal/state"
)

// Defaults of Options and of routes.
const (
	DefaultRetryInitial   = time.Second
	DefaultRetryMax       = time.Minute
	DefaultWorkers        = 4
	DefaultQueueSize      = 256
	DefaultMaxAlerts      = 10000
	DefaultGroupWait      = 30 * time.Second
	DefaultGroupInterval  = 5 * time.Minute
	DefaultRepeatInterval = 4 * time.Hour
	DefaultChannelTimeout = 10 * time.Second
	// AttemptRetention is how long attempts and notification log entries
	// are kept.
	AttemptRetention = 30 * 24 * time.Hour
)

// Options configure a Notifier. The zero value works: state is then kept
// in memory only.
type Options struct {
	Store       state.NotifyStore // silences, notification log, attempts
	Now         func() time.Time  // default time.Now
	Logger      *slog.Logger
	ExternalURL string // Telltale's URL, for links in notifications

	// Retries wait RetryInitial (default 1s), doubling up to RetryMax
	// (default 1m), while the waits add up to less than the group's
	// group_interval.
	RetryInitial time.Duration
	RetryMax     time.Duration

	// Workers deliver flushes of groups (default 4), taken from a queue of
	// QueueSize (default 256); see Run for the policy.
	Workers   int
	QueueSize int
	// MaxAlerts bounds the alerts held in groups (default 10,000); see
	// Notify.
	MaxAlerts int

	Channel ChannelOptions // for the channels' construction
}

// Errors of the silence methods.
var (
	// ErrInvalid is wrapped by errors of invalid input.
	ErrInvalid = errors.New("invalid")
	// ErrConfigSilence is returned when expiring a silence of the
	// configuration file: only editing the file ends it.
	ErrConfigSilence = errors.New("silence is defined in the configuration file")
)

// Notifier routes, groups, mutes and delivers alerts. Safe for concurrent
// use.
type Notifier struct {
	opt   Options
	store state.NotifyStore
	now   func() time.Time
	log   *slog.Logger
	wake  chan struct{}

	mu     sync.Mutex
	cfg    *runtimeConfig
	groups map[string]*group
	size   int    // alerts held in all groups
	seq    uint64 // version of alert updates

	// smu guards the cached state of the store.
	smu      sync.Mutex
	loaded   bool
	nflog    map[string]state.NotificationLog // by logKey
	silences []state.Silence                  // API silences
}

type runtimeConfig struct {
	channels map[string]*channelEntry
	order    []string // channel names in file order
	routes   []*route
	silences []silenceRule
	maint    []config.Maintenance
}

type channelEntry struct {
	cfg          config.Channel
	ch           Channel
	sendResolved bool
	timeout      time.Duration
}

type route struct {
	key      string
	matchers []config.Matcher
	channels []string
	groupBy  []string
	groupAll bool // group_by ["..."]: a group per alert
	wait     time.Duration
	interval time.Duration
	repeat   time.Duration
	cont     bool
}

type silenceRule struct {
	s        state.Silence
	matchers []config.Matcher
}

type group struct {
	key      string
	route    *route
	labels   map[string]string
	alerts   map[string]*groupAlert // by fingerprint
	next     time.Time              // when it is flushed next
	flushing bool
}

type groupAlert struct {
	a       Alert
	fp      string
	version uint64
}

// New returns a notifier with no channels: call SetConfig, then Run.
func New(opt Options) *Notifier {
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.RetryInitial <= 0 {
		opt.RetryInitial = DefaultRetryInitial
	}
	if opt.RetryMax <= 0 {
		opt.RetryMax = DefaultRetryMax
	}
	if opt.Workers <= 0 {
		opt.Workers = DefaultWorkers
	}
	if opt.QueueSize <= 0 {
		opt.QueueSize = DefaultQueueSize
	}
	if opt.MaxAlerts <= 0 {
		opt.MaxAlerts = DefaultMaxAlerts
	}
	store := opt.Store
	if store == nil {
		store = newMemStore()
	}
	return &Notifier{
		opt: opt, store: store, now: opt.Now, log: opt.Logger.With("component", "notify"),
		wake: make(chan struct{}, 1), cfg: &runtimeConfig{channels: map[string]*channelEntry{}},
		groups: map[string]*group{},
	}
}

// SetConfig replaces channels, routes, silences and maintenance windows;
// it may be called at any time (a configuration reload). Alerts are kept
// and routed again: a group whose key is unchanged keeps its timers, and
// the notification log is kept, so a reload does not re-send. On error the
// previous configuration stays.
func (n *Notifier) SetConfig(channels []config.Channel, routes []config.Route, silences []config.Silence, maint []config.Maintenance) error {
	cfg, err := compile(channels, routes, silences, maint, n.opt.Channel)
	if err != nil {
		return err
	}
	now := n.now()
	n.mu.Lock()
	defer n.mu.Unlock()
	n.cfg = cfg
	latest := map[string]*groupAlert{}
	for _, g := range n.groups {
		for fp, ga := range g.alerts {
			if cur, ok := latest[fp]; !ok || ga.version > cur.version {
				latest[fp] = ga
			}
		}
	}
	old := n.groups
	n.groups = map[string]*group{}
	n.size = 0
	for _, ga := range latest {
		n.place(ga, now, old)
	}
	n.poke()
	return nil
}

func compile(channels []config.Channel, routes []config.Route, silences []config.Silence, maint []config.Maintenance, copt ChannelOptions) (*runtimeConfig, error) {
	cfg := &runtimeConfig{channels: map[string]*channelEntry{}, maint: slices.Clone(maint)}
	for _, c := range channels {
		if _, dup := cfg.channels[c.Name]; dup {
			return nil, fmt.Errorf("channel %s: defined twice", c.Name)
		}
		ch, err := NewChannel(c, copt)
		if err != nil {
			return nil, err
		}
		e := &channelEntry{cfg: c, ch: ch, sendResolved: c.SendResolved == nil || *c.SendResolved, timeout: c.Timeout.D()}
		if e.timeout <= 0 {
			e.timeout = DefaultChannelTimeout
		}
		cfg.channels[c.Name] = e
		cfg.order = append(cfg.order, c.Name)
	}
	if len(routes) == 0 {
		// No routes: every alert goes to every channel, grouped by
		// alertname with the default timers.
		routes = []config.Route{{Channels: cfg.order}}
	}
	keys := map[string]int{}
	for i, r := range routes {
		for _, c := range r.Channels {
			if cfg.channels[c] == nil {
				return nil, fmt.Errorf("route %d: unknown channel %q", i+1, c)
			}
		}
		rt := &route{matchers: r.Matchers, channels: r.Channels, cont: r.Continue,
			wait: orDefault(r.GroupWait.D(), DefaultGroupWait), interval: orDefault(r.GroupInterval.D(), DefaultGroupInterval),
			repeat: orDefault(r.RepeatInterval.D(), DefaultRepeatInterval)}
		switch {
		case len(r.GroupBy) == 1 && r.GroupBy[0] == "...":
			rt.groupAll = true
		case len(r.GroupBy) == 0:
			rt.groupBy = []string{"alertname"}
		default:
			rt.groupBy = slices.Clone(r.GroupBy)
		}
		// Alertmanager's route key: the path of matchers from the root.
		// Two routes with the same matchers are told apart by a number.
		ms := make([]string, len(r.Matchers))
		for j, m := range r.Matchers {
			ms[j] = m.String()
		}
		key := "{}"
		if len(routes) > 1 || len(r.Matchers) > 0 {
			key = "{}/{" + strings.Join(ms, ",") + "}"
		}
		if k := keys[key]; k > 0 {
			keys[key]++
			key += "/" + strconv.Itoa(k)
		} else {
			keys[key] = 1
		}
		rt.key = key
		cfg.routes = append(cfg.routes, rt)
	}
	for i, s := range silences {
		ms := make([]string, len(s.Matchers))
		for j, m := range s.Matchers {
			ms[j] = m.String()
		}
		st := state.Silence{
			ID:       configSilenceID(ms, s.Starts, s.Ends),
			Matchers: ms, StartsAt: s.Starts.UTC(), EndsAt: s.Ends.UTC(), CreatedBy: s.CreatedBy, Comment: s.Comment,
		}
		if len(ms) == 0 {
			return nil, fmt.Errorf("silence %d: no matchers", i+1)
		}
		cfg.silences = append(cfg.silences, silenceRule{s: st, matchers: s.Matchers})
	}
	return cfg, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// configSilenceID names a silence of the file by its content, so that it
// keeps its id across reloads while unchanged.
func configSilenceID(matchers []string, starts, ends time.Time) string {
	labels := map[string]string{"m": strings.Join(matchers, "\x00"), "s": starts.UTC().String(), "e": ends.UTC().String()}
	return "config-" + Fingerprint(labels)[:12]
}

// Notify takes the alerts of one evaluation of a rule: its firing
// instances (EndsAt zero) and those that just resolved (EndsAt set). An
// alert not mentioned stays as it was. Notify never waits for a delivery:
// it only updates the groups in memory. Policy when full: once MaxAlerts
// alerts are held, alerts of new fingerprints are dropped (and logged);
// updates of held alerts are always taken.
func (n *Notifier) Notify(ctx context.Context, alerts []Alert) {
	now := n.now()
	n.mu.Lock()
	defer n.mu.Unlock()
	resolvedIn := map[*group]bool{}
	dropped := 0
	for _, a := range alerts {
		if len(a.Labels) == 0 {
			continue
		}
		if a.StartsAt.IsZero() {
			a.StartsAt = now
		}
		n.seq++
		ga := &groupAlert{a: a, fp: a.Fingerprint(), version: n.seq}
		gs, ok := n.place(ga, now, nil)
		if !ok {
			dropped++
			continue
		}
		if a.Status(now) == StatusResolved {
			for _, g := range gs {
				resolvedIn[g] = true
			}
		}
	}
	if dropped > 0 {
		n.log.Warn("too many alerts held: new alerts dropped", "dropped", dropped, "max", n.opt.MaxAlerts)
	}
	// Departure from Alertmanager (its issue #1660): when the last
	// firing alert of a group resolves, say so at once rather than at
	// the next group_interval.
	for g := range resolvedIn {
		if n.groups[g.key] == g && allResolved(g, now) && g.next.After(now) {
			g.next = now
		}
	}
	n.poke()
}

// place puts an alert into the groups of the routes that take it, creating
// them as needed (reusing the timers of old groups of the same key). It
// reports false when the alert is new and the notifier is full. n.mu is
// held.
func (n *Notifier) place(ga *groupAlert, now time.Time, old map[string]*group) ([]*group, bool) {
	var out []*group
	for _, rt := range n.cfg.routes {
		if !config.MatchAll(rt.matchers, ga.a.Labels) {
			continue
		}
		labels := groupLabels(rt, ga.a.Labels)
		key := rt.key + ":" + labelString(labels)
		g := n.groups[key]
		if g == nil {
			if n.size >= n.opt.MaxAlerts {
				return out, false
			}
			g = &group{key: key, route: rt, labels: labels, alerts: map[string]*groupAlert{}, next: now.Add(rt.wait)}
			// An alert older than group_wait is not held back: after a
			// restart or reload the wait has passed already.
			if ga.a.StartsAt.Add(rt.wait).Before(now) {
				g.next = now
			}
			if o := old[key]; o != nil {
				g.next, g.flushing = o.next, o.flushing
			}
			n.groups[key] = g
		}
		prev := g.alerts[ga.fp]
		if prev == nil {
			if n.size >= n.opt.MaxAlerts {
				return out, false
			}
			n.size++
		} else if prev.a.StartsAt.Equal(ga.a.StartsAt) && prev.a.EndsAt.Equal(ga.a.EndsAt) {
			// The same state again: keep the version, so that a flush
			// in progress may still drop it once resolved and sent.
			ga = &groupAlert{a: ga.a, fp: ga.fp, version: prev.version}
		}
		g.alerts[ga.fp] = ga
		out = append(out, g)
		if !rt.cont {
			break
		}
	}
	return out, true
}

func groupLabels(rt *route, labels map[string]string) map[string]string {
	if rt.groupAll {
		return cloneLabels(labels)
	}
	out := map[string]string{}
	for _, k := range rt.groupBy {
		if v, ok := labels[k]; ok {
			out[k] = v
		}
	}
	return out
}

func cloneLabels(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// labelString writes labels as Alertmanager does in group keys:
// {a="1",b="2"}.
func labelString(labels map[string]string) string {
	parts := make([]string, 0, len(labels))
	for _, k := range sortedKeys(labels) {
		parts = append(parts, k+"="+strconv.Quote(labels[k]))
	}
	return "{" + strings.Join(parts, ",") + "}"
}

func allResolved(g *group, now time.Time) bool {
	for _, ga := range g.alerts {
		if ga.a.Status(now) == StatusFiring {
			return false
		}
	}
	return len(g.alerts) > 0
}

// poke wakes Run without blocking.
func (n *Notifier) poke() {
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

// flushJob is a snapshot of a group to flush.
type flushJob struct {
	key      string
	labels   map[string]string
	route    *route
	alerts   []*groupAlert
	channels []*channelEntry
	cfg      *runtimeConfig
}

// due takes the groups whose time has come, marks them flushing and sets
// their next flush a group_interval later.
func (n *Notifier) due(now time.Time) []*flushJob {
	n.mu.Lock()
	defer n.mu.Unlock()
	var jobs []*flushJob
	for _, g := range n.groups {
		if g.flushing || g.next.After(now) {
			continue
		}
		g.flushing = true
		g.next = now.Add(g.route.interval)
		j := &flushJob{key: g.key, labels: g.labels, route: g.route, cfg: n.cfg}
		for _, ga := range g.alerts {
			j.alerts = append(j.alerts, ga)
		}
		for _, c := range g.route.channels {
			if e := n.cfg.channels[c]; e != nil {
				j.channels = append(j.channels, e)
			}
		}
		jobs = append(jobs, j)
	}
	sort.Slice(jobs, func(a, b int) bool { return jobs[a].key < jobs[b].key })
	return jobs
}

// nextDue returns when the next group is due, or the zero time.
func (n *Notifier) nextDue() time.Time {
	n.mu.Lock()
	defer n.mu.Unlock()
	var next time.Time
	for _, g := range n.groups {
		if !g.flushing && (next.IsZero() || g.next.Before(next)) {
			next = g.next
		}
	}
	return next
}

// done ends a flush: when every channel succeeded, the resolved alerts it
// carried are forgotten unless they changed meanwhile, and an empty group
// goes.
func (n *Notifier) done(j *flushJob, ok bool, now time.Time) {
	n.mu.Lock()
	defer n.mu.Unlock()
	g := n.groups[j.key]
	if g == nil {
		return
	}
	g.flushing = false
	if ok {
		for _, ga := range j.alerts {
			cur := g.alerts[ga.fp]
			if cur != nil && cur.version == ga.version && cur.a.Status(now) == StatusResolved {
				delete(g.alerts, ga.fp)
				n.size--
			}
		}
	}
	if len(g.alerts) == 0 {
		delete(n.groups, j.key)
	}
	n.poke()
}

// Run flushes groups when due and delivers their notifications until ctx
// is done. Policy: due flushes go to a queue of QueueSize served by
// Workers; a group has at most one flush queued or running, and when the
// queue is full its flush is put off by a second (nothing is lost: a flush
// works from the group's current alerts and the notification log). Every
// hour, attempts and log entries older than AttemptRetention are pruned.
func (n *Notifier) Run(ctx context.Context) error {
	if err := n.load(ctx); err != nil {
		n.log.Error("cannot load notifier state; will retry", "err", err)
	}
	jobs := make(chan *flushJob, n.opt.QueueSize)
	var wg sync.WaitGroup
	for range n.opt.Workers {
		wg.Go(func() {
			for j := range jobs {
				n.flush(ctx, j)
			}
		})
	}
	defer wg.Wait()
	defer close(jobs)
	n.prune(ctx)
	prune := time.NewTicker(time.Hour)
	defer prune.Stop()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		now := n.now()
		for _, j := range n.due(now) {
			select {
			case jobs <- j:
			default:
				n.log.Warn("delivery queue full: flush put off", "group", j.key)
				n.putOff(j, now.Add(time.Second))
			}
		}
		wait := time.Hour
		if next := n.nextDue(); !next.IsZero() {
			wait = max(next.Sub(n.now()), 0)
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return nil
		case <-n.wake:
		case <-timer.C:
		case <-prune.C:
			n.prune(ctx)
		}
	}
}

func (n *Notifier) putOff(j *flushJob, at time.Time) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if g := n.groups[j.key]; g != nil {
		g.flushing = false
		g.next = at
	}
}

func (n *Notifier) prune(ctx context.Context) {
	if err := n.store.PruneNotifications(ctx, n.now().Add(-AttemptRetention)); err != nil && ctx.Err() == nil {
		n.log.Error("cannot prune notification attempts", "err", err)
	}
	n.smu.Lock()
	defer n.smu.Unlock()
	for k, e := range n.nflog {
		if e.SentAt.Before(n.now().Add(-AttemptRetention)) {
			delete(n.nflog, k)
		}
	}
}

// load reads the notification log and the API silences once.
func (n *Notifier) load(ctx context.Context) error {
	n.smu.Lock()
	defer n.smu.Unlock()
	if n.loaded {
		return nil
	}
	logs, err := n.store.NotificationLogs(ctx)
	if err != nil {
		return fmt.Errorf("cannot read notification log: %w", err)
	}
	sil, err := n.store.Silences(ctx)
	if err != nil {
		return fmt.Errorf("cannot read silences: %w", err)
	}
	n.nflog = map[string]state.NotificationLog{}
	for _, e := range logs {
		n.nflog[logKey(e.GroupKey, e.Channel)] = e
	}
	n.silences = sil
	n.loaded = true
	return nil
}

func logKey(group, channel string) string { return group + "\x00" + channel }

// flush sends a group's notification to each of its channels that needs
// one, in parallel.
func (n *Notifier) flush(ctx context.Context, j *flushJob) {
	now := n.now()
	if err := n.load(ctx); err != nil {
		n.log.Error("cannot load notifier state: flush put off", "group", j.key, "err", err)
		n.done(j, false, now)
		return
	}
	var visible []*groupAlert
	mutedFiring := map[string]bool{}
	for _, ga := range j.alerts {
		switch {
		case !n.muted(j.cfg, ga.a.Labels, now):
			visible = append(visible, ga)
		case ga.a.Status(now) == StatusFiring:
			mutedFiring[ga.fp] = true
		}
	}
	results := make([]bool, len(j.channels))
	var wg sync.WaitGroup
	for i, ch := range j.channels {
		wg.Go(func() { results[i] = n.deliver(ctx, j, ch, visible, mutedFiring, now) })
	}
	wg.Wait()
	n.done(j, !slices.Contains(results, false), now)
}

// muted reports whether a silence or maintenance window covers the
// alert now.
func (n *Notifier) muted(cfg *runtimeConfig, labels map[string]string, now time.Time) bool {
	for _, m := range cfg.maint {
		if m.ActiveAt(now) && config.MatchAll(m.Matchers, labels) {
			return true
		}
	}
	for _, s := range cfg.silences {
		if silenceState(s.s, now) == SilenceActive && config.MatchAll(s.matchers, labels) {
			return true
		}
	}
	n.smu.Lock()
	defer n.smu.Unlock()
	for _, s := range n.silences {
		if silenceState(s, now) != SilenceActive {
			continue
		}
		if ms, err := parseMatchers(s.Matchers); err == nil && config.MatchAll(ms, labels) {
			return true
		}
	}
	return false
}

// deliver runs Alertmanager's dedup stage for one channel, then sends with
// retries and writes the notification log. It reports false when the
// delivery failed.
func (n *Notifier) deliver(ctx context.Context, j *flushJob, ch *channelEntry, visible []*groupAlert, mutedFiring map[string]bool, now time.Time) bool {
	lk := logKey(j.key, ch.cfg.Name)
	n.smu.Lock()
	entry, had := n.nflog[lk]
	n.smu.Unlock()

	var firing, resolved []string
	var alerts []SentAlert
	for _, ga := range visible {
		st := ga.a.Status(now)
		if st == StatusFiring {
			firing = append(firing, ga.fp)
		} else {
			resolved = append(resolved, ga.fp)
		}
		alerts = append(alerts, SentAlert{Alert: ga.a, Status: st, Fingerprint: ga.fp})
	}
	sort.Strings(firing)
	sort.Strings(resolved)
	var prev *state.NotificationLog
	if had {
		prev = &entry
	}
	reason := needsUpdate(prev, firing, resolved, ch.sendResolved, j.route.repeat, now)
	if reason == "" {
		// A muted alert leaves the log without a notification, so that it
		// is notified as new if it still fires when the mute ends.
		if prev != nil && slices.ContainsFunc(prev.Firing, func(fp string) bool { return mutedFiring[fp] }) {
			e := *prev
			e.Firing = slices.DeleteFunc(slices.Clone(prev.Firing), func(fp string) bool { return mutedFiring[fp] })
			n.saveLog(ctx, lk, e)
		}
		return true
	}
	if !ch.sendResolved {
		alerts = slices.DeleteFunc(alerts, func(a SentAlert) bool { return a.Status == StatusResolved })
	}
	ok := true
	if len(alerts) > 0 {
		note := n.notification(j, ch.cfg.Name, alerts, reason, now)
		ok = n.send(ctx, ch, note, j.route.interval)
	}
	if !ok {
		return false
	}
	n.saveLog(ctx, lk, state.NotificationLog{GroupKey: j.key, Channel: ch.cfg.Name, Firing: firing, Resolved: resolved, SentAt: state.Timestamp(now)})
	return true
}

// saveLog writes a notification log entry to the store and the cache. A
// store failure is logged: the cache still has it, so only a restart
// would re-send. The write is not cancelled with ctx: a notification
// delivered as the server stops must still be logged, or the next start
// sends it again.
func (n *Notifier) saveLog(ctx context.Context, lk string, e state.NotificationLog) {
	if err := n.store.SaveNotificationLog(context.WithoutCancel(ctx), e); err != nil {
		n.log.Error("cannot save notification log", "group", e.GroupKey, "channel", e.Channel, "err", err)
	}
	n.smu.Lock()
	n.nflog[lk] = e
	n.smu.Unlock()
}

// needsUpdate is Alertmanager's dedup decision (notify/dedup_stage.go): it
// returns why a notification is due, or "".
func needsUpdate(prev *state.NotificationLog, firing, resolved []string, sendResolved bool, repeat time.Duration, now time.Time) string {
	switch {
	case prev == nil:
		if len(firing) > 0 {
			return ReasonFirst
		}
		return ""
	case !subset(firing, prev.Firing):
		return ReasonNewAlerts
	case len(firing) == 0:
		// Sent even without send_resolved, to clear the log's firing
		// alerts (the channel then gets nothing: see deliver).
		if len(prev.Firing) > 0 {
			return ReasonAllResolved
		}
		return ""
	case sendResolved && !subset(resolved, prev.Resolved):
		return ReasonNewResolved
	case !prev.SentAt.After(now.Add(-repeat)):
		return ReasonRepeat
	}
	return ""
}

// subset reports whether every element of a (sorted) is in b (sorted).
func subset(a, b []string) bool {
	for _, x := range a {
		if _, ok := slices.BinarySearch(b, x); !ok {
			return false
		}
	}
	return true
}

// notification builds the message: firing alerts first, each part by
// start time.
func (n *Notifier) notification(j *flushJob, channel string, alerts []SentAlert, reason string, now time.Time) *Notification {
	sort.SliceStable(alerts, func(a, b int) bool {
		x, y := alerts[a], alerts[b]
		if x.Status != y.Status {
			return x.Status == StatusFiring
		}
		if !x.StartsAt.Equal(y.StartsAt) {
			return x.StartsAt.Before(y.StartsAt)
		}
		return x.Fingerprint < y.Fingerprint
	})
	note := &Notification{
		Channel: channel, GroupKey: j.key, GroupLabels: j.labels, Status: StatusResolved, Alerts: alerts,
		ExternalURL: n.opt.ExternalURL, Reason: reason, At: now,
	}
	for _, a := range alerts {
		if a.Status == StatusFiring {
			note.Status = StatusFiring
		}
	}
	note.CommonLabels = common(alerts, func(a SentAlert) map[string]string { return a.Labels })
	note.CommonAnnotations = common(alerts, func(a SentAlert) map[string]string { return a.Annotations })
	return note
}

func common(alerts []SentAlert, get func(SentAlert) map[string]string) map[string]string {
	if len(alerts) == 0 {
		return map[string]string{}
	}
	out := cloneLabels(get(alerts[0]))
	for _, a := range alerts[1:] {
		m := get(a)
		for k, v := range out {
			if w, ok := m[k]; !ok || w != v {
				delete(out, k)
			}
		}
	}
	return out
}

// send makes the attempts of one delivery: the first at once, then after
// waits of RetryInitial doubling up to RetryMax, while the waits add up to
// less than budget (the route's group_interval, after which the next flush
// takes over). Every attempt is recorded.
func (n *Notifier) send(ctx context.Context, ch *channelEntry, note *Notification, budget time.Duration) bool {
	ctx, cancel := context.WithTimeout(ctx, budget)
	defer cancel()
	delay, waited := n.opt.RetryInitial, time.Duration(0)
	for attempt := 1; ; attempt++ {
		actx, acancel := context.WithTimeout(ctx, ch.timeout)
		at := n.now()
		start := time.Now()
		err := ch.ch.Send(actx, note)
		took := time.Since(start)
		acancel()
		rec := state.NotificationAttempt{
			At: state.Timestamp(at), Channel: note.Channel, GroupKey: note.GroupKey, Status: note.Status,
			Alerts: len(note.Alerts), Attempt: attempt, Outcome: state.OutcomeOK, Duration: took,
		}
		deadline, _ := ctx.Deadline()
		last := err == nil || IsPermanent(err) || waited+delay > budget || time.Until(deadline) < delay
		if err != nil {
			rec.Outcome = state.OutcomeFailed
			if last {
				rec.Outcome = state.OutcomeGaveUp
			}
			rec.Error = err.Error()
			rec.HTTPStatus = httpStatus(err)
			if ch.cfg.Type == config.ChannelEmail {
				rec.HTTPStatus = 0 // an SMTP code is in the error text
			}
		}
		// Record even when ctx ended (shutdown): the attempt happened.
		if _, rerr := n.store.AddNotificationAttempt(context.WithoutCancel(ctx), rec); rerr != nil {
			n.log.Error("cannot record notification attempt", "err", rerr)
		}
		if err == nil {
			n.log.Info("notification sent", "channel", note.Channel, "group", note.GroupKey, "status", note.Status, "alerts", len(note.Alerts), "attempt", attempt)
			return true
		}
		n.log.Warn("notification failed", "channel", note.Channel, "group", note.GroupKey, "attempt", attempt, "outcome", rec.Outcome, "err", err)
		if last {
			return false
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return false
		case <-t.C:
		}
		waited += delay
		delay = min(delay*2, n.opt.RetryMax)
	}
}
