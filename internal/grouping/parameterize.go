package grouping

import (
	"regexp"
	"strings"
	"unicode/utf8"
)

// Parameterization follows Sentry's grouping/parameterization.py: one list of
// patterns tried in order at each position, the leftmost match winning and,
// at one position, the first pattern in the list. Python's regex engine has
// lookbehind and lookahead; RE2 has neither, so each pattern is split into
//
//   - a lead: the condition on the character before the match (Python's
//     leading \b or lookbehind), checked by hand;
//   - a core: the pattern proper, without leading assertions;
//   - a tail: a trailing lookahead rewritten to consume the character it
//     looks at; the match ends where the core ends (or where the tail's one
//     capture group ends, for the optional AM/PM of kitchen times);
//   - a check: a predicate for Python's "contains a digit" lookaheads.
//
// All cores together form one unanchored regexp that finds the next
// candidate position and the first pattern that might match there; each
// pattern is then tried exactly, anchored at that position, from that one on.
// As a core without its lead and tail accepts everything the exact pattern
// does, no real match can come before the candidate.
//
// Two deliberate departures from Sentry keep Parameterize idempotent: word
// boundaries are ASCII (RE2's \b), and a value is replaced only when it
// neither starts nor ends inside a word (so "u42" and "x4s" stay), because a
// placeholder that cut a word in two would create a word boundary that a
// second pass could match against.

type lead uint8

const (
	leadNone     lead = iota
	leadBoundary      // \b
	leadNotWord       // (?<![0-9a-zA-Z_])
	leadNotDigit      // (?<!\d)
	leadEquals        // (?<==)
)

type paramPattern struct {
	name  string // placeholder name
	lead  lead
	core  string
	tail  string // may hold one capture group, which extends the match
	check func(string) bool
}

const (
	reDays   = `(?:Sun|Mon|Tue|Wed|Thu|Fri|Sat)`
	reMonths = `(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)`
	reZone   = `(?:UT|GMT|(?:E|C|M|P)(?:ST|DT)|[A-IK-Z])`
	reOctet  = `(?:25[0-5]|(?:2[0-4]|1?[0-9])?[0-9])`
	reIPv4   = `(?:` + reOctet + `\.){3}` + reOctet
	reH      = `[0-9a-fA-F]{1,4}`
	// Sentry's "top 100" TLDs, upper and lower case.
	reTLD = `(?:COM|NET|ORG|JP|DE|UK|FR|BR|IT|RU|ES|ME|GOV|PL|CA|AU|CN|CO|IN|NL|EDU|INFO|EU|CH|ID|AT|KR|CZ|MX|BE|TV|SE|TR|TW|AL|UA|IR|VN|CL|SK|LY|CC|TO|NO|FI|US|PT|DK|AR|HU|TK|GR|IL|NEWS|RO|MY|BIZ|IE|ZA|NZ|SG|EE|TH|IO|XYZ|PE|BG|HK|RS|LT|LINK|PH|CLUB|SI|SITE|MOBI|BY|CAT|WIKI|LA|GA|XXX|CF|HR|NG|JOBS|ONLINE|KZ|UG|GQ|AE|IS|LV|PRO|FM|TIPS|MS|SA|APP|` +
		`com|net|org|jp|de|uk|fr|br|it|ru|es|me|gov|pl|ca|au|cn|co|in|nl|edu|info|eu|ch|id|at|kr|cz|mx|be|tv|se|tr|tw|al|ua|ir|vn|cl|sk|ly|cc|to|no|fi|us|pt|dk|ar|hu|tk|gr|il|news|ro|my|biz|ie|za|nz|sg|ee|th|io|xyz|pe|bg|hk|rs|lt|link|ph|club|si|site|mobi|by|cat|wiki|la|ga|xxx|cf|hr|ng|jobs|online|kz|ug|gq|ae|is|lv|pro|fm|tips|ms|sa|app)`
	reDur = `(?:ns|us|µs|μs|ms|s|m|h)`
)

// paramPatterns is Sentry's list in Sentry's order; entries marked
// "telltale" are additions for values Go programs print.
var paramPatterns = []paramPattern{
	{name: "email", core: "[a-zA-Z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-zA-Z0-9-]+(?:\\.[a-zA-Z0-9-]+)*"},
	{name: "url", lead: leadBoundary, core: `(?:wss?|https?|ftp)://[^\s/$.?#].[^\s]*`},
	{name: "hostname", lead: leadBoundary, core: `(?:[a-zA-Z0-9\-]{1,63}\.)+?` + reTLD + `\b`},
	{name: "ip", lead: leadNotWord, tail: `(?:[^0-9a-zA-Z]|$)`, core: `(?:` +
		`(?:` + reH + `:){7}` + reH + `|` +
		`(?:` + reH + `:){1,7}:|` +
		`(?:` + reH + `:){1,6}:` + reH + `|` +
		`(?:` + reH + `:){1,5}(?::` + reH + `){1,2}|` +
		`(?:` + reH + `:){1,4}(?::` + reH + `){1,3}|` +
		`(?:` + reH + `:){1,3}(?::` + reH + `){1,4}|` +
		`(?:` + reH + `:){1,2}(?::` + reH + `){1,5}|` +
		reH + `:(?::` + reH + `){1,6}|` +
		`:(?:(?::` + reH + `){1,7}|:)|` +
		`fe80:(?::[0-9a-fA-F]{0,4}){0,4}%[0-9a-zA-Z]+|` +
		`::(?:ffff(?::0{1,4})?:)?` + reIPv4 + `|` +
		`(?:` + reH + `:){1,4}:` + reIPv4 + `\b)`},
	{name: "ip", lead: leadBoundary, core: reIPv4 + `\b`},
	{name: "traceparent", lead: leadBoundary, core: `00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]\b`},
	{name: "traceparent", lead: leadBoundary, core: `1-[0-9a-f]{8}-[0-9a-f]{24}\b`},
	{name: "uuid", lead: leadBoundary, core: `[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b`},
	{name: "sha1", lead: leadBoundary, core: `[0-9a-fA-F]{40}\b`},
	{name: "md5", lead: leadBoundary, core: `[0-9a-fA-F]{32}\b`},
	// RFC822, RFC1123, RFC1123Z.
	{name: "date", core: reDays + `,\s\d{1,2}\s` + reMonths + `\s\d{2,4}\s\d{1,2}:\d{1,2}(?::\d{1,2})?\s(?:[-+]\d{2}[0-5]\d|` + reZone + `)`},
	// "Mon Jan 02, 1999", "Jan 02, 1999".
	{name: "date", core: `(?:` + reDays + `\s)?` + reMonths + `\s[0-3]\d,\s\d{2,4}`},
	// RFC850.
	{name: "date", core: `(?:Sunday|Sun|Monday|Mon|Tuesday|Tue|Wednesday|Wed|Thursday|Thu|Friday|Fri|Saturday|Sat),\s\d{2}-` + reMonths + `-\d{2}\s\d{2}:\d{2}:\d{2}\s` + reZone},
	// RFC3339, RFC3339Nano.
	{name: "date", core: `\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z?(?:[+-]?\d{2}:\d{2})?`},
	// JavaScript's Date.toString.
	{name: "date", core: reDays + `\s` + reMonths + `\s\d{2}\s\d{4}\s\d{2}:\d{2}:\d{2}\sGMT[+-]\d{4}(?:\s\([^)]+\))?`},
	// telltale: Go's time.Time.String, "2006-01-02 15:04:05.999999999 -0700 MST m=+0.000000001".
	{name: "date", core: `\d{4}-[01]\d-[0-3]\d [0-2]\d:[0-5]\d:[0-5]\d(?:\.\d+)? [+-]\d{4}(?: [A-Za-z]{1,5}| [+-]\d{2,4})?(?: m=[+-]\d+\.\d+)?`},
	// Datetimes with a zone offset, before those without so that the
	// offset is not left behind as an int.
	{name: "date", core: `\d{4}-?[01]\d-?[0-3]\d[\sT][0-2]\d:?[0-5]\d:?[0-5]\d\.\d+(?:[+-][0-2]\d:?[0-5]\d|Z)`},
	{name: "date", core: `\d{4}-?[01]\d-?[0-3]\d[\sT][0-2]\d:?[0-5]\d:?[0-5]\d(?:[+-][0-2]\d:?[0-5]\d|Z)`},
	{name: "date", core: `\d{4}-?[01]\d-?[0-3]\d[\sT][0-2]\d:?[0-5]\d(?:[+-][0-2]\d:?[0-5]\d|Z)`},
	{name: "date", core: `\d{4}-?[01]\d-?[0-3]\d[\sT][0-2]\d:?[0-5]\d:?[0-5]\d\.\d+`},
	{name: "date", core: `\d{4}-?[01]\d-?[0-3]\d[\sT][0-2]\d:?[0-5]\d:?[0-5]\d`},
	{name: "date", core: `\d{4}-?[01]\d-?[0-3]\d[\sT][0-2]\d:?[0-5]\d`},
	// Kitchen times, 12-hour with optional AM/PM, then 24-hour; Python's
	// (?![\d:]) comes before the AM/PM part, hence the tail.
	{name: "date", lead: leadNotDigit, core: `(?:[1-9]|1[0-2]):[0-5]\d(?::[0-5]\d)?`, tail: `(?:(\s?[aApP][Mm])|[^\d:]|$)`},
	{name: "date", lead: leadNotDigit, core: `(?:0?\d|1\d|2[0-3]):[0-5]\d(?::[0-5]\d)?`, tail: `(?:[^\d:]|$)`},
	{name: "date", core: `\d{4}-[01]\d-[0-3]\d`},
	{name: "date", core: `[0-2]\d:[0-5]\d:[0-5]\d`},
	// telltale: Go's UnixDate and RubyDate.
	{name: "date", lead: leadBoundary, core: reDays + `\s+` + reMonths + `\s+\d{1,2}\s+\d{2}:\d{2}:\d{2}\s+(?:[A-Z]{3,5}|[-+]\d{4})\s+\d{4}`},
	{name: "date", lead: leadBoundary, core: `(?:` + reDays + `\s+)?` + reMonths + `\s+\d{1,2}\s+\d{2}:\d{2}:\d{2}\s+\d{4}`},
	{name: "date", lead: leadBoundary, core: `(?:` + reDays + `,\s+)?(?:0[1-9]|[1-2]?\d|3[01])\s+` + reMonths + `\s+(?:19\d{2}|[2-9]\d{3})\s+(?:2[0-3]|[0-1]\d):[0-5]\d(?::(?:60|[0-5]\d))?\s+(?:[-+]\d{2}[0-5]\d|` + reZone + `)`},
	{name: "date", core: `datetime.datetime\(.*?\)`},
	// telltale: Go durations, "1m30s", "1.5ms", "250µs".
	{name: "duration", lead: leadBoundary, core: `(?:\d+(?:\.\d+)?` + reDur + `){2,}`},
	{name: "duration", lead: leadBoundary, core: `\d+(?:\.\d+)?(?:ns|us|µs|μs|ms|s)`},
	{name: "duration", lead: leadBoundary, core: `\d+ms`},
	{name: "duration", core: `\d+(?:\.\d+)?s\b`},
	{name: "swift_txn_id", lead: leadBoundary, core: `tx[0-9a-f]{21}-[0-9a-f]{10}\S*`},
	{name: "hex", lead: leadBoundary, core: `0[xX][0-9a-fA-F]+\b`},
	{name: "hex", lead: leadBoundary, core: `[0-9a-f]{8,128}\b`, check: hasDigit},
	{name: "hex", lead: leadBoundary, core: `[0-9A-F]{8,128}\b`, check: hasDigit},
	{name: "git_sha", lead: leadBoundary, core: `[0-9a-f]{7}\b`, check: hasDigitAndLetter},
	{name: "float", core: `-\d+\.\d+\b`},
	{name: "float", lead: leadBoundary, core: `\d+\.\d+\b`},
	{name: "int", lead: leadBoundary, core: `\d{1,7}\b`},
	{name: "int", lead: leadNotWord, core: `-\d{1,7}\b`},
	{name: "quoted_str", lead: leadEquals, core: `'[^']+'|"[^"]+"`},
	{name: "bool", lead: leadEquals, core: `True|true|False|false`},
}

// parameterizer holds the compiled patterns; it is immutable after init.
type parameterizer struct {
	any     *regexp.Regexp   // all cores, one capture group each
	exact   []*regexp.Regexp // per pattern: ^(core)tail
	ngroups int
}

var params = newParameterizer(paramPatterns)

func newParameterizer(pats []paramPattern) *parameterizer {
	var b strings.Builder
	p := &parameterizer{exact: make([]*regexp.Regexp, len(pats))}
	for i, pt := range pats {
		if i > 0 {
			b.WriteByte('|')
		}
		b.WriteString("(" + pt.core + ")")
		p.exact[i] = regexp.MustCompile(`^(` + pt.core + `)` + pt.tail)
	}
	p.any = regexp.MustCompile(b.String())
	p.ngroups = len(pats)
	return p
}

func hasDigit(s string) bool {
	return strings.ContainsAny(s, "0123456789")
}

func hasDigitAndLetter(s string) bool {
	return hasDigit(s) && strings.ContainsAny(s, "abcdef")
}

func isWordByte(c byte) bool {
	return c == '_' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

// Parameterize replaces the variable parts of a message (numbers, ids,
// addresses, timestamps, durations, ...) with placeholders such as "<int>"
// and "<uuid>", the way Sentry's parameterization does, so that messages that
// differ only in such values group together. It is idempotent.
func Parameterize(s string) string {
	return params.replace(s)
}

func (p *parameterizer) replace(s string) string {
	var out strings.Builder
	last, pos := 0, 0
	for pos < len(s) {
		loc := p.any.FindStringSubmatchIndex(s[pos:])
		if loc == nil {
			break
		}
		at := pos + loc[0]
		first := 0
		for first < p.ngroups && loc[2+2*first] < 0 {
			first++
		}
		name, end := p.matchAt(s, at, first)
		if end < 0 {
			_, size := utf8.DecodeRuneInString(s[at:])
			pos = at + size
			continue
		}
		if out.Len() == 0 {
			out.Grow(len(s))
		}
		out.WriteString(s[last:at])
		out.WriteByte('<')
		out.WriteString(name)
		out.WriteByte('>')
		last, pos = end, end
	}
	if last == 0 {
		return s
	}
	out.WriteString(s[last:])
	return out.String()
}

// matchAt tries the patterns from index first on, anchored at s[at:], and
// returns the placeholder name and the end of the first exact match, or -1.
func (p *parameterizer) matchAt(s string, at, first int) (string, int) {
	prev := byte(' ') // start of text: not a word, not a digit, not '='
	if at > 0 {
		prev = s[at-1]
	}
	startsWord := isWordByte(s[at])
	if startsWord && isWordByte(prev) {
		return "", -1 // a value never starts inside a word
	}
	for i := first; i < len(paramPatterns); i++ {
		pt := &paramPatterns[i]
		switch pt.lead {
		case leadBoundary:
			if isWordByte(prev) == startsWord {
				continue
			}
		case leadNotWord:
			if isWordByte(prev) {
				continue
			}
		case leadNotDigit:
			if '0' <= prev && prev <= '9' {
				continue
			}
		case leadEquals:
			if prev != '=' {
				continue
			}
		}
		m := p.exact[i].FindStringSubmatchIndex(s[at:])
		if m == nil {
			continue
		}
		end := m[3]
		if len(m) > 4 && m[5] >= 0 {
			end = m[5]
		}
		if pt.check != nil && !pt.check(s[at:at+end]) {
			continue
		}
		end += at
		if end < len(s) && isWordByte(s[end-1]) && isWordByte(s[end]) {
			continue // nor ends inside one
		}
		return pt.name, end
	}
	return "", -1
}
