package balancer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gatekit/gatekit/internal/problem"
)

// Config configures a Proxy. The zero value of each field selects the
// default documented on it.
type Config struct {
	// Transport sends requests to targets. If nil, NewProxy builds one
	// with NewTransport(TransportConfig), and Close closes its idle
	// connections.
	Transport http.RoundTripper
	// TransportConfig tunes the default transport; it is ignored when
	// Transport is set.
	TransportConfig
	// Logger receives proxy errors (Warn) and client disconnections (Info,
	// status 499). Nil means silent.
	Logger *slog.Logger
	// ErrorHandler writes the response when a request cannot be proxied;
	// err is a *ProxyError (status 503 when no target was available,
	// errors.Is(err, ErrNoTargets), or when every target tried was
	// unreachable: dial or TLS handshake failures only). It is
	// not called with status 499 responses' bodies in mind: the client is
	// gone. If nil, a problem+json response is written: 502 when the target
	// answered badly, 504 on a timeout, 503 with Retry-After: 1 when no
	// target is available or none tried could be connected to (the request
	// reached no target), and a bare 499 when the
	// client went away.
	ErrorHandler func(w http.ResponseWriter, r *http.Request, err error)
	// Key returns the key that hashing policies pick by (see package
	// reqkey: reqkey.ClientIP, reqkey.Header, reqkey.Parse). If nil, every request has the key "". It is
	// not used with a *Sticky policy (bare or wrapped), whose key is the request's
	// affinity token.
	Key func(r *http.Request) string
	// PreserveHost forwards the client's Host header instead of the
	// target's host.
	PreserveHost bool
	// FlushInterval is httputil.ReverseProxy.FlushInterval: zero flushes
	// only streaming responses (text/event-stream or unknown length)
	// immediately, a negative value flushes after every write.
	FlushInterval time.Duration
	// Timeout bounds a whole request, retries and back-off included, up
	// to the end of the response body; expiry is a 504 problem when no
	// response was started, and aborts the client connection otherwise.
	// Zero means DefaultTimeout (15s); a negative value disables it (for
	// streaming routes).
	Timeout time.Duration
	// Retry says when a request is sent again to another target.
	Retry RetryConfig
	// StreamIdleTimeout, if positive, aborts a response whose body
	// stalls this long between two reads from the target (the client's
	// connection is aborted, never ended as if complete). Streaming routes
	// set it with a negative Timeout.
	StreamIdleTimeout time.Duration
	// WebSocket lets "Upgrade: websocket" requests through to the target
	// (the tunnel is exempt from Timeout). Without it, and for any other
	// upgrade protocol, an upgrade request is answered 400 without
	// contacting a target; "Upgrade: h2c" is always dropped instead.
	WebSocket bool
}

// DefaultTimeout is the default Config.Timeout, from
// reference/RELIABILITY.md §6.4.
const DefaultTimeout = 15 * time.Second

// ProxyError describes why a request was not proxied. Proxy passes it to
// Config.ErrorHandler.
type ProxyError struct {
	// Status is the status the default handler answers with: 400, 413,
	// 499, 502, 503 or 504.
	Status int
	// Target is the target the request was sent to, or nil.
	Target *Target
	// Err is the underlying error (ErrNoTargets, a transport error).
	Err error
}

// Error returns a description for logs; it is not meant for clients.
func (e *ProxyError) Error() string {
	if e.Target == nil {
		return fmt.Sprintf("balancer: %d: %v", e.Status, e.Err)
	}
	return fmt.Sprintf("balancer: %d from %s: %v", e.Status, e.Target.url.Redacted(), e.Err)
}

// Unwrap returns e.Err.
func (e *ProxyError) Unwrap() error { return e.Err }

// Proxy is an http.Handler that forwards each request to a target chosen
// by a Policy. It is safe for concurrent use. Close it to release idle
// upstream connections.
type Proxy struct {
	policy    Policy
	rp        *httputil.ReverseProxy
	transport http.RoundTripper
	log       *slog.Logger
	onError   func(http.ResponseWriter, *http.Request, error)
	key       func(*http.Request) string
	sticky    *Sticky // p or the policy it wraps, when a *Sticky: tokens come from requests, pins go on responses
	preserve  bool
	timeout   time.Duration
	idle      time.Duration
	websocket bool
	retry     retryPolicy
	guard     *desyncGuard // of the default transport, or nil
	resends   atomic.Int64 // Transport re-sends seen (see TransportReSends)
}

// TransportReSends returns how many times the Transport tried to send a
// request again on its own after a connection failed where the request
// may have been written (HTTP/1 keep-alive races, HTTP/2 stream resets).
// Such a re-send of a non-idempotent request is stopped and answered 502;
// of an idempotent one, it becomes a retry to another target.
func (px *Proxy) TransportReSends() int64 { return px.resends.Load() }

// NewProxy returns a Proxy that picks targets with p. It returns an error
// for a nil policy or an invalid cfg.
func NewProxy(p Policy, cfg Config) (*Proxy, error) {
	if p == nil {
		return nil, errors.New("balancer: nil policy")
	}
	px := &Proxy{policy: p, transport: cfg.Transport, log: cfg.Logger, onError: cfg.ErrorHandler,
		key: cfg.Key, preserve: cfg.PreserveHost, timeout: cfg.Timeout,
		idle: cfg.StreamIdleTimeout, websocket: cfg.WebSocket}
	if px.timeout == 0 {
		px.timeout = DefaultTimeout
	}
	rp, err := newRetryPolicy(cfg.Retry)
	if err != nil {
		return nil, err
	}
	px.retry = rp
	if px.transport == nil {
		t, g, err := newGuardedTransport(cfg.TransportConfig)
		if err != nil {
			return nil, err
		}
		px.transport, px.guard = t, g
	}
	if px.onError == nil {
		px.onError = WriteError
	}
	px.sticky = findSticky(p)
	errLog := log.New(io.Discard, "", 0)
	if cfg.Logger != nil {
		errLog = slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelWarn)
	}
	px.rp = &httputil.ReverseProxy{
		Rewrite:        px.rewrite,
		Transport:      retrier{px},
		FlushInterval:  cfg.FlushInterval,
		ErrorLog:       errLog,
		BufferPool:     newBufferPool(256),
		ModifyResponse: px.modifyResponse,
		ErrorHandler:   px.proxyError,
	}
	return px, nil
}

// Wrapper is a Policy that picks with another one (Outlier.Wrap,
// Breaker, SlowStart). NewProxy looks through wrappers for a *Sticky
// policy, whose tokens come from requests and whose pins go on responses.
type Wrapper interface {
	Policy
	// Unwrap returns the wrapped policy.
	Unwrap() Policy
}

// findSticky returns the *Sticky policy p is or wraps, or nil.
func findSticky(p Policy) *Sticky {
	for range 64 { // a bound, in case of a wrapper cycle
		if s, ok := p.(*Sticky); ok {
			return s
		}
		w, ok := p.(Wrapper)
		if !ok {
			return nil
		}
		p = w.Unwrap()
	}
	return nil
}

// Close closes the idle upstream connections of the proxy's transport.
// In-flight requests are not interrupted. It is safe to call more than once.
func (px *Proxy) Close() error {
	if c, ok := px.transport.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
	return nil
}

// exchange is the proxy's per-request state, carried in the request
// context. It is itself the context.Context that carries it (the
// request's context with the exchange as the exchangeKey value), and
// holds the request's ClientTrace, so that one allocation does for all
// three.
type exchange struct {
	context.Context // the inbound request's context

	trace   httptrace.ClientTrace
	target  *Target
	done    func(Result) // done of the current attempt's Pick
	start   time.Time    // start of the current attempt
	gotConn atomic.Bool  // a connection was obtained in the current attempt
	conns   atomic.Int32 // connections obtained in the current attempt
	hidden  atomic.Int32 // Transport re-sends stopped (GotConn after the first)
	resent  atomic.Int32 // Transport re-sends let through, charged to the budget
	idem    bool         // the request may be sent twice on this route
	// informed: a 1xx response was relayed to the client (a response byte
	// went out: no more retries)
	informed atomic.Bool
	rw       informWriter // the client's ResponseWriter as ReverseProxy sees it
	// maybeReached: some attempt may have reached a target (all failed
	// attempts so far were never-reached ones when false)
	maybeReached bool
	status       int
	latency      time.Duration
	err          error
	cancel       bool
	pin          string // sticky token to set on the response, if any

	key     string
	in      *http.Request
	baseURL url.URL     // outbound URL before a target was applied
	body    *replayBody // request body kept for retries, or nil
	tried   []*Target
	tried0  [2]*Target // tried's initial backing array
	retries int        // retries sent
	held    int        // retry budget reservations to release
	conn    *guardConn // connection of the current attempt, if guarded

	idleCancel context.CancelFunc // aborts a stalled stream, or nil

	// base is the request's context without the route's deadline: the
	// exchange with its trace, and the idle cancel if any. Each attempt
	// runs in a child of base with the deadline (one context per attempt
	// rather than a deadline context and a cancel context under it).
	base          context.Context
	deadline      time.Time          // the route's deadline, or zero
	cancelAttempt context.CancelFunc // cancels the current attempt only
	cancels       []context.CancelFunc
}

// newAttempt returns the context of a new attempt: a child of x.base
// with the route's deadline, which x.cancelAttempt cancels alone. The
// contexts of earlier attempts stay live (a response they carried may
// still be in use) until cancelAll.
func (x *exchange) newAttempt() context.Context {
	if x.cancelAttempt != nil {
		x.cancels = append(x.cancels, x.cancelAttempt)
	}
	var ctx context.Context
	if x.deadline.IsZero() {
		ctx, x.cancelAttempt = context.WithCancel(x.base)
	} else {
		ctx, x.cancelAttempt = context.WithDeadline(x.base, x.deadline)
	}
	return ctx
}

// cancelAll cancels the contexts of every attempt.
func (x *exchange) cancelAll() {
	x.cancelAttempt()
	for _, c := range x.cancels {
		c()
	}
}

// ctxErr returns the error of the request's context, deadline included
// (context.DeadlineExceeded once the route's deadline has passed), but not
// of an attempt's, which a stopped re-send cancels.
func (x *exchange) ctxErr() error {
	if err := x.base.Err(); err != nil {
		return err
	}
	if !x.deadline.IsZero() && !time.Now().Before(x.deadline) {
		return context.DeadlineExceeded
	}
	return nil
}

// informWriter notes the 1xx responses ReverseProxy relays to the client
// as they arrive (103 Early Hints, 100 Continue): from then on a response
// has started, and the request is never retried. (A Got1xxResponse trace
// hook would do too, but composing it with ReverseProxy's own costs
// several allocations per request.)
type informWriter struct {
	http.ResponseWriter
	x *exchange
}

// WriteHeader notes a relayed 1xx response and writes the header.
func (w *informWriter) WriteHeader(code int) {
	if code >= 100 && code < 200 && code != http.StatusSwitchingProtocols {
		w.x.informed.Store(true)
	}
	w.ResponseWriter.WriteHeader(code)
}

// Unwrap returns the client's ResponseWriter, for http.ResponseController.
func (w *informWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

type exchangeKey struct{}

// Value returns x for exchangeKey and the inbound context's values
// otherwise, as context.WithValue(x.Context, exchangeKey{}, x) would.
func (x *exchange) Value(key any) any {
	if key == (exchangeKey{}) {
		return x
	}
	return x.Context.Value(key)
}

func exchangeFrom(ctx context.Context) *exchange {
	x, _ := ctx.Value(exchangeKey{}).(*exchange)
	return x
}

// TargetFrom returns the target a Proxy picked for the request whose
// context is ctx. It is available to Transport, ModifyResponse-style
// hooks and ErrorHandler.
func TargetFrom(ctx context.Context) (*Target, bool) {
	if x := exchangeFrom(ctx); x != nil {
		return x.target, true
	}
	return nil, false
}

// ServeHTTP picks a target, forwards r to it and reports the outcome to
// the policy.
func (px *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	upgrade := ""
	if len(r.Header["Upgrade"]) > 0 && headerHasToken(r.Header["Connection"], "upgrade") {
		upgrade = r.Header.Get("Upgrade")
		if !strings.EqualFold(upgrade, "h2c") && (!px.websocket || !strings.EqualFold(upgrade, "websocket")) {
			px.onError(w, r, &ProxyError{Status: http.StatusBadRequest, Err: ErrUpgradeNotAllowed})
			return
		}
	}
	key := ""
	switch {
	case px.sticky != nil:
		key = px.sticky.requestToken(r)
	case px.key != nil:
		key = px.key(r)
	}
	var t *Target
	var done func(Result)
	var err error
	t, done, err = px.policy.Pick(r.Context(), key)
	if err != nil {
		status := http.StatusServiceUnavailable
		if r.Context().Err() != nil {
			status = problem.StatusClientClosedRequest
		}
		px.onError(w, r, &ProxyError{Status: status, Err: err})
		return
	}
	x := &exchange{Context: r.Context(), target: t, done: done, key: key, in: r}
	x.tried0[0] = t
	x.tried = x.tried0[:1]
	budget := px.retry.budget
	budget.Begin()
	if px.sticky != nil {
		if tok := px.sticky.Token(t); tok != key {
			x.pin = tok
		}
	}
	x.trace.GotConn = func(info httptrace.GotConnInfo) {
		x.gotConn.Store(true)
		prev := x.conn
		x.conn, _ = info.Conn.(*guardConn)
		if x.conns.Add(1) > 1 {
			px.transportReSend(x, prev)
		}
	}
	x.base = httptrace.WithClientTrace(x, &x.trace)
	if px.idle > 0 {
		var cancelIdle context.CancelFunc
		x.base, cancelIdle = context.WithCancel(x.base)
		x.idleCancel = cancelIdle
		defer cancelIdle()
	}
	if px.timeout > 0 && !strings.EqualFold(upgrade, "websocket") {
		x.deadline = time.Now().Add(px.timeout)
	}
	ctx := x.newAttempt()
	defer func() {
		p := recover()
		res := Result{Err: x.err, Status: x.status, Latency: x.latency, Canceled: x.cancel}
		if p != nil && !res.Canceled {
			// The body copy failed (ReverseProxy panics with
			// http.ErrAbortHandler): the client went away or the
			// target died mid-body.
			if r.Context().Err() != nil {
				res.Canceled = true
			} else if res.Err == nil {
				res.Err = io.ErrUnexpectedEOF
			}
		}
		if x.conn != nil && res.Err == nil && !res.Canceled && x.conn.desynced() {
			// The target sent bytes past its response: count it.
			res.Err = errConnDiscarded
		}
		x.done(res)
		x.cancelAll()
		for range x.held + int(x.resent.Load()) {
			budget.Release()
		}
		budget.End()
		if p != nil {
			panic(p)
		}
	}()
	x.start = time.Now()
	x.rw = informWriter{ResponseWriter: w, x: x}
	px.rp.ServeHTTP(&x.rw, r.WithContext(ctx))
}

// modifyResponse records the response status and time to first byte.
func (px *Proxy) modifyResponse(resp *http.Response) error {
	if x := exchangeFrom(resp.Request.Context()); x != nil {
		x.status = resp.StatusCode
		x.latency = time.Since(x.start)
		if x.pin != "" {
			px.sticky.pin(resp.Header, resp.Request, x.pin)
		}
	}
	return nil
}

// proxyError classifies a failed round trip, records it for done, logs it
// and hands it to the error handler.
func (px *Proxy) proxyError(w http.ResponseWriter, r *http.Request, err error) {
	x := exchangeFrom(r.Context())
	pe := &ProxyError{Status: http.StatusBadGateway, Err: err}
	if x != nil {
		pe.Target = x.target
		x.latency = time.Since(x.start)
	}
	ctxErr := r.Context().Err()
	inbound := false // the inbound request's own context ended
	if x != nil {
		ctxErr = x.ctxErr() // not the attempt's, which a stopped re-send cancels
		inbound = x.in.Context().Err() != nil
	}
	var cbe *ClientBodyError
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		pe.Status = http.StatusRequestEntityTooLarge
	case errors.As(err, &cbe) && ctxErr == nil:
		pe.Status = http.StatusBadRequest
	case errors.Is(ctxErr, context.Canceled):
		pe.Status = problem.StatusClientClosedRequest
	case errors.Is(ctxErr, context.DeadlineExceeded):
		pe.Status = http.StatusGatewayTimeout
	case x != nil && !x.maybeReached && neverReached(err, x.gotConn.Load()):
		// Every target tried refused the connection, or its dial or
		// TLS handshake failed: none is available, and the request
		// provably reached none, so the client may send it again.
		pe.Status = http.StatusServiceUnavailable
	case x != nil && !x.gotConn.Load():
		pe.Status = http.StatusBadGateway
	case isTimeout(err):
		pe.Status = http.StatusGatewayTimeout
	}
	if x != nil {
		if pe.Status == problem.StatusClientClosedRequest || pe.Status < 500 || inbound {
			// The client went away, sent a bad body, or a deadline
			// set before the proxy expired: a local outcome that says
			// nothing about the target. (The route's own Timeout
			// does count.)
			x.cancel = true
		} else {
			x.err = err
			x.status = 0
		}
	}
	if px.log != nil {
		target := ""
		if pe.Target != nil {
			target = pe.Target.url.Redacted()
		}
		if pe.Status == problem.StatusClientClosedRequest {
			px.log.LogAttrs(r.Context(), slog.LevelInfo, "balancer: client closed request",
				slog.Int("status", pe.Status), slog.String("target", target), slog.String("path", r.URL.Path))
		} else {
			px.log.LogAttrs(r.Context(), slog.LevelWarn, "balancer: proxy error",
				slog.Int("status", pe.Status), slog.String("target", target), slog.String("path", r.URL.Path),
				slog.String("error", err.Error()))
		}
	}
	px.onError(w, r, pe)
}

func isTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// WriteError is the default Config.ErrorHandler: a problem+json response
// with the status of err's *ProxyError (502 for any other error; 503 with
// Retry-After: 1 for ErrNoTargets), or a bare 499 when the client went
// away. It never writes internal error text.
func WriteError(w http.ResponseWriter, r *http.Request, err error) {
	status := http.StatusBadGateway
	var pe *ProxyError
	if errors.As(err, &pe) {
		status = pe.Status
	} else if errors.Is(err, ErrNoTargets) {
		status = http.StatusServiceUnavailable
	}
	switch status {
	case problem.StatusClientClosedRequest:
		w.WriteHeader(status)
		return
	case http.StatusServiceUnavailable:
		w.Header().Set("Retry-After", "1")
		problem.Write(w, status, "no upstream server is available")
	case http.StatusGatewayTimeout:
		problem.Write(w, status, "the upstream server did not answer in time")
	case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
		if errors.Is(err, ErrUpgradeNotAllowed) {
			problem.Write(w, status, "protocol upgrade not allowed on this route")
			return
		}
		problem.Write(w, status, "the request body could not be read")
	default:
		problem.Write(w, status, "the upstream server could not be reached or answered invalidly")
	}
}
