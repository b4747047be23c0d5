package uptime

import (
	"context"
	"net"
	"time"

	"github.com/fibinc/telltale/internal/config"
)

func (r *Runner) probeTCP(ctx context.Context, c config.Check, res *Result) {
	if c.Address == "" {
		res.Err = errNoAddress
		return
	}
	start := time.Now()
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", c.Address)
	res.Duration = time.Since(start)
	if err != nil {
		res.Err = err
		return
	}
	defer conn.Close()
	res.Connected = true
	if a, ok := conn.RemoteAddr().(*net.TCPAddr); ok {
		res.IP = a.IP.String()
	}
}
