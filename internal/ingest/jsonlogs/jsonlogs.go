// Package jsonlogs receives plain JSON log lines over HTTP, for code without
// an OpenTelemetry or Sentry SDK: POST /api/v1/logs with newline-delimited
// JSON, or a JSON array of objects, as any logger, shipper or shell script
// can send them (`app | curl --data-binary @- ...`).
//
// Lines are decoded by internal/decode/jsonlog; a bad line is rejected alone
// and reported by number in the answer. A request is answered 200 only once
// its records are committed, 429 with Retry-After when the ingest queue is
// full, and 503 with Retry-After while shutting down. With Options.Keys, a
// request without a valid ingest key is answered 401 before its body is
// read, one over its key's rate 429 (see internal/ingest/ingestkey).
package jsonlogs

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/fibinc/telltale/internal/decode/jsonlog"
	"github.com/fibinc/telltale/internal/ingest/ingestkey"
	"github.com/fibinc/telltale/internal/pipeline"
	"github.com/fibinc/telltale/internal/selfmetrics"
	"github.com/fibinc/telltale/internal/telemetry"
)

// DefaultMaxBodyBytes is the default limit on a request body, before and
// after decompression.
const DefaultMaxBodyBytes = 16 << 20

// maxErrors bounds the line errors listed in an answer.
const maxErrors = 10

// retryAfter is the Retry-After value, in seconds, of 429 and 503 answers:
// the queue drains in well under a second once a commit ends.
const retryAfter = "1"

// Buffers that grew beyond this are not kept for reuse, so that one huge
// request does not pin its memory in the pool.
const maxPooledBuffer = 4 << 20

// statusClientGone counts requests whose client went away before the
// answer, with the code nginx uses for them.
const statusClientGone = 499

// Appender takes decoded records into the ingest pipeline.
type Appender interface {
	// Append blocks until every record of b is durably committed. It returns
	// pipeline.ErrOverloaded when the queue is full, pipeline.ErrStopped when
	// shutting down, a ctx error, or another error (internal).
	Append(ctx context.Context, b *telemetry.Batch) error
}

// Options configure the handler. Appender is required; the other fields
// have working zero values.
type Options struct {
	Appender Appender
	// Metrics are updated for every request; nil counts into a private
	// registry that nobody scrapes.
	Metrics *selfmetrics.Ingest
	// MaxBodyBytes limits a request body, both as received and after
	// decompression. Zero means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// Window, when set, returns the range of record times accepted for a
	// signal; lines outside it are rejected.
	Window func(telemetry.Signal) (min, max time.Time)
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Decode holds the decoder's limits (MaxLineBytes, MaxLines,
	// MaxAttributes); its time and resource fields are set per request.
	Decode jsonlog.Options
	// Keys, when set, checks each request's ingest key before its body is
	// read (401), and its lines against the key's rate (429) and the
	// per-request limit (413). Nil accepts every request.
	Keys *ingestkey.Keys
}

// handler serves POST /api/v1/logs.
type handler struct {
	opt  Options
	log  *slog.Logger
	bufs sync.Pool // *bytes.Buffer
}

// New returns the handler of POST /api/v1/logs. It panics if opt.Appender
// is nil.
func New(opt Options) http.Handler {
	if opt.Appender == nil {
		panic("jsonlogs: Options.Appender is nil")
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
	return &handler{opt: opt, log: opt.Logger.With("component", "jsonlogs")}
}

// response is the JSON body of answers about the lines (200, and 400 when
// every line was rejected): the counts, and the first line errors. Other
// answers are {"error": "..."}.
type response struct {
	Accepted          int         `json:"accepted"`
	Rejected          int         `json:"rejected"`
	Errors            []lineError `json:"errors"`
	DroppedAttributes int         `json:"dropped_attributes,omitempty"`
	Error             string      `json:"error,omitempty"`
}

type lineError struct {
	Line  int    `json:"line"`
	Error string `json:"error"`
}

// outcome is what a request ended with, for the metrics.
type outcome struct {
	code      int
	committed int
	rejected  map[string]int
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	out := h.serve(w, r)
	h.opt.Metrics.CountRequest(selfmetrics.SourceJSON, string(telemetry.SignalLogs), strconv.Itoa(out.code), out.committed, out.rejected)
}

func (h *handler) serve(w http.ResponseWriter, r *http.Request) outcome {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return h.fail(w, http.StatusMethodNotAllowed, fmt.Sprintf("method %s not allowed: send log lines with POST", r.Method))
	}
	switch ct, _, _ := strings.Cut(r.Header.Get("Content-Type"), ";"); strings.ToLower(strings.TrimSpace(ct)) {
	case "application/x-ndjson", "application/jsonl", "application/json", "text/plain":
	default:
		return h.fail(w, http.StatusUnsupportedMediaType, fmt.Sprintf(
			"unsupported Content-Type %q: use application/x-ndjson, application/jsonl, application/json or text/plain", r.Header.Get("Content-Type")))
	}

	var key *ingestkey.Key
	if h.opt.Keys != nil {
		var err error
		if key, err = h.opt.Keys.Authenticate(h.opt.Keys.FromHeader(r.Header), selfmetrics.SourceJSON); err != nil {
			return h.fail(w, http.StatusUnauthorized, err.Error())
		}
		r = r.WithContext(ingestkey.WithKey(r.Context(), key))
	}

	buf := h.getBuffer()
	defer h.putBuffer(buf)
	if status, err := h.readBody(w, r, buf); err != nil {
		return h.fail(w, status, err.Error())
	}

	opt := h.opt.Decode
	opt.Now = time.Now()
	if h.opt.Window != nil {
		opt.MinTime, opt.MaxTime = h.opt.Window(telemetry.SignalLogs)
	}
	q := r.URL.Query()
	opt.Resource = telemetry.Resource{
		ServiceName: q.Get("service"), Environment: q.Get("env"), Host: q.Get("host"), ServiceVersion: q.Get("version"),
	}
	opt.MaxErrors = maxErrors
	res, err := jsonlog.Decode(buf.Bytes(), opt)
	if err != nil {
		status := http.StatusBadRequest
		if errors.Is(err, jsonlog.ErrTooManyLines) {
			status = http.StatusRequestEntityTooLarge
		}
		return h.fail(w, status, err.Error())
	}
	if h.opt.Keys != nil {
		if le := h.opt.Keys.Admit(key, len(res.Logs)+res.Rejected, selfmetrics.SourceJSON); le != nil {
			if le.Status == http.StatusTooManyRequests {
				w.Header().Set("Retry-After", le.RetryAfterHeader())
			}
			return h.fail(w, le.Status, le.Error())
		}
	}

	resp := response{Accepted: len(res.Logs), Rejected: res.Rejected, Errors: make([]lineError, len(res.Errors)), DroppedAttributes: res.DroppedAttributes}
	for i, e := range res.Errors {
		resp.Errors[i] = lineError{Line: e.Line, Error: e.Message}
	}
	if len(res.Logs) == 0 && res.Rejected > 0 {
		// Nothing in the request is valid: that is bad data, not a partial success.
		resp.Error = fmt.Sprintf("all %d lines rejected", res.Rejected)
		h.write(w, http.StatusBadRequest, resp)
		return outcome{code: http.StatusBadRequest, rejected: res.RejectedByReason}
	}
	if len(res.Logs) > 0 {
		b := telemetry.Batch{Logs: res.Logs}
		if err := h.opt.Appender.Append(r.Context(), &b); err != nil {
			return h.appendFailed(w, r, err)
		}
	}
	if res.Rejected > 0 {
		h.log.Debug("partial success", "accepted", len(res.Logs), "rejected", res.Rejected, "first", res.Errors[0].Error())
	}
	h.write(w, http.StatusOK, resp)
	return outcome{code: http.StatusOK, committed: len(res.Logs), rejected: res.RejectedByReason}
}

// readBody reads the request body into buf, decompressing it as its
// Content-Encoding says and enforcing the size limit on both sides of
// decompression. On error it returns the HTTP status to answer with.
func (h *handler) readBody(w http.ResponseWriter, r *http.Request, buf *bytes.Buffer) (int, error) {
	limit := h.opt.MaxBodyBytes
	if r.ContentLength > limit {
		return http.StatusRequestEntityTooLarge, fmt.Errorf("request body of %d bytes exceeds the limit of %d bytes", r.ContentLength, limit)
	}
	raw := http.MaxBytesReader(w, r.Body, limit)
	var body io.Reader
	ce := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding")))
	switch ce {
	case "", "identity":
		body = raw
		if r.ContentLength > 0 {
			buf.Grow(int(r.ContentLength))
		}
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(raw)
		if err != nil {
			return readError(err, ce, limit)
		}
		body = zr
	case "deflate":
		body = deflateReader(raw)
	case "zstd":
		zr, err := zstd.NewReader(raw, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(uint64(limit)))
		if err != nil {
			return http.StatusInternalServerError, fmt.Errorf("cannot start zstd decoder: %w", err)
		}
		defer zr.Close()
		body = zr
	default:
		return http.StatusUnsupportedMediaType, fmt.Errorf("unsupported Content-Encoding %q: use gzip, deflate, zstd or none", ce)
	}
	// One byte over the limit tells a body that is too large from one that
	// is exactly at it, without decompressing the rest of a bomb.
	if _, err := buf.ReadFrom(io.LimitReader(body, limit+1)); err != nil {
		return readError(err, ce, limit)
	}
	if int64(buf.Len()) > limit {
		return http.StatusRequestEntityTooLarge, fmt.Errorf("decompressed request body exceeds the limit of %d bytes", limit)
	}
	return 0, nil
}

func readError(err error, encoding string, limit int64) (int, error) {
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return http.StatusRequestEntityTooLarge, fmt.Errorf("request body exceeds the limit of %d bytes", limit)
	case errors.Is(err, zstd.ErrDecoderSizeExceeded), errors.Is(err, zstd.ErrWindowSizeExceeded):
		return http.StatusRequestEntityTooLarge, fmt.Errorf("decompressed request body exceeds the limit of %d bytes", limit)
	case encoding != "" && encoding != "identity":
		return http.StatusBadRequest, fmt.Errorf("invalid %s body: %w", encoding, err)
	}
	return http.StatusBadRequest, fmt.Errorf("cannot read request body: %w", err)
}

// deflateReader reads "deflate" bodies: zlib streams as HTTP says, or the
// raw deflate streams that some clients send instead, told apart by the
// zlib header.
func deflateReader(r io.Reader) io.Reader {
	var head [2]byte
	n, _ := io.ReadFull(r, head[:])
	r = io.MultiReader(bytes.NewReader(head[:n]), r)
	if n == 2 && head[0]&0x0f == 8 && (uint16(head[0])<<8|uint16(head[1]))%31 == 0 {
		zr, err := zlib.NewReader(r)
		if err != nil {
			return &errReader{err}
		}
		return zr
	}
	return flate.NewReader(r)
}

type errReader struct{ err error }

func (e *errReader) Read([]byte) (int, error) { return 0, e.err }

func (h *handler) getBuffer() *bytes.Buffer {
	if b, ok := h.bufs.Get().(*bytes.Buffer); ok {
		return b
	}
	return new(bytes.Buffer)
}

func (h *handler) putBuffer(b *bytes.Buffer) {
	if b.Cap() <= maxPooledBuffer {
		b.Reset()
		h.bufs.Put(b)
	}
}

// appendFailed answers a request whose records the pipeline did not take.
func (h *handler) appendFailed(w http.ResponseWriter, r *http.Request, err error) outcome {
	switch {
	case r.Context().Err() != nil:
		// The client went away: there is no one to answer, and it will resend.
		h.log.Debug("request canceled before commit", "err", err)
		return outcome{code: statusClientGone}
	case errors.Is(err, pipeline.ErrOverloaded):
		w.Header().Set("Retry-After", retryAfter)
		return h.fail(w, http.StatusTooManyRequests, err.Error())
	case errors.Is(err, pipeline.ErrStopped), errors.Is(err, context.DeadlineExceeded):
		w.Header().Set("Retry-After", retryAfter)
		return h.fail(w, http.StatusServiceUnavailable, err.Error())
	default:
		h.log.Error("cannot commit records", "err", err)
		return h.fail(w, http.StatusInternalServerError, "cannot commit records: "+err.Error())
	}
}

// fail answers with {"error": msg}.
func (h *handler) fail(w http.ResponseWriter, status int, msg string) outcome {
	h.write(w, status, struct {
		Error string `json:"error"`
	}{msg})
	return outcome{code: status}
}

func (h *handler) write(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		// Only a broken type fails to marshal; say so in plain text.
		http.Error(w, "cannot encode response: "+err.Error(), http.StatusInternalServerError)
		return
	}
	body = append(body, '\n')
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	if _, err := w.Write(body); err != nil {
		h.log.Debug("cannot write response", "status", status, "err", err)
	}
}
