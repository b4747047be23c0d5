package uptime

import (
	"context"
	"crypto/tls"
	"net"
	"time"

	"github.com/fibinc/telltale/internal/config"
)

// probeTLS connects and completes a handshake, verifying the chain unless
// the check is insecure, and reports the leaf certificate's expiry.
func (r *Runner) probeTLS(ctx context.Context, c config.Check, res *Result) {
	if c.Address == "" {
		res.Err = errNoAddress
		return
	}
	host, _, err := net.SplitHostPort(c.Address)
	if err != nil {
		res.Err = err
		return
	}
	d := &tls.Dialer{Config: &tls.Config{ServerName: host, RootCAs: r.opt.RootCAs, InsecureSkipVerify: c.Insecure}} //nolint:gosec // the check asks for it
	start := time.Now()
	conn, err := d.DialContext(ctx, "tcp", c.Address)
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
	if certs := conn.(*tls.Conn).ConnectionState().PeerCertificates; len(certs) > 0 {
		res.CertExpiry = certs[0].NotAfter
	}
}
