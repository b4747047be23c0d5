package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/fibinc/telltale/internal/config"
	"github.com/fibinc/telltale/internal/notify"
	"github.com/fibinc/telltale/internal/state"
)

// Notifier is what the silences and notifications pages read and change;
// *notify.Notifier is one.
type Notifier interface {
	Silences(ctx context.Context) ([]notify.Silence, error)
	CreateSilence(ctx context.Context, req notify.SilenceRequest) (notify.Silence, error)
	ExpireSilence(ctx context.Context, id string) (notify.Silence, error)
	Attempts(ctx context.Context, f state.AttemptFilter) ([]state.NotificationAttempt, error)
	Channels() []notify.ChannelInfo
}

// crossSiteSilence answers a change that crossSite refuses.
const crossSiteSilence = "This request came from another site; change silences from Telltale's own pages."

// maxExpired is how many expired silences the page lists.
const maxExpired = 50

func (s *server) silenceRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /silences", s.page("silences", s.silencesPage))
	mux.HandleFunc("POST /silences", s.createSilence)
	mux.HandleFunc("POST /silences/{id}/expire", s.expireSilence)
	mux.HandleFunc("GET /notifications", s.page("notifications", s.notificationsPage))
}

type silencesPage struct {
	Configured bool
	Current    []silenceRow // active, then pending
	Expired    []silenceRow
	More       int // expired silences not listed
	Form       silenceForm
	Error      string // why the form was refused
}

type silenceRow struct {
	notify.Silence
	Expirable bool     // created through the API and not yet expired
	Muted     []string // the firing alerts it mutes, as alertLabelText writes them
}

// silenceForm is the creation form's fields, as typed: a GET with these
// parameters fills the form (a link can propose a silence).
type silenceForm struct {
	Matchers  string // one per line
	Starts    string // RFC 3339; empty = now
	Duration  string // e.g. 2h; used when Ends is empty
	Ends      string // RFC 3339
	CreatedBy string
	Comment   string
}

func formFrom(get func(string) string) silenceForm {
	f := silenceForm{Matchers: get("matchers"), Starts: get("starts"), Duration: get("duration"), Ends: get("ends"),
		CreatedBy: get("created_by"), Comment: get("comment")}
	if f.Duration == "" && f.Ends == "" {
		f.Duration = "2h"
	}
	return f
}

func (s *server) silencesPage(r *http.Request, f *frame) (any, error) {
	f.Title, f.Nav = "Silences", "silences"
	return s.silencesData(r.Context(), formFrom(r.URL.Query().Get), "")
}

func (s *server) silencesData(ctx context.Context, form silenceForm, formErr string) (*silencesPage, error) {
	p := &silencesPage{Configured: s.opt.Notify != nil, Form: form, Error: formErr}
	if s.opt.Notify == nil {
		return p, nil
	}
	list, err := s.opt.Notify.Silences(ctx)
	if err != nil {
		return nil, err
	}
	for _, sl := range list {
		row := silenceRow{Silence: sl, Expirable: sl.Source == notify.SourceAPI && sl.State != notify.SilenceExpired}
		for _, m := range sl.Muting {
			row.Muted = append(row.Muted, alertLabelText(m.Labels))
		}
		if sl.State == notify.SilenceExpired {
			if len(p.Expired) < maxExpired {
				p.Expired = append(p.Expired, row)
			} else {
				p.More++
			}
			continue
		}
		p.Current = append(p.Current, row)
	}
	return p, nil
}

// request turns the form into a silence request, or says what is wrong.
func (form silenceForm) request(now time.Time) (notify.SilenceRequest, error) {
	req := notify.SilenceRequest{CreatedBy: strings.TrimSpace(form.CreatedBy), Comment: strings.TrimSpace(form.Comment)}
	for _, line := range strings.Split(form.Matchers, "\n") {
		if line = strings.TrimSpace(line); line != "" {
			req.Matchers = append(req.Matchers, line)
		}
	}
	if v := strings.TrimSpace(form.Starts); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return req, &userError{fmt.Sprintf("starts %q is not a time like 2026-11-22T10:00:00Z", v)}
		}
		req.StartsAt = t
	}
	from := req.StartsAt
	if from.IsZero() {
		from = now
	}
	switch ends, dur := strings.TrimSpace(form.Ends), strings.TrimSpace(form.Duration); {
	case ends != "":
		t, err := time.Parse(time.RFC3339, ends)
		if err != nil {
			return req, &userError{fmt.Sprintf("ends %q is not a time like 2026-11-22T12:00:00Z", ends)}
		}
		req.EndsAt = t
	case dur != "":
		d, err := config.ParseDuration(dur)
		if err != nil || d <= 0 {
			return req, &userError{fmt.Sprintf("duration %q is not a duration like 30m, 2h or 1d", dur)}
		}
		req.EndsAt = from.Add(d.D())
	}
	return req, nil
}

// createSilence creates a silence from the form: 303 to /silences when
// done, the page with the form and its error (400) otherwise.
func (s *server) createSilence(w http.ResponseWriter, r *http.Request) {
	f := s.frame(r, "Silences")
	f.Nav = "silences"
	fail := func(code int, title, msg string) {
		f.Title = title
		s.render(w, r, code, "error", f, errorPage{Message: msg})
	}
	if crossSite(r) != "" {
		fail(http.StatusForbidden, "Forbidden", crossSiteSilence)
		return
	}
	if s.opt.Notify == nil {
		fail(http.StatusServiceUnavailable, "Not configured", "Notifications are not configured: start Telltale with --config and a file with channels.")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		fail(http.StatusBadRequest, "Bad request", "cannot read the form: "+err.Error())
		return
	}
	form := formFrom(r.PostForm.Get)
	if r.PostForm.Get("duration") == "" && r.PostForm.Get("ends") != "" {
		form.Duration = ""
	}
	req, err := form.request(s.opt.Now())
	if err == nil {
		_, err = s.opt.Notify.CreateSilence(r.Context(), req)
	}
	if err != nil {
		var ue *userError
		if !errors.Is(err, notify.ErrInvalid) && !errors.As(err, &ue) {
			s.log.Error("cannot create silence", "err", err)
			fail(http.StatusInternalServerError, "Error", "Telltale could not create the silence; its log says why.")
			return
		}
		data, derr := s.silencesData(r.Context(), form, err.Error())
		if derr != nil {
			s.log.Error("cannot list silences", "err", derr)
			fail(http.StatusInternalServerError, "Error", "Telltale could not list the silences; its log says why.")
			return
		}
		s.render(w, r, http.StatusBadRequest, "silences", f, data)
		return
	}
	http.Redirect(w, r, "/silences", http.StatusSeeOther)
}

// expireSilence ends a silence created through the API.
func (s *server) expireSilence(w http.ResponseWriter, r *http.Request) {
	f := s.frame(r, "")
	fail := func(code int, title, msg string) {
		f.Title = title
		s.render(w, r, code, "error", f, errorPage{Message: msg})
	}
	if crossSite(r) != "" {
		fail(http.StatusForbidden, "Forbidden", crossSiteSilence)
		return
	}
	if s.opt.Notify == nil {
		fail(http.StatusServiceUnavailable, "Not configured", "Notifications are not configured.")
		return
	}
	id := r.PathValue("id")
	_, err := s.opt.Notify.ExpireSilence(r.Context(), id)
	switch {
	case errors.Is(err, notify.ErrConfigSilence):
		fail(http.StatusConflict, "Conflict", fmt.Sprintf("Silence %s is defined in the configuration file: remove it there and reload.", id))
		return
	case errors.Is(err, state.ErrNotFound):
		fail(http.StatusNotFound, "Not found", fmt.Sprintf("There is no silence %s.", id))
		return
	case err != nil:
		s.log.Error("cannot expire silence", "id", id, "err", err)
		fail(http.StatusInternalServerError, "Error", "Telltale could not expire the silence; its log says why.")
		return
	}
	http.Redirect(w, r, "/silences", http.StatusSeeOther)
}

// Window is "from – to" of a silence, dates shown once when it is one day.
func (r silenceRow) Window() string {
	a, b := r.StartsAt.UTC(), r.EndsAt.UTC()
	if a.Format("2006-01-02") == b.Format("2006-01-02") {
		return a.Format("2006-01-02 15:04") + " – " + b.Format("15:04 MST")
	}
	return a.Format("2006-01-02 15:04") + " – " + b.Format("2006-01-02 15:04 MST")
}

// alertLabelText writes labels as "alertname k=v k=v", names sorted.
func alertLabelText(labels map[string]string) string {
	var parts []string
	if v, ok := labels["alertname"]; ok {
		parts = append(parts, v)
	}
	names := make([]string, 0, len(labels))
	for k := range labels {
		if k != "alertname" {
			names = append(names, k)
		}
	}
	slices.Sort(names)
	for _, k := range names {
		parts = append(parts, k+"="+labels[k])
	}
	return strings.Join(parts, " ")
}
