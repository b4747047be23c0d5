package apptest

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/fibinc/telltale/kit"
)

// TestKitTwoLines proves that two lines, kit.Init and kit.Handler, make a
// plain net/http service observable: its requests, their duration, its
// panics with their stack, and its error log lines with the request id,
// all in a real Telltale server.
func TestKitTwoLines(t *testing.T) {
	s := start(t, t.TempDir())
	ctx := context.Background()

	// A plain net/http service, as anyone writes one.
	mux := http.NewServeMux()
	mux.HandleFunc("GET /hello/{name}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello %s\n", r.PathValue("name"))
	})
	mux.HandleFunc("GET /crash", func(w http.ResponseWriter, r *http.Request) {
		var users map[string]int
		users["x"]++ // a nil map: panics
	})

	// The two lines.
	shutdown, err := kit.Init(ctx, kit.Config{Service: "plain", Version: "1.0.0", Environment: "test", Endpoint: s.otlpAddr, LogOutput: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(kit.Handler(mux))
	defer srv.Close()

	for i := range 5 {
		get(t, srv.URL+fmt.Sprintf("/hello/u%d", i), 200, "")
	}
	crashID := get(t, srv.URL+"/crash", 500, "req-crash-1")
	if err := shutdown(ctx); err != nil {
		t.Fatalf("kit shutdown: %v", err)
	}

	// Requests and their latency.
	var svcs struct {
		Data []struct {
			Name          string `json:"name"`
			Requests      int64  `json:"requests"`
			RequestErrors int64  `json:"request_errors"`
			Versions      []string
		}
	}
	s.get("/api/v1/services?from=now-1h", 200, &svcs)
	if len(svcs.Data) != 1 || svcs.Data[0].Name != "plain" || svcs.Data[0].Requests != 6 || svcs.Data[0].RequestErrors != 1 {
		t.Fatalf("services = %+v, want plain with 6 requests, 1 failed", svcs.Data)
	}
	var traces struct {
		Data []struct {
			RootName string `json:"root_operation"`
		}
	}
	s.get("/api/v1/traces?from=now-1h&service=plain", 200, &traces)
	var routes []string
	for _, tr := range traces.Data {
		routes = append(routes, tr.RootName)
	}
	if !strings.Contains(strings.Join(routes, ","), "GET /hello/{name}") {
		t.Errorf("trace roots %v lack the route GET /hello/{name}", routes)
	}

	// The duration histogram.
	var metrics struct {
		Data []struct{ Name, Type, Unit string }
	}
	s.get("/api/v1/metrics?from=now-1h", 200, &metrics)
	var found bool
	for _, m := range metrics.Data {
		found = found || m.Name == "http.server.request.duration" && m.Type == "histogram" && m.Unit == "s"
	}
	if !found {
		t.Errorf("metrics %+v lack the http.server.request.duration histogram", metrics.Data)
	}

	// The panic is an issue, with the panicking handler in its stack.
	iss := s.issues("", 1, 1)
	if !strings.HasPrefix(iss[0].Title, "panic") {
		t.Errorf("issue title %q, want the panic", iss[0].Title)
	}
	var detail struct{ Data apiIssueDetail }
	s.get(fmt.Sprintf("/api/v1/issues/%d", iss[0].ID), 200, &detail)
	ev := detail.Data.LatestEvent
	if ev.Service != "plain" || ev.Release != "1.0.0" || len(ev.Exceptions) == 0 {
		t.Fatalf("panic event: %+v", ev)
	}
	var handler bool
	for _, f := range ev.Exceptions[len(ev.Exceptions)-1].Frames {
		handler = handler || strings.HasPrefix(f.Function, "TestKitTwoLines.func2") && f.InApp != nil && *f.InApp
	}
	if !handler {
		t.Errorf("panic stack lacks the in-app handler frame: %+v", ev.Exceptions)
	}

	// The request, found by the request id the client sent: its span and
	// the error line the kit logged about it.
	var req struct {
		Data struct {
			Traces []struct {
				Spans []struct{ Name string } `json:"spans"`
			} `json:"traces"`
			Logs []struct {
				Body      string `json:"body"`
				RequestID string `json:"request_id"`
				Level     string `json:"level"`
			} `json:"logs"`
		}
	}
	s.get("/api/v1/requests/"+crashID, 200, &req)
	if len(req.Data.Traces) != 1 || len(req.Data.Traces[0].Spans) != 1 || req.Data.Traces[0].Spans[0].Name != "GET /crash" {
		t.Errorf("request %s traces: %+v", crashID, req.Data.Traces)
	}
	if len(req.Data.Logs) != 1 || req.Data.Logs[0].Body != "request failed" || req.Data.Logs[0].Level != "error" {
		t.Errorf("request %s logs: %+v", crashID, req.Data.Logs)
	}
}

// get fetches url with an optional request id and checks the status. It
// returns the request id the service answered with.
func get(t *testing.T, url string, status int, requestID string) string {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if requestID != "" {
		req.Header.Set(kit.RequestIDHeader, requestID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != status {
		t.Fatalf("GET %s: %d, want %d", url, resp.StatusCode, status)
	}
	rid := resp.Header.Get(kit.RequestIDHeader)
	if requestID != "" && rid != requestID {
		t.Fatalf("request id %q came back as %q", requestID, rid)
	}
	return rid
}
