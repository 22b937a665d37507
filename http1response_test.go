package gatekit

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestHTTP1HijackAfterWriteHeaderSendsTheHead: WriteHeader(200) then
// Hijack (a CONNECT tunnel) sends the head, as net/http's server does.
func TestHTTP1HijackAfterWriteHeaderSendsTheHead(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		c, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Errorf("Hijack: %v", err)
			return
		}
		defer c.Close()
		_, _ = brw.WriteString("tunnel\n")
		_ = brw.Flush()
	})
	for _, netHTTP := range loops() {
		srv := newServer(t, h, ServerConfig{NetHTTPServer: netHTTP})
		resp, _ := rawExchange(t, srv.addr, "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n")
		if !strings.HasPrefix(resp, "HTTP/1.1 200 OK\r\n") || !strings.HasSuffix(resp, "\r\n\r\ntunnel\n") {
			t.Errorf("%s: got %q, want the 200 head, then the tunnel's bytes", loopName(netHTTP), resp)
		}
	}
}

// TestHTTP1ClosingResponseDoesNotWaitForTheBody: a response that closes
// the connection anyway (Connection: close, 417) is sent without waiting
// for the request body the client holds back.
func TestHTTP1ClosingResponseDoesNotWaitForTheBody(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusForbidden) // without reading the body
	})
	for _, req := range []string{
		"POST / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 1000000\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: x\r\nExpect: teapot\r\nContent-Length: 10\r\n\r\n",
	} {
		for _, netHTTP := range loops() {
			srv := newServer(t, h, ServerConfig{NetHTTPServer: netHTTP, ReadTimeout: 30 * time.Second})
			c, err := net.Dial("tcp", srv.addr)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.WriteString(c, req)
			_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
			if _, err := http.ReadResponse(bufio.NewReader(c), nil); err != nil {
				t.Errorf("%s, %.60q: no response within 3 s: %v", loopName(netHTTP), req, err)
			}
			_ = c.Close()
		}
	}
}

// TestHTTP1WriteWhileFinishDrainsIsRefused: a goroutine the handler left
// behind cannot write into the connection while finish waits for the
// unread body; the stray chunk would reach the client inside the response.
func TestHTTP1WriteWhileFinishDrainsIsRefused(t *testing.T) {
	returned, wrote := make(chan struct{}), make(chan struct{})
	var lateErr error
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, strings.Repeat("x", 5000)) // chunked, head sent
		go func() {
			defer close(wrote)
			<-returned
			_, lateErr = io.WriteString(w, "INJECTED")
		}()
	})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		inner.ServeHTTP(w, r)
		close(returned) // the handler has returned
	})
	srv := newServer(t, h, ServerConfig{})
	c, err := net.Dial("tcp", srv.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	// A chunked body (not buffered by serverHandler) the handler leaves
	// unread: finish's drain waits for it.
	_, _ = io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
	<-wrote
	_, _ = io.WriteString(c, "0\r\n\r\n")
	b, _ := io.ReadAll(c)
	if lateErr == nil || strings.Contains(string(b), "INJECTED") {
		t.Errorf("write after the handler returned: err %v, reached the client: %v", lateErr, strings.Contains(string(b), "INJECTED"))
	}
}

// TestHTTP1ForbiddenTrailerFieldIsNotSent: trailer names a hop must not
// take from trailers (Content-Length and the like) are not sent.
func TestHTTP1ForbiddenTrailerFieldIsNotSent(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "Content-Length, X-Ok")
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, "data")
		w.Header().Set("Content-Length", "999")
		w.Header().Set("X-Ok", "1")
	})
	for _, netHTTP := range loops() {
		srv := newServer(t, h, ServerConfig{NetHTTPServer: netHTTP})
		resp, _ := rawExchange(t, srv.addr, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		if _, trailer, _ := strings.Cut(resp, "\r\n0\r\n"); strings.Contains(trailer, "Content-Length") {
			t.Errorf("%s: trailer section %q carries Content-Length", loopName(netHTTP), trailer)
		}
	}
}
