package stacktrace

import (
	"strings"

	"github.com/fibinc/telltale/internal/telemetry"
)

// Python's chain separators. The exception printed before a separator is
// the cause or context of the one printed after it, so printed order is
// already Sentry order.
var pythonSeparators = [...]string{
	"During handling of the above exception, another exception occurred:",
	"The above exception was the direct cause of the following exception:",
}

// ParsePython parses Python tracebacks, with their chained causes and
// contexts. Of an exception group only the group itself is read, not its
// sub-exceptions.
func ParsePython(text string) Result {
	p := pyParser{}
	for _, l := range splitLines(clip(text)) {
		if l, ok := p.ungroup(l); ok {
			p.line(l)
		}
	}
	if len(p.excs) == 0 {
		return Result{}
	}
	for _, e := range p.excs {
		e.value = strings.Join(e.header, "\n")
	}
	return result(PlatformPython, p.excs)
}

type pyState int

const (
	pyNone    pyState = iota
	pyFrames          // after "Traceback (most recent call last):"
	pyMessage         // after the exception line
	pyChained         // after a chain separator, before the next traceback
)

type pyParser struct {
	excs    []*exc
	cur     *exc
	state   pyState
	context bool   // the next indented line is the code of the last frame
	pending string // the last line of text before the first traceback
	inGroup bool   // reading a top-level exception group
	group   int    // the indentation of its margin
}

// ungroup strips the "  | " margin of the lines of a top-level exception
// group, and drops the lines of its sub-exceptions, which are nested
// deeper. ok is false for a line to drop.
func (p *pyParser) ungroup(l string) (string, bool) {
	t := strings.TrimLeft(l, " ")
	indent := len(l) - len(t)
	if !p.inGroup {
		if strings.HasPrefix(t, "+ Exception Group Traceback") {
			p.inGroup, p.group = true, indent
			return t[2:], true
		}
		return l, true
	}
	switch {
	case l == "":
		return l, true
	case indent == p.group && (strings.HasPrefix(t, "| ") || t == "|"):
		return strings.TrimPrefix(t[1:], " "), true
	case indent == p.group && strings.HasPrefix(t, "+ Exception Group Traceback"):
		return t[2:], true
	case indent == p.group && strings.HasPrefix(t, "+-"), indent > p.group && l != "":
		return "", false
	}
	p.inGroup = false
	return l, true
}

func (p *pyParser) line(l string) {
	t := strings.TrimSpace(l)
	indented := strings.HasPrefix(l, " ") || strings.HasPrefix(l, "\t")
	if strings.HasSuffix(t, "Traceback (most recent call last):") && !indented {
		p.newExc()
		p.state = pyFrames
		return
	}
	for _, sep := range pythonSeparators {
		if t == sep && !indented {
			if len(p.excs) == 0 && p.pending != "" {
				p.newExc()
				p.exceptionLine(p.pending)
			}
			p.state = pyChained
			p.cur = nil
			return
		}
	}
	switch p.state {
	case pyNone:
		// A root cause without a traceback prints as its exception line
		// only; a separator will tell.
		if len(p.excs) == 0 && t != "" && !indented {
			p.pending = t
		}
	case pyFrames:
		switch {
		case t == "":
		case strings.HasPrefix(t, `File "`) && indented:
			if f, ok := pythonFrame(t); ok {
				p.cur.frames = appendFrame(p.cur.frames, f)
				p.context = true
			}
		case indented:
			// The code line follows its frame; Python 3.11+ marks the
			// failing expression on a line of carets below it.
			if p.context && !isCaretLine(t) && !strings.HasPrefix(t, "[Previous line repeated") {
				p.cur.frames[len(p.cur.frames)-1].ContextLine = t
			}
			p.context = false
		default:
			p.exceptionLine(t)
		}
	case pyMessage:
		if t == "" {
			p.state = pyNone
			return
		}
		p.cur.header = append(p.cur.header, l)
	case pyChained:
		// A cause without a traceback prints as its exception line only.
		if t != "" && !indented {
			p.newExc()
			p.exceptionLine(t)
		}
	}
}

func (p *pyParser) newExc() {
	p.cur = &exc{}
	p.excs = addExc(p.excs, p.cur)
	p.context = false
}

// exceptionLine reads "module.Type: message" (or "Type" alone).
func (p *pyParser) exceptionLine(t string) {
	p.state = pyMessage
	typ, value, ok := cutTypeValue(t)
	if !ok {
		p.cur.header = append(p.cur.header, t)
		return
	}
	if i := strings.LastIndexByte(typ, '.'); i >= 0 {
		p.cur.module, typ = typ[:i], typ[i+1:]
	}
	p.cur.typ = typ
	p.cur.header = append(p.cur.header, value)
}

// pythonFrame reads `File "/app/x.py", line 10, in handler` (the function
// is missing for syntax errors).
func pythonFrame(t string) (telemetry.Frame, bool) {
	rest := t[len(`File "`):]
	i := strings.LastIndex(rest, `", line `)
	if i < 0 {
		return telemetry.Frame{}, false
	}
	file := rest[:i]
	num, fn, _ := strings.Cut(rest[i+len(`", line `):], ", in ")
	if file == "" {
		return telemetry.Frame{}, false
	}
	return telemetry.Frame{
		Function: fn,
		Filename: file,
		AbsPath:  file,
		Lineno:   atoi(num),
	}, true
}

// isCaretLine matches Python 3.11+ position markers ("~~~^^^").
func isCaretLine(t string) bool {
	if t == "" {
		return false
	}
	for i := 0; i < len(t); i++ {
		switch t[i] {
		case '^', '~', ' ':
		default:
			return false
		}
	}
	return true
}
