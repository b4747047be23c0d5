package storetest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/fibinc/telltale/internal/red"
	"github.com/fibinc/telltale/internal/store"
	"github.com/fibinc/telltale/internal/telemetry"
)

// testRED checks that every table of RED aggregates counts exactly the
// spans stored, written concurrently, over two days and after a reopen.
func testRED(t *testing.T, open OpenFunc) {
	dir := t.TempDir()
	s := open(t, dir)
	const writers, per = 4, 30
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			for i := range per {
				n := w*per + i
				sp := Span(fmt.Sprintf("svc-%d", n%3), fmt.Sprintf("%032x", n+1), fmt.Sprintf("%016x", n+1), "",
					day0.Add(time.Duration(n)*7*time.Second), time.Duration(n+1)*time.Millisecond)
				sp.Name = fmt.Sprintf("GET /%d", n%2)
				if n%5 == 0 {
					sp.StatusCode = "error"
				}
				if n%4 == 0 {
					sp.Kind, sp.ParentSpanID = "client", "00000000000000aa"
				}
				if err := s.Write(context.Background(), &telemetry.Batch{Spans: []telemetry.Span{sp}}); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent Write: %v", err)
	}
	check := func(s store.Store) {
		t.Helper()
		want := rows(t, s, `SELECT service_name, kind, status_code = 'error', count(*), sum(duration_ns) FROM spans
			GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`)
		if len(want) != 12 {
			t.Fatalf("spans of %d kinds, want 12", len(want))
		}
		for _, l := range red.Levels() {
			got := rows(t, s, `SELECT service_name, kind, error, sum(count), sum(sum_ns) FROM `+l.Table+`
				GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`)
			if !slices.EqualFunc(got, want, slices.Equal) {
				t.Errorf("%s:\n got %q\nwant %q", l.Table, got, want)
			}
		}
	}
	check(s)
	s.Close()
	s = open(t, dir)
	defer s.Close()
	check(s)
}
