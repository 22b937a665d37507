package cache

import (
	"context"
	"time"
)

// A flight is an upstream request in progress that others may wait for.
type flight struct {
	done chan struct{}
	// resp is the shareable response, set before done is closed; nil when
	// the response may not be shared.
	resp *Response
	// staleError is set when resp is a stale response served because the
	// upstream failed (stale-if-error).
	staleError bool
	// seq orders flights by their start: a flight with a greater seq than
	// c.flightSeq read by a request started after that request arrived.
	seq uint64
	// next is the flight started for the same key by a request that waited
	// for this one to land (joinAfter); guarded by c.mu.
	next *flight
}

// newFlightLocked starts a flight for key; c.mu must be held.
func (c *Cache) newFlightLocked(key string) *flight {
	f := &flight{done: make(chan struct{}), seq: c.flightSeq.Add(1)}
	c.flights[key] = f
	return f
}

// join returns the flight for key, creating it (leader true) if none exists.
func (c *Cache) join(key string) (f *flight, leader bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if f, ok := c.flights[key]; ok {
		return f, false
	}
	return c.newFlightLocked(key), true
}

// joinAfter is join for a request that may only use a response obtained
// after it arrived (request no-cache): arrival is c.flightSeq read when it
// arrived. A flight for key that started before is returned as older, to
// be waited for; then joinAfter is called again with it, and joins the
// flight started after older landed, even if that one has landed too.
func (c *Cache) joinAfter(key string, arrival uint64, waited *flight) (f *flight, leader bool, older *flight) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if waited != nil && waited.next != nil {
		return waited.next, false, nil
	}
	if f, ok := c.flights[key]; ok {
		if f.seq > arrival {
			return f, false, nil
		}
		return nil, false, f
	}
	f = c.newFlightLocked(key)
	if waited != nil {
		waited.next = f
	}
	return f, true, nil
}

// land completes f with resp (nil when not shareable) and wakes its
// waiters; staleError says resp is stale and served because upstream failed.
func (c *Cache) land(key string, f *flight, resp *Response, staleError bool) {
	c.mu.Lock()
	if c.flights[key] == f {
		delete(c.flights, key)
	}
	c.mu.Unlock()
	f.resp, f.staleError = resp, staleError
	close(f.done)
}

// await waits for f, at most the coalescing timeout or until ctx ends, and
// returns the flight's shareable response, if any.
func (c *Cache) await(ctx context.Context, f *flight) (*Response, bool) {
	if !c.waitLanded(ctx, f) {
		return nil, false
	}
	return f.resp, f.resp != nil
}

// waitLanded waits for f to land, at most the coalescing timeout or until
// ctx ends, and reports whether it landed.
func (c *Cache) waitLanded(ctx context.Context, f *flight) bool {
	if c.waitHook != nil {
		c.waitHook()
	}
	t := time.NewTimer(c.cfg.CoalesceTimeout)
	defer t.Stop()
	select {
	case <-f.done:
		return true
	case <-t.C:
	case <-ctx.Done():
	}
	return false
}

// goBackground runs fn in an owned goroutine if the revalidation bound
// allows and no flight for key is in progress; fn must land the flight.
// It reports whether fn was started.
func (c *Cache) goBackground(key string, fn func(ctx context.Context, f *flight)) bool {
	select {
	case c.bgSem <- struct{}{}:
	default:
		return false
	}
	c.mu.Lock()
	if c.closed.Load() {
		c.mu.Unlock()
		<-c.bgSem
		return false
	}
	if _, busy := c.flights[key]; busy {
		c.mu.Unlock()
		<-c.bgSem
		return false
	}
	f := c.newFlightLocked(key)
	c.bg.Add(1)
	c.bgRunning++
	c.mu.Unlock()
	go func() {
		defer c.bg.Done()
		defer func() {
			c.mu.Lock()
			if c.bgRunning--; c.bgRunning == 0 {
				c.bgIdle.Broadcast()
			}
			c.mu.Unlock()
		}()
		defer func() { <-c.bgSem }()
		ctx, cancel := context.WithTimeout(c.bgCtx, c.cfg.RevalidateTimeout)
		defer cancel()
		fn(ctx, f)
	}()
	return true
}
