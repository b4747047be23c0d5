package jsonlog

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// benchBody repeats the sample lines of every logger style up to about n
// lines.
func benchBody(b *testing.B, n int) ([]byte, int) {
	files, _ := filepath.Glob("testdata/*.ndjson")
	var samples [][]byte
	for _, file := range files {
		if filepath.Base(file) == "errors.ndjson" {
			continue
		}
		data, err := os.ReadFile(file)
		if err != nil {
			b.Fatal(err)
		}
		samples = append(samples, bytes.Split(bytes.TrimSpace(data), []byte("\n"))...)
	}
	var body bytes.Buffer
	for i := range n {
		body.Write(samples[i%len(samples)])
		body.WriteByte('\n')
	}
	return body.Bytes(), n
}

func BenchmarkDecode(b *testing.B) {
	body, lines := benchBody(b, 10_000)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		res, err := Decode(body, Options{Now: now})
		if err != nil || len(res.Logs) != lines {
			b.Fatalf("%d records, %v", len(res.Logs), err)
		}
	}
	b.ReportMetric(float64(lines)*float64(b.N)/b.Elapsed().Seconds(), "lines/s")
}
