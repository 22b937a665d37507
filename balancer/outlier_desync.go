package balancer

import (
	"bytes"
	"errors"
	"net"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultDesyncQuarantine is how long a target that sent bytes beyond a
// response gets a fresh connection per request (RELIABILITY.md §6.4).
const DefaultDesyncQuarantine = 5 * time.Minute

// desyncGuard watches the HTTP/1 connections of a transport for responses
// followed by bytes nobody asked for (response splitting or queue
// poisoning, RELIABILITY.md S2). net/http's Transport notices such bytes
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
	if quarantine == 0 {
		quarantine = DefaultDesyncQuarantine
	}
	return &desyncGuard{quarantine: quarantine}
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

// Desyncs returns how many upstream connections of the proxy's default
// transport were discarded because a target sent bytes past the end of a
// response (zero with a Transport from Config).
func (px *Proxy) Desyncs() int64 {
	if px.guard == nil {
		return 0
	}
	return px.guard.desyncs.Load()
}

// Quarantined reports whether t sent bytes past a response within the
// DesyncQuarantine, so that each request to it uses a fresh connection.
func (px *Proxy) Quarantined(t *Target) bool { return px.guard.quarantined(t.url) }

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
	fr        framer
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
	case !c.inRequest && len(c.methods) == 0 && c.fr.idle():
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
		if c.fr.idle() {
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
			c.fr.start(c.methods[0])
		}
		k, ferr := c.fr.feed(b)
		b = b[k:]
		if ferr != nil {
			c.opaque = true // let the Transport judge; never reuse
			return n, err
		}
		if c.fr.done {
			c.methods = c.methods[:copy(c.methods, c.methods[1:])]
			c.inRequest = false
			if c.fr.opaque {
				c.opaque = c.fr.status != 101
				c.tunnel = c.fr.status == 101
				return n, err
			}
			c.fr.reset()
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

// framer states.
const (
	frIdle = iota
	frHeader
	frBody
	frChunkSize
	frChunkData
	frChunkCRLF
	frTrailer
)

var errFraming = errors.New("balancer: unparsable upstream response framing")

const maxFramerLine = 1 << 20

// framer follows the framing of one HTTP/1 response from its bytes, with
// net/http's rules: 1xx interim responses, no body for HEAD, 1xx, 204 and
// 304, Transfer-Encoding (only "chunked", only on HTTP/1.1) over
// Content-Length. A response whose end is the connection's end (no
// length), a 101 or anything net/http would reject is opaque.
type framer struct {
	state     int
	method    string
	line      []byte // partial line
	status    int
	http10    bool
	cl        int64 // Content-Length, -1 if none
	nCL       int
	te        int // Transfer-Encoding headers seen
	chunked   bool
	lastName  string
	remaining int64
	done      bool // a final response was fully read
	opaque    bool // the response has no knowable end
}

func (f *framer) idle() bool { return f.state == frIdle }

func (f *framer) start(method string) {
	*f = framer{state: frHeader, method: method, line: f.line[:0], cl: -1}
}

func (f *framer) reset() {
	*f = framer{line: f.line[:0]}
}

// feed consumes bytes of the response from b and returns how many it
// used: fewer than len(b) only when the response ended (f.done) or is
// opaque. It returns errFraming for framing net/http would not accept.
func (f *framer) feed(b []byte) (int, error) {
	used := 0
	for used < len(b) && !f.done {
		switch f.state {
		case frBody, frChunkData:
			k := int(min(int64(len(b)-used), f.remaining))
			used += k
			f.remaining -= k64(k)
			if f.remaining == 0 {
				if f.state == frBody {
					f.done = true
				} else {
					f.state = frChunkCRLF
				}
			}
		default:
			i := bytes.IndexByte(b[used:], '\n')
			if i < 0 {
				f.line = append(f.line, b[used:]...)
				if len(f.line) > maxFramerLine {
					return used, errFraming
				}
				return len(b), nil
			}
			f.line = append(f.line, b[used:used+i+1]...)
			used += i + 1
			if err := f.lineDone(); err != nil {
				return used, err
			}
			f.line = f.line[:0]
			if f.opaque {
				return used, nil
			}
		}
	}
	return used, nil
}

func k64(k int) int64 { return int64(k) }

// lineDone handles the complete line in f.line (with its LF).
func (f *framer) lineDone() error {
	l := f.line
	switch f.state {
	case frChunkCRLF:
		if string(l) != "\r\n" {
			return errFraming
		}
		f.state = frChunkSize
		return nil
	case frChunkSize:
		if len(l) < 2 || l[len(l)-2] != '\r' || bytes.IndexByte(l[:len(l)-2], '\r') >= 0 {
			return errFraming
		}
		l = bytes.TrimRight(l[:len(l)-2], " \t")
		if i := bytes.IndexByte(l, ';'); i >= 0 {
			l = bytes.TrimRight(l[:i], " \t")
		}
		n, err := strconv.ParseUint(string(l), 16, 63)
		if err != nil || len(l) == 0 || len(l) > 16 {
			return errFraming
		}
		if n == 0 {
			f.state = frTrailer
		} else {
			f.state, f.remaining = frChunkData, int64(n)
		}
		return nil
	}
	l = bytes.TrimSuffix(bytes.TrimSuffix(l, []byte("\n")), []byte("\r"))
	if f.state == frTrailer {
		if len(l) == 0 {
			f.done = true
		}
		return nil
	}
	// frHeader
	if f.status == 0 {
		return f.statusLine(l)
	}
	if len(l) > 0 {
		return f.headerLine(l)
	}
	return f.headersDone()
}

func (f *framer) statusLine(l []byte) error {
	proto, rest, ok := bytes.Cut(l, []byte(" "))
	if !ok || len(rest) < 3 || !bytes.HasPrefix(proto, []byte("HTTP/1.")) {
		return errFraming
	}
	code, err := strconv.Atoi(string(rest[:3]))
	if err != nil || code < 100 || code > 999 {
		return errFraming
	}
	f.status = code
	f.http10 = string(proto) == "HTTP/1.0"
	return nil
}

func (f *framer) headerLine(l []byte) error {
	if l[0] == ' ' || l[0] == '\t' {
		if f.lastName == "content-length" || f.lastName == "transfer-encoding" {
			return errFraming // folded framing header: too clever by half
		}
		return nil
	}
	name, val, ok := bytes.Cut(l, []byte(":"))
	if !ok {
		return errFraming
	}
	f.lastName = ""
	switch {
	case len(name) == len("content-length") && bytes.EqualFold(name, []byte("content-length")):
		f.lastName = "content-length"
		n, err := strconv.ParseUint(string(bytes.Trim(val, " \t")), 10, 63)
		if err != nil {
			return errFraming
		}
		if f.nCL > 0 && f.cl != int64(n) {
			return errFraming
		}
		f.cl, f.nCL = int64(n), f.nCL+1
	case len(name) == len("transfer-encoding") && bytes.EqualFold(name, []byte("transfer-encoding")):
		f.lastName = "transfer-encoding"
		f.te++
		f.chunked = bytes.EqualFold(bytes.Trim(val, " \t"), []byte("chunked"))
	}
	return nil
}

func (f *framer) headersDone() error {
	switch {
	case f.status == 101:
		f.done, f.opaque = true, true
		return nil
	case f.status < 200:
		// Interim response: the final one follows.
		*f = framer{state: frHeader, method: f.method, line: f.line, cl: -1}
		return nil
	case f.method == "HEAD" || f.status == 204 || f.status == 304:
		f.done = true
		return nil
	}
	if f.te > 0 && !f.http10 {
		if f.te != 1 || !f.chunked {
			return errFraming // net/http rejects it too
		}
		f.state = frChunkSize
		return nil
	}
	if f.cl < 0 {
		f.done, f.opaque = true, true // delimited by the connection's end
		return nil
	}
	if f.cl == 0 {
		f.done = true
		return nil
	}
	f.state, f.remaining = frBody, f.cl
	return nil
}
