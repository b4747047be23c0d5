package query_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/fibinc/telltale/internal/query"
	"github.com/fibinc/telltale/internal/telemetry"
)

// logAt returns a log record of service at t0+at.
func logAt(service string, at time.Duration, severity int32, body string) telemetry.Log {
	return telemetry.Log{
		Resource: telemetry.Resource{ServiceName: service, Environment: "prod", Host: "h1", Attributes: `{"k8s.pod.name":"p1"}`},
		Time:     t0.Add(at), ObservedTime: t0.Add(at + time.Millisecond), Severity: severity, SeverityText: "X",
		Body: body, Attributes: `{"user":"u1","n":7}`, Source: "otlp",
	}
}

func bodies(recs []query.LogRecord) []string {
	var out []string
	for _, r := range recs {
		out = append(out, r.Body)
	}
	return out
}

func TestLogs(t *testing.T) {
	traced := logAt("api", 3*time.Second, telemetry.SeverityError, "payment failed: insufficient credit")
	traced.TraceID, traced.SpanID, traced.RequestID, traced.EventName = traceA, "00f067aa0ba902b7", "r-1", "payment"
	svc := newTestService(t, &telemetry.Batch{Logs: []telemetry.Log{
		logAt("api", time.Second, telemetry.SeverityInfo, "started"),
		logAt("web", 2*time.Second, telemetry.SeverityWarn, "slow request"),
		traced,
		logAt("api", 4*time.Second, telemetry.SeverityDebug, "Insufficient Credit retry"),
		logAt("api", -2*time.Hour, telemetry.SeverityError, "too old"),
	}}, query.Options{})
	rng := query.TimeRange{From: t0.Add(-time.Hour), To: t0.Add(time.Hour)}

	tests := []struct {
		filter string
		limit  int
		want   []string
	}{
		{"", 0, []string{"Insufficient Credit retry", "payment failed: insufficient credit", "slow request", "started"}},
		{"", 2, []string{"Insufficient Credit retry", "payment failed: insufficient credit"}},
		{`"insufficient credit"`, 0, []string{"Insufficient Credit retry", "payment failed: insufficient credit"}},
		{"service:web", 0, []string{"slow request"}},
		{"level>=warn", 0, []string{"payment failed: insufficient credit", "slow request"}},
		{"trace_id:" + traceA, 0, []string{"payment failed: insufficient credit"}},
		{"nothing-matches-this", 0, nil},
	}
	for _, tt := range tests {
		page, err := svc.Logs(context.Background(), query.LogQuery{Range: rng, Filter: tt.filter, Limit: tt.limit})
		if err != nil {
			t.Errorf("Logs(%q): %v", tt.filter, err)
			continue
		}
		if got := bodies(page.Records); !slices.Equal(got, tt.want) {
			t.Errorf("Logs(%q, limit %d) = %q, want %q", tt.filter, tt.limit, got, tt.want)
		}
		if more := tt.limit > 0 && tt.limit < 4; (page.NextCursor != "") != more {
			t.Errorf("Logs(%q, limit %d): next cursor %q, want one: %v", tt.filter, tt.limit, page.NextCursor, more)
		}
	}

	page, err := svc.Logs(context.Background(), query.LogQuery{Range: rng, Filter: "event_name:payment"})
	if err != nil || len(page.Records) != 1 {
		t.Fatalf("Logs(event_name:payment) = %+v, %v", page, err)
	}
	r := page.Records[0]
	if !r.Time.Equal(t0.Add(3*time.Second)) || !r.ObservedTime.Equal(t0.Add(3*time.Second+time.Millisecond)) ||
		r.Level != "error" || r.SeverityNumber != telemetry.SeverityError || r.SeverityText != "X" ||
		r.TraceID != traceA || r.SpanID != "00f067aa0ba902b7" || r.RequestID != "r-1" || r.Source != "otlp" ||
		r.Service != "api" || r.Environment != "prod" || r.Host != "h1" {
		t.Errorf("record = %+v", r)
	}
	var attrs map[string]any
	if err := json.Unmarshal(r.Attributes, &attrs); err != nil || attrs["user"] != "u1" || attrs["n"] != 7.0 {
		t.Errorf("attributes = %s (%v)", r.Attributes, err)
	}
	if string(r.ResourceAttributes) != `{"k8s.pod.name":"p1"}` {
		t.Errorf("resource attributes = %s", r.ResourceAttributes)
	}
}

// TestLogsPages pages through records that share timestamps, so that a page
// boundary falls between records with equal times.
func TestLogsPages(t *testing.T) {
	b := &telemetry.Batch{}
	var want []string
	for i := range 23 {
		l := logAt("api", time.Duration(i/5)*time.Second, telemetry.SeverityInfo, fmt.Sprintf("line %02d", i))
		l.ObservedTime = t0 // only the body tells them apart
		b.Logs = append(b.Logs, l)
		want = append(want, l.Body)
	}
	svc := newTestService(t, b, query.Options{})
	rng := query.TimeRange{From: t0, To: t0.Add(time.Minute)}

	for _, size := range []int{1, 2, 4, 5, 7, 23, 50} {
		var got []string
		cursor, pages := "", 0
		for {
			page, err := svc.Logs(context.Background(), query.LogQuery{Range: rng, Limit: size, Cursor: cursor})
			if err != nil {
				t.Fatalf("page %d of size %d: %v", pages, size, err)
			}
			got = append(got, bodies(page.Records)...)
			pages++
			if cursor = page.NextCursor; cursor == "" || pages > 30 {
				break
			}
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("pages of %d: got %q, want each of %q once", size, got, want)
		}
		if wantPages := (len(want) + size - 1) / size; pages != wantPages && pages != wantPages+1 {
			t.Errorf("pages of %d: %d pages, want %d", size, pages, wantPages)
		}
	}
}

func TestLogsInvalid(t *testing.T) {
	svc := newTestService(t, &telemetry.Batch{}, query.Options{})
	rng := query.TimeRange{From: t0, To: t0.Add(time.Hour)}
	tests := []query.LogQuery{
		{Range: query.TimeRange{From: t0.Add(time.Hour), To: t0}},
		{Range: rng, Filter: `"unterminated`},
		{Range: rng, Filter: "(a OR b"},
		{Range: rng, Cursor: "not a cursor"},
		{Range: rng, Cursor: "AAAA"},
	}
	for _, q := range tests {
		if _, err := svc.Logs(context.Background(), q); !errors.Is(err, query.ErrInvalid) {
			t.Errorf("Logs(%+v) = %v, want ErrInvalid", q, err)
		}
	}
}
