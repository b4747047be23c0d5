package sentry

import "strings"

// parseUserAgent names the browser ("Chrome 120.0") and the operating
// system ("Windows 10", "iOS 17.2") of a User-Agent header, for events that
// carry no browser or os context. It knows the common browsers only; the
// header itself stays in the request headers.
func parseUserAgent(ua string) (browser, os string) {
	if ua == "" {
		return "", ""
	}
	return uaBrowser(ua), uaOS(ua)
}

// uaBrowsers are tried in order: Chromium-based browsers name Chrome and
// Safari too, and Chrome names Safari.
var uaBrowsers = []struct{ token, name string }{
	{"Edg/", "Edge"}, {"EdgA/", "Edge"}, {"EdgiOS/", "Edge"}, {"Edge/", "Edge"},
	{"OPR/", "Opera"}, {"Opera/", "Opera"},
	{"Chrome/", "Chrome"}, {"CriOS/", "Chrome"},
	{"Firefox/", "Firefox"}, {"FxiOS/", "Firefox"},
}

func uaBrowser(ua string) string {
	for _, b := range uaBrowsers {
		if i := strings.Index(ua, b.token); i >= 0 {
			return withVersion(b.name, majorMinor(ua[i+len(b.token):], '.'))
		}
	}
	// Safari gives its version in Version/, its WebKit build in Safari/.
	if strings.Contains(ua, "Safari/") {
		if i := strings.Index(ua, "Version/"); i >= 0 {
			return withVersion("Safari", majorMinor(ua[i+len("Version/"):], '.'))
		}
		return "Safari"
	}
	return ""
}

func uaOS(ua string) string {
	switch {
	case strings.Contains(ua, "Windows"):
		if i := strings.Index(ua, "Windows NT "); i >= 0 {
			switch majorMinor(ua[i+len("Windows NT "):], '.') {
			case "10.0":
				return "Windows 10" // also 11: the header does not tell them apart
			case "6.3":
				return "Windows 8.1"
			case "6.2":
				return "Windows 8"
			case "6.1":
				return "Windows 7"
			}
		}
		return "Windows"
	case strings.Contains(ua, "iPhone") || strings.Contains(ua, "iPad") || strings.Contains(ua, "iPod"):
		// "iPhone OS 17_2 like Mac OS X", "CPU OS 17_2 like Mac OS X" (iPad)
		if i := strings.Index(ua, " OS "); i >= 0 {
			return withVersion("iOS", strings.ReplaceAll(majorMinor(ua[i+len(" OS "):], '_'), "_", "."))
		}
		return "iOS"
	case strings.Contains(ua, "Android"):
		if i := strings.Index(ua, "Android "); i >= 0 {
			return withVersion("Android", majorMinor(ua[i+len("Android "):], '.'))
		}
		return "Android"
	case strings.Contains(ua, "Mac OS X"):
		i := strings.Index(ua, "Mac OS X ")
		if i < 0 {
			return "Mac OS X"
		}
		v := ua[i+len("Mac OS X "):]
		end := 0
		for end < len(v) && (isDigit(v[end]) || v[end] == '_' || v[end] == '.') {
			end++
		}
		return withVersion("Mac OS X", strings.ReplaceAll(v[:end], "_", "."))
	case strings.Contains(ua, "CrOS"):
		return "Chrome OS"
	case strings.Contains(ua, "Linux"):
		return "Linux"
	}
	return ""
}

// majorMinor returns the leading "major[sep minor]" of a version.
func majorMinor(v string, sep byte) string {
	end, seps := 0, 0
	for end < len(v) {
		if c := v[end]; c == sep {
			if seps++; seps == 2 {
				break
			}
		} else if !isDigit(c) {
			break
		}
		end++
	}
	return strings.TrimSuffix(v[:end], string(sep))
}

func withVersion(name, version string) string {
	if version == "" {
		return name
	}
	return name + " " + version
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }
