package statetest

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/fibinc/telltale/internal/state"
)

// authTests are the conformance tests of state.AuthStore.
var authTests = []struct {
	name string
	fn   func(*testing.T, OpenFunc)
}{
	{"Users", testUsers},
	{"Sessions", testSessions},
	{"APITokens", testAPITokens},
	{"Audit", testAudit},
}

func runAuth(t *testing.T, open OpenFunc) {
	for _, tt := range authTests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, open) })
	}
}

func normUser(u state.User) state.User {
	for _, p := range []*time.Time{&u.CreatedAt, &u.UpdatedAt, &u.LastLoginAt} {
		*p = norm(*p)
	}
	return u
}

func testUsers(t *testing.T, open OpenFunc) {
	dir := t.TempDir()
	s := open(t, dir)
	if n, a, err := s.CountUsers(ctx); n != 0 || a != 0 || err != nil {
		t.Fatalf("CountUsers of a new store = %d, %d, %v", n, a, err)
	}
	ana, err := s.CreateUser(ctx, state.User{Name: "Ana", Role: "admin", PasswordHash: "$argon2id$x", CreatedAt: at(0)})
	if err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	if ana.ID <= 0 || !ana.UpdatedAt.Equal(state.Timestamp(at(0))) {
		t.Errorf("created %+v: want an id and updated_at = created_at", ana)
	}
	ext := state.User{Name: "bo@example.com", Role: "viewer", Issuer: "https://idp", Subject: "123", Email: "bo@example.com", CreatedAt: at(time.Minute)}
	bo, err := s.CreateUser(ctx, ext)
	if err != nil || bo.ID == ana.ID {
		t.Fatalf("CreateUser external = %+v, %v", bo, err)
	}
	for _, dup := range []state.User{
		{Name: "ANA", Role: "viewer"},
		{Name: "other", Role: "viewer", Issuer: "https://idp", Subject: "123"},
	} {
		if _, err := s.CreateUser(ctx, dup); !errors.Is(err, state.ErrExists) {
			t.Errorf("CreateUser(%+v) = %v, want ErrExists", dup, err)
		}
	}
	for _, bad := range []state.User{
		{Name: "", Role: "viewer"},
		{Name: "x", Role: "root"},
		{Name: "x", Role: "viewer", Issuer: "https://idp"},
	} {
		if _, err := s.CreateUser(ctx, bad); err == nil || errors.Is(err, state.ErrExists) {
			t.Errorf("CreateUser(%+v) = %v, want a validation error", bad, err)
		}
	}
	if n, a, err := s.CountUsers(ctx); n != 2 || a != 1 || err != nil {
		t.Errorf("CountUsers = %d, %d, %v; want 2, 1", n, a, err)
	}
	if u, err := s.UserByName(ctx, "aNa"); err != nil || normUser(u) != normUser(ana) {
		t.Errorf("UserByName(aNa) = %+v, %v; want %+v", u, err, ana)
	}
	if u, err := s.UserByExternal(ctx, "https://idp", "123"); err != nil || u.ID != bo.ID {
		t.Errorf("UserByExternal = %+v, %v", u, err)
	}
	for _, f := range []func() error{
		func() error { _, err := s.UserByName(ctx, "nobody"); return err },
		func() error { _, err := s.User(ctx, 999); return err },
		func() error { _, err := s.UserByExternal(ctx, "https://idp", "124"); return err },
		func() error { _, err := s.UserByExternal(ctx, "", ""); return err },
		func() error { return s.UpdateUser(ctx, state.User{ID: 999, Name: "x", Role: "viewer"}) },
		func() error { return s.DeleteUser(ctx, 999) },
	} {
		if err := f(); !errors.Is(err, state.ErrNotFound) {
			t.Errorf("lookup of a missing user: %v, want ErrNotFound", err)
		}
	}
	ana.Role, ana.Disabled, ana.PasswordHash, ana.UpdatedAt, ana.LastLoginAt = "editor", true, "$argon2id$y", at(time.Hour), at(time.Hour)
	if err := s.UpdateUser(ctx, ana); err != nil {
		t.Fatalf("UpdateUser: %v", err)
	}
	if n, a, _ := s.CountUsers(ctx); n != 2 || a != 0 {
		t.Errorf("CountUsers after demoting the admin = %d, %d; want 2, 0", n, a)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, dir)
	defer s.Close()
	us, err := s.Users(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []state.User{normUser(state.User{ID: ana.ID, Name: "Ana", Role: "editor", PasswordHash: "$argon2id$y", Disabled: true,
		CreatedAt: state.Timestamp(at(0)), UpdatedAt: state.Timestamp(at(time.Hour)), LastLoginAt: state.Timestamp(at(time.Hour))}), normUser(bo)}
	for i := range us {
		us[i] = normUser(us[i])
	}
	if !reflect.DeepEqual(us, want) {
		t.Errorf("Users after reopen:\n got %+v\nwant %+v", us, want)
	}
	// Deleting a user takes its sessions and tokens along.
	if err := s.CreateSession(ctx, state.Session{Hash: "h1", UserID: bo.ID, CSRF: "c", CreatedAt: at(0), LastSeenAt: at(0), ExpiresAt: at(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	tok, err := s.CreateAPIToken(ctx, state.APIToken{UserID: bo.ID, Name: "ci", Role: "viewer", Hash: "th1", CreatedAt: at(0)})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteUser(ctx, bo.ID); err != nil {
		t.Fatalf("DeleteUser: %v", err)
	}
	if _, err := s.Session(ctx, "h1"); !errors.Is(err, state.ErrNotFound) {
		t.Errorf("session of a deleted user: %v", err)
	}
	if _, err := s.APIToken(ctx, tok.ID); !errors.Is(err, state.ErrNotFound) {
		t.Errorf("token of a deleted user: %v", err)
	}
	// The name is free again.
	if _, err := s.CreateUser(ctx, state.User{Name: "BO@example.com", Role: "viewer"}); err != nil {
		t.Errorf("CreateUser with a deleted user's name: %v", err)
	}
}

func testSessions(t *testing.T, open OpenFunc) {
	dir := t.TempDir()
	s := open(t, dir)
	u, err := s.CreateUser(ctx, state.User{Name: "ana", Role: "viewer"})
	if err != nil {
		t.Fatal(err)
	}
	se := state.Session{Hash: "abc", UserID: u.ID, CSRF: "csrf1", CreatedAt: at(0), LastSeenAt: at(0), ExpiresAt: at(7 * 24 * time.Hour), IP: "10.0.0.1", UserAgent: "curl"}
	if err := s.CreateSession(ctx, se); err != nil {
		t.Fatalf("CreateSession: %v", err)
	}
	if err := s.CreateSession(ctx, state.Session{Hash: "abc", UserID: u.ID}); err == nil {
		t.Error("CreateSession with a duplicate hash succeeded")
	}
	for i := range 3 {
		if err := s.CreateSession(ctx, state.Session{Hash: fmt.Sprint("other", i), UserID: u.ID, CreatedAt: at(0), LastSeenAt: at(time.Duration(i) * time.Hour), ExpiresAt: at(time.Duration(i+1) * time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.TouchSession(ctx, "abc", at(time.Minute)); err != nil {
		t.Fatalf("TouchSession: %v", err)
	}
	if err := s.TouchSession(ctx, "nope", at(time.Minute)); !errors.Is(err, state.ErrNotFound) {
		t.Errorf("TouchSession of a missing session: %v", err)
	}
	s.Close()
	s = open(t, dir)
	defer s.Close()
	got, err := s.Session(ctx, "abc")
	se.LastSeenAt = at(time.Minute)
	for _, p := range []*time.Time{&se.CreatedAt, &se.LastSeenAt, &se.ExpiresAt} {
		*p = state.Timestamp(*p)
	}
	if err != nil || !reflect.DeepEqual(got, se) {
		t.Errorf("Session after reopen = %+v, %v; want %+v", got, err, se)
	}
	// At 1h30 with a 1h idle limit: other0 expired at 1h, abc was last
	// seen at 1m; other1 (seen at 1h) and other2 stay.
	n, err := s.DeleteStaleSessions(ctx, at(90*time.Minute), at(60*time.Minute))
	if err != nil || n != 2 {
		t.Errorf("DeleteStaleSessions = %d, %v; want 2", n, err)
	}
	for hash, want := range map[string]bool{"abc": false, "other0": false, "other1": true, "other2": true} {
		if _, err := s.Session(ctx, hash); (err == nil) != want || err != nil && !errors.Is(err, state.ErrNotFound) {
			t.Errorf("session %s after DeleteStaleSessions: %v, want kept %v", hash, err, want)
		}
	}
	if err := s.DeleteSession(ctx, "other1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Session(ctx, "other1"); !errors.Is(err, state.ErrNotFound) {
		t.Errorf("deleted session: %v", err)
	}
	if n, err := s.DeleteUserSessions(ctx, u.ID); err != nil || n != 1 {
		t.Errorf("DeleteUserSessions = %d, %v; want 1", n, err)
	}
}

func testAPITokens(t *testing.T, open OpenFunc) {
	dir := t.TempDir()
	s := open(t, dir)
	a, _ := s.CreateUser(ctx, state.User{Name: "ana", Role: "admin"})
	b, _ := s.CreateUser(ctx, state.User{Name: "bo", Role: "viewer"})
	t1, err := s.CreateAPIToken(ctx, state.APIToken{UserID: a.ID, Name: "ci", Role: "editor", Hash: "h1", Prefix: "tt_abc", CreatedAt: at(0), ExpiresAt: at(24 * time.Hour)})
	if err != nil || t1.ID <= 0 {
		t.Fatalf("CreateAPIToken = %+v, %v", t1, err)
	}
	t2, err := s.CreateAPIToken(ctx, state.APIToken{UserID: b.ID, Name: "grafana", Role: "viewer", Hash: "h2", CreatedAt: at(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateAPIToken(ctx, state.APIToken{UserID: b.ID, Name: "dup", Role: "viewer", Hash: "h2"}); !errors.Is(err, state.ErrExists) {
		t.Errorf("duplicate hash: %v, want ErrExists", err)
	}
	for _, bad := range []state.APIToken{{UserID: 0, Role: "viewer", Hash: "x"}, {UserID: 1, Role: "root", Hash: "x"}, {UserID: 1, Role: "viewer"}} {
		if _, err := s.CreateAPIToken(ctx, bad); err == nil {
			t.Errorf("CreateAPIToken(%+v) succeeded", bad)
		}
	}
	if err := s.TouchAPIToken(ctx, t1.ID, at(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeAPIToken(ctx, t2.ID, at(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	// A second revocation keeps the first time.
	if err := s.RevokeAPIToken(ctx, t2.ID, at(3*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeAPIToken(ctx, 999, at(0)); !errors.Is(err, state.ErrNotFound) {
		t.Errorf("RevokeAPIToken of a missing token: %v", err)
	}
	s.Close()
	s = open(t, dir)
	defer s.Close()
	got, err := s.APITokenByHash(ctx, "h1")
	want := state.APIToken{ID: t1.ID, UserID: a.ID, Name: "ci", Role: "editor", Hash: "h1", Prefix: "tt_abc",
		CreatedAt: state.Timestamp(at(0)), ExpiresAt: state.Timestamp(at(24 * time.Hour)), LastUsedAt: state.Timestamp(at(time.Hour))}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("APITokenByHash = %+v, %v\nwant %+v", got, err, want)
	}
	got2, err := s.APIToken(ctx, t2.ID)
	if err != nil || !got2.RevokedAt.Equal(state.Timestamp(at(2*time.Hour))) {
		t.Errorf("revoked token = %+v, %v; want revoked at %v", got2, err, at(2*time.Hour))
	}
	if _, err := s.APITokenByHash(ctx, "nope"); !errors.Is(err, state.ErrNotFound) {
		t.Errorf("unknown hash: %v", err)
	}
	all, _ := s.APITokens(ctx, 0)
	mine, _ := s.APITokens(ctx, b.ID)
	if len(all) != 2 || all[0].ID != t1.ID || len(mine) != 1 || mine[0].ID != t2.ID {
		t.Errorf("APITokens: all %+v, of bo %+v", all, mine)
	}
}

func testAudit(t *testing.T, open OpenFunc) {
	dir := t.TempDir()
	s := open(t, dir)
	if err := s.AddAudit(ctx, state.AuditEntry{At: at(0)}); err == nil {
		t.Error("AddAudit without an action succeeded")
	}
	entries := []state.AuditEntry{
		{At: at(0), Actor: "ana", ActorID: 1, Action: "login", IP: "10.0.0.1", Outcome: state.AuditOK},
		{At: at(time.Minute), Actor: "bo", Action: "login.failed", IP: "10.0.0.2", Outcome: state.AuditFailed, Detail: "bad password"},
		{At: at(2 * time.Minute), Actor: "ana", ActorID: 1, Action: "user.create", Target: "user:2", Outcome: state.AuditOK},
		{At: at(3 * time.Minute), Actor: "ana", ActorID: 1, Action: "user.delete", Target: "user:2", Outcome: state.AuditOK},
		{At: at(400 * 24 * time.Hour), Actor: "ana", ActorID: 1, Action: "silence.create", Target: "silence:x", Outcome: state.AuditDenied},
	}
	for _, e := range entries {
		if err := s.AddAudit(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	s = open(t, dir)
	defer s.Close()
	actions := func(f state.AuditFilter) []string {
		t.Helper()
		es, err := s.Audit(ctx, f)
		if err != nil {
			t.Fatalf("Audit(%+v): %v", f, err)
		}
		var out []string
		for _, e := range es {
			out = append(out, e.Action)
		}
		return out
	}
	all, _ := s.Audit(ctx, state.AuditFilter{})
	if len(all) != 5 || all[0].Action != "silence.create" || all[4].ID >= all[3].ID {
		t.Fatalf("Audit() = %+v: want 5, newest first", all)
	}
	if e := all[3]; e.Actor != "bo" || e.Detail != "bad password" || e.IP != "10.0.0.2" || e.Outcome != state.AuditFailed || !e.At.Equal(state.Timestamp(at(time.Minute))) {
		t.Errorf("entry read back as %+v", e)
	}
	for _, tc := range []struct {
		f    state.AuditFilter
		want []string
	}{
		{state.AuditFilter{Actor: "bo"}, []string{"login.failed"}},
		{state.AuditFilter{Action: "login"}, []string{"login"}},
		{state.AuditFilter{Action: "user."}, []string{"user.delete", "user.create"}},
		{state.AuditFilter{Since: at(time.Minute), Until: at(3 * time.Minute)}, []string{"user.create", "login.failed"}},
		{state.AuditFilter{Limit: 2}, []string{"silence.create", "user.delete"}},
		{state.AuditFilter{Before: all[1].ID, Limit: 2}, []string{"user.create", "login.failed"}},
		{state.AuditFilter{Actor: "nobody"}, nil},
	} {
		if got := actions(tc.f); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Audit(%+v) = %v, want %v", tc.f, got, tc.want)
		}
	}
	n, err := s.PruneAudit(ctx, at(time.Hour))
	if err != nil || n != 4 {
		t.Errorf("PruneAudit = %d, %v; want 4", n, err)
	}
	if got := actions(state.AuditFilter{}); !reflect.DeepEqual(got, []string{"silence.create"}) {
		t.Errorf("after prune: %v", got)
	}
}
