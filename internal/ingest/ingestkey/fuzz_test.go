package ingestkey_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/fibinc/telltale/internal/ingest/ingestkey"
)

func FuzzParseBearer(f *testing.F) {
	for _, s := range []string{"Bearer 0123456789abcdef0123456789abcdef", "bearer x", "BEARER  x ", "Basic x", "Bearer", "", " Bearer \t x", "Bearer a b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		tok := ingestkey.ParseBearer(v)
		if tok == "" {
			return
		}
		if tok != strings.TrimSpace(tok) {
			t.Errorf("token %q has surrounding space", tok)
		}
		if !strings.Contains(v, tok) {
			t.Errorf("token %q not in %q", tok, v)
		}
		if again := ingestkey.ParseBearer("Bearer " + tok); again != tok {
			t.Errorf("Bearer %q parses to %q", tok, again)
		}
		// Only a well-formed token can be a key.
		if ingestkey.WellFormed(tok) && len(tok) != 32 {
			t.Errorf("WellFormed(%q) with length %d", tok, len(tok))
		}
	})
}

func FuzzParsePrefixes(f *testing.F) {
	for _, s := range []string{ingestkey.DefaultStatsDAllow, "10.0.0.0/8", "10.1.2.3", "::1", "fd00::/8, 192.168.0.0/16", ",", "", "10.0.0.0/33", "fe80::1%eth0/64", "1.2.3.4/0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ps, err := ingestkey.ParsePrefixes(s)
		if err != nil {
			if ps != nil {
				t.Errorf("prefixes %v with error %v", ps, err)
			}
			return
		}
		if len(ps) == 0 {
			t.Fatalf("%q: no prefixes and no error", s)
		}
		for _, p := range ps {
			if !p.IsValid() || p != p.Masked() {
				t.Errorf("%q: prefix %v not valid and masked", s, p)
			}
			if !ingestkey.Contains(ps, p.Addr()) {
				t.Errorf("%q: %v does not contain its own address", s, p)
			}
		}
		again, err := ingestkey.ParsePrefixes(ingestkey.FormatPrefixes(ps))
		if err != nil || !slices.Equal(again, ps) {
			t.Errorf("%q: round trip %v -> %v, %v", s, ps, again, err)
		}
	})
}

func FuzzCheckHeaderName(f *testing.F) {
	for _, s := range []string{"Authorization", "X-Key", "grpc-x", "a b", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if ingestkey.CheckHeaderName(name) != nil {
			return
		}
		// An accepted name is a valid gRPC metadata key once lower-cased.
		for _, c := range []byte(strings.ToLower(name)) {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
				t.Errorf("accepted %q with %q", name, c)
			}
		}
		if strings.HasPrefix(strings.ToLower(name), "grpc-") {
			t.Errorf("accepted reserved %q", name)
		}
	})
}
