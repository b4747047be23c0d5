// Command loadgen drives OTLP or Sentry load at a Telltale server and
// measures it. It pre-encodes its payloads, so that the figures measure the
// server, not the generator. Every request is counted as accepted only on a
// 2xx (HTTP) or OK (gRPC) answer, which Telltale sends after the records are
// committed.
//
//	loadgen -signal logs -transport http -duration 30s -concurrency 8
//	loadgen -signal metrics -transport grpc -duration 30s
//	loadgen -signal metrics -backfill 24h -series 10000 -duration 30m
//	loadgen -signal statsd -statsd 127.0.0.1:8125 -duration 20s -rate 200000
//	loadgen -signal errors -ui 127.0.0.1:4320 -duration 30s -concurrency 16
//
// The errors signal posts sentry-go-shaped envelopes, one event each, to
// /api/<project>/envelope/ on the -http address; each event gets a fresh
// event id. The metrics signal sends OTLP metric points (counters, gauges,
// histograms), or with -backfill a day of one-a-minute cumulative counters
// of -series series into the past. The statsd signal sends counter lines in
// UDP packets of up to 1432 bytes; UDP has no answer, so it reports the
// lines sent, and the sum of the counter bench.statsd.lines tells how many
// the server took.
//
// It prints one JSON object with the results. See bench/run.sh.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

func main() {
	signal := flag.String("signal", "logs", "logs, spans, metrics, statsd or errors (Sentry envelopes)")
	transport := flag.String("transport", "http", "http or grpc")
	httpAddr := flag.String("http", "127.0.0.1:4318", "OTLP/HTTP address")
	grpcAddr := flag.String("grpc", "127.0.0.1:4317", "OTLP/gRPC address")
	duration := flag.Duration("duration", 20*time.Second, "how long to send")
	records := flag.Int64("records", 0, "stop after this many accepted records (0: run for -duration)")
	concurrency := flag.Int("concurrency", 8, "concurrent senders")
	batch := flag.Int("batch", 1000, "records per request")
	payloads := flag.Int("payloads", 0, "distinct pre-encoded payloads (default 64, 4096 for errors)")
	needle := flag.String("needle", "", "put this phrase in the body of exactly one log record")
	traceOut := flag.String("trace-ids", "", "write a few generated trace ids to this file")
	key := flag.String("key", "", "errors: the project's public key (default: from -ui)")
	projectID := flag.Int64("project", 0, "errors: the project id (default: from -ui, the first project)")
	uiAddr := flag.String("ui", "", "errors: Telltale's UI/API address, to read -key and -project from /api/v1/projects")
	bugs := flag.Int("bugs", 200, "errors: distinct bugs the events are drawn from (one issue each)")
	spread := flag.Duration("spread", 0, "errors: event times advance from this long before the start to the start over -records events (default: sending time)")
	statsdAddr := flag.String("statsd", "127.0.0.1:8125", "statsd: StatsD UDP address")
	series := flag.Int("series", 10_000, "statsd and -backfill: distinct series")
	rate := flag.Float64("rate", 0, "statsd: lines per second in all (0: as fast as possible)")
	backfillSpan := flag.Duration("backfill", 0, "metrics: send this long (e.g. 24h) of one-a-minute counters of -series series into the past, then stop")
	flag.Parse()

	switch *signal {
	case "logs", "spans", "errors", "metrics":
	case "statsd":
		packets, lines := statsdPackets(1024, max(*series, 1))
		ctx, cancel := context.WithTimeout(context.Background(), *duration)
		defer cancel()
		start := time.Now()
		sent, npackets, err := runStatsD(ctx, *statsdAddr, packets, lines, *concurrency, *rate)
		if err != nil {
			fail(err.Error())
		}
		secs := time.Since(start).Seconds()
		json.NewEncoder(os.Stdout).Encode(map[string]any{
			"signal": "statsd", "transport": "udp", "concurrency": *concurrency, "seconds": round(secs),
			"lines_sent": sent, "packets_sent": npackets, "lines_per_second_sent": round(float64(sent) / secs),
		})
		return
	default:
		fail("-signal must be logs, spans, metrics, statsd or errors")
	}
	if *payloads <= 0 {
		*payloads = 64
		if *signal == "errors" {
			*payloads = 4096
		}
	}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	var bodies [][]byte
	var traceIDs []string
	var templates []envelopeTemplate
	var proj project
	if *signal == "errors" {
		proj = project{ID: *projectID, PublicKey: *key}
		if *uiAddr != "" && (proj.ID == 0 || proj.PublicKey == "") {
			p, err := fetchProject(*uiAddr, proj.ID)
			if err != nil {
				fail(err.Error())
			}
			proj = p
		}
		if proj.ID == 0 || proj.PublicKey == "" {
			fail("-signal errors needs -key and -project, or -ui")
		}
		if proj.DSN == "" {
			proj.DSN = fmt.Sprintf("http://%s@%s/%d", proj.PublicKey, *httpAddr, proj.ID)
		}
		if *spread > 0 && *records <= 0 {
			fail("-spread needs -records")
		}
		templates = errorsTemplates(rng, *payloads, max(*bugs, 1), proj)
		*payloads, *batch = 0, 1 // one event per request, as SDKs send
	}
	for i := range *payloads {
		if *backfillSpan > 0 {
			break
		}
		var msg proto.Message
		switch *signal {
		case "logs":
			msg = logsRequest(rng, *batch, i)
		case "metrics":
			msg = metricsRequest(rng, *batch, i)
		default:
			req, ids := spansRequest(rng, *batch, i)
			msg, traceIDs = req, append(traceIDs, ids...)
		}
		b, err := proto.Marshal(msg)
		if err != nil {
			fail(err.Error())
		}
		bodies = append(bodies, b)
	}
	if *traceOut != "" {
		b, _ := json.Marshal(traceIDs[:min(len(traceIDs), 20)])
		os.WriteFile(*traceOut, b, 0o644)
	}
	if *needle != "" {
		// One extra request with the needle, sent first.
		req := logsRequest(rng, 1, 0)
		req.ResourceLogs[0].ScopeLogs[0].LogRecords[0].Body = str("found the " + *needle + " in the haystack")
		b, _ := proto.Marshal(req)
		if err := sendHTTP(context.Background(), http.DefaultClient, *httpAddr, "/v1/logs", b); err != nil {
			fail("cannot send needle: " + err.Error())
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), *duration)
	defer cancel()
	var accepted, requests, refused, failed atomic.Int64
	var send func(ctx context.Context, body []byte) error
	stream := &errorStream{templates: templates, start: time.Now(), spread: *spread, total: *records}
	for i := range stream.prefix {
		stream.prefix[i] = byte(rng.Uint32())
	}
	next := func(i int) []byte { return bodies[i%len(bodies)] }
	switch {
	case *signal == "errors":
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: *concurrency}}
		url := fmt.Sprintf("http://%s/api/%d/envelope/", *httpAddr, proj.ID)
		auth := fmt.Sprintf("Sentry sentry_version=7, sentry_client=sentry.go/%s, sentry_key=%s", sdkVersion, proj.PublicKey)
		send = func(ctx context.Context, body []byte) error { return sendEnvelope(ctx, client, url, auth, body) }
		next = stream.next
	case *transport == "http":
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: *concurrency}}
		path := map[string]string{"logs": "/v1/logs", "spans": "/v1/traces", "metrics": "/v1/metrics"}[*signal]
		send = func(ctx context.Context, body []byte) error { return sendHTTP(ctx, client, *httpAddr, path, body) }
	case *transport == "grpc":
		conn, err := grpc.NewClient(*grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(64<<20)))
		if err != nil {
			fail(err.Error())
		}
		defer conn.Close()
		method := map[string]string{
			"logs":    "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
			"spans":   "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
			"metrics": "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
		}[*signal]
		send = func(ctx context.Context, body []byte) error {
			var resp rawMessage
			return conn.Invoke(ctx, method, rawMessage(body), &resp, grpc.ForceCodecV2(rawCodec{}))
		}
	default:
		fail("-transport must be http or grpc")
	}

	start := time.Now()
	if *backfillSpan > 0 {
		if *signal != "metrics" {
			fail("-backfill needs -signal metrics")
		}
		n, err := backfill(ctx, send, *backfillSpan, *series, *batch, *concurrency)
		if err != nil {
			fail("backfill: " + err.Error())
		}
		secs := time.Since(start).Seconds()
		json.NewEncoder(os.Stdout).Encode(map[string]any{
			"signal": "metrics backfill", "transport": *transport, "concurrency": *concurrency, "seconds": round(secs),
			"accepted_records": n, "records_per_second": round(float64(n) / secs),
		})
		return
	}
	var wg sync.WaitGroup
	// Latencies of accepted requests, one slice per sender.
	latencies := make([][]time.Duration, *concurrency)
	for w := range *concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Senders start at different payloads and step by the
			// concurrency, so that together they cycle through all.
			for i := w; ctx.Err() == nil; i += *concurrency {
				if *records > 0 && accepted.Load() >= *records {
					cancel()
					return
				}
				body := next(i)
				t0 := time.Now()
				err := send(ctx, body)
				requests.Add(1)
				switch {
				case err == nil:
					latencies[w] = append(latencies[w], time.Since(t0))
					accepted.Add(int64(*batch))
				case isOverload(err):
					refused.Add(1)
					time.Sleep(50 * time.Millisecond)
				case ctx.Err() != nil, status.Code(err) == codes.DeadlineExceeded:
					// The phase ended while the request was in flight.
				default:
					failed.Add(1)
					fmt.Fprintln(os.Stderr, "send:", err)
					time.Sleep(100 * time.Millisecond)
				}
			}
		}()
	}
	wg.Wait()
	secs := time.Since(start).Seconds()
	all := slices.Concat(latencies...)
	slices.Sort(all)
	if *signal == "errors" {
		*transport = "sentry envelope"
	}
	json.NewEncoder(os.Stdout).Encode(map[string]any{
		"signal": *signal, "transport": *transport, "concurrency": *concurrency, "seconds": round(secs),
		"accepted_records": accepted.Load(), "records_per_second": round(float64(accepted.Load()) / secs),
		"requests": requests.Load(), "refused_overload": refused.Load(), "failed": failed.Load(),
		"p50_ms": percentileMS(all, 0.50), "p99_ms": percentileMS(all, 0.99),
	})
}

// percentileMS returns the q-quantile of sorted latencies in milliseconds.
func percentileMS(sorted []time.Duration, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	d := sorted[min(int(q*float64(len(sorted))), len(sorted)-1)]
	return float64(d.Microseconds()/10) / 100
}

// rawMessage is a pre-encoded protobuf message; rawCodec sends it as is, so
// that the generator spends no CPU encoding while it shares the machine.
type rawMessage []byte

type rawCodec struct{}

func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	return mem.BufferSlice{mem.SliceBuffer(v.(rawMessage))}, nil
}

func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	*(v.(*rawMessage)) = data.Materialize()
	return nil
}

func (rawCodec) Name() string { return "proto" }

type overloadError struct{ status int }

func (e overloadError) Error() string { return fmt.Sprintf("overloaded: HTTP %d", e.status) }

func isOverload(err error) bool {
	if _, ok := err.(overloadError); ok {
		return true
	}
	s := err.Error()
	return bytes.Contains([]byte(s), []byte("Unavailable")) || bytes.Contains([]byte(s), []byte("ResourceExhausted"))
}

func sendHTTP(ctx context.Context, c *http.Client, addr, path string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, "POST", "http://"+addr+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-protobuf")
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	buf.ReadFrom(resp.Body)
	switch {
	case resp.StatusCode == 200:
		return nil
	case resp.StatusCode == 429 || resp.StatusCode == 503:
		return overloadError{resp.StatusCode}
	}
	return fmt.Errorf("HTTP %d: %s", resp.StatusCode, buf.String())
}

var services = []string{"fibfrontend", "userstore", "pricing", "billing", "auth", "search"}

func resource(i int) *resourcepb.Resource {
	svc := services[i%len(services)]
	return &resourcepb.Resource{Attributes: []*commonpb.KeyValue{
		kv("service.name", svc), kv("service.version", "1.4.2"), kv("service.instance.id", fmt.Sprintf("%s-%d", svc, i%3)),
		kv("deployment.environment.name", "prod"), kv("host.name", fmt.Sprintf("host-%d", i%5)),
		kv("cloud.availability_zone", []string{"us-east-1a", "us-east-1b"}[i%2]),
	}}
}

func kv(k, v string) *commonpb.KeyValue { return &commonpb.KeyValue{Key: k, Value: str(v)} }

func str(v string) *commonpb.AnyValue {
	return &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: v}}
}

var words = []string{"user", "credit", "fib", "computed", "cache", "miss", "request", "served", "pricing", "lookup", "slow", "retry", "db", "query", "ok"}

func logsRequest(rng *rand.Rand, n, seed int) *collogspb.ExportLogsServiceRequest {
	now := uint64(time.Now().UnixNano())
	recs := make([]*logspb.LogRecord, n)
	for i := range recs {
		tid := make([]byte, 16)
		sid := make([]byte, 8)
		for j := range tid {
			tid[j] = byte(rng.Uint32())
		}
		for j := range sid {
			sid[j] = byte(rng.Uint32())
		}
		body := fmt.Sprintf("%s %s %s n=%d user=u%d", words[rng.IntN(len(words))], words[rng.IntN(len(words))], words[rng.IntN(len(words))], rng.IntN(90), rng.IntN(1000))
		sev := []logspb.SeverityNumber{logspb.SeverityNumber_SEVERITY_NUMBER_INFO, logspb.SeverityNumber_SEVERITY_NUMBER_DEBUG, logspb.SeverityNumber_SEVERITY_NUMBER_WARN, logspb.SeverityNumber_SEVERITY_NUMBER_ERROR}[rng.IntN(4)]
		recs[i] = &logspb.LogRecord{
			TimeUnixNano: now + uint64(i), ObservedTimeUnixNano: now + uint64(i), SeverityNumber: sev, SeverityText: sev.String()[16:],
			Body: str(body), TraceId: tid, SpanId: sid,
			Attributes: []*commonpb.KeyValue{kv("request.id", fmt.Sprintf("req-%08x", rng.Uint32())), kv("user", fmt.Sprintf("u%d", rng.IntN(1000))), kv("code.function", "handleFib")},
		}
	}
	return &collogspb.ExportLogsServiceRequest{ResourceLogs: []*logspb.ResourceLogs{{
		Resource:  resource(seed),
		ScopeLogs: []*logspb.ScopeLogs{{Scope: &commonpb.InstrumentationScope{Name: "loadgen"}, LogRecords: recs}},
	}}}
}

func spansRequest(rng *rand.Rand, n, seed int) (*coltracepb.ExportTraceServiceRequest, []string) {
	now := uint64(time.Now().UnixNano())
	spans := make([]*tracepb.Span, n)
	var ids []string
	var tid []byte
	var root []byte
	for i := range spans {
		sid := make([]byte, 8)
		for j := range sid {
			sid[j] = byte(rng.Uint32())
		}
		var parent []byte
		kind := tracepb.Span_SPAN_KIND_INTERNAL
		if i%10 == 0 { // a new trace of ten spans
			tid = make([]byte, 16)
			for j := range tid {
				tid[j] = byte(rng.Uint32())
			}
			root = sid
			kind = tracepb.Span_SPAN_KIND_SERVER
			ids = append(ids, fmt.Sprintf("%x", tid))
		} else {
			parent = root
		}
		status := &tracepb.Status{}
		if rng.IntN(50) == 0 {
			status = &tracepb.Status{Code: tracepb.Status_STATUS_CODE_ERROR, Message: "insufficient credit"}
		}
		start := now + uint64(i)*1000
		spans[i] = &tracepb.Span{
			TraceId: tid, SpanId: sid, ParentSpanId: parent, Name: fmt.Sprintf("GET /fib/%d", i%7), Kind: kind,
			StartTimeUnixNano: start, EndTimeUnixNano: start + uint64(rng.IntN(50_000_000)), Status: status,
			Attributes: []*commonpb.KeyValue{kv("http.request.method", "GET"), kv("http.route", "/fib/{n}"), kv("request.id", fmt.Sprintf("req-%08x", rng.Uint32()))},
		}
	}
	return &coltracepb.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{{
		Resource:   resource(seed),
		ScopeSpans: []*tracepb.ScopeSpans{{Scope: &commonpb.InstrumentationScope{Name: "loadgen"}, Spans: spans}},
	}}}, ids
}

func round(f float64) float64 { return float64(int64(f*10)) / 10 }

func fail(msg string) {
	fmt.Fprintln(os.Stderr, "loadgen:", msg)
	os.Exit(2)
}
