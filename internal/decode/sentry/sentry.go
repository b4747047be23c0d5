// Package sentry decodes what Sentry SDKs send: envelopes, events, the
// legacy store endpoint's body, check-ins, auth headers and DSNs. It knows
// nothing of transports: the listener authenticates, limits and decompresses
// the request, then hands the body to ParseEnvelope or DecodeStoreBody, and
// the kept items to DecodeEvent or DecodeCheckIn.
//
// Decoding is tolerant of the shapes the SDKs actually send (bare lists or
// {"values": [...]}, tags as a map or as pairs, timestamps as strings or
// numbers, ids with or without dashes), and strict only where a wrong guess
// would store wrong data: malformed JSON, broken envelope framing, missing
// item types, sizes over the limits. The grammar and the field mapping are
// described in docs/design/sentry-ingest.md.
//
// Every error returned by ParseEnvelope, DecodeEvent, DecodeStoreBody and
// DecodeCheckIn wraps exactly one of ErrMalformed (answer 400) and
// ErrTooLarge (answer 413).
package sentry

import (
	"errors"
	"strings"
	"unicode/utf8"
)

// Sentinel errors; listeners map them to HTTP statuses.
var (
	ErrMalformed = errors.New("malformed sentry payload")
	ErrTooLarge  = errors.New("sentry payload too large")
)

// decodeError is a decoding error: a message naming the problem, the sentinel it
// belongs to and, for read errors, the reader's error.
type decodeError struct {
	kind  error // ErrMalformed or ErrTooLarge
	msg   string
	cause error
}

func (e *decodeError) Error() string {
	if e.cause != nil {
		return e.msg + ": " + e.cause.Error()
	}
	return e.msg
}

// Unwrap exposes the cause too, so that a listener can recognise its own
// size limiter's error behind a failed read.
func (e *decodeError) Unwrap() []error {
	if e.cause != nil {
		return []error{e.kind, e.cause}
	}
	return []error{e.kind}
}

func malformed(msg string, cause error) error {
	return &decodeError{kind: ErrMalformed, msg: msg, cause: cause}
}

func tooLarge(msg string) error {
	return &decodeError{kind: ErrTooLarge, msg: msg}
}

// Size bounds on decoded text, following Sentry's own limits.
const (
	maxTagLen      = 200      // tag keys and values
	maxMessageLen  = 8192     // message and its template
	maxShortLen    = 256      // names: release, transaction, logger, ...
	maxFrameStrLen = 1024     // frame fields; minified JavaScript has huge lines
	maxDataBytes   = 8 << 10  // request body
	maxFrames      = 250      // per stack, dropped from the middle
	maxExceptions  = 100      // per chain, the oldest causes dropped
	maxBreadcrumbs = 100      // per event, the oldest dropped
	maxListItems   = 100      // fingerprint parts, context lines
	maxHeaderLine  = 64 << 10 // envelope and item header lines
)

// truncate cuts s to at most n runes.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := 0
	for j := range s {
		if i == n {
			return s[:j]
		}
		i++
	}
	return s
}

// truncateBytes cuts s to at most n bytes without splitting a rune.
func truncateBytes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// validUTF8 replaces invalid sequences with U+FFFD. JSON text keeps its
// validity: in valid JSON, invalid bytes can only sit inside strings.
func validUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

// normalizeID returns a UUID, dashed or not, as 32 lower-case hex digits,
// and false when s is not one.
func normalizeID(s string) (string, bool) {
	if len(s) == 36 {
		if s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
			return "", false
		}
		s = s[:8] + s[9:13] + s[14:18] + s[19:23] + s[24:]
	}
	if len(s) != 32 {
		return "", false
	}
	return hexLower(s)
}

// hexLower returns s in lower case, and false when it is not all hex digits.
func hexLower(s string) (string, bool) {
	lower := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case '0' <= c && c <= '9', 'a' <= c && c <= 'f':
		case 'A' <= c && c <= 'F':
			lower = false
		default:
			return "", false
		}
	}
	if lower {
		return s, true
	}
	return strings.ToLower(s), true
}

// hexID returns s as lower-case hex when it has n hex digits, else "".
func hexID(s string, n int) string {
	if len(s) != n {
		return ""
	}
	h, _ := hexLower(s)
	return h
}
