package state

import (
	"context"
	"time"
)

// ConfigStore keeps the configuration document (the YAML of internal/config)
// set through the API, for servers started without --config: it outlives
// restarts as the file would.
type ConfigStore interface {
	// ConfigDocument returns the stored document and when it was set, or
	// ErrNotFound when none was ever set.
	ConfigDocument(ctx context.Context) (doc string, updated time.Time, err error)
	// SetConfigDocument replaces the stored document; at is when (not
	// zero). The caller validates the document first.
	SetConfigDocument(ctx context.Context, doc string, at time.Time) error
}
