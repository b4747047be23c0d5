package stacktrace

import (
	"strings"

	"github.com/fibinc/telltale/internal/telemetry"
)

// ParseJavaScript parses Error.stack text: V8's (Node, Chrome, Edge:
// "TypeError: msg\n    at fn (file.js:10:15)") and SpiderMonkey's or
// JavaScriptCore's (Firefox, Safari: "fn@https://x/app.js:10:15", which
// has no message line). Lines after the frames, such as the properties
// Node prints for system errors, are ignored.
func ParseJavaScript(text string) Result {
	e := &exc{}
	for _, l := range splitLines(clip(text)) {
		t := strings.TrimSpace(l)
		if rest, ok := strings.CutPrefix(t, "at "); ok {
			if f, ok := parseV8Frame(rest); ok {
				e.frames = appendFrame(e.frames, f)
				continue
			}
		}
		if f, ok := parseGeckoFrame(t); ok {
			e.frames = appendFrame(e.frames, f)
			continue
		}
		if len(e.frames) == 0 {
			e.header = append(e.header, l)
		}
	}
	if len(e.frames) == 0 {
		return Result{}
	}
	jsHeader(e)
	reverse(e.frames)
	return result(PlatformJavaScript, []*exc{e})
}

// jsHeader sets type and value from the lines before the frames:
// "TypeError: msg", also "Uncaught TypeError: msg" (browser consoles) and
// "Error [ERR_CODE]: msg" (Node system errors, whose name is "Error").
func jsHeader(e *exc) {
	for len(e.header) > 0 && strings.TrimSpace(e.header[0]) == "" {
		e.header = e.header[1:]
	}
	if len(e.header) == 0 {
		return
	}
	head := strings.TrimPrefix(strings.TrimSpace(e.header[0]), "Uncaught ")
	name, rest, found := strings.Cut(head, ":")
	if i := strings.Index(name, " ["); i > 0 && strings.HasSuffix(name, "]") {
		name = name[:i]
	}
	value := strings.TrimPrefix(rest, " ")
	if !isIdentPath(name) || found && rest != "" && !strings.HasPrefix(rest, " ") {
		name, value = "", strings.Join(e.header, "\n")
	} else if len(e.header) > 1 {
		value += "\n" + strings.Join(e.header[1:], "\n")
	}
	e.typ, e.value = name, strings.TrimRight(value, "\n")
}

// parseV8Frame reads what follows "at ": "fn (location)", "location", with
// "async " and "new " markers, "Type.fn [as alias]" names and eval
// locations ("eval at fn (file.js:1:2), <anonymous>:1:6").
func parseV8Frame(s string) (telemetry.Frame, bool) {
	var fn, loc string
	if strings.HasSuffix(s, ")") {
		open := matchingOpen(s)
		if open < 0 {
			return telemetry.Frame{}, false
		}
		fn, loc = strings.TrimSpace(s[:open]), s[open+1:len(s)-1]
		if fn == "" {
			// "at (file.js:1:2)" is not printed; a location in parentheses
			// with nothing before it is some other text.
			return telemetry.Frame{}, false
		}
	} else {
		loc = s
	}
	fn = strings.TrimPrefix(fn, "async ")
	loc = strings.TrimPrefix(loc, "address at ") // Hermes (React Native)
	f := telemetry.Frame{Function: fn}
	if strings.HasPrefix(loc, "eval at ") {
		// The code that called eval is the useful location.
		if c := strings.IndexByte(loc, ')'); c > 0 {
			if o := strings.LastIndexByte(loc[:c], '('); o >= 0 {
				loc = loc[o+1 : c]
			}
		}
	}
	switch {
	case loc == "<anonymous>", loc == "native", loc == "unknown location":
		f.Filename = loc
	case strings.HasPrefix(loc, "index "):
		// "at async Promise.all (index 0)": no source location.
		if fn == "" || !isDigits(loc[len("index "):]) {
			return telemetry.Frame{}, false
		}
	default:
		file, line, col, ok := cutLineCol(loc)
		if !ok || file == "" || strings.Contains(file, " ") && !strings.Contains(file, "/") && !strings.Contains(file, `\`) {
			return telemetry.Frame{}, false
		}
		f.Filename, f.AbsPath, f.Lineno, f.Colno = file, file, line, col
	}
	if fn == "" && f.Filename == "" {
		return telemetry.Frame{}, false
	}
	return f, true
}

// matchingOpen returns the index of the parenthesis that opens the one
// ending s, or -1.
func matchingOpen(s string) int {
	depth := 0
	for i := len(s) - 1; i >= 0; i-- {
		switch s[i] {
		case ')':
			depth++
		case '(':
			if depth--; depth == 0 {
				return i
			}
		}
	}
	return -1
}

// parseGeckoFrame reads a Firefox or Safari frame: "fn@location" (with
// "async*" style markers before the function), "@location" and Safari's
// bare "location" for anonymous functions, and "fn@[native code]".
func parseGeckoFrame(t string) (telemetry.Frame, bool) {
	fn, loc, found := strings.Cut(t, "@")
	if !found || strings.Contains(fn, "://") {
		// Safari prints anonymous functions as their location alone.
		fn, loc = "", t
		if loc != "[native code]" && !isURLOrPath(loc) {
			return telemetry.Frame{}, false
		}
	}
	if i := strings.LastIndexByte(fn, '*'); i >= 0 {
		fn = fn[i+1:]
	}
	// Old Firefox printed arguments: "bar(1)@file.js:13".
	if strings.HasSuffix(fn, ")") {
		if i := strings.IndexByte(fn, '('); i >= 0 {
			fn = fn[:i]
		}
	}
	f := telemetry.Frame{Function: fn}
	if loc == "[native code]" {
		f.Filename = loc
		return f, true
	}
	// Code run by eval or new Function: "https://x/app.js line 26 > eval:1:30";
	// the line of the call in the script is the useful location.
	if i := strings.Index(loc, " line "); i > 0 && strings.Contains(loc[i:], " > ") {
		num, _, _ := strings.Cut(loc[i+len(" line "):], " ")
		if !isDigits(num) {
			return telemetry.Frame{}, false
		}
		f.Filename, f.AbsPath, f.Lineno = loc[:i], loc[:i], atoi(num)
		return f, true
	}
	file, line, col, ok := cutLineCol(loc)
	if !ok || file == "" || strings.ContainsAny(file, " \t") {
		return telemetry.Frame{}, false
	}
	f.Filename, f.AbsPath, f.Lineno, f.Colno = file, file, line, col
	return f, true
}

// isURLOrPath tells whether s starts like a URL ("https://", "blob:") or
// an absolute path.
func isURLOrPath(s string) bool {
	if strings.HasPrefix(s, "/") {
		return true
	}
	i := strings.IndexByte(s, ':')
	if i <= 0 {
		return false
	}
	for _, r := range s[:i] {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '+' || r == '-' || r == '.') {
			return false
		}
	}
	return true
}
