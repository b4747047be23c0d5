package userstore

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"sync"

	"github.com/fibinc/telltale/examples/fibpro/service"
	"github.com/fibinc/telltale/kit"
)

// maxBalance bounds a balance, so that top-ups cannot overflow.
const maxBalance = 1 << 40

// user is a FibPro customer as stored.
//
// The password is kept as SHA-256 over a per-user salt and the password.
// That is good enough for a demo with made-up passwords and no new
// dependency; a real store would use a slow hash (bcrypt, scrypt, argon2).
type user struct {
	Name    string `json:"name"`
	Balance int64  `json:"balance"`
	Salt    string `json:"salt"` // hex
	Hash    string `json:"hash"` // hex SHA-256(salt || password)
}

// account is what the API answers about a user.
type account struct {
	Name    string `json:"name"`
	Balance int64  `json:"balance"`
}

func (u user) account() account { return account{Name: u.Name, Balance: u.Balance} }

// file is the layout of the --data file.
type file struct {
	Users []user `json:"users"`
}

// store holds the users, and, when path is set, keeps the file at path
// up to date with every change.
type store struct {
	path string

	mu    sync.Mutex
	users map[string]user
}

// openStore loads the users from path, or starts with the seed users
// (and writes them to path) when path is empty or does not exist yet.
func openStore(path string) (*store, error) {
	s := &store{path: path, users: map[string]user{}}
	if path != "" {
		data, err := os.ReadFile(path)
		switch {
		case err == nil:
			users, err := decodeFile(data)
			if err != nil {
				return nil, fmt.Errorf("cannot load users from %s: %w", path, err)
			}
			s.users = users
			return s, nil
		case !errors.Is(err, os.ErrNotExist):
			return nil, fmt.Errorf("cannot load users: %w", err)
		}
	}
	for _, su := range service.SeedUsers {
		u, err := newUser(su.Name, service.Password(su.Name), su.Balance)
		if err != nil {
			return nil, err
		}
		s.users[u.Name] = u
	}
	if err := s.save(s.users); err != nil {
		return nil, err
	}
	return s, nil
}

// decodeFile reads and checks a data file.
func decodeFile(data []byte) (map[string]user, error) {
	var f file
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("cannot decode: %w", err)
	}
	users := make(map[string]user, len(f.Users))
	for i, u := range f.Users {
		switch {
		case u.Name == "":
			return nil, fmt.Errorf("user %d has no name", i)
		case u.Balance < 0 || u.Balance > maxBalance:
			return nil, fmt.Errorf("user %q has balance %d, want 0 to %d", u.Name, u.Balance, int64(maxBalance))
		case !isHex(u.Salt, 0) || !isHex(u.Hash, sha256.Size):
			return nil, fmt.Errorf("user %q has a bad salt or password hash", u.Name)
		}
		if _, dup := users[u.Name]; dup {
			return nil, fmt.Errorf("user %q is listed twice", u.Name)
		}
		users[u.Name] = u
	}
	return users, nil
}

// isHex tells whether s is hex for size bytes, or any non-empty number of
// bytes when size is 0.
func isHex(s string, size int) bool {
	b, err := hex.DecodeString(s)
	return err == nil && len(b) > 0 && (size == 0 || len(b) == size)
}

func newUser(name, password string, balance int64) (user, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return user{}, fmt.Errorf("cannot make a salt: %w", err)
	}
	return user{Name: name, Balance: balance, Salt: hex.EncodeToString(salt), Hash: hashPassword(salt, password)}, nil
}

func hashPassword(salt []byte, password string) string {
	h := sha256.New()
	h.Write(salt)
	h.Write([]byte(password))
	return hex.EncodeToString(h.Sum(nil))
}

func unknownUser(name string) error {
	return kit.WithStatus(kit.Errorf("%w %q", service.ErrUnknownUser, name), http.StatusNotFound)
}

func (s *store) get(name string) (account, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[name]
	if !ok {
		return account{}, unknownUser(name)
	}
	return u.account(), nil
}

func (s *store) authenticate(name, password string) (account, error) {
	s.mu.Lock()
	u, ok := s.users[name]
	s.mu.Unlock()
	if !ok {
		return account{}, unknownUser(name)
	}
	salt, _ := hex.DecodeString(u.Salt) // checked when stored
	if subtle.ConstantTimeCompare([]byte(hashPassword(salt, password)), []byte(u.Hash)) != 1 {
		return account{}, kit.WithStatus(kit.Errorf("%w for %q", service.ErrWrongPassword, name), http.StatusUnauthorized)
	}
	return u.account(), nil
}

// debit takes amount off name's balance, or fails with
// ErrInsufficientCredit (402) and leaves it.
func (s *store) debit(name string, amount int64) (account, error) {
	return s.change(name, func(u *user) error {
		if u.Balance < amount {
			return kit.WithStatus(kit.Errorf("%w: balance %d, cost %d", service.ErrInsufficientCredit, u.Balance, amount), http.StatusPaymentRequired)
		}
		u.Balance -= amount
		return nil
	})
}

func (s *store) topUp(name string, amount int64) (account, error) {
	return s.change(name, func(u *user) error {
		if u.Balance+amount > maxBalance {
			return kit.WithStatus(kit.Errorf("balance of %q would exceed %d", name, int64(maxBalance)), http.StatusUnprocessableEntity)
		}
		u.Balance += amount
		return nil
	})
}

// change applies fn to a copy of name's user, saves, and only then keeps
// the change: memory and file never disagree.
func (s *store) change(name string, fn func(*user) error) (account, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[name]
	if !ok {
		return account{}, unknownUser(name)
	}
	if err := fn(&u); err != nil {
		return account{}, err
	}
	if s.path != "" {
		next := make(map[string]user, len(s.users))
		for k, v := range s.users {
			next[k] = v
		}
		next[name] = u
		if err := s.save(next); err != nil {
			return account{}, err
		}
	}
	s.users[name] = u
	return u.account(), nil
}

// save writes users to the data file atomically: a temporary file in
// the same directory, synced, then renamed over the old one, so that a
// crash leaves the old file or the new one, never half of one. The
// caller holds mu, or owns s alone.
func (s *store) save(users map[string]user) error {
	if s.path == "" {
		return nil
	}
	f := file{Users: make([]user, 0, len(users))}
	for _, u := range users {
		f.Users = append(f.Users, u)
	}
	sort.Slice(f.Users, func(i, j int) bool { return f.Users[i].Name < f.Users[j].Name })
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return kit.WithStack(fmt.Errorf("cannot encode users: %w", err))
	}
	tmp, err := os.CreateTemp(filepath.Dir(s.path), "."+filepath.Base(s.path)+".tmp*")
	if err != nil {
		return kit.WithStack(fmt.Errorf("cannot save users: %w", err))
	}
	defer os.Remove(tmp.Name()) // fails harmlessly once renamed
	_, err = tmp.Write(append(data, '\n'))
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), s.path)
	}
	if err != nil {
		return kit.WithStack(fmt.Errorf("cannot save users to %s: %w", s.path, err))
	}
	return nil
}
