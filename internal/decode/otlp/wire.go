package otlp

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"

	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	colmetricspb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// DecodeTracesProto decodes a binary protobuf trace export request.
func DecodeTracesProto(b []byte) (*coltracepb.ExportTraceServiceRequest, error) {
	return decodeProto(b, new(coltracepb.ExportTraceServiceRequest))
}

// DecodeTracesJSON decodes an OTLP/JSON trace export request.
func DecodeTracesJSON(b []byte) (*coltracepb.ExportTraceServiceRequest, error) {
	return decodeJSON(b, new(coltracepb.ExportTraceServiceRequest))
}

// DecodeLogsProto decodes a binary protobuf logs export request.
func DecodeLogsProto(b []byte) (*collogspb.ExportLogsServiceRequest, error) {
	return decodeProto(b, new(collogspb.ExportLogsServiceRequest))
}

// DecodeLogsJSON decodes an OTLP/JSON logs export request.
func DecodeLogsJSON(b []byte) (*collogspb.ExportLogsServiceRequest, error) {
	return decodeJSON(b, new(collogspb.ExportLogsServiceRequest))
}

// DecodeMetricsProto decodes a binary protobuf metrics export request.
func DecodeMetricsProto(b []byte) (*colmetricspb.ExportMetricsServiceRequest, error) {
	return decodeProto(b, new(colmetricspb.ExportMetricsServiceRequest))
}

// DecodeMetricsJSON decodes an OTLP/JSON metrics export request.
func DecodeMetricsJSON(b []byte) (*colmetricspb.ExportMetricsServiceRequest, error) {
	return decodeJSON(b, new(colmetricspb.ExportMetricsServiceRequest))
}

func decodeProto[M proto.Message](b []byte, m M) (M, error) {
	if err := proto.Unmarshal(b, m); err != nil {
		var none M
		return none, fmt.Errorf("invalid protobuf: %w", err)
	}
	return m, nil
}

// decodeJSON follows the OTLP/JSON rules, which differ from the protobuf JSON
// mapping only in writing trace and span ids as hex instead of base64: the ids
// are rewritten to base64 before protojson parses the rest. Unknown fields are
// ignored, as the OTLP specification requires of receivers.
func decodeJSON[M proto.Message](b []byte, m M) (M, error) {
	var none M
	b, err := hexIDsToBase64(b)
	if err != nil {
		return none, fmt.Errorf("invalid JSON: %w", err)
	}
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(b, m); err != nil {
		return none, fmt.Errorf("invalid JSON: %w", err)
	}
	return m, nil
}

// hexIDsToBase64 rewrites, in a single pass over the JSON text, the string
// values of the trace, span and parent span id fields of spans, links, log
// records and exemplars from hex to base64. It returns src itself when there
// is nothing to rewrite. Malformed JSON is copied as is for protojson to
// report.
//
// It tracks, for each open object or array, whether it holds ids: whether it
// is the value of a "spans", "links", "logRecords" or "exemplars" field, or an
// element of such a value, so that an id field elsewhere, in an unknown field
// for instance, is left alone.
func hexIDsToBase64(src []byte) ([]byte, error) {
	var (
		out      []byte   // nil until the first rewrite
		copied   int      // src[:copied] is in out
		stack    []bool   // per open container: whether it holds ids
		afterKey bool     // the next value is that of the last key
		keyHolds bool     // the last key names a field whose value holds ids
		scratch  [64]byte // decoded id
	)
	for i := 0; i < len(src); i++ {
		switch src[i] {
		case ' ', '\t', '\n', '\r':
			continue
		case '{', '[':
			holds := keyHolds
			if !afterKey && len(stack) > 0 {
				holds = stack[len(stack)-1] // an array element
			}
			stack = append(stack, holds)
		case '}', ']':
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
		case '"':
			end := stringEnd(src, i)
			if end < 0 {
				return finish(src, out, copied), nil
			}
			colon := skipSpace(src, end+1)
			if colon >= len(src) || src[colon] != ':' {
				i = end // a string value
				break
			}
			key := src[i+1 : end]
			i, afterKey, keyHolds = colon, true, false
			switch string(key) {
			case "spans", "links", "logRecords", "log_records", "exemplars":
				keyHolds = true
				continue
			case "traceId", "trace_id", "spanId", "span_id", "parentSpanId", "parent_span_id":
			default:
				continue
			}
			vStart := skipSpace(src, colon+1)
			if len(stack) == 0 || !stack[len(stack)-1] || vStart >= len(src) || src[vStart] != '"' {
				continue
			}
			vEnd := stringEnd(src, vStart)
			if vEnd < 0 {
				return finish(src, out, copied), nil
			}
			val := src[vStart+1 : vEnd]
			id, err := hex.AppendDecode(scratch[:0], val)
			if err != nil {
				if len(val) > 64 {
					val = append(val[:61:61], "..."...)
				}
				return nil, fmt.Errorf("%s %q: not hex: %w", key, val, err)
			}
			if out == nil {
				out = make([]byte, 0, len(src))
			}
			out = append(out, src[copied:vStart+1]...)
			n := len(out)
			out = base64.StdEncoding.AppendEncode(out, id)
			out = append(out, '"')
			// Spaces make up for base64 being shorter than hex, so that the
			// positions in protojson's errors match the original text.
			for range len(val) - (len(out) - n - 1) {
				out = append(out, ' ')
			}
			copied, i = vEnd+1, vEnd
		}
		afterKey = false
	}
	return finish(src, out, copied), nil
}

func finish(src, out []byte, copied int) []byte {
	if out == nil {
		return src
	}
	return append(out, src[copied:]...)
}

// stringEnd returns the index of the quote closing the JSON string opened at
// src[start], or -1 if it is not closed.
func stringEnd(src []byte, start int) int {
	for i := start + 1; i < len(src); i++ {
		switch src[i] {
		case '\\':
			i++
		case '"':
			return i
		}
	}
	return -1
}

func skipSpace(src []byte, i int) int {
	for i < len(src) {
		switch src[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}
