package duckdb

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/duckdb/duckdb-go/v2/mapping"

	"github.com/fibinc/telltale/internal/query/dialect"
	"github.com/fibinc/telltale/internal/red"
	"github.com/fibinc/telltale/internal/telemetry"
)

// RED aggregates: every span partition holds, beside its spans table, a
// table per red.Levels of rows of red.Row, written in the same transaction
// as the spans they count. The main database has a view of each over all
// partitions, as for the signals. See docs/design/storage.md, "RED
// aggregates".

// redDDL is the CREATE TABLE body of the aggregate tables, in the order
// writeRED writes a row.
const redDDL = `(
	bucket                 TIMESTAMP  NOT NULL,
	service_name           VARCHAR    NOT NULL,
	name                   VARCHAR    NOT NULL,
	kind                   VARCHAR    NOT NULL,
	root                   BOOLEAN    NOT NULL,
	error                  BOOLEAN    NOT NULL,
	deployment_environment VARCHAR    NOT NULL,
	service_version        VARCHAR    NOT NULL,
	count                  BIGINT     NOT NULL,
	sum_ns                 BIGINT     NOT NULL,
	hist_idx               SMALLINT[] NOT NULL,
	hist_cnt               BIGINT[]   NOT NULL
)`

// redKeys are the columns a row is counted by.
const redKeys = `bucket, service_name, name, kind, root, error, deployment_environment, service_version`

// redSumNs clamps a HUGEINT sum of durations to BIGINT, as red.Row.SumNs
// saturates.
const redSumNs = `CAST(least(greatest(sum(sum_ns), -9223372036854775808), 9223372036854775807) AS BIGINT)`

// writeRED appends rows to the aggregate table of a partition.
func writeRED(c mapping.Connection, catalog, table string, rows []red.Row) error {
	if len(rows) == 0 {
		return nil
	}
	w, err := newChunkWriter(c, catalog, "main", table)
	if err != nil {
		return err
	}
	for i := range rows {
		r := &rows[i]
		w.Row()
		w.Timestamp(r.Bucket)
		w.Varchar(r.Service)
		w.Varchar(r.Operation)
		w.Varchar(r.Kind)
		w.Boolean(r.Root)
		w.Boolean(r.Error)
		w.Varchar(r.Environment)
		w.Varchar(r.Version)
		w.BigInt(r.Count)
		w.BigInt(r.SumNs)
		writeList(w, mapping.TypeSmallInt, len(r.Hist), func(j int) int16 { return r.Hist[j].Index })
		writeList(w, mapping.TypeBigInt, len(r.Hist), func(j int) int64 { return r.Hist[j].Count })
	}
	return w.Close()
}

// aggregateSpans returns the rows of a partition's spans at every level.
func aggregateSpans(levels []red.Level, spans []telemetry.Span, idx []int) [][]red.Row {
	base := red.NewAggregator(levels[0].Width)
	for _, i := range idx {
		base.Add(&spans[i])
	}
	rows := [][]red.Row{base.Rows()}
	for _, l := range levels[1:] {
		rows = append(rows, l.Rollup(rows[0]))
	}
	return rows
}

// writeSpans writes a partition's spans and their aggregates in one
// transaction, so that the aggregates always count exactly the stored spans,
// crash or not.
func (s *Store) writeSpans(k partKey, b *telemetry.Batch, idx []int) error {
	levels := red.Levels()
	rows := aggregateSpans(levels, b.Spans, idx)
	c, err := s.raw.get()
	if err != nil {
		return err
	}
	if err := rawExec(c, "BEGIN TRANSACTION"); err != nil {
		s.raw.put(c, false)
		return err
	}
	err = writeChunkRows(c, k, b, idx)
	for i, l := range levels {
		if err == nil {
			err = writeRED(c, k.catalog(), l.Table, rows[i])
		}
	}
	if err == nil {
		err = rawExec(c, "COMMIT")
	}
	if err != nil {
		// A failed COMMIT rolls back by itself; a ROLLBACK then fails
		// harmlessly. The connection's state is unknown either way.
		rawExec(c, "ROLLBACK")
		s.raw.put(c, false)
		return err
	}
	s.raw.put(c, true)
	s.compactor.dirty(k, rows[0])
	return nil
}

// rawExec runs a statement that returns no rows on a raw connection.
func rawExec(c mapping.Connection, q string) error {
	var res mapping.Result
	defer mapping.DestroyResult(&res)
	if mapping.Query(c, q, &res) == mapping.StateError {
		return fmt.Errorf("cannot run %s: %s", q, mapping.ResultError(&res))
	}
	return nil
}

// redViews returns the statements that point the aggregate views at the
// given span partitions.
func redViews(parts []partKey) []string {
	var qs []string
	for _, l := range red.Levels() {
		q := fmt.Sprintf("CREATE OR REPLACE VIEW main.%s AS SELECT * FROM main.%s_empty", l.Table, l.Table)
		for _, k := range parts {
			q += fmt.Sprintf(" UNION ALL BY NAME SELECT * FROM %s.main.%s", k.catalog(), l.Table)
		}
		qs = append(qs, q)
	}
	return qs
}

// initRED creates the empty tables that keep the aggregate views valid
// without partitions.
func (s *Store) initRED(ctx context.Context) error {
	for _, l := range red.Levels() {
		if _, err := s.db.ExecContext(ctx, fmt.Sprintf("CREATE TABLE IF NOT EXISTS main.%s_empty %s", l.Table, redDDL)); err != nil {
			return fmt.Errorf("cannot create table %s_empty: %w", l.Table, err)
		}
	}
	return nil
}

// ensureRED creates the aggregate tables of a span partition if it lacks
// any, and fills them from its spans: a partition written before the
// aggregates existed (or before a level was added) gets them when first
// attached by a version that has them. Creating and filling is one
// transaction, so a partition has either complete aggregates or none.
func (s *Store) ensureRED(ctx context.Context, k partKey) error {
	levels := red.Levels()
	var names []any
	for _, l := range levels {
		names = append(names, l.Table)
	}
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM duckdb_tables() WHERE database_name = ? AND schema_name = 'main' AND table_name IN (?`+
		strings.Repeat(", ?", len(names)-1)+`)`, append([]any{k.catalog()}, names...)...).Scan(&n)
	if err != nil {
		return fmt.Errorf("cannot look for aggregates in partition %s: %w", k.catalog(), err)
	}
	if n == len(levels) {
		return nil
	}
	start := time.Now()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("cannot backfill aggregates of partition %s: %w", k.catalog(), err)
	}
	defer tx.Rollback()
	table := func(l red.Level) string { return k.catalog() + ".main." + l.Table }
	var qs []string
	for _, l := range levels {
		// Some were there: start over.
		qs = append(qs, "CREATE TABLE IF NOT EXISTS "+table(l)+" "+redDDL, "DELETE FROM "+table(l))
	}
	// A few hours at a time, so that the groups of one statement fit in
	// memory however many spans the day holds.
	for h := 0; h < 24; h += backfillHours {
		from, to := k.day.Add(time.Duration(h)*time.Hour), k.day.Add(time.Duration(h+backfillHours)*time.Hour)
		spans := fmt.Sprintf("(SELECT * FROM %s.main.spans WHERE timestamp >= '%s' AND timestamp < '%s')",
			k.catalog(), from.Format(time.DateTime), to.Format(time.DateTime))
		qs = append(qs, "INSERT INTO "+table(levels[0])+" "+backfillSQL(spans))
		for _, l := range levels[1:] {
			qs = append(qs, "INSERT INTO "+table(l)+" "+mergeSQL(table(levels[0]), l,
				fmt.Sprintf("bucket >= '%s' AND bucket < '%s'", from.Format(time.DateTime), to.Format(time.DateTime))))
		}
	}
	for _, q := range qs {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("cannot backfill aggregates of partition %s: %w", k.catalog(), err)
		}
	}
	var spans int64
	if err := tx.QueryRowContext(ctx, "SELECT coalesce(sum(count), 0) FROM "+table(levels[0])).Scan(&spans); err != nil {
		return fmt.Errorf("cannot backfill aggregates of partition %s: %w", k.catalog(), err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("cannot backfill aggregates of partition %s: %w", k.catalog(), err)
	}
	if spans > 0 {
		s.logger.Info("backfilled RED aggregates", "partition", k.catalog(), "spans", spans, "took", time.Since(start).Round(time.Millisecond))
	}
	return nil
}

// backfillHours is the hours of spans one backfill statement reads; it
// divides every level's width and a day.
const backfillHours = 3

// backfillSQL returns a SELECT of the minute rows of the spans in table,
// as red.Aggregator makes them.
func backfillSQL(table string) string {
	return `SELECT ` + redKeys + `, count, sum_ns, ` + histLists + `
FROM (SELECT ` + redKeys + `, CAST(sum(c) AS BIGINT) AS count,
		CAST(least(greatest(sum(s), -9223372036854775808), 9223372036854775807) AS BIGINT) AS sum_ns,
		list_sort(list((CAST(idx AS BIGINT) << 47) | c)) AS h
	FROM (SELECT date_trunc('minute', timestamp) AS bucket, service_name,
			CASE WHEN kind = 'server' OR kind = 'consumer' OR parent_span_id = '' THEN name ELSE '' END AS name,
			kind, parent_span_id = '' AS root, status_code = 'error' AS error, deployment_environment, service_version,
			CAST(` + dialect.DuckDB{}.DurationBucket("duration_ns") + ` AS SMALLINT) AS idx,
			count(*) AS c, sum(duration_ns) AS s
		FROM ` + table + `
		GROUP BY ALL)
	GROUP BY ` + redKeys + `)`
}

// histLists splits h, a sorted list of bucket<<47 | count, into the
// histogram columns. One list of packed pairs keeps the pairs together and
// costs the least memory of the ways tried: two lists, a list of structs,
// and list(... ORDER BY ...), which holds every group's input until the end,
// ran out of the default 256MB over a day of 700,000 spans. A count per
// bucket, key and hour stays far below 2^47.
const histLists = `list_transform(h, lambda x: CAST(x >> 47 AS SMALLINT)) AS hist_idx,
	list_transform(h, lambda x: x & 140737488355327) AS hist_cnt`

// mergeSQL returns a SELECT of the rows of table matching where, summed
// into one row per key and bucket of level l.
func mergeSQL(table string, l red.Level, where string) string {
	name, version := "name", "service_version"
	if l.ServiceOnly {
		name, version = "''", "''"
	}
	keys := dialect.DuckDB{}.TimeBucket("bucket", l.Width) + ` AS bucket, service_name, ` + name + ` AS name, kind, root, error,
	deployment_environment, ` + version + ` AS service_version`
	return `SELECT k.bucket, k.service_name, k.name, k.kind, k.root, k.error, k.deployment_environment, k.service_version,
	k.count, k.sum_ns, ` + histLists + `
FROM (SELECT ` + keys + `, CAST(sum(count) AS BIGINT) AS count, ` + redSumNs + ` AS sum_ns
	FROM ` + table + ` WHERE ` + where + ` GROUP BY ALL) k
JOIN (SELECT ` + redKeys + `, list_sort(list((CAST(i AS BIGINT) << 47) | c)) AS h
	FROM (SELECT ` + redKeys + `, i, CAST(sum(c) AS BIGINT) AS c
		FROM (SELECT ` + keys + `, unnest(hist_idx) AS i, unnest(hist_cnt) AS c FROM ` + table + ` WHERE ` + where + `)
		GROUP BY ALL)
	GROUP BY ALL) h
USING (` + redKeys + `)`
}

// compactor merges the rows that separate writes left for the same key and
// bucket, so that a bucket ends up with one row per key. It tracks the
// buckets written since its last pass; after a restart, the rows of the
// last pass before it stay unmerged, which costs reads but changes no sum.
type compactor struct {
	mu    sync.Mutex
	todo  map[partKey]map[int64]bool // minute buckets, Unix seconds
	stop  chan struct{}
	done  chan struct{}
	every time.Duration
}

// maxDirtyMinutes bounds the minutes remembered per partition: a day's.
const maxDirtyMinutes = 24 * 60

func (c *compactor) dirty(k partKey, minutes []red.Row) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.todo == nil {
		c.todo = map[partKey]map[int64]bool{}
	}
	set := c.todo[k]
	if set == nil {
		set = map[int64]bool{}
		c.todo[k] = set
	}
	for i := range minutes {
		if len(set) < maxDirtyMinutes {
			set[minutes[i].Bucket.Unix()] = true
		}
	}
}

func (c *compactor) take() map[partKey]map[int64]bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.todo
	c.todo = nil
	return t
}

// startCompactor runs compaction passes every opt.REDCompactEvery until
// Close.
func (s *Store) startCompactor(every time.Duration) {
	s.compactor.every = every
	s.compactor.stop = make(chan struct{})
	s.compactor.done = make(chan struct{})
	go func() {
		defer close(s.compactor.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-s.compactor.stop:
				return
			case <-t.C:
			}
			// A bulk load can leave more than one interval's work; what
			// a pass does not finish waits for the next.
			ctx, cancel := context.WithTimeout(context.Background(), max(4*every, time.Minute))
			if err := s.CompactRED(ctx); err != nil {
				s.logger.Warn("cannot compact RED aggregates", "err", err)
			}
			cancel()
		}
	}()
}

// stopCompactor ends the background passes and, if pass, runs a last one,
// so that a clean shutdown leaves no partial rows.
func (s *Store) stopCompactor(pass bool) {
	if s.compactor.stop == nil {
		return
	}
	close(s.compactor.stop)
	<-s.compactor.done
	s.compactor.stop = nil
	if !pass {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.CompactRED(ctx); err != nil {
		s.logger.Warn("cannot compact RED aggregates", "err", err)
	}
}

// CompactRED merges the aggregate rows written since the last pass, one
// transaction per partition. Passes run in the background; tests and
// benchmarks call it to reach the compacted state at once.
func (s *Store) CompactRED(ctx context.Context) error {
	todo := s.compactor.take()
	var errs []error
	for _, k := range slices.SortedFunc(maps.Keys(todo), func(a, b partKey) int { return a.day.Compare(b.day) }) {
		if ctx.Err() == nil {
			if err := s.compactPartition(ctx, k, todo[k]); err != nil {
				errs = append(errs, err)
			} else {
				continue
			}
		}
		// Failed or not reached: the next pass tries again.
		s.compactor.requeue(k, todo[k])
	}
	return errors.Join(errs...)
}

func (c *compactor) requeue(k partKey, minutes map[int64]bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.todo == nil {
		c.todo = map[partKey]map[int64]bool{}
	}
	if c.todo[k] == nil {
		c.todo[k] = map[int64]bool{}
	}
	maps.Copy(c.todo[k], minutes)
}

// compactWindow is the number of buckets compaction merges per
// transaction, so that its memory stays small however many buckets a pass
// finds written (a bulk load writes days in seconds): the merged rows wait
// in a temporary table.
const compactWindow = 30

// compactPartition rewrites the rows of every level in the buckets holding
// the given minutes as one row per key and bucket. Under snapshot
// isolation a transaction neither sees nor deletes rows that writers commit
// meanwhile; those stay for the next pass.
func (s *Store) compactPartition(ctx context.Context, k partKey, minutes map[int64]bool) error {
	for _, l := range red.Levels() {
		w := int64(l.Width / time.Second)
		buckets := map[int64]bool{}
		for m := range minutes {
			buckets[m-m%w] = true
		}
		for _, win := range windows(buckets, w*compactWindow) {
			if err := s.compactWindow(ctx, k, l, win[0], win[1]); err != nil {
				return fmt.Errorf("cannot compact %s of partition %s: %w", l.Table, k.catalog(), err)
			}
		}
	}
	return nil
}

// windows returns, for each window of the given width (Unix seconds) that
// holds buckets, the first and last of them, in order.
func windows(buckets map[int64]bool, width int64) [][2]time.Time {
	var out [][2]time.Time
	for _, b := range slices.Sorted(maps.Keys(buckets)) {
		t := time.Unix(b, 0).UTC()
		if n := len(out); n > 0 && out[n-1][0].Unix()/width == b/width {
			out[n-1][1] = t
			continue
		}
		out = append(out, [2]time.Time{t, t})
	}
	return out
}

// compactWindow merges the rows of a partition's level with buckets in
// [first, last], in one transaction.
func (s *Store) compactWindow(ctx context.Context, k partKey, l red.Level, first, last time.Time) error {
	s.mu.RLock() // keeps the partition attached
	defer s.mu.RUnlock()
	if _, ok := s.parts[k]; !ok || s.closed {
		return nil
	}
	if err := s.Broken(); err != nil {
		return err
	}
	if s.db == nil {
		return ErrBroken
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	name := k.catalog() + ".main." + l.Table
	const where = "bucket >= ? AND bucket <= ?"
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{"CREATE TEMP TABLE red_merge AS " + mergeSQL(name, l, where), []any{first, last, first, last}},
		{"DELETE FROM " + name + " WHERE " + where, []any{first, last}},
		{"INSERT INTO " + name + " SELECT * FROM red_merge", nil},
		{"DROP TABLE red_merge", nil},
	} {
		if _, err := tx.ExecContext(ctx, q.sql, q.args...); err != nil {
			return err
		}
	}
	return tx.Commit()
}
