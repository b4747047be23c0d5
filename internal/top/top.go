// Package top is "telltale top": a per-service table of instances up,
// request rate, error percentage and p50/p95 call time, read from a running
// server's GET /api/v1/services and redrawn at an interval.
//
// It is split in three so that the output is testable as text: Client
// reads the API, Render draws one Frame (pure, no clock, no terminal), and
// Run ties them to a clock, an interval and the output.
package top

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"
)

// Options configure Run. The zero value shows the server on localhost
// refreshed every second on stdout.
type Options struct {
	// Server is the base URL of the API; without a scheme, http is
	// assumed. Default http://localhost:4320.
	Server string
	// Window is the range rates and latencies are computed over, ending
	// now. Default 1 minute.
	Window time.Duration
	// Interval between frames. Default 1 second.
	Interval time.Duration
	// Once prints one frame and returns; a failure to read the server is
	// then an error instead of a frame.
	Once bool
	// Env keeps only the instances of one deployment environment.
	Env string
	// Out receives the frames. Default os.Stdout.
	Out io.Writer
	// Terminal redraws each frame in place with ANSI codes; otherwise
	// frames follow each other, separated by a blank line.
	Terminal bool
	// Now is the clock the window ends at. Default time.Now.
	Now func() time.Time
	// HTTP is the client for the API. Default http.DefaultClient.
	HTTP *http.Client
	// Token is the API token sent with each request (see Client.Token).
	Token string
	// Timeout bounds each request to the server. Default 10 seconds.
	Timeout time.Duration
}

func (o *Options) setDefaults() {
	if o.Server == "" {
		o.Server = "http://localhost:4320"
	}
	if !strings.Contains(o.Server, "://") {
		o.Server = "http://" + o.Server // "localhost:4320" is what people type
	}
	o.Server = strings.TrimRight(o.Server, "/")
	if o.Window <= 0 {
		o.Window = time.Minute
	}
	if o.Interval <= 0 {
		o.Interval = time.Second
	}
	if o.Out == nil {
		o.Out = os.Stdout
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
}

// clearHome clears the screen and moves the cursor to the top left.
const clearHome = "\x1b[H\x1b[2J"

// Run shows frames until ctx is cancelled, which is a clean exit (nil), or,
// with Once, shows one frame. In live mode an unreachable server is shown in
// the frame and retried at the next interval.
func Run(ctx context.Context, opt Options) error {
	opt.setDefaults()
	c := &Client{Server: opt.Server, HTTP: opt.HTTP, Token: opt.Token}
	if opt.Once {
		f := frame(ctx, c, &opt)
		if f.Err != nil {
			return f.Err
		}
		return Render(opt.Out, f)
	}
	tick := time.NewTicker(opt.Interval)
	defer tick.Stop()
	var buf bytes.Buffer
	for first := true; ; first = false {
		f := frame(ctx, c, &opt)
		if ctx.Err() != nil {
			return nil
		}
		// One write per frame, so that a terminal never shows half of one.
		buf.Reset()
		if opt.Terminal {
			buf.WriteString(clearHome)
		} else if !first {
			buf.WriteByte('\n')
		}
		if err := Render(&buf, f); err != nil {
			return err
		}
		if _, err := opt.Out.Write(buf.Bytes()); err != nil {
			return fmt.Errorf("cannot write frame: %w", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// frame reads the window ending now; a failure goes into the frame.
func frame(ctx context.Context, c *Client, opt *Options) Frame {
	now := opt.Now()
	f := Frame{Server: opt.Server, Env: opt.Env, Window: opt.Window, Time: now}
	rctx, cancel := context.WithTimeout(ctx, opt.Timeout)
	defer cancel()
	svcs, err := c.Services(rctx, now.Add(-opt.Window), now)
	if err != nil {
		f.Err = err
		return f
	}
	f.Rows = Rows(svcs, now, opt.Window, opt.Env)
	return f
}

// IsTerminal reports whether w is a character device, such as a terminal,
// without a dependency on a terminal package. (/dev/null is one too, where
// the ANSI codes do no harm.)
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
