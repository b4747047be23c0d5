package apptest

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	collectortracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/fibinc/telltale/internal/store/duckdb"
)

// TestTLS serves every TCP listener over TLS with a certificate made for
// the test, and talks to each as clients do: the real OpenTelemetry
// exporter over gRPC, OTLP/HTTP, StatsD over TCP and the UI. Plain
// connections to the TLS ports fail cleanly.
func TestTLS(t *testing.T) {
	pki := newPKI(t)
	dir := t.TempDir()
	s := startTLS(t, dir, pki, "--tls-cert", pki.serverCert, "--tls-key", pki.serverKey)
	client := pki.client(false)

	// UI and API.
	for _, path := range []string{"/healthz", "/"} {
		resp, err := client.Get("https://" + s.ui + path)
		if err != nil {
			t.Fatalf("GET https %s: %v", path, err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 && resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("GET https %s: status %d", path, resp.StatusCode)
		}
		if resp.TLS == nil || resp.TLS.Version < tls.VersionTLS12 {
			t.Fatalf("GET https %s: not TLS 1.2 or later: %+v", path, resp.TLS)
		}
	}

	// OTLP/HTTP.
	body, ids := crashRequest(30, 0, 5)
	resp, err := client.Post("https://"+s.otlpAddr+"/v1/logs", "application/x-protobuf", bytes.NewReader(body))
	if err != nil {
		t.Fatalf("OTLP/HTTP over TLS: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("OTLP/HTTP over TLS: status %d", resp.StatusCode)
	}

	// OTLP/gRPC through the SDK's exporter (which reports export errors to
	// the global handler: the span is looked for in the store at the end).
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	exp, err := otlptracegrpc.New(ctx, otlptracegrpc.WithEndpoint(s.grpcAddr),
		otlptracegrpc.WithTLSCredentials(credentials.NewClientTLSFromCert(pki.pool, "")))
	if err != nil {
		t.Fatal(err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	_, span := tp.Tracer("tls-test").Start(ctx, "tls-span")
	span.End()
	if err := tp.Shutdown(ctx); err != nil {
		t.Fatalf("OTLP/gRPC over TLS: %v", err)
	}

	// StatsD over TCP.
	conn, err := tls.Dial("tcp", s.statsdAddr, &tls.Config{RootCAs: pki.pool})
	if err != nil {
		t.Fatalf("StatsD over TLS: %v", err)
	}
	if _, err := conn.Write([]byte("tls.counter:3|c\n")); err != nil {
		t.Fatal(err)
	}
	conn.Close()

	// Plain connections to TLS ports.
	for _, addr := range []string{s.ui, s.otlpAddr} {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadRequest {
				t.Errorf("plain HTTP to the TLS port %s: status %d, want 400", addr, resp.StatusCode)
			}
		}
	}
	cc, err := grpc.NewClient(s.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	pctx, pcancel := context.WithTimeout(ctx, 3*time.Second)
	_, err = collectortracepb.NewTraceServiceClient(cc).Export(pctx, &collectortracepb.ExportTraceServiceRequest{})
	pcancel()
	cc.Close()
	if err == nil {
		t.Errorf("plain gRPC to the TLS port succeeded")
	}
	if c, err := net.Dial("tcp", s.statsdAddr); err == nil {
		c.Write([]byte("plain.counter:1|c\n"))
		c.Close()
	}
	resp, err = client.Get("https://" + s.ui + "/healthz")
	if err != nil {
		t.Fatalf("server unhealthy after plain connections: %v", err)
	}
	resp.Body.Close()

	logs := s.log.String()
	if !strings.Contains(logs, "ui=https://") || !strings.Contains(logs, "dsn=https://") {
		t.Errorf("the start-up log does not give https URLs:\n%s", logs)
	}
	s.stop()

	st, err := duckdb.Open(context.Background(), duckdb.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	count := func(q string) int {
		var n int
		rows, err := st.Query(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			rows.Scan(&n)
		}
		return n
	}
	if n := count("SELECT count(*) FROM logs WHERE body = '" + ids[0] + "'"); n != 1 {
		t.Errorf("OTLP/HTTP log stored %d times, want 1", n)
	}
	if n := count("SELECT count(*) FROM spans WHERE name = 'tls-span'"); n != 1 {
		t.Errorf("OTLP/gRPC span stored %d times, want 1", n)
	}
	if n := count("SELECT count(*) FROM metric_points WHERE name = 'tls.counter'"); n == 0 {
		t.Errorf("StatsD counter over TLS not stored")
	}
	if n := count("SELECT count(*) FROM metric_points WHERE name = 'plain.counter'"); n != 0 {
		t.Errorf("a plain StatsD line was taken on the TLS port")
	}
}

// TestTLSClientCertificates requires client certificates on the ingest
// listeners, not on the UI.
func TestTLSClientCertificates(t *testing.T) {
	pki := newPKI(t)
	s := startTLS(t, t.TempDir(), pki, "--tls-cert", pki.serverCert, "--tls-key", pki.serverKey, "--tls-client-ca", pki.caCert)
	body, _ := crashRequest(31, 0, 1)
	post := func(c *http.Client) (int, error) {
		resp, err := c.Post("https://"+s.otlpAddr+"/v1/logs", "application/x-protobuf", bytes.NewReader(body))
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	if code, err := post(pki.client(false)); err == nil {
		t.Errorf("ingest without a client certificate: status %d, want a TLS failure", code)
	}
	if code, err := post(pki.client(true)); err != nil || code != 200 {
		t.Errorf("ingest with a client certificate: %d %v, want 200", code, err)
	}
	resp, err := pki.client(false).Get("https://" + s.ui + "/healthz")
	if err != nil {
		t.Fatalf("UI without a client certificate: %v", err)
	}
	resp.Body.Close()
	s.stop()
}

func TestTLSBadFlags(t *testing.T) {
	pki := newPKI(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--tls-cert", pki.serverCert}, "TLS needs both a certificate and a key"},
		{[]string{"--tls-cert", pki.serverCert, "--tls-key", pki.caCert}, "cannot load TLS certificate"},
		{[]string{"--tls-cert", "/nonexistent.pem", "--tls-key", pki.serverKey}, "/nonexistent.pem"},
	} {
		cmd := exec.Command(telltale(t), append([]string{"serve", "--data-dir", t.TempDir(), "--http-addr", freeAddr(t),
			"--otlp-grpc-addr", freeAddr(t), "--otlp-http-addr", freeAddr(t), "--statsd-addr", freeAddr(t)}, tc.args...)...)
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), tc.want) {
			t.Errorf("serve %v: %v, output %q; want a failure with %q", tc.args, err, out, tc.want)
		}
	}
}

// pki is a CA with a server certificate for 127.0.0.1 and localhost and a
// client certificate, in PEM files.
type pki struct {
	t                             *testing.T
	pool                          *x509.CertPool
	caCert, serverCert, serverKey string
	clientPair                    tls.Certificate
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	dir := t.TempDir()
	p := &pki{t: t, pool: x509.NewCertPool()}
	caKey := genKey(t)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "telltale test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	p.pool.AddCert(ca)
	p.caCert = writePEM(t, dir, "ca.pem", "CERTIFICATE", caDER)

	issue := func(name string, usage x509.ExtKeyUsage, serial int64) ([]byte, *ecdsa.PrivateKey) {
		key := genKey(t)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
			DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		return der, key
	}
	der, key := issue("telltale", x509.ExtKeyUsageServerAuth, 2)
	p.serverCert = writePEM(t, dir, "server.pem", "CERTIFICATE", der)
	kb, _ := x509.MarshalPKCS8PrivateKey(key)
	p.serverKey = writePEM(t, dir, "server-key.pem", "PRIVATE KEY", kb)
	der, key = issue("client", x509.ExtKeyUsageClientAuth, 3)
	p.clientPair = tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	return p
}

func (p *pki) client(withCert bool) *http.Client {
	cfg := &tls.Config{RootCAs: p.pool}
	if withCert {
		cfg.Certificates = []tls.Certificate{p.clientPair}
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
}

func genKey(t *testing.T) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func writePEM(t *testing.T, dir, name, typ string, der []byte) string {
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// tlsServer is a server whose StatsD address the test knows.
type tlsServer struct {
	*server
	statsdAddr string
}

// startTLS is start for a server with TLS flags: it waits for readiness
// over https.
func startTLS(t *testing.T, dataDir string, p *pki, extra ...string) *tlsServer {
	t.Helper()
	s := &server{t: t, dataDir: dataDir, grpcAddr: freeAddr(t), otlpAddr: freeAddr(t), ui: freeAddr(t), log: &syncBuffer{}, exited: make(chan struct{})}
	statsd := freeAddr(t)
	args := append([]string{"serve", "--data-dir", dataDir, "--log-level", "debug", "--ingest-auth=false", "--statsd-flush-interval", "1s",
		"--otlp-grpc-addr", s.grpcAddr, "--otlp-http-addr", s.otlpAddr, "--http-addr", s.ui, "--statsd-addr", statsd}, extra...)
	s.cmd = exec.Command(telltale(t), args...)
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.cmd.Wait(); close(s.exited) }()
	t.Cleanup(func() {
		s.cmd.Process.Kill()
		<-s.exited
		if t.Failed() {
			t.Logf("server log:\n%s", s.log.String())
		}
	})
	client := p.client(false)
	for begin := time.Now(); ; {
		resp, err := client.Get("https://" + s.ui + "/readyz")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		select {
		case <-s.exited:
			t.Fatalf("telltale exited during start-up:\n%s", s.log.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Since(begin) > 30*time.Second {
			t.Fatalf("telltale not ready over https after 30s:\n%s", s.log.String())
		}
	}
	return &tlsServer{server: s, statsdAddr: statsd}
}
