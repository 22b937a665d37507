package redisrate

import (
	"sync"
	"sync/atomic"
	"time"
)

// breaker decides whether a call goes to Redis. Closed (the normal state)
// it lets every call through, and opens after a number of failures in a
// row. Open, it lets no call through until its cooldown has passed; then
// it lets exactly one call through as a probe, whose success closes it
// and whose failure restarts the cooldown.
//
// The closed state costs one atomic load per call; the lock is taken only
// on failures and while open.
type breaker struct {
	open      atomic.Bool
	failures  atomic.Int32 // failures in a row while closed
	threshold int32
	cooldown  time.Duration

	mu      sync.Mutex // protects until and probing
	until   time.Time  // end of the cooldown
	probing bool       // a probe is out
}

func (b *breaker) init(threshold int, cooldown time.Duration) {
	b.threshold = int32(min(threshold, 1<<30))
	b.cooldown = cooldown
}

// closed reports whether calls go to Redis.
func (b *breaker) closed() bool { return !b.open.Load() }

// allow reports whether a call at now may go to Redis. When open it says
// yes once per cooldown: that caller is the probe and must report its
// result.
func (b *breaker) allow(now time.Time) bool {
	if !b.open.Load() {
		return true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.open.Load() {
		return true
	}
	if b.probing || now.Before(b.until) {
		return false
	}
	b.probing = true
	return true
}

// success records a call that worked and reports whether it closed the
// breaker.
func (b *breaker) success() bool {
	if !b.open.Load() {
		if b.failures.Load() != 0 {
			b.failures.Store(0)
		}
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.open.Load() {
		return false
	}
	b.probing = false
	b.failures.Store(0)
	b.open.Store(false)
	return true
}

// failure records a call that failed at now and reports whether it opened
// the breaker.
func (b *breaker) failure(now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.open.Load() { // the probe failed: wait another cooldown
		b.probing = false
		b.until = now.Add(b.cooldown)
		return false
	}
	if b.failures.Add(1) < b.threshold {
		return false
	}
	b.open.Store(true)
	b.until = now.Add(b.cooldown)
	return true
}

// abandon ends a probe whose caller gave up before Redis answered, so
// that the next caller may probe.
func (b *breaker) abandon() {
	if !b.open.Load() {
		return
	}
	b.mu.Lock()
	b.probing = false
	b.mu.Unlock()
}

// retryAfter returns how long from now until the breaker next tries
// Redis (at least a second when it is not open, as a hint to clients).
func (b *breaker) retryAfter(now time.Time) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	return max(b.until.Sub(now), time.Second)
}
