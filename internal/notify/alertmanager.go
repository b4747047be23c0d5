package notify

import (
	"encoding/json"
	"time"
)

// amMessage is Alertmanager's webhook document, version 4
// (prometheus/alertmanager notify/webhook Message: template.Data, then
// version, groupKey and truncatedAlerts), field for field, so that
// receivers written for Alertmanager (bridges, incident tools) take
// Telltale's notifications unchanged.
type amMessage struct {
	Receiver          string            `json:"receiver"`
	Status            string            `json:"status"`
	Alerts            []amAlert         `json:"alerts"`
	GroupLabels       map[string]string `json:"groupLabels"`
	CommonLabels      map[string]string `json:"commonLabels"`
	CommonAnnotations map[string]string `json:"commonAnnotations"`
	ExternalURL       string            `json:"externalURL"`
	Version           string            `json:"version"`
	GroupKey          string            `json:"groupKey"`
	TruncatedAlerts   uint64            `json:"truncatedAlerts"`
}

type amAlert struct {
	Status       string            `json:"status"`
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"` // 0001-01-01T00:00:00Z while firing, as Alertmanager writes it
	GeneratorURL string            `json:"generatorURL"`
	Fingerprint  string            `json:"fingerprint"`
}

func encodeAlertmanager(n *Notification) ([]byte, error) {
	m := amMessage{
		Receiver: n.Channel, Status: n.Status, Alerts: make([]amAlert, len(n.Alerts)),
		GroupLabels: nonNil(n.GroupLabels), CommonLabels: nonNil(n.CommonLabels), CommonAnnotations: nonNil(n.CommonAnnotations),
		ExternalURL: n.ExternalURL, Version: "4", GroupKey: n.GroupKey,
	}
	for i, a := range n.Alerts {
		am := amAlert{
			Status: a.Status, Labels: nonNil(a.Labels), Annotations: nonNil(a.Annotations),
			StartsAt: a.StartsAt.UTC(), GeneratorURL: a.GeneratorURL, Fingerprint: a.Fingerprint,
		}
		if a.Status == StatusResolved {
			am.EndsAt = a.EndsAt.UTC()
		}
		m.Alerts[i] = am
	}
	return json.Marshal(m)
}
