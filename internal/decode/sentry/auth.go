package sentry

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// Auth is the content of an X-Sentry-Auth or Authorization header, or of the
// sentry_* query parameters.
type Auth struct {
	PublicKey, SecretKey, Client, Version string
}

// maxKeyLen bounds keys; real ones are 32 hex digits.
const maxKeyLen = 128

// ParseAuthHeader parses "Sentry sentry_version=7, sentry_client=x/1,
// sentry_key=abc": the "Sentry " prefix (any case) is optional, pairs are
// split on commas and on their first "="; unknown keys such as the
// deprecated sentry_timestamp are ignored. The public key is required.
// Errors do not wrap the sentinels: they mean 401, not 400.
func ParseAuthHeader(v string) (Auth, error) {
	v = strings.TrimSpace(v)
	if len(v) >= 7 && strings.EqualFold(v[:7], "sentry ") {
		v = v[7:]
	}
	var a Auth
	for field := range strings.SplitSeq(v, ",") {
		key, val, ok := strings.Cut(strings.TrimSpace(field), "=")
		if !ok {
			continue
		}
		val = strings.Trim(strings.TrimSpace(val), `"`)
		switch strings.ToLower(strings.TrimSpace(key)) {
		case "sentry_key":
			a.PublicKey = val
		case "sentry_secret":
			a.SecretKey = val
		case "sentry_client":
			a.Client = truncate(validUTF8(val), maxShortLen)
		case "sentry_version":
			a.Version = truncate(validUTF8(val), maxShortLen)
		}
	}
	if err := checkKey("sentry_key", a.PublicKey, true); err != nil {
		return Auth{}, err
	}
	if err := checkKey("sentry_secret", a.SecretKey, false); err != nil {
		return Auth{}, err
	}
	return a, nil
}

// checkKey accepts printable ASCII keys without separators: anything else
// cannot be a key Telltale issued.
func checkKey(name, k string, required bool) error {
	if k == "" {
		if required {
			return fmt.Errorf("sentry auth: no %s", name)
		}
		return nil
	}
	if len(k) > maxKeyLen {
		return fmt.Errorf("sentry auth: %s longer than %d characters", name, maxKeyLen)
	}
	for i := 0; i < len(k); i++ {
		if c := k[i]; c <= ' ' || c >= 0x7f || c == ',' || c == '=' || c == '"' {
			return fmt.Errorf("sentry auth: invalid character in %s", name)
		}
	}
	return nil
}

// DSN is a parsed Data Source Name:
// {scheme}://{public_key}[:{secret_key}]@{host}{path}/{project_id}.
type DSN struct {
	Scheme    string // http or https
	PublicKey string
	SecretKey string // deprecated, usually empty
	Host      string // with the port, if any
	Path      string // prefix before the project id, "" or "/sentry"
	ProjectID string
}

// ParseDSN parses a DSN. A trailing slash, a query and a fragment are
// ignored.
func ParseDSN(s string) (DSN, error) {
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil {
		return DSN{}, fmt.Errorf("invalid DSN: %w", err)
	}
	d := DSN{Scheme: strings.ToLower(u.Scheme), Host: u.Host}
	if d.Scheme != "http" && d.Scheme != "https" {
		return DSN{}, fmt.Errorf("invalid DSN: scheme %q is not http or https", u.Scheme)
	}
	if d.Host == "" {
		return DSN{}, errors.New("invalid DSN: no host")
	}
	if u.User != nil {
		d.PublicKey = u.User.Username()
		d.SecretKey, _ = u.User.Password()
	}
	if err := checkKey("public key", d.PublicKey, true); err != nil {
		return DSN{}, fmt.Errorf("invalid DSN: %w", err)
	}
	if err := checkKey("secret key", d.SecretKey, false); err != nil {
		return DSN{}, fmt.Errorf("invalid DSN: %w", err)
	}
	path := strings.TrimSuffix(u.Path, "/")
	i := strings.LastIndexByte(path, '/')
	if i < 0 || i == len(path)-1 {
		return DSN{}, errors.New("invalid DSN: no project id")
	}
	d.Path, d.ProjectID = path[:i], path[i+1:]
	return d, nil
}

// String returns the DSN in its usual form.
func (d DSN) String() string {
	u := url.URL{Scheme: d.Scheme, Host: d.Host, Path: d.Path + "/" + d.ProjectID}
	if d.SecretKey != "" {
		u.User = url.UserPassword(d.PublicKey, d.SecretKey)
	} else {
		u.User = url.User(d.PublicKey)
	}
	return u.String()
}
