package main

import (
	"context"
	"strings"
	"testing"
)

func TestTopCommandLine(t *testing.T) {
	tests := []struct {
		args     []string
		code     int
		contains string
		lines    int // lines of output when > 0
	}{
		// Port 1 on loopback refuses connections.
		{[]string{"top", "--once", "--server", "http://127.0.0.1:1"}, 1,
			"telltale top: cannot reach the server at http://127.0.0.1:1: dial tcp 127.0.0.1:1: connect: connection refused", 1},
		{[]string{"help", "top"}, 0, "-window duration", 0},
		{[]string{"help"}, 0, "top        show each service", 0},
		{[]string{"top", "--window", "0s"}, 2, "invalid -window 0s", 0},
		{[]string{"top", "--interval", "-1s"}, 2, "invalid -interval -1s", 0},
		{[]string{"top", "--server", "ftp://example.com"}, 2, `invalid -server "ftp://example.com"`, 0},
		{[]string{"top", "--server", "http://"}, 2, `invalid -server "http://"`, 0},
		{[]string{"top", "now"}, 2, `unexpected argument "now"`, 0},
	}
	for _, tt := range tests {
		var out strings.Builder
		code := run(context.Background(), tt.args, &out, &out)
		if code != tt.code || !strings.Contains(out.String(), tt.contains) {
			t.Errorf("telltale %q: exit %d, output:\n%s\nwant exit %d and %q", tt.args, code, out.String(), tt.code, tt.contains)
		}
		if n := strings.Count(out.String(), "\n"); tt.lines > 0 && n != tt.lines {
			t.Errorf("telltale %q: %d lines of output, want %d:\n%s", tt.args, n, tt.lines, out.String())
		}
	}
}
