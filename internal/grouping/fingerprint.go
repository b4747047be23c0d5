package grouping

import (
	"strings"

	"github.com/fibinc/telltale/internal/telemetry"
)

const defaultVar = "default"

// applyFingerprint returns the variants of an event with a fingerprint.
// Without "{{ default }}" the fingerprint alone decides: a
// "custom-fingerprint" variant, the default ones kept for the record but not
// contributing. With it, each contributing default variant is replaced by
// the fingerprint with that variant's hash in place of "{{ default }}". A
// fingerprint of only "{{ default }}" (some SDKs send it always) changes
// nothing.
func applyFingerprint(ev *telemetry.ErrorEvent, fp []string, variants []Variant) []Variant {
	parts := make([]string, len(fp))
	withDefault, onlyDefault := false, true
	for i, p := range fp {
		if isVar(p, defaultVar) {
			withDefault = true
			parts[i] = "{{ default }}"
			continue
		}
		onlyDefault = false
		parts[i] = resolveVars(ev, p)
	}
	if onlyDefault {
		return variants
	}
	if !withDefault {
		c := Component{ID: "fingerprint", Values: parts, Contributes: true}
		out := make([]Variant, 0, len(variants)+1)
		out = append(out, Variant{Name: "custom-fingerprint", Hash: hashComponent(&c), Contributes: true, Component: c})
		for _, v := range variants {
			v.Contributes, v.Hash, v.Hint = false, "", hintFingerprint
			out = append(out, v)
		}
		return out
	}
	for i := range variants {
		v := &variants[i]
		if !v.Contributes {
			continue
		}
		hashed := make([]string, len(parts))
		for j, p := range parts {
			hashed[j] = p
			if isVar(fp[j], defaultVar) {
				hashed[j] = v.Hash
			}
		}
		v.Component = Component{ID: "fingerprint", Values: parts, Contributes: true, Children: []Component{v.Component}}
		v.Hash = hashValues("fingerprint", hashed)
		v.Hint = "fingerprint with {{ default }}: the variant's hash stands for it"
	}
	return variants
}

// isVar reports whether s is exactly the variable name, "{{ name }}" with
// any spacing.
func isVar(s, name string) bool {
	v, ok := varName(s)
	return ok && v == name
}

func varName(s string) (string, bool) {
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, "{{") || !strings.HasSuffix(s, "}}") || len(s) < 4 {
		return "", false
	}
	inner := strings.TrimSpace(s[2 : len(s)-2])
	if inner == "" || strings.ContainsAny(inner, "{} \t") {
		return "", false
	}
	return strings.ToLower(inner), true
}

// resolveVars replaces each "{{ variable }}" in a fingerprint part by its
// value for ev, as Sentry's fingerprint variables; unknown variables stay.
func resolveVars(ev *telemetry.ErrorEvent, part string) string {
	if !strings.Contains(part, "{{") {
		return part
	}
	var b strings.Builder
	rest := part
	for {
		i := strings.Index(rest, "{{")
		if i < 0 {
			break
		}
		j := strings.Index(rest[i:], "}}")
		if j < 0 {
			break
		}
		tok := rest[i : i+j+2]
		b.WriteString(rest[:i])
		if name, ok := varName(tok); ok {
			if v, ok := fingerprintVar(ev, name); ok {
				b.WriteString(v)
			} else {
				b.WriteString(tok)
			}
		} else {
			b.WriteString(tok)
		}
		rest = rest[i+j+2:]
	}
	b.WriteString(rest)
	return b.String()
}

func orNone(v, name string) string {
	if v == "" {
		return "<no-" + name + ">"
	}
	return v
}

func fingerprintVar(ev *telemetry.ErrorEvent, name string) (string, bool) {
	main := ev.MainException()
	switch name {
	case "transaction":
		return orNone(ev.Transaction, "transaction"), true
	case "error.type", "type":
		if main == nil {
			return "<no-type>", true
		}
		return orNone(main.Type, "type"), true
	case "error.value", "value":
		if main == nil {
			return "<no-value>", true
		}
		return orNone(main.Value, "value"), true
	case "level":
		return orNone(ev.Level, "level"), true
	case "logger":
		return orNone(ev.Logger, "logger"), true
	case "message":
		m := ev.Message
		if m == "" {
			m = ev.MessageFormat
		}
		return orNone(m, "message"), true
	case "stack.function", "function", "stack.module", "module", "stack.filename",
		"stack.abs_path", "stack.package", "package":
		field := strings.TrimPrefix(name, "stack.")
		f := crashFrame(ev)
		if f == nil {
			return "<no-" + field + ">", true
		}
		switch field {
		case "function":
			return orNone(f.Function, field), true
		case "module":
			return orNone(f.Module, field), true
		case "filename":
			return orNone(f.Filename, field), true
		case "abs_path":
			return orNone(f.AbsPath, field), true
		default:
			return orNone(f.Package, field), true
		}
	}
	if key, ok := strings.CutPrefix(name, "tags."); ok && key != "" {
		if v := ev.Tag(key); v != "" {
			return v, true
		}
		return "<no-value-for-tag-" + key + ">", true
	}
	return "", false
}

// crashFrame returns the top in-app frame of the main exception (or of the
// event's stack trace), else its top frame, or nil.
func crashFrame(ev *telemetry.ErrorEvent) *telemetry.Frame {
	frames := ev.Stacktrace
	if m := ev.MainException(); m != nil {
		frames = m.Frames
	}
	for i := len(frames) - 1; i >= 0; i-- {
		if f := &frames[i]; f.InApp != nil && *f.InApp {
			return f
		}
	}
	if len(frames) > 0 {
		return &frames[len(frames)-1]
	}
	return nil
}
