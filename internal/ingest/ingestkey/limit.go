package ingestkey

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// LimitError refuses a request for its number of records: 429 when the
// key's rate limit is reached (retry after RetryAfter), 413 when the
// request can never fit (over --max-records-per-request, or over the
// key's burst).
type LimitError struct {
	Status     int // http.StatusTooManyRequests or http.StatusRequestEntityTooLarge
	RetryAfter int // seconds, at least 1, for a 429
	msg        string
}

func (e *LimitError) Error() string { return e.msg }

// RetryAfterHeader is the Retry-After value of a 429.
func (e *LimitError) RetryAfterHeader() string { return strconv.Itoa(e.RetryAfter) }

// bucket is a token bucket of records: it holds up to a burst of
// BurstSeconds × rate, and fills at rate per second.
type bucket struct {
	mu     sync.Mutex
	tokens float64
	last   time.Time // zero: full
}

// take removes n tokens if the bucket holds them, else returns how long
// until it will.
func (b *bucket) take(now time.Time, rate, burst float64, n int) (bool, time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.last.IsZero() {
		b.tokens = burst
	} else if dt := now.Sub(b.last).Seconds(); dt > 0 {
		b.tokens = math.Min(burst, b.tokens+dt*rate)
	}
	if now.After(b.last) || b.last.IsZero() {
		b.last = now
	}
	if float64(n) <= b.tokens {
		b.tokens -= float64(n)
		return true, 0
	}
	return false, time.Duration((float64(n) - b.tokens) / rate * float64(time.Second))
}

// Admit checks a request of records records authenticated with key (nil
// with checks off and no key: only the per-request limit applies) and
// takes them from the key's rate. It returns nil, or why the request is
// refused (counted).
func (k *Keys) Admit(key *Key, records int, protocol string) *LimitError {
	if err := k.admit(key, records); err != nil {
		k.opt.Metrics.RateLimited.With(protocol).Inc()
		return err
	}
	return nil
}

func (k *Keys) admit(key *Key, records int) *LimitError {
	if max := k.opt.MaxRecordsPerRequest; max > 0 && records > max {
		return &LimitError{Status: http.StatusRequestEntityTooLarge,
			msg: fmt.Sprintf("request has %d records, over the limit of %d records per request: send smaller batches", records, max)}
	}
	if key == nil || key.Rate <= 0 || key.bucket == nil || records <= 0 {
		return nil
	}
	burst := BurstSeconds * key.Rate
	if float64(records) > burst {
		return &LimitError{Status: http.StatusRequestEntityTooLarge,
			msg: fmt.Sprintf("request has %d records, more than the %s records the ingest key may send at once (%s records/s for %d s): send smaller batches",
				records, formatNum(burst), formatNum(key.Rate), BurstSeconds)}
	}
	ok, wait := key.bucket.take(k.opt.Now(), key.Rate, burst, records)
	if ok {
		return nil
	}
	secs := max(1, int(math.Ceil(wait.Seconds())))
	return &LimitError{Status: http.StatusTooManyRequests, RetryAfter: secs,
		msg: fmt.Sprintf("ingest key rate limit of %s records/s reached: retry in %d s", formatNum(key.Rate), secs)}
}

func formatNum(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }
