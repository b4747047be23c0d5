package sentry

import (
	"bytes"
	"encoding/json"
	"errors"
	"path/filepath"
	"reflect"
	"testing"
	"unicode/utf8"

	"github.com/fibinc/telltale/internal/telemetry"
)

// The fuzzers feed arbitrary input to every decoder. Whatever the input, they
// must not panic, every error must wrap exactly one sentinel, and what is
// returned must hold the invariants below.

// fuzzLimits are small so that the size checks are reached.
var fuzzLimits = Limits{MaxEventBytes: 4096, MaxCheckInBytes: 512, MaxItemBytes: 1024, MaxItems: 16}

func addFixtures(f *testing.F, pattern string) {
	paths, _ := filepath.Glob(filepath.Join("testdata", pattern))
	if len(paths) == 0 {
		f.Fatalf("no fixtures match %s", pattern)
	}
	for _, p := range paths {
		f.Add(readTestdata(f, filepath.Base(p)))
	}
}

func FuzzParseEnvelope(f *testing.F) {
	addFixtures(f, "*.envelope")
	for _, c := range hostileEnvelopes {
		if len(c.in) < 8<<10 { // big seeds make mutation and minimisation crawl
			f.Add([]byte(c.in))
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		env, err := ParseEnvelope(bytes.NewReader(b), fuzzLimits)
		if err != nil {
			checkSentinel(t, err)
			return
		}
		checkEnvelope(t, env, fuzzLimits)
		for _, it := range env.Items {
			switch it.Type {
			case ItemEvent:
				if ev, err := DecodeEvent(it.Payload); err != nil {
					checkSentinel(t, err)
				} else {
					checkEvent(t, ev)
				}
			case ItemCheckIn:
				if c, err := DecodeCheckIn(it.Payload); err != nil {
					checkSentinel(t, err)
				} else {
					checkCheckIn(t, c)
				}
			}
		}
	})
}

func FuzzDecodeEvent(f *testing.F) {
	for _, name := range []string{"python.envelope", "javascript-browser.envelope", "java.envelope", "go.envelope", "mixed.envelope", "no-length.envelope"} {
		env, err := ParseEnvelope(bytes.NewReader(readTestdata(f, name)), Limits{})
		if err != nil {
			f.Fatal(err)
		}
		f.Add(env.Items[0].Payload)
	}
	for _, c := range eventShapes {
		if len(c.in) < 8<<10 {
			f.Add([]byte(c.in))
		}
	}
	f.Add([]byte(`{"exception":[` + nested(40) + `],"extra":` + nested(40) + `}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		ev, err := DecodeEvent(b)
		if err != nil {
			checkSentinel(t, err)
			return
		}
		checkEvent(t, ev)
	})
}

func FuzzDecodeCheckIn(f *testing.F) {
	env, err := ParseEnvelope(bytes.NewReader(readTestdata(f, "checkin.envelope")), Limits{})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(env.Items[0].Payload)
	for _, c := range checkInCases {
		f.Add([]byte(c.in))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := DecodeCheckIn(b)
		if err != nil {
			checkSentinel(t, err)
			return
		}
		checkCheckIn(t, c)
	})
}

func FuzzDecodeStoreBody(f *testing.F) {
	addFixtures(f, "store-*")
	f.Add([]byte("e30"))              // {} unpadded
	f.Add([]byte("eJyrrgUAAXUA+Q==")) // zlib of {}
	f.Fuzz(func(t *testing.T, b []byte) {
		const maxBytes = 1 << 12
		out, err := DecodeStoreBody(b, maxBytes)
		if err != nil {
			checkSentinel(t, err)
			return
		}
		if len(out) > maxBytes || len(out) == 0 || out[0] != '{' {
			t.Fatalf("store body of %d bytes does not start with {: %.20q", len(out), out)
		}
		if ev, err := DecodeEvent(out); err == nil {
			checkEvent(t, ev)
		}
	})
}

func FuzzParseAuthHeader(f *testing.F) {
	for _, c := range authCases {
		f.Add(c.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseAuthHeader(s)
		if err != nil {
			return
		}
		if a.PublicKey == "" || len(a.PublicKey) > maxKeyLen || !utf8.ValidString(a.Client) || !utf8.ValidString(a.Version) {
			t.Fatalf("bad auth %+v from %q", a, s)
		}
	})
}

func FuzzParseDSN(f *testing.F) {
	for _, c := range dsnCases {
		f.Add(c.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDSN(s)
		if err != nil {
			return
		}
		again, err := ParseDSN(d.String())
		if err != nil || again != d {
			t.Fatalf("%q -> %+v -> %q -> %+v, %v", s, d, d.String(), again, err)
		}
	})
}

func checkSentinel(t *testing.T, err error) {
	t.Helper()
	if errors.Is(err, ErrMalformed) == errors.Is(err, ErrTooLarge) {
		t.Fatalf("error %q wraps not exactly one sentinel", err)
	}
	if err.Error() == "" {
		t.Fatal("empty error message")
	}
}

func checkEnvelope(t *testing.T, env *Envelope, lim Limits) {
	t.Helper()
	lim = lim.withDefaults()
	events := 0
	for _, it := range env.Items {
		keep, maxBytes := lim.limit(it.Type)
		if !keep {
			t.Fatalf("kept item of type %q", it.Type)
		}
		if int64(len(it.Payload)) > maxBytes {
			t.Fatalf("%s item of %d bytes over the %d limit", it.Type, len(it.Payload), maxBytes)
		}
		if it.Type == ItemEvent {
			events++
		}
	}
	n := len(env.Items)
	for typ, c := range env.Skipped {
		if keep, _ := lim.limit(typ); keep || c <= 0 {
			t.Fatalf("skipped %d items of type %q", c, typ)
		}
		n += c
	}
	if events > 1 || n > lim.MaxItems {
		t.Fatalf("%d events, %d items", events, n)
	}
	if id := env.Header.EventID; id != "" && hexID(id, 32) != id {
		t.Fatalf("event id %q", id)
	}
	checkStrings(t, "header", reflect.ValueOf(env.Header))
}

// checkEvent checks the invariants of a decoded event.
func checkEvent(t *testing.T, ev telemetry.ErrorEvent) {
	t.Helper()
	checkStrings(t, "event", reflect.ValueOf(ev))
	if ev.EventID != "" && hexID(ev.EventID, 32) != ev.EventID {
		t.Fatalf("event id %q", ev.EventID)
	}
	if ev.TraceID != "" && hexID(ev.TraceID, 32) != ev.TraceID || ev.SpanID != "" && hexID(ev.SpanID, 16) != ev.SpanID {
		t.Fatalf("trace id %q, span id %q", ev.TraceID, ev.SpanID)
	}
	switch ev.Level {
	case telemetry.LevelFatal, telemetry.LevelError, telemetry.LevelWarning, telemetry.LevelInfo, telemetry.LevelDebug:
	default:
		t.Fatalf("level %q", ev.Level)
	}
	if ev.Platform == "" || ev.Environment == "" || ev.Source != telemetry.ErrorSourceSentry {
		t.Fatalf("platform %q, environment %q, source %q", ev.Platform, ev.Environment, ev.Source)
	}
	for what, s := range map[string]string{"contexts": ev.Contexts, "extra": ev.Extra, "attributes": ev.Attributes} {
		if !json.Valid([]byte(s)) || !isObject([]byte(s)) {
			t.Fatalf("%s is not a JSON object: %q", what, s)
		}
	}
	for _, b := range ev.Breadcrumbs {
		if b.Data != "" && !json.Valid([]byte(b.Data)) {
			t.Fatalf("breadcrumb data is not JSON: %q", b.Data)
		}
	}
	if len(ev.Stacktrace) > maxFrames || len(ev.Exceptions) > maxExceptions || len(ev.Breadcrumbs) > maxBreadcrumbs {
		t.Fatalf("%d frames, %d exceptions, %d breadcrumbs", len(ev.Stacktrace), len(ev.Exceptions), len(ev.Breadcrumbs))
	}
	for _, ex := range ev.Exceptions {
		if len(ex.Frames) > maxFrames {
			t.Fatalf("%d frames", len(ex.Frames))
		}
	}
	for _, tag := range ev.Tags {
		if tag.Key == "" || utf8.RuneCountInString(tag.Key) > maxTagLen || utf8.RuneCountInString(tag.Value) > maxTagLen {
			t.Fatalf("tag %q=%q", tag.Key, tag.Value)
		}
	}
	if utf8.RuneCountInString(ev.Message) > maxMessageLen || len(ev.Request.Data) > maxDataBytes {
		t.Fatalf("message of %d bytes, request data of %d bytes", len(ev.Message), len(ev.Request.Data))
	}
}

func checkCheckIn(t *testing.T, c CheckIn) {
	t.Helper()
	checkStrings(t, "check-in", reflect.ValueOf(c))
	if hexID(c.CheckInID, 32) != c.CheckInID || c.MonitorSlug == "" || len(c.MonitorSlug) > maxSlugLen || slugify(c.MonitorSlug) != c.MonitorSlug {
		t.Fatalf("check-in id %q, slug %q", c.CheckInID, c.MonitorSlug)
	}
	switch c.Status {
	case CheckInInProgress, CheckInOK, CheckInError:
	default:
		t.Fatalf("status %q", c.Status)
	}
	if c.Duration < 0 {
		t.Fatalf("duration %v", c.Duration)
	}
	if mc := c.MonitorConfig; mc != nil && (mc.Schedule == "" || mc.ScheduleType != "crontab" && mc.ScheduleType != "interval" || mc.CheckinMargin < 0 || mc.MaxRuntime < 0) {
		t.Fatalf("monitor config %+v", *mc)
	}
}

// checkStrings fails if a string anywhere in v is not valid UTF-8.
func checkStrings(t *testing.T, path string, v reflect.Value) {
	t.Helper()
	switch v.Kind() {
	case reflect.String:
		if !utf8.ValidString(v.String()) {
			t.Fatalf("%s is not valid UTF-8: %q", path, v.String())
		}
	case reflect.Pointer:
		if !v.IsNil() {
			checkStrings(t, path, v.Elem())
		}
	case reflect.Struct:
		for i := range v.NumField() {
			checkStrings(t, path+"."+v.Type().Field(i).Name, v.Field(i))
		}
	case reflect.Slice:
		for i := range v.Len() {
			checkStrings(t, path, v.Index(i))
		}
	}
}
