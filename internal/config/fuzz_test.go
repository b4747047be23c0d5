package config

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"go.yaml.in/yaml/v3"
)

// withoutLines returns f's JSON with the Line fields zeroed: a file
// re-marshalled from f keeps its values but not its layout.
func withoutLines(t *testing.T, f *File) []byte {
	t.Helper()
	g := *f
	g.Checks = append([]Check(nil), f.Checks...)
	g.Rules = append([]Rule(nil), f.Rules...)
	g.Channels = append([]Channel(nil), f.Channels...)
	g.Routes = append([]Route(nil), f.Routes...)
	g.Silences = append([]Silence(nil), f.Silences...)
	g.Maintenance = append([]Maintenance(nil), f.Maintenance...)
	for i := range g.Checks {
		g.Checks[i].Line = 0
	}
	for i := range g.Rules {
		g.Rules[i].Line = 0
	}
	for i := range g.Channels {
		g.Channels[i].Line = 0
	}
	for i := range g.Routes {
		g.Routes[i].Line = 0
	}
	for i := range g.Silences {
		g.Silences[i].Line = 0
	}
	for i := range g.Maintenance {
		g.Maintenance[i].Line = 0
	}
	out, err := json.Marshal(g)
	if err != nil {
		t.Fatalf("cannot marshal to JSON: %v", err)
	}
	return out
}

// checkRoundTrip checks that f, written back as YAML, parses to itself:
// the defaults Parse fills in are stable and everything it accepts it can
// write.
func checkRoundTrip(t *testing.T, f *File) {
	t.Helper()
	y, err := yaml.Marshal(f)
	if err != nil {
		t.Fatalf("cannot marshal to YAML: %v", err)
	}
	g, err := Parse("again.yaml", y, Options{})
	if err != nil {
		t.Fatalf("re-marshalled file does not parse: %v\n%s", err, y)
	}
	if a, b := withoutLines(t, f), withoutLines(t, g); !bytes.Equal(a, b) {
		t.Fatalf("re-marshalled file parses differently:\n%s\n%s\nYAML:\n%s", a, b, y)
	}
}

func FuzzParse(f *testing.F) {
	for _, dir := range []string{"testdata/good", "testdata/bad"} {
		files, _ := filepath.Glob(dir + "/*.yaml")
		for _, file := range files {
			data, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data)
		}
	}
	f.Add([]byte("a: &a [*a, *a]\nb: &b [*a, *a]\nc: [*b, *b]\n"))
	f.Add([]byte("checks:\n  - &c {name: a, url: 'http://x'}\n  - <<: *c\n    name: b\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := Parse("fuzz.yaml", data, Options{})
		if err != nil {
			if file != nil {
				t.Fatal("a file with an error")
			}
			if len(Errors(err)) == 0 {
				t.Fatalf("error without a place: %v", err)
			}
			return
		}
		checkRoundTrip(t, file)
	})
}
