package statsd

import (
	"net"
	"net/netip"
	"testing"

	"github.com/fibinc/telltale/internal/ingest/ingestkey"
	"github.com/fibinc/telltale/internal/selfmetrics"
)

// TestAllow sends from 127.0.0.1 over real sockets to servers that allow
// loopback (the default), and only 10.0.0.0/8: the second drops the lines
// and counts them.
func TestAllow(t *testing.T) {
	for _, tc := range []struct {
		name  string
		allow []netip.Prefix
		heard bool
	}{
		{"default loopback", nil, true},
		{"only 10/8", ingestkey.MustPrefixes("10.0.0.0/8"), false},
		{"everything (ingest auth off)", ingestkey.MustPrefixes("0.0.0.0/0,::/0"), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			denied := ingestkey.NewMetrics(selfmetrics.New()).StatsDDenied
			app := &fakeAppender{}
			s, stop := started(t, Options{Appender: app, Allow: tc.allow, Denied: denied})

			u, err := net.Dial("udp", s.UDPAddr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer u.Close()
			if _, err := u.Write([]byte("udp.hits:1|c\n")); err != nil {
				t.Fatal(err)
			}
			c, err := net.Dial("tcp", s.TCPAddr().String())
			if err != nil {
				t.Fatal(err)
			}
			// A denied connection is closed at once: the write may fail.
			c.Write([]byte("tcp.hits:1|c\n"))
			c.Close()

			if tc.heard {
				waitFor(t, "both lines", func() bool { return s.agg.seen("udp.hits") && s.agg.seen("tcp.hits") })
			} else {
				waitFor(t, "both drops counted", func() bool {
					return denied.With("udp").Value() == 1 && denied.With("tcp").Value() == 1
				})
			}
			stop()
			pts := app.points()
			if got := len(find(pts, "udp.hits", "sum")) + len(find(pts, "tcp.hits", "sum")); tc.heard && got != 2 || !tc.heard && got != 0 {
				t.Errorf("stored %v, heard=%v", names(pts), tc.heard)
			}
			if !tc.heard {
				return
			}
			if n := denied.With("udp").Value() + denied.With("tcp").Value(); n != 0 {
				t.Errorf("denied %d, want 0", n)
			}
		})
	}
}
