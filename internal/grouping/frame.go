package grouping

import (
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/fibinc/telltale/internal/telemetry"
)

// Platforms whose context lines are trusted as grouping input (Sentry's
// contextline_platforms).
func usesContextLine(fam string) bool {
	return fam == "javascript" || fam == "python" || fam == "php" || fam == "ruby"
}

const maxContextLine = 120

var (
	// Java code generators (Sentry's enhancer patterns).
	javaLambdaModule = regexp.MustCompile(`\$\$Lambda(?:\$\d+)?(?:/(?:0x)?[0-9a-fA-F]+)?`)
	javaReflect      = regexp.MustCompile(`((?:sun|jdk\.internal)\.reflect\.Generated(?:Serialization)?(?:Method|Constructor)Accessor)\d+`)
	javaCGLIB        = regexp.MustCompile(`(\$\$[\w_]+?CGLIB\$\$)[a-fA-F0-9]+(_[0-9]+)?`)
	javassist        = regexp.MustCompile(`(\$\$_javassist)(?:_seam)?(?:_[0-9]+)?`)
	clojureFn        = regexp.MustCompile(`(\$fn__)\d+`)
	javaLambdaFunc   = regexp.MustCompile(`^(lambda\$.*?)\$\d+$`)
	rubyErb          = regexp.MustCompile(`__\d{4,}_\d{4,}$`)
)

// stackBuilder allocates the components of one stack trace from shared
// backing arrays: a realistic stack has tens of frames, each with two or
// three leaves, and one allocation per leaf would dominate Group's cost.
type stackBuilder struct {
	values   []string
	children []Component
}

// reserve makes room for the leaves of n frames: module, filename and
// function, and a context line where the platform uses it.
func (b *stackBuilder) reserve(n int, platform string) {
	per := 3
	if usesContextLine(family(platform)) {
		per = 4
	}
	if cap(b.values)-len(b.values) < per*n {
		b.values = make([]string, 0, per*n)
	}
	if cap(b.children)-len(b.children) < per*n {
		b.children = make([]Component, 0, per*n)
	}
}

func (b *stackBuilder) leaf(id, value string) Component {
	b.values = append(b.values, value)
	n := len(b.values)
	return Component{ID: id, Values: b.values[n-1 : n : n], Contributes: true}
}

// frameInfo is what the variants need of one frame: its leaf components,
// shared by the app and system variants, and whether it can contribute at
// all.
type frameInfo struct {
	children    []Component
	contributes bool
	hint        string // why it doesn't, when it doesn't
	inApp       bool
}

// frames builds the leaf components of every frame of a stack.
func (b *stackBuilder) frames(frames []telemetry.Frame, evPlatform string) []frameInfo {
	out := make([]frameInfo, len(frames))
	b.reserve(len(frames), evPlatform)
	for i := range frames {
		f := &frames[i]
		platform := evPlatform
		if f.Platform != "" {
			platform = f.Platform
		}
		fam := family(platform)
		start := len(b.children)
		b.frameChildren(f, fam)
		n := len(b.children)
		fi := frameInfo{children: b.children[start:n:n], inApp: f.InApp != nil && *f.InApp}
		for _, c := range fi.children {
			if c.Contributes {
				fi.contributes = true
				break
			}
		}
		if !fi.contributes {
			fi.hint = "no usable module, filename or function"
		}
		if fam == "javascript" && fi.contributes && (f.Function == "eval" || isLowQualityJSPath(f.AbsPath)) {
			fi.contributes, fi.hint = false, "ignored low quality javascript frame"
		}
		if i > 0 && fi.contributes && isRecursion(f, &frames[i-1]) {
			fi.contributes, fi.hint = false, "ignored due to recursion"
		}
		out[i] = fi
	}
	// A lone JavaScript frame from a URL without a function name says
	// nothing about the error.
	if len(frames) == 1 && out[0].contributes && family(evPlatform) == "javascript" &&
		frames[0].Function == "" && hasURLOrigin(frames[0].AbsPath) {
		out[0].contributes, out[0].hint = false, "ignored single frame without function from a URL"
	}
	return out
}

func isLowQualityJSPath(p string) bool {
	switch p {
	case "[native code]", "native code", "eval code", "<anonymous>":
		return true
	}
	return false
}

// isRecursion reports whether f repeats the frame before it exactly.
func isRecursion(f, prev *telemetry.Frame) bool {
	return f.AbsPath == prev.AbsPath && f.Package == prev.Package && f.Module == prev.Module &&
		f.Filename == prev.Filename && f.Function == prev.Function && f.Lineno == prev.Lineno && f.Colno == prev.Colno
}

func hasURLOrigin(p string) bool {
	return strings.HasPrefix(p, "http://") || strings.HasPrefix(p, "https://") ||
		strings.HasPrefix(p, "webpack://") || strings.HasPrefix(p, "blob:")
}

// frameChildren appends the module, filename, function and context-line
// components of f (those that have a value).
func (b *stackBuilder) frameChildren(f *telemetry.Frame, fam string) {
	module, fn := f.Module, strings.TrimSpace(f.Function)
	derived := false
	if fam == "go" && module == "" {
		// Stack text parsed from a panic or an OpenTelemetry exception
		// qualifies function names with the package, where sentry-go splits
		// them; splitting here groups both sources alike.
		if pkg, rest := splitGoFunction(fn); pkg != "" {
			module, fn, derived = pkg, rest, true
		}
	}
	moduleContributes := false
	if module != "" {
		c := b.leaf("module", module)
		switch {
		case derived:
			c.Hint = "taken from the qualified function name"
		case fam == "javascript" && strings.IndexByte(module, '/') >= 0 && strings.HasSuffix(f.AbsPath, module):
			c.Contributes, c.Hint = false, "ignored bad javascript module"
		case fam == "java":
			if m := normalizeJavaModule(module); m != module {
				c.Values[0], c.Hint = m, "removed codegen marker"
			}
		}
		moduleContributes = c.Contributes
		b.children = append(b.children, c)
	}
	if f.Filename != "" || f.AbsPath != "" {
		name := f.Filename
		if name == "" {
			name = f.AbsPath
		}
		base := strings.ToLower(basename(name))
		c := b.leaf("filename", base)
		switch {
		case base == "":
			c.Contributes = false
		case hasURLOrigin(f.AbsPath) || hasURLOrigin(name):
			c.Contributes, c.Hint = false, "ignored because frame points to a URL"
		case base == "<anonymous>":
			c.Contributes, c.Hint = false, "anonymous filename discarded"
		case base == "[native code]" || base == "native":
			c.Contributes, c.Hint = false, "native code indicated by filename"
		case moduleContributes:
			c.Contributes, c.Hint = false, "module takes precedence"
		case fam == "java":
			if n := javassist.ReplaceAllString(base, "${1}<auto>"); n != base {
				c.Values[0], c.Hint = n, "cleaned javassist parts"
			}
		}
		b.children = append(b.children, c)
	}
	if fn != "" {
		c := b.leaf("function", fn)
		norm, contributes, hint := normalizeFunction(fn, fam)
		c.Values[0], c.Contributes, c.Hint = norm, contributes, hint
		b.children = append(b.children, c)
	}
	if usesContextLine(fam) && f.ContextLine != "" {
		line := strings.Join(strings.Fields(f.ContextLine), " ")
		if line != "" {
			c := b.leaf("context-line", line)
			switch {
			case utf8.RuneCountInString(line) > maxContextLine:
				c.Contributes, c.Hint = false, "discarded because line too long"
			case fam == "javascript" && f.Function == "" && hasURLOrigin(f.AbsPath):
				c.Contributes, c.Hint = false, "discarded because from URL origin and no function"
			}
			b.children = append(b.children, c)
		}
	}
}

func basename(p string) string {
	if i := strings.LastIndexAny(p, `/\`); i >= 0 {
		return p[i+1:]
	}
	return p
}

func normalizeJavaModule(m string) string {
	if strings.Contains(m, "$$") {
		m = javaLambdaModule.ReplaceAllString(m, "$$$$Lambda")
		m = javaCGLIB.ReplaceAllString(m, "${1}<auto>")
		m = javassist.ReplaceAllString(m, "${1}<auto>")
	}
	if strings.Contains(m, "reflect.Generated") {
		m = javaReflect.ReplaceAllString(m, "${1}")
	}
	if strings.Contains(m, "$fn__") {
		m = clojureFn.ReplaceAllString(m, "${1}<auto>")
	}
	return m
}

// normalizeFunction returns the function name to hash, whether it
// contributes (an anonymous name carries no information) and a hint when it
// was changed or ignored.
func normalizeFunction(fn, fam string) (string, bool, string) {
	const anonymous = "ignored unknown or anonymous function"
	switch fn {
	case "?", "<unknown>", "<redacted>", "<anonymous>", "anonymous", "<anonymous function>",
		"Anonymous function", "<lambda>", "{anonymous}", "{closure}":
		return fn, false, anonymous
	}
	norm := fn
	switch fam {
	case "go":
		norm = normalizeGoFunction(fn)
	case "java":
		if m := javaLambdaFunc.FindStringSubmatch(fn); m != nil {
			norm = m[1]
		}
	case "javascript":
		// V8's " [as alias]" and the receiver ("Object.foo" in one browser,
		// "foo" in another) vary for the same code.
		if i := strings.Index(norm, " [as "); i > 0 && strings.HasSuffix(norm, "]") {
			norm = norm[:i]
		}
		if i := strings.LastIndexByte(norm, '.'); i >= 0 && i+1 < len(norm) {
			norm = norm[i+1:]
		}
		if strings.HasSuffix(norm, "/<") || norm == "<anonymous>" {
			return fn, false, anonymous
		}
		if norm != fn {
			return norm, true, "trimmed javascript function"
		}
	case "ruby":
		if strings.HasPrefix(fn, "block ") {
			norm = "block"
		} else {
			norm = rubyErb.ReplaceAllString(fn, "")
		}
	case "php":
		if strings.HasPrefix(fn, "[Anonymous") || strings.HasPrefix(fn, "class@anonymous") {
			return fn, false, anonymous
		}
	}
	if norm != fn {
		return norm, true, "normalized generated name"
	}
	return fn, true, ""
}

// normalizeGoFunction removes what changes with unrelated edits: the
// numbers of closures (".func1.2" -> ".func.func", "gowrap1",
// "deferwrap1") and generic instantiation brackets ("Map[...]",
// "Map[go.shape.int]").
func normalizeGoFunction(fn string) string {
	if strings.IndexByte(fn, '[') >= 0 {
		var b strings.Builder
		depth := 0
		for i := 0; i < len(fn); i++ {
			switch c := fn[i]; {
			case c == '[':
				depth++
			case c == ']' && depth > 0:
				depth--
			case depth == 0:
				b.WriteByte(c)
			}
		}
		fn = b.String()
	}
	if !strings.Contains(fn, "func") && !strings.Contains(fn, "wrap") {
		return fn
	}
	parts := strings.Split(fn, ".")
	closure := false
	out := parts[:0]
	for _, p := range parts {
		switch {
		case closure && p != "" && isDigits(p):
			// "func1.2": the nested closure's number.
			out = append(out, "func")
			continue
		case numbered(p, "func"):
			p, closure = "func", true
		case numbered(p, "gowrap"):
			p, closure = "gowrap", true
		case numbered(p, "deferwrap"):
			p, closure = "deferwrap", true
		default:
			closure = false
		}
		out = append(out, p)
	}
	return strings.Join(out, ".")
}

// numbered reports whether p is prefix followed by one or more digits.
func numbered(p, prefix string) bool {
	return len(p) > len(prefix) && strings.HasPrefix(p, prefix) && isDigits(p[len(prefix):])
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}
