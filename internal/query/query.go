// Package query is the one place that reads telemetry. The JSON API, the web
// UI, the CLI and the alert evaluator all call a *Service; nothing else
// queries the store.
//
// Every method takes a time range, caps the rows it returns and runs under a
// timeout, so that no request can scan or return without bound. SQL is built
// from fixed text plus dialect fragments; user input only travels as
// arguments.
package query

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/fibinc/telltale/internal/grouping"
	"github.com/fibinc/telltale/internal/query/dialect"
)

// Store is what the query service needs from a store.Store.
type Store interface {
	Query(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	Dialect() string
}

// Options configure a Service. Only Store is required.
type Options struct {
	Store Store
	// State holds issue status and counts; without it the issue methods
	// fail.
	State IssueState
	// Grouping must match the issue tracker's, to explain its grouping.
	Grouping grouping.Options
	// Timeout bounds every query. Default 10s.
	Timeout time.Duration
	// MaxRows caps the rows any method returns, whatever the caller asks.
	// Default 10,000.
	MaxRows int
	// DefaultRows is the row limit when the caller gives none. Default 100.
	DefaultRows int
	// RawRED computes request statistics from raw spans alone, as before
	// the store kept RED aggregates: exact percentiles, but a scan of every
	// span in the range. Tests compare the two.
	RawRED bool
}

// Service answers queries over the stored telemetry.
type Service struct {
	store   Store
	state   IssueState
	grouper *grouping.Grouper
	dialect dialect.Dialect
	timeout time.Duration
	maxRows int
	defRows int
	rawRED  bool
}

// New returns a query service.
func New(opt Options) (*Service, error) {
	if opt.Store == nil {
		return nil, errors.New("cannot create query service: no store")
	}
	d, err := dialect.For(opt.Store.Dialect())
	if err != nil {
		return nil, fmt.Errorf("cannot create query service: %w", err)
	}
	if opt.Timeout <= 0 {
		opt.Timeout = 10 * time.Second
	}
	if opt.MaxRows <= 0 {
		opt.MaxRows = 10_000
	}
	if opt.DefaultRows <= 0 {
		opt.DefaultRows = 100
	}
	return &Service{store: opt.Store, state: opt.State, grouper: grouping.New(opt.Grouping), dialect: d, timeout: opt.Timeout, maxRows: opt.MaxRows, defRows: opt.DefaultRows, rawRED: opt.RawRED}, nil
}

// TimeRange is a half-open interval [From, To).
type TimeRange struct {
	From, To time.Time
}

// ErrInvalid marks errors caused by the caller's parameters; the API answers
// them with 400.
var ErrInvalid = errors.New("invalid query")

// ErrNotFound marks lookups of things that do not exist; the API answers 404.
var ErrNotFound = errors.New("not found")

// invalidf returns an error wrapping ErrInvalid.
func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// limit applies the default and the cap to a caller's row limit.
func (s *Service) limit(n int) int {
	if n <= 0 {
		return s.defRows
	}
	return min(n, s.maxRows)
}

// query runs q under the service timeout. The returned cancel func must be
// called after the rows are read.
func (s *Service) query(ctx context.Context, q string, args ...any) (*sql.Rows, context.CancelFunc, error) {
	if err := checkArgs(args); err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	rows, err := s.store.Query(ctx, q, args...)
	if err != nil {
		cancel()
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil, nil, fmt.Errorf("query timed out after %s: %w", s.timeout, context.DeadlineExceeded)
		}
		return nil, nil, fmt.Errorf("cannot run query: %w", err)
	}
	return rows, cancel, nil
}
