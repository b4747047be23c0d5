package oidc

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"
)

// loginState is what Finish needs to know about the login Begin started.
// It travels in the browser's cookie, encrypted, so that logins need no
// server-side table (nothing to bound, nothing to clean up).
type loginState struct {
	State    string `json:"s"`
	Nonce    string `json:"n"`
	Verifier string `json:"v"`
	ReturnTo string `json:"r"`
	Expires  int64  `json:"e"` // Unix seconds
}

// maxCookie bounds what open reads; a sealed state is about 300 bytes
// plus the returnTo path.
const maxCookie = 4096

// sealer encrypts login states with AES-256-GCM under a key made at start:
// the cookie is confidential (the PKCE verifier stays secret even from
// whoever reads the browser's traffic logs) and cannot be forged or
// altered. A restart forgets the key, which only fails logins in flight.
type sealer struct {
	aead cipher.AEAD
}

func newSealer() sealer {
	key := make([]byte, 32)
	_, _ = rand.Read(key) // never fails (crypto/rand crashes the program instead)
	return newSealerWithKey(key)
}

// newSealerWithKey takes a 32-byte key.
func newSealerWithKey(key []byte) sealer {
	block, err := aes.NewCipher(key)
	if err != nil {
		panic("oidc: bad cookie key length") // only reachable through a programming error
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic("oidc: cannot make GCM: " + err.Error())
	}
	return sealer{aead: aead}
}

func (s sealer) seal(st loginState) (string, error) {
	plain, err := json.Marshal(st)
	if err != nil {
		return "", fmt.Errorf("cannot encode the login state: %w", err)
	}
	nonce := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(plain)+s.aead.Overhead())
	_, _ = rand.Read(nonce) // never fails (crypto/rand crashes the program instead)
	sealed := s.aead.Seal(nonce, nonce, plain, []byte(cookieName))
	value := base64.RawURLEncoding.EncodeToString(sealed)
	if len(value) > maxCookie {
		// Not reachable with Begin's values (SafeReturnTo caps the path).
		return "", fmt.Errorf("the login state is too long for a cookie (%d bytes)", len(value))
	}
	return value, nil
}

// open decrypts and checks a cookie value. Every failure is ErrNoLogin: to
// the user they all mean "start the login again".
func (s sealer) open(value string, now time.Time) (loginState, error) {
	var st loginState
	if len(value) > maxCookie {
		return st, fmt.Errorf("%w: the login cookie is too long", ErrNoLogin)
	}
	raw, err := base64.RawURLEncoding.DecodeString(value)
	if err != nil || len(raw) < s.aead.NonceSize()+s.aead.Overhead() {
		return st, fmt.Errorf("%w: the login cookie is malformed", ErrNoLogin)
	}
	ns := s.aead.NonceSize()
	plain, err := s.aead.Open(nil, raw[:ns], raw[ns:], []byte(cookieName))
	if err != nil {
		return st, fmt.Errorf("%w: the login cookie was not made by this server (restarted since?)", ErrNoLogin)
	}
	if err := json.Unmarshal(plain, &st); err != nil {
		return loginState{}, fmt.Errorf("%w: the login cookie does not decode: %v", ErrNoLogin, err)
	}
	if st.State == "" || st.Nonce == "" || st.Verifier == "" {
		return loginState{}, fmt.Errorf("%w: the login cookie is incomplete", ErrNoLogin)
	}
	if now.Unix() > st.Expires {
		return loginState{}, fmt.Errorf("%w: the login took longer than %v", ErrNoLogin, loginTTL)
	}
	st.ReturnTo = SafeReturnTo(st.ReturnTo)
	return st, nil
}

// SafeReturnTo returns s when it is a path on this server, else "/". It
// refuses what a browser would read as another host: "//host",
// "/\host", and control characters browsers strip ("/\t/host").
func SafeReturnTo(s string) string {
	if len(s) == 0 || len(s) > 2048 || s[0] != '/' {
		return "/"
	}
	if len(s) > 1 && (s[1] == '/' || s[1] == '\\') {
		return "/"
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f || c == '\\' {
			return "/"
		}
	}
	return s
}
