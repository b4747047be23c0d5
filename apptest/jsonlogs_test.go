package apptest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

// jsonLinesAnswer is the answer of POST /api/v1/logs.
type jsonLinesAnswer struct {
	Accepted int `json:"accepted"`
	Rejected int `json:"rejected"`
	Errors   []struct {
		Line  int    `json:"line"`
		Error string `json:"error"`
	} `json:"errors"`
	Error string `json:"error"`
}

// postLines posts a body of JSON log lines as curl would, and decodes the
// answer, checking its status.
func (s *server) postLines(query, body string, wantStatus int) jsonLinesAnswer {
	s.t.Helper()
	resp, err := http.Post("http://"+s.otlpAddr+"/api/v1/logs"+query, "application/x-ndjson", strings.NewReader(body))
	if err != nil {
		s.t.Fatalf("POST /api/v1/logs: %v", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != wantStatus {
		s.t.Fatalf("POST /api/v1/logs: status %d, want %d: %s", resp.StatusCode, wantStatus, raw)
	}
	var a jsonLinesAnswer
	if err := json.Unmarshal(raw, &a); err != nil {
		s.t.Fatalf("POST /api/v1/logs: cannot decode %s: %v", raw, err)
	}
	return a
}

// TestJSONLogLines posts log lines in the styles of common loggers to the
// real server, as a script or shipper without an SDK would, and reads them
// back through the log search API with filters on the mapped fields.
func TestJSONLogLines(t *testing.T) {
	s := start(t, t.TempDir())
	now := time.Now().UTC().Add(-time.Minute).Truncate(time.Millisecond)
	at := func(d time.Duration) time.Time { return now.Add(d * time.Millisecond) }
	const traceID = "0af7651916cd43dd8448eb211c80319c"

	body := strings.Join([]string{
		// slog JSONHandler, with a group.
		fmt.Sprintf(`{"time":%q,"level":"INFO","msg":"order placed","service":"checkout","user":{"id":"u42"},"request_id":"req-77"}`, at(1).Format(time.RFC3339Nano)),
		// zap production: epoch seconds as a float.
		fmt.Sprintf(`{"level":"warn","ts":%d.%03d,"caller":"pay/card.go:31","msg":"card slow","service":"checkout","latency_ms":950}`, at(2).Unix(), at(2).Nanosecond()/1e6),
		// pino: numeric level, epoch milliseconds, hostname.
		fmt.Sprintf(`{"level":50,"time":%d,"pid":7,"hostname":"web-1","reqId":"req-77","msg":"charge failed","app":"frontend"}`, at(3).UnixMilli()),
		// Python json logger.
		fmt.Sprintf(`{"asctime":%q,"levelname":"DEBUG","name":"db","message":"pool size 5"}`, at(4).Format("2006-01-02 15:04:05,000")),
		// ECS, nested, with a trace id.
		fmt.Sprintf(`{"@timestamp":%q,"log":{"level":"error","logger":"billing.api"},"message":"payment refused","service":{"name":"billing","environment":"prod"},"trace":{"id":%q},"exception.type":"CardDeclined","exception.message":"insufficient funds"}`, at(5).Format(time.RFC3339Nano), traceID),
		// Docker json-file: no level, no service.
		fmt.Sprintf(`{"log":"GET /health 200\n","stream":"stdout","time":%q}`, at(6).Format(time.RFC3339Nano)),
	}, "\n") + "\n"
	if a := s.postLines("?env=staging", body, 200); a.Accepted != 6 || a.Rejected != 0 {
		t.Fatalf("answer %+v, want 6 accepted", a)
	}

	logs := func(q string) []apiLog {
		t.Helper()
		var resp struct{ Data []apiLog }
		s.get("/api/v1/logs?from=now-15m&q="+url.QueryEscape(q), 200, &resp)
		return resp.Data
	}
	bodies := func(ls []apiLog) []string {
		var out []string
		for _, l := range ls {
			out = append(out, l.Body)
		}
		return out
	}
	for _, tc := range []struct {
		q    string
		want []string // newest first
	}{
		{"source:json", []string{"GET /health 200", "payment refused", "pool size 5", "charge failed", "card slow", "order placed"}},
		{"service:checkout", []string{"card slow", "order placed"}},
		{"service:frontend", []string{"charge failed"}},
		{"service:unknown_service", []string{"GET /health 200", "pool size 5"}},
		{"level>=error", []string{"payment refused", "charge failed"}},
		{"level:warn", []string{"card slow"}},
		{"level:debug", []string{"pool size 5"}},
		{"user.id:u42", []string{"order placed"}},
		{"latency_ms>900", []string{"card slow"}},
		{"stream:stdout", []string{"GET /health 200"}},
		{"request_id:req-77", []string{"charge failed", "order placed"}},
		{"trace_id:" + traceID, []string{"payment refused"}},
		{"env:prod", []string{"payment refused"}},
		{"env:staging -service:unknown_service", []string{"charge failed", "card slow", "order placed"}},
		{"host:web-1", []string{"charge failed"}},
		{"scope:billing.api", []string{"payment refused"}},
		{`"REFUSED"`, []string{"payment refused"}},
	} {
		if got := bodies(logs(tc.q)); !slices.Equal(got, tc.want) {
			t.Errorf("logs %q:\n got %q\nwant %q", tc.q, got, tc.want)
		}
	}
	if got := logs("service:checkout"); len(got) == 2 {
		if got[1].Level != "info" || got[1].RequestID != "req-77" || got[1].Attributes["user.id"] != "u42" {
			t.Errorf("slog line read back as %+v", got[1])
		}
		if got[0].Level != "warn" || got[0].Attributes["caller"] != "pay/card.go:31" || got[0].Attributes["latency_ms"] != 950.0 {
			t.Errorf("zap line read back as %+v", got[0])
		}
	}

	// Partial success: good lines are stored, bad ones reported by number.
	partial := fmt.Sprintf(`{"msg":"kept 1","service":"partial"}`+"\n"+
		`{"msg":"no closing brace"`+"\n"+
		"\n"+
		`{"msg":"too old","service":"partial","time":"2001-01-01T00:00:00Z"}`+"\n"+
		`{"msg":"kept 2","service":"partial","time":%q}`+"\n", now.Format(time.RFC3339))
	a := s.postLines("", partial, 200)
	if a.Accepted != 2 || a.Rejected != 2 || len(a.Errors) != 2 || a.Errors[0].Line != 2 || a.Errors[1].Line != 4 ||
		!strings.Contains(a.Errors[0].Error, "invalid JSON") || !strings.Contains(a.Errors[1].Error, "before the accepted window") {
		t.Errorf("partial answer %+v", a)
	}
	if got := bodies(logs("service:partial")); len(got) != 2 || !slices.Contains(got, "kept 1") || !slices.Contains(got, "kept 2") {
		t.Errorf("partial lines stored: %q", got)
	}

	// Nothing valid: 400, and nothing stored.
	if a := s.postLines("?service=bad", "nope\n[1,2]\n", 400); a.Accepted != 0 || a.Rejected != 2 || a.Error == "" {
		t.Errorf("all-bad answer %+v", a)
	}
	// A JSON array in one request.
	if a := s.postLines("?service=array", `[{"msg":"a1"},{"msg":"a2"}]`, 200); a.Accepted != 2 {
		t.Errorf("array answer %+v", a)
	}
	if got := bodies(logs("service:array")); len(got) != 2 {
		t.Errorf("array lines stored: %q", got)
	}

	// The error line with exception attributes became an issue.
	iss := s.issues("", 1, 1)
	if !strings.Contains(iss[0].Title, "CardDeclined") {
		t.Errorf("issue %+v, want one titled after CardDeclined", iss[0])
	}

	// Self-metrics count the records by source.
	resp, err := s.client.Get("http://" + s.ui + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := `telltale_ingest_records_total{signal="logs",source="json"} 10`; !bytes.Contains(metrics, []byte(want)) {
		t.Errorf("metrics lack %s:\n%s", want, grepLines(metrics, "source=\"json\""))
	}
}

func grepLines(b []byte, s string) string {
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
