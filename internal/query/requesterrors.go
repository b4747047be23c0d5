package query

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/fibinc/telltale/internal/telemetry"
)

// maxRequestErrors caps the error events read for one request; a request
// that failed more often than this is a loop, and its first errors say why.
const maxRequestErrors = 100

// RequestError is one error of a request, with the chain of errors across
// services below it.
type RequestError struct {
	Time    time.Time `json:"timestamp"`
	Service string    `json:"service"`
	TraceID string    `json:"trace_id,omitempty"`
	SpanID  string    `json:"span_id,omitempty"`
	// EventID and IssueID are "" and 0 for an error known only from a
	// failed span, when no error event was recorded in its trace.
	EventID string `json:"event_id,omitempty"`
	IssueID int64  `json:"issue_id,omitempty"`
	Title   string `json:"title"`
	// Chain is this error first, then the error of the service it called,
	// and so on down, as in Event.RemoteChain; it has at least one link.
	Chain []ChainLink `json:"chain"`
}

// RequestErrors returns the errors of req, a result of Request: the error
// events of its traces and of its request ids, each with its remote chain
// built from req's spans, oldest first. An event that is a link further
// down another event's chain is left out, as that chain shows it: a call
// that failed in two services is one error with two links. A trace with
// failed spans but no error event gives one error, from its topmost failed
// span, so that senders of spans only still see the chain.
func (s *Service) RequestErrors(ctx context.Context, req *Request) ([]RequestError, error) {
	var stored []storedEvent
	seen := map[string]bool{}
	read := func(where string, args []any) error {
		evs, err := s.events(ctx, where, args, maxRequestErrors)
		if err != nil {
			return fmt.Errorf("cannot read errors of request %q: %w", req.ID, err)
		}
		for _, e := range evs {
			if !seen[e.ev.EventID] && len(stored) < maxRequestErrors {
				seen[e.ev.EventID] = true
				stored = append(stored, e)
			}
		}
		return nil
	}
	traces := map[string]*traceIndex{}
	if len(req.Traces) > 0 {
		var lo, hi time.Time
		args := []any{nil, nil}
		for i, t := range req.Traces {
			if end := t.Start.Add(time.Duration(t.DurationNs)); i == 0 || end.After(hi) {
				hi = end
			}
			if i == 0 || t.Start.Before(lo) {
				lo = t.Start
			}
			args = append(args, t.TraceID)
			traces[t.TraceID] = indexTrace(t)
		}
		args[0], args[1] = lo.Add(-traceSlack).UTC(), hi.Add(traceSlack).UTC()
		if err := read(`timestamp >= ? AND timestamp <= ? AND trace_id IN (`+placeholders(len(req.Traces))+`)`, args); err != nil {
			return nil, err
		}
	}
	rids := requestIDs(req)
	if err := read(`request_id IN (`+placeholders(len(rids))+`)`, anySlice(rids)); err != nil {
		return nil, err
	}

	// The events of each trace by span, for the links of callees.
	byTrace := map[string]map[string][]traceEvent{}
	for _, e := range stored {
		ev := &e.ev
		if traces[ev.TraceID] == nil {
			continue
		}
		if byTrace[ev.TraceID] == nil {
			byTrace[ev.TraceID] = map[string][]traceEvent{}
		}
		te := traceEvent{spanID: ev.SpanID, eventID: ev.EventID, issueID: ev.IssueID, time: ev.Time}
		l := eventLink(ev)
		te.exc.Type, te.exc.Value, te.exc.Frames = l.Type, l.Value, l.Frames
		byTrace[ev.TraceID][ev.SpanID] = append(byTrace[ev.TraceID][ev.SpanID], te)
	}

	out := []RequestError{}
	for _, e := range stored {
		ev := &e.ev
		re := RequestError{Time: ev.Time, Service: ev.ServiceName, TraceID: ev.TraceID, SpanID: ev.SpanID,
			EventID: ev.EventID, IssueID: ev.IssueID, Title: ev.Title}
		first := eventLink(ev)
		ti := traces[ev.TraceID]
		var start *Span
		if ti != nil {
			if start = ti.byID[ev.SpanID]; start == nil {
				start = entrySpan(ti.spans, ev.ServiceName)
			}
		}
		if start == nil {
			re.Chain = []ChainLink{first}
		} else {
			first.Operation, first.SpanID = start.Name, start.SpanID
			re.Chain = chainBelow(first, start, ti.children, byTrace[ev.TraceID])
		}
		out = append(out, re)
	}
	for _, t := range req.Traces {
		if byTrace[t.TraceID] != nil {
			continue
		}
		i := slices.IndexFunc(t.Spans, func(sp Span) bool { return sp.StatusCode == "error" })
		if i < 0 {
			continue
		}
		ti, start := traces[t.TraceID], &t.Spans[i]
		first := calleeLink(start, ti.children, nil)
		re := RequestError{Time: start.Start, Service: start.Service, TraceID: t.TraceID, SpanID: start.SpanID,
			Chain: chainBelow(first, start, ti.children, nil)}
		out = append(out, re)
	}

	// Fold the events that are links of another error's chain.
	below := map[string]bool{}
	for _, re := range out {
		for _, l := range re.Chain[1:] {
			if l.EventID != "" {
				below[l.EventID] = true
			}
		}
	}
	out = slices.DeleteFunc(out, func(re RequestError) bool { return re.EventID != "" && below[re.EventID] })
	for i := range out {
		if out[i].Title == "" {
			out[i].Title = linkTitle(out[i].Chain[0])
		}
	}
	slices.SortStableFunc(out, func(a, b RequestError) int {
		return cmp.Or(a.Time.Compare(b.Time), cmp.Compare(a.EventID, b.EventID))
	})
	return out, nil
}

// traceIndex is a trace's spans by id and by parent.
type traceIndex struct {
	spans    []Span
	byID     map[string]*Span
	children map[string][]*Span
}

func indexTrace(t *Trace) *traceIndex {
	ti := &traceIndex{spans: t.Spans, byID: make(map[string]*Span, len(t.Spans)), children: map[string][]*Span{}}
	for i := range t.Spans {
		sp := &t.Spans[i]
		ti.byID[sp.SpanID] = sp
		ti.children[sp.ParentSpanID] = append(ti.children[sp.ParentSpanID], sp)
	}
	return ti
}

// chainBelow follows failed calls down from start, whose link is first, as
// remoteChain does.
func chainBelow(first ChainLink, start *Span, children map[string][]*Span, events map[string][]traceEvent) []ChainLink {
	chain := []ChainLink{first}
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
	return chain
}

// requestIDs are the request ids of req: the id asked for and those its
// spans and records carry, at most maxRequestTraces of them.
func requestIDs(req *Request) []string {
	ids := []string{req.ID}
	seen := map[string]bool{req.ID: true}
	add := func(id string) {
		if id != "" && !seen[id] && len(ids) < maxRequestTraces {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	for _, t := range req.Traces {
		for _, sp := range t.Spans {
			add(sp.RequestID)
		}
	}
	for _, l := range req.Logs {
		add(l.RequestID)
	}
	return ids
}

func linkTitle(l ChainLink) string {
	switch {
	case l.Type != "" && l.Value != "":
		return l.Type + ": " + l.Value
	case l.Type != "":
		return l.Type
	case l.Value != "":
		return l.Value
	}
	return "failed " + l.Operation
}

// eventLink is an event's link of a chain, without its span's name.
func eventLink(ev *telemetry.ErrorEvent) ChainLink {
	l := ChainLink{Service: ev.ServiceName, SpanID: ev.SpanID, EventID: ev.EventID, IssueID: ev.IssueID}
	if ex := ev.MainException(); ex != nil {
		l.Type, l.Value, l.Frames = ex.Type, ex.Value, ex.Frames
	} else {
		l.Value, l.Frames = ev.Message, ev.Stacktrace
	}
	return l
}
