package top

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestClientToken(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tt_good" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			w.Write([]byte(`{"error":"not logged in"}`))
			return
		}
		w.Write([]byte(`{"data":[{"name":"api"}]}`))
	}))
	defer srv.Close()
	ctx := context.Background()
	for _, tc := range []struct{ token, err string }{
		{"tt_good", ""},
		{"", "needs an API token"},
		{"tt_bad", "refused the API token"},
	} {
		c := &Client{Server: srv.URL, Token: tc.token}
		svcs, err := c.Services(ctx, time.Now().Add(-time.Minute), time.Now())
		switch {
		case tc.err == "" && (err != nil || len(svcs) != 1):
			t.Errorf("token %q: %v, %v", tc.token, svcs, err)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("token %q: %v, want %q", tc.token, err, tc.err)
		}
	}
}
