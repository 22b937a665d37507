package ratelimit

import (
	"context"
	"fmt"
	"hash/maphash"
	"net/http"
	"sync"
	"time"
)

// ConcurrencyConfig configures a Concurrency limiter. The zero value of
// each field selects the default documented on it; Max has no default.
type ConcurrencyConfig struct {
	// Max is the most requests of one key in flight at once. It must be
	// positive.
	Max int
	// Key returns the key ConcurrencyMiddleware limits a request by. If
	// nil, reqkey.ClientIP.
	Key func(r *http.Request) string
	// Mode is Reject (the default: a request over Max is answered at once)
	// or Queue (it waits, in arrival order, for a slot).
	Mode Mode
	// MaxWait is the longest a queued request waits for a slot. Zero means
	// 1s; negative is an error.
	MaxWait time.Duration
	// MaxQueue is the most requests queued per key. Zero means 100;
	// negative or above 32767 is an error.
	MaxQueue int
	// MaxKeys bounds the number of keys with requests in flight or queued;
	// a request of a new key beyond it is rejected. Zero means 100,000;
	// negative is an error.
	MaxKeys int
	// RetryAfter is the Retry-After sent with a rejection. Zero means 1s;
	// negative is an error.
	RetryAfter time.Duration
	// DryRun admits every request while counting (Stats.LimitedDryRun)
	// those over Max or over MaxKeys. A request admitted only because of
	// DryRun while the key table was full is not tracked: it is not in
	// InFlight, and its Release is a no-op (or, if its key has gained an
	// entry meanwhile, frees that key's slot early, which in dry-run mode
	// changes only the counters).
	DryRun bool
	// Name names the policy in RateLimit headers. Empty means
	// "concurrency". It must be printable ASCII.
	Name string
	// Headers selects the headers written on a rejection. Zero means
	// HeadersDraft (with the policy's qu="concurrency").
	Headers HeaderMode
	// ErrorHandler writes the response to a rejected request; err is a
	// *LimitError wrapping ErrConcurrency, ErrQueueFull or ErrMaxWait, or
	// the context's error. If nil, a 429 problem+json response.
	ErrorHandler func(w http.ResponseWriter, r *http.Request, err error)
}

// Concurrency limits the requests of each key in flight at once. It is safe
// for concurrent use and must not be copied. The zero Concurrency is not
// usable: create one with NewConcurrency. Every successful TryAcquire or Acquire must be matched
// by exactly one Release of the same key.
type Concurrency struct {
	cfg    ConcurrencyConfig
	max    int32
	maxQ   int32
	maxW   time.Duration
	retry  time.Duration
	seed   maphash.Seed
	mask   uint64
	shards []cshard
	policy string
}

type cshard struct {
	// mu protects m, its entries and waiters, free and c.
	mu   sync.Mutex
	m    map[string]*centry
	cap  int
	free []*centry
	c    ccounters
	_    [64]byte
}

type ccounters struct {
	allowed, rejected, limitedDryRun, queued, queueRejected, queueExpired, cancelled uint64
	inFlight, waiting                                                                int64 // gauges
}

// centry exists only while its key has requests in flight or queued.
type centry struct {
	n, nq      int32
	head, tail *cwaiter
}

type cwaiter struct {
	ch         chan struct{}
	granted    bool
	prev, next *cwaiter
}

// NewConcurrency validates cfg and returns a Concurrency limiter.
func NewConcurrency(cfg ConcurrencyConfig) (*Concurrency, error) {
	switch {
	case cfg.Max <= 0:
		return nil, fmt.Errorf("ratelimit: concurrency Max %d must be positive", cfg.Max)
	case cfg.Mode != Reject && cfg.Mode != Queue:
		return nil, fmt.Errorf("ratelimit: unknown Mode %d", cfg.Mode)
	case cfg.Headers < HeadersDraft || cfg.Headers > HeadersNone:
		return nil, fmt.Errorf("ratelimit: unknown Headers %d", cfg.Headers)
	case cfg.MaxWait < 0 || cfg.MaxQueue < 0 || cfg.MaxKeys < 0 || cfg.RetryAfter < 0:
		return nil, fmt.Errorf("ratelimit: negative MaxWait, MaxQueue, MaxKeys or RetryAfter")
	case cfg.MaxQueue > maxSmall:
		return nil, fmt.Errorf("ratelimit: MaxQueue %d above %d", cfg.MaxQueue, maxSmall)
	}
	if cfg.Name == "" {
		cfg.Name = "concurrency"
	}
	if err := (Rate{Count: 1, Per: 1, Name: cfg.Name}).validate(); err != nil {
		return nil, err
	}
	c := &Concurrency{cfg: cfg, max: int32(min(cfg.Max, 1<<30)), maxQ: 100, maxW: cfg.MaxWait, retry: cfg.RetryAfter, seed: maphash.MakeSeed()}
	if cfg.MaxQueue > 0 {
		c.maxQ = int32(cfg.MaxQueue)
	}
	if c.maxW == 0 {
		c.maxW = time.Second
	}
	if c.retry == 0 {
		c.retry = time.Second
	}
	maxKeys := cfg.MaxKeys
	if maxKeys == 0 {
		maxKeys = 100_000
	}
	n := 1
	for n < 64 && n*64 < maxKeys {
		n <<= 1
	}
	c.mask = uint64(n - 1)
	c.shards = make([]cshard, n)
	for i := range c.shards {
		k := maxKeys / n
		if i < maxKeys%n {
			k++
		}
		c.shards[i] = cshard{m: make(map[string]*centry), cap: k}
	}
	c.policy = string(sfString(nil, cfg.Name)) + ";q=" + fmt.Sprint(c.max) + `;qu="concurrency"`
	return c, nil
}

func (c *Concurrency) shard(key string) *cshard {
	return &c.shards[maphash.String(c.seed, key)&c.mask]
}

// TryAcquire takes a slot for key if one is free and no request of key is
// queued, reporting whether it did. It never blocks and does not allocate
// for a key with requests in flight. In dry-run mode it always succeeds.
func (c *Concurrency) TryAcquire(key string) bool {
	key = normKey(key)
	s := c.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	ok, _ := c.try(s, key)
	if !ok {
		s.c.rejected++
	}
	return ok
}

// try is TryAcquire with s.mu held, without counting a refusal; it also
// returns key's entry (nil when the table is full). In dry-run mode a new
// key over MaxKeys is admitted without an entry: it holds no slot, and
// its Release finds none to free.
func (c *Concurrency) try(s *cshard, key string) (bool, *centry) {
	e := s.m[key]
	if e == nil {
		if len(s.m) >= s.cap {
			if c.cfg.DryRun {
				s.c.limitedDryRun++
				return true, nil
			}
			return false, nil
		}
		if k := len(s.free); k > 0 {
			e, s.free = s.free[k-1], s.free[:k-1]
		} else {
			e = &centry{}
		}
		s.m[key] = e
	}
	if e.n < c.max && e.head == nil {
		e.n++
		s.c.inFlight++
		s.c.allowed++
		return true, e
	}
	if c.cfg.DryRun {
		e.n++
		s.c.inFlight++
		s.c.limitedDryRun++
		return true, e
	}
	return false, e
}

// Acquire takes a slot for key. In Reject mode it is TryAcquire, returning
// a *LimitError wrapping ErrConcurrency when no slot is free. In Queue mode
// it waits in arrival order for up to MaxWait (error wrapping ErrMaxWait)
// behind at most MaxQueue others (else ErrQueueFull); if ctx is done first
// it leaves the queue and returns ctx.Err().
func (c *Concurrency) Acquire(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	key = normKey(key)
	s := c.shard(key)
	s.mu.Lock()
	ok, e := c.try(s, key)
	if ok {
		s.mu.Unlock()
		return nil
	}
	if e == nil || c.cfg.Mode != Queue {
		s.c.rejected++
		s.mu.Unlock()
		return &LimitError{RetryAfter: c.retry, Err: ErrConcurrency}
	}
	if e.nq >= c.maxQ {
		s.c.rejected++
		s.c.queueRejected++
		s.mu.Unlock()
		return &LimitError{RetryAfter: c.retry, Err: ErrQueueFull}
	}
	w := &cwaiter{ch: make(chan struct{}, 1), prev: e.tail}
	if e.tail != nil {
		e.tail.next = w
	} else {
		e.head = w
	}
	e.tail = w
	e.nq++
	s.c.queued++
	s.c.waiting++
	s.mu.Unlock()

	timer := time.NewTimer(c.maxW)
	defer timer.Stop()
	var err error
	select {
	case <-w.ch:
		return nil
	case <-ctx.Done():
		err = ctx.Err()
	case <-timer.C:
		err = &LimitError{RetryAfter: c.retry, Err: ErrMaxWait}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if w.granted { // the slot arrived as we gave up: pass it on
		c.release(s, key, e)
	} else {
		e.unlink(w)
		s.c.waiting--
		c.drop(s, key, e)
	}
	if _, ok := err.(*LimitError); ok {
		s.c.queueExpired++
		s.c.rejected++
	} else {
		s.c.cancelled++
	}
	return err
}

// Release frees a slot of key taken by TryAcquire or Acquire, handing it
// to the first queued request of key if any.
func (c *Concurrency) Release(key string) {
	key = normKey(key)
	s := c.shard(key)
	s.mu.Lock()
	if e := s.m[key]; e != nil {
		c.release(s, key, e)
	}
	s.mu.Unlock()
}

// release is Release with s.mu held.
func (c *Concurrency) release(s *cshard, key string, e *centry) {
	if w := e.head; w != nil {
		e.unlink(w)
		s.c.waiting--
		w.granted = true
		w.ch <- struct{}{}
		s.c.allowed++
		return
	}
	if e.n > 0 {
		e.n--
		s.c.inFlight--
	}
	c.drop(s, key, e)
}

// drop deletes an unused entry. s.mu must be held.
func (c *Concurrency) drop(s *cshard, key string, e *centry) {
	if e.n == 0 && e.nq == 0 {
		delete(s.m, key)
		if len(s.free) < 64 {
			*e = centry{}
			s.free = append(s.free, e)
		}
	}
}

func (e *centry) unlink(w *cwaiter) {
	if w.prev != nil {
		w.prev.next = w.next
	} else {
		e.head = w.next
	}
	if w.next != nil {
		w.next.prev = w.prev
	} else {
		e.tail = w.prev
	}
	w.prev, w.next = nil, nil
	e.nq--
}

// InFlight returns the number of requests of key holding a slot.
func (c *Concurrency) InFlight(key string) int {
	key = normKey(key)
	s := c.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.m[key]; e != nil {
		return int(e.n)
	}
	return 0
}

// Queued returns the number of requests of key waiting for a slot.
func (c *Concurrency) Queued(key string) int {
	key = normKey(key)
	s := c.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.m[key]; e != nil {
		return int(e.nq)
	}
	return 0
}

// ConcurrencyStats are cumulative counters of a Concurrency limiter, plus
// its current key count.
type ConcurrencyStats struct {
	Allowed       uint64 // slots granted, at once or after queueing
	Rejected      uint64 // requests refused a slot
	LimitedDryRun uint64 // over Max but admitted because of DryRun
	Queued        uint64 // requests that had to wait
	QueueRejected uint64 // rejected because the queue was full
	QueueExpired  uint64 // gave up after MaxWait
	Cancelled     uint64 // left the queue because the caller cancelled
	Keys          int    // keys with requests in flight or queued now
	InFlight      int    // slots held now
	Waiting       int    // requests queued now
}

// Stats returns the limiter's counters.
func (c *Concurrency) Stats() ConcurrencyStats {
	var st ConcurrencyStats
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		k := s.c
		st.Keys += len(s.m)
		s.mu.Unlock()
		st.InFlight += int(k.inFlight)
		st.Waiting += int(k.waiting)
		st.Allowed += k.allowed
		st.Rejected += k.rejected
		st.LimitedDryRun += k.limitedDryRun
		st.Queued += k.queued
		st.QueueRejected += k.queueRejected
		st.QueueExpired += k.queueExpired
		st.Cancelled += k.cancelled
	}
	return st
}
