package web

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/fibinc/telltale/internal/notify"
	"github.com/fibinc/telltale/internal/state"
)

// Limits of the notifications page.
const (
	defaultAttemptRows = 200
	maxAttemptRows     = 1000
)

type notificationsPage struct {
	Configured bool
	Channel    string
	Channels   []notify.ChannelInfo
	// Unlisted is set when Channel is not configured (any more): its
	// attempts are still shown.
	Unlisted bool
	Attempts []state.NotificationAttempt
	Limit    int
}

// Took formats an attempt's duration.
func (p *notificationsPage) Took(d time.Duration) string {
	return fmtMs(float64(d) / float64(time.Millisecond))
}

func (s *server) notificationsPage(r *http.Request, f *frame) (any, error) {
	f.Title, f.Nav = "Notifications", "silences"
	q := r.URL.Query()
	p := &notificationsPage{Configured: s.opt.Notify != nil, Channel: q.Get("channel"), Limit: defaultAttemptRows}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 || n > maxAttemptRows {
			return nil, &userError{fmt.Sprintf("limit %q is not a number from 1 to %d", v, maxAttemptRows)}
		}
		p.Limit = n
	}
	if len(p.Channel) > 200 {
		return nil, &userError{"channel: the name is longer than 200 bytes"}
	}
	if s.opt.Notify == nil {
		return p, nil
	}
	p.Channels = s.opt.Notify.Channels()
	p.Unlisted = p.Channel != "" && !slices.ContainsFunc(p.Channels, func(c notify.ChannelInfo) bool { return c.Name == p.Channel })
	list, err := s.opt.Notify.Attempts(r.Context(), state.AttemptFilter{Channel: p.Channel, Limit: p.Limit})
	if err != nil {
		return nil, err
	}
	p.Attempts = list
	return p, nil
}
