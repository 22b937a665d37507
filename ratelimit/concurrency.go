package ratelimit

import (
	"cmp"
	"context"
	"fmt"
	"hash/maphash"
	"net/http"
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
// usable: create one with NewConcurrency. Every successful TryAcquire,
// Acquire or admitted ConcurrencyTicket must be matched by exactly one
// Release of the same key (for a ticket: one Release or one Cancel).
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
	keyShard[centry] // its mu also protects free and every ticket
	free             []*centry
	_                [64]byte
}

// centry exists only while its key has requests in flight or queued.
type centry struct {
	n, nq int32 // slots held, tickets queued
	q     fifo[*ConcurrencyTicket]
}

// A ConcurrencyTicket is a request waiting for a slot of a Concurrency
// limiter in Queue mode. Slots are handed to tickets in arrival order as
// Release frees them. Acquire drives a ticket with real timers; PollAt
// drives it with explicit times, so tests and callers with their own
// scheduling need no clock. Its methods are safe for concurrent use.
type ConcurrencyTicket struct {
	c        *Concurrency
	s        *cshard
	e        *centry
	key      string
	link     links[*ConcurrencyTicket]
	deadline time.Time
	// ready receives once, when a slot is handed to the ticket.
	ready chan struct{}
	state ticketState
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
	cfg.Name = cmp.Or(cfg.Name, "concurrency")
	if err := (Rate{Count: 1, Per: 1, Name: cfg.Name}).validate(); err != nil {
		return nil, err
	}
	c := &Concurrency{cfg: cfg, max: int32(min(cfg.Max, 1<<30)), maxQ: int32(cmp.Or(cfg.MaxQueue, 100)),
		maxW: cmp.Or(cfg.MaxWait, time.Second), retry: cmp.Or(cfg.RetryAfter, time.Second), seed: maphash.MakeSeed()}
	maxKeys := cmp.Or(cfg.MaxKeys, 100_000)
	n := shardCount(maxKeys)
	c.mask = uint64(n - 1)
	c.shards = make([]cshard, n)
	for i := range c.shards {
		c.shards[i].m = make(map[string]*centry)
		c.shards[i].cap = shardCap(maxKeys, n, i)
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
	if e.n < c.max && e.q.empty() {
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

// ReserveAt asks for a slot for key at now without blocking. It returns
// (nil, nil) when a slot was taken at once; a ticket when the request must
// wait in the queue (Queue mode) until a Release hands it a slot or now +
// MaxWait passes; or a *LimitError: ErrConcurrency when no slot is free in
// Reject mode or the key table is full, ErrQueueFull when MaxQueue
// requests of key already wait.
func (c *Concurrency) ReserveAt(key string, now time.Time) (*ConcurrencyTicket, error) {
	key = normKey(key)
	s := c.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	ok, e := c.try(s, key)
	switch {
	case ok:
		return nil, nil
	case e == nil || c.cfg.Mode != Queue:
		s.c.rejected++
		return nil, &LimitError{RetryAfter: c.retry, Err: ErrConcurrency}
	case e.nq >= c.maxQ:
		s.c.rejected++
		s.c.queueRejected++
		return nil, &LimitError{RetryAfter: c.retry, Err: ErrQueueFull}
	}
	t := &ConcurrencyTicket{c: c, s: s, e: e, key: key, deadline: now.Add(c.maxW), ready: make(chan struct{}, 1)}
	e.q.push(t)
	e.nq++
	s.c.queued++
	s.c.waiting++
	return t, nil
}

// Reserve is ReserveAt at the current time.
func (c *Concurrency) Reserve(key string) (*ConcurrencyTicket, error) {
	return c.ReserveAt(key, time.Now())
}

// links returns t's place in its key's queue.
func (t *ConcurrencyTicket) links() *links[*ConcurrencyTicket] { return &t.link }

// Ready returns a channel that receives a value when a slot is handed to
// t; PollAt then reports it.
func (t *ConcurrencyTicket) Ready() <-chan struct{} { return t.ready }

// PollAt reports at now whether t holds a slot (ok; the caller must then
// Release it). If not, and MaxWait has passed since t was reserved, t
// leaves the queue and PollAt returns a *LimitError wrapping ErrMaxWait;
// otherwise it returns how long until that deadline. A cancelled ticket
// returns context.Canceled.
func (t *ConcurrencyTicket) PollAt(now time.Time) (ok bool, wait time.Duration, err error) {
	s := t.s
	s.mu.Lock()
	defer s.mu.Unlock()
	switch t.state {
	case admitted:
		return true, 0, nil
	case cancelled:
		return false, 0, context.Canceled
	case expired:
		return false, 0, &LimitError{RetryAfter: t.c.retry, Err: ErrMaxWait}
	}
	if now.Before(t.deadline) {
		return false, t.deadline.Sub(now), nil
	}
	t.e.q.remove(t)
	t.e.nq--
	s.c.waiting--
	t.state = expired
	s.c.queueExpired++
	s.c.rejected++
	t.c.drop(s, t.key, t.e)
	return false, 0, &LimitError{RetryAfter: t.c.retry, Err: ErrMaxWait}
}

// Poll is PollAt at the current time.
func (t *ConcurrencyTicket) Poll() (ok bool, wait time.Duration, err error) {
	return t.PollAt(time.Now())
}

// Cancel withdraws t: a queued ticket leaves the queue, and a slot already
// handed to it passes to the next request in line (or is freed). It is a
// no-op on a ticket that expired or was cancelled; after Cancel the
// caller must not Release t's slot.
func (t *ConcurrencyTicket) Cancel() {
	s := t.s
	s.mu.Lock()
	defer s.mu.Unlock()
	switch t.state {
	case queued:
		t.e.q.remove(t)
		t.e.nq--
		s.c.waiting--
		t.c.drop(s, t.key, t.e)
	case admitted:
		t.c.release(s, t.key, t.e)
	default:
		return
	}
	t.state = cancelled
	s.c.cancelled++
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
	t, err := c.Reserve(key)
	if t == nil {
		return err
	}
	timer := time.NewTimer(c.maxW)
	defer timer.Stop()
	for {
		select {
		case <-t.ready:
		case <-ctx.Done():
			t.Cancel()
			return ctx.Err()
		case <-timer.C:
		}
		ok, wait, err := t.Poll()
		if ok || err != nil {
			return err
		}
		timer.Reset(wait) // the timer fired a little early
	}
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
	if t := e.q.head; t != nil {
		e.q.remove(t)
		e.nq--
		s.c.waiting--
		t.state = admitted
		t.ready <- struct{}{}
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
	if e.n == 0 && e.q.empty() {
		delete(s.m, key)
		if len(s.free) < 64 {
			*e = centry{}
			s.free = append(s.free, e)
		}
	}
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

// Stats returns the limiter's counters. It locks each shard in turn.
func (c *Concurrency) Stats() ConcurrencyStats {
	k, keys := total(c.shards)
	return ConcurrencyStats{
		Allowed: k.allowed, Rejected: k.rejected, LimitedDryRun: k.limitedDryRun,
		Queued: k.queued, QueueRejected: k.queueRejected, QueueExpired: k.queueExpired, Cancelled: k.cancelled,
		Keys: keys, InFlight: int(k.inFlight), Waiting: int(k.waiting),
	}
}
