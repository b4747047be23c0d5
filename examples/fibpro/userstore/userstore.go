// Package userstore is FibPro's stateful service: users, their
// passwords and their credit. It keeps them in memory and, with --data,
// in a JSON file rewritten atomically on every change.
//
// API (JSON):
//
//	GET  /users/{name}               → {"name","balance"}; 404 unknown user
//	POST /users/{name}/authenticate  {"password"} → {"name","balance"}; 401 wrong password
//	POST /users/{name}/debit         {"amount","n"} → {"name","balance"}; 402 insufficient credit
//	POST /users/{name}/topup         {"amount"} → {"name","balance"}
//	GET  /healthz
package userstore

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/fibinc/telltale/examples/fibpro/service"
	"github.com/fibinc/telltale/kit"
)

// Version is reported as service.version unless --version says otherwise.
const Version = "2.3.1"

// maxBody bounds a request body.
const maxBody = 64 << 10

// Config of a userstore. The zero value serves on service.UserstoreAddr,
// in memory only.
type Config struct {
	Addr string // listen address; "127.0.0.1:0" picks a free port
	// Data is a JSON file to load the users from and save them to; ""
	// keeps them in memory only.
	Data string
	// Telemetry is passed to kit.Init; Service defaults to "userstore".
	Telemetry kit.Config
	// Ready, when set, receives the bound address once serving.
	Ready chan<- string
}

// Main runs a userstore configured by command-line flags until ctx is
// done.
func Main(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("userstore", flag.ContinueOnError)
	var cfg Config
	fs.StringVar(&cfg.Addr, "addr", service.UserstoreAddr, "listen address")
	fs.StringVar(&cfg.Data, "data", "", "JSON file to load users from and save them to (default: in memory, seeded)")
	service.TelemetryFlags(fs, &cfg.Telemetry, Version)
	if err := service.ParseFlags(fs, args); err != nil {
		return err
	}
	if err := Run(ctx, cfg); err != nil {
		return fmt.Errorf("userstore: %w", err)
	}
	return nil
}

// Run serves the userstore until ctx is done.
func Run(ctx context.Context, cfg Config) error {
	if cfg.Addr == "" {
		cfg.Addr = service.UserstoreAddr
	}
	if cfg.Telemetry.Service == "" {
		cfg.Telemetry.Service = "userstore"
	}
	shutdown, err := kit.Init(ctx, cfg.Telemetry)
	if err != nil {
		return err
	}
	defer service.Flush(ctx, shutdown)
	s, err := openStore(cfg.Data)
	if err != nil {
		return err
	}
	return service.Serve(ctx, cfg.Addr, kit.Handler(newMux(s)), cfg.Ready)
}

func newMux(s *store) *http.ServeMux {
	h := &handlers{store: s, log: kit.Logger()}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", service.Healthz)
	mux.Handle("GET /users/{name}", kit.HandlerFunc(h.get))
	mux.Handle("POST /users/{name}/authenticate", kit.HandlerFunc(h.authenticate))
	mux.Handle("POST /users/{name}/debit", kit.HandlerFunc(h.debit))
	mux.Handle("POST /users/{name}/topup", kit.HandlerFunc(h.topUp))
	return mux
}

type handlers struct {
	store *store
	log   *slog.Logger
}

func (h *handlers) get(w http.ResponseWriter, r *http.Request) error {
	a, err := h.store.get(r.PathValue("name"))
	if err != nil {
		return err
	}
	return reply(w, a)
}

func (h *handlers) authenticate(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Password string `json:"password"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	a, err := h.store.authenticate(r.PathValue("name"), in.Password)
	if err != nil {
		return err
	}
	return reply(w, a)
}

func (h *handlers) debit(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Amount int64 `json:"amount"`
		N      int64 `json:"n"` // what the credit pays for, for the log
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	if in.Amount <= 0 {
		return kit.WithStatus(kit.Errorf("cannot debit %d: amount must be positive", in.Amount), http.StatusBadRequest)
	}
	name := r.PathValue("name")
	a, err := h.store.debit(name, in.Amount)
	if err != nil {
		return err
	}
	h.log.InfoContext(r.Context(), "debited", "user", name, "amount", in.Amount, "n", in.N, "balance", a.Balance)
	return reply(w, a)
}

func (h *handlers) topUp(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Amount int64 `json:"amount"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	if in.Amount <= 0 || in.Amount > maxBalance {
		return kit.WithStatus(kit.Errorf("cannot top up %d: amount must be from 1 to %d", in.Amount, int64(maxBalance)), http.StatusBadRequest)
	}
	name := r.PathValue("name")
	a, err := h.store.topUp(name, in.Amount)
	if err != nil {
		return err
	}
	h.log.InfoContext(r.Context(), "topped up", "user", name, "amount", in.Amount, "balance", a.Balance)
	return reply(w, a)
}

func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, maxBody))
	if err := dec.Decode(v); err != nil {
		return kit.WithStatus(kit.Errorf("cannot decode request body: %w", err), http.StatusBadRequest)
	}
	return nil
}

func reply(w http.ResponseWriter, v any) error {
	w.Header().Set("Content-Type", "application/json")
	return json.NewEncoder(w).Encode(v)
}
