// Package otlphttp receives telemetry over OTLP/HTTP: POST /v1/traces,
// /v1/logs and /v1/metrics with binary protobuf or JSON bodies, optionally
// gzip-compressed, answered as the OTLP specification says
// (https://opentelemetry.io/docs/specs/otlp/#otlphttp).
//
// A request is answered only once its records are committed, so a 200 means
// the data is durable. Overload is answered with 503 and Retry-After, so that
// exporters retry instead of dropping data. With Options.Keys, a request
// without a valid ingest key is answered 401 before its body is read, one
// over its key's rate 429 with Retry-After (see internal/ingest/ingestkey).
package otlphttp

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	colmetricspb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	statuspb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/fibinc/telltale/internal/decode/otlp"
	"github.com/fibinc/telltale/internal/ingest/ingestkey"
	"github.com/fibinc/telltale/internal/pipeline"
	"github.com/fibinc/telltale/internal/selfmetrics"
	"github.com/fibinc/telltale/internal/telemetry"
)

// DefaultMaxBodyBytes is the default limit on a request body, before and
// after decompression.
const DefaultMaxBodyBytes = 16 << 20

// retryAfter is the Retry-After value, in seconds, sent when overloaded: long
// enough for the queue to drain a little, short enough not to make exporters
// drop data.
const retryAfter = "1"

// Buffers that grew beyond this are not kept for reuse, so that one huge
// request does not pin its memory in the pool.
const maxPooledBuffer = 4 << 20

// Appender takes decoded records into the ingest pipeline.
type Appender interface {
	// Append blocks until every record of b is durably committed. It returns
	// pipeline.ErrOverloaded when the queue is full, pipeline.ErrStopped when
	// shutting down, a ctx error, or another error (internal).
	Append(ctx context.Context, b *telemetry.Batch) error
}

// Options configure a Handler. Appender is required; the other fields have
// working zero values.
type Options struct {
	Appender Appender
	// Metrics are updated for every request; nil counts into a private
	// registry that nobody scrapes.
	Metrics *selfmetrics.Ingest
	// MaxBodyBytes limits a request body, both as received and after
	// decompression. Zero means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Window, when set, returns the range of record timestamps accepted for a
	// signal; records outside it are rejected.
	Window func(telemetry.Signal) (min, max time.Time)
	// Series, when set, bounds the series of each metric: points of new
	// series beyond the limit are rejected with a partial success.
	Series otlp.SeriesLimiter
	// Keys, when set, checks each request's ingest key before its body is
	// read (401), and its records against the key's rate (429) and the
	// per-request limit (413). Nil accepts every request.
	Keys *ingestkey.Keys
}

// Handler serves the OTLP/HTTP export paths.
type Handler struct {
	opt    Options
	log    *slog.Logger
	routes map[string]route // by URL path
	bufs   sync.Pool        // *bytes.Buffer
	gzips  sync.Pool        // *gzip.Reader
}

// New returns a Handler. It panics if opt.Appender is nil.
func New(opt Options) *Handler {
	if opt.Appender == nil {
		panic("otlphttp: Options.Appender is nil")
	}
	if opt.Metrics == nil {
		opt.Metrics = selfmetrics.NewIngest(selfmetrics.New())
	}
	if opt.MaxBodyBytes <= 0 {
		opt.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	return &Handler{opt: opt, log: opt.Logger.With("component", "otlphttp"), routes: routes()}
}

// route is what differs between the three export paths.
type route struct {
	signal telemetry.Signal
	// convert decodes a body and converts it into records, once admit
	// accepted their number.
	convert func(body []byte, isJSON bool, opt otlp.Options, admit func(records int) error) (otlp.Result, error)
	// response builds the Export*ServiceResponse, with a partial success when
	// rejected or msg is set.
	response func(rejected int64, msg string) proto.Message
}

func routes() map[string]route {
	return map[string]route{
		"/v1/traces":  {telemetry.SignalSpans, converter(otlp.DecodeTracesProto, otlp.DecodeTracesJSON, ingestkey.TraceRecords, otlp.Traces), traceResponse},
		"/v1/logs":    {telemetry.SignalLogs, converter(otlp.DecodeLogsProto, otlp.DecodeLogsJSON, ingestkey.LogRecords, otlp.Logs), logsResponse},
		"/v1/metrics": {telemetry.SignalMetrics, converter(otlp.DecodeMetricsProto, otlp.DecodeMetricsJSON, ingestkey.MetricRecords, otlp.Metrics), metricsResponse},
	}
}

func converter[Req any](fromProto, fromJSON func([]byte) (Req, error), count func(Req) int, convert func(Req, otlp.Options) otlp.Result) func([]byte, bool, otlp.Options, func(int) error) (otlp.Result, error) {
	return func(body []byte, isJSON bool, opt otlp.Options, admit func(int) error) (otlp.Result, error) {
		decode := fromProto
		if isJSON {
			decode = fromJSON
		}
		req, err := decode(body)
		if err != nil {
			return otlp.Result{}, err // the decoder's message names the encoding and the problem
		}
		if err := admit(count(req)); err != nil {
			return otlp.Result{}, err
		}
		return convert(req, opt), nil
	}
}

// encoding is the body encoding of a request, and so of its response.
type encoding int

const (
	encProto encoding = iota
	encJSON
)

// outcome is what a request ended with, for the metrics.
type outcome struct {
	code      int // HTTP status; statusClientGone when nothing could be sent
	committed int
	rejected  map[string]int
}

// statusClientGone counts requests whose client went away before the answer,
// with the code nginx uses for them.
const statusClientGone = 499

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rt, ok := h.routes[r.URL.Path]
	if !ok {
		http.Error(w, fmt.Sprintf("no OTLP endpoint at %s: use /v1/traces, /v1/logs or /v1/metrics", r.URL.Path), http.StatusNotFound)
		return
	}
	out := h.serve(w, r, rt)
	h.opt.Metrics.CountRequest(selfmetrics.SourceOTLPHTTP, string(rt.signal), strconv.Itoa(out.code), out.committed, out.rejected)
}

func (h *Handler) serve(w http.ResponseWriter, r *http.Request, rt route) outcome {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, fmt.Sprintf("method %s not allowed: OTLP export requests use POST", r.Method), http.StatusMethodNotAllowed)
		return outcome{code: http.StatusMethodNotAllowed}
	}
	var enc encoding
	switch ct, _, _ := strings.Cut(r.Header.Get("Content-Type"), ";"); strings.ToLower(strings.TrimSpace(ct)) {
	case "application/x-protobuf":
		enc = encProto
	case "application/json":
		enc = encJSON
	default:
		// The body encoding is unknown, so the answer cannot use it.
		http.Error(w, fmt.Sprintf("unsupported Content-Type %q: use application/x-protobuf or application/json", r.Header.Get("Content-Type")), http.StatusUnsupportedMediaType)
		return outcome{code: http.StatusUnsupportedMediaType}
	}
	var gzipped bool
	switch ce := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); ce {
	case "", "identity":
	case "gzip", "x-gzip":
		gzipped = true
	default:
		return h.fail(w, enc, http.StatusUnsupportedMediaType, fmt.Sprintf("unsupported Content-Encoding %q: use gzip or none", ce))
	}
	// The key is checked before the body is read, so that a stranger
	// cannot make us decompress or decode anything.
	var key *ingestkey.Key
	if h.opt.Keys != nil {
		var err error
		if key, err = h.opt.Keys.Authenticate(h.opt.Keys.FromHeader(r.Header), selfmetrics.SourceOTLPHTTP); err != nil {
			return h.fail(w, enc, http.StatusUnauthorized, err.Error())
		}
		r = r.WithContext(ingestkey.WithKey(r.Context(), key))
	}

	res, status, err := h.decode(w, r, rt, enc, gzipped, key)
	if err != nil {
		var le *ingestkey.LimitError
		if errors.As(err, &le) && le.Status == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", le.RetryAfterHeader())
		}
		return h.fail(w, enc, status, err.Error())
	}
	if res.BadData() {
		// Nothing in the request is valid: that is bad data, not a partial success.
		out := h.fail(w, enc, http.StatusBadRequest, fmt.Sprintf("all %d records rejected: %s", res.Rejected, res.Reason))
		out.rejected = res.RejectedByReason
		return out
	}
	if res.Batch.Len() > 0 {
		if err := h.opt.Appender.Append(r.Context(), &res.Batch); err != nil {
			return h.appendFailed(w, r, enc, rt.signal, err)
		}
	}
	out := outcome{code: http.StatusOK, committed: res.Batch.Len(), rejected: res.RejectedByReason}
	if res.Rejected > 0 {
		h.log.Debug("partial success", "signal", rt.signal, "rejected", res.Rejected, "reason", res.Reason)
	}
	if err := h.write(w, enc, http.StatusOK, rt.response(int64(res.Rejected), res.Reason)); err != nil {
		h.log.Debug("cannot write response", "signal", rt.signal, "err", err)
	}
	return out
}

// decode reads the body and converts it into records. On error it returns the
// HTTP status to answer with.
func (h *Handler) decode(w http.ResponseWriter, r *http.Request, rt route, enc encoding, gzipped bool, key *ingestkey.Key) (otlp.Result, int, error) {
	// The records are copies, not views of the body, so the buffer is free
	// again before the possibly long wait for the commit.
	buf := h.getBuffer()
	defer h.putBuffer(buf)
	if status, err := h.readBody(w, r, buf, gzipped); err != nil {
		return otlp.Result{}, status, err
	}
	opt := otlp.Options{Now: time.Now(), Series: h.opt.Series}
	if h.opt.Window != nil {
		opt.MinTime, opt.MaxTime = h.opt.Window(rt.signal)
	}
	admit := func(int) error { return nil }
	if h.opt.Keys != nil {
		admit = func(n int) error {
			if le := h.opt.Keys.Admit(key, n, selfmetrics.SourceOTLPHTTP); le != nil {
				return le
			}
			return nil
		}
	}
	res, err := rt.convert(buf.Bytes(), enc == encJSON, opt, admit)
	var le *ingestkey.LimitError
	if errors.As(err, &le) {
		return otlp.Result{}, le.Status, err
	}
	if err != nil {
		return otlp.Result{}, http.StatusBadRequest, err
	}
	return res, 0, nil
}

// readBody reads the request body into buf, decompressing it if gzipped and
// enforcing the size limit on both sides of decompression. On error it returns
// the HTTP status to answer with.
func (h *Handler) readBody(w http.ResponseWriter, r *http.Request, buf *bytes.Buffer, gzipped bool) (int, error) {
	limit := h.opt.MaxBodyBytes
	if r.ContentLength > limit {
		return http.StatusRequestEntityTooLarge, fmt.Errorf("request body of %d bytes exceeds the limit of %d bytes", r.ContentLength, limit)
	}
	var body io.Reader = http.MaxBytesReader(w, r.Body, limit)
	if gzipped {
		zr, err := h.gzipReader(body)
		if err != nil {
			return http.StatusBadRequest, fmt.Errorf("invalid gzip body: %w", err)
		}
		defer h.gzips.Put(zr)
		// One byte over the limit tells a body that is too large from one that
		// is exactly at it, without decompressing the rest of a gzip bomb.
		body = io.LimitReader(zr, limit+1)
	} else if r.ContentLength > 0 {
		buf.Grow(int(r.ContentLength))
	}
	_, err := buf.ReadFrom(body)
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return http.StatusRequestEntityTooLarge, fmt.Errorf("request body exceeds the limit of %d bytes", limit)
	case err != nil && gzipped:
		return http.StatusBadRequest, fmt.Errorf("invalid gzip body: %w", err)
	case err != nil:
		return http.StatusBadRequest, fmt.Errorf("cannot read request body: %w", err)
	case int64(buf.Len()) > limit:
		return http.StatusRequestEntityTooLarge, fmt.Errorf("decompressed request body exceeds the limit of %d bytes", limit)
	}
	return 0, nil
}

func (h *Handler) gzipReader(r io.Reader) (*gzip.Reader, error) {
	if zr, ok := h.gzips.Get().(*gzip.Reader); ok {
		if err := zr.Reset(r); err != nil {
			h.gzips.Put(zr)
			return nil, err
		}
		return zr, nil
	}
	return gzip.NewReader(r)
}

func (h *Handler) getBuffer() *bytes.Buffer {
	if b, ok := h.bufs.Get().(*bytes.Buffer); ok {
		return b
	}
	return new(bytes.Buffer)
}

func (h *Handler) putBuffer(b *bytes.Buffer) {
	if b.Cap() <= maxPooledBuffer {
		b.Reset()
		h.bufs.Put(b)
	}
}

// appendFailed answers a request whose records the pipeline did not take.
func (h *Handler) appendFailed(w http.ResponseWriter, r *http.Request, enc encoding, sig telemetry.Signal, err error) outcome {
	switch {
	case r.Context().Err() != nil:
		// The client went away: there is no one to answer, and it will resend.
		h.log.Debug("request canceled before commit", "signal", sig, "err", err)
		return outcome{code: statusClientGone}
	case errors.Is(err, pipeline.ErrOverloaded), errors.Is(err, pipeline.ErrStopped), errors.Is(err, context.DeadlineExceeded):
		w.Header().Set("Retry-After", retryAfter)
		return h.fail(w, enc, http.StatusServiceUnavailable, err.Error())
	default:
		h.log.Error("cannot commit records", "signal", sig, "err", err)
		return h.fail(w, enc, http.StatusInternalServerError, "cannot commit records: "+err.Error())
	}
}

// fail answers with a google.rpc.Status in the request's encoding, as the
// specification requires for every 4xx and 5xx answer.
func (h *Handler) fail(w http.ResponseWriter, enc encoding, status int, msg string) outcome {
	code := codes.InvalidArgument
	switch status {
	case http.StatusUnauthorized:
		code = codes.Unauthenticated
	case http.StatusTooManyRequests:
		code = codes.ResourceExhausted
	case http.StatusServiceUnavailable:
		code = codes.Unavailable
	case http.StatusInternalServerError:
		code = codes.Internal
	}
	if err := h.write(w, enc, status, &statuspb.Status{Code: int32(code), Message: msg}); err != nil {
		h.log.Debug("cannot write error response", "status", status, "err", err)
	}
	return outcome{code: status}
}

func (h *Handler) write(w http.ResponseWriter, enc encoding, status int, m proto.Message) error {
	var (
		body []byte
		err  error
	)
	if enc == encJSON {
		w.Header().Set("Content-Type", "application/json")
		body, err = protojson.Marshal(m)
	} else {
		w.Header().Set("Content-Type", "application/x-protobuf")
		body, err = proto.Marshal(m)
	}
	if err != nil {
		// Only a broken message type fails to marshal; say so in plain text.
		http.Error(w, "cannot encode response: "+err.Error(), http.StatusInternalServerError)
		return err
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, err = w.Write(body)
	return err
}

func traceResponse(rejected int64, msg string) proto.Message {
	resp := &coltracepb.ExportTraceServiceResponse{}
	if rejected > 0 || msg != "" {
		resp.PartialSuccess = &coltracepb.ExportTracePartialSuccess{RejectedSpans: rejected, ErrorMessage: msg}
	}
	return resp
}

func logsResponse(rejected int64, msg string) proto.Message {
	resp := &collogspb.ExportLogsServiceResponse{}
	if rejected > 0 || msg != "" {
		resp.PartialSuccess = &collogspb.ExportLogsPartialSuccess{RejectedLogRecords: rejected, ErrorMessage: msg}
	}
	return resp
}

func metricsResponse(rejected int64, msg string) proto.Message {
	resp := &colmetricspb.ExportMetricsServiceResponse{}
	if rejected > 0 || msg != "" {
		resp.PartialSuccess = &colmetricspb.ExportMetricsPartialSuccess{RejectedDataPoints: rejected, ErrorMessage: msg}
	}
	return resp
}
