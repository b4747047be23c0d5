package grouping

import (
	"strings"
	"unicode/utf8"

	"github.com/fibinc/telltale/internal/telemetry"
)

const maxLabel = 200

// title is what the issue list shows: "type: first line of value", as
// Sentry, GlitchTip and Bugsink all do.
func title(ev *telemetry.ErrorEvent) string {
	if m := ev.MainException(); m != nil {
		typ, val := strings.TrimSpace(m.Type), firstLine(m.Value)
		switch {
		case typ != "" && val != "":
			return truncate(typ + ": " + val)
		case typ != "":
			return truncate(typ)
		case val != "":
			return truncate(val)
		}
	}
	if msg := firstLine(ev.Message); msg != "" {
		return truncate(msg)
	}
	if msg := firstLine(ev.MessageFormat); msg != "" {
		return truncate(msg)
	}
	return "<unlabeled event>"
}

// culprit is where the error happened: the top in-app frame of the main
// exception (or of the event's stack trace), else the transaction, else the
// request URL.
func culprit(ev *telemetry.ErrorEvent) string {
	frames := ev.Stacktrace
	platform := ev.Platform
	if m := ev.MainException(); m != nil {
		frames = m.Frames
	}
	for i := len(frames) - 1; i >= 0; i-- {
		f := &frames[i]
		if f.InApp == nil || !*f.InApp {
			continue
		}
		p := platform
		if f.Platform != "" {
			p = f.Platform
		}
		if s := frameLabel(f, family(p)); s != "" {
			return truncate(s)
		}
	}
	if ev.Transaction != "" {
		return truncate(ev.Transaction)
	}
	return truncate(ev.Request.URL)
}

// frameLabel is "module in function" ("function(file)" for JavaScript,
// the function alone for native code).
func frameLabel(f *telemetry.Frame, fam string) string {
	fn := strings.TrimSpace(f.Function)
	file := f.Filename
	if file == "" {
		file = f.AbsPath
	}
	switch fam {
	case "javascript":
		if fn == "" {
			fn = "?"
		}
		if file == "" {
			return fn
		}
		return fn + "(" + file + ")"
	case "native":
		return fn
	}
	loc := f.Module
	if fam == "go" && loc == "" {
		if pkg, rest := splitGoFunction(fn); pkg != "" {
			loc, fn = pkg, rest
		}
	}
	if loc == "" {
		loc = file
	}
	switch {
	case loc != "" && fn != "":
		return loc + " in " + fn
	case loc != "":
		return loc
	}
	return fn
}

// firstLine returns the first non-blank line of s, trimmed.
func firstLine(s string) string {
	for s != "" {
		line := s
		if i := strings.IndexByte(s, '\n'); i >= 0 {
			line, s = s[:i], s[i+1:]
		} else {
			s = ""
		}
		if line = strings.TrimSpace(line); line != "" {
			return line
		}
	}
	return ""
}

// truncate bounds s to maxLabel characters, marking the cut with "…".
func truncate(s string) string {
	if utf8.RuneCountInString(s) <= maxLabel {
		return s
	}
	n := 0
	for i := range s {
		if n == maxLabel-1 {
			return s[:i] + "…"
		}
		n++
	}
	return s
}
