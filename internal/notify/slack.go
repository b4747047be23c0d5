package notify

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Slack colours by status.
const (
	slackFiring   = "#d92d20"
	slackResolved = "#12b76a"
)

// slackMaxAlerts is how many alerts of each status a Slack message lists;
// a section's text is limited to 3,000 characters.
const slackMaxAlerts = 10

type slackMessage struct {
	Text        string            `json:"text"` // the fallback that notifications show
	Attachments []slackAttachment `json:"attachments"`
}

type slackAttachment struct {
	Color    string       `json:"color"`
	Fallback string       `json:"fallback"`
	Blocks   []slackBlock `json:"blocks"`
}

type slackBlock struct {
	Type     string      `json:"type"`
	Text     *slackText  `json:"text,omitempty"`
	Elements []slackText `json:"elements,omitempty"`
}

type slackText struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

// encodeSlack writes an incoming-webhook message: the title as the
// fallback text, and an attachment coloured by status whose blocks list
// the alerts with their summaries and links.
func encodeSlack(n *Notification) ([]byte, error) {
	title := n.Title()
	head := "*" + slackEscape(title) + "*"
	if n.ExternalURL != "" {
		head = "*<" + slackURL(n.ExternalURL) + "|" + slackEscape(title) + ">*"
	}
	blocks := []slackBlock{{Type: "section", Text: &slackText{"mrkdwn", head}}}
	for _, status := range []string{StatusFiring, StatusResolved} {
		if s := slackAlerts(n, status); s != "" {
			blocks = append(blocks, slackBlock{Type: "section", Text: &slackText{"mrkdwn", s}})
		}
	}
	blocks = append(blocks, slackBlock{Type: "context", Elements: []slackText{{"mrkdwn", "Telltale · " + slackEscape(n.Channel) + " · " + slackEscape(n.Reason)}}})
	color := slackFiring
	if n.Status == StatusResolved {
		color = slackResolved
	}
	return json.Marshal(slackMessage{Text: title, Attachments: []slackAttachment{{Color: color, Fallback: title, Blocks: blocks}}})
}

func slackAlerts(n *Notification, status string) string {
	var b strings.Builder
	count := 0
	for _, a := range n.Alerts {
		if a.Status != status {
			continue
		}
		count++
		if count > slackMaxAlerts {
			continue
		}
		fmt.Fprintf(&b, "\n• *%s*", slackEscape(a.Labels["alertname"]))
		if l := labelText(a.Labels, n.CommonLabels); l != "" {
			b.WriteString(" " + slackEscape(l))
		}
		if s := a.Annotations["summary"]; s != "" {
			b.WriteString(" — " + slackEscape(s))
		}
		if a.GeneratorURL != "" {
			b.WriteString(" <" + slackURL(a.GeneratorURL) + "|source>")
		}
	}
	if count == 0 {
		return ""
	}
	if count > slackMaxAlerts {
		fmt.Fprintf(&b, "\n… and %d more", count-slackMaxAlerts)
	}
	word := "Firing"
	if status == StatusResolved {
		word = "Resolved"
	}
	return fmt.Sprintf("*%s (%d)*", word, count) + b.String()
}

// labelText writes the labels that set an alert apart from the rest of
// its group ("instance=a region=eu"), skipping alertname.
func labelText(labels, common map[string]string) string {
	var parts []string
	for _, k := range sortedKeys(labels) {
		if k == "alertname" {
			continue
		}
		if v, ok := common[k]; ok && v == labels[k] {
			continue
		}
		parts = append(parts, k+"="+labels[k])
	}
	return strings.Join(parts, " ")
}

// slackEscape escapes the three characters Slack's mrkdwn gives meaning
// to, so that a label cannot forge a link or a mention.
func slackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// slackURL escapes a link target: a | would end it early.
func slackURL(u string) string { return strings.ReplaceAll(slackEscape(u), "|", "%7C") }
