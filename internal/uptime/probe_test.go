package uptime

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/fibinc/telltale/internal/config"
	"github.com/fibinc/telltale/internal/state"
)

func runCheck(t *testing.T, r *Runner, c config.Check) state.CheckResult {
	t.Helper()
	if c.Name == "" {
		c.Name = "test"
	}
	if c.Timeout == 0 {
		c.Timeout = config.Duration(2 * time.Second)
	}
	comp, err := compile(c)
	if err != nil {
		t.Fatal(err)
	}
	return r.probe(context.Background(), comp)
}

var traceparentRE = regexp.MustCompile(`^00-([0-9a-f]{32})-[0-9a-f]{16}-01$`)

func TestHTTPProbe(t *testing.T) {
	var lastTP atomic.Value
	var flaky atomic.Int32
	mux := http.NewServeMux()
	mux.HandleFunc("/health", func(w http.ResponseWriter, r *http.Request) {
		lastTP.Store(r.Header.Get("Traceparent"))
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"status":"UP","items":[1,2]}`)
	})
	mux.HandleFunc("/down", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "Service Unavailable", http.StatusServiceUnavailable)
	})
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, `{"method":%q,"token":%q,"body":%q}`, r.Method, r.Header.Get("X-Token"), b)
	})
	mux.HandleFunc("/moved", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/health", http.StatusFound)
	})
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
		w.Write(make([]byte, 3<<20))
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	})
	mux.HandleFunc("/flaky", func(w http.ResponseWriter, r *http.Request) {
		if flaky.Add(1) <= 2 {
			w.WriteHeader(http.StatusBadGateway)
		}
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	r := New(Options{})
	no := false

	tests := []struct {
		name     string
		check    config.Check
		ok       bool
		status   int
		attempts int
		errPart  string
	}{
		{"default 2xx", config.Check{URL: srv.URL + "/health"}, true, 200, 1, ""},
		{"default on 503", config.Check{URL: srv.URL + "/down"}, false, 503, 1, "failed: [STATUS] (503) == pat(2*)"},
		{"body conditions", config.Check{URL: srv.URL + "/health", Conditions: []string{"[STATUS] == 200", "[BODY].status == UP", "len([BODY].items) == 2", "[RESPONSE_TIME] < 2000", "[IP] == 127.0.0.1", "[CONNECTED] == true"}}, true, 200, 1, ""},
		{"failed condition", config.Check{URL: srv.URL + "/health", Conditions: []string{"[STATUS] == 200", "[BODY].status == DOWN"}}, false, 200, 1, "failed: [BODY].status (UP) == DOWN"},
		{"method headers body", config.Check{URL: srv.URL + "/echo", Method: "POST", Headers: map[string]string{"X-Token": "abc"}, Body: "ping",
			Conditions: []string{`[BODY].method == POST`, `[BODY].token == abc`, `[BODY].body == ping`}}, true, 200, 1, ""},
		{"redirect followed", config.Check{URL: srv.URL + "/moved"}, true, 200, 1, ""},
		{"redirect not followed", config.Check{URL: srv.URL + "/moved", FollowRedirects: &no, Conditions: []string{"[STATUS] == 302"}}, true, 302, 1, ""},
		{"body capped at 1 MiB", config.Check{URL: srv.URL + "/big", Conditions: []string{"len([BODY]) == 1048576"}}, true, 200, 1, ""},
		{"timeout", config.Check{URL: srv.URL + "/slow", Timeout: config.Duration(100 * time.Millisecond)}, false, 0, 1, "timeout"},
		{"refused", config.Check{URL: "http://" + closedAddr(t)}, false, 0, 1, "refused"},
		{"retries until up", config.Check{URL: srv.URL + "/flaky", Retries: 3, RetryInterval: config.Duration(10 * time.Millisecond)}, true, 200, 3, ""},
		{"retries exhausted", config.Check{URL: srv.URL + "/down", Retries: 1, RetryInterval: config.Duration(10 * time.Millisecond)}, false, 503, 2, "503"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := runCheck(t, r, tt.check)
			if got.OK != tt.ok || got.Status != tt.status || got.Attempts != tt.attempts || !strings.Contains(got.Error, tt.errPart) {
				t.Errorf("got ok=%v status=%d attempts=%d error=%q, want %v %d %d %q", got.OK, got.Status, got.Attempts, got.Error, tt.ok, tt.status, tt.attempts, tt.errPart)
			}
			if tt.ok && got.Error != "" {
				t.Errorf("error %q on success", got.Error)
			}
			if got.Source != SourceProbe || got.Check != "test" || got.At.IsZero() || len(got.Conditions) == 0 {
				t.Errorf("result incomplete: %+v", got)
			}
			if !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(got.TraceID) {
				t.Errorf("trace id %q", got.TraceID)
			}
		})
	}

	// The traceparent sent is a fresh sampled W3C header with the trace id
	// recorded in the result.
	a := runCheck(t, r, config.Check{URL: srv.URL + "/health"})
	m := traceparentRE.FindStringSubmatch(lastTP.Load().(string))
	if m == nil || m[1] != a.TraceID {
		t.Errorf("traceparent %q, result trace id %q", lastTP.Load(), a.TraceID)
	}
	b := runCheck(t, r, config.Check{URL: srv.URL + "/health"})
	if b.TraceID == a.TraceID {
		t.Error("two probes sent the same trace id")
	}
}

// closedAddr returns an address where nothing listens: a listener opened
// and closed.
func closedAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func TestHTTPSProbe(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	leaf := srv.Certificate()
	pool := x509.NewCertPool()
	pool.AddCert(leaf)

	got := runCheck(t, New(Options{}), config.Check{URL: srv.URL})
	if got.OK || !strings.Contains(got.Error, "certificate") {
		t.Errorf("self-signed without insecure: ok=%v error %q, want a certificate error", got.OK, got.Error)
	}
	got = runCheck(t, New(Options{}), config.Check{URL: srv.URL, Insecure: true, Conditions: []string{"[STATUS] == 200", "[CERTIFICATE_EXPIRATION] > 7d"}})
	if !got.OK || !got.CertExpiry.Equal(leaf.NotAfter) {
		t.Errorf("insecure: ok=%v expiry %v want %v (%s)", got.OK, got.CertExpiry, leaf.NotAfter, got.Error)
	}
	got = runCheck(t, New(Options{RootCAs: pool}), config.Check{URL: srv.URL})
	if !got.OK {
		t.Errorf("with the server's CA: %s", got.Error)
	}
}

// soonExpiringServer is a TLS server whose self-signed certificate expires
// in 48 hours.
func soonExpiringServer(t *testing.T) (*httptest.Server, *x509.CertPool, time.Time) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	notAfter := time.Now().Add(48 * time.Hour).Truncate(time.Second)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: notAfter,
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv, pool, notAfter
}

func TestTLSProbe(t *testing.T) {
	srv, pool, notAfter := soonExpiringServer(t)
	addr := srv.Listener.Addr().String()
	r := New(Options{RootCAs: pool})

	got := runCheck(t, r, config.Check{Type: config.CheckTLS, Address: addr})
	if got.OK || !got.CertExpiry.Equal(notAfter) || !strings.Contains(got.Error, "[CERTIFICATE_EXPIRATION] (47h") {
		t.Errorf("default condition on a cert expiring in 48h: ok=%v expiry %v error %q", got.OK, got.CertExpiry, got.Error)
	}
	got = runCheck(t, r, config.Check{Type: config.CheckTLS, Address: addr, Conditions: []string{"[CERTIFICATE_EXPIRATION] > 24h"}})
	if !got.OK {
		t.Errorf("> 24h: %s", got.Error)
	}
	got = runCheck(t, New(Options{}), config.Check{Type: config.CheckTLS, Address: addr, Conditions: []string{"[CERTIFICATE_EXPIRATION] > 24h"}})
	if got.OK || !strings.Contains(got.Error, "certificate") {
		t.Errorf("unverifiable: ok=%v error %q", got.OK, got.Error)
	}
	// HTTPS checks see the same expiry.
	got = runCheck(t, r, config.Check{URL: srv.URL, Conditions: []string{"[CERTIFICATE_EXPIRATION] > 7d"}})
	if got.OK || !strings.Contains(got.Error, "[CERTIFICATE_EXPIRATION] (47h") {
		t.Errorf("https: ok=%v error %q", got.OK, got.Error)
	}
	got = runCheck(t, r, config.Check{Type: config.CheckTLS, Address: closedAddr(t)})
	if got.OK || !strings.Contains(got.Error, "refused") {
		t.Errorf("closed port: ok=%v error %q", got.OK, got.Error)
	}
}

func TestTCPProbe(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	addr := l.Addr().String()
	r := New(Options{})
	got := runCheck(t, r, config.Check{Type: config.CheckTCP, Address: addr, Conditions: []string{"[CONNECTED] == true", "[IP] == 127.0.0.1"}})
	if !got.OK {
		t.Errorf("open port: %s", got.Error)
	}
	l.Close()
	got = runCheck(t, r, config.Check{Type: config.CheckTCP, Address: addr})
	if got.OK || !strings.Contains(got.Error, "refused") {
		t.Errorf("closed port: ok=%v error %q", got.OK, got.Error)
	}
	// A check that wants the port closed.
	got = runCheck(t, r, config.Check{Type: config.CheckTCP, Address: addr, Conditions: []string{"[CONNECTED] == false"}})
	if !got.OK || got.Error != "" {
		t.Errorf("want closed: ok=%v error %q", got.OK, got.Error)
	}
	got = runCheck(t, r, config.Check{Type: config.CheckTCP})
	if got.OK || got.Error != errNoAddress.Error() {
		t.Errorf("no address: ok=%v error %q", got.OK, got.Error)
	}
}

// dnsServer answers A queries for api.example.com with 10.0.0.1, TXT for
// txt.example.com, SERVFAIL for fail.example.com and NXDOMAIN otherwise.
func dnsServer(t *testing.T) string {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 512)
		for {
			n, addr, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			var q dnsmessage.Message
			if q.Unpack(buf[:n]) != nil || len(q.Questions) != 1 {
				continue
			}
			qq := q.Questions[0]
			resp := dnsmessage.Message{Header: dnsmessage.Header{ID: q.ID, Response: true, RecursionAvailable: true}, Questions: q.Questions}
			hdr := dnsmessage.ResourceHeader{Name: qq.Name, Type: qq.Type, Class: dnsmessage.ClassINET, TTL: 60}
			switch name := qq.Name.String(); {
			case name == "api.example.com." && qq.Type == dnsmessage.TypeA:
				resp.Answers = []dnsmessage.Resource{{Header: hdr, Body: &dnsmessage.AResource{A: [4]byte{10, 0, 0, 1}}}}
			case name == "txt.example.com." && qq.Type == dnsmessage.TypeTXT:
				resp.Answers = []dnsmessage.Resource{{Header: hdr, Body: &dnsmessage.TXTResource{TXT: []string{"v=spf1 -all"}}}}
			case name == "fail.example.com.":
				resp.RCode = dnsmessage.RCodeServerFailure
			case name == "api.example.com.":
			default:
				resp.RCode = dnsmessage.RCodeNameError
			}
			out, _ := resp.Pack()
			pc.WriteTo(out, addr)
		}
	}()
	return pc.LocalAddr().String()
}

func TestDNSProbe(t *testing.T) {
	addr := dnsServer(t)
	r := New(Options{})
	tests := []struct {
		check   config.Check
		ok      bool
		errPart string
	}{
		{config.Check{Type: config.CheckDNS, Address: addr, Query: "api.example.com"}, true, ""},
		{config.Check{Type: config.CheckDNS, Address: addr, Query: "api.example.com", Conditions: []string{"[BODY] == 10.0.0.1", "[DNS_RCODE] == NOERROR"}}, true, ""},
		{config.Check{Type: config.CheckDNS, Address: addr, Query: "txt.example.com", Record: "TXT", Conditions: []string{"[BODY] == pat(v=spf1*)"}}, true, ""},
		{config.Check{Type: config.CheckDNS, Address: addr, Query: "api.example.com", Record: "AAAA"}, false, "len([BODY]) (0) > 0"},
		{config.Check{Type: config.CheckDNS, Address: addr, Query: "nope.example.com"}, false, "[DNS_RCODE] (NXDOMAIN) == NOERROR"},
		{config.Check{Type: config.CheckDNS, Address: addr, Query: "nope.example.com", Conditions: []string{"[DNS_RCODE] == NXDOMAIN"}}, true, ""},
		{config.Check{Type: config.CheckDNS, Address: addr, Query: "fail.example.com"}, false, "SERVFAIL"},
		{config.Check{Type: config.CheckDNS, Address: addr, Query: "api.example.com", Record: "SRV"}, false, `unknown record type "SRV"`},
		{config.Check{Type: config.CheckDNS, Address: closedUDP(t), Query: "api.example.com", Timeout: config.Duration(300 * time.Millisecond)}, false, ""},
	}
	for _, tt := range tests {
		got := runCheck(t, r, tt.check)
		if got.OK != tt.ok || !strings.Contains(got.Error, tt.errPart) {
			t.Errorf("%s %s %v: ok=%v error %q, want %v %q", tt.check.Query, tt.check.Record, tt.check.Conditions, got.OK, got.Error, tt.ok, tt.errPart)
		}
	}
	// The system resolver comes from resolv.conf.
	conf := t.TempDir() + "/resolv.conf"
	host, port, _ := net.SplitHostPort(addr)
	writeFile(t, conf, "# test\nsearch example.com\nnameserver "+host+"\n")
	if got, err := systemResolver(conf); err != nil || got != host+":53" {
		t.Errorf("systemResolver = %q, %v", got, err)
	}
	_ = port
	if _, err := systemResolver(t.TempDir() + "/none"); err == nil {
		t.Error("systemResolver of a missing file succeeded")
	}
}

// closedUDP is a UDP address where nothing answers.
func closedUDP(t *testing.T) string {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := pc.LocalAddr().String()
	pc.Close()
	return addr
}
