// Package kit makes a Go HTTP service observable with Telltale in two
// lines:
//
//	shutdown, err := kit.Init(ctx, kit.Config{Service: "pricing"})
//	http.ListenAndServe(":8080", kit.Handler(mux))
//
// Init points the OpenTelemetry SDK at a Telltale server (traces, metrics
// and logs over OTLP/HTTP, default localhost:4318). Handler continues the
// caller's trace, keeps a request id, measures every request and recovers
// panics. Handlers of type HandlerFunc return errors; they are answered
// with a JSON error body (type, message, service, stack, trace id, request
// id, the wrapped chain and the remote cause) and reported to Telltale.
//
// Calls to other services go through Client or Transport, which send the
// trace context and request id on and turn an error answer back into a
// *RemoteError. A RemoteError wraps the callee's own remote cause, so an
// error that crossed several services is one chain: errors.As finds each
// service's error, and errors.Is matches sentinel errors by type and
// message across the hops.
//
// Logger is an slog logger that stamps service, trace id, span id and
// request id on every line, prints it, and exports it.
//
// Errors made with Errorf (or marked with WithStack) carry the stack of
// where they were made, which Telltale groups issues by; WithStatus sets
// the status an error is answered with. docs/design/kit.md describes the
// error body.
package kit
