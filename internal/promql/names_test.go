package promql

import (
	"regexp"
	"testing"
	"unicode/utf8"
)

// The cases are those of github.com/prometheus/otlptranslator v1.0.0 for
// its default strategy, UnderscoreEscapingWithSuffixes.
func TestMetricName(t *testing.T) {
	for _, c := range []struct {
		name, unit string
		typ        promType
		want       string
	}{
		{"requests", "", typeCounter, "requests_total"},
		{"cpu_usage", "1", typeGauge, "cpu_usage_ratio"},
		{"items", "1", typeCounter, "items_total"},
		{"response_time", "ms", typeGauge, "response_time_milliseconds"},
		{"memory_usage", "By", typeGauge, "memory_usage_bytes"},
		{"requests", "1/s", typeGauge, "requests_per_second"},
		{"throughput", "By/s", typeGauge, "throughput_bytes_per_second"},
		{"custom_metric", "custom_unit", typeGauge, "custom_metric_custom_unit"},
		{"custom_metric", "{custom}", typeGauge, "custom_metric"},
		{"custom_metric", "By/{custom}", typeGauge, "custom_metric_bytes"},
		{"requests_total", "", typeCounter, "requests_total"},
		{"cpu_usage_ratio", "1", typeGauge, "cpu_usage_ratio"},
		{"response_time_seconds", "s", typeGauge, "response_time_seconds"},
		{"metric__with__multiple__underscores", "unit__multiple__underscores", typeGauge, "metric_with_multiple_underscores_unit_multiple_underscores"},
		{"custom_metric", "unit@with#special/chars", typeGauge, "custom_metric_unit_with_special_per_chars"},
		{"@#$%", "", typeGauge, ""},
		{"request_duration", "s", typeHistogram, "request_duration_seconds"},
		{"request_size", "By", typeNative, "request_size_bytes"},
		{"response_time", "ms", typeSummary, "response_time_milliseconds"},
		{"uptime", "d", typeGauge, "uptime_days"},
		{"timeout", "min", typeGauge, "timeout_minutes"},
		{"cache_size", "KiBy", typeGauge, "cache_size_kibibytes"},
		{"temperature", "Cel", typeGauge, "temperature_celsius"},
		{"cpu_usage", "%", typeGauge, "cpu_usage_percent"},
		{"invoices", "1/mo", typeGauge, "invoices_per_month"},
		{"custom", "1/custom_unit", typeGauge, "custom_per_custom_unit"},
		{"metric", "By/", typeGauge, "metric_bytes"},
		{"metric", " By / s ", typeGauge, "metric_bytes_per_second"},
		{"metric", "/", typeGauge, "metric"},
		{"http.request.duration", "ms", typeHistogram, "http_request_duration_milliseconds"},
		{"http.requests", "1", typeCounter, "http_requests_total"},
		{"123metric", "", typeGauge, "_123metric"},
		{"jvm.memory.used", "By", typeGauge, "jvm_memory_used_bytes"},
	} {
		if got := metricName(c.name, c.unit, c.typ); got != c.want {
			t.Errorf("metricName(%q, %q, %d) = %q, want %q", c.name, c.unit, c.typ, got, c.want)
		}
	}
}

func TestUnitName(t *testing.T) {
	for unit, want := range map[string]string{"s": "seconds", "By/s": "bytes_per_second", "1": "", "1/s": "per_second", "{request}": "", "": ""} {
		if got := unitName(unit); got != want {
			t.Errorf("unitName(%q) = %q, want %q", unit, got, want)
		}
	}
}

func TestLabelName(t *testing.T) {
	for key, want := range map[string]string{
		"label:with:colons":                  "label_with_colons",
		"LabelWithCapitalLetters":            "LabelWithCapitalLetters",
		"label!with&special$chars)":          "label_with_special_chars_",
		"label_with_foreign_characters_字符":   "label_with_foreign_characters_",
		"label.with.dots":                    "label_with_dots",
		"123label":                           "key_123label",
		"_label_starting_with_underscore":    "_label_starting_with_underscore",
		"__label_starting_with_2underscores": "_label_starting_with_2underscores",
		"ようこそ":                               "",
		"label__with__double__underscores":   "label_with_double_underscores",
		"label.name__with&&special##chars":   "label_name_with_special_chars",
		"__reserved__label__name__":          "__reserved_label_name__",
		"trailing_underscores___":            "trailing_underscores_",
		"":                                   "",
		"__":                                 "",
	} {
		if got := labelName(key); got != want {
			t.Errorf("labelName(%q) = %q, want %q", key, got, want)
		}
	}
}

func TestAttributeLabels(t *testing.T) {
	got := attributeLabels(`{"http.route":"/a","a.b":1,"a_b":true,"list":[1, "x"],"obj":{"k": 2},"none":null,"empty":"","1x":2.5}`)
	want := map[string]string{"http_route": "/a", "a_b": "1;true", "list": `[1,"x"]`, "obj": `{"k":2}`, "key_1x": "2.5"}
	if len(got) != len(want) {
		t.Fatalf("attributeLabels = %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("label %s = %q, want %q", k, got[k], v)
		}
	}
	if m := attributeLabels(`not json`); len(m) != 0 {
		t.Errorf("attributeLabels of invalid JSON = %v, want none", m)
	}
}

var (
	metricNameRE = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)
	labelNameRE  = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
	unitRE       = regexp.MustCompile(`^[a-zA-Z0-9_:]*$`)
)

// FuzzNames checks that any name, unit and key map to valid Prometheus
// names (or to nothing), and that mapping again changes nothing.
func FuzzNames(f *testing.F) {
	for _, s := range [][2]string{{"http.server.duration", "ms"}, {"a..b", "By/s"}, {"1x", "{req}"}, {"__x__", "1"}, {"ä", "%"}, {"total", ""}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, name, unit string) {
		for typ := typeGauge; typ <= typeSummary; typ++ {
			n := metricName(name, unit, typ)
			if n == "" {
				continue
			}
			if !metricNameRE.MatchString(n) {
				t.Fatalf("metricName(%q, %q) = %q, not a valid metric name", name, unit, n)
			}
			// The pre-filter of stored names never drops the name's own.
			for _, suffix := range []string{"", "_bucket", "_sum", "_count"} {
				if !compatible(name, n+suffix) {
					t.Fatalf("compatible(%q, %q) is false", name, n+suffix)
				}
			}
			if again := metricName(n, "", typeGauge); typ != typeCounter && unit == "" && again != n {
				t.Fatalf("metricName(%q) = %q, but mapping it again gives %q", name, n, again)
			}
		}
		if u := unitName(unit); !unitRE.MatchString(u) {
			t.Fatalf("unitName(%q) = %q, not name-safe", unit, u)
		}
		l := labelName(name)
		if l == "" {
			return
		}
		if !labelNameRE.MatchString(l) {
			t.Fatalf("labelName(%q) = %q, not a valid label name", name, l)
		}
		if again := labelName(l); again != l {
			t.Fatalf("labelName(%q) = %q, but mapping it again gives %q", name, l, again)
		}
	})
}

// FuzzAttributeLabels checks that any attribute text gives valid label
// names with non-empty, valid UTF-8 values.
func FuzzAttributeLabels(f *testing.F) {
	for _, s := range []string{`{}`, `{"a.b":"c","a_b":1}`, `{"x":[1,{"y":null}]}`, `{"":"v","__name__":"n"}`, `[1]`, `{"a":"\u00e9"}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, attrs string) {
		for k, v := range attributeLabels(attrs) {
			if !labelNameRE.MatchString(k) || len(k) >= 2 && k[:2] == "__" {
				t.Fatalf("attributeLabels(%q) gives label name %q", attrs, k)
			}
			if v == "" {
				t.Fatalf("attributeLabels(%q) gives an empty value for %q", attrs, k)
			}
			if utf8.ValidString(attrs) && !utf8.ValidString(v) {
				t.Fatalf("attributeLabels(%q) gives invalid UTF-8 %q", attrs, v)
			}
		}
	})
}
