package promql

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"hash/fnv"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	prom "github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/fibinc/telltale/internal/query"
	"github.com/fibinc/telltale/internal/store/duckdb"
	"github.com/fibinc/telltale/internal/telemetry"
)

var update = flag.Bool("update", false, "rewrite the expected results in testdata/*.test")

// testBase is time 0 of the test files.
var testBase = time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)

// TestGolden runs the scripts in testdata/*.test: load series into a real
// store, evaluate expressions, compare with the results written under each
// eval. testdata/README.md describes the format.
func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/*.test")
	if err != nil || len(files) == 0 {
		t.Fatalf("no test files: %v", err)
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".test"), func(t *testing.T) {
			t.Parallel()
			in, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			got := runScript(t, string(in))
			if *update {
				if err := os.WriteFile(f, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if got != string(in) {
				t.Errorf("results differ from %s (run with -update to accept):\n%s", f, lineDiff(string(in), got))
			}
		})
	}
}

// newTestEngine opens a store in a temporary directory with points written.
func newTestEngine(t testing.TB, points []telemetry.MetricPoint) *Engine {
	t.Helper()
	ctx := context.Background()
	st, err := duckdb.Open(ctx, duckdb.Options{Dir: t.TempDir(), MemoryLimit: "512MB"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	for len(points) > 0 {
		n := min(len(points), 100_000)
		if err := st.Write(ctx, &telemetry.Batch{Metrics: points[:n]}); err != nil {
			t.Fatal(err)
		}
		points = points[n:]
	}
	qs, err := query.New(query.Options{Store: st, Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	e, err := New(Options{Query: qs})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// runScript runs a test script and returns it with every eval's result
// block replaced by the results.
func runScript(t *testing.T, script string) string {
	lines := strings.Split(strings.TrimRight(script, "\n"), "\n")
	var (
		out    strings.Builder
		points []telemetry.MetricPoint
		engine *Engine
	)
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		fields := strings.Fields(line)
		switch {
		case len(fields) == 0 || strings.HasPrefix(line, "#"):
			out.WriteString(line + "\n")
		case fields[0] == "load":
			if engine != nil {
				t.Fatalf("line %d: load after eval", i+1)
			}
			out.WriteString(line + "\n")
			interval, err := model.ParseDuration(strings.TrimSpace(strings.TrimPrefix(line, "load")))
			if err != nil {
				t.Fatalf("line %d: %v", i+1, err)
			}
			for i+1 < len(lines) && strings.HasPrefix(lines[i+1], "  ") {
				i++
				out.WriteString(lines[i] + "\n")
				if strings.HasPrefix(strings.TrimSpace(lines[i]), "#") {
					continue
				}
				ps, err := parseSeries(strings.TrimSpace(lines[i]), time.Duration(interval))
				if err != nil {
					t.Fatalf("line %d: %v", i+1, err)
				}
				points = append(points, ps...)
			}
		case fields[0] == "eval":
			if engine == nil {
				engine = newTestEngine(t, points)
			}
			out.WriteString(line + "\n")
			for i+1 < len(lines) && strings.HasPrefix(lines[i+1], "  ") {
				i++ // the old results
			}
			res, err := evalLine(engine, line)
			if err != nil {
				t.Fatalf("line %d: %v", i+1, err)
			}
			out.WriteString(res)
		default:
			t.Fatalf("line %d: unknown directive %q", i+1, fields[0])
		}
	}
	return out.String()
}

// evalLine evaluates "eval instant at <t> <expr>" or
// "eval range from <t> to <t> step <d> <expr>" and returns its results,
// indented.
func evalLine(e *Engine, line string) (string, error) {
	f := strings.Fields(line)
	ctx := context.Background()
	var (
		q     prom.Query
		err   error
		steps []int64
	)
	switch {
	case len(f) > 4 && f[1] == "instant" && f[2] == "at":
		at, perr := model.ParseDuration(f[3])
		if perr != nil {
			return "", perr
		}
		q, err = e.InstantQuery(ctx, exprAfter(line, 4), testBase.Add(time.Duration(at)), 0)
	case len(f) > 8 && f[1] == "range" && f[2] == "from" && f[4] == "to" && f[6] == "step":
		var d [3]model.Duration
		for i, s := range []string{f[3], f[5], f[7]} {
			if d[i], err = model.ParseDuration(s); err != nil {
				return "", err
			}
		}
		start, end := testBase.Add(time.Duration(d[0])), testBase.Add(time.Duration(d[1]))
		for t := start; !t.After(end); t = t.Add(time.Duration(d[2])) {
			steps = append(steps, t.UnixMilli())
		}
		q, err = e.RangeQuery(ctx, exprAfter(line, 8), start, end, time.Duration(d[2]), 0)
	default:
		return "", fmt.Errorf("cannot parse eval line %q", line)
	}
	if err != nil {
		return "  error: " + err.Error() + "\n", nil
	}
	defer q.Close()
	res := q.Exec(ctx)
	if res.Err != nil {
		return "  error: " + res.Err.Error() + "\n", nil
	}
	var b strings.Builder
	switch v := res.Value.(type) {
	case prom.Vector:
		slices.SortFunc(v, func(a, b prom.Sample) int { return labels.Compare(a.Metric, b.Metric) })
		for _, s := range v {
			if s.H != nil {
				fmt.Fprintf(&b, "  %s %s\n", s.Metric, s.H)
			} else {
				fmt.Fprintf(&b, "  %s %s\n", s.Metric, formatValue(s.F))
			}
		}
		if len(v) == 0 {
			b.WriteString("  (empty)\n")
		}
	case prom.Matrix:
		slices.SortFunc(v, func(a, b prom.Series) int { return labels.Compare(a.Metric, b.Metric) })
		for _, s := range v {
			fmt.Fprintf(&b, "  %s", s.Metric)
			fs, hs := s.Floats, s.Histograms
			for _, t := range steps {
				switch {
				case len(fs) > 0 && fs[0].T == t:
					fmt.Fprintf(&b, " %s", formatValue(fs[0].F))
					fs = fs[1:]
				case len(hs) > 0 && hs[0].T == t:
					fmt.Fprintf(&b, " %s", hs[0].H)
					hs = hs[1:]
				default:
					b.WriteString(" _")
				}
			}
			b.WriteString("\n")
		}
		if len(v) == 0 {
			b.WriteString("  (empty)\n")
		}
	case prom.Scalar:
		fmt.Fprintf(&b, "  scalar %s\n", formatValue(v.V))
	default:
		fmt.Fprintf(&b, "  %s\n", v)
	}
	for _, w := range res.Warnings.AsErrors() {
		fmt.Fprintf(&b, "  warning: %v\n", w)
	}
	return b.String(), nil
}

// exprAfter returns what follows the first n fields of line.
func exprAfter(line string, n int) string {
	s := strings.TrimSpace(line)
	for range n {
		s = strings.TrimSpace(s[strings.IndexAny(s, " \t"):])
	}
	return s
}

// formatValue rounds to 10 significant digits, so that results do not
// depend on the last bits of floating-point arithmetic.
func formatValue(f float64) string {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return strconv.FormatFloat(f, 'f', -1, 64)
	}
	v, _ := strconv.ParseFloat(strconv.FormatFloat(f, 'g', 10, 64), 64)
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// parseSeries parses a series line of a load block:
//
//	<type> [delta|cumulative] [monotonic] <selector> [key=value...] : <values>
func parseSeries(line string, interval time.Duration) ([]telemetry.MetricPoint, error) {
	head, values, ok := strings.Cut(line, " : ")
	if !ok {
		return nil, errors.New(`series line lacks " : " before its values`)
	}
	words := strings.Fields(head)
	var base telemetry.MetricPoint
	base.Resource.ServiceName = "test"
	base.Resource.Attributes = "{}"
	switch words[0] {
	case "gauge":
		base.Type = telemetry.MetricGauge
	case "sum":
		base.Type = telemetry.MetricSum
	case "histogram":
		base.Type = telemetry.MetricHistogram
	case "exphist":
		base.Type = telemetry.MetricExponentialHistogram
	case "summary":
		base.Type = telemetry.MetricSummary
	default:
		return nil, fmt.Errorf("unknown type %q", words[0])
	}
	words = words[1:]
	for len(words) > 0 {
		switch words[0] {
		case "delta":
			base.Temporality = telemetry.TemporalityDelta
		case "cumulative":
			base.Temporality = telemetry.TemporalityCumulative
		case "monotonic":
			base.Monotonic = true
		default:
			goto selector
		}
		words = words[1:]
	}
selector:
	// The selector may hold spaces inside quotes; it ends at the first
	// word after it that is key=value outside braces.
	sel := strings.Join(words, " ")
	var opts []string
	if i := selectorEnd(sel); i >= 0 {
		opts = strings.Fields(sel[i+1:])
		sel = sel[:i+1]
	} else if len(words) > 0 {
		sel, opts = words[0], words[1:]
	}
	lset, err := parser.NewParser(parser.Options{}).ParseMetric(sel)
	if err != nil {
		return nil, fmt.Errorf("cannot parse selector %q: %w", sel, err)
	}
	attrs := map[string]string{}
	lset.Range(func(l labels.Label) {
		if l.Name == labels.MetricName {
			base.Name = l.Value
		} else {
			attrs[l.Name] = l.Value
		}
	})
	base.Attributes = jsonObject(attrs)
	start := time.Duration(0)
	fresh := false
	resAttrs := map[string]string{}
	for _, o := range opts {
		k, v, _ := strings.Cut(o, "=")
		switch k {
		case "unit":
			base.Unit = v
		case "desc":
			base.Description = strings.ReplaceAll(v, "_", " ")
		case "service":
			base.Resource.ServiceName = v
		case "instance":
			base.Resource.InstanceID = v
		case "env":
			base.Resource.Environment = v
		case "host":
			base.Resource.Host = v
		case "version":
			base.Resource.ServiceVersion = v
		case "namespace":
			resAttrs["service.namespace"] = v
		case "pid":
			resAttrs["process.pid"] = v
		case "bounds":
			for _, s := range strings.Split(v, ",") {
				f, err := strconv.ParseFloat(s, 64)
				if err != nil {
					return nil, fmt.Errorf("bad bound %q", s)
				}
				base.BucketBounds = append(base.BucketBounds, f)
			}
		case "start":
			d, err := model.ParseDuration(v)
			if err != nil {
				return nil, err
			}
			start = time.Duration(d)
		case "fresh":
			fresh = true // every point starts a new stream, as StatsD summaries do
		default:
			return nil, fmt.Errorf("unknown option %q", o)
		}
	}
	base.Resource.Attributes = jsonObject(resAttrs)
	h := fnv.New64a()
	fmt.Fprint(h, base.Name, base.Attributes, base.Resource)
	base.SeriesID = h.Sum64()

	vals, err := expandValues(values)
	if err != nil {
		return nil, err
	}
	var out []telemetry.MetricPoint
	streamStart := testBase.Add(start)
	for i, v := range vals {
		if v.missing {
			continue
		}
		p := base
		p.Time = testBase.Add(time.Duration(i) * interval)
		if v.restart {
			streamStart = p.Time.Add(-interval / 2)
		}
		switch {
		case base.Type == telemetry.MetricGauge:
		case base.Temporality == telemetry.TemporalityDelta || fresh:
			p.StartTime = p.Time.Add(-interval)
		default:
			p.StartTime = streamStart
		}
		if v.stale {
			p.Flags = 1
			p.Value = math.NaN()
			out = append(out, p)
			continue
		}
		if err := v.apply(&p); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// selectorEnd returns the index of the } that closes a selector, outside
// quotes, or -1.
func selectorEnd(s string) int {
	quoted := false
	for i := 0; i < len(s); i++ {
		switch {
		case quoted && s[i] == '\\':
			i++
		case s[i] == '"':
			quoted = !quoted
		case !quoted && s[i] == '}':
			return i
		}
	}
	return -1
}

func jsonObject(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%q:%q", k, m[k])
	}
	b.WriteByte('}')
	return b.String()
}

// testValue is one point's value: a list of numbers whose meaning depends
// on the type (see testdata/README.md), added element-wise by a+bxN.
type testValue struct {
	missing, stale, restart bool
	lit                     string // the literal, for types that need no arithmetic
	nums                    []float64
}

// expandValues expands "1 2 _ 3+1x3 !5 S" into one value per interval.
func expandValues(s string) ([]testValue, error) {
	var out []testValue
	for _, tok := range strings.Fields(s) {
		restart := strings.HasPrefix(tok, "!")
		tok = strings.TrimPrefix(tok, "!")
		n := 0
		if i := strings.LastIndex(tok, "x"); i > 0 {
			var err error
			if n, err = strconv.Atoi(tok[i+1:]); err != nil {
				return nil, fmt.Errorf("bad repetition in %q", tok)
			}
			tok = tok[:i]
		}
		switch tok {
		case "_":
			for range max(n, 1) {
				out = append(out, testValue{missing: true})
			}
			continue
		case "S":
			out = append(out, testValue{stale: true})
			continue
		}
		a, b, hasInc := strings.Cut(tok, "+")
		va, err := parseNums(a)
		if err != nil {
			return nil, err
		}
		vb := make([]float64, len(va))
		if hasInc {
			if vb, err = parseNums(b); err != nil {
				return nil, err
			}
			if len(vb) != len(va) {
				return nil, fmt.Errorf("increment %q does not have the shape of %q", b, a)
			}
		}
		for k := 0; k <= n; k++ {
			v := testValue{restart: restart && k == 0, lit: a, nums: make([]float64, len(va))}
			for j := range va {
				v.nums[j] = va[j] + float64(k)*vb[j]
			}
			out = append(out, v)
		}
	}
	return out, nil
}

// parseNums reads the numbers of a literal, whatever separates them
// (, : ; / = and the letters of the exponential histogram parts).
func parseNums(s string) ([]float64, error) {
	var out []float64
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return strings.ContainsRune(",:;/=eznpsm", r) }) {
		v, err := strconv.ParseFloat(f, 64)
		if err != nil {
			return nil, fmt.Errorf("bad number %q in %q", f, s)
		}
		out = append(out, v)
	}
	return out, nil
}

// apply sets the value fields of p from v.
func (v testValue) apply(p *telemetry.MetricPoint) error {
	n := v.nums
	switch p.Type {
	case telemetry.MetricGauge, telemetry.MetricSum:
		if len(n) != 1 {
			return fmt.Errorf("%s value %q is not one number", p.Type, v.lit)
		}
		p.Value = n[0]
	case telemetry.MetricHistogram:
		// c0,c1,...,ck:sum with k = len(bounds)
		if len(n) != len(p.BucketBounds)+2 {
			return fmt.Errorf("histogram value %q needs %d bucket counts and a sum", v.lit, len(p.BucketBounds)+1)
		}
		p.BucketCounts = make([]uint64, len(n)-1)
		for i := range p.BucketCounts {
			p.BucketCounts[i] = uint64(n[i])
			p.Count += uint64(n[i])
		}
		p.Sum = n[len(n)-1]
	case telemetry.MetricExponentialHistogram:
		// s<scale>;z<zero>;p<offset>:c,c,...;n<offset>:c,c,...;m<sum>: the
		// shape comes from the literal, the numbers from nums.
		parts := strings.Split(v.lit, ";")
		k := 0
		take := func() float64 { k++; return n[k-1] }
		for _, part := range parts {
			if part == "" {
				continue
			}
			cnt := len(strings.FieldsFunc(part[1:], func(r rune) bool { return r == ',' || r == ':' }))
			switch part[0] {
			case 's':
				p.ExpScale = int32(take())
			case 'z':
				p.ExpZeroCount = uint64(take())
			case 'm':
				p.Sum = take()
			case 'p', 'n':
				off := int32(take())
				cs := make([]uint64, cnt-1)
				for i := range cs {
					cs[i] = uint64(take())
				}
				if part[0] == 'p' {
					p.ExpPositiveOffset, p.ExpPositiveCounts = off, cs
				} else {
					p.ExpNegativeOffset, p.ExpNegativeCounts = off, cs
				}
			default:
				return fmt.Errorf("bad exponential histogram part %q", part)
			}
		}
		p.Count = p.ExpZeroCount
		for _, c := range slices.Concat(p.ExpPositiveCounts, p.ExpNegativeCounts) {
			p.Count += c
		}
	case telemetry.MetricSummary:
		// count:sum:q=v,q=v
		if len(n) < 2 || len(n)%2 != 0 {
			return fmt.Errorf("summary value %q is not count:sum:q=v,...", v.lit)
		}
		p.Count, p.Sum = uint64(n[0]), n[1]
		for i := 2; i < len(n); i += 2 {
			p.Quantiles = append(p.Quantiles, n[i])
			p.QuantileValues = append(p.QuantileValues, n[i+1])
		}
	}
	return nil
}

// lineDiff shows the lines that differ.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	for i := range max(len(w), len(g)) {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			fmt.Fprintf(&b, "line %d:\n  want %q\n  got  %q\n", i+1, wl, gl)
		}
	}
	return b.String()
}
