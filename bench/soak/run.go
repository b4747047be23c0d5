package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	colmetricspb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"

	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
)

// load is one kind of sender in a phase.
type load struct {
	signal   string        // logs, spans, metrics, errors or statsd
	senders  int           // concurrent senders
	records  int           // records per request (StatsD: lines per packet)
	size     int           // bytes of each log body; padding of each event
	interval time.Duration // least time between a sender's requests; 0: as fast as answers come
}

type phase struct {
	name  string
	share float64 // of the whole duration
	loads []load
}

// steady is a load well within what the server commits on two shared cores
// (about 20,000 logs, 10,000 spans and 5,000 points a second).
var steady = []load{
	{signal: "logs", senders: 2, records: 1000, size: 80, interval: 100 * time.Millisecond},
	{signal: "spans", senders: 2, records: 500, size: 40, interval: 100 * time.Millisecond},
	{signal: "metrics", senders: 1, records: 500, interval: 100 * time.Millisecond},
	{signal: "errors", senders: 2, records: 1, size: 200, interval: 50 * time.Millisecond},
	{signal: "statsd", senders: 1, records: 20, interval: 10 * time.Millisecond},
}

// phases: steady, then an overload of many senders of large bodies, as fast
// as the server answers (far above what it commits), then steady again.
var phases = []phase{
	{name: "steady", share: 0.4, loads: steady},
	{name: "overload", share: 0.3, loads: []load{
		{signal: "logs", senders: 24, records: 10000, size: 400},
		{signal: "spans", senders: 12, records: 10000, size: 60},
		{signal: "metrics", senders: 6, records: 10000},
		{signal: "errors", senders: 32, records: 1, size: 20000},
		{signal: "statsd", senders: 2, records: 50, interval: time.Millisecond},
	}},
	{name: "recovery", share: 0.3, loads: steady},
}

var signalOrder = []string{"logs", "spans", "metrics", "errors", "statsd"}

// request is what the driver knows of one request sent: its number (the
// high bits of its records' ids), how many records it carried, the answer
// and how many records the answer acknowledged.
type request struct {
	Signal string `json:"s"`
	N      uint64 `json:"n"` // the request number
	Count  int    `json:"c"` // records sent
	Status int    `json:"st"`
	Acked  int    `json:"a"`
	Doubt  bool   `json:"d,omitempty"` // no answer: the records may or may not be stored
}

// sent is requests.json: what verify compares the store with.
type sent struct {
	Prefix      uint64    `json:"prefix"` // of Sentry event ids
	Requests    []request `json:"requests"`
	StatsDLines int64     `json:"statsd_lines"`
}

// stats are the figures of one signal in one phase.
type stats struct {
	sent, acked, doubt int
	refused            map[int]int // by status code
	latencies          []time.Duration
}

type config struct {
	httpAddr, ui, statsd, out string
	pid                       int
	duration                  time.Duration
	key, token, user, pass    string
}

func run(args []string) error {
	fs := flag.NewFlagSet("run", flag.ExitOnError)
	var c config
	fs.StringVar(&c.httpAddr, "http", "127.0.0.1:4318", "OTLP/HTTP and Sentry address")
	fs.StringVar(&c.ui, "ui", "127.0.0.1:4320", "UI/API address")
	fs.StringVar(&c.statsd, "statsd", "127.0.0.1:8125", "StatsD UDP address")
	fs.StringVar(&c.out, "out", "bench/out/soak", "directory for rss.csv and requests.json")
	fs.IntVar(&c.pid, "pid", 0, "the server's process id, to sample its memory")
	fs.DurationVar(&c.duration, "duration", 3*time.Minute, "whole run: 40% steady, 30% overload, 30% recovery")
	fs.StringVar(&c.key, "key", "", "ingest key (default: the first project's public key)")
	fs.StringVar(&c.token, "token", "", "API token (tt_...), if the API needs one")
	fs.StringVar(&c.user, "admin-user", "admin", "with -admin-password: log in as this user to create an API token")
	fs.StringVar(&c.pass, "admin-password", "", "log in with this password to create an API token (when -token is empty and the API needs one)")
	fs.Parse(args)
	if err := os.MkdirAll(c.out, 0o755); err != nil {
		return err
	}

	api := &apiClient{base: "http://" + c.ui, token: c.token, user: c.user, pass: c.pass}
	proj, err := api.firstProject()
	if err != nil {
		return err
	}
	if c.key == "" {
		c.key = proj.PublicKey
	}
	dsn := fmt.Sprintf("http://%s@%s/%d", proj.PublicKey, c.httpAddr, proj.ID)

	ctx, stopSampling := context.WithCancel(context.Background())
	defer stopSampling()
	var current atomic.Value // phase name, for the sampler
	current.Store("start")
	samples := make(chan rssSample, 1024)
	var sampling sync.WaitGroup
	if c.pid > 0 {
		sampling.Add(1)
		go func() { defer sampling.Done(); sampleRSS(ctx, c.pid, &current, samples) }()
	}
	var rss []rssSample
	collected := make(chan struct{})
	go func() {
		for s := range samples {
			rss = append(rss, s)
		}
		close(collected)
	}()

	d := &driver{cfg: c, dsn: dsn, prefix: rand.Uint64(), client: &http.Client{
		Timeout:   2 * time.Minute,
		Transport: &http.Transport{MaxIdleConnsPerHost: 128, MaxConnsPerHost: 256},
	}}
	var results []map[string]*stats
	for _, p := range phases {
		current.Store(p.name)
		dur := time.Duration(float64(c.duration) * p.share)
		fmt.Fprintf(os.Stderr, "soak: phase %s for %s\n", p.name, dur.Round(time.Second))
		st, err := d.phase(p, dur)
		if err != nil {
			return fmt.Errorf("phase %s: %w", p.name, err)
		}
		results = append(results, st)
	}
	current.Store("end")
	time.Sleep(1100 * time.Millisecond) // one sample after the load
	stopSampling()
	sampling.Wait()
	close(samples)
	<-collected

	if err := writeRSS(filepath.Join(c.out, "rss.csv"), rss); err != nil {
		return err
	}
	b, err := json.Marshal(sent{Prefix: d.prefix, Requests: d.all, StatsDLines: d.statsdLines.Load()})
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(c.out, "requests.json"), b, 0o644); err != nil {
		return err
	}
	printPhases(os.Stdout, results, rss)
	return nil
}

type driver struct {
	cfg         config
	dsn         string
	prefix      uint64
	client      *http.Client
	reqNo       atomic.Uint64
	statsdLines atomic.Int64

	mu  sync.Mutex
	all []request
}

// phase runs the loads of p for dur, then waits for the requests in
// flight: they are not cancelled, so that their answers are known.
func (d *driver) phase(p phase, dur time.Duration) (map[string]*stats, error) {
	rng := rand.New(rand.NewPCG(rand.Uint64(), 1))
	ctx, cancel := context.WithTimeout(context.Background(), dur)
	defer cancel()
	var wg sync.WaitGroup
	var mu sync.Mutex
	res := map[string]*stats{}
	for _, l := range p.loads {
		var tmpl []*template
		if l.signal == "logs" || l.signal == "spans" || l.signal == "metrics" {
			for i := range 4 {
				t, err := newTemplate(rng, l.signal, l.records, l.size, i)
				if err != nil {
					return nil, err
				}
				tmpl = append(tmpl, t)
			}
		}
		for w := range l.senders {
			wg.Add(1)
			go func() {
				defer wg.Done()
				st, reqs := d.sender(ctx, l, tmpl, w)
				mu.Lock()
				defer mu.Unlock()
				if res[l.signal] == nil {
					res[l.signal] = &stats{refused: map[int]int{}}
				}
				r := res[l.signal]
				r.sent += st.sent
				r.acked += st.acked
				r.doubt += st.doubt
				for k, v := range st.refused {
					r.refused[k] += v
				}
				r.latencies = append(r.latencies, st.latencies...)
				d.mu.Lock()
				d.all = append(d.all, reqs...)
				d.mu.Unlock()
			}()
		}
	}
	wg.Wait()
	return res, nil
}

// sender sends requests of one load until ctx ends.
func (d *driver) sender(ctx context.Context, l load, tmpl []*template, w int) (stats, []request) {
	st := stats{refused: map[int]int{}}
	var reqs []request
	rng := rand.New(rand.NewPCG(rand.Uint64(), uint64(w)))
	if l.signal == "statsd" {
		d.statsd(ctx, l, &st)
		return st, nil
	}
	for i := w; ctx.Err() == nil; i++ {
		t0 := time.Now()
		n := d.reqNo.Add(1)
		var body []byte
		var path, ctype string
		header := http.Header{}
		switch l.signal {
		case "errors":
			body = envelope(rng, d.dsn, eventID(d.prefix, n<<idShift), l.size)
			path, ctype = fmt.Sprintf("/api/%s/envelope/", d.dsn[strings.LastIndexByte(d.dsn, '/')+1:]), "application/x-sentry-envelope"
			key := d.dsn[len("http://"):strings.IndexByte(d.dsn, '@')]
			header.Set("X-Sentry-Auth", "Sentry sentry_version=7, sentry_client=soak/1.0, sentry_key="+key)
		default:
			body = tmpl[i%len(tmpl)].render(n)
			path = map[string]string{"logs": "/v1/logs", "spans": "/v1/traces", "metrics": "/v1/metrics"}[l.signal]
			ctype = "application/x-protobuf"
			if d.cfg.key != "" {
				header.Set("Authorization", "Bearer "+d.cfg.key)
			}
		}
		header.Set("Content-Type", ctype)
		r := request{Signal: l.signal, N: n, Count: l.records}
		code, rejected, err := d.post(path, header, body, l.signal)
		st.sent += l.records
		switch {
		case err != nil:
			r.Doubt = true
			st.doubt += l.records
			fmt.Fprintf(os.Stderr, "soak: %s: %v\n", l.signal, err)
			time.Sleep(100 * time.Millisecond)
		case code == 200 || code == 202:
			r.Status, r.Acked = code, l.records-rejected
			st.acked += r.Acked
			st.latencies = append(st.latencies, time.Since(t0))
		default:
			r.Status = code
			st.refused[code]++
			time.Sleep(50 * time.Millisecond)
		}
		reqs = append(reqs, r)
		if wait := l.interval - time.Since(t0); wait > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(wait):
			}
		}
	}
	return st, reqs
}

// post sends one request and returns the status code and, for an OTLP
// partial success, the number of records rejected.
func (d *driver) post(path string, header http.Header, body []byte, signal string) (int, int, error) {
	req, err := http.NewRequest("POST", "http://"+d.cfg.httpAddr+path, bytes.NewReader(body))
	if err != nil {
		return 0, 0, err
	}
	req.Header = header
	resp, err := d.client.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, 0, fmt.Errorf("cannot read answer: %w", err)
	}
	if resp.StatusCode != 200 || signal == "errors" {
		if resp.StatusCode != 200 && resp.StatusCode != 429 && resp.StatusCode != 503 {
			fmt.Fprintf(os.Stderr, "soak: %s: HTTP %d: %.200s\n", signal, resp.StatusCode, b)
		}
		return resp.StatusCode, 0, nil
	}
	var rejected int64
	switch signal {
	case "logs":
		var m collogspb.ExportLogsServiceResponse
		err = proto.Unmarshal(b, &m)
		rejected = m.GetPartialSuccess().GetRejectedLogRecords()
	case "spans":
		var m coltracepb.ExportTraceServiceResponse
		err = proto.Unmarshal(b, &m)
		rejected = m.GetPartialSuccess().GetRejectedSpans()
	case "metrics":
		var m colmetricspb.ExportMetricsServiceResponse
		err = proto.Unmarshal(b, &m)
		rejected = m.GetPartialSuccess().GetRejectedDataPoints()
	}
	if err != nil {
		return 0, 0, fmt.Errorf("cannot decode the answer: %w", err)
	}
	return resp.StatusCode, int(rejected), nil
}

// statsd sends counter lines of statsdName in UDP packets. UDP has no
// answer: verify compares the lines sent with the counter's stored sum.
func (d *driver) statsd(ctx context.Context, l load, st *stats) {
	conn, err := net.Dial("udp", d.cfg.statsd)
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak: statsd:", err)
		return
	}
	defer conn.Close()
	var b strings.Builder
	for i := range l.records {
		fmt.Fprintf(&b, "%s:1|c|#service:soak,series:s%d\n", statsdName, i%10)
	}
	packet := []byte(b.String())
	for ctx.Err() == nil {
		t0 := time.Now()
		if _, err := conn.Write(packet); err == nil {
			st.sent += l.records
			d.statsdLines.Add(int64(l.records))
		}
		if wait := l.interval - time.Since(t0); wait > 0 {
			time.Sleep(wait)
		}
	}
}

// rssSample is one reading of the server's memory.
type rssSample struct {
	at       time.Time
	phase    string
	rss, hwm int64 // kB
}

func sampleRSS(ctx context.Context, pid int, phase *atomic.Value, out chan<- rssSample) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		rss, hwm, err := readStatus(pid)
		if err == nil {
			out <- rssSample{at: time.Now(), phase: phase.Load().(string), rss: rss, hwm: hwm}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// readStatus returns VmRSS and VmHWM of a process, in kB.
func readStatus(pid int) (rss, hwm int64, err error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 {
			continue
		}
		switch fields[0] {
		case "VmRSS:":
			rss, _ = strconv.ParseInt(fields[1], 10, 64)
		case "VmHWM:":
			hwm, _ = strconv.ParseInt(fields[1], 10, 64)
		}
	}
	if rss == 0 {
		return 0, 0, errors.New("no VmRSS")
	}
	return rss, hwm, sc.Err()
}

func writeRSS(path string, samples []rssSample) error {
	var b strings.Builder
	b.WriteString("seconds,phase,rss_kb,hwm_kb\n")
	for _, s := range samples {
		fmt.Fprintf(&b, "%.0f,%s,%d,%d\n", s.at.Sub(samples[0].at).Seconds(), s.phase, s.rss, s.hwm)
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

func printPhases(w io.Writer, results []map[string]*stats, rss []rssSample) {
	fmt.Fprintln(w, "| phase | signal | records sent | acknowledged | refused requests (status: count) | in doubt | p50 | p99 |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|")
	for i, res := range results {
		for _, sig := range signalOrder {
			st := res[sig]
			if st == nil {
				continue
			}
			if sig == "statsd" {
				fmt.Fprintf(w, "| %s | statsd (UDP) | %d lines | (see verify) | | | | |\n", phases[i].name, st.sent)
				continue
			}
			slices.Sort(st.latencies)
			fmt.Fprintf(w, "| %s | %s | %d | %d | %s | %d | %s | %s |\n", phases[i].name, sig, st.sent, st.acked,
				refusals(st.refused), st.doubt, pct(st.latencies, 0.5), pct(st.latencies, 0.99))
		}
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| phase | RSS min | RSS max | VmHWM at the end of the phase |")
	fmt.Fprintln(w, "|---|---|---|---|")
	names := []string{"start"}
	for _, p := range phases {
		names = append(names, p.name)
	}
	for _, p := range append(names, "end") {
		var lo, hi, hwm int64
		for _, s := range rss {
			if s.phase != p {
				continue
			}
			if lo == 0 || s.rss < lo {
				lo = s.rss
			}
			hi, hwm = max(hi, s.rss), s.hwm
		}
		if hi > 0 {
			fmt.Fprintf(w, "| %s | %d MB | %d MB | %d MB |\n", p, lo/1024, hi/1024, hwm/1024)
		}
	}
}

func refusals(m map[int]int) string {
	if len(m) == 0 {
		return "none"
	}
	var codes []int
	for c := range m {
		codes = append(codes, c)
	}
	sort.Ints(codes)
	var parts []string
	for _, c := range codes {
		parts = append(parts, fmt.Sprintf("%d: %d", c, m[c]))
	}
	return strings.Join(parts, ", ")
}

func pct(sorted []time.Duration, q float64) string {
	if len(sorted) == 0 {
		return "-"
	}
	d := sorted[min(int(q*float64(len(sorted))), len(sorted)-1)]
	return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000)
}
