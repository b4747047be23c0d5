package filter

import (
	"strings"
	"testing"

	"github.com/fibinc/telltale/internal/query/dialect"
)

// oddFilters are unusual but valid filters; they seed FuzzParse and are run
// on DuckDB by TestOddFiltersRun.
var oddFilters = []string{
	"",
	`service:userstore level>=warn "insufficient credit" user=u42 request_id:3b9d41f8`,
	`a OR b -c (d OR NOT e) AND f`,
	`service:"user store"* attr.k:* resource.k8s.pod.name!=x latency>2.5 level<=13`,
	`"a \"b\" \\c" "C:\temp" msg:time* 12:30 hello! :x f:-1 f:=v`,
	`((a)) --a NOT-a "AND" f:AND`,
	`'; DROP TABLE logs; --x f:"' OR 1=1 --" "%_\\" f:%_*`,
	`k:"?" "?" f:$. attr.$."x":y resource."x":z`,
	"\u00e9t\u00e9 \u00e9:\u00e8 \x00 f:\x00",
	`x>1e308 x<-1e-320 x>=0x10 x<=Inf x>NaN level:0 level<24`,
}

func FuzzParse(f *testing.F) {
	for _, s := range oddFilters {
		f.Add(s)
	}
	f.Add(`level:warnx (a "b`)
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
		if len(norm) > MaxQueryBytes {
			return // quotes and escapes can lengthen a query that was near the limit
		}
		e2, err := Parse(norm)
		if err != nil {
			t.Fatalf("Parse(%q) = %q, which does not parse: %v", s, norm, err)
		}
		if got := e2.String(); got != norm {
			t.Fatalf("Parse(%q) = %q, which parses to %q", s, norm, got)
		}
	})
}
