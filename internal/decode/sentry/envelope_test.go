package sentry

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"
	"time"
)

// nested returns JSON nested depth levels deep.
func nested(depth int) string {
	return strings.Repeat(`{"a":[`, depth) + strings.Repeat(`]}`, depth)
}

// eventItem frames an event payload with its length.
func eventItem(payload string) string {
	return fmt.Sprintf(`{"type":"event","length":%d}`+"\n%s\n", len(payload), payload)
}

type envelopeCase struct {
	name    string
	in      string
	err     error  // nil: success
	msg     string // part of the error message, or of the kept payloads
	items   int    // kept items on success
	skipped int    // skipped items on success
}

// hostileEnvelopes are framing edge cases and attacks; each must fail with the
// right sentinel or parse to the right number of items.
var hostileEnvelopes = []envelopeCase{
	{name: "empty body", in: "", err: ErrMalformed, msg: "empty envelope"},
	{name: "blank line only", in: "\n", err: ErrMalformed, msg: "empty envelope"},
	{name: "empty header", in: "{}", items: 0},
	{name: "empty header and newline", in: "{}\n", items: 0},
	{name: "trailing blank lines", in: "{}\n" + eventItem(`{}`) + "\n\n", items: 1},
	{name: "blank line between items", in: "{}\n" + eventItem(`{}`) + "\n" + `{"type":"session"}` + "\n{}\n", items: 1, skipped: 1},
	{name: "header not JSON", in: "{\"event_id\":\n", err: ErrMalformed, msg: "invalid envelope header"},
	{name: "header is an array", in: "[]\n", err: ErrMalformed, msg: "not a JSON object"},
	{name: "header is null", in: "null\n", err: ErrMalformed, msg: "not a JSON object"},
	{name: "header with trailing garbage", in: "{} x\n", err: ErrMalformed},
	{name: "invalid event id", in: `{"event_id":"not-a-uuid"}` + "\n", err: ErrMalformed, msg: "invalid event_id"},
	{name: "header of odd types", in: `{"sdk":"x","trace":[1],"sent_at":5,"dsn":{}}` + "\n", items: 0},
	{name: "length too long", in: "{}\n" + `{"type":"event","length":50}` + "\n{\"a\":1}\n", err: ErrMalformed,
		msg: "item 1 (event): length 50 exceeds remaining 8 bytes"},
	{name: "length too short then garbage", in: "{}\n" + `{"type":"event","length":3}` + "\n{\"a\":1}\n", err: ErrMalformed,
		msg: "not followed by a newline"},
	{name: "skipped length too long", in: "{}\n" + `{"type":"attachment","length":99}` + "\nabc", err: ErrMalformed,
		msg: "item 1 (attachment): length 99 exceeds remaining 3 bytes"},
	{name: "length at end of input", in: "{}\n" + `{"type":"event","length":2}`, err: ErrMalformed, msg: "exceeds remaining 0 bytes"},
	{name: "zero length at end of input", in: "{}\n" + `{"type":"event","length":0}`, items: 1},
	{name: "negative length", in: "{}\n" + `{"type":"event","length":-1}` + "\n", err: ErrMalformed, msg: "invalid length"},
	{name: "fractional length", in: "{}\n" + `{"type":"event","length":1.5}` + "\nx\n", err: ErrMalformed, msg: "invalid length"},
	{name: "string length", in: "{}\n" + `{"type":"event","length":"2"}` + "\n{}\n", err: ErrMalformed, msg: "invalid length"},
	{name: "null length runs to newline", in: "{}\n" + `{"type":"event","length":null}` + "\n{}\n", items: 1},
	{name: "missing type", in: "{}\n" + `{"length":2}` + "\n{}\n", err: ErrMalformed, msg: "item 1: header has no type"},
	{name: "empty type", in: "{}\n" + `{"type":""}` + "\n{}\n", err: ErrMalformed, msg: "no type"},
	{name: "numeric type", in: "{}\n" + `{"type":7}` + "\n{}\n", err: ErrMalformed, msg: "invalid header"},
	{name: "item header not JSON", in: "{}\n" + "garbage\n", err: ErrMalformed, msg: "item 1: header is not a JSON object"},
	{name: "two events", in: "{}\n" + eventItem(`{}`) + eventItem(`{}`), err: ErrMalformed, msg: "item 2 (event): more than one event item"},
	{name: "two transactions", in: "{}\n" + `{"type":"transaction"}` + "\n{}\n" + `{"type":"transaction"}` + "\n{}\n", err: ErrMalformed, msg: "more than one transaction"},
	{name: "carriage return is payload", in: "{}\n" + `{"type":"event"}` + "\n{}\r\n", items: 1, msg: "{}\r"},
	{name: "item without payload at end", in: "{}\n" + `{"type":"event"}`, items: 1},
	{name: "empty payload without length", in: "{}\n" + `{"type":"check_in"}` + "\n\n" + `{"type":"session"}` + "\n{}", items: 1, skipped: 1},
	{name: "length payload with newlines", in: "{}\n" + `{"type":"attachment","length":5}` + "\na\nb\nc\n" + eventItem(`{}`), items: 1, skipped: 1},
	{name: "client report only", in: "{}\n" + `{"type":"client_report"}` + "\n{}\n", items: 0, skipped: 1},
	{name: "unknown types skipped", in: "{}\n" + `{"type":"future_thing","length":3}` + "\nxyz\n" + `{"type":"replay_recording"}` + "\nzz", items: 0, skipped: 2},
	{name: "invalid UTF-8 in header", in: "{\"dsn\":\"\xff\xfe\",\"sdk\":{\"name\":\"\xc3\"}}\n", items: 0},
	{name: "invalid UTF-8 in payload", in: "{}\n" + eventItem("{\"message\":\"caf\xe9\"}"), items: 1},
	{name: "10,000 levels in an event", in: "{}\n" + eventItem(`{"extra":`+nested(5000)+`}`), items: 1},
	{name: "20,000 levels in an event", in: "{}\n" + eventItem(`{"exception":{"values":[`+nested(10000)+`]}}`), items: 1},
	{name: "event over the limit", in: "{}\n" + `{"type":"event","length":1048577}` + "\n", err: ErrTooLarge,
		msg: "item 1 (event): length 1048577 exceeds the limit of 1048576 bytes"},
	{name: "event line over the limit", in: "{}\n" + `{"type":"event"}` + "\n" + strings.Repeat("x", 1<<20+1) + "\n", err: ErrTooLarge, msg: "payload exceeds the limit"},
	{name: "check-in over the limit", in: "{}\n" + `{"type":"check_in","length":102401}` + "\n", err: ErrTooLarge},
	{name: "log over the limit", in: "{}\n" + `{"type":"log"}` + "\n" + strings.Repeat("x", 1<<20+1), err: ErrTooLarge},
	{name: "header line over the limit", in: `{"x":"` + strings.Repeat("x", maxHeaderLine) + `"}` + "\n", err: ErrTooLarge, msg: "envelope header exceeds"},
	{name: "item header over the limit", in: "{}\n" + `{"type":"event","x":"` + strings.Repeat("x", maxHeaderLine) + `"}` + "\n", err: ErrTooLarge},
	{name: "too many items", in: "{}\n" + strings.Repeat(`{"type":"session","length":2}`+"\n{}\n", 1001), err: ErrTooLarge, msg: "more than 1000 items"},
	{name: "big skipped item", in: "{}\n" + `{"type":"attachment"}` + "\n" + strings.Repeat("x", 3<<20) + "\n", skipped: 1},
}

func TestParseEnvelopeHostile(t *testing.T) {
	for _, c := range hostileEnvelopes {
		t.Run(c.name, func(t *testing.T) {
			env, err := ParseEnvelope(strings.NewReader(c.in), Limits{})
			if c.err != nil {
				if !errors.Is(err, c.err) {
					t.Fatalf("got %v, want %v", err, c.err)
				}
				checkSentinel(t, err)
				if !strings.Contains(err.Error(), c.msg) {
					t.Fatalf("error %q does not contain %q", err, c.msg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			checkEnvelope(t, env, Limits{})
			skipped := 0
			for _, n := range env.Skipped {
				skipped += n
			}
			if len(env.Items) != c.items || skipped != c.skipped {
				t.Fatalf("%d items, %d skipped; want %d, %d", len(env.Items), skipped, c.items, c.skipped)
			}
			if c.msg != "" && !strings.Contains(string(env.Items[0].Payload), c.msg) {
				t.Fatalf("payload %q does not contain %q", env.Items[0].Payload, c.msg)
			}
			for _, it := range env.Items {
				if it.Type != ItemEvent {
					continue
				}
				// Success or ErrMalformed, never a panic.
				if ev, err := DecodeEvent(it.Payload); err != nil {
					checkSentinel(t, err)
				} else {
					checkEvent(t, ev)
				}
			}
		})
	}
}

func TestParseEnvelopeLimits(t *testing.T) {
	in := "{}\n" + eventItem(`{"level":"info"}`) + `{"type":"check_in"}` + "\n" + `{"check_in_id":"x"}` + "\n"
	lim := Limits{MaxEventBytes: 15, MaxCheckInBytes: 18, MaxItems: 2}
	if _, err := ParseEnvelope(strings.NewReader(in), lim); !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "item 1 (event)") {
		t.Fatalf("event of 16 bytes over a 15-byte limit: %v", err)
	}
	lim.MaxEventBytes = 16
	if _, err := ParseEnvelope(strings.NewReader(in), lim); !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "item 2 (check_in)") {
		t.Fatalf("check-in of 19 bytes over an 18-byte limit: %v", err)
	}
	lim.MaxCheckInBytes = 19
	env, err := ParseEnvelope(strings.NewReader(in), lim)
	if err != nil || len(env.Items) != 2 {
		t.Fatalf("at the limits: %v", err)
	}
	lim.MaxItems = 1
	if _, err := ParseEnvelope(strings.NewReader(in), lim); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("2 items over a limit of 1: %v", err)
	}
}

// TestParseEnvelopeSkipsWithoutBuffering parses an envelope with 64 MiB of
// attachments, with and without length, and checks that they were never
// held in memory.
func TestParseEnvelopeSkipsWithoutBuffering(t *testing.T) {
	const size = 32 << 20
	body := func() io.Reader {
		return io.MultiReader(
			strings.NewReader("{}\n"+fmt.Sprintf(`{"type":"attachment","length":%d}`, size)+"\n"),
			io.LimitReader(zeros{}, size),
			strings.NewReader("\n"+`{"type":"replay_recording"}`+"\n"),
			io.LimitReader(zeros{}, size),
			strings.NewReader("\n"+eventItem(`{}`)),
		)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	env, err := ParseEnvelope(body(), Limits{})
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	if env.Skipped["attachment"] != 1 || env.Skipped["replay_recording"] != 1 || len(env.Items) != 1 {
		t.Fatalf("items %v, skipped %v", env.Items, env.Skipped)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 1<<20 {
		t.Fatalf("allocated %d bytes to skip 64 MiB", alloc)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'z'
	}
	return len(p), nil
}

// TestParseEnvelopeReadError checks that a reader's error is reported with
// ErrMalformed and can still be recognised by the caller.
func TestParseEnvelopeReadError(t *testing.T) {
	limiterErr := errors.New("http: request body too large")
	for _, prefix := range []string{"", "{}\n", "{}\n" + `{"type":"event","length":10}` + "\n{", "{}\n" + `{"type":"event"}` + "\n{"} {
		r := io.MultiReader(strings.NewReader(prefix), &failingReader{limiterErr})
		_, err := ParseEnvelope(r, Limits{})
		if !errors.Is(err, limiterErr) || !errors.Is(err, ErrMalformed) || errors.Is(err, ErrTooLarge) {
			t.Errorf("after %q: %v", prefix, err)
		}
	}
}

type failingReader struct{ err error }

func (f *failingReader) Read([]byte) (int, error) { return 0, f.err }

func TestParseEnvelopeHeader(t *testing.T) {
	_, g := decodeFixture(t, "go.envelope")
	h := g.Header
	want := EnvelopeHeader{
		EventID: "9ec79c33ec9942ab8353589fcb2e04dc",
		DSN:     "https://0f1e2d3c4b5a69788796a5b4c3d2e1f0@telltale.example.com/42",
		SentAt:  time.Date(2026, 1, 15, 10, 25, 11, 309877000, time.UTC),
		Trace: TraceContext{TraceID: "b1c2d3e4f5a60718293a4b5c6d7e8f90", PublicKey: "0f1e2d3c4b5a69788796a5b4c3d2e1f0",
			Release: "checkout@v3.8.0", Environment: "staging"},
	}
	want.SDK.Name, want.SDK.Version = "sentry.go", "0.31.1"
	if h != want {
		t.Fatalf("header\n got %+v\nwant %+v", h, want)
	}
	// A dashed, upper-case event id is normalised.
	env, err := ParseEnvelope(strings.NewReader(`{"event_id":"0B6C3A9F-2E1D-4C8B-A7F6-E5D4C3B2A190"}`), Limits{})
	if err != nil || env.Header.EventID != "0b6c3a9f2e1d4c8ba7f6e5d4c3b2a190" {
		t.Fatalf("event id %q, %v", env.Header.EventID, err)
	}
}

func TestFixtureEnvelopes(t *testing.T) {
	cases := []struct {
		name    string
		types   []string
		skipped map[string]int
	}{
		{"python.envelope", []string{"event"}, nil},
		{"javascript-browser.envelope", []string{"event"}, nil},
		{"java.envelope", []string{"event"}, nil},
		{"go.envelope", []string{"event"}, nil},
		{"checkin.envelope", []string{"check_in"}, nil},
		{"client-report-only.envelope", nil, map[string]int{"client_report": 1}},
		{"mixed.envelope", []string{"event"}, map[string]int{"attachment": 1, "statsd_v2": 1, "client_report": 1}},
		{"no-length.envelope", []string{"event"}, map[string]int{"session": 1, "user_report": 1}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env, _ := decodeFixture(t, c.name)
			var types []string
			for _, it := range env.Items {
				types = append(types, it.Type)
			}
			if fmt.Sprint(types) != fmt.Sprint(c.types) || fmt.Sprint(env.Skipped) != fmt.Sprint(c.skipped) {
				t.Fatalf("items %v, skipped %v", types, env.Skipped)
			}
		})
	}
	// The event of no-length.envelope ends with the CR of its CRLF.
	env, _ := decodeFixture(t, "no-length.envelope")
	if p := env.Items[0].Payload; !bytes.HasSuffix(p, []byte("}\r")) {
		t.Errorf("payload ends with %q", p[len(p)-3:])
	}
}
