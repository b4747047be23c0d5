package statsd

import (
	"cmp"
	"slices"
	"unicode/utf8"

	dec "github.com/fibinc/telltale/internal/decode/statsd"
	"github.com/fibinc/telltale/internal/telemetry"
)

// seriesMeta is what every point of a series shares. It is immutable once
// built, so flushes read it without the aggregator's lock.
type seriesMeta struct {
	name      string
	unit      string
	res       telemetry.Resource
	attrs     string // JSON object text
	id        uint64 // SeriesID of the point named name
	summaryID uint64 // timers, histograms, distributions: SeriesID of name + summarySuffix
}

// summarySuffix names the summary point of a timer, histogram or
// distribution, beside the histogram point that keeps the plain name.
const summarySuffix = ".summary"

// Tag keys that become resource fields, and the OpenTelemetry resource
// attributes they stand for in the series id.
var resourceTags = map[string]string{
	"service": "service.name",
	"env":     "deployment.environment",
	"version": "service.version",
	"host":    "host.name",
}

const attrContainerID = "container.id"

type kv struct{ key, value []byte }

// newMeta builds the metadata of the series of a parsed line. buf is scratch
// space, returned for reuse.
//
// The series id is computed as internal/decode/otlp computes it (its helpers
// are unexported, so this is an equivalent): FNV-1a of the name, combined
// with the order-independent sums of the mixed FNV-1a hashes of each
// `"key":"value"` JSON text of the resource attributes and of the point
// attributes. A StatsD series thus gets the id the same metric would get if
// sent over OTLP with the same resource and attributes.
func newMeta(m *dec.Metric, defaultService string, buf []byte) (*seriesMeta, []byte) {
	meta := &seriesMeta{name: string(m.Name)}
	if m.Type == dec.Timer {
		meta.unit = "ms"
	}
	var (
		attrs   = make([]kv, 0, len(m.Tags))
		resHash uint64
		service []byte
	)
	for _, tag := range m.Tags {
		key, value := tag, []byte(nil)
		for i, c := range tag {
			if c == ':' {
				key, value = tag[:i], tag[i+1:]
				break
			}
		}
		switch string(key) {
		case "service":
			if len(value) > 0 {
				service = value
			}
			continue
		case "env":
			meta.res.Environment = string(value)
		case "version":
			meta.res.ServiceVersion = string(value)
		case "host":
			meta.res.Host = string(value)
		default:
			attrs = append(attrs, kv{key, value})
			continue
		}
		if len(value) > 0 {
			buf, resHash = addPairHash(buf[:0], resHash, resourceTags[string(key)], value)
		}
	}
	meta.res.ServiceName = defaultService
	if service != nil {
		meta.res.ServiceName = string(service)
	}
	buf, resHash = addPairHash(buf[:0], resHash, "service.name", []byte(meta.res.ServiceName))
	meta.res.Attributes = "{}"
	if len(m.ContainerID) > 0 {
		buf = appendPair(buf[:0], attrContainerID, m.ContainerID)
		resHash += telemetry.PairHash(buf)
		meta.res.Attributes = "{" + string(buf) + "}"
	}

	// Sorted keys give one text per series, whatever the tag order.
	slices.SortFunc(attrs, func(a, b kv) int { return cmp.Compare(string(a.key), string(b.key)) })
	var attrHash uint64
	buf = append(buf[:0], '{')
	for i, a := range attrs {
		if i > 0 {
			buf = append(buf, ',')
		}
		start := len(buf)
		buf = appendPair(buf, string(a.key), a.value)
		attrHash += telemetry.PairHash(buf[start:])
	}
	buf = append(buf, '}')
	meta.attrs = "{}"
	if len(attrs) > 0 {
		meta.attrs = string(buf)
	}

	meta.id = telemetry.SeriesID(telemetry.FNV64a(telemetry.FNVOffset, meta.name), resHash, attrHash)
	if isDistribution(m.Type) {
		meta.summaryID = telemetry.SeriesID(telemetry.FNV64a(telemetry.FNV64a(telemetry.FNVOffset, meta.name), summarySuffix), resHash, attrHash)
	}
	return meta, buf
}

func isDistribution(t dec.Type) bool {
	return t == dec.Timer || t == dec.Histogram || t == dec.Distribution
}

// addPairHash adds the hash of the JSON pair key:value to sum.
func addPairHash(buf []byte, sum uint64, key string, value []byte) ([]byte, uint64) {
	buf = appendPair(buf, key, value)
	return buf, sum + telemetry.PairHash(buf)
}

// seriesKey identifies the aggregate of a line: its type, name, tags (in any
// order) and container. It hashes the raw bytes, which is cheaper than the
// series id, computed only when a series is created.
func seriesKey(m *dec.Metric) uint64 {
	h := telemetry.FNV64a(telemetry.FNVOffset, m.Name)
	h = (h ^ uint64(m.Type)) * telemetry.FNVPrime
	var tags uint64
	for _, t := range m.Tags {
		tags += telemetry.Mix64(telemetry.FNV64a(telemetry.FNVOffset, t))
	}
	h = telemetry.Mix64(h) ^ telemetry.Mix64(tags+1)
	if len(m.ContainerID) > 0 {
		h ^= telemetry.Mix64(telemetry.FNV64a(telemetry.FNVPrime, m.ContainerID))
	}
	return telemetry.Mix64(h)
}

func memberHash(b []byte) uint64 { return telemetry.Mix64(telemetry.FNV64a(telemetry.FNVOffset, b)) }

// appendPair appends "key":"value" as JSON.
func appendPair(dst []byte, key string, value []byte) []byte {
	dst = appendString(dst, key)
	dst = append(dst, ':')
	return appendString(dst, value)
}

// appendString appends s as a JSON string, as internal/decode/otlp writes
// strings (the parser already refused invalid UTF-8 and control characters,
// but the escaping does not rely on it).
func appendString[T string | []byte](dst []byte, s T) []byte {
	const hexDigits = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				dst = append(dst, '\\', c)
			case c < 0x20:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			default:
				dst = append(dst, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(string(s[i:min(i+utf8.UTFMax, len(s))]))
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, "\uFFFD"...)
		} else {
			dst = append(dst, string(s[i:i+size])...)
		}
		i += size
	}
	return append(dst, '"')
}
