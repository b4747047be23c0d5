package uptime

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"time"

	"github.com/fibinc/telltale/internal/config"
)

// newTraceparent returns a W3C traceparent header for a new sampled trace
// and its trace id.
func newTraceparent() (header, traceID string) {
	var b [24]byte
	rand.Read(b[:]) // never fails (crypto/rand)
	traceID = hex.EncodeToString(b[:16])
	return "00-" + traceID + "-" + hex.EncodeToString(b[16:]) + "-01", traceID
}

// httpClient returns a client for a check. Each probe gets a transport of
// its own without keep-alive, so that every probe measures a fresh
// connection (DNS, connect, TLS) as a user's first request would, and
// reports the address and certificate it got.
func (r *Runner) httpClient(c config.Check) *http.Client {
	tr := &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		DialContext:         (&net.Dialer{}).DialContext,
		DisableKeepAlives:   true,
		TLSHandshakeTimeout: c.Timeout.D(),
		TLSClientConfig:     &tls.Config{RootCAs: r.opt.RootCAs, InsecureSkipVerify: c.Insecure}, //nolint:gosec // the check asks for it
		ForceAttemptHTTP2:   true,
	}
	cl := &http.Client{Transport: tr}
	if c.FollowRedirects != nil && !*c.FollowRedirects {
		cl.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	}
	return cl
}

func (r *Runner) probeHTTP(ctx context.Context, c config.Check, res *Result) {
	method := c.Method
	if method == "" {
		method = http.MethodGet
	}
	var body io.Reader
	if c.Body != "" {
		body = strings.NewReader(c.Body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.URL, body)
	if err != nil {
		res.Err = fmt.Errorf("cannot build request: %w", err)
		return
	}
	req.Header.Set("User-Agent", "Telltale-Uptime/1")
	for k, v := range c.Headers {
		req.Header.Set(k, v)
		if strings.EqualFold(k, "Host") {
			req.Host = v
		}
	}
	tp, traceID := newTraceparent()
	req.Header.Set("Traceparent", tp)
	res.TraceID = traceID
	trace := &httptrace.ClientTrace{
		GotConn: func(info httptrace.GotConnInfo) {
			if a, ok := info.Conn.RemoteAddr().(*net.TCPAddr); ok {
				res.IP = a.IP.String()
			}
		},
	}
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), trace))
	cl := r.httpClient(c)
	defer cl.CloseIdleConnections()
	start := time.Now()
	resp, err := cl.Do(req)
	if err != nil {
		res.Duration = time.Since(start)
		res.Err = httpError(err)
		return
	}
	defer resp.Body.Close()
	res.Connected = true
	res.Status = resp.StatusCode
	if resp.TLS != nil && len(resp.TLS.PeerCertificates) > 0 {
		res.CertExpiry = resp.TLS.PeerCertificates[0].NotAfter
	}
	res.Body, err = io.ReadAll(io.LimitReader(resp.Body, maxBody))
	res.Duration = time.Since(start)
	if err != nil {
		res.Err = fmt.Errorf("cannot read body: %w", err)
	}
}

// httpError shortens the client's error: "Get "url": dial tcp ...:
// connection refused" says the URL twice on a page about that URL.
func httpError(err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return errors.New("timeout: no response within the check's timeout")
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
