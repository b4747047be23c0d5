package notify

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/fibinc/telltale/internal/config"
	"github.com/fibinc/telltale/internal/state"
)

// Silence states, as Alertmanager's.
const (
	SilencePending = "pending"
	SilenceActive  = "active"
	SilenceExpired = "expired"
)

// Silence sources.
const (
	SourceConfig = "config"
	SourceAPI    = "api"
)

// Silence is a silence as the API and pages show it.
type Silence struct {
	state.Silence
	State  string `json:"state"`  // pending, active, expired
	Source string `json:"source"` // config or api: config ones cannot be expired
	// Muting lists the held firing alerts that an active silence mutes.
	Muting []MutedAlert `json:"muting"`
}

// MutedAlert is a firing alert that a silence mutes.
type MutedAlert struct {
	Fingerprint string            `json:"fingerprint"`
	Labels      map[string]string `json:"labels"`
}

// SilenceRequest is a new silence. A zero StartsAt means now.
type SilenceRequest struct {
	Matchers  []string  `json:"matchers"`
	StartsAt  time.Time `json:"starts"`
	EndsAt    time.Time `json:"ends"`
	CreatedBy string    `json:"created_by"`
	Comment   string    `json:"comment"`
}

func silenceState(s state.Silence, now time.Time) string {
	switch {
	case now.Before(s.StartsAt):
		return SilencePending
	case now.Before(s.EndsAt):
		return SilenceActive
	}
	return SilenceExpired
}

func parseMatchers(ss []string) ([]config.Matcher, error) {
	out := make([]config.Matcher, len(ss))
	for i, s := range ss {
		m, err := config.ParseMatcher(s)
		if err != nil {
			return nil, err
		}
		out[i] = m
	}
	return out, nil
}

// Silences returns the silences of the configuration file and of the
// API, active first, then pending, then expired; within a state by
// start, latest first.
func (n *Notifier) Silences(ctx context.Context) ([]Silence, error) {
	if err := n.load(ctx); err != nil {
		return nil, err
	}
	now := n.now()
	n.mu.Lock()
	cfg := n.cfg
	var firing []MutedAlert
	seen := map[string]bool{}
	for _, g := range n.groups {
		for fp, ga := range g.alerts {
			if !seen[fp] && ga.a.Status(now) == StatusFiring {
				seen[fp] = true
				firing = append(firing, MutedAlert{Fingerprint: fp, Labels: ga.a.Labels})
			}
		}
	}
	n.mu.Unlock()
	sort.Slice(firing, func(a, b int) bool { return firing[a].Fingerprint < firing[b].Fingerprint })

	var out []Silence
	add := func(s state.Silence, ms []config.Matcher, source string) {
		v := Silence{Silence: s, State: silenceState(s, now), Source: source, Muting: []MutedAlert{}}
		if v.State == SilenceActive {
			for _, a := range firing {
				if config.MatchAll(ms, a.Labels) {
					v.Muting = append(v.Muting, a)
				}
			}
		}
		out = append(out, v)
	}
	for _, s := range cfg.silences {
		add(s.s, s.matchers, SourceConfig)
	}
	n.smu.Lock()
	api := append([]state.Silence(nil), n.silences...)
	n.smu.Unlock()
	for _, s := range api {
		ms, err := parseMatchers(s.Matchers)
		if err != nil {
			ms = nil // stored before a syntax change: shown, mutes nothing
		}
		add(s, ms, SourceAPI)
	}
	rank := map[string]int{SilenceActive: 0, SilencePending: 1, SilenceExpired: 2}
	sort.SliceStable(out, func(a, b int) bool {
		if ra, rb := rank[out[a].State], rank[out[b].State]; ra != rb {
			return ra < rb
		}
		return out[a].StartsAt.After(out[b].StartsAt)
	})
	return out, nil
}

// CreateSilence validates and stores a silence. Errors of the request
// wrap ErrInvalid and name the problem.
func (n *Notifier) CreateSilence(ctx context.Context, req SilenceRequest) (Silence, error) {
	if err := n.load(ctx); err != nil {
		return Silence{}, err
	}
	now := n.now()
	if len(req.Matchers) == 0 {
		return Silence{}, fmt.Errorf("%w silence: at least one matcher is required, e.g. alertname=\"api-down\"", ErrInvalid)
	}
	ms := make([]string, len(req.Matchers))
	for i, s := range req.Matchers {
		m, err := config.ParseMatcher(s)
		if err != nil {
			return Silence{}, fmt.Errorf("%w silence: %v", ErrInvalid, err)
		}
		ms[i] = m.String()
	}
	if req.StartsAt.IsZero() {
		req.StartsAt = now
	}
	switch {
	case req.EndsAt.IsZero():
		return Silence{}, fmt.Errorf("%w silence: ends is required", ErrInvalid)
	case !req.EndsAt.After(req.StartsAt):
		return Silence{}, fmt.Errorf("%w silence: ends must be after starts", ErrInvalid)
	case !req.EndsAt.After(now):
		return Silence{}, fmt.Errorf("%w silence: ends must be in the future", ErrInvalid)
	}
	s := state.Silence{
		Matchers: ms, StartsAt: state.Timestamp(req.StartsAt), EndsAt: state.Timestamp(req.EndsAt),
		CreatedBy: strings.TrimSpace(req.CreatedBy), Comment: strings.TrimSpace(req.Comment),
		CreatedAt: state.Timestamp(now), UpdatedAt: state.Timestamp(now),
	}
	if err := state.CheckSilence(s); err != nil {
		return Silence{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	s, err := n.store.CreateSilence(ctx, s)
	if err != nil {
		return Silence{}, fmt.Errorf("cannot store silence: %w", err)
	}
	n.smu.Lock()
	n.silences = append(n.silences, s)
	n.smu.Unlock()
	n.poke()
	return Silence{Silence: s, State: silenceState(s, now), Source: SourceAPI, Muting: []MutedAlert{}}, nil
}

// ExpireSilence ends a silence now. ErrConfigSilence for one of the
// configuration file, state.ErrNotFound (wrapped) for an unknown id. When
// the silence ends, the alerts it muted are notified at their group's
// next flush.
func (n *Notifier) ExpireSilence(ctx context.Context, id string) (Silence, error) {
	if err := n.load(ctx); err != nil {
		return Silence{}, err
	}
	n.mu.Lock()
	cfg := n.cfg
	n.mu.Unlock()
	for _, s := range cfg.silences {
		if s.s.ID == id {
			return Silence{}, fmt.Errorf("silence %s: %w: edit the file to end it", id, ErrConfigSilence)
		}
	}
	now := n.now()
	s, err := n.store.ExpireSilence(ctx, id, state.Timestamp(now))
	if err != nil {
		return Silence{}, fmt.Errorf("cannot expire silence %s: %w", id, err)
	}
	n.smu.Lock()
	for i := range n.silences {
		if n.silences[i].ID == id {
			n.silences[i] = s
		}
	}
	n.smu.Unlock()
	return Silence{Silence: s, State: silenceState(s, now), Source: SourceAPI, Muting: []MutedAlert{}}, nil
}

// Attempts returns the attempt log, newest first.
func (n *Notifier) Attempts(ctx context.Context, f state.AttemptFilter) ([]state.NotificationAttempt, error) {
	return n.store.NotificationAttempts(ctx, f)
}

// Channels describes the configured channels, in file order, without
// secrets.
func (n *Notifier) Channels() []ChannelInfo {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make([]ChannelInfo, 0, len(n.cfg.order))
	for _, name := range n.cfg.order {
		out = append(out, Describe(n.cfg.channels[name].cfg))
	}
	return out
}
