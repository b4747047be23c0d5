// Package web serves Telltale's dashboard: server-rendered HTML pages
// (html/template, embedded), a small stylesheet and a small script for live
// refresh. Pages read through the query service, like the API; they work
// without JavaScript, which only refreshes them in place.
package web

import (
	"bytes"
	"compress/gzip"
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/fibinc/telltale/internal/api"
	"github.com/fibinc/telltale/internal/auth"
	"github.com/fibinc/telltale/internal/query"
	"github.com/fibinc/telltale/internal/querylimit"
	"github.com/fibinc/telltale/internal/state"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Queries is what the pages read; each page's file says what it needs.
type Queries interface {
	boardQueries
	serviceQueries
	mapQueries
	logQueries
	requestQueries
	errorQueries
	metricQueries
}

// IssueStatus changes an issue's status (unresolved, resolved, ignored).
type IssueStatus interface {
	SetStatus(ctx context.Context, id int64, status string) (state.Issue, error)
}

// Options configure the dashboard. Query is required.
type Options struct {
	Query Queries
	// IngestURL is the OTLP/HTTP base URL shown in empty states, e.g.
	// http://localhost:4318.
	IngestURL string
	// DSN is the Sentry DSN shown in the errors page's empty state.
	DSN string
	// Status resolves and ignores issues; without it the issue pages
	// offer no actions.
	Status IssueStatus
	// PromQL evaluates the metrics explorer's PromQL mode; without it the
	// mode says it is unavailable.
	PromQL PromQL
	// Notify serves the silences and notifications pages; without it they
	// say notifications are not configured.
	Notify Notifier
	// Alerts reads the alert rules and their state; without it the alerts
	// page says alerting is not configured and the board shows no alerts.
	Alerts AlertReader
	// MaxRange caps the time range of a page; default 31 days.
	MaxRange time.Duration
	Now      func() time.Time
	Logger   *slog.Logger
	// Uptime feeds the checks pages; nil shows how to configure checks.
	Uptime UptimeReader
	// Projects feeds /settings/projects (projects and ingest keys); nil
	// says the server does not manage them.
	Projects ProjectKeys
	// IngestKeyHeader is the header clients send ingest keys in, for the
	// snippets; "" means Authorization: Bearer.
	IngestKeyHeader string
	// Access serves the login, setup and settings pages; nil (no access
	// control) leaves them out.
	Access Access
}

type server struct {
	opt   Options
	pages map[string]*template.Template
	log   *slog.Logger
}

// Handler is the dashboard.
type Handler struct {
	http.Handler
	s *server
}

// New returns the dashboard's handler, to be mounted at "/".
func New(opt Options) (*Handler, error) {
	if opt.Query == nil {
		return nil, errors.New("cannot create dashboard: no query service")
	}
	if opt.MaxRange <= 0 {
		opt.MaxRange = 31 * 24 * time.Hour
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	s := &server{opt: opt, pages: map[string]*template.Template{}, log: opt.Logger.With("component", "web")}
	if err := s.parseTemplates(); err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	if err := s.serveStatic(mux); err != nil {
		return nil, err
	}
	mux.HandleFunc("GET /{$}", s.page("board", s.board))
	mux.HandleFunc("GET /search", s.search)
	s.serviceRoutes(mux)
	s.mapRoutes(mux)
	s.logRoutes(mux)
	s.requestRoutes(mux)
	s.errorRoutes(mux)
	s.metricRoutes(mux)
	s.checkRoutes(mux)
	s.silenceRoutes(mux)
	s.alertRoutes(mux)
	s.projectRoutes(mux)
	s.accessRoutes(mux)
	mux.HandleFunc("GET /", func(w http.ResponseWriter, r *http.Request) {
		s.render(w, r, http.StatusNotFound, "error", s.frame(r, "Not found"), errorPage{Message: fmt.Sprintf("There is no page at %s.", r.URL.Path)})
	})
	return &Handler{Handler: securityHeaders(mux), s: s}, nil
}

// parseTemplates parses every page in templates/ with the layout: page
// "x" is templates/x.html, and defines "content" (and optionally other
// templates of its own).
func (s *server) parseTemplates() error {
	base, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html")
	if err != nil {
		return fmt.Errorf("cannot parse dashboard layout: %w", err)
	}
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return err
	}
	for _, name := range names {
		page := strings.TrimSuffix(path.Base(name), ".html")
		if page == "layout" {
			continue
		}
		t, err := template.Must(base.Clone()).ParseFS(templateFS, name)
		if err != nil {
			return fmt.Errorf("cannot parse dashboard page %s: %w", page, err)
		}
		s.pages[page] = t
	}
	return nil
}

// serveStatic serves static/ and two bundles: /static/app.css is
// style.css followed by pages/*.css, /static/app.js is app.js followed by
// pages/*.js, so each page keeps its own style and script in its own file
// and the browser still fetches one of each.
func (s *server) serveStatic(mux *http.ServeMux) error {
	static, err := fs.Sub(staticFS, "static")
	if err != nil {
		return err
	}
	for _, b := range []struct{ name, first, glob, ctype string }{
		{"app.css", "style.css", "pages/*.css", "text/css; charset=utf-8"},
		{"app.js", "app.js", "pages/*.js", "text/javascript; charset=utf-8"},
	} {
		files, err := fs.Glob(static, b.glob)
		if err != nil {
			return err
		}
		var bundle []byte
		for _, f := range append([]string{b.first}, files...) {
			data, err := fs.ReadFile(static, f)
			if err != nil {
				return fmt.Errorf("cannot read %s: %w", f, err)
			}
			bundle = append(append(bundle, data...), '\n')
		}
		ctype := b.ctype
		mux.HandleFunc("GET /static/"+b.name, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", ctype)
			w.Header().Set("Cache-Control", "public, max-age=300")
			w.Write(bundle)
		})
	}
	mux.Handle("GET /static/", http.StripPrefix("/static/", cacheStatic(http.FileServerFS(static))))
	return nil
}

// frame is what every page shows around its content.
type frame struct {
	Title   string
	Nav     string // the active section
	From    string // the range as given, "now-1h" by default
	To      string
	Env     string
	Envs    []string
	Refresh string // auto-refresh interval, "" for off
	Q       string // the search box
	// Keep is the page's own query parameters, carried through the range
	// form so that changing the range keeps the page as it is.
	Keep  []param
	Now   time.Time
	Range query.TimeRange
	// User is who is logged in (empty when no one is, or when the server
	// runs without access control); CSRF is the token every POST form
	// carries as hidden field "csrf".
	User string
	Role auth.Role
	CSRF string
	// Bare leaves out the navigation, search and range picker (the login
	// and setup pages).
	Bare bool
}

// Ranges are the choices of the time range picker.
var Ranges = []struct{ From, Label string }{
	{"now-5m", "5 minutes"}, {"now-15m", "15 minutes"}, {"now-1h", "1 hour"}, {"now-6h", "6 hours"},
	{"now-24h", "24 hours"}, {"now-7d", "7 days"},
}

func (s *server) frame(r *http.Request, title string) frame {
	v := r.URL.Query()
	f := frame{Title: title, From: v.Get("from"), To: v.Get("to"), Env: v.Get("env"), Refresh: v.Get("refresh"), Q: v.Get("q"), Now: s.opt.Now().UTC()}
	if f.From == "" {
		f.From = "now-1h"
	}
	for k, vs := range v {
		if frameParams[k] || (k == "q" && r.URL.Path == "/search") {
			continue
		}
		for _, x := range vs {
			f.Keep = append(f.Keep, param{k, x})
		}
	}
	slices.SortStableFunc(f.Keep, func(a, b param) int { return strings.Compare(a.Key, b.Key) })
	if p, ok := auth.FromContext(r.Context()); ok {
		f.User, f.Role, f.CSRF = p.Name, p.Role, p.CSRF
	}
	return f
}

type param struct{ Key, Value string }

// frameParams are the parameters the frame's forms set themselves, and
// those tied to a range (a page cursor), which a new range drops.
var frameParams = map[string]bool{"from": true, "to": true, "env": true, "refresh": true, "cursor": true, "page": true}

// timeRange resolves the frame's range, or says what is wrong with it.
func (s *server) timeRange(f *frame) error {
	to, err := api.ParseTime(f.To, f.Now)
	if err != nil {
		return fmt.Errorf("to: %w", err)
	}
	if to.IsZero() {
		to = f.Now
	}
	from, err := api.ParseTime(f.From, f.Now)
	if err != nil {
		return fmt.Errorf("from: %w", err)
	}
	if !from.Before(to) {
		return fmt.Errorf("from (%s) is not before to (%s)", from.Format(time.RFC3339), to.Format(time.RFC3339))
	}
	if to.Sub(from) > s.opt.MaxRange {
		return fmt.Errorf("the range is longer than the maximum of %s", s.opt.MaxRange)
	}
	f.Range = query.TimeRange{From: from, To: to}
	return nil
}

// pageFunc builds a page's content; a *userError becomes a 400 page.
type pageFunc func(r *http.Request, f *frame) (any, error)

type userError struct{ msg string }

func (e *userError) Error() string { return e.msg }

func (s *server) page(name string, fn pageFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		f := s.frame(r, "")
		if err := s.timeRange(&f); err != nil {
			f.Title = "Bad time range"
			s.render(w, r, http.StatusBadRequest, "error", f, errorPage{Message: err.Error()})
			return
		}
		data, err := fn(r, &f)
		if err != nil {
			var ue *userError
			switch {
			case errors.As(err, &ue), errors.Is(err, query.ErrInvalid):
				f.Title = "Bad request"
				s.render(w, r, http.StatusBadRequest, "error", f, errorPage{Message: err.Error()})
			case errors.Is(err, query.ErrNotFound):
				f.Title = "Not found"
				s.render(w, r, http.StatusNotFound, "error", f, errorPage{Message: err.Error()})
			case timedOut(r, err):
				s.renderTimeout(w, r, f, name, err)
			default:
				s.log.Error("page failed", "page", name, "path", r.URL.Path, "err", err)
				f.Title = "Error"
				s.render(w, r, http.StatusInternalServerError, "error", f, errorPage{Message: "Telltale could not build this page; its log says why."})
			}
			return
		}
		s.render(w, r, http.StatusOK, name, f, data)
	}
}

type errorPage struct{ Message string }

// timedOut reports whether err comes from the request's deadline
// (querylimit) or the query service's own.
func timedOut(r *http.Request, err error) bool {
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(r.Context().Err(), context.DeadlineExceeded)
}

// renderTimeout answers a page whose queries timed out: 503 with
// Retry-After, and what to do about it.
func (s *server) renderTimeout(w http.ResponseWriter, r *http.Request, f frame, page string, err error) {
	s.log.Warn("page timed out", "page", page, "path", r.URL.Path, "err", err)
	msg, ok := querylimit.TimeoutMessage(r.Context())
	if !ok {
		msg = "The query took too long; narrow the time range or the filter."
	}
	f.Title = "Query took too long"
	w.Header().Set("Retry-After", strconv.Itoa(int(querylimit.RetryAfterTimeout/time.Second)))
	s.render(w, r, http.StatusServiceUnavailable, "error", f, errorPage{Message: msg})
}

// view is what a page template executes with.
type view struct {
	Frame frame
	Data  any
}

func (s *server) render(w http.ResponseWriter, r *http.Request, status int, name string, f frame, data any) {
	if f.Title == "" {
		f.Title = "Telltale"
	}
	var b bytes.Buffer
	if err := s.pages[name].ExecuteTemplate(&b, "layout.html", view{Frame: f, Data: data}); err != nil {
		s.log.Error("cannot render page", "page", name, "err", err)
		http.Error(w, "cannot render page", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Add("Vary", "Accept-Encoding")
	// Dense pages (a hundred log records with their attributes) run to
	// hundreds of KB of repetitive HTML, which gzip shrinks about tenfold.
	if b.Len() < minGzip || !acceptsGzip(r) {
		w.WriteHeader(status)
		w.Write(b.Bytes())
		return
	}
	h.Set("Content-Encoding", "gzip")
	w.WriteHeader(status)
	zw, _ := gzip.NewWriterLevel(w, gzip.BestSpeed)
	zw.Write(b.Bytes())
	zw.Close()
}

// minGzip is the smallest page worth compressing.
const minGzip = 8 << 10

func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		enc, q, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.TrimSpace(enc) == "gzip" {
			return strings.ReplaceAll(q, " ", "") != "q=0"
		}
	}
	return false
}

// search sends the search box's text where it belongs: a trace id or
// request id to the request view, a service name to its page, an issue
// number to the issue, anything else to the log search.
func (s *server) search(w http.ResponseWriter, r *http.Request) {
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	keep := url.Values{}
	for _, k := range []string{"from", "to", "env"} {
		if v := r.URL.Query().Get(k); v != "" {
			keep.Set(k, v)
		}
	}
	suffix := ""
	if len(keep) > 0 {
		suffix = "?" + keep.Encode()
	}
	target := "/logs?" + url.Values{"q": {q}}.Encode()
	switch {
	case q == "":
		target = "/" + suffix
	case isHex(q, 32):
		target = "/requests/" + url.PathEscape(strings.ToLower(q)) + suffix
	case strings.HasPrefix(q, "#") && isDigits(q[1:]), isDigits(q) && len(q) < 10:
		target = "/errors/" + strings.TrimPrefix(q, "#") + suffix
	default:
		svcs, err := s.opt.Query.Services(r.Context(), query.TimeRange{From: s.opt.Now().Add(-7 * 24 * time.Hour), To: s.opt.Now()})
		if err == nil && slices.ContainsFunc(svcs, func(sv query.ServiceSummary) bool { return sv.Name == q }) {
			target = "/services/" + url.PathEscape(q) + suffix
		} else if !strings.ContainsAny(q, " :\"") && len(q) <= 128 {
			// One word that is no service may be a request id; the request
			// view says so when it is not.
			target = "/requests/" + url.PathEscape(q) + "?" + url.Values{"fallback": {"logs"}}.Encode()
		}
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for _, c := range []byte(strings.ToLower(s)) {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// securityHeaders sets what every page should carry: no framing, no
// inline script, no referrer leaking ids to other sites.
func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "same-origin")
		h.ServeHTTP(w, r)
	})
}

func cacheStatic(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// A name no file can have is not found: the file server would
		// answer 500 for one that is not valid UTF-8.
		if !utf8.ValidString(r.URL.Path) {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Cache-Control", "public, max-age=300")
		h.ServeHTTP(w, r)
	})
}
