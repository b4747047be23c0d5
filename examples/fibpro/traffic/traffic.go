// Package traffic sends FibPro's frontend a realistic mix of requests:
// mostly paying users asking for small n, and also the slow path, the
// buggy path, "4.5", "favicon.ico", negative and huge n, wrong passwords,
// an unknown user, no credentials, and users running out of credit. It
// tops users up now and then (through userstore) so that a long demo
// keeps working.
//
// Its requests go through kit.Transport, so that each starts a trace
// (service "fibpro-traffic") and carries a request id of its own. Every
// 10 seconds it prints a one-line summary of what it sent and what came
// back.
package traffic

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fibinc/telltale/examples/fibpro/service"
	"github.com/fibinc/telltale/kit"
)

// Version is reported as service.version unless --version says otherwise.
const Version = "1.0.0"

// Defaults and limits.
const (
	DefaultRate        = 5
	DefaultConcurrency = 32
	maxRate            = 10000
	summaryEvery       = 10 * time.Second
	requestTimeout     = 10 * time.Second
	// topUpAmount is what a user out of credit gets, with chance
	// topUpChance: enough for a while, not for ever, so that
	// "insufficient credit" keeps coming back.
	topUpAmount = 200
	topUpChance = 0.25
)

// Config of a traffic run. The zero value sends 5 requests/s to the
// default frontend address until ctx is done, with no top-ups.
type Config struct {
	Target string // base URL of the frontend
	// Userstore is the base URL of userstore, where users out of credit
	// are topped up; "" tops up no one.
	Userstore   string
	Rate        float64       // requests per second; default DefaultRate
	Duration    time.Duration // how long to send; 0 until ctx is done
	Seed        uint64        // of the request mix; 0 picks one
	Concurrency int           // most requests in flight; default DefaultConcurrency
	// Telemetry is passed to kit.Init; Service defaults to
	// "fibpro-traffic".
	Telemetry kit.Config
	// Output receives the summaries; default os.Stderr.
	Output io.Writer
}

// Summary counts what a run sent and got.
type Summary struct {
	Sent     int
	ByStatus map[int]int // answers by HTTP status
	Failed   int         // requests that got no answer
	// Skipped counts the requests not sent because Concurrency requests
	// were in flight: the generator drops load rather than queue it, so
	// that a slow fleet does not get a burst when it recovers.
	Skipped int
	TopUps  int
}

func (s Summary) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "sent %d", s.Sent)
	codes := make([]int, 0, len(s.ByStatus))
	for c := range s.ByStatus {
		codes = append(codes, c)
	}
	slices.Sort(codes)
	for _, c := range codes {
		fmt.Fprintf(&b, " %d=%d", c, s.ByStatus[c])
	}
	fmt.Fprintf(&b, " failed=%d skipped=%d top-ups=%d", s.Failed, s.Skipped, s.TopUps)
	return b.String()
}

// Main sends traffic configured by command-line flags until ctx is done
// or --duration has passed.
func Main(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("traffic", flag.ContinueOnError)
	var cfg Config
	fs.StringVar(&cfg.Target, "target", "http://"+service.FrontendAddr, "frontend base URL")
	fs.StringVar(&cfg.Userstore, "userstore", "http://"+service.UserstoreAddr, "userstore base URL, to top up users out of credit; empty never tops up")
	fs.Float64Var(&cfg.Rate, "rate", DefaultRate, "requests per second")
	fs.DurationVar(&cfg.Duration, "duration", 0, "how long to send, e.g. 1m; 0 until stopped")
	fs.Uint64Var(&cfg.Seed, "seed", 0, "seed of the request mix; 0 picks one")
	fs.IntVar(&cfg.Concurrency, "concurrency", DefaultConcurrency, "most requests in flight")
	service.TelemetryFlags(fs, &cfg.Telemetry, Version)
	if err := service.ParseFlags(fs, args); err != nil {
		return err
	}
	switch {
	case cfg.Rate <= 0 || cfg.Rate > maxRate:
		return fmt.Errorf("traffic: bad --rate %v: want more than 0, at most %d", cfg.Rate, maxRate)
	case cfg.Duration < 0:
		return fmt.Errorf("traffic: bad --duration %s: want 0 or more", cfg.Duration)
	case cfg.Concurrency <= 0:
		return fmt.Errorf("traffic: bad --concurrency %d: want more than 0", cfg.Concurrency)
	}
	if _, err := Run(ctx, cfg); err != nil {
		return fmt.Errorf("traffic: %w", err)
	}
	return nil
}

// Run sends traffic until ctx is done or cfg.Duration has passed, waits
// for the answers in flight, and returns what it sent and got.
func Run(ctx context.Context, cfg Config) (Summary, error) {
	if cfg.Target == "" {
		cfg.Target = "http://" + service.FrontendAddr
	}
	if cfg.Rate <= 0 {
		cfg.Rate = DefaultRate
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	if cfg.Seed == 0 {
		cfg.Seed = mrand.Uint64()
	}
	if cfg.Output == nil {
		cfg.Output = os.Stderr
	}
	if cfg.Telemetry.Service == "" {
		cfg.Telemetry.Service = "fibpro-traffic"
	}
	target, err := service.CheckURL("target", cfg.Target)
	if err != nil {
		return Summary{}, err
	}
	var users *kit.Client
	if cfg.Userstore != "" {
		u, err := service.CheckURL("userstore", cfg.Userstore)
		if err != nil {
			return Summary{}, err
		}
		users = kit.NewClient(u)
	}
	shutdown, err := kit.Init(ctx, cfg.Telemetry)
	if err != nil {
		return Summary{}, err
	}
	defer service.Flush(ctx, shutdown)

	s := &sender{
		target: target,
		users:  users,
		http:   &http.Client{Transport: kit.Transport(nil), Timeout: requestTimeout},
		mix:    newMix(cfg.Seed),
		total:  Summary{ByStatus: map[int]int{}},
		window: Summary{ByStatus: map[int]int{}},
	}
	kit.Logger().Info("sending traffic", "target", target, "rate", cfg.Rate, "seed", cfg.Seed, "duration", cfg.Duration.String())
	s.loop(ctx, cfg)
	total := s.summary()
	fmt.Fprintf(cfg.Output, "traffic: done: %s\n", total)
	return total, nil
}

type sender struct {
	target string
	users  *kit.Client // nil: no top-ups
	http   *http.Client
	mix    *mix // used by loop alone

	mu            sync.Mutex
	total, window Summary
}

func (s *sender) loop(ctx context.Context, cfg Config) {
	var stop <-chan time.Time
	if cfg.Duration > 0 {
		t := time.NewTimer(cfg.Duration)
		defer t.Stop()
		stop = t.C
	}
	tick := time.NewTicker(max(time.Duration(float64(time.Second)/cfg.Rate), 100*time.Microsecond))
	defer tick.Stop()
	report := time.NewTicker(summaryEvery)
	defer report.Stop()

	// Requests in flight finish even when the run stops, so that their
	// answers are counted and the fleet sees no aborted calls.
	reqCtx := context.WithoutCancel(ctx)
	slots := make(chan struct{}, cfg.Concurrency)
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		select {
		case <-ctx.Done():
			return
		case <-stop:
			return
		case <-report.C:
			fmt.Fprintf(cfg.Output, "traffic: last %s: %s\n", summaryEvery, s.takeWindow())
		case <-tick.C:
			req := s.mix.next()
			select {
			case slots <- struct{}{}:
				s.count(func(sm *Summary) { sm.Sent++ })
				wg.Go(func() {
					defer func() { <-slots }()
					s.send(reqCtx, req)
				})
			default:
				s.count(func(sm *Summary) { sm.Skipped++ })
			}
		}
	}
}

// send makes one request, and tops the user up when it was refused for
// want of credit and the dice say so.
func (s *sender) send(ctx context.Context, req request) {
	ctx = kit.WithRequestID(ctx, newRequestID())
	hreq, err := http.NewRequestWithContext(ctx, http.MethodGet, s.target+"/"+url.PathEscape(req.n), nil)
	if err != nil {
		s.count(func(sm *Summary) { sm.Failed++ })
		return
	}
	if req.user != "" {
		hreq.SetBasicAuth(req.user, req.password)
	}
	hreq.Header.Set("User-Agent", "fibpro-traffic/"+Version)
	resp, err := s.http.Do(hreq)
	if err != nil {
		s.count(func(sm *Summary) { sm.Failed++ })
		return
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	s.count(func(sm *Summary) { sm.ByStatus[resp.StatusCode]++ })

	if resp.StatusCode == http.StatusPaymentRequired && req.topUp && s.users != nil {
		in := struct {
			Amount int64 `json:"amount"`
		}{topUpAmount}
		if err := s.users.Post(ctx, "/users/"+url.PathEscape(req.user)+"/topup", in, nil); err != nil {
			kit.Logger().WarnContext(ctx, "cannot top up", "user", req.user, "error", err)
			return
		}
		s.count(func(sm *Summary) { sm.TopUps++ })
	}
}

func (s *sender) count(fn func(*Summary)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fn(&s.total)
	fn(&s.window)
}

func (s *sender) takeWindow() Summary {
	s.mu.Lock()
	defer s.mu.Unlock()
	w := s.window
	s.window = Summary{ByStatus: map[int]int{}}
	return w
}

func (s *sender) summary() Summary {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.total
	t.ByStatus = make(map[int]int, len(s.total.ByStatus))
	for k, v := range s.total.ByStatus {
		t.ByStatus[k] = v
	}
	return t
}

// newRequestID makes a request id the way the kit does: 16 random bytes
// in hex.
func newRequestID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// request is one request of the mix.
type request struct {
	kind           string
	user, password string // user "" sends no credentials
	n              string
	topUp          bool // top the user up if refused for want of credit
}

// kinds are the requests of the mix and their weights, in percent.
var kinds = []struct {
	name   string
	weight int
}{
	{"small", 55},         // a paying user, small n
	{"slow", 6},           // n above pricing's slow threshold
	{"buggy", 5},          // n on pricing's buggy path: a 502 caused by pricing
	{"fraction", 4},       // "4.5": 400
	{"favicon", 4},        // "favicon.ico", as browsers ask: 400
	{"negative", 3},       // 400
	{"huge", 3},           // n over the frontend's cap, or over int: 400
	{"wrong-password", 5}, // 401 caused by userstore
	{"unknown-user", 3},   // 401 caused by userstore
	{"no-auth", 3},        // 401
	{"zero", 1},           // fib(0), the edge
	{"big", 8},            // a paying user, n up to 500: costs up to 51 credits
}

// unknownUser is not in the userstore.
const unknownUser = "mallory"

// mix draws requests from kinds, reproducibly for a seed.
type mix struct {
	rnd   *mrand.Rand
	total int
}

func newMix(seed uint64) *mix {
	m := &mix{rnd: mrand.New(mrand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
	for _, k := range kinds {
		m.total += k.weight
	}
	return m
}

func (m *mix) next() request {
	pick := m.rnd.IntN(m.total)
	kind := kinds[len(kinds)-1].name
	for _, k := range kinds {
		if pick < k.weight {
			kind = k.name
			break
		}
		pick -= k.weight
	}
	user := service.SeedUsers[m.rnd.IntN(len(service.SeedUsers))].Name
	req := request{kind: kind, user: user, password: service.Password(user), topUp: m.rnd.Float64() < topUpChance}
	switch kind {
	case "small":
		req.n = strconv.Itoa(notBuggy(1 + m.rnd.IntN(90)))
	case "big":
		req.n = strconv.Itoa(notBuggy(100 + m.rnd.IntN(400)))
	case "slow":
		req.n = strconv.Itoa(notBuggy(520 + m.rnd.IntN(1500)))
	case "zero":
		req.n = "0"
	case "buggy":
		req.n = strconv.Itoa(service.BuggyEvery * (1 + m.rnd.IntN(7)))
	case "fraction":
		req.n = []string{"4.5", "2.5", "10.0", "1e3"}[m.rnd.IntN(4)]
	case "favicon":
		req.n = "favicon.ico"
	case "negative":
		req.n = strconv.Itoa(-1 - m.rnd.IntN(50))
	case "huge":
		req.n = []string{"1000000", "250000", "99999999999999999999999"}[m.rnd.IntN(3)]
	case "wrong-password":
		req.password = user + "-oops"
		req.n = strconv.Itoa(notBuggy(1 + m.rnd.IntN(90)))
	case "unknown-user":
		req.user, req.password = unknownUser, service.Password(unknownUser)
		req.n = strconv.Itoa(notBuggy(1 + m.rnd.IntN(90)))
	case "no-auth":
		req.user, req.password = "", ""
		req.n = strconv.Itoa(notBuggy(1 + m.rnd.IntN(90)))
	}
	return req
}

// notBuggy moves n off pricing's buggy path, which only "buggy" aims at.
func notBuggy(n int) int {
	if n%service.BuggyEvery == 0 {
		return n + 1
	}
	return n
}
