package query_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/fibinc/telltale/internal/query"
	"github.com/fibinc/telltale/internal/query/filter"
	"github.com/fibinc/telltale/internal/store/duckdb"
	"github.com/fibinc/telltale/internal/telemetry"
)

func TestLogHistogram(t *testing.T) {
	b := &telemetry.Batch{}
	add := func(service string, at time.Duration, sev int32, body string) {
		b.Logs = append(b.Logs, logAt(service, at, sev, body))
	}
	// Minute 0: 2 errors (one fatal), 1 warn; minute 1: nothing; minute 2:
	// 3 info, 1 debug, 1 trace, 1 without severity; minute 3 is the range's
	// end and not counted.
	add("api", 5*time.Second, telemetry.SeverityError, "payment failed")
	add("web", 10*time.Second, telemetry.SeverityFatal+2, "crashed")
	add("api", 59*time.Second, telemetry.SeverityWarn+3, "slow payment")
	for i := range 3 {
		add("api", 2*time.Minute+time.Duration(i)*time.Second, telemetry.SeverityInfo+int32(i), "served")
	}
	add("web", 2*time.Minute+30*time.Second, telemetry.SeverityDebug, "cache miss")
	add("web", 2*time.Minute+31*time.Second, telemetry.SeverityTrace, "enter payment")
	add("web", 2*time.Minute+32*time.Second, 0, "plain line")
	add("api", 3*time.Minute, telemetry.SeverityError, "outside")
	add("api", -time.Second, telemetry.SeverityError, "before")
	svc := newTestService(t, b, query.Options{})
	ctx := context.Background()
	rng := query.TimeRange{From: t0, To: t0.Add(3 * time.Minute)}

	h, err := svc.LogHistogram(ctx, query.LogHistogramQuery{Range: rng, Step: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	want := []query.LogBucket{
		{Time: t0, Error: 2, Warn: 1},
		{Time: t0.Add(time.Minute)},
		{Time: t0.Add(2 * time.Minute), Info: 3, Debug: 2, Other: 1},
	}
	if h.Step != time.Minute || h.Total != 9 || fmt.Sprint(h.Buckets) != fmt.Sprint(want) {
		t.Errorf("histogram = step %s, total %d, %v\nwant step 1m, total 9, %v", h.Step, h.Total, h.Buckets, want)
	}

	// The same filter semantics as Logs: every filter's total is the
	// number of records Logs returns for it, and its level bars are the
	// records Logs returns with that level added.
	for _, f := range []string{"", "payment", "service:web", "level>=warn", "-service:api level<info", "n>5", "nothing"} {
		h, err := svc.LogHistogram(ctx, query.LogHistogramQuery{Range: rng, Filter: f, Step: 30 * time.Second})
		if err != nil {
			t.Fatalf("LogHistogram(%q): %v", f, err)
		}
		page, err := svc.Logs(ctx, query.LogQuery{Range: rng, Filter: f, Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		if h.Total != int64(len(page.Records)) {
			t.Errorf("filter %q: histogram total %d, Logs has %d records", f, h.Total, len(page.Records))
		}
		var sum query.LogBucket
		for _, b := range h.Buckets {
			sum.Error += b.Error
			sum.Warn += b.Warn
			sum.Info += b.Info
			sum.Debug += b.Debug
			sum.Other += b.Other
		}
		and := func(lf string) string {
			if f == "" {
				return lf
			}
			return "(" + f + ") " + lf
		}
		for level, n := range map[string]int64{"error": sum.Error, "warn": sum.Warn, "info": sum.Info, "debug": sum.Debug + sum.Other} {
			lf := "level:" + level
			if level == "debug" {
				lf = "level<info"
			}
			p, err := svc.Logs(ctx, query.LogQuery{Range: rng, Filter: and(lf), Limit: 1000})
			if err != nil {
				t.Fatal(err)
			}
			if level == "error" {
				q, _ := svc.Logs(ctx, query.LogQuery{Range: rng, Filter: and("level:fatal"), Limit: 1000})
				p.Records = append(p.Records, q.Records...)
			}
			if n != int64(len(p.Records)) {
				t.Errorf("filter %q: %d %s in the histogram, Logs has %d", f, n, level, len(p.Records))
			}
		}
		if len(h.Buckets) != 6 || !h.Buckets[0].Time.Equal(t0) || !h.Buckets[5].Time.Equal(t0.Add(150*time.Second)) {
			t.Errorf("filter %q: buckets %v, want 6 from %s", f, h.Buckets, t0)
		}
	}

	// A range that does not start on a step: the first bucket starts
	// before the range and counts only what is inside.
	h, err = svc.LogHistogram(ctx, query.LogHistogramQuery{Range: query.TimeRange{From: t0.Add(30 * time.Second), To: t0.Add(2*time.Minute + time.Millisecond)}, Step: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Buckets) != 3 || !h.Buckets[0].Time.Equal(t0) || h.Buckets[0].Warn != 1 || h.Buckets[0].Error != 0 || h.Buckets[2].Info != 1 || h.Total != 2 {
		t.Errorf("unaligned range: %v, total %d", h.Buckets, h.Total)
	}

	// The default step is DefaultStep's.
	h, err = svc.LogHistogram(ctx, query.LogHistogramQuery{Range: query.TimeRange{From: t0, To: t0.Add(time.Hour)}})
	if err != nil || h.Step != query.DefaultStep(time.Hour) || h.Total != 10 {
		t.Errorf("default step: %v, %v", h, err)
	}
}

func TestLogHistogramInvalid(t *testing.T) {
	svc := newTestService(t, &telemetry.Batch{}, query.Options{})
	rng := query.TimeRange{From: t0, To: t0.Add(time.Hour)}
	for _, q := range []query.LogHistogramQuery{
		{Range: query.TimeRange{From: t0.Add(time.Hour), To: t0}},
		{Range: rng, Filter: `"unterminated`},
		{Range: rng, Filter: "level:loud"},
		{Range: rng, Step: -time.Second},
		{Range: rng, Step: time.Microsecond},
		{Range: rng, Step: 100 * time.Millisecond},
	} {
		if _, err := svc.LogHistogram(context.Background(), q); !errors.Is(err, query.ErrInvalid) {
			t.Errorf("LogHistogram(%+v) = %v, want ErrInvalid", q, err)
		}
	}
}

func TestCheckLogFilter(t *testing.T) {
	svc := newTestService(t, &telemetry.Batch{}, query.Options{})
	for text, offset := range map[string]int{
		"":                      -1,
		`service:api "a b" n>3`: -1,
		`a "unterminated`:       2,
		"a level:warnx":         2,
		"(a OR b":               0,
		"msg>3":                 0,
	} {
		err := svc.CheckLogFilter(text)
		if offset < 0 {
			if err != nil {
				t.Errorf("CheckLogFilter(%q) = %v, want nil", text, err)
			}
			continue
		}
		var fe *filter.Error
		if !errors.Is(err, query.ErrInvalid) || !errors.As(err, &fe) {
			t.Errorf("CheckLogFilter(%q) = %v, want ErrInvalid and a *filter.Error", text, err)
			continue
		}
		if fe.Offset != offset {
			t.Errorf("CheckLogFilter(%q) at %d, want %d (%v)", text, fe.Offset, offset, err)
		}
		if _, err := svc.Logs(context.Background(), query.LogQuery{Range: query.TimeRange{From: t0, To: t0.Add(time.Hour)}, Filter: text}); !errors.Is(err, query.ErrInvalid) {
			t.Errorf("Logs accepts %q, which CheckLogFilter rejects", text)
		}
	}
}

// BenchmarkLogHistogram counts 100,000 records over an hour by minute.
func BenchmarkLogHistogram(b *testing.B) {
	batch := &telemetry.Batch{}
	for i := range 100_000 {
		l := logAt([]string{"api", "web", "db"}[i%3], time.Duration(i)*36*time.Millisecond, int32(1+i%24), fmt.Sprintf("request %d served", i))
		batch.Logs = append(batch.Logs, l)
	}
	ctx := context.Background()
	st, err := duckdb.Open(ctx, duckdb.Options{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	if err := st.Write(ctx, batch); err != nil {
		b.Fatal(err)
	}
	svc, err := query.New(query.Options{Store: st})
	if err != nil {
		b.Fatal(err)
	}
	rng := query.TimeRange{From: t0, To: t0.Add(time.Hour)}
	for _, f := range []string{"", "service:api level>=warn", "served -n:7"} {
		b.Run(fmt.Sprintf("%q", f), func(b *testing.B) {
			for b.Loop() {
				h, err := svc.LogHistogram(context.Background(), query.LogHistogramQuery{Range: rng, Filter: f, Step: time.Minute})
				if err != nil || len(h.Buckets) != 60 {
					b.Fatal(h, err)
				}
			}
		})
	}
}
