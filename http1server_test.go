package gatekit

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// exchangeAll sends raw on a new connection to addr and reads responses
// until the connection ends; head marks the requests (by order) that are
// HEAD, whose responses have no body.
func exchangeAll(t *testing.T, addr, raw string, head map[int]bool) []string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	var out []string
	for i := 0; ; {
		method := http.MethodGet
		if head[i] {
			method = http.MethodHead
		}
		resp, err := http.ReadResponse(br, &http.Request{Method: method})
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					t.Fatalf("no end of the connection: %v", err)
				}
			}
			// The end of the connection, or its reset when the server
			// closed it with bytes unread (which races with the client's
			// reading and is the same end): nothing more.
			if len(out) == 0 || !strings.Contains(err.Error(), "EOF") && !errors.Is(err, syscall.ECONNRESET) {
				out = append(out, "read error: "+err.Error())
			}
			return out
		}
		body, berr := io.ReadAll(resp.Body)
		resp.Header.Del("Date")
		out = append(out, fmt.Sprintf("%s %d cl=%d te=%v close=%v header=%v body=%q trailer=%v berr=%v",
			resp.Proto, resp.StatusCode, resp.ContentLength, resp.TransferEncoding, resp.Close, sortedHeader(resp.Header), body, resp.Trailer, berr))
		if resp.StatusCode >= 200 {
			i++
		}
	}
}

func sortedHeader(h http.Header) string {
	var b strings.Builder
	_ = h.Write(&b) // sorted by name
	return b.String()
}

// differentialHandler behaves by the request's path, as the cases below
// ask.
func differentialHandler(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/small":
		_, _ = io.WriteString(w, "<html>hello</html>")
	case "/large":
		_, _ = io.WriteString(w, strings.Repeat("x", 5000))
	case "/declared":
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("Content-Length", "5")
		_, _ = io.WriteString(w, "hello")
	case "/declared-untyped":
		w.Header().Set("Content-Length", "5")
		_, _ = io.WriteString(w, "hello")
	case "/short":
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("Content-Length", "10")
		_, _ = io.WriteString(w, "hello")
	case "/flush":
		_, _ = io.WriteString(w, "one")
		w.(http.Flusher).Flush()
		_, _ = io.WriteString(w, "two")
	case "/nocontent":
		w.WriteHeader(http.StatusNoContent)
		_, err := io.WriteString(w, "body")
		w.Header().Set("X-Err", fmt.Sprint(err)) // after the head: not sent
	case "/notmodified":
		w.Header().Set("ETag", `"x"`)
		w.WriteHeader(http.StatusNotModified)
	case "/trailers":
		w.Header().Set("Trailer", "X-Sum")
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, "data")
		w.Header().Set("X-Sum", "42")
		w.Header().Set(http.TrailerPrefix+"X-Late", "yes")
	case "/close":
		w.Header().Set("Connection", "close")
		_, _ = io.WriteString(w, "bye")
	case "/echo":
		b, err := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %q %v trailer=%v", r.Method, b, err, r.Trailer)
	case "/ignore-body":
		_, _ = io.WriteString(w, "ignored")
	case "/early-hints":
		w.Header().Set("Link", "</style.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		_, _ = io.WriteString(w, "final")
	case "/bad-fields":
		w.Header()["Bad Name"] = []string{"x"}
		w.Header().Set("X-Split", "a\r\nInjected: yes")
		_, _ = io.WriteString(w, "ok")
	case "/status":
		w.WriteHeader(299)
	case "/empty":
	case "/info":
		fmt.Fprintf(w, "host=%s uri=%s proto=%s cl=%d te=%v close=%v remote=%v", r.Host, r.RequestURI, r.Proto, r.ContentLength, r.TransferEncoding, r.Close, r.RemoteAddr != "")
	default:
		http.NotFound(w, r)
	}
}

// loopCase is bytes a client sends; head marks the requests (by order)
// that are HEAD.
type loopCase struct {
	name string
	raw  string
	head map[int]bool
}

// compareLoops sends each case to a Server for h on its own HTTP/1 loop
// and to one on net/http's server, and requires the same responses (Date
// aside) and the same end of the connection.
func compareLoops(t *testing.T, h http.Handler, cases []loopCase) {
	t.Helper()
	own := newServer(t, h, ServerConfig{})
	std := newServer(t, h, ServerConfig{NetHTTPServer: true})
	if own.h1 == nil || std.h1 != nil {
		t.Fatal("the Servers do not use the loops under test")
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			want := exchangeAll(t, std.addr, tc.raw, tc.head)
			got := exchangeAll(t, own.addr, tc.raw, tc.head)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("own loop:\n%s\nnet/http:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
		})
	}
}

// dialLoop connects to addr for a test, with a deadline, closed when the
// test ends.
func dialLoop(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	return c
}

// TestHTTP1ServerAnswersAsNetHTTP sends the same bytes to a Server on its
// own HTTP/1 loop and to one on net/http's server, and requires the same
// responses (Date aside) and the same end of the connection.
func TestHTTP1ServerAnswersAsNetHTTP(t *testing.T) {
	const end = "GET /small HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
	compareLoops(t, http.HandlerFunc(differentialHandler), []loopCase{
		{"small body gets a length and a sniffed type", "GET /small HTTP/1.1\r\nHost: x\r\n\r\n" + end, nil},
		{"large body is chunked", "GET /large HTTP/1.1\r\nHost: x\r\n\r\n" + end, nil},
		{"declared length", "GET /declared HTTP/1.1\r\nHost: x\r\n\r\n" + end, nil},
		{"declared length, no type", "GET /declared-untyped HTTP/1.1\r\nHost: x\r\n\r\n" + end, nil},
		{"short of the declared length closes", "GET /short HTTP/1.1\r\nHost: x\r\n\r\n" + end, nil},
		{"flushed body is chunked", "GET /flush HTTP/1.1\r\nHost: x\r\n\r\n" + end, nil},
		{"204", "GET /nocontent HTTP/1.1\r\nHost: x\r\n\r\n" + end, nil},
		{"304", "GET /notmodified HTTP/1.1\r\nHost: x\r\n\r\n" + end, nil},
		{"trailers", "GET /trailers HTTP/1.1\r\nHost: x\r\n\r\n" + end, nil},
		{"handler closes", "GET /close HTTP/1.1\r\nHost: x\r\n\r\n" + end, nil},
		{"client closes", "GET /small HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" + end, nil},
		{"HEAD", "HEAD /small HTTP/1.1\r\nHost: x\r\n\r\n" + end, map[int]bool{0: true}},
		{"HEAD of a large body", "HEAD /large HTTP/1.1\r\nHost: x\r\n\r\n" + end, map[int]bool{0: true}},
		{"HTTP/1.0", "GET /small HTTP/1.0\r\n\r\n" + end, nil},
		{"HTTP/1.0 keep-alive", "GET /small HTTP/1.0\r\nConnection: keep-alive\r\n\r\n" + end, nil},
		{"HTTP/1.0 keep-alive, unknown length", "GET /flush HTTP/1.0\r\nConnection: keep-alive\r\n\r\n" + end, nil},
		{"body", "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello" + end, nil},
		{"chunked body with trailer", "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTrailer: X-T\r\n\r\n5\r\nhello\r\n0\r\nX-T: v\r\n\r\n" + end, nil},
		{"unread small body", "POST /ignore-body HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello" + end, nil},
		{"unread large body", "POST /ignore-body HTTP/1.1\r\nHost: x\r\nContent-Length: 300000\r\n\r\n" + strings.Repeat("y", 300000) + end, nil},
		{"100-continue", "POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\nhello" + end, nil},
		{"103 early hints", "GET /early-hints HTTP/1.1\r\nHost: x\r\n\r\n" + end, nil},
		{"bad response fields", "GET /bad-fields HTTP/1.1\r\nHost: x\r\n\r\n" + end, nil},
		{"unknown status", "GET /status HTTP/1.1\r\nHost: x\r\n\r\n" + end, nil},
		{"empty", "GET /empty HTTP/1.1\r\nHost: x\r\n\r\n" + end, nil},
		{"request details", "GET /info?q=1 HTTP/1.1\r\nHost: example.com:8080\r\n\r\n" + end, nil},
		{"absolute form", "GET http://example.com/info HTTP/1.1\r\nHost: example.com\r\n\r\n" + end, nil},
		{"CRLF after a POST", "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\na\r\n" + end, nil},
		{"not found", "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n" + end, nil},
		{"missing Host", "GET /small HTTP/1.1\r\n\r\n" + end, nil},
		{"two Hosts", "GET /small HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n" + end, nil},
		{"empty Host", "GET /info HTTP/1.1\r\nHost:\r\n\r\n" + end, nil},
		{"bad Host", "GET /small HTTP/1.1\r\nHost: a b\r\n\r\n" + end, nil},
		{"absolute form, bad Host", "GET http://good/small HTTP/1.1\r\nHost: a b\r\n\r\n" + end, nil},
		{"malformed request line", "GET\r\nHost: x\r\n\r\n" + end, nil},
		{"HTTP/2.0", "GET /small HTTP/2.0\r\nHost: x\r\n\r\n" + end, nil},
		{"unsupported transfer coding", "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n" + end, nil},
		{"two Content-Lengths", "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab" + end, nil},
		{"invalid field name", "GET /small HTTP/1.1\r\nHost: x\r\nBad Name: v\r\n\r\n" + end, nil},
		{"control byte in a value", "GET /small HTTP/1.1\r\nHost: x\r\nX: a\x01b\r\n\r\n" + end, nil},
		{"oversized head", "GET /small HTTP/1.1\r\nHost: x\r\nX: " + strings.Repeat("a", 2*DefaultMaxHeaderBytes+8192) + "\r\n\r\n" + end, nil},
		{"head over the handler's limit", "GET /small HTTP/1.1\r\nHost: x\r\nX: " + strings.Repeat("a", DefaultMaxHeaderBytes+10) + "\r\n\r\n" + end, nil},
		{"ambiguous framing", "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + end, nil},
		{"OPTIONS *", "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n" + end, nil},
		{"PRI", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", nil},
		{"pipelined", "GET /small HTTP/1.1\r\nHost: x\r\n\r\nGET /large HTTP/1.1\r\nHost: x\r\n\r\nPOST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi" + end, nil},
	})
}

// TestHTTP1UnknownExpectationGets417ProblemJSON: an Expect other than
// 100-continue is answered 417 with problem+json (net/http's server sends
// an empty body) and the connection closes; the handler never runs.
func TestHTTP1UnknownExpectationGets417ProblemJSON(t *testing.T) {
	srv := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("the handler ran for %s", r.URL)
	}), ServerConfig{})
	for _, expect := range []string{
		"Expect: teapot\r\n",
		"Expect: foo\r\nExpect: 100-continue\r\n", // only the first counts, as in net/http
	} {
		out := exchangeAll(t, srv.addr, "POST /echo HTTP/1.1\r\nHost: x\r\n"+expect+"Content-Length: 5\r\n\r\nhello"+"GET /small HTTP/1.1\r\nHost: x\r\n\r\n", nil)
		if len(out) != 1 || !strings.Contains(out[0], " 417 ") || !strings.Contains(out[0], "application/problem+json") || !strings.Contains(out[0], "close=true") {
			t.Errorf("%q: responses %q, want one 417 problem+json that closes the connection", expect, out)
		}
	}
}

// TestHTTP1ServerAnswersAsNetHTTPOnHijack hands the connection to a
// handler on both loops: bytes the client sent after the request are in
// the reader handed over, and what the handler writes reaches the client.
func TestHTTP1ServerAnswersAsNetHTTPOnHijack(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Errorf("Hijack: %v", err)
			return
		}
		defer c.Close()
		line, _ := brw.ReadString('\n')
		_, _ = brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\necho: " + line)
		_ = brw.Flush()
	})
	for _, netHTTP := range []bool{false, true} {
		srv := newServer(t, h, ServerConfig{NetHTTPServer: netHTTP})
		resp, _ := rawExchange(t, srv.addr, "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\nping\n")
		if !strings.HasPrefix(resp, "HTTP/1.1 101 ") || !strings.HasSuffix(resp, "echo: ping\n") {
			t.Errorf("net/http %v: response %q, want the handler's 101 and the echo", netHTTP, resp)
		}
	}
}

// goneDelayServer starts a Server on its own loop whose watch for a client
// that goes away starts after delay.
func goneDelayServer(t *testing.T, h http.Handler, delay time.Duration) *testServer {
	t.Helper()
	srv, err := NewServer(h, ServerConfig{ShutdownTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	srv.h1.goneDelay = delay
	ln, cancel, served := serveOn(t, srv, nil)
	t.Cleanup(func() {
		cancel()
		<-served
	})
	return &testServer{Server: srv, addr: ln.Addr().String()}
}

// TestHTTP1ClientGoneCancelsTheRequest: a client that closes its
// connection while the handler runs cancels the request's context, at
// once with no delay and after it with one; with or without a body.
func TestHTTP1ClientGoneCancelsTheRequest(t *testing.T) {
	for _, delay := range []time.Duration{0, 5 * time.Millisecond} {
		for _, req := range []string{
			"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
			"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc",
			"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n" + strings.Repeat("a", 100000),
		} {
			started, cancelled := make(chan struct{}), make(chan error, 1)
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body)
				close(started)
				<-r.Context().Done()
				cancelled <- context.Cause(r.Context())
			})
			srv := goneDelayServer(t, h, delay)
			c, err := net.Dial("tcp", srv.addr)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.WriteString(c, req)
			<-started
			_ = c.Close()
			select {
			case err := <-cancelled:
				if !errors.Is(err, context.Canceled) {
					t.Errorf("delay %v: cause %v, want context.Canceled", delay, err)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("delay %v, %.30q: the request's context was not cancelled", delay, req)
			}
		}
	}
}

// BenchmarkHTTP1Server is a request over a keep-alive loopback connection
// through a Server (its own HTTP/1 loop, and net/http's) to a handler
// that writes 64 bytes: the server's cost per request, client included.
func BenchmarkHTTP1Server(b *testing.B) {
	body := strings.Repeat("x", 64)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, body)
	})
	for _, bc := range []struct {
		name    string
		netHTTP bool
	}{{"own", false}, {"net-http", true}} {
		b.Run(bc.name, func(b *testing.B) {
			srv, err := NewServer(h, ServerConfig{NetHTTPServer: bc.netHTTP, ShutdownTimeout: time.Second})
			if err != nil {
				b.Fatal(err)
			}
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			served := make(chan error, 1)
			go func() { served <- srv.Serve(ctx, ln) }()
			defer func() {
				cancel()
				<-served
			}()
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			req := []byte("GET /hello HTTP/1.1\r\nHost: bench\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n")
			br := bufio.NewReader(c)
			// The response's size is fixed (Date has a fixed width): learn it
			// once, then read exactly that much per request.
			if _, err := c.Write(req); err != nil {
				b.Fatal(err)
			}
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				b.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			var head strings.Builder
			_ = resp.Header.Write(&head)
			size := len("HTTP/1.1 200 OK\r\n") + head.Len() + 2 + len(body)
			buf := make([]byte, size)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, err := c.Write(req); err != nil {
					b.Fatal(err)
				}
				if _, err := io.ReadFull(br, buf); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			if !strings.HasSuffix(string(buf), body) {
				b.Fatalf("response %q", buf)
			}
		})
	}
}

// TestHTTP1WriteAfterTheHandlerReturnedIsRefused: a goroutine a handler
// left behind cannot write into the next response on the connection.
func TestHTTP1WriteAfterTheHandlerReturnedIsRefused(t *testing.T) {
	left := make(chan http.ResponseWriter, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/first" {
			left <- w
		}
		_, _ = io.WriteString(w, r.URL.Path)
	})
	srv := newServer(t, h, ServerConfig{WriteIdleTimeout: -1})
	c := dialLoop(t, srv.addr)
	br := bufio.NewReader(c)
	_, _ = io.WriteString(c, "GET /first HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	w := <-left
	var own *http1Response
	for own == nil {
		switch v := w.(type) {
		case *http1Response:
			own = v
		case interface{ Unwrap() http.ResponseWriter }:
			w = v.Unwrap()
		default:
			t.Fatalf("no http1Response under %T", w)
		}
	}
	if _, err := own.Write([]byte("stray")); !errors.Is(err, errAfterHandler) {
		t.Errorf("Write after the handler returned: %v, want errAfterHandler", err)
	}
	if err := own.FlushError(); !errors.Is(err, errAfterHandler) {
		t.Errorf("Flush after the handler returned: %v, want errAfterHandler", err)
	}
	_, _ = io.WriteString(c, "GET /second HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	b, _ := io.ReadAll(br)
	if strings.Contains(string(b), "stray") || !strings.HasSuffix(string(b), "/second") {
		t.Errorf("second response %q, want /second alone", b)
	}
}

// TestHTTP1ZeroReadHeaderTimeout: with ReadHeaderTimeout and ReadTimeout
// both zero (set on HTTPServer), heads have no deadline, as with net/http,
// rather than an expired one.
func TestHTTP1ZeroReadHeaderTimeout(t *testing.T) {
	srv, err := NewServer(http.HandlerFunc(differentialHandler), ServerConfig{ShutdownTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	srv.HTTPServer().ReadHeaderTimeout, srv.HTTPServer().ReadTimeout = 0, 0
	ln, cancel, served := serveOn(t, srv, nil)
	defer func() {
		cancel()
		<-served
	}()
	out := exchangeAll(t, ln.Addr().String(), "GET /small HTTP/1.1\r\nHost: x\r\n\r\nGET /small HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", nil)
	if len(out) != 2 || !strings.Contains(out[1], "hello") {
		t.Errorf("responses %q, want two", out)
	}
}

// loops are the two ways a Server serves plaintext HTTP/1: net/http's
// server and its own loop.
func loops() []bool { return []bool{true, false} }

// loopName names a loop for test messages.
func loopName(netHTTP bool) string {
	if netHTTP {
		return "net/http"
	}
	return "own loop"
}

// TestHTTP1ShutdownDoesNotWaitForHijackedConnections: shutdown neither
// waits for nor closes a hijacked connection (a WebSocket), as with
// net/http's server.
func TestHTTP1ShutdownDoesNotWaitForHijackedConnections(t *testing.T) {
	for _, netHTTP := range loops() {
		hijacked, release, done := make(chan struct{}), make(chan struct{}), make(chan struct{})
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			defer close(done)
			c, _, err := http.NewResponseController(w).Hijack()
			if err != nil {
				t.Errorf("Hijack: %v", err)
				close(hijacked)
				return
			}
			close(hijacked)
			<-release
			_ = c.Close()
		})
		srv, err := NewServer(h, ServerConfig{NetHTTPServer: netHTTP, ShutdownTimeout: 300 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		ln, cancel, served := serveOn(t, srv, nil)
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		<-hijacked
		cancel()
		serr := <-served
		close(release)
		<-done
		_ = c.Close()
		if serr != nil {
			t.Errorf("%s: Serve = %v, want nil (a hijacked connection is not an in-flight request)", loopName(netHTTP), serr)
		}
	}
}

// tempErrListener fails its first Accept with EMFILE, a temporary error
// (too many open files), as under fd exhaustion.
type tempErrListener struct {
	net.Listener
	failed atomic.Bool
}

func (l *tempErrListener) Accept() (net.Conn, error) {
	if l.failed.CompareAndSwap(false, true) {
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept", syscall.EMFILE)}
	}
	return l.Listener.Accept()
}

// TestHTTP1TemporaryAcceptErrorDoesNotStopServing: a temporary Accept
// error (out of file descriptors) is retried, as net/http's server does.
func TestHTTP1TemporaryAcceptErrorDoesNotStopServing(t *testing.T) {
	for _, netHTTP := range loops() {
		srv, err := NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}), ServerConfig{NetHTTPServer: netHTTP, ShutdownTimeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		inner, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ln := &tempErrListener{Listener: inner}
		_, cancel, served := serveOn(t, srv, ln)
		got := make(chan error, 1)
		go func() {
			resp, _ := rawExchangeNoT(inner.Addr().String(), "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
			if !strings.HasPrefix(resp, "HTTP/1.1 200 ") {
				got <- io.ErrUnexpectedEOF
				return
			}
			got <- nil
		}()
		select {
		case err := <-served:
			t.Errorf("%s: Serve returned %v after one temporary Accept error", loopName(netHTTP), err)
			_ = inner.Close()
			<-got
			continue
		case err := <-got:
			if err != nil {
				t.Errorf("%s: no response", loopName(netHTTP))
			}
		}
		cancel()
		<-served
	}
}

// rawExchangeNoT is rawExchange for a goroutine other than the test's.
func rawExchangeNoT(addr, req string) (string, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		return "", err
	}
	b, err := io.ReadAll(c)
	return string(b), err
}

// TestHTTP1HostCountsDoNotPileUp: the framing tracker keeps the Host
// counts of heads only for the Server's own loop, which asks for them; with
// net/http's server an HTTP/1.0 keep-alive client without Host would grow
// them by one per request.
func TestHTTP1HostCountsDoNotPileUp(t *testing.T) {
	srv, err := NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}), ServerConfig{NetHTTPServer: true, ShutdownTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	var fc atomic.Pointer[serverConn]
	srv.HTTPServer().ConnState = func(c net.Conn, st http.ConnState) {
		if st == http.StateNew {
			fc.Store(serverConnOf(c))
		}
	}
	ln, cancel, served := serveOn(t, srv, nil)
	defer func() { cancel(); <-served }()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	const n = 2000
	go func() {
		_, _ = io.WriteString(c, strings.Repeat("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", n))
	}()
	br := bufio.NewReader(c)
	for i := 0; i < n; i++ {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("response %d: %v", i, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
	}
	sc := fc.Load()
	sc.mu.Lock()
	kept := len(sc.tracker.oddHosts)
	sc.mu.Unlock()
	if kept > 16 {
		t.Errorf("oddHosts holds %d entries after %d requests on one connection: unbounded", kept, n)
	}
}

// fuzzStatuses sends raw to addr, half-closes the connection, reads all
// the server sends until the connection ends (so that both servers serve
// every request they read, whatever the client makes of the responses),
// and returns the responses parsed from those bytes, then "end" (after
// "cut" when the bytes after them are not a response). A reset counts as
// the end.
func fuzzStatuses(addr string, raw []byte) ([]string, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	go func() {
		_, _ = c.Write(raw)
		_ = c.(*net.TCPConn).CloseWrite()
	}()
	all, err := io.ReadAll(c)
	if err != nil && !errors.Is(err, syscall.ECONNRESET) {
		return nil, err
	}
	br := bufio.NewReader(bytes.NewReader(all))
	var out []string
	for {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			if _, perr := br.Peek(1); perr == nil {
				out = append(out, "cut")
			}
			return append(out, "end"), nil
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Header.Del("Date")
		out = append(out, fmt.Sprintf("%d %q %s close=%v te=%v trailer=%v", resp.StatusCode, b, sortedHeader(resp.Header), resp.Close, resp.TransferEncoding, resp.Trailer))
	}
}

// FuzzHTTP1ServerAgainstNetHTTP sends the same bytes to a Server on its
// own HTTP/1 loop and to one on net/http's server: the handler must see
// the same requests (fields, header, body, trailer) and the client the
// same responses (status, header but Date, body, framing; the two differ
// on purpose only in a 417, compared by status, and in where a reset
// replaces the connection's end).
func FuzzHTTP1ServerAgainstNetHTTP(f *testing.F) {
	for _, seed := range []string{
		"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
		"POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabcGET /q HTTP/1.1\r\nHost: x\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
		"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET / HTTP/1.0\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		"GET http://a/b HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhi",
		"GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\na\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
		"POST /u HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabcGET /l HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /f HTTP/1.1\r\nHost: x\r\n\r\nGET /t HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /t HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /d HTTP/1.1\r\nHost: x\r\n\r\nGET /n HTTP/1.1\r\nHost: x\r\n\r\nGET /c HTTP/1.0\r\n\r\n",
		"POST /u HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
	} {
		f.Add([]byte(seed))
	}
	type seen struct {
		mu   sync.Mutex
		reqs []string
	}
	handler := func(s *seen) http.Handler {
		// The path's first letter picks what the handler does, so that
		// the input chooses the response's shape too.
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var b []byte
			var err error
			mode := strings.TrimPrefix(r.URL.Path, "/")
			if !strings.HasPrefix(mode, "u") { // u: the body is left unread
				b, err = io.ReadAll(r.Body)
			}
			s.mu.Lock()
			s.reqs = append(s.reqs, fmt.Sprintf("%s %s %s host=%q %q %v header=%v cl=%d te=%v close=%v trailer=%v",
				r.Method, r.RequestURI, r.Proto, r.Host, b, err, sortedHeader(r.Header), r.ContentLength, r.TransferEncoding, r.Close, r.Trailer))
			s.mu.Unlock()
			switch {
			case strings.HasPrefix(mode, "l"): // large: past the held body
				_, _ = io.WriteString(w, strings.Repeat(r.Method, 2048))
			case strings.HasPrefix(mode, "f"): // flushed
				_, _ = io.WriteString(w, r.Method)
				w.(http.Flusher).Flush()
				_, _ = io.WriteString(w, r.Method)
			case strings.HasPrefix(mode, "t"): // trailers
				w.Header().Set("Trailer", "X-T")
				_, _ = io.WriteString(w, r.Method)
				w.Header().Set("X-T", "v")
			case strings.HasPrefix(mode, "c"): // the handler closes
				w.Header().Set("Connection", "close")
				_, _ = io.WriteString(w, r.Method)
			case strings.HasPrefix(mode, "n"): // no content
				w.WriteHeader(http.StatusNoContent)
			case strings.HasPrefix(mode, "d"): // declared length
				w.Header().Set("Content-Length", strconv.Itoa(len(r.Method)))
				_, _ = io.WriteString(w, r.Method)
			default:
				_, _ = io.WriteString(w, r.Method)
			}
		})
	}
	var ownSeen, stdSeen seen
	// No body buffering: the handler reads each body through the loop.
	own := newServer(f, handler(&ownSeen), ServerConfig{BodyReadIdleTimeout: -1, BufferBodyBytes: -1, ReadTimeout: 5 * time.Second})
	std := newServer(f, handler(&stdSeen), ServerConfig{BodyReadIdleTimeout: -1, BufferBodyBytes: -1, ReadTimeout: 5 * time.Second, NetHTTPServer: true})
	f.Fuzz(func(t *testing.T, raw []byte) {
		if len(raw) > 4096 {
			return
		}
		ownSeen.mu.Lock()
		ownSeen.reqs = nil
		ownSeen.mu.Unlock()
		stdSeen.mu.Lock()
		stdSeen.reqs = nil
		stdSeen.mu.Unlock()
		got, err1 := fuzzStatuses(own.addr, raw)
		want, err2 := fuzzStatuses(std.addr, raw)
		if err1 != nil || err2 != nil {
			t.Fatalf("own loop: %v, net/http: %v", err1, err2)
		}
		for i := range got {
			if strings.HasPrefix(got[i], "417 ") {
				got[i] = "417"
			}
		}
		for i := range want {
			if strings.HasPrefix(want[i], "417 ") {
				want[i] = "417"
			}
		}
		ownSeen.mu.Lock()
		stdSeen.mu.Lock()
		defer ownSeen.mu.Unlock()
		defer stdSeen.mu.Unlock()
		if !reflect.DeepEqual(got, want) || !reflect.DeepEqual(ownSeen.reqs, stdSeen.reqs) {
			t.Errorf("%q:\nown loop: %q\n  handler saw %q\nnet/http: %q\n  handler saw %q", raw, got, ownSeen.reqs, want, stdSeen.reqs)
		}
	})
}

// TestHTTP1WatchKeepsThePipelinedRequest: the watch of a long request
// reads the first byte of a request pipelined behind it, which must not be
// lost, and does not cancel the running request. With "expired deadline"
// the handler leaves the read deadline in the past, as the handler's end
// does when it stops a watch whose read returns a byte at that moment: the
// next request is still read, not cut by that deadline.
func TestHTTP1WatchKeepsThePipelinedRequest(t *testing.T) {
	for _, expire := range []bool{false, true} {
		release := make(chan struct{})
		watched := make(chan struct{}, 1)
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/slow" {
				watched <- struct{}{}
				<-release
				if err := r.Context().Err(); err != nil {
					t.Errorf("the slow request's context ended: %v", err)
				}
				if expire {
					_ = http.NewResponseController(w).SetReadDeadline(time.Unix(1, 0))
				}
			}
			_, _ = io.WriteString(w, r.URL.Path)
		})
		srv := goneDelayServer(t, h, 0)
		c, err := net.Dial("tcp", srv.addr)
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		_, _ = io.WriteString(c, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
		<-watched
		// The watch now waits in a read: it gets the first byte.
		_, _ = io.WriteString(c, "GET /next HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		srv.h1.mu.Lock()
		var conn *http1Conn
		for k := range srv.h1.conns {
			conn = k
		}
		srv.h1.mu.Unlock()
		for {
			conn.mu.Lock()
			ahead, watching := conn.r.isAhead, conn.watching
			conn.mu.Unlock()
			if ahead && !watching {
				break
			}
			runtime.Gosched()
		}
		close(release)
		b, err := io.ReadAll(c)
		_ = c.Close()
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), "\r\n\r\n/slow") || !strings.HasSuffix(string(b), "\r\n\r\n/next") {
			t.Errorf("expired deadline %v: responses %q, want /slow then /next", expire, b)
		}
	}
}

// permErrListener fails Accept with a permanent error and records Close.
type permErrListener struct {
	net.Listener
	closed chan struct{}
}

// Accept fails.
func (l *permErrListener) Accept() (net.Conn, error) { return nil, errors.New("permanent") }

// Close records the close and closes the listener under it.
func (l *permErrListener) Close() error {
	select {
	case <-l.closed:
	default:
		close(l.closed)
	}
	return l.Listener.Close()
}

// TestHTTP1ListenerClosedWhenServeFails: when Accept fails for good, Serve
// returns the error and the listener is closed, as net/http's Serve does.
func TestHTTP1ListenerClosedWhenServeFails(t *testing.T) {
	for _, netHTTP := range loops() {
		srv, err := NewServer(http.NotFoundHandler(), ServerConfig{NetHTTPServer: netHTTP, ShutdownTimeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		inner, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ln := &permErrListener{Listener: inner, closed: make(chan struct{})}
		_, cancel, served := serveOn(t, srv, ln)
		<-served
		cancel()
		select {
		case <-ln.closed:
		default:
			t.Errorf("%s: Serve returned and left the listener open", loopName(netHTTP))
			_ = inner.Close()
		}
	}
}

// pipelinedCtxCase runs a handler that waits for its request's context on
// a request with behind pipelined after it (sent in the same write, so it
// sits in the loop's read buffer), lets end do something to the
// connection or the server, and reports whether the first request's
// context ended within a few seconds.
func pipelinedCtxCase(t *testing.T, netHTTP bool, cfg ServerConfig, behind string, end func(c net.Conn, cancel context.CancelFunc, served <-chan error)) bool {
	t.Helper()
	started, cancelled, release := make(chan struct{}), make(chan struct{}), make(chan struct{})
	var once sync.Once
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/a" {
			return
		}
		once.Do(func() { close(started) })
		select {
		case <-r.Context().Done():
			close(cancelled)
		case <-release:
		}
	})
	cfg.NetHTTPServer = netHTTP
	srv, err := NewServer(h, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, cancel, served0 := serveOn(t, srv, nil)
	var serr error
	servedDone := make(chan struct{})
	go func() { serr = <-served0; close(servedDone) }()
	served := make(chan error, 1)
	go func() { <-servedDone; served <- serr }()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.WriteString(c, "GET /a HTTP/1.1\r\nHost: x\r\n\r\n"+behind)
	<-started
	end(c, cancel, served)
	ok := false
	select {
	case <-cancelled:
		ok = true
	case <-time.After(3 * time.Second):
	}
	close(release)
	_ = c.Close()
	cancel()
	<-servedDone
	return ok
}

// TestHTTP1ShutdownCutCancelsARequestWithAPipelinedOneBehind: when
// ShutdownTimeout expires, the Server closes the connections, and the
// running request's context ends, on both loops, also when a pipelined
// request sits in the read buffer (the watch reads behind it): otherwise
// the handler would run on after Serve returned, with no signal to stop.
func TestHTTP1ShutdownCutCancelsARequestWithAPipelinedOneBehind(t *testing.T) {
	for _, netHTTP := range loops() {
		ok := pipelinedCtxCase(t, netHTTP, ServerConfig{ShutdownTimeout: 50 * time.Millisecond}, plainB, func(c net.Conn, cancel context.CancelFunc, served <-chan error) {
			cancel()
			if err := <-served; err == nil {
				t.Errorf("%s: Serve = nil, want the cut error", loopName(netHTTP))
			}
		})
		if !ok {
			t.Errorf("%s: the running request's context was not cancelled once shutdown closed its connection", loopName(netHTTP))
		}
	}
}

// Requests pipelined behind the first one in the cases above: a plain
// one, and one with ambiguous framing (which the Server refuses).
const (
	plainB     = "GET /b HTTP/1.1\r\nHost: x\r\n\r\n"
	ambiguousB = "POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 40\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled
)

// TestHTTP1ClientGoneCancelsARequestWithAPipelinedOneBehind: a client
// that pipelined a second request, plain or ambiguous, and then closes the
// connection cancels the first request's context, on both loops.
func TestHTTP1ClientGoneCancelsARequestWithAPipelinedOneBehind(t *testing.T) {
	for _, netHTTP := range loops() {
		for _, behind := range []string{plainB, ambiguousB} {
			ok := pipelinedCtxCase(t, netHTTP, ServerConfig{ShutdownTimeout: time.Second}, behind, func(c net.Conn, _ context.CancelFunc, _ <-chan error) {
				_ = c.Close()
			})
			if !ok {
				t.Errorf("%s: the running request's context was not cancelled after the client closed the connection, with %q behind", loopName(netHTTP), behind)
			}
		}
	}
}

// watchBlocked reports whether a goroutine watching for the client's going
// away (the own loop's watch, net/http's background read) waits in a read
// of the socket.
func watchBlocked() bool {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	for _, g := range strings.Split(string(buf), "\n\n") {
		if (strings.Contains(g, "(*http1Conn).watch(") || strings.Contains(g, "(*connReader).backgroundRead(")) && strings.Contains(g, "runtime_pollWait") {
			return true
		}
	}
	return false
}

// TestHTTP1AmbiguousRequestBehindLeavesTheRunningOneAlone: a request with
// ambiguous framing pipelined behind a running one does not end the
// running one's context (the framing guard, not the client, ended the
// stream); the running request is answered, then the ambiguous one gets
// 400 and the connection closes. On both loops. (That the client's going
// away still ends it: TestHTTP1ClientGoneCancelsARequestWithAPipelinedOneBehind.)
func TestHTTP1AmbiguousRequestBehindLeavesTheRunningOneAlone(t *testing.T) {
	for _, netHTTP := range loops() {
		name := loopName(netHTTP)
		started, cancelled, release := make(chan struct{}), make(chan struct{}), make(chan struct{})
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/a" {
				t.Errorf("%s: the handler got %s", name, r.URL.Path)
				return
			}
			close(started)
			select {
			case <-r.Context().Done():
				close(cancelled)
			case <-release:
				_, _ = io.WriteString(w, "a")
			}
		})
		c, stop := sendBehindAmbiguous(t, netHTTP, h)
		<-started
		for !watchBlocked() {
			select {
			case <-cancelled:
				t.Fatalf("%s: the running request's context ended while its client was still there", name)
			default:
				runtime.Gosched()
			}
		}
		close(release)
		b, err := io.ReadAll(c)
		_ = c.Close()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		rs := parseResponses(t, string(b))
		if len(rs) != 2 || rs[0].StatusCode != 200 || rs[1].StatusCode != 400 || !rs[1].Close {
			t.Errorf("%s: responses %q, want 200 for /a, then 400 with Connection: close", name, b)
		}
		stop()
	}
}

// TestHTTP1EndlessBytesBehindAnAmbiguousRequestEndTheRunningOne: the bytes
// a client sends after an ambiguous head, while a request before it runs,
// are dropped only up to maxPostHandlerRead; a client that sends more is
// taken for one that will not wait, and the running request's context
// ends, as when a client goes away. On both loops.
func TestHTTP1EndlessBytesBehindAnAmbiguousRequestEndTheRunningOne(t *testing.T) {
	for _, netHTTP := range loops() {
		name := loopName(netHTTP)
		started, cancelled := make(chan struct{}), make(chan struct{})
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			close(started)
			<-r.Context().Done()
			close(cancelled)
		})
		c, stop := sendBehindAmbiguous(t, netHTTP, h)
		<-started
		junk := bytes.Repeat([]byte("x"), 16<<10)
		for sent := 0; sent <= maxPostHandlerRead+len(junk); sent += len(junk) {
			if _, err := c.Write(junk); err != nil {
				break // the server closed the connection: it stopped reading
			}
		}
		select {
		case <-cancelled:
		case <-time.After(10 * time.Second):
			t.Errorf("%s: the running request went on while its client sent %d bytes after an ambiguous head", name, maxPostHandlerRead+len(junk))
		}
		_ = c.Close()
		stop()
	}
}

// sendBehindAmbiguous serves h on a Server (on net/http's loop or its own,
// whose watch then starts with the handler), and sends it GET /a with
// ambiguousB pipelined behind it. stop ends the Server.
func sendBehindAmbiguous(t *testing.T, netHTTP bool, h http.Handler) (c net.Conn, stop func()) {
	t.Helper()
	srv, err := NewServer(h, ServerConfig{NetHTTPServer: netHTTP, ShutdownTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if !netHTTP {
		srv.h1.goneDelay = 0 // the watch starts with the handler
	}
	ln, cancel, served := serveOn(t, srv, nil)
	c, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	_, _ = io.WriteString(c, "GET /a HTTP/1.1\r\nHost: x\r\n\r\n"+ambiguousB)
	return c, func() {
		cancel()
		<-served
	}
}

// readDeadlineListener hands out connections that report every read
// deadline set on them.
type readDeadlineListener struct {
	net.Listener
	set chan time.Time // the deadlines of every accepted connection, in order
}

func (l *readDeadlineListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &readDeadlineConn{Conn: c, set: l.set}, nil
}

type readDeadlineConn struct {
	net.Conn
	set chan<- time.Time
}

func (c *readDeadlineConn) SetReadDeadline(t time.Time) error {
	c.set <- t
	return c.Conn.SetReadDeadline(t)
}

// nextDeadline returns the next read deadline set, failing if none comes.
func nextDeadline(t *testing.T, set <-chan time.Time) time.Time {
	t.Helper()
	select {
	case d := <-set:
		return d
	case <-time.After(10 * time.Second):
		t.Fatal("no read deadline was set")
		return time.Time{}
	}
}

// TestHTTP1ReadDeadlinesOfKeepAliveRequests: the own loop sets the read
// deadline for the first head, the idle wait after the first response,
// and the head of a request whose head does not arrive whole, but not
// again for quick requests that arrive whole (a head in the buffer needs
// no deadline; an idle deadline set less than a 64th of the idle timeout
// ago is left); a request with a body gets the ReadTimeout deadline. The
// timeouts differ by hours, so that each deadline tells its kind.
func TestHTTP1ReadDeadlinesOfKeepAliveRequests(t *testing.T) {
	const head, read, idle = time.Hour, 2 * time.Hour, 4 * time.Hour
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rl := &readDeadlineListener{Listener: ln, set: make(chan time.Time, 64)}
	srv, err := NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = io.WriteString(w, "ok")
	}), ServerConfig{ReadHeaderTimeout: head, ReadTimeout: read, IdleTimeout: idle, BodyReadIdleTimeout: -1, ShutdownTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	srv.h1.goneDelay = time.Hour // no watch, which clears the deadline
	_, cancel, served := serveOn(t, srv, rl)
	defer func() {
		cancel()
		<-served
	}()
	// kind names a deadline d set at about now by the timeout it is.
	kind := func(d time.Time, before time.Time) string {
		for _, k := range []struct {
			name string
			d    time.Duration
		}{{"head", head}, {"read", read}, {"idle", idle}} {
			if !d.Before(before.Add(k.d-time.Minute)) && !d.After(time.Now().Add(k.d)) {
				return k.name
			}
		}
		return fmt.Sprintf("%v from now", time.Until(d).Round(time.Second))
	}
	c := dialLoop(t, ln.Addr().String())
	br := bufio.NewReader(c)
	exchange := func(parts ...string) {
		t.Helper()
		for _, p := range parts {
			if _, err := io.WriteString(c, p); err != nil {
				t.Fatal(err)
			}
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK || string(b) != "ok" {
			t.Fatalf("response %d %q", resp.StatusCode, b)
		}
	}
	start := time.Now()
	if k := kind(nextDeadline(t, rl.set), start); k != "head" {
		t.Fatalf("on accept: a %s deadline, want the head's", k)
	}
	for i := range 5 {
		before := time.Now()
		exchange("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		if i == 0 {
			if k := kind(nextDeadline(t, rl.set), before); k != "idle" {
				t.Fatalf("after the first response: a %s deadline, want the idle one", k)
			}
		}
	}
	// A head that arrives in two parts: its own deadline, once the
	// server has the first part, and the idle one again after it.
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\n"); err != nil {
		t.Fatal(err)
	}
	before := time.Now()
	if k := kind(nextDeadline(t, rl.set), before); k != "head" {
		t.Fatalf("a partial head after an idle wait: a %s deadline, want the head's", k)
	}
	exchange("Host: x\r\n\r\n")
	if k := kind(nextDeadline(t, rl.set), before); k != "idle" {
		t.Fatalf("after a response whose head came in parts: a %s deadline, want the idle one", k)
	}
	// A body, with its head whole: the ReadTimeout deadline, then idle.
	before = time.Now()
	exchange("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc")
	for _, want := range []string{"read", "idle"} {
		if k := kind(nextDeadline(t, rl.set), before); k != want {
			t.Fatalf("a request with a body: a %s deadline, want %s", k, want)
		}
	}
	exchange("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	select {
	case d := <-rl.set:
		t.Fatalf("a quick request that arrived whole set a %s deadline", kind(d, before))
	default:
	}
}

// quickGet sends GET / on c and reads its response from br.
func quickGet(t *testing.T, c net.Conn, br *bufio.Reader) {
	t.Helper()
	_, _ = io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
}

// TestHTTP1PartialHeadAfterQuickRequestsTimesOut: a client that sends
// part of a head after some quick requests (whose heads needed no
// deadline) is cut off after ReadHeaderTimeout, not the idle timeout.
func TestHTTP1PartialHeadAfterQuickRequestsTimesOut(t *testing.T) {
	srv := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "ok")
	}), ServerConfig{ReadHeaderTimeout: 100 * time.Millisecond, IdleTimeout: time.Hour})
	c := dialLoop(t, srv.addr)
	br := bufio.NewReader(c)
	for range 3 {
		quickGet(t, c, br)
	}
	_, _ = io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n")
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("read after a partial head: %v, want the server to close the connection (EOF)", err)
	}
}

// TestHTTP1WatchAfterQuickRequests: the watch's timer, set by one of many
// quick requests and not stopped when they end, still starts the watch for
// a later request that runs past goneDelay: its client's going away
// cancels it.
func TestHTTP1WatchAfterQuickRequests(t *testing.T) {
	const delay = 5 * time.Millisecond
	started, cancelled := make(chan struct{}), make(chan error, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/wait" {
			_, _ = io.WriteString(w, "ok")
			return
		}
		close(started)
		<-r.Context().Done()
		cancelled <- context.Cause(r.Context())
	})
	srv := goneDelayServer(t, h, delay)
	c := dialLoop(t, srv.addr)
	br := bufio.NewReader(c)
	// Quick requests for a few delays: the timer fires between and
	// during them, and is set again.
	for end := time.Now().Add(4 * delay); time.Now().Before(end); {
		quickGet(t, c, br)
	}
	_, _ = io.WriteString(c, "GET /wait HTTP/1.1\r\nHost: x\r\n\r\n")
	<-started
	_ = c.Close()
	select {
	case err := <-cancelled:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("cause %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the request's context was not cancelled")
	}
}

func TestHeadBuffered(t *testing.T) {
	for _, tc := range []struct {
		b    string
		want bool
	}{
		{"GET / HTTP/1.1\r\nHost: x\r\n\r\n", true},
		{"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\n", true},
		{"GET / HTTP/1.1\nHost: x\n\n", true},
		{"\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n", true},
		{"GET / HTTP/1.1\r\nHost: x\r\n", false},
		{"GET / HTTP/1.1\r\n", false},
		{"GET ", false},
		{"\r\n\r\n", false},               // blank lines before a request end nothing
		{"\r\n\r\nGET / HTTP/1.1", false}, // after a POST body: not the head's end
		{"", false},
	} {
		if got := headBuffered([]byte(tc.b)); got != tc.want {
			t.Errorf("headBuffered(%q) = %v, want %v", tc.b, got, tc.want)
		}
	}
}
