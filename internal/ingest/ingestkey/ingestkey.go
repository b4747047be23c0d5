// Package ingestkey decides who may send telemetry, and how much: it checks
// the ingest key of every OTLP, JSON log and Sentry request, limits each
// key's rate in records per second, and bounds the records of one request.
//
// Keys are looked up in memory: Keys keeps a snapshot of the active keys of
// every project, indexed by the SHA-256 of the key, so that a check costs a
// hash and a map lookup, never a query, and its timing does not depend on
// how much of a guessed key is right. The snapshot is rebuilt after every
// change made through Keys and every Refresh interval (changes made
// elsewhere apply within it).
//
// Every failure (no key, a malformed one, an unknown, revoked or other
// project's key) is answered alike, with Message, so that an answer tells
// nothing about which part was wrong. See docs/design/security.md.
package ingestkey

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fibinc/telltale/internal/selfmetrics"
	"github.com/fibinc/telltale/internal/state"
)

// Message is the answer to every request whose key does not open the
// project it sends to.
const Message = "missing or invalid ingest key"

// ErrInvalid is the error of every failed key check; its text is Message.
var ErrInvalid = errors.New(Message)

// Defaults of Options.
const (
	DefaultRate                 = 100_000 // records per second per key
	DefaultMaxRecordsPerRequest = 100_000
	DefaultRefresh              = 10 * time.Second
	// BurstSeconds is how many seconds of its rate a key may send at once.
	BurstSeconds = 2
)

// Store is what Keys reads and changes: *state/duckdb.Store is one.
type Store interface {
	Projects(ctx context.Context) ([]state.Project, error)
	CreateProject(ctx context.Context, slug, name string) (state.Project, error)
	state.IngestKeyStore
}

// Options configure Keys. Store is required; the rest have working zero
// values, which check keys.
type Options struct {
	Store Store
	// Off turns the key checks off (--ingest-auth=false): requests without
	// a key, or with a bad one, are accepted. A good key still names its
	// project and has its rate limit.
	Off bool
	// Header is the request header (and gRPC metadata key) that carries
	// the raw key. "" means "Authorization: Bearer <key>".
	Header string
	// Rate is the records per second a key may send when it has no rate
	// of its own: 0 means DefaultRate, negative means no limit.
	Rate float64
	// MaxRecordsPerRequest bounds the records of one request: 0 means
	// DefaultMaxRecordsPerRequest, negative means no limit.
	MaxRecordsPerRequest int
	// Refresh is how often the snapshot of keys is rebuilt from Store.
	// Default DefaultRefresh.
	Refresh time.Duration
	// Metrics count failures; nil counts into a private registry.
	Metrics *Metrics
	Now     func() time.Time
	Logger  *slog.Logger
}

// Metrics are the self-metrics of ingest access control.
type Metrics struct {
	AuthFailures *selfmetrics.CounterVec // telltale_ingest_auth_failures_total{protocol}
	RateLimited  *selfmetrics.CounterVec // telltale_ingest_rate_limited_total{protocol}
	StatsDDenied *selfmetrics.CounterVec // telltale_statsd_denied_total{transport}
}

// NewMetrics registers the metrics in r.
func NewMetrics(r *selfmetrics.Registry) *Metrics {
	return &Metrics{
		AuthFailures: r.NewCounter("telltale_ingest_auth_failures_total", "Ingest requests refused for a missing or invalid ingest key.", "protocol"),
		RateLimited:  r.NewCounter("telltale_ingest_rate_limited_total", "Ingest requests refused by a key's rate limit or the records-per-request limit.", "protocol"),
		StatsDDenied: r.NewCounter("telltale_statsd_denied_total", "StatsD packets and connections dropped because their source is not in --statsd-allow.", "transport"),
	}
}

// Key is an active ingest key, as a request authenticated with it sees it.
type Key struct {
	ID      int64
	Name    string
	Project state.Project
	// Rate is the key's limit in records per second; 0 means none.
	Rate   float64
	bucket *bucket
}

// snapshot is the immutable state that lookups read.
type snapshot struct {
	keys     map[[sha256.Size]byte]*Key
	projects map[int64]state.Project
	loaded   bool
}

// Keys checks ingest keys and limits. Safe for concurrent use.
type Keys struct {
	opt  Options
	log  *slog.Logger
	snap atomic.Pointer[snapshot]
	// loadMu serialises loads, so that an older snapshot never replaces a
	// newer one.
	loadMu sync.Mutex
}

// New returns Keys with an empty snapshot: call Load before serving. It
// panics if opt.Store is nil.
func New(opt Options) *Keys {
	if opt.Store == nil {
		panic("ingestkey: Options.Store is nil")
	}
	if opt.Rate == 0 {
		opt.Rate = DefaultRate
	}
	if opt.MaxRecordsPerRequest == 0 {
		opt.MaxRecordsPerRequest = DefaultMaxRecordsPerRequest
	}
	if opt.Refresh <= 0 {
		opt.Refresh = DefaultRefresh
	}
	if opt.Metrics == nil {
		opt.Metrics = NewMetrics(selfmetrics.New())
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	k := &Keys{opt: opt, log: opt.Logger.With("component", "ingestkey")}
	k.snap.Store(&snapshot{})
	return k
}

// Off reports whether key checks are off.
func (k *Keys) Off() bool { return k.opt.Off }

// Metrics returns the metrics Keys counts into, for the StatsD listener.
func (k *Keys) Metrics() *Metrics { return k.opt.Metrics }

// Load rebuilds the snapshot from the store. Rate limit state of keys that
// stay active is kept.
func (k *Keys) Load(ctx context.Context) error {
	k.loadMu.Lock()
	defer k.loadMu.Unlock()
	projects, err := k.opt.Store.Projects(ctx)
	if err != nil {
		return fmt.Errorf("cannot load ingest keys: %w", err)
	}
	keys, err := k.opt.Store.IngestKeys(ctx, 0)
	if err != nil {
		return fmt.Errorf("cannot load ingest keys: %w", err)
	}
	old := k.snap.Load()
	buckets := make(map[int64]*bucket, len(old.keys))
	for _, key := range old.keys {
		buckets[key.ID] = key.bucket
	}
	s := &snapshot{keys: make(map[[sha256.Size]byte]*Key, len(keys)), projects: make(map[int64]state.Project, len(projects)), loaded: true}
	for _, p := range projects {
		s.projects[p.ID] = p
	}
	for _, sk := range keys {
		p, ok := s.projects[sk.ProjectID]
		if !sk.Active() || !ok {
			continue
		}
		rate := sk.RateLimit
		if rate == 0 {
			rate = k.opt.Rate
		}
		if rate < 0 || math.IsInf(rate, 0) || math.IsNaN(rate) {
			rate = 0
		}
		key := &Key{ID: sk.ID, Name: sk.Name, Project: p, Rate: rate, bucket: buckets[sk.ID]}
		if key.bucket == nil {
			key.bucket = &bucket{}
		}
		s.keys[sha256.Sum256([]byte(sk.Key))] = key
	}
	k.snap.Store(s)
	return nil
}

// Run reloads the snapshot every Refresh interval until ctx is done, so
// that keys changed by another process or a restored backup apply soon. A
// failed reload keeps the last snapshot and is logged.
func (k *Keys) Run(ctx context.Context) {
	t := time.NewTicker(k.opt.Refresh)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := k.Load(ctx); err != nil && ctx.Err() == nil {
				k.log.Warn("cannot reload ingest keys; the last ones stay in force", "err", err)
			}
		}
	}
}

// Lookup returns the active key whose value is raw.
func (k *Keys) Lookup(raw string) (*Key, bool) {
	if !WellFormed(raw) {
		return nil, false
	}
	key, ok := k.snap.Load().keys[sha256.Sum256([]byte(raw))]
	return key, ok
}

// Project returns a project by id, from the snapshot.
func (k *Keys) Project(id int64) (state.Project, bool) {
	p, ok := k.snap.Load().projects[id]
	return p, ok
}

// FirstKey returns the first active key of a project (by id), or "".
func (k *Keys) FirstKey(ctx context.Context, projectID int64) (string, error) {
	keys, err := k.opt.Store.IngestKeys(ctx, projectID)
	if err != nil {
		return "", err
	}
	for _, key := range keys {
		if key.Active() {
			return key.Key, nil
		}
	}
	return "", nil
}

// Authenticate checks raw, the key a request of protocol (a
// selfmetrics.Source* name) carries. It returns the key, or ErrInvalid
// (counted). With checks off it returns a good key, else nil and no error.
func (k *Keys) Authenticate(raw, protocol string) (*Key, error) {
	key, ok := k.Lookup(raw)
	switch {
	case ok:
		return key, nil
	case k.opt.Off:
		return nil, nil
	}
	k.opt.Metrics.AuthFailures.With(protocol).Inc()
	return nil, ErrInvalid
}

// AuthenticateProject is Authenticate for a request addressed to one
// project (Sentry's URL names it): the key must be one of that project's.
// With checks off, a request without a good key gets the project itself.
func (k *Keys) AuthenticateProject(raw string, projectID int64, protocol string) (*Key, error) {
	key, ok := k.Lookup(raw)
	if ok && key.Project.ID == projectID {
		return key, nil
	}
	if k.opt.Off {
		if p, ok := k.Project(projectID); ok {
			return &Key{Project: p}, nil
		}
		return nil, fmt.Errorf("%w: there is no project %d", ErrNoProject, projectID)
	}
	k.opt.Metrics.AuthFailures.With(protocol).Inc()
	return nil, ErrInvalid
}

// ErrNoProject is returned, with checks off, for a request to a project
// that does not exist.
var ErrNoProject = errors.New("unknown project")

// WellFormed reports whether raw looks like a key: 32 lower-case hex
// digits.
func WellFormed(raw string) bool {
	if len(raw) != 32 {
		return false
	}
	for i := 0; i < len(raw); i++ {
		if c := raw[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// ParseBearer returns the token of an Authorization value "Bearer <token>"
// (the scheme in any case, surrounding spaces ignored), or "" when v is
// not one.
func ParseBearer(v string) string {
	v = strings.TrimSpace(v)
	scheme, token, ok := strings.Cut(v, " ")
	if !ok || !strings.EqualFold(scheme, "bearer") {
		return ""
	}
	return strings.TrimSpace(token)
}
