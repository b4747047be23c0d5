package ingestkey_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/metadata"

	"github.com/fibinc/telltale/internal/ingest/ingestkey"
	"github.com/fibinc/telltale/internal/ingest/ingestkey/ingestkeytest"
)

func TestAuthenticate(t *testing.T) {
	f := ingestkeytest.New(t, ingestkey.Options{})
	for i, bad := range f.BadKeys(false) {
		key, err := f.Keys.Authenticate(bad.Key, "otlp_http")
		if key != nil || !errors.Is(err, ingestkey.ErrInvalid) || err.Error() != ingestkey.Message {
			t.Errorf("%s: %v, %v; want %q", bad.Name, key, err, ingestkey.Message)
		}
		if got := f.Metrics.AuthFailures.With("otlp_http").Value(); got != uint64(i+1) {
			t.Errorf("%s: %d failures counted, want %d", bad.Name, got, i+1)
		}
	}
	key, err := f.Keys.Authenticate(f.Good, "otlp_http")
	if err != nil || key.Project.ID != f.Project.ID || key.Rate != ingestkey.DefaultRate {
		t.Errorf("good key: %+v, %v", key, err)
	}
	// Sentry names the project: another project's key is refused there.
	if _, err := f.Keys.AuthenticateProject(f.OtherKey, f.Project.ID, "sentry"); !errors.Is(err, ingestkey.ErrInvalid) {
		t.Errorf("other project's key: %v", err)
	}
	if key, err := f.Keys.AuthenticateProject(f.Good, f.Project.ID, "sentry"); err != nil || key.Project.ID != f.Project.ID {
		t.Errorf("good key for its project: %+v, %v", key, err)
	}
	if got := f.Metrics.AuthFailures.With("sentry").Value(); got != 1 {
		t.Errorf("sentry failures %d, want 1", got)
	}
}

func TestOff(t *testing.T) {
	f := ingestkeytest.New(t, ingestkey.Options{Off: true})
	for _, bad := range f.BadKeys(false) {
		if key, err := f.Keys.Authenticate(bad.Key, "otlp_http"); key != nil || err != nil {
			t.Errorf("%s with checks off: %v, %v; want accepted without a key", bad.Name, key, err)
		}
	}
	if key, err := f.Keys.Authenticate(f.Good, "otlp_http"); err != nil || key == nil || key.Project.ID != f.Project.ID {
		t.Errorf("a good key with checks off still names its project: %+v, %v", key, err)
	}
	if key, err := f.Keys.AuthenticateProject("", f.Other.ID, "sentry"); err != nil || key.Project.ID != f.Other.ID {
		t.Errorf("Sentry without a key, checks off: %+v, %v; want the URL's project", key, err)
	}
	if _, err := f.Keys.AuthenticateProject("", 999, "sentry"); !errors.Is(err, ingestkey.ErrNoProject) {
		t.Errorf("unknown project, checks off: %v", err)
	}
	if n := f.Metrics.AuthFailures.With("otlp_http").Value(); n != 0 {
		t.Errorf("%d failures counted with checks off", n)
	}
}

// TestChanges: keys created and revoked through Keys apply at once; those
// changed in the store directly at the next Load.
func TestChanges(t *testing.T) {
	ctx := context.Background()
	f := ingestkeytest.New(t, ingestkey.Options{})
	k, err := f.Keys.CreateIngestKey(ctx, f.Project.ID, "new", 5)
	if err != nil {
		t.Fatal(err)
	}
	key, err := f.Keys.Authenticate(k.Key, "json")
	if err != nil || key.Rate != 5 {
		t.Fatalf("new key: %+v, %v", key, err)
	}
	if _, err := f.Keys.RevokeIngestKey(ctx, f.Project.ID, k.ID, f.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Keys.Authenticate(k.Key, "json"); err == nil {
		t.Error("revoked key still works")
	}
	p, err := f.Keys.CreateProject(ctx, "mobile", "")
	if err != nil {
		t.Fatal(err)
	}
	if key, err := f.Keys.Authenticate(p.PublicKey, "json"); err != nil || key.Project.ID != p.ID {
		t.Errorf("new project's key: %+v, %v", key, err)
	}

	// Behind Keys' back: applies at the next Load only.
	if _, err := f.Store.RevokeIngestKey(ctx, f.Project.ID, f.GoodKey.ID, f.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Keys.Authenticate(f.Good, "json"); err != nil {
		t.Errorf("before the reload: %v", err)
	}
	if err := f.Keys.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Keys.Authenticate(f.Good, "json"); err == nil {
		t.Error("a key revoked in the store works after the reload")
	}
}

func TestAdmit(t *testing.T) {
	ctx := context.Background()
	f := ingestkeytest.New(t, ingestkey.Options{MaxRecordsPerRequest: 1000})
	k, err := f.Keys.CreateIngestKey(ctx, f.Project.ID, "slow", 10) // burst 20
	if err != nil {
		t.Fatal(err)
	}
	key, _ := f.Keys.Authenticate(k.Key, "otlp_http")
	steps := []struct {
		advance    time.Duration
		records    int
		status     int // 0: admitted
		retryAfter int
		msg        string
	}{
		{0, 1001, 413, 0, "request has 1001 records, over the limit of 1000 records per request"},
		{0, 21, 413, 0, "more than the 20 records the ingest key may send at once (10 records/s for 2 s)"},
		{0, 15, 0, 0, ""},
		{0, 5, 0, 0, ""},
		{0, 1, 429, 1, "rate limit of 10 records/s reached: retry in 1 s"},
		{0, 20, 429, 2, "retry in 2 s"},
		{500 * time.Millisecond, 5, 0, 0, ""}, // 5 tokens back
		{0, 1, 429, 1, ""},
		{10 * time.Second, 20, 0, 0, ""}, // full again, not beyond the burst
		{0, 11, 429, 2, ""},              // 1.1 s rounds up
		{0, 0, 0, 0, ""},
	}
	for i, s := range steps {
		f.Advance(s.advance)
		le := f.Keys.Admit(key, s.records, "otlp_http")
		switch {
		case s.status == 0 && le != nil:
			t.Errorf("step %d (%d records): refused: %v", i, s.records, le)
		case s.status != 0 && le == nil:
			t.Errorf("step %d (%d records): admitted, want %d", i, s.records, s.status)
		case s.status != 0 && (le.Status != s.status || le.RetryAfter != s.retryAfter || !strings.Contains(le.Error(), s.msg)):
			t.Errorf("step %d (%d records): %d retry %d %q; want %d retry %d %q", i, s.records, le.Status, le.RetryAfter, le, s.status, s.retryAfter, s.msg)
		}
	}
	if n := f.Metrics.RateLimited.With("otlp_http").Value(); n != 6 {
		t.Errorf("rate limited counted %d, want 6", n)
	}
	// The bucket survives a reload.
	if err := f.Keys.Load(ctx); err != nil {
		t.Fatal(err)
	}
	key, _ = f.Keys.Authenticate(k.Key, "otlp_http")
	if le := f.Keys.Admit(key, 1, "otlp_http"); le == nil || le.Status != http.StatusTooManyRequests {
		t.Errorf("after a reload the bucket was refilled: %v", le)
	}
	// Without a key (checks off) only the per-request limit applies.
	if le := f.Keys.Admit(nil, 1000, "json"); le != nil {
		t.Errorf("no key, 1000 records: %v", le)
	}
	if le := f.Keys.Admit(nil, 1001, "json"); le == nil || le.Status != http.StatusRequestEntityTooLarge {
		t.Errorf("no key, 1001 records: %v", le)
	}
}

func TestNoLimits(t *testing.T) {
	f := ingestkeytest.New(t, ingestkey.Options{Rate: -1, MaxRecordsPerRequest: -1})
	key, _ := f.Keys.Authenticate(f.Good, "json")
	for range 3 {
		if le := f.Keys.Admit(key, 10_000_000, "json"); le != nil {
			t.Fatalf("no limits: %v", le)
		}
	}
}

func TestHeaders(t *testing.T) {
	f := ingestkeytest.New(t, ingestkey.Options{})
	custom := ingestkeytest.New(t, ingestkey.Options{Header: "X-Telltale-Key"})
	for _, tc := range []struct {
		keys       *ingestkey.Keys
		name, val  string
		want       string
		wantHeader string
	}{
		{f.Keys, "Authorization", "Bearer abc", "abc", "Authorization"},
		{f.Keys, "Authorization", "  bearer   abc  ", "abc", ""},
		{f.Keys, "Authorization", "Basic abc", "", ""},
		{f.Keys, "Authorization", "abc", "", ""},
		{f.Keys, "X-Telltale-Key", "abc", "", ""},
		{custom.Keys, "X-Telltale-Key", " abc ", "abc", "X-Telltale-Key"},
		{custom.Keys, "Authorization", "Bearer abc", "", ""},
	} {
		h := http.Header{}
		h.Set(tc.name, tc.val)
		if got := tc.keys.FromHeader(h); got != tc.want {
			t.Errorf("%s: %q: got %q, want %q", tc.name, tc.val, got, tc.want)
		}
		md := metadata.Pairs(strings.ToLower(tc.name), tc.val)
		if got := tc.keys.FromMetadata(md); got != tc.want {
			t.Errorf("metadata %s: %q: got %q, want %q", tc.name, tc.val, got, tc.want)
		}
		if tc.wantHeader != "" && tc.keys.HeaderName() != tc.wantHeader {
			t.Errorf("HeaderName = %q, want %q", tc.keys.HeaderName(), tc.wantHeader)
		}
	}
	for _, name := range []string{"", "X Key", "grpc-key", "Content-Type", "x-sentry-auth", "a\nb", strings.Repeat("x", 101)} {
		if err := ingestkey.CheckHeaderName(name); err == nil {
			t.Errorf("CheckHeaderName(%q) accepted", name)
		}
	}
	for _, name := range []string{"Authorization", "X-Telltale-Key", "x_api_key"} {
		if err := ingestkey.CheckHeaderName(name); err != nil {
			t.Errorf("CheckHeaderName(%q): %v", name, err)
		}
	}
}

func TestContext(t *testing.T) {
	f := ingestkeytest.New(t, ingestkey.Options{})
	key, _ := f.Keys.Authenticate(f.OtherKey, "json")
	ctx := ingestkey.WithKey(context.Background(), key)
	if got := ingestkey.ProjectID(ctx); got != f.Other.ID {
		t.Errorf("ProjectID = %d, want %d", got, f.Other.ID)
	}
	if got := ingestkey.ProjectID(ingestkey.WithKey(context.Background(), nil)); got != 0 {
		t.Errorf("ProjectID without a key = %d", got)
	}
}

func BenchmarkCheck(b *testing.B) {
	f := ingestkeytest.New(b, ingestkey.Options{Rate: 1e12})
	h := http.Header{}
	h.Set("Authorization", "Bearer "+f.Good)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			key, err := f.Keys.Authenticate(f.Keys.FromHeader(h), "otlp_http")
			if err != nil {
				b.Fatal(err)
			}
			if le := f.Keys.Admit(key, 100, "otlp_http"); le != nil {
				b.Fatal(le)
			}
		}
	})
}
