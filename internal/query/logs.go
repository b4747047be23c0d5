package query

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/fibinc/telltale/internal/query/filter"
	"github.com/fibinc/telltale/internal/telemetry"
)

// LogRecord is one log record.
type LogRecord struct {
	Time           time.Time `json:"time"`
	ObservedTime   time.Time `json:"observed_time"`
	Level          string    `json:"level"` // telemetry.LevelName of SeverityNumber
	SeverityNumber int32     `json:"severity_number"`
	SeverityText   string    `json:"severity_text"`
	Body           string    `json:"body"`
	TraceID        string    `json:"trace_id,omitempty"`
	SpanID         string    `json:"span_id,omitempty"`
	RequestID      string    `json:"request_id,omitempty"`
	EventName      string    `json:"event_name,omitempty"`
	Source         string    `json:"source,omitempty"`
	Resource
	ScopeName    string          `json:"scope_name,omitempty"`
	ScopeVersion string          `json:"scope_version,omitempty"`
	Attributes   json.RawMessage `json:"attributes"`
}

const logColumns = `timestamp, observed_timestamp, severity_number, severity_text, body, trace_id, span_id,
	request_id, event_name, source, scope_name, scope_version, attributes, ` + resourceColumns

// scanLog reads a row of logColumns followed by the columns for extra.
func scanLog(rows *sql.Rows, extra ...any) (LogRecord, error) {
	var l LogRecord
	var attrs, resAttrs string
	dest := append([]any{&l.Time, &l.ObservedTime, &l.SeverityNumber, &l.SeverityText, &l.Body, &l.TraceID, &l.SpanID,
		&l.RequestID, &l.EventName, &l.Source, &l.ScopeName, &l.ScopeVersion, &attrs}, l.Resource.dest(&resAttrs)...)
	if err := rows.Scan(append(dest, extra...)...); err != nil {
		return l, fmt.Errorf("cannot read log record: %w", err)
	}
	l.Level = telemetry.LevelName(l.SeverityNumber)
	l.Attributes = rawJSON(attrs, "{}")
	l.ResourceAttributes = rawJSON(resAttrs, "{}")
	return l, nil
}

// LogQuery selects log records.
type LogQuery struct {
	Range TimeRange
	// Filter is a query in the filter language (package filter); "" matches
	// every record.
	Filter string
	Limit  int
	// Cursor is the NextCursor of the previous page, "" for the first.
	Cursor string
}

// LogPage is one page of log records, newest first.
type LogPage struct {
	Records []LogRecord `json:"records"`
	// NextCursor fetches the next page; it is "" on the last page.
	NextCursor string `json:"next_cursor,omitempty"`
}

// logTiebreak orders records with equal timestamps. The logs have no row
// key, so a hash of the fields that tell such records apart stands in:
// records it cannot tell apart are copies, and a page boundary between
// copies shows one of them.
const logTiebreak = `hash(observed_timestamp, service_name, service_instance_id, body, attributes)`

// Logs returns the records in the range that match the filter, newest first,
// one page at a time.
func (s *Service) Logs(ctx context.Context, q LogQuery) (*LogPage, error) {
	if err := checkRange(q.Range); err != nil {
		return nil, err
	}
	e, err := filter.Parse(q.Filter)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	where, filterArgs, err := filter.Compile(e, s.dialect)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	stmt := `SELECT ` + logColumns + `, ` + logTiebreak + ` AS tiebreak FROM logs
WHERE timestamp >= ? AND timestamp < ? AND ` + where
	args := append([]any{q.Range.From.UTC(), q.Range.To.UTC()}, filterArgs...)
	if q.Cursor != "" {
		c, err := decodeCursor(q.Cursor)
		if err != nil {
			return nil, err
		}
		// database/sql refuses uint64 arguments above MaxInt64.
		stmt += ` AND (timestamp < ? OR (timestamp = ? AND ` + logTiebreak + ` < CAST(? AS UBIGINT)))`
		args = append(args, c.time, c.time, strconv.FormatUint(c.tiebreak, 10))
	}
	limit := s.limit(q.Limit)
	stmt += ` ORDER BY timestamp DESC, tiebreak DESC LIMIT ?`
	args = append(args, limit+1)

	page := &LogPage{Records: []LogRecord{}}
	var last logCursor
	err = s.scanRows(ctx, func(r *sql.Rows) error {
		var tb uint64
		l, err := scanLog(r, &tb)
		switch {
		case err != nil:
			return err
		case len(page.Records) == limit: // the extra row: there is a next page
			page.NextCursor = last.encode()
		default:
			page.Records = append(page.Records, l)
			last = logCursor{l.Time, tb}
		}
		return nil
	}, stmt, args...)
	if err != nil {
		return nil, fmt.Errorf("cannot search logs: %w", err)
	}
	return page, nil
}

// logCursor is the position after the last record of a page.
type logCursor struct {
	time     time.Time
	tiebreak uint64
}

func (c logCursor) encode() string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(c.time.UnixMicro()))
	binary.BigEndian.PutUint64(b[8:], c.tiebreak)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func decodeCursor(s string) (logCursor, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) != 16 {
		return logCursor{}, invalidf("cursor %q is not one this server returned", s)
	}
	return logCursor{
		time:     time.UnixMicro(int64(binary.BigEndian.Uint64(b[:8]))).UTC(),
		tiebreak: binary.BigEndian.Uint64(b[8:]),
	}, nil
}
