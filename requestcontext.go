package gatekit

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
)

// requestContext is the context of a request on the Server's own HTTP/1
// loop: the connection context's values and deadline, done once cancel is
// called (the handler returned, the client went away, or the connection's
// context is done). It does what context.WithCancel does for the loop
// without WithCancel's two allocations and its walks up the chain of
// parent contexts when it is made and cancelled: it is made with the
// request's response in one allocation, and its parent, the connection's
// context, is watched once per connection (see http1Conn.serve), not per
// request.
//
// It implements AfterFunc, which context.WithCancel and the like use to
// register a context derived from it, instead of starting a goroutine per
// derived context to wait for it.
type requestContext struct {
	context.Context // the connection's context: values and deadline

	done atomic.Value // of chan struct{}: made by the first Done, or closedChan when cancelled first

	mu    sync.Mutex // guards err and after, and the making of done
	err   error
	after []*afterFunc // registered by AfterFunc, not yet run or stopped
}

// afterFunc is one function registered by requestContext.AfterFunc; ended
// (guarded by the context's mu) is set when it is run or stopped.
type afterFunc struct {
	f     func()
	ended bool
}

// closedChan is the Done channel of a context cancelled before anyone
// asked for its channel.
var closedChan = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

// Done returns a channel closed when the request's context is done.
func (c *requestContext) Done() <-chan struct{} {
	if d := c.done.Load(); d != nil {
		return d.(chan struct{})
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	d, _ := c.done.Load().(chan struct{})
	if d == nil {
		d = make(chan struct{})
		c.done.Store(d)
	}
	return d
}

// Err returns nil until the context is done, then why.
func (c *requestContext) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// AfterFunc arranges for f to run in its own goroutine once the context
// is done (at once if it is), as context.AfterFunc does; stop keeps f from
// running and reports whether it did.
func (c *requestContext) AfterFunc(f func()) (stop func() bool) {
	a := &afterFunc{f: f}
	c.mu.Lock()
	if c.err != nil {
		a.ended = true
		c.mu.Unlock()
		go f()
	} else {
		c.after = append(c.after, a)
		c.mu.Unlock()
	}
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		if a.ended {
			return false
		}
		a.ended = true
		c.after = slices.DeleteFunc(c.after, func(x *afterFunc) bool { return x == a })
		return true
	}
}

// cancel makes the context done with err, unless it is already; functions
// registered by AfterFunc then run.
func (c *requestContext) cancel(err error) {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return
	}
	c.err = err
	if d, _ := c.done.Load().(chan struct{}); d == nil {
		c.done.Store(closedChan)
	} else {
		close(d)
	}
	after := c.after
	c.after = nil
	for _, a := range after {
		a.ended = true
	}
	c.mu.Unlock()
	for _, a := range after {
		go a.f()
	}
}

// String names the context, as the context package's own do.
func (c *requestContext) String() string { return "gatekit.requestContext" }
