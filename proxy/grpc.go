package proxy

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/gatekit/gatekit/internal/problem"
)

// serveGRPC forwards a gRPC call (problem.IsGRPC). It differs from other
// requests in four ways:
//   - the call's grpc-timeout is its deadline, capped by the route's
//     Timeout, and the target is told the time that remains;
//   - the request body is streamed, never read ahead for a replay
//     (client and bidirectional streams would stall), so a call is sent
//     again only when it provably reached no target, or after a status
//     RetryConfig.GRPCStatuses names, and only when nothing of it had
//     been read or its whole body had been, and recorded as it went out
//     (newGRPCBody);
//   - errors the proxy produces, and any problem response a
//     Config.ErrorHandler writes, reach the caller as gRPC statuses
//     (problem.GRPCWriter);
//   - a response that fails after it started (the target died, the
//     deadline passed) ends with a grpc-status trailer, UNAVAILABLE or
//     DEADLINE_EXCEEDED, instead of a reset stream, which gRPC clients
//     would report as INTERNAL or CANCELLED.
//
// Responses are relayed as they arrive: a gRPC response has no
// Content-Length, so ReverseProxy flushes after every write, message by
// message, and relays the target's trailers.
func (px *Proxy) serveGRPC(w http.ResponseWriter, r *http.Request) {
	w, finish := problem.GRPCWriter(w, r)
	defer finish()
	var deadline time.Time // the call's: the earlier of grpc-timeout and the route's
	if px.timeout > 0 {
		deadline = time.Now().Add(px.timeout)
	}
	if d, ok := parseGRPCTimeout(r.Header.Get("Grpc-Timeout")); ok {
		ctx, cancel := context.WithTimeout(r.Context(), d)
		defer cancel()
		r = r.WithContext(ctx)
		if dl, _ := ctx.Deadline(); deadline.IsZero() || dl.Before(deadline) {
			deadline = dl
		}
	}
	// A stream's request body is read for as long as the call lasts, not
	// the server's ReadTimeout (which would cut a long client stream):
	// the call's deadline bounds it, or nothing on a route without one.
	_ = http.NewResponseController(w).SetReadDeadline(deadline)
	gs := &grpcStream{ResponseWriter: w}
	defer func() {
		p := recover()
		if p == nil {
			return
		}
		if p != http.ErrAbortHandler || !gs.started || errors.Is(r.Context().Err(), context.Canceled) {
			panic(p) // the caller went away, or not a failed relay: abort
		}
		// The target failed mid-response or the deadline passed:
		// end the stream with a status the caller understands.
		code, msg := problem.GRPCUnavailable, "the upstream server failed during the call"
		if errors.Is(r.Context().Err(), context.DeadlineExceeded) || gs.deadlinePassed() {
			code, msg = problem.GRPCDeadlineExceeded, "the call did not complete in time"
		}
		h := w.Header()
		h[http.TrailerPrefix+"Grpc-Status"] = []string{strconv.Itoa(code)}
		h[http.TrailerPrefix+"Grpc-Message"] = []string{problem.EncodeGRPCMessage(msg)}
	}()
	// The same instant as the read deadline above: a stream cut by that
	// deadline is never taken for a target's failure.
	gs.deadline = deadline
	px.serve(gs, r)
}

// grpcStream notes whether the response to a gRPC call has started.
type grpcStream struct {
	http.ResponseWriter
	started  bool
	deadline time.Time // the call's deadline (the read deadline too), or zero
}

func (gs *grpcStream) WriteHeader(code int) {
	if code >= 200 {
		gs.started = true
	}
	gs.ResponseWriter.WriteHeader(code)
}

func (gs *grpcStream) Write(p []byte) (int, error) {
	gs.started = true
	return gs.ResponseWriter.Write(p)
}

// Unwrap returns the wrapped ResponseWriter, for http.ResponseController.
func (gs *grpcStream) Unwrap() http.ResponseWriter { return gs.ResponseWriter }

// Flush flushes the wrapped writer.
func (gs *grpcStream) Flush() { _ = http.NewResponseController(gs.ResponseWriter).Flush() }

func (gs *grpcStream) deadlinePassed() bool {
	return !gs.deadline.IsZero() && !time.Now().Before(gs.deadline)
}

// maxGRPCTimeout is the largest grpc-timeout honoured: eight digits of
// hours are far beyond any deadline a route allows.
const maxGRPCTimeout = 100 * 365 * 24 * time.Hour

// parseGRPCTimeout parses a grpc-timeout value: up to eight ASCII digits
// and a unit, H, M, S, m (milliseconds), u or n.
func parseGRPCTimeout(v string) (time.Duration, bool) {
	if len(v) < 2 || len(v) > 9 {
		return 0, false
	}
	var unit time.Duration
	switch v[len(v)-1] {
	case 'H':
		unit = time.Hour
	case 'M':
		unit = time.Minute
	case 'S':
		unit = time.Second
	case 'm':
		unit = time.Millisecond
	case 'u':
		unit = time.Microsecond
	case 'n':
		unit = time.Nanosecond
	default:
		return 0, false
	}
	var n int64
	for _, c := range []byte(v[:len(v)-1]) {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	if n > int64(maxGRPCTimeout/unit) {
		return maxGRPCTimeout, true
	}
	return time.Duration(n) * unit, true
}

// formatGRPCTimeout formats d as a grpc-timeout value, in the finest unit
// that fits eight digits (rounding up, so that the target never gets
// more time than remains).
func formatGRPCTimeout(d time.Duration) string {
	if d <= 0 {
		return "1n"
	}
	const maxDigits = 1e8 - 1
	for _, u := range []struct {
		d time.Duration
		c byte
	}{{time.Nanosecond, 'n'}, {time.Microsecond, 'u'}, {time.Millisecond, 'm'}, {time.Second, 'S'}, {time.Minute, 'M'}} {
		if n := (d + u.d - 1) / u.d; n <= maxDigits {
			return strconv.FormatInt(int64(n), 10) + string(u.c)
		}
	}
	return strconv.FormatInt(int64(min((d+time.Hour-1)/time.Hour, maxDigits)), 10) + "H"
}

// setGRPCTimeout tells the target of a gRPC call how long the call has
// left: the earlier of the caller's grpc-timeout and the route's
// deadline, from ctx, the context of the call's first attempt.
func setGRPCTimeout(out *http.Request, ctx context.Context) {
	if dl, ok := ctx.Deadline(); ok {
		out.Header["Grpc-Timeout"] = []string{formatGRPCTimeout(time.Until(dl))}
	}
}

// newGRPCBody returns the replayBody of a gRPC call's request body. It
// is streamed to the first target as the caller sends it, never read
// ahead: a client or bidirectional stream may not end before the response
// starts, and would stall. With a positive limit (RetryConfig.MaxBodyBytes
// when retries are on) the bytes are kept as they go out, up to limit, so
// that a call whose whole body was read can be sent again: after a status
// RetryConfig.GRPCStatuses names, or when the target refused the stream
// unprocessed (REFUSED_STREAM, a GOAWAY below it) after the body went out.
func newGRPCBody(body io.ReadCloser, limit int64) *replayBody {
	rb := &replayBody{rest: body}
	if limit > 0 {
		rb.tee = limit
	}
	return rb
}

// record keeps p, read from the client body by the first attempt, in
// rb.buf, and marks the body whole at its end; past rb.tee bytes it stops
// (the body cannot be sent again). Only the attempt that reads the
// client body calls it.
func (rb *replayBody) record(p []byte, err error) {
	if int64(len(rb.buf)+len(p)) > rb.tee {
		rb.tee, rb.buf = -1, nil
		return
	}
	rb.buf = append(rb.buf, p...)
	if err == io.EOF {
		rb.teeFull.Store(true)
	}
}

// retryableGRPC reports whether resp is a gRPC status alone (a
// trailers-only response, no message) with a code of GRPCStatuses.
func (p *retryPolicy) retryableGRPC(resp *http.Response) bool {
	if len(p.grpc) == 0 || resp.StatusCode != http.StatusOK {
		return false
	}
	st := resp.Header["Grpc-Status"]
	if len(st) != 1 {
		return false
	}
	for _, c := range p.grpc {
		if st[0] == c {
			return true
		}
	}
	return false
}
