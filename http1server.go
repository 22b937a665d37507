package gatekit

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http/httpguts"

	"github.com/gatekit/gatekit/internal/problem"
)

// http1Server serves plaintext HTTP/1 connections in place of net/http's
// server, which a Server uses unless it terminates TLS, accepts h2c or was
// told to use net/http's (ServerConfig.NetHTTPServer). It reads requests
// as http.ReadRequest does (readHTTP1Request parses plain heads itself and
// leaves the others to it) and follows net/http's server in what a handler
// sees and what a client gets (timeouts, limits, 100-continue, 417 for
// other expectations, chunked and close-delimited responses, trailers,
// Content-Type sniffing, Date, hijacking, deadlines through
// http.ResponseController, graceful shutdown), so the Server's checks
// around the handler (serverHandler, serverConn) work unchanged. What it
// saves per request: the goroutine and read that net/http's server starts
// on every request to notice a client that goes away (here only a request
// still running after goneDelay is watched), several deadline changes, and
// the pooled writers net/http takes and returns per request.
type http1Server struct {
	srv      *http.Server // timeouts, limits and hooks (ConnState, ConnContext, BaseContext, ErrorLog)
	handler  http.Handler
	draining *atomic.Bool // set: responses close their connections
	// goneDelay is how long a request runs before its connection is
	// watched for a client that goes away (which cancels the request's
	// context); 0 watches at once, as net/http's server does.
	goneDelay time.Duration

	closing atomic.Bool
	mu      sync.Mutex
	stop    chan struct{} // closed when shutdown begins
	ln      net.Listener
	conns   map[*http1Conn]struct{}
}

// defaultGoneDelay is http1Server.goneDelay in a Server: a request that is
// answered sooner never pays for the watch (a goroutine, a read and two
// deadline changes). It is well above the time a loaded server takes to
// answer a quick request: with a delay close to it, queueing on a
// saturated server pushes a share of its requests past the delay, whose
// watches take more of the CPU it lacks and push more requests past it
// (see BENCHMARKS.md). A client that goes away is noticed at most this
// late, which matters for the requests that run long.
const defaultGoneDelay = 100 * time.Millisecond

// Connection states (http1Conn.state).
const (
	h1New      = iota // accepted, no request yet
	h1Active          // reading a request or serving one
	h1Idle            // between requests
	h1Hijacked        // handed to a handler
	h1Closed          // closed by shutdown
)

// maxPostHandlerRead is how much of a request body the handler left unread
// is read and discarded to keep the connection, as net/http's server does.
const maxPostHandlerRead = 256 << 10

// errHeadTooLarge marks a request head over the read limit.
var errHeadTooLarge = errors.New("request header fields too large")

// aLongTimeAgo is a deadline in the past, which makes a pending read return.
var aLongTimeAgo = time.Unix(1, 0)

// serve accepts connections on ln until ln fails or shutdown closes it
// (http.ErrServerClosed).
func (s *http1Server) serve(ln net.Listener) error {
	defer ln.Close() // as net/http's Serve: a listener it stops on is closed
	s.mu.Lock()
	if s.closing.Load() {
		s.mu.Unlock()
		return http.ErrServerClosed
	}
	s.ln = ln
	if s.conns == nil {
		s.conns = make(map[*http1Conn]struct{})
	}
	s.mu.Unlock()
	base := context.Background()
	if s.srv.BaseContext != nil {
		if base = s.srv.BaseContext(ln); base == nil {
			panic("BaseContext returned a nil context")
		}
	}
	base = context.WithValue(base, http.ServerContextKey, s.srv)
	var backoff time.Duration
	for {
		rwc, err := ln.Accept()
		if err != nil {
			if s.closing.Load() {
				return http.ErrServerClosed
			}
			// Out of file descriptors (EMFILE) and the like pass: retry,
			// as net/http's server does, unless shutdown begins.
			var te interface{ Temporary() bool }
			if errors.As(err, &te) && te.Temporary() {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.logf("http: Accept error: %v; retrying in %v", err, backoff)
				t := time.NewTimer(backoff)
				select {
				case <-t.C:
				case <-s.done():
					t.Stop()
				}
				continue
			}
			return err
		}
		backoff = 0
		ctx := context.WithValue(base, http.LocalAddrContextKey, rwc.LocalAddr())
		if cc := s.srv.ConnContext; cc != nil {
			if ctx = cc(ctx, rwc); ctx == nil {
				panic("ConnContext returned nil")
			}
		}
		c := &http1Conn{s: s, rwc: rwc, fc: serverConnOf(rwc), accepted: time.Now()}
		if !s.track(c) {
			_ = rwc.Close()
			return http.ErrServerClosed
		}
		s.connState(c, http.StateNew)
		go c.serve(ctx)
	}
}

// done returns a channel closed once shutdown has begun.
func (s *http1Server) done() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stop == nil {
		s.stop = make(chan struct{})
	}
	return s.stop
}

// track adds c to the connections shutdown waits for, unless shutdown has
// begun.
func (s *http1Server) track(c *http1Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing.Load() {
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *http1Server) forget(c *http1Conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

func (s *http1Server) connState(c *http1Conn, st http.ConnState) {
	if h := s.srv.ConnState; h != nil {
		h(c.rwc, st)
	}
}

func (s *http1Server) logf(format string, args ...any) {
	if s.srv.ErrorLog != nil {
		s.srv.ErrorLog.Printf(format, args...)
	} else {
		log.Printf(format, args...)
	}
}

// headerTimeout is the time a request head may take: ReadHeaderTimeout, or
// ReadTimeout when that is zero, as in net/http; 0 for none.
func (s *http1Server) headerTimeout() time.Duration {
	if d := s.srv.ReadHeaderTimeout; d > 0 {
		return d
	}
	return s.srv.ReadTimeout
}

// keepAlive reports whether a connection may serve another request.
func (s *http1Server) keepAlive() bool {
	return !s.closing.Load() && (s.draining == nil || !s.draining.Load())
}

// shutdown closes the listener, then the connections as they turn idle,
// and returns once none is left, or ctx's error when it ends first.
func (s *http1Server) shutdown(ctx context.Context) error {
	s.closing.Store(true)
	s.closeListener()
	wait := time.Millisecond
	t := time.NewTimer(wait)
	defer t.Stop()
	for {
		if s.closeIdle() {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			wait = min(2*wait, 500*time.Millisecond)
			t.Reset(wait)
		}
	}
}

func (s *http1Server) closeListener() {
	s.mu.Lock()
	ln := s.ln
	if s.stop == nil {
		s.stop = make(chan struct{})
	}
	select {
	case <-s.stop:
	default:
		close(s.stop)
	}
	s.mu.Unlock()
	if ln != nil {
		_ = ln.Close()
	}
}

// closeIdle closes the connections between requests (and those accepted
// more than 5 s ago that have sent nothing, as net/http's server does); it
// reports whether no connection is left.
func (s *http1Server) closeIdle() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		if c.state.CompareAndSwap(h1Idle, h1Closed) ||
			time.Since(c.accepted) > 5*time.Second && c.state.CompareAndSwap(h1New, h1Closed) {
			_ = c.rwc.Close()
		}
	}
	return len(s.conns) == 0
}

// close closes the listener and every connection at once.
func (s *http1Server) close() {
	s.closing.Store(true)
	s.closeListener()
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		_ = c.rwc.Close()
	}
}

// http1Conn is one connection of an http1Server: requests are read and
// served in turn on its goroutine.
type http1Conn struct {
	s        *http1Server
	rwc      net.Conn
	fc       *serverConn // the Server's wrapper under rwc (framing tracker), or nil
	accepted time.Time
	// headAt is when await saw the next request begin after an idle
	// wait and set the head's deadline (its clock reading, which
	// readRequest reuses), zero otherwise.
	headAt time.Time
	// idleArmed is when serve last set the idle read deadline
	// (nanoseconds since accepted, +1), 0 once the read deadline has been
	// set otherwise since; serve leaves a deadline armed less than
	// idleSlack ago as it is. Atomic: a handler's goroutine may set the
	// read deadline through http.ResponseController.
	idleArmed atomic.Int64
	remote    string
	state     atomic.Int32
	served    atomic.Int64
	r         http1Reader
	br        *bufio.Reader
	bw        *bufio.Writer
	buf       []byte // a response body held before the head is written
	head      []byte // a response head being written
	post      bool   // the last request was a POST

	// The watch for a client that goes away: once the request has run
	// goneDelay (due) and its body has ended, a goroutine reads the
	// connection, which returns only when the client sends more (the byte
	// is kept for the next request) or goes away (the request's context is
	// cancelled).
	mu        sync.Mutex
	timer     *time.Timer
	timerSet  bool  // timer is set to fire; watchDue leaves it unset when no request is due
	started   int64 // when the running request started (nanoseconds since accepted)
	inHandler bool
	bodyDone  bool
	due       bool
	watching  bool
	aborting  bool
	watchDone chan struct{}
	rctx      *requestContext // the running request's context
	// ctxCancellable is set when the connection's context can end (a
	// BaseContext or ConnContext that can be cancelled): serve then
	// cancels the running request's context when it does.
	ctxCancellable bool
}

// http1Reader is what the connection's bufio.Reader reads: the connection,
// limited while a request head is read, after a byte the watch may have
// read ahead, and after a read error the watch saw.
type http1Reader struct {
	c       *http1Conn
	limit   int64 // bytes a head may still take; -1 while not reading one
	hit     bool  // a head reached the limit
	ahead   [1]byte
	isAhead bool  // ahead holds the next byte
	err     error // the watch's read error, returned by every read after
}

func (r *http1Reader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if r.limit == 0 {
		r.hit = true
		return 0, io.EOF
	}
	if r.limit > 0 && int64(len(p)) > r.limit {
		p = p[:r.limit]
	}
	var n int
	var err error
	switch {
	case r.isAhead:
		p[0], r.isAhead, n = r.ahead[0], false, 1
	case r.err != nil:
		return 0, r.err
	default:
		n, err = r.c.rwc.Read(p)
	}
	if r.limit > 0 {
		r.limit -= int64(n)
	}
	return n, err
}

func (c *http1Conn) serve(ctx context.Context) {
	defer func() {
		if p := recover(); p != nil && p != http.ErrAbortHandler {
			buf := make([]byte, 64<<10)
			buf = buf[:runtime.Stack(buf, false)]
			c.s.logf("http: panic serving %v: %v\n%s", c.remote, p, buf)
		}
		if c.state.Load() != h1Hijacked {
			_ = c.rwc.Close()
			c.s.connState(c, http.StateClosed)
		}
		c.s.forget(c)
		c.mu.Lock()
		if c.timer != nil {
			c.timer.Stop() // set for the watch of a request that is over
		}
		c.mu.Unlock()
	}()
	if ra := c.rwc.RemoteAddr(); ra != nil {
		c.remote = ra.String()
	}
	c.r = http1Reader{c: c, limit: -1}
	c.br = bufio.NewReaderSize(&c.r, 4096)
	c.bw = bufio.NewWriterSize(c.rwc, 4096)
	if d := c.s.headerTimeout(); d > 0 {
		_ = c.setReadDeadline(c.accepted.Add(d))
	}
	if ctx.Done() != nil {
		// As context.WithCancel would for each request's context.
		c.ctxCancellable = true
		stop := context.AfterFunc(ctx, func() {
			c.mu.Lock()
			rctx := c.rctx
			c.mu.Unlock()
			if rctx != nil {
				rctx.cancel(ctx.Err())
			}
		})
		defer stop()
	}
	for {
		if !c.await() {
			return
		}
		c.s.connState(c, http.StateActive)
		w, err := c.readRequest(ctx)
		if err != nil {
			c.refuseHead(err)
			return
		}
		if !c.serveRequest(w) {
			return
		}
		if !c.state.CompareAndSwap(h1Active, h1Idle) {
			return
		}
		c.s.connState(c, http.StateIdle)
		if !c.s.keepAlive() {
			return
		}
		c.armIdle()
	}
}

// armIdle sets the read deadline for the wait for the next request: the
// idle timeout, or the header timeout when the next request has begun.
// Moving a deadline modifies a runtime timer, which costs about as much as
// reading a small request, so an idle deadline set less than idleSlack
// ago, and left alone since, stays: the wait is then between 63/64 of the
// idle timeout and all of it. Any other deadline is replaced: the one left
// may be the past one that stopped the watch, even when the watch read a
// byte first.
func (c *http1Conn) armIdle() {
	wait := c.s.srv.IdleTimeout
	if wait == 0 {
		wait = c.s.srv.ReadTimeout
	}
	if c.br.Buffered() > 0 || c.r.isAhead {
		_ = c.setReadDeadline(deadlineAfter(time.Now(), c.s.headerTimeout())) // the next request has begun
		return
	}
	if wait <= 0 {
		_ = c.setReadDeadline(time.Time{})
		return
	}
	el := int64(time.Since(c.accepted)) + 1 // one monotonic clock reading; +1 keeps it from being "never"
	if at := c.idleArmed.Load(); at != 0 && el >= at && el-at < int64(idleSlack(wait)) {
		return
	}
	_ = c.rwc.SetReadDeadline(c.accepted.Add(time.Duration(el) + wait))
	c.idleArmed.Store(el)
}

// idleSlack is how long ago an idle read deadline of wait may have been
// set and still be left as it is.
func idleSlack(wait time.Duration) time.Duration { return wait / 64 }

// setReadDeadline sets the read deadline t (none when t is zero) and
// marks the idle deadline replaced: every read deadline but armIdle's is
// set through it.
func (c *http1Conn) setReadDeadline(t time.Time) error {
	c.idleArmed.Store(0)
	return c.rwc.SetReadDeadline(t)
}

// deadlineAfter is from+d, or the zero time (no deadline) when d is not
// positive.
func deadlineAfter(from time.Time, d time.Duration) time.Time {
	if d <= 0 {
		return time.Time{}
	}
	return from.Add(d)
}

// headBuffered reports whether b, the start of a request, holds its whole
// head: an empty line follows the request line (CR LF pairs before it, which
// old clients send after a POST body, are skipped). A head read from
// buffered bytes needs no read deadline of its own.
func headBuffered(b []byte) bool {
	i := 0
	for i < len(b) && (b[i] == '\r' || b[i] == '\n') {
		i++
	}
	b = b[i:]
	return bytes.Contains(b, []byte("\r\n\r\n")) || bytes.Contains(b, []byte("\n\n"))
}

// await waits for the start of the next request (its first byte on a new
// connection, four bytes between requests) and marks the connection
// active; it reports false when the connection is to close.
func (c *http1Conn) await() bool {
	first := c.served.Load() == 0
	// Between requests, as net/http's server does, four bytes (no request
	// is shorter) or the connection closes without an answer.
	n := 4
	if first {
		n = 1
	}
	// Without bytes of the next request yet, the wait had IdleTimeout
	// (serve set it); the head then has ReadHeaderTimeout from its start.
	idled := !first && c.br.Buffered() == 0 && !c.r.isAhead
	if _, err := c.br.Peek(n); err != nil {
		return false
	}
	// A head that arrived whole is read without a read; otherwise the
	// rest of it must come within the header timeout.
	c.headAt = time.Time{}
	if idled && !headBuffered(c.peekBuffered()) {
		c.headAt = time.Now()
		_ = c.setReadDeadline(deadlineAfter(c.headAt, c.s.headerTimeout()))
	}
	from := int32(h1Idle)
	if first {
		from = h1New
	}
	return c.state.CompareAndSwap(from, h1Active)
}

// peekBuffered returns the bytes buffered for reading, without reading.
func (c *http1Conn) peekBuffered() []byte {
	b, _ := c.br.Peek(c.br.Buffered())
	return b
}

// readRequest reads the next request head, with the checks net/http's
// server makes beyond http.ReadRequest's.
func (c *http1Conn) readRequest(ctx context.Context) (*http1Response, error) {
	// The response, with the request's context in it, made first so that
	// the request that carries the context is made once. A request that
	// fails here reaches no handler, and its context no one.
	w := &http1Response{c: c, declared: -1}
	w.ctx.Context = ctx
	if c.post {
		// Old clients send CR LF after a POST body (RFC 9112 2.2).
		peek, _ := c.br.Peek(4)
		n := 0
		for n < len(peek) && (peek[n] == '\r' || peek[n] == '\n') {
			n++
		}
		_, _ = c.br.Discard(n)
	}
	max := c.s.srv.MaxHeaderBytes
	if max <= 0 {
		max = http.DefaultMaxHeaderBytes
	}
	c.r.limit, c.r.hit = int64(max)+4096, false
	req, plain, err := readHTTP1Request(&w.ctx, c.br)
	hit := c.r.hit
	c.r.limit = -1
	if err != nil {
		if hit {
			return nil, errHeadTooLarge
		}
		return nil, err
	}
	if req.ProtoMajor != 1 && !(req.ProtoMajor == 2 && req.ProtoMinor == 0 && req.Method == "PRI" && req.RequestURI == "*") {
		return nil, statusError{http.StatusHTTPVersionNotSupported, "unsupported protocol version"}
	}
	c.post = req.Method == http.MethodPost
	// http.ReadRequest drops the Host fields; the connection's framing
	// tracker looked at them.
	hosts := hostInfo{n: -1}
	if c.fc != nil {
		if info, ok := c.fc.hostFields(int(c.served.Load()) + 1); ok {
			hosts = info
		}
	}
	if hosts.n < 0 && req.Host != "" {
		hosts.n = 1
	}
	if req.ProtoAtLeast(1, 1) && hosts.n <= 0 && req.Method != http.MethodConnect && !(req.Method == "PRI" && req.RequestURI == "*") {
		return nil, statusError{http.StatusBadRequest, "missing required Host header"}
	}
	if hosts.n > 1 {
		return nil, statusError{http.StatusBadRequest, "too many Host headers"}
	}
	// The host of an absolute-form target is checked by serverHandler, as
	// for net/http's loop, so that both answer it alike.
	if hosts.bad || req.URL.Host == "" && !httpguts.ValidHostHeader(req.Host) {
		return nil, statusError{http.StatusBadRequest, "malformed Host header"}
	}
	if err := checkFields(req.Header, plain); err != nil {
		return nil, err
	}
	req.RemoteAddr = c.remote
	if d := c.s.srv.WriteTimeout; d > 0 {
		_ = c.rwc.SetWriteDeadline(time.Now().Add(d))
	}
	if req.Body != http.NoBody {
		t0 := c.headAt // the head's start, for ReadTimeout
		if t0.IsZero() {
			t0 = time.Now() // the head was buffered whole: it started about now
		}
		_ = c.setReadDeadline(deadlineAfter(t0, c.s.srv.ReadTimeout))
	}
	w.req, w.header = req, make(http.Header)
	return w, nil
}

// checkFields refuses a field name or value net/http's server refuses. A
// plain head (one readHTTP1Request parsed itself) has only token names and
// values without control bytes, and is not checked again.
func checkFields(h http.Header, plain bool) error {
	if plain {
		return nil
	}
	for k, vv := range h {
		if !httpguts.ValidHeaderFieldName(k) {
			return statusError{http.StatusBadRequest, "invalid header name"}
		}
		for _, v := range vv {
			if !httpguts.ValidHeaderFieldValue(v) {
				return statusError{http.StatusBadRequest, "invalid header value"}
			}
		}
	}
	return nil
}

// statusError is a request refused before the handler, with its status and
// reason.
type statusError struct {
	code   int
	reason string
}

func (e statusError) Error() string { return e.reason }

// refuseHead answers a request head that could not be read, as net/http's
// server does (but as problem+json), unless the connection just ended or
// timed out.
func (c *http1Conn) refuseHead(err error) {
	var se statusError
	var ne net.Error
	switch {
	case errors.Is(err, errHeadTooLarge):
		se = statusError{http.StatusRequestHeaderFieldsTooLarge, ""}
	case errors.As(err, &se):
	case err == io.EOF || errors.As(err, &ne) && ne.Timeout():
		return
	case strings.HasPrefix(err.Error(), "unsupported transfer encoding"):
		se = statusError{http.StatusNotImplemented, "Unsupported transfer encoding"}
	default:
		var oe *net.OpError
		if errors.As(err, &oe) && oe.Op == "read" {
			return
		}
		se = statusError{http.StatusBadRequest, ""}
	}
	c.writeProblem(se.code, se.reason)
	if se.code == http.StatusRequestHeaderFieldsTooLarge || c.br.Buffered() > 0 {
		c.lingerBeforeClose() // the client may still be sending the head, or more
	}
}

// lingerBeforeClose reads (and discards) what the client still sends, for
// a short while, before the connection is closed after a response the
// client may not have expected so soon (its request head or body was not
// read in full): closing a socket with unread data makes the kernel send a
// reset, which can destroy the response before the client has read it.
func (c *http1Conn) lingerBeforeClose() {
	_ = c.bw.Flush()
	_ = c.setReadDeadline(time.Now().Add(rstAvoidanceDelay))
	raw := c.rwc
	if c.fc != nil {
		raw = c.fc.Conn // past the framing tracker: these bytes are discarded
	}
	_, _ = io.CopyN(io.Discard, raw, maxPostHandlerRead)
}

// errorWriteTimeout bounds writing a response the loop sends itself.
const errorWriteTimeout = 5 * time.Second

// rstAvoidanceDelay bounds lingerBeforeClose.
const rstAvoidanceDelay = 500 * time.Millisecond

// writeProblem sends a problem+json error response that closes the
// connection, within a bounded time.
func (c *http1Conn) writeProblem(code int, detail string) {
	_ = c.rwc.SetWriteDeadline(time.Now().Add(errorWriteTimeout))
	_, _ = c.bw.Write(problemResponse(code, detail))
	_ = c.bw.Flush()
}

// serveRequest runs the handler for w's request and completes the
// response; it reports whether the connection may serve another request.
func (c *http1Conn) serveRequest(w *http1Response) (keep bool) {
	c.served.Add(1)
	req := w.req
	var body *http1Body
	if req.Body != http.NoBody {
		body = &http1Body{c: c, rc: req.Body, length: req.ContentLength}
		req.Body = body
		w.body = body
	}
	// Only the first Expect field counts, as in net/http.
	if ex := req.Header.Get("Expect"); ex != "" {
		switch {
		case !netHTTPToken(ex, "100-continue"):
			_ = c.rwc.SetWriteDeadline(time.Now().Add(errorWriteTimeout))
			w.header.Set("Connection", "close")
			w.closeAfter = true
			problem.Write(w, http.StatusExpectationFailed, "the only expectation served is 100-continue")
			w.finish()
			w.ctx.cancel(context.Canceled)
			if w.bodyLeft {
				c.lingerBeforeClose()
			}
			return false
		case req.ProtoAtLeast(1, 1) && req.ContentLength != 0 && body != nil:
			body.w, body.continueDue = w, true
		}
	}
	c.startWatch(body == nil, &w.ctx)
	defer func() {
		c.endWatch()
		w.ctx.cancel(context.Canceled)
		if w.bodyLeft {
			c.lingerBeforeClose() // after the watch: one reader at a time
		}
		if p := recover(); p != nil {
			w.mu.Lock()
			w.finished = true // a goroutine left behind cannot take the connection now
			w.mu.Unlock()
			if p != http.ErrAbortHandler {
				buf := make([]byte, 64<<10)
				buf = buf[:runtime.Stack(buf, false)]
				c.s.logf("http: panic serving %v: %v\n%s", c.remote, p, buf)
			}
			keep = false
		}
	}()
	c.s.handler.ServeHTTP(w, req)
	if w.hijacked {
		return false
	}
	w.finish()
	return !w.closeAfter && c.s.keepAlive()
}

// startWatch arms the watch for a client that goes away. Setting a timer
// costs about as much as serving a small request, so the timer is not
// stopped when a request ends: one set for an earlier request fires, finds
// the running request younger than goneDelay and is set again for the
// rest, and a connection busy with quick requests sets it about once
// every goneDelay instead of twice per request.
func (c *http1Conn) startWatch(bodyDone bool, rctx *requestContext) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.inHandler, c.bodyDone, c.due, c.rctx = true, bodyDone, c.s.goneDelay == 0, rctx
	if c.ctxCancellable {
		// The connection's context may have ended since it was last
		// looked at (see serve).
		if err := rctx.Context.Err(); err != nil {
			defer rctx.cancel(err)
		}
	}
	if c.due && bodyDone {
		c.watchLocked()
	}
	if c.s.goneDelay <= 0 {
		return
	}
	c.started = int64(time.Since(c.accepted))
	if c.timerSet {
		return
	}
	c.timerSet = true
	if c.timer == nil {
		c.timer = time.AfterFunc(c.s.goneDelay, c.watchDue)
	} else {
		c.timer.Reset(c.s.goneDelay)
	}
}

// watchDue runs when the timer fires: the running request, if it has run
// goneDelay, is due for the watch; a younger one sets the timer again.
func (c *http1Conn) watchDue() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.inHandler || c.due {
		c.timerSet = false
		return
	}
	if left := c.s.goneDelay - (time.Since(c.accepted) - time.Duration(c.started)); left > 0 {
		c.timer.Reset(left)
		return
	}
	c.timerSet = false
	c.due = true
	if c.bodyDone && !c.watching {
		c.watchLocked()
	}
}

// bodyEnded runs when the request body has been read to its end.
func (c *http1Conn) bodyEnded() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.bodyDone = true
	if c.inHandler && c.due && !c.watching {
		c.watchLocked()
	}
}

func (c *http1Conn) watchLocked() {
	if c.state.Load() == h1Hijacked || c.r.isAhead || c.r.err != nil {
		return // a byte of the next request (or the end) is already known
	}
	// Bytes of a pipelined request may be buffered: the watch reads
	// behind them, and the byte it reads comes after them.
	c.watching = true
	c.watchDone = make(chan struct{})
	_ = c.setReadDeadline(time.Time{})
	go c.watch(c.rctx, c.watchDone)
}

func (c *http1Conn) watch(rctx *requestContext, done chan struct{}) {
	n, err := c.rwc.Read(c.r.ahead[:])
	c.mu.Lock()
	if n == 1 {
		c.r.isAhead = true
	}
	if err != nil && !c.aborting {
		// The client went away (or the handler's own read deadline
		// passed): the request's context ends, as with net/http. A
		// timeout is not kept: the handler may move the deadline on.
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			c.r.err = err
		}
		rctx.cancel(context.Canceled)
	}
	c.watching = false
	c.mu.Unlock()
	close(done)
}

// endWatch stops the watch once the handler has returned (or hijacks).
// The timer stays set (see startWatch).
func (c *http1Conn) endWatch() {
	c.mu.Lock()
	c.inHandler, c.rctx = false, nil
	if !c.watching {
		c.mu.Unlock()
		return
	}
	c.aborting = true
	done := c.watchDone
	_ = c.setReadDeadline(aLongTimeAgo)
	c.mu.Unlock()
	<-done
	c.mu.Lock()
	c.aborting = false
	c.mu.Unlock()
}

// http1Body is a request body: it sends 100 Continue before the first
// read when the client waits for it, tells the watch when the body has
// ended, and refuses reads once the handler has returned.
type http1Body struct {
	c           *http1Conn
	rc          io.ReadCloser // http.ReadRequest's body
	length      int64         // the request's Content-Length, -1 if unknown
	w           *http1Response
	continueDue bool

	mu     sync.Mutex
	closed bool
	eof    bool
	n      int64 // bytes read
}

func (b *http1Body) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return 0, http.ErrBodyReadAfterClose
	}
	if b.eof {
		return 0, io.EOF
	}
	if b.continueDue {
		b.continueDue = false
		if err := b.w.writeContinue(); err != nil {
			return 0, err
		}
	}
	n, err := b.rc.Read(p)
	b.n += int64(n)
	if err == io.EOF {
		b.eof = true
		b.c.bodyEnded()
	}
	return n, err
}

// Close marks the body closed for the handler; what is left of it is
// read (up to maxPostHandlerRead) or the connection closed once the
// handler returns.
func (b *http1Body) Close() error {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	return nil
}

// drain reads the rest of the body after the handler, and reports whether
// it ended within maxPostHandlerRead bytes (the connection may be kept),
// as net/http's server does: a body whose client waits for 100 Continue,
// or was sent it but the body was not read to its end, is not read, nor
// one with maxPostHandlerRead bytes or more known to be left.
func (b *http1Body) drain() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	if b.eof {
		return true
	}
	if b.w != nil {
		return false
	}
	if b.length >= 0 && b.length-b.n >= maxPostHandlerRead {
		return false
	}
	n, err := io.CopyN(io.Discard, b.rc, maxPostHandlerRead+1)
	if err == io.EOF && n <= maxPostHandlerRead {
		b.eof = true
		return true
	}
	return false
}

// ended reports whether the body was read to its end.
func (b *http1Body) ended() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	return b.eof
}
