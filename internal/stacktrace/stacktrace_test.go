package stacktrace

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/fibinc/telltale/internal/telemetry"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// samples returns the captured stack traces in testdata, by file name.
func samples(t testing.TB) map[string]string {
	t.Helper()
	paths, err := filepath.Glob("testdata/*.txt")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no samples in testdata: %v", err)
	}
	m := make(map[string]string, len(paths))
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		m[filepath.Base(p)] = string(b)
	}
	return m
}

// samplePlatform is the platform a sample's file name says.
func samplePlatform(name string) string {
	switch {
	case strings.HasPrefix(name, "go-"):
		return PlatformGo
	case strings.HasPrefix(name, "python"):
		return PlatformPython
	case strings.HasPrefix(name, "java-"):
		return PlatformJava
	}
	return PlatformJavaScript
}

func TestGolden(t *testing.T) {
	for name, text := range samples(t) {
		t.Run(name, func(t *testing.T) {
			want := samplePlatform(name)
			r := Parse(text, "")
			if r.Platform != want {
				t.Fatalf("detected platform %q, want %q", r.Platform, want)
			}
			checkInvariants(t, text, r)
			if len(r.Exceptions) == 0 || len(r.Exceptions[len(r.Exceptions)-1].Frames) == 0 {
				t.Fatalf("main exception has no frames: %+v", r)
			}
			if hinted := Parse(text, want); !equalJSON(t, hinted, r) {
				t.Errorf("Parse with hint %q differs from detection", want)
			}
			got, err := json.MarshalIndent(r, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			golden := filepath.Join("testdata", "golden", strings.TrimSuffix(name, ".txt")+".json")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			wantJSON, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if !bytes.Equal(got, wantJSON) {
				t.Errorf("result differs from %s (run go test -update after checking):\n%s", golden, got)
			}
		})
	}
}

func equalJSON(t *testing.T, a, b Result) bool {
	t.Helper()
	ja, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	jb, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Equal(ja, jb)
}

// checkInvariants checks what must hold for any input.
func checkInvariants(t testing.TB, text string, r Result) {
	t.Helper()
	if r.Platform == "" && len(r.Exceptions) > 0 {
		t.Errorf("exceptions without a platform: %+v", r)
	}
	if r.Platform != "" && len(r.Exceptions) == 0 {
		t.Errorf("platform %q without exceptions", r.Platform)
	}
	if len(r.Exceptions) > MaxExceptions {
		t.Errorf("%d exceptions, limit %d", len(r.Exceptions), MaxExceptions)
	}
	valid := utf8.ValidString(text)
	checkString := func(what, s string) {
		if valid && !utf8.ValidString(s) {
			t.Errorf("%s %q is not valid UTF-8", what, s)
		}
	}
	for _, e := range r.Exceptions {
		if len(e.Frames) > MaxFrames {
			t.Errorf("%d frames, limit %d", len(e.Frames), MaxFrames)
		}
		checkString("type", e.Type)
		checkString("value", e.Value)
		checkString("module", e.Module)
		for _, f := range e.Frames {
			if f.Lineno < 0 || f.Colno < 0 {
				t.Errorf("negative position in %+v", f)
			}
			if f.Platform != r.Platform {
				t.Errorf("frame platform %q, result platform %q", f.Platform, r.Platform)
			}
			if f.Function == "" && f.Module == "" && f.Filename == "" {
				t.Errorf("frame names nothing: %+v", f)
			}
			if f.InApp != nil {
				t.Errorf("in_app set in %+v", f)
			}
			for _, s := range []string{f.Function, f.Module, f.Filename, f.AbsPath, f.ContextLine} {
				checkString("frame field", s)
			}
		}
	}
}

// ex describes an expected exception; frames are written "module function
// filename:line:col", oldest first.
type ex struct {
	typ, module, value string
	frames             []string
}

func frameString(f telemetry.Frame) string {
	return fmt.Sprintf("%s %s %s:%d:%d", f.Module, f.Function, f.Filename, f.Lineno, f.Colno)
}

func checkResult(t *testing.T, r Result, platform string, want []ex) {
	t.Helper()
	if r.Platform != platform {
		t.Fatalf("platform %q, want %q (result %+v)", r.Platform, platform, r)
	}
	if len(r.Exceptions) != len(want) {
		t.Fatalf("%d exceptions, want %d: %+v", len(r.Exceptions), len(want), r.Exceptions)
	}
	for i, w := range want {
		e := r.Exceptions[i]
		if e.Type != w.typ || e.Module != w.module || e.Value != w.value {
			t.Errorf("exception %d: type %q module %q value %q, want %q %q %q", i, e.Type, e.Module, e.Value, w.typ, w.module, w.value)
		}
		var got []string
		for _, f := range e.Frames {
			got = append(got, frameString(f))
		}
		if strings.Join(got, "\n") != strings.Join(w.frames, "\n") {
			t.Errorf("exception %d frames:\n%s\nwant:\n%s", i, strings.Join(got, "\n"), strings.Join(w.frames, "\n"))
		}
	}
}

func TestParseGo(t *testing.T) {
	tests := []struct {
		name string
		text string
		want []ex
	}{{
		name: "panic with exit status",
		text: "panic: boom\n\ngoroutine 1 [running]:\nmain.main()\n\t/app/main.go:12 +0x1d\nexit status 2\n",
		want: []ex{{typ: "panic", value: "boom", frames: []string{"main main main.go:12:0"}}},
	}, {
		name: "runtime error, methods, generics, closures, dotted module",
		text: "panic: runtime error: index out of range [5] with length 3\n\n" +
			"goroutine 1 [running]:\n" +
			"gopkg.in/yaml%2ev3.(*parser).parse(...)\n\t/go/pkg/mod/gopkg.in/yaml.v3@v3.0.1/parserc.go:10\n" +
			"github.com/fibinc/telltale/internal/x.(*Store[...]).Get(0x4aadd8, {0x4de4b8?, 0x3?})\n\t/src/internal/x/x.go:12 +0x50\n" +
			"main.main.func1()\n\t/src/main.go:5 +0x27\n" +
			"main.main()\n\t/src/main.go:9 +0x9d\n",
		want: []ex{{typ: "runtime.Error", value: "runtime error: index out of range [5] with length 3", frames: []string{
			"main main main.go:9:0",
			"main main.func1 main.go:5:0",
			"github.com/fibinc/telltale/internal/x (*Store[...]).Get x.go:12:0",
			"gopkg.in/yaml.v3 (*parser).parse parserc.go:10:0",
		}}},
	}, {
		name: "recovered and repanicked",
		text: "panic: first [recovered]\n\tpanic: second\n[signal SIGSEGV: segmentation violation code=0x1 addr=0x0 pc=0x4a0fcd]\n\n" +
			"goroutine 1 [running]:\nmain.f()\n\t/app/main.go:3 +0x1\npanic({0x4b1540?, 0x583310?})\n\t/usr/local/go/src/runtime/panic.go:860 +0x13a\n",
		want: []ex{
			{typ: "panic", value: "first"},
			{typ: "panic", value: "second", frames: []string{"runtime panic panic.go:860:0", "main f main.go:3:0"}},
		},
	}, {
		name: "multi-line value, typed value",
		text: "panic: (main.T) 0x497878\n\tpanic: one\n\ttwo [recovered, repanicked]\n\ngoroutine 1 [running]:\nmain.main()\n\t/a.go:1\n",
		want: []ex{{typ: "main.T", value: "0x497878"}, {typ: "panic", value: "one\ntwo", frames: []string{"main main a.go:1:0"}}},
	}, {
		name: "fatal error, first goroutine only, created by skipped",
		text: "fatal error: concurrent map writes\n\ngoroutine 7 gp=0xc000007 m=3 mp=0xc0004 [running]:\n" +
			"internal/runtime/maps.fatal({0x4cb60a?, 0x0?})\n\t/usr/local/go/src/runtime/panic.go:1181 +0x18 fp=0xc0 sp=0xc0 pc=0x46\n" +
			"main.main.func3()\n\tC:/Users/Dev Box/app/main.go:73 +0x2d\n" +
			"...additional frames elided...\n" +
			"created by main.main in goroutine 1\n\t/app/main.go:73 +0x1db\n\n" +
			"goroutine 1 [sleep]:\nmain.other()\n\t/app/main.go:80 +0x1\n",
		want: []ex{{typ: "fatal error", value: "concurrent map writes", frames: []string{
			"main main.func3 main.go:73:0",
			"internal/runtime/maps fatal panic.go:1181:0",
		}}},
	}, {
		name: "debug.Stack",
		text: "goroutine 19 [running]:\nruntime/debug.Stack()\n\t/usr/local/go/src/runtime/debug/stack.go:26 +0x5e\nmain.main.func1()\n\t/app/main.go:53 +0x45\n",
		want: []ex{{frames: []string{"main main.func1 main.go:53:0", "runtime/debug Stack stack.go:26:0"}}},
	}, {
		name: "pkg/errors",
		text: "open x: denied\nmain.open\n\t/app/main.go:31\nmain.main\n\t/app/main.go:49\nload config\nmain.load\n\t/app/main.go:32",
		want: []ex{
			{value: "open x: denied", frames: []string{"main main main.go:49:0", "main open main.go:31:0"}},
			{value: "load config", frames: []string{"main load main.go:32:0"}},
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := ParseGo(tt.text)
			checkResult(t, r, PlatformGo, tt.want)
			checkInvariants(t, tt.text, r)
		})
	}
}

func TestSplitGoFunc(t *testing.T) {
	tests := []struct{ in, module, function string }{
		{"main.main", "main", "main"},
		{"main.(*handler).serve.func1", "main", "(*handler).serve.func1"},
		{"github.com/fibinc/telltale/internal/x.(*T).M", "github.com/fibinc/telltale/internal/x", "(*T).M"},
		{"gopkg.in/yaml%2ev3.(*decoder).unmarshal", "gopkg.in/yaml.v3", "(*decoder).unmarshal"},
		{"example.com/m.Map[...]", "example.com/m", "Map[...]"},
		{"example.com/m.F[go.shape.struct { a example.com/n.T }]", "example.com/m", "F[go.shape.struct { a example.com/n.T }]"},
		{"runtime/debug.Stack", "runtime/debug", "Stack"},
		{"panic", "", "panic"},
	}
	for _, tt := range tests {
		m, f := splitGoFunc(tt.in)
		if m != tt.module || f != tt.function {
			t.Errorf("splitGoFunc(%q) = %q, %q; want %q, %q", tt.in, m, f, tt.module, tt.function)
		}
	}
}

func TestParsePython(t *testing.T) {
	tests := []struct {
		name string
		text string
		want []ex
	}{{
		name: "simple, 3.11 carets",
		text: "Traceback (most recent call last):\n  File \"/app/x.py\", line 10, in handler\n    return int(n)\n           ^^^^^^\nValueError: invalid literal for int() with base 10: '4.5'\n",
		want: []ex{{typ: "ValueError", value: "invalid literal for int() with base 10: '4.5'", frames: []string{" handler /app/x.py:10:0"}}},
	}, {
		name: "cause without traceback, qualified type, no message",
		text: "ConnectionResetError: reset\n\nThe above exception was the direct cause of the following exception:\n\n" +
			"Traceback (most recent call last):\n  File \"/app/c.py\", line 3, in <module>\n    fetch()\n" +
			"requests.exceptions.ConnectionError\n",
		want: []ex{
			{typ: "ConnectionResetError", value: "reset"},
			{typ: "ConnectionError", module: "requests.exceptions", frames: []string{" <module> /app/c.py:3:0"}},
		},
	}, {
		name: "frame without code line, windows path with CRLF",
		text: "Traceback (most recent call last):\r\n  File \"C:\\app\\x.py\", line 2, in f\r\n  File \"<stdin>\", line 1, in <module>\r\nKeyboardInterrupt\r\n",
		want: []ex{{typ: "KeyboardInterrupt", frames: []string{` f C:\app\x.py:2:0`, " <module> <stdin>:1:0"}}},
	}, {
		name: "not a traceback",
		text: "ValueError: x\n",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := ParsePython(tt.text)
			platform := PlatformPython
			if tt.want == nil {
				platform = ""
			}
			checkResult(t, r, platform, tt.want)
			checkInvariants(t, tt.text, r)
		})
	}
	r := ParsePython("Traceback (most recent call last):\n  File \"/a.py\", line 1, in f\n    x = y[0]\n        ~^^^\nIndexError: e\n")
	if got := r.Exceptions[0].Frames[0].ContextLine; got != "x = y[0]" {
		t.Errorf("context line %q", got)
	}
}

func TestParseJava(t *testing.T) {
	tests := []struct {
		name string
		text string
		want []ex
	}{{
		name: "caused by with shared frames",
		text: "java.lang.IllegalStateException: msg\n\tat com.foo.Bar.baz(Bar.java:42)\n\tat com.foo.Main.main(Main.java:5)\n" +
			"Caused by: java.io.IOException: disk\n\tat com.foo.Disk.read(Disk.java:7)\n\t... 1 more\n",
		want: []ex{
			{typ: "java.io.IOException", module: "java.io", value: "disk", frames: []string{"com.foo.Main main Main.java:5:0", "com.foo.Disk read Disk.java:7:0"}},
			{typ: "java.lang.IllegalStateException", module: "java.lang", value: "msg", frames: []string{"com.foo.Main main Main.java:5:0", "com.foo.Bar baz Bar.java:42:0"}},
		},
	}, {
		name: "module prefixes, hidden classes, native, unknown, packaging data",
		text: "Exception in thread \"main\" java.lang.NullPointerException\n" +
			"\tat app//com.foo.Main$Inner.lambda$main$0(Main.java:9) ~[app.jar:1.0]\n" +
			"\tat com.foo.Main$$Lambda/0x0000000800c03000.run(Unknown Source)\n" +
			"\tat java.base@17.0.1/jdk.internal.reflect.NativeMethodAccessorImpl.invoke0(Native Method)\n" +
			"\tat com.foo.loader/foo@9.0/com.foo.Main.<init>(Main.kt)\n" +
			"\tat java.base/java.lang.Thread.run(Thread.java:833)\n",
		want: []ex{{typ: "java.lang.NullPointerException", module: "java.lang", frames: []string{
			"java.lang.Thread run Thread.java:833:0",
			"com.foo.Main <init> Main.kt:0:0",
			"jdk.internal.reflect.NativeMethodAccessorImpl invoke0 :0:0",
			"com.foo.Main$$Lambda/0x0000000800c03000 run :0:0",
			"com.foo.Main$Inner lambda$main$0 Main.java:9:0",
		}}},
	}, {
		name: "log line before, suppressed skipped, multi-line message",
		text: "2024-05-01 12:00:00 ERROR [main] c.f.App - order failed: 42\n" +
			"com.foo.OrderException: line one\nline two\n    at com.foo.A.a(A.java:1)\n" +
			"\tSuppressed: java.lang.IllegalStateException: close\n\t\tat com.foo.R.close(R.java:2)\n\t\tCaused by: x.Y: z\n\t\t\tat x.Y.y(Y.java:3)\n" +
			"Caused by: kotlin.KotlinNullPointerException\n\tat com.foo.K.k(K.kt:4)\n",
		want: []ex{
			{typ: "kotlin.KotlinNullPointerException", module: "kotlin", frames: []string{"com.foo.K k K.kt:4:0"}},
			{typ: "com.foo.OrderException", module: "com.foo", value: "line one\nline two", frames: []string{"com.foo.A a A.java:1:0"}},
		},
	}, {
		name: "no frames",
		text: "java.lang.RuntimeException: boom\n",
	}, {
		name: ".NET is not Java",
		text: "System.Exception: boom\n   at App.Program.Main(String[] args) in /app/Program.cs:line 10\n",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := ParseJava(tt.text)
			platform := PlatformJava
			if tt.want == nil {
				platform = ""
			}
			checkResult(t, r, platform, tt.want)
			checkInvariants(t, tt.text, r)
		})
	}
}

func TestParseJavaScript(t *testing.T) {
	tests := []struct {
		name string
		text string
		want []ex
	}{{
		name: "v8",
		text: "TypeError: x is not a function\n" +
			"    at handler (/app/src/server.js:10:15)\n" +
			"    at Layer.handle [as handle_request] (/app/node_modules/express/lib/router/layer.js:95:5)\n" +
			"    at async Promise.all (index 0)\n" +
			"    at /app/x.js:1:2\n" +
			"    at new Foo (file.js:1:1)\n" +
			"    at eval (eval at run (/app/e.js:3:4), <anonymous>:1:6)\n" +
			"    at Array.map (<anonymous>)\n" +
			"    at anonymous (address at index.android.bundle:1:2)\n" +
			"    at node:internal/process/task_queues:95:5\n",
		want: []ex{{typ: "TypeError", value: "x is not a function", frames: []string{
			"  node:internal/process/task_queues:95:5",
			" anonymous index.android.bundle:1:2",
			" Array.map <anonymous>:0:0",
			" eval /app/e.js:3:4",
			" new Foo file.js:1:1",
			"  /app/x.js:1:2",
			" Promise.all :0:0",
			" Layer.handle [as handle_request] /app/node_modules/express/lib/router/layer.js:95:5",
			" handler /app/src/server.js:10:15",
		}}},
	}, {
		name: "node system error with properties after the frames",
		text: "Error [ERR_HTTP_HEADERS_SENT]: Cannot set headers after they are sent\n    at ServerResponse.setHeader (node:_http_outgoing:652:11)\n{\n  code: 'ERR_HTTP_HEADERS_SENT'\n}\n",
		want: []ex{{typ: "Error", value: "Cannot set headers after they are sent", frames: []string{" ServerResponse.setHeader node:_http_outgoing:652:11"}}},
	}, {
		name: "browser console, message with an address",
		text: "Uncaught Error: send to bob@example.com:25 failed\n    at https://x.com/app.js:10:15\n",
		want: []ex{{typ: "Error", value: "send to bob@example.com:25 failed", frames: []string{"  https://x.com/app.js:10:15"}}},
	}, {
		name: "firefox and safari",
		text: "handler@https://x.com/app.js:10:15\nasync*fn@https://x.com/app.js:5:1\nbar(1)@https://x.com/old.js:13\n" +
			"@https://x.com/a.js line 26 > eval:2:96\nmap@[native code]\nhttps://cdn.x.com/pkg@1.2.3/lib.js:4:2\neval code\n@https://x.com/app.js:1:2\n",
		want: []ex{{frames: []string{
			"  https://x.com/app.js:1:2",
			"  https://cdn.x.com/pkg@1.2.3/lib.js:4:2",
			" map [native code]:0:0",
			"  https://x.com/a.js:26:0",
			" bar https://x.com/old.js:13:0",
			" fn https://x.com/app.js:5:1",
			" handler https://x.com/app.js:10:15",
		}}},
	}, {
		name: "message only",
		text: "Error: boom\n",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := ParseJavaScript(tt.text)
			platform := PlatformJavaScript
			if tt.want == nil {
				platform = ""
			}
			checkResult(t, r, platform, tt.want)
			checkInvariants(t, tt.text, r)
		})
	}
}

func TestDetect(t *testing.T) {
	tests := []struct{ text, want string }{
		{"main.f\n\t/app/main.go:10\n", PlatformGo},
		{"panic: x\n", PlatformGo},
		{"  + Exception Group Traceback (most recent call last):\n", PlatformPython},
		{"  File \"/a.py\", line 1, in f\n", PlatformPython},
		{"x.Y: z\n\tat a.B.c(B.java:1)\n", PlatformJava},
		{"Caused by: x.Y\n", PlatformJava},
		{"Error: x\n    at f (/a.js:1:2)\n", PlatformJavaScript},
		{"f@https://x/a.js:1:2\n", PlatformJavaScript},
		{"hello world\nat least one\n", ""},
		{"", ""},
	}
	for _, tt := range tests {
		if got := Detect(tt.text); got != tt.want {
			t.Errorf("Detect(%q) = %q, want %q", tt.text, got, tt.want)
		}
	}
}

func TestParseHints(t *testing.T) {
	node := "Error: boom\n    at f (/a.js:1:2)\n"
	for _, hint := range []string{"node", "nodejs", "webjs", "javascript", "", "dotnet", "ruby"} {
		if r := Parse(node, hint); r.Platform != PlatformJavaScript {
			t.Errorf("hint %q: platform %q", hint, r.Platform)
		}
	}
	// A wrong hint falls back to detection.
	if r := Parse(node, "python"); r.Platform != PlatformJavaScript {
		t.Errorf("wrong hint: platform %q", r.Platform)
	}
	if r := Parse("just some text", "go"); r.Platform != "" || r.Exceptions != nil {
		t.Errorf("unparseable text: %+v", r)
	}
}

func TestLimits(t *testing.T) {
	var b strings.Builder
	b.WriteString("java.lang.StackOverflowError\n")
	for i := 1; i <= 1000; i++ {
		fmt.Fprintf(&b, "\tat a.B.f(B.java:%d)\n", i)
	}
	r := ParseJava(b.String())
	frames := r.Exceptions[0].Frames
	if len(frames) != MaxFrames {
		t.Fatalf("%d frames, want %d", len(frames), MaxFrames)
	}
	// Oldest first: the outermost calls and the crash site survive.
	if frames[0].Lineno != 1000 || frames[MaxFrames/2-1].Lineno != 876 || frames[MaxFrames/2].Lineno != 125 || frames[MaxFrames-1].Lineno != 1 {
		t.Errorf("kept lines %d %d %d %d", frames[0].Lineno, frames[MaxFrames/2-1].Lineno, frames[MaxFrames/2].Lineno, frames[MaxFrames-1].Lineno)
	}

	b.Reset()
	b.WriteString("a.E: 0\n\tat a.B.f(B.java:1)\n")
	for i := 1; i < 300; i++ {
		fmt.Fprintf(&b, "Caused by: a.E: %d\n\tat a.B.f(B.java:1)\n\t... 1 more\n", i)
	}
	r = ParseJava(b.String())
	if n := len(r.Exceptions); n != MaxExceptions {
		t.Fatalf("%d exceptions, want %d", n, MaxExceptions)
	}
	if first, last := r.Exceptions[0].Value, r.Exceptions[MaxExceptions-1].Value; first != "299" || last != "0" {
		t.Errorf("kept root cause %q and main %q", first, last)
	}

	// Input beyond MaxInput is not read; a rune cut by the limit is dropped.
	long := "Error: " + strings.Repeat("é", MaxInput) + "\n    at f (/a.js:1:2)\n"
	if r := Parse(long, ""); r.Platform != "" {
		t.Errorf("frames beyond MaxInput were read: %+v", r.Platform)
	}
	if c := clip(long); !utf8.ValidString(c) || len(c) > MaxInput {
		t.Errorf("clip: %d bytes, valid %v", len(c), utf8.ValidString(c))
	}
}

func FuzzParse(f *testing.F) {
	for _, text := range samples(f) {
		f.Add(text, "")
	}
	f.Add("panic: x [recovered]\n\tpanic: y\n\ngoroutine 1 [running]:\nmain.main()\n\t/a.go:1 +0x1\n", "go")
	f.Add("a.B: c\n\tat a.B.c(B.java:1)\nCaused by: d.E\n\t... 5 more\n", "java")
	f.Add("  + Exception Group Traceback (most recent call last):\n  | E: x\n  +-+---- 1 ----\n    | V: y\n", "python")
	f.Add("@x:1:2\nf@[native code]\n    at f (eval at g (a.js:1:2), <anonymous>:1:1)\n", "webjs")
	f.Fuzz(func(t *testing.T, text, platform string) {
		r := Parse(text, platform)
		checkInvariants(t, text, r)
		for _, parse := range []func(string) Result{ParseGo, ParsePython, ParseJava, ParseJavaScript} {
			checkInvariants(t, text, parse(text))
		}
	})
}

func BenchmarkParse(b *testing.B) {
	s := samples(b)
	names := make([]string, 0, len(s))
	for name := range s {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		text := s[name]
		b.Run(strings.TrimSuffix(name, ".txt"), func(b *testing.B) {
			b.SetBytes(int64(len(text)))
			b.ReportAllocs()
			for b.Loop() {
				Parse(text, "")
			}
		})
	}
}

// BenchmarkParseLarge parses texts as large as Parse reads, shaped to cost
// the most: long cause chains that share frames, and one huge stack.
func BenchmarkParseLarge(b *testing.B) {
	var chain strings.Builder
	chain.WriteString("a.E: x\n" + strings.Repeat("\tat a.B.c(B.java:1)\n", 600))
	for chain.Len() < MaxInput {
		chain.WriteString("Caused by: a.E: y\n\tat a.B.d(B.java:2)\n\t... 600 more\n")
	}
	var stack strings.Builder
	stack.WriteString("TypeError: x\n")
	for stack.Len() < MaxInput {
		stack.WriteString("    at Object.handler (/app/src/server.js:10:15)\n")
	}
	for name, text := range map[string]string{"java-chain": chain.String(), "node-stack": stack.String()} {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(text)))
			for b.Loop() {
				Parse(text, "")
			}
		})
	}
}
