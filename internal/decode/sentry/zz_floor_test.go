package sentry

import (
	"bytes"
	"encoding/json"
	"testing"
)

func BenchmarkFloorCheckValid(b *testing.B) {
	env, _ := ParseEnvelope(bytes.NewReader(readTestdata(b, "go.envelope")), Limits{})
	p := env.Items[0].Payload
	for b.Loop() {
		if !json.Valid(p) {
			b.Fatal()
		}
	}
}

func BenchmarkFloorRaw(b *testing.B) {
	env, _ := ParseEnvelope(bytes.NewReader(readTestdata(b, "go.envelope")), Limits{})
	p := env.Items[0].Payload
	for b.Loop() {
		var r rawEvent
		json.Unmarshal(p, &r)
	}
}
