package main

import (
	"context"
	"flag"
	"io"
	"strings"
	"testing"
	"time"
)

func TestCommandLine(t *testing.T) {
	tests := []struct {
		args     []string
		code     int
		contains string
	}{
		{[]string{"help"}, 0, "serve      run the Telltale server"},
		{nil, 0, "Usage: telltale <command>"},
		{[]string{"help", "serve"}, 0, "-retention-logs"},
		{[]string{"version"}, 0, "telltale dev"},
		{[]string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{[]string{"serve", "--log-level", "loud"}, 2, `invalid -log-level "loud"`},
		{[]string{"serve", "--retention-logs", "forever"}, 2, `invalid duration "forever"`},
		{[]string{"serve", "--max-disk", "lots"}, 2, `invalid size "lots"`},
		{[]string{"serve", "extra"}, 2, `unexpected argument "extra"`},
		{[]string{"help", "serve"}, 0, "-max-series-per-metric"},
		{[]string{"serve", "--max-series-per-metric", "-1"}, 2, `invalid -max-series-per-metric -1`},
	}
	for _, tt := range tests {
		var out strings.Builder
		code := run(context.Background(), tt.args, &out, &out)
		if code != tt.code || !strings.Contains(out.String(), tt.contains) {
			t.Errorf("telltale %q: exit %d, output:\n%s\nwant exit %d and %q", tt.args, code, out.String(), tt.code, tt.contains)
		}
	}
}

func TestFlagValues(t *testing.T) {
	dayTests := []struct {
		in   string
		want time.Duration
		str  string
	}{
		{"7d", 7 * 24 * time.Hour, "7d"},
		{"36h", 36 * time.Hour, "36h0m0s"},
		{"0.5d", 12 * time.Hour, "12h0m0s"},
		{"0", 0, "0s"},
	}
	for _, tt := range dayTests {
		var d days
		if err := d.Set(tt.in); err != nil || time.Duration(d) != tt.want || d.String() != tt.str {
			t.Errorf("days.Set(%q) = %v (%s), %v; want %v (%s)", tt.in, time.Duration(d), d.String(), err, tt.want, tt.str)
		}
	}
	for _, bad := range []string{"-1d", "xd", "soon", "-5h"} {
		var d days
		if err := d.Set(bad); err == nil {
			t.Errorf("days.Set(%q) succeeded", bad)
		}
	}
	sizeTests := []struct {
		in   string
		want int64
		str  string
	}{
		{"16MB", 16 << 20, "16MB"},
		{"20gb", 20 << 30, "20GB"},
		{"512 KB", 512 << 10, "512KB"},
		{"1000", 1000, "1000"},
		{"64B", 64, "64"},
	}
	for _, tt := range sizeTests {
		var b bytesize
		if err := b.Set(tt.in); err != nil || int64(b) != tt.want || b.String() != tt.str {
			t.Errorf("bytesize.Set(%q) = %d (%s), %v; want %d (%s)", tt.in, int64(b), b.String(), err, tt.want, tt.str)
		}
	}
	for _, bad := range []string{"-1MB", "MB", "ten"} {
		var b bytesize
		if err := b.Set(bad); err == nil {
			t.Errorf("bytesize.Set(%q) succeeded", bad)
		}
	}
}

func TestMaxSeriesFlag(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want int
	}{
		{nil, 10_000},
		{[]string{"--max-series-per-metric", "500"}, 500},
		{[]string{"--max-series-per-metric", "0"}, -1}, // app.Options: no limit
	} {
		fs := flag.NewFlagSet("serve", flag.ContinueOnError)
		options := serveFlags(fs)
		if err := parse(fs, tt.args); err != nil {
			t.Fatal(err)
		}
		opt, err := options(io.Discard)
		if err != nil || opt.MaxSeriesPerMetric != tt.want {
			t.Errorf("%q: MaxSeriesPerMetric = %d, %v; want %d", tt.args, opt.MaxSeriesPerMetric, err, tt.want)
		}
	}
}
