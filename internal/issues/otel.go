package issues

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/fibinc/telltale/internal/stacktrace"
	"github.com/fibinc/telltale/internal/telemetry"
)

// The OpenTelemetry semantic conventions for exceptions.
const (
	attrExceptionType       = "exception.type"
	attrExceptionMessage    = "exception.message"
	attrExceptionStacktrace = "exception.stacktrace"
	// The kit's description of a remote root cause.
	attrCauseService    = "exception.cause.service"
	attrCauseType       = "exception.cause.type"
	attrCauseMessage    = "exception.cause.message"
	attrCauseStacktrace = "exception.cause.stacktrace"
)

// AppendFromSpan appends an error event for every exception event of sp to
// dst and returns it.
func AppendFromSpan(dst []telemetry.ErrorEvent, sp *telemetry.Span) []telemetry.ErrorEvent {
	// Most spans have no exception: skip the JSON decoding for them.
	if !strings.Contains(sp.Events, `"exception"`) {
		return dst
	}
	var events []struct {
		Time       time.Time      `json:"time"`
		Name       string         `json:"name"`
		Attributes map[string]any `json:"attributes"`
	}
	if err := json.Unmarshal([]byte(sp.Events), &events); err != nil {
		return dst
	}
	var attrs map[string]any
	for i, se := range events {
		if se.Name != "exception" {
			continue
		}
		if attrs == nil {
			attrs = map[string]any{}
			json.Unmarshal([]byte(sp.Attributes), &attrs)
		}
		ev := fromException(sp.Resource, sp.Scope, se.Attributes, attrs)
		ev.EventID = eventID(sp.TraceID, sp.SpanID, strconv.Itoa(i))
		ev.Time = se.Time
		if ev.Time.IsZero() {
			ev.Time = sp.Start
		}
		ev.Source = telemetry.ErrorSourceSpan
		ev.Transaction = sp.Name
		ev.TraceID, ev.SpanID, ev.RequestID = sp.TraceID, sp.SpanID, sp.RequestID
		dst = append(dst, ev)
	}
	return dst
}

// AppendFromLog appends an error event to dst if l is an error-level log
// record that carries exception attributes, and returns dst.
func AppendFromLog(dst []telemetry.ErrorEvent, l *telemetry.Log) []telemetry.ErrorEvent {
	if l.Severity < telemetry.SeverityError || !strings.Contains(l.Attributes, `"exception.`) {
		return dst
	}
	var attrs map[string]any
	if err := json.Unmarshal([]byte(l.Attributes), &attrs); err != nil {
		return dst
	}
	if str(attrs, attrExceptionType) == "" && str(attrs, attrExceptionMessage) == "" && str(attrs, attrExceptionStacktrace) == "" {
		return dst
	}
	ev := fromException(l.Resource, l.Scope, attrs, attrs)
	ev.EventID = eventID(l.TraceID, l.SpanID, l.Time.Format(time.RFC3339Nano), l.Body)
	ev.Time = l.Time
	ev.Source = telemetry.ErrorSourceLog
	ev.Logger = l.Scope.Name
	ev.Message = l.Body
	if l.Severity >= telemetry.SeverityFatal {
		ev.Level = telemetry.LevelFatal
	}
	ev.TraceID, ev.SpanID, ev.RequestID = l.TraceID, l.SpanID, l.RequestID
	return append(dst, ev)
}

// remoteCause reads the exception.cause.* attributes the kit adds when an
// error came from another service: the error where it started, as a
// chained exception whose stack takes part in grouping.
func remoteCause(exc map[string]any, platform string) (telemetry.Exception, bool) {
	typ, msg, text := str(exc, attrCauseType), str(exc, attrCauseMessage), str(exc, attrCauseStacktrace)
	if typ == "" && msg == "" {
		return telemetry.Exception{}, false
	}
	c := telemetry.Exception{Type: typ, Value: msg, Module: str(exc, attrCauseService), Mechanism: &telemetry.Mechanism{Type: "remote"}}
	if text != "" {
		if r := stacktrace.Parse(text, platform); len(r.Exceptions) > 0 {
			c.Frames = r.Exceptions[len(r.Exceptions)-1].Frames
		}
		c.RawStacktrace = text
	}
	return c, true
}

// fromException builds an error event from exception attributes (exc) and
// the attributes of the span or log record around them (ctx).
func fromException(res telemetry.Resource, scope telemetry.Scope, exc, ctx map[string]any) telemetry.ErrorEvent {
	platform := platformOf(res.Attributes)
	typ, msg, text := str(exc, attrExceptionType), str(exc, attrExceptionMessage), str(exc, attrExceptionStacktrace)
	var excs []telemetry.Exception
	if text != "" {
		r := stacktrace.Parse(text, platform)
		excs = r.Exceptions
		if platform == "" {
			platform = r.Platform
		}
	}
	if len(excs) == 0 {
		excs = []telemetry.Exception{{}}
	}
	main := &excs[len(excs)-1]
	// The attributes name the exception better than text parsing can.
	if typ != "" {
		main.Type = typ
	}
	if msg != "" {
		main.Value = msg
	}
	main.RawStacktrace = text
	if platform == "" {
		platform = "other"
	}
	if cause, ok := remoteCause(exc, platform); ok {
		// Sentry order: the root cause first.
		excs = append([]telemetry.Exception{cause}, excs...)
	}
	ev := telemetry.ErrorEvent{
		Resource:   res,
		Platform:   platform,
		Level:      telemetry.LevelError,
		Exceptions: excs,
		ServerName: res.Host,
		Release:    res.ServiceVersion,
		SDK:        telemetry.SDK{Name: scope.Name, Version: scope.Version},
		Contexts:   "{}",
		Extra:      "{}",
	}
	ev.Request.Method = firstStr(ctx, "http.request.method", "http.method")
	ev.Request.URL = firstStr(ctx, "url.full", "http.url")
	if route := firstStr(ctx, "http.route"); route != "" {
		ev.Tags = append(ev.Tags, telemetry.Tag{Key: "http.route", Value: route})
	}
	ev.User.ID = firstStr(ctx, "enduser.id", "user.id")
	ev.User.Email = firstStr(ctx, "user.email")
	ev.User.Username = firstStr(ctx, "user.name")
	return ev
}

// platformOf maps the resource's telemetry.sdk.language to a Sentry
// platform name, or "" when unknown.
func platformOf(resourceAttrs string) string {
	if !strings.Contains(resourceAttrs, "telemetry.sdk.language") {
		return ""
	}
	var attrs map[string]any
	if json.Unmarshal([]byte(resourceAttrs), &attrs) != nil {
		return ""
	}
	switch lang := str(attrs, "telemetry.sdk.language"); lang {
	case "go", "python", "java", "ruby", "php", "rust", "swift", "erlang", "elixir":
		return lang
	case "nodejs":
		return "node"
	case "webjs":
		return "javascript"
	case "dotnet":
		return "csharp"
	case "cpp":
		return "native"
	}
	return ""
}

// eventID derives a stable id from where an exception was recorded, so that
// a retried export stores the same event id again.
func eventID(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

func str(m map[string]any, key string) string {
	switch v := m[key].(type) {
	case string:
		return v
	case nil:
		return ""
	default:
		b, _ := json.Marshal(v)
		return string(b)
	}
}

func firstStr(m map[string]any, keys ...string) string {
	for _, k := range keys {
		if v := str(m, k); v != "" {
			return v
		}
	}
	return ""
}
