package proxy

import (
	"context"
	"sync"
	"time"

	"github.com/gatekit/gatekit/balancer"
)

// connSet is the set of live guarded connections to one address.
type connSet struct {
	// mu guards m and draining.
	mu       sync.Mutex
	m        map[*guardConn]struct{}
	draining bool
}

func (s *connSet) add(c *guardConn) {
	s.mu.Lock()
	s.m[c] = struct{}{}
	s.mu.Unlock()
}

func (s *connSet) remove(c *guardConn) {
	s.mu.Lock()
	delete(s.m, c)
	s.mu.Unlock()
}

func (s *connSet) isDraining() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.draining
}

func (s *connSet) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}

// Close closes the connection and forgets it.
func (c *guardConn) Close() error {
	c.once.Do(func() { c.set.remove(c) })
	return c.Conn.Close()
}

// idle reports whether no request is in progress on c.
func (c *guardConn) idle() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return !c.tunnel && !c.inRequest && len(c.methods) == 0 && c.fr.Idle()
}

// forget drops the state kept for addr once its target is drained: its
// (empty) connection set and its quarantine flag. A connection dialled
// later registers a new set.
func (g *desyncGuard) forget(addr string, s *connSet) {
	s.mu.Lock()
	if len(s.m) == 0 {
		g.conns.CompareAndDelete(addr, s)
	}
	s.mu.Unlock()
	if _, ok := g.flags.LoadAndDelete(addr); ok {
		g.nflags.Add(-1)
	}
}

// drain marks addr draining and closes its idle connections; busy ones
// close when their response is complete.
func (g *desyncGuard) drain(addr string) *connSet {
	s := g.connSet(addr)
	s.mu.Lock()
	s.draining = true
	var idle []*guardConn
	for c := range s.m {
		idle = append(idle, c)
	}
	s.mu.Unlock()
	for _, c := range idle {
		if c.idle() {
			c.Close()
		}
	}
	return s
}

// drainPoll is how often Drain checks whether a target is drained.
const drainPoll = 5 * time.Millisecond

// Drain completes the removal of t from its pool (Pool.Remove, or DNS
// discovery): t's idle upstream connections are closed at once, each busy
// one as soon as its response is complete, and Drain waits until t has no
// request in flight and no connection open, or until ctx is done (it then
// returns ctx.Err(); the connections still close as they finish). Requests
// in flight to t complete normally. It needs the proxy's default
// transport; with Config.Transport it only waits for t's requests.
func (px *Proxy) Drain(ctx context.Context, t *balancer.Target) error {
	if t.Pool() != nil {
		if cur, ok := t.Pool().Lookup(t.ID()); ok && cur == t {
			return ErrTargetInPool
		}
	}
	var set *connSet
	addr := dialAddr(t.URL())
	if px.guard != nil {
		set = px.guard.drain(addr)
	}
	tick := time.NewTicker(drainPoll)
	defer tick.Stop()
	for {
		if t.InFlight() == 0 && (set == nil || set.len() == 0) {
			if set != nil {
				set.mu.Lock()
				set.draining = false // the address may come back
				set.mu.Unlock()
				px.guard.forget(addr, set)
			}
			if px.h1 != nil {
				px.h1.forget(addr)
			}
			return nil
		}
		select {
		case <-ctx.Done():
			if set != nil {
				set.mu.Lock()
				set.draining = false // the address may come back
				set.mu.Unlock()
			}
			return ctx.Err()
		case <-tick.C:
			if set != nil && t.InFlight() == 0 {
				px.guard.drain(addr) // close what went idle since
			}
		}
	}
}
