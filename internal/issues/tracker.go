// Package issues turns error events into issues. The Tracker sits in front
// of the ingest pipeline: every batch passes through it, the exceptions in
// OpenTelemetry spans and logs become error events, every error event is
// grouped (see package grouping) and assigned to an issue, created if new and
// reopened as a regression if it was resolved, and the batch goes on to the
// pipeline. Issue counters are added once the events are committed.
//
// The tracker owns issue status in memory: every change of status, from
// ingest (a regression) or from a user (resolve, ignore), goes through it, so
// the two cannot race.
package issues

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/fibinc/telltale/internal/grouping"
	"github.com/fibinc/telltale/internal/ingest/ingestkey"
	"github.com/fibinc/telltale/internal/state"
	"github.com/fibinc/telltale/internal/telemetry"
)

// State is what the tracker needs from the state store.
type State interface {
	IssueByHashes(ctx context.Context, projectID int64, hashes []string) (int64, error)
	CreateIssue(ctx context.Context, iss state.Issue, hashes []state.IssueHash) (state.Issue, error)
	AddIssueHashes(ctx context.Context, hashes []state.IssueHash) error
	Issue(ctx context.Context, id int64) (state.Issue, error)
	AddIssueCounts(ctx context.Context, counts []state.IssueCounts) error
	SetIssueStatus(ctx context.Context, id int64, status, substatus string, at time.Time) error
}

// Appender takes batches into the ingest pipeline and returns once they are
// committed.
type Appender interface {
	Append(ctx context.Context, b *telemetry.Batch) error
}

// Options configure a Tracker. State and Appender are required.
type Options struct {
	State    State
	Appender Appender
	Grouping grouping.Options
	// DefaultProjectID is the project of error events that do not name one
	// (those from OpenTelemetry) and came without an ingest key in the
	// context (ingestkey.WithKey). Default 1.
	DefaultProjectID int64
	// MaxCached caps the issues and hashes kept in memory. Default 100,000.
	MaxCached int
	// FlushInterval is the shortest time between two additions of counts
	// to the state store: counts lag events by about this much. Default 1s.
	FlushInterval time.Duration
	Logger        *slog.Logger
	Now           func() time.Time // default time.Now
}

// Tracker assigns error events to issues. Create it with New and start Run.
type Tracker struct {
	opt     Options
	grouper *grouping.Grouper
	log     *slog.Logger

	// mu serialises issue lookup, creation and status changes.
	mu     sync.Mutex
	hashes map[hashKey]int64     // (project, hash) -> issue id
	issues map[int64]state.Issue // cached issue status

	// countsMu guards pending: counts of committed events not yet added to
	// the state store. Run adds them in the background.
	countsMu sync.Mutex
	pending  map[int64]*state.IssueCounts
	wake     chan struct{}
}

type hashKey struct {
	project int64
	hash    string
}

// New returns a Tracker.
func New(opt Options) (*Tracker, error) {
	if opt.State == nil || opt.Appender == nil {
		return nil, errors.New("cannot create issue tracker: State and Appender are required")
	}
	if opt.DefaultProjectID == 0 {
		opt.DefaultProjectID = 1
	}
	if opt.MaxCached <= 0 {
		opt.MaxCached = 100_000
	}
	if opt.FlushInterval <= 0 {
		opt.FlushInterval = time.Second
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	return &Tracker{
		opt:     opt,
		grouper: grouping.New(opt.Grouping),
		log:     opt.Logger.With("component", "issues"),
		hashes:  map[hashKey]int64{},
		issues:  map[int64]state.Issue{},
		pending: map[int64]*state.IssueCounts{},
		wake:    make(chan struct{}, 1),
	}, nil
}

// Append finds the error events in b (adding those derived from spans and
// logs to b.Errors), assigns each to an issue, and passes b on to the
// pipeline. It returns the pipeline's error.
func (t *Tracker) Append(ctx context.Context, b *telemetry.Batch) error {
	for i := range b.Spans {
		b.Errors = AppendFromSpan(b.Errors, &b.Spans[i])
	}
	for i := range b.Logs {
		b.Errors = AppendFromLog(b.Errors, &b.Logs[i])
	}
	if len(b.Errors) == 0 {
		return t.opt.Appender.Append(ctx, b)
	}
	if err := t.Assign(ctx, b.Errors); err != nil {
		return err
	}
	if err := t.opt.Appender.Append(ctx, b); err != nil {
		return err
	}
	t.count(b.Errors)
	return nil
}

// Assign groups events and sets their issue and grouping fields, creating
// issues as needed.
func (t *Tracker) Assign(ctx context.Context, events []telemetry.ErrorEvent) error {
	results := make([]grouping.Result, len(events))
	// An event that names no project belongs to the project of the ingest
	// key it came with, else to the default project.
	project := ingestkey.ProjectID(ctx)
	if project == 0 {
		project = t.opt.DefaultProjectID
	}
	for i := range events {
		ev := &events[i]
		if ev.ProjectID == 0 {
			ev.ProjectID = project
		}
		if ev.Time.IsZero() {
			ev.Time = t.opt.Now()
		}
		r := t.grouper.Group(ev)
		info, err := json.Marshal(r.Info.Summary())
		if err != nil {
			return fmt.Errorf("cannot encode grouping of event %s: %w", ev.EventID, err)
		}
		ev.GroupingVersion = r.Info.Version
		ev.Grouping = string(info)
		ev.Title, ev.Culprit = r.Title, r.Culprit
		results[i] = r
	}

	t.mu.Lock()
	defer t.mu.Unlock()
	for i := range events {
		ev, r := &events[i], &results[i]
		id, hash, err := t.issueFor(ctx, ev, r)
		if err != nil {
			return err
		}
		ev.IssueID, ev.GroupingHash = id, hash
		if err := t.reopen(ctx, id); err != nil {
			return err
		}
	}
	return nil
}

// issueFor returns the issue of an event, creating it if no hash of the
// event is known. It also returns the hash that matched. t.mu is held.
func (t *Tracker) issueFor(ctx context.Context, ev *telemetry.ErrorEvent, r *grouping.Result) (int64, string, error) {
	if len(r.Hashes) == 0 {
		return 0, "", fmt.Errorf("grouping gave event %s no hash", ev.EventID)
	}
	for _, h := range r.Hashes {
		if id, ok := t.hashes[hashKey{ev.ProjectID, h}]; ok {
			return id, h, t.attachHashes(ctx, ev.ProjectID, id, r)
		}
	}
	id, err := t.opt.State.IssueByHashes(ctx, ev.ProjectID, r.Hashes)
	switch {
	case err == nil:
		return id, r.Hashes[0], t.attachHashes(ctx, ev.ProjectID, id, r)
	case !errors.Is(err, state.ErrNotFound):
		return 0, "", fmt.Errorf("cannot look up issue: %w", err)
	}
	now := t.opt.Now()
	iss := state.Issue{
		ProjectID: ev.ProjectID, GroupingVersion: r.Info.Version, Type: r.Type,
		Title: ev.Title, Culprit: ev.Culprit, Level: ev.Level, Platform: ev.Platform, Service: ev.ServiceName,
		FirstSeen: ev.Time, LastSeen: ev.Time, Status: state.StatusUnresolved, Substatus: state.SubstatusNew, StatusChanged: now,
	}
	hashes := make([]state.IssueHash, len(r.Hashes))
	for i, h := range r.Hashes {
		hashes[i] = state.IssueHash{ProjectID: ev.ProjectID, Hash: h, GroupingVersion: r.Info.Version, CreatedAt: now}
	}
	created, err := t.opt.State.CreateIssue(ctx, iss, hashes)
	if errors.Is(err, state.ErrExists) {
		// Another node sharing the state store created it first.
		err = nil
	}
	if err != nil {
		return 0, "", fmt.Errorf("cannot create issue: %w", err)
	}
	t.cacheIssue(created)
	for _, h := range r.Hashes {
		t.cacheHash(hashKey{ev.ProjectID, h}, created.ID)
	}
	t.log.Info("new issue", "issue", created.ID, "project", ev.ProjectID, "title", created.Title)
	return created.ID, r.Hashes[0], nil
}

// attachHashes records hashes of the event that the issue does not have
// yet, so that later events match it by any of them. t.mu is held.
func (t *Tracker) attachHashes(ctx context.Context, project, id int64, r *grouping.Result) error {
	var missing []state.IssueHash
	for _, h := range r.Hashes {
		k := hashKey{project, h}
		if _, ok := t.hashes[k]; ok {
			continue
		}
		missing = append(missing, state.IssueHash{ProjectID: project, IssueID: id, Hash: h, GroupingVersion: r.Info.Version, CreatedAt: t.opt.Now()})
	}
	if len(missing) == 0 {
		return nil
	}
	if err := t.opt.State.AddIssueHashes(ctx, missing); err != nil {
		return fmt.Errorf("cannot add hashes to issue %d: %w", id, err)
	}
	for _, h := range missing {
		t.cacheHash(hashKey{project, h.Hash}, id)
	}
	return nil
}

// reopen marks a resolved issue that has a new event as regressed. Ignored
// issues stay ignored. t.mu is held.
func (t *Tracker) reopen(ctx context.Context, id int64) error {
	iss, err := t.issue(ctx, id)
	if err != nil {
		return err
	}
	if iss.Status != state.StatusResolved {
		return nil
	}
	now := t.opt.Now()
	if err := t.opt.State.SetIssueStatus(ctx, id, state.StatusUnresolved, state.SubstatusRegressed, now); err != nil {
		return fmt.Errorf("cannot reopen issue %d: %w", id, err)
	}
	iss.Status, iss.Substatus, iss.StatusChanged, iss.RegressedAt = state.StatusUnresolved, state.SubstatusRegressed, now, now
	t.cacheIssue(iss)
	t.log.Info("issue regressed", "issue", id, "title", iss.Title)
	return nil
}

// issue returns the cached issue, loading it on a miss. t.mu is held.
func (t *Tracker) issue(ctx context.Context, id int64) (state.Issue, error) {
	if iss, ok := t.issues[id]; ok {
		return iss, nil
	}
	iss, err := t.opt.State.Issue(ctx, id)
	if err != nil {
		return state.Issue{}, fmt.Errorf("cannot load issue %d: %w", id, err)
	}
	t.cacheIssue(iss)
	return iss, nil
}

// The caches only save state lookups; when one is full it is emptied
// rather than tracked for recency, since issues are few in practice.
func (t *Tracker) cacheIssue(iss state.Issue) {
	if len(t.issues) >= t.opt.MaxCached {
		clear(t.issues)
	}
	t.issues[iss.ID] = iss
}

func (t *Tracker) cacheHash(k hashKey, id int64) {
	if len(t.hashes) >= t.opt.MaxCached {
		clear(t.hashes)
	}
	t.hashes[k] = id
}

// SetStatus changes an issue's status as a user asked: resolved, ignored or
// unresolved.
func (t *Tracker) SetStatus(ctx context.Context, id int64, status string) (state.Issue, error) {
	substatus := ""
	switch status {
	case state.StatusResolved, state.StatusIgnored:
	case state.StatusUnresolved:
		substatus = state.SubstatusOngoing
	default:
		return state.Issue{}, fmt.Errorf("%w: unknown status %q: want unresolved, resolved or ignored", ErrInvalid, status)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	iss, err := t.issue(ctx, id)
	if err != nil {
		return state.Issue{}, err
	}
	now := t.opt.Now()
	if err := t.opt.State.SetIssueStatus(ctx, id, status, substatus, now); err != nil {
		return state.Issue{}, fmt.Errorf("cannot set status of issue %d: %w", id, err)
	}
	delete(t.issues, id)
	iss, err = t.issue(ctx, id)
	if err != nil {
		return state.Issue{}, err
	}
	return iss, nil
}

// ErrInvalid marks a request the caller got wrong.
var ErrInvalid = errors.New("invalid request")

// count queues the counts of committed events for Run to add.
func (t *Tracker) count(events []telemetry.ErrorEvent) {
	t.countsMu.Lock()
	for i := range events {
		ev := &events[i]
		c, ok := t.pending[ev.IssueID]
		if !ok {
			c = &state.IssueCounts{IssueID: ev.IssueID, FirstSeen: ev.Time, LastSeen: ev.Time}
			t.pending[ev.IssueID] = c
		}
		c.Events++
		if ev.Time.Before(c.FirstSeen) {
			c.FirstSeen = ev.Time
		}
		if ev.Time.After(c.LastSeen) {
			c.LastSeen = ev.Time
		}
	}
	t.countsMu.Unlock()
	select {
	case t.wake <- struct{}{}:
	default:
	}
}

// Run adds event counts to the issues as events are committed, one state
// transaction at most every FlushInterval for all the counts that piled up,
// until ctx ends; then it adds what is left. Counts are derived data: a
// crash loses at most the counts of one interval, never an event.
func (t *Tracker) Run(ctx context.Context) error {
	for {
		select {
		case <-t.wake:
			if err := t.flush(ctx); err != nil {
				// Retried after the pause, not on the next event.
				select {
				case t.wake <- struct{}{}:
				default:
				}
			}
			select {
			case <-time.After(t.opt.FlushInterval):
			case <-ctx.Done():
			}
		case <-ctx.Done():
			t.flush(context.WithoutCancel(ctx))
			return nil
		}
	}
}

// Flush adds the pending counts now.
func (t *Tracker) Flush(ctx context.Context) error { return t.flush(ctx) }

func (t *Tracker) flush(ctx context.Context) error {
	t.countsMu.Lock()
	if len(t.pending) == 0 {
		t.countsMu.Unlock()
		return nil
	}
	counts := make([]state.IssueCounts, 0, len(t.pending))
	for _, c := range t.pending {
		counts = append(counts, *c)
	}
	clear(t.pending)
	t.countsMu.Unlock()
	if err := t.opt.State.AddIssueCounts(ctx, counts); err != nil {
		t.log.Error("cannot add issue counts; retrying", "issues", len(counts), "err", err)
		t.countsMu.Lock()
		for _, c := range counts {
			if p, ok := t.pending[c.IssueID]; ok {
				p.Events += c.Events
				p.FirstSeen = minTime(p.FirstSeen, c.FirstSeen)
				p.LastSeen = maxTime(p.LastSeen, c.LastSeen)
			} else {
				t.pending[c.IssueID] = &c
			}
		}
		t.countsMu.Unlock()
		return err
	}
	return nil
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
