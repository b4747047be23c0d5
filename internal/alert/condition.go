package alert

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"text/template"
)

// Condition is a parsed rule condition: "<op> <number>" or "absent".
type Condition struct {
	Absent    bool
	Op        string // > >= < <= == !=
	Threshold float64
}

// ParseCondition parses a rule condition: "> 5", "<= 0.5", "!= 0" or
// "absent".
func ParseCondition(s string) (Condition, error) {
	t := strings.TrimSpace(s)
	if t == "absent" {
		return Condition{Absent: true}, nil
	}
	for _, op := range []string{">=", "<=", "==", "!=", ">", "<"} {
		rest, ok := strings.CutPrefix(t, op)
		if !ok {
			continue
		}
		rest = strings.TrimSpace(rest)
		v, err := strconv.ParseFloat(rest, 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			return Condition{}, fmt.Errorf("invalid condition %q: %q is not a number", s, rest)
		}
		return Condition{Op: op, Threshold: v}, nil
	}
	return Condition{}, fmt.Errorf("invalid condition %q: want \"<op> <number>\" with op one of > >= < <= == !=, or \"absent\"", s)
}

// CheckCondition reports whether s is a valid rule condition.
func CheckCondition(s string) error {
	_, err := ParseCondition(s)
	return err
}

// Breaches reports whether v breaches the condition (never for absent,
// which breaches on missing data instead).
func (c Condition) Breaches(v float64) bool {
	switch c.Op {
	case ">":
		return v > c.Threshold
	case ">=":
		return v >= c.Threshold
	case "<":
		return v < c.Threshold
	case "<=":
		return v <= c.Threshold
	case "==":
		return v == c.Threshold
	case "!=":
		return v != c.Threshold
	}
	return false
}

// String writes the condition as ParseCondition reads it.
func (c Condition) String() string {
	if c.Absent {
		return "absent"
	}
	return c.Op + " " + formatValue(c.Threshold)
}

// formatValue writes a value briefly: integers without a fraction, others
// with up to 4 significant decimals.
func formatValue(v float64) string {
	if v == math.Trunc(v) && math.Abs(v) < 1e15 {
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	return strconv.FormatFloat(v, 'g', 6, 64)
}

// annotationData is what annotation templates see.
type annotationData struct {
	Value     string
	Labels    map[string]string
	Threshold string
}

// parseAnnotation parses an annotation template. A missing label renders
// as the empty string rather than "<no value>".
func parseAnnotation(text string) (*template.Template, error) {
	t, err := template.New("annotation").Option("missingkey=zero").Parse(text)
	if err != nil {
		return nil, fmt.Errorf("invalid annotation template: %w", err)
	}
	return t, nil
}

// CheckAnnotation reports whether text is a valid annotation template: it
// must parse and render with sample data ({{ .Value }}, {{ .Labels.x }},
// {{ .Threshold }}), so that a field that does not exist is a config error
// rather than an empty notification.
func CheckAnnotation(text string) error {
	t, err := parseAnnotation(text)
	if err != nil {
		return err
	}
	var b strings.Builder
	if err := t.Execute(&b, annotationData{Value: "1", Labels: map[string]string{}, Threshold: "0"}); err != nil {
		return fmt.Errorf("invalid annotation template: %w", err)
	}
	return nil
}

// renderAnnotation renders a parsed template; on a runtime error (rare once
// CheckAnnotation passed) it returns the template text with the error, so
// that the notification still goes out.
func renderAnnotation(t *template.Template, d annotationData) string {
	var b strings.Builder
	if err := t.Execute(&b, d); err != nil {
		return fmt.Sprintf("%s (template error: %v)", t.Root.String(), err)
	}
	return b.String()
}
