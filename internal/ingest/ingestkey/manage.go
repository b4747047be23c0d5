package ingestkey

import (
	"context"
	"time"

	"github.com/fibinc/telltale/internal/state"
)

// Changes made through Keys apply to ingest at once: each reloads the
// snapshot after the store accepted it. A failed reload leaves the change
// to the next periodic one, and is logged.

// Projects lists the projects.
func (k *Keys) Projects(ctx context.Context) ([]state.Project, error) {
	return k.opt.Store.Projects(ctx)
}

// CreateProject creates a project with its first key.
func (k *Keys) CreateProject(ctx context.Context, slug, name string) (state.Project, error) {
	p, err := k.opt.Store.CreateProject(ctx, slug, name)
	if err == nil {
		k.reload(ctx)
	}
	return p, err
}

// IngestKeys lists the keys of a project (0: of every project).
func (k *Keys) IngestKeys(ctx context.Context, projectID int64) ([]state.IngestKey, error) {
	return k.opt.Store.IngestKeys(ctx, projectID)
}

// CreateIngestKey creates a key; it works at once.
func (k *Keys) CreateIngestKey(ctx context.Context, projectID int64, name string, rateLimit float64) (state.IngestKey, error) {
	key, err := k.opt.Store.CreateIngestKey(ctx, projectID, name, rateLimit)
	if err == nil {
		k.reload(ctx)
	}
	return key, err
}

// RevokeIngestKey revokes a key; requests with it fail at once.
func (k *Keys) RevokeIngestKey(ctx context.Context, projectID, keyID int64, at time.Time) (state.IngestKey, error) {
	key, err := k.opt.Store.RevokeIngestKey(ctx, projectID, keyID, at)
	if err == nil {
		k.reload(ctx)
	}
	return key, err
}

func (k *Keys) reload(ctx context.Context) {
	// The change is stored: a client that went away must not stop it from
	// applying.
	if err := k.Load(context.WithoutCancel(ctx)); err != nil {
		k.log.Warn("cannot reload ingest keys after a change; it applies at the next reload", "err", err)
	}
}
