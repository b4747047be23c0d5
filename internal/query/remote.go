package query

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/fibinc/telltale/internal/telemetry"
)

// maxChain bounds a remote chain; real call depths are far smaller.
const maxChain = 32

// remoteChain builds the chain of errors across services behind ev from its
// trace. From the span where ev happened it looks, within the same service,
// for calls into another service whose server span failed; that failure is
// the next link, and the search goes on from there. Each link takes its
// exception from an error event recorded in that service's part of the
// trace, or else from the span's exception event or status message. This
// needs nothing but spans, so it works for any OpenTelemetry sender.
func (s *Service) remoteChain(ctx context.Context, ev *telemetry.ErrorEvent) ([]ChainLink, error) {
	if ev.TraceID == "" {
		return nil, nil
	}
	spans, _, err := s.spans(ctx, "trace_id = ?", ev.TraceID)
	if err != nil {
		return nil, fmt.Errorf("cannot read trace of event %s: %w", ev.EventID, err)
	}
	if len(spans) == 0 {
		return nil, nil
	}
	byID := make(map[string]*Span, len(spans))
	children := map[string][]*Span{}
	for i := range spans {
		sp := &spans[i]
		byID[sp.SpanID] = sp
		children[sp.ParentSpanID] = append(children[sp.ParentSpanID], sp)
	}
	start := byID[ev.SpanID]
	if start == nil {
		start = entrySpan(spans, ev.ServiceName)
	}
	if start == nil {
		return nil, nil
	}

	events, err := s.traceEvents(ctx, ev.TraceID)
	if err != nil {
		return nil, err
	}
	chain := []ChainLink{linkOf(ev, start)}
	seen := map[string]bool{start.SpanID: true}
	for len(chain) < maxChain {
		callee := failedCallee(start, children)
		if callee == nil || seen[callee.SpanID] {
			break
		}
		seen[callee.SpanID] = true
		chain = append(chain, calleeLink(callee, children, events))
		start = callee
	}
	if len(chain) == 1 {
		return nil, nil
	}
	return chain, nil
}

// entrySpan is the first server span of service in the trace, or its first
// span of any kind.
func entrySpan(spans []Span, service string) *Span {
	var first *Span
	for i := range spans {
		sp := &spans[i]
		if sp.Service != service {
			continue
		}
		if sp.Kind == "server" || sp.Kind == "consumer" {
			return sp
		}
		if first == nil {
			first = sp
		}
	}
	return first
}

// failedCallee searches the part of the trace that runs in from's service,
// below from, for a span of another service that failed, and returns the
// earliest. Spans are in start order, so children lists are too.
func failedCallee(from *Span, children map[string][]*Span) *Span {
	queue := []*Span{from}
	for len(queue) > 0 {
		sp := queue[0]
		queue = queue[1:]
		for _, c := range children[sp.SpanID] {
			if c.Service != from.Service {
				if c.StatusCode == "error" {
					return c
				}
				continue
			}
			queue = append(queue, c)
		}
	}
	return nil
}

// inService returns the spans of root's service at or below root, stopping
// at calls into other services.
func inService(root *Span, children map[string][]*Span) []*Span {
	out := []*Span{root}
	for i := 0; i < len(out); i++ {
		for _, c := range children[out[i].SpanID] {
			if c.Service == root.Service {
				out = append(out, c)
			}
		}
	}
	return out
}

// traceEvent is an error event of a trace, with what a chain link shows.
type traceEvent struct {
	spanID  string
	eventID string
	issueID int64
	time    time.Time
	exc     telemetry.Exception
}

// traceEvents reads the error events of a trace.
func (s *Service) traceEvents(ctx context.Context, traceID string) (map[string][]traceEvent, error) {
	out := map[string][]traceEvent{}
	err := s.scanRows(ctx, func(r *sql.Rows) error {
		var te traceEvent
		var body string
		if err := r.Scan(&te.spanID, &te.eventID, &te.issueID, &te.time, &body); err != nil {
			return err
		}
		var ev telemetry.ErrorEvent
		if err := json.Unmarshal([]byte(body), &ev); err != nil {
			return fmt.Errorf("cannot decode stored event %s: %w", te.eventID, err)
		}
		if ex := ev.MainException(); ex != nil {
			te.exc = *ex
		} else {
			te.exc = telemetry.Exception{Value: ev.Message, Frames: ev.Stacktrace}
		}
		out[te.spanID] = append(out[te.spanID], te)
		return nil
	}, `SELECT span_id, event_id, issue_id, timestamp, body FROM error_events WHERE trace_id = ? ORDER BY timestamp LIMIT ?`, traceID, s.maxRows)
	if err != nil {
		return nil, fmt.Errorf("cannot read error events of trace %s: %w", traceID, err)
	}
	return out, nil
}

func linkOf(ev *telemetry.ErrorEvent, sp *Span) ChainLink {
	l := ChainLink{Service: ev.ServiceName, Operation: sp.Name, SpanID: sp.SpanID, EventID: ev.EventID, IssueID: ev.IssueID}
	if ex := ev.MainException(); ex != nil {
		l.Type, l.Value, l.Frames = ex.Type, ex.Value, ex.Frames
	} else {
		l.Value, l.Frames = ev.Message, ev.Stacktrace
	}
	return l
}

// calleeLink describes the failure of a callee's server span: the error
// event recorded closest to it (on the span itself, else the latest in its
// service's part of the trace), else the span's own exception event or
// status.
func calleeLink(sp *Span, children map[string][]*Span, events map[string][]traceEvent) ChainLink {
	l := ChainLink{Service: sp.Service, Operation: sp.Name, SpanID: sp.SpanID}
	var best *traceEvent
	for i, local := range inService(sp, children) {
		evs := events[local.SpanID]
		if len(evs) == 0 {
			continue
		}
		te := latest(evs)
		if i == 0 {
			best = te
			break
		}
		if best == nil || te.time.After(best.time) {
			best = te
		}
	}
	if best != nil {
		l.EventID, l.IssueID = best.eventID, best.issueID
		l.Type, l.Value, l.Frames = best.exc.Type, best.exc.Value, best.exc.Frames
		return l
	}
	var spanEvents []struct {
		Name       string         `json:"name"`
		Attributes map[string]any `json:"attributes"`
	}
	json.Unmarshal(sp.Events, &spanEvents)
	for _, e := range slices.Backward(spanEvents) {
		if e.Name == "exception" {
			l.Type, _ = e.Attributes["exception.type"].(string)
			l.Value, _ = e.Attributes["exception.message"].(string)
			if l.Value == "" {
				l.Value = sp.StatusMessage
			}
			return l
		}
	}
	l.Value = sp.StatusMessage
	return l
}

// latest returns the latest of a span's events, preferring one with a stack:
// a span often has both an exception and an error log line about it.
func latest(evs []traceEvent) *traceEvent {
	var best *traceEvent
	for i := range evs {
		te := &evs[i]
		if best == nil || len(te.exc.Frames) > 0 && len(best.exc.Frames) == 0 ||
			(len(te.exc.Frames) > 0) == (len(best.exc.Frames) > 0) && !te.time.Before(best.time) {
			best = te
		}
	}
	return best
}
