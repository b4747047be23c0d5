package fibfrontend

import (
	"errors"
	"math/big"
	"net/http"
	"strconv"
	"testing"

	"github.com/fibinc/telltale/kit"
)

// Fast doubling agrees with the definition.
func TestFib(t *testing.T) {
	a, b := big.NewInt(0), big.NewInt(1)
	for n := range 1000 {
		if got := Fib(n); got.Cmp(a) != 0 {
			t.Fatalf("Fib(%d) = %s, want %s", n, got, a)
		}
		a, b = b, a.Add(a, b)
	}
	if got := Fib(100).String(); got != "354224848179261915075" {
		t.Errorf("Fib(100) = %s", got)
	}
}

func TestParseN(t *testing.T) {
	tests := []struct {
		in      string
		n       int
		errType string // "" when valid
	}{
		{"0", 0, ""},
		{"10", 10, ""},
		{"100000", 100000, ""},
		{"+7", 7, ""},
		{"4.5", 0, "*strconv.NumError"},
		{"favicon.ico", 0, "*strconv.NumError"},
		{"", 0, "*strconv.NumError"},
		{"-3", 0, "*errors.errorString"},
		{"100001", 0, "*errors.errorString"},
		{"99999999999999999999999", 0, "*strconv.NumError"},
		{"-99999999999999999999999", 0, "*strconv.NumError"},
	}
	for _, tt := range tests {
		n, err := parseN(tt.in, DefaultMaxN)
		if tt.errType == "" {
			if err != nil || n != tt.n {
				t.Errorf("parseN(%q) = %d, %v; want %d", tt.in, n, err, tt.n)
			}
			continue
		}
		if err == nil || kit.TypeOf(err) != tt.errType || kit.StatusOf(err) != http.StatusBadRequest {
			t.Errorf("parseN(%q) = %v (type %s, status %d); want a 400 of type %s", tt.in, err, kit.TypeOf(err), kit.StatusOf(err), tt.errType)
		}
	}
}

func FuzzParseN(f *testing.F) {
	for _, s := range []string{"0", "10", "4.5", "favicon.ico", "-3", "100001", "99999999999999999999999", "+5", "007", " 1", "1_000", "0x10"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		const max = 1000
		n, err := parseN(s, max)
		want, aerr := strconv.Atoi(s)
		if err != nil {
			if kit.StatusOf(err) != http.StatusBadRequest {
				t.Fatalf("parseN(%q): status %d, want 400", s, kit.StatusOf(err))
			}
			var ne *strconv.NumError
			if aerr != nil && !errors.As(err, &ne) {
				t.Fatalf("parseN(%q) lost the *strconv.NumError: %v", s, err)
			}
			if aerr == nil && want >= 0 && want <= max {
				t.Fatalf("parseN(%q) refused %d: %v", s, want, err)
			}
			return
		}
		if aerr != nil || n != want || n < 0 || n > max {
			t.Fatalf("parseN(%q) = %d, Atoi %d, %v", s, n, want, aerr)
		}
	})
}

func BenchmarkFib(b *testing.B) {
	for _, n := range []int{100, 10000, DefaultMaxN} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			for b.Loop() {
				_ = Fib(n).String()
			}
		})
	}
}
