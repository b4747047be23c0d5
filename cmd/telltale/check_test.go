package main

import (
	"context"
	"flag"
	"os"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func TestCheckConfig(t *testing.T) {
	tests := []struct {
		args   []string
		code   int
		golden string // the output, stdout and stderr together
	}{
		{[]string{"check", "config", "testdata/check/good.yaml"}, 0, "testdata/check/good.golden"},
		{[]string{"check", "config", "testdata/check/bad.yaml"}, 1, "testdata/check/bad.golden"},
		{[]string{"check", "config", "testdata/check/good.yaml", "testdata/check/bad.yaml"}, 1, "testdata/check/both.golden"},
		{[]string{"check", "config", "testdata/check/missing.yaml"}, 1, "testdata/check/missing.golden"},
		{[]string{"check"}, 2, "testdata/check/usage.golden"},
		{[]string{"check", "rules"}, 2, "testdata/check/what.golden"},
	}
	for _, tt := range tests {
		var out strings.Builder
		code := run(context.Background(), tt.args, &out, &out)
		if code != tt.code {
			t.Errorf("telltale %q: exit %d, want %d; output:\n%s", tt.args, code, tt.code, out.String())
		}
		if *update {
			if err := os.WriteFile(tt.golden, []byte(out.String()), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(tt.golden)
		if err != nil {
			t.Fatalf("%v (run with -update)", err)
		}
		if out.String() != string(want) {
			t.Errorf("telltale %q output:\n%s\nwant:\n%s", tt.args, out.String(), want)
		}
	}
}
