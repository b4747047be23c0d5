package jsonlog

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// goldenLog is a record as the golden files show it: every mapped field by
// name, the JSON texts as JSON.
type goldenLog struct {
	Time               string          `json:"time"`
	Severity           int32           `json:"severity"`
	SeverityText       string          `json:"severity_text,omitempty"`
	Body               string          `json:"body"`
	TraceID            string          `json:"trace_id,omitempty"`
	SpanID             string          `json:"span_id,omitempty"`
	RequestID          string          `json:"request_id,omitempty"`
	Service            string          `json:"service"`
	Version            string          `json:"version,omitempty"`
	Instance           string          `json:"instance,omitempty"`
	Environment        string          `json:"environment,omitempty"`
	Host               string          `json:"host,omitempty"`
	Zone               string          `json:"zone,omitempty"`
	Logger             string          `json:"logger,omitempty"`
	ResourceAttributes json.RawMessage `json:"resource_attributes"`
	Attributes         json.RawMessage `json:"attributes"`
}

type goldenLineError struct {
	Line    int    `json:"line"`
	Reason  string `json:"reason"`
	Message string `json:"message"`
}

type golden struct {
	Logs              []goldenLog       `json:"logs"`
	Rejected          int               `json:"rejected"`
	Errors            []goldenLineError `json:"errors,omitempty"`
	DroppedAttributes int               `json:"dropped_attributes,omitempty"`
}

// TestGolden decodes sample lines in the styles of common loggers, one file
// per style under testdata, and compares the records with
// testdata/golden/<style>.json. Run with -update to rewrite them, then
// review the diff: it is the mapping, field by field.
func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/*.ndjson")
	if err != nil || len(files) == 0 {
		t.Fatalf("no sample files: %v", err)
	}
	receipt := time.Date(2024, 5, 4, 12, 0, 0, 0, time.UTC)
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".ndjson")
		t.Run(name, func(t *testing.T) {
			body, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			res, err := Decode(body, Options{Now: receipt, MinTime: time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)})
			if err != nil {
				t.Fatal(err)
			}
			g := golden{Logs: []goldenLog{}, Rejected: res.Rejected, DroppedAttributes: res.DroppedAttributes}
			for _, l := range res.Logs {
				g.Logs = append(g.Logs, goldenLog{
					Time: l.Time.Format(time.RFC3339Nano), Severity: l.Severity, SeverityText: l.SeverityText, Body: l.Body,
					TraceID: l.TraceID, SpanID: l.SpanID, RequestID: l.RequestID,
					Service: l.ServiceName, Version: l.ServiceVersion, Instance: l.InstanceID, Environment: l.Environment,
					Host: l.Host, Zone: l.AvailabilityZone, Logger: l.Scope.Name,
					ResourceAttributes: json.RawMessage(l.Resource.Attributes), Attributes: json.RawMessage(l.Attributes),
				})
			}
			for _, e := range res.Errors {
				g.Errors = append(g.Errors, goldenLineError{e.Line, e.Reason, e.Message})
			}
			var got bytes.Buffer
			enc := json.NewEncoder(&got)
			enc.SetEscapeHTML(false)
			enc.SetIndent("", "  ")
			if err := enc.Encode(g); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", "golden", name+".json")
			if *update {
				if err := os.WriteFile(path, got.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if !bytes.Equal(got.Bytes(), want) {
				t.Errorf("%s differs from %s (run go test -update and review the diff):\n%s", file, path, got.String())
			}
		})
	}
}
