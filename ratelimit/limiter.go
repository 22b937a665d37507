// Package ratelimit limits requests per key with token buckets that reject
// or queue the excess, limits requests in flight per key, and reports the
// limits in the IETF RateLimit-Policy and RateLimit header fields.
//
// A [Limiter] is the engine: [Limiter.Allow] and [Limiter.AllowAt] decide
// for a key without any HTTP types, [Limiter.Wait] queues, and
// [Limiter.SetRates] changes the limits without forgetting what keys have
// used. [Middleware] adapts one or more limiters to net/http through the
// [Decider] interface, which package redisrate also implements to share
// limits between gateway instances. [Concurrency] and
// [ConcurrencyMiddleware] cap requests in flight.
//
// Buckets use GCRA (a token bucket kept as one "theoretical arrival time"
// per key) computed under the key's shard lock with the clock read inside
// that lock, so a limiter never admits more than Burst + rate × elapsed,
// however many goroutines share a key. x/time/rate's Limiter.Allow reads
// the clock before locking and can over-admit under contention, since
// timestamps then arrive out of order; this package does not use it on
// the decision path.
package ratelimit

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// Mode selects what a Limiter does with a request over its limit.
type Mode int

const (
	// Reject answers a request over the limit at once (429 by default).
	Reject Mode = iota
	// Queue holds a request over the limit, in arrival order, until its
	// token is due, up to Config.MaxWait and Config.MaxQueue; beyond them
	// it is rejected.
	Queue
)

// HeaderMode selects the rate-limit response headers Middleware writes.
type HeaderMode int

const (
	// HeadersDraft writes RateLimit-Policy and RateLimit in the form of
	// draft-ietf-httpapi-ratelimit-headers-10 (Structured Fields lists).
	HeadersDraft HeaderMode = iota
	// HeadersLegacy writes X-RateLimit-Limit, X-RateLimit-Remaining and
	// X-RateLimit-Reset (seconds), as many older clients expect.
	HeadersLegacy
	// HeadersBoth writes both forms.
	HeadersBoth
	// HeadersNone writes only Retry-After, and only on rejection.
	HeadersNone
)

// Config configures a Limiter. The zero value of each field selects the
// default documented on it; Rates has no default.
type Config struct {
	// Rates are the policies applied to every key; a request must pass all
	// of them (e.g. 10/s with burst 20 and 1,000/hour). At least one is
	// required; each is validated (see Rate).
	Rates []Rate
	// Key returns the key Middleware limits a request by; requests with
	// equal keys share buckets. It must be safe for concurrent use. Package
	// reqkey has the usual ones (client address, API key, route, header).
	// If nil, reqkey.ClientIP: the client address from
	// clientip.FromRequest, IPv6 aggregated to its /64.
	Key func(r *http.Request) string
	// Mode is Reject (the default) or Queue.
	Mode Mode
	// MaxWait is the longest a queued request waits for its token (Queue
	// mode). A request whose wait would be longer is rejected at once.
	// Zero means 1s; negative or over a year is an error.
	MaxWait time.Duration
	// MaxQueue is the most requests queued per key (Queue mode). Zero
	// means 100; negative or above 32767 is an error.
	MaxQueue int
	// MaxKeys bounds the key table. When it is full, the key that went
	// idle first (buckets full, no block: forgetting it loses nothing) is
	// evicted; if no key is idle, the one closest to idle. Keys with
	// queued requests are never evicted. Zero means 100,000; negative is
	// an error.
	MaxKeys int
	// BlockAfter enables the penalty: a key rejected BlockAfter times in a
	// row (with no admission between) is blocked for BlockFor, during
	// which every request of that key is rejected with a Retry-After until
	// the block ends. Zero disables it; negative or above 32767 is an
	// error.
	BlockAfter int
	// BlockFor is the length of a penalty block. It must be positive when
	// BlockAfter is set, and at most a year.
	BlockFor time.Duration
	// DryRun makes the limiter admit everything while still counting (in
	// Stats) and logging what it would have rejected or queued. Buckets
	// evolve as if enforcing: would-be rejections take no token.
	DryRun bool
	// Logger receives dry-run reports: at most one line per second, with
	// the total of would-be rejections so far. Nil means silent.
	Logger *slog.Logger
	// Headers selects the rate-limit headers Middleware writes on every
	// response it decides. Zero means HeadersDraft.
	Headers HeaderMode
	// ErrorHandler writes the response to a request Middleware rejects;
	// err is a *LimitError (or the context's error when a queued request
	// was cancelled). Rate-limit headers and Retry-After are already set.
	// If nil, a 429 application/problem+json response is written.
	ErrorHandler func(w http.ResponseWriter, r *http.Request, err error)
}

// Limiter is a per-key, multi-policy token-bucket limiter. It is safe for
// concurrent use by multiple goroutines and must not be copied. The zero
// Limiter is not usable: create one with New.
type Limiter struct {
	cfg   Config // as given to New; its Rates may be stale (see rules)
	rules atomic.Pointer[rules]
	setMu sync.Mutex // serialises SetRatesAt
	tab   *table
	epoch time.Time
	maxW  int64
	maxQ  int16
	block int64
	every rate.Sometimes // paces dry-run log lines
}

// Decision is the outcome of one limiter decision.
type Decision struct {
	// Allowed reports whether the request may proceed now. In dry-run
	// mode it is always true.
	Allowed bool
	// Limited reports that the request was over the limit: rejected,
	// queued, or (in dry-run mode) admitted anyway.
	Limited bool
	// Queued reports that the request was queued (ReserveAt only).
	Queued bool
	// Blocked reports a rejection caused by a penalty block.
	Blocked bool
	// RetryAfter is, when Limited, how long until the request could be
	// admitted (positive); for a queued request, its expected wait.
	RetryAfter time.Duration
	// Remaining is the number of requests the most restrictive policy
	// would still admit at once after this decision.
	Remaining int
	// Reset is the time until the most restrictive policy gains another
	// token (zero when its bucket is full).
	Reset time.Duration
	// Policy is the index in Config.Rates of the most restrictive policy.
	Policy int
}

// Errors a LimitError wraps, for errors.Is.
var (
	// ErrLimited is the cause of a rejection by a rate policy.
	ErrLimited = errors.New("ratelimit: rate limit exceeded")
	// ErrBlocked is the cause of a rejection during a penalty block.
	ErrBlocked = errors.New("ratelimit: key blocked after repeated excess")
	// ErrQueueFull is the cause of a rejection by a full queue.
	ErrQueueFull = errors.New("ratelimit: queue full")
	// ErrMaxWait is the cause of a rejection of a request that would wait
	// longer than the maximum wait.
	ErrMaxWait = errors.New("ratelimit: wait would exceed the maximum")
	// ErrConcurrency is the cause of a rejection by a Concurrency limiter.
	ErrConcurrency = errors.New("ratelimit: too many requests in flight")
	// ErrUnavailable is the cause of a rejection by a limiter that could
	// not decide, such as a shared limiter whose store is unreachable and
	// that is set to fail closed. WriteError answers it with 503.
	ErrUnavailable = errors.New("ratelimit: limiter unavailable")
)

// LimitError reports a rejected request and when to retry. Err is one of
// the sentinels above or context.DeadlineExceeded (a queued wait would
// outlast the request's deadline); Unwrap returns it.
type LimitError struct {
	// RetryAfter is a positive wait before a retry can be admitted.
	RetryAfter time.Duration
	// Err is the cause.
	Err error
}

// Error returns the cause and the wait.
func (e *LimitError) Error() string {
	return fmt.Sprintf("%v (retry after %v)", e.Err, e.RetryAfter)
}

// Unwrap returns the cause.
func (e *LimitError) Unwrap() error { return e.Err }

// New validates cfg and returns a Limiter. It returns an error (wrapping
// ErrInvalidRate for a bad Rate) when Rates is empty or any field is out of
// range; it never silently allows everything.
func New(cfg Config) (*Limiter, error) {
	pol, err := compile(cfg.Rates)
	if err != nil {
		return nil, err
	}
	switch {
	case cfg.Mode != Reject && cfg.Mode != Queue:
		return nil, fmt.Errorf("ratelimit: unknown Mode %d", cfg.Mode)
	case cfg.Headers < HeadersDraft || cfg.Headers > HeadersNone:
		return nil, fmt.Errorf("ratelimit: unknown Headers %d", cfg.Headers)
	case cfg.MaxWait < 0 || cfg.MaxWait > maxDelay:
		return nil, fmt.Errorf("ratelimit: MaxWait %v out of range [0, %v]", cfg.MaxWait, maxDelay)
	case cfg.MaxQueue < 0 || cfg.MaxQueue > maxSmall:
		return nil, fmt.Errorf("ratelimit: MaxQueue %d out of range [0, %d]", cfg.MaxQueue, maxSmall)
	case cfg.MaxKeys < 0:
		return nil, fmt.Errorf("ratelimit: negative MaxKeys %d", cfg.MaxKeys)
	case cfg.BlockAfter < 0 || cfg.BlockAfter > maxSmall:
		return nil, fmt.Errorf("ratelimit: BlockAfter %d out of range [0, %d]", cfg.BlockAfter, maxSmall)
	case cfg.BlockAfter > 0 && cfg.BlockFor <= 0:
		return nil, fmt.Errorf("ratelimit: BlockAfter %d needs a positive BlockFor", cfg.BlockAfter)
	case cfg.BlockFor < 0 || cfg.BlockFor > maxDelay:
		return nil, fmt.Errorf("ratelimit: BlockFor %v out of range [0, %v]", cfg.BlockFor, maxDelay)
	}
	cfg.Rates = append([]Rate(nil), cfg.Rates...)
	// The epoch lies a century back so that every plausible time is a
	// positive offset (0 means "not blocked"); Add keeps the monotonic
	// reading, so real-clock decisions are immune to wall-clock steps.
	l := &Limiter{cfg: cfg, epoch: time.Now().Add(-epochAge), every: rate.Sometimes{Interval: time.Second}}
	l.rules.Store(&rules{cfg: cfg, pol: pol})
	l.maxW = int64(cmp.Or(cfg.MaxWait, time.Second))
	l.maxQ = int16(cmp.Or(cfg.MaxQueue, 100))
	maxKeys := cmp.Or(cfg.MaxKeys, 100_000)
	l.block = int64(cfg.BlockFor)
	l.tab = newTable(maxKeys, len(pol))
	return l, nil
}

// epochAge is how far before New a limiter's epoch lies.
const epochAge = 100 * 365 * 24 * time.Hour

// maxDelay bounds MaxWait and BlockFor.
const maxDelay = 365 * 24 * time.Hour

// maxSmall bounds MaxQueue and BlockAfter, kept in 16 bits per key.
const maxSmall = 1<<15 - 1

// ns converts t to nanoseconds since the limiter's epoch (monotonic when t
// carries a monotonic reading). Times before the epoch count as 1ns.
func (l *Limiter) ns(t time.Time) int64 { return max(int64(t.Sub(l.epoch)), 1) }

// Allow decides whether a request for key may proceed now, taking a token
// from every policy when it may. The clock is read under the key's lock,
// so concurrent callers never over-admit. It does not queue: in Queue mode
// a key with queued requests is over its limit. It does not allocate: a
// new key reuses the entry it evicts once the table is full (MaxKeys), and
// key itself is stored, not copied (keys over 64 bytes are replaced by
// their SHA-256, which allocates).
func (l *Limiter) Allow(key string) Decision {
	return l.allow(key, time.Time{}, true)
}

// Decide is Middleware's decision (see Decider): in Reject mode Allow,
// with a *LimitError when the request is rejected; in Queue mode Wait.
func (l *Limiter) Decide(ctx context.Context, key string) (Decision, error) {
	if l.cfg.Mode == Queue {
		return l.wait(ctx, key)
	}
	d := l.allow(key, time.Time{}, true)
	if !d.Allowed {
		return d, l.limitErr(d, ErrLimited)
	}
	return d, nil
}

// AllowAt is Allow at the given time. Times before a key's last admission
// are treated conservatively: they can never mint tokens.
func (l *Limiter) AllowAt(key string, now time.Time) Decision {
	return l.allow(key, now, false)
}

func (l *Limiter) allow(key string, now time.Time, clock bool) Decision {
	key = normKey(key)
	s := l.tab.shardFor(key)
	s.mu.Lock()
	if clock {
		now = time.Now()
	}
	n := l.ns(now)
	e := l.tab.get(s, key, n)
	d := l.decide(s, e, n)
	s.touch(e)
	s.mu.Unlock()
	if d.Limited && l.cfg.DryRun {
		l.report(key, d)
	}
	return d
}

// decide applies every policy to e at n. s.mu must be held.
func (l *Limiter) decide(s *shard, e *entry, n int64) Decision {
	e.purge(n)
	if e.until > n {
		s.c.blocked++
		return l.limited(s, e, n, Decision{Blocked: true, RetryAfter: time.Duration(e.until - n), Policy: l.worst(e, n)})
	}
	var wait int64
	pi := 0
	for i, p := range l.pols() {
		if w := max(e.tat[i], n) + p.interval - p.tau - n; w > wait {
			wait, pi = w, i
		}
	}
	if !e.q.empty() { // queued requests go first: wait behind them
		wait = max(wait, l.due(e, n, int64(e.nq)+1))
	}
	if wait > 0 {
		return l.limited(s, e, n, Decision{RetryAfter: time.Duration(wait), Policy: pi})
	}
	l.take(e, n)
	e.strikes = 0
	s.c.allowed++
	d := Decision{Allowed: true, Policy: l.worst(e, n)}
	d.Remaining, d.Reset = l.state(e, d.Policy, n)
	return d
}

// limited records an excess and returns d completed: a rejection, or an
// admission in dry-run mode. It applies the penalty. s.mu must be held.
func (l *Limiter) limited(s *shard, e *entry, n int64, d Decision) Decision {
	d.Limited = true
	if l.cfg.DryRun {
		s.c.limitedDryRun++
		d.Allowed = true
		d.Remaining, d.Reset = l.state(e, d.Policy, n)
		return d
	}
	s.c.rejected++
	if l.cfg.BlockAfter > 0 && !d.Blocked {
		e.strikes++
		if int(e.strikes) >= l.cfg.BlockAfter {
			e.strikes = 0
			e.until = n + l.block
			d.Blocked = true
			d.RetryAfter = max(d.RetryAfter, time.Duration(l.block))
		}
	}
	d.Remaining, d.Reset = 0, d.RetryAfter
	return d
}

// take consumes one token of every policy at n.
func (l *Limiter) take(e *entry, n int64) {
	for i, p := range l.pols() {
		e.tat[i] = max(e.tat[i], n) + p.interval
	}
}

// give returns one token to every policy at n, never above the burst.
func (l *Limiter) give(e *entry, n int64) {
	for i, p := range l.pols() {
		e.tat[i] = max(e.tat[i]-p.interval, n)
	}
}

// state returns the tokens left and the time to the next token of policy i.
func (l *Limiter) state(e *entry, i int, n int64) (int, time.Duration) {
	p := l.pols()[i]
	x := e.tat[i] - n // how far the bucket is from full
	if x <= 0 {
		return p.burst, 0
	}
	rem := int((p.tau - x) / p.interval)
	reset := x % p.interval
	if reset == 0 {
		reset = p.interval
	}
	return max(rem, 0), time.Duration(reset)
}

// worst returns the index of the policy with the fewest tokens left.
func (l *Limiter) worst(e *entry, n int64) int {
	wi, wr := 0, -1
	for i := range l.pols() {
		if r, _ := l.state(e, i, n); wr < 0 || r < wr {
			wi, wr = i, r
		}
	}
	return wi
}

// Refund gives back the token a request of key took, now: the request did
// not go ahead (another limiter rejected it). It never raises a bucket
// above its burst. Middleware calls it; engine users combining limiters
// may too.
func (l *Limiter) Refund(key string) { l.RefundAt(key, time.Now()) }

// RefundAt is Refund at the given time.
func (l *Limiter) RefundAt(key string, now time.Time) {
	key = normKey(key)
	s := l.tab.shardFor(key)
	s.mu.Lock()
	if e, ok := s.m[key]; ok {
		l.give(e, l.ns(now))
		e.wakeHead()
		s.touch(e)
	}
	s.mu.Unlock()
}

// report logs a dry-run excess, at most once per second.
func (l *Limiter) report(key string, d Decision) {
	if l.cfg.Logger == nil {
		return
	}
	l.every.Do(func() {
		l.cfg.Logger.Warn("ratelimit: dry run: request over limit admitted",
			"key", key, "policy", policyName(l.Config().Rates, d.Policy), "retry_after", d.RetryAfter,
			"limited_total", l.Stats().LimitedDryRun)
	})
}

// policyName returns the name of rates[i], or of the last rate when i is
// past the end (the rates changed since the decision).
func policyName(rates []Rate, i int) string {
	return rates[min(i, len(rates)-1)].name()
}

// Stats are cumulative counters of a Limiter, plus the current key count.
type Stats struct {
	Allowed       uint64 // admitted, including after a wait in the queue
	Rejected      uint64 // rejected (including blocked and queue rejections)
	LimitedDryRun uint64 // over the limit but admitted because of DryRun
	Blocked       uint64 // rejected during a penalty block
	Queued        uint64 // requests that had to wait in the queue
	QueueRejected uint64 // rejected because the queue was full or the wait too long
	QueueExpired  uint64 // left the queue without a token (max wait or deadline)
	Cancelled     uint64 // left the queue because the caller cancelled
	Evicted       uint64 // keys evicted from the table
	EvictedActive uint64 // of which were not idle (their state was lost)
	Overflow      uint64 // keys inserted over MaxKeys because every key had queued requests
	Keys          int    // keys in the table now
	Waiting       int    // requests queued now
}

// SharedStats are the cumulative counters of a limit shared by gateway
// instances through a store: package redisrate's Limiter, whose Stats are
// of this type (the store is Redis).
type SharedStats struct {
	Decisions  uint64 // decided by the store
	Fallbacks  uint64 // decided without the store, by the limiter's fail mode
	Errors     uint64 // calls to the store that failed or timed out
	ToFallback uint64 // switches away from the store (its breaker opened)
	ToRedis    uint64 // returns to the store (a probe succeeded)
	Pipelines  uint64 // pipelines sent, each of one or more decisions
	UsingRedis bool   // whether decisions go to the store now
	Local      Stats  // the local fallback limiter's counters
}

// Stats returns the limiter's counters. It locks each shard in turn.
func (l *Limiter) Stats() Stats {
	c, keys := total(l.tab.shards)
	return Stats{
		Allowed: c.allowed, Rejected: c.rejected, LimitedDryRun: c.limitedDryRun, Blocked: c.blocked,
		Queued: c.queued, QueueRejected: c.queueRejected, QueueExpired: c.queueExpired, Cancelled: c.cancelled,
		Evicted: c.evicted, EvictedActive: c.evictedActive, Overflow: c.overflow,
		Keys: keys, Waiting: int(c.waiting),
	}
}

// Rates returns a copy of the limiter's policies.
func (l *Limiter) Rates() []Rate { return append([]Rate(nil), l.Config().Rates...) }
