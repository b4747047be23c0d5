// Package admission bounds the memory of ingest requests in flight, so that
// a flood of large requests cannot grow the server's memory without limit.
// A request reserves the memory it will take (its body size times
// Expansion) from a shared Budget before its body is read, and returns it
// when its handler returns; a request that does not fit is refused at once
// (HTTP 503 with Retry-After, gRPC UNAVAILABLE with RetryInfo), without
// reading its body, and the client retries later.
//
// Policy: no waiting. A queue of waiting requests would hold their
// connections and buffers, which is the memory being protected; OTLP
// exporters and the collector retry on these answers with backoff.
package admission

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	statuspb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/tap"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
)

// RetryAfter is how long refused clients are told to wait: long enough for
// some requests in flight to finish, short enough not to make exporters
// drop data.
const RetryAfter = time.Second

// Budget is a number of bytes shared by the requests in flight. It is safe
// for concurrent use.
type Budget struct {
	max  int64
	used atomic.Int64
}

// NewBudget returns a budget of max bytes; max <= 0 admits everything (the
// bytes are still counted).
func NewBudget(max int64) *Budget { return &Budget{max: max} }

// TryAcquire reserves n bytes and reports whether it could. A request larger
// than the whole budget is admitted when nothing else is in flight, so that
// it is not refused forever.
func (b *Budget) TryAcquire(n int64) bool { return b.grow(0, n) }

// grow reserves n more bytes for a holder of own bytes: the holder alone may
// exceed the budget.
func (b *Budget) grow(own, n int64) bool {
	for {
		cur := b.used.Load()
		if b.max > 0 && cur > own && cur+n > b.max {
			return false
		}
		if b.used.CompareAndSwap(cur, cur+n) {
			return true
		}
	}
}

// Release returns n bytes reserved by TryAcquire.
func (b *Budget) Release(n int64) { b.used.Add(-n) }

// InUse returns the bytes reserved now.
func (b *Budget) InUse() int64 { return b.used.Load() }

// Max returns the size of the budget; 0 means unlimited.
func (b *Budget) Max() int64 { return max(b.max, 0) }

// Expansion is how many times its (decompressed) body size a request takes
// in memory at its peak: the body buffer, the decoded protobuf message (4.5
// times the body for OTLP logs of 170 bytes a record) and the records made
// from it (1.9 times), measured with the loadgen's records.
const Expansion = 8

// CompressionAllowance is how many times its length a compressed body is
// taken to decompress to: OTLP protobuf and JSON compress five to ten
// times.
const CompressionAllowance = 10

// HTTPOptions configure Handler. The zero value works.
type HTTPOptions struct {
	// MaxBodyBytes is the listeners' limit on a body, before and after
	// decompression: what a body of unknown length reserves, and the most
	// any body reserves. Default 16 MiB.
	MaxBodyBytes int64
	// OnReject, if set, is called for every refused request.
	OnReject func(r *http.Request)
}

// Handler returns next behind the budget: each request reserves Expansion
// times the size its body can reach (its Content-Length;
// CompressionAllowance times that when compressed; the limit when the
// length is unknown) before next runs, and releases it when next returns.
func (b *Budget) Handler(next http.Handler, opt HTTPOptions) http.Handler {
	if opt.MaxBodyBytes <= 0 {
		opt.MaxBodyBytes = 16 << 20
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := requestCost(r, opt.MaxBodyBytes)
		if !b.TryAcquire(n) {
			if opt.OnReject != nil {
				opt.OnReject(r)
			}
			refuseHTTP(w, r, fmt.Sprintf("ingest is over its memory budget (%d of %d bytes of requests in flight); retry later", b.InUse(), b.Max()))
			return
		}
		defer b.Release(n)
		next.ServeHTTP(w, r)
	})
}

// requestCost is what a request reserves.
func requestCost(r *http.Request, maxBody int64) int64 {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return 0
	}
	n := r.ContentLength
	if n < 0 {
		return maxBody * Expansion
	}
	switch ce := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); ce {
	case "", "identity":
	default:
		n = min(n, maxBody/CompressionAllowance+1) * CompressionAllowance
	}
	return min(n, maxBody) * Expansion
}

// refuseHTTP answers 503 with Retry-After in what the client reads: a
// google.rpc.Status for OTLP/HTTP (in the request's encoding, as the
// specification asks), {"error": ...} for other JSON, else plain text.
func refuseHTTP(w http.ResponseWriter, r *http.Request, msg string) {
	h := w.Header()
	h.Set("Retry-After", strconv.Itoa(int(RetryAfter/time.Second)))
	ct, _, _ := strings.Cut(r.Header.Get("Content-Type"), ";")
	ct = strings.ToLower(strings.TrimSpace(ct))
	otlp := strings.HasPrefix(r.URL.Path, "/v1/")
	var body []byte
	switch {
	case otlp && ct == "application/x-protobuf":
		body, _ = proto.Marshal(&statuspb.Status{Code: int32(codes.Unavailable), Message: msg})
	case otlp && ct == "application/json":
		body, _ = protojson.Marshal(&statuspb.Status{Code: int32(codes.Unavailable), Message: msg})
	case ct == "application/json":
		ct = "application/json"
		body = append(strconv.AppendQuote([]byte(`{"error":`), msg), "}\n"...)
	default:
		ct = "text/plain; charset=utf-8"
		body = []byte(msg + "\n")
	}
	h.Set("Content-Type", ct)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusServiceUnavailable)
	w.Write(body)
}

// GRPCOptions configure ServerOptions. The zero value works.
type GRPCOptions struct {
	// MaxRecvMsgBytes is the server's limit on a request message: what a
	// stream reserves until its message has arrived. Default 16 MiB.
	MaxRecvMsgBytes int64
	// OnReject, if set, is called for every refused stream.
	OnReject func(method string)
}

// ServerOptions returns the gRPC server options that put every unary call
// behind the budget. The message size is not known when a stream starts, so
// a tap handle reserves MaxRecvMsgBytes (what the message buffer can take)
// or refuses the stream with UNAVAILABLE and RetryInfo, which OTLP
// exporters retry. Once the message is decoded, and before the service
// handler converts it, an interceptor sets the reservation to Expansion
// times the message's size, refusing the call the same way if the growth
// does not fit. The reservation is released when the stream ends.
func (b *Budget) ServerOptions(opt GRPCOptions) []grpc.ServerOption {
	if opt.MaxRecvMsgBytes <= 0 {
		opt.MaxRecvMsgBytes = 16 << 20
	}
	return []grpc.ServerOption{
		grpc.InTapHandle(b.tap(opt)),
		grpc.StatsHandler(sizer{}),
		grpc.ChainUnaryInterceptor(b.interceptor(opt)),
	}
}

// reservation is a stream's share of the budget.
type reservation struct {
	b      *Budget
	length atomic.Int64 // size of the message received, decompressed; 0 until then

	mu       sync.Mutex
	held     int64
	released bool
}

// resize sets the reservation to n bytes, and reports false when it cannot
// grow to n.
func (r *reservation) resize(n int64) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.released:
		return true // the stream has ended; nothing to hold
	case n < r.held:
		r.b.Release(r.held - n)
	case n > r.held:
		if !r.b.grow(r.held, n-r.held) {
			return false
		}
	}
	r.held = n
	return true
}

// release returns everything the reservation holds, for good.
func (r *reservation) release() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.b.Release(r.held)
	r.held, r.released = 0, true
}

type reservationKey struct{}

func (b *Budget) tap(opt GRPCOptions) tap.ServerInHandle {
	return func(ctx context.Context, info *tap.Info) (context.Context, error) {
		n := opt.MaxRecvMsgBytes
		if !b.TryAcquire(n) {
			if opt.OnReject != nil {
				opt.OnReject(info.FullMethodName)
			}
			return ctx, overBudget(b)
		}
		res := &reservation{b: b, held: n}
		// The transport cancels a stream's context when the stream ends,
		// whichever way it ends; a context that is already done runs the
		// release at once.
		context.AfterFunc(ctx, res.release)
		return context.WithValue(ctx, reservationKey{}, res), nil
	}
}

func (b *Budget) interceptor(opt GRPCOptions) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		res, ok := ctx.Value(reservationKey{}).(*reservation)
		if ok && res.length.Load() > 0 && !res.resize(res.length.Load()*Expansion) {
			if opt.OnReject != nil {
				opt.OnReject(info.FullMethod)
			}
			return nil, overBudget(b)
		}
		return handler(ctx, req)
	}
}

// overBudget is the refusal of a stream or call: UNAVAILABLE, which every
// OTLP exporter retries, with RetryInfo saying when.
func overBudget(b *Budget) error {
	st := status.New(codes.Unavailable, fmt.Sprintf("ingest is over its memory budget (%d of %d bytes of requests in flight); retry later", b.InUse(), b.Max()))
	if d, err := st.WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(RetryAfter)}); err == nil {
		st = d
	}
	return st.Err()
}

// sizer is the stats handler that notes the size of the message received,
// for the interceptor. It runs after the message is decoded.
type sizer struct{}

func (sizer) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context { return ctx }
func (sizer) HandleRPC(ctx context.Context, s stats.RPCStats) {
	if p, ok := s.(*stats.InPayload); ok {
		if res, ok := ctx.Value(reservationKey{}).(*reservation); ok {
			res.length.Store(int64(max(p.Length, 1)))
		}
	}
}
func (sizer) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context { return ctx }
func (sizer) HandleConn(context.Context, stats.ConnStats)                       {}
