package sentry

import (
	"bytes"
	"compress/zlib"
	"encoding/base64"
	"fmt"
	"io"
)

// DecodeStoreBody returns the event JSON of a legacy store endpoint body:
// the JSON itself, or, from old raven clients, its base64 encoding (standard
// or URL alphabet, padded or not), possibly of zlib-compressed JSON. This is
// Relay's order of guesses. A result over maxBytes (default 1 MiB when not
// positive) is ErrTooLarge; inflation stops there.
func DecodeStoreBody(body []byte, maxBytes int64) ([]byte, error) {
	if maxBytes <= 0 {
		maxBytes = 1 << 20
	}
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return nil, malformed("empty store body", nil)
	}
	if body[0] == '{' {
		return checkSize(body, maxBytes)
	}
	decoded, err := decodeBase64(body)
	if err != nil {
		return nil, malformed("store body is neither JSON nor base64", err)
	}
	if t := bytes.TrimSpace(decoded); len(t) > 0 && t[0] == '{' {
		return checkSize(t, maxBytes)
	}
	zr, err := zlib.NewReader(bytes.NewReader(decoded))
	if err != nil {
		return nil, malformed("base64 store body is neither JSON nor zlib", err)
	}
	inflated, err := io.ReadAll(io.LimitReader(zr, maxBytes+1))
	if err != nil {
		return nil, malformed("cannot inflate store body", err)
	}
	if int64(len(inflated)) > maxBytes {
		return nil, tooLarge(fmt.Sprintf("inflated store body exceeds %d bytes", maxBytes))
	}
	if err := zr.Close(); err != nil {
		return nil, malformed("cannot inflate store body", err)
	}
	if t := bytes.TrimSpace(inflated); len(t) > 0 && t[0] == '{' {
		return t, nil
	}
	return nil, malformed("inflated store body is not a JSON object", nil)
}

func checkSize(b []byte, maxBytes int64) ([]byte, error) {
	if int64(len(b)) > maxBytes {
		return nil, tooLarge(fmt.Sprintf("store body exceeds %d bytes", maxBytes))
	}
	return b, nil
}

// decodeBase64 decodes either alphabet, with or without padding; the
// decoders skip line breaks themselves.
func decodeBase64(b []byte) ([]byte, error) {
	b = bytes.TrimRight(b, "=\r\n")
	enc := base64.RawStdEncoding
	if bytes.ContainsAny(b, "-_") {
		enc = base64.RawURLEncoding
	}
	out := make([]byte, enc.DecodedLen(len(b)))
	n, err := enc.Decode(out, b)
	return out[:n], err
}
