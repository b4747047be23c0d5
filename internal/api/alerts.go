package api

import (
	"context"
	"fmt"
	"net/http"

	"github.com/fibinc/telltale/internal/alert"
	"github.com/fibinc/telltale/internal/query"
	"github.com/fibinc/telltale/internal/state"
)

// The alert rules and their active alerts (internal/alert).

// AlertReader reads the alert evaluator's rules, instances and history;
// *alert.Evaluator implements it.
type AlertReader interface {
	Rules() []alert.RuleStatus
	Rule(name string) (alert.RuleStatus, bool)
	History(ctx context.Context, name string, limit int) ([]state.AlertTransition, error)
	Alerts() []alert.ActiveAlert
}

// defaultHistoryLimit is the transitions a rule's detail lists without a
// limit parameter.
const defaultHistoryLimit = 100

// ruleDetail is a rule with its history.
type ruleDetail struct {
	alert.RuleStatus
	History []state.AlertTransition `json:"history"`
}

// registerAlerts adds the alert endpoints; without a reader the lists are
// empty and every rule is unknown.
func registerAlerts(mux *http.ServeMux, h *handler, a AlertReader) {
	mux.Handle("/api/v1/rules", h.serve(func(r *http.Request) (any, error) {
		if a == nil {
			return response{Data: []alert.RuleStatus{}}, nil
		}
		return response{Data: a.Rules()}, nil
	}))
	mux.Handle("/api/v1/rules/{name}", h.serve(func(r *http.Request) (any, error) {
		limit, err := intParam(r, "limit")
		if err != nil {
			return nil, err
		}
		if limit == 0 {
			limit = defaultHistoryLimit
		}
		name := r.PathValue("name")
		if a == nil {
			return nil, fmt.Errorf("rule %q: %w", name, query.ErrNotFound)
		}
		s, ok := a.Rule(name)
		if !ok {
			return nil, fmt.Errorf("rule %q: %w", name, query.ErrNotFound)
		}
		hist, err := a.History(r.Context(), name, limit)
		if err != nil {
			return nil, err
		}
		return response{Data: ruleDetail{s, hist}}, nil
	}))
	mux.Handle("/api/v1/alerts", h.serve(func(r *http.Request) (any, error) {
		if a == nil {
			return response{Data: []alert.ActiveAlert{}}, nil
		}
		return response{Data: a.Alerts()}, nil
	}))
}
