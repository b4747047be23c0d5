package duckdb_test

import (
	"context"
	"testing"

	"github.com/fibinc/telltale/internal/store"
	"github.com/fibinc/telltale/internal/store/duckdb"
	"github.com/fibinc/telltale/internal/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T, dir string) store.Store {
		s, err := duckdb.Open(context.Background(), duckdb.Options{Dir: dir})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		return s
	})
}
