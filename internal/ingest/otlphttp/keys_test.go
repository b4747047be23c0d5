package otlphttp

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	statuspb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"github.com/fibinc/telltale/internal/ingest/ingestkey"
	"github.com/fibinc/telltale/internal/ingest/ingestkey/ingestkeytest"
	"github.com/fibinc/telltale/internal/telemetry"
)

// projectAppender records the project of the key of each Append.
type projectAppender struct {
	mu       sync.Mutex
	projects []int64
}

func (a *projectAppender) Append(ctx context.Context, b *telemetry.Batch) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.projects = append(a.projects, ingestkey.ProjectID(ctx))
	return nil
}

func (a *projectAppender) calls() []int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]int64(nil), a.projects...)
}

// spans is an OTLP/protobuf trace request of n spans.
func spans(t *testing.T, n int) []byte {
	ids := make([][]byte, n)
	for i := range ids {
		ids[i] = mustHex(fmt.Sprintf("%032x", i+1))
	}
	return marshal(t, traces(ids...))
}

func postKey(t *testing.T, url, header, value string, body []byte) (int, http.Header, *statuspb.Status) {
	t.Helper()
	r, err := http.NewRequest(http.MethodPost, url+"/v1/traces", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set("Content-Type", "application/x-protobuf")
	if value != "" {
		r.Header.Set(header, value)
	}
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var st statuspb.Status
	if resp.StatusCode != http.StatusOK {
		if err := proto.Unmarshal(b, &st); err != nil {
			t.Fatalf("answer %d is not a Status: %v", resp.StatusCode, err)
		}
	}
	return resp.StatusCode, resp.Header, &st
}

func TestIngestKeys(t *testing.T) {
	f := ingestkeytest.New(t, ingestkey.Options{})
	app := &projectAppender{}
	srv := newServer(t, Options{Appender: app, Keys: f.Keys})
	body := spans(t, 1)
	for _, bad := range f.BadKeys(false) {
		t.Run(bad.Name, func(t *testing.T) {
			value := ""
			if bad.Key != "" {
				value = "Bearer " + bad.Key
			}
			code, _, st := postKey(t, srv.URL, "Authorization", value, body)
			if code != http.StatusUnauthorized || st.Message != ingestkey.Message || codes.Code(st.Code) != codes.Unauthenticated {
				t.Errorf("%d %v %q, want 401 %q", code, codes.Code(st.Code), st.Message, ingestkey.Message)
			}
		})
	}
	if n := f.Metrics.AuthFailures.With("otlp_http").Value(); n != uint64(len(f.BadKeys(false))) {
		t.Errorf("%d failures counted", n)
	}
	if calls := app.calls(); len(calls) != 0 {
		t.Fatalf("refused requests reached the pipeline: %v", calls)
	}
	// A good key sends to its project, whichever it is.
	for _, k := range []struct {
		key     string
		project int64
	}{{f.Good, f.Project.ID}, {f.OtherKey, f.Other.ID}} {
		if code, _, st := postKey(t, srv.URL, "Authorization", "Bearer "+k.key, body); code != http.StatusOK {
			t.Fatalf("good key: %d %s", code, st.Message)
		}
		if calls := app.calls(); calls[len(calls)-1] != k.project {
			t.Errorf("records of key %s went to project %d, want %d", k.key, calls[len(calls)-1], k.project)
		}
	}
}

func TestIngestKeyHeader(t *testing.T) {
	f := ingestkeytest.New(t, ingestkey.Options{Header: "X-Telltale-Key"})
	srv := newServer(t, Options{Appender: &projectAppender{}, Keys: f.Keys})
	body := spans(t, 1)
	if code, _, _ := postKey(t, srv.URL, "Authorization", "Bearer "+f.Good, body); code != http.StatusUnauthorized {
		t.Errorf("Authorization with a custom header configured: %d, want 401", code)
	}
	if code, _, st := postKey(t, srv.URL, "X-Telltale-Key", f.Good, body); code != http.StatusOK {
		t.Errorf("custom header: %d %s", code, st.Message)
	}
}

func TestRateLimit(t *testing.T) {
	f := ingestkeytest.New(t, ingestkey.Options{MaxRecordsPerRequest: 5})
	k, err := f.Keys.CreateIngestKey(context.Background(), f.Project.ID, "slow", 2) // burst 4
	if err != nil {
		t.Fatal(err)
	}
	app := &projectAppender{}
	srv := newServer(t, Options{Appender: app, Keys: f.Keys})
	auth := "Bearer " + k.Key
	steps := []struct {
		advance    time.Duration
		spans      int
		status     int
		retryAfter string
		code       codes.Code
	}{
		{0, 6, 413, "", codes.InvalidArgument}, // over the records per request
		{0, 5, 413, "", codes.InvalidArgument}, // over the burst
		{0, 3, 200, "", 0},
		{0, 2, 429, "1", codes.ResourceExhausted},
		{0, 4, 429, "2", codes.ResourceExhausted},
		{time.Second, 3, 200, "", 0},
	}
	for i, s := range steps {
		f.Advance(s.advance)
		code, hdr, st := postKey(t, srv.URL, "Authorization", auth, spans(t, s.spans))
		if code != s.status || hdr.Get("Retry-After") != s.retryAfter || code != 200 && codes.Code(st.Code) != s.code {
			t.Errorf("step %d (%d spans): %d Retry-After %q %v %q; want %d %q %v", i, s.spans, code, hdr.Get("Retry-After"), codes.Code(st.Code), st.Message, s.status, s.retryAfter, s.code)
		}
	}
	if n := len(app.calls()); n != 2 {
		t.Errorf("%d requests reached the pipeline, want 2", n)
	}
	if n := f.Metrics.RateLimited.With("otlp_http").Value(); n != 4 {
		t.Errorf("rate limited counted %d, want 4", n)
	}
}
