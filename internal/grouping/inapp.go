package grouping

import (
	"strings"

	"github.com/fibinc/telltale/internal/telemetry"
)

// Decision is a platform rule's verdict on whether a frame is the
// application's own code.
type Decision int8

// Decisions. Unknown leaves the choice to the SDK's flag, or to the
// platform's default when the SDK sent none.
const (
	Unknown Decision = iota
	App
	System
)

func (d Decision) String() string {
	switch d {
	case App:
		return "app"
	case System:
		return "system"
	}
	return "unknown"
}

// InApp reports the platform rule's decision for a frame of an event of the
// given platform (the frame's own platform, when set, wins): App or System
// when the rule is certain, else Unknown.
func (g *Grouper) InApp(platform string, f *telemetry.Frame) Decision {
	if f.Platform != "" {
		platform = f.Platform
	}
	switch family(platform) {
	case "go":
		return g.inAppGo(f)
	case "python":
		return inAppPython(f)
	case "java":
		return inAppJava(f)
	case "javascript":
		return inAppJS(f)
	}
	return Unknown
}

// defaultInApp is the decision for a frame with neither a certain rule nor
// an SDK flag. For the platforms with rules, code that no rule recognises as
// a library is most likely the application's (OpenTelemetry stack text
// carries no flags); elsewhere Sentry's default applies: not in-app.
func defaultInApp(platform string) bool {
	switch family(platform) {
	case "go", "python", "java", "javascript":
		return true
	}
	return false
}

// family maps a platform name to the rule set it uses.
func family(platform string) string {
	switch strings.ToLower(platform) {
	case "go", "golang":
		return "go"
	case "python":
		return "python"
	case "java", "kotlin", "scala", "groovy", "clojure", "android":
		return "java"
	case "javascript", "node", "nodejs", "typescript":
		return "javascript"
	case "php":
		return "php"
	case "ruby":
		return "ruby"
	case "c", "cpp", "native", "cocoa", "objc", "swift", "rust":
		return "native"
	}
	return "other"
}

func framePath(f *telemetry.Frame) string {
	p := f.AbsPath
	if p == "" {
		p = f.Filename
	}
	if strings.IndexByte(p, '\\') >= 0 {
		p = strings.ReplaceAll(p, `\`, "/")
	}
	return p
}

// stdTop lists the first path elements of Go's standard library (and of
// the toolchain's own vendored and command packages).
var stdTop = map[string]bool{
	"archive": true, "bufio": true, "builtin": true, "bytes": true, "cmp": true, "compress": true,
	"container": true, "context": true, "crypto": true, "database": true, "debug": true,
	"embed": true, "encoding": true, "errors": true, "expvar": true, "flag": true, "fmt": true,
	"go": true, "hash": true, "html": true, "image": true, "index": true, "internal": true,
	"io": true, "iter": true, "log": true, "maps": true, "math": true, "mime": true, "net": true,
	"os": true, "path": true, "plugin": true, "reflect": true, "regexp": true, "runtime": true,
	"slices": true, "sort": true, "strconv": true, "strings": true, "structs": true, "sync": true,
	"syscall": true, "testing": true, "text": true, "time": true, "unicode": true, "unique": true,
	"unsafe": true, "weak": true, "vendor": true, "cmd": true,
}

// goPackage returns the frame's Go package: the module field (sentry-go's
// package path) or, for frames parsed from panic text that carry only a
// qualified function name ("net/http.(*conn).serve"), the part of the
// function name before the first dot after the last slash.
func goPackage(f *telemetry.Frame) string {
	if f.Module != "" {
		return f.Module
	}
	pkg, _ := splitGoFunction(f.Function)
	return pkg
}

// splitGoFunction splits a qualified Go function name into package and
// function, or returns "" and fn. The linker writes dots in a path's last
// element as "%2e" ("gopkg.in/yaml%2ev3.Unmarshal"), so the first dot after
// the last slash ends the package.
func splitGoFunction(fn string) (string, string) {
	head := fn
	if i := strings.IndexByte(head, '['); i >= 0 {
		head = head[:i] // type arguments may hold other packages' paths
	}
	slash := strings.LastIndexByte(head, '/')
	dot := strings.IndexByte(head[slash+1:], '.')
	if dot <= 0 {
		return "", fn
	}
	pkg := head[:slash+1+dot]
	for i := 0; i < len(pkg); i++ {
		if c := pkg[i]; !(isWordByte(c) || c == '.' || c == '/' || c == '-' || c == '~' || c == '%') {
			return "", fn
		}
	}
	rest := fn[len(pkg)+1:]
	if strings.Contains(pkg, "%") {
		pkg = strings.ReplaceAll(pkg, "%2e", ".")
	}
	return pkg, rest
}

func firstElem(pkg string) string {
	if i := strings.IndexByte(pkg, '/'); i >= 0 {
		return pkg[:i]
	}
	return pkg
}

func (g *Grouper) inAppGo(f *telemetry.Frame) Decision {
	pkg := goPackage(f)
	for _, m := range g.appModules {
		if strings.HasPrefix(pkg, m) {
			return App
		}
	}
	path := framePath(f)
	if isGoroot(path) {
		return System
	}
	// The module cache ($GOPATH/pkg/mod, or module@version paths in
	// -trimpath builds), vendored and third-party copies: libraries.
	// sentry-go marks the module cache in-app, hence this rule.
	if strings.Contains(path, "/pkg/mod/") || strings.Contains(path, "/vendor/") ||
		strings.HasPrefix(path, "vendor/") || strings.Contains(path, "/third_party/") || hasModuleVersion(path) {
		return System
	}
	top := firstElem(pkg)
	switch {
	case top == "main":
		return App
	case pkg == "":
	case stdTop[top]:
		return System
	case len(g.appModules) > 0 && strings.IndexByte(top, '.') >= 0:
		// A module path that is not one of the application's.
		return System
	}
	return Unknown
}

// isGoroot reports whether path is a file of a Go toolchain's sources.
func isGoroot(path string) bool {
	if strings.HasPrefix(path, "$GOROOT/") || strings.Contains(path, "/usr/local/go/src/") ||
		strings.Contains(path, "/usr/lib/go") || strings.Contains(path, "/pkg/mod/golang.org/toolchain") ||
		strings.Contains(path, "/sdk/go1.") || strings.Contains(path, "/Cellar/go/") {
		return true
	}
	// ".../go/src/<std package>/file.go" is a GOROOT elsewhere (/opt/go,
	// C:/Program Files/Go); ".../go/src/github.com/..." is GOPATH code.
	for _, marker := range [...]string{"/go/src/", "/Go/src/"} {
		if i := strings.Index(path, marker); i >= 0 {
			rest := path[i+len(marker):]
			if strings.IndexByte(rest, '/') >= 0 && stdTop[firstElem(rest)] {
				return true
			}
		}
	}
	return false
}

// hasModuleVersion reports a "module@vX" path element, as -trimpath writes
// module-cache files.
func hasModuleVersion(path string) bool {
	i := strings.Index(path, "@v")
	return i > 0 && i+2 < len(path) && '0' <= path[i+2] && path[i+2] <= '9'
}

func inAppPython(f *telemetry.Frame) Decision {
	path := framePath(f)
	if strings.Contains(path, "site-packages") || strings.Contains(path, "dist-packages") ||
		strings.Contains(path, "/lib/python3") || strings.Contains(path, "/lib/python2") ||
		strings.HasPrefix(path, "<frozen") || strings.Contains(path, "<frozen") {
		return System
	}
	return Unknown
}

var javaSystemPrefixes = []string{
	"java.", "javax.", "jdk.", "sun.", "com.sun.", "kotlin.", "kotlinx.", "scala.",
	"org.springframework.", "org.apache.", "io.netty.", "jakarta.", "android.", "androidx.", "dalvik.",
}

func inAppJava(f *telemetry.Frame) Decision {
	for _, p := range javaSystemPrefixes {
		if strings.HasPrefix(f.Module, p) {
			return System
		}
	}
	return Unknown
}

func inAppJS(f *telemetry.Frame) Decision {
	path := framePath(f)
	if strings.Contains(path, "/node_modules/") || strings.HasPrefix(path, "node_modules/") ||
		strings.HasPrefix(path, "node:") || strings.HasPrefix(path, "internal/") ||
		path == "<anonymous>" || path == "native" || path == "[native code]" {
		return System
	}
	return Unknown
}

// applyInApp sets every frame's InApp to the effective decision. The flags
// point into one slice allocated per event.
func (g *Grouper) applyInApp(ev *telemetry.ErrorEvent) {
	n := len(ev.Stacktrace)
	for i := range ev.Exceptions {
		n += len(ev.Exceptions[i].Frames)
	}
	if n == 0 {
		return
	}
	flags := make([]bool, n)
	set := func(frames []telemetry.Frame) {
		for i := range frames {
			f := &frames[i]
			var v bool
			switch g.InApp(ev.Platform, f) {
			case App:
				v = true
			case System:
				v = false
			default:
				if f.InApp != nil {
					v = *f.InApp
				} else {
					p := ev.Platform
					if f.Platform != "" {
						p = f.Platform
					}
					v = defaultInApp(p)
				}
			}
			flags[0] = v
			f.InApp = &flags[0]
			flags = flags[1:]
		}
	}
	for i := range ev.Exceptions {
		set(ev.Exceptions[i].Frames)
	}
	set(ev.Stacktrace)
}
