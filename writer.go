package gatekit

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/gatekit/gatekit/internal/header"
	"github.com/gatekit/gatekit/internal/problem"
	"github.com/gatekit/gatekit/internal/reqinfo"
)

// responseWriter is the one wrapper of the response that the Server and the
// gateway middlewares share: the first of them to see a request wraps the
// writer and the others reuse it (see wrapWriter), so a chain costs one
// allocation. It records the status and size for the access log and panic
// recovery; moves the connection's write deadline before every write when
// the Server set a write idle timeout; never sends the log-only status 499;
// and turns the error response to a request whose body stalled into 408.
// It keeps http.Flusher and exposes Unwrap for http.ResponseController.
type responseWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
	idle   time.Duration  // write idle timeout, 0 for none
	dl     writeDeadliner // the connection's write deadline, or nil
	// clock is the instant armed counts from (the Server's start).
	clock time.Time
	// armed is when extend last moved the write deadline (nanoseconds
	// since clock), 0 when it has not or when someone else has moved it
	// since: the connection's record on a plaintext HTTP/1 connection, so
	// that it carries over from one request to the next, otherwise
	// ownArmed; nil when the Server did not set dl. Atomic: a request
	// body's reader (a proxy's transport) may call extend on another
	// goroutine.
	armed    *atomic.Int64
	ownArmed atomic.Int64
	// conn is the plaintext HTTP/1 connection whose deadline dl sets, or
	// nil: extend takes its deadline back from a held-back clear.
	conn *serverConn
	// bodyStalled is set when a read of the request body hit the body read
	// idle timeout: an error response is then replaced by 408. Atomic, like
	// bytesIn: the body may be read on another goroutine (a proxy's
	// transport still sending it after the backend answered).
	bodyStalled atomic.Bool
	// dropped is set when the response is not sent as the handler wrote it
	// (499, or an error replaced by 408): later writes are discarded.
	dropped bool
	// abort is set when nothing may be sent (499): the owner aborts the
	// connection once the handler returns.
	abort bool
	// ctx is the request's context: a 499 is swallowed only once it is
	// done, when it stands for a client that went away; a 499 an upstream
	// really answered with reaches a client that is still there.
	ctx context.Context
	// bytesIn counts the request body bytes read through the Server.
	bytesIn atomic.Int64
	// info is what the stages inside record for the access log.
	info reqinfo.Info
	// hijacked is set once the handler took the connection over: its
	// deadlines are then the handler's.
	hijacked bool
}

// RequestInfo implements reqinfo.Recorder: the stages inside (route table,
// proxy, cache, limiters) record what they did here for the access log,
// or in the Info of a recorder outside the gateway (metrics.Middleware), so
// that both read one record.
func (w *responseWriter) RequestInfo() *reqinfo.Info {
	if outer := reqinfo.From(w.ResponseWriter); outer != nil {
		return outer
	}
	return &w.info
}

// wrapWriter returns the shared responseWriter of w, creating it when w is
// not one; owner reports whether it was created here, in which case the
// caller must call finish after the handler returns.
func wrapWriter(w http.ResponseWriter, r *http.Request) (rw *responseWriter, owner bool) {
	if rw, ok := w.(*responseWriter); ok {
		return rw, false
	}
	return &responseWriter{ResponseWriter: w, ctx: r.Context()}, true
}

// finish aborts the connection, through http.ErrAbortHandler, when the
// handler answered with the log-only status 499 and so nothing was sent.
func (w *responseWriter) finish() {
	if w.abort {
		panic(http.ErrAbortHandler)
	}
}

// writeDeadliner is what http.ResponseController.SetWriteDeadline uses.
type writeDeadliner interface {
	SetWriteDeadline(time.Time) error
}

// findWriteDeadliner walks w's Unwrap chain, as http.ResponseController
// does, to the writer that can set the connection's write deadline.
func findWriteDeadliner(w http.ResponseWriter) writeDeadliner {
	for range 16 {
		switch t := w.(type) {
		case writeDeadliner:
			return t
		case interface{ Unwrap() http.ResponseWriter }:
			w = t.Unwrap()
		default:
			return nil
		}
	}
	return nil
}

// extend pushes the write deadline idle into the future, so that a client
// that stops reading is cut off instead of holding the handler forever.
// Moving a deadline modifies a runtime timer, which costs as much as a
// small response's own work, so a deadline moved less than idle/8 ago is
// left as it is: the deadline ahead of every write is then between 7/8 of
// idle and idle, and on a plaintext HTTP/1 connection, whose record
// outlives the request, a busy connection moves its deadline once every
// idle/8 instead of several times per response.
func (w *responseWriter) extend() {
	if w.dl == nil || w.armed == nil {
		return
	}
	// One monotonic clock reading (time.Now reads two clocks); +1 keeps
	// it from being the "never" zero.
	el := int64(time.Since(w.clock)) + 1
	if w.conn != nil {
		w.conn.clearHeld.Store(false) // the deadline, left or moved, is this response's
	}
	if at := w.armed.Load(); at != 0 && el >= at && el-at < int64(w.idle/8) {
		return
	}
	w.armed.Store(el)
	_ = w.dl.SetWriteDeadline(w.clock.Add(time.Duration(el) + w.idle))
}

// SetWriteDeadline sets the connection's write deadline for
// http.ResponseController, which finds it before Unwrap. The next write
// moves the deadline on again when a write idle timeout is set, as every
// write does.
func (w *responseWriter) SetWriteDeadline(t time.Time) error {
	if w.armed != nil {
		w.armed.Store(0)
	}
	return http.NewResponseController(w.ResponseWriter).SetWriteDeadline(t)
}

// WriteHeader records the status and sends it, except that 499 (a log
// value for a client that went away) is never sent and an error status for
// a request whose body stalled becomes 408.
func (w *responseWriter) WriteHeader(code int) {
	if w.dropped {
		return
	}
	if w.status == 0 && (code >= 200 || code == http.StatusSwitchingProtocols) {
		w.status = code
		switch {
		case code >= 400 && w.bodyStalled.Load():
			w.status, w.dropped = http.StatusRequestTimeout, true
			h := w.ResponseWriter.Header()
			clear(h)
			h.Set("Connection", "close")
			w.extend()
			problem.Write(w.ResponseWriter, http.StatusRequestTimeout, "request body not received in time")
			return
		case code == problem.StatusClientClosedRequest && w.ctx != nil && w.ctx.Err() != nil:
			w.dropped, w.abort = true, true
			return
		}
	}
	w.extend()
	w.ResponseWriter.WriteHeader(code)
}

func (w *responseWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK) // moves the deadline
	} else if !w.dropped {
		w.extend()
	}
	if w.dropped {
		return len(p), nil
	}
	n, err := w.ResponseWriter.Write(p)
	w.bytes += int64(n)
	return n, err
}

// Flush sends buffered data to the client.
func (w *responseWriter) Flush() {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK) // moves the deadline
	} else if !w.dropped {
		w.extend()
	}
	if w.dropped {
		return
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// Hijack hands the connection to the handler (http.ResponseController
// finds it before Unwrap) and notes it, so that the Server leaves the
// connection's deadlines alone from then on.
func (w *responseWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err == nil {
		w.hijacked = true
	}
	return c, brw, err
}

// WritePrepared writes a prepared head and body through the wrapped
// response when that can (header.PreparedWriter), as WriteHeader and
// Write would: it records the status and size and moves the write
// deadline. It declines what WriteHeader treats specially (499, an error
// status after a stalled request body) and anything after a status.
func (w *responseWriter) WritePrepared(code int, p *header.Prepared, extra [2]string, body []byte) (int, bool) {
	pw, ok := w.ResponseWriter.(header.PreparedWriter)
	if !ok || w.status != 0 || w.dropped || code == problem.StatusClientClosedRequest || code >= 400 && w.bodyStalled.Load() {
		return 0, false
	}
	w.extend()
	n, ok := pw.WritePrepared(code, p, extra, body)
	if ok {
		w.status = code
		w.bytes += int64(n)
	}
	return n, ok
}

// Unwrap returns the underlying ResponseWriter for http.ResponseController.
func (w *responseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// AdoptHeader hands h to the wrapped response when that can take it
// (header.Adopter) and no status has been written through w.
func (w *responseWriter) AdoptHeader(h http.Header) bool {
	a, ok := w.ResponseWriter.(header.Adopter)
	return ok && w.status == 0 && a.AdoptHeader(h)
}
