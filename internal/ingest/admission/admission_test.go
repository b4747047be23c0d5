package admission_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	statuspb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/fibinc/telltale/internal/ingest/admission"
	"github.com/fibinc/telltale/internal/ingest/otlpgrpc"
	"github.com/fibinc/telltale/internal/telemetry"
)

// readTracker is a body that records whether anyone read it.
type readTracker struct {
	io.Reader
	read atomic.Bool
}

func (r *readTracker) Read(p []byte) (int, error) {
	r.read.Store(true)
	return r.Reader.Read(p)
}

func TestRequestCost(t *testing.T) {
	const max = 1000
	for _, tc := range []struct {
		name     string
		length   int64
		encoding string
		want     int64
	}{
		{"known length", 300, "", 300 * admission.Expansion},
		{"identity", 300, "identity", 300 * admission.Expansion},
		{"unknown length", -1, "", max * admission.Expansion},
		{"over the limit", 5000, "", max * admission.Expansion},
		{"gzip", 30, "gzip", 300 * admission.Expansion},
		{"gzip over the limit", 200, "gzip", max * admission.Expansion},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := admission.NewBudget(100_000)
			var during int64
			h := b.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { during = b.InUse() }),
				admission.HTTPOptions{MaxBodyBytes: max})
			r := httptest.NewRequest(http.MethodPost, "/v1/logs", strings.NewReader("x"))
			r.ContentLength = tc.length
			if tc.encoding != "" {
				r.Header.Set("Content-Encoding", tc.encoding)
			}
			h.ServeHTTP(httptest.NewRecorder(), r)
			if during != tc.want {
				t.Errorf("reserved %d bytes, want %d", during, tc.want)
			}
			if n := b.InUse(); n != 0 {
				t.Errorf("%d bytes still reserved after the request", n)
			}
		})
	}
}

func TestHTTPBudget(t *testing.T) {
	const size = 600 // bytes, reserving 4,800
	b := admission.NewBudget(8000)
	entered := make(chan struct{}, 1)
	release := make(chan struct{})
	var rejected atomic.Int64
	srv := httptest.NewServer(b.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		if r.Header.Get("X-Hold") != "" { // only the first request waits
			entered <- struct{}{}
			<-release
		}
	}), admission.HTTPOptions{MaxBodyBytes: 800, OnReject: func(*http.Request) { rejected.Add(1) }}))
	defer srv.Close()

	// A request of 600 bytes holds 4,800 of the 8,000.
	first := make(chan error, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/logs", strings.NewReader(strings.Repeat("x", size)))
		req.Header.Set("X-Hold", "1")
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		first <- err
	}()
	<-entered
	if n := b.InUse(); n != size*admission.Expansion {
		t.Fatalf("in use = %d, want %d", n, size*admission.Expansion)
	}

	// Another 600 does not fit: 503 at once, with Retry-After and a
	// google.rpc.Status in the request's encoding, and the body unread.
	body := &readTracker{Reader: strings.NewReader(strings.Repeat("y", 600))}
	r := httptest.NewRequest(http.MethodPost, "/v1/logs", body)
	r.ContentLength = size
	r.Header.Set("Content-Type", "application/x-protobuf")
	w := httptest.NewRecorder()
	b.Handler(http.NotFoundHandler(), admission.HTTPOptions{MaxBodyBytes: 800}).ServeHTTP(w, r)
	if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") != "1" {
		t.Errorf("over budget: %d, Retry-After %q; want 503, 1", w.Code, w.Header().Get("Retry-After"))
	}
	var st statuspb.Status
	if err := proto.Unmarshal(w.Body.Bytes(), &st); err != nil || codes.Code(st.Code) != codes.Unavailable || !strings.Contains(st.Message, "memory budget") {
		t.Errorf("answer %q, %v: want a google.rpc.Status UNAVAILABLE", w.Body.String(), err)
	}
	if body.read.Load() {
		t.Error("the refused request's body was read")
	}

	// The same through the server, with a body of unknown length (which
	// reserves for the 800-byte limit) and JSON logs.
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/api/v1/logs", io.MultiReader(strings.NewReader("[]")))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.HasPrefix(string(got), `{"error":"ingest is over its memory budget`) {
		t.Errorf("unknown length over budget: %d %s", resp.StatusCode, got)
	}
	if n := rejected.Load(); n != 1 {
		t.Errorf("OnReject called %d times, want 1", n)
	}

	// Once the first request is done its bytes are free again.
	close(release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if n := b.InUse(); n != 0 {
		t.Fatalf("in use after the request = %d, want 0", n)
	}
	resp, err = http.Post(srv.URL+"/v1/logs", "application/x-protobuf", strings.NewReader(strings.Repeat("x", 600)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("after release: %d, want 200", resp.StatusCode)
	}
}

func TestOversizedAloneIsAdmitted(t *testing.T) {
	b := admission.NewBudget(100)
	if !b.TryAcquire(500) {
		t.Fatal("a request larger than the budget was refused with nothing in flight")
	}
	if b.TryAcquire(1) {
		t.Error("admitted a request while the budget is exceeded")
	}
	b.Release(500)
	if !b.TryAcquire(60) || !b.TryAcquire(40) || b.TryAcquire(1) {
		t.Error("budget of 100 does not take exactly 60+40")
	}
}

// blockingAppender holds every batch until release is closed.
type blockingAppender struct {
	entered chan struct{}
	release chan struct{}
}

func (a *blockingAppender) Append(ctx context.Context, b *telemetry.Batch) error {
	a.entered <- struct{}{}
	select {
	case <-a.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func TestGRPCBudget(t *testing.T) {
	const maxMsg = 1 << 20
	b := admission.NewBudget(maxMsg)
	app := &blockingAppender{entered: make(chan struct{}, 4), release: make(chan struct{})}
	var rejected atomic.Int64
	srv := otlpgrpc.NewServer(otlpgrpc.Options{Appender: app, MaxRecvMsgBytes: maxMsg},
		b.ServerOptions(admission.GRPCOptions{MaxRecvMsgBytes: maxMsg, OnReject: func(string) { rejected.Add(1) }})...)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Stop()
	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := collogspb.NewLogsServiceClient(conn)
	req := &collogspb.ExportLogsServiceRequest{ResourceLogs: []*logspb.ResourceLogs{{ScopeLogs: []*logspb.ScopeLogs{{LogRecords: []*logspb.LogRecord{{
		TimeUnixNano: uint64(time.Now().UnixNano()), Body: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: "hello"}},
	}}}}}}}
	size := int64(proto.Size(req))

	// The first stream reserves the message limit, then what its message
	// takes once it has arrived.
	first := make(chan error, 1)
	go func() {
		_, err := client.Export(context.Background(), req)
		first <- err
	}()
	<-app.entered
	if n := b.InUse(); n != size*admission.Expansion {
		t.Fatalf("in use while the first request waits = %d, want %d, Expansion times its size", n, size*admission.Expansion)
	}

	// A second stream would need the whole limit again: refused before its
	// message is read, in a way OTLP exporters retry.
	_, err = client.Export(context.Background(), req)
	st := status.Convert(err)
	if st.Code() != codes.Unavailable || !strings.Contains(st.Message(), "memory budget") {
		t.Fatalf("over budget: %v, want UNAVAILABLE", err)
	}
	var retry *errdetails.RetryInfo
	for _, d := range st.Details() {
		if r, ok := d.(*errdetails.RetryInfo); ok {
			retry = r
		}
	}
	if retry == nil || retry.RetryDelay.AsDuration() != admission.RetryAfter {
		t.Errorf("details %v: want RetryInfo of %s", st.Details(), admission.RetryAfter)
	}
	if rejected.Load() != 1 {
		t.Errorf("OnReject called %d times, want 1", rejected.Load())
	}

	close(app.release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	// The stream's end releases the rest.
	waitFree(t, b)
	if _, err := client.Export(context.Background(), req); err != nil {
		t.Errorf("after release: %v", err)
	}
	if n := b.InUse(); n < 0 {
		t.Errorf("in use = %d: released more than reserved", n)
	}
}

// TestGRPCGrowthRefused checks the refusal of a call admitted at the start
// of its stream whose message turns out too large for what is left.
func TestGRPCGrowthRefused(t *testing.T) {
	const maxMsg = 64 << 10
	b := admission.NewBudget(900 << 10)
	app := &blockingAppender{entered: make(chan struct{}, 4), release: make(chan struct{})}
	srv := otlpgrpc.NewServer(otlpgrpc.Options{Appender: app, MaxRecvMsgBytes: maxMsg}, b.ServerOptions(admission.GRPCOptions{MaxRecvMsgBytes: maxMsg})...)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Stop()
	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := collogspb.NewLogsServiceClient(conn)
	// About 60 KB, taking 480 KB once decoded.
	req := &collogspb.ExportLogsServiceRequest{ResourceLogs: []*logspb.ResourceLogs{{ScopeLogs: []*logspb.ScopeLogs{{LogRecords: []*logspb.LogRecord{{
		TimeUnixNano: uint64(time.Now().UnixNano()), Body: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: strings.Repeat("x", 60_000)}},
	}}}}}}}
	first := make(chan error, 1)
	go func() {
		_, err := client.Export(context.Background(), req)
		first <- err
	}()
	<-app.entered
	// The second stream fits at the start (480 + 64 KB), not once its
	// message is known (480 + 480 KB).
	_, err = client.Export(context.Background(), req)
	if st := status.Convert(err); st.Code() != codes.Unavailable || !strings.Contains(st.Message(), "memory budget") {
		t.Fatalf("second call: %v, want UNAVAILABLE", err)
	}
	close(app.release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	waitFree(t, b)
}

// TestGRPCCanceledStreamReleases checks that a stream its client cancels
// gives back its reservation.
func TestGRPCCanceledStreamReleases(t *testing.T) {
	b := admission.NewBudget(1 << 20)
	app := &blockingAppender{entered: make(chan struct{}, 4), release: make(chan struct{})}
	srv := otlpgrpc.NewServer(otlpgrpc.Options{Appender: app}, b.ServerOptions(admission.GRPCOptions{})...)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Stop()
	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-app.entered
		cancel()
	}()
	_, err = collogspb.NewLogsServiceClient(conn).Export(ctx, &collogspb.ExportLogsServiceRequest{ResourceLogs: []*logspb.ResourceLogs{{ScopeLogs: []*logspb.ScopeLogs{{LogRecords: []*logspb.LogRecord{{TimeUnixNano: uint64(time.Now().UnixNano())}}}}}}})
	if status.Code(err) != codes.Canceled && !errors.Is(err, context.Canceled) {
		t.Fatalf("Export = %v, want canceled", err)
	}
	waitFree(t, b)
}

// waitFree waits until nothing is reserved: the gRPC transport ends
// streams asynchronously.
func waitFree(t *testing.T, b *admission.Budget) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for b.InUse() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d bytes still reserved after the streams ended", b.InUse())
		}
		time.Sleep(time.Millisecond)
	}
}

func BenchmarkHandler(b *testing.B) {
	budget := admission.NewBudget(1 << 30)
	h := budget.Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}), admission.HTTPOptions{})
	r := httptest.NewRequest(http.MethodPost, "/v1/logs", nil)
	r.ContentLength = 100_000
	w := httptest.NewRecorder()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			h.ServeHTTP(w, r)
		}
	})
}
