package surge

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// Limiter defaults. They suit a pool of a few backends each serving tens
// of requests at once; MinLimit should stay below what the smallest
// backend behind the limiter can serve at once (see LimiterConfig.MinLimit).
const (
	DefaultInitialLimit = 20                     // LimiterConfig.InitialLimit
	DefaultMinLimit     = 5                      // LimiterConfig.MinLimit
	DefaultMaxLimit     = 1000                   // LimiterConfig.MaxLimit
	DefaultTolerance    = 1.5                    // LimiterConfig.Tolerance
	DefaultBackoff      = 0.9                    // LimiterConfig.Backoff
	DefaultWindow       = 100 * time.Millisecond // LimiterConfig.Window
	DefaultMaxQueue     = 50                     // LimiterConfig.MaxQueue
	DefaultMaxWait      = 100 * time.Millisecond // LimiterConfig.MaxWait
	DefaultRetryAfter   = time.Second            // LimiterConfig.RetryAfter
)

// Algorithm selects how a Limiter moves its limit at the end of each
// sampling window.
type Algorithm int8

const (
	// AIMD (additive increase, multiplicative decrease) is the default: a
	// window with a drop, or in which at least half the limit was used and
	// the mean latency exceeded Tolerance times the no-load latency,
	// multiplies the limit by Backoff; a window without either, in which
	// the limit was at least half used, adds the square root of the limit
	// (at least 1) while the mean latency stays below half-way to the
	// tolerance, and 1 closer to it. Slow windows with little in flight
	// (a pause, a hiccup) leave the limit alone.
	AIMD Algorithm = iota
	// Gradient scales the limit by the ratio of Tolerance times the
	// no-load latency to the window's mean latency, clamped to [0.5, 1]
	// (1 when less than half the limit was used), smoothed over windows,
	// and adds the square root of the limit as
	// headroom only when that ratio is 1 (no queueing seen) and the limit
	// was at least half used. It is the shape of Netflix's Gradient2 and
	// Envoy's adaptive concurrency controller, without their constant
	// headroom, which lets the limit grow without end under a steady mild
	// overload, and without Envoy's periodic probes at minimum
	// concurrency, which shed traffic on a schedule.
	Gradient
)

// String returns "aimd" or "gradient".
func (a Algorithm) String() string {
	switch a {
	case AIMD:
		return "aimd"
	case Gradient:
		return "gradient"
	}
	return fmt.Sprintf("Algorithm(%d)", int8(a))
}

// Order is the order in which queued requests of one priority get a
// freed slot.
type Order int8

const (
	// FIFO serves the oldest waiting request first: fair, the default.
	FIFO Order = iota
	// LIFO serves the newest waiting request first: under a standing
	// queue the requests most likely to still have a client waiting go
	// first, and the old ones time out.
	LIFO
)

// LimiterConfig configures a Limiter. The zero value of each field selects
// the default documented on it.
type LimiterConfig struct {
	// Algorithm moves the limit. Zero means AIMD.
	Algorithm Algorithm
	// InitialLimit is the concurrency limit before anything was learnt.
	// Zero means DefaultInitialLimit (20), clamped to [MinLimit, MaxLimit].
	InitialLimit int
	// MinLimit is the lowest the limit goes. Zero means DefaultMinLimit
	// (5). Requests admitted while fewer than MinLimit are in flight give
	// the no-load latency the limiter compares against, so MinLimit should
	// be below the number of requests the backends serve at once without
	// queueing.
	MinLimit int
	// MaxLimit is the highest the limit goes. Zero means DefaultMaxLimit
	// (1,000). MinLimit <= InitialLimit <= MaxLimit is required when both
	// are set.
	MaxLimit int
	// Tolerance is how many times the no-load latency a window's mean
	// latency may reach before the window counts as queueing. Zero means
	// DefaultTolerance (1.5); it must be at least 1.
	Tolerance float64
	// Backoff is the factor AIMD multiplies the limit by after a window
	// with drops or queueing. Zero means DefaultBackoff (0.9); it must be
	// in (0, 1).
	Backoff float64
	// Window is the shortest sampling window: the limit moves at most once
	// per Window. Zero means DefaultWindow (100ms). A window also waits
	// for 10 samples, up to 10 Windows.
	Window time.Duration
	// MaxQueue bounds the requests waiting for a slot in Acquire. Zero
	// means DefaultMaxQueue (50); negative means no queue (a request over
	// the limit is shed at once).
	MaxQueue int
	// MaxWait is the longest a request waits in the queue before it is
	// shed. Zero means DefaultMaxWait (100ms); negative is an error.
	MaxWait time.Duration
	// Order is the order in which waiting requests of one priority are
	// served. Zero means FIFO.
	Order Order
	// RetryAfter is the wait a shed request is told to observe
	// (ShedError.RetryAfter, the Retry-After header). Zero means
	// DefaultRetryAfter (1s); negative is an error.
	RetryAfter time.Duration
}

// Outcome is how a request released by Token.Release ended, as far as
// the limit is concerned.
type Outcome int8

const (
	// Success: the backend answered in time; its latency is sampled.
	Success Outcome = iota
	// Dropped: a sign of overload or failure (a timeout, a 5xx, a refused
	// or reset connection). It lowers the limit.
	Dropped
	// Ignored: says nothing about the backend's load (the client went
	// away, a 4xx, an answer from a cache). It is not sampled.
	Ignored
)

// String returns "success", "dropped" or "ignored".
func (o Outcome) String() string {
	switch o {
	case Success:
		return "success"
	case Dropped:
		return "dropped"
	case Ignored:
		return "ignored"
	}
	return fmt.Sprintf("Outcome(%d)", int8(o))
}

// Reasons a request is shed, wrapped in a *ShedError.
var (
	// ErrLimit: the limit was reached and the queue was full or disabled.
	ErrLimit = errors.New("surge: concurrency limit reached")
	// ErrMaxWait: the request waited MaxWait in the queue without a slot.
	ErrMaxWait = errors.New("surge: queue wait exceeded")
	// ErrEvicted: a request of higher priority took the request's place in
	// a full queue.
	ErrEvicted = errors.New("surge: displaced by a higher-priority request")
)

// ShedError reports a request the Limiter did not admit. RetryAfter is
// the wait to suggest to the client. Err is ErrLimit, ErrMaxWait or
// ErrEvicted. The Limiter returns shared values: do not modify them.
type ShedError struct {
	RetryAfter time.Duration
	Err        error
}

// Error returns the reason text.
func (e *ShedError) Error() string { return e.Err.Error() }

// Unwrap returns Err.
func (e *ShedError) Unwrap() error { return e.Err }

// Limiter is an adaptive concurrency limit with a bounded queue. It admits
// at most Limit requests at once, learns the limit from the latency and
// outcome of the requests it admitted, and makes a request over the limit
// wait in a short queue (Acquire) or sheds it (TryAcquire). Acquiring and
// releasing a slot costs a few atomic operations and no allocation; the
// limit moves at most once per sampling window, under a lock taken by one
// releasing request.
//
// Limiter is safe for concurrent use and must not be copied. The zero
// value is not usable; call NewLimiter.
type Limiter struct {
	algo      Algorithm
	min, max  float64
	tol       float64
	backoff   float64
	window    int64 // ns
	maxQueue  int
	maxWait   time.Duration
	order     Order
	retry     time.Duration
	minInt    int64
	epoch     time.Time
	shedError [3]ShedError // preallocated, one per reason: shedding allocates nothing

	limit    atomic.Int64
	inflight atomic.Int64
	waiting  atomic.Int64 // requests in the queue

	arrivals atomic.Uint64
	shed     atomic.Uint64
	dropped  atomic.Uint64
	timedOut atomic.Uint64 // shed after MaxWait

	// The current window's samples, swapped out when it closes.
	winEnd   atomic.Int64 // ns since epoch after which the window may close
	winSum   atomic.Int64 // latency of successes, ns
	winN     atomic.Int64 // successes
	winDrops atomic.Int64
	winLow   atomic.Int64 // latency of successes admitted under low load, ns
	winLowN  atomic.Int64
	winPeak  atomic.Int64 // most requests in flight

	// mu guards the controller state below; releases take it with
	// TryLock, so at most one of them closes a window.
	mu       sync.Mutex
	est      float64 // the limit before rounding
	baseline float64 // no-load mean latency, ns; 0 until measured
	winStart int64
	lastMean float64 // last closed window's mean latency, ns

	// qmu guards queue and every queued waiter's state.
	qmu   sync.Mutex
	queue waitQueue
}

// NewLimiter returns a Limiter configured by cfg. It returns an error for
// an invalid configuration.
func NewLimiter(cfg LimiterConfig) (*Limiter, error) {
	switch {
	case cfg.Algorithm != AIMD && cfg.Algorithm != Gradient:
		return nil, fmt.Errorf("surge: unknown algorithm %d", cfg.Algorithm)
	case cfg.Order != FIFO && cfg.Order != LIFO:
		return nil, fmt.Errorf("surge: unknown queue order %d", cfg.Order)
	case cfg.InitialLimit < 0 || cfg.MinLimit < 0 || cfg.MaxLimit < 0:
		return nil, errors.New("surge: limits must not be negative")
	case cfg.Tolerance != 0 && !(cfg.Tolerance >= 1 && cfg.Tolerance < math.Inf(1)):
		return nil, fmt.Errorf("surge: tolerance %v must be at least 1", cfg.Tolerance)
	case cfg.Backoff != 0 && !(cfg.Backoff > 0 && cfg.Backoff < 1):
		return nil, fmt.Errorf("surge: backoff %v must be in (0, 1)", cfg.Backoff)
	case cfg.Window < 0 || cfg.MaxWait < 0 || cfg.RetryAfter < 0:
		return nil, errors.New("surge: durations must not be negative")
	}
	minL := cmp.Or(cfg.MinLimit, DefaultMinLimit)
	maxL := cmp.Or(cfg.MaxLimit, DefaultMaxLimit)
	if cfg.MinLimit == 0 && cfg.MaxLimit != 0 {
		minL = min(minL, maxL)
	}
	if cfg.MaxLimit == 0 && cfg.MinLimit != 0 {
		maxL = max(maxL, minL)
	}
	if minL > maxL {
		return nil, fmt.Errorf("surge: MinLimit %d above MaxLimit %d", minL, maxL)
	}
	initial := cfg.InitialLimit
	if initial == 0 {
		initial = min(max(DefaultInitialLimit, minL), maxL)
	}
	if initial < minL || initial > maxL {
		return nil, fmt.Errorf("surge: InitialLimit %d outside [%d, %d]", initial, minL, maxL)
	}
	maxQ := cmp.Or(cfg.MaxQueue, DefaultMaxQueue)
	if maxQ < 0 {
		maxQ = 0
	}
	l := &Limiter{
		algo:     cfg.Algorithm,
		min:      float64(minL),
		max:      float64(maxL),
		minInt:   int64(minL),
		tol:      cmp.Or(cfg.Tolerance, DefaultTolerance),
		backoff:  cmp.Or(cfg.Backoff, DefaultBackoff),
		window:   int64(cmp.Or(cfg.Window, DefaultWindow)),
		maxQueue: maxQ,
		maxWait:  cmp.Or(cfg.MaxWait, DefaultMaxWait),
		order:    cfg.Order,
		retry:    cmp.Or(cfg.RetryAfter, DefaultRetryAfter),
		epoch:    time.Now(),
		est:      float64(initial),
	}
	for i, err := range []error{ErrLimit, ErrMaxWait, ErrEvicted} {
		l.shedError[i] = ShedError{RetryAfter: l.retry, Err: err}
	}
	l.limit.Store(int64(initial))
	l.winEnd.Store(math.MinInt64) // the first release opens the first window
	return l, nil
}

// ns returns now as nanoseconds since l's epoch.
func (l *Limiter) ns(now time.Time) int64 { return int64(now.Sub(l.epoch)) }

// A Token is one admitted request's slot. Exactly one Release or
// ReleaseAt must be called on it when the request ends. Tokens are plain
// values: copying one does not duplicate the slot, so release only one
// copy. The zero Token is not a slot; releasing it does nothing.
type Token struct {
	l      *Limiter
	start  time.Time
	low    bool // admitted while fewer than MinLimit were in flight
	queued bool // waited in the queue before it was admitted
}

// Start returns when the request was admitted.
func (t Token) Start() time.Time { return t.start }

// Queued reports whether the request waited in the queue for its slot.
func (t Token) Queued() bool { return t.queued }

// tryInc takes a slot if one is free. It returns the number in flight
// before, and whether it took one.
func (l *Limiter) tryInc() (int64, bool) {
	for {
		n := l.inflight.Load()
		if n >= l.limit.Load() {
			return n, false
		}
		if l.inflight.CompareAndSwap(n, n+1) {
			for p := l.winPeak.Load(); n+1 > p && !l.winPeak.CompareAndSwap(p, n+1); p = l.winPeak.Load() {
			}
			return n, true
		}
	}
}

// TryAcquireAt admits a request at now if a slot is free and nobody is
// queued; otherwise it sheds it at once with a *ShedError wrapping
// ErrLimit. It never blocks and never queues.
func (l *Limiter) TryAcquireAt(now time.Time) (Token, error) {
	l.arrivals.Add(1)
	if l.waiting.Load() == 0 {
		if n, ok := l.tryInc(); ok {
			return Token{l: l, start: now, low: n < l.minInt}, nil
		}
	}
	l.shed.Add(1)
	return Token{}, &l.shedError[0]
}

// TryAcquire is TryAcquireAt at the current time.
func (l *Limiter) TryAcquire() (Token, error) { return l.TryAcquireAt(time.Now()) }

// ReleaseAt ends t's request at now with outcome o, frees its slot (or
// hands it to the first request in the queue) and, when the sampling
// window is over, moves the limit.
func (t Token) ReleaseAt(now time.Time, o Outcome) {
	l := t.l
	if l == nil {
		return
	}
	switch o {
	case Success:
		d := int64(max(now.Sub(t.start), 1))
		l.winSum.Add(d)
		l.winN.Add(1)
		if t.low {
			l.winLow.Add(d)
			l.winLowN.Add(1)
		}
	case Dropped:
		l.winDrops.Add(1)
		l.dropped.Add(1)
	}
	l.inflight.Add(-1)
	if l.waiting.Load() > 0 {
		l.handOff()
	}
	if l.ns(now) >= l.winEnd.Load() {
		l.closeWindow(now)
	}
}

// Release is ReleaseAt at the current time.
func (t Token) Release(o Outcome) { t.ReleaseAt(time.Now(), o) }

// Limit returns the current concurrency limit.
func (l *Limiter) Limit() int { return int(l.limit.Load()) }

// InFlight returns the number of admitted requests not yet released.
func (l *Limiter) InFlight() int { return int(l.inflight.Load()) }

// SetLimit sets the limit to n, clamped to [MinLimit, MaxLimit], for an
// operator who knows better in an emergency. The limit goes on adapting
// from there.
func (l *Limiter) SetLimit(n int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.est = min(max(float64(n), l.min), l.max)
	l.limit.Store(int64(l.est))
	if l.waiting.Load() > 0 {
		l.handOff()
	}
}

// LimiterStats is a snapshot of a Limiter's state and counters. The
// counters only grow.
type LimiterStats struct {
	// Limit is the current concurrency limit; InFlight the admitted
	// requests not yet released; Queued the requests waiting in Acquire.
	Limit, InFlight, Queued int
	// Arrivals counts every TryAcquire and Acquire call (Exempt ones
	// aside) and Shed those that got no slot. Admitted is Arrivals - Shed
	// - Queued: exact when nothing is arriving, otherwise it may count a
	// few requests still being decided (the hot path keeps no counter of
	// its own for it). QueueTimeouts counts the shed after MaxWait.
	Arrivals, Admitted, Shed, QueueTimeouts uint64
	// Dropped counts releases with outcome Dropped.
	Dropped uint64
	// Latency is the mean latency of the successes in the last closed
	// window; Baseline the learnt no-load mean latency (0 until measured).
	Latency, Baseline time.Duration
}

// Stats returns a snapshot of l's state and counters.
func (l *Limiter) Stats() LimiterStats {
	l.mu.Lock()
	lat, base := l.lastMean, l.baseline
	l.mu.Unlock()
	queued := l.waiting.Load()
	shed := l.shed.Load()
	arrivals := l.arrivals.Load() // last: never below shed + queued
	return LimiterStats{
		Limit:         int(l.limit.Load()),
		InFlight:      int(l.inflight.Load()),
		Queued:        int(queued),
		Arrivals:      arrivals,
		Admitted:      uint64(max(int64(arrivals)-int64(shed)-queued, 0)),
		Shed:          shed,
		QueueTimeouts: l.timedOut.Load(),
		Dropped:       l.dropped.Load(),
		Latency:       time.Duration(lat),
		Baseline:      time.Duration(base),
	}
}
