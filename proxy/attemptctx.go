package proxy

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// attemptCtx is the context of one attempt: the exchange's base context
// with the route's deadline, which cancel ends on its own. To whatever
// uses it, it is the context context.WithDeadline(base, deadline) returns
// (context.WithCancel(base) without a deadline), but that context is made
// only when something needs it: its Done channel, a context derived from
// it (which asks for Done), or its cause. Until then Err and Deadline are
// computed, and Value is base's. One difference remains: when the
// deadline passes and base ends, both before anything asks, Err reports
// base's error, where context.WithDeadline reports the first of the two.
//
// The proxy's own HTTP/1 pool never needs it: it watches the attempt with
// watch. cancel runs the watch's function itself, the connection enforces
// the deadline with a timer of its own, and registers the function with
// base (the client going away) only for an exchange that runs long (see
// h1Conn.watch). A request served that way costs no context, timer or
// registration of its own (the exchange holds its first attemptCtx).
type attemptCtx struct {
	base     context.Context
	deadline time.Time // the route's deadline, zero for none

	made atomic.Pointer[madeCtx] // &m once the real context is made
	m    madeCtx

	mu       sync.Mutex
	canceled bool        // cancel ran before the real context was made
	watcher  func()      // watch's function, until unwatch or cancel takes it
	stopBase func() bool // stops watcher's registration with base, if made
}

// madeCtx is an attemptCtx's real context and its cancel function.
type madeCtx struct {
	ctx    context.Context
	cancel context.CancelFunc
}

// newAttemptCtx returns the attempt context of base with deadline, made
// at the time now (see init).
func newAttemptCtx(base context.Context, deadline, now time.Time) *attemptCtx {
	a := new(attemptCtx)
	a.init(base, deadline, now)
	return a
}

// init makes a, a zero attemptCtx, the context of base with deadline,
// made at the time now. One that has ended by then (its deadline has
// passed, or base has ended) gets its real context at once, so that it
// reports what context.WithDeadline would from the start.
func (a *attemptCtx) init(base context.Context, deadline, now time.Time) {
	a.base, a.deadline = base, deadline
	if a.endedAt(now) {
		a.real()
	}
}

// real returns the context a stands for, made on first use.
func (a *attemptCtx) real() context.Context {
	if m := a.made.Load(); m != nil {
		return m.ctx
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.makeLocked().ctx
}

// makeLocked makes the real context if it is not made yet.
func (a *attemptCtx) makeLocked() *madeCtx {
	if m := a.made.Load(); m != nil {
		return m
	}
	m := &a.m
	switch {
	case a.canceled:
		// Cancelled first: whatever base does since, its error and cause
		// are context.Canceled. (Deadline is a's own.)
		m.ctx, m.cancel = context.WithCancel(context.WithoutCancel(a.base))
		m.cancel()
	case a.deadline.IsZero():
		m.ctx, m.cancel = context.WithCancel(a.base)
	default:
		m.ctx, m.cancel = context.WithDeadline(a.base, a.deadline)
	}
	a.made.Store(m)
	return m
}

// Deadline returns the earlier of the route's deadline and base's, as
// context.WithDeadline's context does.
func (a *attemptCtx) Deadline() (time.Time, bool) {
	d, ok := a.base.Deadline()
	if a.deadline.IsZero() || ok && d.Before(a.deadline) {
		return d, ok
	}
	return a.deadline, true
}

// Done returns the real context's Done channel, making it.
func (a *attemptCtx) Done() <-chan struct{} { return a.real().Done() }

// Err returns nil while a is live. Once it has ended, the error is the
// real context's (made then, so that Done and Cause agree with it), or
// context.Canceled when cancel ended it first.
func (a *attemptCtx) Err() error {
	if m := a.made.Load(); m != nil {
		return m.ctx.Err()
	}
	a.mu.Lock()
	canceled := a.canceled
	a.mu.Unlock()
	if canceled {
		return context.Canceled
	}
	if a.ended() {
		return a.real().Err()
	}
	return nil
}

// ended reports whether base has ended or the deadline has passed.
func (a *attemptCtx) ended() bool { return a.endedAt(time.Now()) }

// endedAt reports whether base has ended or the deadline has passed by
// the time now.
func (a *attemptCtx) endedAt(now time.Time) bool {
	return endErr(a.base, a.deadline, now) != nil
}

// endErr returns why a context of base with deadline (zero for none) has
// ended by the time now: base's error, or context.DeadlineExceeded once
// the deadline has passed; nil while it lives. An attempt's own cancel is
// not counted: it ends the attempt, not the request.
func endErr(base context.Context, deadline, now time.Time) error {
	if err := base.Err(); err != nil {
		return err
	}
	if pastDeadline(deadline, now) {
		return context.DeadlineExceeded
	}
	return nil
}

// pastDeadline reports whether deadline, zero for none, has passed by the
// time now.
func pastDeadline(deadline, now time.Time) bool {
	return !deadline.IsZero() && !now.Before(deadline)
}

// Value returns base's value for key. The context package's own key (a
// *int) asks for the real context, whose answer context.Cause and the
// contexts derived from a rely on.
func (a *attemptCtx) Value(key any) any {
	if _, ok := key.(*int); ok {
		return a.real().Value(key)
	}
	return a.base.Value(key)
}

// String describes a for debugging.
func (a *attemptCtx) String() string { return "proxy.attemptCtx" }

// cancel ends a, and runs the watcher, if any. It may be called more than
// once.
func (a *attemptCtx) cancel() {
	a.mu.Lock()
	run := a.watcher
	if run != nil {
		a.watcher = nil
		if a.stopBase != nil && !a.stopBase() {
			run = nil // base's registration ran it
		}
		a.stopBase = nil
	}
	m := a.made.Load()
	if m == nil && a.ended() {
		m = a.makeLocked() // what ended a first is the real context's to say
	}
	if m == nil {
		a.canceled = true
	}
	a.mu.Unlock()
	if m != nil {
		m.cancel()
	}
	if run != nil {
		run()
	}
}

// watch registers f to run once when a ends: at once when cancel ends it,
// and, once watchBase registered it with base, when base ends. The
// route's deadline is the caller's to enforce. It returns false,
// registering nothing, when a has ended by the time now, its real context
// was made (the caller uses context.AfterFunc then), or another watch is
// registered.
func (a *attemptCtx) watch(f func(), now time.Time) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.watcher != nil || a.canceled || a.made.Load() != nil || a.endedAt(now) {
		return false
	}
	a.watcher = f
	return true
}

// watchBase registers the watch's function with base (context.AfterFunc),
// if a is still watched and it is not registered yet.
func (a *attemptCtx) watchBase() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.watcher != nil && a.stopBase == nil {
		a.stopBase = context.AfterFunc(a.base, a.watcher)
	}
}

// unwatch removes the watch. It reports whether its function had not run
// and will not run (false once cancel took the watch: it ran the function,
// or base's registration did).
func (a *attemptCtx) unwatch() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.watcher == nil {
		return false
	}
	a.watcher = nil
	ok := a.stopBase == nil || a.stopBase()
	a.stopBase = nil
	return ok
}
