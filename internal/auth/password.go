package auth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Argon2Params are the cost parameters of an argon2id hash.
type Argon2Params struct {
	Memory  uint32 // KiB
	Time    uint32 // passes
	Threads uint8
}

// DefaultArgon2 are the parameters new hashes use: OWASP's first choice
// for argon2id (19 MiB, 2 passes, 1 thread), about 30 ms of one core.
var DefaultArgon2 = Argon2Params{Memory: 19456, Time: 2, Threads: 1}

const (
	saltLen = 16
	keyLen  = 32
	// Limits of the hashes ParseHash accepts, so that a stored hash cannot
	// make a login cost gigabytes or minutes.
	maxMemory  = 1 << 20 // KiB: 1 GiB
	maxTime    = 64
	maxThreads = 64
	// Password length limits, in bytes.
	MinPassword = 10
	MaxPassword = 256
)

// b64 is PHC's base64: standard alphabet, no padding.
var b64 = base64.RawStdEncoding

// PHC formats a hash as a PHC string:
// $argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>.
func PHC(p Argon2Params, salt, key []byte) string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key))
}

// ParseHash parses a PHC string of argon2id version 19.
func ParseHash(s string) (p Argon2Params, salt, key []byte, err error) {
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" {
		return p, nil, nil, errors.New("invalid password hash: want $argon2id$v=19$m=...,t=...,p=...$salt$hash")
	}
	if parts[1] != "argon2id" {
		return p, nil, nil, fmt.Errorf("invalid password hash: algorithm %q, want argon2id", parts[1])
	}
	if parts[2] != "v=19" {
		return p, nil, nil, fmt.Errorf("invalid password hash: version %q, want v=19", parts[2])
	}
	// The parameters in PHC's order, m, t, p: one hash has one spelling.
	kvs := strings.Split(parts[3], ",")
	if len(kvs) != 3 {
		return p, nil, nil, errors.New("invalid password hash: want parameters m, t and p")
	}
	var vals [3]uint64
	for i, want := range []string{"m", "t", "p"} {
		k, v, ok := strings.Cut(kvs[i], "=")
		// No leading zeros either.
		if !ok || k != want || v == "" || len(v) > 1 && v[0] == '0' {
			return p, nil, nil, fmt.Errorf("invalid password hash: parameter %q, want %s=<number>", kvs[i], want)
		}
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return p, nil, nil, fmt.Errorf("invalid password hash: parameter %q", kvs[i])
		}
		vals[i] = n
	}
	if vals[2] > maxThreads {
		return p, nil, nil, fmt.Errorf("invalid password hash: %d threads", vals[2])
	}
	p = Argon2Params{Memory: uint32(vals[0]), Time: uint32(vals[1]), Threads: uint8(vals[2])}
	if p.Threads < 1 || p.Time < 1 || p.Time > maxTime || p.Memory < 8*uint32(p.Threads) || p.Memory > maxMemory {
		return p, nil, nil, fmt.Errorf("invalid password hash: parameters m=%d,t=%d,p=%d out of range", p.Memory, p.Time, p.Threads)
	}
	if salt, err = b64.Strict().DecodeString(parts[4]); err != nil || len(salt) < 8 || len(salt) > 64 {
		return p, nil, nil, errors.New("invalid password hash: salt")
	}
	if key, err = b64.Strict().DecodeString(parts[5]); err != nil || len(key) < 16 || len(key) > 64 {
		return p, nil, nil, errors.New("invalid password hash: hash")
	}
	return p, salt, key, nil
}

// hasher computes argon2id hashes, a few at a time: each takes Memory KiB.
type hasher struct {
	params Argon2Params
	sem    chan struct{}
	dummy  string // verified against when a user does not exist
}

func newHasher(p Argon2Params, concurrency int) *hasher {
	// The dummy costs what a real hash costs; its key matches no password
	// but for a 2^-256 chance.
	dummy := PHC(p, make([]byte, saltLen), make([]byte, keyLen))
	return &hasher{params: p, sem: make(chan struct{}, concurrency), dummy: dummy}
}

func (h *hasher) acquire(ctx context.Context) error {
	select {
	case h.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("cannot hash the password: %w", ctx.Err())
	}
}

// Hash returns the PHC string of a new hash of password.
func (h *hasher) Hash(ctx context.Context, password string) (string, error) {
	salt := make([]byte, saltLen)
	rand.Read(salt)
	if err := h.acquire(ctx); err != nil {
		return "", err
	}
	defer func() { <-h.sem }()
	key := argon2.IDKey([]byte(password), salt, h.params.Time, h.params.Memory, h.params.Threads, keyLen)
	return PHC(h.params, salt, key), nil
}

// Verify reports whether password matches the PHC string; an empty or
// unparsable hash is checked against the dummy, so that it costs the same
// and matches nothing.
func (h *hasher) Verify(ctx context.Context, password, phc string) (bool, error) {
	p, salt, key, err := ParseHash(phc)
	valid := err == nil
	if !valid {
		p, salt, key, _ = ParseHash(h.dummy)
	}
	if err := h.acquire(ctx); err != nil {
		return false, err
	}
	defer func() { <-h.sem }()
	got := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, uint32(len(key)))
	return subtle.ConstantTimeCompare(got, key) == 1 && valid, nil
}

// NeedsRehash reports whether a hash was made with other parameters than
// the current ones.
func (h *hasher) NeedsRehash(phc string) bool {
	p, _, _, err := ParseHash(phc)
	return err != nil || p != h.params
}
