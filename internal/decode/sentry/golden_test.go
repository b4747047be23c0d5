package sentry

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fibinc/telltale/internal/telemetry"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// goldenEvent shows the JSON text fields that ErrorEvent hides from JSON.
type goldenEvent struct {
	telemetry.ErrorEvent
	Contexts json.RawMessage `json:"contexts"`
	Extra    json.RawMessage `json:"extra"`
}

type goldenItem struct {
	Type    string       `json:"type"`
	Bytes   int          `json:"bytes"`
	Event   *goldenEvent `json:"event,omitempty"`
	CheckIn *CheckIn     `json:"check_in,omitempty"`
}

type goldenEnvelope struct {
	Header  EnvelopeHeader `json:"header"`
	Items   []goldenItem   `json:"items"`
	Skipped map[string]int `json:"skipped"`
}

func newGoldenEvent(t *testing.T, payload []byte) *goldenEvent {
	t.Helper()
	ev, err := DecodeEvent(payload)
	if err != nil {
		t.Fatalf("DecodeEvent: %v", err)
	}
	checkEvent(t, ev)
	return &goldenEvent{ErrorEvent: ev, Contexts: json.RawMessage(ev.Contexts), Extra: json.RawMessage(ev.Extra)}
}

// decodeFixture parses an envelope fixture and decodes its items.
func decodeFixture(t *testing.T, name string) (*Envelope, goldenEnvelope) {
	t.Helper()
	env, err := ParseEnvelope(bytes.NewReader(readTestdata(t, name)), Limits{})
	if err != nil {
		t.Fatalf("ParseEnvelope: %v", err)
	}
	g := goldenEnvelope{Header: env.Header, Skipped: env.Skipped}
	for _, it := range env.Items {
		gi := goldenItem{Type: it.Type, Bytes: len(it.Payload)}
		switch it.Type {
		case ItemEvent:
			gi.Event = newGoldenEvent(t, it.Payload)
		case ItemCheckIn:
			c, err := DecodeCheckIn(it.Payload)
			if err != nil {
				t.Fatalf("DecodeCheckIn: %v", err)
			}
			gi.CheckIn = &c
		}
		g.Items = append(g.Items, gi)
	}
	return env, g
}

func TestFixturesGolden(t *testing.T) {
	envelopes, _ := filepath.Glob("testdata/*.envelope")
	stores, _ := filepath.Glob("testdata/store-*")
	if len(envelopes) < 8 || len(stores) < 3 {
		t.Fatalf("fixtures missing: %v %v", envelopes, stores)
	}
	for _, path := range append(envelopes, stores...) {
		name := filepath.Base(path)
		t.Run(name, func(t *testing.T) {
			var doc any
			if strings.HasSuffix(name, ".envelope") {
				_, doc = decodeFixture(t, name)
			} else {
				body, err := DecodeStoreBody(readTestdata(t, name), 0)
				if err != nil {
					t.Fatalf("DecodeStoreBody: %v", err)
				}
				doc = newGoldenEvent(t, body)
			}
			got, err := json.MarshalIndent(doc, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			golden := filepath.Join("testdata", "golden", strings.TrimSuffix(name, filepath.Ext(name))+".json")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("output differs from %s (run go test -update after checking):\n%s", golden, got)
			}
		})
	}
}

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}
