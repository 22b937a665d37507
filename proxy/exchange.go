package proxy

import (
	"context"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatekit/gatekit/balancer"
)

// exchange is the proxy's per-request state, carried in the request
// context. It is itself the context.Context that carries it (the
// request's context with the exchange as the exchangeKey value), so that
// one allocation does for both.
//
// The synchronous pool calls the exchange's hooks (gotConn, got1xx)
// itself. Any other RoundTripper learns of them from a ClientTrace, which
// traceOn puts into the exchange's contexts the first time one is used:
// most requests never pay for the trace.
type exchange struct {
	context.Context // the inbound request's context

	px *Proxy
	// traced is the exchange's ClientTrace, once traceOn has run; the
	// exchange's values are then its context's.
	traced atomic.Pointer[exchangeTrace]
	cur    attempt // the current attempt
	key    string
	in     *http.Request
	rw     informWriter        // the client's ResponseWriter as ReverseProxy sees it (upgrades)
	w      http.ResponseWriter // the client's ResponseWriter (forward), for got1xx

	mu           sync.Mutex // guards w's header against got1xx after the round trip
	roundTripped bool       // the round trip returned: got1xx does nothing
	idem         bool       // the request may be sent twice on this route

	resent atomic.Int32 // Transport re-sends let through, charged to the budget
	// informed: a 1xx response was relayed to the client (a response byte
	// went out: no more retries)
	informed atomic.Bool
	// maybeReached: some attempt may have reached a target (all failed
	// attempts so far were never-reached ones when false)
	maybeReached bool

	out    http.Request // forward's outbound request, which its first attempt sends
	outURL url.URL      // the first attempt's URL
	fwd    [4]string    // the X-Forwarded-* values of the outbound header
	// tunnelURL is the outbound URL of a protocol upgrade before a target
	// was applied (see baseURL), nil for other requests.
	tunnelURL *url.URL
	body      *replayBody // request body kept for retries, or nil
	tried     []*balancer.Target
	tried0    [2]*balancer.Target // tried's initial backing array
	retries   int                 // retries sent
	held      int                 // retry budget reservations to release

	idleCancel context.CancelFunc // aborts a stalled stream, or nil
	// settled: nothing will hold the exchange once serve returns (see
	// settle), which then recycles it.
	settled bool

	// base is the request's context without the route's deadline: the
	// exchange with its trace, and the idle cancel if any. Each attempt
	// runs in an attemptCtx of base with the deadline (one context per
	// attempt rather than a deadline context and a cancel context under
	// it), the first one ctx0.
	base     context.Context
	deadline time.Time   // the route's deadline, or zero
	actx     *attemptCtx // the current attempt's context
	ctx0     attemptCtx
	earlier  []*attemptCtx // the contexts of earlier attempts
}

// attempt is the state of one try of a request on one target. Every try
// starts from a fresh value, assigned at once (x.cur = attempt{...}), so
// that nothing of an earlier try leaks into the next.
type attempt struct {
	target  *balancer.Target
	done    func(balancer.Result) // done of the attempt's Pick
	pin     string                // sticky token to set on the response, if any
	start   time.Time             // when the attempt was sent
	conn    *guardConn            // connection of the attempt, if guarded
	res     *h1Response           // the pool's storage of the attempt's response, if any
	gotConn atomic.Bool           // a connection was obtained
	conns   atomic.Int32          // connections obtained
	hidden  atomic.Int32          // Transport re-sends stopped (GotConn after the first)

	// The outcome, for done.
	status  int
	latency time.Duration
	err     error
	cancel  bool // a local outcome that says nothing about the target
}

// newAttempt returns the context of a new attempt made at the time now:
// base with the route's deadline, which x.cancelAttempt cancels alone.
// The contexts of earlier attempts stay live (a response they carried may
// still be in use) until cancelAll.
func (x *exchange) newAttempt(now time.Time) context.Context {
	if x.actx == nil {
		x.ctx0.init(x.base, x.deadline, now)
		x.actx = &x.ctx0
	} else {
		x.earlier = append(x.earlier, x.actx)
		x.actx = newAttemptCtx(x.base, x.deadline, now)
	}
	return x.actx
}

// cancelAttempt cancels the current attempt's context.
func (x *exchange) cancelAttempt() { x.actx.cancel() }

// cancelAll cancels the contexts of every attempt.
func (x *exchange) cancelAll() {
	x.actx.cancel()
	for _, a := range x.earlier {
		a.cancel()
	}
}

// ctxErr returns the error of the request's context, deadline included
// (context.DeadlineExceeded once the route's deadline has passed), but not
// of an attempt's, which a stopped re-send cancels.
func (x *exchange) ctxErr() error { return endErr(x.base, x.deadline, time.Now()) }

// informWriter notes the 1xx responses ReverseProxy relays to the client
// (on the upgrade path)
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
// otherwise, as context.WithValue(x.Context, exchangeKey{}, x) would;
// once traceOn has run, the exchange's ClientTrace is among them.
func (x *exchange) Value(key any) any {
	if key == (exchangeKey{}) {
		return x
	}
	if t := x.traced.Load(); t != nil {
		return t.ctx.Value(key)
	}
	return x.Context.Value(key)
}

// traceOn makes the exchange's hooks a ClientTrace in its contexts (and
// so in every attempt's), composed with a trace the inbound request
// already had, as httptrace.WithClientTrace composes them. It runs once,
// before a RoundTripper other than the pool first sees the exchange.
func (x *exchange) traceOn() {
	if x.traced.Load() != nil {
		return
	}
	t := &exchangeTrace{trace: httptrace.ClientTrace{GotConn: x.gotConn, Got1xxResponse: x.got1xx}}
	t.ctx = httptrace.WithClientTrace(x.Context, &t.trace)
	x.traced.Store(t)
}

// exchanges holds exchange records that nothing holds any more (see
// settle), for serve to fill again: a record used again is in the cache
// where a new one would not be.
var exchanges = sync.Pool{New: func() any { return new(exchange) }}

// settle marks x, whose response forward has relayed whole and closed,
// to be recycled when serve returns, with its response's storage and its
// outbound header map, if nothing can hold them by then: its one attempt
// went through the pool
// alone (no Transport goroutine, and the connection, released, no longer
// watches the attempt's context), on a connection it did not dial, no
// error handler was given its request, and no stream idle timer runs
// with it. A dial makes the attempt's real context (net.Dialer derives
// from it and waits on it), and a goroutine of the dial (a Happy Eyeballs
// fallback, a shared DNS lookup) may still read values through it after
// the dial returned. An exchange that a dial, a retry, a Transport or an
// error touched is left to the garbage collector (a protocol upgrade
// never reaches forward).
func (x *exchange) settle() {
	x.settled = x.poolOnly() && len(x.earlier) == 0 && x.ctx0.made.Load() == nil && x.idleCancel == nil
}

// recycle empties x, the storage of its response and its outbound header
// map, and puts them in exchanges, h1Responses and outboundHeaders. serve
// calls it last, once the policy was told the outcome.
func (x *exchange) recycle() {
	recycleOutbound(x, &x.out)
	px, r := x.px, x.cur.res
	*x = exchange{}
	if r != nil {
		*r = h1Response{}
	}
	if testHookRecycled != nil {
		testHookRecycled(px, x, r)
	}
	if r != nil {
		h1Responses.Put(r)
	}
	exchanges.Put(x)
}

// testHookRecycled, when a test sets it, sees each exchange that recycle
// emptied, the proxy it served and its response's storage (nil if none),
// before they are put in their pools.
var testHookRecycled func(*Proxy, *exchange, *h1Response)

// poolOnly reports whether only the synchronous pool has sent x's
// attempts: no Transport saw it (traceOn runs before one does), so no
// Transport goroutine may still hold its request or its response.
func (x *exchange) poolOnly() bool { return x.traced.Load() == nil }

// exchangeTrace is an exchange's ClientTrace, and the inbound context
// with it.
type exchangeTrace struct {
	trace httptrace.ClientTrace
	ctx   context.Context
}

// gotConn notes the connection an attempt got. A second connection for
// one attempt is a re-send by the RoundTripper (the pool's, or
// http.Transport's after a keep-alive race), which transportReSend may
// stop.
func (x *exchange) gotConn(info httptrace.GotConnInfo) {
	x.cur.gotConn.Store(true)
	prev := x.cur.conn
	x.cur.conn, _ = info.Conn.(*guardConn)
	if x.cur.conns.Add(1) > 1 {
		x.px.transportReSend(x, prev)
	}
}

// baseURL returns the outbound URL before a target was applied, which
// every retry starts from: the inbound URL with its query cleaned as
// forward cleans it (computed again rather than kept: retries are rare),
// or for a protocol upgrade the one httputil.ReverseProxy made.
func (x *exchange) baseURL() url.URL {
	if x.tunnelURL != nil {
		return *x.tunnelURL
	}
	u := *x.in.URL
	u.RawQuery = cleanQuery(u.RawQuery, x.px.reencode)
	return u
}

func exchangeFrom(ctx context.Context) *exchange {
	x, _ := ctx.Value(exchangeKey{}).(*exchange)
	return x
}

// TargetFrom returns the target a Proxy picked for the request whose
// context is ctx. It is available to Transport, ModifyResponse-style
// hooks and ErrorHandler.
func TargetFrom(ctx context.Context) (*balancer.Target, bool) {
	if x := exchangeFrom(ctx); x != nil {
		return x.cur.target, true
	}
	return nil, false
}
