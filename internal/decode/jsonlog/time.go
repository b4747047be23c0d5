package jsonlog

import (
	"math"
	"strconv"
	"time"
)

// Accepted timestamps lie between these bounds: the store counts time in
// int64 nanoseconds since 1970, and 0 is what loggers send for "unset".
var (
	minTime = time.Unix(0, 1).UTC()
	maxTime = time.Unix(0, math.MaxInt64).UTC()
)

// parseTime reads a time field: a number or numeric string is a Unix epoch
// time (see parseEpoch), another string a date and time (see parseDateTime).
func parseTime(f *field) (time.Time, bool) {
	var t time.Time
	var ok bool
	switch f.kind {
	case kindNumber:
		t, ok = parseEpoch(f.text)
	case kindString:
		if isNumeric(f.text) {
			t, ok = parseEpoch(f.text)
		} else {
			t, ok = parseDateTime(f.text)
		}
	}
	if !ok || t.Before(minTime) || t.After(maxTime) {
		return time.Time{}, false
	}
	return t, true
}

// isNumeric reports whether s is a non-negative decimal number: digits with
// at most one '.'.
func isNumeric(s []byte) bool {
	dots, digits := 0, 0
	for _, c := range s {
		switch {
		case c == '.':
			dots++
		case '0' <= c && c <= '9':
			digits++
		default:
			return false
		}
	}
	return digits > 0 && dots <= 1
}

// Thresholds between the units of epoch times, chosen so that every time
// from 1973 to 5138 is read right whatever the unit: 1e11 seconds is the year
// 5138, 1e11 milliseconds is 1973.
const (
	maxEpochSeconds = 1e11
	maxEpochMillis  = 1e14
	maxEpochMicros  = 1e17
)

// parseEpoch reads a Unix time in seconds, milliseconds, microseconds or
// nanoseconds, telling them apart by magnitude. Fractions are kept exactly
// down to the nanosecond; exponents go through float64.
func parseEpoch(num []byte) (time.Time, bool) {
	intPart, frac := num, []byte(nil)
	for i, c := range num {
		switch c {
		case '.':
			intPart, frac = num[:i], num[i+1:]
		case 'e', 'E', '-':
			return parseEpochFloat(num)
		}
	}
	for len(intPart) > 1 && intPart[0] == '0' {
		intPart = intPart[1:]
	}
	if len(intPart) > 19 {
		return time.Time{}, false
	}
	v, err := strconv.ParseUint(string(intPart), 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	var perSecond uint64
	var fracDigits int // digits of the fraction that count, down to 1ns
	switch {
	case v < maxEpochSeconds:
		perSecond, fracDigits = 1, 9
	case v < maxEpochMillis:
		perSecond, fracDigits = 1e3, 6
	case v < maxEpochMicros:
		perSecond, fracDigits = 1e6, 3
	default:
		perSecond, fracDigits = 1e9, 0
	}
	var fracNanos int64
	for i := range fracDigits {
		fracNanos *= 10
		if i < len(frac) {
			fracNanos += int64(frac[i] - '0')
		}
	}
	sec := int64(v / perSecond)
	nsec := int64(v%perSecond)*(1e9/int64(perSecond)) + fracNanos
	return time.Unix(sec, nsec).UTC(), true
}

func parseEpochFloat(num []byte) (time.Time, bool) {
	f, err := strconv.ParseFloat(string(num), 64)
	if err != nil || !(f > 0) || math.IsInf(f, 0) {
		return time.Time{}, false
	}
	var nanos float64
	switch {
	case f < maxEpochSeconds:
		nanos = f * 1e9
	case f < maxEpochMillis:
		nanos = f * 1e6
	case f < maxEpochMicros:
		nanos = f * 1e3
	default:
		nanos = f
	}
	if nanos >= math.MaxInt64 {
		return time.Time{}, false
	}
	return time.Unix(0, int64(nanos)).UTC(), true
}

// parseDateTime reads YYYY-MM-DD, 'T', 't' or ' ', hh:mm:ss, an optional
// fraction after '.' or ',' (Python's asctime), and an optional zone: Z, z,
// UTC, GMT, ±hh:mm, ±hhmm or ±hh, with or without a space before it. A time
// without a zone is UTC. This covers RFC 3339 and the forms loggers write.
func parseDateTime(s []byte) (time.Time, bool) {
	const layout = "YYYY-MM-DDThh:mm:ss"
	if len(s) < len(layout) || s[4] != '-' || s[7] != '-' || s[13] != ':' || s[16] != ':' {
		return time.Time{}, false
	}
	if c := s[10]; c != 'T' && c != 't' && c != ' ' {
		return time.Time{}, false
	}
	year, ok1 := atoi(s[0:4])
	month, ok2 := atoi(s[5:7])
	day, ok3 := atoi(s[8:10])
	hour, ok4 := atoi(s[11:13])
	minute, ok5 := atoi(s[14:16])
	sec, ok6 := atoi(s[17:19])
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 || !ok6 ||
		month < 1 || month > 12 || day < 1 || day > daysIn(year, month) ||
		hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, false
	}
	rest := s[len(layout):]
	nsec := 0
	if len(rest) > 0 && (rest[0] == '.' || rest[0] == ',') {
		i := 1
		for ; i < len(rest) && '0' <= rest[i] && rest[i] <= '9'; i++ {
			if i <= 9 {
				nsec = nsec*10 + int(rest[i]-'0')
			}
		}
		if i == 1 {
			return time.Time{}, false
		}
		for d := i - 1; d < 9; d++ {
			nsec *= 10
		}
		rest = rest[i:]
	}
	offset, ok := parseZone(rest)
	if !ok {
		return time.Time{}, false
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC)
	return t.Add(-time.Duration(offset) * time.Second), true
}

// parseZone reads the zone after a time, returning its offset in seconds.
func parseZone(s []byte) (int, bool) {
	if len(s) > 1 && s[0] == ' ' {
		s = s[1:]
	}
	switch string(s) {
	case "", "Z", "z", "UTC", "GMT":
		return 0, true
	}
	sign := 1
	switch s[0] {
	case '+':
	case '-':
		sign = -1
	default:
		return 0, false
	}
	s = s[1:]
	var hh, mm int
	var ok, okm bool
	switch {
	case len(s) == 2:
		hh, ok = atoi(s)
		okm = true
	case len(s) == 4:
		hh, ok = atoi(s[:2])
		mm, okm = atoi(s[2:])
	case len(s) == 5 && s[2] == ':':
		hh, ok = atoi(s[:2])
		mm, okm = atoi(s[3:])
	}
	if !ok || !okm || hh > 23 || mm > 59 {
		return 0, false
	}
	return sign * (hh*3600 + mm*60), true
}

// atoi reads a short run of digits only: no sign, no spaces.
func atoi(s []byte) (int, bool) {
	n := 0
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, len(s) > 0
}

func daysIn(year, month int) int {
	return time.Date(year, time.Month(month)+1, 0, 0, 0, 0, 0, time.UTC).Day()
}
