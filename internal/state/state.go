// Package state defines the boundary between Telltale and the database that
// holds its state: the small, mutable data that is not telemetry (projects,
// issues and their status today; users, API keys and alert state later).
//
// Implementations live in subpackages (duckdb for the embedded mode,
// PostgreSQL planned for cluster mode) and must pass the conformance suite in
// statetest. The helpers in this package (CheckSlug, CheckStatus,
// PrepareIssue, MergeCounts, NewPublicKey, Timestamp) hold the rules that
// every implementation applies, so that they behave alike.
//
// Times are stored in UTC with microsecond precision, the finest that both
// DuckDB and PostgreSQL keep; values read back are UTC. A zero time means
// "never" and is stored as NULL. See docs/design/state.md.
package state

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"time"
)

var (
	// ErrNotFound is returned (wrapped) when the requested record does not exist.
	ErrNotFound = errors.New("not found")
	// ErrExists is returned (wrapped) when a record with the same unique key exists.
	ErrExists = errors.New("already exists")
)

// Project is what Sentry SDKs send events to. Its ID and PublicKey form the
// DSN (http://<public_key>@host/<id>).
type Project struct {
	ID        int64     `json:"id"`   // 1, 2, ... (Sentry SDKs expect numeric project ids)
	Slug      string    `json:"slug"` // [a-z0-9-]{1,50}
	Name      string    `json:"name"`
	PublicKey string    `json:"public_key"` // 32 lower-case hex digits, unique
	CreatedAt time.Time `json:"created_at"`
}

// Issue statuses and the substatuses of an unresolved issue.
const (
	StatusUnresolved = "unresolved"
	StatusResolved   = "resolved"
	StatusIgnored    = "ignored"

	SubstatusNew       = "new"
	SubstatusOngoing   = "ongoing"
	SubstatusRegressed = "regressed"
)

// Issue is a group of error events that share a fingerprint.
type Issue struct {
	ID              int64     `json:"id"`
	ProjectID       int64     `json:"project_id"`
	GroupingVersion string    `json:"grouping_version"`
	Type            string    `json:"type"` // "error" or "default"
	Title           string    `json:"title"`
	Culprit         string    `json:"culprit"`
	Level           string    `json:"level"`
	Platform        string    `json:"platform"`
	Service         string    `json:"service"` // service of the first event
	FirstSeen       time.Time `json:"first_seen"`
	LastSeen        time.Time `json:"last_seen"`
	TimesSeen       int64     `json:"count"`
	Status          string    `json:"status"`
	Substatus       string    `json:"substatus,omitempty"`
	StatusChanged   time.Time `json:"status_changed"`
	ResolvedAt      time.Time `json:"resolved_at,omitzero"`  // last resolution; kept when the issue reopens
	RegressedAt     time.Time `json:"regressed_at,omitzero"` // last regression
}

// IssueHash maps a grouping hash to its issue. A hash belongs to at most one
// issue per project.
type IssueHash struct {
	ProjectID       int64
	IssueID         int64
	Hash            string
	GroupingVersion string
	CreatedAt       time.Time
}

// IssueCounts is a batch of events of one issue, to be added to its totals.
type IssueCounts struct {
	IssueID             int64
	Events              int64
	FirstSeen, LastSeen time.Time // required: the earliest and latest event of the batch
}

// IssueFilter selects issues. The zero value selects every issue.
type IssueFilter struct {
	ProjectID int64    // 0 = every project
	Statuses  []string // empty = every status
	// IDs, when not nil, restricts the result to these issues; an empty
	// non-nil slice matches none, so that "the issues of these events" with
	// no events is empty rather than everything. Up to 10,000 ids and more.
	IDs   []int64
	Limit int // 0 = no limit
}

// Store holds Telltale's state. Safe for concurrent use.
type Store interface {
	ConfigStore
	// CreateProject creates a project with a new public key, which is also
	// its first ingest key (named FirstKeyName). An empty name defaults to
	// the slug. ErrExists on a duplicate slug.
	CreateProject(ctx context.Context, slug, name string) (Project, error)
	// Projects returns every project, by id.
	Projects(ctx context.Context) ([]Project, error)
	ProjectByID(ctx context.Context, id int64) (Project, error)
	ProjectByKey(ctx context.Context, publicKey string) (Project, error)

	// IssueByHashes returns the issue that any of hashes maps to in the
	// project (the first hash found, in the order given), or ErrNotFound.
	IssueByHashes(ctx context.Context, projectID int64, hashes []string) (int64, error)
	// CreateIssue stores a new issue and its hashes in one transaction and
	// returns it with its ID, as Issue would read it back. See PrepareIssue
	// for defaults and validation. If any hash already belongs to an issue of
	// the project, it returns that issue with ErrExists and creates nothing.
	CreateIssue(ctx context.Context, iss Issue, hashes []IssueHash) (Issue, error)
	// AddIssueHashes maps more hashes to existing issues. Hashes already
	// present (for any issue) are left alone. A zero ProjectID is taken from
	// the issue; ErrNotFound if an issue does not exist.
	AddIssueHashes(ctx context.Context, hashes []IssueHash) error
	// IssueHashes returns the hashes of an issue, oldest first (none for an
	// unknown issue).
	IssueHashes(ctx context.Context, issueID int64) ([]IssueHash, error)
	Issue(ctx context.Context, id int64) (Issue, error)
	// Issues returns the issues that match f, most recently seen first.
	Issues(ctx context.Context, f IssueFilter) ([]Issue, error)
	// AddIssueCounts adds event counts in one transaction: times_seen +=
	// Events, first_seen = least, last_seen = greatest. Several counts for
	// one issue are merged; counts for unknown issues are ignored, so that a
	// flush does not fail for an issue deleted meanwhile.
	AddIssueCounts(ctx context.Context, counts []IssueCounts) error
	// SetIssueStatus sets status and substatus (see CheckStatus) and
	// status_changed = at; resolved_at = at when resolving; regressed_at = at
	// when the substatus is regressed. ErrNotFound for an unknown issue.
	SetIssueStatus(ctx context.Context, id int64, status, substatus string, at time.Time) error
	UptimeStore
	NotifyStore
	IngestKeyStore
	// Close closes the store; later calls fail.
	Close() error

	AlertStore
	AuthStore
}

var slugRE = regexp.MustCompile(`^[a-z0-9-]{1,50}$`)

// CheckSlug reports whether slug is a valid project slug: 1 to 50 lower-case
// letters, digits and hyphens.
func CheckSlug(slug string) error {
	if !slugRE.MatchString(slug) {
		return fmt.Errorf("invalid project slug %q: want 1 to 50 of a-z, 0-9 and -", slug)
	}
	return nil
}

// CheckStatus reports whether status and substatus form a valid pair: an
// unresolved issue is new, ongoing or regressed; a resolved or ignored one
// has no substatus.
func CheckStatus(status, substatus string) error {
	switch status {
	case StatusUnresolved:
		switch substatus {
		case SubstatusNew, SubstatusOngoing, SubstatusRegressed:
			return nil
		}
		return fmt.Errorf("invalid substatus %q for an unresolved issue: want new, ongoing or regressed", substatus)
	case StatusResolved, StatusIgnored:
		if substatus != "" {
			return fmt.Errorf("invalid substatus %q for a %s issue: want none", substatus, status)
		}
		return nil
	}
	return fmt.Errorf("invalid issue status %q: want unresolved, resolved or ignored", status)
}

// Timestamp returns t as a store keeps it: UTC, truncated to microseconds.
func Timestamp(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC().Truncate(time.Microsecond)
}

// NewPublicKey returns a random project key: 32 lower-case hex digits.
func NewPublicKey() string {
	var b [16]byte
	rand.Read(b[:]) // never fails (crypto/rand)
	return hex.EncodeToString(b[:])
}

// PrepareIssue validates a new issue and its hashes and fills defaults, for
// CreateIssue implementations: status unresolved, substatus new for an
// unresolved issue, status_changed = first_seen (or now), hashes in the
// issue's project and grouping version, created at now. Times are passed
// through Timestamp and duplicate hashes dropped. The ID fields are left for
// the store to set.
func PrepareIssue(iss Issue, hashes []IssueHash, now time.Time) (Issue, []IssueHash, error) {
	if iss.ProjectID <= 0 {
		return Issue{}, nil, fmt.Errorf("invalid issue: project id %d", iss.ProjectID)
	}
	if len(hashes) == 0 {
		return Issue{}, nil, errors.New("invalid issue: no hashes given")
	}
	if iss.TimesSeen < 0 {
		return Issue{}, nil, fmt.Errorf("invalid issue: times seen %d", iss.TimesSeen)
	}
	if iss.Status == "" {
		iss.Status = StatusUnresolved
	}
	if iss.Status == StatusUnresolved && iss.Substatus == "" {
		iss.Substatus = SubstatusNew
	}
	if err := CheckStatus(iss.Status, iss.Substatus); err != nil {
		return Issue{}, nil, fmt.Errorf("invalid issue: %w", err)
	}
	now = Timestamp(now)
	iss.FirstSeen = Timestamp(iss.FirstSeen)
	iss.LastSeen = Timestamp(iss.LastSeen)
	iss.StatusChanged = Timestamp(iss.StatusChanged)
	iss.ResolvedAt = Timestamp(iss.ResolvedAt)
	iss.RegressedAt = Timestamp(iss.RegressedAt)
	if iss.StatusChanged.IsZero() {
		iss.StatusChanged = iss.FirstSeen
	}
	if iss.StatusChanged.IsZero() {
		iss.StatusChanged = now
	}
	seen := make(map[string]bool, len(hashes))
	out := make([]IssueHash, 0, len(hashes))
	for _, h := range hashes {
		if h.Hash == "" {
			return Issue{}, nil, errors.New("invalid issue: empty hash")
		}
		if h.ProjectID != 0 && h.ProjectID != iss.ProjectID {
			return Issue{}, nil, fmt.Errorf("invalid issue: hash %s is in project %d, the issue in %d", h.Hash, h.ProjectID, iss.ProjectID)
		}
		if seen[h.Hash] {
			continue
		}
		seen[h.Hash] = true
		h.ProjectID = iss.ProjectID
		if h.GroupingVersion == "" {
			h.GroupingVersion = iss.GroupingVersion
		}
		h.CreatedAt = Timestamp(h.CreatedAt)
		if h.CreatedAt.IsZero() {
			h.CreatedAt = now
		}
		out = append(out, h)
	}
	return iss, out, nil
}

// CheckFilter reports whether f is valid: known statuses, a limit not
// below zero.
func CheckFilter(f IssueFilter) error {
	for _, st := range f.Statuses {
		if st != StatusUnresolved && st != StatusResolved && st != StatusIgnored {
			return fmt.Errorf("invalid issue filter: unknown status %q", st)
		}
	}
	if f.Limit < 0 || f.ProjectID < 0 {
		return fmt.Errorf("invalid issue filter: limit %d, project %d", f.Limit, f.ProjectID)
	}
	return nil
}

// MergeCounts validates counts and merges those of one issue, keeping the
// order of first appearance, for AddIssueCounts implementations.
func MergeCounts(counts []IssueCounts) ([]IssueCounts, error) {
	idx := make(map[int64]int, len(counts))
	out := make([]IssueCounts, 0, len(counts))
	for _, c := range counts {
		if c.IssueID <= 0 {
			return nil, fmt.Errorf("invalid issue counts: issue id %d", c.IssueID)
		}
		if c.Events < 0 {
			return nil, fmt.Errorf("invalid issue counts for issue %d: %d events", c.IssueID, c.Events)
		}
		if c.FirstSeen.IsZero() || c.LastSeen.IsZero() {
			return nil, fmt.Errorf("invalid issue counts for issue %d: first or last seen missing", c.IssueID)
		}
		if c.LastSeen.Before(c.FirstSeen) {
			return nil, fmt.Errorf("invalid issue counts for issue %d: last seen before first seen", c.IssueID)
		}
		c.FirstSeen, c.LastSeen = Timestamp(c.FirstSeen), Timestamp(c.LastSeen)
		i, ok := idx[c.IssueID]
		if !ok {
			idx[c.IssueID] = len(out)
			out = append(out, c)
			continue
		}
		m := &out[i]
		m.Events += c.Events
		if c.FirstSeen.Before(m.FirstSeen) {
			m.FirstSeen = c.FirstSeen
		}
		if c.LastSeen.After(m.LastSeen) {
			m.LastSeen = c.LastSeen
		}
	}
	return out, nil
}
