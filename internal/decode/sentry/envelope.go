package sentry

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"time"

	"github.com/fibinc/telltale/internal/telemetry"
)

// Limits bound what ParseEnvelope keeps. The zero value means the defaults,
// which are Relay's.
type Limits struct {
	MaxEventBytes   int64 // event and transaction payloads; default 1 MiB
	MaxCheckInBytes int64 // check_in payloads; default 100 KiB
	MaxItemBytes    int64 // other kept payloads (log); default 1 MiB
	MaxItems        int   // items per envelope, kept or skipped; default 1000
}

func (l Limits) withDefaults() Limits {
	if l.MaxEventBytes <= 0 {
		l.MaxEventBytes = 1 << 20
	}
	if l.MaxCheckInBytes <= 0 {
		l.MaxCheckInBytes = 100 << 10
	}
	if l.MaxItemBytes <= 0 {
		l.MaxItemBytes = 1 << 20
	}
	if l.MaxItems <= 0 {
		l.MaxItems = 1000
	}
	return l
}

// Item types ParseEnvelope keeps.
const (
	ItemEvent       = "event"
	ItemTransaction = "transaction"
	ItemCheckIn     = "check_in"
	ItemLog         = "log"
)

// limit tells whether items of type t are kept, and their size limit.
func (l Limits) limit(t string) (keep bool, maxBytes int64) {
	switch t {
	case ItemEvent, ItemTransaction:
		return true, l.MaxEventBytes
	case ItemCheckIn:
		return true, l.MaxCheckInBytes
	case ItemLog:
		return true, l.MaxItemBytes
	}
	return false, 0
}

// Envelope is a parsed envelope: its header, the items Telltale uses, and
// counts of the others.
type Envelope struct {
	Header EnvelopeHeader
	// Items are the event, transaction, check_in and log items, in order.
	Items []Item
	// Skipped counts the discarded items by type (attachment,
	// client_report, session, unknown types, ...). Nil when none.
	Skipped map[string]int
}

// EnvelopeHeader is the first line of an envelope.
type EnvelopeHeader struct {
	EventID string    // 32 lower-case hex digits, or ""; takes precedence over the event's
	DSN     string    // the DSN the SDK was given, when the envelope authenticates itself
	SentAt  time.Time // zero when absent or unparsable
	SDK     telemetry.SDK
	Trace   TraceContext
}

// TraceContext is the dynamic sampling context of the envelope header.
type TraceContext struct {
	TraceID, PublicKey, Release, Environment, Transaction string
}

// Item is one kept item.
type Item struct {
	Type    string
	Payload []byte
}

type rawEnvelopeHeader struct {
	EventID looseString `json:"event_id"`
	DSN     looseString `json:"dsn"`
	SentAt  looseString `json:"sent_at"`
	SDK     rawSDK      `json:"sdk"`
	Trace   struct {
		TraceID     looseString `json:"trace_id"`
		PublicKey   looseString `json:"public_key"`
		Release     looseString `json:"release"`
		Environment looseString `json:"environment"`
		Transaction looseString `json:"transaction"`
	} `json:"trace"`
}

type rawItemHeader struct {
	Type   *string         `json:"type"`
	Length json.RawMessage `json:"length"`
}

// errLineTooLong is returned by readLine for a line over its limit.
var errLineTooLong = errors.New("line too long")

// ParseEnvelope reads an envelope from r, keeping the items of the types in
// Items and discarding the others as they are read. Payloads are read whole
// only for kept items, after their size is checked against lim. Errors wrap
// ErrMalformed or ErrTooLarge; an error of r is wrapped too, with
// ErrMalformed, so that the caller can recognise its own limiter's error.
func ParseEnvelope(r io.Reader, lim Limits) (*Envelope, error) {
	lim = lim.withDefaults()
	br := bufio.NewReaderSize(r, 16<<10)

	line, eof, err := readLine(br, maxHeaderLine)
	if err != nil {
		return nil, lineError("envelope header", err)
	}
	if len(bytes.TrimSpace(line)) == 0 {
		return nil, malformed("empty envelope", nil)
	}
	env := &Envelope{}
	if env.Header, err = parseEnvelopeHeader(line); err != nil {
		return nil, err
	}

	var events, transactions int
	for n := 1; !eof; n++ {
		line, eof, err = readLine(br, maxHeaderLine)
		if err != nil {
			return nil, lineError(fmt.Sprintf("item %d header", n), err)
		}
		if len(bytes.TrimSpace(line)) == 0 {
			n-- // blank lines between items and at the end are tolerated
			continue
		}
		if n > lim.MaxItems {
			return nil, tooLarge(fmt.Sprintf("envelope has more than %d items", lim.MaxItems))
		}
		typ, length, err := parseItemHeader(n, line)
		if err != nil {
			return nil, err
		}
		what := fmt.Sprintf("item %d (%s)", n, truncate(typ, 64))
		keep, maxBytes := lim.limit(typ)

		var payload []byte
		switch {
		case length >= 0:
			if keep && length > maxBytes {
				return nil, tooLarge(fmt.Sprintf("%s: length %d exceeds the limit of %d bytes", what, length, maxBytes))
			}
			if eof && length > 0 {
				return nil, malformed(fmt.Sprintf("%s: length %d exceeds remaining 0 bytes", what, length), nil)
			}
			if !eof {
				if payload, eof, err = readPayload(br, length, keep); err != nil {
					return nil, payloadError(what, length, err)
				}
			}
		case !eof && keep:
			payload, eof, err = readLine(br, maxBytes)
			if errors.Is(err, errLineTooLong) {
				return nil, tooLarge(fmt.Sprintf("%s: payload exceeds the limit of %d bytes", what, maxBytes))
			}
			if err != nil {
				return nil, lineError(what+" payload", err)
			}
		case !eof:
			if eof, err = discardLine(br); err != nil {
				return nil, lineError(what+" payload", err)
			}
		}

		if !keep {
			if env.Skipped == nil {
				env.Skipped = make(map[string]int)
			}
			env.Skipped[truncate(typ, 64)]++
			continue
		}
		switch typ {
		case ItemEvent:
			if events++; events > 1 {
				return nil, malformed(what+": more than one event item", nil)
			}
		case ItemTransaction:
			if transactions++; transactions > 1 {
				return nil, malformed(what+": more than one transaction item", nil)
			}
		}
		if payload == nil {
			payload = []byte{}
		}
		env.Items = append(env.Items, Item{Type: typ, Payload: payload})
	}
	return env, nil
}

func parseEnvelopeHeader(line []byte) (EnvelopeHeader, error) {
	if !isObject(line) {
		return EnvelopeHeader{}, malformed("envelope header is not a JSON object", nil)
	}
	var h rawEnvelopeHeader
	if err := json.Unmarshal(line, &h); err != nil && !isTypeError(err) {
		return EnvelopeHeader{}, malformed("invalid envelope header", err)
	}
	hdr := EnvelopeHeader{
		DSN:    truncate(string(h.DSN), maxFrameStrLen),
		SentAt: parseTime(string(h.SentAt)),
		SDK:    telemetry.SDK{Name: short(h.SDK.Name), Version: short(h.SDK.Version)},
		Trace: TraceContext{
			TraceID:     hexID(string(h.Trace.TraceID), 32),
			PublicKey:   short(h.Trace.PublicKey),
			Release:     short(h.Trace.Release),
			Environment: short(h.Trace.Environment),
			Transaction: short(h.Trace.Transaction),
		},
	}
	if h.EventID != "" {
		id, ok := normalizeID(string(h.EventID))
		if !ok {
			return EnvelopeHeader{}, malformed(fmt.Sprintf("envelope header: invalid event_id %q", truncate(string(h.EventID), 64)), nil)
		}
		hdr.EventID = id
	}
	return hdr, nil
}

// parseItemHeader returns the type of item n and its length, -1 when the
// header has none.
func parseItemHeader(n int, line []byte) (typ string, length int64, err error) {
	if !isObject(line) {
		return "", 0, malformed(fmt.Sprintf("item %d: header is not a JSON object", n), nil)
	}
	var h rawItemHeader
	if err := json.Unmarshal(line, &h); err != nil {
		return "", 0, malformed(fmt.Sprintf("item %d: invalid header", n), err)
	}
	if h.Type == nil || *h.Type == "" {
		return "", 0, malformed(fmt.Sprintf("item %d: header has no type", n), nil)
	}
	typ = *h.Type
	if len(h.Length) == 0 || string(h.Length) == "null" {
		return typ, -1, nil
	}
	length, err = strconv.ParseInt(string(h.Length), 10, 64)
	if err != nil || length < 0 {
		return "", 0, malformed(fmt.Sprintf("item %d (%s): invalid length %.32s", n, truncate(typ, 64), h.Length), nil)
	}
	return typ, length, nil
}

// readPayload reads a payload of length bytes, keeping it or discarding it,
// and the newline after it. eof tells that the envelope ended there.
func readPayload(br *bufio.Reader, length int64, keep bool) (payload []byte, eof bool, err error) {
	var got int64
	if keep {
		payload, err = readN(br, length)
		got = int64(len(payload))
	} else {
		got, err = io.CopyN(io.Discard, br, length)
	}
	if err != nil {
		return nil, false, &shortRead{got: got, err: err}
	}
	switch c, err := br.ReadByte(); {
	case err == io.EOF:
		return payload, true, nil
	case err != nil:
		return nil, false, err
	case c != '\n':
		return nil, false, errNoNewline
	}
	return payload, false, nil
}

// readN reads exactly n bytes, growing its buffer as they arrive so that a
// lying length does not allocate the size limit up front. On error it
// returns what it read.
func readN(r io.Reader, n int64) ([]byte, error) {
	buf := make([]byte, 0, min(n, 64<<10))
	for int64(len(buf)) < n {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, int(min(n-int64(len(buf)), int64(len(buf)))))
		}
		m, err := r.Read(buf[len(buf):int(min(int64(cap(buf)), n))])
		buf = buf[:len(buf)+m]
		if err == io.EOF && int64(len(buf)) < n {
			return buf, io.EOF
		}
		if err != nil && err != io.EOF {
			return buf, err
		}
	}
	return buf, nil
}

var errNoNewline = errors.New("payload not followed by a newline")

// shortRead is a payload that ended, or failed, before its length.
type shortRead struct {
	got int64
	err error
}

func (s *shortRead) Error() string { return s.err.Error() }

func payloadError(what string, length int64, err error) error {
	var sr *shortRead
	switch {
	case errors.As(err, &sr) && sr.err == io.EOF:
		return malformed(fmt.Sprintf("%s: length %d exceeds remaining %d bytes", what, length, sr.got), nil)
	case errors.As(err, &sr):
		return malformed(fmt.Sprintf("cannot read %s payload", what), sr.err)
	case err == errNoNewline:
		return malformed(fmt.Sprintf("%s: %d-byte payload not followed by a newline", what, length), nil)
	}
	return malformed(fmt.Sprintf("cannot read %s payload", what), err)
}

func lineError(what string, err error) error {
	if errors.Is(err, errLineTooLong) {
		return tooLarge(fmt.Sprintf("%s exceeds %d bytes", what, maxHeaderLine))
	}
	return malformed("cannot read "+what, err)
}

// readLine reads a line of at most maxBytes bytes and returns it without its
// newline; eof tells that the input ended with it, without a newline.
func readLine(br *bufio.Reader, maxBytes int64) (line []byte, eof bool, err error) {
	for {
		chunk, err := br.ReadSlice('\n')
		n := len(chunk)
		if err == nil {
			n-- // the newline
		}
		if int64(len(line))+int64(n) > maxBytes {
			return nil, false, errLineTooLong
		}
		line = append(line, chunk[:n]...)
		switch err {
		case nil:
			return line, false, nil
		case io.EOF:
			return line, true, nil
		case bufio.ErrBufferFull:
			continue
		}
		return nil, false, err
	}
}

// discardLine skips a line without holding it, whatever its length.
func discardLine(br *bufio.Reader) (eof bool, err error) {
	for {
		_, err := br.ReadSlice('\n')
		switch err {
		case nil:
			return false, nil
		case io.EOF:
			return true, nil
		case bufio.ErrBufferFull:
			continue
		}
		return false, err
	}
}
