package web

import (
	"fmt"
	"html/template"
	"strings"

	"github.com/fibinc/telltale/internal/query"
)

// Sparkline sizes, in CSS pixels.
const (
	sparkW = 120
	sparkH = 28
)

// sparkline draws a service's request rate as a line, with the steps that
// had errors marked by red bars under it. The SVG is built from numbers
// only, so it needs no escaping.
func sparkline(pts []query.REDPoint) template.HTML {
	if len(pts) < 2 {
		return ""
	}
	var maxRate float64
	for _, p := range pts {
		maxRate = max(maxRate, p.Rate)
	}
	if maxRate == 0 {
		maxRate = 1
	}
	dx := float64(sparkW) / float64(len(pts)-1)
	var line, errs strings.Builder
	for i, p := range pts {
		x := float64(i) * dx
		y := sparkH - 1 - p.Rate/maxRate*(sparkH-4)
		if i == 0 {
			fmt.Fprintf(&line, "M%.1f %.1f", x, y)
		} else {
			fmt.Fprintf(&line, "L%.1f %.1f", x, y)
		}
		if p.Errors > 0 {
			h := max(2, p.ErrorRate*sparkH)
			fmt.Fprintf(&errs, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f"/>`, x-dx/2, sparkH-h, max(dx, 1), h)
		}
	}
	return template.HTML(fmt.Sprintf(`<svg class="spark" viewBox="0 0 %d %d" width="%d" height="%d" role="img" aria-label="requests over time"><g class="err">%s</g><path d="%s"/></svg>`,
		sparkW, sparkH, sparkW, sparkH, errs.String(), line.String()))
}
