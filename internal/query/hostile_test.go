package query_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/fibinc/telltale/internal/query"
	"github.com/fibinc/telltale/internal/store/storetest"
	"github.com/fibinc/telltale/internal/telemetry"
)

// hostileStrings are SQL injections, quoting and encoding tricks, sent in
// every string parameter of the query entry points.
var hostileStrings = []string{
	`' OR 1=1 --`,
	`'; DROP TABLE logs; --`,
	`") OR ("1"="1`,
	`\'; DELETE FROM spans; --`,
	`%_%`,
	`$."a"') OR 1=1 --`,
	"a\x00b",
	"\xff\xfe",
	`api' UNION ALL SELECT * FROM metric_points --`,
	strings.Repeat("'", 300),
}

// TestHostileStrings runs the query entry points with hostile strings in
// every string parameter against a real store: each call either succeeds
// or fails with ErrInvalid or ErrNotFound (never a SQL error), and the
// records are all still there afterwards. A string reaching SQL text
// rather than a parameter would show as a syntax error or lost data.
func TestHostileStrings(t *testing.T) {
	sp := storetest.Span("api", traceA, "00f067aa0ba902b7", "", t0, time.Millisecond)
	sp.Kind, sp.RequestID = "server", "r-1"
	gauge := telemetry.MetricPoint{Resource: telemetry.Resource{ServiceName: "api", Attributes: "{}"}, Name: "cpu",
		Type: telemetry.MetricGauge, SeriesID: 1, Attributes: `{"host":"a"}`, Time: t0, Value: 1}
	svc := newTestService(t, &telemetry.Batch{
		Logs:    []telemetry.Log{logAt("api", time.Second, telemetry.SeverityError, "payment failed")},
		Spans:   []telemetry.Span{sp},
		Metrics: []telemetry.MetricPoint{gauge},
	}, query.Options{})
	ctx := context.Background()
	r := query.TimeRange{From: t0.Add(-time.Hour), To: t0.Add(time.Hour)}

	intact := func(when string) {
		t.Helper()
		logs, err := svc.Logs(ctx, query.LogQuery{Range: r})
		if err != nil || len(logs.Records) != 1 {
			t.Fatalf("%s: logs %v, %v; want the one record", when, logs, err)
		}
		if tr, err := svc.Trace(ctx, traceA); err != nil || len(tr.Spans) != 1 {
			t.Fatalf("%s: trace %v; want the one span", when, err)
		}
		names, err := svc.MetricNames(ctx, r, 10)
		if err != nil || len(names) != 1 {
			t.Fatalf("%s: metrics %v, %v; want cpu", when, names, err)
		}
	}
	intact("before")

	for _, h := range hostileStrings {
		calls := map[string]func() error{
			"Logs filter": func() error { _, err := svc.Logs(ctx, query.LogQuery{Range: r, Filter: h}); return err },
			"Logs quoted": func() error { _, err := svc.Logs(ctx, query.LogQuery{Range: r, Filter: `"` + h + `"`}); return err },
			"Logs field": func() error {
				_, err := svc.Logs(ctx, query.LogQuery{Range: r, Filter: `service:"` + h + `"`})
				return err
			},
			"Logs attribute": func() error {
				_, err := svc.Logs(ctx, query.LogQuery{Range: r, Filter: `attr.x:"` + h + `"`})
				return err
			},
			"Logs cursor": func() error { _, err := svc.Logs(ctx, query.LogQuery{Range: r, Cursor: h}); return err },
			"LogHistogram": func() error {
				_, err := svc.LogHistogram(ctx, query.LogHistogramQuery{Range: r, Filter: h})
				return err
			},
			"Trace":   func() error { _, err := svc.Trace(ctx, h); return err },
			"Request": func() error { _, err := svc.Request(ctx, h); return err },
			"SearchTraces": func() error {
				_, err := svc.SearchTraces(ctx, query.TraceQuery{Range: r, Service: h, Operation: h, Attrs: map[string]string{h: h}})
				return err
			},
			"Operations":     func() error { _, err := svc.Operations(ctx, h, r); return err },
			"SlowestTraces":  func() error { _, err := svc.SlowestTraces(ctx, h, r, 10); return err },
			"VersionChanges": func() error { _, err := svc.VersionChanges(ctx, h, r); return err },
			"Dependencies":   func() error { _, err := svc.Dependencies(ctx, h, r); return err },
			"ServiceMap":     func() error { _, err := svc.ServiceMap(ctx, r, h); return err },
			"QueryMetric name": func() error {
				_, err := svc.QueryMetric(ctx, query.MetricQuery{Range: r, Name: h, Agg: "avg"})
				return err
			},
			"QueryMetric filter": func() error {
				_, err := svc.QueryMetric(ctx, query.MetricQuery{Range: r, Name: "cpu", Agg: "avg", Filter: `host="` + h + `"`, GroupBy: []string{h}})
				return err
			},
			"MetricResolution": func() error { _, err := svc.MetricResolution(ctx, r, h); return err },
			"PromSeries": func() error {
				_, err := svc.PromSeries(ctx, query.PromSeriesQuery{Range: r, Names: []string{h, "cpu"}})
				return err
			},
			"PromBounds":     func() error { _, err := svc.PromBounds(ctx, r, []string{h}, telemetry.MetricHistogram); return err },
			"Event":          func() error { _, err := svc.Event(ctx, h); return err },
			"CheckLogFilter": func() error { return svc.CheckLogFilter(h) },
		}
		for name, call := range calls {
			if err := call(); err != nil && !errors.Is(err, query.ErrInvalid) && !errors.Is(err, query.ErrNotFound) {
				t.Errorf("%s(%q): %v, want success, ErrInvalid or ErrNotFound", name, h, err)
			}
		}
	}
	intact("after")
}
