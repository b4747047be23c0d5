package kit

import (
	"context"
	"errors"
	"fmt"
	"go.opentelemetry.io/otel/attribute"
	"net/http"
	"runtime"
	"strings"
)

// maxStackDepth bounds the frames an error records: enough for any real
// call path, small enough that recording costs little.
const maxStackDepth = 64

// Errorf is like fmt.Errorf, and also records the stack of its caller, so
// that the error, once it reaches Handler, is reported with the line it
// was made on. Use it where an error starts; wrap it on the way up with
// fmt.Errorf and %w as usual.
func Errorf(format string, args ...any) error {
	return &stackError{err: fmt.Errorf(format, args...), stack: callers(3)}
}

// WithStack records the stack of its caller on err, unless an error in
// err's chain already has one. It returns nil for a nil err.
func WithStack(err error) error {
	if err == nil || StackOf(err) != "" {
		return err
	}
	return &stackError{err: err, stack: callers(3)}
}

// WithStatus gives err the HTTP status code that Handler answers it with.
// It returns nil for a nil err.
func WithStatus(err error, code int) error {
	if err == nil {
		return nil
	}
	return &statusError{err: err, code: code}
}

// StatusOf returns the HTTP status code for err: the code given by
// WithStatus, or by any error in the chain with an HTTPStatus() int
// method (a *RemoteError has one), 504 when a deadline expired, and 500
// otherwise.
func StatusOf(err error) int {
	var s interface{ HTTPStatus() int }
	if errors.As(err, &s) {
		if c := s.HTTPStatus(); c >= 400 && c <= 599 {
			return c
		}
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return http.StatusGatewayTimeout
	}
	return http.StatusInternalServerError
}

// StackOf returns the stack recorded on err's chain in Go's traceback text
// format (as runtime/debug.Stack prints it), or "" when there is none. A
// *RemoteError has none of its own: its Stack field is the callee's.
func StackOf(err error) string {
	var s interface{ StackTrace() string }
	if errors.As(err, &s) {
		return s.StackTrace()
	}
	return ""
}

// exceptionAttrs are the OpenTelemetry exception attributes of err. When
// err came from another service, the attributes exception.cause.service,
// .type, .message and .stacktrace describe where it started (the deepest
// remote cause), so that Telltale groups "cannot price" by what failed in
// pricing and not only by the line that called it, as Sentry groups a chain
// of exceptions.
func exceptionAttrs(err error) []attribute.KeyValue {
	attrs := []attribute.KeyValue{
		attribute.String("exception.type", TypeOf(err)),
		attribute.String("exception.message", err.Error()),
	}
	if st := StackOf(err); st != "" {
		attrs = append(attrs, attribute.String("exception.stacktrace", st))
	}
	var re *RemoteError
	if errors.As(err, &re) {
		for re.Cause != nil {
			re = re.Cause
		}
		attrs = append(attrs,
			attribute.String("exception.cause.service", re.Service),
			attribute.String("exception.cause.type", re.Type),
			attribute.String("exception.cause.message", re.Message))
		if re.Stack != "" {
			attrs = append(attrs, attribute.String("exception.cause.stacktrace", re.Stack))
		}
	}
	return attrs
}

// TypeOf returns the name of err's type as reported to Telltale: the Go
// type of the first error in the chain that is not a mere wrapper
// (fmt.Errorf's %w, errors.Join, WithStack, WithStatus), so that
// fmt.Errorf("cannot price: %w", err) keeps the type of err.
func TypeOf(err error) string {
	e := err
	for e != nil {
		if t, ok := e.(interface{ ErrorType() string }); ok {
			return t.ErrorType()
		}
		if !isWrapper(e) {
			return fmt.Sprintf("%T", e)
		}
		next := unwrapFirst(e)
		if next == nil {
			break
		}
		e = next
	}
	return fmt.Sprintf("%T", e)
}

// isWrapper tells the wrapping types, which add words but no meaning, from
// errors whose type says what went wrong.
func isWrapper(err error) bool {
	switch err.(type) {
	case *stackError, *statusError:
		return true
	}
	switch fmt.Sprintf("%T", err) {
	case "*fmt.wrapError", "*fmt.wrapErrors", "*errors.joinError":
		return true
	}
	return false
}

// unwrapFirst follows Unwrap, taking the first branch of a multi-error.
func unwrapFirst(err error) error {
	switch x := err.(type) {
	case interface{ Unwrap() error }:
		return x.Unwrap()
	case interface{ Unwrap() []error }:
		if errs := x.Unwrap(); len(errs) > 0 {
			return errs[0]
		}
	}
	return nil
}

// stackError is an error with the stack of where it was made.
type stackError struct {
	err   error
	stack []uintptr
}

func (e *stackError) Error() string      { return e.err.Error() }
func (e *stackError) Unwrap() error      { return e.err }
func (e *stackError) StackTrace() string { return formatStack(e.stack) }

// StackFrames returns the program counters of the stack, the method Sentry
// and go-errors read stacks through: sentry.CaptureException sees where a
// kit error was made.
func (e *stackError) StackFrames() []uintptr { return e.stack }

// statusError is an error with an HTTP status code.
type statusError struct {
	err  error
	code int
}

func (e *statusError) Error() string   { return e.err.Error() }
func (e *statusError) Unwrap() error   { return e.err }
func (e *statusError) HTTPStatus() int { return e.code }

// callers records the stack above skip frames.
func callers(skip int) []uintptr {
	pcs := make([]uintptr, maxStackDepth)
	return pcs[:runtime.Callers(skip, pcs)]
}

// formatStack prints pcs the way runtime/debug.Stack does, which every
// tool that reads Go stacks (Telltale's parser among them) understands.
func formatStack(pcs []uintptr) string {
	var b strings.Builder
	b.WriteString("goroutine 1 [running]:\n")
	frames := runtime.CallersFrames(pcs)
	for {
		f, more := frames.Next()
		if f.Function != "" {
			fmt.Fprintf(&b, "%s(...)\n\t%s:%d\n", f.Function, f.File, f.Line)
		}
		if !more {
			break
		}
	}
	return b.String()
}
