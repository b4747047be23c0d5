package jsonlog

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/fibinc/telltale/internal/telemetry"
)

// fuzzOptions bound the window so that its checks are fuzzed too, and keep
// every line error so that each line's outcome is known.
var fuzzOptions = Options{Now: now, MinTime: now.AddDate(-30, 0, 0), MaxTime: now.AddDate(30, 0, 0), MaxLineBytes: 4096, MaxAttributes: 16}

// FuzzDecode checks, whatever the body, that Decode does not panic, that
// every record is accounted for as accepted or rejected, that accepted
// records are well formed, and, line by line, that a line is accepted
// exactly when encoding/json reads it as an object.
func FuzzDecode(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.ndjson")
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{
		``, "\n\n", `[{"msg":"a"},1,{"msg":}]`, "{\n\"msg\":\"pretty\"\n}", `{"a":1}{"b":2}`,
		`{"msg":"\ud800\u0041 \ud83d\ude00 \u00"}`, "{\"msg\":\"\xff\"}", `{"a":{"b":{"c":[{"d":{}}]}}}`,
		`{"time":"2024-05-04 10:00:00,5 +02:00","level":"INFO+3","trace_id":"0AF7651916CD43DD8448EB211C80319C"}`,
		`{"ts":1.7e9,"level":55,"req_id":7,"resource":{"service.name":"s","x":1},"a":1e999}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		res, err := Decode(body, fuzzOptions)
		if err != nil {
			if l := layoutOf(body); l != layoutArray && !errors.Is(err, ErrTooManyLines) {
				t.Fatalf("error %v for a body that is not an array", err)
			}
			if raw := []json.RawMessage{}; json.Unmarshal(body, &raw) == nil && len(raw) <= DefaultMaxLines {
				t.Fatalf("error %v for an array that encoding/json reads", err)
			}
			return
		}
		for i := range res.Logs {
			checkLog(t, &res.Logs[i])
		}
		if len(res.Errors) != res.Rejected {
			t.Fatalf("%d errors for %d rejected lines", len(res.Errors), res.Rejected)
		}
		n := 0
		for _, c := range res.RejectedByReason {
			n += c
		}
		if n != res.Rejected {
			t.Fatalf("rejected by reason %v, total %d", res.RejectedByReason, res.Rejected)
		}
		accepted := len(res.Logs)
		switch layoutOf(body) {
		case layoutObject:
			if accepted+res.Rejected != 1 {
				t.Fatalf("one object: %d accepted, %d rejected", accepted, res.Rejected)
			}
		case layoutArray:
			if raw := []json.RawMessage{}; json.Unmarshal(body, &raw) == nil && accepted+res.Rejected != len(raw) {
				t.Fatalf("array of %d: %d accepted, %d rejected", len(raw), accepted, res.Rejected)
			}
		case layoutLines:
			checkLines(t, body, res)
		}
	})
}

// checkLines compares each line's outcome with what encoding/json makes of it.
func checkLines(t *testing.T, body []byte, res Result) {
	rejected := map[int]LineError{}
	for _, e := range res.Errors {
		rejected[e.Line] = e
	}
	next := 0 // index of the next accepted record
	for i, line := range bytes.Split(body, []byte("\n")) {
		num := i + 1
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			if _, ok := rejected[num]; ok {
				t.Fatalf("blank line %d rejected", num)
			}
			continue
		}
		e, isRejected := rejected[num]
		var l *telemetry.Log
		if !isRejected {
			if next >= len(res.Logs) {
				t.Fatalf("line %d neither accepted nor rejected", num)
			}
			l = &res.Logs[next]
			next++
		}
		// encoding/json allows deeper nesting and longer lines; compare only
		// where the limits cannot be the reason.
		if len(line) > fuzzOptions.MaxLineBytes || bytes.Count(line, []byte("{"))+bytes.Count(line, []byte("[")) > MaxDepth {
			continue
		}
		var m map[string]json.RawMessage
		valid := line[0] == '{' && json.Unmarshal(line, &m) == nil
		structural := isRejected && (e.Reason == ReasonMalformed || e.Reason == ReasonNotObject || e.Reason == ReasonTooDeep)
		if valid == structural {
			t.Fatalf("line %d %q: encoding/json valid=%v, decoder %+v", num, line, valid, e)
		}
		if l == nil || !utf8.Valid(line) {
			continue
		}
		// The body is the unescaped msg, as encoding/json reads it.
		var msg string
		if raw, ok := m["msg"]; ok && json.Unmarshal(raw, &msg) == nil {
			if want := strings.ReplaceAll(strings.TrimRight(msg, "\r\n"), "\x00", "\uFFFD"); l.Body != want {
				t.Fatalf("line %d %q: body %q, want %q", num, line, l.Body, want)
			}
		}
	}
	if next != len(res.Logs) {
		t.Fatalf("%d records for %d accepted lines", len(res.Logs), next)
	}
}

func checkLog(t *testing.T, l *telemetry.Log) {
	t.Helper()
	if l.Time.IsZero() || l.Time.Before(fuzzOptions.MinTime) || l.Time.After(fuzzOptions.MaxTime) {
		t.Fatalf("time %s outside the window", l.Time)
	}
	if !l.ObservedTime.Equal(now) {
		t.Fatalf("observed time %s, want %s", l.ObservedTime, now)
	}
	if l.Severity < 0 || l.Severity > 24 {
		t.Fatalf("severity %d", l.Severity)
	}
	if l.Source != Source || l.ServiceName == "" {
		t.Fatalf("source %q service %q", l.Source, l.ServiceName)
	}
	for _, js := range []string{l.Attributes, l.Resource.Attributes} {
		var m map[string]any
		if err := json.Unmarshal([]byte(js), &m); err != nil || m == nil {
			t.Fatalf("attributes %q: not a JSON object: %v", js, err)
		}
		if !utf8.ValidString(js) {
			t.Fatalf("attributes %q: invalid UTF-8", js)
		}
	}
	for _, s := range []string{l.Body, l.SeverityText, l.RequestID, l.ServiceName, l.ServiceVersion, l.Environment, l.Host, l.InstanceID, l.AvailabilityZone, l.Scope.Name} {
		if !utf8.ValidString(s) || strings.Contains(s, "\x00") {
			t.Fatalf("invalid UTF-8 or NUL in %q", s)
		}
	}
	if l.TraceID != "" && !isLowerHex(l.TraceID, 32) || l.SpanID != "" && !isLowerHex(l.SpanID, 16) {
		t.Fatalf("ids %q %q", l.TraceID, l.SpanID)
	}
	if l.RequestID != "" && (len(l.RequestID) > maxRequestIDBytes || strings.ContainsAny(l.RequestID, " \t\n")) {
		t.Fatalf("request id %q", l.RequestID)
	}
}

func isLowerHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return strings.Trim(s, "0") != ""
}
