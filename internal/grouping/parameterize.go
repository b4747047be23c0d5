package grouping

import (
	"regexp"
	"regexp/syntax"
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
// One big alternation is slow in Go's regexp (and needs lookbehind to be
// exact), so the scan is by hand: at each position that can start a value
// (not inside a word), the patterns whose first byte and lead fit are tried
// in order, each anchored and on no more input than its longest match needs.
//
// Departures from Sentry (see docs/design/grouping.md): word boundaries are
// ASCII; a value is replaced only if it neither starts nor ends inside a
// word ("u42" and "x4s" stay), so that a placeholder never creates a word
// boundary a later pass could match against; IPv6 takes the longest of its
// forms; emails, hostnames and the open-ended date forms have length
// limits; and the entries marked "telltale" are additions.

// lead is the condition a pattern puts on the character before it.
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
	// longest picks the longest of the pattern's alternatives instead of
	// the first that matches.
	longest bool
	// limit bounds the match length where the pattern does not.
	limit int
	// match, when set, replaces the regexp: it returns the end of the match
	// at s[at:], or -1. The core still gives the first bytes.
	match func(s string, at int) int
	// pre, when set, is a quick necessary condition for a match at s[at:].
	pre func(s string, at int) bool
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
	// An address has at most 254 characters.
	{name: "email", limit: 254, core: "[a-zA-Z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-zA-Z0-9-]+(?:\\.[a-zA-Z0-9-]+)*"},
	{name: "url", lead: leadBoundary, core: `(?:wss?|https?|ftp)://[^\s/$.?#].[^\s]*`},
	// A DNS name has at most 253 characters.
	{name: "hostname", lead: leadBoundary, limit: 253, match: matchHostname, core: `(?:[a-zA-Z0-9\-]{1,63}\.)+?` + reTLD + `\b`},
	{name: "ip", lead: leadNotWord, tail: `(?:[^0-9a-zA-Z]|$)`, longest: true, pre: colonWithin5, core: `(?:` +
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
	{name: "date", limit: 200, core: reDays + `\s` + reMonths + `\s\d{2}\s\d{4}\s\d{2}:\d{2}:\d{2}\sGMT[+-]\d{4}(?:\s\([^)]+\))?`},
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
	{name: "date", limit: 200, core: `datetime.datetime\(.*?\)`},
	// telltale: Go durations, "1m30s", "1.5ms", "250µs".
	{name: "duration", lead: leadBoundary, pre: unitAfterNumber, core: `(?:\d+(?:\.\d+)?` + reDur + `){2,}`},
	{name: "duration", lead: leadBoundary, pre: unitAfterNumber, core: `\d+(?:\.\d+)?(?:ns|us|µs|μs|ms|s)`},
	{name: "duration", lead: leadBoundary, pre: unitAfterNumber, core: `\d+ms`},
	{name: "duration", pre: unitAfterNumber, core: `\d+(?:\.\d+)?s\b`},
	{name: "swift_txn_id", lead: leadBoundary, core: `tx[0-9a-f]{21}-[0-9a-f]{10}\S*`},
	{name: "hex", lead: leadBoundary, core: `0[xX][0-9a-fA-F]+\b`},
	{name: "hex", lead: leadBoundary, core: `[0-9a-f]{8,128}\b`, check: hasDigit},
	{name: "hex", lead: leadBoundary, core: `[0-9A-F]{8,128}\b`, check: hasDigit},
	{name: "git_sha", lead: leadBoundary, core: `[0-9a-f]{7}\b`, check: hasDigitAndLetter},
	{name: "float", match: negative(matchFloat), core: `-\d+\.\d+\b`},
	{name: "float", lead: leadBoundary, match: matchFloat, core: `\d+\.\d+\b`},
	{name: "int", lead: leadBoundary, match: matchInt, core: `\d{1,7}\b`},
	{name: "int", lead: leadNotWord, match: negative(matchInt), core: `-\d{1,7}\b`},
	{name: "quoted_str", lead: leadEquals, core: `'[^']+'|"[^"]+"`},
	{name: "bool", lead: leadEquals, core: `True|true|False|false`},
}

// prefixLen is how many leading bytes of a match are prefiltered.
const prefixLen = 6

// compiled is one pattern, ready to run.
type compiled struct {
	paramPattern
	re     *regexp.Regexp // ^(core)tail
	maxLen int            // bytes of input the match can need, -1 if unbounded
	// prefix[j] holds the bytes that can come j bytes into a match (or
	// after it, when a shorter match is possible): a cheap test that spares
	// most regexp runs.
	prefix [prefixLen][256]bool
}

// parameterizer holds the compiled patterns; it is immutable after init.
type parameterizer struct {
	pats    []compiled
	first   [256]bool    // union of the patterns' first bytes
	byFirst [256][]uint8 // per first byte, the patterns that can start with it, in order
	email   int          // index of the email pattern, which needs an '@' ahead
}

func (c *compiled) mayMatch(s string, at int) bool {
	for j := 0; j < prefixLen && at+j < len(s); j++ {
		if !c.prefix[j][s[at+j]] {
			return false
		}
	}
	return true
}

var params = newParameterizer(paramPatterns)

func newParameterizer(pats []paramPattern) *parameterizer {
	p := &parameterizer{pats: make([]compiled, len(pats)), email: -1}
	for i, pt := range pats {
		c := &p.pats[i]
		c.paramPattern = pt
		expr := `^(` + pt.core + `)` + pt.tail
		c.re = regexp.MustCompile(expr)
		if pt.longest {
			c.re.Longest()
		}
		re, err := syntax.Parse(expr, syntax.Perl)
		if err != nil {
			panic(err)
		}
		c.maxLen = maxLen(re)
		if pt.limit > 0 && (c.maxLen < 0 || c.maxLen > pt.limit) {
			c.maxLen = pt.limit
		}
		c.prefix = prefixBytes(re)
		for b, ok := range c.prefix[0] {
			if ok {
				p.first[b] = true
				p.byFirst[b] = append(p.byFirst[b], uint8(i))
			}
		}
		if pt.name == "email" {
			p.email = i
		}
	}
	return p
}

// maxLen returns the most bytes re can match, or -1 if unbounded.
func maxLen(re *syntax.Regexp) int {
	switch re.Op {
	case syntax.OpLiteral:
		n := 0
		for _, r := range re.Rune {
			n += utf8.RuneLen(r)
		}
		if re.Flags&syntax.FoldCase != 0 {
			n = utf8.UTFMax * len(re.Rune)
		}
		return n
	case syntax.OpCharClass:
		if len(re.Rune) == 0 {
			return 0
		}
		return utf8.RuneLen(min(re.Rune[len(re.Rune)-1], utf8.MaxRune))
	case syntax.OpAnyChar, syntax.OpAnyCharNotNL:
		return utf8.UTFMax
	case syntax.OpCapture, syntax.OpQuest:
		return maxLen(re.Sub[0])
	case syntax.OpStar, syntax.OpPlus:
		if maxLen(re.Sub[0]) == 0 {
			return 0
		}
		return -1
	case syntax.OpRepeat:
		n := maxLen(re.Sub[0])
		if n < 0 || re.Max < 0 && n > 0 {
			return -1
		}
		return n * max(re.Max, 0)
	case syntax.OpConcat, syntax.OpAlternate:
		n := 0
		for _, sub := range re.Sub {
			m := maxLen(sub)
			if m < 0 {
				return -1
			}
			if re.Op == syntax.OpConcat {
				n += m
			} else {
				n = max(n, m)
			}
		}
		return n
	}
	return 0 // empty-width assertions, empty match
}

// prefixBytes returns, for each of the first prefixLen bytes of a match of
// re, the bytes that can stand there. It is a superset: assertions count as
// true, positions are unions over all paths, and once a path can end or
// meets a character beyond ASCII (whose width varies), everything goes.
func prefixBytes(re *syntax.Regexp) [prefixLen][256]bool {
	var sets [prefixLen][256]bool
	prog, err := syntax.Compile(re.Simplify())
	if err != nil {
		panic(err)
	}
	// states is the set of rune instructions reachable after j bytes.
	var closure func(pc uint32, seen []bool, out *[]uint32) bool
	closure = func(pc uint32, seen []bool, out *[]uint32) (canEnd bool) {
		if seen[pc] {
			return false
		}
		seen[pc] = true
		in := &prog.Inst[pc]
		switch in.Op {
		case syntax.InstAlt, syntax.InstAltMatch:
			a := closure(in.Out, seen, out)
			b := closure(in.Arg, seen, out)
			return a || b
		case syntax.InstCapture, syntax.InstNop, syntax.InstEmptyWidth:
			return closure(in.Out, seen, out)
		case syntax.InstMatch:
			return true
		case syntax.InstFail:
			return false
		}
		*out = append(*out, pc)
		return false
	}
	var states []uint32
	open := closure(uint32(prog.Start), make([]bool, len(prog.Inst)), &states)
	for j := 0; j < prefixLen; j++ {
		if open {
			for k := j; k < prefixLen; k++ {
				for b := range sets[k] {
					sets[k][b] = true
				}
			}
			break
		}
		var next []uint32
		seen := make([]bool, len(prog.Inst))
		for _, pc := range states {
			in := &prog.Inst[pc]
			if in.Op == syntax.InstRuneAny || in.Op == syntax.InstRuneAnyNotNL || matchesNonASCII(in) {
				open = true
			}
			for b := 0; b < utf8.RuneSelf; b++ {
				if in.MatchRune(rune(b)) {
					sets[j][b] = true
				}
			}
			if closure(in.Out, seen, &next) {
				open = true
			}
		}
		if open {
			// This byte may start a wider character, and what follows
			// is not tracked.
			for b := utf8.RuneSelf; b < len(sets[j]); b++ {
				sets[j][b] = sets[j][b] || matchesNonASCIIAny(prog, states)
			}
		}
		states = next
	}
	return sets
}

// matchesNonASCII reports whether a rune instruction can match a character
// beyond ASCII (or an invalid byte, which reads as U+FFFD).
func matchesNonASCII(in *syntax.Inst) bool {
	switch in.Op {
	case syntax.InstRuneAny, syntax.InstRuneAnyNotNL:
		return true
	case syntax.InstRune1:
		return in.Rune[0] >= utf8.RuneSelf
	case syntax.InstRune:
		if len(in.Rune) == 1 {
			return in.Rune[0] >= utf8.RuneSelf
		}
		for i := 1; i < len(in.Rune); i += 2 {
			if in.Rune[i] >= utf8.RuneSelf {
				return true
			}
		}
	}
	return false
}

func matchesNonASCIIAny(prog *syntax.Prog, states []uint32) bool {
	for _, pc := range states {
		if matchesNonASCII(&prog.Inst[pc]) {
			return true
		}
	}
	return false
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

func isEmailByte(c byte) bool {
	return isWordByte(c) || strings.IndexByte(".!#$%&'*+/=?^`{|}~-", c) >= 0
}

// Parameterize replaces the variable parts of a message (numbers, ids,
// addresses, timestamps, durations, ...) with placeholders such as "<int>"
// and "<uuid>", the way Sentry's parameterization does, so that messages that
// differ only in such values group together. It is idempotent. Its cost is
// linear for ordinary text but can grow quadratically on long runs of
// dotted or '@'-separated tokens, as Sentry's: bound what you pass it.
func Parameterize(s string) string {
	// A placeholder can change what its neighbours match (a lookahead that
	// failed on the digits it replaced succeeds on its '<'), so a pass is
	// repeated until nothing changes: each changing pass replaces text by
	// placeholders, which no pattern matches, so this ends quickly, in
	// practice after the second pass.
	out := params.replace(s)
	for i := 0; i < maxPasses && out != s; i++ {
		s, out = out, params.replace(out)
	}
	return out
}

const maxPasses = 8

func (p *parameterizer) replace(s string) string {
	var out strings.Builder
	last := 0
	replaced := false
	emailRunEnd := -1 // end of the run of email characters holding at, once known
	for at := 0; at < len(s); {
		c := s[at]
		prev := byte(' ') // start of text: not a word, not a digit, not '='
		switch {
		case replaced && at == last:
			// Right after a placeholder the next pass will see its '>':
			// judge the lead by that, or the next pass could differ.
			prev = '>'
		case at > 0:
			prev = s[at-1]
		}
		// A value never starts inside a word.
		if !p.first[c] || isWordByte(c) && isWordByte(prev) {
			at++
			continue
		}
		if at >= emailRunEnd {
			emailRunEnd = at
			for emailRunEnd < len(s) && isEmailByte(s[emailRunEnd]) {
				emailRunEnd++
			}
		}
		emailPossible := emailRunEnd > at && emailRunEnd < len(s) && s[emailRunEnd] == '@'
		name, end := p.matchAt(s, at, prev, emailPossible)
		if end < 0 {
			at++
			continue
		}
		if !replaced {
			out.Grow(len(s))
		}
		out.WriteString(s[last:at])
		out.WriteByte('<')
		out.WriteString(name)
		out.WriteByte('>')
		last, at, replaced = end, end, true
	}
	if !replaced {
		return s
	}
	out.WriteString(s[last:])
	return out.String()
}

// matchAt tries the patterns in order, anchored at s[at:] and preceded by
// prev, and returns the placeholder name and the end of the first exact
// match, or -1.
func (p *parameterizer) matchAt(s string, at int, prev byte, emailPossible bool) (string, int) {
	c := s[at]
	startsWord := isWordByte(c)
	for _, i := range p.byFirst[c] {
		pt := &p.pats[i]
		if int(i) == p.email && !emailPossible || !pt.mayMatch(s, at) || pt.pre != nil && !pt.pre(s, at) {
			continue
		}
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
		in := s[at:]
		if pt.maxLen >= 0 && len(in) > pt.maxLen+utf8.UTFMax {
			// Enough for the longest match and the character after it,
			// which trailing assertions look at.
			in = in[:pt.maxLen+utf8.UTFMax]
		}
		var end int
		if pt.match != nil {
			if end = pt.match(in, 0); end < 0 {
				continue
			}
		} else {
			m := pt.re.FindStringSubmatchIndex(in)
			if m == nil {
				continue
			}
			end = m[3]
			if len(m) > 4 {
				end = max(end, m[5])
			}
		}
		if pt.check != nil && !pt.check(in[:end]) {
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

var tlds = func() map[string]bool {
	m := map[string]bool{}
	for _, t := range strings.Split(strings.Trim(reTLD, "(?:)"), "|") {
		m[t] = true
	}
	return m
}()

// matchHostname is the hostname pattern, (label\.)+?TLD\b, by hand: the
// regexp's lazy repetition over a 200-way alternation is slow on long dotted
// runs. Labels cannot hold a dot, so each is the whole run of label
// characters before one, and a TLD followed by \b is a whole word.
func matchHostname(s string, at int) int {
	i := at
	for {
		j := i
		for j < len(s) && j-i <= 63 && (isWordByte(s[j]) && s[j] != '_' || s[j] == '-') {
			j++
		}
		if j == i || j-i > 63 || j >= len(s) || s[j] != '.' {
			return -1
		}
		i = j + 1 // past the dot
		k := i
		for k < len(s) && isWordByte(s[k]) {
			k++
		}
		if tlds[s[i:k]] {
			return k
		}
	}
}

func digitsEnd(s string, i int) int {
	for i < len(s) && '0' <= s[i] && s[i] <= '9' {
		i++
	}
	return i
}

// atWordEnd reports \b after a word character at i.
func atWordEnd(s string, i int) bool {
	return i == len(s) || !isWordByte(s[i])
}

// negative matches a minus sign, then m.
func negative(m func(string, int) int) func(string, int) int {
	return func(s string, at int) int {
		if at >= len(s) || s[at] != '-' {
			return -1
		}
		return m(s, at+1)
	}
}

// matchInt is \d{1,7}\b by hand (ints are the commonest value): the
// digits are the whole run, as \b after a digit forbids another.
func matchInt(s string, i int) int {
	j := digitsEnd(s, i)
	if j == i || j-i > 7 || !atWordEnd(s, j) {
		return -1
	}
	return j
}

// matchFloat is \d+\.\d+\b by hand.
func matchFloat(s string, i int) int {
	j := digitsEnd(s, i)
	if j == i || j >= len(s) || s[j] != '.' {
		return -1
	}
	k := digitsEnd(s, j+1)
	if k == j+1 || !atWordEnd(s, k) {
		return -1
	}
	return k
}

// colonWithin5 holds for every IPv6 form: a colon within the first five
// bytes.
func colonWithin5(s string, at int) bool {
	return strings.IndexByte(s[at:min(at+5, len(s))], ':') >= 0
}

// unitAfterNumber holds for every duration form: digits, maybe a fraction,
// then a unit's first letter.
func unitAfterNumber(s string, at int) bool {
	i := digitsEnd(s, at)
	if i < len(s) && s[i] == '.' {
		i = digitsEnd(s, i+1)
	}
	// \xc2 and \xce start "µ" (micro sign) and "μ" (Greek mu).
	return i < len(s) && strings.IndexByte("numsh\xc2\xce", s[i]) >= 0
}
