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
		{"trace", "SELECT * FROM spans WHERE trace_id = ?", []any{d.traceID}},
		{"traceBounds", "SELECT min(timestamp), max(timestamp) FROM spans WHERE trace_id = ?", []any{d.traceID}},
		{"reqSpans", "SELECT trace_id FROM spans WHERE request_id = ?", []any{"req-12345"}},
		{"reqLogs", "SELECT trace_id FROM logs WHERE request_id = ?", []any{"req-12345"}},
		{"needleILIKE", "SELECT * FROM logs WHERE body ILIKE ? ORDER BY timestamp DESC LIMIT 101", []any{"%some rare phrase%"}},
		{"needleLIKE", "SELECT * FROM logs WHERE body LIKE ? ORDER BY timestamp DESC LIMIT 101", []any{"%some rare phrase%"}},
		{"needleContainsLower", "SELECT * FROM logs WHERE contains(lower(body), ?) ORDER BY timestamp DESC LIMIT 101", []any{"some rare phrase"}},
		{"logsNewest", "SELECT * FROM logs ORDER BY timestamp DESC, hash(observed_timestamp, body) DESC LIMIT 101", nil},
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
