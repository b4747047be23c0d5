package jsonlog

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/fibinc/telltale/internal/telemetry"
)

var now = time.Date(2024, 5, 4, 12, 0, 0, 0, time.UTC)

// one decodes a single line and returns its record, failing the test when
// the line is rejected.
func one(t *testing.T, line string) telemetry.Log {
	t.Helper()
	res, err := Decode([]byte(line), Options{Now: now})
	if err != nil {
		t.Fatalf("Decode(%s): %v", line, err)
	}
	if len(res.Logs) != 1 {
		t.Fatalf("Decode(%s): %d records, errors %v", line, len(res.Logs), res.Errors)
	}
	return res.Logs[0]
}

func attrs(t *testing.T, l telemetry.Log) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(l.Attributes), &m); err != nil {
		t.Fatalf("attributes %s: %v", l.Attributes, err)
	}
	return m
}

func TestTime(t *testing.T) {
	for _, tc := range []struct {
		line string
		want time.Time
		kept string // the attribute left when the value is not a time
	}{
		{`{"time":"2024-05-04T10:00:00Z"}`, time.Date(2024, 5, 4, 10, 0, 0, 0, time.UTC), ""},
		{`{"time":"2024-05-04T10:00:00.123456789+02:00"}`, time.Date(2024, 5, 4, 8, 0, 0, 123456789, time.UTC), ""},
		{`{"timestamp":"2024-05-04t10:00:00.5z"}`, time.Date(2024, 5, 4, 10, 0, 0, 5e8, time.UTC), ""},
		{`{"ts":"2024-05-04 10:00:00"}`, time.Date(2024, 5, 4, 10, 0, 0, 0, time.UTC), ""},
		{`{"ts":"2024-05-04 10:00:00.25 +0130"}`, time.Date(2024, 5, 4, 8, 30, 0, 25e7, time.UTC), ""},
		{`{"ts":"2024-05-04 10:00:00 UTC"}`, time.Date(2024, 5, 4, 10, 0, 0, 0, time.UTC), ""},
		{`{"ts":"2024-05-04T10:00:00-05"}`, time.Date(2024, 5, 4, 15, 0, 0, 0, time.UTC), ""},
		{`{"asctime":"2024-05-04 10:00:00,123"}`, time.Date(2024, 5, 4, 10, 0, 0, 123e6, time.UTC), ""},
		{`{"@timestamp":"2024-05-04T10:00:00.1234567891234Z"}`, time.Date(2024, 5, 4, 10, 0, 0, 123456789, time.UTC), ""},
		// Epoch numbers: seconds, milliseconds, microseconds, nanoseconds.
		{`{"ts":1714816800}`, time.Unix(1714816800, 0), ""},
		{`{"ts":1714816800.123456}`, time.Unix(1714816800, 123456000), ""},
		{`{"time":1714816800123}`, time.Unix(1714816800, 123e6), ""},
		{`{"time":1714816800123456}`, time.Unix(1714816800, 123456e3), ""},
		{`{"time":1714816800123456789}`, time.Unix(1714816800, 123456789), ""},
		{`{"date":1.7148168e9}`, time.Unix(1714816800, 0), ""},
		{`{"t":"1714816800.5"}`, time.Unix(1714816800, 5e8), ""},
		// The first key that holds a time wins; the others stay attributes.
		{`{"ts":1714816800,"time":"2024-05-04T10:00:00Z"}`, time.Date(2024, 5, 4, 10, 0, 0, 0, time.UTC), "ts"},
		{`{"time":"yesterday","ts":1714816800}`, time.Unix(1714816800, 0), "time"},
		// Not times: the time of receipt, and the value kept.
		{`{"time":"yesterday"}`, now, "time"},
		{`{"time":0}`, now, "time"},
		{`{"time":-5}`, now, "time"},
		{`{"time":"2024-02-30T10:00:00Z"}`, now, "time"},
		{`{"time":"2024-05-04T24:00:00Z"}`, now, "time"},
		{`{"time":"2024-05-04T10:00:00+25:00"}`, now, "time"},
		{`{"time":"2024-05-04T10:00:00.Z"}`, now, "time"},
		{`{"time":"1969-12-31T23:59:59Z"}`, now, "time"},
		{`{"time":99999999999999999999}`, now, "time"},
		{`{"time":true}`, now, "time"},
		{`{}`, now, ""},
	} {
		l := one(t, tc.line)
		if !l.Time.Equal(tc.want) {
			t.Errorf("%s: time %s, want %s", tc.line, l.Time, tc.want.UTC())
		}
		if l.Time.Location() != time.UTC {
			t.Errorf("%s: time not in UTC", tc.line)
		}
		if !l.ObservedTime.Equal(now) {
			t.Errorf("%s: observed time %s, want the time of receipt", tc.line, l.ObservedTime)
		}
		a := attrs(t, l)
		if tc.kept != "" {
			if _, ok := a[tc.kept]; !ok || len(a) != 1 {
				t.Errorf("%s: attributes %s, want only %s", tc.line, l.Attributes, tc.kept)
			}
		} else if len(a) != 0 {
			t.Errorf("%s: attributes %s, want none", tc.line, l.Attributes)
		}
	}
}

func TestLevel(t *testing.T) {
	for _, tc := range []struct {
		line     string
		severity int32
		text     string
	}{
		{`{"level":"INFO"}`, 9, "INFO"},
		{`{"level":"warning"}`, 13, "warning"},
		{`{"severity":"Error"}`, 17, "Error"},
		{`{"lvl":"eRR"}`, 17, "eRR"},
		{`{"levelname":"CRITICAL"}`, 21, "CRITICAL"},
		{`{"severity_text":"notice"}`, 9, "notice"},
		{`{"log.level":"trace"}`, 1, "trace"},
		{`{"log":{"level":"debug"}}`, 5, "debug"},
		{`{"level":"panic"}`, 21, "panic"},
		{`{"level":"emerg"}`, 21, "emerg"},
		// slog offsets.
		{`{"level":"INFO+2"}`, 11, "INFO+2"},
		{`{"level":"DEBUG-4"}`, 1, "DEBUG-4"},
		{`{"level":"ERROR+8"}`, 24, "ERROR+8"},
		{`{"level":"INFO+x"}`, 0, "INFO+x"},
		// pino and bunyan.
		{`{"level":10}`, 1, "10"},
		{`{"level":20}`, 5, "20"},
		{`{"level":30}`, 9, "30"},
		{`{"level":35}`, 9, "35"},
		{`{"level":40}`, 13, "40"},
		{`{"level":50}`, 17, "50"},
		{`{"level":60}`, 21, "60"},
		{`{"level":"50"}`, 17, "50"},
		// syslog.
		{`{"level":0}`, 21, "0"},
		{`{"level":3}`, 17, "3"},
		{`{"level":4}`, 13, "4"},
		{`{"level":5}`, 10, "5"},
		{`{"level":6}`, 9, "6"},
		{`{"level":7}`, 5, "7"},
		// Unknown values keep their text.
		{`{"level":8}`, 0, "8"},
		{`{"level":100}`, 0, "100"},
		{`{"level":1.5}`, 0, "1.5"},
		{`{"level":"verbose2"}`, 0, "verbose2"},
		// severity_number wins over the number the text gives.
		{`{"severity_text":"WARN","severity_number":14}`, 14, "WARN"},
		{`{"severity_number":18}`, 18, ""},
		{`{}`, 0, ""},
	} {
		l := one(t, tc.line)
		if l.Severity != tc.severity || l.SeverityText != tc.text {
			t.Errorf("%s: severity %d %q, want %d %q", tc.line, l.Severity, l.SeverityText, tc.severity, tc.text)
		}
		if l.Attributes != "{}" {
			t.Errorf("%s: attributes %s, want none", tc.line, l.Attributes)
		}
	}
	// Values that cannot be levels stay attributes.
	for _, line := range []string{`{"level":true}`, `{"level":""}`, `{"level":[1]}`, `{"severity_number":25}`, `{"severity_number":"9"}`} {
		if l := one(t, line); l.Severity != 0 || l.Attributes == "{}" {
			t.Errorf("%s: severity %d, attributes %s: want 0 and the value kept", line, l.Severity, l.Attributes)
		}
	}
}

const (
	traceHex = "0af7651916cd43dd8448eb211c80319c"
	spanHex  = "b7ad6b7169203331"
)

func TestIDs(t *testing.T) {
	for _, tc := range []struct {
		line                 string
		trace, span, request string
		attrs                string
	}{
		{`{"trace_id":"` + traceHex + `","span_id":"` + spanHex + `"}`, traceHex, spanHex, "", "{}"},
		{`{"traceId":"` + strings.ToUpper(traceHex) + `","spanId":"` + strings.ToUpper(spanHex) + `"}`, traceHex, spanHex, "", "{}"},
		{`{"trace":{"id":"` + traceHex + `"},"span":{"id":"` + spanHex + `"}}`, traceHex, spanHex, "", "{}"},
		{`{"otelTraceID":"` + traceHex + `","otelSpanID":"` + spanHex + `"}`, traceHex, spanHex, "", "{}"},
		// Invalid ids stay attributes.
		{`{"trace_id":"abc","span_id":"00000000000000000"}`, "", "", "", `{"trace_id":"abc","span_id":"00000000000000000"}`},
		{`{"trace_id":"00000000000000000000000000000000"}`, "", "", "", `{"trace_id":"00000000000000000000000000000000"}`},
		{`{"dd.trace_id":"1234567890"}`, "", "", "", `{"dd.trace_id":"1234567890"}`},
		{`{"trace_id":"` + traceHex + `x"}`, "", "", "", `{"trace_id":"` + traceHex + `x"}`},
		// An invalid first choice gives way to a valid second.
		{`{"trace_id":"nope","traceId":"` + traceHex + `"}`, traceHex, "", "", `{"trace_id":"nope"}`},
		// Request ids.
		{`{"request_id":"3b9d41f8-0c1e-4d5a-9b7e-1f2a3c4d5e6f"}`, "", "", "3b9d41f8-0c1e-4d5a-9b7e-1f2a3c4d5e6f", "{}"},
		{`{"requestId":"r-42"}`, "", "", "r-42", "{}"},
		{`{"request":{"id":"abc"}}`, "", "", "abc", "{}"},
		{`{"req_id":1234}`, "", "", "1234", "{}"},
		{`{"x-request-id":"X"}`, "", "", "X", "{}"},
		{`{"request_id":"a b"}`, "", "", "", `{"request_id":"a b"}`},
		{`{"request_id":""}`, "", "", "", `{"request_id":""}`},
		{`{"request_id":1.5}`, "", "", "", `{"request_id":1.5}`},
		{`{"request_id":"` + strings.Repeat("x", 129) + `"}`, "", "", "", `{"request_id":"` + strings.Repeat("x", 129) + `"}`},
	} {
		l := one(t, tc.line)
		if l.TraceID != tc.trace || l.SpanID != tc.span || l.RequestID != tc.request || l.Attributes != tc.attrs {
			t.Errorf("%s:\n got trace %q span %q request %q attrs %s\nwant trace %q span %q request %q attrs %s",
				tc.line, l.TraceID, l.SpanID, l.RequestID, l.Attributes, tc.trace, tc.span, tc.request, tc.attrs)
		}
	}
}

func TestResource(t *testing.T) {
	defaults := telemetry.Resource{ServiceName: "fromurl", Environment: "staging", Host: "h0", ServiceVersion: "v0"}
	for _, tc := range []struct {
		line          string
		opt           telemetry.Resource
		want          telemetry.Resource
		logger, attrs string
	}{
		{`{}`, telemetry.Resource{}, telemetry.Resource{ServiceName: "unknown_service", Attributes: "{}"}, "", "{}"},
		{`{}`, defaults, telemetry.Resource{ServiceName: "fromurl", Environment: "staging", Host: "h0", ServiceVersion: "v0", Attributes: "{}"}, "", "{}"},
		{`{}`, telemetry.Resource{ServiceName: "a\xffb", Host: "h\x00"}, telemetry.Resource{ServiceName: "a\uFFFDb", Host: "h\uFFFD", Attributes: "{}"}, "", "{}"},
		{`{"service":"api","env":"prod","hostname":"web-1","version":"1.2"}`, defaults,
			telemetry.Resource{ServiceName: "api", Environment: "prod", Host: "web-1", ServiceVersion: "1.2", Attributes: "{}"}, "", "{}"},
		{`{"app":"a","service_name":"b"}`, telemetry.Resource{}, telemetry.Resource{ServiceName: "b", Attributes: "{}"}, "", `{"app":"a"}`},
		{`{"service":{"name":"checkout","version":"2","environment":"prod"},"host":{"name":"n3"}}`, telemetry.Resource{},
			telemetry.Resource{ServiceName: "checkout", ServiceVersion: "2", Environment: "prod", Host: "n3", Attributes: "{}"}, "", "{}"},
		{`{"deployment.environment":"a","deployment.environment.name":"b","environment":"c"}`, telemetry.Resource{},
			telemetry.Resource{ServiceName: "unknown_service", Environment: "b", Attributes: "{}"}, "", `{"deployment.environment":"a","environment":"c"}`},
		{`{"version":3,"service.instance.id":"i-1","cloud.availability_zone":"eu-1a"}`, telemetry.Resource{},
			telemetry.Resource{ServiceName: "unknown_service", ServiceVersion: "3", InstanceID: "i-1", AvailabilityZone: "eu-1a", Attributes: "{}"}, "", "{}"},
		{`{"resource":{"service.name":"userstore","k8s.pod.name":"u-1"},"attributes":{"db":"pg"}}`, telemetry.Resource{},
			telemetry.Resource{ServiceName: "userstore", Attributes: `{"k8s.pod.name":"u-1"}`}, "", `{"attributes.db":"pg"}`},
		{`{"service":true,"host":""}`, defaults,
			telemetry.Resource{ServiceName: "fromurl", Environment: "staging", Host: "h0", ServiceVersion: "v0", Attributes: "{}"}, "", `{"service":true,"host":""}`},
		{`{"logger":"db.pool"}`, telemetry.Resource{}, telemetry.Resource{ServiceName: "unknown_service", Attributes: "{}"}, "db.pool", "{}"},
		{`{"log":{"logger":"checkout.api"}}`, telemetry.Resource{}, telemetry.Resource{ServiceName: "unknown_service", Attributes: "{}"}, "checkout.api", "{}"},
	} {
		res, err := Decode([]byte(tc.line), Options{Now: now, Resource: tc.opt})
		if err != nil || len(res.Logs) != 1 {
			t.Fatalf("%s: %v %v", tc.line, err, res.Errors)
		}
		l := res.Logs[0]
		if l.Resource != tc.want || l.Scope.Name != tc.logger || l.Attributes != tc.attrs {
			t.Errorf("%s:\n got %+v logger %q attrs %s\nwant %+v logger %q attrs %s", tc.line, l.Resource, l.Scope.Name, l.Attributes, tc.want, tc.logger, tc.attrs)
		}
	}
}

func TestBodyAndAttributes(t *testing.T) {
	for _, tc := range []struct {
		line, body, attrs string
	}{
		{`{"msg":"hello","user":"u42"}`, "hello", `{"user":"u42"}`},
		{`{"message":"a","msg":"b"}`, "b", `{"message":"a"}`},
		{`{"log":"GET /\n","stream":"stdout"}`, "GET /", `{"stream":"stdout"}`},
		{`{"text":"t\r\n\n"}`, "t", "{}"},
		{`{"event":"user logged in"}`, "user logged in", "{}"},
		{`{"body":{"a":1}}`, "", `{"body.a":1}`},
		{`{"msg":42}`, "42", "{}"},
		{`{"msg":["a",1]}`, `["a",1]`, "{}"},
		{`{"msg":null}`, "", `{"msg":null}`},
		{`{"msg":"line\tone \"q\" \u00e9 \ud83d\ude00"}`, "line\tone \"q\" é 😀", "{}"},
		// Nested objects are flattened, arrays kept, empty objects kept.
		{`{"user":{"id":7,"name":{"first":"A"}},"tags":["x",{"k":"v"}],"e":{}}`, "", `{"user.id":7,"user.name.first":"A","tags":["x",{"k":"v"}],"e":{}}`},
		// The last duplicate wins, in its place.
		{`{"a":1,"b":2,"a":3}`, "", `{"b":2,"a":3}`},
		{`{"a.b":1,"a":{"b":2}}`, "", `{"a.b":2}`},
		// Values are re-encoded: escapes, lone surrogates, huge numbers.
		{`{"s":"\u0001\/x","lone":"\ud800","big":1e999,"neg":-0.5e-3,"ok":true,"nil":null}`, "",
			`{"s":"\u0001/x","lone":"` + "\uFFFD" + `","big":"1e999","neg":-0.5e-3,"ok":true,"nil":null}`},
		{"{\"bad\":\"\xff\xfe\"}", "", `{"bad":"` + "\uFFFD" + `"}`}, // a run of bad bytes is one U+FFFD
		{`{"msg":"a\u0000b","k\u0000":"\u0000"}`, "a\uFFFDb", `{"k` + "\uFFFD" + `":"` + "\uFFFD" + `"}`},
		{`{"k\"ey":"v"}`, "", `{"k\"ey":"v"}`},
	} {
		l := one(t, tc.line)
		if l.Body != tc.body || l.Attributes != tc.attrs {
			t.Errorf("%s:\n got body %q attrs %s\nwant body %q attrs %s", tc.line, l.Body, l.Attributes, tc.body, tc.attrs)
		}
		if !json.Valid([]byte(l.Attributes)) {
			t.Errorf("%s: invalid attributes JSON %s", tc.line, l.Attributes)
		}
		if l.Source != "json" {
			t.Errorf("%s: source %q", tc.line, l.Source)
		}
	}
}

func TestMaxAttributes(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{"msg":"m","resource":{"r":1}`)
	for i := range 10 {
		b.WriteString(`,"k` + string(rune('0'+i)) + `":1`)
	}
	b.WriteString("}\n")
	line := b.String()
	res, err := Decode([]byte(line+line), Options{Now: now, MaxAttributes: 4})
	if err != nil || len(res.Logs) != 2 {
		t.Fatal(err, res.Errors)
	}
	if got, want := res.Logs[0].Attributes, `{"k0":1,"k1":1,"k2":1}`; got != want {
		t.Errorf("attributes %s, want %s", got, want)
	}
	if got, want := res.Logs[0].Resource.Attributes, `{"r":1}`; got != want {
		t.Errorf("resource attributes %s, want %s", got, want)
	}
	if res.Logs[0].Body != "m" {
		t.Errorf("body %q: known keys must not count as attributes", res.Logs[0].Body)
	}
	if res.DroppedAttributes != 14 {
		t.Errorf("dropped %d, want 14", res.DroppedAttributes)
	}
}

func TestRejections(t *testing.T) {
	deep := strings.Repeat(`{"a":`, MaxDepth) + "1" + strings.Repeat("}", MaxDepth)
	deeper := strings.Repeat(`{"a":`, MaxDepth+1) + "1" + strings.Repeat("}", MaxDepth+1)
	deepArray := `{"a":` + strings.Repeat("[", MaxDepth) + strings.Repeat("]", MaxDepth) + "}"
	body := strings.Join([]string{
		`{"msg":"ok 1"}`,                        // 1
		``,                                      // 2
		`   `,                                   // 3
		`not json`,                              // 4
		`[1,2]`,                                 // 5
		`"str"`,                                 // 6
		`{"msg":"unterminated}`,                 // 7
		`{"a":1}{"b":2}`,                        // 8
		`{"a":1,}`,                              // 9
		deep,                                    // 10: exactly the limit
		deeper,                                  // 11
		deepArray,                               // 12
		`{"a":` + strings.Repeat("x", 64) + `}`, // 13
		`{"time":"2000-01-01T00:00:00Z"}`,       // 14
		`{"time":"2100-01-01T00:00:00Z"}`,       // 15
		`{"msg":"` + strings.Repeat("x", 300) + `"}`, // 16
		"\t{\"msg\":\"ok 2\"}\r",                     // 17
	}, "\n")
	opt := Options{Now: now, MinTime: now.AddDate(-1, 0, 0), MaxTime: now.Add(24 * time.Hour), MaxLineBytes: 300}
	res, err := Decode([]byte(body), opt)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		line   int
		reason string
		msg    string
	}{
		{4, ReasonMalformed, "invalid JSON at byte 1"},
		{5, ReasonNotObject, "got an array"},
		{6, ReasonNotObject, "got a string"},
		{7, ReasonMalformed, "unterminated string"},
		{8, ReasonMalformed, "--data-binary"},
		{9, ReasonMalformed, "expected a string as object key"},
		{11, ReasonTooDeep, "nested deeper than 32 levels"},
		{12, ReasonTooDeep, "nested deeper than 32 levels"},
		{13, ReasonMalformed, "expected a value"},
		{14, ReasonTooOld, "before the accepted window"},
		{15, ReasonTooNew, "after the accepted window"},
		{16, ReasonLineTooLong, "exceeds the limit of 300 bytes"},
	}
	if len(res.Logs) != 3 || res.Rejected != len(want) || len(res.Errors) != len(want) {
		t.Fatalf("%d accepted, %d rejected, errors:\n%v", len(res.Logs), res.Rejected, res.Errors)
	}
	for i, w := range want {
		e := res.Errors[i]
		if e.Line != w.line || e.Reason != w.reason || !strings.Contains(e.Message, w.msg) {
			t.Errorf("error %d: %+v, want line %d %s containing %q", i, e, w.line, w.reason, w.msg)
		}
	}
	if res.RejectedByReason[ReasonMalformed] != 5 || res.RejectedByReason[ReasonTooDeep] != 2 {
		t.Errorf("by reason %v", res.RejectedByReason)
	}
	if res.Logs[0].Body != "ok 1" || res.Logs[2].Body != "ok 2" {
		t.Errorf("bodies %q %q", res.Logs[0].Body, res.Logs[2].Body)
	}
	if got := res.Errors[0].Error(); got != "line 4: invalid JSON at byte 1: a log line must be a JSON object" {
		t.Errorf("Error() = %q", got)
	}

	opt.MaxErrors = 2
	res, _ = Decode([]byte(body), opt)
	if len(res.Errors) != 2 || res.Rejected != len(want) {
		t.Errorf("MaxErrors 2: %d errors, %d rejected", len(res.Errors), res.Rejected)
	}
}

func TestLayouts(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		bodies     []string
		errLines   []int
		err        string
	}{
		{"empty", "", nil, nil, ""},
		{"blank", "\n \n\t\n", nil, nil, ""},
		{"no final newline", `{"msg":"a"}` + "\n" + `{"msg":"b"}`, []string{"a", "b"}, nil, ""},
		{"crlf", "{\"msg\":\"a\"}\r\n{\"msg\":\"b\"}\r\n", []string{"a", "b"}, nil, ""},
		{"array", ` [ {"msg":"a"} , {"msg":"b"},{"msg":"c"} ] `, []string{"a", "b", "c"}, nil, ""},
		{"pretty array", "[\n  {\n    \"msg\": \"a\"\n  },\n  {\"msg\": \"b\"}\n]\n", []string{"a", "b"}, nil, ""},
		{"array with bad elements", `[{"msg":"a"}, 1, "x", {"msg":}, {"msg":"b"}, [1], null]`, []string{"a", "b"}, []int{2, 3, 4, 6, 7}, ""},
		{"empty array", "[ ]", nil, nil, ""},
		{"pretty object", "{\n  \"msg\": \"a\",\n  \"user\": {\"id\": 1}\n}\n", []string{"a"}, nil, ""},
		{"two pretty objects", "{\n\"msg\":\"a\"\n}\n{\"msg\":\"b\"}", []string{"b"}, []int{1, 2, 3}, ""},
		{"unterminated array", `[{"msg":"a"}`, nil, nil, "invalid JSON array"},
		{"array missing comma", `[{"msg":"a"} {"msg":"b"}]`, nil, nil, "expected ',' or ']'"},
		{"array trailing data", `[{"msg":"a"}] x`, nil, nil, "data after the array"},
		{"array trailing comma", `[{"msg":"a"},]`, nil, nil, "cannot find the end of element 2"},
		{"array unbalanced", `[{"msg":"a"]`, nil, nil, "invalid JSON array"},
	} {
		res, err := Decode([]byte(tc.body), Options{Now: now})
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: err %v, want %q", tc.name, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		var bodies []string
		for _, l := range res.Logs {
			bodies = append(bodies, l.Body)
		}
		var lines []int
		for _, e := range res.Errors {
			lines = append(lines, e.Line)
		}
		if strings.Join(bodies, ",") != strings.Join(tc.bodies, ",") || len(lines) != len(tc.errLines) || res.Rejected != len(tc.errLines) {
			t.Errorf("%s: bodies %q errors at %v (%v), want %q errors at %v", tc.name, bodies, lines, res.Errors, tc.bodies, tc.errLines)
			continue
		}
		for i := range lines {
			if lines[i] != tc.errLines[i] {
				t.Errorf("%s: errors at %v, want %v", tc.name, lines, tc.errLines)
				break
			}
		}
	}
}

func TestMaxLines(t *testing.T) {
	body := strings.Repeat("{}\n\n", 5)
	if res, err := Decode([]byte(body), Options{Now: now, MaxLines: 5}); err != nil || len(res.Logs) != 5 {
		t.Errorf("5 lines, limit 5: %d records, %v", len(res.Logs), err)
	}
	if _, err := Decode([]byte(body+"{}"), Options{Now: now, MaxLines: 5}); !errors.Is(err, ErrTooManyLines) {
		t.Errorf("6 lines, limit 5: err %v, want ErrTooManyLines", err)
	}
	if _, err := Decode([]byte("[{},{},{}]"), Options{Now: now, MaxLines: 2}); !errors.Is(err, ErrTooManyLines) {
		t.Errorf("array of 3, limit 2: err %v, want ErrTooManyLines", err)
	}
}

// The records must not share memory with the body, which the listener
// reuses for the next request.
func TestRecordsOwnTheirMemory(t *testing.T) {
	body := []byte(`{"msg":"hello","level":"info","service":"api","trace_id":"` + traceHex + `","request_id":"r1","k":"v"}`)
	res, err := Decode(body, Options{Now: now})
	if err != nil || len(res.Logs) != 1 {
		t.Fatal(err)
	}
	before := res.Logs[0]
	for i := range body {
		body[i] = 'X'
	}
	if after := res.Logs[0]; after != before || after.Body != "hello" || after.ServiceName != "api" || after.Attributes != `{"k":"v"}` {
		t.Errorf("record changed with the body: %+v", after)
	}
}
