package notifytest

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"math/big"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// SMTPOptions configure an SMTPServer.
type SMTPOptions struct {
	// TLS, when set, is offered with STARTTLS, or, with Implicit, spoken
	// from the first byte.
	TLS      *tls.Config
	Implicit bool
	// Username and Password, when set, are required (AUTH PLAIN) before
	// MAIL.
	Username, Password string
	// RcptReply, when set, answers every RCPT TO (e.g. "550 5.1.1 no
	// such user" or "451 4.3.0 try later").
	RcptReply string
}

// Mail is a message the server accepted.
type Mail struct {
	From     string
	To       []string
	Data     []byte // as sent, dot-unstuffed, CRLF line ends
	TLS      bool   // the session was encrypted
	AuthUser string
}

// SMTPServer is a small real SMTP server on 127.0.0.1 that speaks enough
// of the protocol for net/smtp and captures messages.
type SMTPServer struct {
	Addr string

	opt  SMTPOptions
	ln   net.Listener
	mu   sync.Mutex
	mail []Mail
	wg   sync.WaitGroup
}

// StartSMTP starts a server, stopped when the test ends.
func StartSMTP(t testing.TB, opt SMTPOptions) *SMTPServer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if opt.Implicit {
		ln = tls.NewListener(ln, opt.TLS)
	}
	s := &SMTPServer{Addr: ln.Addr().String(), opt: opt, ln: ln}
	s.wg.Go(s.accept)
	t.Cleanup(func() { ln.Close(); s.wg.Wait() })
	return s
}

// Messages returns the messages accepted so far.
func (s *SMTPServer) Messages() []Mail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Mail(nil), s.mail...)
}

func (s *SMTPServer) accept() {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.wg.Go(func() { s.session(c) })
	}
}

func (s *SMTPServer) session(c net.Conn) {
	defer func() { c.Close() }()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(c)
	w := bufio.NewWriter(c)
	say := func(lines ...string) {
		for _, l := range lines {
			w.WriteString(l + "\r\n")
		}
		w.Flush()
	}
	_, secure := c.(*tls.Conn)
	var m Mail
	authed := false
	say("220 notifytest ESMTP ready")
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		verb, arg, _ := strings.Cut(line, " ")
		switch strings.ToUpper(verb) {
		case "EHLO", "HELO":
			ext := []string{"250-notifytest", "250-8BITMIME"}
			if s.opt.TLS != nil && !secure {
				ext = append(ext, "250-STARTTLS")
			}
			ext = append(ext, "250-AUTH PLAIN", "250 SIZE 10485760")
			say(ext...)
		case "STARTTLS":
			if s.opt.TLS == nil || secure {
				say("502 5.5.1 not available")
				continue
			}
			say("220 2.0.0 go ahead")
			tc := tls.Server(c, s.opt.TLS)
			if err := tc.Handshake(); err != nil {
				return
			}
			c, secure = tc, true
			r, w = bufio.NewReader(c), bufio.NewWriter(c)
			m, authed = Mail{}, false
		case "AUTH":
			mech, resp, _ := strings.Cut(arg, " ")
			if !strings.EqualFold(mech, "PLAIN") {
				say("504 5.5.4 unknown mechanism")
				continue
			}
			if resp == "" {
				say("334 ")
				resp, _ = r.ReadString('\n')
				resp = strings.TrimSpace(resp)
			}
			b, err := base64.StdEncoding.DecodeString(resp)
			parts := strings.Split(string(b), "\x00")
			if err != nil || len(parts) != 3 || parts[1] != s.opt.Username || parts[2] != s.opt.Password {
				say("535 5.7.8 authentication failed")
				continue
			}
			authed = true
			m.AuthUser = parts[1]
			say("235 2.7.0 authenticated")
		case "MAIL":
			if s.opt.Username != "" && !authed {
				say("530 5.7.0 authentication required")
				continue
			}
			m.From = addr(arg)
			say("250 2.1.0 ok")
		case "RCPT":
			if s.opt.RcptReply != "" {
				say(s.opt.RcptReply)
				continue
			}
			m.To = append(m.To, addr(arg))
			say("250 2.1.5 ok")
		case "DATA":
			if m.From == "" || len(m.To) == 0 {
				say("503 5.5.1 need MAIL and RCPT")
				continue
			}
			say("354 end with <CRLF>.<CRLF>")
			var data bytes.Buffer
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
				data.WriteString(strings.TrimPrefix(l, "."))
			}
			m.Data, m.TLS = data.Bytes(), secure
			s.mu.Lock()
			s.mail = append(s.mail, m)
			s.mu.Unlock()
			m = Mail{AuthUser: m.AuthUser}
			say("250 2.0.0 queued")
		case "RSET":
			m = Mail{AuthUser: m.AuthUser}
			say("250 2.0.0 ok")
		case "NOOP":
			say("250 2.0.0 ok")
		case "QUIT":
			say("221 2.0.0 bye")
			return
		default:
			say("500 5.5.2 unknown command")
		}
	}
}

// addr takes the address out of "FROM:<a@b> SIZE=1".
func addr(arg string) string {
	_, v, _ := strings.Cut(arg, ":")
	v = strings.TrimSpace(v)
	if i := strings.IndexByte(v, '>'); i >= 0 {
		v = v[:i+1]
	}
	return strings.Trim(v, "<>")
}

// SelfSigned returns a server TLS configuration with a fresh certificate
// for 127.0.0.1 and localhost, and the pool that trusts it.
func SelfSigned(t testing.TB) (*tls.Config, *x509.CertPool) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "notifytest"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}, pool
}
