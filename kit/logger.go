package kit

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/attribute"
	otellog "go.opentelemetry.io/otel/log"
	"go.opentelemetry.io/otel/trace"
)

// Logger returns a logger that stamps every record with the service, and,
// from the context passed to its *Context methods, the trace id, span id
// and request id. It writes readable lines to Config.LogOutput (stderr)
// and exports the records as OpenTelemetry logs, where an error-valued
// attribute of an Error record also becomes an exception (type, message,
// stack), so that Telltale files it as an issue.
func Logger() *slog.Logger {
	return slog.New(NewLogHandler(slog.LevelInfo))
}

// NewLogHandler returns the handler behind Logger, for records of level
// or above. It may be made before Init: it uses what Init set up from
// then on.
func NewLogHandler(level slog.Leveler) slog.Handler {
	return &logHandler{
		level: level,
		text:  slog.NewTextHandler(logOutput{}, &slog.HandlerOptions{Level: level}),
	}
}

// logOutput writes to the log output of the current runtime.
type logOutput struct{}

func (logOutput) Write(p []byte) (int, error) { return rt().logOut.Write(p) }

type logHandler struct {
	level  slog.Leveler
	text   slog.Handler
	attrs  []attribute.KeyValue // from WithAttrs, already prefixed by groups
	prefix string               // open groups, "a.b."
}

func (h *logHandler) Enabled(_ context.Context, l slog.Level) bool {
	return l >= h.level.Level()
}

func (h *logHandler) Handle(ctx context.Context, r slog.Record) error {
	k := rt()
	sc := trace.SpanContextFromContext(ctx)
	rid := RequestID(ctx)

	// The readable line, with the ids at the end where they do not get in
	// the way.
	line := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	r.Attrs(func(a slog.Attr) bool {
		line.AddAttrs(prefixed(h.prefix, a)...)
		return true
	})
	if k.service != "" {
		line.AddAttrs(slog.String("service", k.service))
	}
	if rid != "" {
		line.AddAttrs(slog.String("request_id", rid))
	}
	if sc.IsValid() {
		line.AddAttrs(slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
	}
	textErr := h.text.Handle(ctx, line)

	var rec otellog.Record
	rec.SetTimestamp(r.Time)
	rec.SetObservedTimestamp(time.Now())
	rec.SetSeverity(severity(r.Level))
	rec.SetSeverityText(r.Level.String())
	rec.SetBody(attribute.StringValue(r.Message))
	rec.AddAttributes(h.attrs...)
	if rid != "" {
		rec.AddAttributes(attribute.String("request.id", rid))
	}
	r.Attrs(func(a slog.Attr) bool {
		h.addAttr(&rec, h.prefix, a, r.Level)
		return true
	})
	// The SDK takes the trace and span ids from ctx.
	k.logger.Emit(ctx, rec)
	return textErr
}

// addAttr flattens a into rec with dotted group names. An error value at
// Error level is also described with the exception attributes of the
// OpenTelemetry semantic conventions.
func (h *logHandler) addAttr(rec *otellog.Record, prefix string, a slog.Attr, level slog.Level) {
	v := a.Value.Resolve()
	if a.Key == "" && v.Kind() != slog.KindGroup {
		return
	}
	key := prefix + a.Key
	switch v.Kind() {
	case slog.KindGroup:
		p := prefix
		if a.Key != "" {
			p = key + "."
		}
		for _, g := range v.Group() {
			h.addAttr(rec, p, g, level)
		}
	case slog.KindString:
		rec.AddAttributes(attribute.String(key, v.String()))
	case slog.KindInt64:
		rec.AddAttributes(attribute.Int64(key, v.Int64()))
	case slog.KindUint64:
		rec.AddAttributes(attribute.Int64(key, int64(v.Uint64())))
	case slog.KindFloat64:
		rec.AddAttributes(attribute.Float64(key, v.Float64()))
	case slog.KindBool:
		rec.AddAttributes(attribute.Bool(key, v.Bool()))
	case slog.KindDuration:
		rec.AddAttributes(attribute.String(key, v.Duration().String()))
	case slog.KindTime:
		rec.AddAttributes(attribute.String(key, v.Time().Format(time.RFC3339Nano)))
	default:
		err, isErr := v.Any().(error)
		rec.AddAttributes(attribute.String(key, fmt.Sprint(v.Any())))
		if isErr && level >= slog.LevelError {
			rec.AddAttributes(exceptionAttrs(err)...)
		}
	}
}

func (h *logHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	if len(attrs) == 0 {
		return h
	}
	h2 := *h
	var flat []slog.Attr
	for _, a := range attrs {
		flat = append(flat, prefixed(h.prefix, a)...)
	}
	h2.text = h.text.WithAttrs(flat)
	var rec otellog.Record
	for _, a := range attrs {
		h.addAttr(&rec, h.prefix, a, slog.LevelInfo)
	}
	h2.attrs = append(h.attrs[:len(h.attrs):len(h.attrs)], collect(rec)...)
	return &h2
}

func (h *logHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	h2 := *h
	h2.prefix = h.prefix + name + "."
	return &h2
}

// prefixed qualifies a with the open groups. The text handler gets no
// groups of its own, so that the ids added to each line stay unqualified.
func prefixed(prefix string, a slog.Attr) []slog.Attr {
	if prefix == "" {
		return []slog.Attr{a}
	}
	if a.Key == "" && a.Value.Kind() == slog.KindGroup {
		var out []slog.Attr
		for _, g := range a.Value.Group() {
			out = append(out, prefixed(prefix, g)...)
		}
		return out
	}
	return []slog.Attr{{Key: prefix + a.Key, Value: a.Value}}
}

func collect(rec otellog.Record) []attribute.KeyValue {
	out := make([]attribute.KeyValue, 0, rec.AttributesLen())
	rec.WalkAttributes(func(kv attribute.KeyValue) bool {
		out = append(out, kv)
		return true
	})
	return out
}

// severity maps slog levels, which are 4 apart, onto OpenTelemetry
// severity numbers: DEBUG 5, INFO 9, WARN 13, ERROR 17, and the steps
// between.
func severity(l slog.Level) otellog.Severity {
	s := int(l) + 9
	return otellog.Severity(min(max(s, 1), 24))
}
