package sentry

import (
	"bytes"
	"compress/zlib"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
)

func zlibBytes(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := zlib.NewWriter(&buf)
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestDecodeStoreBody(t *testing.T) {
	event := []byte(`{"message":"hi","extra":{"k":"?>>"}}`) // ?>> makes + and / in base64
	zipped := zlibBytes(t, event)
	big := zlibBytes(t, []byte(`{"x":"`+strings.Repeat("a", 10000)+`"}`))
	cases := []struct {
		name string
		in   []byte
		want []byte
		err  error
	}{
		{"plain", event, event, nil},
		{"plain with space", append([]byte("\n "), event...), event, nil},
		{"std padded", []byte(base64.StdEncoding.EncodeToString(event)), event, nil},
		{"std raw", []byte(base64.RawStdEncoding.EncodeToString(event)), event, nil},
		{"url padded", []byte(base64.URLEncoding.EncodeToString(event)), event, nil},
		{"url raw", []byte(base64.RawURLEncoding.EncodeToString(event)), event, nil},
		{"wrapped lines", []byte(wrap(base64.StdEncoding.EncodeToString(event), 16)), event, nil},
		{"zlib", []byte(base64.StdEncoding.EncodeToString(zipped)), event, nil},
		{"zlib url raw", []byte(base64.RawURLEncoding.EncodeToString(zipped)), event, nil},
		{"zlib over the limit", []byte(base64.StdEncoding.EncodeToString(big)), nil, ErrTooLarge},
		{"plain over the limit", []byte(`{"x":"` + strings.Repeat("a", 5000) + `"}`), nil, ErrTooLarge},
		{"empty", nil, nil, ErrMalformed},
		{"not base64", []byte("hello, world"), nil, ErrMalformed},
		{"base64 of garbage", []byte(base64.StdEncoding.EncodeToString([]byte("garbage"))), nil, ErrMalformed},
		{"truncated zlib", []byte(base64.StdEncoding.EncodeToString(zipped[:len(zipped)-6])), nil, ErrMalformed},
		{"zlib of non-JSON", []byte(base64.StdEncoding.EncodeToString(zlibBytes(t, []byte("[1]")))), nil, ErrMalformed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := DecodeStoreBody(c.in, 4096)
			if c.err != nil {
				if !errors.Is(err, c.err) {
					t.Fatalf("got %v, want %v", err, c.err)
				}
				checkSentinel(t, err)
				return
			}
			if err != nil || !bytes.Equal(got, c.want) {
				t.Fatalf("got %q, %v", got, err)
			}
		})
	}
}

func wrap(s string, n int) string {
	var b strings.Builder
	for len(s) > n {
		b.WriteString(s[:n] + "\r\n")
		s = s[n:]
	}
	return b.String() + s
}

func TestStoreFixtures(t *testing.T) {
	for _, c := range []struct{ name, message string }{
		{"store-plain.json", "deployed v1.2.3 to eu-west-1"},
		{"store-base64.txt", "Script error."},
		{"store-zlib-base64.txt", "send_invoice failed for INV-77"},
	} {
		body, err := DecodeStoreBody(readTestdata(t, c.name), 0)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		ev, err := DecodeEvent(body)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		expect(t, c.name+" message", ev.Message, c.message)
	}
	body, _ := DecodeStoreBody(readTestdata(t, "store-zlib-base64.txt"), 0)
	ev, _ := DecodeEvent(body)
	expect(t, "legacy exception", ev.MainException().Type, "ConnectionError")
	expect(t, "legacy user", ev.User.Email, "ops@example.com")
}
