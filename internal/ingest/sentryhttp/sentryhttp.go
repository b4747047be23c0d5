// Package sentryhttp receives events from Sentry SDKs: the envelope endpoint
// every current SDK uses, and the legacy store endpoint, at
// [/prefix]/api/<project>/envelope/ and [/prefix]/api/<project>/store/.
//
// Answers follow what Sentry's Relay does and what SDKs parse: 200 with
// {"id": ...}; 400 for malformed data; 401 "missing or invalid ingest key"
// for every request whose key (missing, malformed, unknown, revoked, or
// another project's) does not open the project in the URL, which SDKs take
// as "drop"; 413 beyond the size limits (checked before and after
// decompression) and the records-per-request limit; 429 with Retry-After
// and X-Sentry-Rate-Limits when the pipeline is full or the key's rate
// limit is reached.
// See docs/design/sentry-ingest.md.
package sentryhttp

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/zstd"

	sentry "github.com/fibinc/telltale/internal/decode/sentry"
	"github.com/fibinc/telltale/internal/ingest/ingestkey"
	"github.com/fibinc/telltale/internal/pipeline"
	"github.com/fibinc/telltale/internal/selfmetrics"
	"github.com/fibinc/telltale/internal/state"
	"github.com/fibinc/telltale/internal/telemetry"
)

// Appender takes decoded records into the ingest pipeline and returns once
// they are committed.
type Appender interface {
	Append(ctx context.Context, b *telemetry.Batch) error
}

// Projects finds the project a DSN key opens.
type Projects interface {
	ProjectByKey(ctx context.Context, publicKey string) (state.Project, error)
}

// Options configure a Handler. Appender and Keys (or, without key
// management, Projects) are required.
type Options struct {
	Appender Appender
	// Keys checks that a request's key is an active ingest key of the
	// project in its URL, and limits its rate.
	Keys *ingestkey.Keys
	// Projects, without Keys, finds the project of a key among the
	// projects' public keys (cached for 10 s); no rate limits apply.
	Projects Projects
	Metrics  *selfmetrics.Ingest // optional
	// MaxBodyBytes caps the request body as sent (compressed). Default 20 MiB.
	MaxBodyBytes int64
	// MaxEnvelopeBytes caps the decompressed envelope. Default 100 MiB;
	// only kept items are held in memory, each within Limits.
	MaxEnvelopeBytes int64
	Limits           sentry.Limits
	// Window returns the accepted time range of a signal; events outside it
	// are moved to the time they were received.
	Window func(telemetry.Signal) (min, max time.Time)
	Logger *slog.Logger
	Now    func() time.Time
	// CheckIns, when set, is called for every check-in of an accepted
	// request (after its batch is committed), with the check-in's duration
	// and the time it was received: uptime push monitors take them.
	CheckIns func(ctx context.Context, monitorSlug, status string, duration time.Duration, at time.Time)
}

// Handler serves the Sentry ingest endpoints.
type Handler struct {
	opt Options
	log *slog.Logger

	// keys caches key lookups: every request needs one, projects rarely
	// change, and a state store query per request would cost a third of
	// the ingest time.
	keysMu sync.Mutex
	keys   map[string]cachedKey
}

type cachedKey struct {
	project state.Project
	found   bool
	expires time.Time
}

// Key cache policy: answers are kept for keyTTL, unknown keys too (so that
// a client with a wrong key cannot make every request a query); the cache
// starts over when it holds maxCachedKeys.
const (
	keyTTL        = 10 * time.Second
	maxCachedKeys = 10_000
)

// New returns a Handler. It panics if Appender, or both Keys and Projects,
// are nil.
func New(opt Options) *Handler {
	if opt.Appender == nil || opt.Projects == nil && opt.Keys == nil {
		panic("sentryhttp: Options.Appender and Options.Keys or Options.Projects are required")
	}
	if opt.MaxBodyBytes <= 0 {
		opt.MaxBodyBytes = 20 << 20
	}
	if opt.MaxEnvelopeBytes <= 0 {
		opt.MaxEnvelopeBytes = 100 << 20
	}
	if opt.Metrics == nil {
		opt.Metrics = selfmetrics.NewIngest(selfmetrics.New())
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	return &Handler{opt: opt, log: opt.Logger.With("component", "sentry"), keys: map[string]cachedKey{}}
}

// retryAfter is the Retry-After of a 429: the pipeline drains in well under
// a second, and Sentry SDKs back off per category for this long.
const retryAfter = "1"

// Browsers send these; see the CORS section of docs/design/sentry-ingest.md.
const corsAllowHeaders = "Content-Type, X-Sentry-Auth, X-Requested-With, Origin, Accept, Authentication, Authorization, Content-Encoding, sentry-trace, baggage"

type endpoint int

const (
	endpointEnvelope endpoint = iota
	endpointStore
)

// route parses [/prefix]/api/<project>/<endpoint>/ with or without the
// trailing slash.
func route(path string) (project int64, ep endpoint, ok bool) {
	path = strings.TrimSuffix(path, "/")
	i := strings.LastIndex(path, "/api/")
	if i < 0 {
		return 0, 0, false
	}
	pid, name, found := strings.Cut(path[i+len("/api/"):], "/")
	if !found {
		return 0, 0, false
	}
	switch name {
	case "envelope":
		ep = endpointEnvelope
	case "store":
		ep = endpointStore
	default:
		return 0, 0, false
	}
	id, err := strconv.ParseInt(pid, 10, 64)
	if err != nil || id <= 0 {
		return 0, 0, false
	}
	return id, ep, true
}

// outcome is what one request did, for metrics.
type outcome struct {
	code      int
	committed int
	rejected  map[string]int
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Access-Control-Allow-Origin", "*")
	hd.Set("Access-Control-Expose-Headers", "X-Sentry-Error, X-Sentry-Rate-Limits, Retry-After")
	project, ep, ok := route(r.URL.Path)
	if !ok {
		h.fail(w, http.StatusNotFound, fmt.Sprintf("no Sentry endpoint at %s: use /api/<project id>/envelope/ or /api/<project id>/store/", r.URL.Path))
		return
	}
	if r.Method == http.MethodOptions {
		hd.Set("Access-Control-Allow-Methods", "POST, OPTIONS")
		hd.Set("Access-Control-Allow-Headers", corsAllowHeaders)
		hd.Set("Access-Control-Max-Age", "3600")
		w.WriteHeader(http.StatusOK)
		return
	}
	out := h.serve(w, r, project, ep)
	h.opt.Metrics.CountRequest(selfmetrics.SourceSentry, string(telemetry.SignalErrors), strconv.Itoa(out.code), out.committed, out.rejected)
}

func (h *Handler) serve(w http.ResponseWriter, r *http.Request, project int64, ep endpoint) outcome {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST, OPTIONS")
		return h.fail(w, http.StatusMethodNotAllowed, fmt.Sprintf("method %s not allowed: Sentry SDKs send POST", r.Method))
	}
	// Check the request's own credentials before reading the body, so that
	// a stranger cannot make us decompress anything.
	key, err := requestKey(r)
	if err != nil {
		// A malformed header is an invalid key: the same answer, counted
		// alike (with checks off, it is ignored).
		h.log.Debug("malformed Sentry auth header", "err", err)
		key = malformedKey
		if h.opt.Keys != nil && h.opt.Keys.Off() {
			key = ""
		}
	}
	var (
		proj   state.Project
		ingest *ingestkey.Key
		authed bool
	)
	if key != "" || h.opt.Keys != nil && h.opt.Keys.Off() {
		if proj, ingest, err = h.project(r.Context(), key, project); err != nil {
			return h.authFailed(w, err)
		}
		authed = true
	}
	if r.ContentLength > h.opt.MaxBodyBytes {
		return h.fail(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body of %d bytes exceeds the limit of %d bytes", r.ContentLength, h.opt.MaxBodyBytes))
	}
	body, closeBody, err := h.body(w, r)
	if err != nil {
		return h.fail(w, http.StatusUnsupportedMediaType, err.Error())
	}
	defer closeBody()

	now := h.opt.Now()
	var b telemetry.Batch
	var eventID string
	var checkIns []sentry.CheckIn
	skipped := map[string]int{}
	envelope := ep == endpointEnvelope || strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-sentry-envelope")
	if envelope {
		env, err := sentry.ParseEnvelope(body, h.opt.Limits)
		if err != nil {
			return h.bodyFailed(w, err)
		}
		if !authed {
			dsn, err := sentry.ParseDSN(env.Header.DSN)
			if env.Header.DSN == "" || err != nil {
				dsn.PublicKey = ""
			}
			if proj, ingest, err = h.project(r.Context(), dsn.PublicKey, project); err != nil {
				return h.authFailed(w, err)
			}
		}
		for k, n := range env.Skipped {
			skipped[k] += n
		}
		if eventID, err = h.envelopeItems(&b, &checkIns, env, proj, now); err != nil {
			return h.fail(w, http.StatusBadRequest, err.Error())
		}
	} else {
		if !authed {
			if _, _, err := h.project(r.Context(), "", project); err != nil {
				return h.authFailed(w, err)
			}
		}
		raw, err := readAll(body, h.eventLimit())
		if err != nil {
			return h.bodyFailed(w, err)
		}
		payload, err := sentry.DecodeStoreBody(raw, h.eventLimit())
		if err != nil {
			return h.bodyFailed(w, err)
		}
		ev, err := sentry.DecodeEvent(payload)
		if err != nil {
			return h.bodyFailed(w, err)
		}
		h.prepare(&ev, proj, "", time.Time{}, now)
		b.Errors = append(b.Errors, ev)
		eventID = ev.EventID
	}

	if h.opt.Keys != nil {
		if le := h.opt.Keys.Admit(ingest, b.Len(), selfmetrics.SourceSentry); le != nil {
			if le.Status == http.StatusTooManyRequests {
				// Sentry SDKs back off for all categories of this key.
				w.Header().Set("Retry-After", le.RetryAfterHeader())
				w.Header().Set("X-Sentry-Rate-Limits", le.RetryAfterHeader()+"::key")
			}
			return h.fail(w, le.Status, le.Error())
		}
		r = r.WithContext(ingestkey.WithKey(r.Context(), ingest))
	}
	if b.Len() > 0 {
		if err := h.opt.Appender.Append(r.Context(), &b); err != nil {
			return h.appendFailed(w, r, err)
		}
	}
	if h.opt.CheckIns != nil {
		for _, ci := range checkIns {
			h.opt.CheckIns(r.Context(), ci.MonitorSlug, ci.Status, time.Duration(ci.Duration*float64(time.Second)), now)
		}
	}
	if len(skipped) > 0 {
		h.log.Debug("skipped envelope items", "items", skipped)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	if eventID != "" {
		fmt.Fprintf(w, `{"id":%q}`, eventID)
	} else {
		io.WriteString(w, `{}`)
	}
	return outcome{code: http.StatusOK, committed: b.Len()}
}

func (h *Handler) eventLimit() int64 {
	if h.opt.Limits.MaxEventBytes > 0 {
		return h.opt.Limits.MaxEventBytes
	}
	return 1 << 20
}

// envelopeItems decodes the kept items of an envelope into b (and its
// check-ins into checkIns) and returns the id of its event, if it has one.
func (h *Handler) envelopeItems(b *telemetry.Batch, checkIns *[]sentry.CheckIn, env *sentry.Envelope, proj state.Project, now time.Time) (string, error) {
	var eventID string
	for i, it := range env.Items {
		switch it.Type {
		case "event":
			ev, err := sentry.DecodeEvent(it.Payload)
			if err != nil {
				return "", fmt.Errorf("item %d (event): %w", i, err)
			}
			h.prepare(&ev, proj, env.Header.EventID, env.Header.SentAt, now)
			if ev.Environment == "" || ev.Environment == "production" && env.Header.Trace.Environment != "" {
				ev.Environment = env.Header.Trace.Environment
			}
			if ev.SDK.Name == "" {
				ev.SDK = env.Header.SDK
			}
			b.Errors = append(b.Errors, ev)
			eventID = ev.EventID
		case "check_in":
			ci, err := sentry.DecodeCheckIn(it.Payload)
			if err != nil {
				return "", fmt.Errorf("item %d (check_in): %w", i, err)
			}
			b.Logs = append(b.Logs, checkInLog(ci, proj, now))
			*checkIns = append(*checkIns, ci)
		}
	}
	return eventID, nil
}

// prepare fills what the payload left out and corrects the event time.
func (h *Handler) prepare(ev *telemetry.ErrorEvent, proj state.Project, headerEventID string, sentAt, now time.Time) {
	ev.ProjectID = proj.ID
	ev.Source = telemetry.ErrorSourceSentry
	ev.Received = now
	if headerEventID != "" {
		ev.EventID = headerEventID
	}
	if ev.EventID == "" {
		ev.EventID = newEventID()
	}
	if ev.ServiceName == "" {
		ev.ServiceName = serviceOf(ev.Release, proj.Slug)
	}
	if ev.Time.IsZero() {
		ev.Time = now
	} else if !sentAt.IsZero() {
		// A client clock that is off by more than a minute is corrected by
		// the difference between when it sent and when we received, as Relay
		// does.
		if drift := now.Sub(sentAt); drift > time.Minute || drift < -time.Minute {
			ev.Time = ev.Time.Add(drift)
		}
	}
	if h.opt.Window != nil {
		lo, hi := h.opt.Window(telemetry.SignalErrors)
		if ev.Time.Before(lo) || ev.Time.After(hi) {
			ev.Time = now
		}
	}
}

// serviceOf names the service of a Sentry event that carries no service
// tag: the package part of its release ("fibfrontend@1.2.0"), else the
// project.
func serviceOf(release, project string) string {
	if name, _, ok := strings.Cut(release, "@"); ok && name != "" {
		return name
	}
	return project
}

// checkInLog records a cron check-in as a log record, where uptime monitors
// and the logs explorer find it.
func checkInLog(ci sentry.CheckIn, proj state.Project, now time.Time) telemetry.Log {
	attrs, _ := json.Marshal(map[string]any{
		"monitor.slug": ci.MonitorSlug, "check_in.id": ci.CheckInID, "check_in.status": ci.Status,
		"check_in.duration": ci.Duration, "sentry.project_id": proj.ID,
	})
	sev, text := int32(telemetry.SeverityInfo), "INFO"
	if ci.Status == "error" {
		sev, text = telemetry.SeverityError, "ERROR"
	}
	env := ci.Environment
	if env == "" {
		env = "production"
	}
	return telemetry.Log{
		Resource: telemetry.Resource{ServiceName: serviceOf(ci.Release, proj.Slug), ServiceVersion: ci.Release, Environment: env, Attributes: "{}"},
		Scope:    telemetry.Scope{Name: "sentry"},
		Time:     now, ObservedTime: now, TraceID: ci.TraceID,
		Severity: sev, SeverityText: text,
		Body:       fmt.Sprintf("check-in %s: %s", ci.MonitorSlug, ci.Status),
		Attributes: string(attrs), EventName: "sentry.check_in", Source: "sentry",
	}
}

func newEventID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// requestKey returns the public key from the query string or the auth
// headers, or "" when none is given. Like Bugsink, it takes the first source
// found rather than rejecting requests that send several.
func requestKey(r *http.Request) (string, error) {
	if k := r.URL.Query().Get("sentry_key"); k != "" {
		return k, nil
	}
	for _, name := range []string{"X-Sentry-Auth", "Authorization"} {
		v := r.Header.Get(name)
		if v == "" || name == "Authorization" && !strings.HasPrefix(strings.ToLower(v), "sentry ") {
			continue
		}
		a, err := sentry.ParseAuthHeader(v)
		if err != nil {
			return "", fmt.Errorf("invalid %s header: %w", name, err)
		}
		if a.PublicKey != "" {
			return a.PublicKey, nil
		}
	}
	return "", nil
}

// malformedKey stands for the key of a malformed auth header: no key has
// this form, so it fails like any invalid one.
const malformedKey = "malformed"

var errKey = ingestkey.ErrInvalid

// project returns the project a key opens, checking it is the one in the
// URL, and the ingest key (with Keys).
func (h *Handler) project(ctx context.Context, key string, id int64) (state.Project, *ingestkey.Key, error) {
	if h.opt.Keys != nil {
		k, err := h.opt.Keys.AuthenticateProject(key, id, selfmetrics.SourceSentry)
		if err != nil {
			return state.Project{}, nil, err
		}
		return k.Project, k, nil
	}
	p, err := h.projectByKey(ctx, key, id)
	return p, nil, err
}

// projectByKey finds the project of a key among the projects' public keys.
func (h *Handler) projectByKey(ctx context.Context, key string, id int64) (state.Project, error) {
	if key == "" {
		return state.Project{}, errKey
	}
	now := h.opt.Now()
	h.keysMu.Lock()
	c, ok := h.keys[key]
	h.keysMu.Unlock()
	if !ok || now.After(c.expires) {
		p, err := h.opt.Projects.ProjectByKey(ctx, key)
		if err != nil && !errors.Is(err, state.ErrNotFound) {
			return state.Project{}, fmt.Errorf("cannot look up project: %w", err)
		}
		c = cachedKey{project: p, found: err == nil, expires: now.Add(keyTTL)}
		h.keysMu.Lock()
		if len(h.keys) >= maxCachedKeys {
			clear(h.keys)
		}
		h.keys[key] = c
		h.keysMu.Unlock()
	}
	if !c.found || c.project.ID != id {
		return state.Project{}, errKey
	}
	return c.project, nil
}

func (h *Handler) authFailed(w http.ResponseWriter, err error) outcome {
	switch {
	case errors.Is(err, errKey):
		return h.fail(w, http.StatusUnauthorized, ingestkey.Message)
	case errors.Is(err, ingestkey.ErrNoProject):
		return h.fail(w, http.StatusNotFound, err.Error())
	}
	h.log.Error("cannot authenticate", "err", err)
	return h.fail(w, http.StatusInternalServerError, err.Error())
}

// body returns the request body, decompressed, limited on both sides of
// decompression.
func (h *Handler) body(w http.ResponseWriter, r *http.Request) (io.Reader, func(), error) {
	raw := http.MaxBytesReader(w, r.Body, h.opt.MaxBodyBytes)
	var dec io.Reader
	closer := func() {}
	switch ce := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); ce {
	case "", "identity":
		dec = raw
	case "gzip", "x-gzip":
		dec = &lazyReader{open: func() (io.Reader, error) { return gzip.NewReader(raw) }}
	case "deflate":
		dec = &lazyReader{open: func() (io.Reader, error) { return zlib.NewReader(raw) }}
	case "br":
		dec = brotli.NewReader(raw)
	case "zstd":
		zr, err := zstd.NewReader(raw, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(uint64(h.opt.MaxEnvelopeBytes)))
		if err != nil {
			return nil, nil, fmt.Errorf("cannot start zstd decoder: %w", err)
		}
		dec, closer = zr, zr.Close
	default:
		return nil, nil, fmt.Errorf("unsupported Content-Encoding %q: use gzip, deflate, br, zstd or none", ce)
	}
	return &limitReader{r: dec, n: h.opt.MaxEnvelopeBytes}, closer, nil
}

// lazyReader opens its reader on the first Read, so that a bad gzip header
// is reported as a body error with the right status.
type lazyReader struct {
	open func() (io.Reader, error)
	r    io.Reader
	err  error
}

func (l *lazyReader) Read(p []byte) (int, error) {
	if l.r == nil && l.err == nil {
		l.r, l.err = l.open()
		if l.err != nil {
			l.err = fmt.Errorf("%w: cannot decompress body: %v", sentry.ErrMalformed, l.err)
		}
	}
	if l.err != nil {
		return 0, l.err
	}
	n, err := l.r.Read(p)
	if err != nil && err != io.EOF {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return n, fmt.Errorf("%w: request body exceeds %d bytes", sentry.ErrTooLarge, tooLarge.Limit)
		}
		return n, fmt.Errorf("%w: cannot decompress body: %v", sentry.ErrMalformed, err)
	}
	return n, err
}

// limitReader fails with ErrTooLarge once more than n bytes were read.
type limitReader struct {
	r io.Reader
	n int64
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.n < 0 {
		return 0, fmt.Errorf("%w: decompressed body exceeds the limit", sentry.ErrTooLarge)
	}
	if int64(len(p)) > l.n+1 {
		p = p[:l.n+1]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	if l.n < 0 {
		return n, fmt.Errorf("%w: decompressed body exceeds the limit", sentry.ErrTooLarge)
	}
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return n, fmt.Errorf("%w: request body exceeds %d bytes", sentry.ErrTooLarge, tooLarge.Limit)
	}
	if err != nil && err != io.EOF && !errors.Is(err, sentry.ErrMalformed) && !errors.Is(err, sentry.ErrTooLarge) {
		return n, fmt.Errorf("%w: cannot read body: %v", sentry.ErrMalformed, err)
	}
	return n, err
}

// readAll reads r whole, failing with ErrTooLarge beyond max bytes.
func readAll(r io.Reader, max int64) ([]byte, error) {
	var buf bytes.Buffer
	n, err := buf.ReadFrom(io.LimitReader(r, max+1))
	if err != nil {
		return nil, err
	}
	if n > max {
		return nil, fmt.Errorf("%w: event exceeds %d bytes", sentry.ErrTooLarge, max)
	}
	return buf.Bytes(), nil
}

func (h *Handler) bodyFailed(w http.ResponseWriter, err error) outcome {
	if errors.Is(err, sentry.ErrTooLarge) {
		return h.fail(w, http.StatusRequestEntityTooLarge, err.Error())
	}
	return h.fail(w, http.StatusBadRequest, err.Error())
}

// appendFailed answers a request whose events the pipeline did not take.
func (h *Handler) appendFailed(w http.ResponseWriter, r *http.Request, err error) outcome {
	switch {
	case r.Context().Err() != nil:
		return outcome{code: 499}
	case errors.Is(err, pipeline.ErrOverloaded):
		// 429 makes Sentry SDKs back off for Retry-After seconds.
		w.Header().Set("Retry-After", retryAfter)
		w.Header().Set("X-Sentry-Rate-Limits", retryAfter+"::organization:overloaded")
		return h.fail(w, http.StatusTooManyRequests, err.Error())
	case errors.Is(err, pipeline.ErrStopped), errors.Is(err, context.DeadlineExceeded):
		w.Header().Set("Retry-After", retryAfter)
		return h.fail(w, http.StatusServiceUnavailable, err.Error())
	default:
		h.log.Error("cannot commit events", "err", err)
		return h.fail(w, http.StatusInternalServerError, "cannot commit events: "+err.Error())
	}
}

// fail answers with {"detail": msg}, the shape Relay uses, and sets
// X-Sentry-Error, which SDKs log.
func (h *Handler) fail(w http.ResponseWriter, status int, msg string) outcome {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Sentry-Error", msg)
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"detail": msg})
	return outcome{code: status}
}
