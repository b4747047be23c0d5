package jsonlog

import (
	"strconv"

	"github.com/fibinc/telltale/internal/telemetry"
)

// parseLevel maps a level field to an OpenTelemetry severity number. ok is
// false for values that cannot be a level (booleans, arrays, empty
// strings); a string that is not a known level is ok with severity 0.
//
//   - Names as telemetry.ParseLevel reads them, in any case: trace, debug,
//     info, notice, warn, warning, error, err, fatal, critical, panic, ...
//   - slog's offsets from a named level, "INFO+2" or "DEBUG-4": slog levels
//     are 4 apart like OpenTelemetry's ranges, so the offset adds to the
//     severity number.
//   - Numbers, and strings of digits: 0-7 are syslog severities (GELF,
//     journald), 10-99 pino and bunyan levels by tens (10 trace, 20 debug,
//     30 info, 40 warn, 50 error, 60 and above fatal); others are unknown.
func parseLevel(f *field) (severity int32, ok bool) {
	switch f.kind {
	case kindNumber:
		return numericLevel(f.text), true
	case kindString:
		if len(f.text) == 0 {
			return 0, false
		}
		if isNumeric(f.text) {
			return numericLevel(f.text), true
		}
		if sev, ok := telemetry.ParseLevel(string(f.text)); ok {
			return sev, true
		}
		return offsetLevel(f.text), true
	}
	return 0, false
}

// syslogSeverity maps syslog severities 0 (emergency) to 7 (debug).
var syslogSeverity = [8]int32{
	telemetry.SeverityFatal, telemetry.SeverityFatal, telemetry.SeverityFatal, // emerg, alert, crit
	telemetry.SeverityError, telemetry.SeverityWarn,
	telemetry.SeverityInfo + 1, telemetry.SeverityInfo, // notice ranks above info
	telemetry.SeverityDebug,
}

// pinoSeverity maps pino and bunyan levels by tens, from 10.
var pinoSeverity = [6]int32{
	telemetry.SeverityTrace, telemetry.SeverityDebug, telemetry.SeverityInfo,
	telemetry.SeverityWarn, telemetry.SeverityError, telemetry.SeverityFatal,
}

func numericLevel(num []byte) int32 {
	n, err := strconv.ParseUint(string(num), 10, 8)
	switch {
	case err != nil:
		return 0
	case n < 8:
		return syslogSeverity[n]
	case n < 10 || n >= 100:
		return 0
	}
	return pinoSeverity[min(n/10, 6)-1]
}

// offsetLevel reads slog's NAME+N and NAME-N, or returns 0.
func offsetLevel(s []byte) int32 {
	for i, c := range s {
		if c != '+' && c != '-' {
			continue
		}
		base, ok := telemetry.ParseLevel(string(s[:i]))
		n, err := strconv.ParseInt(string(s[i+1:]), 10, 8)
		if !ok || err != nil || len(s) == i+1 || s[i+1] < '0' || s[i+1] > '9' {
			return 0
		}
		if c == '-' {
			n = -n
		}
		return int32(min(max(int64(base)+n, 1), 24))
	}
	return 0
}
