package app

import "net/http"

// securityHeaders sets what every answer of the UI port carries, the API's,
// redirects to the login page and 401s included: no sniffing, no framing,
// no referrer to other sites, and a policy that allows nothing. The
// dashboard sets its own, wider, Content-Security-Policy over this one.
// Over TLS, browsers are told to keep to HTTPS.
func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Referrer-Policy", "same-origin")
		hd.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
		if r.TLS != nil {
			hd.Set("Strict-Transport-Security", "max-age=31536000")
		}
		h.ServeHTTP(w, r)
	})
}
