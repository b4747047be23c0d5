package jsonlogs

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

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

func logLines(n int) []byte {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, `{"msg":"line %d","level":"info"}`+"\n", i)
	}
	return []byte(b.String())
}

func (f *fixture) postKey(t *testing.T, header, value string, body []byte) answer {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, f.url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", ndjson)
	if value != "" {
		req.Header.Set(header, value)
	}
	return do(t, req)
}

func TestIngestKeys(t *testing.T) {
	k := ingestkeytest.New(t, ingestkey.Options{})
	app := &projectAppender{}
	f := newFixture(t, Options{Appender: app, Keys: k.Keys})
	for _, bad := range k.BadKeys(false) {
		value := ""
		if bad.Key != "" {
			value = "Bearer " + bad.Key
		}
		a := f.postKey(t, "Authorization", value, logLines(1))
		if a.status != http.StatusUnauthorized || a.body.Error != ingestkey.Message {
			t.Errorf("%s: %d %s, want 401 %q", bad.Name, a.status, a.raw, ingestkey.Message)
		}
	}
	if n := k.Metrics.AuthFailures.With("json").Value(); n != uint64(len(k.BadKeys(false))) {
		t.Errorf("%d failures counted", n)
	}
	if calls := app.calls(); len(calls) != 0 {
		t.Fatalf("refused requests reached the pipeline: %v", calls)
	}
	for _, key := range []struct {
		key     string
		project int64
	}{{k.Good, k.Project.ID}, {k.OtherKey, k.Other.ID}} {
		if a := f.postKey(t, "Authorization", "Bearer "+key.key, logLines(1)); a.status != http.StatusOK {
			t.Fatalf("good key: %d %s", a.status, a.raw)
		}
		if calls := app.calls(); calls[len(calls)-1] != key.project {
			t.Errorf("records went to project %d, want %d", calls[len(calls)-1], key.project)
		}
	}
}

func TestIngestKeyHeader(t *testing.T) {
	k := ingestkeytest.New(t, ingestkey.Options{Header: "X-Telltale-Key"})
	f := newFixture(t, Options{Appender: &projectAppender{}, Keys: k.Keys})
	if a := f.postKey(t, "Authorization", "Bearer "+k.Good, logLines(1)); a.status != http.StatusUnauthorized {
		t.Errorf("Authorization with a custom header configured: %d", a.status)
	}
	if a := f.postKey(t, "X-Telltale-Key", k.Good, logLines(1)); a.status != http.StatusOK {
		t.Errorf("custom header: %d %s", a.status, a.raw)
	}
}

func TestRateLimit(t *testing.T) {
	k := ingestkeytest.New(t, ingestkey.Options{MaxRecordsPerRequest: 5})
	key, err := k.Keys.CreateIngestKey(context.Background(), k.Project.ID, "slow", 2) // burst 4
	if err != nil {
		t.Fatal(err)
	}
	app := &projectAppender{}
	f := newFixture(t, Options{Appender: app, Keys: k.Keys})
	steps := []struct {
		advance    time.Duration
		lines      int
		status     int
		retryAfter string
		msg        string
	}{
		{0, 6, 413, "", "over the limit of 5 records per request"},
		{0, 5, 413, "", "more than the 4 records"},
		{0, 3, 200, "", ""},
		{0, 2, 429, "1", "rate limit of 2 records/s"},
		{0, 4, 429, "2", "retry in 2 s"},
		{time.Second, 3, 200, "", ""},
	}
	for i, s := range steps {
		k.Advance(s.advance)
		a := f.postKey(t, "Authorization", "Bearer "+key.Key, logLines(s.lines))
		if a.status != s.status || a.header.Get("Retry-After") != s.retryAfter || !strings.Contains(a.body.Error, s.msg) {
			t.Errorf("step %d (%d lines): %d Retry-After %q %s; want %d %q %q", i, s.lines, a.status, a.header.Get("Retry-After"), a.raw, s.status, s.retryAfter, s.msg)
		}
	}
	if n := len(app.calls()); n != 2 {
		t.Errorf("%d requests reached the pipeline, want 2", n)
	}
}
