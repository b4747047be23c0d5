// Package admission bounds the bytes of ingest requests in flight, so that a
// flood of large requests cannot grow the server's memory without limit.
// A request reserves its size from a shared Budget before its body is read
// and returns it when its handler returns; a request that does not fit is
// refused at once (HTTP 503 with Retry-After, gRPC UNAVAILABLE with
// RetryInfo), without reading its body, and the client retries later.
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
func (b *Budget) TryAcquire(n int64) bool {
	for {
		cur := b.used.Load()
		if b.max > 0 && cur > 0 && cur+n > b.max {
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

// CompressionAllowance is how many times its length a compressed body is
// reserved at: OTLP protobuf and JSON compress five to ten times, and the
// decompressed body is what the handler holds.
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

// Handler returns next behind the budget: each request reserves the size
// its body can reach (its Content-Length; the decompressed limit when the
// length is unknown; CompressionAllowance times the length when
// compressed) before next runs, and releases it when next returns.
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
		return maxBody
	}
	switch ce := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); ce {
	case "", "identity":
	default:
		n = min(n, maxBody/CompressionAllowance+1) * CompressionAllowance
	}
	return min(n, maxBody)
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

// ServerOptions returns the gRPC server options that put every stream
// behind the budget: a tap handle reserves MaxRecvMsgBytes before the
// stream starts (the message size is not known yet), or refuses it with
// UNAVAILABLE and RetryInfo, which OTLP exporters retry; once the message
// has arrived, a stats handler shrinks the reservation to its decompressed
// size; the rest is released when the stream ends.
func (b *Budget) ServerOptions(opt GRPCOptions) []grpc.ServerOption {
	if opt.MaxRecvMsgBytes <= 0 {
		opt.MaxRecvMsgBytes = 16 << 20
	}
	return []grpc.ServerOption{
		grpc.InTapHandle(b.tap(opt)),
		grpc.StatsHandler(shrinker{}),
	}
}

// reservation is a stream's share of the budget.
type reservation struct {
	b    *Budget
	held atomic.Int64
}

// shrink releases what the reservation holds beyond n bytes.
func (r *reservation) shrink(n int64) {
	for {
		cur := r.held.Load()
		if n >= cur {
			return
		}
		if r.held.CompareAndSwap(cur, n) {
			r.b.Release(cur - n)
			return
		}
	}
}

type reservationKey struct{}

func (b *Budget) tap(opt GRPCOptions) tap.ServerInHandle {
	return func(ctx context.Context, info *tap.Info) (context.Context, error) {
		n := opt.MaxRecvMsgBytes
		if !b.TryAcquire(n) {
			if opt.OnReject != nil {
				opt.OnReject(info.FullMethodName)
			}
			st := status.New(codes.Unavailable, fmt.Sprintf("ingest is over its memory budget (%d of %d bytes of requests in flight); retry later", b.InUse(), b.Max()))
			if d, err := st.WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(RetryAfter)}); err == nil {
				st = d
			}
			return ctx, st.Err()
		}
		res := &reservation{b: b}
		res.held.Store(n)
		// The transport cancels a stream's context when the stream ends,
		// whichever way it ends; a context that is already done runs the
		// release at once.
		context.AfterFunc(ctx, func() { res.shrink(0) })
		return context.WithValue(ctx, reservationKey{}, res), nil
	}
}

// shrinker is the stats handler that shrinks a stream's reservation to the
// size of the message received.
type shrinker struct{}

func (shrinker) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context { return ctx }
func (shrinker) HandleRPC(ctx context.Context, s stats.RPCStats) {
	if p, ok := s.(*stats.InPayload); ok {
		if res, ok := ctx.Value(reservationKey{}).(*reservation); ok {
			res.shrink(int64(p.Length))
		}
	}
}
func (shrinker) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context { return ctx }
func (shrinker) HandleConn(context.Context, stats.ConnStats)                       {}
