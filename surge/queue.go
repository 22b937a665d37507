package surge

import (
	"context"
	"fmt"
	"time"
)

// Priority orders requests when the limit is reached. Queued requests of a
// higher priority get freed slots first, and a request arriving at a full
// queue displaces the newest-served waiter of a lower priority, which is
// shed (ErrEvicted); so under overload Low sheds first and High last.
// Exempt requests bypass the limiter entirely: use it for health,
// readiness and admin endpoints, which must answer during a surge.
//
// Whoever sets a request's priority must be trusted: see
// MiddlewareConfig.Priority.
type Priority int8

const (
	// Normal is the default priority.
	Normal Priority = iota
	// Low sheds first: batch jobs, prefetches, retries of idempotent work.
	Low
	// High sheds last: traffic from trusted callers that must get through.
	High
	// Exempt is never limited, queued, counted or shed.
	Exempt
)

// String returns "normal", "low", "high" or "exempt".
func (p Priority) String() string {
	switch p {
	case Normal:
		return "normal"
	case Low:
		return "low"
	case High:
		return "high"
	case Exempt:
		return "exempt"
	}
	return fmt.Sprintf("Priority(%d)", int8(p))
}

// level returns p's queue index, 0 lowest; unknown values count as Normal.
func (p Priority) level() int {
	switch p {
	case Low:
		return 0
	case High:
		return 2
	}
	return 1
}

// waiter is one request queued in Acquire.
type waiter struct {
	ch       chan struct{} // buffered; signalled once, under qmu, when admitted or evicted
	level    int
	admitted bool // guarded by qmu
	evicted  bool // guarded by qmu
	low      bool // admitted while fewer than MinLimit were in flight
}

// waitQueue holds the queued waiters by priority level. Every operation
// needs the Limiter's qmu.
type waitQueue struct {
	levels [3][]*waiter
	n      int
}

func (q *waitQueue) push(w *waiter) {
	q.levels[w.level] = append(q.levels[w.level], w)
	q.n++
}

// take removes and returns the i-th waiter of level lv.
func (q *waitQueue) take(lv, i int) *waiter {
	s := q.levels[lv]
	w := s[i]
	copy(s[i:], s[i+1:])
	s[len(s)-1] = nil
	q.levels[lv] = s[:len(s)-1]
	q.n--
	return w
}

// next removes and returns the waiter to serve next: from the highest
// level, the oldest (FIFO) or the newest (LIFO). The queue is not empty.
func (q *waitQueue) next(o Order) *waiter {
	for lv := len(q.levels) - 1; ; lv-- {
		if s := q.levels[lv]; len(s) > 0 {
			if o == LIFO {
				return q.take(lv, len(s)-1)
			}
			return q.take(lv, 0)
		}
	}
}

// evict removes and returns the waiter of the lowest level below lv that
// would be served last in that level, or nil if there is none.
func (q *waitQueue) evict(lv int, o Order) *waiter {
	for i := 0; i < lv; i++ {
		if s := q.levels[i]; len(s) > 0 {
			if o == LIFO {
				return q.take(i, 0)
			}
			return q.take(i, len(s)-1)
		}
	}
	return nil
}

// remove removes w, which must be queued.
func (q *waitQueue) remove(w *waiter) {
	for i, x := range q.levels[w.level] {
		if x == w {
			q.take(w.level, i)
			return
		}
	}
}

// Acquire admits a request of priority p, waiting in the queue when the
// limit is reached: up to MaxWait, or until ctx is done. A waiting request
// gets the next freed slot by priority and then in Order. It returns a
// *ShedError wrapping ErrLimit when the queue is full of requests of
// priority p or higher (or MaxQueue is negative), ErrMaxWait after
// MaxWait, ErrEvicted when a higher-priority request took its place, and
// ctx.Err() when ctx ended first. Exempt requests get a zero Token at
// once. The fast path (a slot free, nobody queued) allocates nothing;
// waiting allocates a timer.
func (l *Limiter) Acquire(ctx context.Context, p Priority) (Token, error) {
	if p == Exempt {
		return Token{}, nil
	}
	l.arrivals.Add(1)
	if l.waiting.Load() == 0 {
		if n, ok := l.tryInc(); ok {
			return Token{l: l, start: time.Now(), low: n < l.minInt}, nil
		}
	}
	if l.maxQueue == 0 {
		l.shed.Add(1)
		return Token{}, &l.shedError[0]
	}
	lv := p.level()
	l.qmu.Lock()
	// Announce the wait before trying again: a release that freed a slot
	// after the try above either sees waiting > 0 and hands the slot over,
	// or freed it before this try, which then takes it.
	l.waiting.Add(1)
	if n, ok := l.tryInc(); ok {
		l.waiting.Add(-1)
		l.qmu.Unlock()
		return Token{l: l, start: time.Now(), low: n < l.minInt}, nil
	}
	if l.queue.n >= l.maxQueue {
		v := l.queue.evict(lv, l.order)
		if v == nil {
			l.waiting.Add(-1)
			l.qmu.Unlock()
			l.shed.Add(1)
			return Token{}, &l.shedError[0]
		}
		v.evicted = true
		l.waiting.Add(-1)
		v.ch <- struct{}{}
	}
	w := &waiter{ch: make(chan struct{}, 1), level: lv}
	l.queue.push(w)
	l.qmu.Unlock()

	timer := time.NewTimer(l.maxWait)
	defer timer.Stop()
	var cause error
	select {
	case <-w.ch:
	case <-timer.C:
		cause = &l.shedError[1]
	case <-ctx.Done():
		cause = ctx.Err()
	}
	if cause != nil {
		l.qmu.Lock()
		if !w.admitted && !w.evicted {
			l.queue.remove(w)
			l.waiting.Add(-1)
			l.qmu.Unlock()
			l.shed.Add(1)
			if cause == &l.shedError[1] {
				l.timedOut.Add(1)
			}
			return Token{}, cause
		}
		l.qmu.Unlock()
		<-w.ch // sent under qmu before the flags were visible
	}
	if w.evicted {
		l.shed.Add(1)
		return Token{}, &l.shedError[2]
	}
	return Token{l: l, start: time.Now(), low: w.low, queued: true}, nil
}

// handOff gives free slots to queued requests.
func (l *Limiter) handOff() {
	l.qmu.Lock()
	defer l.qmu.Unlock()
	for l.queue.n > 0 {
		n, ok := l.tryInc()
		if !ok {
			return
		}
		w := l.queue.next(l.order)
		l.waiting.Add(-1)
		w.admitted, w.low = true, n < l.minInt
		w.ch <- struct{}{}
	}
}
