// Package duckdb is Telltale's embedded store: telemetry in DuckDB files in
// the data directory, one file per signal and UTC day, so that retention
// frees disk by deleting whole files.
//
// Layout of the data directory:
//
//	telltale.duckdb            main database: views over the partitions, state
//	spans/2026-11-21.duckdb    one attached database per signal and day
//	logs/2026-11-21.duckdb
//	metrics/2026-11-21.duckdb
//	errors/2026-11-21.duckdb
//
// Each partition holds one table (spans, logs, metric_points or error_events). The main
// database has a view of the same name that unions all partitions, so
// queries see a single table per signal. See docs/design/storage.md.
package duckdb

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	duckdb "github.com/duckdb/duckdb-go/v2"
	"github.com/duckdb/duckdb-go/v2/mapping"

	"github.com/fibinc/telltale/internal/store"
	"github.com/fibinc/telltale/internal/telemetry"
)

// Options configure the store. The zero value works but for Dir.
type Options struct {
	Dir string // data directory, created if missing

	// MemoryLimit caps DuckDB's buffer pool, e.g. "256MB". Default "256MB".
	MemoryLimit string
	// CheckpointThreshold is the WAL size at which DuckDB checkpoints a
	// partition. Default "128MB".
	CheckpointThreshold string
	// Threads is DuckDB's worker thread count. Default GOMAXPROCS.
	Threads int
	// MaxConns caps open connections (writers and queries). Default 16.
	MaxConns int
	// REDCompactEvery is how often the rows of RED aggregates that
	// separate writes left for the same minute are merged. Default 15s.
	REDCompactEvery time.Duration

	Logger *slog.Logger
}

// Store is the DuckDB implementation of store.Store.
type Store struct {
	db     *sql.DB
	raw    *rawDB // the same database, for the chunk writer
	dir    string
	opt    Options // for Reopen
	logger *slog.Logger

	// mu guards parts, closed and the handles db and raw, which Reopen
	// replaces. Writers hold it for reading while they append, so that a
	// partition is never detached under a writer.
	mu     sync.RWMutex
	parts  map[partKey]struct{}
	closed bool
	// ddl serialises attach, detach, view changes and Reopen.
	ddl sync.Mutex
	// scans is held for reading while a raw connection serves a query, and
	// by Reopen for writing: the old handle must have no connection left.
	scans sync.RWMutex

	// broken is the write error after which the in-memory database can no
	// longer be trusted (see Broken); nil while healthy.
	broken atomic.Pointer[error]

	compactor compactor
	stopOnce  sync.Once
}

type partKey struct {
	signal telemetry.Signal
	day    time.Time
}

func (k partKey) catalog() string {
	return fmt.Sprintf("%s_%s", k.signal, k.day.Format("20060102"))
}

func (k partKey) file(dir string) string {
	return filepath.Join(dir, string(k.signal), k.day.Format("2006-01-02")+".duckdb")
}

var _ store.Store = (*Store)(nil)

// Open opens or creates the store in opt.Dir and attaches every partition
// found there. DuckDB replays each file's write-ahead log, so records
// committed before a crash are back.
func Open(ctx context.Context, opt Options) (*Store, error) {
	if opt.Dir == "" {
		return nil, errors.New("cannot open store: no data directory given")
	}
	if opt.MemoryLimit == "" {
		opt.MemoryLimit = "256MB"
	}
	if opt.CheckpointThreshold == "" {
		opt.CheckpointThreshold = "128MB"
	}
	if opt.Threads <= 0 {
		opt.Threads = runtime.GOMAXPROCS(0)
	}
	if opt.MaxConns <= 0 {
		opt.MaxConns = 16
	}
	if opt.REDCompactEvery <= 0 {
		opt.REDCompactEvery = 15 * time.Second
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	for _, s := range telemetry.Signals {
		if err := os.MkdirAll(filepath.Join(opt.Dir, string(s)), 0o755); err != nil {
			return nil, fmt.Errorf("cannot create data directory: %w", err)
		}
	}
	s := &Store{dir: opt.Dir, opt: opt, logger: opt.Logger.With("component", "store")}
	if err := s.open(ctx); err != nil {
		return nil, err
	}
	s.startCompactor(opt.REDCompactEvery)
	return s, nil
}

// open opens the database handles and attaches every partition. The caller
// holds s.ddl or runs before the store is shared.
func (s *Store) open(ctx context.Context) error {
	opt := s.opt
	path := filepath.Join(opt.Dir, "telltale.duckdb")
	connector, err := duckdb.NewConnector(path, func(execer driver.ExecerContext) error {
		for _, q := range []string{
			// Settings are SQL text, not parameters: quotes are doubled, so
			// that a flag's value stays one string literal.
			fmt.Sprintf("SET memory_limit = '%s'", strings.ReplaceAll(opt.MemoryLimit, "'", "''")),
			fmt.Sprintf("SET threads = %d", opt.Threads),
			// Insertion order is irrelevant to every query we run (all sort
			// explicitly), and keeping it costs memory on large scans.
			"SET preserve_insertion_order = false",
			"SET autoinstall_known_extensions = false",
			"SET autoload_known_extensions = false",
			// DuckDB checkpoints inside the commit that crosses this WAL
			// size, and rewrites the partly filled row group each time: the
			// default 16MB costs a quarter of ingest throughput.
			fmt.Sprintf("SET checkpoint_threshold = '%s'", strings.ReplaceAll(opt.CheckpointThreshold, "'", "''")),
		} {
			if _, err := execer.ExecContext(ctx, q, nil); err != nil {
				return fmt.Errorf("cannot configure DuckDB (%s): %w", q, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("cannot open store: %w", err)
	}
	raw, err := openRawDB(path, opt.MaxConns)
	if err != nil {
		connector.Close()
		return fmt.Errorf("cannot open store: %w", err)
	}
	db := sql.OpenDB(connector)
	db.SetMaxOpenConns(opt.MaxConns)
	db.SetMaxIdleConns(opt.MaxConns)
	db.SetConnMaxIdleTime(0)

	s.mu.Lock()
	s.db, s.raw, s.parts = db, raw, map[partKey]struct{}{}
	s.mu.Unlock()
	if err := s.init(ctx); err != nil {
		// What init wrote may be half done: nothing is checkpointed.
		s.mu.Lock()
		s.db, s.raw = nil, nil
		s.mu.Unlock()
		s.closeHandles(db, raw, false)
		return err
	}
	return nil
}

// closeHandles closes the database. DuckDB checkpoints as its last handle
// closes, unless checkpoint is false: a database that failed a write may
// hold a damaged copy of the data in memory (see Broken), and a checkpoint
// would write that over the files, whose WAL still holds every commit.
func (s *Store) closeHandles(db *sql.DB, raw *rawDB, checkpoint bool) error {
	if !checkpoint {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if _, err := db.ExecContext(ctx, "PRAGMA disable_checkpoint_on_shutdown"); err != nil {
			s.logger.Warn("cannot turn the checkpoint at shutdown off", "err", err)
		}
		cancel()
	}
	err := db.Close()
	// Rows still open keep connections, and so the instance, alive; wait
	// for them, so that the next open does not get the same instance from
	// DuckDB's instance cache.
	for deadline := time.Now().Add(time.Minute); db.Stats().OpenConnections > 0 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	raw.close()
	return err
}

func (s *Store) init(ctx context.Context) error {
	if err := s.initRED(ctx); err != nil {
		return err
	}
	for _, sig := range telemetry.Signals {
		// An empty table in the main database keeps each view valid when no
		// partition exists yet.
		q := fmt.Sprintf("CREATE TABLE IF NOT EXISTS main.%s_empty %s", tableName(sig), tableDDL[sig])
		if _, err := s.db.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("cannot create table %s_empty: %w", tableName(sig), err)
		}
		files, err := filepath.Glob(filepath.Join(s.dir, string(sig), "*.duckdb"))
		if err != nil {
			return fmt.Errorf("cannot list partitions: %w", err)
		}
		for _, f := range files {
			day, err := time.Parse("2006-01-02", strings.TrimSuffix(filepath.Base(f), ".duckdb"))
			if err != nil {
				s.logger.Warn("ignoring file that is not a partition", "file", f)
				continue
			}
			if err := s.attach(ctx, partKey{sig, day}); err != nil {
				return err
			}
		}
		if err := s.replaceView(ctx, sig); err != nil {
			return err
		}
	}
	return nil
}

// attach attaches a partition file, creating it and its table if needed.
// The caller holds s.ddl or runs before the store is shared.
func (s *Store) attach(ctx context.Context, k partKey) error {
	q := fmt.Sprintf("ATTACH IF NOT EXISTS '%s' AS %s", strings.ReplaceAll(k.file(s.dir), "'", "''"), k.catalog())
	if _, err := s.db.ExecContext(ctx, q); err != nil {
		return fmt.Errorf("cannot attach partition %s: %w", k.catalog(), err)
	}
	if _, err := s.db.ExecContext(ctx, createTableSQL(k.catalog(), k.signal)); err != nil {
		return fmt.Errorf("cannot create table in partition %s: %w", k.catalog(), err)
	}
	if k.signal == telemetry.SignalSpans {
		if err := s.ensureRED(ctx, k); err != nil {
			return err
		}
	}
	s.mu.Lock()
	s.parts[k] = struct{}{}
	s.mu.Unlock()
	return nil
}

// replaceView points the signal's view at its current partitions. UNION ALL
// BY NAME lets older partitions lack columns added by later versions.
func (s *Store) replaceView(ctx context.Context, sig telemetry.Signal) error {
	name := tableName(sig)
	var b strings.Builder
	fmt.Fprintf(&b, "CREATE OR REPLACE VIEW main.%s AS SELECT * FROM main.%s_empty", name, name)
	for _, k := range s.partitions(sig) {
		fmt.Fprintf(&b, " UNION ALL BY NAME SELECT * FROM %s.main.%s", k.catalog(), name)
	}
	if _, err := s.db.ExecContext(ctx, b.String()); err != nil {
		return fmt.Errorf("cannot create view %s: %w", name, err)
	}
	if sig == telemetry.SignalSpans {
		for _, q := range redViews(s.partitions(sig)) {
			if _, err := s.db.ExecContext(ctx, q); err != nil {
				return fmt.Errorf("cannot create RED aggregate view: %w", err)
			}
		}
	}
	return nil
}

// partitions returns the signal's partitions, oldest first.
func (s *Store) partitions(sig telemetry.Signal) []partKey {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var ks []partKey
	for k := range s.parts {
		if k.signal == sig {
			ks = append(ks, k)
		}
	}
	slices.SortFunc(ks, func(a, b partKey) int { return a.day.Compare(b.day) })
	return ks
}

// ensure makes sure the partitions exist, attaching new ones.
func (s *Store) ensure(ctx context.Context, keys []partKey) error {
	s.mu.RLock()
	missing := false
	for _, k := range keys {
		if _, ok := s.parts[k]; !ok {
			missing = true
		}
	}
	closed := s.closed
	s.mu.RUnlock()
	if closed {
		return store.ErrClosed
	}
	if !missing {
		return nil
	}
	s.ddl.Lock()
	defer s.ddl.Unlock()
	if s.db == nil { // a Reopen failed
		return s.Broken()
	}
	changed := map[telemetry.Signal]bool{}
	for _, k := range keys {
		s.mu.RLock()
		_, ok := s.parts[k]
		s.mu.RUnlock()
		if ok {
			continue
		}
		if err := s.attach(ctx, k); err != nil {
			return err
		}
		changed[k.signal] = true
	}
	for sig := range changed {
		if err := s.replaceView(ctx, sig); err != nil {
			return err
		}
	}
	return nil
}

// Write implements store.Store. Records are grouped by partition; each
// partition's rows go through one appender and one commit. Logs and spans,
// the bulk of ingest, go through the chunk writer; metrics and error events
// through duckdb-go's Appender.
func (s *Store) Write(ctx context.Context, b *telemetry.Batch) error {
	groups := map[partKey][]int{}
	var order []partKey
	add := func(sig telemetry.Signal, i int, t time.Time) {
		k := partKey{sig, store.Day(t)}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], i)
	}
	for i := range b.Spans {
		add(telemetry.SignalSpans, i, b.Spans[i].Start)
	}
	for i := range b.Logs {
		add(telemetry.SignalLogs, i, b.Logs[i].Time)
	}
	for i := range b.Metrics {
		add(telemetry.SignalMetrics, i, b.Metrics[i].Time)
	}
	for i := range b.Errors {
		add(telemetry.SignalErrors, i, b.Errors[i].Time)
	}
	if len(order) == 0 {
		return nil
	}
	if err := s.Broken(); err != nil {
		return err
	}
	if err := s.ensure(ctx, order); err != nil {
		return err
	}

	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return store.ErrClosed
	}
	if s.db == nil { // being reopened
		return s.Broken()
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	var conn *sql.Conn // for duckdb-go's Appender, taken when first needed
	defer func() {
		if conn != nil {
			conn.Close()
		}
	}()
	for _, k := range order {
		if _, ok := s.parts[k]; !ok {
			// Dropped by retention between ensure and now: the records are
			// older than the retention period, so they would go anyway.
			continue
		}
		var err error
		switch k.signal {
		case telemetry.SignalLogs, telemetry.SignalSpans:
			err = s.writeChunks(k, b, groups[k])
		default:
			if conn == nil {
				if conn, err = s.db.Conn(ctx); err != nil {
					return fmt.Errorf("cannot get connection: %w", err)
				}
			}
			err = conn.Raw(func(dc any) error { return appendRows(dc.(driver.Conn), k, b, groups[k]) })
		}
		if err != nil {
			err = fmt.Errorf("cannot write %d %s to partition %s: %w", len(groups[k]), k.signal, k.catalog(), err)
			s.checkBroken(err)
			return err
		}
	}
	return nil
}

// writeChunks writes a partition's logs or spans through the chunk writer;
// closing its appender outside a transaction flushes and commits. Spans
// and their RED aggregates go in one transaction instead (writeSpans).
//
// DuckDB's appender cannot discard rows: after a failure it still commits
// those it holds when it closes. So the one value that can fail, a
// timestamp out of DuckDB's range, is checked before any row is written, and
// a Write stores all of a partition's records or none. (An explicit
// transaction would do it too, but cost a third more CPU per commit in
// BenchmarkWrite; spans pay it, for their aggregates.)
func (s *Store) writeChunks(k partKey, b *telemetry.Batch, idx []int) error {
	for _, i := range idx {
		var ts [2]time.Time
		if k.signal == telemetry.SignalLogs {
			ts = [2]time.Time{b.Logs[i].Time, b.Logs[i].ObservedTime}
		} else {
			ts = [2]time.Time{b.Spans[i].Start, b.Spans[i].Start}
		}
		for _, t := range ts {
			if !timestampInRange(t) {
				return fmt.Errorf("timestamp %s is out of range", t)
			}
		}
	}
	if k.signal == telemetry.SignalSpans {
		return s.writeSpans(k, b, idx)
	}
	c, err := s.raw.get()
	if err != nil {
		return err
	}
	defer s.raw.put(c, true) // autocommit, as a failed appender leaves it
	return writeChunkRows(c, k, b, idx)
}

func writeChunkRows(c mapping.Connection, k partKey, b *telemetry.Batch, idx []int) error {
	w, err := newChunkWriter(c, k.catalog(), "main", tableName(k.signal))
	if err != nil {
		return err
	}
	switch k.signal {
	case telemetry.SignalLogs:
		for _, i := range idx {
			writeLog(w, &b.Logs[i])
		}
	case telemetry.SignalSpans:
		for _, i := range idx {
			writeSpan(w, &b.Spans[i])
		}
	default:
		w.fail(fmt.Errorf("no chunk writer for %s", k.signal))
	}
	return w.Close()
}

// writeLog and writeSpan write a row in the column order of tableDDL.
func writeLog(w *chunkWriter, l *telemetry.Log) {
	w.Row()
	w.Timestamp(l.Time)
	w.Timestamp(l.ObservedTime)
	w.Varchar(l.TraceID)
	w.Varchar(l.SpanID)
	w.Integer(l.Severity)
	w.Varchar(l.SeverityText)
	w.Varchar(l.Body)
	w.Varchar(l.RequestID)
	writeResource(w, &l.Resource, &l.Scope)
	w.Varchar(jsonObj(l.Attributes))
	w.Varchar(l.EventName)
	w.Varchar(l.Source)
}

func writeSpan(w *chunkWriter, sp *telemetry.Span) {
	w.Row()
	w.Timestamp(sp.Start)
	w.BigInt(int64(sp.Duration))
	w.Varchar(sp.TraceID)
	w.Varchar(sp.SpanID)
	w.Varchar(sp.ParentSpanID)
	w.Varchar(sp.TraceState)
	w.Varchar(sp.Name)
	w.Varchar(sp.Kind)
	w.Varchar(sp.StatusCode)
	w.Varchar(sp.StatusMessage)
	w.Varchar(sp.RequestID)
	writeResource(w, &sp.Resource, &sp.Scope)
	w.Varchar(jsonObj(sp.Attributes))
	w.Varchar(jsonArr(sp.Events))
	w.Varchar(jsonArr(sp.Links))
}

// writeResource writes resourceColumns.
func writeResource(w *chunkWriter, r *telemetry.Resource, sc *telemetry.Scope) {
	w.Varchar(r.ServiceName)
	w.Varchar(r.ServiceVersion)
	w.Varchar(r.InstanceID)
	w.Varchar(r.Environment)
	w.Varchar(r.Host)
	w.Varchar(r.AvailabilityZone)
	w.Varchar(jsonObj(r.Attributes))
	w.Varchar(sc.Name)
	w.Varchar(sc.Version)
}

// appendRows appends metric points or error events and commits them:
// closing an appender outside a transaction flushes and commits, and DuckDB
// syncs its WAL on commit.
func appendRows(dc driver.Conn, k partKey, b *telemetry.Batch, idx []int) (err error) {
	a, err := duckdb.NewAppender(dc, k.catalog(), "main", tableName(k.signal))
	if err != nil {
		return err
	}
	defer func() {
		if cerr := a.Close(); err == nil {
			err = cerr
		}
	}()
	switch k.signal {
	case telemetry.SignalMetrics:
		for _, i := range idx {
			m := &b.Metrics[i]
			var start, value, count, sum, min, max, scale, zero, posOff, negOff any
			if !m.StartTime.IsZero() {
				start = m.StartTime.UTC()
			}
			switch m.Type {
			case telemetry.MetricGauge, telemetry.MetricSum:
				value = m.Value
			default:
				count, sum = m.Count, m.Sum
				if m.HasMin {
					min = m.Min
				}
				if m.HasMax {
					max = m.Max
				}
			}
			if m.Type == telemetry.MetricExponentialHistogram {
				scale, zero, posOff, negOff = m.ExpScale, m.ExpZeroCount, m.ExpPositiveOffset, m.ExpNegativeOffset
			}
			if err := a.AppendRow(m.Time.UTC(), start, m.Name, m.Description, m.Unit, m.Type, m.Temporality, m.Monotonic, m.SeriesID,
				m.ServiceName, m.ServiceVersion, m.InstanceID, m.Environment, m.Host, m.AvailabilityZone, jsonObj(m.Resource.Attributes),
				m.Scope.Name, m.Scope.Version, jsonObj(m.Attributes), m.Flags,
				value, count, sum, min, max, list(m.BucketBounds), list(m.BucketCounts),
				scale, zero, posOff, list(m.ExpPositiveCounts), negOff, list(m.ExpNegativeCounts),
				list(m.Quantiles), list(m.QuantileValues)); err != nil {
				return err
			}
		}
	case telemetry.SignalErrors:
		for _, i := range idx {
			e := &b.Errors[i]
			body, err := json.Marshal(e)
			if err != nil {
				return fmt.Errorf("cannot encode error event %s: %w", e.EventID, err)
			}
			var excType, excValue string
			if ex := e.MainException(); ex != nil {
				excType, excValue = ex.Type, ex.Value
			}
			if err := a.AppendRow(e.Time.UTC(), e.Received.UTC(), e.EventID, e.ProjectID, e.IssueID, e.GroupingVersion, e.GroupingHash,
				e.Source, e.Platform, e.Level, e.Logger, e.Transaction, e.ServerName, e.Release, e.Dist, e.Browser, e.OS,
				e.Request.URL, e.User.Key(), e.Title, e.Culprit, e.Message, excType, excValue, e.TraceID, e.SpanID, e.RequestID,
				e.ServiceName, e.ServiceVersion, e.InstanceID, e.Environment, e.Host, e.AvailabilityZone, jsonObj(e.Resource.Attributes),
				e.SDK.Name, e.SDK.Version, tagsObj(e.Tags), string(body), jsonObj(e.Contexts), jsonObj(e.Extra), jsonObj(e.Grouping)); err != nil {
				return err
			}
		}
	}
	return nil
}

// tagsObj encodes tags as a JSON object, so that queries can extract a tag
// by key; the first value of a repeated key wins.
func tagsObj(tags []telemetry.Tag) string {
	if len(tags) == 0 {
		return "{}"
	}
	m := make(map[string]string, len(tags))
	for _, t := range tags {
		if _, ok := m[t.Key]; !ok {
			m[t.Key] = t.Value
		}
	}
	b, _ := json.Marshal(m)
	return string(b)
}

func jsonObj(s string) string {
	if s == "" {
		return "{}"
	}
	return s
}

func jsonArr(s string) string {
	if s == "" {
		return "[]"
	}
	return s
}

// list stores empty lists as NULL, which costs less than an empty list.
func list[T any](v []T) any {
	if len(v) == 0 {
		return nil
	}
	return v
}

// Query implements store.Store.
func (s *Store) Query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	s.mu.RLock()
	closed, db := s.closed, s.db
	s.mu.RUnlock()
	if closed {
		return nil, store.ErrClosed
	}
	if db == nil {
		return nil, s.Broken()
	}
	return db.QueryContext(ctx, query, args...)
}

// Dialect implements store.Store.
func (s *Store) Dialect() string { return "duckdb" }

// Partitions implements store.Store.
func (s *Store) Partitions(ctx context.Context) ([]store.Partition, error) {
	var out []store.Partition
	for _, sig := range telemetry.Signals {
		for _, k := range s.partitions(sig) {
			var size int64
			for _, f := range []string{k.file(s.dir), k.file(s.dir) + ".wal"} {
				if fi, err := os.Stat(f); err == nil {
					size += fi.Size()
				}
			}
			out = append(out, store.Partition{Signal: k.signal, Day: k.day, Bytes: size})
		}
	}
	slices.SortStableFunc(out, func(a, b store.Partition) int { return a.Day.Compare(b.Day) })
	return out, nil
}

// DropPartition implements store.Store: the partition leaves the view, is
// detached, and its file is deleted.
func (s *Store) DropPartition(ctx context.Context, p store.Partition) error {
	k := partKey{p.Signal, store.Day(p.Day)}
	s.ddl.Lock()
	defer s.ddl.Unlock()
	// Detaching checkpoints the partition: not from a damaged database.
	if err := s.Broken(); err != nil {
		return err
	}
	s.mu.Lock() // waits for writers using the partition
	if _, ok := s.parts[k]; !ok {
		s.mu.Unlock()
		return nil
	}
	delete(s.parts, k)
	s.mu.Unlock()
	if err := s.replaceView(ctx, k.signal); err != nil {
		return err
	}
	if _, err := s.db.ExecContext(ctx, "DETACH DATABASE IF EXISTS "+k.catalog()); err != nil {
		return fmt.Errorf("cannot detach partition %s: %w", k.catalog(), err)
	}
	for _, f := range []string{k.file(s.dir), k.file(s.dir) + ".wal"} {
		if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("cannot delete partition file: %w", err)
		}
	}
	s.logger.Info("dropped partition", "signal", k.signal, "day", k.day.Format("2006-01-02"))
	return nil
}

// DiskUsage returns the bytes used by the data directory.
func (s *Store) DiskUsage() (int64, error) {
	var total int64
	err := filepath.WalkDir(s.dir, func(_ string, d os.DirEntry, err error) error {
		if err != nil {
			return nil // files come and go under retention
		}
		if d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				total += fi.Size()
			}
		}
		return nil
	})
	return total, err
}

// Close implements store.Store. It waits for writes in progress, then
// checkpoints and closes every database.
func (s *Store) Close() error {
	s.ddl.Lock()
	defer s.ddl.Unlock()
	s.stopOnce.Do(func() { s.stopCompactor(s.Broken() == nil) })
	s.scans.Lock()
	defer s.scans.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if s.db == nil { // a Reopen failed
		return nil
	}
	return s.closeHandles(s.db, s.raw, s.Broken() == nil)
}

// ErrBroken is wrapped by the errors of a store that failed a write and
// must be reopened: see Broken.
var ErrBroken = errors.New("the store must be reopened after a failed write")

// Broken returns nil while the store is healthy. After a write failed in
// DuckDB's commit (a full disk, an I/O error), it returns an error wrapping
// ErrBroken and the failure, until Reopen succeeds.
//
// DuckDB 1.4 cannot be trusted after such a failure: a checkpoint that
// fails for want of space leaves the database in memory without the rows
// of earlier commits, and the next successful commit checkpoints that loss
// into the file; a failed commit of a transaction leaves tables that crash
// the process when next updated. The files themselves stay consistent, and
// their WAL holds every acknowledged commit (docs/design/security.md,
// "Faults"). So a broken store writes nothing more, neither records nor
// compactions, detaches nothing, closes without a checkpoint, and comes
// back through Reopen, which reads the files again.
func (s *Store) Broken() error {
	if p := s.broken.Load(); p != nil {
		return *p
	}
	return nil
}

// checkBroken marks the store broken if err is a failure of the
// database rather than of the records.
func (s *Store) checkBroken(err error) {
	if !isStorageFailure(err) {
		return
	}
	werr := fmt.Errorf("%w: %w", ErrBroken, err)
	if s.broken.CompareAndSwap(nil, &werr) {
		s.logger.Error("a write failed in the database; nothing more is written until the store is reopened", "err", err)
	}
}

// storageFailures are the parts of DuckDB's messages that say a commit
// failed in the storage: any of them marks the store broken. A false
// positive costs a reopen; a miss could cost data.
var storageFailures = []string{
	"Failed to commit", "Failed to create checkpoint", "IO Error", "Could not write file", "Could not read from file",
	"No space left on device", "Disk quota exceeded", "has been invalidated", "FATAL Error", "INTERNAL Error",
}

func isStorageFailure(err error) bool {
	msg := err.Error()
	for _, f := range storageFailures {
		if strings.Contains(msg, f) {
			return true
		}
	}
	return false
}

// Reopen discards the database in memory, without a checkpoint, and opens
// the files again: their WAL brings back every commit that succeeded. It
// waits for writes and queries in progress. Reopening a healthy store is
// harmless. It fails while the disk is still too full for DuckDB to start
// (it checkpoints the WAL it replays); the store stays broken then, and
// Reopen may be called again.
func (s *Store) Reopen(ctx context.Context) error {
	s.ddl.Lock()
	defer s.ddl.Unlock()
	s.mu.RLock()
	closed := s.closed
	s.mu.RUnlock()
	if closed {
		return store.ErrClosed
	}
	s.stopCompactor(false)
	// Writes and queries that start meanwhile fail with this error.
	healthy := s.Broken() == nil
	reopening := fmt.Errorf("%w: the store is being reopened", ErrBroken)
	s.broken.CompareAndSwap(nil, &reopening)
	s.scans.Lock() // waits for chunk queries on the old handle
	s.mu.Lock()    // waits for writes
	db, raw := s.db, s.raw
	s.db, s.raw = nil, nil
	s.mu.Unlock()
	s.scans.Unlock()
	if db != nil {
		s.closeHandles(db, raw, healthy)
	}
	if err := s.open(ctx); err != nil {
		err = fmt.Errorf("cannot reopen the store: %w", err)
		werr := fmt.Errorf("%w: %w", ErrBroken, err)
		s.broken.Store(&werr)
		return err
	}
	s.broken.Store(nil)
	s.startCompactor(s.opt.REDCompactEvery)
	s.logger.Info("store reopened", "dir", s.dir)
	return nil
}
