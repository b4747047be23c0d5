package oidc

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

var testKey = bytes.Repeat([]byte{7}, 32)

func sampleState(now time.Time) loginState {
	return loginState{State: "STATE", Nonce: "NONCE", Verifier: "VERIFIER", ReturnTo: "/errors?x=1", Expires: now.Add(loginTTL).Unix()}
}

func TestSealOpen(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	s := newSealerWithKey(testKey)
	good, err := s.seal(sampleState(now))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.open(good, now); err != nil || got != sampleState(now) {
		t.Fatalf("open(seal(x)) = %+v, %v; want %+v", got, err, sampleState(now))
	}
	if strings.Contains(good, "VERIFIER") || strings.Contains(good, "errors") {
		t.Errorf("sealed cookie shows its content: %s", good)
	}
	again, _ := s.seal(sampleState(now))
	if again == good {
		t.Error("two seals of one state are equal: the GCM nonce is not random")
	}

	sealWith := func(st loginState) string {
		v, err := s.seal(st)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	flipped, _ := base64.RawURLEncoding.DecodeString(good)
	flipped[len(flipped)-3] ^= 2
	other, _ := newSealerWithKey(bytes.Repeat([]byte{8}, 32)).seal(sampleState(now))
	noVerifier := sampleState(now)
	noVerifier.Verifier = ""
	raw, _ := base64.RawURLEncoding.DecodeString(good)
	cases := []struct {
		name, value string
		now         time.Time
		want        string
	}{
		{"empty", "", now, "malformed"},
		{"not base64", "!!!", now, "malformed"},
		{"too short", base64.RawURLEncoding.EncodeToString(raw[:20]), now, "malformed"},
		{"too long", strings.Repeat("A", maxCookie+1), now, "too long"},
		{"tampered", base64.RawURLEncoding.EncodeToString(flipped), now, "not made by this server"},
		{"another key", other, now, "not made by this server"},
		{"expired", good, now.Add(loginTTL + time.Second), "longer than"},
		{"incomplete", sealWith(noVerifier), now, "incomplete"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.open(tc.value, tc.now)
			if !errors.Is(err, ErrNoLogin) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("open error = %v, want ErrNoLogin mentioning %q", err, tc.want)
			}
		})
	}
	// The longest state Begin can make fits in a cookie.
	long := sampleState(now)
	long.State, long.Nonce, long.Verifier = strings.Repeat("S", 26), strings.Repeat("N", 26), strings.Repeat("V", 43)
	long.ReturnTo = "/" + strings.Repeat("%", 2047)
	if v, err := s.seal(long); err != nil || len(v) > 3000 {
		t.Errorf("seal of the longest state: %d bytes, %v", len(v), err)
	}
	// A returnTo that is not local is replaced even inside a valid cookie.
	evil := sampleState(now)
	evil.ReturnTo = "//evil.example/"
	if got, err := s.open(sealWith(evil), now); err != nil || got.ReturnTo != "/" {
		t.Errorf("open kept returnTo %q (%v), want /", got.ReturnTo, err)
	}
}

// FuzzOpenCookie feeds open arbitrary cookie values, among them mutations
// of real ones: it must never panic, and whatever it accepts is complete,
// unexpired and has a local returnTo. Seal then open gives back the state.
func FuzzOpenCookie(f *testing.F) {
	now := time.Unix(1_800_000_000, 0)
	s := newSealerWithKey(testKey)
	good, _ := s.seal(sampleState(now))
	f.Add(good, "STATE", "/x")
	f.Add(good[:len(good)-1], "", "")
	f.Add("", "s", "//evil")
	f.Add("AAAA", "s\x00", "/\t/evil")
	f.Fuzz(func(t *testing.T, value, state, returnTo string) {
		if st, err := s.open(value, now); err == nil {
			if st.State == "" || st.Nonce == "" || st.Verifier == "" || st.Expires < now.Unix() || SafeReturnTo(st.ReturnTo) != st.ReturnTo {
				t.Fatalf("open accepted a bad state %+v", st)
			}
		} else if !errors.Is(err, ErrNoLogin) {
			t.Fatalf("open error %v is not ErrNoLogin", err)
		}
		if state == "" || !utf8.ValidString(state) || !utf8.ValidString(returnTo) {
			return // JSON would replace invalid UTF-8: no exact round trip
		}
		in := loginState{State: state, Nonce: "n", Verifier: "v", ReturnTo: SafeReturnTo(returnTo), Expires: now.Unix()}
		sealed, err := s.seal(in)
		if err != nil {
			if len(state) < 1000 {
				t.Fatalf("seal(%+v): %v", in, err)
			}
			return
		}
		out, err := s.open(sealed, now)
		if err != nil || out != in {
			t.Fatalf("open(seal(%+v)) = %+v, %v", in, out, err)
		}
	})
}

func TestSafeReturnTo(t *testing.T) {
	cases := []struct{ in, want string }{
		{"", "/"},
		{"/", "/"},
		{"/errors?project=web#top", "/errors?project=web#top"},
		{"/traces/abc", "/traces/abc"},
		{"errors", "/"},
		{"https://evil.example/", "/"},
		{"//evil.example/", "/"},
		{"/\\evil.example/", "/"},
		{"/\t/evil.example/", "/"},
		{"/a\nb", "/"},
		{"/a\\b", "/"},
		{"/" + strings.Repeat("a", 3000), "/"},
	}
	for _, tc := range cases {
		if got := SafeReturnTo(tc.in); got != tc.want {
			t.Errorf("SafeReturnTo(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// FuzzSafeReturnTo checks that the result is always a local path and that
// a local path is kept as it is.
func FuzzSafeReturnTo(f *testing.F) {
	for _, s := range []string{"/", "/errors?x=1", "//evil", "/\\evil", "/\t/evil", "http://x", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := SafeReturnTo(s)
		if got == "" || got[0] != '/' || strings.HasPrefix(got, "//") || strings.ContainsAny(got, "\\\t\r\n") {
			t.Fatalf("SafeReturnTo(%q) = %q is not a local path", s, got)
		}
		if got != s && got != "/" {
			t.Fatalf("SafeReturnTo(%q) = %q changed the path", s, got)
		}
		if SafeReturnTo(got) != got {
			t.Fatalf("SafeReturnTo is not idempotent on %q", got)
		}
	})
}
