package sentry

import (
	"encoding/json"
	"errors"
	"net/url"
	"strings"

	"github.com/fibinc/telltale/internal/telemetry"
)

// rawEvent is the part of a Sentry event payload that Telltale keeps.
type rawEvent struct {
	EventID     looseString     `json:"event_id"`
	Timestamp   timestamp       `json:"timestamp"`
	Platform    looseString     `json:"platform"`
	Level       looseString     `json:"level"`
	Logger      looseString     `json:"logger"`
	Transaction looseString     `json:"transaction"`
	ServerName  looseString     `json:"server_name"`
	Release     looseString     `json:"release"`
	Dist        looseString     `json:"dist"`
	Environment looseString     `json:"environment"`
	Tags        pairs           `json:"tags"`
	Message     message         `json:"message"`
	LogEntry    message         `json:"logentry"`
	Exception   []rawException  `json:"exception"`
	Stacktrace  rawStacktrace   `json:"stacktrace"`
	Threads     []rawThread     `json:"threads"`
	User        rawUser         `json:"user"`
	Request     rawRequest      `json:"request"`
	Breadcrumbs []rawBreadcrumb `json:"breadcrumbs"`
	Contexts    json.RawMessage `json:"contexts"`
	Extra       json.RawMessage `json:"extra"`
	SDK         rawSDK          `json:"sdk"`
	Fingerprint stringList      `json:"fingerprint"`

	// Interface names of old raven clients, still sent to the store
	// endpoint; used when the modern name is absent.
	LegacyException   []rawException  `json:"sentry.interfaces.Exception"`
	LegacyMessage     message         `json:"sentry.interfaces.Message"`
	LegacyStacktrace  rawStacktrace   `json:"sentry.interfaces.Stacktrace"`
	LegacyRequest     rawRequest      `json:"sentry.interfaces.Http"`
	LegacyUser        rawUser         `json:"sentry.interfaces.User"`
	LegacyBreadcrumbs []rawBreadcrumb `json:"sentry.interfaces.Breadcrumbs"`
}

// rawWrapped holds the interfaces that SDKs send either as a list (the shape
// of rawEvent, sentry-go's) or wrapped in {"values": [...]} (most other
// SDKs). encoding/json cannot choose a type by shape without scanning the
// value twice, so the wrapped shape is decoded in a second pass over the
// payload, taken only when the first met a value of an unexpected type.
type rawWrapped struct {
	Exception         wrapped[rawException]  `json:"exception"`
	Threads           wrapped[rawThread]     `json:"threads"`
	Breadcrumbs       wrapped[rawBreadcrumb] `json:"breadcrumbs"`
	LegacyException   wrapped[rawException]  `json:"sentry.interfaces.Exception"`
	LegacyBreadcrumbs wrapped[rawBreadcrumb] `json:"sentry.interfaces.Breadcrumbs"`
}

type wrapped[T any] struct {
	Values []T `json:"values"`
}

// useWrapped fills the interfaces that were sent wrapped.
func (r *rawEvent) useWrapped(w *rawWrapped) {
	orElse(&r.Exception, w.Exception.Values)
	orElse(&r.Threads, w.Threads.Values)
	orElse(&r.Breadcrumbs, w.Breadcrumbs.Values)
	orElse(&r.LegacyException, w.LegacyException.Values)
	orElse(&r.LegacyBreadcrumbs, w.LegacyBreadcrumbs.Values)
}

// useLegacy fills the interfaces given only under their legacy names.
func (r *rawEvent) useLegacy() {
	orElse(&r.Exception, r.LegacyException)
	orElse(&r.Stacktrace.Frames, r.LegacyStacktrace.Frames)
	orElse(&r.Breadcrumbs, r.LegacyBreadcrumbs)
	if r.Message.empty() {
		r.Message = r.LegacyMessage
	}
	if r.Request.empty() {
		r.Request = r.LegacyRequest
	}
	if r.User == (rawUser{}) {
		r.User = r.LegacyUser
	}
}

// orElse sets *dst to alt when it is empty.
func orElse[T any](dst *[]T, alt []T) {
	if len(*dst) == 0 {
		*dst = alt
	}
}

type rawException struct {
	Type       looseString   `json:"type"`
	Value      looseString   `json:"value"`
	Module     looseString   `json:"module"`
	Mechanism  *rawMechanism `json:"mechanism"`
	Stacktrace rawStacktrace `json:"stacktrace"`
}

type rawMechanism struct {
	Type        looseString `json:"type"`
	Handled     looseBool   `json:"handled"`
	Synthetic   looseBool   `json:"synthetic"`
	Description looseString `json:"description"`
	Source      looseString `json:"source"`
}

type rawStacktrace struct {
	Frames []rawFrame `json:"frames"`
}

type rawFrame struct {
	Filename    looseString `json:"filename"`
	AbsPath     looseString `json:"abs_path"`
	Function    looseString `json:"function"`
	RawFunction looseString `json:"raw_function"`
	Module      looseString `json:"module"`
	Package     looseString `json:"package"`
	Lineno      looseInt    `json:"lineno"`
	Colno       looseInt    `json:"colno"`
	ContextLine looseString `json:"context_line"`
	PreContext  stringList  `json:"pre_context"`
	PostContext stringList  `json:"post_context"`
	InApp       looseBool   `json:"in_app"`
	Platform    looseString `json:"platform"`
}

type rawThread struct {
	Crashed    looseBool     `json:"crashed"`
	Current    looseBool     `json:"current"`
	Stacktrace rawStacktrace `json:"stacktrace"`
}

type rawUser struct {
	ID        looseString `json:"id"`
	Email     looseString `json:"email"`
	Username  looseString `json:"username"`
	IPAddress looseString `json:"ip_address"`
	Name      looseString `json:"name"`
}

type rawRequest struct {
	URL         looseString     `json:"url"`
	Method      looseString     `json:"method"`
	QueryString json.RawMessage `json:"query_string"`
	Data        json.RawMessage `json:"data"`
	Cookies     json.RawMessage `json:"cookies"`
	Headers     pairs           `json:"headers"`
}

func (r *rawRequest) empty() bool {
	return r.URL == "" && r.Method == "" && len(r.QueryString) == 0 && len(r.Data) == 0 && len(r.Cookies) == 0 && len(r.Headers) == 0
}

type rawBreadcrumb struct {
	Timestamp timestamp       `json:"timestamp"`
	Type      looseString     `json:"type"`
	Category  looseString     `json:"category"`
	Message   looseString     `json:"message"`
	Level     looseString     `json:"level"`
	Data      json.RawMessage `json:"data"`
}

type rawSDK struct {
	Name    looseString `json:"name"`
	Version looseString `json:"version"`
}

type nameVersion struct {
	Name    looseString `json:"name"`
	Version looseString `json:"version"`
}

func (nv nameVersion) String() string {
	return strings.TrimSpace(string(nv.Name) + " " + string(nv.Version))
}

// rawContexts holds the contexts Telltale reads fields from; all of them are
// kept as JSON text too.
type rawContexts struct {
	Trace struct {
		TraceID looseString `json:"trace_id"`
		SpanID  looseString `json:"span_id"`
	} `json:"trace"`
	Browser nameVersion `json:"browser"`
	OS      nameVersion `json:"os"`
}

// message takes the string form of message, or the object form of message
// and logentry: {formatted, message, params}.
type message struct {
	formatted, template string
	params              []string
}

func (m *message) UnmarshalJSON(b []byte) error {
	*m = message{}
	if len(b) == 0 {
		return nil
	}
	switch b[0] {
	case '"':
		m.formatted = unquote(b)
	case '{':
		var o struct {
			Formatted looseString     `json:"formatted"`
			Message   looseString     `json:"message"`
			Params    json.RawMessage `json:"params"`
		}
		if err := json.Unmarshal(b, &o); err != nil && !isTypeError(err) {
			return nil
		}
		m.formatted, m.template = string(o.Formatted), string(o.Message)
		var params []json.RawMessage
		if len(o.Params) > 0 && o.Params[0] == '[' && json.Unmarshal(o.Params, &params) == nil {
			for _, p := range params {
				if string(p) == "null" {
					m.params = append(m.params, "null")
				} else {
					m.params = append(m.params, valueText(p))
				}
			}
		}
	}
	return nil
}

func (m message) empty() bool { return m.formatted == "" && m.template == "" }

// text returns the message and, when it differs, its template.
func (m message) text() (msg, format string) {
	msg = m.formatted
	if msg == "" {
		msg = substitute(m.template, m.params)
	}
	if m.template != msg {
		format = m.template
	}
	return truncate(msg, maxMessageLen), truncate(format, maxMessageLen)
}

// substitute replaces printf verbs (%s, %d, %r, %f, %i) and {} placeholders
// with params in order; placeholders beyond the params stay as they are.
func substitute(template string, params []string) string {
	if len(params) == 0 {
		return template
	}
	var b strings.Builder
	next := 0
	for i := 0; i < len(template); i++ {
		c := template[i]
		if i+1 < len(template) {
			switch d := template[i+1]; {
			case c == '%' && d == '%':
				b.WriteByte('%')
				i++
				continue
			case c == '%' && strings.IndexByte("sdrfi", d) >= 0, c == '{' && d == '}':
				if next < len(params) {
					b.WriteString(params[next])
					next++
					i++
					continue
				}
			}
		}
		b.WriteByte(c)
	}
	return b.String()
}

func isTypeError(err error) bool {
	var te *json.UnmarshalTypeError
	return errors.As(err, &te)
}

// DecodeEvent decodes a Sentry event payload, from an event item or the
// store endpoint. Fields of unexpected types are ignored; only a payload that
// is not a JSON object is an error. The result has Source set and the
// fields the caller owns (ProjectID, Received, issue fields) left zero, and
// Resource.ServiceName empty when no tag names the service.
func DecodeEvent(payload []byte) (telemetry.ErrorEvent, error) {
	if !isObject(payload) {
		return telemetry.ErrorEvent{}, malformed("event is not a JSON object", nil)
	}
	var r rawEvent
	if err := json.Unmarshal(payload, &r); err != nil {
		if !isTypeError(err) {
			return telemetry.ErrorEvent{}, malformed("cannot decode event", err)
		}
		var w rawWrapped
		_ = json.Unmarshal(payload, &w) // type errors leave fields empty
		r.useWrapped(&w)
	}
	r.useLegacy()
	e := telemetry.ErrorEvent{
		Source:      telemetry.ErrorSourceSentry,
		Time:        r.Timestamp.Time,
		Platform:    short(r.Platform),
		Level:       normalizeLevel(string(r.Level)),
		Logger:      short(r.Logger),
		Transaction: short(r.Transaction),
		ServerName:  short(r.ServerName),
		Release:     short(r.Release),
		Dist:        short(r.Dist),
		Fingerprint: convertFingerprint(r.Fingerprint),
		Tags:        convertTags(r.Tags),
		User:        convertUser(r.User),
		Request:     convertRequest(r.Request),
		Breadcrumbs: convertBreadcrumbs(r.Breadcrumbs),
		Contexts:    objectText(r.Contexts),
		Extra:       objectText(r.Extra),
		SDK:         telemetry.SDK{Name: short(r.SDK.Name), Version: short(r.SDK.Version)},
	}
	e.EventID, _ = normalizeID(string(r.EventID))
	if e.Platform == "" {
		e.Platform = "other"
	}
	e.Resource = telemetry.Resource{
		ServiceName:    e.Tag("service.name"),
		ServiceVersion: e.Release,
		Environment:    short(r.Environment),
		Host:           e.ServerName,
		Attributes:     "{}",
	}
	if e.ServiceName == "" {
		e.ServiceName = e.Tag("service")
	}
	if e.Environment == "" {
		e.Environment = "production"
	}

	m := r.LogEntry
	if m.empty() {
		m = r.Message
	}
	e.Message, e.MessageFormat = m.text()

	e.Exceptions = convertExceptions(r.Exception)
	if !hasFrames(e.Exceptions) {
		e.Stacktrace = convertFrames(r.Stacktrace.Frames)
		if len(e.Stacktrace) == 0 {
			e.Stacktrace = threadFrames(r.Threads)
		}
	}

	var ctx rawContexts
	if isObject(r.Contexts) {
		_ = json.Unmarshal(r.Contexts, &ctx) // type errors leave fields empty
	}
	e.TraceID = hexID(string(ctx.Trace.TraceID), 32)
	e.SpanID = hexID(string(ctx.Trace.SpanID), 16)
	e.Browser = truncate(ctx.Browser.String(), maxShortLen)
	e.OS = truncate(ctx.OS.String(), maxShortLen)
	if e.OS != "" && ctx.OS.Version == "" {
		e.OS = osName(e.OS)
	}
	if e.Browser == "" || e.OS == "" {
		browser, system := parseUserAgent(header(e.Request.Headers, "User-Agent"))
		if e.Browser == "" {
			e.Browser = browser
		}
		if e.OS == "" {
			e.OS = system
		}
	}

	e.RequestID = e.Tag("request_id")
	if e.RequestID == "" {
		e.RequestID = e.Tag("request.id")
	}
	if e.RequestID == "" {
		e.RequestID = truncate(header(e.Request.Headers, "X-Request-ID"), maxShortLen)
	}
	return e, nil
}

func short[S ~string](s S) string { return truncate(string(s), maxShortLen) }

// normalizeLevel maps the level names SDKs use onto Sentry's five levels;
// unknown and missing levels are "error".
func normalizeLevel(s string) string {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "fatal", "critical":
		return telemetry.LevelFatal
	case "warning", "warn":
		return telemetry.LevelWarning
	case "info", "log", "notice":
		return telemetry.LevelInfo
	case "debug", "trace":
		return telemetry.LevelDebug
	}
	return telemetry.LevelError
}

// osName spells the lower-case GOOS names sentry-go sends the way the
// other SDKs and User-Agent parsing do.
func osName(s string) string {
	switch s {
	case "linux":
		return "Linux"
	case "darwin":
		return "Mac OS X"
	case "windows":
		return "Windows"
	case "android":
		return "Android"
	case "ios":
		return "iOS"
	case "freebsd":
		return "FreeBSD"
	}
	return s
}

func convertTags(ps pairs) []telemetry.Tag {
	var tags []telemetry.Tag
	for _, p := range ps {
		v := valueText(p.value)
		if p.key == "" || (v == "" && len(p.value) > 0 && p.value[0] == 'n') {
			continue // Sentry drops null tags
		}
		tags = append(tags, telemetry.Tag{Key: truncate(validUTF8(p.key), maxTagLen), Value: truncate(v, maxTagLen)})
	}
	return tags
}

func convertFingerprint(l stringList) []string {
	if len(l) > maxListItems {
		l = l[:maxListItems]
	}
	var fp []string
	for _, s := range l {
		fp = append(fp, truncate(s, maxTagLen))
	}
	return fp
}

func convertUser(u rawUser) telemetry.User {
	ip := short(u.IPAddress)
	if ip == "{{auto}}" {
		ip = "" // the listener fills in the client address if it wants to
	}
	return telemetry.User{ID: short(u.ID), Email: short(u.Email), Username: short(u.Username), IPAddress: ip, Name: short(u.Name)}
}

func convertRequest(r rawRequest) telemetry.Request {
	req := telemetry.Request{
		URL:    truncate(string(r.URL), maxFrameStrLen),
		Method: short(r.Method),
		Data:   truncateBytes(valueText(r.Data), maxDataBytes),
	}
	req.QueryString = truncateBytes(strings.TrimPrefix(joinPairs(r.QueryString, "&", true), "?"), maxDataBytes)
	req.Cookies = truncateBytes(joinPairs(r.Cookies, "; ", false), maxDataBytes)
	for _, p := range r.Headers {
		if p.key == "" {
			continue
		}
		req.Headers = append(req.Headers, telemetry.Tag{Key: truncate(validUTF8(p.key), maxShortLen), Value: truncate(valueText(p.value), maxFrameStrLen)})
	}
	return req
}

// joinPairs returns a string as is, and an object or list of pairs as
// "k=v" joined by sep, URL-encoded when escape is set.
func joinPairs(b json.RawMessage, sep string, escape bool) string {
	if len(b) == 0 || b[0] == '"' || b[0] != '{' && b[0] != '[' {
		return scalarText(b)
	}
	var ps pairs
	_ = ps.UnmarshalJSON(b)
	var s strings.Builder
	for i, p := range ps {
		if i > 0 {
			s.WriteString(sep)
		}
		k, v := validUTF8(p.key), valueText(p.value)
		if escape {
			k, v = url.QueryEscape(k), url.QueryEscape(v)
		}
		s.WriteString(k)
		s.WriteByte('=')
		s.WriteString(v)
	}
	return s.String()
}

func convertBreadcrumbs(raw []rawBreadcrumb) []telemetry.Breadcrumb {
	if len(raw) > maxBreadcrumbs {
		raw = raw[len(raw)-maxBreadcrumbs:]
	}
	var out []telemetry.Breadcrumb
	for _, b := range raw {
		bc := telemetry.Breadcrumb{
			Time:     b.Timestamp.Time,
			Type:     short(b.Type),
			Category: short(b.Category),
			Message:  truncate(string(b.Message), maxMessageLen),
			Level:    short(b.Level),
		}
		if isObject(b.Data) {
			bc.Data = jsonText(b.Data)
		}
		if bc == (telemetry.Breadcrumb{}) {
			continue
		}
		out = append(out, bc)
	}
	return out
}

func convertExceptions(raw []rawException) []telemetry.Exception {
	if len(raw) > maxExceptions {
		raw = raw[len(raw)-maxExceptions:] // keep the main exception
	}
	var out []telemetry.Exception
	for _, r := range raw {
		ex := telemetry.Exception{
			Type:   short(r.Type),
			Value:  truncate(string(r.Value), maxMessageLen),
			Module: truncate(string(r.Module), maxFrameStrLen),
			Frames: convertFrames(r.Stacktrace.Frames),
		}
		if m := r.Mechanism; m != nil {
			ex.Mechanism = &telemetry.Mechanism{
				Type:        short(m.Type),
				Handled:     m.Handled.v,
				Synthetic:   m.Synthetic.isTrue(),
				Description: truncate(string(m.Description), maxMessageLen),
				Source:      short(m.Source),
			}
		}
		if ex.Type == "" && ex.Value == "" && ex.Module == "" && len(ex.Frames) == 0 && ex.Mechanism == nil {
			continue
		}
		out = append(out, ex)
	}
	return out
}

func hasFrames(exs []telemetry.Exception) bool {
	for _, ex := range exs {
		if len(ex.Frames) > 0 {
			return true
		}
	}
	return false
}

// threadFrames returns the stack of the crashed thread, else of the current
// one.
func threadFrames(threads []rawThread) []telemetry.Frame {
	for _, pick := range []func(rawThread) bool{
		func(t rawThread) bool { return t.Crashed.isTrue() },
		func(t rawThread) bool { return t.Current.isTrue() },
	} {
		for _, t := range threads {
			if pick(t) && len(t.Stacktrace.Frames) > 0 {
				return convertFrames(t.Stacktrace.Frames)
			}
		}
	}
	return nil
}

// convertFrames converts frames, oldest first, keeping at most maxFrames:
// the oldest and the newest halves, as Sentry does, since the frames where
// the program started and where it crashed say the most.
func convertFrames(raw []rawFrame) []telemetry.Frame {
	if len(raw) == 0 {
		return nil
	}
	head, tail := raw, []rawFrame(nil)
	if len(raw) > maxFrames {
		head, tail = raw[:maxFrames/2], raw[len(raw)-(maxFrames-maxFrames/2):]
	}
	frames := make([]telemetry.Frame, 0, len(head)+len(tail))
	for _, r := range head {
		frames = appendFrame(frames, r)
	}
	for _, r := range tail {
		frames = appendFrame(frames, r)
	}
	return frames
}

func appendFrame(frames []telemetry.Frame, r rawFrame) []telemetry.Frame {
	f := telemetry.Frame{
		Function:    frameStr(r.Function),
		Module:      frameStr(r.Module),
		Package:     frameStr(r.Package),
		Filename:    frameStr(r.Filename),
		AbsPath:     frameStr(r.AbsPath),
		Lineno:      int(r.Lineno),
		Colno:       int(r.Colno),
		ContextLine: frameStr(r.ContextLine),
		PreContext:  contextLines(r.PreContext, true),
		PostContext: contextLines(r.PostContext, false),
		InApp:       r.InApp.v,
		Platform:    short(r.Platform),
	}
	if f.Function == "" {
		f.Function = frameStr(r.RawFunction)
	}
	if f.Function == "" && f.Module == "" && f.Filename == "" && f.AbsPath == "" && f.Lineno == 0 && f.ContextLine == "" {
		return frames // nothing to show or group on
	}
	return append(frames, f)
}

func frameStr[S ~string](s S) string { return truncate(string(s), maxFrameStrLen) }

// contextLines keeps the maxListItems lines nearest the frame's line: the
// last ones before it, the first ones after it.
func contextLines(l stringList, before bool) []string {
	if len(l) > maxListItems {
		if before {
			l = l[len(l)-maxListItems:]
		} else {
			l = l[:maxListItems]
		}
	}
	for i, s := range l {
		l[i] = truncate(s, maxFrameStrLen)
	}
	return l
}

// header returns the value of the first header named name, ignoring case.
func header(headers []telemetry.Tag, name string) string {
	for _, h := range headers {
		if strings.EqualFold(h.Key, name) {
			return h.Value
		}
	}
	return ""
}
