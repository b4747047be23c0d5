package sentry

import "testing"

var authCases = []struct {
	in   string
	want Auth
	ok   bool
}{
	{"Sentry sentry_version=7, sentry_client=sentry.go/0.31.1, sentry_key=0f1e2d3c4b5a69788796a5b4c3d2e1f0",
		Auth{PublicKey: "0f1e2d3c4b5a69788796a5b4c3d2e1f0", Client: "sentry.go/0.31.1", Version: "7"}, true},
	{"sentry sentry_key=abc,sentry_secret=def,sentry_timestamp=1767268800", Auth{PublicKey: "abc", SecretKey: "def"}, true},
	{"SENTRY  sentry_key = abc , sentry_version=7", Auth{PublicKey: "abc", Version: "7"}, true},
	{`Sentry sentry_key="abc", sentry_client=raven-python/6.10.0`, Auth{PublicKey: "abc", Client: "raven-python/6.10.0"}, true},
	{"sentry_key=abc", Auth{PublicKey: "abc"}, true},
	{"Sentry sentry_version=7, sentry_client=x/1", Auth{}, false},
	{"Sentry sentry_key=", Auth{}, false},
	{"Sentry sentry_key=a b", Auth{}, false},
	{"Bearer eyJhbGciOi", Auth{}, false},
	{"", Auth{}, false},
}

func TestParseAuthHeader(t *testing.T) {
	for _, c := range authCases {
		got, err := ParseAuthHeader(c.in)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("%q: got %+v, %v", c.in, got, err)
		}
	}
}

var dsnCases = []struct {
	in   string
	want DSN
	str  string
}{
	{"https://0f1e2d3c@telltale.example.com/42", DSN{Scheme: "https", PublicKey: "0f1e2d3c", Host: "telltale.example.com", ProjectID: "42"}, ""},
	{"http://pub:sec@localhost:9000/sentry/7/", DSN{Scheme: "http", PublicKey: "pub", SecretKey: "sec", Host: "localhost:9000", Path: "/sentry", ProjectID: "7"},
		"http://pub:sec@localhost:9000/sentry/7"},
	{"HTTPS://k@h/a/b/3?timeout=1", DSN{Scheme: "https", PublicKey: "k", Host: "h", Path: "/a/b", ProjectID: "3"}, "https://k@h/a/b/3"},
	{"https://telltale.example.com/42", DSN{}, ""},
	{"https://k@telltale.example.com/", DSN{}, ""},
	{"https://k@telltale.example.com", DSN{}, ""},
	{"ftp://k@h/1", DSN{}, ""},
	{"https://k@/1", DSN{}, ""},
	{"::", DSN{}, ""},
}

func TestParseDSN(t *testing.T) {
	for _, c := range dsnCases {
		got, err := ParseDSN(c.in)
		if (err == nil) != (c.want != DSN{}) || got != c.want {
			t.Errorf("%q: got %+v, %v", c.in, got, err)
			continue
		}
		if err != nil {
			continue
		}
		want := c.str
		if want == "" {
			want = c.in
		}
		if s := got.String(); s != want {
			t.Errorf("%q: String() = %q, want %q", c.in, s, want)
		}
	}
}
