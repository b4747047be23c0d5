package top

import (
	"strings"
	"testing"
	"time"
)

// FuzzDecodeServices feeds arbitrary answers through the decoder, Rows and
// Render: nothing may panic, counts must be consistent, rows sorted, and
// every line of the frame must fit in 80 columns without control
// characters, whatever names and numbers the server sends.
func FuzzDecodeServices(f *testing.F) {
	f.Add([]byte(oneService), "", int64(60))
	f.Add([]byte(oneService), "prod", int64(5))
	f.Add([]byte(`{"data":[]}`), "", int64(60))
	f.Add([]byte(`{"data":null}`), "", int64(60))
	f.Add([]byte(`{"data":[{"name":"b"},{"name":"a\u001b[2J\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9","requests":-5,"request_errors":9,"request_rate":1e308,"latency_ms":{"p50":-1,"p95":1e300}}]}`), "", int64(1))
	f.Add([]byte(`{"data":[{"name":"x","requests":3,"request_rate":-2,"latency_ms":null,"instances":[{"environment":"e","last_seen":"0001-01-01T00:00:00Z"},{"environment":"e","last_seen":"9999-12-31T23:59:59Z"}]}]}`), "e", int64(3600))
	f.Add([]byte(`{"data":{}}`), "", int64(60))
	f.Add([]byte(`not json`), "", int64(60))
	f.Fuzz(func(t *testing.T, body []byte, env string, windowSec int64) {
		svcs, err := DecodeServices(body)
		if err != nil {
			if svcs != nil {
				t.Fatalf("services %v returned with error %v", svcs, err)
			}
			return
		}
		window := time.Duration(windowSec%(31*24*3600)) * time.Second
		if window <= 0 {
			window = time.Minute
		}
		rows := Rows(svcs, frameTime, window, env)
		if len(rows) > len(svcs) {
			t.Fatalf("%d rows from %d services", len(rows), len(svcs))
		}
		for i, r := range rows {
			if r.Up < 0 || r.Up > r.Instances {
				t.Fatalf("row %q: %d of %d instances up", r.Name, r.Up, r.Instances)
			}
			if i > 0 && rows[i-1].Name > r.Name {
				t.Fatalf("rows not sorted: %q before %q", rows[i-1].Name, r.Name)
			}
			if r.P50 < 0 || r.P95 < 0 {
				t.Fatalf("row %q: negative latency %v %v", r.Name, r.P50, r.P95)
			}
		}
		var b strings.Builder
		fr := Frame{Server: "http://localhost:4320", Env: env, Window: window, Time: frameTime, Rows: rows}
		if err := Render(&b, fr); err != nil {
			t.Fatal(err)
		}
		checkWidth(t, b.String())
		if want := len(rows) + 4; len(rows) > 0 && strings.Count(b.String(), "\n") != want {
			t.Fatalf("%d lines for %d rows, want %d:\n%s", strings.Count(b.String(), "\n"), len(rows), want, b.String())
		}
	})
}
