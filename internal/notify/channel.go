package notify

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/fibinc/telltale/internal/config"
)

// Notification is one message about one group of alerts to one channel.
type Notification struct {
	Channel     string            // the channel's name (Alertmanager's receiver)
	GroupKey    string            // identifies the group, e.g. {}:{alertname="api-down"}
	GroupLabels map[string]string // the group_by labels of the group
	Status      string            // firing if any alert fires, else resolved
	Alerts      []SentAlert       // firing first, then resolved
	// CommonLabels and CommonAnnotations are those every alert has with
	// the same value.
	CommonLabels      map[string]string
	CommonAnnotations map[string]string
	ExternalURL       string // Telltale's own URL, for links back
	Reason            string // why it is sent: one of the Reason constants
	At                time.Time
}

// SentAlert is an alert as one notification carries it.
type SentAlert struct {
	Alert
	Status      string // firing or resolved
	Fingerprint string
}

// Reasons for sending a notification, as Alertmanager's dedup stage names
// them.
const (
	ReasonFirst       = "first_notification"
	ReasonNewAlerts   = "new_alerts_in_group"
	ReasonAllResolved = "all_alerts_resolved"
	ReasonNewResolved = "new_resolved_alerts"
	ReasonRepeat      = "repeat_interval_elapsed"
)

// Firing returns the number of firing alerts.
func (n *Notification) Firing() int {
	c := 0
	for _, a := range n.Alerts {
		if a.Status == StatusFiring {
			c++
		}
	}
	return c
}

// Title is the one-line summary every channel uses: "[FIRING:2] api-down"
// or "[RESOLVED] api-down", naming the group by its labels' values.
func (n *Notification) Title() string {
	var b strings.Builder
	if n.Status == StatusFiring {
		fmt.Fprintf(&b, "[FIRING:%d]", n.Firing())
	} else {
		b.WriteString("[RESOLVED]")
	}
	names := sortedKeys(n.GroupLabels)
	if len(names) == 0 {
		// A group per alert ("...") or no group_by: name the alerts.
		names = sortedKeys(n.CommonLabels)
		if _, ok := n.CommonLabels["alertname"]; ok {
			names = []string{"alertname"}
		}
		for _, k := range names {
			b.WriteString(" " + n.CommonLabels[k])
		}
		return b.String()
	}
	for _, k := range names {
		b.WriteString(" " + n.GroupLabels[k])
	}
	return b.String()
}

// Channel delivers notifications. Send is one attempt; the notifier
// retries when the error is not Permanent.
type Channel interface {
	Send(ctx context.Context, n *Notification) error
}

// DeliveryError is a failed delivery: an HTTP answer other than 2xx, an
// SMTP refusal or a network error.
type DeliveryError struct {
	StatusCode int    // HTTP status, or SMTP reply code; 0 for a network error
	Body       string // the start of the answer's body
	// Permanent means a retry cannot help: an HTTP 4xx other than 408 and
	// 429, an SMTP 5xx, a request that cannot be built.
	Permanent bool
	Err       error
}

func (e *DeliveryError) Error() string {
	switch {
	case e.Err != nil:
		return e.Err.Error()
	case e.Body != "":
		return fmt.Sprintf("status %d: %s", e.StatusCode, e.Body)
	}
	return fmt.Sprintf("status %d", e.StatusCode)
}

func (e *DeliveryError) Unwrap() error { return e.Err }

// IsPermanent reports whether err says a retry cannot help.
func IsPermanent(err error) bool {
	var de *DeliveryError
	return errors.As(err, &de) && de.Permanent
}

// httpStatus returns the HTTP status an error carries, or 0.
func httpStatus(err error) int {
	var de *DeliveryError
	if errors.As(err, &de) {
		return de.StatusCode
	}
	return 0
}

// ChannelOptions are what channels share. The zero value works.
type ChannelOptions struct {
	// Client sends the HTTP channels' requests; default a client without
	// a timeout of its own (each attempt has the channel's).
	Client *http.Client
	// TLS is the base TLS configuration of SMTP connections (tests set
	// RootCAs); ServerName defaults to the server's host.
	TLS *tls.Config
	// Hostname names this host in SMTP EHLO and Message-IDs; default
	// "telltale.localhost".
	Hostname string
}

// NewChannel returns the channel that c describes.
func NewChannel(c config.Channel, opt ChannelOptions) (Channel, error) {
	if opt.Client == nil {
		opt.Client = &http.Client{}
	}
	if opt.Hostname == "" {
		opt.Hostname = "telltale.localhost"
	}
	switch c.Type {
	case config.ChannelWebhook, config.ChannelAlertmanager, config.ChannelSlack:
		u, err := url.Parse(c.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("channel %s: invalid url %q: want http(s)://host/path", c.Name, redactURL(c))
		}
		p := &poster{url: c.URL, headers: c.Headers, client: opt.Client}
		switch c.Type {
		case config.ChannelWebhook:
			p.encode = encodeWebhook
		case config.ChannelAlertmanager:
			p.encode = encodeAlertmanager
		default:
			p.encode = encodeSlack
		}
		return p, nil
	case config.ChannelEmail:
		return newEmail(c, opt)
	}
	return nil, fmt.Errorf("channel %s: unknown type %q: want webhook, alertmanager, slack or email", c.Name, c.Type)
}

// maxBody is how much of an error answer an error message quotes.
const maxBody = 200

// poster sends a JSON document over HTTP: the webhook, Alertmanager and
// Slack channels differ only in the document.
type poster struct {
	url     string
	headers map[string]string
	client  *http.Client
	encode  func(n *Notification) ([]byte, error)
}

func (p *poster) Send(ctx context.Context, n *Notification) error {
	body, err := p.encode(n)
	if err != nil {
		return &DeliveryError{Permanent: true, Err: fmt.Errorf("cannot encode notification: %w", err)}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.url, bytes.NewReader(body))
	if err != nil {
		return &DeliveryError{Permanent: true, Err: fmt.Errorf("cannot build request: %w", err)}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Telltale")
	for k, v := range p.headers {
		req.Header.Set(k, v)
	}
	resp, err := p.client.Do(req)
	if err != nil {
		// The URL may hold a secret (Slack's path): say only the host.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return &DeliveryError{Err: fmt.Errorf("cannot post to %s: %w", req.URL.Host, err)}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20)) // let the connection be reused
	if resp.StatusCode/100 == 2 {
		return nil
	}
	text := strings.ToValidUTF8(strings.TrimSpace(string(b)), "?")
	if len(text) > maxBody {
		text = text[:maxBody] + "..."
	}
	code := resp.StatusCode
	return &DeliveryError{
		StatusCode: code,
		Body:       text,
		// A redirect not followed or a 4xx will not change by itself.
		Permanent: code/100 == 3 || code/100 == 4 && code != http.StatusRequestTimeout && code != http.StatusTooManyRequests,
	}
}

// redactURL returns the channel's URL without secrets: no user info,
// and for Slack no path (the path is the token).
func redactURL(c config.Channel) string {
	u, err := url.Parse(c.URL)
	if err != nil {
		return "(invalid URL)"
	}
	u.User = nil
	if c.Type == config.ChannelSlack && u.Path != "" && u.Path != "/" {
		u.Path = "/..."
		u.RawPath = ""
	}
	if u.RawQuery != "" {
		u.RawQuery = "..."
	}
	return u.String()
}

// ChannelInfo describes a channel without its secrets.
type ChannelInfo struct {
	Name         string `json:"name"`
	Type         string `json:"type"`
	Target       string `json:"target"` // URL (Slack path and query hidden) or "smtp host:port -> a@b, c@d"
	SendResolved bool   `json:"send_resolved"`
}

// Describe returns what may be shown of a channel: no passwords, no
// header values, no Slack token.
func Describe(c config.Channel) ChannelInfo {
	info := ChannelInfo{Name: c.Name, Type: c.Type, SendResolved: c.SendResolved == nil || *c.SendResolved}
	if c.Type == config.ChannelEmail {
		info.Target = fmt.Sprintf("smtp %s -> %s", c.SMTP.Address, strings.Join(c.To, ", "))
	} else {
		info.Target = redactURL(c)
	}
	return info
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
