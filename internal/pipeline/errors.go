package pipeline

import "errors"

// ErrOverloaded is returned by Append when the queue cannot take the batch.
// Listeners answer it with HTTP 503 and Retry-After, or gRPC UNAVAILABLE with
// RetryInfo, so that clients retry later; nothing is dropped silently.
var ErrOverloaded = errors.New("ingest queue is full")

// ErrStopped is returned by Append once the pipeline is shutting down.
var ErrStopped = errors.New("ingest pipeline is stopped")
