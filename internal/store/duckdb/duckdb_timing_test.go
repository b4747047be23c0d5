package duckdb_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/fibinc/telltale/internal/store/duckdb"
	"github.com/fibinc/telltale/internal/store/storetest"
	"github.com/fibinc/telltale/internal/telemetry"
)

// BenchmarkWrite measures committed records per second through Write, in
// batches the size the pipeline typically commits under load.
func BenchmarkWrite(b *testing.B) {
	const batch = 10_000
	now := time.Now()
	logs := &telemetry.Batch{}
	spans := &telemetry.Batch{}
	for i := range batch {
		logs.Logs = append(logs.Logs, telemetry.Log{
			Resource: telemetry.Resource{ServiceName: "userstore", ServiceVersion: "1.0", InstanceID: "i-1", Environment: "prod", Host: "h", AvailabilityZone: "z", Attributes: `{"team":"fib"}`},
			Time:     now.Add(time.Duration(i)), ObservedTime: now, TraceID: fmt.Sprintf("%032x", i), SpanID: fmt.Sprintf("%016x", i),
			Severity: 9, SeverityText: "INFO", Body: fmt.Sprintf("user u%d has insufficient credit for fib(%d)", i%1000, i%90),
			RequestID: fmt.Sprintf("req-%08x", i), Attributes: `{"user":"u42","code.function":"handleFib"}`, Source: "otlp",
		})
		spans.Spans = append(spans.Spans, storetest.Span("frontend", fmt.Sprintf("%032x", i/10+1), fmt.Sprintf("%016x", i+1), "", now.Add(time.Duration(i)), time.Millisecond))
	}
	// Spans of 50 services with 20 operations each, as real services name
	// them, rather than a name per span: the RED aggregates get a row per
	// operation and minute, not per span.
	services := &telemetry.Batch{}
	for i := range batch {
		req := i / 3
		sp := storetest.Span(fmt.Sprintf("svc-%02d", req%50), fmt.Sprintf("%032x", req+1), fmt.Sprintf("%016x", i+1), "", now.Add(time.Duration(i)*time.Millisecond),
			time.Duration(1+(i*7919)%500)*time.Millisecond)
		sp.Name = fmt.Sprintf("GET /api/v1/op-%02d", req/50%20)
		switch i % 3 {
		case 1:
			sp.Kind, sp.Name, sp.ParentSpanID = "client", "SELECT", fmt.Sprintf("%016x", i)
		case 2:
			sp.Kind, sp.Name, sp.ParentSpanID = "internal", "render", fmt.Sprintf("%016x", i-1)
		}
		if i%97 == 0 {
			sp.StatusCode = "error"
		}
		services.Spans = append(services.Spans, sp)
	}
	for _, bc := range []struct {
		name string
		b    *telemetry.Batch
	}{{"logs", logs}, {"spans", spans}, {"spans-of-services", services}} {
		b.Run(bc.name, func(b *testing.B) {
			s, err := duckdb.Open(context.Background(), duckdb.Options{Dir: b.TempDir()})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			b.ResetTimer()
			for b.Loop() {
				if err := s.Write(context.Background(), bc.b); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "records/s")
		})
	}
}
