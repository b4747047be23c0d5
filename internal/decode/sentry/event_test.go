package sentry

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/fibinc/telltale/internal/telemetry"
)

type eventCase struct {
	name  string
	in    string
	check func(t *testing.T, ev telemetry.ErrorEvent)
}

// expect fails unless got equals want; what names the field.
func expect[T comparable](t *testing.T, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %#v, want %#v", what, got, want)
	}
}

// join writes its arguments separated by spaces.
func join(args ...any) string { return strings.TrimSuffix(fmt.Sprintln(args...), "\n") }

func frames(n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"function":"f%d","lineno":%d}`, i, i+1)
	}
	return "[" + b.String() + "]"
}

var eventShapes = []eventCase{
	{"defaults", `{}`, func(t *testing.T, ev telemetry.ErrorEvent) {
		expect(t, "platform", ev.Platform, "other")
		expect(t, "level", ev.Level, "error")
		expect(t, "environment", ev.Environment, "production")
		expect(t, "contexts", ev.Contexts, "{}")
		expect(t, "extra", ev.Extra, "{}")
		expect(t, "time", ev.Time, time.Time{})
		expect(t, "event id", ev.EventID, "")
		expect(t, "service", ev.ServiceName, "")
		expect(t, "source", ev.Source, telemetry.ErrorSourceSentry)
	}},
	{"names", `{"platform":"go","logger":"app","transaction":"GET /x","server_name":"h1","release":"a@1","dist":"7","environment":"staging","sdk":{"name":"s","version":"1"}}`,
		func(t *testing.T, ev telemetry.ErrorEvent) {
			expect(t, "host", ev.Host, "h1")
			expect(t, "server name", ev.ServerName, "h1")
			expect(t, "service version", ev.ServiceVersion, "a@1")
			expect(t, "environment", ev.Environment, "staging")
			expect(t, "logger/transaction/dist", ev.Logger+"|"+ev.Transaction+"|"+ev.Dist, "app|GET /x|7")
			expect(t, "sdk", ev.SDK, telemetry.SDK{Name: "s", Version: "1"})
		}},
	{"dashed event id", `{"event_id":"5D167A6C-1E4A-4B6E-9A1F-3C2B8D7E6F50"}`, func(t *testing.T, ev telemetry.ErrorEvent) {
		expect(t, "event id", ev.EventID, "5d167a6c1e4a4b6e9a1f3c2b8d7e6f50")
	}},
	{"invalid event id", `{"event_id":"5d167a6c"}`, func(t *testing.T, ev telemetry.ErrorEvent) { expect(t, "event id", ev.EventID, "") }},
	{"time without zone", `{"timestamp":"2026-01-01T12:00:00"}`, func(t *testing.T, ev telemetry.ErrorEvent) {
		expect(t, "time", ev.Time, time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC))
	}},
	{"time with zone and fraction", `{"timestamp":"2026-01-01T12:00:00.25+02:00"}`, func(t *testing.T, ev telemetry.ErrorEvent) {
		expect(t, "time", ev.Time, time.Date(2026, 1, 1, 10, 0, 0, 250e6, time.UTC))
	}},
	{"time with fraction without zone", `{"timestamp":"2026-01-01T12:00:00.123456"}`, func(t *testing.T, ev telemetry.ErrorEvent) {
		expect(t, "time", ev.Time, time.Date(2026, 1, 1, 12, 0, 0, 123456e3, time.UTC))
	}},
	{"time as number", `{"timestamp":1767268800.123456}`, func(t *testing.T, ev telemetry.ErrorEvent) {
		expect(t, "time", ev.Time, time.Date(2026, 1, 1, 12, 0, 0, 123456e3, time.UTC))
	}},
	{"time as integer", `{"timestamp":1767268800}`, func(t *testing.T, ev telemetry.ErrorEvent) {
		expect(t, "time", ev.Time, time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC))
	}},
	{"time as numeric string", `{"timestamp":"1767268800.5"}`, func(t *testing.T, ev telemetry.ErrorEvent) {
		expect(t, "time", ev.Time, time.Date(2026, 1, 1, 12, 0, 0, 5e8, time.UTC))
	}},
	{"time out of range", `{"timestamp":1e300}`, func(t *testing.T, ev telemetry.ErrorEvent) { expect(t, "time", ev.Time, time.Time{}) }},
	{"time unparsable", `{"timestamp":"yesterday"}`, func(t *testing.T, ev telemetry.ErrorEvent) { expect(t, "time", ev.Time, time.Time{}) }},
	{"level warn", `{"level":"warn"}`, func(t *testing.T, ev telemetry.ErrorEvent) { expect(t, "level", ev.Level, "warning") }},
	{"level critical", `{"level":"CRITICAL"}`, func(t *testing.T, ev telemetry.ErrorEvent) { expect(t, "level", ev.Level, "fatal") }},
	{"level log", `{"level":"log"}`, func(t *testing.T, ev telemetry.ErrorEvent) { expect(t, "level", ev.Level, "info") }},
	{"level debug", `{"level":"debug"}`, func(t *testing.T, ev telemetry.ErrorEvent) { expect(t, "level", ev.Level, "debug") }},
	{"level unknown", `{"level":"shouting"}`, func(t *testing.T, ev telemetry.ErrorEvent) { expect(t, "level", ev.Level, "error") }},
	{"tags map", `{"tags":{"b":"x","a":1,"c":true,"d":{"k":[1, 2]},"e":null,"":"v","service":"svc"}}`, func(t *testing.T, ev telemetry.ErrorEvent) {
		expect(t, "tags", join(ev.Tags), `[{b x} {a 1} {c true} {d {"k":[1,2]}} {service svc}]`)
		expect(t, "service", ev.ServiceName, "svc")
	}},
	{"tags pairs", `{"tags":[["k","v"],["n",2],["bad"],"x",["service.name","api"],["service","other"]]}`, func(t *testing.T, ev telemetry.ErrorEvent) {
		expect(t, "tags", join(ev.Tags), `[{k v} {n 2} {service.name api} {service other}]`)
		expect(t, "service", ev.ServiceName, "api")
	}},
	{"long tags", `{"tags":{"` + strings.Repeat("k", 300) + `":"` + strings.Repeat("é", 300) + `"}}`, func(t *testing.T, ev telemetry.ErrorEvent) {
		expect(t, "key", ev.Tags[0].Key, strings.Repeat("k", 200))
		expect(t, "value", ev.Tags[0].Value, strings.Repeat("é", 200))
	}},
	{"message string", `{"message":"plain"}`, func(t *testing.T, ev telemetry.ErrorEvent) {
		expect(t, "message", ev.Message+"|"+ev.MessageFormat, "plain|")
	}},
	{"message object formatted", `{"message":{"formatted":"Hello bob","message":"Hello %s","params":["bob"]}}`, func(t *testing.T, ev telemetry.ErrorEvent) {
		expect(t, "message", ev.Message+"|"+ev.MessageFormat, "Hello bob|Hello %s")
	}},
	{"message params", `{"message":{"message":"%s has %d items, 100%% sure, %s","params":["cart",3]}}`, func(t *testing.T, ev telemetry.ErrorEvent) {
		expect(t, "message", ev.Message, "cart has 3 items, 100% sure, %s")
		expect(t, "format", ev.MessageFormat, "%s has %d items, 100%% sure, %s")
	}},
	{"logentry braces", `{"logentry":{"message":"user {} paid {}","params":[7,{"eur":5}]},"message":"ignored"}`, func(t *testing.T, ev telemetry.ErrorEvent) {
		expect(t, "message", ev.Message, `user 7 paid {"eur":5}`)
		expect(t, "format", ev.MessageFormat, "user {} paid {}")
	}},
	{"logentry without params", `{"logentry":{"message":"static"}}`, func(t *testing.T, ev telemetry.ErrorEvent) {
		expect(t, "message", ev.Message+"|"+ev.MessageFormat, "static|")
	}},
	{"long message", `{"message":"` + strings.Repeat("ü", 9000) + `"}`, func(t *testing.T, ev telemetry.ErrorEvent) {
		expect(t, "message", ev.Message, strings.Repeat("ü", 8192))
	}},
	{"exception bare list", `{"exception":[{"type":"A","value":"a"},{"type":"B","value":"b","module":"m","mechanism":{"type":"chained","handled":"false","synthetic":true,"description":"d","source":"cause"},"stacktrace":null}]}`,
		func(t *testing.T, ev telemetry.ErrorEvent) {
			expect(t, "exceptions", len(ev.Exceptions), 2)
			m := ev.MainException()
			expect(t, "main", m.Type+"|"+m.Value+"|"+m.Module, "B|b|m")
			expect(t, "mechanism", *m.Mechanism, telemetry.Mechanism{Type: "chained", Handled: m.Mechanism.Handled, Synthetic: true, Description: "d", Source: "cause"})
			expect(t, "handled", m.Mechanism.Handled != nil && !*m.Mechanism.Handled, true)
			expect(t, "first mechanism", ev.Exceptions[0].Mechanism == nil, true)
		}},
	{"exception values", `{"exception":{"values":[null,{"type":"E","stacktrace":{"frames":[{"raw_function":"raw","lineno":"12","colno":3.7,"in_app":false},{},{"function":"f","raw_function":"raw","module":"m","package":"p","filename":"a.py","abs_path":"/a.py","context_line":"x","pre_context":["p1",null,2],"post_context":["q"],"platform":"python"}]}}]}}`,
		func(t *testing.T, ev telemetry.ErrorEvent) {
			expect(t, "exceptions", len(ev.Exceptions), 1)
			fs := ev.Exceptions[0].Frames
			expect(t, "frames", len(fs), 2)
			expect(t, "raw function", fs[0].Function, "raw")
			expect(t, "lineno/colno", join(fs[0].Lineno, fs[0].Colno), "12 3")
			expect(t, "in app", fs[0].InApp != nil && !*fs[0].InApp, true)
			expect(t, "in app absent", fs[1].InApp == nil, true)
			expect(t, "frame", join(fs[1].Function, fs[1].Module, fs[1].Package, fs[1].Filename, fs[1].AbsPath, fs[1].ContextLine, fs[1].PreContext, fs[1].PostContext, fs[1].Platform),
				"f m p a.py /a.py x [p1  2] [q] python")
			expect(t, "stacktrace", len(ev.Stacktrace), 0)
		}},
	{"too many frames", `{"exception":[{"type":"E","stacktrace":{"frames":` + frames(300) + `}}]}`, func(t *testing.T, ev telemetry.ErrorEvent) {
		fs := ev.Exceptions[0].Frames
		expect(t, "frames", len(fs), 250)
		expect(t, "ends", fs[0].Function+" "+fs[124].Function+" "+fs[125].Function+" "+fs[249].Function, "f0 f124 f175 f299")
	}},
	{"top-level stacktrace", `{"exception":[{"type":"E"}],"stacktrace":{"frames":[{"function":"top"}]},"threads":[{"crashed":true,"stacktrace":{"frames":[{"function":"thread"}]}}]}`,
		func(t *testing.T, ev telemetry.ErrorEvent) {
			expect(t, "stacktrace", join(len(ev.Stacktrace), ev.Stacktrace[0].Function), "1 top")
		}},
	{"crashed thread", `{"threads":{"values":[{"current":true,"stacktrace":{"frames":[{"function":"current"}]}},{"crashed":true,"stacktrace":{"frames":[{"function":"crashed"}]}}]}}`,
		func(t *testing.T, ev telemetry.ErrorEvent) {
			expect(t, "stacktrace", ev.Stacktrace[0].Function, "crashed")
		}},
	{"current thread", `{"threads":[{"stacktrace":{"frames":[{"function":"other"}]}},{"current":true,"stacktrace":{"frames":[{"function":"current"}]}}]}`,
		func(t *testing.T, ev telemetry.ErrorEvent) {
			expect(t, "stacktrace", ev.Stacktrace[0].Function, "current")
		}},
	{"exception frames win", `{"exception":[{"type":"E","stacktrace":{"frames":[{"function":"f"}]}}],"stacktrace":{"frames":[{"function":"top"}]}}`,
		func(t *testing.T, ev telemetry.ErrorEvent) { expect(t, "stacktrace", len(ev.Stacktrace), 0) }},
	{"user", `{"user":{"id":42,"email":"a@b.c","username":"ann","ip_address":"{{auto}}","name":"Ann","data":{"x":1}}}`, func(t *testing.T, ev telemetry.ErrorEvent) {
		expect(t, "user", ev.User, telemetry.User{ID: "42", Email: "a@b.c", Username: "ann", Name: "Ann"})
	}},
	{"request objects", `{"request":{"url":"https://x/y","method":"POST","query_string":{"a":"1","b":"x y"},"data":{"k":[1, 2]},"cookies":{"a":"1","b":"2"},"headers":[["Host","x"],["X-REQUEST-ID","r-1"]]}}`,
		func(t *testing.T, ev telemetry.ErrorEvent) {
			r := ev.Request
			expect(t, "request", join(r.URL, "|", r.Method, "|", r.QueryString, "|", r.Data, "|", r.Cookies, "|", r.Headers), `https://x/y | POST | a=1&b=x+y | {"k":[1,2]} | a=1; b=2 | [{Host x} {X-REQUEST-ID r-1}]`)
			expect(t, "request id", ev.RequestID, "r-1")
		}},
	{"request strings", `{"request":{"query_string":"?a=1&b=2","data":"raw body","cookies":"a=1; b=2","headers":{"Cookie":"a=1"}}}`,
		func(t *testing.T, ev telemetry.ErrorEvent) {
			r := ev.Request
			expect(t, "request", join(r.QueryString, "|", r.Data, "|", r.Cookies), "a=1&b=2 | raw body | a=1; b=2")
		}},
	{"request query pairs", `{"request":{"query_string":[["a","1"],["b","&"]],"cookies":[["s","v"]]}}`,
		func(t *testing.T, ev telemetry.ErrorEvent) {
			expect(t, "query", ev.Request.QueryString+"|"+ev.Request.Cookies, "a=1&b=%26|s=v")
		}},
	{"request data truncated", `{"request":{"data":"` + strings.Repeat("€", 3000) + `"}}`, func(t *testing.T, ev telemetry.ErrorEvent) {
		expect(t, "data", ev.Request.Data, strings.Repeat("€", 8192/3))
	}},
	{"breadcrumbs", `{"breadcrumbs":[{"timestamp":1767268800.5,"type":"http","category":"fetch","message":"GET /","level":"info","data":{"status_code":200}},{"timestamp":"2026-01-01T12:00:01Z","data":"not an object"},null]}`,
		func(t *testing.T, ev telemetry.ErrorEvent) {
			expect(t, "breadcrumbs", len(ev.Breadcrumbs), 2)
			expect(t, "first", ev.Breadcrumbs[0], telemetry.Breadcrumb{Time: time.Date(2026, 1, 1, 12, 0, 0, 5e8, time.UTC), Type: "http", Category: "fetch", Message: "GET /", Level: "info", Data: `{"status_code":200}`})
			expect(t, "second", ev.Breadcrumbs[1], telemetry.Breadcrumb{Time: time.Date(2026, 1, 1, 12, 0, 1, 0, time.UTC)})
		}},
	{"contexts", `{"contexts":{"trace":{"trace_id":"B1C2D3E4F5A60718293A4B5C6D7E8F90","span_id":"6A7B8C9D0E1F2A3B"},"browser":{"name":"Firefox","version":"121.0"},"os":{"name":"Windows","version":"10"}},"extra":{ "a" : 1 }}`,
		func(t *testing.T, ev telemetry.ErrorEvent) {
			expect(t, "ids", ev.TraceID+" "+ev.SpanID, "b1c2d3e4f5a60718293a4b5c6d7e8f90 6a7b8c9d0e1f2a3b")
			expect(t, "browser/os", ev.Browser+"|"+ev.OS, "Firefox 121.0|Windows 10")
			expect(t, "contexts", strings.HasPrefix(ev.Contexts, `{"trace":{"trace_id":"B1C2`), true)
			expect(t, "extra", ev.Extra, `{"a":1}`)
		}},
	{"bad trace ids", `{"contexts":{"trace":{"trace_id":"b1c2","span_id":"zz7b8c9d0e1f2a3b"}}}`, func(t *testing.T, ev telemetry.ErrorEvent) {
		expect(t, "ids", ev.TraceID+ev.SpanID, "")
	}},
	{"user agent", `{"contexts":{"os":{"name":"darwin"}},"request":{"headers":{"user-agent":"Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0"}}}`,
		func(t *testing.T, ev telemetry.ErrorEvent) {
			expect(t, "browser/os", ev.Browser+"|"+ev.OS, "Firefox 121.0|Mac OS X")
		}},
	{"request id tags", `{"tags":{"request.id":"b","request_id":"a"},"request":{"headers":{"X-Request-ID":"c"}}}`, func(t *testing.T, ev telemetry.ErrorEvent) {
		expect(t, "request id", ev.RequestID, "a")
	}},
	{"fingerprint", `{"fingerprint":["{{ default }}",42,true,null,{"x":1}]}`, func(t *testing.T, ev telemetry.ErrorEvent) {
		expect(t, "fingerprint", fmt.Sprintf("%q", ev.Fingerprint), `["{{ default }}" "42" "true" ""]`)
	}},
	{"wrong types everywhere", `{"event_id":7,"user":"bob","request":5,"tags":"x","exception":7,"breadcrumbs":"y","contexts":[1],"extra":"e","sdk":1,"fingerprint":"f","timestamp":{},"level":5,"threads":{"values":5},"message":[1],"logentry":3,"stacktrace":"s","platform":["go"]}`,
		func(t *testing.T, ev telemetry.ErrorEvent) {
			expect(t, "level", ev.Level, "error")
			expect(t, "platform", ev.Platform, "other")
			expect(t, "contexts", ev.Contexts+ev.Extra, "{}{}")
			expect(t, "empty", len(ev.Tags)+len(ev.Exceptions)+len(ev.Breadcrumbs)+len(ev.Fingerprint)+len(ev.Stacktrace), 0)
		}},
	{"nested wrong types", `{"exception":[{"type":1,"value":{"a":1},"mechanism":"m","stacktrace":{"frames":{"x":1}}},{"type":"E","stacktrace":{"frames":[1,"x",{"function":"f"}]}}]}`,
		func(t *testing.T, ev telemetry.ErrorEvent) {
			expect(t, "exceptions", len(ev.Exceptions), 2)
			expect(t, "first", ev.Exceptions[0].Type+"|"+ev.Exceptions[0].Value, "1|")
			expect(t, "frames", join(len(ev.Exceptions[1].Frames)), "1")
		}},
	{"invalid UTF-8", "{\"message\":\"caf\xe9\",\"tags\":{\"k\xff\":\"v\"},\"contexts\":{\"x\":\"\xff\"},\"request\":{\"data\":{\"b\":\"\xfe\"}}}", func(t *testing.T, ev telemetry.ErrorEvent) {
		expect(t, "message", ev.Message, "caf\uFFFD")
		expect(t, "contexts", ev.Contexts, "{\"x\":\"\uFFFD\"}")
	}},
	{"deeply nested extra", `{"extra":` + nested(2000) + `}`, nil},
	{"deeply nested exception", `{"exception":[` + nested(2000) + `]}`, nil},
	{"deeply nested tags", `{"tags":{"a":` + nested(2000) + `},"request":{"data":` + nested(2000) + `}}`, nil},
}

func TestDecodeEventShapes(t *testing.T) {
	for _, c := range eventShapes {
		t.Run(c.name, func(t *testing.T) {
			ev, err := DecodeEvent([]byte(c.in))
			if err != nil {
				t.Fatal(err)
			}
			checkEvent(t, ev)
			if c.check != nil {
				c.check(t, ev)
			}
		})
	}
}

func TestDecodeEventMalformed(t *testing.T) {
	for _, in := range []string{"", " ", "[]", `"x"`, "null", "7", "{", `{"a":1} x`, `{"a":}`, "{\"a\":\"\x00\"}", `{"extra":` + nested(10001) + `}`} {
		_, err := DecodeEvent([]byte(in))
		if !errors.Is(err, ErrMalformed) {
			t.Errorf("%.40q: %v", in, err)
		}
	}
	// At Go's own depth limit an event may fail or succeed, but not panic.
	if _, err := DecodeEvent([]byte(`{"extra":` + nested(9999) + `}`)); err != nil && !errors.Is(err, ErrMalformed) {
		t.Error(err)
	}
}

// TestFixtureEvents checks the fields each SDK's shape is known for, beside
// the golden files.
func TestFixtureEvents(t *testing.T) {
	event := func(name string) telemetry.ErrorEvent {
		_, g := decodeFixture(t, name)
		return g.Items[0].Event.ErrorEvent
	}
	t.Run("python", func(t *testing.T) {
		ev := event("python.envelope")
		expect(t, "time", ev.Time, time.Date(2026, 1, 15, 10, 23, 45, 482913000, time.UTC))
		expect(t, "exceptions", len(ev.Exceptions), 2)
		m := ev.MainException()
		expect(t, "main", m.Type+" "+m.Mechanism.Type, "ValueError django")
		expect(t, "handled", *m.Mechanism.Handled, false)
		expect(t, "site-packages in app", *m.Frames[0].InApp, false)
		expect(t, "pre context", len(m.Frames[2].PreContext), 5)
		expect(t, "context line", m.Frames[4].ContextLine, `        raise ValueError(f"unknown product in cart line {line!r}")`)
		expect(t, "breadcrumbs", len(ev.Breadcrumbs), 3)
		expect(t, "service", ev.ServiceName, "shop-web")
		expect(t, "request id", ev.RequestID, "req-7f3a9c")
		expect(t, "cookies", ev.Request.Cookies, "sessionid=[Filtered]; csrftoken=[Filtered]")
		expect(t, "data", ev.Request.Data, `{"payment_method":"card","save_card":false}`)
		expect(t, "first header", ev.Request.Headers[0], telemetry.Tag{Key: "Host", Value: "shop.example.com"})
		expect(t, "trace id", ev.TraceID, "3b0e6f1a2c4d4e5f8a9b0c1d2e3f4a5b")
		expect(t, "os", ev.OS, "Linux 6.1.0-17-cloud-amd64")
		expect(t, "user", ev.User.ID, "17")
	})
	t.Run("javascript", func(t *testing.T) {
		ev := event("javascript-browser.envelope")
		expect(t, "browser/os", ev.Browser+"|"+ev.OS, "Chrome 120.0|Windows 10")
		expect(t, "ip", ev.User.IPAddress, "")
		m := ev.MainException()
		expect(t, "mechanism", m.Mechanism.Type, "onerror")
		expect(t, "crash frame", join(m.Frames[3].Function, m.Frames[3].Colno), "renderCart 48213")
		expect(t, "time", ev.Time, time.Date(2026, 1, 15, 10, 23, 50, 118e6, time.UTC))
		expect(t, "breadcrumb", ev.Breadcrumbs[2].Data, `{"method":"GET","url":"/api/cart","status_code":200,"__span":"b7c8d9e0f1a2b3c4"}`)
	})
	t.Run("java", func(t *testing.T) {
		ev := event("java.envelope")
		expect(t, "event id", ev.EventID, "0b6c3a9f2e1d4c8ba7f6e5d4c3b2a190")
		expect(t, "chain", ev.Exceptions[0].Type+" < "+ev.Exceptions[1].Type, "SQLTransientConnectionException < DataAccessResourceFailureException")
		expect(t, "module", ev.Exceptions[0].Module, "java.sql")
		expect(t, "class", ev.MainException().Frames[4].Module, "com.example.shop.web.OrderController")
		expect(t, "message", ev.Message, "Request processing failed: org.springframework.dao.DataAccessResourceFailureException")
		expect(t, "stacktrace", len(ev.Stacktrace), 0)
		expect(t, "service", ev.ServiceName, "orders-api")
		expect(t, "request id", ev.RequestID, "6f1c2d3e-orders")
		expect(t, "environment", ev.Environment, "prod")
	})
	t.Run("go", func(t *testing.T) {
		ev := event("go.envelope")
		expect(t, "time", ev.Time, time.Date(2026, 1, 15, 10, 25, 11, 308514112, time.UTC))
		expect(t, "mechanisms", ev.Exceptions[0].Mechanism.Type+" "+ev.Exceptions[1].Mechanism.Type, "chained generic")
		expect(t, "frames", join(len(ev.Exceptions[0].Frames), len(ev.Exceptions[1].Frames)), "8 12")
		f := ev.MainException().Frames[6]
		expect(t, "frame", f.Function+" "+f.Module+" "+f.AbsPath, "(*API).createCharge github.com/example/checkout/internal/api /build/checkout/internal/api/charges.go")
		expect(t, "message", ev.Message, "")
		expect(t, "os", ev.OS, "Linux")
		expect(t, "ids", ev.TraceID+" "+ev.SpanID, "b1c2d3e4f5a60718293a4b5c6d7e8f90 6a7b8c9d0e1f2a3b")
		expect(t, "request id", ev.RequestID, "01JHGX7Q5W9B2C3D4E5F6G7H8J")
		expect(t, "service", ev.ServiceName, "checkout")
	})
	t.Run("no-length", func(t *testing.T) {
		ev := event("no-length.envelope")
		expect(t, "level", ev.Level, "warning")
		expect(t, "message", ev.Message, "Order A-2001 has 3 items but stock is null")
		expect(t, "format", ev.MessageFormat, "Order %s has %s items but stock is %s")
		expect(t, "stacktrace", len(ev.Stacktrace), 2)
		expect(t, "request id", ev.RequestID, "f00dcafe")
		expect(t, "time", ev.Time, time.Date(2026, 1, 15, 12, 0, 0, 0, time.UTC))
	})
}

func BenchmarkDecodeEvent(b *testing.B) {
	env, err := ParseEnvelope(bytes.NewReader(readTestdata(b, "go.envelope")), Limits{})
	if err != nil {
		b.Fatal(err)
	}
	payload := env.Items[0].Payload
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeEvent(payload); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseEnvelope(b *testing.B) {
	body := readTestdata(b, "go.envelope")
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseEnvelope(bytes.NewReader(body), Limits{}); err != nil {
			b.Fatal(err)
		}
	}
}

func TestParseUserAgent(t *testing.T) {
	cases := []struct{ ua, browser, os string }{
		{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36", "Chrome 120.0", "Windows 10"},
		{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.2210.91", "Edge 120.0", "Windows 10"},
		{"Mozilla/5.0 (Windows NT 6.1; WOW64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/109.0.0.0 Safari/537.36 OPR/95.0.0.0", "Opera 95.0", "Windows 7"},
		{"Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0", "Firefox 121.0", "Linux"},
		{"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Safari/605.1.15", "Safari 17.2", "Mac OS X 10.15.7"},
		{"Mozilla/5.0 (iPhone; CPU iPhone OS 17_2_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1", "Safari 17.2", "iOS 17.2"},
		{"Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/120.0.6099.119 Mobile/15E148 Safari/604.1", "Chrome 120.0", "iOS 16.6"},
		{"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.144 Mobile Safari/537.36", "Chrome 120.0", "Android 14"},
		{"Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36", "Chrome 120.0", "Chrome OS"},
		{"Mozilla/5.0 (Windows NT 5.1) Firefox/", "Firefox", "Windows"},
		{"python-requests/2.31.0", "", ""},
		{"", "", ""},
	}
	for _, c := range cases {
		b, o := parseUserAgent(c.ua)
		if b != c.browser || o != c.os {
			t.Errorf("%q: got %q, %q; want %q, %q", c.ua, b, o, c.browser, c.os)
		}
	}
}
