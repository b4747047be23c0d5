package alert

import (
	"context"
	"fmt"
	"time"

	"github.com/fibinc/telltale/internal/config"
	"github.com/fibinc/telltale/internal/state"
)

// issueScanLimit bounds the issues read per evaluation: the most recently
// seen ones, which include every issue first seen or regressed in any
// window shorter than the time the oldest of them was last seen.
const issueScanLimit = 10_000

type issueReader interface {
	Issues(ctx context.Context, f state.IssueFilter) ([]state.Issue, error)
}

// issueSource counts the issues first seen (event new) or regressed (event
// regression) in the window, of one service or all.
type issueSource struct {
	st  issueReader
	src config.IssueSource
}

func newIssueSource(st issueReader, s config.IssueSource) (Source, error) {
	switch s.Event {
	case "":
		s.Event = "new"
	case "new", "regression":
	default:
		return nil, fmt.Errorf("unknown issue event %q: want new or regression", s.Event)
	}
	return &issueSource{st: st, src: s}, nil
}

func (s *issueSource) Read(ctx context.Context, at time.Time, window time.Duration) ([]Sample, error) {
	if s.st == nil {
		return nil, fmt.Errorf("issues source: state store %w", errUnavailable)
	}
	issues, err := s.st.Issues(ctx, state.IssueFilter{Limit: issueScanLimit})
	if err != nil {
		return nil, fmt.Errorf("cannot read issues: %w", err)
	}
	from := at.Add(-window)
	n := 0
	for _, iss := range issues {
		if s.src.Service != "" && iss.Service != s.src.Service {
			continue
		}
		t := iss.FirstSeen
		if s.src.Event == "regression" {
			t = iss.RegressedAt
		}
		if t.After(from) && !t.After(at) {
			n++
		}
	}
	return []Sample{{Value: float64(n)}}, nil
}

func (s *issueSource) counts() {}
