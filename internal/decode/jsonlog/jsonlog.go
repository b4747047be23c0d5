// Package jsonlog turns plain JSON log lines, as common loggers write them
// (slog, zap, zerolog, logrus, pino, bunyan, Python JSON loggers, Docker and
// Fluent Bit, Elastic Common Schema), into Telltale log records. It is a pure
// decoder: bytes in, records out, no I/O.
//
// A body is newline-delimited JSON (one object per line, blank lines
// skipped), a single JSON array of objects, or a single object spread over
// several lines. Each line is decoded on its own: a bad line is rejected with
// its number and the reason, and the others are kept.
//
// Nested objects are flattened into dotted keys, {"user":{"id":7}} into
// user.id, so that the filter language finds them as user.id:7 and the ECS
// form {"log":{"level":"warn"}} reads like "log.level":"warn". Known keys
// fill the record's fields (time, body, level, ids, service, environment,
// host, version, logger); every other key is an attribute. The mapping and
// the limits are described in docs/design/jsonlogs.md.
package jsonlog

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/fibinc/telltale/internal/telemetry"
)

// Limits applied when Options leaves them zero.
const (
	DefaultMaxLineBytes  = 256 << 10
	DefaultMaxLines      = 100_000
	DefaultMaxAttributes = 128
	// MaxDepth bounds the nesting of objects and arrays in a line; deeper
	// lines are rejected.
	MaxDepth = 32
)

// Source is the telemetry.Log Source of the records this package makes.
const Source = "json"

// DefaultServiceName is the service of records that name none, as in
// OpenTelemetry.
const DefaultServiceName = "unknown_service"

// Rejection reasons, the keys of Result.RejectedByReason.
const (
	ReasonMalformed   = "malformed_json"
	ReasonNotObject   = "not_an_object"
	ReasonLineTooLong = "line_too_long"
	ReasonTooDeep     = "too_deep"
	ReasonTooOld      = "too_old"
	ReasonTooNew      = "too_new"
)

// ErrTooManyLines is returned when a body holds more records than
// Options.MaxLines.
var ErrTooManyLines = errors.New("too many log lines")

// Options configure Decode. The zero value works.
type Options struct {
	// Now is the time of receipt: every record's ObservedTime, and the Time
	// of records that carry none. Zero means time.Now().
	Now time.Time
	// MinTime and MaxTime, when not zero, bound the accepted record times;
	// records outside are rejected as too_old or too_new.
	MinTime, MaxTime time.Time
	// Resource holds defaults for the lines that do not name their own
	// service, environment, host or version (the listener fills it from the
	// URL query). An empty ServiceName means DefaultServiceName.
	Resource telemetry.Resource
	// MaxLineBytes, MaxLines and MaxAttributes default to the Default*
	// constants.
	MaxLineBytes  int
	MaxLines      int
	MaxAttributes int
	// MaxErrors bounds Result.Errors; zero keeps every line error.
	MaxErrors int
}

// LineError says why one line was rejected.
type LineError struct {
	// Line is the 1-based line number in the body, blank lines included;
	// for a JSON array, the 1-based position of the element.
	Line int
	// Reason is one of the Reason* keys.
	Reason string
	// Message describes the problem for the sender.
	Message string
}

func (e LineError) Error() string { return "line " + strconv.Itoa(e.Line) + ": " + e.Message }

// Result is the outcome of decoding one body.
type Result struct {
	// Logs are the accepted records, in body order.
	Logs []telemetry.Log
	// Rejected counts the lines left out.
	Rejected int
	// Errors describes the first rejected lines, at most Options.MaxErrors.
	Errors []LineError
	// RejectedByReason counts rejected lines by Reason; nil when none.
	RejectedByReason map[string]int
	// DroppedAttributes counts attributes left out of accepted records
	// beyond Options.MaxAttributes.
	DroppedAttributes int
}

// Decode decodes a body of JSON log lines. It fails as a whole only when
// the body holds more than Options.MaxLines records (ErrTooManyLines) or is
// a JSON array whose structure is broken; a bad line is only rejected.
func Decode(body []byte, opt Options) (Result, error) {
	d := newDecoder(opt)
	var err error
	switch layoutOf(body) {
	case layoutArray:
		err = d.array(body)
	case layoutObject:
		d.record(bytes.TrimSpace(body), 1)
	default:
		err = d.lines(body)
	}
	if err != nil {
		return Result{}, err
	}
	return d.out, nil
}

type layout int

const (
	layoutLines  layout = iota
	layoutArray         // [ {...}, {...} ]
	layoutObject        // one object over several lines
)

// layoutOf tells the three body layouts apart from the first value.
func layoutOf(body []byte) layout {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return layoutLines
	}
	switch body[0] {
	case '[':
		return layoutArray
	case '{':
		if end, ok := valueEnd(body, 0); ok && end == len(body) && bytes.IndexByte(body, '\n') >= 0 {
			return layoutObject
		}
	}
	return layoutLines
}

// maxGuess caps the records allocated ahead.
const maxGuess = 4096

type decoder struct {
	opt     Options
	p       parser
	n       int               // records seen
	attrs   []byte            // attributes JSON of the record being built
	resAttr []byte            // resource attributes JSON
	last    [numGroups]string // see intern
	out     Result
}

func newDecoder(opt Options) *decoder {
	if opt.Now.IsZero() {
		opt.Now = time.Now()
	}
	opt.Now = opt.Now.UTC()
	if opt.MaxLineBytes <= 0 {
		opt.MaxLineBytes = DefaultMaxLineBytes
	}
	if opt.MaxLines <= 0 {
		opt.MaxLines = DefaultMaxLines
	}
	if opt.MaxAttributes <= 0 {
		opt.MaxAttributes = DefaultMaxAttributes
	}
	// The defaults come from the URL: make them storable text like the rest.
	for _, f := range []*string{&opt.Resource.ServiceName, &opt.Resource.Environment, &opt.Resource.Host, &opt.Resource.ServiceVersion, &opt.Resource.InstanceID, &opt.Resource.AvailabilityZone} {
		*f = strings.ReplaceAll(strings.ToValidUTF8(*f, "\uFFFD"), "\x00", "\uFFFD")
	}
	if opt.Resource.ServiceName == "" {
		opt.Resource.ServiceName = DefaultServiceName
	}
	if opt.Resource.Attributes == "" {
		opt.Resource.Attributes = "{}"
	}
	return &decoder{opt: opt, p: parser{maxDepth: MaxDepth}}
}

func (d *decoder) tooMany() error {
	return fmt.Errorf("%w: more than %d in one request; send them in smaller requests", ErrTooManyLines, d.opt.MaxLines)
}

// lines decodes newline-delimited JSON.
func (d *decoder) lines(body []byte) error {
	// Most bodies hold lines of similar size: a guess from the first spares
	// the slice's regrowth. It is capped, since a short first line may
	// mislead it.
	if i := bytes.IndexByte(body, '\n'); i > 0 {
		d.out.Logs = make([]telemetry.Log, 0, min(len(body)/(i+1)+1, maxGuess))
	}
	for num := 1; len(body) > 0; num++ {
		line := body
		if i := bytes.IndexByte(body, '\n'); i >= 0 {
			line, body = body[:i], body[i+1:]
		} else {
			body = nil
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		if d.n++; d.n > d.opt.MaxLines {
			return d.tooMany()
		}
		d.record(line, num)
	}
	return nil
}

// array decodes a JSON array of objects.
func (d *decoder) array(body []byte) error {
	body = bytes.TrimSpace(body)
	broken := func(i int, what string) error {
		return fmt.Errorf("invalid JSON array at byte %d: %s", i+1, what)
	}
	i := skipSpace(body, 1)
	if i < len(body) && body[i] == ']' {
		if skipSpace(body, i+1) != len(body) {
			return broken(i+1, "data after the array")
		}
		return nil
	}
	for num := 1; ; num++ {
		i = skipSpace(body, i)
		end, ok := valueEnd(body, i)
		if !ok || end == i {
			return broken(i, "cannot find the end of element "+strconv.Itoa(num))
		}
		if d.n++; d.n > d.opt.MaxLines {
			return d.tooMany()
		}
		d.record(body[i:end], num)
		i = skipSpace(body, end)
		switch {
		case i >= len(body):
			return broken(i, "unexpected end, expected ',' or ']'")
		case body[i] == ',':
			i++
		case body[i] == ']':
			if skipSpace(body, i+1) != len(body) {
				return broken(i+1, "data after the array")
			}
			return nil
		default:
			return broken(i, fmt.Sprintf("unexpected %q, expected ',' or ']'", body[i]))
		}
	}
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	return i
}

func (d *decoder) reject(num int, pr problem) {
	if d.out.RejectedByReason == nil {
		d.out.RejectedByReason = make(map[string]int)
	}
	d.out.Rejected++
	d.out.RejectedByReason[pr.reason]++
	if d.opt.MaxErrors <= 0 || len(d.out.Errors) < d.opt.MaxErrors {
		d.out.Errors = append(d.out.Errors, LineError{Line: num, Reason: pr.reason, Message: pr.msg})
	}
}

// record decodes one line, trimmed and not empty.
func (d *decoder) record(line []byte, num int) {
	if len(line) > d.opt.MaxLineBytes {
		d.reject(num, problem{ReasonLineTooLong, fmt.Sprintf("line of %d bytes exceeds the limit of %d bytes", len(line), d.opt.MaxLineBytes)})
		return
	}
	// Invalid bytes can only sit inside strings (elsewhere they are syntax
	// errors), so replacing them keeps the JSON valid and the text storable.
	if !utf8.Valid(line) {
		line = bytes.ToValidUTF8(line, []byte("\uFFFD"))
	}
	if pr := d.p.parseObject(line); pr != nil {
		d.reject(num, *pr)
		return
	}
	l, pr := d.convert()
	if pr.reason != "" {
		d.reject(num, pr)
		return
	}
	d.out.Logs = append(d.out.Logs, l)
}
