package statsd

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	ddstatsd "github.com/DataDog/datadog-go/v5/statsd"

	dec "github.com/fibinc/telltale/internal/decode/statsd"
	"github.com/fibinc/telltale/internal/ingest/cardinality"
	"github.com/fibinc/telltale/internal/pipeline"
	"github.com/fibinc/telltale/internal/selfmetrics"
	"github.com/fibinc/telltale/internal/telemetry"
)

// fakeAppender records the batches it commits. The next fail calls fail
// with err (pipeline.ErrOverloaded when nil).
type fakeAppender struct {
	mu      sync.Mutex
	batches []telemetry.Batch
	fail    int
	err     error
	calls   int
}

func (f *fakeAppender) Append(ctx context.Context, b *telemetry.Batch) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.fail > 0 {
		f.fail--
		if f.err != nil {
			return f.err
		}
		return fmt.Errorf("%w: test", pipeline.ErrOverloaded)
	}
	f.batches = append(f.batches, telemetry.Batch{Metrics: slices.Clone(b.Metrics)})
	return nil
}

func (f *fakeAppender) points() []telemetry.MetricPoint {
	f.mu.Lock()
	defer f.mu.Unlock()
	var all []telemetry.MetricPoint
	for _, b := range f.batches {
		all = append(all, b.Metrics...)
	}
	return all
}

// find returns the points with the given name and type.
func find(points []telemetry.MetricPoint, name, typ string) []telemetry.MetricPoint {
	var out []telemetry.MetricPoint
	for _, p := range points {
		if p.Name == name && p.Type == typ {
			out = append(out, p)
		}
	}
	return out
}

// one returns the single point with the given name and type.
func one(t *testing.T, points []telemetry.MetricPoint, name, typ string) telemetry.MetricPoint {
	t.Helper()
	ps := find(points, name, typ)
	if len(ps) != 1 {
		t.Fatalf("%d %s points named %q, want 1; all points: %v", len(ps), typ, name, names(points))
	}
	return ps[0]
}

func names(points []telemetry.MetricPoint) []string {
	var out []string
	for _, p := range points {
		out = append(out, p.Type+":"+p.Name+p.Attributes)
	}
	slices.Sort(out)
	return out
}

// started runs a server on loopback ports and returns it with a stop
// function that cancels Run and waits for its final flush.
func started(t *testing.T, opt Options) (*Server, func()) {
	t.Helper()
	if opt.UDPAddr == "" {
		opt.UDPAddr = "127.0.0.1:0"
	}
	if opt.TCPAddr == "" {
		opt.TCPAddr = "127.0.0.1:0"
	}
	if opt.FlushInterval == 0 {
		opt.FlushInterval = time.Hour // tests flush by stopping
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	s, err := Listen(opt)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run = %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return s, stop
}

// waitFor polls cond until it holds; the test's own timeout bounds it.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// seen reports whether the aggregator holds a series of that name.
func (a *aggregator) seen(name string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, m := range []map[uint64]*series{a.cur, a.gauges} {
		for _, s := range m {
			if s.meta.name == name {
				return true
			}
		}
	}
	return false
}

// sendMarker flushes the client, sends a marker gauge and waits until the
// server aggregated it. Loopback delivers datagrams and stream bytes in order
// into one socket read by one goroutine, so everything sent before is
// aggregated too.
func sendMarker(t *testing.T, s *Server, c *ddstatsd.Client, name string) {
	t.Helper()
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := c.Gauge(name, 1, nil, 1); err != nil {
		t.Fatal(err)
	}
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "marker "+name, func() bool { return s.agg.seen(name) })
}

func newClient(t *testing.T, addr string) *ddstatsd.Client {
	t.Helper()
	c, err := ddstatsd.New(addr, ddstatsd.WithoutTelemetry(), ddstatsd.WithoutOriginDetection(),
		ddstatsd.WithoutClientSideAggregation())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestClientUDP(t *testing.T) {
	app := &fakeAppender{}
	s, stop := started(t, Options{Appender: app, TCPAddr: Disabled})
	c := newClient(t, s.UDPAddr().String())
	check := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	webTags := []string{"env:prod", "service:web", "route:/a", "version:1.2", "host:h1"}
	for range 5 {
		check(c.Incr("req", webTags, 1))
	}
	check(c.Count("req", 10, []string{"route:/a", "host:h1", "version:1.2", "service:web", "env:prod"}, 1))
	check(c.Count("req", 7, []string{"route:/b"}, 1))
	check(c.Decr("req", []string{"route:/b"}, 1))
	check(c.Gauge("temp", 20, nil, 1))
	check(c.Gauge("temp", 21.5, nil, 1))
	for i := 1; i <= 100; i++ {
		check(c.Timing("lat", time.Duration(i)*time.Millisecond, []string{"service:api"}, 1))
	}
	for _, v := range []float64{3, 1, 2} {
		check(c.Histogram("size", v, nil, 1))
		check(c.Distribution("dist", v*10, nil, 1))
	}
	for _, u := range []string{"alice", "bob", "alice", "carol", "bob"} {
		check(c.Set("users", u, []string{"env:prod"}, 1))
	}
	// Client-side sampling is random: count what arrived.
	sendMarker(t, s, c, "test.marker1")
	linesBefore := s.lines.Load()
	for range 200 {
		check(c.Count("sampled", 1, nil, 0.5))
	}
	sendMarker(t, s, c, "test.marker2")
	sampledLines := s.lines.Load() - linesBefore - 1 // minus the marker
	stop()

	points := app.points()
	if len(app.batches) != 1 {
		t.Errorf("%d batches, want 1 (the final flush)", len(app.batches))
	}

	reqs := find(points, "req", telemetry.MetricSum)
	if len(reqs) != 2 {
		t.Fatalf("%d req series, want 2: %v", len(reqs), names(points))
	}
	slices.SortFunc(reqs, func(a, b telemetry.MetricPoint) int { return strings.Compare(a.Attributes, b.Attributes) })
	web, other := reqs[0], reqs[1]
	if web.Value != 15 || web.Attributes != `{"route":"/a"}` || web.ServiceName != "web" || web.Environment != "prod" ||
		web.ServiceVersion != "1.2" || web.Host != "h1" || web.Temporality != telemetry.TemporalityDelta || !web.Monotonic {
		t.Errorf("req{route:/a} = %+v", web)
	}
	if other.Value != 6 || other.Attributes != `{"route":"/b"}` || other.ServiceName != "statsd" || other.Environment != "" {
		t.Errorf("req{route:/b} = %+v", other)
	}
	if web.StartTime.IsZero() || !web.StartTime.Before(web.Time) || web.Scope.Name != Source {
		t.Errorf("req times %v..%v, scope %q", web.StartTime, web.Time, web.Scope.Name)
	}

	if g := one(t, points, "temp", telemetry.MetricGauge); g.Value != 21.5 || g.Temporality != "" {
		t.Errorf("temp = %+v", g)
	}

	h := one(t, points, "lat", telemetry.MetricHistogram)
	wantCounts := []uint64{0, 1, 1, 3, 5, 15, 25, 50, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	if h.Count != 100 || h.Sum != 5050 || !h.HasMin || h.Min != 1 || !h.HasMax || h.Max != 100 || h.Unit != "ms" ||
		h.ServiceName != "api" || h.Temporality != telemetry.TemporalityDelta ||
		!slices.Equal(h.BucketBounds, bucketBounds[:]) || !slices.Equal(h.BucketCounts, wantCounts) {
		t.Errorf("lat histogram = %+v", h)
	}
	sum := one(t, points, "lat.summary", telemetry.MetricSummary)
	if sum.Count != 100 || sum.Sum != 5050 || !slices.Equal(sum.Quantiles, []float64{0.5, 0.9, 0.95, 0.99}) ||
		!slices.Equal(sum.QuantileValues, []float64{50, 90, 95, 99}) || sum.SeriesID == h.SeriesID || !sum.StartTime.Equal(h.StartTime) {
		t.Errorf("lat summary = %+v", sum)
	}

	if h := one(t, points, "size", telemetry.MetricHistogram); h.Count != 3 || h.Sum != 6 || h.Min != 1 || h.Max != 3 || h.Unit != "" {
		t.Errorf("size histogram = %+v", h)
	}
	if s := one(t, points, "size.summary", telemetry.MetricSummary); !slices.Equal(s.QuantileValues, []float64{2, 3, 3, 3}) {
		t.Errorf("size summary quantiles = %v", s.QuantileValues)
	}
	if h := one(t, points, "dist", telemetry.MetricHistogram); h.Count != 3 || h.Sum != 60 || h.Min != 10 || h.Max != 30 {
		t.Errorf("dist histogram = %+v", h)
	}
	if g := one(t, points, "users", telemetry.MetricGauge); g.Value != 3 || g.Environment != "prod" {
		t.Errorf("users = %+v", g)
	}
	sampled := one(t, points, "sampled", telemetry.MetricSum)
	if sampledLines == 0 || sampled.Value != 2*float64(sampledLines) {
		t.Errorf("sampled = %v from %d lines at rate 0.5, want %d", sampled.Value, sampledLines, 2*sampledLines)
	}
	if got := s.opt.Metrics.Records.With("metrics", Source).Value(); got != uint64(len(points)) {
		t.Errorf("records counted = %d, want %d", got, len(points))
	}
}

func TestClientTCP(t *testing.T) {
	app := &fakeAppender{}
	s, stop := started(t, Options{Appender: app, UDPAddr: Disabled, MaxLineBytes: 100})
	conn, err := net.Dial("tcp", s.TCPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	// The client writes newline-terminated lines to any io.WriteCloser.
	c, err := ddstatsd.NewWithWriter(conn, ddstatsd.WithoutTelemetry(), ddstatsd.WithoutOriginDetection(),
		ddstatsd.WithoutClientSideAggregation())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := range 1000 {
		if err := c.Count("tcp.count", int64(i), []string{"k:v"}, 1); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Gauge("tcp.gauge", 7, nil, 1); err != nil {
		t.Fatal(err)
	}
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	// A raw line split across writes, a line over MaxLineBytes (100) and a
	// line over the 4 KiB read buffer are handled on the same stream.
	for _, part := range []string{"tcp.split:4", "|c\r\n", "tcp.long:1|c|#" + strings.Repeat("x", 150) + "\n",
		"tcp.huge:1|c|#" + strings.Repeat("y", 5000) + "\n", "tcp.split:5|c\n"} {
		if _, err := conn.Write([]byte(part)); err != nil {
			t.Fatal(err)
		}
	}
	sendMarker(t, s, c, "test.marker")
	stop()

	points := app.points()
	if p := one(t, points, "tcp.count", telemetry.MetricSum); p.Value != 999*1000/2 || p.Attributes != `{"k":"v"}` {
		t.Errorf("tcp.count = %v %s, want %d", p.Value, p.Attributes, 999*1000/2)
	}
	if p := one(t, points, "tcp.gauge", telemetry.MetricGauge); p.Value != 7 {
		t.Errorf("tcp.gauge = %v", p.Value)
	}
	if p := one(t, points, "tcp.split", telemetry.MetricSum); p.Value != 9 {
		t.Errorf("tcp.split = %v", p.Value)
	}
	if ps := find(points, "tcp.long", telemetry.MetricSum); len(ps) != 0 {
		t.Errorf("a line over MaxLineBytes was aggregated")
	}
	if got := s.opt.Metrics.Rejected.With("metrics", "too_long").Value(); got != 2 {
		t.Errorf("too_long rejects = %d, want 2", got)
	}
}

// A short flush interval flushes while packets arrive; gauges carry over.
func TestPeriodicFlush(t *testing.T) {
	app := &fakeAppender{}
	s, _ := started(t, Options{Appender: app, TCPAddr: Disabled, FlushInterval: 20 * time.Millisecond})
	c := newClient(t, s.UDPAddr().String())
	if err := c.Gauge("level", 3, nil, 1); err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		if err := c.Incr("ticks", nil, 1); err != nil {
			t.Fatal(err)
		}
		if i%10 == 0 {
			c.Flush()
		}
	}
	c.Flush()
	waitFor(t, "all ticks and several flushes with the gauge", func() bool {
		var ticks float64
		for _, p := range find(app.points(), "ticks", telemetry.MetricSum) {
			ticks += p.Value
		}
		return ticks == 50 && len(find(app.points(), "level", telemetry.MetricGauge)) >= 3
	})
	for _, p := range find(app.points(), "level", telemetry.MetricGauge) {
		if p.Value != 3 {
			t.Errorf("carried gauge = %v, want 3", p.Value)
		}
	}
}

// newTestServer returns a server whose sockets are disabled, for driving the
// aggregation and the flushes directly.
func newTestServer(t testing.TB, opt Options) *Server {
	t.Helper()
	opt.UDPAddr, opt.TCPAddr = Disabled, Disabled
	if opt.FlushInterval == 0 {
		opt.FlushInterval = 10 * time.Second
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	s, err := Listen(opt)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (s *Server) feed(lines ...string) {
	var m dec.Metric
	for _, l := range lines {
		for line := range dec.Lines([]byte(l)) {
			s.handleLine(line, &m)
		}
	}
}

func TestAggregation(t *testing.T) {
	s := newTestServer(t, Options{Appender: &fakeAppender{}, GaugeTTL: 20 * time.Second})
	t0 := time.Unix(1_700_000_000, 0)
	s.agg.start = t0
	flush := func(i int) []telemetry.MetricPoint { return s.agg.flush(t0.Add(time.Duration(i) * 10 * time.Second)) }

	s.feed("c:1|c|@0.1\nc:1|c|@0.1\nc:2:3|c",
		"g:10|g", "g:+5|g", "g:-3|g", "new:-2|g",
		"t:10|ms|@0.5", "t:30|ms|@0.5", "t:20|ms",
		"u:a:b:a|s", "u:c|s|@0.5",
		"tagged:1|c|#b:2,a:1,service:svc|c:cid", "tagged:1|c|#a:1,b:2,service:svc|c:cid", "tagged:1|c|#a:1,b:2,service:svc",
	)
	p1 := flush(1)
	if p := one(t, p1, "c", telemetry.MetricSum); p.Value != 25 || !p.StartTime.Equal(t0) || !p.Time.Equal(t0.Add(10*time.Second)) {
		t.Errorf("counter = %v [%v, %v], want 25", p.Value, p.StartTime, p.Time)
	}
	if p := one(t, p1, "g", telemetry.MetricGauge); p.Value != 12 || !p.StartTime.IsZero() {
		t.Errorf("gauge = %v, want 12", p.Value)
	}
	if p := one(t, p1, "new", telemetry.MetricGauge); p.Value != -2 {
		t.Errorf("delta on a new gauge = %v, want -2", p.Value)
	}
	h := one(t, p1, "t", telemetry.MetricHistogram)
	if h.Count != 5 || h.Sum != 100 || h.Min != 10 || h.Max != 30 {
		t.Errorf("timer with rates = count %d sum %v min %v max %v, want 5, 100, 10, 30", h.Count, h.Sum, h.Min, h.Max)
	}
	if sm := one(t, p1, "t.summary", telemetry.MetricSummary); sm.Count != 5 || sm.Sum != 100 ||
		!slices.Equal(sm.QuantileValues, []float64{20, 30, 30, 30}) {
		t.Errorf("timer summary = %d %v %v", sm.Count, sm.Sum, sm.QuantileValues)
	}
	if p := one(t, p1, "u", telemetry.MetricGauge); p.Value != 3 {
		t.Errorf("set = %v, want 3 (rates do not apply to sets)", p.Value)
	}
	tagged := find(p1, "tagged", telemetry.MetricSum)
	if len(tagged) != 2 {
		t.Fatalf("tagged series = %v, want 2 (with and without container)", names(p1))
	}
	slices.SortFunc(tagged, func(a, b telemetry.MetricPoint) int {
		return strings.Compare(a.Resource.Attributes, b.Resource.Attributes)
	})
	if p := tagged[0]; p.Value != 2 || p.Attributes != `{"a":"1","b":"2"}` || p.ServiceName != "svc" ||
		p.Resource.Attributes != `{"container.id":"cid"}` {
		t.Errorf("tagged with container = %+v", p)
	}
	if tagged[0].SeriesID == tagged[1].SeriesID {
		t.Errorf("the container id does not change the series id")
	}

	// Interval 2: counters, sets and timers start afresh; gauges carry on.
	s.feed("g:+1|g")
	p2 := flush(2)
	if len(p2) != 2 {
		t.Errorf("interval 2 points = %v, want the two gauges", names(p2))
	}
	if p := one(t, p2, "g", telemetry.MetricGauge); p.Value != 13 || !p.Time.Equal(t0.Add(20*time.Second)) {
		t.Errorf("gauge after delta = %v at %v, want 13", p.Value, p.Time)
	}
	// GaugeTTL is two intervals: "new" was last set in interval 1 and is
	// reported through interval 3, then forgotten.
	if got := names(flush(3)); !slices.Equal(got, []string{"gauge:g{}", "gauge:new{}"}) {
		t.Errorf("interval 3 = %v", got)
	}
	if got := names(flush(4)); !slices.Equal(got, []string{"gauge:g{}"}) {
		t.Errorf("interval 4 = %v", got)
	}
	if got := names(flush(5)); len(got) != 0 {
		t.Errorf("interval 5 = %v, want nothing", got)
	}
	// A forgotten gauge starts again from zero.
	s.feed("g:+1|g")
	if p := one(t, flush(6), "g", telemetry.MetricGauge); p.Value != 1 {
		t.Errorf("delta on a forgotten gauge = %v, want 1", p.Value)
	}
}

func TestReservoir(t *testing.T) {
	s := newTestServer(t, Options{Appender: &fakeAppender{}, MaxSamples: 100})
	var b strings.Builder
	for i := 1; i <= 10_000; i++ {
		fmt.Fprintf(&b, "r:%d|h\n", i)
	}
	s.feed(b.String())
	points := s.agg.flush(time.Now())
	h := one(t, points, "r", telemetry.MetricHistogram)
	if h.Count != 10_000 || h.Sum != 10_000*10_001/2 || h.Min != 1 || h.Max != 10_000 {
		t.Errorf("histogram = count %d sum %v min %v max %v", h.Count, h.Sum, h.Min, h.Max)
	}
	var inBuckets uint64
	for _, c := range h.BucketCounts {
		inBuckets += c
	}
	if inBuckets != h.Count {
		t.Errorf("buckets hold %d, count is %d", inBuckets, h.Count)
	}
	q := one(t, points, "r.summary", telemetry.MetricSummary).QuantileValues
	// 100 uniform samples of 1..10000: the median is near 5000. The bound
	// is loose enough never to fail by chance (p < 1e-9).
	if !slices.IsSorted(q) || q[0] < 2500 || q[0] > 7500 || q[3] < 9000 || q[3] != math.Trunc(q[3]) {
		t.Errorf("quantiles from the reservoir = %v", q)
	}
}

// Beyond the interval's sample budget, reservoirs stop growing; beyond the
// member budget, sets stop counting new members.
func TestBudgets(t *testing.T) {
	s := newTestServer(t, Options{Appender: &fakeAppender{}, MaxSamples: 100})
	s.agg.sampleBudget, s.agg.memberBudget = 150, 5
	var b strings.Builder
	for i := 1; i <= 1000; i++ {
		fmt.Fprintf(&b, "first:%d|d\nsecond:%d|d\n", i, i)
	}
	s.feed(b.String(), "late:1|d", "late:2|d", "u1:a:b:c|s", "u2:d:e:f:g|s", "u1:a|s")
	if got := s.opt.Metrics.Rejected.With("metrics", "set_too_large").Value(); got != 1 {
		t.Errorf("set_too_large = %d, want 1", got)
	}
	s.agg.mu.Lock()
	kept := map[string]int{}
	for _, sr := range s.agg.cur {
		if sr.dist != nil {
			kept[sr.meta.name] = len(sr.dist.samples)
		}
	}
	s.agg.mu.Unlock()
	// first and second grow in step to 75 each; late keeps one sample.
	if kept["first"] != 75 || kept["second"] != 75 || kept["late"] != 1 {
		t.Errorf("samples kept = %v, want first 75, second 75, late 1", kept)
	}
	points := s.agg.flush(time.Now())
	if h := one(t, points, "first", telemetry.MetricHistogram); h.Count != 1000 || h.Max != 1000 {
		t.Errorf("histogram beyond the budget = count %d max %v, want every sample", h.Count, h.Max)
	}
	if u1, u2 := one(t, points, "u1", telemetry.MetricGauge), one(t, points, "u2", telemetry.MetricGauge); u1.Value != 3 || u2.Value != 2 {
		t.Errorf("sets over the member budget = %v, %v, want 3, 2", u1.Value, u2.Value)
	}
	// The budgets are per interval.
	s.feed("u2:x:y|s")
	if u2 := one(t, s.agg.flush(time.Now()), "u2", telemetry.MetricGauge); u2.Value != 2 {
		t.Errorf("set in the next interval = %v, want 2", u2.Value)
	}
}

func TestCardinalityLimit(t *testing.T) {
	s := newTestServer(t, Options{Appender: &fakeAppender{}, MaxSeries: 3})
	s.feed("a:1|c", "b:1|g", "c:1|ms", "d:1|c", "a:1|c", "e:1|s", "b:2|g")
	points := s.agg.flush(time.Now())
	if got := names(points); !slices.Equal(got, []string{"gauge:b{}", "histogram:c{}", "sum:a{}", "summary:c.summary{}"}) {
		t.Errorf("points = %v", got)
	}
	if p := one(t, points, "a", telemetry.MetricSum); p.Value != 2 {
		t.Errorf("existing series must still be updated: a = %v", p.Value)
	}
	if got := s.opt.Metrics.Rejected.With("metrics", "cardinality").Value(); got != 2 {
		t.Errorf("cardinality rejects = %d, want 2", got)
	}
	// The next interval has room for two new series beside the kept gauge.
	s.feed("d:1|c", "e:1|s", "f:1|c")
	if got := names(s.agg.flush(time.Now())); !slices.Equal(got, []string{"gauge:b{}", "gauge:e{}", "sum:d{}"}) {
		t.Errorf("next interval = %v", got)
	}
	if got := s.opt.Metrics.Rejected.With("metrics", "cardinality").Value(); got != 3 {
		t.Errorf("cardinality rejects = %d, want 3", got)
	}
}

func TestOverloadRetry(t *testing.T) {
	app := &fakeAppender{fail: 2}
	s := newTestServer(t, Options{Appender: app, MaxSeries: 3})
	ctx := context.Background()
	t0 := time.Now()
	s.feed("a:1|c")
	s.flush(ctx, t0, false) // fails: a kept
	s.feed("a:2|c")
	s.flush(ctx, t0.Add(time.Second), false) // fails: both kept
	if len(app.batches) != 0 || len(s.pending) != 2 {
		t.Fatalf("after two failures: %d batches, %d pending", len(app.batches), len(s.pending))
	}
	s.feed("a:4|c")
	s.flush(ctx, t0.Add(2*time.Second), false) // succeeds with all three
	points := app.points()
	if len(app.batches) != 1 || len(points) != 3 {
		t.Fatalf("after recovery: %d batches, points %v", len(app.batches), names(points))
	}
	for i, want := range []float64{1, 2, 4} {
		if p := points[i]; p.Value != want || !p.Time.Equal(t0.Add(time.Duration(i)*time.Second)) {
			t.Errorf("point %d = %v at %v, want %v in interval %d", i, p.Value, p.Time, want, i)
		}
	}
	rec := s.opt.Metrics.Records.With("metrics", Source)
	if rec.Value() != 3 {
		t.Errorf("records counted = %d, want 3", rec.Value())
	}

	// The retry queue holds at most 2 × MaxSeries = 6 points; the oldest go.
	app.fail = 3
	for i := range 3 {
		s.feed("x:1|c", "y:1|c", "z:1|ms") // 4 points per interval
		s.flush(ctx, t0.Add(time.Duration(10+i)*time.Second), false)
	}
	if len(s.pending) != 6 {
		t.Errorf("pending = %d points, want 6", len(s.pending))
	}
	if got := s.opt.Metrics.Rejected.With("metrics", "overloaded").Value(); got != 6 {
		t.Errorf("dropped as overloaded = %d, want 6", got)
	}
	if !s.pending[0].Time.Equal(t0.Add(11 * time.Second)) {
		t.Errorf("oldest pending point is from %v, want the second interval", s.pending[0].Time)
	}

	// The final flush does not retry: what fails is dropped and counted.
	app.fail, app.err = 1, pipeline.ErrStopped
	s.feed("a:1|c")
	s.flush(ctx, t0.Add(time.Minute), true)
	if got := s.opt.Metrics.Rejected.With("metrics", "shutdown").Value(); got != 7 {
		t.Errorf("dropped at shutdown = %d, want 7", got)
	}
	if len(s.pending) != 0 {
		t.Errorf("pending after the final flush = %d", len(s.pending))
	}
}

// logCounter counts log records by message.
type logCounter struct {
	mu   sync.Mutex
	msgs []string
	errs []string // the err attribute of each line that has one
}

func (h *logCounter) Enabled(context.Context, slog.Level) bool { return true }
func (h *logCounter) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.msgs = append(h.msgs, r.Message)
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "err" {
			h.errs = append(h.errs, a.Value.String())
		}
		return true
	})
	return nil
}
func (h *logCounter) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *logCounter) WithGroup(string) slog.Handler      { return h }

func TestRejects(t *testing.T) {
	logs := &logCounter{}
	reg := selfmetrics.New()
	s := newTestServer(t, Options{Appender: &fakeAppender{}, Metrics: selfmetrics.NewIngest(reg), Logger: slog.New(logs)})
	s.feed("a:x|c", "a:y|c", "a:z|c", ":1|c", "a:1|q", "a:1|c|@2", "a:1|c|#:x", "_e{1,1}:a|b", "_sc|c|0", "ok:1|c")
	want := map[string]uint64{"bad_value": 3, "empty_name": 1, "bad_type": 1, "bad_rate": 1, "bad_tag": 1, "event": 1, "service_check": 1}
	for reason, n := range want {
		if got := s.opt.Metrics.Rejected.With("metrics", reason).Value(); got != n {
			t.Errorf("rejects %s = %d, want %d", reason, got, n)
		}
	}
	// One log line per reason, not per line.
	if len(logs.msgs) != len(want) {
		t.Errorf("%d log lines for %d reasons: %v", len(logs.msgs), len(want), logs.msgs)
	}
	var text strings.Builder
	if err := reg.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text.String(), `telltale_ingest_rejected_total{signal="metrics",reason="bad_value"} 3`) {
		t.Errorf("exposition lacks the bad_value count:\n%s", text.String())
	}
	if got := names(s.agg.flush(time.Now())); !slices.Equal(got, []string{"sum:ok{}"}) {
		t.Errorf("points = %v", got)
	}
}

func TestListenErrors(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, err = Listen(Options{Appender: &fakeAppender{}, UDPAddr: "127.0.0.1:0", TCPAddr: l.Addr().String()})
	if err == nil || !strings.Contains(err.Error(), "cannot listen for StatsD on TCP") {
		t.Errorf("Listen on a busy TCP port = %v", err)
	}
	s, err := Listen(Options{Appender: &fakeAppender{}, UDPAddr: Disabled, TCPAddr: Disabled})
	if err != nil || s.UDPAddr() != nil || s.TCPAddr() != nil {
		t.Errorf("Listen with both disabled = %v, %v, %v", err, s.UDPAddr(), s.TCPAddr())
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close = %v", err)
	}
}

func TestRunStopsOnContext(t *testing.T) {
	app := &fakeAppender{}
	s, stop := started(t, Options{Appender: app})
	conn, err := net.Dial("tcp", s.TCPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte("open:1|c\n")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the line", func() bool { return s.agg.seen("open") })
	stop() // must not hang on the open connection
	if got := names(app.points()); !slices.Equal(got, []string{"sum:open{}"}) {
		t.Errorf("final flush = %v", got)
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close after Run = %v", err)
	}
}

func BenchmarkParseAggregate(b *testing.B) {
	s := newTestServer(b, Options{Appender: &fakeAppender{}})
	// 1000 series of each kind, with DogStatsD tags.
	var lines [][]byte
	for i := range 1000 {
		tags := fmt.Sprintf("|#env:prod,service:svc%d,route:/r%d,status:200", i%10, i)
		lines = append(lines,
			[]byte(fmt.Sprintf("api.requests:1|c%s", tags)),
			[]byte(fmt.Sprintf("api.latency:%d.5|ms|@0.5%s", i%300, tags)),
			[]byte(fmt.Sprintf("queue.depth:%d|g%s", i, tags)),
			[]byte(fmt.Sprintf("users:u%d|s%s", i%97, tags)))
	}
	var m dec.Metric
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		s.handleLine(lines[i%len(lines)], &m)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lines/s")
}

// BenchmarkTCPIngest measures lines/s through a real TCP socket, parsing and
// aggregation included (TCP, unlike UDP, loses nothing, so every line is
// counted).
func BenchmarkTCPIngest(b *testing.B) {
	s, err := Listen(Options{Appender: &fakeAppender{}, UDPAddr: Disabled, TCPAddr: "127.0.0.1:0",
		FlushInterval: time.Hour, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	defer func() { cancel(); <-done }()
	conn, err := net.Dial("tcp", s.TCPAddr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	// A 64 KiB chunk of lines of 1000 series.
	var chunk []byte
	lines := 0
	for i := 0; len(chunk) < 60<<10; i++ {
		chunk = fmt.Appendf(chunk, "api.latency:%d|ms|#env:prod,service:svc%d,route:/r%d\napi.requests:1|c|#route:/r%d\n",
			i%300, i%10, i%1000, i%1000)
		lines += 2
	}
	b.SetBytes(int64(len(chunk)))
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		if _, err := conn.Write(chunk); err != nil {
			b.Fatal(err)
		}
	}
	// Lines still in socket buffers count in the time too.
	want := uint64(b.N * lines)
	for s.lines.Load() < want {
		time.Sleep(100 * time.Microsecond)
	}
	b.ReportMetric(float64(want)/time.Since(start).Seconds(), "lines/s")
}

// TestTimestamps checks |T: timestamped counters and gauges become points
// at their own time, outside the interval's aggregates; lines of one series
// and second make one point; other types ignore |T; timestamps outside the
// window are rejected.
func TestTimestamps(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	window := func(telemetry.Signal) (time.Time, time.Time) { return t0.Add(-time.Hour), t0.Add(time.Hour) }
	s := newTestServer(t, Options{Appender: &fakeAppender{}, Window: window})
	s.agg.start = t0
	ts1, ts2 := t0.Add(-10*time.Minute), t0.Add(-5*time.Minute)
	T := func(t time.Time) string { return fmt.Sprintf("|T%d", t.Unix()) }
	s.feed(
		"c:1|c"+T(ts1), "c:2|c|@0.5"+T(ts1), "c:3|c"+T(ts2), "c:5|c",
		"g:3|g"+T(ts1), "g:4|g"+T(ts1), "g:-2|g"+T(ts2), "g:10|g", "g:+1|g",
		"t:5|ms"+T(ts1), "t:7|ms",
		"old:1|c"+T(t0.Add(-2*time.Hour)), "new:1|g"+T(t0.Add(2*time.Hour)),
	)
	points := s.agg.flush(t0.Add(10 * time.Second))
	type key struct {
		name, typ string
		at        int64 // Unix seconds
	}
	got := map[key]float64{}
	for _, p := range points {
		switch p.Type {
		case telemetry.MetricHistogram:
			got[key{p.Name, p.Type, p.Time.Unix()}] = float64(p.Count)
		case telemetry.MetricSum, telemetry.MetricGauge:
			got[key{p.Name, p.Type, p.Time.Unix()}] = p.Value
		}
	}
	flushed := t0.Add(10 * time.Second).Unix()
	want := map[key]float64{
		{"c", telemetry.MetricSum, ts1.Unix()}:    5, // 1 + 2/0.5
		{"c", telemetry.MetricSum, ts2.Unix()}:    3,
		{"c", telemetry.MetricSum, flushed}:       5,
		{"g", telemetry.MetricGauge, ts1.Unix()}:  4,
		{"g", telemetry.MetricGauge, ts2.Unix()}:  -2, // a sign is part of a timestamped value
		{"g", telemetry.MetricGauge, flushed}:     11, // untouched by the timestamped lines
		{"t", telemetry.MetricHistogram, flushed}: 2,  // |T ignored
	}
	if !maps.Equal(got, want) {
		t.Errorf("points:\n got %v\nwant %v", got, want)
	}
	for _, p := range find(points, "c", telemetry.MetricSum) {
		if p.Time.Equal(ts1) && (!p.StartTime.IsZero() || p.Temporality != telemetry.TemporalityDelta || !p.Monotonic) {
			t.Errorf("timestamped counter = %+v, want a delta sum without start time", p)
		}
	}
	for reason, n := range map[string]uint64{"too_old": 1, "too_new": 1} {
		if got := s.opt.Metrics.Rejected.With("metrics", reason).Value(); got != n {
			t.Errorf("rejects %s = %d, want %d", reason, got, n)
		}
	}
	// Timestamped points are sent once, not carried to the next interval.
	if got := names(s.agg.flush(t0.Add(20 * time.Second))); !slices.Equal(got, []string{"gauge:g{}"}) {
		t.Errorf("next interval = %v, want the interval gauge only", got)
	}
}

// TestClientTimestamps sends timestamped counts and gauges with the
// DataDog client over real UDP packets.
func TestClientTimestamps(t *testing.T) {
	app := &fakeAppender{}
	s, stop := started(t, Options{Appender: app, TCPAddr: Disabled})
	c := newClient(t, s.UDPAddr().String())
	at := time.Now().Add(-3 * time.Minute).Truncate(time.Second)
	tags := []string{"service:batch", "job:import"}
	for _, err := range []error{
		c.CountWithTimestamp("rows", 40, tags, 1, at),
		c.CountWithTimestamp("rows", 2, tags, 1, at),
		c.CountWithTimestamp("rows", 7, tags, 1, at.Add(time.Minute)),
		c.GaugeWithTimestamp("lag", 12.5, tags, 1, at),
		c.Count("rows", 1, tags, 1),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	sendMarker(t, s, c, "marker")
	stop()
	got := map[string]float64{}
	for _, p := range app.points() {
		if p.ServiceName != "batch" && p.Name != "marker" {
			t.Errorf("point %s has service %q", p.Name, p.ServiceName)
		}
		when := "flush"
		if p.Time.Equal(at) {
			when = "at"
		} else if p.Time.Equal(at.Add(time.Minute)) {
			when = "at+1m"
		}
		got[p.Type+" "+p.Name+" "+when] = p.Value
	}
	want := map[string]float64{"sum rows at": 42, "sum rows at+1m": 7, "gauge lag at": 12.5, "sum rows flush": 1, "gauge marker flush": 1}
	if !maps.Equal(got, want) {
		t.Errorf("points:\n got %v\nwant %v", got, want)
	}
}

// TestSeriesLimitPerMetric checks the shared per-metric series limit: lines
// of new series of a metric at its limit are rejected with reason
// "cardinality" and a message naming the metric, in every interval, while
// its existing series and other metrics go on.
func TestSeriesLimitPerMetric(t *testing.T) {
	logs := &logCounter{}
	lim := cardinality.New(cardinality.Options{MaxSeriesPerMetric: 2})
	s := newTestServer(t, Options{Appender: &fakeAppender{}, Series: lim, Logger: slog.New(logs)})
	lines := []string{"req:1|c|#route:a", "req:1|c|#route:b", "req:1|c|#route:c", "other:1|c|#route:c",
		"lat:1|ms|#route:a", "lat:1|ms|#route:b", "lat:1|ms|#route:c", "temp:1|g|#room:a", "temp:1|g|#room:b", "temp:1|g|#room:c"}
	s.feed(lines...)
	want := []string{"gauge:temp{\"room\":\"a\"}", "gauge:temp{\"room\":\"b\"}",
		"histogram:lat{\"route\":\"a\"}", "histogram:lat{\"route\":\"b\"}",
		"sum:other{\"route\":\"c\"}", "sum:req{\"route\":\"a\"}", "sum:req{\"route\":\"b\"}",
		"summary:lat.summary{\"route\":\"a\"}", "summary:lat.summary{\"route\":\"b\"}"}
	if got := names(s.agg.flush(time.Now())); !slices.Equal(got, want) {
		t.Errorf("points:\n got %v\nwant %v", got, want)
	}
	// The next interval: the counters and timers start afresh, and still
	// only their first two series are admitted.
	s.feed(lines...)
	if got := names(s.agg.flush(time.Now())); !slices.Equal(got, want) {
		t.Errorf("next interval:\n got %v\nwant %v", got, want)
	}
	if got := s.opt.Metrics.Rejected.With("metrics", "cardinality").Value(); got != 6 {
		t.Errorf("cardinality rejects = %d, want 6", got)
	}
	if len(logs.msgs) != 1 || len(logs.errs) != 1 || !strings.Contains(logs.errs[0], `metric "req" has reached its limit of 2 active series`) {
		t.Errorf("log = %v %v, want one line naming req and the limit", logs.msgs, logs.errs)
	}
}
