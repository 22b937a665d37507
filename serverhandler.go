package gatekit

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"golang.org/x/net/http/httpguts"

	"github.com/gatekit/gatekit/internal/problem"
)

type connCtxKey struct{}

// withConn is the Server's ConnContext: it makes the connection available
// to serverHandler.
func withConn(ctx context.Context, c net.Conn) context.Context {
	return context.WithValue(ctx, connCtxKey{}, c)
}

// serverHandler is the Server's handler around the user's: framing and
// request-target checks, the write idle timeout, the body read idle timeout
// and body buffering, and the connection abort for 499.
type serverHandler struct {
	next        http.Handler
	maxHeader   int           // the configured MaxHeaderBytes
	writeIdle   time.Duration // <0: off
	bodyIdle    time.Duration // <0: off
	bufferBody  int64         // <0: off
	readTimeout time.Duration
	log         *slog.Logger // refusals at Info; nil for none
	clock       time.Time    // when the handler was made; see responseWriter.clock
}

func (s *serverHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var rw *responseWriter
	if hr, ok := w.(*http1Response); ok {
		rw = &hr.wrapper // the Server's own loop: one allocation for both
	} else {
		rw = new(responseWriter)
	}
	rw.ResponseWriter, rw.ctx = w, r.Context()
	var fc *serverConn
	if c, ok := r.Context().Value(connCtxKey{}).(net.Conn); ok {
		fc = serverConnOf(c)
	}
	if s.writeIdle > 0 {
		rw.idle, rw.clock = s.writeIdle, s.clock
		if fc != nil && r.ProtoMajor == 1 {
			// The connection's own deadline, which net/http's sets for a
			// plaintext HTTP/1 response, with a record of when it was last
			// moved that every other setter clears.
			rw.dl, rw.armed, rw.conn = fc.Conn, &fc.writeArmed, fc
		} else {
			rw.dl, rw.armed = findWriteDeadliner(w), &rw.ownArmed
		}
		// A fresh deadline for this request (unless the last one was set
		// moments ago): it may have passed while the connection was idle
		// between requests.
		rw.extend()
	}
	if fc != nil {
		if n := fc.served.Add(1); fc.bad.Load() == n {
			s.refuse(rw, r, http.StatusBadRequest, "ambiguous request framing (Content-Length with Transfer-Encoding, Transfer-Encoding on HTTP/1.0, or a folded header line)")
			return
		}
	}
	// Both loops check a Host field before this, but not the host of an
	// absolute-form or authority-form target ("GET http://host/ HTTP/1.1"),
	// which becomes r.Host and which a handler must not be given malformed.
	if r.ProtoMajor == 1 && r.URL.Host != "" && !httpguts.ValidHostHeader(r.Host) {
		s.refuse(rw, r, http.StatusBadRequest, "malformed Host header")
		return
	}
	if headerSize(r) > s.maxHeader {
		s.refuse(rw, r, http.StatusRequestHeaderFieldsTooLarge, "request header fields too large")
		return
	}
	if r.Method == "PRI" {
		s.refuse(rw, r, http.StatusBadRequest, "the PRI method is the HTTP/2 preface and is not served over HTTP/1")
		return
	}
	if r.RequestURI == "*" {
		if r.Method != http.MethodOptions {
			s.refuse(rw, r, http.StatusBadRequest, "the asterisk-form target is only valid with OPTIONS")
			return
		}
		optionsServer(rw, r)
		return
	}
	copied := false // r is the Server's own shallow copy, whose Body may be replaced
	if rw.dl != nil && r.Body != nil && r.Body != http.NoBody && r.Header.Get("Expect") != "" {
		// net/http writes 100 Continue on the body's first read, which may
		// come long after the deadline set above.
		r, copied = r.WithContext(r.Context()), true
		r.Body = &continueBody{ReadCloser: r.Body, rw: rw}
	}
	if s.bodyIdle > 0 && r.Body != nil && r.Body != http.NoBody && !isGRPC(r) {
		ib := &idleBody{body: r.Body, rc: *http.NewResponseController(w), idle: s.bodyIdle, limit: time.Now().Add(s.readTimeout), rw: rw}
		defer ib.stop()
		if !copied {
			r = r.WithContext(r.Context())
		}
		r.Body = ib
		if s.bufferBody > 0 && r.ContentLength > 0 && r.ContentLength <= s.bufferBody && r.Header.Get("Expect") == "" {
			buf := make([]byte, r.ContentLength)
			if _, err := io.ReadFull(ib, buf); err != nil {
				if rw.bodyStalled.Load() {
					s.refuse(rw, r, http.StatusRequestTimeout, "request body not received in time")
				} else {
					s.refuse(rw, r, http.StatusBadRequest, "request body shorter than its Content-Length")
				}
				return
			}
			// Reach the body's end, so that net/http watches the connection
			// for a client that goes away while the handler runs.
			var one [1]byte
			_, _ = ib.Read(one[:])
			bb := &bufferedBody{buf: buf}
			bb.Reset(buf)
			r.Body, r.GetBody = bb, bb.reopen
		}
	}
	s.next.ServeHTTP(rw, r)
	if rw.hijacked {
		return // the connection is the handler's, deadlines and all
	}
	if rw.status == 0 && rw.bodyStalled.Load() {
		rw.WriteHeader(http.StatusRequestTimeout) // becomes the 408 problem
	}
	// net/http sends what is still buffered once the handler returns.
	rw.extend()
	rw.finish()
}

// optionsServer answers OPTIONS * (about the server, not a resource) as
// net/http would: 200 with an empty body, reading at most 4 KiB of a
// request body, beyond which the connection is closed.
func optionsServer(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Length", "0")
	if r.ContentLength != 0 {
		_, _ = io.Copy(io.Discard, http.MaxBytesReader(w, r.Body, 4<<10))
	}
}

// refuse answers a request the handler never sees with problem+json and
// closes the connection afterwards, and logs it: these requests do not
// reach the handler's access log.
func (s *serverHandler) refuse(rw *responseWriter, r *http.Request, status int, detail string) {
	if s.log != nil {
		s.log.LogAttrs(r.Context(), slog.LevelInfo, "request refused",
			slog.Int("status", status), slog.String("reason", detail), slog.String("method", r.Method),
			slog.String("remote", r.RemoteAddr), slog.String("proto", r.Proto))
	}
	if status == http.StatusRequestTimeout {
		rw.WriteHeader(status) // the writer turns it into the 408 problem
		return
	}
	rw.Header().Set("Connection", "close")
	problem.Write(rw, status, detail)
}

// idleBody bounds each read of a request body: before each read the
// connection's read deadline moves idle ahead (never past limit, the
// ReadTimeout deadline). Once the body has ended the deadline is cleared,
// as net/http itself clears it when it starts watching the connection for
// a client that goes away during the handler; a deadline left behind would
// make that watch time out and cancel a long-running handler's context. A
// read that times out marks the response writer, which then turns the
// handler's error response into 408.
//
// Once the handler has returned (stop), reads leave the deadline alone: a
// proxy's transport may still be reading the body on its own goroutine
// while net/http sets the deadlines of the idle connection or the next
// request.
type idleBody struct {
	body  io.ReadCloser
	rc    http.ResponseController // by value: one allocation less per request
	idle  time.Duration
	limit time.Time
	rw    *responseWriter
	done  bool // read by the body's reader only

	mu      sync.Mutex // guards stopped and the deadline changes
	stopped bool
}

func (b *idleBody) Read(p []byte) (int, error) {
	if b.done || !b.setDeadline(time.Now().Add(b.idle)) {
		n, err := b.body.Read(p)
		b.rw.bytesIn.Add(int64(n))
		return n, err
	}
	n, err := b.body.Read(p)
	b.rw.bytesIn.Add(int64(n))
	switch {
	case err == nil:
	case errors.Is(err, os.ErrDeadlineExceeded):
		b.rw.bodyStalled.Store(true)
	case errors.Is(err, io.EOF):
		b.done = true
		b.setDeadline(time.Time{})
	default:
		b.done = true
	}
	return n, err
}

// setDeadline sets the connection's read deadline to d (never past limit;
// zero clears it) unless the handler has returned; it reports whether it
// did.
func (b *idleBody) setDeadline(d time.Time) bool {
	if !d.IsZero() && d.After(b.limit) {
		d = b.limit
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.stopped {
		return false
	}
	_ = b.rc.SetReadDeadline(d)
	return true
}

// stop ends the deadline changes once the handler has returned.
func (b *idleBody) stop() {
	b.mu.Lock()
	b.stopped = true
	b.mu.Unlock()
}

func (b *idleBody) Close() error { return b.body.Close() }

// bufferedBody is a request body the Server read completely before the
// handler ran, and the request's GetBody (reopen), in one allocation.
type bufferedBody struct {
	bytes.Reader
	buf []byte
}

func (b *bufferedBody) Close() error { return nil }

// reopen returns a new reader of the whole body.
func (b *bufferedBody) reopen() (io.ReadCloser, error) {
	return io.NopCloser(bytes.NewReader(b.buf)), nil
}

// continueBody moves the write deadline before the first read of a body
// whose client waits for 100 Continue, which net/http sends then.
type continueBody struct {
	io.ReadCloser
	rw   *responseWriter
	read bool
}

func (b *continueBody) Read(p []byte) (int, error) {
	if !b.read {
		b.read = true
		b.rw.extend()
	}
	return b.ReadCloser.Read(p)
}

// headerSize is the size of r's request line and header fields as sent in
// HTTP/1 ("Name: value\r\n" per field), which is what
// http.Server.MaxHeaderBytes bounds.
func headerSize(r *http.Request) int {
	n := len(r.Method) + len(r.RequestURI) + len(r.Proto) + 4
	if r.Host != "" {
		n += len("Host: \r\n") + len(r.Host)
	}
	for k, vs := range r.Header {
		for _, v := range vs {
			n += len(k) + len(v) + 4
		}
	}
	return n
}

// isGRPC reports whether r is a gRPC call (HTTP/2 only), whose request
// stream may idle between messages for as long as the application likes.
func isGRPC(r *http.Request) bool { return r.ProtoMajor == 2 && problem.IsGRPC(r) }
