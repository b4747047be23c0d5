package telemetry

import "time"

// SignalErrors is the signal of error events: Sentry events and the
// exceptions found in OpenTelemetry spans and logs.
const SignalErrors Signal = "errors"

// Error event sources.
const (
	ErrorSourceSentry  = "sentry"    // a Sentry SDK event
	ErrorSourceSpan    = "otlp.span" // an exception event on an OpenTelemetry span
	ErrorSourceLog     = "otlp.log"  // an error-level OpenTelemetry log record with exception attributes
	ErrorSourceUnknown = ""
)

// Error levels, as Sentry names them.
const (
	LevelFatal   = "fatal"
	LevelError   = "error"
	LevelWarning = "warning"
	LevelInfo    = "info"
	LevelDebug   = "debug"
)

// ErrorEvent is one occurrence of an error or of a captured message. The
// model follows Sentry's event payload, the richest of the formats Telltale
// takes; OpenTelemetry exceptions map onto a subset of it.
//
// Decoders fill everything above the grouping fields; the issue tracker
// fills IssueID and the grouping fields before the event is stored.
type ErrorEvent struct {
	Resource                // service, version, instance, environment, host, zone
	EventID       string    `json:"event_id"` // 32 lower-case hex digits
	ProjectID     int64     `json:"project_id"`
	Time          time.Time `json:"timestamp"`
	Received      time.Time `json:"received"`
	Source        string    `json:"source"`   // one of the ErrorSource* constants
	Platform      string    `json:"platform"` // go, python, javascript, node, java, ... or "other"
	Level         string    `json:"level"`    // one of the Level* constants
	Logger        string    `json:"logger,omitempty"`
	Transaction   string    `json:"transaction,omitempty"`
	ServerName    string    `json:"server_name,omitempty"`
	Release       string    `json:"release,omitempty"`
	Dist          string    `json:"dist,omitempty"`
	Browser       string    `json:"browser,omitempty"`        // "Chrome 120" from contexts or User-Agent
	OS            string    `json:"os,omitempty"`             // "Linux", "Windows 10"
	Message       string    `json:"message,omitempty"`        // the formatted message
	MessageFormat string    `json:"message_format,omitempty"` // logentry.message: the template before parameters, when sent

	// Exceptions is the exception chain in Sentry order: the root cause
	// first, the main (most recent, outermost) exception last.
	Exceptions []Exception `json:"exceptions,omitempty"`
	// Stacktrace is the stack of an event without exceptions (a message
	// captured with attach_stacktrace, or the crashed thread's stack).
	Stacktrace []Frame `json:"stacktrace,omitempty"`

	Fingerprint []string     `json:"fingerprint,omitempty"`
	Tags        []Tag        `json:"tags,omitempty"`
	User        User         `json:"user"`
	Request     Request      `json:"request"`
	Breadcrumbs []Breadcrumb `json:"breadcrumbs,omitempty"`
	Contexts    string       `json:"-"` // JSON object text ("{}" when none)
	Extra       string       `json:"-"` // JSON object text ("{}" when none)
	SDK         SDK          `json:"sdk"`

	TraceID   string `json:"trace_id,omitempty"`   // 32 hex digits
	SpanID    string `json:"span_id,omitempty"`    // 16 hex digits
	RequestID string `json:"request_id,omitempty"` // from tags, headers or attributes

	// Set by the issue tracker.
	IssueID         int64  `json:"issue_id"`
	GroupingVersion string `json:"grouping_version,omitempty"`
	GroupingHash    string `json:"grouping_hash,omitempty"` // the hash that chose the issue
	Grouping        string `json:"-"`                       // JSON text: why the event was grouped (grouping.Info)
	Title           string `json:"title"`
	Culprit         string `json:"culprit,omitempty"`
}

// Exception is one exception of a chain.
type Exception struct {
	Type      string     `json:"type,omitempty"`
	Value     string     `json:"value,omitempty"`
	Module    string     `json:"module,omitempty"`
	Mechanism *Mechanism `json:"mechanism,omitempty"`
	Frames    []Frame    `json:"frames,omitempty"` // oldest call first, the crashing frame last
	// RawStacktrace is stack trace text as received (OpenTelemetry's
	// exception.stacktrace), kept when it was parsed into Frames.
	RawStacktrace string `json:"raw_stacktrace,omitempty"`
}

// Mechanism tells how an exception was captured.
type Mechanism struct {
	Type        string `json:"type,omitempty"` // generic, chained, panic, onerror, ...
	Handled     *bool  `json:"handled,omitempty"`
	Synthetic   bool   `json:"synthetic,omitempty"` // the type is made up by the SDK; ignore it in grouping
	Description string `json:"description,omitempty"`
	Source      string `json:"source,omitempty"` // cause, errors[0], ...
}

// Frame is one stack frame.
type Frame struct {
	Function    string   `json:"function,omitempty"`
	Module      string   `json:"module,omitempty"` // Go package path, Python module, Java class, ...
	Package     string   `json:"package,omitempty"`
	Filename    string   `json:"filename,omitempty"`
	AbsPath     string   `json:"abs_path,omitempty"`
	Lineno      int      `json:"lineno,omitempty"`
	Colno       int      `json:"colno,omitempty"`
	ContextLine string   `json:"context_line,omitempty"`
	PreContext  []string `json:"pre_context,omitempty"`
	PostContext []string `json:"post_context,omitempty"`
	// InApp is the SDK's in-app flag (nil when not sent); grouping replaces
	// it with its own decision, so stored frames always have it set.
	InApp    *bool  `json:"in_app,omitempty"`
	Platform string `json:"platform,omitempty"`
}

// Tag is one key/value tag, in the order sent.
type Tag struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// User is the user an event happened to.
type User struct {
	ID        string `json:"id,omitempty"`
	Email     string `json:"email,omitempty"`
	Username  string `json:"username,omitempty"`
	IPAddress string `json:"ip_address,omitempty"`
	Name      string `json:"name,omitempty"`
}

// Key is the user's identity for "users affected": the first of id, email,
// username and IP address that is set.
func (u User) Key() string {
	for _, s := range []string{u.ID, u.Email, u.Username, u.IPAddress} {
		if s != "" {
			return s
		}
	}
	return ""
}

// Request is the HTTP request an event happened in.
type Request struct {
	URL         string `json:"url,omitempty"`
	Method      string `json:"method,omitempty"`
	QueryString string `json:"query_string,omitempty"`
	Data        string `json:"data,omitempty"` // body, as text (JSON text for structured bodies)
	Cookies     string `json:"cookies,omitempty"`
	Headers     []Tag  `json:"headers,omitempty"`
}

// Breadcrumb is one entry of the trail of events leading to an error.
type Breadcrumb struct {
	Time     time.Time `json:"timestamp"`
	Type     string    `json:"type,omitempty"`
	Category string    `json:"category,omitempty"`
	Message  string    `json:"message,omitempty"`
	Level    string    `json:"level,omitempty"`
	Data     string    `json:"data,omitempty"` // JSON object text
}

// SDK names the client library that sent an event.
type SDK struct {
	Name    string `json:"name,omitempty"`
	Version string `json:"version,omitempty"`
}

// MainException returns the main (last) exception, or nil.
func (e *ErrorEvent) MainException() *Exception {
	if len(e.Exceptions) == 0 {
		return nil
	}
	return &e.Exceptions[len(e.Exceptions)-1]
}

// Tag returns the value of the first tag named key, or "".
func (e *ErrorEvent) Tag(key string) string {
	for _, t := range e.Tags {
		if t.Key == key {
			return t.Value
		}
	}
	return ""
}
