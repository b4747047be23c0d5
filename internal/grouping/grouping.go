// Package grouping decides which issue an error event belongs to, following
// Sentry's model, and records why.
//
// An event yields one or more hashes. The default algorithm hashes, in order
// of preference, the stack traces of its exception chain (or of the event),
// the exception types and normalised values, or the normalised message; a
// fingerprint sent by the SDK replaces or extends it. Stack traces give two
// variants: "app", over the frames of the application's own code, and
// "system", over all frames. Any hash that matches an existing issue puts the
// event in that issue; the first one names a new issue. The explanation
// (Info) lists every variant as a tree of components, each marked as
// contributing or not, with a hint saying why.
//
// The package is pure: Group reads the event and writes only the frames'
// InApp flags.
package grouping

import (
	"strings"

	"github.com/fibinc/telltale/internal/telemetry"
)

// Version names the grouping configuration; it is stored with every hash,
// so a later configuration can coexist with this one.
const Version = "telltale:2026-11"

// Options configures a Grouper. The zero value works.
type Options struct {
	// AppModules are module or package prefixes that are always in-app (for
	// Go, the main module, e.g. "github.com/fibinc/"). When set, Go frames
	// of other modules are not in-app.
	AppModules []string
}

// Grouper computes the grouping of error events. It is safe for concurrent
// use.
type Grouper struct {
	appModules []string
}

// New returns a Grouper.
func New(opt Options) *Grouper {
	g := &Grouper{}
	for _, m := range opt.AppModules {
		if m = strings.TrimSpace(m); m != "" {
			g.appModules = append(g.appModules, m)
		}
	}
	return g
}

// Result is the grouping of one event.
type Result struct {
	// Hashes are 32 hex digits each. The first is the primary hash, the one
	// that names a new issue; an event joins any existing issue that one of
	// them names.
	Hashes []string
	// Info explains the hashes; it is stored with the event and shown on
	// the issue page.
	Info Info
	// Title is "type: first line of value", the type, the first line of the
	// message, or "<unlabeled event>"; at most 200 characters.
	Title string
	// Culprit is where the error happened: the top in-app frame of the main
	// exception ("module in function", or "function(file)" for
	// JavaScript), else the transaction, else the request URL; at most 200
	// characters.
	Culprit string
	// Type is "error" for an event with exceptions, "default" for a message.
	Type string
}

// Info explains an event's hashes.
type Info struct {
	Version string `json:"version"`
	// Service scopes the hashes: a variant's hash is that of its component
	// tree, combined with the service name when there is one.
	Service  string    `json:"service,omitempty"`
	Variants []Variant `json:"variants"`
}

// Variant is one way of hashing the event.
type Variant struct {
	// Name is "custom-fingerprint", "app", "system" or "default" (an event
	// without stack traces).
	Name        string    `json:"name"`
	Hash        string    `json:"hash,omitempty"` // set when the variant contributes
	Contributes bool      `json:"contributes"`
	Hint        string    `json:"hint,omitempty"`
	Component   Component `json:"component"`
}

// Component is a node of the tree that was hashed, as Sentry shows grouping
// info: exception -> stacktrace -> frame -> module/function.
type Component struct {
	// ID is one of "exception", "chained-exception", "stacktrace", "frame",
	// "module", "filename", "function", "context-line", "type", "value",
	// "message", "fingerprint".
	ID          string      `json:"id"`
	Values      []string    `json:"values,omitempty"` // leaf values as hashed, after normalisation
	Children    []Component `json:"children,omitempty"`
	Contributes bool        `json:"contributes"`
	Hint        string      `json:"hint,omitempty"`
}

// Event types.
const (
	TypeError   = "error"
	TypeDefault = "default"
)

// Hints.
const (
	hintStackPrecedence   = "ignored because stack trace takes precedence"
	hintNoInApp           = "no in-app frames"
	hintNoContributingApp = "no in-app frame has usable data"
	hintSameAsApp         = "ignored because hash matches app variant"
	hintFingerprint       = "custom fingerprint takes precedence"
	hintSynthetic         = "ignored because exception is synthetic"
	hintStripped          = "stripped event-specific values"
	hintNonApp            = "non app frame"
)

// maxGroupingText bounds the normalised message or value: beyond it, text
// does not tell issues apart and only costs time.
const maxGroupingText = 1024

// Group applies the in-app rules to every frame of ev, setting Frame.InApp
// to the effective decision (the SDK's flag is kept unless a platform rule
// is certain), and computes the event's grouping.
func (g *Grouper) Group(ev *telemetry.ErrorEvent) Result {
	g.applyInApp(ev)
	res := Result{Title: title(ev), Culprit: culprit(ev), Type: TypeDefault}
	if len(ev.Exceptions) > 0 {
		res.Type = TypeError
	}
	variants := defaultVariants(ev)

	if fp := ev.Fingerprint; len(fp) > 0 {
		variants = applyFingerprint(ev, fp, variants)
	}
	res.Info = Info{Version: Version, Service: ev.ServiceName, Variants: variants}
	for i := range variants {
		v := &variants[i]
		if !v.Contributes {
			continue
		}
		if ev.ServiceName != "" {
			v.Hash = scoped(ev.ServiceName, v.Hash)
		}
		res.Hashes = append(res.Hashes, v.Hash)
	}
	return res
}

// scoped makes a hash particular to a service. Issues never span services,
// as in Sentry they never span projects: two services that fail the same
// way in shared code have two problems, owned by two teams.
func scoped(service, hash string) string {
	var e encoder
	e.buf = append(e.buf, '(')
	e.str("service")
	e.buf = append(e.buf, 'v')
	e.str(service)
	e.buf = append(e.buf, 'v')
	e.str(hash)
	e.buf = append(e.buf, ')')
	return e.sum()
}

// Summary returns the explanation without the component trees: what an
// event stores. The trees are rebuilt from the event on demand (Group is
// deterministic for a version), as they are large: tens of KB for a deep
// stack.
func (i Info) Summary() Info {
	out := Info{Version: i.Version, Service: i.Service, Variants: make([]Variant, len(i.Variants))}
	for j, v := range i.Variants {
		v.Component = Component{ID: v.Component.ID, Contributes: v.Component.Contributes}
		out.Variants[j] = v
	}
	return out
}

// defaultVariants computes the variants of the default algorithm: "app"
// and "system" when the event has frames, else "default".
func defaultVariants(ev *telemetry.ErrorEvent) []Variant {
	var b stackBuilder
	nframes := len(ev.Stacktrace)
	for i := range ev.Exceptions {
		nframes += len(ev.Exceptions[i].Frames)
	}
	hasFrames := nframes > 0
	if !hasFrames {
		root := textRoot(ev, normalizedValues(ev, true))
		v := Variant{Name: "default", Contributes: true, Component: root}
		if !root.Contributes {
			v.Hint = "nothing to group by: all such events group together"
		}
		v.Hash = hashComponent(&root)
		return []Variant{v}
	}

	app := Variant{Name: "app"}
	sys := Variant{Name: "system", Contributes: true}
	b.reserve(nframes, ev.Platform)
	enc := encoder{buf: make([]byte, 0, 256+64*nframes)}
	var appStack, sysStack bool // a stack trace contributes somewhere
	var inApp int
	if len(ev.Exceptions) > 0 {
		appEx := make([]Component, len(ev.Exceptions))
		sysEx := make([]Component, len(ev.Exceptions))
		for i := range ev.Exceptions {
			ex := &ev.Exceptions[i]
			appEx[i].ID, sysEx[i].ID = "exception", "exception"
			if len(ex.Frames) > 0 {
				infos := b.frames(ex.Frames, ev.Platform)
				a, s, n := stackComponents(infos)
				inApp += n
				appStack = appStack || a.Contributes
				sysStack = sysStack || s.Contributes
				appEx[i].Children = []Component{a}
				sysEx[i].Children = []Component{s}
			}
		}
		// Values count only without stack traces; when they don't,
		// parameterising them for show is not worth its cost.
		values := normalizedValues(ev, !sysStack)
		for i := range ev.Exceptions {
			ex := &ev.Exceptions[i]
			appEx[i].Children = append(appEx[i].Children, typeAndValue(ex, values[i], appStack)...)
			sysEx[i].Children = append(sysEx[i].Children, typeAndValue(ex, values[i], sysStack)...)
			appEx[i].Contributes = anyContributes(appEx[i].Children)
			sysEx[i].Contributes = anyContributes(sysEx[i].Children)
		}
		app.Component = chain(appEx)
		sys.Component = chain(sysEx)
	} else {
		infos := b.frames(ev.Stacktrace, ev.Platform)
		a, s, n := stackComponents(infos)
		inApp, appStack, sysStack = n, a.Contributes, s.Contributes
		app.Component = a
		app.Hint = "message ignored because stack trace takes precedence"
		if sysStack {
			sys.Component, sys.Hint = s, app.Hint
		} else {
			sys.Component, sys.Hint = textRoot(ev, nil), "stack trace has no usable frames"
		}
	}

	// The app variant exists only through its stack traces: without
	// in-app frames it would only repeat the system variant.
	app.Contributes = appStack
	if !appStack {
		app.Component.Contributes = false
		app.Hint = hintNoInApp
		if inApp > 0 {
			app.Hint = hintNoContributingApp
		}
	} else {
		app.Hash = enc.hash(&app.Component)
	}
	sys.Hash = enc.hash(&sys.Component)
	if app.Contributes && sys.Hash == app.Hash {
		sys.Contributes, sys.Hint, sys.Hash = false, hintSameAsApp, ""
	}
	return []Variant{app, sys}
}

// stackComponents returns the app and system stacktrace components of one
// stack and the number of its in-app frames.
func stackComponents(infos []frameInfo) (app, sys Component, inApp int) {
	appFrames := make([]Component, len(infos))
	sysFrames := make([]Component, len(infos))
	for i, fi := range infos {
		sysFrames[i] = Component{ID: "frame", Children: fi.children, Contributes: fi.contributes, Hint: fi.hint}
		appFrames[i] = sysFrames[i]
		if fi.inApp {
			inApp++
		} else if fi.contributes {
			appFrames[i].Contributes, appFrames[i].Hint = false, hintNonApp
		}
		app.Contributes = app.Contributes || appFrames[i].Contributes
		sys.Contributes = sys.Contributes || sysFrames[i].Contributes
	}
	app.ID, app.Children = "stacktrace", appFrames
	sys.ID, sys.Children = "stacktrace", sysFrames
	if !app.Contributes {
		app.Hint = hintNoInApp
		if inApp > 0 {
			app.Hint = hintNoContributingApp
		}
	}
	if !sys.Contributes {
		sys.Hint = "no frame has usable data"
	}
	return app, sys, inApp
}

// typeAndValue returns the type and value components of an exception; the
// value contributes only when no stack trace of the variant does.
func typeAndValue(ex *telemetry.Exception, norm string, stack bool) []Component {
	var out []Component
	if ex.Type != "" {
		c := Component{ID: "type", Values: []string{ex.Type}, Contributes: true}
		if ex.Mechanism != nil && ex.Mechanism.Synthetic {
			c.Contributes, c.Hint = false, hintSynthetic
		}
		out = append(out, c)
	}
	if ex.Value != "" {
		c := Component{ID: "value", Values: []string{norm}, Contributes: norm != ""}
		switch {
		case stack:
			c.Contributes, c.Hint = false, hintStackPrecedence
		case norm != ex.Value:
			c.Hint = hintStripped
		}
		out = append(out, c)
	}
	return out
}

// textRoot is the component of an event without usable frames: its
// exceptions' types and values, or its message.
func textRoot(ev *telemetry.ErrorEvent, values []string) Component {
	if len(ev.Exceptions) > 0 {
		ex := make([]Component, len(ev.Exceptions))
		for i := range ev.Exceptions {
			ex[i] = Component{ID: "exception", Children: typeAndValue(&ev.Exceptions[i], values[i], false)}
			ex[i].Contributes = anyContributes(ex[i].Children)
		}
		return chain(ex)
	}
	msg := ev.MessageFormat
	if msg == "" {
		msg = ev.Message
	}
	c := Component{ID: "message"}
	if norm := normalizeText(msg); norm != "" {
		c.Values, c.Contributes = []string{norm}, true
		if norm != msg {
			c.Hint = hintStripped
		}
	}
	return c
}

// normalizedValues returns the value of every exception, trimmed to two
// lines and, if parameterize, normalised.
func normalizedValues(ev *telemetry.ErrorEvent, parameterize bool) []string {
	out := make([]string, len(ev.Exceptions))
	for i := range ev.Exceptions {
		if parameterize {
			out[i] = normalizeText(ev.Exceptions[i].Value)
		} else {
			out[i] = trimText(ev.Exceptions[i].Value)
		}
	}
	return out
}

// chain returns the single exception component, or a chained-exception
// component over all of them (root cause first, main exception last).
func chain(ex []Component) Component {
	if len(ex) == 1 {
		return ex[0]
	}
	return Component{ID: "chained-exception", Children: ex, Contributes: anyContributes(ex)}
}

func anyContributes(cs []Component) bool {
	for i := range cs {
		if cs[i].Contributes {
			return true
		}
	}
	return false
}

// normalizeText keeps the first two non-empty lines of s ("..." marks
// dropped ones), bounds the length and parameterises the result.
func normalizeText(s string) string {
	t, more := trimLines(s)
	t = Parameterize(t)
	if more {
		t += "..."
	}
	return t
}

// trimText is normalizeText without the parameterisation.
func trimText(s string) string {
	t, more := trimLines(s)
	if more {
		t += "..."
	}
	return t
}

// trimLines returns the first two non-empty lines of s, bounded in length,
// and whether anything was dropped.
func trimLines(s string) (string, bool) {
	var lines [2]string
	n, more := 0, false
	for rest := s; rest != "" && !more; {
		line := rest
		if i := strings.IndexByte(rest, '\n'); i >= 0 {
			line, rest = rest[:i], rest[i+1:]
		} else {
			rest = ""
		}
		line = strings.TrimSuffix(line, "\r")
		if strings.TrimSpace(line) == "" {
			continue
		}
		if n == 2 {
			more = true
			break
		}
		lines[n] = line
		n++
	}
	t := lines[0]
	if n == 2 {
		t += "\n" + lines[1]
	}
	if len(t) > maxGroupingText {
		t = truncateUTF8(t, maxGroupingText)
		more = true
	}
	return t, more
}

// truncateUTF8 cuts s to at most n bytes without splitting a character.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}
