package sentry

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// CheckIn is a cron monitor check-in.
type CheckIn struct {
	CheckInID   string  // 32 lower-case hex digits; all zeros means the monitor's latest in_progress check-in
	MonitorSlug string  // lower-case letters, digits, "-" and "_", at most 50 characters
	Status      string  // in_progress, ok or error
	Duration    float64 // seconds, 0 if absent
	Release     string
	Environment string
	TraceID     string // contexts.trace.trace_id, 32 hex digits, or ""
	// MonitorConfig, when sent, asks to create or update the monitor.
	MonitorConfig *MonitorConfig
}

// MonitorConfig is the schedule a check-in asks its monitor to have.
type MonitorConfig struct {
	ScheduleType  string // crontab or interval
	Schedule      string // the crontab text, or the interval count
	Unit          string // interval unit: minute, hour, day, week, month or year
	CheckinMargin int    // minutes
	MaxRuntime    int    // minutes
	Timezone      string // tz database name, "" for UTC
}

// Check-in statuses.
const (
	CheckInInProgress = "in_progress"
	CheckInOK         = "ok"
	CheckInError      = "error"
)

// maxSlugLen is Relay's limit.
const maxSlugLen = 50

type rawCheckIn struct {
	CheckInID     looseString       `json:"check_in_id"`
	MonitorSlug   looseString       `json:"monitor_slug"`
	Status        looseString       `json:"status"`
	Duration      json.RawMessage   `json:"duration"`
	Release       looseString       `json:"release"`
	Environment   looseString       `json:"environment"`
	MonitorConfig *rawMonitorConfig `json:"monitor_config"`
	Contexts      struct {
		Trace struct {
			TraceID looseString `json:"trace_id"`
		} `json:"trace"`
	} `json:"contexts"`
}

type rawMonitorConfig struct {
	Schedule struct {
		Type  looseString `json:"type"`
		Value looseString `json:"value"`
		Unit  looseString `json:"unit"`
	} `json:"schedule"`
	CheckinMargin looseInt    `json:"checkin_margin"`
	MaxRuntime    looseInt    `json:"max_runtime"`
	Timezone      looseString `json:"timezone"`
}

// DecodeCheckIn decodes a check_in item. The check-in id must be a UUID, the
// status one of in_progress, ok and error, and the monitor slug not empty once
// made a slug the way Sentry does ("Nightly Backup" is "nightly-backup").
// A monitor config must have a valid schedule. Errors wrap ErrMalformed.
func DecodeCheckIn(payload []byte) (CheckIn, error) {
	if !isObject(payload) {
		return CheckIn{}, malformed("check-in is not a JSON object", nil)
	}
	var r rawCheckIn
	if err := json.Unmarshal(payload, &r); err != nil && !isTypeError(err) {
		return CheckIn{}, malformed("cannot decode check-in", err)
	}
	c := CheckIn{
		MonitorSlug: slugify(string(r.MonitorSlug)),
		Status:      strings.ToLower(strings.TrimSpace(string(r.Status))),
		Release:     short(r.Release),
		Environment: short(r.Environment),
		TraceID:     hexID(string(r.Contexts.Trace.TraceID), 32),
	}
	var ok bool
	if c.CheckInID, ok = normalizeID(string(r.CheckInID)); !ok {
		return CheckIn{}, malformed(fmt.Sprintf("check-in: invalid check_in_id %q", truncate(string(r.CheckInID), 64)), nil)
	}
	if c.MonitorSlug == "" {
		return CheckIn{}, malformed(fmt.Sprintf("check-in: invalid monitor_slug %q", truncate(string(r.MonitorSlug), 64)), nil)
	}
	switch c.Status {
	case CheckInInProgress, CheckInOK, CheckInError:
	default:
		return CheckIn{}, malformed(fmt.Sprintf("check-in: invalid status %q", truncate(string(r.Status), 64)), nil)
	}
	if d, err := strconv.ParseFloat(scalarText(r.Duration), 64); err == nil && d > 0 {
		c.Duration = d
	}
	if r.MonitorConfig != nil {
		mc, err := monitorConfig(r.MonitorConfig)
		if err != nil {
			return CheckIn{}, err
		}
		c.MonitorConfig = mc
	}
	return c, nil
}

func monitorConfig(r *rawMonitorConfig) (*MonitorConfig, error) {
	mc := &MonitorConfig{
		ScheduleType:  strings.ToLower(string(r.Schedule.Type)),
		Schedule:      strings.TrimSpace(short(r.Schedule.Value)),
		CheckinMargin: max(int(r.CheckinMargin), 0),
		MaxRuntime:    max(int(r.MaxRuntime), 0),
		Timezone:      short(r.Timezone),
	}
	switch mc.ScheduleType {
	case "crontab":
		if mc.Schedule == "" {
			return nil, malformed("check-in: monitor_config has an empty crontab schedule", nil)
		}
	case "interval":
		if n, err := strconv.Atoi(mc.Schedule); err != nil || n <= 0 {
			return nil, malformed(fmt.Sprintf("check-in: monitor_config has an invalid interval %q", mc.Schedule), nil)
		}
		mc.Unit = strings.ToLower(string(r.Schedule.Unit))
		switch mc.Unit {
		case "minute", "hour", "day", "week", "month", "year":
		default:
			return nil, malformed(fmt.Sprintf("check-in: monitor_config has an invalid interval unit %q", truncate(mc.Unit, 64)), nil)
		}
	default:
		return nil, malformed(fmt.Sprintf("check-in: monitor_config has an invalid schedule type %q", truncate(mc.ScheduleType, 64)), nil)
	}
	return mc, nil
}

// slugify lower-cases s, keeps ASCII letters, digits, "-" and "_", turns
// every other run of characters into one "-", and cuts the result to
// maxSlugLen.
func slugify(s string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(s) {
		if r == '-' || r == '_' || ('a' <= r && r <= 'z') || ('0' <= r && r <= '9') {
			b.WriteRune(r)
			dash = false
		} else if !dash && b.Len() > 0 {
			b.WriteByte('-')
			dash = true
		}
		if b.Len() > maxSlugLen {
			break
		}
	}
	out := b.String()
	if len(out) > maxSlugLen {
		out = out[:maxSlugLen]
	}
	return strings.Trim(out, "-")
}
