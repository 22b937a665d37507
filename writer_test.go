package gatekit

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gatekit/gatekit/internal/header"
)

func TestResponseWriterNeverSends499AndTurnsStalledErrorsInto408(t *testing.T) {
	tests := []struct {
		name      string
		stalled   bool
		gone      bool // the client went away (the request's context is done)
		code      int
		wantCode  int  // what the client gets (httptest's 200 when nothing was written)
		wantAbort bool // the connection must be aborted instead
		wantBody  bool // the handler's body reaches the client
		logged    int  // the status recorded for the access log
	}{
		{"plain error", false, false, 502, 502, false, true, 502},
		{"client gone", false, true, 499, 200, true, false, 499},
		{"an upstream's own 499 to a client still there", false, false, 499, 499, false, true, 499},
		{"stalled body, error", true, false, 502, 408, false, false, 408},
		{"stalled body, 499", true, false, 499, 408, false, false, 408},
		{"stalled body, success", true, false, 200, 200, false, true, 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tc.gone {
				cancel()
			}
			rw, _ := wrapWriter(rec, httptest.NewRequest("GET", "/", nil).WithContext(ctx))
			rw.bodyStalled.Store(tc.stalled)
			rw.Header().Set("X-Handler", "1")
			rw.WriteHeader(tc.code)
			_, _ = rw.Write([]byte("handler body"))
			aborted := func() (aborted bool) {
				defer func() { aborted = recover() == http.ErrAbortHandler }()
				rw.finish()
				return false
			}()
			if rec.Code != tc.wantCode || aborted != tc.wantAbort || (rec.Body.String() == "handler body") != tc.wantBody {
				t.Errorf("client got %d %q, aborted %v; want %d, aborted %v, handler body %v", rec.Code, rec.Body, aborted, tc.wantCode, tc.wantAbort, tc.wantBody)
			}
			if tc.wantCode == 408 && (rec.Header().Get("X-Handler") != "" || rec.Header().Get("Connection") != "close") {
				t.Errorf("408 headers %v: want the handler's dropped and Connection: close", rec.Header())
			}
			if rw.status != tc.logged {
				t.Errorf("recorded status %d, want %d", rw.status, tc.logged)
			}
		})
	}
}

// deadlines records the write deadlines set through it.
type deadlines struct{ set []time.Time }

func (d *deadlines) SetWriteDeadline(t time.Time) error {
	d.set = append(d.set, t)
	return nil
}

// deadlineRecorder is a ResponseRecorder that records write deadlines.
type deadlineRecorder struct {
	*httptest.ResponseRecorder
	deadlines
}

// deadlineConn is a connection of which only the deadlines are used.
type deadlineConn struct {
	net.Conn // nil
	deadlines
}

func (c *deadlineConn) SetWriteDeadline(t time.Time) error { return c.deadlines.SetWriteDeadline(t) }

func (c *deadlineConn) SetDeadline(t time.Time) error { return c.deadlines.SetWriteDeadline(t) }

func (c *deadlineConn) Write(p []byte) (int, error) { return len(p), nil }

func TestWriteIdleDeadlineMovesOncePerResponseAndAgainWhenOthersSetIt(t *testing.T) {
	const idle = time.Hour // no write below comes idle/8 after the first
	dr := &deadlineRecorder{ResponseRecorder: httptest.NewRecorder()}
	rw, _ := wrapWriter(dr, httptest.NewRequest("GET", "/", nil))
	rw.idle, rw.clock, rw.dl, rw.armed = idle, time.Now(), dr, &rw.ownArmed
	start := time.Now()
	rw.extend()
	rw.WriteHeader(http.StatusOK)
	_, _ = rw.Write([]byte("a"))
	rw.Flush()
	rw.extend()
	if len(dr.set) != 1 || dr.set[0].Before(start.Add(idle)) {
		t.Fatalf("deadlines set %v, want one, at least idle after the start", dr.set)
	}
	// A handler's own deadline through http.ResponseController: the next
	// write moves it on, as every write did before.
	if err := http.NewResponseController(rw).SetWriteDeadline(start.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	_, _ = rw.Write([]byte("b"))
	if n := len(dr.set); n != 3 || dr.set[2].Before(start.Add(idle)) {
		t.Fatalf("after a handler's deadline, deadlines %v: want the write to move it idle ahead", dr.set)
	}
	// A deadline moved longer than idle/8 ago is moved again.
	rw.clock = rw.clock.Add(-idle)
	rw.ownArmed.Store(1)
	_, _ = rw.Write([]byte("c"))
	if n := len(dr.set); n != 4 {
		t.Fatalf("a write idle/8 after the last move set %d deadlines in all, want 4", n)
	}
}

func TestWriteIdleDeadlineCarriesOverRequestsOnAConnectionThroughNetHTTPsClears(t *testing.T) {
	srv, err := NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("ok"))
	}), ServerConfig{WriteIdleTimeout: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	h := srv.HTTPServer().Handler
	conn := &deadlineConn{}
	sc := &serverConn{Conn: conn}
	serve := func() {
		r := httptest.NewRequest("GET", "/", nil)
		h.ServeHTTP(httptest.NewRecorder(), r.WithContext(withConn(r.Context(), &limitConn{Conn: sc})))
	}
	serve()
	_ = sc.SetWriteDeadline(time.Time{}) // as net/http clears it after every response
	serve()
	_ = sc.SetWriteDeadline(time.Time{})
	if n := len(conn.set); n != 1 || conn.set[0].IsZero() {
		t.Fatalf("two quick responses on one connection, each followed by net/http's clear, set write deadlines %v, want the first response's only", conn.set)
	}
	// net/http's own error response between requests: written without a
	// deadline, as net/http asked.
	_, _ = sc.Write([]byte("HTTP/1.1 400 Bad Request\r\n\r\n"))
	if n := len(conn.set); n != 2 || !conn.set[1].IsZero() {
		t.Fatalf("deadlines %v: want the held-back clear made real before net/http's own write", conn.set)
	}
	serve()
	_ = sc.SetDeadline(time.Time{}) // as net/http clears both for a hijacked connection
	serve()
	if n := len(conn.set); n != 5 || conn.set[2].IsZero() || !conn.set[3].IsZero() || conn.set[4].IsZero() {
		t.Fatalf("deadlines %v: want set, cleared for the hijack at once, set again", conn.set)
	}
}

// TestHijackedConnectionGetsNoWriteDeadline: a handler that hijacks the
// connection and hands it to a goroutine returns; the connection then
// belongs to that goroutine, and the Server must not leave a write
// deadline on it (WriteIdleTimeout is for responses; at 1 ns any deadline
// it set would have passed by the goroutine's write), on either loop.
func TestHijackedConnectionGetsNoWriteDeadline(t *testing.T) {
	for _, netHTTP := range loops() {
		wrote := make(chan error, 1)
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, _, err := http.NewResponseController(w).Hijack()
			if err != nil {
				wrote <- err
				return
			}
			go func() {
				defer c.Close()
				<-time.After(100 * time.Millisecond) // after the handler returned
				_, err := io.WriteString(c, "late\n")
				wrote <- err
			}()
		})
		srv := newServer(t, h, ServerConfig{NetHTTPServer: netHTTP, WriteIdleTimeout: time.Nanosecond})
		c, err := net.Dial("tcp", srv.addr)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: ws\r\nConnection: Upgrade\r\n\r\n")
		if err := <-wrote; err != nil {
			t.Errorf("%s: write on the hijacked connection: %v", loopName(netHTTP), err)
		}
		_ = c.Close()
	}
}

// preparedRecorder is an httptest.ResponseRecorder that takes prepared
// heads, recording them.
type preparedRecorder struct {
	*httptest.ResponseRecorder
	calls int
}

func (r *preparedRecorder) WritePrepared(code int, p *header.Prepared, extra [2]string, body []byte) (int, bool) {
	r.calls++
	r.WriteHeader(code)
	n, _ := r.Write(body)
	return n, true
}

// TestResponseWriterWritePrepared: the Server's wrapper passes a prepared
// head on and records its status and size as WriteHeader and Write do,
// but declines (leaving the response alone) once a status is written, for
// 499, for an error after a stalled request body, and over a writer that
// cannot take one.
func TestResponseWriterWritePrepared(t *testing.T) {
	p := header.Prepare(http.Header{"Content-Type": {"text/plain"}})
	wrap := func(inner http.ResponseWriter) *responseWriter {
		rw, _ := wrapWriter(inner, httptest.NewRequest("GET", "/", nil))
		return rw
	}
	rec := &preparedRecorder{ResponseRecorder: httptest.NewRecorder()}
	rw := wrap(rec)
	if n, ok := rw.WritePrepared(http.StatusOK, p, [2]string{}, []byte("hello")); !ok || n != 5 || rw.status != http.StatusOK || rw.bytes != 5 {
		t.Fatalf("WritePrepared = %d, %v; status %d, bytes %d: want 5, true, 200, 5", n, ok, rw.status, rw.bytes)
	}
	if _, ok := rw.WritePrepared(http.StatusOK, p, [2]string{}, nil); ok || rec.calls != 1 {
		t.Errorf("a second WritePrepared reported %v after %d calls, want false after 1", ok, rec.calls)
	}
	for name, rw := range map[string]*responseWriter{
		"499":              wrap(&preparedRecorder{ResponseRecorder: httptest.NewRecorder()}),
		"stalled body 503": wrap(&preparedRecorder{ResponseRecorder: httptest.NewRecorder()}),
		"plain writer":     wrap(httptest.NewRecorder()),
	} {
		code := http.StatusServiceUnavailable
		switch name {
		case "499":
			code = 499
		case "stalled body 503":
			rw.bodyStalled.Store(true)
		}
		if _, ok := rw.WritePrepared(code, p, [2]string{}, []byte("x")); ok || rw.status != 0 || rw.bytes != 0 {
			t.Errorf("%s: WritePrepared reported %v, status %d, bytes %d; want false and nothing recorded", name, ok, rw.status, rw.bytes)
		}
	}
}
