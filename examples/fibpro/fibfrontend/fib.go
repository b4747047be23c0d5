package fibfrontend

import (
	"math/big"
	"math/bits"
	"net/http"
	"strconv"
	"strings"

	"github.com/fibinc/telltale/examples/fibpro/service"
	"github.com/fibinc/telltale/kit"
)

// DefaultMaxN is the largest n served unless --max-n says otherwise:
// fib(100000) has about 21000 digits and takes milliseconds.
const DefaultMaxN = 100000

// Fib returns the nth Fibonacci number (Fib(0) = 0, Fib(1) = 1) for n >=
// 0, by fast doubling: F(2k) = F(k)·(2F(k+1) − F(k)) and F(2k+1) =
// F(k)² + F(k+1)², a few big multiplications per bit of n.
func Fib(n int) *big.Int {
	a, b := big.NewInt(0), big.NewInt(1) // F(k), F(k+1), from k = 0
	for i := bits.Len(uint(n)) - 1; i >= 0; i-- {
		c := new(big.Int).Lsh(b, 1)
		c.Sub(c, a).Mul(c, a) // F(2k)
		d := new(big.Int).Mul(a, a)
		d.Add(d, b.Mul(b, b)) // F(2k+1)
		if n>>i&1 == 0 {
			a, b = c, d
		} else {
			a, b = d, c.Add(c, d)
		}
	}
	return a
}

// parseN reads the n of GET /{n}: a whole number from 0 to max. Every
// refusal is a 400; a malformed n keeps strconv's *NumError in the chain,
// which names the kind of mistake. The errors carry the stack, so that
// Telltale files "4.5" and "2.5" as one issue, grouped by where they
// failed rather than by their message.
func parseN(s string, max int) (int, error) {
	n, err := strconv.Atoi(s)
	switch {
	case err != nil && isRangeError(err) && strings.HasPrefix(s, "-"):
		return 0, kit.WithStatus(kit.Errorf("n must not be negative: %w", err), http.StatusBadRequest)
	case err != nil && isRangeError(err):
		return 0, kit.WithStatus(kit.Errorf("n too large: %w", err), http.StatusBadRequest)
	case err != nil:
		return 0, kit.WithStatus(kit.Errorf("n must be a whole number: %w", err), http.StatusBadRequest)
	case n < 0:
		return 0, kit.WithStatus(kit.Errorf("%w: %d", service.ErrNegativeN, n), http.StatusBadRequest)
	case n > max:
		return 0, kit.WithStatus(kit.Errorf("%w: %d is more than %d", service.ErrNTooLarge, n, max), http.StatusBadRequest)
	}
	return n, nil
}

func isRangeError(err error) bool {
	ne, ok := err.(*strconv.NumError)
	return ok && ne.Err == strconv.ErrRange
}
