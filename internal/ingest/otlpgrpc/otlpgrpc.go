// Package otlpgrpc receives telemetry over OTLP/gRPC: the trace, logs and
// metrics Export services of go.opentelemetry.io/proto/otlp/collector,
// answered as the OTLP specification says
// (https://opentelemetry.io/docs/specs/otlp/#otlpgrpc).
//
// An Export returns only once its records are committed. Overload is answered
// with UNAVAILABLE and a RetryInfo detail, so that exporters retry instead of
// dropping data. With Options.Keys, a request without a valid ingest key in
// its metadata is UNAUTHENTICATED, one over its key's rate
// RESOURCE_EXHAUSTED with RetryInfo (see internal/ingest/ingestkey).
package otlpgrpc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	colmetricspb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	_ "google.golang.org/grpc/encoding/gzip" // registers the gzip compressor that exporters use
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/fibinc/telltale/internal/decode/otlp"
	"github.com/fibinc/telltale/internal/ingest/ingestkey"
	"github.com/fibinc/telltale/internal/pipeline"
	"github.com/fibinc/telltale/internal/selfmetrics"
	"github.com/fibinc/telltale/internal/telemetry"
)

// DefaultMaxRecvMsgBytes is the default limit on a request message, after
// decompression.
const DefaultMaxRecvMsgBytes = 16 << 20

// retryDelay is the delay suggested to clients when overloaded: long enough
// for the queue to drain a little, short enough not to make exporters drop
// data.
const retryDelay = time.Second

// Appender takes decoded records into the ingest pipeline.
type Appender interface {
	// Append blocks until every record of b is durably committed. It returns
	// pipeline.ErrOverloaded when the queue is full, pipeline.ErrStopped when
	// shutting down, a ctx error, or another error (internal).
	Append(ctx context.Context, b *telemetry.Batch) error
}

// Options configure the services. Appender is required; the other fields
// have working zero values.
type Options struct {
	Appender Appender
	// Metrics are updated for every request; nil counts into a private
	// registry that nobody scrapes.
	Metrics *selfmetrics.Ingest
	// MaxRecvMsgBytes limits a request message after decompression; only
	// NewServer uses it. Zero means DefaultMaxRecvMsgBytes.
	MaxRecvMsgBytes int
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Window, when set, returns the range of record timestamps accepted for a
	// signal; records outside it are rejected.
	Window func(telemetry.Signal) (min, max time.Time)
	// Series, when set, bounds the series of each metric: points of new
	// series beyond the limit are rejected with a partial success.
	Series otlp.SeriesLimiter
	// Keys, when set, checks each request's ingest key (metadata, the
	// header name in lower case; UNAUTHENTICATED), and its records against
	// the key's rate (RESOURCE_EXHAUSTED with RetryInfo) and the
	// per-request limit (INVALID_ARGUMENT). Nil accepts every request.
	Keys *ingestkey.Keys
}

// NewServer returns a gRPC server with the OTLP services registered, the
// receive limit of opt applied, and any further server options (credentials,
// keepalive) added.
func NewServer(opt Options, extra ...grpc.ServerOption) *grpc.Server {
	limit := opt.MaxRecvMsgBytes
	if limit <= 0 {
		limit = DefaultMaxRecvMsgBytes
	}
	s := grpc.NewServer(append([]grpc.ServerOption{grpc.MaxRecvMsgSize(limit)}, extra...)...)
	Register(s, opt)
	return s
}

// Register registers the OTLP trace, logs and metrics services on s. It
// panics if opt.Appender is nil.
func Register(s *grpc.Server, opt Options) {
	if opt.Appender == nil {
		panic("otlpgrpc: Options.Appender is nil")
	}
	if opt.Metrics == nil {
		opt.Metrics = selfmetrics.NewIngest(selfmetrics.New())
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	svc := &service{opt: opt, log: opt.Logger.With("component", "otlpgrpc")}
	coltracepb.RegisterTraceServiceServer(s, traceService{service: svc})
	collogspb.RegisterLogsServiceServer(s, logsService{service: svc})
	colmetricspb.RegisterMetricsServiceServer(s, metricsService{service: svc})
}

type traceService struct {
	coltracepb.UnimplementedTraceServiceServer
	*service
}

func (s traceService) Export(ctx context.Context, req *coltracepb.ExportTraceServiceRequest) (*coltracepb.ExportTraceServiceResponse, error) {
	res, err := s.export(ctx, telemetry.SignalSpans, func() int { return ingestkey.TraceRecords(req) }, func(opt otlp.Options) otlp.Result { return otlp.Traces(req, opt) })
	if err != nil {
		return nil, err
	}
	resp := &coltracepb.ExportTraceServiceResponse{}
	if res.Rejected > 0 || res.Reason != "" {
		resp.PartialSuccess = &coltracepb.ExportTracePartialSuccess{RejectedSpans: int64(res.Rejected), ErrorMessage: res.Reason}
	}
	return resp, nil
}

type logsService struct {
	collogspb.UnimplementedLogsServiceServer
	*service
}

func (s logsService) Export(ctx context.Context, req *collogspb.ExportLogsServiceRequest) (*collogspb.ExportLogsServiceResponse, error) {
	res, err := s.export(ctx, telemetry.SignalLogs, func() int { return ingestkey.LogRecords(req) }, func(opt otlp.Options) otlp.Result { return otlp.Logs(req, opt) })
	if err != nil {
		return nil, err
	}
	resp := &collogspb.ExportLogsServiceResponse{}
	if res.Rejected > 0 || res.Reason != "" {
		resp.PartialSuccess = &collogspb.ExportLogsPartialSuccess{RejectedLogRecords: int64(res.Rejected), ErrorMessage: res.Reason}
	}
	return resp, nil
}

type metricsService struct {
	colmetricspb.UnimplementedMetricsServiceServer
	*service
}

func (s metricsService) Export(ctx context.Context, req *colmetricspb.ExportMetricsServiceRequest) (*colmetricspb.ExportMetricsServiceResponse, error) {
	res, err := s.export(ctx, telemetry.SignalMetrics, func() int { return ingestkey.MetricRecords(req) }, func(opt otlp.Options) otlp.Result { return otlp.Metrics(req, opt) })
	if err != nil {
		return nil, err
	}
	resp := &colmetricspb.ExportMetricsServiceResponse{}
	if res.Rejected > 0 || res.Reason != "" {
		resp.PartialSuccess = &colmetricspb.ExportMetricsPartialSuccess{RejectedDataPoints: int64(res.Rejected), ErrorMessage: res.Reason}
	}
	return resp, nil
}

// service is what the three services share.
type service struct {
	opt Options
	log *slog.Logger
}

// export converts a request, commits its records and counts the outcome. The
// returned error is a gRPC status error.
func (s *service) export(ctx context.Context, sig telemetry.Signal, count func() int, convert func(otlp.Options) otlp.Result) (res otlp.Result, err error) {
	if s.opt.Keys != nil {
		if ctx, err = s.admit(ctx, count); err != nil {
			s.opt.Metrics.CountRequest(selfmetrics.SourceOTLPGRPC, string(sig), status.Code(err).String(), 0, nil)
			return res, err
		}
	}
	opt := otlp.Options{Now: time.Now(), Series: s.opt.Series}
	if s.opt.Window != nil {
		opt.MinTime, opt.MaxTime = s.opt.Window(sig)
	}
	res = convert(opt)
	committed, rejected := 0, res.RejectedByReason
	defer func() {
		s.opt.Metrics.CountRequest(selfmetrics.SourceOTLPGRPC, string(sig), status.Code(err).String(), committed, rejected)
	}()
	n := res.Batch.Len()
	if res.BadData() {
		// Nothing in the request is valid: that is bad data, not a partial success.
		return res, status.Errorf(codes.InvalidArgument, "all %d records rejected: %s", res.Rejected, res.Reason)
	}
	if n > 0 {
		if err := s.opt.Appender.Append(ctx, &res.Batch); err != nil {
			// Records refused for now are not counted as rejected: the client retries them.
			rejected = nil
			return res, s.appendError(ctx, sig, err)
		}
	}
	committed = n
	if res.Rejected > 0 {
		s.log.Debug("partial success", "signal", sig, "rejected", res.Rejected, "reason", res.Reason)
	}
	return res, nil
}

// admit checks the request's key and its number of records, and returns
// ctx carrying the key. The error is a gRPC status error.
func (s *service) admit(ctx context.Context, count func() int) (context.Context, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	key, err := s.opt.Keys.Authenticate(s.opt.Keys.FromMetadata(md), selfmetrics.SourceOTLPGRPC)
	if err != nil {
		return ctx, status.Error(codes.Unauthenticated, err.Error())
	}
	if le := s.opt.Keys.Admit(key, count(), selfmetrics.SourceOTLPGRPC); le != nil {
		if le.Status == http.StatusTooManyRequests {
			st := status.New(codes.ResourceExhausted, le.Error())
			// RetryInfo makes OTLP exporters retry RESOURCE_EXHAUSTED
			// after the delay; without it they drop the data.
			if withRetry, derr := st.WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(time.Duration(le.RetryAfter) * time.Second)}); derr == nil {
				st = withRetry
			}
			return ctx, st.Err()
		}
		return ctx, status.Error(codes.InvalidArgument, le.Error())
	}
	return ingestkey.WithKey(ctx, key), nil
}

// appendError maps an Append error to a gRPC status error.
func (s *service) appendError(ctx context.Context, sig telemetry.Signal, err error) error {
	switch {
	case ctx.Err() != nil:
		s.log.Debug("request canceled before commit", "signal", sig, "err", err)
		return status.FromContextError(ctx.Err()).Err()
	case errors.Is(err, pipeline.ErrOverloaded), errors.Is(err, pipeline.ErrStopped), errors.Is(err, context.DeadlineExceeded):
		st := status.New(codes.Unavailable, err.Error())
		// RetryInfo is what makes OTLP exporters retry UNAVAILABLE after a delay.
		if withRetry, derr := st.WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(retryDelay)}); derr == nil {
			st = withRetry
		}
		return st.Err()
	default:
		s.log.Error("cannot commit records", "signal", sig, "err", err)
		return status.Error(codes.Internal, fmt.Sprintf("cannot commit records: %v", err))
	}
}
