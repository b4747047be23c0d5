package query

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// scanRows runs q under the service timeout and calls scan for every row.
func (s *Service) scanRows(ctx context.Context, scan func(*sql.Rows) error, q string, args ...any) error {
	// The deadline is set here as well as in s.query so that a timeout while
	// rows are read, not only while the query starts, is reported as one.
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	rows, done, err := s.query(ctx, q, args...)
	if err != nil {
		return err
	}
	defer done()
	defer rows.Close()
	for rows.Next() {
		if err = scan(rows); err != nil {
			break
		}
	}
	if err == nil {
		err = rows.Err()
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return fmt.Errorf("query timed out after %s: %w", s.timeout, context.DeadlineExceeded)
	case ctx.Err() != nil:
		return fmt.Errorf("query abandoned: %w", ctx.Err())
	}
	return fmt.Errorf("cannot read rows: %w", err)
}

// checkRange rejects a range the API could not have meant.
func checkRange(r TimeRange) error {
	if r.From.IsZero() || r.To.IsZero() {
		return invalidf("time range needs both a start and an end")
	}
	if !r.From.Before(r.To) {
		return invalidf("time range start %s is not before its end %s",
			r.From.UTC().Format(time.RFC3339Nano), r.To.UTC().Format(time.RFC3339Nano))
	}
	return nil
}

// Resource is the resource a span or log record came from.
type Resource struct {
	Service            string          `json:"service"`
	ServiceVersion     string          `json:"service_version,omitempty"`
	InstanceID         string          `json:"service_instance_id,omitempty"`
	Environment        string          `json:"environment,omitempty"`
	Host               string          `json:"host,omitempty"`
	AvailabilityZone   string          `json:"availability_zone,omitempty"`
	ResourceAttributes json.RawMessage `json:"resource_attributes"`
}

// resourceColumns are the columns scanned by Resource.dest, in order.
const resourceColumns = `service_name, service_version, service_instance_id, deployment_environment,
	host_name, availability_zone, resource_attributes`

// dest returns scan destinations for resourceColumns; attrs receives the
// attribute text, for rawJSON.
func (r *Resource) dest(attrs *string) []any {
	return []any{&r.Service, &r.ServiceVersion, &r.InstanceID, &r.Environment, &r.Host, &r.AvailabilityZone, attrs}
}

// rawJSON passes stored JSON text through to the response. Text that is not
// valid JSON (an old or foreign writer) becomes a JSON string rather than
// breaking the whole response.
func rawJSON(text, empty string) json.RawMessage {
	switch {
	case text == "":
		return json.RawMessage(empty)
	case json.Valid([]byte(text)):
		return json.RawMessage(text)
	}
	quoted, _ := json.Marshal(text) // a string always marshals
	return quoted
}

// millis converts nanoseconds to fractional milliseconds.
func millis(ns int64) float64 { return float64(ns) / 1e6 }

// isHexID reports whether id is n lower-case hex digits.
func isHexID(id string, n int) bool {
	if len(id) != n {
		return false
	}
	for i := range len(id) {
		if c := id[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// stringList scans a SQL list of strings.
type stringList []string

func (l *stringList) Scan(src any) error {
	vs, ok := src.([]any)
	if !ok && src != nil {
		return fmt.Errorf("cannot scan %T into a string list", src)
	}
	*l = (*l)[:0]
	for _, v := range vs {
		if s, ok := v.(string); ok {
			*l = append(*l, s)
		}
	}
	return nil
}
