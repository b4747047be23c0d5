package oidc

import (
	"fmt"
	"sort"
	"strings"
)

// claims are an ID token's (and userinfo's) claims as decoded JSON.
type claims struct {
	m map[string]any
}

func (c claims) str(name string) string {
	s, _ := c.m[name].(string)
	return s
}

// verified reads email_verified, which some providers send as the string
// "true" rather than a boolean; present is false when there is none.
func (c claims) verified() (verified, present bool) {
	switch v := c.m["email_verified"].(type) {
	case bool:
		return v, true
	case string:
		return strings.EqualFold(v, "true"), true
	}
	return false, false
}

// lookup finds a claim by its exact name first (Auth0-style claims are
// URLs full of dots), then by walking a dotted path through nested objects
// (Keycloak's realm_access.roles).
func (c claims) lookup(name string) (any, bool) {
	if v, ok := c.m[name]; ok {
		return v, true
	}
	if !strings.Contains(name, ".") {
		return nil, false
	}
	var cur any = c.m
	for part := range strings.SplitSeq(name, ".") {
		obj, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = obj[part]; !ok {
			return nil, false
		}
	}
	return cur, true
}

func (c claims) has(name string) bool {
	_, ok := c.lookup(name)
	return ok
}

// values returns a claim's string values: a string is one value, a list
// gives its strings; anything else gives none.
func (c claims) values(name string) []string {
	v, _ := c.lookup(name)
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, e := range v {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// roleRank orders the roles Identity.Role can name.
var roleRank = map[string]int{"viewer": 1, "editor": 2, "admin": 3}

func normalizeRole(s string) (string, bool) {
	s = strings.ToLower(strings.TrimSpace(s))
	_, ok := roleRank[s]
	return s, ok
}

// pickRole returns the highest role the values map to ("" for none). With
// a role map only mapped values count; without one a value must be a role
// name itself.
func pickRole(values []string, roleMap map[string]string) string {
	best := ""
	for _, v := range values {
		var r string
		var ok bool
		if len(roleMap) > 0 {
			r, ok = roleMap[v]
		} else {
			r, ok = normalizeRole(v)
		}
		if ok && roleRank[r] > roleRank[best] {
			best = r
		}
	}
	return best
}

// ParseRoleMap parses the --oidc-role-map flag: comma-separated
// value=role pairs, e.g. "admins=admin,devs=editor". Roles are viewer,
// editor or admin (any case); a claim value may contain "=" (the last one
// separates the role) but not ","; spaces around either side are trimmed.
// An empty string gives an empty map.
func ParseRoleMap(s string) (map[string]string, error) {
	m := map[string]string{}
	if strings.TrimSpace(s) == "" {
		return m, nil
	}
	for pair := range strings.SplitSeq(s, ",") {
		pair = strings.TrimSpace(pair)
		i := strings.LastIndexByte(pair, '=')
		if i < 0 {
			return nil, fmt.Errorf("invalid OIDC role map entry %q: want value=role", pair)
		}
		key := strings.TrimSpace(pair[:i])
		if key == "" {
			return nil, fmt.Errorf("invalid OIDC role map entry %q: empty claim value", pair)
		}
		role, ok := normalizeRole(pair[i+1:])
		if !ok {
			return nil, fmt.Errorf("invalid OIDC role map entry %q: role must be viewer, editor or admin", pair)
		}
		if _, dup := m[key]; dup {
			return nil, fmt.Errorf("invalid OIDC role map: %q is mapped twice", key)
		}
		m[key] = role
	}
	return m, nil
}

// FormatRoleMap is ParseRoleMap's inverse, sorted by claim value.
func FormatRoleMap(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(k + "=" + m[k])
	}
	return b.String()
}
