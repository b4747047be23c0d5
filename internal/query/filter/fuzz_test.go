package filter

import (
	"strings"
	"testing"

	"github.com/fibinc/telltale/internal/query/dialect"
)

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"",
		`service:userstore level>=warn "insufficient credit" user=u42 request_id:3b9d41f8`,
		`a OR b -c (d OR NOT e) AND f`,
		`service:"user store"* attr.k:* resource.k8s.pod.name!=x latency>2.5 level<=13`,
		`"a \"b\" \\c" "C:\temp" msg:time* 12:30 hello! :x f:-1`,
		`((a)) --a NOT-a "AND" f:AND`,
		`level:warnx (a "b`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e, err := Parse(s)
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("Parse(%q): error %T is not *Error", s, err)
			}
			return
		}
		where, args, err := Compile(e, dialect.DuckDB{})
		if err != nil {
			t.Fatalf("Parse(%q) succeeded but Compile failed: %v", s, err)
		}
		if n := strings.Count(where, "?"); n != len(args) {
			t.Fatalf("Compile(%q) = %q with %d placeholders and %d args", s, where, n, len(args))
		}
		norm := e.String()
		e2, err := Parse(norm)
		if err != nil {
			t.Fatalf("Parse(%q) = %q, which does not parse: %v", s, norm, err)
		}
		if got := e2.String(); got != norm {
			t.Fatalf("Parse(%q) = %q, which parses to %q", s, norm, got)
		}
	})
}
