package gatekit

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	gatetls "github.com/gatekit/gatekit/tls"
)

// signalListener reports when Close is called on it.
type signalListener struct {
	net.Listener
	once   sync.Once
	closed chan struct{}
}

func (l *signalListener) Close() error {
	err := l.Listener.Close()
	l.once.Do(func() { close(l.closed) })
	return err
}

func TestGracefulShutdown(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	srv, err := NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
		_, _ = io.WriteString(w, "done")
	}), ServerConfig{ShutdownTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := &signalListener{Listener: inner, closed: make(chan struct{})}
	addr := inner.Addr().String()
	_, cancel, served := serveOn(t, srv, ln)

	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	type result struct {
		body string
		err  error
	}
	got := make(chan result, 1)
	go func() {
		resp, err := client.Get("http://" + addr + "/slow")
		if err != nil {
			got <- result{err: err}
			return
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		got <- result{string(b), err}
	}()
	<-entered
	cancel()
	<-ln.closed
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Error("new connection accepted after shutdown began")
	}
	close(release)
	r := <-got
	if r.err != nil || r.body != "done" {
		t.Errorf("in-flight request: %q, %v; want it to complete", r.body, r.err)
	}
	if err := <-served; err != nil {
		t.Errorf("Serve = %v, want nil", err)
	}
}

func TestShutdownDeadlineCutsRequests(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	defer close(release)
	srv, err := NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}), ServerConfig{ShutdownTimeout: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ln, cancel, served := serveOn(t, srv, nil)
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if resp, err := client.Get("http://" + ln.Addr().String()); err == nil {
			resp.Body.Close()
		}
	}()
	<-entered
	cancel()
	if err := <-served; !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Serve = %v, want a DeadlineExceeded error", err)
	}
	<-done
}

func TestNewServerAppliesSafeDefaults(t *testing.T) {
	s, err := NewServer(http.NotFoundHandler(), ServerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	h := s.HTTPServer()
	if h.ReadHeaderTimeout != 5*time.Second || h.ReadTimeout != 60*time.Second || h.IdleTimeout != 120*time.Second ||
		h.MaxHeaderBytes != 2*64<<10 || h.Handler.(*serverHandler).maxHeader != 64<<10 || h.HTTP2.MaxConcurrentStreams != 100 || h.Protocols.UnencryptedHTTP2() {
		t.Errorf("defaults: %+v", h)
	}
	if s.maxConns != DefaultMaxConns || s.shutdown != 30*time.Second {
		t.Errorf("maxConns %d shutdown %v", s.maxConns, s.shutdown)
	}
	if _, err := NewServer(http.NotFoundHandler(), ServerConfig{ReadTimeout: -1}); err == nil {
		t.Error("negative timeout accepted")
	}
	if _, err := NewServer(nil, ServerConfig{}); err == nil {
		t.Error("nil handler accepted")
	}
}

func TestMaxConnsHoldsFurtherConnections(t *testing.T) {
	srv, err := NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}), ServerConfig{MaxConns: 1})
	if err != nil {
		t.Fatal(err)
	}
	ln, cancel, served := serveOn(t, srv, nil)
	// The first connection holds the only slot.
	c1, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.WriteString(c1, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	buf := make([]byte, 12)
	if _, err := io.ReadFull(c1, buf); err != nil || string(buf) != "HTTP/1.1 200" {
		t.Fatalf("first conn: %q %v", buf, err)
	}
	// The second is accepted by the kernel but not served until the first closes.
	c2, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.WriteString(c2, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	_ = c2.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if n, _ := c2.Read(buf); n != 0 {
		t.Fatalf("second connection served while the first holds the only slot")
	}
	_ = c2.SetReadDeadline(time.Time{})
	c1.Close()
	if _, err := io.ReadFull(c2, buf); err != nil || string(buf) != "HTTP/1.1 200" {
		t.Fatalf("second conn after release: %q %v", buf, err)
	}
	c2.Close()
	cancel()
	if err := <-served; err != nil {
		t.Errorf("Serve = %v", err)
	}
}

func TestShutdownDelayReportsNotReady(t *testing.T) {
	var srv *Server
	mux := http.NewServeMux()
	srv, err := NewServer(mux, ServerConfig{ShutdownDelay: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	mux.Handle("/readyz", srv.ReadinessHandler())
	ln, cancel, served := serveOn(t, srv, nil)
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	get := func() int {
		resp, err := client.Get("http://" + ln.Addr().String() + "/readyz")
		if err != nil {
			t.Fatalf("readiness probe: %v", err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if c := get(); c != 200 || !srv.Ready() {
		t.Fatalf("before shutdown: %d ready=%v", c, srv.Ready())
	}
	cancel()
	for srv.Ready() {
		runtime.Gosched()
	}
	// Within the delay the server still serves, reporting not ready.
	if c := get(); c != 503 {
		t.Errorf("during the shutdown delay: readiness %d, want 503", c)
	}
	if err := <-served; err != nil {
		t.Errorf("Serve = %v", err)
	}
}

func TestWriteIdleTimeoutCutsNonReadingClient(t *testing.T) {
	writeErr := make(chan error, 1)
	srv := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		chunk := make([]byte, 64<<10)
		for range 4096 { // 256 MiB at most: far more than socket buffers hold
			if _, err := w.Write(chunk); err != nil {
				writeErr <- err
				return
			}
		}
		writeErr <- nil
	}), ServerConfig{WriteIdleTimeout: 100 * time.Millisecond})
	c, err := net.Dial("tcp", srv.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n") // and never read
	select {
	case err := <-writeErr:
		if err == nil {
			t.Fatal("256 MiB written to a client that reads nothing")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a write to a client that reads nothing still blocks after 10 s with a 100 ms write idle timeout")
	}
}

func TestWriteIdleTimeoutKeepsSlowStreams(t *testing.T) {
	srv := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for i := range 6 {
			fmt.Fprintf(w, "data: %d\n\n", i)
			w.(http.Flusher).Flush()
			time.Sleep(50 * time.Millisecond) // a stream slower in total than the idle timeout
		}
	}), ServerConfig{WriteIdleTimeout: 150 * time.Millisecond})
	resp, err := http.Get("http://" + srv.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || strings.Count(string(body), "data:") != 6 {
		t.Fatalf("stream: %q, %v; want 6 events", body, err)
	}
}

// serveOn starts srv on ln, or on a fresh loopback listener when ln is nil,
// and returns the listener, the cancel that begins shutdown and the channel
// that receives Serve's result.
func serveOn(t testing.TB, srv *Server, ln net.Listener) (net.Listener, context.CancelFunc, <-chan error) {
	t.Helper()
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, ln) }()
	return ln, cancel, served
}

// testServer is a Server serving on a loopback port until the test ends.
type testServer struct {
	*Server
	addr string
}

// newServer starts a Server for h with cfg on a loopback port; the test's
// cleanup shuts it down and checks that Serve returned.
func newServer(t testing.TB, h http.Handler, cfg ServerConfig) *testServer {
	t.Helper()
	cfg.ShutdownTimeout = cmp.Or(cfg.ShutdownTimeout, time.Second)
	srv, err := NewServer(h, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, cancel, served := serveOn(t, srv, nil)
	t.Cleanup(func() {
		cancel()
		<-served
	})
	return &testServer{Server: srv, addr: ln.Addr().String()}
}

func TestShutdownCompletionIsLogged(t *testing.T) {
	var logs bytes.Buffer
	srv, err := NewServer(http.NotFoundHandler(), ServerConfig{Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	_, cancel, served := serveOn(t, srv, nil)
	cancel()
	if err := <-served; err != nil {
		t.Fatalf("Serve = %v", err)
	}
	if !strings.Contains(logs.String(), `"msg":"shutting down"`) || !strings.Contains(logs.String(), `"msg":"shutdown complete"`) {
		t.Errorf("logs %s: want shutting down, then shutdown complete", logs.String())
	}
}

func TestWriteIdleTimeoutStartsAfreshForEachRequest(t *testing.T) {
	srv := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/empty" {
			return // net/http writes the whole response after the handler
		}
		_, _ = io.WriteString(w, "x") // buffered, and moves the write deadline
		if r.URL.Path == "/slow" {
			time.Sleep(150 * time.Millisecond) // computing before returning
		}
	}), ServerConfig{WriteIdleTimeout: 100 * time.Millisecond})
	c, err := net.Dial("tcp", srv.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	for i, path := range []string{"/", "/empty", "/slow"} {
		if i == 1 {
			time.Sleep(150 * time.Millisecond) // the connection idles past the last write deadline
		}
		fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("GET %s on a kept-alive connection: %v", path, err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("GET %s: %d", path, resp.StatusCode)
		}
	}
}

// TestServerTerminatesTLSWithHTTP2 serves a handler through Server with a
// TLSConfig from the tls package: clients get HTTP/2 when they offer it and
// HTTP/1.1 otherwise, TLS 1.1 is refused, and shutdown is graceful.
func TestServerTerminatesTLSWithHTTP2(t *testing.T) {
	ca, err := gatetls.NewDevCA()
	if err != nil {
		t.Fatal(err)
	}
	edge, err := gatetls.NewEdge(ca.GetCertificate, gatetls.EdgeConfig{})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, r.Proto)
	}), ServerConfig{TLSConfig: edge.TLSConfig()})
	if err != nil {
		t.Fatal(err)
	}
	ln, cancel, served := serveOn(t, srv, nil)
	url := "https://localhost:" + strconv.Itoa(ln.Addr().(*net.TCPAddr).Port) + "/"

	tests := []struct {
		name      string
		conf      *tls.Config
		http2     bool
		wantProto string // "" means the handshake is refused
	}{
		{"HTTP/2 client", &tls.Config{RootCAs: ca.Pool()}, true, "HTTP/2.0"},
		{"HTTP/1.1 client", &tls.Config{RootCAs: ca.Pool()}, false, "HTTP/1.1"},
		{"TLS 1.1 client", &tls.Config{RootCAs: ca.Pool(), MaxVersion: tls.VersionTLS11}, true, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := &http.Transport{TLSClientConfig: tc.conf, ForceAttemptHTTP2: tc.http2}
			if !tc.http2 {
				tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
			}
			defer tr.CloseIdleConnections()
			resp, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Get(url)
			if tc.wantProto == "" {
				if err == nil {
					resp.Body.Close()
					t.Fatal("a TLS 1.1 client was served")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.Proto != tc.wantProto || string(body) != tc.wantProto {
				t.Fatalf("response %s, handler saw %q; want %s", resp.Proto, body, tc.wantProto)
			}
		})
	}
	cancel()
	if err := <-served; err != nil {
		t.Fatalf("Serve after cancel = %v, want nil", err)
	}
}

// net/http clears the write deadline after every response and the Server
// holds that clear back while its own deadline is recent; net/http's own
// error response to a later malformed request, once that deadline has
// passed while the connection idled, must still be written.
func TestNetHTTPsOwnErrorAfterAnIdlePastTheWriteDeadlineIsWritten(t *testing.T) {
	srv := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "ok")
	}), ServerConfig{WriteIdleTimeout: 50 * time.Millisecond})
	c, err := net.Dial("tcp", srv.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	time.Sleep(150 * time.Millisecond)          // the connection idles past the response's write deadline
	io.WriteString(c, "GET / HTTP/1.1\r\n\r\n") // no Host: net/http answers 400 itself
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err = http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("no response to the malformed request: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("malformed request answered %d, want 400", resp.StatusCode)
	}
}

// net/http writes 100 Continue when the handler first reads the body,
// which may be long after the handler started (queued behind a limiter):
// the write idle deadline set when it started must not have run out then.
func TestWriteIdleTimeoutLetsALateBodyReadSend100Continue(t *testing.T) {
	const idle = 100 * time.Millisecond
	srv := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(3 * idle) // the handler waits before it wants the body
		b, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		_, _ = w.Write(b)
	}), ServerConfig{WriteIdleTimeout: idle})
	c, err := net.Dial("tcp", srv.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	br := bufio.NewReader(c)
	line, err := br.ReadString('\n')
	if err != nil || line != "HTTP/1.1 100 Continue\r\n" {
		t.Fatalf("first line %q (%v), want 100 Continue", line, err)
	}
	if _, err := br.ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(c, "abc"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("no response after the body: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || string(body) != "abc" {
		t.Errorf("response %d %q, want 200 echoing the body", resp.StatusCode, body)
	}
}

// TestServeReturnsWhenTheCallerClosesAFullListener: Serve returns
// the listener's error when the caller closes the listener, as with
// net/http's Serve, even while MaxConns connections are open and the
// limitListener waits for a slot (which an idle keep-alive connection may
// hold for IdleTimeout, a hijacked tunnel forever).
func TestServeReturnsWhenTheCallerClosesAFullListener(t *testing.T) {
	for _, netHTTP := range loops() {
		srv, err := NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}), ServerConfig{NetHTTPServer: netHTTP, MaxConns: 1, ShutdownTimeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		ln, cancel, served := serveOn(t, srv, nil)
		c := dialLoop(t, ln.Addr().String())
		_, _ = io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		buf := make([]byte, 12)
		if _, err := io.ReadFull(c, buf); err != nil {
			t.Fatal(err)
		}
		// The only slot is taken; the loop waits in Accept for a slot.
		_ = ln.Close()
		select {
		case <-served:
		case <-time.After(2 * time.Second):
			t.Errorf("%s: Serve has not returned 2 s after its listener was closed (MaxConns reached)", loopName(netHTTP))
			_ = c.Close()
			<-served
		}
		_ = c.Close()
		cancel()
	}
}

// TestListenerFailureDuringShutdownDelayStillShutsDown: a listener that
// fails while the Server waits out ShutdownDelay ends the delay, but the
// shutdown still runs (open connections drained, RegisterOnShutdown hooks
// called) before Serve returns the listener's error, on both loops.
func TestListenerFailureDuringShutdownDelayStillShutsDown(t *testing.T) {
	for _, netHTTP := range loops() {
		srv, err := NewServer(http.NotFoundHandler(), ServerConfig{NetHTTPServer: netHTTP, ShutdownDelay: time.Hour, ShutdownTimeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		hook := make(chan struct{})
		srv.HTTPServer().RegisterOnShutdown(func() { close(hook) })
		ln, cancel, served := serveOn(t, srv, nil)
		cancel()
		for srv.Ready() {
			runtime.Gosched()
		}
		_ = ln.Close() // the listener fails during the delay
		select {
		case err := <-served:
			if err == nil {
				t.Errorf("%s: Serve returned nil, want the listener's error", loopName(netHTTP))
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: Serve did not return", loopName(netHTTP))
		}
		select {
		case <-hook:
		case <-time.After(5 * time.Second):
			t.Errorf("%s: the shutdown hooks never ran", loopName(netHTTP))
		}
	}
}
