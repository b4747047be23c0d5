package statetest

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/fibinc/telltale/internal/state"
)

func testConfigDocument(t *testing.T, open OpenFunc) {
	dir := t.TempDir()
	s := open(t, dir)
	if _, _, err := s.ConfigDocument(ctx); !errors.Is(err, state.ErrNotFound) {
		t.Fatalf("ConfigDocument of a new store: %v, want ErrNotFound", err)
	}
	if err := s.SetConfigDocument(ctx, "checks: []\n", time.Time{}); err == nil {
		t.Error("SetConfigDocument with a zero time succeeded")
	}
	docs := []string{"checks:\n  - name: api\n    url: https://api.example.com\n", "", strings.Repeat("# ünïcode ✓\n", 10000)}
	for i, doc := range docs {
		when := at(time.Duration(i) * time.Hour)
		if err := s.SetConfigDocument(ctx, doc, when); err != nil {
			t.Fatalf("SetConfigDocument %d: %v", i, err)
		}
		got, updated, err := s.ConfigDocument(ctx)
		if err != nil || got != doc || !updated.Equal(state.Timestamp(when)) || updated.Location() != time.UTC {
			t.Errorf("ConfigDocument after set %d = %.40q, %v, %v; want %.40q, %v", i, got, updated, err, doc, state.Timestamp(when))
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, dir)
	defer s.Close()
	got, updated, err := s.ConfigDocument(ctx)
	if err != nil || got != docs[2] || !updated.Equal(state.Timestamp(at(2*time.Hour))) {
		t.Errorf("ConfigDocument after reopen = %.40q, %v, %v", got, updated, err)
	}
}
