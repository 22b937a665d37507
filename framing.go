package gatekit

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http/httpguts"

	"github.com/gatekit/gatekit/internal/header"
)

// serverConn is a connection a Server accepted. Its Read follows the
// HTTP/1 requests on a plaintext connection as net/http frames them, to find the ones whose framing other HTTP
// implementations may read differently. net/http deletes the evidence
// before a handler runs (a Content-Length next to Transfer-Encoding, a
// Transfer-Encoding on HTTP/1.0), so it is looked for in the bytes:
//
//   - Content-Length and Transfer-Encoding in one request: net/http frames
//     it as chunked, a hop in front that frames by Content-Length sees a
//     different end of the request, and the rest as a second request;
//   - Transfer-Encoding on an HTTP/1.0 request: net/http frames it by
//     Content-Length (or as bodiless), a chunked-reading hop does not;
//   - a folded header line (obs-fold): net/http joins it to the previous
//     header, other parsers may read a Content-Length or Transfer-Encoding
//     in it (RFC 9112 lets a server reject obs-fold with 400).
//
// Once such a request head has been read, nothing after it is passed on:
// to net/http the connection ends there, so the bytes behind the head (the
// would-be smuggled request) are never parsed. The Server answers that
// request 400 with Connection: close. The tracker falls
// silent (passes everything) on bytes it cannot parse as a request, such
// as TLS records or an upgraded connection's tunnel. Its Write (in
// neterrors.go) rewrites net/http's own error responses as problem+json.
type serverConn struct {
	net.Conn
	allow bool // the Server allows ambiguous framing (Insecure option)

	mu      sync.Mutex // guards the tracker; taken by Read and changed
	tracker framingTracker
	held    atomic.Bool // a bad head was passed on: later reads are discarded

	// bad is the 1-based index of the first ambiguous request on the
	// connection, 0 while there is none; served counts requests handed to
	// the handler, and finished those whose response net/http has sent in
	// full (it reports them idle). While they differ a response is being
	// written, and Write passes everything on unchanged.
	bad      atomic.Int64
	served   atomic.Int64
	finished atomic.Int64

	// writeArmed is when the Server's response writer last moved the
	// write deadline (see responseWriter.armed), 0 once anyone else has
	// set it since. clearHeld is set while a clear of that deadline is
	// held back (see SetWriteDeadline); the response writer resets it
	// when it takes the deadline over for the next response.
	writeArmed atomic.Int64
	clearHeld  atomic.Bool
}

// SetWriteDeadline sets the connection's write deadline, and makes the
// response writer move it again at its next write. net/http clears the
// write deadline after every response, and the response writer sets it
// again for the next one, two runtime timer updates per request. So a
// clear (zero t) while the writer's deadline is armed is held back: the
// deadline stays, which nothing notices, since the next response's writer
// moves it on before writing (or finds it moved less than an eighth of
// the write idle timeout ago), and a write that comes first (one of
// net/http's own error responses between requests) makes the clear real
// before it writes (see Write).
func (c *serverConn) SetWriteDeadline(t time.Time) error {
	if t.IsZero() && c.writeArmed.Load() != 0 {
		c.clearHeld.Store(true)
		return nil
	}
	c.writeArmed.Store(0)
	c.clearHeld.Store(false)
	return c.Conn.SetWriteDeadline(t)
}

// SetDeadline sets the read and write deadlines (net/http clears both for
// a hijacked connection), with no clear held back.
func (c *serverConn) SetDeadline(t time.Time) error {
	c.writeArmed.Store(0)
	c.clearHeld.Store(false)
	return c.Conn.SetDeadline(t)
}

// releaseClear makes a held-back write deadline clear real.
func (c *serverConn) releaseClear() {
	if c.clearHeld.CompareAndSwap(true, false) {
		c.writeArmed.Store(0)
		_ = c.Conn.SetWriteDeadline(time.Time{})
	}
}

func (c *serverConn) Read(p []byte) (int, error) {
	if c.held.Load() {
		if c.runningAhead() {
			// A request before the ambiguous one is being served: this
			// read watches for the client's going away, which a made-up
			// end would report falsely.
			return 0, c.discardHeld()
		}
		// Nothing after the ambiguous head is read: to net/http the
		// connection ends there.
		return 0, io.EOF
	}
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.mu.Lock()
		cut, bad := c.tracker.feed(p[:n], c.allow)
		if bad != 0 {
			if bad > 0 {
				c.bad.CompareAndSwap(0, int64(bad))
			}
			c.held.Store(true)
			n, err = cut, nil
		}
		c.mu.Unlock()
	}
	return n, err
}

// runningAhead reports whether a request pipelined before the ambiguous
// one is being served: one of them has not had its response sent in full.
// A server reads the next head only once a response is sent, so a read
// then is the watch for the client's going away.
func (c *serverConn) runningAhead() bool {
	return c.finished.Load() < c.bad.Load()-1
}

// discardHeld reads and drops what the client sends after the ambiguous
// head, until the read fails (io.EOF when the client went away, a timeout
// when the read deadline passed), and returns that error. A client that
// sends more than maxPostHandlerRead is taken for one that will not wait
// for its answers: errHeldTooLong, which ends the running request as the
// client's going away would.
func (c *serverConn) discardHeld() error {
	var buf [512]byte
	for n := 0; n < maxPostHandlerRead; {
		m, err := c.Conn.Read(buf[:])
		if err != nil {
			return err
		}
		n += m
	}
	return errHeldTooLong
}

// errHeldTooLong ends a read that dropped maxPostHandlerRead bytes sent
// after an ambiguous request head (see discardHeld).
var errHeldTooLong = errors.New("gatekit: too many bytes after a request with ambiguous framing")

// changed follows net/http's view of the connection: a response sent in
// full (idle), or a handler that took the connection over (hijacked),
// after which its bytes are a tunnel's and no longer followed.
func (c *serverConn) changed(st http.ConnState) {
	if st == http.StateIdle {
		c.finished.Add(1)
		return
	}
	c.mu.Lock()
	c.tracker.silence()
	c.mu.Unlock()
}

// hostFields returns what the Host fields of the head of the n-th request
// (1-based) were, and false when the tracker did not follow that head.
// The heads before it are not asked about any more.
func (c *serverConn) hostFields(n int) (hostInfo, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &c.tracker
	if n > t.heads {
		return hostInfo{}, false
	}
	info, odd := t.oddHosts[n]
	for k := range t.oddHosts {
		if k <= n {
			delete(t.oddHosts, k)
		}
	}
	if !odd {
		return hostInfo{n: 1}, true
	}
	return info, true
}

// serverConnOf returns the serverConn under a connection, if any.
func serverConnOf(c net.Conn) *serverConn {
	if lc, ok := c.(*limitConn); ok {
		c = lc.Conn
	}
	fc, _ := c.(*serverConn)
	return fc
}

// Tracker states.
const (
	stHead      = iota // reading a request line or header line
	stBody             // skipping a Content-Length body
	stChunkSize        // reading a chunk-size line
	stChunkData        // skipping chunk data
	stChunkCRLF        // reading the CRLF after chunk data
	stTrailer          // reading trailer lines
	stSilent           // not following this connection any more

	// defaultTrackLine is the longest line followed when no limit is set:
	// net/http's own limit on a head under DefaultMaxHeaderBytes.
	defaultTrackLine = 2*DefaultMaxHeaderBytes + 4096

	// maxKeptLine is the largest line buffer kept for the next line that
	// spans reads; a larger one (a long header line) is let go.
	maxKeptLine = 1024
)

// framingTracker is the request-framing state machine of serverConn. The
// zero value expects a request line.
type framingTracker struct {
	state  int
	line   []byte // the current line, without its LF
	remain int64  // body or chunk bytes left to skip
	heads  int    // request heads read so far
	limit  int    // the longest line followed; 0 for defaultTrackLine

	// The head being read.
	started bool // the request line has been read
	http10  bool // HTTP/1.0 request
	cl, te  bool // Content-Length / Transfer-Encoding seen
	chunked bool // Transfer-Encoding is exactly "chunked"
	clValue int64
	clBad   bool
	folded  bool // an obs-fold (continuation) line was seen
	hosts   int  // Host fields seen
	badHost bool // a Host field's value has bytes no host has

	// wantHosts: the Server's own HTTP/1 loop reads the connection and
	// asks about Host fields (see hostFields); oddHosts holds, by head
	// number, the heads not yet asked about whose Host fields were not
	// exactly one valid one, which http.ReadRequest does not tell.
	wantHosts bool
	oddHosts  map[int]hostInfo
}

// hostInfo is what a head's Host fields were.
type hostInfo struct {
	n   int  // how many
	bad bool // one had a malformed value
}

// feed follows p. If a request head with ambiguous framing ends within p
// and allow is false, it returns the offset just after that head and the
// 1-based index of the request. If the connection must stop for another
// reason (an overlong line in a chunked body) it returns the offset where
// and -1. Otherwise it returns len(p) and 0.
func (t *framingTracker) feed(p []byte, allow bool) (cut, bad int) {
	for i := 0; i < len(p); {
		switch t.state {
		case stSilent:
			return len(p), 0
		case stBody, stChunkData:
			n := int64(len(p) - i)
			if n > t.remain {
				n = t.remain
			}
			t.remain -= n
			i += int(n)
			if t.remain == 0 {
				if t.state == stBody {
					t.state = stHead
				} else {
					t.state = stChunkCRLF
				}
			}
			continue
		}
		if t.state == stHead && !t.started && len(t.line) == 0 && p[i] != '\r' && p[i] != '\n' && !header.IsTokenChar(p[i]) {
			t.silence() // not a request line: TLS, a tunnel, garbage
			return len(p), 0
		}
		k := bytes.IndexByte(p[i:], '\n')
		if k < 0 {
			if len(t.line)+len(p)-i > t.maxLine() {
				return t.overlong(i, len(p))
			}
			t.line = append(t.line, p[i:]...)
			return len(p), 0
		}
		line := p[i : i+k] // the whole line is in p: no copy
		if len(t.line)+len(line) > t.maxLine() {
			return t.overlong(i, len(p))
		}
		if len(t.line) > 0 {
			t.line = append(t.line, line...)
			line = t.line
		}
		i += k + 1
		bad := t.endLine(bytes.TrimSuffix(line, []byte{'\r'}), allow)
		if cap(t.line) > maxKeptLine {
			t.line = nil // not held for the rest of the connection
		} else if t.line != nil {
			t.line = t.line[:0]
		}
		if bad {
			return i, t.heads
		}
	}
	return len(p), 0
}

// maxLine is the longest line followed.
func (t *framingTracker) maxLine() int {
	if t.limit > 0 {
		return t.limit
	}
	return defaultTrackLine
}

// overlong handles a line longer than maxLine that starts or continues at
// offset i. In a request head net/http refuses it too (431) and closes the
// connection, so the tracker falls silent; in a chunked body (chunk sizes,
// trailers, which net/http does not bound) it stops the connection there,
// since it could no longer tell where the next request starts.
func (t *framingTracker) overlong(i, n int) (cut, bad int) {
	head := t.state == stHead
	t.silence()
	if head {
		return n, 0
	}
	return i, -1
}

func (t *framingTracker) silence() {
	t.state, t.line = stSilent, nil
}

// endLine processes one complete line; it reports whether it ended an
// ambiguous request head that must not be passed beyond.
func (t *framingTracker) endLine(line []byte, allow bool) bool {
	switch t.state {
	case stHead:
		return t.headLine(line, allow)
	case stChunkSize:
		size, _, _ := bytes.Cut(line, []byte{';'})
		size = bytes.TrimRight(size, " \t")
		n, err := strconv.ParseUint(string(size), 16, 62)
		if err != nil || len(size) == 0 {
			t.silence()
			return false
		}
		if n == 0 {
			t.state = stTrailer
		} else {
			t.state, t.remain = stChunkData, int64(n)
		}
	case stChunkCRLF:
		if len(line) != 0 {
			t.silence()
			return false
		}
		t.state = stChunkSize
	case stTrailer:
		if len(line) == 0 {
			t.state = stHead
		}
	}
	return false
}

func (t *framingTracker) headLine(line []byte, allow bool) bool {
	if !t.started {
		// After a POST net/http skips CR and LF bytes before the next
		// request line (in other places it refuses them and closes), so a
		// CR that does not end a line must not silence the tracker.
		line = bytes.TrimLeft(line, "\r")
		if len(line) == 0 {
			return false
		}
		method, rest, ok1 := bytes.Cut(line, []byte{' '})
		_, proto, ok2 := bytes.Cut(rest, []byte{' '})
		if !ok1 || !ok2 || len(method) == 0 || !isToken(method) {
			t.silence()
			return false
		}
		// net/http serves HTTP/1.0 and every HTTP/1.y with y >= 1 as 1.1.
		if len(proto) != len("HTTP/1.1") || !bytes.HasPrefix(proto, []byte("HTTP/1.")) || proto[7] < '0' || proto[7] > '9' {
			t.silence()
			return false
		}
		t.http10 = proto[7] == '0'
		t.started = true
		return false
	}
	if len(line) > 0 {
		if line[0] == ' ' || line[0] == '\t' {
			// net/http joins it to the previous field; a hop that does not
			// may see a Content-Length or Transfer-Encoding in it.
			t.folded = true
			return false
		}
		name, value, ok := bytes.Cut(line, []byte{':'})
		if !ok {
			return false
		}
		raw := name // as net/http keys it: "Host " is another field
		name = bytes.TrimRight(name, " \t")
		// Most fields are none of these: their name's length says so
		// before any byte is compared.
		if len(raw) == len("Host") && t.wantHosts && bytes.EqualFold(raw, []byte("Host")) {
			t.hosts++
			if !httpguts.ValidHostHeader(string(bytes.Trim(value, " \t"))) {
				t.badHost = true
			}
			return false
		}
		if len(name) != len("Content-Length") && len(name) != len("Transfer-Encoding") {
			return false
		}
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			value = bytes.Trim(value, " \t")
			n, err := strconv.ParseInt(string(value), 10, 64)
			if err != nil || n < 0 || (t.cl && n != t.clValue) {
				t.clBad = true
			}
			t.cl, t.clValue = true, n
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			value = bytes.Trim(value, " \t")
			t.chunked = !t.te && bytes.EqualFold(value, []byte("chunked"))
			t.te = true
		}
		return false
	}
	// The end of the head.
	t.heads++
	if t.wantHosts && (t.hosts != 1 || t.badHost) {
		if t.oddHosts == nil {
			t.oddHosts = make(map[int]hostInfo)
		}
		t.oddHosts[t.heads] = hostInfo{t.hosts, t.badHost}
	}
	t.hosts, t.badHost = 0, false
	ambiguous := t.te && (t.cl || t.http10) || t.folded
	te, cl, http10, chunked, clValue, clBad := t.te, t.cl, t.http10, t.chunked, t.clValue, t.clBad
	t.started, t.http10, t.cl, t.te, t.chunked, t.clValue, t.clBad, t.folded = false, false, false, false, false, 0, false, false
	if ambiguous && !allow {
		t.silence()
		return true
	}
	// Frame the body as net/http does.
	switch {
	case te && !http10:
		if !chunked {
			t.silence() // net/http answers 501 and closes
			return false
		}
		t.state = stChunkSize
	case clBad:
		t.silence() // net/http answers 400 and closes
	case cl && clValue > 0:
		t.state, t.remain = stBody, clValue
	}
	return false
}

// isToken reports whether b is an RFC 9110 token.
func isToken(b []byte) bool {
	for _, c := range b {
		if !header.IsTokenChar(c) {
			return false
		}
	}
	return true
}
