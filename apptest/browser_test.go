package apptest

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// The dashboard is tested in a real headless Chromium (Debian's chromium
// package), driven with chromedp. Without Chromium these tests skip, unless
// TELLTALE_REQUIRE_BROWSER=1 says they must run (CI sets it). Screenshots of
// every main page go to TELLTALE_ARTIFACTS, or to artifacts/screenshots at
// the repository's root.

// browser is a headless Chromium tab, with what its pages threw or printed
// as errors.
type browser struct {
	t    *testing.T
	ctx  context.Context
	base string // the dashboard's URL
	dir  string // where screenshots go

	mu       sync.Mutex
	problems []string // uncaught exceptions and console errors
}

// chromium finds the browser to drive, or skips the test.
func chromium(t *testing.T) string {
	t.Helper()
	candidates := []string{os.Getenv("TELLTALE_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"}
	for _, c := range candidates {
		if c == "" {
			continue
		}
		if p, err := exec.LookPath(c); err == nil {
			return p
		}
	}
	msg := "no Chromium found (install it with `apt-get install -y chromium`, or set TELLTALE_CHROMIUM)"
	if os.Getenv("TELLTALE_REQUIRE_BROWSER") == "1" {
		t.Fatal(msg + "; TELLTALE_REQUIRE_BROWSER=1 makes this a failure")
	}
	t.Skip(msg + "; skipping the browser tests")
	return ""
}

func newBrowser(t *testing.T, base string) *browser {
	t.Helper()
	exe := chromium(t)
	dir := os.Getenv("TELLTALE_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join("..", "artifacts", "screenshots")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	// Chromium may still write its profile as it exits, which t.TempDir's
	// cleanup reports as a failure; this directory is removed best-effort.
	profile, err := os.MkdirTemp("", "telltale-chromium")
	if err != nil {
		t.Fatal(err)
	}
	// The flags keep Chromium off the network it cannot reach here, and
	// let it run as root in a container.
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1400, 900),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	b := &browser{t: t, ctx: ctx, base: base, dir: dir}
	chromedp.ListenTarget(ctx, func(ev any) {
		switch ev := ev.(type) {
		case *runtime.EventExceptionThrown:
			b.problem("uncaught exception: " + ev.ExceptionDetails.Error())
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.APITypeError {
				var args []string
				for _, a := range ev.Args {
					args = append(args, string(a.Value)+a.Description)
				}
				b.problem("console error: " + strings.Join(args, " "))
			}
		}
	})
	if err := chromedp.Run(ctx); err != nil {
		t.Fatalf("cannot start Chromium (%s): %v", exe, err)
	}
	t.Cleanup(func() {
		chromedp.Cancel(ctx) // closes the browser and waits for it
		cancelTab()
		cancelAlloc()
		os.RemoveAll(profile)
	})
	return b
}

func (b *browser) problem(s string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.problems = append(b.problems, s)
}

// run runs actions with a time limit, failing the test with what was being
// done.
func (b *browser) run(what string, actions ...chromedp.Action) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Run(ctx, actions...); err != nil {
		var loc string
		chromedp.Run(b.ctx, chromedp.Location(&loc))
		b.t.Fatalf("%s (at %s): %v", what, loc, err)
	}
}

// open loads a dashboard path and waits for sel to be visible.
func (b *browser) open(path, sel string) {
	b.t.Helper()
	b.run("open "+path, chromedp.Navigate(b.base+path), chromedp.WaitVisible(sel, chromedp.ByQuery))
}

// text returns the visible text of the first element matching sel.
func (b *browser) text(sel string) string {
	b.t.Helper()
	var s string
	b.run("read "+sel, chromedp.Text(sel, &s, chromedp.ByQuery, chromedp.NodeVisible))
	return s
}

// count returns how many elements match sel.
func (b *browser) count(sel string) int {
	b.t.Helper()
	var n int
	b.run("count "+sel, chromedp.Evaluate(fmt.Sprintf("document.querySelectorAll(%q).length", sel), &n))
	return n
}

// shot saves a screenshot of the whole page as name.png.
func (b *browser) shot(name string) {
	b.t.Helper()
	var png []byte
	b.run("screenshot "+name, chromedp.FullScreenshot(&png, 100))
	file := filepath.Join(b.dir, name+".png")
	if err := os.WriteFile(file, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("screenshot %s (%d KB)", file, len(png)/1024)
}

// checkClean fails the test if a page threw or logged an error, CSP
// violations included.
func (b *browser) checkClean() {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, p := range b.problems {
		b.t.Errorf("page problem: %s", p)
	}
	b.problems = nil
}

// click clicks the first element matching sel whose text contains text
// ("" for any), then waits for next to be visible on the page it leads to.
func (b *browser) click(sel, text, next string) {
	b.t.Helper()
	var found bool
	js := fmt.Sprintf(`(() => {
		for (const el of document.querySelectorAll(%q)) {
			if (el.textContent.includes(%q)) { el.click(); return true; }
		}
		return false;
	})()`, sel, text)
	b.run(fmt.Sprintf("click %s %q", sel, text), chromedp.Evaluate(js, &found))
	if !found {
		var loc string
		chromedp.Run(b.ctx, chromedp.Location(&loc))
		b.t.Fatalf("at %s: nothing matches %s with text %q", loc, sel, text)
	}
	b.run("wait for "+next, chromedp.WaitVisible(next, chromedp.ByQuery))
}

// submit types value into the form field sel, submits its form, waits for
// the URL to contain want, then for next to be visible.
func (b *browser) submit(sel, value, want, next string) {
	b.t.Helper()
	js := fmt.Sprintf(`(() => {
		const el = document.querySelector(%q);
		if (!el) return false;
		el.value = %q;
		el.form.requestSubmit ? el.form.requestSubmit() : el.form.submit();
		return true;
	})()`, sel, value)
	var ok bool
	b.run("submit "+sel, chromedp.Evaluate(js, &ok))
	if !ok {
		b.t.Fatalf("no %s to type into", sel)
	}
	// Reading the location can fail while the page navigates: retry.
	deadline := time.Now().Add(15 * time.Second)
	for {
		var loc string
		if err := chromedp.Run(b.ctx, chromedp.Location(&loc)); err == nil && strings.Contains(loc, want) {
			break
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("submitting %s did not lead to a URL with %q", sel, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
	b.run("wait for "+next, chromedp.WaitVisible(next, chromedp.ByQuery))
}

// texts returns the text of every element matching sel.
func (b *browser) texts(sel string) []string {
	b.t.Helper()
	var out []string
	b.run("read all "+sel, chromedp.Evaluate(fmt.Sprintf("Array.from(document.querySelectorAll(%q), e => e.textContent.trim())", sel), &out))
	return out
}

func (b *browser) expect(what string, got []string, want ...string) {
	b.t.Helper()
	all := strings.Join(got, "\n")
	for _, w := range want {
		if !strings.Contains(all, w) {
			b.t.Errorf("%s: no %q in:\n%s", what, w, all)
		}
	}
}

// browseDemo clicks through the dashboard over the demo's data as an
// on-call engineer would, from the services board to a service, to one of
// its slow requests, to the service map, and to the error whose remote
// chain ends in pricing's bad log level and that error's request, checking
// what is on screen at each step.
func browseDemo(t *testing.T, s *server) {
	b := newBrowser(t, "http://"+s.ui)

	// Not logged in, the board sends to the login form, which comes back
	// to the board.
	b.open("/", "form.login-form")
	b.shot("login")
	b.run("log in", chromedp.SendKeys(`form.login-form input[name="name"]`, "admin", chromedp.ByQuery),
		chromedp.SendKeys(`form.login-form input[name="password"]`, adminPassword, chromedp.ByQuery),
		chromedp.Click(`form.login-form button[type="submit"]`, chromedp.ByQuery),
		chromedp.WaitVisible("article.card a.name", chromedp.ByQuery))
	b.expect("board", b.texts("article.card a.name"), "fibfrontend", "pricing", "userstore")
	if n := b.count("article.card svg.spark"); n < 3 {
		t.Errorf("%d sparklines on the board, want one per service", n)
	}
	b.shot("board")

	// The board's fibfrontend card leads to its service page: charts with
	// yesterday's line, operations, instances, the services it calls.
	b.click("article.card a.name", "fibfrontend", ".svc .svc-name")
	if got := b.text(".svc-name"); got != "fibfrontend" {
		t.Errorf("service page of %q, want fibfrontend", got)
	}
	if n := b.count("figure.chart-box svg.chart"); n < 3 {
		t.Errorf("%d charts on the service page, want requests, errors and latency", n)
	}
	b.expect("operations", b.texts("table.ops tr.op"), "GET /{n}")
	b.expect("dependencies", b.texts("table.deps tbody.callees tr.dep"), "userstore", "pricing")
	if n := b.count("table.instances tr.instance"); n < 1 {
		t.Error("no instances on the service page")
	}
	b.shot("service")

	// Its slowest request opens the request view: the waterfall crosses
	// the fleet.
	b.click("table.slowest a.request-link", "", "table.waterfall tr.span")
	spans := b.texts("table.waterfall tr.span")
	if len(spans) < 3 {
		t.Errorf("%d spans in the waterfall, want at least 3", len(spans))
	}
	b.expect("request view services", b.texts(".req-summary"), "fibfrontend")
	b.shot("request")

	b.click("header.top nav a", "Map", "svg.map")
	b.expect("map nodes", b.texts("svg.map a.node"), "fibfrontend", "pricing", "userstore")
	if n := b.count(`table.edges tr.edge-row[data-caller="fibfrontend"][data-callee="pricing"]`); n != 1 {
		t.Errorf("%d map rows for fibfrontend calling pricing, want 1", n)
	}
	b.shot("map")

	// The errors list has the error fibfrontend met when pricing failed;
	// its page shows the remote chain down to pricing's bad log level.
	b.click("header.top nav a", "Errors", "table.issues tr.issue")
	b.shot("errors")
	b.click("table.issues a.issue-link", "pricing: cannot price", ".issue-page")
	b.expect("remote chain", b.texts("section.chain li.hop"), "fibfrontend", "pricing", "unknown log level")
	b.expect("in-app frames", b.texts("li.frame.app"), "fib")
	b.shot("issue")

	// The event's request shows the error as fibfrontend met it, with its
	// remote chain down into pricing.
	b.click(".event-nav a.request-link", "", "table.waterfall tr.span")
	b.expect("request error chain", b.texts("#errors article.req-error ol.chain li.hop"), "fibfrontend", "pricing", "unknown log level")
	if n := b.count("table.waterfall tr.span.err"); n == 0 {
		t.Error("no failed span marked in the request's waterfall")
	}
	b.shot("request-error")

	browseLogs(t, b)
	browseMetrics(t, b)
	browseAlerting(t, b)
	browseHostile(t, b, s)
	browseSettings(t, b)

	// The search box takes a service name to its page.
	b.submit(".search input", "pricing", "/services/pricing", ".svc .svc-name")
	if got := b.text(".svc-name"); got != "pricing" {
		t.Errorf("searching pricing led to %q", got)
	}
	b.checkClean()
}

// browseAlerting follows the demo's uptime checks and alert rules (set by
// telltale demo through the API): the checks list with its status bars, a
// check's page with its results, the rules, and the silences page.
func browseAlerting(t *testing.T, b *browser) {
	b.click("header.top nav a", "Checks", "table.checks tr.check")
	b.expect("checks", b.texts("table.checks tr.check a.check-link"), "fibfrontend", "pricing", "userstore")
	if n := b.count("table.checks tr.check svg.statusbar, table.checks tr.check .statusbar"); n < 3 {
		t.Errorf("%d status bars on the checks page, want one per check", n)
	}
	b.shot("checks")
	b.click("table.checks a.check-link", "pricing", "table.results tr.result")
	if n := b.count("table.results tr.result.ok"); n == 0 {
		t.Error("no successful result on pricing's check page")
	}
	b.shot("check")

	b.click("header.top nav a", "Alerts", "table.rules tr.rule")
	b.expect("rules", b.texts("table.rules tr.rule a.rule-link"), "pricing-down", "fibfrontend-errors", "new-issues")
	b.shot("alerts")
	b.click("table.rules a.rule-link", "pricing-down", ".alert-page")
	if n := b.count("dl.rule-def"); n != 1 {
		t.Error("no definition on the rule page")
	}
	b.shot("alert")

	b.click("header.top nav a", "Silences", "main")
	b.shot("silences")
}

// browseSettings goes through the admin's settings: users, a new API
// token shown once, the projects with their ingest keys, and the audit log
// with this session's login.
func browseSettings(t *testing.T, b *browser) {
	b.click("header.top a.settings-link", "Settings", "ul.settings-index")
	b.click("ul.settings-index a", "Users", "main")
	b.shot("users")
	b.click("header.top a.settings-link", "Settings", "ul.settings-index")
	b.click("ul.settings-index a", "API tokens", "form.new-token-form")
	b.submit(`form.new-token-form input[name="name"]`, "browser-test", "/settings/tokens", "pre.token-secret")
	if tok := b.text("pre.token-secret"); !strings.HasPrefix(tok, "tt_") {
		t.Errorf("new token shown as %q", tok)
	}
	b.shot("tokens")
	b.click("header.top a.settings-link", "Settings", "ul.settings-index")
	b.click("ul.settings-index a", "Projects", "section.project code.dsn")
	b.shot("projects")
	b.click("header.top a.settings-link", "Settings", "ul.settings-index")
	b.click("ul.settings-index a", "Audit log", "table.audit tr.audit-entry")
	b.expect("audit actions", b.texts("table.audit tr.audit-entry td.action"), "login", "token.create")
	b.shot("audit")
}

// browseLogs filters the logs explorer, follows a line to its request, and
// tails the live stream.
func browseLogs(t *testing.T, b *browser) {
	b.click("header.top nav a", "Logs", "table.logs tr.log")
	b.submit("#logq", "service:pricing level>=error", "q=service", "table.logs tr.log")
	for _, svc := range b.texts("table.logs tr.log a.service-link") {
		if svc != "pricing" {
			t.Errorf("filter service:pricing shows a line of %q", svc)
		}
	}
	b.expect("levels", b.texts("table.logs tr.log span.lvl"), "error")
	if n := b.count("figure.histogram svg.chart rect"); n == 0 {
		t.Error("no histogram bars for the filter")
	}
	b.shot("logs")
	b.click("table.logs tr.log a.request-link", "", "table.waterfall tr.span")
	b.expect("a log line's request", b.texts("table.waterfall tr.span"), "pricing")

	// Live tail: new lines arrive while the demo's traffic runs.
	b.open("/logs?from=now-5m", "button.live")
	b.run("start the live tail", chromedp.Click("button.live", chromedp.ByQuery), chromedp.WaitVisible("tr.log.fresh", chromedp.ByQuery))
	b.shot("logs-live")
}

// browseMetrics charts a StatsD metric of the demo and a PromQL
// expression.
func browseMetrics(t *testing.T, b *browser) {
	b.click("header.top nav a", "Metrics", "ul.metrics li.metric")
	b.expect("metric list", b.texts("ul.metrics li.metric"), "fibpro.requests", "http.server.request.duration")
	b.click("ul.metrics li.metric a", "fibpro.requests", "figure.explore-chart svg.chart path.line")
	b.shot("explore")
	b.open("/explore?mode=promql", "form.promql textarea[name=promql]")
	const expr = `sum by (service_name) (rate(http_server_request_duration_seconds_count[1m]))`
	b.submit("form.promql textarea[name=promql]", expr, "promql=", "form.promql")
	// A rate needs two exports of the kit's metrics (every 10 s) in its
	// window: reload until the fleet has them.
	for deadline := time.Now().Add(30 * time.Second); b.count("table.legend tr.series") < 3; {
		if time.Now().After(deadline) {
			t.Fatalf("%d PromQL series after 30 s, want one per service", b.count("table.legend tr.series"))
		}
		time.Sleep(time.Second)
		b.run("reload", chromedp.Reload(), chromedp.WaitVisible("form.promql", chromedp.ByQuery))
	}
	if n := b.count("figure.explore-chart svg.chart path.line"); n < 3 {
		t.Errorf("%d lines on the PromQL chart, want one per service", n)
	}
	b.shot("explore-promql")
}

// browseHostile sends a log line made of markup and checks that the
// logs explorer and the request view show it as text.
func browseHostile(t *testing.T, b *browser, s *server) {
	const body = `<img src=x onerror="document.title='pwned'"><script>document.title='pwned'</script> hostile`
	line := fmt.Sprintf(`{"level":"error","msg":%q,"service":"xss-probe","request_id":"xss-req-1","note":"<b>bold</b>"}`, body)
	ingest := &http.Client{Transport: ingestKey{host: s.otlpAddr, key: s.project().PublicKey}}
	resp, err := ingest.Post("http://"+s.otlpAddr+"/api/v1/logs", "application/x-ndjson", strings.NewReader(line+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("POST /api/v1/logs: status %d", resp.StatusCode)
	}
	for _, page := range []struct{ path, sel string }{
		{"/logs?from=now-5m&q=service:xss-probe", "table.logs tr.log"},
		{"/requests/xss-req-1", "#logs tr.log"},
	} {
		deadline := time.Now().Add(10 * time.Second)
		for {
			b.open(page.path, "main")
			if b.count(page.sel) > 0 || time.Now().After(deadline) {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		b.expect(page.path, b.texts(page.sel), "<img src=x", "<script>")
		var title string
		b.run("read the title", chromedp.Title(&title))
		if n := b.count("main img, main script, main b"); n != 0 || title == "pwned" {
			t.Errorf("%s: %d elements made from the log line, title %q", page.path, n, title)
		}
	}
	b.shot("hostile")
}
