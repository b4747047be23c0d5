package web

import (
	"fmt"
	"html/template"
	"net/url"
	"strings"
	"time"
)

var funcs = template.FuncMap{
	"rate":    fmtRate,
	"pct":     fmtPct,
	"ms":      fmtMs,
	"ago":     fmtAgo,
	"link":    link,
	"ranges":  func() any { return Ranges },
	"join":    strings.Join,
	"shortID": func(s string) string { return s[:min(len(s), 8)] },
	"spark":   sparkline,
}

// fmtRate prints a per-second rate in four characters or so.
func fmtRate(r float64) string {
	switch {
	case r == 0:
		return "0/s"
	case r < 0.01:
		return "<0.01/s"
	case r < 10:
		return fmt.Sprintf("%.2f/s", r)
	case r < 1000:
		return fmt.Sprintf("%.0f/s", r)
	default:
		return fmt.Sprintf("%.1fk/s", r/1000)
	}
}

// fmtPct prints a fraction 0..1 as a percentage.
func fmtPct(f float64) string {
	switch {
	case f == 0:
		return "0%"
	case f < 0.001:
		return "<0.1%"
	case f >= 1:
		return "100%"
	case f > 0.999:
		return ">99.9%"
	default:
		return fmt.Sprintf("%.1f%%", f*100)
	}
}

// fmtMs prints milliseconds with a unit that keeps three digits.
func fmtMs(ms float64) string {
	switch {
	case ms < 1:
		return fmt.Sprintf("%.0fµs", ms*1000)
	case ms < 10:
		return fmt.Sprintf("%.2fms", ms)
	case ms < 1000:
		return fmt.Sprintf("%.0fms", ms)
	default:
		return fmt.Sprintf("%.2fs", ms/1000)
	}
}

// fmtAgo prints how long before now t was.
func fmtAgo(now, t time.Time) string {
	d := now.Sub(t)
	switch {
	case d < time.Second:
		return "now"
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh ago", int(d.Hours()))
	default:
		return fmt.Sprintf("%dd ago", int(d.Hours()/24))
	}
}

// link builds a dashboard URL that keeps the frame's range and
// environment: link .Frame "/services/x" "key" "value" ...
func link(f frame, path string, kv ...string) string {
	v := url.Values{}
	if f.From != "" && f.From != "now-1h" {
		v.Set("from", f.From)
	}
	if f.To != "" {
		v.Set("to", f.To)
	}
	if f.Env != "" {
		v.Set("env", f.Env)
	}
	if f.Refresh != "" {
		v.Set("refresh", f.Refresh)
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "" {
			v.Del(kv[i])
		} else {
			v.Set(kv[i], kv[i+1])
		}
	}
	if len(v) == 0 {
		return path
	}
	return path + "?" + v.Encode()
}
