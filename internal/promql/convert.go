package promql

import (
	"bytes"
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/tsdb/chunks"
	"github.com/prometheus/prometheus/util/annotations"

	"github.com/fibinc/telltale/internal/query"
	"github.com/fibinc/telltale/internal/telemetry"
)

// zeroThreshold is the width of a native histogram's zero bucket, as
// Prometheus' OTLP ingestion sets it (OpenTelemetry's zero bucket counts
// exact zeros).
const zeroThreshold = 1e-128

// staleNaN marks the end of a series, as Prometheus writes it when a target
// disappears.
var staleNaN = math.Float64frombits(value.StaleNaN)

// baseLabels returns the labels of a stored series other than __name__, le
// and quantile: point attributes, then the resource labels that no
// attribute set, then job and instance.
func baseLabels(st *query.PromSeries) labels.Labels {
	m := attributeLabels(st.Attributes)
	for _, r := range [...]struct{ name, value string }{
		{"service_name", st.Resource.ServiceName},
		{"service_version", st.Resource.ServiceVersion},
		{"deployment_environment", st.Resource.Environment},
		{"host_name", st.Resource.Host},
		{"cloud_availability_zone", st.Resource.AvailabilityZone},
	} {
		if _, ok := m[r.name]; !ok && r.value != "" {
			m[r.name] = r.value
		}
	}
	job := st.Resource.ServiceName
	if st.Namespace != "" && job != "" {
		job = st.Namespace + "/" + job
	}
	if job != "" {
		m["job"] = job
	}
	if st.Resource.InstanceID != "" {
		m["instance"] = st.Resource.InstanceID
	}
	delete(m, labels.MetricName)
	return labels.FromMap(m)
}

// attributeLabels turns a JSON object of attributes into labels: names
// sanitised, values as text (numbers as written, arrays and objects as
// JSON). Keys that sanitise to the same name have their values joined with
// ";", in the order of the keys. Empty values are dropped, as Prometheus
// treats an empty label as a missing one.
func attributeLabels(attrs string) map[string]string {
	out := map[string]string{}
	if attrs == "" || attrs == "{}" {
		return out
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal([]byte(attrs), &raw); err != nil {
		return out
	}
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		name := labelName(k)
		if name == "" || strings.HasPrefix(name, "__") {
			continue
		}
		v := attributeText(raw[k])
		if v == "" {
			continue
		}
		if prev, ok := out[name]; ok {
			v = prev + ";" + v
		}
		out[name] = v
	}
	return out
}

// attributeText is an attribute value as OpenTelemetry's AsString gives it.
func attributeText(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	if raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s
		}
	}
	if raw[0] == '[' || raw[0] == '{' {
		var b bytes.Buffer
		if json.Compact(&b, raw) == nil {
			return b.String()
		}
	}
	return string(raw) // numbers and booleans as written
}

// converter turns the points of one stored series into Prometheus samples.
type converter struct {
	id      uint64
	name    string
	typ     string
	mono    bool
	base    labels.Labels
	names   map[output]string
	matches []*labels.Matcher // on le and quantile

	outs  map[string]*series     // by output and le or quantile
	plain [outNative + 1]*series // outputs without le or quantile, the common case
	known [outNative + 1]bool    // whether plain[o] was decided (nil: not selected)
	order []*series

	// hint is the number of points of the series being read, when known:
	// the capacity of its outputs without le or quantile.
	hint int

	// The previous point, to detect counter resets.
	started   bool
	prevStart int64
	prevCount uint64
	prevKey   string // bucket bounds of a histogram
}

func newConverter(st *query.PromSeries, outs map[output]string, base labels.Labels, matches []*labels.Matcher) *converter {
	return &converter{id: st.ID, name: st.Name, typ: st.Type, mono: st.Monotonic, base: base, names: outs,
		matches: matches, outs: map[string]*series{}}
}

func (c *converter) wants(o output) bool {
	_, ok := c.names[o]
	return ok
}

// output returns the series of output o with extra label k=v (k empty for
// none), or nil when it is not selected.
func (c *converter) output(o output, k, v string, counter bool) *series {
	if k == "" && c.known[o] {
		return c.plain[o]
	}
	key := string(rune('0'+o)) + v
	if s, ok := c.outs[key]; ok {
		return s
	}
	name, ok := c.names[o]
	var s *series
	if ok {
		b := labels.NewBuilder(c.base)
		b.Set(labels.MetricName, name)
		if k != "" {
			b.Set(k, v)
		}
		lset := b.Labels()
		if matchLabels(c.matches, lset) {
			s = &series{lset: lset, counter: counter}
			if c.hint > 0 && o != outNative && k == "" {
				s.floats = make([]fpoint, 0, c.hint)
			}
			c.order = append(c.order, s)
		}
	}
	if k == "" {
		c.plain[o], c.known[o] = s, true
	} else {
		c.outs[key] = s // nil: not selected, remembered as such
	}
	return s
}

func (c *converter) outputs() []*series { return c.order }

// labelsOnly creates the series the converter would fill, without samples:
// bounds are the le bounds or quantiles seen.
func (c *converter) labelsOnly(bounds []float64) {
	switch c.typ {
	case telemetry.MetricHistogram:
		for _, b := range bounds {
			if !math.IsInf(b, 1) {
				c.output(outBucket, "le", formatFloat(b), true)
			}
		}
		c.output(outBucket, "le", "+Inf", true)
		c.output(outSum, "", "", true)
		c.output(outCount, "", "", true)
	case telemetry.MetricSummary:
		for _, q := range bounds {
			c.output(outValue, "quantile", formatFloat(q), false)
		}
		c.output(outSum, "", "", true)
		c.output(outCount, "", "", true)
	case telemetry.MetricExponentialHistogram:
		c.output(outNative, "", "", true)
	default:
		c.output(outValue, "", "", c.typ == telemetry.MetricSum && c.mono)
	}
}

// formatFloat writes le and quantile values as Prometheus' OTLP ingestion
// does.
func formatFloat(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// add converts one point; points come in time order.
func (c *converter) add(p *query.PromPoint) {
	c.hint = p.SeriesPoints
	// A changed start time means the stream restarted: a counter reset.
	reset := c.started && p.Start != 0 && c.prevStart != 0 && p.Start != c.prevStart
	if p.Stale {
		for _, s := range c.order {
			s.stale(p.Time)
		}
		return
	}
	switch c.typ {
	case telemetry.MetricGauge:
		if s := c.output(outValue, "", "", false); s != nil {
			s.appendF(p.Time, p.Value)
		}
	case telemetry.MetricSum:
		s := c.output(outValue, "", "", c.mono)
		switch {
		case s == nil:
		case p.Delta:
			s.accumulate(p.Time, p.Value)
		case c.mono:
			s.fold(p.Time, p.Value, reset || p.Value < s.prev)
		default:
			s.appendF(p.Time, p.Value)
		}
	case telemetry.MetricHistogram:
		key := formatBounds(p.Bounds)
		reset = reset || c.started && (p.Count < c.prevCount || key != c.prevKey)
		c.prevKey = key
		c.addCounter(outCount, p, float64(p.Count), reset)
		c.addCounter(outSum, p, p.Sum, reset)
		if c.wants(outBucket) && len(p.Counts) == len(p.Bounds)+1 {
			cum := 0.0
			for i, b := range p.Bounds {
				cum += float64(p.Counts[i])
				if !math.IsInf(b, 1) {
					c.addBucket(p, "le", formatFloat(b), cum, reset)
				}
			}
			c.addBucket(p, "le", "+Inf", float64(p.Count), reset)
		}
	case telemetry.MetricExponentialHistogram:
		reset = reset || c.started && p.Count < c.prevCount
		if s := c.output(outNative, "", "", true); s != nil {
			if h := nativeHistogram(p); h != nil {
				s.appendNative(p.Time, h, p.Delta, reset)
			}
		}
	case telemetry.MetricSummary:
		reset = reset || c.started && p.Count < c.prevCount
		c.addCounter(outCount, p, float64(p.Count), reset)
		c.addCounter(outSum, p, p.Sum, reset)
		for i, q := range p.Quantiles {
			if i < len(p.QuantileValues) {
				if s := c.output(outValue, "quantile", formatFloat(q), false); s != nil {
					s.appendF(p.Time, p.QuantileValues[i])
				}
			}
		}
	}
	c.started, c.prevStart, c.prevCount = true, p.Start, p.Count
}

func (c *converter) addCounter(o output, p *query.PromPoint, v float64, reset bool) {
	s := c.output(o, "", "", true)
	switch {
	case s == nil:
	case p.Delta:
		s.accumulate(p.Time, v)
	default:
		s.fold(p.Time, v, reset || o != outSum && v < s.prev)
	}
}

func (c *converter) addBucket(p *query.PromPoint, k, le string, v float64, reset bool) {
	s := c.output(outBucket, k, le, true)
	switch {
	case s == nil:
	case p.Delta:
		s.accumulate(p.Time, v)
	default:
		s.fold(p.Time, v, reset || v < s.prev)
	}
}

func formatBounds(bs []float64) string {
	var b strings.Builder
	for _, f := range bs {
		b.WriteString(strconv.FormatFloat(f, 'g', -1, 64))
		b.WriteByte(',')
	}
	return b.String()
}

// nativeHistogram converts an exponential histogram point. OpenTelemetry's
// bucket i at scale s is Prometheus' bucket i+1 at schema s; scales above 8
// are reduced to 8, and points below -4 cannot be represented (nil).
func nativeHistogram(p *query.PromPoint) *histogram.FloatHistogram {
	scale := p.ExpScale
	if scale < histogram.ExponentialSchemaMin {
		return nil
	}
	down := int32(0)
	if scale > histogram.ExponentialSchemaMax {
		down = scale - histogram.ExponentialSchemaMax
		scale = histogram.ExponentialSchemaMax
	}
	h := &histogram.FloatHistogram{
		CounterResetHint: histogram.UnknownCounterReset,
		Schema:           scale,
		ZeroThreshold:    zeroThreshold,
		ZeroCount:        float64(p.ExpZero),
		Count:            float64(p.Count),
		Sum:              p.Sum,
	}
	h.PositiveSpans, h.PositiveBuckets = nativeBuckets(p.ExpPosOffset, p.ExpPos, down)
	h.NegativeSpans, h.NegativeBuckets = nativeBuckets(p.ExpNegOffset, p.ExpNeg, down)
	return h
}

// nativeBuckets lays out OpenTelemetry bucket counts as native histogram
// spans and absolute counts, merging buckets when downscaling.
func nativeBuckets(offset int32, counts []uint64, down int32) ([]histogram.Span, []float64) {
	var spans []histogram.Span
	var buckets []float64
	next := int32(0) // the index after the last bucket written
	for i, n := range counts {
		if n == 0 {
			continue
		}
		idx := (offset+int32(i))>>down + 1
		switch {
		case len(spans) > 0 && idx == next-1: // merged into the last bucket
			buckets[len(buckets)-1] += float64(n)
			continue
		case len(spans) > 0 && idx == next:
			spans[len(spans)-1].Length++
		case len(spans) > 0 && idx-next <= 2:
			// A short gap costs less as empty buckets than as a new span.
			for ; next < idx; next++ {
				spans[len(spans)-1].Length++
				buckets = append(buckets, 0)
			}
			spans[len(spans)-1].Length++
		default:
			spans = append(spans, histogram.Span{Offset: idx - next, Length: 1})
			if len(spans) == 1 {
				spans[0].Offset = idx
			}
		}
		buckets = append(buckets, float64(n))
		next = idx + 1
	}
	return spans, buckets
}

// fpoint and hpoint are samples.
type fpoint struct {
	t int64
	f float64
}

type hpoint struct {
	t int64
	h *histogram.FloatHistogram
}

// series is one Prometheus series being built, and then read.
type series struct {
	lset    labels.Labels
	counter bool // a counter, which merges by adding (see merger)
	floats  []fpoint
	hists   []hpoint

	// Running state: the base added to values (the running total of a
	// delta series, or the value before counter resets) and the last raw
	// value.
	base, prev float64
	acc        *histogram.FloatHistogram
}

// appendF appends a sample; one at the same millisecond as the last
// replaces it.
func (s *series) appendF(t int64, f float64) {
	if n := len(s.floats); n > 0 && s.floats[n-1].t >= t {
		s.floats[n-1].f = f
		return
	}
	s.floats = append(s.floats, fpoint{t, f})
}

func (s *series) appendH(t int64, h *histogram.FloatHistogram) {
	if n := len(s.hists); n > 0 && s.hists[n-1].t >= t {
		s.hists[n-1].h = h
		return
	}
	s.hists = append(s.hists, hpoint{t, h})
}

// accumulate adds a delta to the running total.
func (s *series) accumulate(t int64, delta float64) {
	s.base += delta
	s.appendF(t, s.base)
}

// fold appends a cumulative value; after a reset the series continues from
// where it was, so that it never falls.
func (s *series) fold(t int64, v float64, reset bool) {
	if reset {
		s.base += s.prev
	}
	s.prev = v
	s.appendF(t, s.base+v)
}

func (s *series) appendNative(t int64, h *histogram.FloatHistogram, delta, reset bool) {
	if !delta {
		if reset {
			h.CounterResetHint = histogram.CounterReset
		}
		s.appendH(t, h)
		return
	}
	if s.acc == nil {
		s.acc = h
	} else if sum, _, _, err := s.acc.Copy().Add(h); err == nil {
		s.acc = sum
	}
	s.appendH(t, s.acc)
}

func (s *series) stale(t int64) {
	if s.hists != nil || s.acc != nil {
		s.appendH(t, &histogram.FloatHistogram{Sum: staleNaN})
		return
	}
	s.appendF(t, staleNaN)
}

// Labels implements storage.Series.
func (s *series) Labels() labels.Labels { return s.lset }

// Iterator implements storage.Series.
func (s *series) Iterator(chunkenc.Iterator) chunkenc.Iterator {
	if s.hists != nil {
		return storage.NewListSeriesIterator(histSamples(s.hists))
	}
	return storage.NewListSeriesIterator(floatSamples(s.floats))
}

// floatSamples and histSamples give the iterator pointers into the slices,
// which box without allocating.
type floatSamples []fpoint

func (s floatSamples) Get(i int) chunks.Sample { return &s[i] }
func (s floatSamples) Len() int                { return len(s) }

type histSamples []hpoint

func (s histSamples) Get(i int) chunks.Sample { return &s[i] }
func (s histSamples) Len() int                { return len(s) }

func (p *fpoint) T() int64                      { return p.t }
func (p *fpoint) ST() int64                     { return 0 }
func (p *fpoint) F() float64                    { return p.f }
func (p *fpoint) H() *histogram.Histogram       { return nil }
func (p *fpoint) FH() *histogram.FloatHistogram { return nil }
func (p *fpoint) Type() chunkenc.ValueType      { return chunkenc.ValFloat }
func (p *fpoint) Copy() chunks.Sample           { c := *p; return &c }
func (p *hpoint) T() int64                      { return p.t }
func (p *hpoint) ST() int64                     { return 0 }
func (p *hpoint) F() float64                    { return 0 }
func (p *hpoint) H() *histogram.Histogram       { return nil }
func (p *hpoint) Type() chunkenc.ValueType      { return chunkenc.ValFloatHistogram }
func (p *hpoint) Copy() chunks.Sample           { return &hpoint{p.t, p.h.Copy()} }

// FH returns a copy: the engine may change the histograms it is given.
func (p *hpoint) FH() *histogram.FloatHistogram { return p.h.Copy() }

// merger gathers the outputs of every stored series. Stored series that map
// to the same Prometheus labels (streams that differ only in resource
// attributes Prometheus does not show, such as process.pid) become one
// series: counters are added (their sum is the total count), other series
// interleave by time.
type merger struct {
	by    map[string][]*series
	order []string
}

func newMerger() *merger { return &merger{by: map[string][]*series{}} }

func (m *merger) add(s *series) {
	k := s.lset.String()
	if _, ok := m.by[k]; !ok {
		m.order = append(m.order, k)
	}
	m.by[k] = append(m.by[k], s)
}

func (m *merger) series() []*series {
	out := make([]*series, 0, len(m.order))
	for _, k := range m.order {
		ss := m.by[k]
		if len(ss) == 1 {
			out = append(out, ss[0])
			continue
		}
		out = append(out, merge(ss))
	}
	return out
}

// merge joins series with the same labels.
func merge(ss []*series) *series {
	res := &series{lset: ss[0].lset, counter: ss[0].counter}
	var hists []hpoint
	var floats []fpoint
	for _, s := range ss {
		hists = append(hists, s.hists...)
		floats = append(floats, s.floats...)
	}
	if len(hists) > 0 {
		slices.SortStableFunc(hists, func(a, b hpoint) int { return cmpInt(a.t, b.t) })
		for _, p := range hists {
			res.appendH(p.t, p.h)
		}
		return res
	}
	if !res.counter {
		slices.SortStableFunc(floats, func(a, b fpoint) int { return cmpInt(a.t, b.t) })
		for _, p := range floats {
			res.appendF(p.t, p.f)
		}
		return res
	}
	// Counters: at each sample time, the sum of every series' latest value.
	type ev struct {
		t   int64
		src int
		f   float64
	}
	var evs []ev
	for i, s := range ss {
		for _, p := range s.floats {
			evs = append(evs, ev{p.t, i, p.f})
		}
	}
	slices.SortStableFunc(evs, func(a, b ev) int { return cmpInt(a.t, b.t) })
	last := make([]float64, len(ss))
	total := 0.0
	for _, e := range evs {
		if math.IsNaN(e.f) {
			continue // a stale marker of one stream does not end the others
		}
		total += e.f - last[e.src]
		last[e.src] = e.f
		res.appendF(e.t, total)
	}
	return res
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// seriesSet implements storage.SeriesSet over built series.
type seriesSet struct {
	series []*series
	i      int
	warns  annotations.Annotations
}

func (s *seriesSet) Next() bool {
	if s.i >= len(s.series) {
		return false
	}
	s.i++
	return true
}

func (s *seriesSet) At() storage.Series                { return s.series[s.i-1] }
func (s *seriesSet) Err() error                        { return nil }
func (s *seriesSet) Warnings() annotations.Annotations { return s.warns }
