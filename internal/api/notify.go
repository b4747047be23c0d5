package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/fibinc/telltale/internal/notify"
	"github.com/fibinc/telltale/internal/query"
	"github.com/fibinc/telltale/internal/state"
)

// Notifications is what the silence, notification and channel endpoints
// read and change; *notify.Notifier is one.
type Notifications interface {
	Silences(ctx context.Context) ([]notify.Silence, error)
	CreateSilence(ctx context.Context, req notify.SilenceRequest) (notify.Silence, error)
	ExpireSilence(ctx context.Context, id string) (notify.Silence, error)
	Attempts(ctx context.Context, f state.AttemptFilter) ([]state.NotificationAttempt, error)
	Channels() []notify.ChannelInfo
}

// Limits of GET /api/v1/notifications.
const (
	defaultAttempts = 100
	maxAttempts     = 1000
)

// notifyAPI serves the notification endpoints; notifier may be nil (no
// configuration): lists are then empty and changes answer 503.
type notifyAPI struct {
	*handler
	notifier Notifications
}

// notifyRoutes registers the notification endpoints.
func (h *handler) notifyRoutes(mux *http.ServeMux, n Notifications) {
	a := &notifyAPI{handler: h, notifier: n}
	mux.Handle("/api/v1/silences", a.byMethod(map[string]endpoint{
		http.MethodGet: a.silences, http.MethodPost: a.createSilence,
	}))
	mux.Handle("/api/v1/silences/{id}", a.byMethod(map[string]endpoint{http.MethodDelete: a.expireSilence}))
	mux.Handle("/api/v1/notifications", a.serve(a.notificationAttempts))
	mux.Handle("/api/v1/channels", a.serve(a.channels))
}

// byMethod answers each method with its endpoint (GET also takes HEAD),
// other methods with 405, a silence of the configuration file with 409.
func (h *notifyAPI) byMethod(fns map[string]endpoint) http.Handler {
	allow := ""
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodDelete} {
		if fns[m] != nil {
			if allow != "" {
				allow += ", "
			}
			allow += m
			if m == http.MethodGet {
				allow += ", HEAD"
			}
		}
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		method := r.Method
		if method == http.MethodHead {
			method = http.MethodGet
		}
		fn := fns[method]
		if fn == nil {
			w.Header().Set("Allow", allow)
			h.writeJSON(w, http.StatusMethodNotAllowed, errorBody{fmt.Sprintf("method %s is not allowed; use %s", r.Method, allow)})
			return
		}
		body, err := fn(r)
		switch {
		case errors.Is(err, notify.ErrConfigSilence):
			h.writeJSON(w, http.StatusConflict, errorBody{err.Error()})
		case errors.Is(err, errNoNotifier):
			h.writeJSON(w, http.StatusServiceUnavailable, errorBody{err.Error()})
		case err != nil:
			h.fail(w, r, err)
		default:
			h.writeJSON(w, http.StatusOK, body)
		}
	})
}

var errNoNotifier = errors.New("notifications are not configured: start telltale with --config and channels")

func (h *notifyAPI) silences(r *http.Request) (any, error) {
	if h.notifier == nil {
		return response{Data: []notify.Silence{}}, nil
	}
	list, err := h.notifier.Silences(r.Context())
	if list == nil {
		list = []notify.Silence{}
	}
	return response{Data: list}, err
}

// createSilence takes {"matchers": ["alertname=\"x\""], "starts":
// RFC 3339 (default now), "ends": RFC 3339, "created_by", "comment"}.
func (h *notifyAPI) createSilence(r *http.Request) (any, error) {
	if h.notifier == nil {
		return nil, errNoNotifier
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, 1<<16+1))
	if err != nil {
		return nil, badParam("body", "cannot read: %v", err)
	}
	if len(data) > 1<<16 {
		return nil, fmt.Errorf("%w: a silence is at most 64 KiB", errTooLarge)
	}
	var req notify.SilenceRequest
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return nil, badParam("body", "invalid JSON: %v; want {\"matchers\": [\"alertname=\\\"x\\\"\"], \"starts\": \"RFC 3339\", \"ends\": \"RFC 3339\", \"created_by\": \"...\", \"comment\": \"...\"}", err)
	}
	s, err := h.notifier.CreateSilence(r.Context(), req)
	if errors.Is(err, notify.ErrInvalid) {
		return nil, badParam("body", "%v", err)
	}
	return response{Data: s}, err
}

func (h *notifyAPI) expireSilence(r *http.Request) (any, error) {
	if h.notifier == nil {
		return nil, errNoNotifier
	}
	s, err := h.notifier.ExpireSilence(r.Context(), r.PathValue("id"))
	if errors.Is(err, state.ErrNotFound) {
		return nil, fmt.Errorf("silence %q: %w", r.PathValue("id"), query.ErrNotFound)
	}
	return response{Data: s}, err
}

func (h *notifyAPI) notificationAttempts(r *http.Request) (any, error) {
	limit, err := intParam(r, "limit")
	if err != nil {
		return nil, err
	}
	if limit == 0 {
		limit = defaultAttempts
	}
	if limit > maxAttempts {
		return nil, badParam("limit", "%d is more than %d", limit, maxAttempts)
	}
	if h.notifier == nil {
		return response{Data: []state.NotificationAttempt{}}, nil
	}
	list, err := h.notifier.Attempts(r.Context(), state.AttemptFilter{Channel: r.URL.Query().Get("channel"), Limit: limit})
	if list == nil {
		list = []state.NotificationAttempt{}
	}
	return response{Data: list}, err
}

func (h *notifyAPI) channels(r *http.Request) (any, error) {
	if h.notifier == nil {
		return response{Data: []notify.ChannelInfo{}}, nil
	}
	return response{Data: h.notifier.Channels()}, nil
}
