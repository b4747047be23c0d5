package apptest

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	"google.golang.org/protobuf/proto"

	"github.com/fibinc/telltale/internal/store/duckdb"
)

// TestCrashKeepsAcknowledgedRecords runs telltale under load, kills it with
// SIGKILL, restarts it, and checks that every record of every request it
// answered 200 is stored.
func TestCrashKeepsAcknowledgedRecords(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test skipped in -short mode")
	}
	dir := t.TempDir()
	s := start(t, dir)

	const workers, perRequest = 6, 200
	var mu sync.Mutex
	acked := map[string]bool{}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 10 * time.Second}
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for seq := 0; ctx.Err() == nil; seq++ {
				body, ids := crashRequest(w, seq, perRequest)
				req, _ := http.NewRequestWithContext(ctx, "POST", "http://"+s.otlpAddr+"/v1/logs", bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/x-protobuf")
				resp, err := client.Do(req)
				if err != nil {
					return // the server is gone
				}
				resp.Body.Close()
				if resp.StatusCode == 200 {
					mu.Lock()
					for _, id := range ids {
						acked[id] = true
					}
					mu.Unlock()
				}
			}
		}()
	}
	// Kill while requests are in flight, once a fair number were answered.
	deadline := time.Now().Add(20 * time.Second)
	for {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n >= 20_000 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.kill()
	cancel()
	wg.Wait()
	if len(acked) == 0 {
		t.Fatal("no request was acknowledged before the kill")
	}

	// Restart on the same data: WAL replay must bring everything back, and
	// the server must serve again.
	s2 := start(t, dir)
	s2.healthy()
	s2.stop()

	st, err := duckdb.Open(context.Background(), duckdb.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rows, err := st.Query(context.Background(), "SELECT body FROM logs")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	stored := map[string]bool{}
	for rows.Next() {
		var b string
		rows.Scan(&b)
		stored[b] = true
	}
	missing := 0
	for id := range acked {
		if !stored[id] {
			missing++
		}
	}
	t.Logf("acknowledged %d records before SIGKILL; %d stored after restart", len(acked), len(stored))
	if missing > 0 {
		t.Errorf("%d of %d acknowledged records are missing after the crash", missing, len(acked))
	}
}

func crashRequest(worker, seq, n int) ([]byte, []string) {
	now := uint64(time.Now().UnixNano())
	var recs []*logspb.LogRecord
	var ids []string
	for i := range n {
		id := fmt.Sprintf("crash-%d-%d-%d", worker, seq, i)
		ids = append(ids, id)
		recs = append(recs, &logspb.LogRecord{
			TimeUnixNano: now + uint64(i),
			Body:         &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: id}},
		})
	}
	req := &collogspb.ExportLogsServiceRequest{ResourceLogs: []*logspb.ResourceLogs{{
		Resource: &resourcepb.Resource{Attributes: []*commonpb.KeyValue{{
			Key: "service.name", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: "crashy"}},
		}}},
		ScopeLogs: []*logspb.ScopeLogs{{LogRecords: recs}},
	}}}
	b, _ := proto.Marshal(req)
	return b, ids
}
