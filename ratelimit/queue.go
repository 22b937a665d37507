package ratelimit

import (
	"context"
	"time"
)

// A Ticket is a request waiting in a key's queue (Queue mode). Only the
// ticket at the head of the queue can take a token, and a request that
// arrives while a key has a queue joins its tail, so requests are admitted
// in arrival order. A ticket holds no token while it waits: cancelling it
// leaves every token to the requests behind it.
//
// Ticket methods are safe for concurrent use. Wait drives a ticket with
// real timers; PollAt and CancelAt drive it with explicit times. A ticket
// still queued at its deadline (arrival + MaxWait + 100ms of grace for
// late timers) is dropped from the queue by the next operation on its
// key, so a forgotten ticket cannot hold up the requests behind it. (No
// ticket is queued whose wait is expected to exceed MaxWait: that is
// checked on arrival.)
type Ticket struct {
	l        *Limiter
	s        *shard
	e        *entry
	key      string // e's key when t was created: e may be evicted and reused
	link     links[*Ticket]
	deadline int64
	// wake receives a signal when the ticket may be able to proceed
	// earlier than its last computed wait: it became the head, or a token
	// was given back.
	wake  chan struct{}
	state ticketState
	d     Decision
}

type ticketState int8

const (
	queued ticketState = iota
	admitted
	cancelled
	expired
)

// ReserveAt asks for a token for key at now without blocking. It returns
// (nil, d, nil) with d.Allowed when the request is admitted at once (the
// key has no queue and a token), a ticket and d.Queued when the request
// must wait (d.RetryAfter is the expected wait), or a *LimitError when it
// is rejected: the key is blocked (ErrBlocked), its queue holds MaxQueue
// tickets (ErrQueueFull) or the wait would exceed MaxWait (ErrMaxWait). In
// dry-run mode it never queues or rejects: it behaves as AllowAt. It works
// in either Mode.
func (l *Limiter) ReserveAt(key string, now time.Time) (*Ticket, Decision, error) {
	return l.reserve(key, now, false)
}

// Reserve is ReserveAt at the current time, read under the key's lock.
func (l *Limiter) Reserve(key string) (*Ticket, Decision, error) {
	return l.reserve(key, time.Time{}, true)
}

func (l *Limiter) reserve(key string, now time.Time, clock bool) (*Ticket, Decision, error) {
	if l.cfg.DryRun {
		return nil, l.allow(key, now, clock), nil
	}
	key = normKey(key)
	s := l.tab.shardFor(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if clock {
		now = time.Now()
	}
	n := l.ns(now)
	e := l.tab.get(s, key, n)
	defer s.touch(e)
	e.purge(n)
	if e.until > n || (e.q.empty() && l.due(e, n, 1) <= 0) {
		d := l.decide(s, e, n)
		if !d.Allowed {
			return nil, d, l.limitErr(d, ErrLimited)
		}
		return nil, d, nil
	}
	w := l.due(e, n, int64(e.nq)+1)
	var cause error
	switch {
	case e.nq >= l.maxQ:
		cause = ErrQueueFull
	case w > l.maxW:
		cause = ErrMaxWait
	}
	if cause != nil {
		s.c.queueRejected++
		d := l.limited(s, e, n, Decision{RetryAfter: time.Duration(w), Policy: l.worst(e, n)})
		return nil, d, l.limitErr(d, cause)
	}
	t := &Ticket{l: l, s: s, e: e, key: key, deadline: n + l.maxW + int64(pollGrace), wake: make(chan struct{}, 1)}
	e.q.push(t)
	e.nq++
	s.c.queued++
	s.c.waiting++
	return t, Decision{Limited: true, Queued: true, RetryAfter: time.Duration(w), Policy: l.worst(e, n)}, nil
}

// limitErr returns the error for a rejection d with the given cause
// (ErrBlocked when d was blocked).
func (l *Limiter) limitErr(d Decision, cause error) *LimitError {
	if d.Blocked {
		cause = ErrBlocked
	}
	return &LimitError{RetryAfter: d.RetryAfter, Err: cause}
}

// due returns how long from n until k more tokens are available in every
// policy of e (zero or negative: now).
func (l *Limiter) due(e *entry, n, k int64) int64 {
	var w int64
	for i, p := range l.pols() {
		if k > maxSpan/p.interval { // far beyond any MaxWait; avoid overflow
			return maxSpan
		}
		w = max(w, max(e.tat[i], n)+k*p.interval-p.tau-n)
	}
	return w
}

// PollAt tries to admit t at now. It returns ok when t took its token (at
// this call or an earlier one); an error (*LimitError wrapping ErrMaxWait)
// when t left the queue because its token cannot be due within MaxWait of
// its arrival; otherwise the time after which to poll again (t's wake
// channel may fire sooner, see Wait).
func (t *Ticket) PollAt(now time.Time) (ok bool, wait time.Duration, err error) {
	return t.poll(now, false)
}

// Poll is PollAt at the current time, read under the key's lock.
func (t *Ticket) Poll() (ok bool, wait time.Duration, err error) {
	return t.poll(time.Time{}, true)
}

func (t *Ticket) poll(now time.Time, clock bool) (bool, time.Duration, error) {
	l, s, e := t.l, t.s, t.e
	s.mu.Lock()
	defer s.mu.Unlock()
	if clock {
		now = time.Now()
	}
	n := l.ns(now)
	defer s.touch(e)
	switch t.state {
	case admitted:
		return true, 0, nil
	case cancelled:
		return false, 0, context.Canceled
	case expired:
		return false, 0, &LimitError{RetryAfter: time.Duration(l.pols()[0].interval), Err: ErrMaxWait}
	}
	e.purge(n)
	if t.state == expired {
		return false, 0, &LimitError{RetryAfter: time.Duration(max(l.due(e, n, int64(e.nq)+1), 1)), Err: ErrMaxWait}
	}
	if e.q.head != t {
		if n >= t.deadline {
			return false, 0, t.expire(n)
		}
		return false, time.Duration(t.deadline - n), nil
	}
	w := l.due(e, n, 1)
	if w <= 0 {
		l.take(e, n)
		e.strikes = 0
		s.c.allowed++
		t.unlink()
		t.state = admitted
		t.d = Decision{Allowed: true, Limited: true, Policy: l.worst(e, n)}
		t.d.Remaining, t.d.Reset = l.state(e, t.d.Policy, n)
		return true, 0, nil
	}
	if n+w > t.deadline {
		return false, 0, t.expire(n)
	}
	return false, time.Duration(w), nil
}

// pollGrace is how late after its MaxWait a ticket may still poll: a
// timer firing a little late must not turn a due request into a 429.
const pollGrace = 100 * time.Millisecond

// purge expires the tickets at the head of e's queue whose deadline has
// passed: their owners stopped polling (a forgotten ReserveAt ticket, a
// stalled goroutine) and must not hold up the queue. s.mu must be held.
func (e *entry) purge(n int64) {
	for !e.q.empty() && e.q.head.deadline <= n {
		e.q.head.expire(n)
	}
}

// expire removes t from its queue as expired. s.mu must be held.
func (t *Ticket) expire(n int64) error {
	t.unlink()
	t.state = expired
	t.s.c.queueExpired++
	t.s.c.rejected++
	return &LimitError{RetryAfter: time.Duration(max(t.l.due(t.e, n, int64(t.e.nq)+1), 1)), Err: ErrMaxWait}
}

// CancelAt withdraws t at now: a queued ticket leaves the queue (the
// requests behind it move up), an admitted one gives its token back. It is
// a no-op on a ticket already cancelled or expired.
func (t *Ticket) CancelAt(now time.Time) {
	t.s.mu.Lock()
	defer t.s.mu.Unlock()
	t.cancel(t.l.ns(now))
	t.s.touch(t.e)
}

// Cancel is CancelAt at the current time, read under the key's lock.
func (t *Ticket) Cancel() {
	t.s.mu.Lock()
	defer t.s.mu.Unlock()
	t.cancel(t.l.ns(time.Now()))
	t.s.touch(t.e)
}

// cancel is CancelAt with t.s.mu held.
func (t *Ticket) cancel(n int64) {
	switch t.state {
	case queued:
		t.unlink()
		t.s.c.cancelled++
	case admitted:
		// Once t left the queue its entry may have been evicted and reused
		// for another key: give the token back only if it is still t's.
		if t.s.m[t.key] == t.e {
			t.l.give(t.e, n)
			t.e.wakeHead()
		}
	default:
		return
	}
	t.state = cancelled
}

// links returns t's place in its key's queue.
func (t *Ticket) links() *links[*Ticket] { return &t.link }

// unlink removes t from its entry's queue and wakes the next head.
func (t *Ticket) unlink() {
	t.s.c.waiting--
	t.e.nq--
	if t.e.q.remove(t) {
		t.e.wakeHead()
	}
}

// wakeHead signals the head ticket of e, if any, to poll again.
func (e *entry) wakeHead() {
	if !e.q.empty() {
		select {
		case e.q.head.wake <- struct{}{}:
		default:
		}
	}
}

// Wait blocks until a request for key may proceed, in arrival order behind
// the key's other queued requests, and returns nil; the clock is read under
// the key's lock. It returns a *LimitError at once when the request is
// rejected (see ReserveAt) or when its expected wait outlasts ctx's
// deadline (the error then wraps context.DeadlineExceeded). If ctx is done
// first it leaves the queue, giving its place to the requests behind it,
// and returns ctx.Err(). It works in either Mode.
func (l *Limiter) Wait(ctx context.Context, key string) error {
	_, err := l.wait(ctx, key)
	return err
}

func (l *Limiter) wait(ctx context.Context, key string) (Decision, error) {
	if err := ctx.Err(); err != nil {
		return Decision{}, err
	}
	t, d, err := l.Reserve(key)
	if err != nil || t == nil {
		return d, err
	}
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < d.RetryAfter {
		t.s.mu.Lock()
		if t.state == queued {
			t.unlink()
			t.state = expired
			t.s.c.queueExpired++
			t.s.c.rejected++
			t.s.touch(t.e)
		}
		t.s.mu.Unlock()
		return d, &LimitError{RetryAfter: d.RetryAfter, Err: context.DeadlineExceeded}
	}
	timer := time.NewTimer(d.RetryAfter)
	defer timer.Stop()
	for {
		ok, w, err := t.Poll()
		if ok {
			return t.d, nil
		}
		if err != nil {
			return d, err
		}
		timer.Reset(w)
		select {
		case <-ctx.Done():
			t.Cancel()
			return d, ctx.Err()
		case <-t.wake:
		case <-timer.C:
		}
	}
}
