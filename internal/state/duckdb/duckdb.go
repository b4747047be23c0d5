// Package duckdb is Telltale's embedded state store: projects, issues and
// the rest of the small mutable data in one DuckDB file of the data
// directory (<dir>/state.duckdb), apart from the telemetry files so that
// neither's writes or retention disturb the other.
//
// Writes are serialised by a mutex: they are rare (issue creation, status
// changes, a count flush per second), and DuckDB aborts concurrent
// transactions that update the same rows of an indexed table. Reads run
// concurrently. The schema is versioned and migrated at Open; see
// docs/design/state.md.
package duckdb

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	duckdb "github.com/duckdb/duckdb-go/v2"

	"github.com/fibinc/telltale/internal/state"
)

// FileName is the state database's file name in the data directory.
const FileName = "state.duckdb"

// Options configure the store. The zero value works but for Path.
type Options struct {
	Path string // database file, created with its directory if missing

	// MemoryLimit caps DuckDB's buffer pool, e.g. "64MB". Default "64MB":
	// state is small, and the memory belongs to the telemetry store.
	MemoryLimit string

	Logger *slog.Logger
}

// Store is the DuckDB implementation of state.Store.
type Store struct {
	db     *sql.DB
	path   string
	logger *slog.Logger

	// wmu serialises writes.
	wmu       sync.Mutex
	closeOnce sync.Once
	closeErr  error
}

var _ state.Store = (*Store)(nil)

// querier is what *sql.DB and *sql.Tx have in common.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Open opens or creates the state database at opt.Path and migrates its
// schema to the current version.
func Open(ctx context.Context, opt Options) (*Store, error) {
	if opt.Path == "" {
		return nil, errors.New("cannot open state database: no path given")
	}
	if opt.MemoryLimit == "" {
		opt.MemoryLimit = "64MB"
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(filepath.Dir(opt.Path), 0o755); err != nil {
		return nil, fmt.Errorf("cannot create directory of state database %s: %w", opt.Path, err)
	}
	connector, err := duckdb.NewConnector(opt.Path, func(execer driver.ExecerContext) error {
		for _, q := range []string{
			fmt.Sprintf("SET memory_limit = '%s'", strings.ReplaceAll(opt.MemoryLimit, "'", "")),
			// Every query touches a few thousand rows at most: more
			// threads would only cost memory.
			"SET threads = 1",
			"SET autoinstall_known_extensions = false",
			"SET autoload_known_extensions = false",
		} {
			if _, err := execer.ExecContext(ctx, q, nil); err != nil {
				return fmt.Errorf("cannot configure DuckDB (%s): %w", q, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cannot open state database %s: %w", opt.Path, err)
	}
	db := sql.OpenDB(connector)
	db.SetMaxOpenConns(4)
	db.SetMaxIdleConns(4)
	db.SetConnMaxIdleTime(0)
	s := &Store{db: db, path: opt.Path, logger: opt.Logger.With("component", "state")}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// migrate applies the migrations the database lacks, each in its own
// transaction with its schema_version row.
func (s *Store) migrate(ctx context.Context) error {
	var tables, versioned int
	err := s.db.QueryRowContext(ctx, `SELECT count(*), count(*) FILTER (WHERE table_name = 'schema_version')
		FROM information_schema.tables WHERE table_schema = 'main'`).Scan(&tables, &versioned)
	if err != nil {
		return fmt.Errorf("cannot read state database %s: %w", s.path, err)
	}
	if tables > 0 && versioned == 0 {
		return fmt.Errorf("%s is not a Telltale state database: it has tables but no schema_version", s.path)
	}
	if _, err := s.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_version (
		version    INTEGER PRIMARY KEY,
		applied_at TIMESTAMP NOT NULL
	)`); err != nil {
		return fmt.Errorf("cannot create schema_version in state database %s: %w", s.path, err)
	}
	var version int
	if err := s.db.QueryRowContext(ctx, "SELECT coalesce(max(version), 0) FROM schema_version").Scan(&version); err != nil {
		return fmt.Errorf("cannot read schema version of state database %s: %w", s.path, err)
	}
	if version > len(migrations) {
		return fmt.Errorf("state database %s has schema version %d, newer than this Telltale knows (%d): run a newer Telltale", s.path, version, len(migrations))
	}
	for v := version + 1; v <= len(migrations); v++ {
		err := s.inTx(ctx, func(tx *sql.Tx) error {
			for _, q := range migrations[v-1] {
				if _, err := tx.ExecContext(ctx, q); err != nil {
					return err
				}
			}
			_, err := tx.ExecContext(ctx, "INSERT INTO schema_version VALUES (?, ?)", v, state.Timestamp(time.Now()))
			return err
		})
		if err != nil {
			return fmt.Errorf("cannot migrate state database %s to schema version %d: %w", s.path, v, err)
		}
		s.logger.Info("migrated state database", "file", s.path, "version", v)
	}
	return nil
}

// inTx runs fn in a transaction, committing if it returns nil.
func (s *Store) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

// Close implements state.Store.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		// Wait for a write in progress.
		s.wmu.Lock()
		defer s.wmu.Unlock()
		s.closeErr = s.db.Close()
	})
	return s.closeErr
}

// CreateProject implements state.Store.
func (s *Store) CreateProject(ctx context.Context, slug, name string) (state.Project, error) {
	if err := state.CheckSlug(slug); err != nil {
		return state.Project{}, err
	}
	if name == "" {
		name = slug
	}
	p := state.Project{Slug: slug, Name: name, PublicKey: state.NewPublicKey(), CreatedAt: state.Timestamp(time.Now())}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM projects WHERE slug = ?", slug).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("project %q: %w", slug, state.ErrExists)
		}
		if err := tx.QueryRowContext(ctx, "SELECT nextval('project_ids')").Scan(&p.ID); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, "INSERT INTO projects (id, slug, name, public_key, created_at) VALUES (?, ?, ?, ?, ?)",
			p.ID, p.Slug, p.Name, p.PublicKey, p.CreatedAt)
		if err != nil {
			return err
		}
		return insertIngestKey(ctx, tx, &state.IngestKey{ProjectID: p.ID, Name: state.FirstKeyName, Key: p.PublicKey, CreatedAt: p.CreatedAt})
	})
	if errors.Is(err, state.ErrExists) {
		return state.Project{}, err
	}
	if err != nil {
		return state.Project{}, fmt.Errorf("cannot create project %q: %w", slug, err)
	}
	return p, nil
}

const projectCols = "id, slug, name, public_key, created_at"

func scanProject(sc interface{ Scan(...any) error }) (state.Project, error) {
	var p state.Project
	err := sc.Scan(&p.ID, &p.Slug, &p.Name, &p.PublicKey, &p.CreatedAt)
	p.CreatedAt = p.CreatedAt.UTC()
	return p, err
}

// Projects implements state.Store.
func (s *Store) Projects(ctx context.Context) ([]state.Project, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT "+projectCols+" FROM projects ORDER BY id")
	if err != nil {
		return nil, fmt.Errorf("cannot list projects: %w", err)
	}
	defer rows.Close()
	var out []state.Project
	for rows.Next() {
		p, err := scanProject(rows)
		if err != nil {
			return nil, fmt.Errorf("cannot list projects: %w", err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cannot list projects: %w", err)
	}
	return out, nil
}

// ProjectByID implements state.Store.
func (s *Store) ProjectByID(ctx context.Context, id int64) (state.Project, error) {
	return s.project(ctx, "id", id)
}

// ProjectByKey implements state.Store.
func (s *Store) ProjectByKey(ctx context.Context, publicKey string) (state.Project, error) {
	return s.project(ctx, "public_key", publicKey)
}

func (s *Store) project(ctx context.Context, col string, v any) (state.Project, error) {
	p, err := scanProject(s.db.QueryRowContext(ctx, "SELECT "+projectCols+" FROM projects WHERE "+col+" = ?", v))
	if errors.Is(err, sql.ErrNoRows) {
		return state.Project{}, fmt.Errorf("project with %s %v: %w", col, v, state.ErrNotFound)
	}
	if err != nil {
		return state.Project{}, fmt.Errorf("cannot read project with %s %v: %w", col, v, err)
	}
	return p, nil
}

// placeholders returns "?, ?, ..." for n parameters.
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

// IssueByHashes implements state.Store.
func (s *Store) IssueByHashes(ctx context.Context, projectID int64, hashes []string) (int64, error) {
	if len(hashes) == 0 {
		return 0, errors.New("cannot look up issue: no hashes given")
	}
	id, hash, err := issueByHashes(ctx, s.db, projectID, hashes)
	if err != nil {
		return 0, fmt.Errorf("cannot look up issue: %w", err)
	}
	if hash == "" {
		return 0, fmt.Errorf("issue of project %d with hashes %v: %w", projectID, hashes, state.ErrNotFound)
	}
	return id, nil
}

// issueByHashes returns the issue of the first of hashes found in the
// project, and that hash; an empty hash when none is found.
func issueByHashes(ctx context.Context, q querier, projectID int64, hashes []string) (int64, string, error) {
	args := make([]any, len(hashes))
	for i, h := range hashes {
		if h == "" {
			return 0, "", errors.New("empty hash")
		}
		args[i] = h
	}
	// Filtering by hash alone lets DuckDB use the index on hash; the project
	// is checked here.
	rows, err := q.QueryContext(ctx, "SELECT project_id, hash, issue_id FROM issue_hashes WHERE hash IN ("+placeholders(len(hashes))+")", args...)
	if err != nil {
		return 0, "", err
	}
	defer rows.Close()
	found := map[string]int64{}
	for rows.Next() {
		var pid, id int64
		var h string
		if err := rows.Scan(&pid, &h, &id); err != nil {
			return 0, "", err
		}
		if pid == projectID {
			found[h] = id
		}
	}
	if err := rows.Err(); err != nil {
		return 0, "", err
	}
	for _, h := range hashes {
		if id, ok := found[h]; ok {
			return id, h, nil
		}
	}
	return 0, "", nil
}

// CreateIssue implements state.Store.
func (s *Store) CreateIssue(ctx context.Context, iss state.Issue, hashes []state.IssueHash) (state.Issue, error) {
	iss, hashes, err := state.PrepareIssue(iss, hashes, time.Now())
	if err != nil {
		return state.Issue{}, err
	}
	names := make([]string, len(hashes))
	for i, h := range hashes {
		names[i] = h.Hash
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	var existing int64
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM projects WHERE id = ?", iss.ProjectID).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("project %d: %w", iss.ProjectID, state.ErrNotFound)
		}
		id, hash, err := issueByHashes(ctx, tx, iss.ProjectID, names)
		if err != nil {
			return err
		}
		if hash != "" {
			existing = id
			return fmt.Errorf("issue %d has hash %s: %w", id, hash, state.ErrExists)
		}
		if err := tx.QueryRowContext(ctx, "SELECT nextval('issue_ids')").Scan(&iss.ID); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO issues (id, project_id, grouping_version, type, title, culprit, level, platform, service,
			first_seen, last_seen, times_seen, status, substatus, status_changed, resolved_at, regressed_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			iss.ID, iss.ProjectID, iss.GroupingVersion, iss.Type, iss.Title, iss.Culprit, iss.Level, iss.Platform, iss.Service,
			nullTime(iss.FirstSeen), nullTime(iss.LastSeen), iss.TimesSeen, iss.Status, iss.Substatus,
			nullTime(iss.StatusChanged), nullTime(iss.ResolvedAt), nullTime(iss.RegressedAt))
		if err != nil {
			return err
		}
		for i := range hashes {
			hashes[i].IssueID = iss.ID
		}
		return insertHashes(ctx, tx, hashes)
	})
	if errors.Is(err, state.ErrExists) {
		// Unlocked reads see the committed issue: the lock only orders writes.
		old, rerr := s.Issue(ctx, existing)
		if rerr != nil {
			return state.Issue{ID: existing}, err
		}
		return old, err
	}
	if errors.Is(err, state.ErrNotFound) {
		return state.Issue{}, fmt.Errorf("cannot create issue: %w", err)
	}
	if err != nil {
		return state.Issue{}, fmt.Errorf("cannot create issue in project %d: %w", iss.ProjectID, err)
	}
	return iss, nil
}

// insertHashes inserts hashes, skipping those present. Callers hold wmu, so
// nothing can insert a hash between the conflict check and the insert.
func insertHashes(ctx context.Context, tx *sql.Tx, hashes []state.IssueHash) error {
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO issue_hashes (project_id, hash, issue_id, grouping_version, created_at)
		VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`)
	if err != nil {
		return err
	}
	defer stmt.Close()
	for _, h := range hashes {
		if _, err := stmt.ExecContext(ctx, h.ProjectID, h.Hash, h.IssueID, h.GroupingVersion, h.CreatedAt); err != nil {
			return fmt.Errorf("cannot insert hash %s: %w", h.Hash, err)
		}
	}
	return nil
}

// AddIssueHashes implements state.Store.
func (s *Store) AddIssueHashes(ctx context.Context, hashes []state.IssueHash) error {
	if len(hashes) == 0 {
		return nil
	}
	now := state.Timestamp(time.Now())
	out := make([]state.IssueHash, 0, len(hashes))
	for _, h := range hashes {
		if h.Hash == "" || h.IssueID <= 0 {
			return fmt.Errorf("cannot add issue hash: invalid hash %q of issue %d", h.Hash, h.IssueID)
		}
		h.CreatedAt = state.Timestamp(h.CreatedAt)
		if h.CreatedAt.IsZero() {
			h.CreatedAt = now
		}
		out = append(out, h)
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		type key struct {
			project int64
			hash    string
		}
		projects := map[int64]int64{}
		seen := map[key]bool{}
		var kept []state.IssueHash
		for _, h := range out {
			pid, ok := projects[h.IssueID]
			if !ok {
				err := tx.QueryRowContext(ctx, "SELECT project_id FROM issues WHERE id = ?", h.IssueID).Scan(&pid)
				if errors.Is(err, sql.ErrNoRows) {
					return fmt.Errorf("issue %d: %w", h.IssueID, state.ErrNotFound)
				}
				if err != nil {
					return err
				}
				projects[h.IssueID] = pid
			}
			if h.ProjectID == 0 {
				h.ProjectID = pid
			}
			if h.ProjectID != pid {
				return fmt.Errorf("hash %s is in project %d, its issue %d in %d", h.Hash, h.ProjectID, h.IssueID, pid)
			}
			k := key{h.ProjectID, h.Hash}
			if seen[k] {
				continue
			}
			seen[k] = true
			kept = append(kept, h)
		}
		return insertHashes(ctx, tx, kept)
	})
	if err != nil {
		return fmt.Errorf("cannot add issue hashes: %w", err)
	}
	return nil
}

// IssueHashes implements state.Store.
func (s *Store) IssueHashes(ctx context.Context, issueID int64) ([]state.IssueHash, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT project_id, issue_id, hash, grouping_version, created_at
		FROM issue_hashes WHERE issue_id = ? ORDER BY created_at, hash`, issueID)
	if err != nil {
		return nil, fmt.Errorf("cannot read hashes of issue %d: %w", issueID, err)
	}
	defer rows.Close()
	var out []state.IssueHash
	for rows.Next() {
		var h state.IssueHash
		if err := rows.Scan(&h.ProjectID, &h.IssueID, &h.Hash, &h.GroupingVersion, &h.CreatedAt); err != nil {
			return nil, fmt.Errorf("cannot read hashes of issue %d: %w", issueID, err)
		}
		h.CreatedAt = h.CreatedAt.UTC()
		out = append(out, h)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cannot read hashes of issue %d: %w", issueID, err)
	}
	return out, nil
}

const issueCols = `id, project_id, grouping_version, type, title, culprit, level, platform, service,
	first_seen, last_seen, times_seen, status, substatus, status_changed, resolved_at, regressed_at`

func scanIssue(sc interface{ Scan(...any) error }) (state.Issue, error) {
	var iss state.Issue
	var first, last, changed, resolved, regressed sql.NullTime
	err := sc.Scan(&iss.ID, &iss.ProjectID, &iss.GroupingVersion, &iss.Type, &iss.Title, &iss.Culprit, &iss.Level, &iss.Platform, &iss.Service,
		&first, &last, &iss.TimesSeen, &iss.Status, &iss.Substatus, &changed, &resolved, &regressed)
	iss.FirstSeen, iss.LastSeen, iss.StatusChanged = timeOf(first), timeOf(last), timeOf(changed)
	iss.ResolvedAt, iss.RegressedAt = timeOf(resolved), timeOf(regressed)
	return iss, err
}

func timeOf(t sql.NullTime) time.Time {
	if !t.Valid {
		return time.Time{}
	}
	return t.Time.UTC()
}

// nullTime stores the zero time as NULL.
func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}

// Issue implements state.Store.
func (s *Store) Issue(ctx context.Context, id int64) (state.Issue, error) {
	iss, err := scanIssue(s.db.QueryRowContext(ctx, "SELECT "+issueCols+" FROM issues WHERE id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return state.Issue{}, fmt.Errorf("issue %d: %w", id, state.ErrNotFound)
	}
	if err != nil {
		return state.Issue{}, fmt.Errorf("cannot read issue %d: %w", id, err)
	}
	return iss, nil
}

// Issues implements state.Store.
func (s *Store) Issues(ctx context.Context, f state.IssueFilter) ([]state.Issue, error) {
	if err := state.CheckFilter(f); err != nil {
		return nil, err
	}
	if f.IDs != nil && len(f.IDs) == 0 {
		return nil, nil
	}
	var where []string
	var args []any
	if f.ProjectID != 0 {
		where = append(where, "project_id = ?")
		args = append(args, f.ProjectID)
	}
	if len(f.Statuses) > 0 {
		where = append(where, "status IN ("+placeholders(len(f.Statuses))+")")
		for _, st := range f.Statuses {
			args = append(args, st)
		}
	}
	if f.IDs != nil {
		// One list parameter, however many ids: no statement size limit.
		where = append(where, "id IN (SELECT unnest(?::BIGINT[]))")
		args = append(args, f.IDs)
	}
	q := "SELECT " + issueCols + " FROM issues"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY last_seen DESC NULLS LAST, id DESC"
	if f.Limit > 0 {
		q += " LIMIT ?"
		args = append(args, f.Limit)
	}
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("cannot list issues: %w", err)
	}
	defer rows.Close()
	var out []state.Issue
	for rows.Next() {
		iss, err := scanIssue(rows)
		if err != nil {
			return nil, fmt.Errorf("cannot list issues: %w", err)
		}
		out = append(out, iss)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cannot list issues: %w", err)
	}
	return out, nil
}

// AddIssueCounts implements state.Store with one UPDATE joined to the
// counts passed as list parameters.
func (s *Store) AddIssueCounts(ctx context.Context, counts []state.IssueCounts) error {
	counts, err := state.MergeCounts(counts)
	if err != nil {
		return err
	}
	if len(counts) == 0 {
		return nil
	}
	ids := make([]int64, len(counts))
	events := make([]int64, len(counts))
	first := make([]time.Time, len(counts))
	last := make([]time.Time, len(counts))
	for i, c := range counts {
		ids[i], events[i], first[i], last[i] = c.IssueID, c.Events, c.FirstSeen, c.LastSeen
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	_, err = s.db.ExecContext(ctx, `UPDATE issues SET
			times_seen = issues.times_seen + c.events,
			first_seen = least(issues.first_seen, c.first_seen),
			last_seen = greatest(issues.last_seen, c.last_seen)
		FROM (SELECT unnest(?::BIGINT[]) AS id, unnest(?::BIGINT[]) AS events,
			unnest(?::TIMESTAMP[]) AS first_seen, unnest(?::TIMESTAMP[]) AS last_seen) AS c
		WHERE issues.id = c.id`, ids, events, first, last)
	if err != nil {
		return fmt.Errorf("cannot add counts of %d issues: %w", len(counts), err)
	}
	return nil
}

// SetIssueStatus implements state.Store.
func (s *Store) SetIssueStatus(ctx context.Context, id int64, status, substatus string, at time.Time) error {
	if err := state.CheckStatus(status, substatus); err != nil {
		return fmt.Errorf("cannot set status of issue %d: %w", id, err)
	}
	if at.IsZero() {
		return fmt.Errorf("cannot set status of issue %d: no time given", id)
	}
	at = state.Timestamp(at)
	q := "UPDATE issues SET status = ?, substatus = ?, status_changed = ?"
	args := []any{status, substatus, at}
	if status == state.StatusResolved {
		q += ", resolved_at = ?"
		args = append(args, at)
	}
	if substatus == state.SubstatusRegressed {
		q += ", regressed_at = ?"
		args = append(args, at)
	}
	q += " WHERE id = ?"
	args = append(args, id)
	s.wmu.Lock()
	defer s.wmu.Unlock()
	res, err := s.db.ExecContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("cannot set status of issue %d: %w", id, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("cannot set status of issue %d: %w", id, err)
	} else if n == 0 {
		return fmt.Errorf("issue %d: %w", id, state.ErrNotFound)
	}
	return nil
}
