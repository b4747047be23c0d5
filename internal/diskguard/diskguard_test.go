package diskguard

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/fibinc/telltale/internal/pipeline"
	"github.com/fibinc/telltale/internal/telemetry"
)

// disk is a file system whose free space the test sets, read through a
// clock the test moves.
type disk struct {
	free int64
	err  error
	now  time.Time
	n    int // statfs calls
}

func (d *disk) guard(reserve int64) *Guard {
	return New(Options{Dir: "/data", Reserve: reserve, Now: func() time.Time { return d.now },
		Statfs: func(string) (int64, error) { d.n++; return d.free, d.err }})
}

func TestCheck(t *testing.T) {
	const mib = 1 << 20
	type step struct {
		free    int64
		err     error
		advance time.Duration
		want    string // "" for nil, else a substring of the refusal
	}
	for _, tc := range []struct {
		name    string
		reserve int64
		steps   []step
	}{
		{"above reserve", 512 * mib, []step{{free: 600 * mib}}},
		{"at reserve", 512 * mib, []step{{free: 512 * mib}}},
		{"below reserve", 512 * mib, []step{{free: 310 * mib, want: "insufficient disk space: 310 MB free, ingest resumes when 512 MB are free"}}},
		{"recovery after the interval", 512 * mib, []step{
			{free: 100 * mib, want: "100 MB free"},
			{free: 900 * mib, want: "100 MB free"}, // the reading is a second old at most
			{free: 900 * mib, advance: time.Second},
		}},
		{"falls below", 512 * mib, []step{
			{free: 900 * mib},
			{free: 10 * mib, advance: 2 * time.Second, want: "10 MB free"},
		}},
		{"statfs error lets ingest go on", 512 * mib, []step{{err: errors.New("EIO")}}},
		{"statfs error after low space", 512 * mib, []step{
			{free: 1, want: "0 MB free"},
			{err: errors.New("EIO"), advance: time.Second},
		}},
		{"no reserve", 0, []step{{free: 0}}},
		{"large numbers", 20 << 30, []step{{free: 15 << 30, want: "15.0 GB free, ingest resumes when 20.0 GB are free"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := &disk{now: time.Unix(1e9, 0)}
			g := d.guard(tc.reserve)
			for i, s := range tc.steps {
				d.free, d.err = s.free, s.err
				d.now = d.now.Add(s.advance)
				err := g.Check()
				switch {
				case s.want == "" && err != nil:
					t.Fatalf("step %d: Check() = %v, want nil", i, err)
				case s.want != "" && err == nil:
					t.Fatalf("step %d: Check() = nil, want %q", i, s.want)
				case s.want != "":
					if !strings.Contains(err.Error(), s.want) {
						t.Fatalf("step %d: Check() = %q, want %q in it", i, err, s.want)
					}
					if !errors.Is(err, pipeline.ErrOverloaded) {
						t.Fatalf("step %d: %v does not match pipeline.ErrOverloaded", i, err)
					}
				}
			}
		})
	}
}

func TestCheckReadsOncePerInterval(t *testing.T) {
	d := &disk{free: 1 << 30, now: time.Unix(1e9, 0)}
	g := d.guard(1 << 20)
	for range 1000 {
		g.Check()
	}
	if d.n != 1 {
		t.Fatalf("%d statfs calls for 1000 checks within the interval, want 1", d.n)
	}
	d.now = d.now.Add(time.Second)
	g.Check()
	if d.n != 2 {
		t.Fatalf("%d statfs calls after the interval, want 2", d.n)
	}
}

// store is a store that breaks and reopens as the test says.
type store struct {
	broken  error
	reopens int
	failing error // Reopen's error
}

func TestBrokenStore(t *testing.T) {
	const reserve = 100 << 20
	for _, tc := range []struct {
		name        string
		free        int64
		statErr     error
		reopenErr   error
		wantReopens int
		wantHealthy bool
	}{
		{"space back: reopened", 200 << 20, nil, nil, 1, true},
		{"still no space: left broken", 50 << 20, nil, nil, 0, false},
		{"unknown space: reopened", 0, errors.New("EIO"), nil, 1, true},
		{"reopen fails: still broken", 200 << 20, nil, errors.New("disk full"), 1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := &store{broken: errors.New("write failed: No space left on device")}
			d := &disk{free: tc.free, err: tc.statErr, now: time.Unix(1e9, 0)}
			g := New(Options{Reserve: reserve, Now: func() time.Time { return d.now },
				Statfs: func(string) (int64, error) { return d.free, d.err },
				Broken: func() error { return st.broken },
				Reopen: func(context.Context) error {
					st.reopens++
					if tc.reopenErr != nil {
						return tc.reopenErr
					}
					st.broken = nil
					return nil
				}})
			err := g.Check()
			var se *StoreError
			if !errors.As(err, &se) || !errors.Is(err, pipeline.ErrOverloaded) || !strings.Contains(err.Error(), "No space left on device") {
				t.Fatalf("Check() on a broken store = %v, want a StoreError naming the failure", err)
			}
			rerr := g.Recover(context.Background())
			if (rerr != nil) != (tc.reopenErr != nil) {
				t.Fatalf("Recover() = %v, want error %v", rerr, tc.reopenErr)
			}
			if st.reopens != tc.wantReopens {
				t.Fatalf("%d reopens, want %d", st.reopens, tc.wantReopens)
			}
			d.now = d.now.Add(time.Second)
			if healthy := g.Check() == nil; healthy != tc.wantHealthy {
				t.Fatalf("Check() after Recover: healthy %v, want %v", healthy, tc.wantHealthy)
			}
		})
	}
}

// sink counts what reaches it, and fails as told.
type sink struct {
	batches int
	err     error
	onWrite func()
}

func (s *sink) Append(_ context.Context, b *telemetry.Batch) error { s.batches++; return s.err }
func (s *sink) Write(_ context.Context, b *telemetry.Batch) error {
	s.batches++
	if s.onWrite != nil {
		s.onWrite()
	}
	return s.err
}

func TestAppenderAndWriter(t *testing.T) {
	d := &disk{free: 10, now: time.Unix(1e9, 0)}
	var broken error
	g := New(Options{Reserve: 100, Now: func() time.Time { return d.now },
		Statfs: func(string) (int64, error) { return d.free, nil }, Broken: func() error { return broken }})
	next := &sink{}
	a, w := Appender(next, g), Writer(next, g)
	b := &telemetry.Batch{Logs: []telemetry.Log{{Body: "x"}}}
	ctx := context.Background()

	if err := a.Append(ctx, b); !errors.Is(err, pipeline.ErrOverloaded) {
		t.Fatalf("Append below the reserve = %v, want overload", err)
	}
	if err := w.Write(ctx, b); !errors.Is(err, pipeline.ErrOverloaded) {
		t.Fatalf("Write below the reserve = %v, want overload", err)
	}
	if next.batches != 0 {
		t.Fatalf("%d batches passed a refusing guard", next.batches)
	}

	d.free, d.now = 1000, d.now.Add(time.Second)
	if err := a.Append(ctx, b); err != nil {
		t.Fatal(err)
	}
	if err := w.Write(ctx, b); err != nil {
		t.Fatal(err)
	}

	// A write that breaks the store is answered as overload.
	next.err = errors.New("Failed to commit: No space left on device")
	next.onWrite = func() { broken = next.err }
	err := w.Write(ctx, b)
	if !errors.Is(err, pipeline.ErrOverloaded) || !errors.Is(err, next.err) {
		t.Fatalf("Write that broke the store = %v, want overload wrapping the failure", err)
	}
	// Other failures pass through as they are.
	broken, next.onWrite = nil, nil
	next.err = errors.New("timestamp out of range")
	if err := w.Write(ctx, b); err != next.err {
		t.Fatalf("Write failing on its records = %v, want %v", err, next.err)
	}
	if next.batches != 4 {
		t.Fatalf("%d batches reached next, want 4", next.batches)
	}
}

func BenchmarkCheck(b *testing.B) {
	g := New(Options{Dir: b.TempDir(), Reserve: 1})
	for b.Loop() {
		g.Check()
	}
}

func TestReopenNeedsRoomWithoutReserve(t *testing.T) {
	for _, tc := range []struct {
		free    int64
		reopens int
	}{{MinReopenFree - 1, 0}, {MinReopenFree, 1}} {
		broken := errors.New("Failed to commit")
		reopens := 0
		g := New(Options{Reserve: 0, Statfs: func(string) (int64, error) { return tc.free, nil },
			Broken: func() error { return broken },
			Reopen: func(context.Context) error { reopens++; broken = nil; return nil }})
		g.Recover(context.Background())
		if reopens != tc.reopens {
			t.Errorf("free %d without reserve: %d reopens, want %d", tc.free, reopens, tc.reopens)
		}
	}
}
