package proxy

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatekit/gatekit/balancer"
)

// frontOf serves h on a real listener (streaming and hijacking need one).
func frontOf(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(h)
	t.Cleanup(s.Close)
	return s
}

func TestStreamingFlushesImmediately(t *testing.T) {
	for _, ct := range []string{"text/event-stream", "application/x-ndjson"} {
		t.Run(ct, func(t *testing.T) {
			release := make(chan struct{})
			defer close(release)
			be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", ct)
				io.WriteString(w, "data: first\n\n")
				w.(http.Flusher).Flush()
				select { // the rest never comes while the client reads
				case <-release:
				case <-r.Context().Done():
				}
			}))
			defer be.Close()
			px := newTestProxy(t, balancer.NewRoundRobin(poolOf(t, be.URL)), Config{Timeout: -1})
			front := frontOf(t, px)
			resp, err := http.Get(front.URL)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			line := make(chan string, 1)
			go func() {
				l, _ := bufio.NewReader(resp.Body).ReadString('\n')
				line <- l
			}()
			select {
			case l := <-line:
				if l != "data: first\n" {
					t.Fatalf("first line %q", l)
				}
			case <-time.After(3 * time.Second):
				t.Fatal("the first event was buffered instead of flushed")
			}
		})
	}
}

// dyingBackend sends the head and part of a body, then resets.
func dyingBackend(t *testing.T, head, partial string) string {
	return rawBackend(t, func(c net.Conn, br *bufio.Reader) {
		if _, err := http.ReadRequest(br); err != nil {
			return
		}
		io.WriteString(c, head+partial)
		time.Sleep(20 * time.Millisecond) // let the proxy forward what it got
		if tc, ok := c.(*net.TCPConn); ok {
			tc.SetLinger(0)
		}
	})
}

func TestBackendDyingMidBodyAbortsClient(t *testing.T) {
	cases := map[string]struct{ head, partial string }{
		"content-length": {"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n", "0123456789"},
		"chunked":        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", "a\r\n0123456789\r\n"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			be := dyingBackend(t, tc.head, tc.partial)
			rp := &recorder{Policy: balancer.NewRoundRobin(poolOf(t, be))}
			px := newTestProxy(t, rp, Config{})
			front := frontOf(t, px)
			resp, err := http.Get(front.URL)
			if err == nil { // else: aborted before the head was flushed, also fine
				body, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err == nil {
					t.Fatalf("client read a complete-looking %d-byte body %q from a backend that died mid-body", len(body), body)
				}
			}
			if !waitFor(2*time.Second, func() bool { rp.mu.Lock(); defer rp.mu.Unlock(); return len(rp.results) > 0 }) {
				t.Fatal("done not called")
			}
			if r := rp.last(t); !r.Failed() {
				t.Fatalf("done(%+v): a target dying mid-body must count", r)
			}
		})
	}
}

func TestStalledStreamAborted(t *testing.T) {
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: one\n\n")
		w.(http.Flusher).Flush()
		<-r.Context().Done() // then stall
	}))
	defer be.Close()
	px := newTestProxy(t, balancer.NewRoundRobin(poolOf(t, be.URL)), Config{Timeout: -1, StreamIdleTimeout: 100 * time.Millisecond})
	front := frontOf(t, px)
	client := &http.Client{Timeout: 10 * time.Second} // a broken idle timer fails, never hangs
	defer client.CloseIdleConnections()
	start := time.Now()
	resp, err := client.Get(front.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err == nil {
		t.Fatalf("stalled stream ended cleanly with %q; want an aborted connection", body)
	}
	if !strings.HasPrefix(string(body), "data: one") {
		t.Fatalf("stream body %q", body)
	}
	if el := time.Since(start); el > 3*time.Second {
		t.Fatalf("stalled stream aborted after %v, want about 100ms", el)
	}
}

// echoUpgradeBackend answers websocket upgrades with 101 and echoes bytes.
func echoUpgradeBackend(t *testing.T, arrivals *atomic.Int64) *httptest.Server {
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrivals.Add(1)
		if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
			w.WriteHeader(http.StatusNotImplemented)
			return
		}
		c, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer c.Close()
		io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		buf := make([]byte, 4)
		if _, err := io.ReadFull(brw, buf); err == nil {
			c.Write(buf)
		}
	}))
	t.Cleanup(be.Close)
	return be
}

func upgradeRequest(t *testing.T, addr, proto string) (*http.Response, net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: "+proto+"\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	return resp, c, br
}

func TestWebSocketOnlyWhereAllowed(t *testing.T) {
	cases := []struct {
		name      string
		allow     bool
		proto     string
		want      int
		reachesBE bool
	}{
		{"allowed websocket", true, "websocket", 101, true},
		{"websocket on a plain route", false, "websocket", 400, false},
		{"other protocol", true, "foo/1", 400, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var arrivals atomic.Int64
			be := echoUpgradeBackend(t, &arrivals)
			px := newTestProxy(t, balancer.NewRoundRobin(poolOf(t, be.URL)), Config{WebSocket: tc.allow})
			front := frontOf(t, px)
			resp, c, br := upgradeRequest(t, front.Listener.Addr().String(), tc.proto)
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.want)
			}
			if (arrivals.Load() > 0) != tc.reachesBE {
				t.Fatalf("backend arrivals %d", arrivals.Load())
			}
			if tc.want != 101 {
				return
			}
			io.WriteString(c, "ping")
			buf := make([]byte, 4)
			if _, err := io.ReadFull(br, buf); err != nil || string(buf) != "ping" {
				t.Fatalf("echo through the tunnel: %q, %v", buf, err)
			}
		})
	}
}

// TestWebSocketOutlivesReadTimeout: the server's ReadTimeout
// bounds reading a request, not the life of the tunnel a WebSocket upgrade
// turns its connection into.
func TestWebSocketOutlivesReadTimeout(t *testing.T) {
	var arrivals atomic.Int64
	be := echoUpgradeBackend(t, &arrivals)
	px := newTestProxy(t, balancer.NewRoundRobin(poolOf(t, be.URL)), Config{WebSocket: true})
	front := httptest.NewUnstartedServer(px)
	front.Config.ReadTimeout = 100 * time.Millisecond
	front.Config.WriteTimeout = 100 * time.Millisecond
	front.Start()
	t.Cleanup(front.Close)
	resp, c, br := upgradeRequest(t, front.Listener.Addr().String(), "websocket")
	if resp.StatusCode != 101 {
		t.Fatalf("status %d, want 101", resp.StatusCode)
	}
	// Time passing is the condition under test: the tunnel must still work
	// after the server's read and write timeouts would have expired.
	time.Sleep(300 * time.Millisecond)
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, "ping")
	buf := make([]byte, 4)
	if _, err := io.ReadFull(br, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("echo through the tunnel after the server's timeouts: %q, %v", buf, err)
	}
}
