package query_test

import (
	"context"
	"testing"
	"time"
)

func BenchmarkRawProbe(b *testing.B) {
	d := benchSetup(b)
	ctx := context.Background()
	qs := []struct{ name, q string; args []any }{
		{"scanBody", "SELECT count(*) FROM logs WHERE length(body) < 0", nil},
		{"cntILIKEconst", "SELECT count(*) FROM logs WHERE body ILIKE '%some rare phrase%'", nil},
		{"cntILIKEparam", "SELECT count(*) FROM logs WHERE body ILIKE ?", []any{"%some rare phrase%"}},
		{"cntILIKEescparam", "SELECT count(*) FROM logs WHERE body ILIKE ? ESCAPE '\\'", []any{"%some rare phrase%"}},
		{"cntLIKEconst", "SELECT count(*) FROM logs WHERE body LIKE '%some rare phrase%'", nil},
		{"cntLIKEparam", "SELECT count(*) FROM logs WHERE body LIKE ?", []any{"%some rare phrase%"}},
		{"cntContainsParam", "SELECT count(*) FROM logs WHERE contains(body, ?)", []any{"some rare phrase"}},
		{"cntContainsLowerParam", "SELECT count(*) FROM logs WHERE contains(lower(body), ?)", []any{"some rare phrase"}},
		{"cntRegexpConst", "SELECT count(*) FROM logs WHERE regexp_matches(body, '(?i)some rare phrase')", nil},
		{"cntRegexpConstOpt", "SELECT count(*) FROM logs WHERE regexp_matches(body, 'some rare phrase', 'i')", nil},
	}
	for _, q := range qs {
		b.Run(q.name, func(b *testing.B) {
			for b.Loop() {
				t0 := time.Now()
				r, err := d.st.Query(ctx, q.q, q.args...)
				if err != nil {
					b.Fatal(err)
				}
				n := 0
				for r.Next() {
					n++
				}
				r.Close()
				_ = t0
			}
		})
	}
}
