package promql

import (
	"slices"
	"strings"
	"unicode"

	"github.com/fibinc/telltale/internal/query"
	"github.com/fibinc/telltale/internal/telemetry"
)

// Name mapping follows Prometheus' OTLP ingestion with its default
// translation strategy, UnderscoreEscapingWithSuffixes (the rules of
// github.com/prometheus/otlptranslator v1.0.0, MetricNamer, UnitNamer and
// LabelNamer). docs/design/promql.md lists them.

// unitNames translates UCUM units to Prometheus unit words.
var unitNames = map[string]string{
	"d": "days", "h": "hours", "min": "minutes", "s": "seconds",
	"ms": "milliseconds", "us": "microseconds", "ns": "nanoseconds",
	"By": "bytes", "KiBy": "kibibytes", "MiBy": "mebibytes", "GiBy": "gibibytes", "TiBy": "tibibytes",
	"KBy": "kilobytes", "MBy": "megabytes", "GBy": "gigabytes", "TBy": "terabytes",
	"m": "meters", "V": "volts", "A": "amperes", "J": "joules", "W": "watts", "g": "grams",
	"Cel": "celsius", "Hz": "hertz", "1": "", "%": "percent",
}

// perUnitNames translates the unit after a slash ("By/s").
var perUnitNames = map[string]string{
	"s": "second", "m": "minute", "h": "hour", "d": "day", "w": "week", "mo": "month", "y": "year",
}

// metricChar reports whether r may appear in a Prometheus metric name
// (besides _, which the tokenizer treats as a separator).
func metricChar(r rune) bool {
	return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == ':'
}

// labelChar reports whether r may appear in a label name (besides _).
func labelChar(r rune) bool {
	return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9'
}

// unitSuffixes returns the main and "per" unit words of a UCUM unit:
// "By/s" gives "bytes" and "per_second"; annotations in braces give nothing.
func unitSuffixes(unit string) (main, per string) {
	m, p, hasPer := strings.Cut(unit, "/")
	if m = strings.TrimSpace(m); m != "" && !strings.ContainsAny(m, "{}") {
		main = m
		if w, ok := unitNames[m]; ok {
			main = w
		}
	}
	if hasPer {
		if p = strings.TrimSpace(p); p != "" && !strings.ContainsAny(p, "{}") {
			per = p
			if w, ok := perUnitNames[p]; ok {
				per = w
			}
			per = "per_" + per
		}
	}
	return main, per
}

// cleanUnit makes a unit word name-safe: invalid characters become _, runs
// of _ collapse and a leading _ goes.
func cleanUnit(u string) string {
	return strings.TrimPrefix(collapseUnderscores(strings.Map(func(r rune) rune {
		if metricChar(r) {
			return r
		}
		return '_'
	}, u)), "_")
}

func collapseUnderscores(s string) string {
	var b strings.Builder
	prev := false
	for _, r := range s {
		if r == '_' {
			if prev {
				continue
			}
			prev = true
		} else {
			prev = false
		}
		b.WriteRune(r)
	}
	return b.String()
}

// promType is how Prometheus sees a kind of stored metric.
type promType int

const (
	typeGauge     promType = iota // gauges, non-monotonic sums
	typeCounter                   // monotonic sums
	typeHistogram                 // explicit histograms, as classic _bucket/_sum/_count
	typeNative                    // exponential histograms, as native histograms
	typeSummary
)

func promTypeOf(m query.PromMetric) promType {
	switch m.Type {
	case telemetry.MetricSum:
		if m.Monotonic {
			return typeCounter
		}
	case telemetry.MetricHistogram:
		return typeHistogram
	case telemetry.MetricExponentialHistogram:
		return typeNative
	case telemetry.MetricSummary:
		return typeSummary
	}
	return typeGauge
}

// metadataType is the type /api/v1/metadata reports.
func (t promType) metadataType() string {
	return [...]string{"gauge", "counter", "histogram", "histogram", "summary"}[t]
}

// metricName returns the Prometheus name of a stored metric, before the
// _bucket, _sum and _count suffixes of histograms and summaries, or "" when
// nothing valid remains of it.
func metricName(name, unit string, t promType) string {
	tokens := strings.FieldsFunc(name, func(r rune) bool { return !metricChar(r) })
	main, per := unitSuffixes(unit)
	main, per = cleanUnit(main), cleanUnit(per)
	if slices.Contains(tokens, main) {
		main = ""
	}
	if per == "per_" {
		per = ""
	} else {
		per = strings.TrimSuffix(per, "_")
		if slices.Contains(tokens, per) {
			per = ""
		}
	}
	if per != "" {
		main = strings.TrimSuffix(main, "_")
	}
	if main != "" {
		tokens = append(tokens, main)
	}
	if per != "" {
		tokens = append(tokens, per)
	}
	if t == typeCounter {
		tokens = append(slices.DeleteFunc(tokens, func(s string) bool { return s == "total" }), "total")
	}
	if unit == "1" && t == typeGauge {
		tokens = append(slices.DeleteFunc(tokens, func(s string) bool { return s == "ratio" }), "ratio")
	}
	n := strings.Join(tokens, "_")
	if n != "" && unicode.IsDigit(rune(n[0])) {
		n = "_" + n
	}
	if strings.Trim(n, "_") == "" {
		return ""
	}
	return n
}

// unitName is the unit /api/v1/metadata reports: "bytes_per_second" for
// "By/s".
func unitName(unit string) string {
	main, per := unitSuffixes(unit)
	main, per = cleanUnit(main), cleanUnit(per)
	u := per
	switch {
	case main != "" && per != "":
		u = main + "_" + per
	case main != "":
		u = main
	}
	u = strings.TrimPrefix(u, "_")
	return strings.TrimSuffix(u, "_")
}

// labelName returns the Prometheus label name of an attribute key, or ""
// when nothing valid remains of it: invalid characters become _, runs of _
// collapse, and a leading digit gets "key_" before it.
func labelName(key string) string {
	if key == "" {
		return ""
	}
	reserved := len(key) >= 4 && strings.HasPrefix(key, "__") && strings.HasSuffix(key, "__")
	if reserved {
		key = key[2 : len(key)-2]
	}
	var b strings.Builder
	prev := false
	for _, r := range key {
		switch {
		case labelChar(r):
			b.WriteRune(r)
			prev = false
		case !prev:
			b.WriteByte('_')
			prev = true
		}
	}
	n := b.String()
	if reserved {
		n = "__" + n + "__"
	}
	if unicode.IsDigit(rune(n[0])) {
		n = "key_" + n
	}
	if strings.Trim(n, "_") == "" {
		return ""
	}
	return n
}
