// Package notify delivers alerts: it routes them to channels (generic
// webhook, Alertmanager-compatible webhook, Slack, e-mail), groups them,
// repeats and resolves, retries failed deliveries with backoff, honours
// silences and maintenance windows, and records every attempt.
package notify

import (
	"hash/fnv"
	"sort"
	"strconv"
	"time"
)

// Alert statuses.
const (
	StatusFiring   = "firing"
	StatusResolved = "resolved"
)

// Alert is one alert instance as the alert evaluator reports it: the
// identity is its label set (alertname and the rule's and instance's
// labels), as in Prometheus and Alertmanager.
type Alert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"` // zero while firing
	GeneratorURL string            `json:"generatorURL"`
	// Value is the datapoint that decided the last state, as text.
	Value string `json:"value,omitempty"`
}

// Status is firing until EndsAt is set and passed.
func (a Alert) Status(now time.Time) string {
	if !a.EndsAt.IsZero() && !a.EndsAt.After(now) {
		return StatusResolved
	}
	return StatusFiring
}

// Fingerprint identifies the alert by its labels: 16 hex digits of a
// 64-bit FNV-1a over the sorted names and values, as Alertmanager shows it.
func (a Alert) Fingerprint() string { return Fingerprint(a.Labels) }

// Fingerprint hashes a label set; see Alert.Fingerprint.
func Fingerprint(labels map[string]string) string {
	names := make([]string, 0, len(labels))
	for n := range labels {
		names = append(names, n)
	}
	sort.Strings(names)
	h := fnv.New64a()
	for _, n := range names {
		h.Write([]byte(n))
		h.Write([]byte{0xff})
		h.Write([]byte(labels[n]))
		h.Write([]byte{0xff})
	}
	s := strconv.FormatUint(h.Sum64(), 16)
	for len(s) < 16 {
		s = "0" + s
	}
	return s
}
