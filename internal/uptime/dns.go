package uptime

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/fibinc/telltale/internal/config"
)

// dnsTypes maps a check's record to a query type.
var dnsTypes = map[string]dnsmessage.Type{
	"A": dnsmessage.TypeA, "AAAA": dnsmessage.TypeAAAA, "CNAME": dnsmessage.TypeCNAME,
	"MX": dnsmessage.TypeMX, "NS": dnsmessage.TypeNS, "TXT": dnsmessage.TypeTXT,
}

// rcodeNames are the response codes as dig prints them.
var rcodeNames = map[dnsmessage.RCode]string{
	dnsmessage.RCodeSuccess: "NOERROR", dnsmessage.RCodeFormatError: "FORMERR",
	dnsmessage.RCodeServerFailure: "SERVFAIL", dnsmessage.RCodeNameError: "NXDOMAIN",
	dnsmessage.RCodeNotImplemented: "NOTIMP", dnsmessage.RCodeRefused: "REFUSED",
}

func rcodeName(c dnsmessage.RCode) string {
	if s, ok := rcodeNames[c]; ok {
		return s
	}
	return "RCODE" + strconv.Itoa(int(c))
}

// probeDNS sends one query over UDP to the check's resolver (default the
// first nameserver of /etc/resolv.conf) and reports the response code and
// the first answer as [BODY].
func (r *Runner) probeDNS(ctx context.Context, c config.Check, res *Result) {
	qtype, ok := dnsTypes[strings.ToUpper(c.Record)]
	if c.Record == "" {
		qtype, ok = dnsmessage.TypeA, true
	}
	if !ok {
		res.Err = fmt.Errorf("unknown record type %q", c.Record)
		return
	}
	server := c.Address
	if server == "" {
		var err error
		if server, err = systemResolver(r.opt.ResolvConf); err != nil {
			res.Err = err
			return
		}
	}
	if _, _, err := net.SplitHostPort(server); err != nil {
		server = net.JoinHostPort(server, "53")
	}
	name := c.Query
	if !strings.HasSuffix(name, ".") {
		name += "."
	}
	qname, err := dnsmessage.NewName(name)
	if err != nil {
		res.Err = fmt.Errorf("invalid query name %q: %w", c.Query, err)
		return
	}
	var idb [2]byte
	rand.Read(idb[:])
	id := binary.BigEndian.Uint16(idb[:])
	msg := dnsmessage.Message{
		Header:    dnsmessage.Header{ID: id, RecursionDesired: true},
		Questions: []dnsmessage.Question{{Name: qname, Type: qtype, Class: dnsmessage.ClassINET}},
	}
	packed, err := msg.Pack()
	if err != nil {
		res.Err = fmt.Errorf("cannot build query: %w", err)
		return
	}
	start := time.Now()
	conn, err := (&net.Dialer{}).DialContext(ctx, "udp", server)
	if err != nil {
		res.Err = err
		return
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	if a, ok := conn.RemoteAddr().(*net.UDPAddr); ok {
		res.IP = a.IP.String()
	}
	if _, err := conn.Write(packed); err != nil {
		res.Err = fmt.Errorf("cannot send query: %w", err)
		return
	}
	buf := make([]byte, 4096)
	var resp dnsmessage.Message
	for {
		n, err := conn.Read(buf)
		if err != nil {
			res.Duration = time.Since(start)
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				err = errors.New("timeout: no DNS answer within the check's timeout")
			}
			res.Err = err
			return
		}
		if err := resp.Unpack(buf[:n]); err != nil || resp.ID != id || !resp.Response {
			continue // not the answer to our query: keep waiting, as resolvers do
		}
		break
	}
	res.Duration = time.Since(start)
	res.Connected = true
	res.DNSRcode = rcodeName(resp.RCode)
	for _, a := range resp.Answers {
		if a.Header.Type != qtype {
			continue
		}
		if s := answerText(a.Body); s != "" {
			res.Body = []byte(s)
			break
		}
	}
}

// answerText is the value of an answer: an address, a name or the text.
func answerText(b dnsmessage.ResourceBody) string {
	switch v := b.(type) {
	case *dnsmessage.AResource:
		return netip.AddrFrom4(v.A).String()
	case *dnsmessage.AAAAResource:
		return netip.AddrFrom16(v.AAAA).String()
	case *dnsmessage.CNAMEResource:
		return v.CNAME.String()
	case *dnsmessage.MXResource:
		return v.MX.String()
	case *dnsmessage.NSResource:
		return v.NS.String()
	case *dnsmessage.TXTResource:
		return strings.Join(v.TXT, "")
	}
	return ""
}

// systemResolver returns the first nameserver of a resolv.conf file
// (default /etc/resolv.conf).
func systemResolver(path string) (string, error) {
	if path == "" {
		path = "/etc/resolv.conf"
	}
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("no resolver configured and cannot read %s: %w", path, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "nameserver" {
			return net.JoinHostPort(fields[1], "53"), nil
		}
	}
	return "", fmt.Errorf("no resolver configured and no nameserver in %s", path)
}
