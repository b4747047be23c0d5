package grouping

import (
	"strings"
	"testing"
	"unicode/utf8"
)

var parameterizeCases = []struct{ in, want string }{
	// Words and boundaries.
	{"", ""},
	{"nothing to replace here", "nothing to replace here"},
	{"id 42", "id <int>"},
	{"user u42 failed", "user u42 failed"},
	{"v2 api", "v2 api"},
	{"user-42", "user-<int>"},
	{"value -17 out of range", "value <int> out of range"},
	{"x4s", "x4s"},
	{"item_42", "item_42"},
	{"42abc", "42abc"},
	{"(42)", "(<int>)"},
	{"12345678", "<hex>"},
	{"1234567", "<int>"},
	{"3.14", "<float>"},
	{"-2.5 degrees", "<float> degrees"},
	{"version 1.2.3", "version <float>.<int>"},
	{"=true =false =True", "=<bool> =<bool> =<bool>"},
	{"enabled true", "enabled true"},
	{"=trueish", "=trueish"},
	{`name="alice" role='admin'`, `name=<quoted_str> role=<quoted_str>`},
	{`said "hello"`, `said "hello"`},
	// Addresses.
	{"mail ann@example.com now", "mail <email> now"},
	{"a.b+c@sub.example.co.uk", "<email>"},
	{"GET https://api.example.com/v1/users/42?x=1 failed", "GET <url> failed"},
	{"dial wss://ws.example.io/socket", "dial <url>"},
	{"resolve api.example.com: timeout", "resolve <hostname>: timeout"},
	{"host db-7.internal.example.NET down", "host <hostname> down"},
	{"open main.go", "open main.go"},
	{"connect 10.0.0.1:5432", "connect <ip>:<int>"},
	{"from 255.255.255.255", "from <ip>"},
	{"bad 256.1.1.1", "bad <float>.<float>"},
	{"listen [::1]:8080", "listen [<ip>]:<int>"},
	{"peer 2001:db8::8a2e:370:7334", "peer <ip>"},
	{"link fe80::1ff:fe23:4567:890a%eth0", "link <ip>"},
	{"mapped ::ffff:192.0.2.128", "mapped <ip>"},
	{"call Foo::bar()", "call Foo::bar()"},
	// Identifiers.
	{"trace 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "trace <traceparent>"},
	{"Root=1-5759e988-bd862e3fe1be46a994272793", "Root=<traceparent>"},
	{"order 123e4567-e89b-12d3-a456-426614174000 lost", "order <uuid> lost"},
	{"ORDER 123E4567-E89B-12D3-A456-426614174000", "ORDER <uuid>"},
	{"sha 2fd4e1c67a2d28fced849ee1bb76e7391b93eb12", "sha <sha1>"},
	{"md5 d41d8cd98f00b204e9800998ecf8427e", "md5 <md5>"},
	{"ptr 0xc000123456", "ptr <hex>"},
	{"code 0X1F", "code <hex>"},
	{"token deadbeef1234", "token <hex>"},
	{"TOKEN DEADBEEF1234", "TOKEN <hex>"},
	{"word deadbeefcafe", "word deadbeefcafe"},
	{"mixed DeadBeef1234", "mixed DeadBeef1234"},
	{"commit a1b2c3d", "commit <git_sha>"},
	{"tx tx0123456789abcdef01234-0123456789-extra", "tx <swift_txn_id>"},
	// Dates and times.
	{"at 2026-11-21T10:00:00Z", "at <date>"},
	{"at 2026-11-21T10:00:00.123456789+02:00", "at <date>"},
	{"at 2026-11-21T10:00:00", "at <date>"},
	{"at 2026-11-21 10:00:00", "at <date>"},
	{"at 2026-11-21 10:00:00.123 +0000 UTC", "at <date>"},
	{"at 2026-11-21 10:00:00.123456 +0100 CET m=+0.002", "at <date>"},
	{"on 2026-11-21 only", "on <date> only"},
	{"Mon, 02 Jan 2006 15:04:05 MST", "<date>"},
	{"Mon, 02 Jan 2006 15:04:05 -0700", "<date>"},
	{"Monday, 02-Jan-06 15:04:05 MST", "<date>"},
	{"Mon Jan  2 15:04:05 MST 2006", "<date>"},
	{"Mon Jan  2 15:04:05 2006", "<date>"},
	{"Jan 02, 2006", "<date>"},
	{"Thu Nov 21 2026 10:00:00 GMT+0100 (Central European Standard Time)", "<date>"},
	{"at 3:04PM", "at <date>"},
	{"at 10:30 am", "at <date>"},
	{"at 23:59:59", "at <date>"},
	{"12:345", "<int>:<int>"},
	{"datetime.datetime(2026, 11, 21, 10, 0)", "<date>"},
	// Durations.
	{"took 15ms", "took <duration>"},
	{"took 1.5s", "took <duration>"},
	{"took 1.5ms", "took <duration>"},
	{"timeout after 1m30s", "timeout after <duration>"},
	{"timeout after 2h45m10.5s", "timeout after <duration>"},
	{"took 250µs", "took <duration>"},
	{"took 80ns", "took <duration>"},
	{"15msfoo", "15msfoo"},
	// Several at once, and a realistic Go error.
	{"user 7 (ann@example.com) from 10.1.2.3 at 2026-11-21T10:00:00Z: took 3s",
		"user <int> (<email>) from <ip> at <date>: took <duration>"},
	{`pq: duplicate key value violates unique constraint "users_email_key" (SQLSTATE 23505)`,
		`pq: duplicate key value violates unique constraint "users_email_key" (SQLSTATE <int>)`},
	{"context deadline exceeded (Client.Timeout exceeded while awaiting headers)",
		"context deadline exceeded (Client.Timeout exceeded while awaiting headers)"},
	{"ünïcödé 42 ☃", "ünïcödé <int> ☃"},
}

func TestParameterize(t *testing.T) {
	for _, c := range parameterizeCases {
		if got := Parameterize(c.in); got != c.want {
			t.Errorf("Parameterize(%q)\n got %q\nwant %q", c.in, got, c.want)
		}
		if got := Parameterize(c.want); got != c.want {
			t.Errorf("Parameterize is not idempotent on %q: %q", c.want, got)
		}
	}
}

// Every pattern compiles into the combined regexp once and is reachable.
func TestParameterizePatternsReachable(t *testing.T) {
	names := map[string]bool{}
	for _, c := range parameterizeCases {
		for _, p := range paramPatterns {
			if strings.Contains(c.want, "<"+p.name+">") {
				names[p.name] = true
			}
		}
	}
	for _, p := range paramPatterns {
		if !names[p.name] {
			t.Errorf("no test case produces <%s>", p.name)
		}
	}
}

func FuzzParameterize(f *testing.F) {
	for _, c := range parameterizeCases {
		f.Add(c.in)
	}
	f.Add("abc123de45s")
	f.Add("abcdef1a2:30")
	f.Add("=true5 10:30amx 1-2-3 ::1_5")
	f.Fuzz(func(t *testing.T, s string) {
		once := Parameterize(s)
		if twice := Parameterize(once); twice != once {
			t.Errorf("not idempotent: %q -> %q -> %q", s, once, twice)
		}
		if utf8.ValidString(s) && !utf8.ValidString(once) {
			t.Errorf("valid UTF-8 %q became invalid %q", s, once)
		}
		if len(once) > len(s)+len(s)*len("<swift_txn_id>") {
			t.Errorf("output of %d bytes for %d bytes in", len(once), len(s))
		}
	})
}

func BenchmarkParameterize(b *testing.B) {
	msgs := []string{
		"load order 8812 for user a3f1c9e0-5b7d-4c2a-9e8f-1d2c3b4a5f60 at 2026-11-21T10:00:00.123Z: sql: no rows in result set",
		"dial tcp 10.0.3.7:5432: connect: connection refused",
		"context deadline exceeded (Client.Timeout exceeded while awaiting headers)",
	}
	var n int
	for _, m := range msgs {
		n += len(m)
	}
	b.SetBytes(int64(n))
	b.ReportAllocs()
	for b.Loop() {
		for _, m := range msgs {
			Parameterize(m)
		}
	}
}

// The hand-written matchers agree with the regexps they stand for, and the
// prefilters never refuse what a regexp accepts.
func TestMatchersAndPrefilters(t *testing.T) {
	alphabet := "0123456789abcdefxyzCOMcomMonJanTGMsnuh.-_:@=+ ()'\"\u00e9\u00b5\u03bc"
	rnd := uint64(1)
	next := func(n int) int {
		rnd = rnd*6364136223846793005 + 1442695040888963407
		return int(rnd>>33) % n
	}
	inputs := []string{"api.example.com", "a.b.c.io.", "x.com5", "x.co_m", "1.1.1.1", "-12.5x", "-1234567", "12345678", "a-b.example.org"}
	for _, c := range parameterizeCases {
		for i := range c.in {
			inputs = append(inputs, c.in[i:])
		}
	}
	for i := 0; i < 20000; i++ {
		var b strings.Builder
		for n := next(24); n > 0; n-- {
			r := []rune(alphabet)
			b.WriteRune(r[next(len(r))])
		}
		inputs = append(inputs, b.String())
	}
	for _, pt := range params.pats {
		for _, in := range inputs {
			if in == "" {
				continue
			}
			if m := pt.re.FindStringSubmatchIndex(in); m != nil && (!pt.prefix[0][in[0]] || !pt.mayMatch(in, 0) || pt.pre != nil && !pt.pre(in, 0)) {
				t.Errorf("%s %q: prefilter refuses %q", pt.name, pt.core, in)
			}
			if pt.match == nil {
				continue
			}
			want := -1
			if m := pt.re.FindStringSubmatchIndex(in); m != nil {
				want = m[3]
			}
			if pt.limit > 0 && want > pt.limit {
				want = -1
			}
			if got := pt.match(in, 0); got != want {
				t.Errorf("%s %q on %q: matcher %d, regexp %d", pt.name, pt.core, in, got, want)
			}
		}
	}
}
