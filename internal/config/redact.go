package config

import (
	"maps"
	"net/url"
	"slices"
	"strings"
)

// Secret is what Redacted puts in place of a secret.
const Secret = "REDACTED"

// Redacted returns a deep copy of f with its secrets replaced by Secret,
// for showing the configuration through the API: push tokens, the values
// of headers and URL query parameters whose names suggest a credential
// (Authorization, Cookie, *token*, *key*, *secret*, *password*), SMTP
// passwords, the user information of URLs, and the path of Slack webhook
// URLs (which is the credential).
func (f *File) Redacted() *File {
	if f == nil {
		return nil
	}
	out := &File{
		Checks:      slices.Clone(f.Checks),
		Rules:       slices.Clone(f.Rules),
		Channels:    slices.Clone(f.Channels),
		Routes:      slices.Clone(f.Routes),
		Silences:    slices.Clone(f.Silences),
		Maintenance: slices.Clone(f.Maintenance),
	}
	for i := range out.Checks {
		c := &out.Checks[i]
		c.Headers = redactHeaders(c.Headers)
		c.Conditions = slices.Clone(c.Conditions)
		c.Labels = maps.Clone(c.Labels)
		c.FollowRedirects = clonePtr(c.FollowRedirects)
		c.URL = redactURL(c.URL, false)
		if c.Token != "" {
			c.Token = Secret
		}
	}
	for i := range out.Rules {
		r := &out.Rules[i]
		r.Metric = clonePtr(r.Metric)
		r.Service = clonePtr(r.Service)
		r.Logs = clonePtr(r.Logs)
		r.Issues = clonePtr(r.Issues)
		r.Labels = maps.Clone(r.Labels)
		r.Annotations = maps.Clone(r.Annotations)
	}
	for i := range out.Channels {
		c := &out.Channels[i]
		c.Headers = redactHeaders(c.Headers)
		c.URL = redactURL(c.URL, c.Type == ChannelSlack)
		c.To = slices.Clone(c.To)
		c.SendResolved = clonePtr(c.SendResolved)
		if c.SMTP.Password != "" {
			c.SMTP.Password = Secret
		}
	}
	for i := range out.Routes {
		r := &out.Routes[i]
		r.Matchers = slices.Clone(r.Matchers)
		r.Channels = slices.Clone(r.Channels)
		r.GroupBy = slices.Clone(r.GroupBy)
	}
	for i := range out.Silences {
		out.Silences[i].Matchers = slices.Clone(out.Silences[i].Matchers)
	}
	for i := range out.Maintenance {
		m := &out.Maintenance[i]
		m.Matchers = slices.Clone(m.Matchers)
		m.Weekdays = slices.Clone(m.Weekdays)
	}
	return out
}

func clonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

// secretName reports whether a header or parameter name suggests that its
// value is a credential.
func secretName(name string) bool {
	n := strings.ToLower(name)
	for _, s := range []string{"auth", "cookie", "token", "key", "secret", "password", "passwd", "signature", "session"} {
		if strings.Contains(n, s) {
			return true
		}
	}
	return false
}

func redactHeaders(h map[string]string) map[string]string {
	if h == nil {
		return nil
	}
	out := make(map[string]string, len(h))
	for k, v := range h {
		if secretName(k) {
			v = Secret
		}
		out[k] = v
	}
	return out
}

// redactURL hides a URL's user information and secret-looking query
// parameters, and with path its path too. A URL that does not parse is
// hidden whole: it may be anything.
func redactURL(s string, path bool) string {
	if s == "" {
		return ""
	}
	u, err := url.Parse(s)
	if err != nil {
		return Secret
	}
	if u.User != nil {
		u.User = url.User(Secret)
	}
	if path && u.Path != "" && u.Path != "/" {
		u.Path, u.RawPath = "/"+Secret, ""
	}
	if u.RawQuery != "" {
		q := u.Query()
		for k := range q {
			if secretName(k) {
				q[k] = []string{Secret}
			}
		}
		u.RawQuery = q.Encode()
	}
	if u.Fragment != "" {
		u.Fragment, u.RawFragment = "", ""
	}
	return u.String()
}
