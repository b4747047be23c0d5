package kit

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
)

// Limits on what an error body carries and what a client reads of one.
const (
	maxChain        = 16      // wrapped errors listed per service
	maxCauseDepth   = 16      // services in a remote chain
	maxMessageLen   = 4 << 10 // bytes of one message
	maxErrorBody    = 1 << 20 // bytes of an error response read by a client
	maxPlainSnippet = 512     // bytes of a non-kit error body kept as the message
)

// ErrorBody is the JSON error a kit service answers with, under the key
// "error". docs/design/kit.md describes it.
type ErrorBody struct {
	Type      string       `json:"type"`
	Message   string       `json:"message"`
	Status    int          `json:"status"`
	Service   string       `json:"service,omitempty"`
	TraceID   string       `json:"trace_id,omitempty"`
	SpanID    string       `json:"span_id,omitempty"`
	RequestID string       `json:"request_id,omitempty"`
	Stack     string       `json:"stack,omitempty"`
	Chain     []ChainEntry `json:"chain,omitempty"`
	Cause     *ErrorBody   `json:"cause,omitempty"`
}

// ChainEntry is one error of a service's wrapped chain, outermost first.
type ChainEntry struct {
	Type    string `json:"type"`
	Message string `json:"message"`
}

type errorEnvelope struct {
	Error *ErrorBody `json:"error"`
}

// RemoteError is an error that another service answered with. It keeps
// that service's error as it reported it, and wraps the remote error that
// caused it, one hop further, so that errors.As and errors.Is see across
// services: errors.Is(err, ErrX) holds when the callee's chain held an
// error of ErrX's type and message.
type RemoteError struct {
	Service    string // the callee, or the host called when it is not a kit service
	Type       string
	Message    string
	StatusCode int // the status the callee answered
	Stack      string
	TraceID    string
	SpanID     string
	RequestID  string
	Chain      []ChainEntry
	Cause      *RemoteError // the callee's own remote cause, if any
}

func (e *RemoteError) Error() string {
	if e.Service == "" {
		return e.Message
	}
	return e.Service + ": " + e.Message
}

// Unwrap returns the remote error one hop further, or nil.
func (e *RemoteError) Unwrap() error {
	if e.Cause == nil {
		return nil
	}
	return e.Cause
}

// HTTPStatus passes a callee's 4xx on, since it refused what the caller's
// own client asked for (insufficient credit, not found), and turns
// anything else into 502 Bad Gateway. Wrap with WithStatus to decide
// otherwise.
func (e *RemoteError) HTTPStatus() int {
	if e.StatusCode >= 400 && e.StatusCode < 500 {
		return e.StatusCode
	}
	return http.StatusBadGateway
}

// Is reports whether target, by its type and message, was in the callee's
// chain: sentinel errors shared between services keep working across the
// hop.
func (e *RemoteError) Is(target error) bool {
	if target == nil {
		return false
	}
	typ, msg := fmt.Sprintf("%T", target), target.Error()
	for _, c := range e.Chain {
		if c.Type == typ && c.Message == msg {
			return true
		}
	}
	return false
}

// Body returns e as the error body it came from.
func (e *RemoteError) Body() *ErrorBody {
	b := &ErrorBody{Type: e.Type, Message: e.Message, Status: e.StatusCode, Service: e.Service,
		TraceID: e.TraceID, SpanID: e.SpanID, RequestID: e.RequestID, Stack: e.Stack, Chain: e.Chain}
	if e.Cause != nil {
		b.Cause = e.Cause.Body()
	}
	return b
}

func remoteFromBody(b *ErrorBody, depth int) *RemoteError {
	e := &RemoteError{Service: b.Service, Type: b.Type, Message: b.Message, StatusCode: b.Status,
		Stack: b.Stack, TraceID: b.TraceID, SpanID: b.SpanID, RequestID: b.RequestID, Chain: b.Chain}
	if b.Cause != nil && depth < maxCauseDepth {
		e.Cause = remoteFromBody(b.Cause, depth+1)
	}
	return e
}

// bodyOf describes err as an error body. A *RemoteError in err's chain
// ends the local chain and becomes the cause.
func bodyOf(err error, status int, service string) *ErrorBody {
	b := &ErrorBody{Type: TypeOf(err), Message: clip(err.Error()), Status: status, Service: service, Stack: StackOf(err)}
	for e := err; e != nil; e = unwrapFirst(e) {
		if re, ok := e.(*RemoteError); ok {
			b.Cause = re.Body()
			break
		}
		if _, ok := e.(*stackError); ok {
			continue
		}
		if _, ok := e.(*statusError); ok {
			continue
		}
		if len(b.Chain) < maxChain {
			b.Chain = append(b.Chain, ChainEntry{Type: fmt.Sprintf("%T", e), Message: clip(e.Error())})
		}
	}
	return b
}

func clip(s string) string {
	if len(s) <= maxMessageLen {
		return s
	}
	return strings.ToValidUTF8(s[:maxMessageLen], "") + "…"
}

// DecodeError turns a response with a status of 400 or more into a
// *RemoteError and returns nil for any other. It reads and closes the
// body. A response that is not a kit error body still gives a RemoteError,
// with the start of the body as its message and the host as its service.
func DecodeError(resp *http.Response) error {
	if resp.StatusCode < 400 {
		return nil
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	if err != nil {
		return fmt.Errorf("cannot read error response from %s: %w", host(resp), err)
	}
	return decodeErrorBody(resp, data)
}

func decodeErrorBody(resp *http.Response, data []byte) *RemoteError {
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt == "application/json" {
		var env errorEnvelope
		if json.Unmarshal(data, &env) == nil && env.Error != nil && (env.Error.Type != "" || env.Error.Message != "") {
			re := remoteFromBody(env.Error, 0)
			re.StatusCode = resp.StatusCode
			return re
		}
	}
	msg := strings.TrimSpace(string(data))
	if len(msg) > maxPlainSnippet {
		msg = strings.ToValidUTF8(msg[:maxPlainSnippet], "") + "…"
	}
	if msg == "" {
		msg = http.StatusText(resp.StatusCode)
	}
	return &RemoteError{Service: host(resp), Type: fmt.Sprintf("http %d", resp.StatusCode), Message: msg, StatusCode: resp.StatusCode,
		RequestID: resp.Header.Get(RequestIDHeader)}
}

func host(resp *http.Response) string {
	if resp.Request != nil && resp.Request.URL != nil {
		return resp.Request.URL.Host
	}
	return ""
}

// asRemote finds the first *RemoteError in err's chain.
func asRemote(err error) *RemoteError {
	var re *RemoteError
	if errors.As(err, &re) {
		return re
	}
	return nil
}
