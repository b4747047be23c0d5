package oidc

import (
	"encoding/json"
	"maps"
	"strings"
	"testing"
)

func TestParseRoleMap(t *testing.T) {
	cases := []struct {
		in      string
		want    map[string]string
		wantErr string
	}{
		{"", map[string]string{}, ""},
		{"  ", map[string]string{}, ""},
		{"admins=admin,devs=editor", map[string]string{"admins": "admin", "devs": "editor"}, ""},
		{" admins = Admin , all staff=viewer ", map[string]string{"admins": "admin", "all staff": "viewer"}, ""},
		{"team=ops=editor", map[string]string{"team=ops": "editor"}, ""},
		{"/telltale/admins=admin", map[string]string{"/telltale/admins": "admin"}, ""},
		{"admins", nil, "want value=role"},
		{"=admin", nil, "empty claim value"},
		{"admins=root", nil, "viewer, editor or admin"},
		{"admins=none", nil, "viewer, editor or admin"},
		{"admins=admin,", nil, "want value=role"},
		{"a=admin,a=viewer", nil, "mapped twice"},
	}
	for _, tc := range cases {
		got, err := ParseRoleMap(tc.in)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("ParseRoleMap(%q) error = %v, want one mentioning %q", tc.in, err, tc.wantErr)
			}
			continue
		}
		if err != nil || !maps.Equal(got, tc.want) {
			t.Errorf("ParseRoleMap(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	if got := FormatRoleMap(map[string]string{"devs": "editor", "admins": "admin"}); got != "admins=admin,devs=editor" {
		t.Errorf("FormatRoleMap = %q", got)
	}
}

// FuzzParseRoleMap: a parsed map has non-empty keys and valid roles, and
// formatting it parses back to the same map.
func FuzzParseRoleMap(f *testing.F) {
	for _, s := range []string{"", "admins=admin,devs=editor", "a=b=viewer", "x", "=admin", " a = Editor ,b=viewer", "a=admin,a=admin"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParseRoleMap(s)
		if err != nil {
			return
		}
		for k, v := range m {
			if k == "" || strings.ContainsRune(k, ',') || roleRank[v] == 0 {
				t.Fatalf("ParseRoleMap(%q) gave %q=%q", s, k, v)
			}
		}
		again, err := ParseRoleMap(FormatRoleMap(m))
		if err != nil || !maps.Equal(again, m) {
			t.Fatalf("ParseRoleMap(FormatRoleMap(%v)) = %v, %v", m, again, err)
		}
	})
}

func TestClaimValues(t *testing.T) {
	var c claims
	if err := json.Unmarshal([]byte(`{
		"s": "one", "list": ["a", 1, "b", null], "n": 5,
		"realm_access": {"roles": ["x"]}, "a.b": "exact", "a": {"b": "nested"}
	}`), &c.m); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		want []string
	}{
		{"s", []string{"one"}},
		{"list", []string{"a", "b"}},
		{"n", nil},
		{"missing", nil},
		{"realm_access.roles", []string{"x"}},
		{"realm_access.roles.x", nil},
		{"a.b", []string{"exact"}},
		{"s.x", nil},
	}
	for _, tc := range cases {
		got := c.values(tc.name)
		if strings.Join(got, "|") != strings.Join(tc.want, "|") {
			t.Errorf("values(%q) = %q, want %q", tc.name, got, tc.want)
		}
	}
}

// FuzzRoleFromClaims runs role picking over arbitrary JSON claims: it must
// not panic and must give "" or a role, and a role only from the map's
// values when there is a map.
func FuzzRoleFromClaims(f *testing.F) {
	f.Add(`{"groups":["admins","devs"]}`, "groups")
	f.Add(`{"realm_access":{"roles":["admin"]}}`, "realm_access.roles")
	f.Add(`{"r":"Editor"}`, "r")
	f.Add(`{"a":{"b":{"c":[1,"viewer"]}}}`, "a.b.c")
	roleMap := map[string]string{"admins": "admin", "devs": "editor"}
	f.Fuzz(func(t *testing.T, doc, name string) {
		var c claims
		if json.Unmarshal([]byte(doc), &c.m) != nil {
			return
		}
		values := c.values(name)
		if r := pickRole(values, nil); r != "" && roleRank[r] == 0 {
			t.Fatalf("pickRole(%q) = %q", values, r)
		}
		if r := pickRole(values, roleMap); r != "" && r != "admin" && r != "editor" {
			t.Fatalf("pickRole(%q, map) = %q, not a mapped role", values, r)
		}
		if len(values) > 0 && !c.has(name) {
			t.Fatalf("claim %q has values %q but is absent", name, values)
		}
	})
}
