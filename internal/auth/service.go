package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/fibinc/telltale/internal/state"
)

// Options configure the access control. Store is required.
type Options struct {
	Store  state.AuthStore
	Logger *slog.Logger
	Now    func() time.Time // default time.Now

	// SessionTTL is a session's absolute lifetime; default 7 days.
	SessionTTL time.Duration
	// IdleTimeout ends a session unused that long; default 24 hours.
	IdleTimeout time.Duration
	// SecureCookie says whether the cookies set in answer to r carry the
	// Secure attribute. Default: when r came over TLS, says it did
	// (X-Forwarded-Proto: https), or is addressed to a loopback host,
	// which browsers treat as secure even over plain HTTP.
	SecureCookie func(r *http.Request) bool
	// ClientIP is the address a request came from, for rate limits and
	// the audit log. Default: the host of RemoteAddr.
	ClientIP func(r *http.Request) string

	// External logs users in through an identity provider (OIDC); nil
	// offers password login only.
	External ExternalLogin
	// ExternalDefaultRole is the role of a user the provider creates
	// without saying its role; default viewer.
	ExternalDefaultRole Role

	// ErrorPage renders an error as a dashboard page (a 403 for a page
	// the user's role may not see); default a plain text answer.
	ErrorPage func(w http.ResponseWriter, r *http.Request, status int, title, message string)

	// Argon2 are the parameters of new password hashes; zero means
	// DefaultArgon2.
	Argon2 Argon2Params
	// MaxLoginKeys caps the client addresses and login names whose
	// failed logins are tracked; default 10,000.
	MaxLoginKeys int
}

// Service is Telltale's access control: users, sessions, API tokens, the
// access policy and the audit log.
type Service struct {
	opt     Options
	store   state.AuthStore
	log     *slog.Logger
	now     func() time.Time
	hash    *hasher
	limiter *limiter
	policy  *policyMux

	// userMu serialises changes of users, so that two requests cannot
	// both remove "the other" last admin.
	userMu sync.Mutex

	mu         sync.Mutex
	setupToken string             // pending first-run setup; "" when none
	cache      map[string]*cached // by credential hash
}

// cached is an authenticated credential: a session or an API token.
type cached struct {
	p        Principal
	expires  time.Time // zero: never (tokens without expiry)
	lastSeen time.Time // sessions: for the idle timeout
	touched  time.Time // when last_seen_at / last_used_at was last stored
}

// Cookie names and limits.
const (
	SessionCookie = "telltale_session"
	// LoginCSRFCookie carries the login form's CSRF token before there
	// is a session (double submit).
	LoginCSRFCookie = "telltale_login_csrf"
	// TokenPrefix starts every API token.
	TokenPrefix = "tt_"

	maxCache = 10_000
	// touchEvery is how often a credential's last use is written: the
	// idle timeout and last_used_at are that coarse in the database.
	touchEvery = time.Minute
)

// New returns the access control service.
func New(opt Options) (*Service, error) {
	if opt.Store == nil {
		return nil, errors.New("cannot create access control: no store")
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.SessionTTL <= 0 {
		opt.SessionTTL = 7 * 24 * time.Hour
	}
	if opt.IdleTimeout <= 0 {
		opt.IdleTimeout = 24 * time.Hour
	}
	if opt.SecureCookie == nil {
		opt.SecureCookie = DefaultSecureCookie
	}
	if opt.ClientIP == nil {
		opt.ClientIP = remoteHost
	}
	if opt.ExternalDefaultRole == RoleNone {
		opt.ExternalDefaultRole = RoleViewer
	}
	if opt.ErrorPage == nil {
		opt.ErrorPage = func(w http.ResponseWriter, r *http.Request, status int, title, message string) {
			http.Error(w, title+": "+message, status)
		}
	}
	if opt.Argon2 == (Argon2Params{}) {
		opt.Argon2 = DefaultArgon2
	}
	if opt.MaxLoginKeys <= 0 {
		opt.MaxLoginKeys = 10_000
	}
	return &Service{
		opt:     opt,
		store:   opt.Store,
		log:     opt.Logger.With("component", "auth"),
		now:     opt.Now,
		hash:    newHasher(opt.Argon2, 4),
		limiter: newLimiter(5, 15*time.Minute, opt.MaxLoginKeys),
		policy:  newPolicyMux(policy),
		cache:   map[string]*cached{},
	}, nil
}

// DefaultSecureCookie is the default of Options.SecureCookie.
func DefaultSecureCookie(r *http.Request) bool {
	return r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https") || IsLoopbackHost(r.Host)
}

// IsLoopbackHost reports whether a host (with or without port) names this
// machine: localhost or a loopback address.
func IsLoopbackHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func remoteHost(r *http.Request) string {
	if h, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return h
	}
	return r.RemoteAddr
}

// Error is a failure with the HTTP status it calls for and a message
// meant for the user.
type Error struct {
	Status  int
	Message string
	// RetryAfter is set on 429s.
	RetryAfter time.Duration
}

func (e *Error) Error() string { return e.Message }

func errorf(status int, format string, args ...any) error {
	return &Error{Status: status, Message: fmt.Sprintf(format, args...)}
}

// Status returns the HTTP status err calls for: that of an *Error, 404
// for state.ErrNotFound, 409 for state.ErrExists, else 500.
func Status(err error) int {
	var e *Error
	switch {
	case errors.As(err, &e):
		return e.Status
	case errors.Is(err, state.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, state.ErrExists):
		return http.StatusConflict
	}
	return http.StatusInternalServerError
}

// ErrBadLogin is the answer to every failed login, whatever failed.
var ErrBadLogin = &Error{Status: http.StatusUnauthorized, Message: "wrong login name or password"}

// User is a user as the API shows it.
type User struct {
	ID          int64     `json:"id"`
	Name        string    `json:"name"`
	Role        Role      `json:"role"`
	Disabled    bool      `json:"disabled"`
	Email       string    `json:"email,omitempty"`
	Issuer      string    `json:"issuer,omitempty"` // the identity provider of an external user
	HasPassword bool      `json:"has_password"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
	LastLoginAt time.Time `json:"last_login_at,omitzero"`
}

func userOf(u state.User) User {
	role, _ := ParseRole(u.Role)
	return User{ID: u.ID, Name: u.Name, Role: role, Disabled: u.Disabled, Email: u.Email, Issuer: u.Issuer, HasPassword: u.PasswordHash != "",
		CreatedAt: u.CreatedAt, UpdatedAt: u.UpdatedAt, LastLoginAt: u.LastLoginAt}
}

// nameRE is what a login name may be.
var nameRE = regexp.MustCompile(`^[a-zA-Z0-9._@-]{1,64}$`)

// CheckName checks a login name: 1 to 64 of a-z, A-Z, 0-9 and . _ @ -.
func CheckName(name string) error {
	if !nameRE.MatchString(name) {
		return errorf(http.StatusBadRequest, "invalid login name %q: want 1 to 64 of a-z, A-Z, 0-9 and . _ @ -", clip(name, 80))
	}
	return nil
}

// CheckPassword checks a new password's length: 10 to 256 bytes.
func CheckPassword(pw string) error {
	if len(pw) < MinPassword || len(pw) > MaxPassword {
		return errorf(http.StatusBadRequest, "invalid password: want %d to %d bytes, got %d", MinPassword, MaxPassword, len(pw))
	}
	return nil
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// randomToken returns n random bytes, base64url without padding.
func randomToken(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails
	return base64.RawURLEncoding.EncodeToString(b)
}

// digest is how credentials are stored and looked up: hex SHA-256. They
// are random and long, so a fast hash is enough.
func digest(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// Bootstrap makes sure there is a way in on the first start. When users
// exist it does nothing. Otherwise, with a password it creates the admin
// adminUser; without one it returns a one-time token for /setup?token=,
// which creates the first admin.
func (s *Service) Bootstrap(ctx context.Context, adminUser, adminPassword string) (setupToken string, err error) {
	users, _, err := s.store.CountUsers(ctx)
	if err != nil {
		return "", err
	}
	if users > 0 {
		return "", nil
	}
	if adminPassword == "" {
		tok := randomToken(24)
		s.mu.Lock()
		s.setupToken = tok
		s.mu.Unlock()
		return tok, nil
	}
	if adminUser == "" {
		adminUser = "admin"
	}
	u, err := s.createUser(ctx, adminUser, adminPassword, RoleAdmin)
	if err != nil {
		return "", fmt.Errorf("cannot create the first admin: %w", err)
	}
	s.audit(ctx, state.AuditEntry{Actor: "bootstrap", Action: "user.create", Target: target("user", u.ID), Detail: "admin " + u.Name + " from TELLTALE_ADMIN_PASSWORD", Outcome: state.AuditOK})
	s.log.Info("created the first admin", "user", u.Name)
	return "", nil
}

// SetupOpen reports whether token is the pending setup token.
func (s *Service) SetupOpen(token string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.setupToken != "" && subtle.ConstantTimeCompare([]byte(token), []byte(s.setupToken)) == 1
}

// Setup creates the first admin with the setup token and logs it in. The
// token works once; afterwards, and when users exist, Setup answers 404.
func (s *Service) Setup(w http.ResponseWriter, r *http.Request, token, name, password string) (User, error) {
	ctx := r.Context()
	s.userMu.Lock()
	defer s.userMu.Unlock()
	if !s.SetupOpen(token) {
		return User{}, errorf(http.StatusNotFound, "there is no setup to do: the setup link was used or is wrong")
	}
	if err := CheckName(name); err != nil {
		return User{}, err
	}
	if err := CheckPassword(password); err != nil {
		return User{}, err
	}
	users, _, err := s.store.CountUsers(ctx)
	if err != nil {
		return User{}, err
	}
	s.mu.Lock()
	if users > 0 {
		s.setupToken = ""
	}
	open := s.setupToken != ""
	s.mu.Unlock()
	if !open {
		return User{}, errorf(http.StatusNotFound, "there is no setup to do: users exist")
	}
	u, err := s.createUser(ctx, name, password, RoleAdmin)
	if err != nil {
		return User{}, err
	}
	s.mu.Lock()
	s.setupToken = ""
	s.mu.Unlock()
	s.auditReq(r, state.AuditEntry{Actor: "setup", Action: "user.create", Target: target("user", u.ID), Detail: "first admin " + u.Name + " through /setup", Outcome: state.AuditOK})
	if _, err := s.startSession(w, r, u); err != nil {
		return User{}, err
	}
	return userOf(u), nil
}

// createUser validates and stores a user with a password.
func (s *Service) createUser(ctx context.Context, name, password string, role Role) (state.User, error) {
	if err := CheckName(name); err != nil {
		return state.User{}, err
	}
	if err := CheckPassword(password); err != nil {
		return state.User{}, err
	}
	if role < RoleViewer || role > RoleAdmin {
		return state.User{}, errorf(http.StatusBadRequest, "invalid role %s", role)
	}
	h, err := s.hash.Hash(ctx, password)
	if err != nil {
		return state.User{}, err
	}
	now := s.now()
	u, err := s.store.CreateUser(ctx, state.User{Name: name, Role: role.String(), PasswordHash: h, CreatedAt: now, UpdatedAt: now})
	if errors.Is(err, state.ErrExists) {
		return state.User{}, errorf(http.StatusConflict, "a user named %q exists", name)
	}
	return u, err
}

func target(kind string, id int64) string { return fmt.Sprintf("%s:%d", kind, id) }

// audit appends an entry, stamped now; a failure is logged: the change it
// records has happened.
func (s *Service) audit(ctx context.Context, e state.AuditEntry) {
	if e.At.IsZero() {
		e.At = s.now()
	}
	e.Detail = clip(e.Detail, 1000)
	if err := s.store.AddAudit(context.WithoutCancel(ctx), e); err != nil {
		s.log.Error("cannot write the audit log", "action", e.Action, "actor", e.Actor, "err", err)
	}
}

// auditReq appends an entry about a request: its principal is the actor
// (unless e names one) and its client the IP.
func (s *Service) auditReq(r *http.Request, e state.AuditEntry) {
	if p, ok := FromContext(r.Context()); ok && e.Actor == "" {
		e.Actor, e.ActorID = p.Name, p.UserID
		if p.TokenID != 0 {
			e.Detail = strings.TrimSpace(e.Detail + fmt.Sprintf(" (API token %d)", p.TokenID))
		}
	}
	if e.Actor == "" {
		e.Actor = "anonymous"
	}
	e.IP = s.opt.ClientIP(r)
	s.audit(r.Context(), e)
}

// Run deletes stale sessions and audit entries older than
// state.AuditRetention, hourly, until ctx is done.
func (s *Service) Run(ctx context.Context) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		s.Prune(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Prune deletes stale sessions and old audit entries once.
func (s *Service) Prune(ctx context.Context) {
	now := s.now()
	if n, err := s.store.DeleteStaleSessions(ctx, now, now.Add(-s.opt.IdleTimeout)); err != nil {
		s.log.Warn("cannot delete stale sessions", "err", err)
	} else if n > 0 {
		s.log.Debug("deleted stale sessions", "sessions", n)
	}
	if n, err := s.store.PruneAudit(ctx, now.Add(-state.AuditRetention)); err != nil {
		s.log.Warn("cannot prune the audit log", "err", err)
	} else if n > 0 {
		s.log.Info("pruned the audit log", "entries", n)
	}
}

// forget drops cached credentials: one by hash, or all of a user (0: of
// every user).
func (s *Service) forget(hash string, userID int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if hash != "" {
		delete(s.cache, hash)
		return
	}
	for k, c := range s.cache {
		if userID == 0 || c.p.UserID == userID {
			delete(s.cache, k)
		}
	}
}

func (s *Service) forgetToken(id int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, c := range s.cache {
		if c.p.TokenID == id {
			delete(s.cache, k)
		}
	}
}
