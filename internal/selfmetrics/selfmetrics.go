// Package selfmetrics is a small registry of Telltale's own metrics, written in
// the Prometheus text exposition format 0.0.4 for scraping.
//
// It has what Telltale needs and no more: counters, gauges (set, or computed at
// scrape) and fixed-bucket histograms, each with optional labels, on the
// standard library alone. A series is looked up once per label set (callers on
// hot paths may keep the returned *Counter); updating it is an atomic add.
//
// Registering a metric with an invalid or duplicate name panics: metrics are
// registered once at start-up from constant names, so a failure is a
// programming error, as with http.ServeMux.Handle.
package selfmetrics

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// ContentType is the media type of the text that WriteText produces.
const ContentType = "text/plain; version=0.0.4; charset=utf-8"

// Registry holds a set of metrics. The zero value is not usable; use New.
type Registry struct {
	mu      sync.Mutex
	metrics []metric // sorted by name, so that output is deterministic
}

// metric is one registered metric family.
type metric interface {
	name() string
	// appendText appends the HELP, TYPE and sample lines of the family.
	appendText(b []byte) []byte
}

// New returns an empty registry.
func New() *Registry { return &Registry{} }

// NewCounter registers a counter with the given label names.
func (r *Registry) NewCounter(name, help string, labels ...string) *CounterVec {
	v := &CounterVec{newVec[Counter](name, help, "counter", labels)}
	r.register(v)
	v.addUnlabeled()
	return v
}

// NewGauge registers a gauge with the given label names.
func (r *Registry) NewGauge(name, help string, labels ...string) *GaugeVec {
	v := &GaugeVec{newVec[Gauge](name, help, "gauge", labels)}
	r.register(v)
	v.addUnlabeled()
	return v
}

// NewGaugeFunc registers a gauge without labels whose value f computes at
// each scrape. f must be safe to call concurrently and should be quick.
func (r *Registry) NewGaugeFunc(name, help string, f func() float64) {
	r.NewGauge(name, help).With().SetFunc(f)
}

// NewHistogram registers a histogram with the given bucket upper bounds, which
// must be increasing; the +Inf bucket is implicit.
func (r *Registry) NewHistogram(name, help string, buckets []float64, labels ...string) *HistogramVec {
	buckets = slices.Clone(buckets)
	if n := len(buckets); n > 0 && math.IsInf(buckets[n-1], 1) {
		buckets = buckets[:n-1]
	}
	for i, b := range buckets {
		if math.IsNaN(b) || math.IsInf(b, 0) || (i > 0 && b <= buckets[i-1]) {
			panic(fmt.Sprintf("selfmetrics: histogram %s: bucket bounds must be finite and increasing, got %v", name, buckets))
		}
	}
	if slices.Contains(labels, "le") {
		panic(fmt.Sprintf("selfmetrics: histogram %s: label name le is reserved", name))
	}
	v := &HistogramVec{vec: newVec[Histogram](name, help, "histogram", labels)}
	v.init = func(h *Histogram) {
		h.bounds = buckets
		h.counts = make([]atomic.Uint64, len(buckets)+1)
	}
	for _, b := range buckets {
		v.les = append(v.les, strconv.FormatFloat(b, 'g', -1, 64))
	}
	v.les = append(v.les, "+Inf")
	r.register(v)
	v.addUnlabeled()
	return v
}

func (r *Registry) register(m metric) {
	name := m.name()
	if !validName(name, true) {
		panic(fmt.Sprintf("selfmetrics: invalid metric name %q", name))
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	i, found := slices.BinarySearchFunc(r.metrics, name, func(m metric, name string) int {
		return strings.Compare(m.name(), name)
	})
	if found {
		panic(fmt.Sprintf("selfmetrics: metric %s is already registered", name))
	}
	r.metrics = slices.Insert(r.metrics, i, m)
}

// WriteText writes every metric in the text exposition format, families sorted
// by name and series by label values.
func (r *Registry) WriteText(w io.Writer) error {
	r.mu.Lock()
	metrics := slices.Clone(r.metrics)
	r.mu.Unlock()
	var b []byte
	for _, m := range metrics {
		b = m.appendText(b)
	}
	_, err := w.Write(b)
	return err
}

// Handler serves the metrics in the text exposition format.
func (r *Registry) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", ContentType)
		// A failed write means the scraper went away; there is no one to tell.
		_ = r.WriteText(w)
	})
}

// Counter is a monotonically increasing count.
type Counter struct{ n atomic.Uint64 }

// Inc adds one.
func (c *Counter) Inc() { c.n.Add(1) }

// Add adds n.
func (c *Counter) Add(n uint64) { c.n.Add(n) }

// Value returns the current count.
func (c *Counter) Value() uint64 { return c.n.Load() }

// Gauge is a value that can go up and down, or that a function computes.
type Gauge struct {
	bits atomic.Uint64
	fn   atomic.Pointer[func() float64]
}

// Set sets the gauge to v.
func (g *Gauge) Set(v float64) { g.bits.Store(math.Float64bits(v)) }

// Add adds d (which may be negative) to the gauge.
func (g *Gauge) Add(d float64) { addFloat(&g.bits, d) }

// SetFunc makes the gauge report f() at each scrape instead of the value last
// set. f must be safe to call concurrently and should be quick.
func (g *Gauge) SetFunc(f func() float64) { g.fn.Store(&f) }

// Value returns the current value.
func (g *Gauge) Value() float64 {
	if f := g.fn.Load(); f != nil {
		return (*f)()
	}
	return math.Float64frombits(g.bits.Load())
}

// Histogram counts observations in fixed buckets.
type Histogram struct {
	bounds  []float64       // upper bounds, shared by the series of a family
	counts  []atomic.Uint64 // per bucket, not cumulative; the last is +Inf
	sumBits atomic.Uint64
}

// Observe records one observation.
func (h *Histogram) Observe(v float64) {
	h.counts[sort.SearchFloat64s(h.bounds, v)].Add(1)
	addFloat(&h.sumBits, v)
}

// ObserveDuration records d in seconds.
func (h *Histogram) ObserveDuration(d time.Duration) { h.Observe(d.Seconds()) }

func addFloat(bits *atomic.Uint64, d float64) {
	for {
		old := bits.Load()
		if bits.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+d)) {
			return
		}
	}
}

// CounterVec is a counter family with labels.
type CounterVec struct{ *vec[Counter] }

// With returns the counter for the label values, given in the order of the
// label names, creating it on first use. It panics if the number of values
// does not match the number of label names.
func (v *CounterVec) With(labelValues ...string) *Counter { return v.with(labelValues) }

func (v *CounterVec) appendText(b []byte) []byte {
	b = v.appendHeader(b)
	for _, s := range v.series() {
		b = appendSample(b, v.metricName, "", v.labels, s.values, "", "")
		b = strconv.AppendUint(b, s.m.Value(), 10)
		b = append(b, '\n')
	}
	return b
}

// GaugeVec is a gauge family with labels.
type GaugeVec struct{ *vec[Gauge] }

// With returns the gauge for the label values, given in the order of the label
// names, creating it on first use. It panics if the number of values does not
// match the number of label names.
func (v *GaugeVec) With(labelValues ...string) *Gauge { return v.with(labelValues) }

func (v *GaugeVec) appendText(b []byte) []byte {
	b = v.appendHeader(b)
	for _, s := range v.series() {
		b = appendSample(b, v.metricName, "", v.labels, s.values, "", "")
		b = appendFloat(b, s.m.Value())
		b = append(b, '\n')
	}
	return b
}

// HistogramVec is a histogram family with labels.
type HistogramVec struct {
	*vec[Histogram]
	les []string // le label values of the buckets, formatted once
}

// With returns the histogram for the label values, given in the order of the
// label names, creating it on first use. It panics if the number of values
// does not match the number of label names.
func (v *HistogramVec) With(labelValues ...string) *Histogram { return v.with(labelValues) }

func (v *HistogramVec) appendText(b []byte) []byte {
	b = v.appendHeader(b)
	for _, s := range v.series() {
		h := s.m
		var cum uint64
		for i := range h.counts {
			cum += h.counts[i].Load()
			b = appendSample(b, v.metricName, "_bucket", v.labels, s.values, "le", v.les[i])
			b = strconv.AppendUint(b, cum, 10)
			b = append(b, '\n')
		}
		b = appendSample(b, v.metricName, "_sum", v.labels, s.values, "", "")
		b = appendFloat(b, math.Float64frombits(h.sumBits.Load()))
		b = append(b, '\n')
		// The count is the bucket total so that it always equals the +Inf bucket,
		// even when an observation lands between the two loads.
		b = appendSample(b, v.metricName, "_count", v.labels, s.values, "", "")
		b = strconv.AppendUint(b, cum, 10)
		b = append(b, '\n')
	}
	return b
}

// vec holds the series of one metric family, keyed by label values.
type vec[T any] struct {
	metricName, help, typ string
	labels                []string
	init                  func(*T) // prepares a new series; nil when the zero T is ready

	mu     sync.RWMutex
	byKey  map[string]*series[T]
	sorted []*series[T] // by label values; nil when a series was added since the last sort
}

type series[T any] struct {
	values []string
	m      *T
}

func newVec[T any](name, help, typ string, labels []string) *vec[T] {
	for _, l := range labels {
		if !validName(l, false) || strings.HasPrefix(l, "__") {
			panic(fmt.Sprintf("selfmetrics: metric %s: invalid label name %q", name, l))
		}
	}
	return &vec[T]{metricName: name, help: help, typ: typ, labels: slices.Clone(labels), byKey: map[string]*series[T]{}}
}

func (v *vec[T]) name() string { return v.metricName }

// addUnlabeled creates the single series of a family without labels, so that
// it is written (as zero) before its first update.
func (v *vec[T]) addUnlabeled() {
	if len(v.labels) == 0 {
		v.with(nil)
	}
}

func (v *vec[T]) with(values []string) *T {
	if len(values) != len(v.labels) {
		panic(fmt.Sprintf("selfmetrics: metric %s takes %d label values %v, got %d", v.metricName, len(v.labels), v.labels, len(values)))
	}
	var buf [128]byte
	key := appendKey(buf[:0], values)
	v.mu.RLock()
	s := v.byKey[string(key)] // the conversion does not allocate in a map index
	v.mu.RUnlock()
	if s != nil {
		return s.m
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if s := v.byKey[string(key)]; s != nil {
		return s.m
	}
	s = &series[T]{values: slices.Clone(values), m: new(T)}
	if v.init != nil {
		v.init(s.m)
	}
	v.byKey[string(key)] = s
	v.sorted = nil
	return s.m
}

// series returns the series sorted by label values.
func (v *vec[T]) series() []*series[T] {
	v.mu.RLock()
	sorted := v.sorted
	v.mu.RUnlock()
	if sorted != nil {
		return sorted
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.sorted == nil {
		v.sorted = make([]*series[T], 0, len(v.byKey))
		for _, s := range v.byKey {
			v.sorted = append(v.sorted, s)
		}
		slices.SortFunc(v.sorted, func(a, b *series[T]) int { return slices.Compare(a.values, b.values) })
	}
	return v.sorted
}

func (v *vec[T]) appendHeader(b []byte) []byte {
	b = append(b, "# HELP "...)
	b = append(b, v.metricName...)
	b = append(b, ' ')
	b = appendEscaped(b, v.help, false)
	b = append(b, "\n# TYPE "...)
	b = append(b, v.metricName...)
	b = append(b, ' ')
	b = append(b, v.typ...)
	return append(b, '\n')
}

// appendKey encodes label values unambiguously: each is preceded by its length.
func appendKey(b []byte, values []string) []byte {
	for _, s := range values {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	return b
}

// appendSample appends a sample's name and labels and the space before its
// value. extraName and extraValue add one more label (le for buckets).
func appendSample(b []byte, name, suffix string, labels, values []string, extraName, extraValue string) []byte {
	b = append(b, name...)
	b = append(b, suffix...)
	if len(labels) > 0 || extraName != "" {
		b = append(b, '{')
		for i, l := range labels {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendLabel(b, l, values[i])
		}
		if extraName != "" {
			if len(labels) > 0 {
				b = append(b, ',')
			}
			b = appendLabel(b, extraName, extraValue)
		}
		b = append(b, '}')
	}
	return append(b, ' ')
}

func appendLabel(b []byte, name, value string) []byte {
	b = append(b, name...)
	b = append(b, `="`...)
	b = appendEscaped(b, value, true)
	return append(b, '"')
}

// appendEscaped escapes backslashes and newlines, and double quotes too in
// label values, as the text format requires.
func appendEscaped(b []byte, s string, quotes bool) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\':
			b = append(b, `\\`...)
		case c == '\n':
			b = append(b, `\n`...)
		case c == '"' && quotes:
			b = append(b, `\"`...)
		default:
			b = append(b, c)
		}
	}
	return b
}

// appendFloat formats v as the text format expects: shortest repr, +Inf, -Inf, NaN.
func appendFloat(b []byte, v float64) []byte { return strconv.AppendFloat(b, v, 'g', -1, 64) }

// validName reports whether s is a valid metric name (colons allowed) or
// label name.
func validName(s string, colons bool) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || i > 0 && '0' <= c && c <= '9' || colons && c == ':'
		if !ok {
			return false
		}
	}
	return true
}
