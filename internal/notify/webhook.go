package notify

import (
	"encoding/json"
	"time"
)

// webhookMessage is the generic webhook's document (docs/design/alerting.md,
// "Notifications"): Alertmanager's field names, plus the channel, the reason
// and each alert's value.
type webhookMessage struct {
	Version           string            `json:"version"`
	Channel           string            `json:"channel"`
	GroupKey          string            `json:"groupKey"`
	Status            string            `json:"status"`
	Reason            string            `json:"reason"`
	GroupLabels       map[string]string `json:"groupLabels"`
	CommonLabels      map[string]string `json:"commonLabels"`
	CommonAnnotations map[string]string `json:"commonAnnotations"`
	ExternalURL       string            `json:"externalURL"`
	Alerts            []webhookAlert    `json:"alerts"`
}

type webhookAlert struct {
	Status       string            `json:"status"`
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       *time.Time        `json:"endsAt"` // null while firing
	Fingerprint  string            `json:"fingerprint"`
	Value        string            `json:"value"`
	GeneratorURL string            `json:"generatorURL"`
}

// WebhookVersion is the version field of the generic webhook's document.
const WebhookVersion = "telltale/1"

func encodeWebhook(n *Notification) ([]byte, error) {
	m := webhookMessage{
		Version: WebhookVersion, Channel: n.Channel, GroupKey: n.GroupKey, Status: n.Status, Reason: n.Reason,
		GroupLabels: nonNil(n.GroupLabels), CommonLabels: nonNil(n.CommonLabels), CommonAnnotations: nonNil(n.CommonAnnotations),
		ExternalURL: n.ExternalURL, Alerts: make([]webhookAlert, len(n.Alerts)),
	}
	for i, a := range n.Alerts {
		w := webhookAlert{
			Status: a.Status, Labels: nonNil(a.Labels), Annotations: nonNil(a.Annotations),
			StartsAt: a.StartsAt.UTC(), Fingerprint: a.Fingerprint, Value: a.Value, GeneratorURL: a.GeneratorURL,
		}
		if a.Status == StatusResolved && !a.EndsAt.IsZero() {
			e := a.EndsAt.UTC()
			w.EndsAt = &e
		}
		m.Alerts[i] = w
	}
	return json.Marshal(m)
}

// nonNil makes a nil map encode as {} rather than null, as receivers
// written for Alertmanager expect.
func nonNil(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}
