package auth

import (
	"net/http"
)

// rule is one line of the access policy.
type rule struct {
	// pattern is an http.ServeMux pattern: rules match requests exactly as
	// the server's muxes route them.
	pattern string
	// role is the least role allowed; RoleNone lets anyone in.
	role Role
	// action names the change in the audit log; requests other than
	// GET/HEAD of a rule with an action are recorded after they are
	// answered. Empty for reads and for the routes of this package, which
	// record what they do themselves.
	action string
	// read marks a POST that only reads (PromQL's form posts): it is
	// neither audited nor refused to viewers.
	read bool
}

// policy is the access policy: who may call what. A request that no rule
// matches needs a viewer for GET and HEAD and an admin for anything else,
// so that a route added without a rule fails closed. See
// docs/design/security.md.
var policy = []rule{
	// Anyone: health, metrics, assets, and the ways to log in.
	{pattern: "GET /healthz"},
	{pattern: "GET /readyz"},
	{pattern: "GET /metrics"},
	{pattern: "GET /static/"},
	{pattern: "GET /login"},
	{pattern: "POST /login"},
	{pattern: "GET /setup"},
	{pattern: "POST /setup"},
	{pattern: "GET /auth/oidc/login"},
	{pattern: "GET /auth/oidc/callback"},
	{pattern: "POST /logout"},
	{pattern: "POST /api/v1/login"},
	{pattern: "POST /api/v1/logout"},
	// Push checks carry their own per-check token.
	{pattern: "GET /api/v1/push/{name}"},
	{pattern: "POST /api/v1/push/{name}"},

	// Viewers: every other GET (the default), PromQL reads sent as form
	// posts, their own profile and API tokens.
	{pattern: "POST /api/v1/query", role: RoleViewer, read: true},
	{pattern: "POST /api/v1/query_range", role: RoleViewer, read: true},
	{pattern: "POST /api/v1/series", role: RoleViewer, read: true},
	{pattern: "POST /api/v1/labels", role: RoleViewer, read: true},
	{pattern: "GET /api/v1/me", role: RoleViewer},
	{pattern: "GET /api/v1/tokens", role: RoleViewer},
	{pattern: "POST /api/v1/tokens", role: RoleViewer},
	{pattern: "DELETE /api/v1/tokens/{id}", role: RoleViewer},
	{pattern: "GET /settings", role: RoleViewer},
	{pattern: "GET /settings/tokens", role: RoleViewer},
	{pattern: "POST /settings/tokens", role: RoleViewer},
	{pattern: "POST /settings/tokens/{id}/revoke", role: RoleViewer},

	// Editors: issues and silences.
	{pattern: "POST /errors/{id}/status", role: RoleEditor, action: "issue.status"},
	{pattern: "POST /api/v1/issues/{id}/status", role: RoleEditor, action: "issue.status"},
	{pattern: "POST /silences", role: RoleEditor, action: "silence.create"},
	{pattern: "POST /silences/{id}/expire", role: RoleEditor, action: "silence.expire"},
	{pattern: "POST /api/v1/silences", role: RoleEditor, action: "silence.create"},
	{pattern: "DELETE /api/v1/silences/{id}", role: RoleEditor, action: "silence.expire"},

	// Admins: users, every token, projects and ingest keys, the
	// configuration (whose document may hold webhook secrets, so reading
	// it too), the audit log, profiles.
	{pattern: "/settings/users", role: RoleAdmin},
	{pattern: "/settings/users/", role: RoleAdmin},
	{pattern: "/api/v1/users", role: RoleAdmin},
	{pattern: "/api/v1/users/", role: RoleAdmin},
	{pattern: "GET /settings/audit", role: RoleAdmin},
	{pattern: "GET /api/v1/audit", role: RoleAdmin},
	{pattern: "/settings/projects", role: RoleAdmin, action: "project.change"},
	{pattern: "/settings/projects/", role: RoleAdmin, action: "project.change"},
	{pattern: "POST /api/v1/projects", role: RoleAdmin, action: "project.create"},
	{pattern: "/api/v1/projects/", role: RoleAdmin, action: "project.change"},
	{pattern: "GET /api/v1/projects/", role: RoleViewer},
	{pattern: "/api/v1/config", role: RoleAdmin, action: "config.put"},
	{pattern: "POST /-/reload", role: RoleAdmin, action: "config.reload"},
	{pattern: "/debug/pprof/", role: RoleAdmin},
}

// defaultAction is the audit action of a change no rule names.
const defaultAction = "request"

// policyMux finds the rule of a request.
type policyMux struct {
	mux   *http.ServeMux
	rules []rule
}

// ruleRef is the marker handler of a rule: its index in the policy.
type ruleRef int

func (ruleRef) ServeHTTP(http.ResponseWriter, *http.Request) {}

func newPolicyMux(rules []rule) *policyMux {
	mux := http.NewServeMux()
	for i, r := range rules {
		mux.Handle(r.pattern, ruleRef(i))
	}
	return &policyMux{mux: mux, rules: rules}
}

// lookup returns the rule of r. A request no rule matches gets the
// default: viewer for GET and HEAD, admin otherwise.
func (m *policyMux) lookup(r *http.Request) rule {
	if h, _ := m.mux.Handler(r); h != nil {
		if i, ok := h.(ruleRef); ok {
			return m.rules[i]
		}
	}
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return rule{pattern: "(default read)", role: RoleViewer}
	}
	return rule{pattern: "(default change)", role: RoleAdmin, action: defaultAction}
}
