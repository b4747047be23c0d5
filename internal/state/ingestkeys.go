package state

import (
	"context"
	"fmt"
	"math"
	"time"
	"unicode/utf8"
)

// IngestKey is a credential that lets a client send telemetry to one
// project: OTLP and JSON logs carry it as a bearer token, Sentry SDKs as the
// DSN's public key. A project's PublicKey is its first ingest key.
//
// Ingest keys are stored as given, not hashed: like a Sentry DSN, a key is
// shown again whenever someone sets up a client, and browser SDKs publish
// it anyway. Revoking a key is what protects against a leaked one.
type IngestKey struct {
	ID        int64     `json:"id"`
	ProjectID int64     `json:"project_id"`
	Name      string    `json:"name"`
	Key       string    `json:"key"` // 32 lower-case hex digits, unique
	RateLimit float64   `json:"rate_limit"`
	CreatedAt time.Time `json:"created_at"`
	RevokedAt time.Time `json:"revoked_at,omitzero"` // zero while the key works
}

// Active reports whether the key is not revoked.
func (k IngestKey) Active() bool { return k.RevokedAt.IsZero() }

// FirstKeyName is the name of the key a project is created with.
const FirstKeyName = "default"

// MaxKeyNameLen bounds an ingest key's name, in characters.
const MaxKeyNameLen = 100

// IngestKeyStore keeps the ingest keys of projects.
type IngestKeyStore interface {
	// CreateIngestKey creates a new active key of a project with a fresh
	// random Key (NewPublicKey). rateLimit is in records per second, 0 for
	// the server's default. ErrNotFound for an unknown project; see
	// CheckIngestKey for validation.
	CreateIngestKey(ctx context.Context, projectID int64, name string, rateLimit float64) (IngestKey, error)
	// IngestKeys returns the keys of a project (0: of every project),
	// revoked ones included, by id.
	IngestKeys(ctx context.Context, projectID int64) ([]IngestKey, error)
	// RevokeIngestKey marks a key of the project revoked at at. Revoking a
	// revoked key keeps its first revocation time and is not an error.
	// ErrNotFound when the project has no such key.
	RevokeIngestKey(ctx context.Context, projectID, keyID int64, at time.Time) (IngestKey, error)
}

// CheckIngestKey reports whether a new key's name and rate limit are
// valid: a name of at most MaxKeyNameLen characters of valid UTF-8 (empty
// is allowed), a finite rate limit not below zero.
func CheckIngestKey(name string, rateLimit float64) error {
	if !utf8.ValidString(name) || utf8.RuneCountInString(name) > MaxKeyNameLen {
		return fmt.Errorf("invalid ingest key name: want at most %d characters of UTF-8", MaxKeyNameLen)
	}
	if math.IsNaN(rateLimit) || math.IsInf(rateLimit, 0) || rateLimit < 0 {
		return fmt.Errorf("invalid ingest key rate limit %v: want 0 (the server default) or more records per second", rateLimit)
	}
	return nil
}
