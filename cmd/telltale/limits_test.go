package main

import (
	"flag"
	"io"
	"testing"
	"time"

	"github.com/fibinc/telltale/internal/app"
	"github.com/fibinc/telltale/internal/pipeline"
)

func TestLimitFlags(t *testing.T) {
	for _, tt := range []struct {
		name string
		args []string
		want func(o app.Options) bool
	}{
		{"defaults", nil, func(o app.Options) bool {
			return o.MemoryBudget == 1<<30 && o.MemoryLimit == "" && o.Limits == (pipeline.Limits{MaxAttributes: 128, MaxKeyBytes: 256, MaxValueBytes: 16 << 10, MaxBodyBytes: 64 << 10}) &&
				o.QueryTimeout == 30*time.Second && o.MaxQueryRange == 31*24*time.Hour && o.MaxQueryRows == 10_000 && o.MaxConcurrentQueries == 4
		}},
		{"set", []string{"--memory-budget", "512MB", "--max-attributes", "64", "--max-attribute-value-size", "4KB", "--query-timeout", "10s",
			"--max-query-range", "7d", "--max-query-rows", "500", "--max-concurrent-queries", "8"}, func(o app.Options) bool {
			return o.MemoryBudget == 512<<20 && o.Limits.MaxAttributes == 64 && o.Limits.MaxValueBytes == 4<<10 &&
				o.QueryTimeout == 10*time.Second && o.MaxQueryRange == 7*24*time.Hour && o.MaxQueryRows == 500 && o.MaxConcurrentQueries == 8
		}},
		{"off", []string{"--memory-budget", "0", "--max-attributes", "0", "--max-message-size", "0", "--query-timeout", "0", "--max-concurrent-queries", "0"}, func(o app.Options) bool {
			return o.MemoryBudget < 0 && o.Limits.MaxAttributes < 0 && o.Limits.MaxBodyBytes < 0 && o.QueryTimeout < 0 && o.MaxConcurrentQueries < 0
		}},
	} {
		fs := flag.NewFlagSet("serve", flag.ContinueOnError)
		options := serveFlags(fs)
		if err := parse(fs, tt.args); err != nil {
			t.Fatal(err)
		}
		opt, err := options(io.Discard)
		if err != nil || !tt.want(opt) {
			t.Errorf("%s: %+v, %v", tt.name, opt, err)
		}
	}
	for _, bad := range [][]string{{"--max-query-rows", "0"}, {"--max-attributes", "-1"}, {"--max-query-range", "0"}} {
		fs := flag.NewFlagSet("serve", flag.ContinueOnError)
		options := serveFlags(fs)
		if err := parse(fs, bad); err != nil {
			continue
		}
		if _, err := options(io.Discard); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
