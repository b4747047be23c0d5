package otlpgrpc

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

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

func spanRequest(n int) *coltracepb.ExportTraceServiceRequest {
	ids := make([][]byte, n)
	for i := range ids {
		ids[i] = mustHex(fmt.Sprintf("%032x", i+1))
	}
	return traces(ids...)
}

func exportWith(conn *grpc.ClientConn, key string, value string, n int) error {
	ctx := context.Background()
	if value != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, key, value)
	}
	_, err := coltracepb.NewTraceServiceClient(conn).Export(ctx, spanRequest(n))
	return err
}

func TestIngestKeys(t *testing.T) {
	f := ingestkeytest.New(t, ingestkey.Options{})
	app := &projectAppender{}
	conn := serve(t, Options{Appender: app, Keys: f.Keys})
	for _, bad := range f.BadKeys(false) {
		value := ""
		if bad.Key != "" {
			value = "Bearer " + bad.Key
		}
		err := exportWith(conn, "authorization", value, 1)
		if st := status.Convert(err); st.Code() != codes.Unauthenticated || st.Message() != ingestkey.Message {
			t.Errorf("%s: %v, want UNAUTHENTICATED %q", bad.Name, err, ingestkey.Message)
		}
	}
	if n := f.Metrics.AuthFailures.With("otlp_grpc").Value(); n != uint64(len(f.BadKeys(false))) {
		t.Errorf("%d failures counted", n)
	}
	if calls := app.calls(); len(calls) != 0 {
		t.Fatalf("refused requests reached the pipeline: %v", calls)
	}
	for _, k := range []struct {
		key     string
		project int64
	}{{f.Good, f.Project.ID}, {f.OtherKey, f.Other.ID}} {
		if err := exportWith(conn, "authorization", "Bearer "+k.key, 1); err != nil {
			t.Fatalf("good key: %v", err)
		}
		if calls := app.calls(); calls[len(calls)-1] != k.project {
			t.Errorf("records went to project %d, want %d", calls[len(calls)-1], k.project)
		}
	}
}

func TestIngestKeyHeader(t *testing.T) {
	f := ingestkeytest.New(t, ingestkey.Options{Header: "X-Telltale-Key"})
	conn := serve(t, Options{Appender: &projectAppender{}, Keys: f.Keys})
	if err := exportWith(conn, "authorization", "Bearer "+f.Good, 1); status.Code(err) != codes.Unauthenticated {
		t.Errorf("authorization with a custom header configured: %v", err)
	}
	if err := exportWith(conn, "x-telltale-key", f.Good, 1); err != nil {
		t.Errorf("custom metadata key: %v", err)
	}
}

func TestRateLimit(t *testing.T) {
	f := ingestkeytest.New(t, ingestkey.Options{MaxRecordsPerRequest: 5})
	k, err := f.Keys.CreateIngestKey(context.Background(), f.Project.ID, "slow", 2) // burst 4
	if err != nil {
		t.Fatal(err)
	}
	app := &projectAppender{}
	conn := serve(t, Options{Appender: app, Keys: f.Keys})
	steps := []struct {
		advance time.Duration
		spans   int
		code    codes.Code
		retry   time.Duration
	}{
		{0, 6, codes.InvalidArgument, 0}, // over the records per request
		{0, 5, codes.InvalidArgument, 0}, // over the burst
		{0, 3, codes.OK, 0},
		{0, 2, codes.ResourceExhausted, time.Second},
		{0, 4, codes.ResourceExhausted, 2 * time.Second},
		{time.Second, 3, codes.OK, 0},
	}
	for i, s := range steps {
		f.Advance(s.advance)
		err := exportWith(conn, "authorization", "Bearer "+k.Key, s.spans)
		st := status.Convert(err)
		var retry time.Duration
		for _, d := range st.Details() {
			if ri, ok := d.(*errdetails.RetryInfo); ok {
				retry = ri.GetRetryDelay().AsDuration()
			}
		}
		if st.Code() != s.code || retry != s.retry {
			t.Errorf("step %d (%d spans): %v retry %v; want %v retry %v", i, s.spans, err, retry, s.code, s.retry)
		}
	}
	if n := len(app.calls()); n != 2 {
		t.Errorf("%d requests reached the pipeline, want 2", n)
	}
	if n := f.Metrics.RateLimited.With("otlp_grpc").Value(); n != 4 {
		t.Errorf("rate limited counted %d, want 4", n)
	}
}
