package apptest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestDemo runs `telltale demo` as a user does and checks, through the
// API, that within 30 seconds it shows what the issue promises: the three
// services with RED metrics, a trace across all three, logs of one request
// from every service joined by its request id, a RemoteException chain
// from fibfrontend into pricing, the bad-input errors, and an error sent
// through sentry-go. StatsD metrics arrive too. Then Ctrl-C
// stops everything cleanly.
func TestDemo(t *testing.T) {
	s := &server{t: t, dataDir: t.TempDir(), grpcAddr: freeAddr(t), otlpAddr: freeAddr(t), ui: freeAddr(t), log: &syncBuffer{}, exited: make(chan struct{})}
	statsd := freeAddr(t)
	s.cmd = exec.Command(telltale(t), "demo", "--duration", "3m", "--rate", "25", "--data-dir", s.dataDir,
		"--otlp-grpc-addr", s.grpcAddr, "--otlp-http-addr", s.otlpAddr, "--http-addr", s.ui, "--statsd-addr", statsd)
	s.cmd.Env = append(os.Environ(), "TELLTALE_ADMIN_PASSWORD="+adminPassword)
	out := &syncBuffer{}
	s.cmd.Stdout, s.cmd.Stderr = out, s.log
	begin := time.Now()
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.cmd.Wait(); close(s.exited) }()
	t.Cleanup(func() {
		s.cmd.Process.Kill()
		<-s.exited
		if t.Failed() {
			t.Logf("demo output:\n%s\ndemo log:\n%s", out.String(), s.log.String())
		}
	})

	deadline := begin.Add(30 * time.Second)
	s.waitReady()
	s.connect()
	check := func(what string, ok func() (bool, string)) {
		t.Helper()
		for {
			good, why := ok()
			if good {
				t.Logf("%s after %s", what, time.Since(begin).Round(100*time.Millisecond))
				return
			}
			select {
			case <-s.exited:
				t.Fatalf("demo exited while waiting for %s", what)
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within 30 s of start: %s", what, why)
			}
			time.Sleep(250 * time.Millisecond)
		}
	}
	fleet := []string{"fibfrontend", "pricing", "userstore"}

	check("RED metrics of the three services", func() (bool, string) {
		var svcs struct {
			Data []struct {
				Name      string                 `json:"name"`
				Requests  int64                  `json:"requests"`
				LogCount  int64                  `json:"log_count"`
				ErrorRate float64                `json:"error_rate"`
				Latency   *struct{ P95 float64 } `json:"latency_ms"`
			}
		}
		if !s.try("/api/v1/services?from=now-10m", &svcs) {
			return false, "API not up"
		}
		var seen []string
		for _, sv := range svcs.Data {
			if sv.Requests > 0 && sv.Latency != nil && sv.LogCount > 0 {
				seen = append(seen, sv.Name)
			}
		}
		for _, name := range fleet {
			if !slices.Contains(seen, name) {
				return false, fmt.Sprintf("services with requests, latency and logs: %v", seen)
			}
		}
		return true, ""
	})

	check("a trace across the three services", func() (bool, string) {
		var traces struct {
			Data []struct {
				TraceID  string   `json:"trace_id"`
				Services []string `json:"services"`
			}
		}
		if !s.try("/api/v1/traces?from=now-10m&service=pricing&limit=50", &traces) {
			return false, "no answer"
		}
		for _, tr := range traces.Data {
			if all(tr.Services, fleet) {

				return true, ""
			}
		}
		return false, fmt.Sprintf("%d traces through pricing, none through all three", len(traces.Data))
	})

	check("one request's logs from every service, by request id", func() (bool, string) {
		var logs struct {
			Data []struct {
				RequestID string `json:"request_id"`
			}
		}
		if !s.try("/api/v1/logs?from=now-10m&limit=50&q="+url.QueryEscape("service:pricing"), &logs) {
			return false, "no answer"
		}
		for _, l := range logs.Data {
			if l.RequestID == "" {
				continue
			}
			var req struct {
				Data struct {
					Logs []struct {
						Service   string `json:"service"`
						RequestID string `json:"request_id"`
					} `json:"logs"`
				}
			}
			if !s.try("/api/v1/requests/"+l.RequestID, &req) {
				continue
			}
			var services []string
			for _, rl := range req.Data.Logs {
				if rl.RequestID == l.RequestID && !slices.Contains(services, rl.Service) {
					services = append(services, rl.Service)
				}
			}
			if all(services, fleet) {
				return true, ""
			}
		}
		return false, "no request id with log lines from all three services yet"
	})

	check("a RemoteException chain from fibfrontend into pricing, the bad-input errors, and a Sentry SDK error", func() (bool, string) {
		var list struct{ Data []apiIssue }
		if !s.try("/api/v1/issues?limit=100", &list) {
			return false, "no answer"
		}
		var titles []string
		var chained, badInput, sentry bool
		for _, iss := range list.Data {
			titles = append(titles, iss.Title)
			if strings.Contains(iss.Title, "strconv.NumError") || strings.Contains(iss.Title, "invalid syntax") {
				badInput = true
			}
			// pricing's refresh job reports through sentry-go.
			sentry = sentry || strings.Contains(iss.Title, "malformed exchange rate")
			var detail struct{ Data apiIssueDetail }
			if !s.try(fmt.Sprintf("/api/v1/issues/%d", iss.ID), &detail) {
				continue
			}
			ev := detail.Data.LatestEvent
			if ev.Service != "fibfrontend" || len(ev.RemoteChain) < 2 {
				continue
			}
			last := ev.RemoteChain[len(ev.RemoteChain)-1]
			if last.Service == "pricing" && strings.Contains(last.Value, "unknown log level") && len(last.Frames) > 0 {
				chained = true
			}
		}
		return chained && badInput && sentry, fmt.Sprintf("chain %v, bad input %v, sentry %v, issues %q", chained, badInput, sentry, titles)
	})

	check("StatsD metrics from fibfrontend", func() (bool, string) {
		var metrics struct{ Data []struct{ Name string } }
		if !s.try("/api/v1/metrics?from=now-10m", &metrics) {
			return false, "no answer"
		}
		var names []string
		for _, m := range metrics.Data {
			names = append(names, m.Name)
		}
		return slices.Contains(names, "fibpro.requests") && slices.Contains(names, "fibpro.fib_time"), fmt.Sprintf("metrics %v", names)
	})

	check("the services board shows the fleet", func() (bool, string) {
		resp, err := s.client.Get("http://" + s.ui + "/")
		if err != nil {
			return false, err.Error()
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		page := string(body)
		for _, name := range fleet {
			if !strings.Contains(page, `">`+name+`</a>`) {
				return false, fmt.Sprintf("status %d, no card for %s", resp.StatusCode, name)
			}
		}
		return resp.StatusCode == 200 && strings.Contains(page, `<svg class="spark"`), fmt.Sprintf("status %d", resp.StatusCode)
	})

	t.Run("browser", func(t *testing.T) { browseDemo(t, s) })

	// Ctrl-C stops the fleet and the server cleanly.
	s.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-s.exited:
	case <-time.After(30 * time.Second):
		t.Fatal("demo did not stop within 30 s of Ctrl-C")
	}
	if code := s.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("demo exited with status %d", code)
	}
	for _, want := range []string{"curl -u alice:alice-pw http://127.0.0.1:", "Sentry DSN          http://", "telltale top --server"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("banner lacks %q:\n%s", want, out.String())
		}
	}
	if resp, err := s.client.Get("http://" + s.ui + "/healthz"); err == nil {
		resp.Body.Close()
		t.Error("server still answers after the demo stopped")
	}
}

// try fetches an API path into v, and says whether it got a 200.
func (s *server) try(path string, v any) bool {
	resp, err := s.client.Get("http://" + s.ui + path)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return false
	}
	return decodeJSON(resp, v) == nil
}

func all(have, want []string) bool {
	for _, w := range want {
		if !slices.Contains(have, w) {
			return false
		}
	}
	return true
}

func decodeJSON(resp *http.Response, v any) error {
	return json.NewDecoder(resp.Body).Decode(v)
}
