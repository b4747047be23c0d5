package notify

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"strings"
	"time"

	"github.com/fibinc/telltale/internal/config"
)

// email sends notifications by SMTP.
type email struct {
	addr     string // host:port
	host     string
	username string
	password string
	tlsMode  string // starttls, tls, none
	tls      *tls.Config
	hostname string
	from     *mail.Address
	to       []*mail.Address
}

func newEmail(c config.Channel, opt ChannelOptions) (*email, error) {
	host, _, err := net.SplitHostPort(c.SMTP.Address)
	if err != nil || host == "" {
		return nil, fmt.Errorf("channel %s: invalid smtp address %q: want host:port", c.Name, c.SMTP.Address)
	}
	e := &email{addr: c.SMTP.Address, host: host, username: c.SMTP.Username, password: c.SMTP.Password,
		tlsMode: c.SMTP.TLS, hostname: opt.Hostname}
	switch e.tlsMode {
	case "":
		e.tlsMode = "starttls"
	case "starttls", "tls", "none":
	default:
		return nil, fmt.Errorf("channel %s: invalid smtp tls %q: want starttls, tls or none", c.Name, c.SMTP.TLS)
	}
	if opt.TLS != nil {
		e.tls = opt.TLS.Clone()
	} else {
		e.tls = &tls.Config{}
	}
	if e.tls.ServerName == "" {
		e.tls.ServerName = host
	}
	if e.from, err = mail.ParseAddress(c.From); err != nil {
		return nil, fmt.Errorf("channel %s: invalid from %q: %w", c.Name, c.From, err)
	}
	if len(c.To) == 0 {
		return nil, fmt.Errorf("channel %s: no recipients (to)", c.Name)
	}
	for _, t := range c.To {
		a, err := mail.ParseAddress(t)
		if err != nil {
			return nil, fmt.Errorf("channel %s: invalid recipient %q: %w", c.Name, t, err)
		}
		e.to = append(e.to, a)
	}
	return e, nil
}

// Send delivers one message in one SMTP session. net/smtp's PLAIN auth
// refuses to send the password over an unencrypted connection to another
// host than localhost, which is what we want.
func (e *email) Send(ctx context.Context, n *Notification) error {
	msg := e.message(n)
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", e.addr)
	if err != nil {
		return &DeliveryError{Err: fmt.Errorf("cannot connect to smtp %s: %w", e.addr, err)}
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	// net/smtp takes no context: closing the connection ends a session
	// that outlives its context.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	if e.tlsMode == "tls" {
		tc := tls.Client(conn, e.tls)
		if err := tc.HandshakeContext(ctx); err != nil {
			return &DeliveryError{Err: fmt.Errorf("cannot start tls with smtp %s: %w", e.addr, err)}
		}
		conn = tc
	}
	c, err := smtp.NewClient(conn, e.host)
	if err != nil {
		return smtpError("greeting", e.addr, err)
	}
	defer c.Close()
	if err := c.Hello(e.hostname); err != nil {
		return smtpError("EHLO", e.addr, err)
	}
	if e.tlsMode == "starttls" {
		if ok, _ := c.Extension("STARTTLS"); ok {
			if err := c.StartTLS(e.tls); err != nil {
				return smtpError("STARTTLS", e.addr, err)
			}
		}
	}
	if e.username != "" {
		if err := c.Auth(smtp.PlainAuth("", e.username, e.password, e.host)); err != nil {
			return smtpError("AUTH", e.addr, err)
		}
	}
	if err := c.Mail(e.from.Address); err != nil {
		return smtpError("MAIL FROM", e.addr, err)
	}
	for _, t := range e.to {
		if err := c.Rcpt(t.Address); err != nil {
			return smtpError("RCPT TO", e.addr, err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return smtpError("DATA", e.addr, err)
	}
	if _, err := w.Write(msg); err != nil {
		return smtpError("DATA", e.addr, err)
	}
	if err := w.Close(); err != nil {
		return smtpError("DATA", e.addr, err)
	}
	if err := c.Quit(); err != nil {
		// The message was accepted; a failed QUIT does not undo it.
		return nil
	}
	return nil
}

// smtpError classifies an SMTP failure: a 5xx reply is permanent, a 4xx
// reply or a network error is worth a retry.
func smtpError(step, addr string, err error) error {
	de := &DeliveryError{Err: fmt.Errorf("smtp %s %s: %w", addr, step, err)}
	var te *textproto.Error
	if errors.As(err, &te) {
		de.StatusCode = te.Code
		de.Permanent = te.Code >= 500
	}
	if strings.Contains(err.Error(), "unencrypted connection") {
		de.Permanent = true
	}
	return de
}

// message writes the mail: headers and a quoted-printable plain-text body.
func (e *email) message(n *Notification) []byte {
	var b bytes.Buffer
	to := make([]string, len(e.to))
	for i, a := range e.to {
		to[i] = a.String()
	}
	at := n.At
	if at.IsZero() {
		at = time.Now()
	}
	var id [12]byte
	rand.Read(id[:])
	hdr := [][2]string{
		{"Date", at.Format(time.RFC1123Z)},
		{"Message-ID", "<" + hex.EncodeToString(id[:]) + "@" + e.hostname + ">"},
		{"From", e.from.String()},
		{"To", strings.Join(to, ", ")},
		// Q-encoding also turns CR and LF into =0D =0A: a label cannot
		// add a header.
		{"Subject", mime.QEncoding.Encode("utf-8", n.Title())},
		{"MIME-Version", "1.0"},
		{"Content-Type", "text/plain; charset=utf-8"},
		{"Content-Transfer-Encoding", "quoted-printable"},
		{"X-Telltale-Group", mime.QEncoding.Encode("utf-8", n.GroupKey)},
	}
	for _, h := range hdr {
		b.WriteString(h[0] + ": " + h[1] + "\r\n")
	}
	b.WriteString("\r\n")
	qp := quotedprintable.NewWriter(&b)
	qp.Write([]byte(strings.ReplaceAll(EmailText(n), "\n", "\r\n")))
	qp.Close()
	return b.Bytes()
}

// EmailText is the plain-text body of a notification's mail.
func EmailText(n *Notification) string {
	var b strings.Builder
	b.WriteString(n.Title() + "\n")
	for _, status := range []string{StatusFiring, StatusResolved} {
		var list []SentAlert
		for _, a := range n.Alerts {
			if a.Status == status {
				list = append(list, a)
			}
		}
		if len(list) == 0 {
			continue
		}
		word := "Firing"
		if status == StatusResolved {
			word = "Resolved"
		}
		fmt.Fprintf(&b, "\n%s (%d):\n", word, len(list))
		for _, a := range list {
			fmt.Fprintf(&b, "\n- %s", a.Labels["alertname"])
			if l := labelText(a.Labels, nil); l != "" {
				b.WriteString(" {" + l + "}")
			}
			b.WriteString("\n")
			for _, k := range sortedKeys(a.Annotations) {
				fmt.Fprintf(&b, "  %s: %s\n", k, oneLine(a.Annotations[k]))
			}
			if a.Value != "" {
				fmt.Fprintf(&b, "  value: %s\n", oneLine(a.Value))
			}
			fmt.Fprintf(&b, "  since: %s\n", a.StartsAt.UTC().Format(time.RFC3339))
			if status == StatusResolved && !a.EndsAt.IsZero() {
				fmt.Fprintf(&b, "  resolved: %s\n", a.EndsAt.UTC().Format(time.RFC3339))
			}
			if a.GeneratorURL != "" {
				fmt.Fprintf(&b, "  source: %s\n", a.GeneratorURL)
			}
		}
	}
	if n.ExternalURL != "" {
		fmt.Fprintf(&b, "\nTelltale: %s\n", n.ExternalURL)
	}
	fmt.Fprintf(&b, "Channel %s, group %s, reason %s.\n", n.Channel, n.GroupKey, n.Reason)
	return b.String()
}

func oneLine(s string) string { return strings.ReplaceAll(strings.ReplaceAll(s, "\r", " "), "\n", " ") }
