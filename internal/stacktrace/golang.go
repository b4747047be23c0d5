package stacktrace

import (
	"strings"

	"github.com/fibinc/telltale/internal/telemetry"
)

// ParseGo parses Go stack text: the runtime's panic and fatal error output
// ("panic: msg", nested and recovered panics, then goroutine stacks),
// runtime/debug.Stack output, and the "function\n\tfile:line" lists that
// github.com/pkg/errors prints for "%+v" (one exception per message).
//
// Of a goroutine dump only the first goroutine is read: the runtime prints
// the panicking or current goroutine first.
func ParseGo(text string) Result {
	lines := splitLines(clip(text))
	for i, l := range lines {
		if isGoroutineHeader(l) {
			return parseGoPanic(lines, i)
		}
	}
	return parseGoFrameList(lines)
}

// parseGoPanic reads the panic messages before the goroutine header at
// lines[g], then that goroutine's frames, which belong to the last panic.
func parseGoPanic(lines []string, g int) Result {
	var excs []*exc
	var cur *exc // the exception whose message lines are being read
	for _, l := range lines[:g] {
		switch {
		case strings.HasPrefix(l, "panic: "):
			cur = &exc{typ: "panic", header: []string{l[len("panic: "):]}}
			excs = addExc(excs, cur)
		case strings.HasPrefix(l, "fatal error: "):
			cur = &exc{typ: "fatal error", header: []string{l[len("fatal error: "):]}}
			excs = addExc(excs, cur)
		case cur != nil && strings.HasPrefix(l, "\tpanic: "):
			// A panic raised while the one above was running its
			// deferred calls: the later panic is the main one.
			cur = &exc{typ: "panic", header: []string{l[len("\tpanic: "):]}}
			excs = addExc(excs, cur)
		case cur != nil && l != "" && !strings.HasPrefix(l, "[signal ") && l != "runtime stack:":
			// Go indents the further lines of multi-line panic values
			// with a tab; older versions printed them as they were.
			cur.header = append(cur.header, strings.TrimPrefix(l, "\t"))
		default:
			cur = nil
		}
	}
	if len(excs) == 0 {
		// debug.Stack output, or a dump without a panic message.
		excs = append(excs, &exc{})
	}
	for _, e := range excs {
		goPanicValue(e)
	}
	last := excs[len(excs)-1]
	for i := g + 1; i < len(lines); i++ {
		l := lines[i]
		if l == "" || isGoroutineHeader(l) {
			break
		}
		next := ""
		if i+1 < len(lines) {
			next = lines[i+1]
		}
		switch {
		case strings.HasPrefix(l, "created by "):
			// Where the goroutine was started is not a call of this
			// stack.
			if isGoFileLine(next) {
				i++
			}
		case strings.HasPrefix(l, "\t"), strings.HasPrefix(l, "..."), strings.TrimSpace(l) == "":
			// A location without a function, or "...N frames elided...".
		case isGoFileLine(next):
			last.frames = appendFrame(last.frames, goFrame(l, next))
			i++
		}
	}
	for _, e := range excs {
		reverse(e.frames)
	}
	return result(PlatformGo, excs)
}

// goPanicValue sets the value of a panic from its message lines, and a more
// precise type when the message shows one.
func goPanicValue(e *exc) {
	v := strings.Join(e.header, "\n")
	// "[recovered]" and "[recovered, repanicked]" tell what happened to
	// the panic, not what it was.
	if strings.HasSuffix(v, "]") {
		if i := strings.LastIndex(v, " [recovered"); i >= 0 {
			v = v[:i]
		}
	}
	if e.typ == "panic" {
		switch {
		case strings.HasPrefix(v, "runtime error: "), strings.HasPrefix(v, "interface conversion: "):
			e.typ = "runtime.Error"
		case strings.HasPrefix(v, "("):
			// Values of other types print as "(main.T) 0xc000012345".
			if t, rest, ok := strings.Cut(v[1:], ") "); ok && !strings.ContainsAny(t, " ()") && t != "" {
				e.typ, v = t, rest
			}
		}
	}
	e.value = v
}

// parseGoFrameList reads "function\n\tfile:line" pairs; other lines are
// error messages, each starting an exception whose stack follows it (the
// layout of pkg/errors, which prints the innermost error first).
func parseGoFrameList(lines []string) Result {
	var excs []*exc
	var cur *exc
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		switch {
		case strings.TrimSpace(l) == "":
		case strings.HasPrefix(l, "\t"):
			// A location without a function line: nothing to name it.
		case i+1 < len(lines) && isGoFileLine(lines[i+1]):
			if cur == nil {
				cur = &exc{}
				excs = addExc(excs, cur)
			}
			cur.frames = appendFrame(cur.frames, goFrame(l, lines[i+1]))
			i++
		default:
			if cur == nil || len(cur.frames) > 0 {
				cur = &exc{}
				excs = addExc(excs, cur)
			}
			cur.header = append(cur.header, l)
		}
	}
	if !hasFrames(excs) {
		return Result{}
	}
	for _, e := range excs {
		e.value = strings.Join(e.header, "\n")
		reverse(e.frames)
	}
	return result(PlatformGo, excs)
}

// isGoroutineHeader matches "goroutine 1 [running]:", also with the extra
// fields GOTRACEBACK=system adds ("goroutine 1 gp=0xc0 m=0 [running]:").
func isGoroutineHeader(l string) bool {
	rest, ok := strings.CutPrefix(l, "goroutine ")
	if !ok || !strings.HasSuffix(rest, "]:") {
		return false
	}
	id, _, _ := strings.Cut(rest, " ")
	return isDigits(id) && strings.Contains(rest, " [")
}

// isGoFileLine matches a frame's location line: "\t/path/file.go:12",
// maybe followed by " +0x1d" and other fields.
func isGoFileLine(l string) bool {
	_, _, ok := cutGoFileLine(l)
	return ok
}

func cutGoFileLine(l string) (file string, line int, ok bool) {
	s, found := strings.CutPrefix(l, "\t")
	if !found {
		return "", 0, false
	}
	if i := strings.Index(s, " +0x"); i >= 0 {
		s = s[:i]
	}
	// The path may hold spaces, the fields after the line number none
	// with a colon, so the line number follows the last colon.
	i := strings.LastIndexByte(s, ':')
	if i <= 0 {
		return "", 0, false
	}
	num, _, _ := strings.Cut(s[i+1:], " ")
	if !isDigits(num) {
		return "", 0, false
	}
	return s[:i], atoi(num), true
}

// goFrame builds a frame from a function line ("pkg.(*T).M(0xc0, ...)" or
// "pkg.F") and its location line.
func goFrame(fn, loc string) telemetry.Frame {
	file, line, _ := cutGoFileLine(loc)
	name := stripGoArgs(fn)
	module, function := splitGoFunc(name)
	if module == "" && function == "panic" && strings.HasSuffix(file, "runtime/panic.go") {
		// The runtime prints runtime.gopanic as a bare "panic".
		module = "runtime"
	}
	return telemetry.Frame{
		Function: function,
		Module:   module,
		Filename: basename(file),
		AbsPath:  file,
		Lineno:   line,
	}
}

// stripGoArgs removes the argument list the runtime prints after a function
// name: the balanced parentheses that end the line.
func stripGoArgs(s string) string {
	if !strings.HasSuffix(s, ")") {
		return s
	}
	depth := 0
	for i := len(s) - 1; i >= 0; i-- {
		switch s[i] {
		case ')':
			depth++
		case '(':
			depth--
			if depth == 0 {
				if i == 0 {
					return s
				}
				return s[:i]
			}
		}
	}
	return s
}

// splitGoFunc splits a qualified Go function name into the package path
// and the function ("github.com/a/b.(*T).M" into "github.com/a/b" and
// "(*T).M"). The package ends at the first dot after the last slash; the
// linker escapes dots in the last path element as "%2e", so such a dot is
// never mistaken for the separator.
func splitGoFunc(name string) (module, function string) {
	prefix := name
	if i := strings.IndexAny(name, "(["); i >= 0 {
		prefix = name[:i]
	}
	start := strings.LastIndexByte(prefix, '/') + 1
	dot := strings.IndexByte(prefix[start:], '.')
	if dot < 0 {
		return "", name
	}
	dot += start
	return strings.ReplaceAll(name[:dot], "%2e", "."), name[dot+1:]
}
