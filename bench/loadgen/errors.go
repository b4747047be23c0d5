package main

// The errors signal: Sentry envelopes shaped like the ones sentry-go sends
// for CaptureException(fmt.Errorf("...: %w", typedErr)), one event per
// envelope and per request, as SDKs send them.

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync/atomic"
	"time"
)

// Placeholders in a template, overwritten at every send, so that the
// pre-generated envelopes can be sent any number of times and still be
// distinct events sent now: the event id (in the envelope header and the
// event), the event's timestamp and the header's sent_at. Times have a fixed
// width (RFC 3339 with microseconds, UTC) for that.
const (
	idPlaceholder     = "e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0"
	timePlaceholder   = "2000-01-01T00:00:00.000001Z"
	sentAtPlaceholder = "2000-01-01T00:00:00.000002Z"
	timeLayout        = "2006-01-02T15:04:05.000000Z"
)

// envelopeTemplate is a pre-encoded envelope and where its placeholders are.
type envelopeTemplate struct {
	body         []byte
	ids          []int // offsets of idPlaceholder
	time, sentAt int   // offsets of timePlaceholder and sentAtPlaceholder
}

// render returns a copy of the template with event id id (32 hex digits),
// event time at and sent_at sent.
func (t *envelopeTemplate) render(id []byte, at, sent time.Time) []byte {
	b := bytes.Clone(t.body)
	for _, o := range t.ids {
		copy(b[o:], id)
	}
	// Formatting goes through a scratch buffer: AppendFormat may write past
	// what it returns.
	var scratch [64]byte
	copy(b[t.time:], at.UTC().AppendFormat(scratch[:0], timeLayout))
	copy(b[t.sentAt:], sent.UTC().AppendFormat(scratch[:0], timeLayout))
	return b
}

// errorStream hands out the envelopes to send: the templates in turn, each
// with a fresh event id (a random prefix per run and a counter) and the
// time of sending. With spread set, event times instead advance evenly from
// spread before the start to the start over total events, as if the events
// had arrived over that time: each day's partition is written in turn, as
// it is in life, and the store ends up with days of history.
type errorStream struct {
	templates []envelopeTemplate
	prefix    [8]byte
	n         atomic.Uint64
	start     time.Time
	spread    time.Duration
	total     int64
}

// next returns the body of the i-th request.
func (s *errorStream) next(i int) []byte {
	k := s.n.Add(1)
	var raw [16]byte
	copy(raw[:8], s.prefix[:])
	for j := range 8 {
		raw[15-j] = byte(k >> (8 * j))
	}
	var id [32]byte
	hex.Encode(id[:], raw[:])
	now := time.Now()
	at := now
	if s.spread > 0 && s.total > 0 {
		f := min(float64(k)/float64(s.total), 1)
		at = s.start.Add(-s.spread + time.Duration(f*float64(s.spread)))
	}
	return s.templates[i%len(s.templates)].render(id[:], at, now)
}

// project is the part of /api/v1/projects the generator needs.
type project struct {
	ID        int64  `json:"id"`
	PublicKey string `json:"public_key"`
	DSN       string `json:"dsn"`
}

// fetchProject reads the project list from Telltale's API and returns the
// project with the given id, or the first one when id is 0.
func fetchProject(uiAddr string, id int64) (project, error) {
	resp, err := http.Get("http://" + uiAddr + "/api/v1/projects")
	if err != nil {
		return project{}, fmt.Errorf("cannot list projects: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return project{}, fmt.Errorf("cannot list projects: HTTP %d", resp.StatusCode)
	}
	var list struct {
		Data []project `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		return project{}, fmt.Errorf("cannot decode project list: %w", err)
	}
	for _, p := range list.Data {
		if id == 0 || p.ID == id {
			return p, nil
		}
	}
	return project{}, fmt.Errorf("no project %d among %d", id, len(list.Data))
}

// sendEnvelope posts one envelope the way sentry-go's HTTPTransport does.
func sendEnvelope(ctx context.Context, c *http.Client, url, auth string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, "POST", url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-sentry-envelope")
	req.Header.Set("User-Agent", "sentry.go/"+sdkVersion)
	req.Header.Set("X-Sentry-Auth", auth)
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	buf.ReadFrom(resp.Body)
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return nil
	case resp.StatusCode == 429 || resp.StatusCode == 503:
		return overloadError{resp.StatusCode}
	}
	return fmt.Errorf("HTTP %d: %s", resp.StatusCode, buf.String())
}

const sdkVersion = "0.31.1"

// frame is a Go stack frame as sentry-go reports it: module is the
// package path, function the name without it, abs_path the file.
type frame struct {
	Function string `json:"function"`
	Module   string `json:"module"`
	AbsPath  string `json:"abs_path"`
	Lineno   int    `json:"lineno"`
	InApp    bool   `json:"in_app"`
}

const (
	appModule = "github.com/acme/shop"
	appRoot   = "/src/shop"
	goroot    = "/usr/local/go/src"
	modCache  = "/root/go/pkg/mod"
)

// goFrame is a frame of the standard library.
func goFrame(pkg, fn, file string, line int) frame {
	return frame{Function: fn, Module: pkg, AbsPath: goroot + "/" + pkg + "/" + file, Lineno: line}
}

// libFrame is a frame of a third-party module; sentry-go marks the module
// cache in-app, so the server has to know better.
func libFrame(mod, version, pkgDir, fn, file string, line int) frame {
	pkg := mod
	dir := modCache + "/" + mod + "@" + version
	if pkgDir != "" {
		pkg += "/" + pkgDir
		dir += "/" + pkgDir
	}
	return frame{Function: fn, Module: pkg, AbsPath: dir + "/" + file, Lineno: line, InApp: true}
}

// appFrame is a frame of the application's main module.
func appFrame(pkgDir, fn, file string, line int) frame {
	return frame{Function: fn, Module: appModule + "/" + pkgDir, AbsPath: appRoot + "/" + pkgDir + "/" + file, Lineno: line, InApp: true}
}

// httpPrefix is the bottom of a request goroutine's stack in a service
// using chi, outermost first.
func httpPrefix() []frame {
	const chi, chiV = "github.com/go-chi/chi/v5", "v5.1.0"
	return []frame{
		goFrame("net/http", "(*conn).serve", "server.go", 2092),
		goFrame("net/http", "serverHandler.ServeHTTP", "server.go", 3210),
		libFrame(chi, chiV, "", "(*Mux).ServeHTTP", "mux.go", 90),
		libFrame(chi, chiV, "middleware", "Recoverer.func1", "recoverer.go", 45),
		goFrame("net/http", "HandlerFunc.ServeHTTP", "server.go", 2220),
		libFrame(chi, chiV, "middleware", "RequestID.func1", "request_id.go", 76),
		goFrame("net/http", "HandlerFunc.ServeHTTP", "server.go", 2220),
		appFrame("internal/httpapi", "(*API).withTenant.func1", "middleware.go", 52),
		goFrame("net/http", "HandlerFunc.ServeHTTP", "server.go", 2220),
		libFrame(chi, chiV, "", "(*Mux).routeHTTP", "mux.go", 459),
		goFrame("net/http", "HandlerFunc.ServeHTTP", "server.go", 2220),
	}
}

// jobPrefix is the bottom of a background worker's stack.
func jobPrefix() []frame {
	return []frame{
		libFrame("golang.org/x/sync", "v0.10.0", "errgroup", "(*Group).Go.func1", "errgroup.go", 78),
		appFrame("internal/jobs", "(*Runner).loop", "runner.go", 88),
		appFrame("internal/jobs", "(*Runner).runOne", "runner.go", 131),
		appFrame("internal/jobs", "(*Runner).runOne.func2", "runner.go", 140),
		libFrame("github.com/cenkalti/backoff/v4", "v4.3.0", "", "RetryNotifyWithTimer.Operation.withEmptyData.func1", "retry.go", 18),
		libFrame("github.com/cenkalti/backoff/v4", "v4.3.0", "", "doRetryNotify[...]", "retry.go", 88),
	}
}

var (
	bugPackages = []string{"orders", "payments", "users", "inventory", "search", "auth", "billing", "shipping", "catalog", "notify"}
	bugVerbs    = []string{"Create", "Update", "Delete", "Get", "List", "Sync", "Import", "Export", "Validate", "Refresh",
		"Reserve", "Release", "Cancel", "Confirm", "Merge", "Split", "Archive", "Restore", "Notify", "Reconcile"}
	bugObjects = []string{"", "Batch", "Draft", "Async", "Bulk", "Legacy", "Remote", "Cached", "Partial", "Scheduled"}
	// The service owning each package; it names the release.
	bugServices = map[string]string{"orders": "checkout", "payments": "checkout", "users": "accounts", "auth": "accounts",
		"inventory": "warehouse", "shipping": "warehouse", "search": "storefront", "catalog": "storefront",
		"billing": "billing", "notify": "notifier"}
	environments = []string{"production", "production", "production", "production", "production", "production", "staging", "staging", "staging", "development"}
)

// cause is the typed error at the bottom of a chain: its type and a
// message generator whose output varies in ways grouping must ignore.
type cause struct {
	typ string
	msg func(r *rand.Rand) string
}

func uuid(r *rand.Rand) string {
	var b [16]byte
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-4" + h[13:16] + "-a" + h[17:20] + "-" + h[20:]
}

var causes = []cause{
	{"*pgconn.PgError", func(r *rand.Rand) string {
		return fmt.Sprintf("ERROR: duplicate key value violates unique constraint \"orders_pkey\" (SQLSTATE 23505) key (id)=(%d)", r.IntN(1e7))
	}},
	{"*url.Error", func(r *rand.Rand) string {
		return fmt.Sprintf("Post \"https://api.partner.example.com/v2/items/%d\": dial tcp 10.0.%d.%d:443: connect: connection refused", r.IntN(1e6), r.IntN(255), r.IntN(255))
	}},
	{"*net.OpError", func(r *rand.Rand) string {
		return fmt.Sprintf("read tcp 10.0.%d.%d:%d->10.0.9.12:6379: i/o timeout", r.IntN(255), r.IntN(255), 30000+r.IntN(30000))
	}},
	{"*json.SyntaxError", func(r *rand.Rand) string {
		return fmt.Sprintf("invalid character 'x' looking for beginning of value at offset %d", r.IntN(5000))
	}},
	{"*errors.errorString", func(r *rand.Rand) string {
		return fmt.Sprintf("record %s not found", uuid(r))
	}},
	{"context.deadlineExceededError", func(r *rand.Rand) string { return "context deadline exceeded" }},
	{"*strconv.NumError", func(r *rand.Rand) string {
		return fmt.Sprintf("strconv.ParseInt: parsing \"%dx\": invalid syntax", r.IntN(1e5))
	}},
	{"*status.Error", func(r *rand.Rand) string {
		return fmt.Sprintf("rpc error: code = Unavailable desc = upstream connect error after %dms, request id %s", r.IntN(3000), uuid(r))
	}},
}

// bug is one distinct defect: the in-app code path that reports it and the
// cause it wraps. Events of a bug differ in everything grouping ignores.
type bug struct {
	service  string
	pkg      string
	job      bool // reported from a background worker rather than a handler
	app      []frame
	cause    cause
	wrapping string // fmt.Errorf format, %s for an id
}

// makeBug returns bug i; bugs with different i have different in-app
// function names, so that each is its own issue.
func makeBug(i int) bug {
	pkg := bugPackages[i%len(bugPackages)]
	verb := bugVerbs[(i/len(bugPackages))%len(bugVerbs)]
	obj := bugObjects[(i/(len(bugPackages)*len(bugVerbs)))%len(bugObjects)]
	noun := strings.TrimSuffix(pkg, "s")
	name := verb + obj + strings.ToUpper(noun[:1]) + noun[1:]
	line := 40 + (i*37)%400
	b := bug{service: bugServices[pkg], pkg: pkg, job: i%7 == 3, cause: causes[i%len(causes)],
		wrapping: strings.ToLower(verb) + " " + noun + " %s"}
	prefix := len(httpPrefix())
	if !b.job {
		b.app = append(b.app,
			appFrame("internal/httpapi", "(*API)."+"handle"+name, pkg+".go", line),
			appFrame("internal/httpapi", "decodeAndCall[...]", "util.go", 61))
	} else {
		prefix = len(jobPrefix())
		b.app = append(b.app, appFrame("internal/jobs", name+"Job.Run", pkg+".go", line))
	}
	svc := "internal/" + pkg
	b.app = append(b.app, appFrame(svc, "(*Service)."+name, "service.go", line+12))
	var tail []frame
	if i%3 == 0 {
		tail = append(tail, appFrame("internal/platform/tx", "(*Manager).WithinTx", "tx.go", 57),
			libFrame("github.com/jackc/pgx/v5", "v5.7.2", "", "BeginTxFunc", "tx.go", 412),
			appFrame("internal/platform/tx", "(*Manager).WithinTx.func1", "tx.go", 63))
	}
	// Every path ends in the helper that reports to Sentry (sentry-go
	// drops its own frames).
	tail = append(tail, appFrame("internal/platform/report", "Error", "report.go", 34))
	// Deeper paths for some bugs, and at least 15 frames in all.
	depth := max(i%4, minFrames-prefix-len(b.app)-len(tail))
	for d := range depth {
		b.app = append(b.app, appFrame(svc, fmt.Sprintf("(*Service).%s.func%d", name, d+1), "service.go", line+20+d*7))
	}
	b.app = append(b.app, tail...)
	return b
}

// minFrames is the least number of frames of an event's stack.
const minFrames = 15

// stack returns the frames of an event of the bug, outermost first, with
// line numbers that move a little between releases.
func (b *bug) stack(release int) []frame {
	var out []frame
	if b.job {
		out = jobPrefix()
	} else {
		out = httpPrefix()
	}
	for _, f := range b.app {
		if strings.HasPrefix(f.Module, appModule) {
			f.Lineno += release % 3
		}
		out = append(out, f)
	}
	return out
}

// errorsTemplates pre-generates n envelopes from nBugs bugs.
func errorsTemplates(r *rand.Rand, n, nBugs int, p project) []envelopeTemplate {
	bugs := make([]bug, nBugs)
	for i := range bugs {
		bugs[i] = makeBug(i)
	}
	out := make([]envelopeTemplate, n)
	for i := range out {
		// Every bug once, then a skewed choice: a few issues get most
		// events, as in life.
		bi := i
		if i >= nBugs {
			bi = int(float64(nBugs) * r.Float64() * r.Float64())
		}
		out[i] = errorEnvelope(r, &bugs[bi], p)
	}
	return out
}

func randHex(r *rand.Rand, n int) string {
	b := make([]byte, n/2)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return hex.EncodeToString(b)
}

type obj = map[string]any

// errorEnvelope encodes one envelope of the bug, as sentry-go would send it,
// less the module list of the Modules integration (tens of entries in a real
// service), which would take the event well beyond the 2-4 KB intended.
func errorEnvelope(r *rand.Rand, b *bug, p project) envelopeTemplate {
	rel := r.IntN(6)
	release := fmt.Sprintf("%s@1.%d.%d", b.service, 4+rel/3, rel%3)
	env := environments[r.IntN(len(environments))]
	traceID, spanID := randHex(r, 32), randHex(r, 16)
	host := fmt.Sprintf("%s-%s-%s", b.service, randHex(r, 10)[:9], randHex(r, 6)[:5])
	id := fmt.Sprintf("%s-%d", strings.ToUpper(randHex(r, 4)), r.IntN(100000))
	causeMsg := b.cause.msg(r)
	outer := fmt.Sprintf(b.wrapping, id) + ": " + causeMsg
	userID := r.IntN(5000)

	event := obj{
		"event_id":    idPlaceholder,
		"level":       "error",
		"platform":    "go",
		"timestamp":   timePlaceholder,
		"release":     release,
		"environment": env,
		"server_name": host,
		"dist":        "",
		"sdk": obj{"name": "sentry.go", "version": sdkVersion,
			"integrations": []string{"ContextifyFrames", "Environment", "GlobalTags", "IgnoreErrors", "IgnoreTransactions", "Modules"},
			"packages":     []obj{{"name": "sentry-go", "version": sdkVersion}}},
		"contexts": obj{
			"device":  obj{"arch": "amd64", "num_cpu": 4},
			"os":      obj{"name": "linux"},
			"runtime": obj{"name": "go", "version": "go1.23.4", "go_maxprocs": 4, "go_numcgocalls": 1, "go_numroutines": 20 + r.IntN(200)},
			"trace":   obj{"trace_id": traceID, "span_id": spanID, "parent_span_id": randHex(r, 16), "op": "http.server", "origin": "auto.http.stdlib"},
		},
		"tags": obj{"service": b.service, "region": []string{"eu-west-1", "us-east-1"}[r.IntN(2)], "tenant": fmt.Sprintf("t%d", r.IntN(40))},
		"user": obj{"id": fmt.Sprintf("%d", userID), "email": fmt.Sprintf("user%d@example.com", userID), "ip_address": fmt.Sprintf("10.1.%d.%d", r.IntN(255), r.IntN(255))},
		"exception": []obj{
			{"type": b.cause.typ, "value": causeMsg,
				"mechanism": obj{"type": "chained", "source": "cause", "exception_id": 1, "parent_id": 0}},
			{"type": "*fmt.wrapError", "value": outer,
				"stacktrace": obj{"frames": b.stack(rel)},
				"mechanism":  obj{"type": "generic", "exception_id": 0, "is_exception_group": false}},
		},
	}
	if !b.job {
		event["request"] = obj{
			"url":    fmt.Sprintf("https://%s.example.com/api/v1/%s/%d", b.service, b.pkg, r.IntN(100000)),
			"method": []string{"GET", "POST", "PUT"}[r.IntN(3)],
			"headers": obj{"Accept-Encoding": "gzip", "Content-Type": "application/json", "Host": b.service + ".example.com",
				"User-Agent": "Go-http-client/1.1", "X-Request-Id": strings.ToUpper(randHex(r, 26))},
		}
	} else {
		event["transaction"] = "job " + b.app[0].Function
	}
	payload, err := json.Marshal(event)
	if err != nil {
		fail(err.Error())
	}
	header, _ := json.Marshal(obj{
		"event_id": idPlaceholder,
		"sent_at":  sentAtPlaceholder,
		"dsn":      p.DSN,
		"sdk":      obj{"name": "sentry.go", "version": sdkVersion},
		"trace": obj{"trace_id": traceID, "public_key": p.PublicKey, "environment": env, "release": release,
			"sample_rate": "1", "sampled": "true"},
	})
	var buf bytes.Buffer
	buf.Write(header)
	fmt.Fprintf(&buf, "\n{\"type\":\"event\",\"length\":%d}\n", len(payload))
	buf.Write(payload)
	buf.WriteByte('\n')
	t := envelopeTemplate{body: buf.Bytes(),
		time: bytes.Index(buf.Bytes(), []byte(timePlaceholder)), sentAt: bytes.Index(buf.Bytes(), []byte(sentAtPlaceholder))}
	if t.time < 0 || t.sentAt < 0 {
		fail("internal error: time placeholders not found in the envelope")
	}
	for at := 0; ; {
		i := bytes.Index(t.body[at:], []byte(idPlaceholder))
		if i < 0 {
			break
		}
		t.ids = append(t.ids, at+i)
		at += i + len(idPlaceholder)
	}
	return t
}
