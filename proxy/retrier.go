package proxy

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"time"

	"github.com/gatekit/gatekit/balancer"
	"github.com/gatekit/gatekit/internal/problem"
)

// retrier is the ReverseProxy's Transport. It sends the outbound request
// to the picked target and, when RetryConfig allows, to other targets. It
// runs before ReverseProxy writes anything to the client, so a retry never
// follows a response byte.
type retrier struct{ px *Proxy }

// maxDrain is how much of a discarded 5xx body is read so that its
// connection can be reused.
const maxDrain = 4 << 10

// RoundTrip sends out, whose context is its first attempt's (the path of
// protocol upgrades, through ReverseProxy).
func (rt retrier) RoundTrip(out *http.Request) (*http.Response, error) {
	x := exchangeFrom(out.Context())
	if x == nil {
		return rt.px.transport.RoundTrip(out)
	}
	return rt.send(x, out, out.Context())
}

// send sends out, x's outbound request, with ctx as its first attempt's
// context, whatever out's own context is, and retries it as RetryConfig
// allows; later attempts are copies of out with contexts of their own.
func (rt retrier) send(x *exchange, out *http.Request, ctx context.Context) (*http.Response, error) {
	px := rt.px
	rp := &px.retry
	if out.Body != nil && out.Body != http.NoBody {
		limit := rp.maxBody
		if rp.retries == 0 {
			limit = -1 // no retry is possible: stream the body once
		}
		if problem.IsGRPC(x.in) {
			// A gRPC stream may not end before the response starts:
			// never read ahead (see newGRPCBody).
			x.body = newGRPCBody(out.Body, limit)
		} else {
			rb, err := newReplayBody(out.Body, out.ContentLength, limit)
			if err != nil {
				return nil, err
			}
			x.body = rb
		}
	}
	idem := rp.idempotent(x.in)
	x.idem = idem
	req := out
	actx := ctx // the attempt's context
	// n is the attempt number, 0 for the first.
	for n := 0; ; n++ {
		if n > 0 {
			req = px.retarget(x, out, actx)
		}
		if x.body != nil {
			x.body.attempt(req, idem)
		}
		if px.guard.quarantined(x.cur.target.URL()) {
			req.Close = true // quarantine: never reuse a connection to it
		}
		if n > 0 {
			x.cur.start = time.Now() // the first attempt's is the request's start
		}
		resp, err := px.send(x, req, actx)
		// One clock reading for the time to the response header (which
		// noteResponse reports) and the route's deadline.
		now := time.Now()
		x.cur.latency = now.Sub(x.cur.start)
		if err == nil || x.cur.hidden.Load() > 0 || !neverReached(err, x.cur.gotConn.Load()) {
			x.maybeReached = true
		}
		if endErr(x.base, x.deadline, now) != nil || n+int(x.resent.Load()) >= rp.retries || x.informed.Load() {
			return px.streaming(x, resp), err
		}
		free := false // a retry that adds no load: the budget does not apply
		switch {
		case x.cur.hidden.Load() > 0:
			// A re-send by the Transport was stopped: the request may
			// have reached the target (an HTTP/2 Transport re-sends
			// after a stream reset that followed the whole request,
			// and only the framing guard of an HTTP/1 connection can
			// prove that nothing was written). Only an idempotent
			// request goes to another target, charged to the budget.
			if resp != nil {
				resp.Body.Close()
				resp = nil
			}
			err = errHiddenRetry
			if !idem {
				return nil, err
			}
		case err != nil && isClientBodyError(err):
			return resp, err
		case err != nil && neverReached(err, x.cur.gotConn.Load()):
			free = true
		case err != nil && idem:
		case err == nil && idem && retryableStatus(resp.StatusCode):
		case err == nil && rp.retryableGRPC(resp):
		default:
			return px.streaming(x, resp), err
		}
		if !x.body.rewindable() || !free && !rp.budget.Acquire() {
			return px.streaming(x, resp), err
		}
		next, done, perr := px.pickOther(x)
		if perr != nil {
			if !free {
				rp.budget.Release()
			}
			return px.streaming(x, resp), err
		}
		if !free {
			x.held++
		}
		res := balancer.Result{Err: err, Latency: x.cur.latency}
		if resp != nil {
			res.Status = resp.StatusCode
			io.CopyN(io.Discard, resp.Body, maxDrain)
			resp.Body.Close()
		}
		x.cur.done(res)
		px.retries.Add(1)
		if px.log != nil {
			px.logRetry(x, next, res)
		}
		// A fresh attempt; the session is re-pinned to the target that
		// answers.
		x.cur = attempt{target: next, done: done, pin: px.pinFor(next, x.key)}
		x.tried = append(x.tried, next)
		x.retries++
		actx = x.newAttempt(time.Now())
		if err := sleepCtx(actx, rp.backoff(n+1)); err != nil {
			return nil, err
		}
	}
}

// isClientBodyError reports whether err is or wraps a *ClientBodyError.
// (A helper, so that the target of errors.As is allocated only when there
// is an error.)
func isClientBodyError(err error) bool {
	var cbe *ClientBodyError
	return errors.As(err, &cbe)
}

// transportReSend runs when net/http's Transport is about to send the
// request again on its own, after a reused connection failed (it does so
// for requests it deems replayable, or when nothing was written).
func (px *Proxy) transportReSend(x *exchange, prev *guardConn) {
	if prev != nil && !prev.wroteRequest() {
		return // nothing went out on the failed connection: harmless
	}
	if prev == nil && x.body != nil && !x.idem {
		// An unguarded connection (HTTP/2, as to h2c and most https
		// targets): net/http's Transports re-send a request whose body
		// they cannot rewind (no GetBody, as every non-idempotent
		// request has) only when none of it was written, such as a
		// stream opened on an HTTP/2 connection found unusable.
		return
	}
	px.resends.Add(1)
	if p := x.cur.target.Pool(); !x.idem || p == nil || p.Available() > 1 {
		// The request may have reached the target. Stop the re-send
		// before a byte is written; the retrier decides, and sends an
		// idempotent request to another target if at all. A
		// non-idempotent one is never sent again.
		x.cur.hidden.Add(1)
		if x.cur.conn != nil {
			x.cur.conn.refuse()
		}
		x.cancelAttempt()
		return
	}
	// An idempotent request to the only target (a keep-alive race with
	// it, typically): let the re-send through and count it as this
	// request's retry.
	x.resent.Add(1)
	px.retry.budget.force()
}

// retarget returns a copy of out addressed to x.cur.target, built from the
// outbound URL as it was before the first target was applied, in the
// fresh attempt context ctx (the previous one may have been cancelled to
// stop a Transport re-send).
func (px *Proxy) retarget(x *exchange, out *http.Request, ctx context.Context) *http.Request {
	r := out.Clone(ctx)
	u := x.baseURL()
	r.URL = &u
	pr := &httputil.ProxyRequest{In: x.in, Out: r}
	px.route(pr, x.cur.target)
	return r
}

// pickOther picks a target the request has not been sent to yet. Hashing
// policies are asked with derived keys so that they can answer with
// another target.
func (px *Proxy) pickOther(x *exchange) (*balancer.Target, func(balancer.Result), error) {
	t, done, err := balancer.PickUntil(x.in.Context(), px.policy, x.key, func(t *balancer.Target) bool {
		return !x.triedTarget(t)
	})
	if err == nil && t == nil {
		err = balancer.ErrNoTargets
	}
	return t, done, err
}

func (x *exchange) triedTarget(t *balancer.Target) bool {
	for _, u := range x.tried {
		if u == t {
			return true
		}
	}
	return false
}

// dialAddr returns the host:port net/http dials for u.
func dialAddr(u *url.URL) string {
	if u.Port() != "" {
		return u.Host
	}
	port := "80"
	if u.Scheme == "https" {
		port = "443"
	}
	return net.JoinHostPort(u.Hostname(), port)
}

// logRetry records that the request is sent again to next after the
// current attempt ended with res.
func (px *Proxy) logRetry(x *exchange, next *balancer.Target, res balancer.Result) {
	reason := "status " + strconv.Itoa(res.Status)
	if res.Err != nil {
		reason = res.Err.Error()
	}
	px.log.LogAttrs(x, slog.LevelInfo, "proxy: retrying on another target", slog.String("pool", px.name),
		slog.String("target", x.cur.target.ID()), slog.String("reason", reason), slog.String("next", next.ID()),
		slog.Int("attempt", len(x.tried)+1), slog.String("method", x.in.Method), slog.String("path", x.in.URL.Path))
}
