package proxy

import (
	"cmp"
	"context"
	"errors"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gatekit/gatekit/balancer"
	"github.com/gatekit/gatekit/internal/header"
	"github.com/gatekit/gatekit/internal/problem"
	"github.com/gatekit/gatekit/internal/reqinfo"
)

// Config configures a Proxy. The zero value of each field selects the
// default documented on it.
type Config struct {
	// Transport sends requests to targets. If nil, the proxy sends
	// requests to plain-http targets over its own synchronous HTTP/1.1
	// connections and the others with NewTransport(TransportConfig) (see
	// the package documentation), and Close closes the idle connections
	// of both.
	Transport http.RoundTripper
	// TransportConfig tunes the default transport; it is ignored when
	// Transport is set.
	TransportConfig
	// Logger receives proxy errors (Warn), client disconnections (Info,
	// status 499) and retries (Info: the target that failed, why, and the
	// target tried next). Nil means silent.
	Logger *slog.Logger
	// Name names the upstream pool in log lines.
	Name string
	// ErrorHandler writes the response when a request cannot be proxied:
	// r is the client's request, or the outbound request once a target
	// was picked (its context is the client request's, or one derived
	// from it). err is a *Error (status 503 when no target was available,
	// errors.Is(err, balancer.ErrNoTargets), or when every target tried was
	// unreachable: dial or TLS handshake failures only). It is
	// not called with status 499 responses' bodies in mind: the client is
	// gone. If nil, a problem+json response is written: 502 when the target
	// answered badly, 504 on a timeout, 503 with Retry-After: 1 when no
	// target is available or none tried could be connected to (the request
	// reached no target), and a bare 499 when the
	// client went away.
	ErrorHandler func(w http.ResponseWriter, r *http.Request, err error)
	// Key returns the key that hashing policies pick by (see package
	// reqkey: reqkey.ClientIP, reqkey.Header, reqkey.Parse). If nil, every
	// request has the key "", and New refuses a *balancer.Hash policy
	// (bare or under wrappers), which would then spread one client's
	// requests over every target. It is not used with a *Sticky policy
	// (bare or wrapped), whose key is the request's affinity token.
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
	// Zero means 15s; a negative value disables it (for
	// streaming routes).
	Timeout time.Duration
	// Retry says when a request is sent again to another target.
	Retry RetryConfig
	// StreamIdleTimeout, if positive, aborts a response whose body
	// stalls this long between two reads from the target (the client's
	// connection is aborted, never ended as if complete). Streaming routes
	// set it with a negative Timeout.
	StreamIdleTimeout time.Duration
	// InsecureAllowUnderscoreHeaders forwards request headers whose names
	// contain '_'. By default they are dropped, as nginx does: some
	// backend frameworks read X_Forwarded_For as X-Forwarded-For, so a
	// client could pass a forwarding header the proxy strips under its
	// underscore spelling.
	InsecureAllowUnderscoreHeaders bool
	// WebSocket lets "Upgrade: websocket" requests through to the target
	// (the tunnel is exempt from Timeout). Without it, and for any other
	// upgrade protocol, an upgrade request is answered 400 without
	// contacting a target; "Upgrade: h2c" is always dropped instead.
	WebSocket bool
}

// defaultTimeout is the default Config.Timeout: long enough for slow API
// calls, short enough that a hung target does not hold a client (and a
// connection of the gateway) for minutes.
const defaultTimeout = 15 * time.Second

// Proxy is an http.Handler that forwards each request to a target chosen
// by a Policy. It is safe for concurrent use. Close it to release idle
// upstream connections.
type Proxy struct {
	policy      balancer.Policy
	rp          *httputil.ReverseProxy // forwards WebSocket upgrades; forward does the rest
	buffers     *bufferPool            // response body copy buffers
	large       *bufferPool            // the same for bodies known to be large
	flush       time.Duration          // Config.FlushInterval
	reencode    bool                   // re-encode every query (queryLimitSet)
	transport   http.RoundTripper
	log         *slog.Logger
	onError     func(http.ResponseWriter, *http.Request, error)
	key         func(*http.Request) string
	sticky      *balancer.Sticky // p or the policy it wraps, when a *Sticky: tokens come from requests, pins go on responses
	pool        *balancer.Pool   // the pool p picks from, or nil for a policy from elsewhere
	preserve    bool
	underscores bool // forward header names with '_'
	timeout     time.Duration
	idle        time.Duration
	websocket   bool
	retry       retryPolicy
	guard       *desyncGuard // of the default transport, or nil
	h1          *h1Pool      // synchronous HTTP/1.1 pool of the default transport, or nil
	resends     atomic.Int64 // Transport re-sends seen (Stats.TransportReSends)
	retries     atomic.Int64 // requests sent again to another target (Stats.Retries)
	name        string       // the pool's name in log lines

	h2c *http.Transport // h2c targets' transport, registered on the default one, or nil
}

// Stats are a Proxy's counters since it was created.
type Stats struct {
	// TransportReSends counts the times the upstream connections (the
	// Transport, or the proxy's own HTTP/1.1 ones) tried to send a
	// request again on their own after a connection failed where the
	// request may have been written (HTTP/1 keep-alive races, HTTP/2
	// stream resets). Such a re-send of a non-idempotent request is
	// stopped and answered 502; of an idempotent one, it becomes a retry
	// to another target.
	TransportReSends int64
	// Retries counts the requests sent again to another target.
	Retries int64
	// Desyncs counts the upstream connections of the default transport
	// discarded because a target sent bytes past the end of a response
	// (always zero with a Transport from Config).
	Desyncs int64
}

// Stats returns the proxy's counters: a few atomic loads, cheap enough
// for every metrics scrape.
func (px *Proxy) Stats() Stats {
	st := Stats{TransportReSends: px.resends.Load(), Retries: px.retries.Load()}
	if px.guard != nil {
		st.Desyncs = px.guard.desyncs.Load()
	}
	return st
}

// New returns a Proxy that picks targets with p. It returns an error for a
// nil policy, a hash policy without Config.Key, or an invalid cfg.
func New(p balancer.Policy, cfg Config) (*Proxy, error) {
	if p == nil {
		return nil, errors.New("proxy: nil policy")
	}
	px := &Proxy{policy: p, transport: cfg.Transport, log: cfg.Logger, name: cfg.Name, onError: cfg.ErrorHandler,
		key: cfg.Key, preserve: cfg.PreserveHost, underscores: cfg.InsecureAllowUnderscoreHeaders, timeout: cmp.Or(cfg.Timeout, defaultTimeout),
		idle: cfg.StreamIdleTimeout, websocket: cfg.WebSocket, flush: cfg.FlushInterval, buffers: newBufferPool(256, bufferSize), large: newBufferPool(64, largeBufferSize),
		reencode: queryLimitSet()}
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
		if cfg.MaxConnsPerHost == 0 {
			// The pool has no per-target connection cap; with one, every
			// request goes through the Transport, which queues for it.
			d := &net.Dialer{Timeout: cmp.Or(cfg.DialTimeout, defaultDialTimeout), KeepAlive: 30 * time.Second}
			px.h1 = newH1Pool(g, d, cfg.TransportConfig)
		}
	}
	if px.onError == nil {
		px.onError = WriteError
	}
	px.sticky = find[*balancer.Sticky](p)
	if cfg.Key == nil && px.sticky == nil && find[*balancer.Hash](p) != nil {
		// Every request would have the key "", and a hash policy would
		// spread one client's requests over every target.
		return nil, errors.New("proxy: a Hash policy needs Config.Key (reqkey.ClientIP, reqkey.Header, ...)")
	}
	px.pool = balancer.PoolOf(p)
	if t, ok := px.transport.(*http.Transport); ok && cfg.Transport == nil {
		px.useH2C(t, cfg.TransportConfig) // h2c targets get a Transport of their own
	}
	errLog := log.New(io.Discard, "", 0)
	if cfg.Logger != nil {
		errLog = slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelWarn)
	}
	px.rp = &httputil.ReverseProxy{
		Rewrite:        px.rewrite,
		Transport:      retrier{px},
		FlushInterval:  cfg.FlushInterval,
		ErrorLog:       errLog,
		BufferPool:     px.buffers,
		ModifyResponse: px.modifyResponse,
		ErrorHandler:   px.tunnelError,
	}
	return px, nil
}

// find returns the policy of type P that p is or wraps (looking through
// balancer.Wrapper), or nil.
func find[P balancer.Policy](p balancer.Policy) P {
	var zero P
	for range 64 { // a bound, in case of a wrapper cycle
		if q, ok := p.(P); ok {
			return q
		}
		w, ok := p.(balancer.Wrapper)
		if !ok {
			return zero
		}
		p = w.Unwrap()
	}
	return zero
}

// Available reports whether the pool the proxy's policy picks from has a
// target that can be picked now (healthy, not ejected). It is true for a
// policy from outside package balancer, whose pool the proxy cannot see. A
// weighted route split asks it to send a request to another side while
// this one has nothing to serve it with. Available is safe for concurrent
// use and cheap: one atomic load.
func (px *Proxy) Available() bool {
	return px.pool == nil || px.pool.Available() > 0
}

// Close closes the idle upstream connections of the proxy's transport.
// In-flight requests are not interrupted. It is safe to call more than once.
func (px *Proxy) Close() error {
	if px.h2c != nil {
		px.h2c.CloseIdleConnections()
	}
	if c, ok := px.transport.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
	if px.h1 != nil {
		px.h1.CloseIdleConnections()
	}
	return nil
}

// ServeHTTP picks a target, forwards r to it and reports the outcome to
// the policy. A gRPC call (Content-Type application/grpc*) gets gRPC's
// deadline, errors and stream endings (see serveGRPC).
func (px *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if problem.IsGRPC(r) {
		px.serveGRPC(w, r)
		return
	}
	px.serve(w, r)
}

// serve picks a target, forwards r to it and reports the outcome to the
// policy.
func (px *Proxy) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method == "PRI" || (r.RequestURI == "*" || r.URL.Path == "*") && r.Method != http.MethodOptions {
		// The HTTP/2 connection preface sent to an HTTP/1 server, or an
		// asterisk-form target (RFC 9112 allows it for OPTIONS only):
		// neither names anything on a target, and httputil would forward
		// them as "/%2A". The client does not speak what this connection
		// speaks, so it is closed too.
		w.Header().Set("Connection", "close")
		px.onError(w, r, &Error{Status: http.StatusBadRequest, Err: ErrNotForwardable})
		return
	}
	upgrade := ""
	if len(r.Header["Upgrade"]) > 0 && header.HasToken(r.Header["Connection"], "upgrade") {
		upgrade = r.Header.Get("Upgrade")
		if !strings.EqualFold(upgrade, "h2c") && (!px.websocket || !strings.EqualFold(upgrade, "websocket")) {
			px.onError(w, r, &Error{Status: http.StatusBadRequest, Err: ErrUpgradeNotAllowed})
			return
		}
	}
	key := ""
	switch {
	case px.sticky != nil:
		key = px.sticky.RequestToken(r)
	case px.key != nil:
		key = px.key(r)
	}
	var t *balancer.Target
	var done func(balancer.Result)
	var err error
	t, done, err = px.policy.Pick(r.Context(), key)
	if err != nil {
		status := http.StatusServiceUnavailable
		if r.Context().Err() != nil {
			status = problem.StatusClientClosedRequest
		}
		px.onError(w, r, &Error{Status: status, Err: err})
		return
	}
	x := exchanges.Get().(*exchange)
	x.Context, x.px, x.key, x.in = r.Context(), px, key, r
	x.cur = attempt{target: t, done: done, pin: px.pinFor(t, key)}
	x.tried0[0] = t
	x.tried = x.tried0[:1]
	budget := px.retry.budget
	budget.Begin()
	tunnel := upgrade != "" && !strings.EqualFold(upgrade, "h2c")
	if !tunnel {
		x.w = w // forward relays 1xx responses through the exchange's got1xx
	}
	x.base = x
	if px.idle > 0 {
		var cancelIdle context.CancelFunc
		x.base, cancelIdle = context.WithCancel(x.base)
		x.idleCancel = cancelIdle
		defer cancelIdle()
	}
	now := time.Now()
	if px.timeout > 0 && !strings.EqualFold(upgrade, "websocket") {
		x.deadline = now.Add(px.timeout)
	}
	ctx := x.newAttempt(now)
	defer func() {
		p := recover()
		res := balancer.Result{Err: x.cur.err, Status: x.cur.status, Latency: x.cur.latency, Canceled: x.cur.cancel}
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
		if x.cur.conn != nil && res.Err == nil && !res.Canceled && x.cur.conn.desynced() {
			// The target sent bytes past its response: count it.
			res.Err = errConnDiscarded
		}
		if info := reqinfo.From(w); info != nil {
			// For the access log and metrics around the proxy.
			info.Target, info.Attempts = x.cur.target.ID(), len(x.tried)
		}
		x.cur.done(res)
		x.cancelAll()
		for range x.held + int(x.resent.Load()) {
			budget.Release()
		}
		budget.End()
		if p != nil {
			panic(p)
		}
		if x.settled {
			x.recycle()
		}
	}()
	x.cur.start = now // the retrier's first attempt keeps it
	if tunnel {
		// A WebSocket tunnel: httputil.ReverseProxy hijacks the client's
		// connection once the target agrees.
		x.rw = informWriter{ResponseWriter: w, x: x}
		// ReverseProxy composes its trace with the one it finds on the
		// request, before the retrier sees it: the exchange's must be
		// there already.
		x.traceOn()
		px.rp.ServeHTTP(&x.rw, r.WithContext(ctx))
		return
	}
	px.forward(w, r, x, ctx)
}

// pinFor returns the sticky token to set on the response when t answers a
// request that carried key, or "" when the request is already pinned to t
// or the policy is not sticky.
func (px *Proxy) pinFor(t *balancer.Target, key string) string {
	if px.sticky == nil {
		return ""
	}
	if tok := px.sticky.Token(t); tok != key {
		return tok
	}
	return ""
}

// modifyResponse is ReverseProxy's ModifyResponse (for upgrades): it
// notes the response.
func (px *Proxy) modifyResponse(resp *http.Response) error {
	if x := exchangeFrom(resp.Request.Context()); x != nil {
		px.noteResponse(x, resp, resp.Header)
	}
	return nil
}
