package query

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"time"

	"github.com/fibinc/telltale/internal/query/filter"
	"github.com/fibinc/telltale/internal/telemetry"
)

// logHistMaxSteps caps the buckets of a log histogram: far more than a
// chart can draw, few enough that a mistaken step cannot make a huge answer.
const logHistMaxSteps = 11_000

// LogHistogramQuery counts the log records that match a filter, by step and
// level. Range and Filter mean what they mean in LogQuery.
type LogHistogramQuery struct {
	Range  TimeRange
	Filter string
	// Step is the width of a bucket, a whole number of milliseconds; 0
	// picks DefaultStep of the range.
	Step time.Duration
}

// LogHistogram is the number of matching records per step and level.
type LogHistogram struct {
	Step time.Duration `json:"-"`
	// Buckets has one entry per step, from the step holding the range's
	// start to the one holding its end, empty steps included. The store
	// aligns steps, so the first may start before the range does; only
	// records inside the range are counted.
	Buckets []LogBucket `json:"buckets"`
	Total   int64       `json:"total"`
}

// LogBucket counts the matching records of one step by level. Error
// includes fatal; Debug includes trace; Other is the records without a
// severity (severity number 0).
type LogBucket struct {
	Time  time.Time `json:"time"`
	Error int64     `json:"error"`
	Warn  int64     `json:"warn"`
	Info  int64     `json:"info"`
	Debug int64     `json:"debug"`
	Other int64     `json:"other"`
}

// Total is the bucket's count over all levels.
func (b LogBucket) Total() int64 { return b.Error + b.Warn + b.Info + b.Debug + b.Other }

// CheckLogFilter says whether Logs, LogHistogram and the like accept the
// filter, without reading the store: nil, or an error wrapping ErrInvalid
// and the *filter.Error that names the problem and where it is. Callers
// use it to tell a bad filter from a failed query before they start.
func (s *Service) CheckLogFilter(text string) error {
	_, _, err := s.logWhere(text)
	return err
}

// logWhere compiles a filter to a condition on the logs view, as Logs does.
func (s *Service) logWhere(text string) (string, []any, error) {
	e, err := filter.Parse(text)
	if err != nil {
		return "", nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	where, args, err := filter.Compile(e, s.dialect)
	if err != nil {
		return "", nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return where, args, nil
}

// LogHistogram counts the records in the range that match the filter, by
// step and by level, with Logs' filter semantics.
func (s *Service) LogHistogram(ctx context.Context, q LogHistogramQuery) (*LogHistogram, error) {
	if err := checkRange(q.Range); err != nil {
		return nil, err
	}
	rng := q.Range.To.Sub(q.Range.From)
	step := q.Step
	if step == 0 {
		step = DefaultStep(rng)
	}
	if err := checkStep(rng, step, logHistMaxSteps); err != nil {
		return nil, err
	}
	where, filterArgs, err := s.logWhere(q.Filter)
	if err != nil {
		return nil, err
	}

	// The store decides where steps start; ask it for the step holding the
	// range's start rather than assume its origin.
	var first time.Time
	err = s.scanRows(ctx, func(r *sql.Rows) error { return r.Scan(&first) },
		`SELECT `+s.dialect.TimeBucket("CAST(? AS TIMESTAMP)", step), q.Range.From.UTC())
	if err != nil {
		return nil, fmt.Errorf("cannot align steps: %w", err)
	}
	first = first.UTC()
	steps := int((q.Range.To.Sub(first) + step - 1) / step)
	h := &LogHistogram{Step: step, Buckets: make([]LogBucket, steps)}
	for i := range h.Buckets {
		h.Buckets[i].Time = first.Add(time.Duration(i) * step)
	}

	// The level bounds are the filter language's: telemetry's severity
	// ranges, so that level:warn and the warn bars count the same records.
	sev := func(lo, hi int32) string {
		return `count(*) FILTER (WHERE severity_number >= ` + strconv.Itoa(int(lo)) + ` AND severity_number < ` + strconv.Itoa(int(hi)) + `)`
	}
	stmt := `SELECT ` + s.dialect.TimeBucket("timestamp", step) + ` AS bucket, ` +
		sev(telemetry.SeverityError, 1<<30) + `, ` + sev(telemetry.SeverityWarn, telemetry.SeverityError) + `, ` +
		sev(telemetry.SeverityInfo, telemetry.SeverityWarn) + `, ` + sev(telemetry.SeverityTrace, telemetry.SeverityInfo) + `, ` +
		`count(*) FILTER (WHERE severity_number < ` + strconv.Itoa(telemetry.SeverityTrace) + `)
FROM logs WHERE timestamp >= ? AND timestamp < ? AND ` + where + `
GROUP BY bucket`
	args := append([]any{q.Range.From.UTC(), q.Range.To.UTC()}, filterArgs...)
	err = s.scanRows(ctx, func(r *sql.Rows) error {
		var b LogBucket
		if err := r.Scan(&b.Time, &b.Error, &b.Warn, &b.Info, &b.Debug, &b.Other); err != nil {
			return fmt.Errorf("cannot read histogram step: %w", err)
		}
		i := int(b.Time.UTC().Sub(first) / step)
		if i < 0 || i >= steps {
			return nil // cannot happen with a store that buckets as it aligned
		}
		b.Time = h.Buckets[i].Time
		h.Buckets[i] = b
		h.Total += b.Total()
		return nil
	}, stmt, args...)
	if err != nil {
		return nil, fmt.Errorf("cannot count logs: %w", err)
	}
	return h, nil
}
