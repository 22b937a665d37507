package proxy

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// h1Pool sends HTTP/1.1 requests to plain-http targets over keep-alive
// connections it uses synchronously, on the goroutine of the request: the
// request line, headers and a small body go out in one write, and the
// response is read on the same goroutine, with no per-connection reader
// and writer goroutines or channel hand-offs between them (which
// http.Transport has). A connection goes back to the pool only when its
// response ended exactly at its framing, with nothing buffered past it;
// before it is reused it is checked without blocking for bytes its target
// sent while it was idle (a desync: the connection is discarded and the
// target quarantined) and for a close by the target.
//
// Every connection is a guardConn of the proxy's desync guard, so the
// framing guard, draining and MaxConnLifetime apply as they do to the
// Transport's connections. An h1Pool is safe for concurrent use.
type h1Pool struct {
	g        *desyncGuard
	dialer   *net.Dialer
	headerTO time.Duration // ResponseHeaderTimeout
	idleTO   time.Duration // IdleConnTimeout
	maxIdle  int           // MaxIdleConnsPerHost
	hosts    sync.Map      // dial address -> *h1Host
}

// maxResponseHeader bounds a response header, as the default Transport's
// MaxResponseHeaderBytes does.
const maxResponseHeader = 1 << 20

// max1xx is how many interim (1xx) responses one request may get, as
// net/http's Transport allows.
const max1xx = 5

// syncBodyMax is the largest request body the pool sends: it is written
// whole before the response is read, which is safe only while it fits in
// the sockets' buffers (a target that answers before reading a large body,
// or streams its answer while reading, would otherwise stall both sides).
// Larger bodies, and bodies of unknown length, go through http.Transport,
// which writes and reads concurrently.
const syncBodyMax = 32 << 10

var (
	errHeaderTooLarge = errors.New("proxy: target's response header too large")
	errTooMany1xx     = errors.New("proxy: target sent too many 1xx responses")
	errUnexpected101  = errors.New("proxy: target switched protocols without an upgrade request")
)

func newH1Pool(g *desyncGuard, d *net.Dialer, cfg TransportConfig) *h1Pool {
	return &h1Pool{g: g, dialer: d,
		headerTO: cmp.Or(cfg.ResponseHeaderTimeout, defaultResponseHeaderTimeout),
		idleTO:   cmp.Or(cfg.IdleConnTimeout, defaultIdleConnTimeout),
		maxIdle:  cmp.Or(cfg.MaxIdleConnsPerHost, defaultMaxIdleConnsPerHost)}
}

// handles reports whether the pool can send req: a plain-http target, no
// protocol upgrade, no Expect: 100-continue (whose body must wait for the
// target's go-ahead), no CONNECT, and no body or a small one of known
// length.
func (p *h1Pool) handles(req *http.Request) bool {
	if !probeSupported || req.URL.Scheme != "http" {
		return false
	}
	if len(req.Header["Upgrade"]) > 0 || len(req.Header["Expect"]) > 0 || len(req.TransferEncoding) > 0 || req.Method == http.MethodConnect {
		return false
	}
	return req.Body == nil || req.Body == http.NoBody || req.ContentLength > 0 && req.ContentLength <= syncBodyMax
}

// h1Host is the idle connections to one dial address, most recently used
// last.
type h1Host struct {
	p     *h1Pool
	addr  string
	mu    sync.Mutex
	idle  []*h1Conn
	timer *time.Timer // sweeps idle connections past the idle timeout
	armed bool
	gone  bool // forgotten: a connection put back is closed
}

func (p *h1Pool) host(addr string) *h1Host {
	if v, ok := p.hosts.Load(addr); ok {
		return v.(*h1Host)
	}
	v, _ := p.hosts.LoadOrStore(addr, &h1Host{p: p, addr: addr})
	return v.(*h1Host)
}

// h1Conn is one pooled connection: a guardConn and its buffers.
type h1Conn struct {
	gc        *guardConn
	lr        limitReader
	br        *bufio.Reader
	bw        *bufio.Writer
	raw       syscall.RawConn // for the idle check, nil if unavailable
	idleSince time.Time
	aborted   atomic.Bool // the request's context ended: deadlines are in the past
	abortFn   func()      // c.abort, bound once
	probe     prober

	// The watch of the request's context, from watch to unwatch.
	stopCtx   func() bool // context.AfterFunc's stop, for a context not an attempt's
	tmu       sync.Mutex  // guards watched, and serializes onTimer
	watched   *attemptCtx // an attempt's context, watched with its watch
	timer     *time.Timer // runs onTimer (made once per connection)
	onTimerFn func()      // c.onTimer, bound once
}

// watchDelay is how long an exchange on a pooled connection runs before
// the pool registers it with the client's context (see h1Conn.watch): as
// long as the gatekit Server lets a request run before it watches for a
// client that goes away, and for the same reason (well above the time a
// saturated proxy takes to answer a quick request, so that overload does
// not make each request cost more).
const watchDelay = 100 * time.Millisecond

// limitReader reads from a guardConn, at most n bytes while n >= 0 (the
// response header's bound).
type limitReader struct {
	c *guardConn
	n int64
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.n < 0 {
		return l.c.Read(p)
	}
	if l.n == 0 {
		return 0, errHeaderTooLarge
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.c.Read(p)
	l.n -= int64(n)
	return n, err
}

// aLongTimeAgo is a deadline in the past: it interrupts blocked I/O.
var aLongTimeAgo = time.Unix(1, 0)

func (c *h1Conn) abort() {
	c.aborted.Store(true)
	c.gc.SetDeadline(aLongTimeAgo)
}

// watch aborts the exchange on c when ctx ends, until unwatch; now is
// when the exchange starts. Any context but an attempt's is watched with
// context.AfterFunc. An attempt's context is watched without making its
// real context (see attemptCtx), on c's own timer (made once per
// connection), which fires at the earliest of the attempt's deadline and
// watchDelay:
//
//   - the route's deadline is enforced exactly: the timer aborts the
//     exchange;
//   - the client's context (base) ending is noticed at most watchDelay
//     late: only an exchange that runs that long is registered with it
//     (the client context's own deadline, if earlier, is when the timer
//     fires). Most end sooner, and registering every one makes and
//     undoes a Done channel, a children map and a registration per
//     request.
//
// The attempt's own cancel aborts the exchange at once.
func (c *h1Conn) watch(ctx context.Context, now time.Time) {
	a, ok := ctx.(*attemptCtx)
	if !ok || !a.watch(c.abortFn, now) {
		c.stopCtx = context.AfterFunc(ctx, c.abortFn)
		return
	}
	d := watchDelay
	if dl, ok := a.Deadline(); ok {
		d = min(d, dl.Sub(now))
	}
	c.tmu.Lock()
	c.watched = a
	if c.timer == nil {
		c.onTimerFn = c.onTimer
		c.timer = time.AfterFunc(d, c.onTimerFn)
	} else {
		c.timer.Reset(d)
	}
	c.tmu.Unlock()
}

// onTimer runs when the watch's timer fires: past the attempt's deadline
// it aborts the exchange; otherwise it registers the watch with the
// client's context and waits for the deadline, if any.
func (c *h1Conn) onTimer() {
	c.tmu.Lock()
	defer c.tmu.Unlock()
	a := c.watched
	if a == nil {
		return // unwatched as it fired
	}
	now := time.Now()
	if pastDeadline(a.deadline, now) {
		c.abort()
		return
	}
	a.watchBase()
	if !a.deadline.IsZero() {
		c.timer.Reset(a.deadline.Sub(now))
	}
}

// unwatch ends watch. It reports whether the exchange was not aborted
// and will not be (as the stop function of context.AfterFunc does).
func (c *h1Conn) unwatch() bool {
	if stop := c.stopCtx; stop != nil {
		c.stopCtx = nil
		return stop()
	}
	c.tmu.Lock()
	a := c.watched
	c.watched = nil
	if c.timer != nil {
		c.timer.Stop()
	}
	c.tmu.Unlock()
	if a == nil {
		return false // not watched: nothing vouches for the exchange
	}
	ok := a.unwatch() // before reading aborted: a registration may abort until then
	return ok && !c.aborted.Load()
}

// get returns an idle connection that passed the idle check at the time
// now, or a new one. reused reports which.
func (h *h1Host) get(ctx context.Context, fresh bool, now time.Time) (c *h1Conn, reused bool, err error) {
	for !fresh {
		h.mu.Lock()
		n := len(h.idle)
		if n == 0 {
			h.mu.Unlock()
			break
		}
		c = h.idle[n-1]
		h.idle[n-1] = nil
		h.idle = h.idle[:n-1]
		h.mu.Unlock()
		if now.Sub(c.idleSince) < h.p.idleTO && c.alive() {
			return c, true, nil
		}
		c.gc.Close()
	}
	nc, err := h.p.dialer.DialContext(ctx, "tcp", h.addr)
	if err != nil {
		return nil, false, err
	}
	gc := h.p.g.wrap(nc, h.addr).(*guardConn)
	c = &h1Conn{gc: gc, lr: limitReader{c: gc, n: -1}}
	c.br = bufio.NewReaderSize(&c.lr, 4<<10)
	c.bw = bufio.NewWriterSize(gc, 4<<10)
	c.abortFn = c.abort
	if sc, ok := nc.(syscall.Conn); ok {
		c.raw, _ = sc.SyscallConn()
	}
	c.probe.init()
	return c, false, nil
}

// alive checks an idle connection without blocking: it is usable if no
// byte and no end of stream is waiting on it. Bytes waiting are a desync
// (the target sent them with no request outstanding): the connection is
// discarded and the target flagged, as the guard does for bytes read past
// a response.
func (c *h1Conn) alive() bool {
	if c.raw == nil {
		return false
	}
	switch c.probe.check(c.raw) {
	case probeEmpty:
		return true
	case probeData:
		c.gc.strayWhileIdle()
	}
	return false
}

// put returns c to the idle list, or closes it when the list is full.
func (h *h1Host) put(c *h1Conn) {
	c.idleSince = time.Now()
	h.mu.Lock()
	if h.gone || len(h.idle) >= h.p.maxIdle {
		h.mu.Unlock()
		c.gc.Close()
		return
	}
	h.idle = append(h.idle, c)
	if !h.armed {
		h.armed = true
		if h.timer == nil {
			h.timer = time.AfterFunc(h.p.idleTO, h.sweep)
		} else {
			h.timer.Reset(h.p.idleTO)
		}
	}
	h.mu.Unlock()
}

// sweep closes idle connections past the idle timeout, and re-arms itself
// while any remain.
func (h *h1Host) sweep() {
	now := time.Now()
	h.mu.Lock()
	var old []*h1Conn
	i := 0
	for i < len(h.idle) && now.Sub(h.idle[i].idleSince) >= h.p.idleTO {
		i++
	}
	old = append(old, h.idle[:i]...)
	h.idle = append(h.idle[:0], h.idle[i:]...)
	clear(h.idle[len(h.idle):cap(h.idle)])
	h.armed = len(h.idle) > 0
	if h.armed {
		h.timer.Reset(h.p.idleTO - now.Sub(h.idle[0].idleSince))
	}
	h.mu.Unlock()
	for _, c := range old {
		c.gc.Close()
	}
}

// forget drops the state kept for addr, once its target is drained and
// none of its connections is open. Its idle list may still hold
// connections the drain closed (they leave the list only when taken or
// swept); they are dropped with it. A request that found the host before
// it was forgotten closes its connection instead of putting it back
// where no sweep or CloseIdleConnections would reach it.
func (p *h1Pool) forget(addr string) {
	v, ok := p.hosts.Load(addr)
	if !ok {
		return
	}
	h := v.(*h1Host)
	h.mu.Lock()
	p.hosts.CompareAndDelete(addr, h)
	h.gone = true
	idle := h.takeIdleLocked()
	h.mu.Unlock()
	for _, c := range idle {
		c.gc.Close()
	}
}

// takeIdleLocked empties h's idle list and stops its sweep, and returns
// the connections for the caller to close once it released h.mu.
func (h *h1Host) takeIdleLocked() []*h1Conn {
	idle := h.idle
	h.idle = nil
	if h.timer != nil {
		h.timer.Stop()
	}
	h.armed = false
	return idle
}

// CloseIdleConnections closes every idle connection.
func (p *h1Pool) CloseIdleConnections() {
	p.hosts.Range(func(_, v any) bool {
		h := v.(*h1Host)
		h.mu.Lock()
		idle := h.takeIdleLocked()
		h.mu.Unlock()
		for _, c := range idle {
			c.gc.Close()
		}
		return true
	})
}

// RoundTrip sends req (which handles accepted) and reads the response
// header; the body is read from the connection as the caller reads it. A
// request that fails on a reused connection before any response byte
// arrived (the target closed it as it was taken: a keep-alive race) is
// sent once more on a fresh connection when its body can be sent again;
// the trace's GotConn sees the second connection, as with http.Transport,
// so that the proxy can stop a re-send that could duplicate work.
func (p *h1Pool) RoundTrip(req *http.Request) (*http.Response, error) {
	return p.send(req.Context(), req)
}

// send is RoundTrip with the request's context given apart: the proxy
// sends its outbound request with the context of the attempt (see
// Proxy.send), which RoundTrip takes from the request.
func (p *h1Pool) send(ctx context.Context, req *http.Request) (resp *http.Response, err error) {
	defer func() {
		if err != nil && req.Body != nil {
			req.Body.Close() // as a RoundTripper must, whatever failed
		}
	}()
	h := p.host(dialAddr(req.URL))
	hooks := hooksOf(ctx)
	for try := 0; ; try++ {
		now := time.Now()
		c, reused, err := h.get(ctx, req.Close || try > 0, now)
		if err != nil {
			return nil, deadlineErr(ctx, err)
		}
		if !reused {
			now = time.Now() // the dial took time: the header timeout starts now
		}
		hooks.gotConn(httptrace.GotConnInfo{Conn: c.gc, Reused: reused})
		var nothingRead bool
		resp, nothingRead, err = c.roundTrip(ctx, h, req, hooks, now)
		if err == nil {
			return resp, nil
		}
		c.gc.Close()
		if !reused || !nothingRead || try > 0 || ctx.Err() != nil || isClientBodyError(err) || !closedByTarget(err) {
			return nil, deadlineErr(ctx, err)
		}
		if req.Body != nil && req.Body != http.NoBody {
			if req.GetBody == nil {
				return nil, err
			}
			req.Body.Close()
			if req.Body, err = req.GetBody(); err != nil {
				return nil, err
			}
		}
	}
}

// h1Hooks are told of the connection an attempt takes and of the interim
// responses it reads: the proxy's exchange, called directly, and a
// ClientTrace on the request's context.
type h1Hooks struct {
	x     *exchange // nil when there is none, or when trace calls it
	trace *httptrace.ClientTrace
}

// hooksOf returns the hooks of a request whose context is ctx.
func hooksOf(ctx context.Context) h1Hooks {
	k := h1Hooks{x: exchangeFrom(ctx), trace: httptrace.ContextClientTrace(ctx)}
	if k.x != nil {
		if t := k.x.traced.Load(); t != nil && k.trace == &t.trace {
			k.x = nil // the exchange's trace (traceOn) calls its hooks
		}
	}
	return k
}

// gotResponse gives the exchange the storage of its attempt's response,
// to recycle with it.
func (k h1Hooks) gotResponse(r *h1Response) {
	if k.x != nil {
		k.x.cur.res = r
	}
}

// gotConn reports the connection taken, as http.Transport's GotConn.
func (k h1Hooks) gotConn(info httptrace.GotConnInfo) {
	if k.x != nil {
		k.x.gotConn(info)
	}
	if k.trace != nil && k.trace.GotConn != nil {
		k.trace.GotConn(info)
	}
}

// got1xx reports an interim response, as http.Transport's
// Got1xxResponse; an error from the trace ends the round trip.
func (k h1Hooks) got1xx(code int, header textproto.MIMEHeader) error {
	if k.x != nil {
		if err := k.x.got1xx(code, header); err != nil {
			return err
		}
	}
	if k.trace != nil && k.trace.Got1xxResponse != nil {
		return k.trace.Got1xxResponse(code, header)
	}
	return nil
}

// closedByTarget reports whether err is the end or reset of a connection
// by its target (or its close by a drain as it was taken): on a reused
// connection with no response byte read, the keep-alive race the pool
// re-sends after. Any other failure (a response header timeout, a
// discarded connection, a request that cannot be written, a client's
// body) may have reached the target or would fail again, and is returned
// as it is.
func closedByTarget(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNABORTED)
}

// deadlineErr returns ctx's error instead of err once ctx's deadline has
// passed, after waiting for ctx to be done. A dial that timed out at the
// deadline can report before the context's own timer has marked it done,
// and the proxy tells a client's or route's deadline from a target's
// failure by the context.
func deadlineErr(ctx context.Context, err error) error {
	if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
		<-ctx.Done() // imminent: the deadline has passed
		return ctx.Err()
	}
	return err
}

// roundTrip writes req on c, starting at the time now, and reads its
// response header. nothingRead reports, with an error, that no response
// byte had arrived.
func (c *h1Conn) roundTrip(ctx context.Context, h *h1Host, req *http.Request, hooks h1Hooks, now time.Time) (resp *http.Response, nothingRead bool, err error) {
	c.watch(ctx, now)
	r := h1Responses.Get().(*h1Response)
	resp, err = c.exchange(ctx, req, now.Add(h.p.headerTO), hooks, &r.plainResponse)
	if err != nil {
		c.unwatch()
		return nil, c.lr.n == maxResponseHeader, err
	}
	hooks.gotResponse(r)
	reuse := !resp.Close && !req.Close
	if resp.Body == http.NoBody {
		c.release(h, reuse)
		return resp, false, nil
	}
	r.h1 = h1Body{c: c, h: h, rc: resp.Body, reuse: reuse}
	resp.Body = &r.h1
	return resp, false, nil
}

// h1Response is the storage of a response on a pooled connection: the
// response and its body when readResponse parsed it, and the pool's body
// around it (around net/http's otherwise), in one allocation.
type h1Response struct {
	plainResponse
	h1 h1Body
}

// h1Responses holds h1Response records that nothing holds any more, for
// roundTrip to fill again. The exchange an attempt's response was stored
// in gives it back when it is recycled (see exchange.settle); other
// responses are left to the garbage collector.
var h1Responses = sync.Pool{New: func() any { return new(h1Response) }}

// exchange writes req on c and reads the response header (into dst when
// readResponse parses it), relaying interim (1xx) responses to hooks.
func (c *h1Conn) exchange(ctx context.Context, req *http.Request, headerDeadline time.Time, hooks h1Hooks, dst *plainResponse) (*http.Response, error) {
	c.lr.n = maxResponseHeader
	// The response header timeout needs a read deadline only when it
	// would expire before the request's own deadline (the route's
	// Timeout, by default as long), which interrupts the read anyway.
	d, ok := ctx.Deadline()
	setDeadline := !ok || d.After(headerDeadline)
	if setDeadline {
		c.gc.SetReadDeadline(headerDeadline)
	}
	var body *bodyErrReader
	if req.Body != nil && req.Body != http.NoBody {
		body = &bodyErrReader{ReadCloser: req.Body}
		req.Body = body
	}
	err := writeRequest(c.bw, req)
	if err == nil {
		err = c.bw.Flush()
	}
	if err != nil {
		c.bw.Reset(c.gc)
		if body != nil && body.err != nil {
			err = body.err
			if !isClientBodyError(err) {
				err = &ClientBodyError{Err: err}
			}
		}
		return nil, err
	}
	for n := 0; ; n++ {
		resp, err := readResponse(c.br, req, dst)
		if err != nil {
			if c.aborted.Load() && ctx.Err() != nil {
				err = ctx.Err()
			}
			return nil, err
		}
		switch code := resp.StatusCode; {
		case code == http.StatusSwitchingProtocols:
			return nil, errUnexpected101
		case code >= 200:
			c.lr.n = -1
			if setDeadline {
				c.gc.SetReadDeadline(time.Time{})
				if c.aborted.Load() {
					c.gc.SetDeadline(aLongTimeAgo) // an abort raced with the reset
				}
			}
			return resp, nil
		case n >= max1xx:
			return nil, errTooMany1xx
		default:
			if err := hooks.got1xx(code, textproto.MIMEHeader(resp.Header)); err != nil {
				return nil, err
			}
		}
	}
}

// release ends a response: c goes back to the pool when its response
// ended at its framing with nothing read past it, the guard still trusts
// it, and the request's context did not end; otherwise it is closed.
func (c *h1Conn) release(h *h1Host, reuse bool) {
	if c.unwatch() && reuse && c.br.Buffered() == 0 && c.gc.reusable() { // unwatch: not aborted
		h.put(c)
		return
	}
	c.gc.Close()
}

// h1Body is a pooled connection's response body. At its end the
// connection is released; closed before its end, the connection is
// closed (what is left of the body is never read).
type h1Body struct {
	c     *h1Conn
	h     *h1Host
	rc    io.ReadCloser // net/http's body reader over c.br
	reuse bool
	err   error // the error every Read returns once the body ended
}

func (b *h1Body) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	n, err := b.rc.Read(p)
	switch {
	case err == io.EOF:
		b.err = io.EOF
		b.c.release(b.h, b.reuse)
	case err != nil:
		if b.c.aborted.Load() {
			err = errBodyAborted
		}
		b.err = err
		b.c.unwatch()
		b.c.gc.Close()
	}
	return n, err
}

// errBodyAborted ends a response body whose request's context ended.
var errBodyAborted = errors.New("proxy: response body aborted: request context ended")

func (b *h1Body) Close() error {
	if b.err == nil {
		b.err = http.ErrBodyReadAfterClose
		b.c.unwatch()
		b.c.gc.Close()
	}
	return nil
}

// bodyErrReader keeps the error of a request body's Read, which
// Request.Write hides in an unexported type.
type bodyErrReader struct {
	io.ReadCloser
	err error
}

func (r *bodyErrReader) Read(p []byte) (int, error) {
	n, err := r.ReadCloser.Read(p)
	if err != nil && err != io.EOF {
		r.err = err
	}
	return n, err
}
