package stacktrace

import (
	"strings"

	"github.com/fibinc/telltale/internal/telemetry"
)

// ParseJava parses stack traces as Throwable.printStackTrace prints them,
// for Java and the other JVM languages: "pkg.Type: message", then
// "\tat pkg.Class.method(File.java:42)" lines, then "Caused by:" sections.
// Suppressed exceptions are skipped. The frames a cause shares with the
// exception it caused, printed as "... N more", are restored from that
// exception, so that every exception has its whole stack.
func ParseJava(text string) Result {
	var excs []*exc // in printed order: the main exception first
	var cur *exc
	suppressed := false
	// Restoring shared frames copies them; the budget keeps a text of
	// many "... N more" lines from costing more than a few real traces.
	budget := 16 * MaxFrames
	for _, l := range splitLines(clip(text)) {
		t := strings.TrimLeft(l, " \t")
		if suppressed {
			// A suppressed exception, its frames and causes are indented
			// below the exception they belong to.
			if len(t) == len(l) && t != "" {
				suppressed = false
			} else {
				continue
			}
		}
		t = strings.TrimRight(t, " \t")
		switch {
		case strings.HasPrefix(t, "at "):
			f, ok := parseJavaFrame(t[3:])
			if !ok {
				break
			}
			if cur == nil {
				cur = &exc{}
				excs = addExc(excs, cur)
			}
			cur.frames = appendFrame(cur.frames, f)
		case strings.HasPrefix(t, "... ") && strings.HasSuffix(t, " more"):
			if cur != nil && len(excs) > 1 {
				n := atoi(t[len("... ") : len(t)-len(" more")])
				enclosing := excs[len(excs)-2].frames
				n = min(n, len(enclosing), budget)
				budget -= n
				for _, f := range enclosing[len(enclosing)-n:] {
					cur.frames = appendFrame(cur.frames, f)
				}
			}
		case strings.HasPrefix(t, "Caused by: "):
			cur = &exc{header: []string{t[len("Caused by: "):]}}
			excs = addExc(excs, cur)
		case strings.HasPrefix(t, "Suppressed: "):
			suppressed = true
		case t == "":
		case cur == nil:
			cur = &exc{header: []string{t}}
			excs = addExc(excs, cur)
		case len(cur.frames) == 0:
			// A message of several lines.
			cur.header = append(cur.header, l)
		}
	}
	if !hasFrames(excs) {
		return Result{}
	}
	for i, e := range excs {
		javaHeader(e, i == 0)
		reverse(e.frames)
	}
	return result(PlatformJava, reverse(excs))
}

// javaHeader sets type, module and value from the message lines. Text a
// logger printed before the first exception is skipped when a line that
// starts with an exception class follows it.
func javaHeader(e *exc, first bool) {
	lines := e.header
	if first {
		for i, l := range lines {
			if typ, _, ok := cutTypeValue(javaStripThread(l)); ok && isJavaThrowable(typ) {
				lines = lines[i:]
				break
			}
		}
	}
	if len(lines) == 0 {
		return
	}
	head := javaStripThread(lines[0])
	typ, value, ok := cutTypeValue(head)
	if !ok || !isJavaThrowable(typ) {
		e.value = strings.Join(lines, "\n")
		return
	}
	e.typ = typ
	if i := strings.LastIndexByte(typ, '.'); i >= 0 {
		e.module = typ[:i]
	}
	if len(lines) > 1 {
		value += "\n" + strings.Join(lines[1:], "\n")
	}
	e.value = value
}

// javaStripThread removes the prefix of uncaught exceptions:
// `Exception in thread "main" java.lang.Error: msg`.
func javaStripThread(l string) string {
	if rest, ok := strings.CutPrefix(l, "Exception in thread \""); ok {
		if i := strings.Index(rest, "\" "); i >= 0 {
			return rest[i+2:]
		}
	}
	return l
}

// isJavaThrowable tells whether typ looks like a throwable class rather
// than a word of a log message: qualified, or named like one.
func isJavaThrowable(typ string) bool {
	return strings.Contains(typ, ".") || strings.HasSuffix(typ, "Exception") ||
		strings.HasSuffix(typ, "Error") || strings.HasSuffix(typ, "Throwable")
}

// parseJavaFrame reads what follows "at ": "com.foo.Bar.baz(Bar.java:42)",
// maybe with a class loader and module prefix ("app//", "java.base/") and
// with text after it (logback's " ~[app.jar:1.0]").
func parseJavaFrame(s string) (telemetry.Frame, bool) {
	open := strings.IndexByte(s, '(')
	if open <= 0 {
		return telemetry.Frame{}, false
	}
	closing := strings.IndexByte(s[open:], ')')
	if closing < 0 {
		return telemetry.Frame{}, false
	}
	name, loc := s[:open], s[open+1:open+closing]
	// Spaces tell other formats apart: V8 ("fn (file.js:1:2)") and .NET
	// ("Ns.C.M(String[] args) in /app/C.cs:line 10").
	if strings.ContainsAny(name, " \t") || strings.HasPrefix(s[open+closing+1:], " in ") ||
		strings.ContainsAny(loc, " \t") && loc != "Native Method" && !strings.HasPrefix(loc, "Unknown Source") {
		return telemetry.Frame{}, false
	}
	// The prefix ends at the last slash that does not start the address
	// of a hidden class ("Main$$Lambda/0x0000000800c03000").
	for i := len(name) - 1; i >= 0; i-- {
		if name[i] == '/' && (i+1 == len(name) || name[i+1] < '0' || name[i+1] > '9') {
			name = name[i+1:]
			break
		}
	}
	dot := strings.LastIndexByte(name, '.')
	if dot <= 0 || dot == len(name)-1 {
		return telemetry.Frame{}, false
	}
	f := telemetry.Frame{Module: name[:dot], Function: name[dot+1:]}
	switch loc {
	case "Native Method", "Unknown Source", "Unknown", "":
	default:
		file, num, found := strings.Cut(loc, ":")
		if found && !isDigits(num) {
			return telemetry.Frame{}, false
		}
		f.Filename, f.Lineno = file, atoi(num)
		if strings.HasPrefix(file, "Unknown Source") {
			f.Filename = ""
		}
	}
	return f, true
}
