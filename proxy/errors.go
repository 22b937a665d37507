package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/gatekit/gatekit/balancer"
	"github.com/gatekit/gatekit/internal/problem"
)

// ErrUpgradeNotAllowed is the error of an *Error (status 400) for an
// upgrade request on a route that does not allow its protocol.
var ErrUpgradeNotAllowed = errors.New("proxy: protocol upgrade not allowed")

// ErrNotForwardable is the error of an *Error (status 400) for a request
// no target can be asked for: the PRI method (the HTTP/2 connection
// preface sent to an HTTP/1 server), or an asterisk-form target ("*") with
// a method other than OPTIONS.
var ErrNotForwardable = errors.New("proxy: request method or target cannot be forwarded")

// ErrTargetInPool is returned by Proxy.Drain for a target still in its
// pool: remove it first, so that it gets nothing new.
var ErrTargetInPool = errors.New("proxy: target is still in its pool")

// ClientBodyError reports that the client's request body could not be
// read (the client went away, sent a malformed chunk, or exceeded a
// size limit). The request is abandoned; it never counts against the
// target. Proxy answers 400, or 413 for an *http.MaxBytesError.
type ClientBodyError struct{ Err error }

// Error describes the read failure.
func (e *ClientBodyError) Error() string { return "proxy: reading request body: " + e.Err.Error() }

// Unwrap returns e.Err.
func (e *ClientBodyError) Unwrap() error { return e.Err }

// Error describes why a request was not proxied. Proxy passes it to
// Config.ErrorHandler.
type Error struct {
	// Status is the status the default handler answers with: 400, 413,
	// 499, 502, 503 or 504.
	Status int
	// Target is the target the request was sent to, or nil.
	Target *balancer.Target
	// Err is the underlying error (balancer.ErrNoTargets, a transport error).
	Err error
}

// Error returns a description for logs; it is not meant for clients.
func (e *Error) Error() string {
	if e.Target == nil {
		return fmt.Sprintf("proxy: %d: %v", e.Status, e.Err)
	}
	return fmt.Sprintf("proxy: %d from %s: %v", e.Status, e.Target.URL().Redacted(), e.Err)
}

// Unwrap returns e.Err.
func (e *Error) Unwrap() error { return e.Err }

// tunnelError is ReverseProxy's ErrorHandler (for upgrades): proxyError
// with the exchange r's context carries.
func (px *Proxy) tunnelError(w http.ResponseWriter, r *http.Request, err error) {
	px.proxyError(w, r, exchangeFrom(r.Context()), err)
}

// proxyError classifies a failed round trip of r, x's outbound request,
// records it for done, logs it and hands it to the error handler.
func (px *Proxy) proxyError(w http.ResponseWriter, r *http.Request, x *exchange, err error) {
	pe := &Error{Status: http.StatusBadGateway, Err: err}
	if x != nil {
		pe.Target = x.cur.target
		x.cur.latency = time.Since(x.cur.start)
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
	case x != nil && !x.maybeReached && neverReached(err, x.cur.gotConn.Load()):
		// Every target tried refused the connection, or its dial or
		// TLS handshake failed: none is available, and the request
		// provably reached none, so the client may send it again.
		pe.Status = http.StatusServiceUnavailable
	case x != nil && !x.cur.gotConn.Load():
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
			x.cur.cancel = true
		} else {
			x.cur.err = err
			x.cur.status = 0
		}
	}
	if px.log != nil {
		target := ""
		if pe.Target != nil {
			target = pe.Target.URL().Redacted()
		}
		if pe.Status == problem.StatusClientClosedRequest {
			px.log.LogAttrs(r.Context(), slog.LevelInfo, "proxy: client closed request",
				slog.Int("status", pe.Status), slog.String("target", target), slog.String("path", r.URL.Path))
		} else {
			px.log.LogAttrs(r.Context(), slog.LevelWarn, "proxy: proxy error",
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
// with the status of err's *Error (502 for any other error; 503 with
// Retry-After: 1 for balancer.ErrNoTargets), or a bare 499 when the client went
// away. It never writes internal error text.
func WriteError(w http.ResponseWriter, r *http.Request, err error) {
	status := http.StatusBadGateway
	var pe *Error
	if errors.As(err, &pe) {
		status = pe.Status
	} else if errors.Is(err, balancer.ErrNoTargets) {
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
		if errors.Is(err, ErrNotForwardable) {
			problem.Write(w, status, "this request method or target cannot be forwarded")
			return
		}
		problem.Write(w, status, "the request body could not be read")
	default:
		problem.Write(w, status, "the upstream server could not be reached or answered invalidly")
	}
}
