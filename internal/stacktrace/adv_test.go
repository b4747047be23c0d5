package stacktrace

import (
	"strings"
	"testing"
	"time"
)

func TestAdversarialTiming(t *testing.T) {
	javaHead := "a.B: c\n" + strings.Repeat("\tat a.B.c(B.java:1)\n", 600)
	cases := map[string]string{
		"java more":     javaHead + strings.Repeat("Caused by: a.B\n\t... 99999999 more\n", 20000),
		"java frames":   strings.Repeat("\tat a.B.c(B.java:1)\n", 20000),
		"go panics":     strings.Repeat("panic: x\n\tpanic: y\n", 20000) + "goroutine 1 [running]:\n" + strings.Repeat("main.f()\n\t/a.go:1 +0x1\n", 10000),
		"go list":       strings.Repeat("m\nmain.f()\n\t/a.go:1\n", 20000),
		"parens":        "at f " + strings.Repeat("(", 200000) + strings.Repeat(")", 50000),
		"parens2":       strings.Repeat("at f (eval at (x:1:2)", 20000),
		"py":            strings.Repeat("Traceback (most recent call last):\n  File \"a\", line 1, in f\n    x\nE: y\n", 5000),
		"pygroup":       strings.Repeat("  + Exception Group Traceback (most recent call last):\n  | E: y\n", 5000),
		"gecko":         strings.Repeat("f@https://x/a.js:1:2\n", 20000),
		"newlines":      strings.Repeat("\n", 300000),
		"colons":        strings.Repeat(":1", 150000),
		"ats":           strings.Repeat("@", 300000),
		"atspace":       strings.Repeat("at ", 100000),
	}
	for name, text := range cases {
		start := time.Now()
		r := Parse(text, "")
		for _, p := range []func(string) Result{ParseGo, ParsePython, ParseJava, ParseJavaScript} {
			p(text)
		}
		t.Logf("%-12s %8d bytes %v platform=%q excs=%d", name, len(text), time.Since(start), r.Platform, len(r.Exceptions))
	}
}
