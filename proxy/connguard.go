package proxy

import (
	"bytes"
	"cmp"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatekit/gatekit/balancer"
	"github.com/gatekit/gatekit/internal/h1frame"
)

// defaultDesyncQuarantine is how long a target that sent bytes beyond a
// response gets a fresh connection per request: long enough that a target
// that does it once is not trusted with a reused connection again at once,
// short enough that a fixed target is soon served as before.
const defaultDesyncQuarantine = 5 * time.Minute

// desyncGuard watches the HTTP/1 connections of a transport for responses
// followed by bytes nobody asked for (response splitting or queue
// poisoning). net/http's Transport notices such bytes
// only asynchronously, after the connection went back to the idle pool, so
// another client's request can receive them. The guard parses the framing
// of every response as the Transport reads it and, at the first byte past a
// complete response with no request outstanding, withholds the bytes,
// discards the connection (no further byte is read from it or written to
// it) and flags the target's address: for the quarantine, requests to it
// ask for a fresh connection each.
type desyncGuard struct {
	quarantine time.Duration
	flags      sync.Map     // dial address -> *atomic.Int64 (UnixNano of quarantine end)
	nflags     atomic.Int64 // entries in flags, to skip lookups when zero
	desyncs    atomic.Int64
	conns      sync.Map // dial address -> *connSet, for draining
	maxLife    time.Duration
}

func newDesyncGuard(quarantine time.Duration) *desyncGuard {
	return &desyncGuard{quarantine: cmp.Or(quarantine, defaultDesyncQuarantine)}
}

// flag records a desync on the connection to addr at now.
func (g *desyncGuard) flag(addr string, now time.Time) {
	g.desyncs.Add(1)
	if g.quarantine < 0 {
		return
	}
	v, loaded := g.flags.LoadOrStore(addr, new(atomic.Int64))
	if !loaded {
		g.nflags.Add(1)
	}
	v.(*atomic.Int64).Store(now.Add(g.quarantine).UnixNano())
}

// flaggedAt reports whether addr is quarantined at now.
func (g *desyncGuard) flaggedAt(addr string, now time.Time) bool {
	if g == nil || g.nflags.Load() == 0 {
		return false
	}
	v, ok := g.flags.Load(addr)
	return ok && now.UnixNano() < v.(*atomic.Int64).Load()
}

// quarantined reports whether the target at u is quarantined now.
func (g *desyncGuard) quarantined(u *url.URL) bool {
	if g == nil || g.nflags.Load() == 0 {
		return false
	}
	return g.flaggedAt(dialAddr(u), time.Now())
}

// Quarantined reports whether t sent bytes past a response within the
// DesyncQuarantine, so that each request to it uses a fresh connection.
func (px *Proxy) Quarantined(t *balancer.Target) bool { return px.guard.quarantined(t.URL()) }

// connSet returns the connection set of addr, creating it (and its map)
// only when addr has none yet.
func (g *desyncGuard) connSet(addr string) *connSet {
	if v, ok := g.conns.Load(addr); ok {
		return v.(*connSet)
	}
	v, _ := g.conns.LoadOrStore(addr, &connSet{m: map[*guardConn]struct{}{}})
	return v.(*connSet)
}

// wrap returns c guarded and registered under addr.
func (g *desyncGuard) wrap(c net.Conn, addr string) net.Conn {
	gc := &guardConn{Conn: c, g: g, addr: addr, set: g.connSet(addr), born: time.Now()}
	gc.set.add(gc)
	return gc
}

// guardConn is an upstream HTTP/1 connection whose responses are framed
// as they are read, so that bytes past the end of a response are caught
// before the Transport can hand them to the next request.
type guardConn struct {
	net.Conn
	g    *desyncGuard
	addr string
	set  *connSet
	once sync.Once
	born time.Time

	// mu guards the fields below; Read and Write run on the Transport's
	// read and write goroutines.
	mu        sync.Mutex
	methods   []string // methods of requests written and not yet answered
	inRequest bool     // a request is being written (its body may follow)
	fr        h1frame.Framer
	discarded bool // the connection is dead: no byte in or out
	desync    bool // it died of unsolicited bytes
	wrote     bool // a byte of the current request was written
	opaque    bool // framing unknown (close-delimited, malformed): never reuse
	tunnel    bool // switched protocols (101): bytes pass both ways unexamined
}

// refuse discards the connection before its next request is written.
func (c *guardConn) refuse() {
	c.mu.Lock()
	c.discarded = true
	c.mu.Unlock()
	c.Conn.Close()
}

// desynced reports whether the connection was discarded after unsolicited
// bytes.
func (c *guardConn) desynced() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.desync
}

func (c *guardConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	switch {
	case c.tunnel:
	case c.discarded:
		c.mu.Unlock()
		return 0, errConnDiscarded
	case !c.inRequest && len(c.methods) == 0 && c.fr.Idle():
		if c.opaque {
			// The previous response's end is unknown: refuse to
			// start another request on this connection.
			c.discarded = true
			c.mu.Unlock()
			c.Conn.Close()
			return 0, errConnDiscarded
		}
		c.methods = append(c.methods, requestMethod(p))
		c.inRequest = true
		c.wrote = false
	}
	c.mu.Unlock()
	n, err := c.Conn.Write(p)
	if n > 0 {
		c.mu.Lock()
		c.wrote = true
		c.mu.Unlock()
	}
	return n, err
}

// wroteRequest reports whether a request is outstanding on c and a byte of
// it went out: false when the last request was answered in full, or the
// next one was refused before writing.
func (c *guardConn) wroteRequest() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.inRequest && c.wrote
}

func (c *guardConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	if c.discarded {
		c.mu.Unlock()
		return 0, errConnDiscarded
	}
	c.mu.Unlock()
	n, err := c.Conn.Read(p)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.discarded {
		return 0, errConnDiscarded
	}
	if c.opaque || c.tunnel || n == 0 {
		return n, err
	}
	b := p[:n]
	for len(b) > 0 {
		if c.fr.Idle() {
			if len(c.methods) == 0 {
				// Bytes while no request is outstanding: withhold
				// them, kill the connection, flag the target.
				c.discarded, c.desync = true, true
				c.Conn.Close()
				c.g.flag(c.addr, time.Now())
				if used := n - len(b); used > 0 {
					return used, nil
				}
				return 0, errConnDiscarded
			}
			c.fr.Start(c.methods[0])
		}
		k, ferr := c.fr.Feed(b)
		b = b[k:]
		if ferr != nil {
			c.opaque = true // let the Transport judge; never reuse
			return n, err
		}
		if c.fr.Done() {
			c.methods = c.methods[:copy(c.methods, c.methods[1:])]
			c.inRequest = false
			if c.fr.Opaque() {
				c.opaque = c.fr.Status() != 101
				c.tunnel = c.fr.Status() == 101
				return n, err
			}
			c.fr.Reset()
			if len(c.methods) == 0 && (c.set.isDraining() || c.g.maxLife > 0 && time.Since(c.born) >= c.g.maxLife) {
				// The target is being drained, or the connection is
				// past its lifetime: the response is complete, so
				// close instead of going idle.
				c.discarded = true
				c.Conn.Close()
				return n - len(b), nil
			}
		}
	}
	return n, err
}

// requestMethod returns the method at the start of a request's first
// bytes.
func requestMethod(p []byte) string {
	if i := bytes.IndexByte(p, ' '); i > 0 {
		p = p[:i]
	}
	switch string(p) {
	case "GET":
		return "GET"
	case "HEAD":
		return "HEAD"
	}
	return string(p)
}

// reusable reports whether c can carry another request: its last response
// ended at its framing, and the guard neither discarded it nor lost track
// of its framing.
func (c *guardConn) reusable() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return !c.discarded && !c.opaque && !c.tunnel && !c.inRequest && len(c.methods) == 0 && c.fr.Idle()
}

// strayWhileIdle records bytes found waiting on c while no request was
// outstanding (seen by a check before reuse): c is discarded and its
// target flagged, as for bytes read past a response.
func (c *guardConn) strayWhileIdle() {
	c.mu.Lock()
	c.discarded, c.desync = true, true
	c.mu.Unlock()
	c.Close()
	c.g.flag(c.addr, time.Now())
}
