package grouping

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/fibinc/telltale/internal/telemetry"
)

func boolp(b bool) *bool { return &b }

// goEvent is a sentry-go-shaped event: a wrapped error whose outer
// exception carries the stack; line numbers, ids and values vary with n.
func goEvent(n int) *telemetry.ErrorEvent {
	frames := []telemetry.Frame{
		{Function: "goexit", Module: "runtime", Filename: "asm_amd64.s", AbsPath: "/usr/local/go/src/runtime/asm_amd64.s", Lineno: 1700 + n, InApp: boolp(false)},
		{Function: "(*conn).serve", Module: "net/http", Filename: "server.go", AbsPath: "/usr/local/go/src/net/http/server.go", Lineno: 2092, InApp: boolp(false)},
		{Function: "(*Mux).ServeHTTP", Module: "github.com/go-chi/chi/v5", Filename: "mux.go", AbsPath: "/root/go/pkg/mod/github.com/go-chi/chi/v5@v5.0.12/mux.go", Lineno: 90 + n, InApp: boolp(true)},
		{Function: "(*Server).routes.func3", Module: "github.com/fibinc/shop/internal/api", Filename: "routes.go", AbsPath: "/home/ci/shop/internal/api/routes.go", Lineno: 57 + n, InApp: boolp(true)},
		{Function: "(*Server).getOrder", Module: "github.com/fibinc/shop/internal/api", Filename: "orders.go", AbsPath: "/home/ci/shop/internal/api/orders.go", Lineno: 31 + 2*n, InApp: boolp(true)},
		{Function: "(*Store).loadOrder", Module: "github.com/fibinc/shop/internal/store", Filename: "orders.go", AbsPath: "/home/ci/shop/internal/store/orders.go", Lineno: 88 + n, InApp: boolp(true)},
	}
	return &telemetry.ErrorEvent{
		EventID:  fmt.Sprintf("%032x", 0xabc0+n),
		Platform: "go",
		Level:    "error",
		Time:     time.Date(2026, 11, 21, 10, n%60, 0, 0, time.UTC),
		TraceID:  fmt.Sprintf("%032x", 0x5eed+n*7919),
		User:     telemetry.User{ID: fmt.Sprint("user-", n), Email: fmt.Sprintf("u%d@example.com", n)},
		Request:  telemetry.Request{URL: fmt.Sprintf("https://shop.example.com/orders/%d", 1000+n)},
		Exceptions: []telemetry.Exception{
			{Type: "*errors.errorString", Value: "sql: no rows in result set"},
			{Type: "*fmt.wrapError", Value: fmt.Sprintf("load order %d for user %d at %s: sql: no rows in result set", 1000+n, 7*n, time.Date(2026, 11, 21, 10, n%60, 0, 0, time.UTC)),
				Frames: frames},
		},
	}
}

func group(ev *telemetry.ErrorEvent) Result { return New(Options{}).Group(ev) }

func TestSameBugSameHash(t *testing.T) {
	base := group(goEvent(0))
	for n := 1; n < 20; n++ {
		r := group(goEvent(n))
		if r.Hashes[0] != base.Hashes[0] {
			t.Fatalf("event %d: primary hash %s, want %s", n, r.Hashes[0], base.Hashes[0])
		}
		if strings.Join(r.Hashes, ",") != strings.Join(base.Hashes, ",") {
			t.Fatalf("event %d: hashes %v, want %v", n, r.Hashes, base.Hashes)
		}
	}

	// A library upgrade (other chi frames) keeps the app hash.
	ev := goEvent(3)
	ev.Exceptions[1].Frames[2].Function = "(*Mux).routeHTTP"
	ev.Exceptions[1].Frames[2].AbsPath = "/root/go/pkg/mod/github.com/go-chi/chi/v5@v5.1.0/mux.go"
	if r := group(ev); r.Hashes[0] != base.Hashes[0] || r.Hashes[1] == base.Hashes[1] {
		t.Errorf("library change: hashes %v, want app %s kept and a new system hash", r.Hashes, base.Hashes[0])
	}

	// Deeper recursion of the same frame does not matter.
	ev = goEvent(4)
	fr := ev.Exceptions[1].Frames
	ev.Exceptions[1].Frames = append(fr[:5:5], fr[4], fr[4], fr[5])
	if r := group(ev); r.Hashes[0] != base.Hashes[0] {
		t.Errorf("recursion changed the primary hash")
	}

	// A closure renumbered by an unrelated edit.
	ev = goEvent(5)
	ev.Exceptions[1].Frames[3].Function = "(*Server).routes.func7"
	if r := group(ev); r.Hashes[0] != base.Hashes[0] {
		t.Errorf("closure number changed the primary hash")
	}
}

func TestDifferentBugsDifferentHash(t *testing.T) {
	base := group(goEvent(0)).Hashes
	cases := map[string]func(*telemetry.ErrorEvent){
		"other in-app function": func(ev *telemetry.ErrorEvent) { ev.Exceptions[1].Frames[5].Function = "(*Store).loadCart" },
		"other in-app module": func(ev *telemetry.ErrorEvent) {
			ev.Exceptions[1].Frames[5].Module = "github.com/fibinc/shop/internal/cache"
		},
		"other exception type": func(ev *telemetry.ErrorEvent) { ev.Exceptions[1].Type = "*errors.joinError" },
		"other cause type":     func(ev *telemetry.ErrorEvent) { ev.Exceptions[0].Type = "*pq.Error" },
		"extra in-app frame": func(ev *telemetry.ErrorEvent) {
			fr := ev.Exceptions[1].Frames
			ev.Exceptions[1].Frames = append(fr[:6:6], telemetry.Frame{Function: "scanRow", Module: "github.com/fibinc/shop/internal/store", InApp: boolp(true)})
		},
		"no cause": func(ev *telemetry.ErrorEvent) { ev.Exceptions = ev.Exceptions[1:] },
	}
	for name, mutate := range cases {
		ev := goEvent(0)
		mutate(ev)
		got := group(ev).Hashes
		for _, h := range got {
			for _, b := range base {
				if h == b {
					t.Errorf("%s: shares hash %s with the base event (%v vs %v)", name, h, got, base)
				}
			}
		}
	}
}

func TestValueIgnoredWhenStackContributes(t *testing.T) {
	a, b := goEvent(0), goEvent(0)
	b.Exceptions[1].Value = "a completely different message"
	b.Exceptions[0].Value = "and another"
	if ha, hb := group(a).Hashes, group(b).Hashes; strings.Join(ha, ",") != strings.Join(hb, ",") {
		t.Errorf("values changed the hashes although the stack contributes: %v vs %v", ha, hb)
	}
	// Without stack trace the value decides.
	a.Exceptions[1].Frames, b.Exceptions[1].Frames = nil, nil
	ra, rb := group(a), group(b)
	if ra.Hashes[0] == rb.Hashes[0] {
		t.Errorf("values did not change the hash without stack")
	}
	if len(ra.Info.Variants) != 1 || ra.Info.Variants[0].Name != "default" {
		t.Errorf("variants %+v, want one default", ra.Info.Variants)
	}
	// ...but only its words, not its numbers and times.
	c := goEvent(9)
	c.Exceptions[1].Frames = nil
	if rc := group(c); rc.Hashes[0] != ra.Hashes[0] {
		t.Errorf("value numbers changed the hash: %s vs %s", rc.Hashes[0], ra.Hashes[0])
	}
}

func TestSyntheticTypeIgnored(t *testing.T) {
	ev := func(typ string) *telemetry.ErrorEvent {
		return &telemetry.ErrorEvent{Platform: "go", Exceptions: []telemetry.Exception{{
			Type: typ, Value: "boom", Mechanism: &telemetry.Mechanism{Synthetic: true},
		}}}
	}
	if a, b := group(ev("A")), group(ev("B")); a.Hashes[0] != b.Hashes[0] {
		t.Errorf("synthetic type changed the hash")
	}
	if a, b := group(ev("A")), group(&telemetry.ErrorEvent{Exceptions: []telemetry.Exception{{Type: "A", Value: "boom"}}}); a.Hashes[0] == b.Hashes[0] {
		t.Errorf("synthetic and real types hash alike")
	}
}

func TestAppAndSystemVariants(t *testing.T) {
	// All frames in-app: one hash, the system variant marked as a duplicate.
	ev := &telemetry.ErrorEvent{Platform: "go", Exceptions: []telemetry.Exception{{Type: "E", Frames: []telemetry.Frame{
		{Module: "main", Function: "main"}, {Module: "main", Function: "run"},
	}}}}
	r := group(ev)
	if len(r.Hashes) != 1 {
		t.Fatalf("hashes %v, want one", r.Hashes)
	}
	if v := r.Info.Variants[1]; v.Name != "system" || v.Contributes || v.Hint != hintSameAsApp {
		t.Errorf("system variant %+v", v)
	}

	// No frame in-app: only the system hash.
	ev = &telemetry.ErrorEvent{Platform: "go", Exceptions: []telemetry.Exception{{Type: "E", Frames: []telemetry.Frame{
		{Module: "runtime", Function: "goexit"}, {Module: "net/http", Function: "(*conn).serve"},
	}}}}
	r = group(ev)
	if len(r.Hashes) != 1 || r.Info.Variants[0].Contributes || r.Info.Variants[0].Hint != hintNoInApp || r.Info.Variants[0].Hash != "" {
		t.Errorf("no in-app frames: hashes %v, app variant %+v", r.Hashes, r.Info.Variants[0])
	}
	if r.Hashes[0] != r.Info.Variants[1].Hash {
		t.Errorf("primary hash is not the system hash")
	}
}

func TestMessages(t *testing.T) {
	msg := func(s string) string {
		return group(&telemetry.ErrorEvent{Platform: "python", Message: s}).Hashes[0]
	}
	same := [][2]string{
		{"user 42 not found", "user 977 not found"},
		{"order a3f1c9e0-5b7d-4c2a-9e8f-1d2c3b4a5f60 failed", "order 123e4567-e89b-12d3-a456-426614174000 failed"},
		{"connect 10.0.0.1:5432 refused", "connect 192.168.1.20:6543 refused"},
		{"connect [2001:db8::1]:443 refused", "connect [fe80::1ff:fe23:4567:890a]:443 refused"},
		{"mail to ann@example.com bounced", "mail to bob.smith+x@corp.example.org bounced"},
		{"job started 2026-11-21T10:00:00Z stuck", "job started 2025-01-02T23:59:59.123+02:00 stuck"},
		{"deadline at 2026-11-21 10:00:00.123 +0000 UTC passed", "deadline at 2026-12-01 08:30:12.5 +0100 CET passed"},
		{"took 15ms", "took 1m30s"},
		{"hash 2fd4e1c67a2d28fced849ee1bb76e7391b93eb12 bad", "hash 0a4d55a8d778e5022fab701977c5d840bbc486d0 bad"},
		{"ptr 0xc000123456 freed", "ptr 0xc0004a8f10 freed"},
		{"ratio 0.75 too high", "ratio 12.5 too high"},
		{"first line 1\nsecond 2\nthird differs", "first line 3\nsecond 4\nthird other"},
		{"GET https://api.example.com/v1/users/42 failed", "GET https://api.example.com/v1/users/7?x=1 failed"},
		{"trace 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "trace 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"},
	}
	for _, c := range same {
		if a, b := msg(c[0]), msg(c[1]); a != b {
			t.Errorf("%q and %q: different hashes", c[0], c[1])
		}
	}
	different := [][2]string{
		{"user 42 not found", "user 42 deleted"},
		{"cannot connect to db", "cannot connect to cache"},
		{"user u42 failed", "user u43 failed"},
		{"first\nsecond", "first\nthird"},
	}
	for _, c := range different {
		if a, b := msg(c[0]), msg(c[1]); a == b {
			t.Errorf("%q and %q: same hash", c[0], c[1])
		}
	}

	// The template, when sent, is what counts.
	a := group(&telemetry.ErrorEvent{Message: "Payment 1 failed", MessageFormat: "Payment %s failed"})
	b := group(&telemetry.ErrorEvent{Message: "Payment two failed", MessageFormat: "Payment %s failed"})
	if a.Hashes[0] != b.Hashes[0] {
		t.Errorf("message template ignored")
	}
	if a.Title != "Payment 1 failed" || a.Type != TypeDefault {
		t.Errorf("title %q type %q", a.Title, a.Type)
	}
}

func TestMessageWithStack(t *testing.T) {
	ev := func(msg string) *telemetry.ErrorEvent {
		return &telemetry.ErrorEvent{Platform: "go", Message: msg, Stacktrace: []telemetry.Frame{
			{Module: "main", Function: "main", Lineno: 3}, {Module: "github.com/fibinc/x", Function: "Report", Lineno: 9},
		}}
	}
	a, b := group(ev("disk full")), group(ev("cpu hot"))
	if a.Hashes[0] != b.Hashes[0] {
		t.Errorf("message counted although a stack trace is present")
	}
	if a.Culprit != "github.com/fibinc/x in Report" {
		t.Errorf("culprit %q", a.Culprit)
	}
}

func TestFingerprint(t *testing.T) {
	withFP := func(n int, fp ...string) Result {
		ev := goEvent(n)
		ev.Fingerprint = fp
		ev.Transaction = "GET /orders/{id}"
		ev.Tags = []telemetry.Tag{{Key: "tenant", Value: "acme"}}
		ev.Level = "error"
		ev.Logger = "api"
		return group(ev)
	}
	def := group(goEvent(0))

	// Without {{ default }}: only the fingerprint counts.
	a := withFP(0, "db-down")
	b := withFP(1, "db-down")
	other := goEvent(2)
	other.Exceptions[1].Frames[5].Function = "elsewhere"
	other.Fingerprint = []string{"db-down"}
	c := group(other)
	if len(a.Hashes) != 1 || a.Hashes[0] != b.Hashes[0] || a.Hashes[0] != c.Hashes[0] {
		t.Errorf("custom fingerprint: %v %v %v", a.Hashes, b.Hashes, c.Hashes)
	}
	if a.Info.Variants[0].Name != "custom-fingerprint" || a.Hashes[0] == def.Hashes[0] {
		t.Errorf("variants %+v", a.Info.Variants[0])
	}
	for _, v := range a.Info.Variants[1:] {
		if v.Contributes || v.Hint != hintFingerprint {
			t.Errorf("default variant %s still contributes", v.Name)
		}
	}
	if withFP(0, "db-down").Hashes[0] == withFP(0, "cache-down").Hashes[0] {
		t.Errorf("fingerprint values ignored")
	}

	// {{ default }} alone is the default grouping (SDKs send it).
	for _, fp := range [][]string{{"{{ default }}"}, {"{{default}}"}, {" {{  DEFAULT }} "}} {
		if r := withFP(0, fp...); strings.Join(r.Hashes, ",") != strings.Join(def.Hashes, ",") {
			t.Errorf("fingerprint %q: %v, want the default %v", fp, r.Hashes, def.Hashes)
		}
	}

	// {{ default }} with more parts: each default hash, extended.
	d := withFP(0, "{{ default }}", "{{ tags.tenant }}")
	if len(d.Hashes) != len(def.Hashes) {
		t.Fatalf("hashes %v", d.Hashes)
	}
	for i := range d.Hashes {
		if d.Hashes[i] == def.Hashes[i] {
			t.Errorf("hash %d not extended", i)
		}
	}
	if e := withFP(5, "{{default}}", "{{ tags.tenant }}"); e.Hashes[0] != d.Hashes[0] {
		t.Errorf("same bug with {{ default }} fingerprint split")
	}
	if e := withFP(0, "{{ default }}", "other-tenant"); e.Hashes[0] == d.Hashes[0] {
		t.Errorf("extra fingerprint part ignored")
	}

	// Variables.
	ev := goEvent(0)
	ev.Transaction, ev.Level, ev.Logger, ev.Message = "GET /x", "fatal", "api", "msg"
	ev.Tags = []telemetry.Tag{{Key: "region", Value: "eu"}}
	ev.Exceptions[1].Frames[5].InApp = boolp(true)
	cases := map[string]string{
		"{{ transaction }}":    "GET /x",
		"{{ error.type }}":     "*fmt.wrapError",
		"{{ error.value }}":    ev.Exceptions[1].Value,
		"{{ level }}":          "fatal",
		"{{ logger }}":         "api",
		"{{ message }}":        "msg",
		"{{ tags.region }}":    "eu",
		"{{ tags.missing }}":   "<no-value-for-tag-missing>",
		"{{ stack.function }}": "(*Store).loadOrder",
		"{{ stack.module }}":   "github.com/fibinc/shop/internal/store",
		"pre-{{ level }}-post": "pre-fatal-post",
		"{{ unknown.var }}":    "{{ unknown.var }}",
		"{{ transaction":       "{{ transaction",
	}
	for in, want := range cases {
		if got := resolveVars(ev, in); got != want {
			t.Errorf("resolveVars(%q) = %q, want %q", in, got, want)
		}
	}
	empty := &telemetry.ErrorEvent{}
	for in, want := range map[string]string{"{{ transaction }}": "<no-transaction>", "{{ error.type }}": "<no-type>", "{{ stack.function }}": "<no-function>"} {
		if got := resolveVars(empty, in); got != want {
			t.Errorf("resolveVars(%q) on an empty event = %q, want %q", in, got, want)
		}
	}
}

func TestGoInApp(t *testing.T) {
	g := New(Options{AppModules: []string{"github.com/fibinc/"}})
	plain := New(Options{})
	cases := []struct {
		name   string
		g      *Grouper
		f      telemetry.Frame
		want   Decision
		wantIn bool // effective flag
	}{
		{"goroot /usr/local/go", plain, telemetry.Frame{Module: "net/http", AbsPath: "/usr/local/go/src/net/http/server.go", InApp: boolp(true)}, System, false},
		{"goroot distro", plain, telemetry.Frame{Module: "x", AbsPath: "/usr/lib/go-1.22/src/net/dial.go"}, System, false},
		{"goroot toolchain", plain, telemetry.Frame{Module: "runtime", AbsPath: "/root/go/pkg/mod/golang.org/toolchain@v0.0.1-go1.23.0.linux-amd64/src/runtime/proc.go"}, System, false},
		{"goroot /opt/go", plain, telemetry.Frame{Function: "(*Server).Serve", AbsPath: "/opt/go/src/net/http/server.go"}, System, false},
		{"goroot windows", plain, telemetry.Frame{AbsPath: `C:\Program Files\Go\src\runtime\proc.go`}, System, false},
		{"goroot trimpath", plain, telemetry.Frame{AbsPath: "$GOROOT/src/runtime/proc.go"}, System, false},
		{"gopath app", plain, telemetry.Frame{Module: "github.com/me/app", AbsPath: "/home/me/go/src/github.com/me/app/main.go", InApp: boolp(true)}, Unknown, true},
		{"module cache marked in-app by sentry-go", plain, telemetry.Frame{Module: "github.com/go-chi/chi/v5", AbsPath: "/root/go/pkg/mod/github.com/go-chi/chi/v5@v5.0.12/mux.go", InApp: boolp(true)}, System, false},
		{"trimpath module", plain, telemetry.Frame{Module: "github.com/lib/pq", Filename: "github.com/lib/pq@v1.10.9/conn.go", InApp: boolp(true)}, System, false},
		{"vendor", plain, telemetry.Frame{Module: "github.com/lib/pq", AbsPath: "/app/vendor/github.com/lib/pq/conn.go", InApp: boolp(true)}, System, false},
		{"third_party", plain, telemetry.Frame{Module: "x.org/y", AbsPath: "/app/third_party/y/y.go"}, System, false},
		{"std by module", plain, telemetry.Frame{Module: "database/sql", Filename: "sql.go", InApp: boolp(true)}, System, false},
		{"std by qualified function", plain, telemetry.Frame{Function: "encoding/json.(*decodeState).object", Filename: "decode.go"}, System, false},
		{"main", plain, telemetry.Frame{Module: "main", AbsPath: "/root/go/pkg/mod/x/main.go", InApp: boolp(false)}, System, false},
		{"main package", plain, telemetry.Frame{Module: "main", AbsPath: "/app/main.go", InApp: boolp(false)}, App, true},
		{"main by qualified function", plain, telemetry.Frame{Function: "main.main", Filename: "/app/main.go"}, App, true},
		{"dotless local module keeps flag", plain, telemetry.Frame{Module: "shop/internal/db", AbsPath: "/app/internal/db/db.go", InApp: boolp(false)}, Unknown, false},
		{"dotless local module default", plain, telemetry.Frame{Module: "shop/internal/db", AbsPath: "/app/internal/db/db.go"}, Unknown, true},
		{"app module", g, telemetry.Frame{Module: "github.com/fibinc/shop/api", AbsPath: "/src/api/x.go", InApp: boolp(false)}, App, true},
		{"app module from module cache", g, telemetry.Frame{Module: "github.com/fibinc/shared/log", AbsPath: "/go/pkg/mod/github.com/fibinc/shared@v1.2.0/log/log.go"}, App, true},
		{"app module by qualified function", g, telemetry.Frame{Function: "github.com/fibinc/shop/api.(*S).h.func1", Filename: "/src/api/x.go"}, App, true},
		{"other module with app modules set", g, telemetry.Frame{Module: "github.com/other/lib", AbsPath: "/src/lib/x.go", InApp: boolp(true)}, System, false},
		{"escaped dot in package", g, telemetry.Frame{Function: "gopkg.in/yaml%2ev3.(*decoder).unmarshal", Filename: "/go/src/x/decode.go"}, System, false},
		{"generic function with paths in brackets", g, telemetry.Frame{Function: "github.com/fibinc/shop/x.Map[github.com/other/y.T]", Filename: "x.go"}, App, true},
		{"unqualified method", plain, telemetry.Frame{Function: "(*T).M", Filename: "x.go"}, Unknown, true},
		{"frame platform wins", plain, telemetry.Frame{Platform: "python", AbsPath: "/usr/lib/python3.11/json/decoder.py"}, System, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := c.f
			if got := c.g.InApp("go", &f); got != c.want {
				t.Errorf("InApp = %v, want %v", got, c.want)
			}
			ev := &telemetry.ErrorEvent{Platform: "go", Exceptions: []telemetry.Exception{{Type: "E", Frames: []telemetry.Frame{c.f}}}}
			c.g.Group(ev)
			if got := ev.Exceptions[0].Frames[0].InApp; got == nil || *got != c.wantIn {
				t.Errorf("effective in_app = %v, want %v", got, c.wantIn)
			}
		})
	}
	// The SDK's flag is not modified in place (it may be shared).
	shared := true
	ev := &telemetry.ErrorEvent{Platform: "go", Exceptions: []telemetry.Exception{{Frames: []telemetry.Frame{
		{Module: "net/http", AbsPath: "/usr/local/go/src/net/http/server.go", InApp: &shared},
	}}}}
	plain.Group(ev)
	if !shared || *ev.Exceptions[0].Frames[0].InApp {
		t.Errorf("SDK flag overwritten in place or decision not applied")
	}
}

func TestOtherPlatformsInApp(t *testing.T) {
	g := New(Options{})
	cases := []struct {
		platform string
		f        telemetry.Frame
		want     Decision
		wantIn   bool
	}{
		{"python", telemetry.Frame{AbsPath: "/usr/local/lib/python3.12/site-packages/django/core/handlers/base.py", InApp: boolp(true)}, System, false},
		{"python", telemetry.Frame{AbsPath: "/usr/lib/python3/dist-packages/requests/api.py"}, System, false},
		{"python", telemetry.Frame{AbsPath: "/usr/lib/python3.11/threading.py"}, System, false},
		{"python", telemetry.Frame{Filename: "<frozen importlib._bootstrap>"}, System, false},
		{"python", telemetry.Frame{AbsPath: "/srv/app/views.py"}, Unknown, true},
		{"python", telemetry.Frame{AbsPath: "/srv/app/vendored.py", InApp: boolp(false)}, Unknown, false},
		{"java", telemetry.Frame{Module: "java.lang.Thread", InApp: boolp(true)}, System, false},
		{"java", telemetry.Frame{Module: "org.springframework.web.servlet.DispatcherServlet"}, System, false},
		{"kotlin", telemetry.Frame{Module: "kotlinx.coroutines.DispatchedTask"}, System, false},
		{"java", telemetry.Frame{Module: "com.fibinc.shop.OrderService"}, Unknown, true},
		{"java", telemetry.Frame{Module: "com.zaxxer.hikari.HikariDataSource", InApp: boolp(false)}, Unknown, false},
		{"node", telemetry.Frame{AbsPath: "/app/node_modules/express/lib/router/layer.js", InApp: boolp(true)}, System, false},
		{"node", telemetry.Frame{Filename: "node:internal/process/task_queues"}, System, false},
		{"node", telemetry.Frame{Filename: "internal/timers.js"}, System, false},
		{"javascript", telemetry.Frame{AbsPath: "<anonymous>"}, System, false},
		{"javascript", telemetry.Frame{AbsPath: "native"}, System, false},
		{"javascript", telemetry.Frame{AbsPath: "/app/src/users.js"}, Unknown, true},
		{"ruby", telemetry.Frame{AbsPath: "/app/x.rb"}, Unknown, false},
		{"ruby", telemetry.Frame{AbsPath: "/app/x.rb", InApp: boolp(true)}, Unknown, true},
		{"", telemetry.Frame{AbsPath: "/app/x"}, Unknown, false},
	}
	for _, c := range cases {
		f := c.f
		if got := g.InApp(c.platform, &f); got != c.want {
			t.Errorf("%s %+v: InApp = %v, want %v", c.platform, c.f, got, c.want)
		}
		ev := &telemetry.ErrorEvent{Platform: c.platform, Stacktrace: []telemetry.Frame{c.f}}
		g.Group(ev)
		if got := ev.Stacktrace[0].InApp; got == nil || *got != c.wantIn {
			t.Errorf("%s %+v: effective in_app = %v, want %v", c.platform, c.f, got, c.wantIn)
		}
	}
}

func TestFrameNormalisation(t *testing.T) {
	cases := []struct {
		fam, in, want string
		contributes   bool
	}{
		{"go", "(*Server).routes.func3", "(*Server).routes.func", true},
		{"go", "handler.func1.2", "handler.func.func", true},
		{"go", "glob..func1", "glob..func", true},
		{"go", "main.gowrap1", "main.gowrap", true},
		{"go", "(*T).run.deferwrap2", "(*T).run.deferwrap", true},
		{"go", "Map[...]", "Map", true},
		{"go", "Map[go.shape.int,go.shape.string].func1", "Map.func", true},
		{"go", "(*List[...]).Push", "(*List).Push", true},
		{"go", "functional", "functional", true},
		{"go", "funcs.func12", "funcs.func", true},
		{"java", "lambda$findOrder$3", "lambda$findOrder", true},
		{"java", "lambda$static$0", "lambda$static", true},
		{"java", "findOrder", "findOrder", true},
		{"javascript", "Object.getUser", "getUser", true},
		{"javascript", "Layer.handle [as handle_request]", "handle", true},
		{"javascript", "foo/<", "foo/<", false},
		{"javascript", "<anonymous>", "<anonymous>", false},
		{"python", "<lambda>", "<lambda>", false},
		{"ruby", "block in process", "block", true},
		{"ruby", "_app_views_x_erb__1234_5678", "_app_views_x_erb", true},
		{"php", "{closure}", "{closure}", false},
		{"native", "?", "?", false},
		{"native", "<redacted>", "<redacted>", false},
		{"other", "<unknown>", "<unknown>", false},
	}
	for _, c := range cases {
		got, contributes, _ := normalizeFunction(c.in, c.fam)
		if got != c.want || contributes != c.contributes {
			t.Errorf("normalizeFunction(%q, %s) = %q, %v; want %q, %v", c.in, c.fam, got, contributes, c.want, c.contributes)
		}
	}
	mods := map[string]string{
		"com.x.Foo$$Lambda$1412/0x0000000801a2b3c8":     "com.x.Foo$$Lambda",
		"com.x.Foo$$Lambda/0x000001f8c1005c00":          "com.x.Foo$$Lambda",
		"com.x.Ctl$$EnhancerBySpringCGLIB$$a1b2c3d4":    "com.x.Ctl$$EnhancerBySpringCGLIB$$<auto>",
		"sun.reflect.GeneratedMethodAccessor123":        "sun.reflect.GeneratedMethodAccessor",
		"jdk.internal.reflect.GeneratedMethodAccessor7": "jdk.internal.reflect.GeneratedMethodAccessor",
		"com.x.Res_$$_javassist_seam_74":                "com.x.Res_$$_javassist<auto>",
		"myapp.core$fn__12345":                          "myapp.core$fn__<auto>",
		"com.x.Plain":                                   "com.x.Plain",
	}
	for in, want := range mods {
		if got := normalizeJavaModule(in); got != want {
			t.Errorf("normalizeJavaModule(%q) = %q, want %q", in, got, want)
		}
	}
}

// Frames whose only difference is what grouping must ignore hash alike;
// frames that differ in what it keeps do not.
func TestFrameComponents(t *testing.T) {
	hash := func(platform string, f telemetry.Frame) string {
		ev := &telemetry.ErrorEvent{Platform: platform, Exceptions: []telemetry.Exception{{Type: "E", Frames: []telemetry.Frame{f}}}}
		r := group(ev)
		return r.Hashes[len(r.Hashes)-1]
	}
	same := []struct {
		platform string
		a, b     telemetry.Frame
	}{
		{"go", telemetry.Frame{Module: "main", Function: "f", Lineno: 1, Colno: 2, AbsPath: "/a/main.go"}, telemetry.Frame{Module: "main", Function: "f", Lineno: 99, AbsPath: "/b/c/main.go"}},
		{"go", telemetry.Frame{Module: "main", Function: "f", ContextLine: "x := 1"}, telemetry.Frame{Module: "main", Function: "f", ContextLine: "y := 2"}},
		{"python", telemetry.Frame{Filename: "/srv/App/Views.py", Function: "f"}, telemetry.Frame{Filename: "/opt/x/views.py", Function: "f"}},
		{"python", telemetry.Frame{Module: "m", Function: "f", ContextLine: "  a =  b\t+ 1"}, telemetry.Frame{Module: "m", Function: "f", ContextLine: "a = b + 1  "}},
		{"python", telemetry.Frame{Module: "m", Function: "f", ContextLine: strings.Repeat("x", 121)}, telemetry.Frame{Module: "m", Function: "f", ContextLine: strings.Repeat("y", 130)}},
		{"javascript", telemetry.Frame{Filename: "https://cdn.x.com/app.1.js", AbsPath: "https://cdn.x.com/app.1.js", Function: "f"}, telemetry.Frame{Filename: "https://cdn.x.com/app.2.js", AbsPath: "https://cdn.x.com/app.2.js", Function: "f"}},
		{"javascript", telemetry.Frame{Filename: "[native code]", Function: "forEach"}, telemetry.Frame{Filename: "<anonymous>", Function: "Array.forEach"}},
		{"go", telemetry.Frame{Module: "main", Filename: "a.go", Function: "f"}, telemetry.Frame{Module: "main", Filename: "b.go", Function: "f"}},
	}
	for i, c := range same {
		if a, b := hash(c.platform, c.a), hash(c.platform, c.b); a != b {
			t.Errorf("case %d (%s): frames hash differently", i, c.platform)
		}
	}
	different := []struct {
		platform string
		a, b     telemetry.Frame
	}{
		{"python", telemetry.Frame{Module: "m", Function: "f", ContextLine: "a = b"}, telemetry.Frame{Module: "m", Function: "f", ContextLine: "a = c"}},
		{"go", telemetry.Frame{Module: "main", Function: "f"}, telemetry.Frame{Module: "main", Function: "g"}},
		{"go", telemetry.Frame{Module: "a", Function: "f"}, telemetry.Frame{Module: "b", Function: "f"}},
		{"go", telemetry.Frame{Filename: "a.go", Function: "f"}, telemetry.Frame{Filename: "b.go", Function: "f"}},
	}
	for i, c := range different {
		if a, b := hash(c.platform, c.a), hash(c.platform, c.b); a == b {
			t.Errorf("case %d (%s): frames hash alike", i, c.platform)
		}
	}
}

// A Go stack parsed from panic text (qualified function names, no module)
// and the same stack from sentry-go hash alike.
func TestOTelGoStackMatchesSentryGo(t *testing.T) {
	otel := &telemetry.ErrorEvent{Platform: "go", Exceptions: []telemetry.Exception{{Type: "*errors.errorString", Frames: []telemetry.Frame{
		{Function: "net/http.(*conn).serve", Filename: "/usr/local/go/src/net/http/server.go", Lineno: 1},
		{Function: "github.com/fibinc/shop/api.(*Server).handle.func1", Filename: "/src/api/server.go", Lineno: 2},
	}}}}
	sdk := &telemetry.ErrorEvent{Platform: "go", Exceptions: []telemetry.Exception{{Type: "*errors.errorString", Frames: []telemetry.Frame{
		{Module: "net/http", Function: "(*conn).serve", AbsPath: "/usr/local/go/src/net/http/server.go", InApp: boolp(false)},
		{Module: "github.com/fibinc/shop/api", Function: "(*Server).handle.func2", AbsPath: "/home/x/shop/api/server.go", InApp: boolp(true)},
	}}}}
	a, b := group(otel), group(sdk)
	if strings.Join(a.Hashes, ",") != strings.Join(b.Hashes, ",") {
		t.Errorf("hashes %v vs %v", a.Hashes, b.Hashes)
	}
	if a.Culprit != "github.com/fibinc/shop/api in (*Server).handle.func1" {
		t.Errorf("culprit %q", a.Culprit)
	}
	if pkg, fn := splitGoFunction("gopkg.in/yaml%2ev3.(*decoder).unmarshal"); pkg != "gopkg.in/yaml.v3" || fn != "(*decoder).unmarshal" {
		t.Errorf("splitGoFunction: %q %q", pkg, fn)
	}
}

func TestTitleAndCulprit(t *testing.T) {
	long := strings.Repeat("é", 300)
	cases := []struct {
		name                string
		ev                  telemetry.ErrorEvent
		title, culprit, typ string
	}{
		{"type and value", telemetry.ErrorEvent{Exceptions: []telemetry.Exception{{Type: "ValueError", Value: "\n  bad input  \nmore"}}}, "ValueError: bad input", "", TypeError},
		{"type only", telemetry.ErrorEvent{Exceptions: []telemetry.Exception{{Type: "ValueError"}}}, "ValueError", "", TypeError},
		{"value only", telemetry.ErrorEvent{Exceptions: []telemetry.Exception{{Value: "boom"}}}, "boom", "", TypeError},
		{"main exception is the last", telemetry.ErrorEvent{Exceptions: []telemetry.Exception{{Type: "Cause"}, {Type: "Outer", Value: "x"}}}, "Outer: x", "", TypeError},
		{"message", telemetry.ErrorEvent{Message: "disk full\nsecond line"}, "disk full", "", TypeDefault},
		{"message template only", telemetry.ErrorEvent{MessageFormat: "disk %s full"}, "disk %s full", "", TypeDefault},
		{"nothing", telemetry.ErrorEvent{}, "<unlabeled event>", "", TypeDefault},
		{"long", telemetry.ErrorEvent{Message: long}, strings.Repeat("é", 199) + "…", "", TypeDefault},
		{"transaction", telemetry.ErrorEvent{Message: "m", Transaction: "GET /x", Request: telemetry.Request{URL: "https://x/y"}}, "m", "GET /x", TypeDefault},
		{"url", telemetry.ErrorEvent{Message: "m", Request: telemetry.Request{URL: "https://x/y"}}, "m", "https://x/y", TypeDefault},
		{"go frame", telemetry.ErrorEvent{Platform: "go", Transaction: "GET /x", Exceptions: []telemetry.Exception{{Type: "E", Frames: []telemetry.Frame{
			{Module: "main", Function: "main"}, {Module: "github.com/a/b", Function: "(*T).M"}, {Module: "runtime", Function: "gopanic"},
		}}}}, "E", "github.com/a/b in (*T).M", TypeError},
		{"python filename", telemetry.ErrorEvent{Platform: "python", Exceptions: []telemetry.Exception{{Type: "E", Frames: []telemetry.Frame{
			{Filename: "app/views.py", Function: "index"},
		}}}}, "E", "app/views.py in index", TypeError},
		{"java", telemetry.ErrorEvent{Platform: "java", Exceptions: []telemetry.Exception{{Type: "E", Frames: []telemetry.Frame{
			{Module: "com.x.Svc", Function: "run", Filename: "Svc.java"}, {Module: "java.util.HashMap", Function: "get"},
		}}}}, "E", "com.x.Svc in run", TypeError},
		{"javascript", telemetry.ErrorEvent{Platform: "javascript", Exceptions: []telemetry.Exception{{Type: "E", Frames: []telemetry.Frame{
			{Filename: "src/app.js", Function: "render"}, {Filename: "/app/node_modules/react/x.js", Function: "call"},
		}}}}, "E", "render(src/app.js)", TypeError},
		{"javascript no function", telemetry.ErrorEvent{Platform: "node", Exceptions: []telemetry.Exception{{Type: "E", Frames: []telemetry.Frame{
			{Filename: "src/app.js"},
		}}}}, "E", "?(src/app.js)", TypeError},
		{"native", telemetry.ErrorEvent{Platform: "native", Exceptions: []telemetry.Exception{{Type: "E", Frames: []telemetry.Frame{
			{Function: "crash", Filename: "a.c", InApp: boolp(true)},
		}}}}, "E", "crash", TypeError},
		{"no in-app frame", telemetry.ErrorEvent{Platform: "go", Transaction: "job", Exceptions: []telemetry.Exception{{Type: "E", Frames: []telemetry.Frame{
			{Module: "runtime", Function: "goexit"},
		}}}}, "E", "job", TypeError},
		{"long culprit", telemetry.ErrorEvent{Transaction: long}, "<unlabeled event>", strings.Repeat("é", 199) + "…", TypeDefault},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ev := c.ev
			r := group(&ev)
			if r.Title != c.title || r.Culprit != c.culprit || r.Type != c.typ {
				t.Errorf("got title %q culprit %q type %q; want %q %q %q", r.Title, r.Culprit, r.Type, c.title, c.culprit, c.typ)
			}
		})
	}
}

func TestInfoJSON(t *testing.T) {
	ev := goEvent(0)
	r := group(ev)
	b, err := json.Marshal(r.Info)
	if err != nil {
		t.Fatal(err)
	}
	var back Info
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.Version != Version || len(back.Variants) != len(r.Info.Variants) {
		t.Fatalf("round trip lost data: %s", b)
	}
	// The stored explanation hashes to the stored hashes: the tree is the
	// whole truth.
	for _, v := range back.Variants {
		want := hashComponent(&v.Component)
		if back.Service != "" {
			want = scoped(back.Service, want)
		}
		if v.Contributes && want != v.Hash {
			t.Errorf("variant %s: tree hashes to %s, recorded %s", v.Name, want, v.Hash)
		}
	}
}

func TestHashEncodingUnambiguous(t *testing.T) {
	a := Component{ID: "x", Contributes: true, Values: []string{"ab", "c"}}
	b := Component{ID: "x", Contributes: true, Values: []string{"a", "bc"}}
	c := Component{ID: "x", Contributes: true, Children: []Component{{ID: "frame", Contributes: true, Values: []string{"ab"}}, {ID: "frame", Contributes: true, Values: []string{"c"}}}}
	d := Component{ID: "x", Contributes: true, Children: []Component{{ID: "frame", Contributes: true, Values: []string{"ab", "c"}}}}
	seen := map[string]int{}
	for i, x := range []Component{a, b, c, d} {
		h := hashComponent(&x)
		if j, ok := seen[h]; ok {
			t.Errorf("components %d and %d hash alike", j, i)
		}
		seen[h] = i
	}
	// Non-contributing parts leave no trace.
	e := c
	e.Children = append([]Component{{ID: "frame", Values: []string{"ignored"}}}, c.Children...)
	if hashComponent(&e) != hashComponent(&c) {
		t.Errorf("non-contributing component changed the hash")
	}
}

func TestNormalizeText(t *testing.T) {
	cases := map[string]string{
		"one":                         "one",
		"one\r\ntwo\r\n":              "one\ntwo",
		"\n\n  \none\n\n two \nthree": "one\n two ...",
		"a 1\nb 2":                    "a <int>\nb <int>",
		"":                            "",
		strings.Repeat("a", 2000):     strings.Repeat("a", maxGroupingText) + "...",
	}
	for in, want := range cases {
		if got := normalizeText(in); got != want {
			t.Errorf("normalizeText(%.40q) = %.60q, want %.60q", in, got, want)
		}
	}
}

// benchEvent is a realistic sentry-go event: two exceptions of 20 frames
// each (std, module cache and application frames).
func benchEvent() *telemetry.ErrorEvent {
	stack := func(seed int) []telemetry.Frame {
		var fr []telemetry.Frame
		fr = append(fr,
			telemetry.Frame{Function: "goexit", Module: "runtime", Filename: "asm_amd64.s", AbsPath: "/usr/local/go/src/runtime/asm_amd64.s", Lineno: 1700, InApp: boolp(false)},
			telemetry.Frame{Function: "(*conn).serve", Module: "net/http", Filename: "server.go", AbsPath: "/usr/local/go/src/net/http/server.go", Lineno: 2092, InApp: boolp(false)},
			telemetry.Frame{Function: "serverHandler.ServeHTTP", Module: "net/http", Filename: "server.go", AbsPath: "/usr/local/go/src/net/http/server.go", Lineno: 3210, InApp: boolp(false)},
		)
		for i := 0; i < 7; i++ {
			fr = append(fr, telemetry.Frame{Function: fmt.Sprintf("(*Mux).handler%d", i), Module: "github.com/go-chi/chi/v5", Filename: "mux.go",
				AbsPath: "/root/go/pkg/mod/github.com/go-chi/chi/v5@v5.0.12/mux.go", Lineno: 90 + i, InApp: boolp(true)})
		}
		for i := 0; i < 10; i++ {
			fr = append(fr, telemetry.Frame{Function: fmt.Sprintf("(*Service).step%d.func%d", i, seed), Module: "github.com/fibinc/shop/internal/service",
				Filename: "service.go", AbsPath: "/home/ci/shop/internal/service/service.go", Lineno: 100 + 10*i, InApp: boolp(true)})
		}
		return fr
	}
	return &telemetry.ErrorEvent{
		Platform: "go", Level: "error", Transaction: "POST /checkout",
		Exceptions: []telemetry.Exception{
			{Type: "*net.OpError", Value: "dial tcp 10.0.3.7:5432: connect: connection refused", Frames: stack(1)},
			{Type: "*fmt.wrapError", Value: "checkout 8812 for user a3f1c9e0-5b7d-4c2a-9e8f-1d2c3b4a5f60: dial tcp 10.0.3.7:5432: connect: connection refused", Frames: stack(2)},
		},
	}
}

func BenchmarkGroup(b *testing.B) {
	g := New(Options{AppModules: []string{"github.com/fibinc/"}})
	ev := benchEvent()
	b.ReportAllocs()
	for b.Loop() {
		g.Group(ev)
	}
}

func BenchmarkGroupMessage(b *testing.B) {
	g := New(Options{})
	ev := &telemetry.ErrorEvent{Platform: "python", Message: "Charged card for jane.doe@example.com: 42.50 EUR from 192.168.10.5, request 4f9c2a1b8e7d6c5b4a3f2e1d0c9b8a7f"}
	b.ReportAllocs()
	for b.Loop() {
		g.Group(ev)
	}
}

func TestServiceScope(t *testing.T) {
	a, b := goEvent(0), goEvent(0)
	a.ServiceName, b.ServiceName = "pricing", "userstore"
	ra, rb := group(a), group(b)
	if ra.Hashes[0] == rb.Hashes[0] {
		t.Errorf("the same failure in two services has one hash %s", ra.Hashes[0])
	}
	c := goEvent(1)
	c.ServiceName = "pricing"
	if rc := group(c); rc.Hashes[0] != ra.Hashes[0] {
		t.Errorf("the same failure in one service has two hashes")
	}
	s := ra.Info.Summary()
	if s.Service != "pricing" || len(s.Variants) != len(ra.Info.Variants) || len(s.Variants[0].Component.Children) != 0 || s.Variants[0].Hash != ra.Info.Variants[0].Hash {
		t.Errorf("summary = %+v", s)
	}
}
