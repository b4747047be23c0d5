package kit

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Transport returns a RoundTripper that calls base (http.DefaultTransport
// when nil) inside a client span, sends the trace context, baggage and the
// request id of the request's context, and records the call's duration in
// the http.client.request.duration histogram. When the callee answers
// with an error, the client span is marked failed with the callee's error
// (service, type, message) as attributes; the response is passed on
// unread, as a RoundTripper must.
func Transport(base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return &transport{base: base}
}

type transport struct{ base http.RoundTripper }

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	k := rt()
	start := time.Now()
	ctx, span := k.tracer.Start(req.Context(), req.Method, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(
		attribute.String("http.request.method", req.Method),
		attribute.String("url.full", redactedURL(req)),
		attribute.String("server.address", req.URL.Hostname()),
	))
	defer span.End()

	// RoundTrip must not change the caller's request.
	req = req.Clone(ctx)
	k.prop.Inject(ctx, propagation.HeaderCarrier(req.Header))
	if rid := RequestID(ctx); rid != "" {
		req.Header.Set(RequestIDHeader, rid)
		span.SetAttributes(attribute.String("request.id", rid))
	}

	resp, err := t.base.RoundTrip(req)
	mattrs := []attribute.KeyValue{
		attribute.String("http.request.method", req.Method),
		attribute.String("server.address", req.URL.Hostname()),
	}
	if err != nil {
		span.SetStatus(codes.Error, err.Error())
		span.SetAttributes(attribute.String("error.type", TypeOf(err)))
		k.clientDur.Record(ctx, time.Since(start).Seconds(), metric.WithAttributes(append(mattrs, attribute.String("error.type", TypeOf(err)))...))
		return nil, err
	}
	span.SetAttributes(attribute.Int("http.response.status_code", resp.StatusCode))
	mattrs = append(mattrs, attribute.Int("http.response.status_code", resp.StatusCode))
	if resp.StatusCode >= 400 {
		mattrs = append(mattrs, attribute.String("error.type", fmt.Sprint(resp.StatusCode)))
		span.SetStatus(codes.Error, http.StatusText(resp.StatusCode))
		if re := peekError(resp); re != nil {
			span.SetStatus(codes.Error, re.Error())
			span.SetAttributes(
				attribute.String("error.type", "*kit.RemoteError"),
				attribute.String("remote.service", re.Service),
				attribute.String("remote.error.type", re.Type),
				attribute.String("remote.error.message", re.Message),
			)
		}
	}
	k.clientDur.Record(ctx, time.Since(start).Seconds(), metric.WithAttributes(mattrs...))
	return resp, nil
}

// peekError decodes a kit error body without consuming it: the body is
// read, bounded, and put back for the caller.
func peekError(resp *http.Response) *RemoteError {
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		return nil
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	rest := resp.Body
	resp.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(data), rest), rest}
	if err != nil {
		return nil
	}
	return decodeErrorBody(resp, data)
}

// redactedURL is the request URL without user info or query, which may
// hold secrets.
func redactedURL(req *http.Request) string {
	u := *req.URL
	u.User, u.RawQuery, u.ForceQuery = nil, "", false
	return u.String()
}

// Client calls another kit (or any HTTP) service: through Transport, with
// error answers decoded into *RemoteError.
type Client struct {
	// BaseURL is prepended to the paths given to Get and Post, e.g.
	// "http://127.0.0.1:8081".
	BaseURL string
	// HTTP does the calls; default an http.Client with Transport(nil) and
	// a 30 s timeout.
	HTTP *http.Client
}

// NewClient returns a Client for the service at baseURL.
func NewClient(baseURL string) *Client {
	return &Client{BaseURL: strings.TrimRight(baseURL, "/")}
}

// defaultHTTP is shared by Clients without their own, so that they share
// connections.
var defaultHTTP = &http.Client{Transport: Transport(nil), Timeout: 30 * time.Second}

func (c *Client) http() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return defaultHTTP
}

// Do sends req. A response of 400 or more is read, closed and returned as
// a *RemoteError, wrapped with the stack of Do's caller, so that the
// caller's issue shows where it made the call.
func (c *Client) Do(req *http.Request) (*http.Response, error) {
	return c.do(req, 4)
}

func (c *Client) do(req *http.Request, skip int) (*http.Response, error) {
	resp, err := c.http().Do(req)
	if err != nil {
		return nil, &stackError{err: fmt.Errorf("cannot call %s %s: %w", req.Method, redactedURL(req), err), stack: callers(skip)}
	}
	if err := DecodeError(resp); err != nil {
		return nil, &stackError{err: err, stack: callers(skip)}
	}
	return resp, nil
}

// Get calls GET BaseURL+path and decodes the JSON answer into out (unless
// out is nil).
func (c *Client) Get(ctx context.Context, path string, out any) error {
	return c.call(ctx, http.MethodGet, path, nil, out)
}

// Post calls POST BaseURL+path with in as JSON, and decodes the JSON
// answer into out (unless out is nil).
func (c *Client) Post(ctx context.Context, path string, in, out any) error {
	return c.call(ctx, http.MethodPost, path, in, out)
}

func (c *Client) call(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		data, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("cannot encode request to %s: %w", path, err)
		}
		body = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.BaseURL+path, body)
	if err != nil {
		return fmt.Errorf("cannot make request to %s: %w", path, err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.do(req, 5)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return WithStack(fmt.Errorf("cannot decode answer of %s %s: %w", method, redactedURL(req), err))
	}
	return nil
}
