// Package stacktrace parses stack trace text, as OpenTelemetry SDKs send it
// in the exception.stacktrace attribute, into exceptions with frames, so that
// errors reported through OpenTelemetry can be grouped and shown like Sentry
// events. It reads the native formats of Go (panics, goroutine dumps,
// debug.Stack, pkg/errors), Python tracebacks, Java (and other JVM language)
// stack traces, and JavaScript stacks from V8, Firefox and Safari.
//
// Parsing never fails: text it cannot read gives an empty Result. Work is
// linear in the input, of which at most MaxInput bytes are read.
package stacktrace

import (
	"strings"
	"unicode/utf8"

	"github.com/fibinc/telltale/internal/telemetry"
)

// Limits on what one text can produce. Input beyond MaxInput is ignored;
// frames and exceptions beyond their limits are dropped from the middle,
// keeping the outermost calls and the crash site (Sentry does the same).
const (
	MaxInput      = 256 << 10
	MaxFrames     = 250 // per exception
	MaxExceptions = 100
)

// Platforms of a Result and of its frames.
const (
	PlatformGo         = "go"
	PlatformPython     = "python"
	PlatformJava       = "java"
	PlatformJavaScript = "javascript"
)

// Result is what a stack trace text tells.
type Result struct {
	// Platform is one of the Platform* constants, or "" when the text was
	// not recognised (then Exceptions is empty).
	Platform string `json:"platform"`
	// Exceptions are in Sentry order: the root cause first, the main
	// (outermost) exception last. Frames are oldest call first, the
	// crashing frame last. Type and Value are set when the text names them.
	Exceptions []telemetry.Exception `json:"exceptions"`
}

// Parse parses text. platform is a hint: a Sentry platform ("go", "python",
// "java", "javascript", "node") or an OpenTelemetry telemetry.sdk.language
// ("nodejs", "webjs", ...). When the hint is empty or unknown, or the hinted
// format finds nothing, the format is detected from the text.
func Parse(text, platform string) Result {
	text = clip(text)
	if parse := parserFor(platform); parse != nil {
		if r := parse(text); r.Platform != "" {
			return r
		}
	}
	if parse := parserFor(Detect(text)); parse != nil {
		return parse(text)
	}
	return Result{}
}

func parserFor(platform string) func(string) Result {
	switch strings.ToLower(platform) {
	case "go", "golang":
		return ParseGo
	case "python":
		return ParsePython
	case "java", "kotlin", "scala", "groovy", "clojure", "jvm", "android":
		return ParseJava
	case "javascript", "js", "node", "nodejs", "webjs", "browser", "typescript":
		return ParseJavaScript
	}
	return nil
}

// Detect names the format of text (a Platform* constant), or returns "".
// Unmistakable headers decide at once; otherwise the format whose frame
// lines are most numerous wins.
func Detect(text string) string {
	text = clip(text)
	var goScore, pyScore, javaScore, jsScore int
	for line := range strings.Lines(text) {
		line = strings.TrimRight(line, "\r\n")
		t := strings.TrimSpace(line)
		switch {
		case isGoroutineHeader(line):
			return PlatformGo
		case strings.HasSuffix(t, "Traceback (most recent call last):"):
			return PlatformPython
		case strings.HasPrefix(line, "panic: "), strings.HasPrefix(line, "fatal error: "):
			goScore += 2
		case strings.HasPrefix(line, "\t") && isGoFileLine(line):
			goScore++
		case strings.HasPrefix(t, `File "`) && strings.Contains(t, `", line `):
			pyScore++
		case strings.HasPrefix(t, "Caused by: "):
			javaScore++
		case strings.HasPrefix(t, "at "):
			if _, ok := parseJavaFrame(t[3:]); ok {
				javaScore++
			} else if _, ok := parseV8Frame(t[3:]); ok {
				jsScore++
			}
		default:
			if _, ok := parseGeckoFrame(t); ok {
				jsScore++
			}
		}
	}
	best, platform := 0, ""
	for _, c := range []struct {
		score    int
		platform string
	}{{goScore, PlatformGo}, {pyScore, PlatformPython}, {javaScore, PlatformJava}, {jsScore, PlatformJavaScript}} {
		if c.score > best {
			best, platform = c.score, c.platform
		}
	}
	return platform
}

// clip cuts text to MaxInput bytes, at a line end when there is one, and
// never inside a UTF-8 sequence.
func clip(text string) string {
	if len(text) <= MaxInput {
		return text
	}
	text = text[:MaxInput]
	if i := strings.LastIndexByte(text, '\n'); i > 0 {
		return text[:i]
	}
	// Drop a rune cut in two, so that valid UTF-8 stays valid.
	j := len(text) - 1
	for j > 0 && len(text)-j < utf8.UTFMax && !utf8.RuneStart(text[j]) {
		j--
	}
	if !utf8.FullRuneInString(text[j:]) {
		return text[:j]
	}
	return text
}

// splitLines splits text into lines without their "\n" or "\r\n" ends.
func splitLines(text string) []string {
	lines := strings.Split(text, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimSuffix(l, "\r")
	}
	return lines
}

// appendFrame appends f, and when frames grows to twice MaxFrames drops
// the middle, so that memory stays bounded while the first and the latest
// frames are kept.
func appendFrame(frames []telemetry.Frame, f telemetry.Frame) []telemetry.Frame {
	if len(frames) >= 2*MaxFrames {
		frames = dropMiddle(frames, MaxFrames)
	}
	return append(frames, f)
}

// dropMiddle keeps the first and the last max/2 elements of s.
func dropMiddle[T any](s []T, max int) []T {
	if len(s) <= max {
		return s
	}
	head := max / 2
	tail := max - head
	n := copy(s[head:], s[len(s)-tail:])
	clear(s[head+n:])
	return s[:head+n]
}

// reverse reverses frames in place, for formats that print the newest call
// first.
func reverse[T any](s []T) []T {
	for i, j := 0, len(s)-1; i < j; i, j = i+1, j-1 {
		s[i], s[j] = s[j], s[i]
	}
	return s
}

// atoi parses a non-negative decimal number, returning 0 for anything else
// (including numbers too large for an int32: no source has that many lines).
func atoi(s string) int {
	if s == "" || len(s) > 9 {
		return 0
	}
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0
		}
		n = n*10 + int(c-'0')
	}
	return n
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// cutLineCol splits "file:line:col" or "file:line" from the right. ok is
// false when no line number ends loc.
func cutLineCol(loc string) (file string, line, col int, ok bool) {
	i := strings.LastIndexByte(loc, ':')
	if i < 0 || !isDigits(loc[i+1:]) {
		return loc, 0, 0, false
	}
	last := loc[i+1:]
	file = loc[:i]
	if j := strings.LastIndexByte(file, ':'); j >= 0 && isDigits(file[j+1:]) {
		return file[:j], atoi(file[j+1:]), atoi(last), true
	}
	return file, atoi(last), 0, true
}

// basename returns the last element of a slash or backslash separated path.
func basename(p string) string {
	if i := strings.LastIndexAny(p, `/\`); i >= 0 {
		return p[i+1:]
	}
	return p
}

// exc is an exception being parsed: its message lines are joined at the
// end, so that long messages cost linear time.
type exc struct {
	header []string // message lines, as printed
	frames []telemetry.Frame
	typ    string
	module string
	value  string
}

// addExc appends e to excs, dropping the middle of long chains.
func addExc(excs []*exc, e *exc) []*exc {
	if len(excs) >= 2*MaxExceptions {
		excs = dropMiddle(excs, MaxExceptions)
	}
	return append(excs, e)
}

// result builds a Result from parsed exceptions, already in Sentry order.
func result(platform string, excs []*exc) Result {
	excs = dropMiddle(excs, MaxExceptions)
	r := Result{Platform: platform, Exceptions: make([]telemetry.Exception, 0, len(excs))}
	for _, e := range excs {
		frames := dropMiddle(e.frames, MaxFrames)
		for i := range frames {
			frames[i].Platform = platform
		}
		if len(frames) == 0 {
			frames = nil
		}
		r.Exceptions = append(r.Exceptions, telemetry.Exception{
			Type:   e.typ,
			Value:  e.value,
			Module: e.module,
			Frames: frames,
		})
	}
	return r
}

// hasFrames tells whether any exception has a frame: formats whose headers
// alone look like ordinary text need one to be believed.
func hasFrames(excs []*exc) bool {
	for _, e := range excs {
		if len(e.frames) > 0 {
			return true
		}
	}
	return false
}

// isIdentPath tells whether s is a dotted path of identifiers ("a.b.C",
// "Outer$Inner"), the shape of exception class names.
func isIdentPath(s string) bool {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return false
	}
	for i, r := range s {
		switch {
		case r == '_' || r == '$' || r == '.':
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z':
		case r >= '0' && r <= '9':
			if i == 0 || s[i-1] == '.' {
				return false
			}
		case r > utf8.RuneSelf && r != utf8.RuneError:
		default:
			return false
		}
	}
	return true
}

// cutTypeValue splits "pkg.Type: message" (or a bare "pkg.Type") into the
// type and the message. ok is false when the text does not start with a
// type name.
func cutTypeValue(s string) (typ, value string, ok bool) {
	typ, value, found := strings.Cut(s, ":")
	if found {
		if !strings.HasPrefix(value, " ") && value != "" {
			return "", s, false
		}
		value = strings.TrimPrefix(value, " ")
	}
	if !isIdentPath(typ) {
		return "", s, false
	}
	return typ, value, true
}
