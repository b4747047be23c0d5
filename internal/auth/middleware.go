package auth

import (
	"crypto/subtle"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/fibinc/telltale/internal/state"
)

// maxCSRFForm bounds a form read to find its csrf field.
const maxCSRFForm = 64 << 10

// Handler returns next behind the access policy: it authenticates the
// request (session cookie or Authorization: Bearer tt_... API token),
// applies the policy table, checks the CSRF token of state changes made
// with a session, puts the Principal in the request's context, and
// records changes in the audit log.
func (s *Service) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rl := s.policy.lookup(r)
		p, cred, err := s.authenticate(r)
		if err != nil {
			s.log.Error("cannot authenticate a request", "path", r.URL.Path, "err", err)
			s.fail(w, r, http.StatusInternalServerError, "Error", "cannot check the credentials; the server log says why")
			return
		}
		if cred == credSession || cred == credToken {
			r = r.WithContext(WithPrincipal(r.Context(), p))
		}
		if rl.role == RoleNone {
			next.ServeHTTP(w, r)
			return
		}
		switch cred {
		case credBad:
			w.Header().Set("WWW-Authenticate", `Bearer realm="telltale", error="invalid_token"`)
			s.writeError(w, http.StatusUnauthorized, "invalid, expired or revoked API token")
			return
		case credNone:
			s.unauthenticated(w, r)
			return
		}
		changing := r.Method != http.MethodGet && r.Method != http.MethodHead && r.Method != http.MethodOptions
		if p.Role < rl.role {
			if changing {
				s.auditReq(r, state.AuditEntry{Action: actionOf(rl), Target: r.URL.Path, Detail: fmt.Sprintf("%s %s needs role %s; %s is %s", r.Method, r.URL.Path, rl.role, p.Name, p.Role), Outcome: state.AuditDenied})
			}
			s.fail(w, r, http.StatusForbidden, "Forbidden", fmt.Sprintf("This needs the %s role; %s is %s.", rl.role, p.Name, p.Role))
			return
		}
		if changing && cred == credSession && !s.checkCSRF(w, r, p) {
			s.auditReq(r, state.AuditEntry{Action: actionOf(rl), Target: r.URL.Path, Detail: "missing or invalid CSRF token", Outcome: state.AuditDenied})
			s.fail(w, r, http.StatusForbidden, "Forbidden", "missing or invalid CSRF token")
			return
		}
		if !changing || rl.action == "" || rl.read {
			next.ServeHTTP(w, r)
			return
		}
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		e := state.AuditEntry{Action: rl.action, Target: r.URL.Path, Outcome: state.AuditOK}
		if rl.action == defaultAction {
			e.Detail = r.Method + " " + r.URL.Path
		}
		if d := formDetail(r); d != "" {
			e.Detail = strings.TrimSpace(e.Detail + " " + d)
		}
		if rec.status >= 400 {
			e.Outcome = state.AuditFailed
			e.Detail = strings.TrimSpace(e.Detail + fmt.Sprintf(" (HTTP %d)", rec.status))
		}
		s.auditReq(r, e)
	})
}

func actionOf(rl rule) string {
	if rl.action != "" {
		return rl.action
	}
	return defaultAction
}

// formDetail describes a form post for the audit log: its fields but
// csrf and anything secret.
func formDetail(r *http.Request) string {
	if r.PostForm == nil {
		return ""
	}
	keys := make([]string, 0, len(r.PostForm))
	for k := range r.PostForm {
		lk := strings.ToLower(k)
		if lk == "csrf" || strings.Contains(lk, "password") || strings.Contains(lk, "token") || strings.Contains(lk, "secret") || strings.Contains(lk, "key") {
			continue
		}
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for _, k := range keys {
		for _, v := range r.PostForm[k] {
			fmt.Fprintf(&b, "%s=%q ", k, clip(v, 200))
		}
	}
	return strings.TrimSpace(b.String())
}

// checkCSRF reports whether a request made with a session carries the
// session's CSRF token, in header X-CSRF-Token or form field csrf.
func (s *Service) checkCSRF(w http.ResponseWriter, r *http.Request, p Principal) bool {
	got := r.Header.Get("X-CSRF-Token")
	if got == "" {
		ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if ct == "application/x-www-form-urlencoded" {
			r.Body = http.MaxBytesReader(w, r.Body, maxCSRFForm)
			if err := r.ParseForm(); err == nil {
				got = r.PostForm.Get("csrf")
			}
		}
	}
	return p.CSRF != "" && subtle.ConstantTimeCompare([]byte(got), []byte(p.CSRF)) == 1
}

// IsAPI reports whether a path is answered in JSON rather than with pages.
func IsAPI(path string) bool {
	return strings.HasPrefix(path, "/api/") || strings.HasPrefix(path, "/-/")
}

// unauthenticated answers a request that needs a login: pages redirect to
// the login form, the API answers 401.
func (s *Service) unauthenticated(w http.ResponseWriter, r *http.Request) {
	if IsAPI(r.URL.Path) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="telltale"`)
		s.writeError(w, http.StatusUnauthorized, "not logged in: log in or send Authorization: Bearer <API token>")
		return
	}
	target := "/login"
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		target += "?" + url.Values{"next": {r.URL.RequestURI()}}.Encode()
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// fail answers an error: JSON on the API, the error page elsewhere.
func (s *Service) fail(w http.ResponseWriter, r *http.Request, status int, title, msg string) {
	if IsAPI(r.URL.Path) {
		s.writeError(w, status, strings.TrimSuffix(strings.ToLower(msg[:1])+msg[1:], "."))
		return
	}
	s.opt.ErrorPage(w, r, status, title, msg)
}

// SafeNext returns next if it is a path of this site, else "/": it must
// start with one "/" (not "//" or "/\", which browsers take for another
// host).
func SafeNext(next string) string {
	if next == "" || next[0] != '/' || strings.HasPrefix(next, "//") || strings.HasPrefix(next, `/\`) || strings.ContainsAny(next, "\r\n\x00") {
		return "/"
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" {
		return "/"
	}
	return next
}

// statusRecorder remembers the status of an answer.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
