package grouping

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/fibinc/telltale/internal/telemetry"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

// goldenCase is an input file under testdata/events.
type goldenCase struct {
	AppModules []string             `json:"app_modules"`
	Event      telemetry.ErrorEvent `json:"event"`
}

// goldenOut is what a golden file records: the result, and the in-app
// decision of every frame in order.
type goldenOut struct {
	Hashes  []string `json:"hashes"`
	Title   string   `json:"title"`
	Culprit string   `json:"culprit"`
	Type    string   `json:"type"`
	InApp   []string `json:"in_app"`
	Info    Info     `json:"info"`
}

func loadCase(t testing.TB, path string) (*Grouper, *telemetry.ErrorEvent) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var c goldenCase
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatalf("cannot parse %s: %v", path, err)
	}
	return New(Options{AppModules: c.AppModules}), &c.Event
}

func inAppList(ev *telemetry.ErrorEvent) []string {
	var out []string
	add := func(frames []telemetry.Frame) {
		for _, f := range frames {
			s := "nil"
			if f.InApp != nil {
				s = "system"
				if *f.InApp {
					s = "app"
				}
			}
			out = append(out, f.Function+" "+s)
		}
	}
	for _, ex := range ev.Exceptions {
		add(ex.Frames)
	}
	add(ev.Stacktrace)
	return out
}

var hexHash = regexp.MustCompile(`^[0-9a-f]{32}$`)

func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/events/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden inputs: %v", err)
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".json")
		t.Run(name, func(t *testing.T) {
			g, ev := loadCase(t, file)
			res := g.Group(ev)
			checkInvariants(t, ev, res)
			got, err := json.MarshalIndent(goldenOut{
				Hashes: res.Hashes, Title: res.Title, Culprit: res.Culprit, Type: res.Type,
				InApp: inAppList(ev), Info: res.Info,
			}, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			path := filepath.Join("testdata", "golden", name+".json")
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("grouping of %s changed (run go test -update and review the diff): %s", name, firstDiff(got, want))
			}

			// Grouping an already grouped event (its in_app flags now set)
			// gives the same hashes.
			again := g.Group(ev)
			if strings.Join(again.Hashes, ",") != strings.Join(res.Hashes, ",") {
				t.Errorf("regrouping changed the hashes: %v, then %v", res.Hashes, again.Hashes)
			}
		})
	}
}

// checkInvariants checks what holds for every result.
func checkInvariants(t *testing.T, ev *telemetry.ErrorEvent, res Result) {
	t.Helper()
	if len(res.Hashes) == 0 {
		t.Fatal("no hash")
	}
	seen := map[string]bool{}
	for _, h := range res.Hashes {
		if !hexHash.MatchString(h) {
			t.Errorf("hash %q is not 32 hex digits", h)
		}
		if seen[h] {
			t.Errorf("hash %s listed twice", h)
		}
		seen[h] = true
	}
	var contributing []string
	for _, v := range res.Info.Variants {
		if v.Contributes {
			contributing = append(contributing, v.Hash)
		} else if v.Hash != "" {
			t.Errorf("variant %s does not contribute but has hash %s", v.Name, v.Hash)
		}
	}
	if strings.Join(contributing, ",") != strings.Join(res.Hashes, ",") {
		t.Errorf("hashes %v are not the contributing variants' %v", res.Hashes, contributing)
	}
	if res.Info.Version != Version {
		t.Errorf("info version %q", res.Info.Version)
	}
	if n := len([]rune(res.Title)); n == 0 || n > maxLabel {
		t.Errorf("title %q has %d characters", res.Title, n)
	}
	if n := len([]rune(res.Culprit)); n > maxLabel {
		t.Errorf("culprit has %d characters", n)
	}
	for _, ex := range ev.Exceptions {
		for _, f := range ex.Frames {
			if f.InApp == nil {
				t.Errorf("frame %s has no in_app decision", f.Function)
			}
		}
	}
	for _, f := range ev.Stacktrace {
		if f.InApp == nil {
			t.Errorf("frame %s has no in_app decision", f.Function)
		}
	}
	if _, err := json.Marshal(res.Info); err != nil {
		t.Errorf("info does not serialise: %v", err)
	}
}

// firstDiff describes the first line where got and want differ.
func firstDiff(got, want []byte) string {
	g, w := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
	for i := 0; i < len(g) || i < len(w); i++ {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			return fmt.Sprintf("line %d:\n got %s\nwant %s", i+1, strings.TrimSpace(gl), strings.TrimSpace(wl))
		}
	}
	return "no line differs"
}
