package auth

import (
	"sync"
	"time"
)

// limiter counts failed logins per key (a client address, a login name)
// in a sliding window: after max failures within window, the key is
// blocked until the oldest of them leaves the window. It tracks at most
// maxKeys keys; when full it forgets the keys that have left the window,
// then, if still full, arbitrary ones: an attacker who spreads failures
// over that many keys has paid for as many password hashes.
type limiter struct {
	max     int
	window  time.Duration
	maxKeys int

	mu    sync.Mutex
	fails map[string][]time.Time // oldest first, at most max
}

func newLimiter(max int, window time.Duration, maxKeys int) *limiter {
	return &limiter{max: max, window: window, maxKeys: maxKeys, fails: map[string][]time.Time{}}
}

// recent returns the failures of key within the window.
func (l *limiter) recent(now time.Time, key string) []time.Time {
	ts := l.fails[key]
	i := 0
	for i < len(ts) && !ts[i].After(now.Add(-l.window)) {
		i++
	}
	return ts[i:]
}

// blocked returns how long until any of keys may try again; 0 if all may.
func (l *limiter) blocked(now time.Time, keys ...string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	var wait time.Duration
	for _, k := range keys {
		ts := l.recent(now, k)
		if len(ts) >= l.max {
			wait = max(wait, ts[len(ts)-l.max].Add(l.window).Sub(now))
		}
	}
	return wait
}

// fail records a failure of each key.
func (l *limiter) fail(now time.Time, keys ...string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, k := range keys {
		ts := l.recent(now, k)
		if len(ts) == 0 {
			delete(l.fails, k)
			l.makeRoom(now)
		}
		if len(ts) >= l.max {
			ts = ts[len(ts)-l.max+1:]
		}
		l.fails[k] = append(append(make([]time.Time, 0, l.max), ts...), now)
	}
}

// makeRoom keeps the map under maxKeys before a key is added.
func (l *limiter) makeRoom(now time.Time) {
	if len(l.fails) < l.maxKeys {
		return
	}
	for k := range l.fails {
		if len(l.recent(now, k)) == 0 {
			delete(l.fails, k)
		}
	}
	for k := range l.fails {
		if len(l.fails) < l.maxKeys {
			return
		}
		delete(l.fails, k)
	}
}

// reset forgets a key's failures.
func (l *limiter) reset(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.fails, key)
}

// keys returns how many keys are tracked.
func (l *limiter) keys() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.fails)
}
