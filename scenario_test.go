package gatekit

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/gatekit/gatekit/balancer"
	"github.com/gatekit/gatekit/cache"
	"github.com/gatekit/gatekit/proxy"
	"github.com/gatekit/gatekit/ratelimit"
	"github.com/gatekit/gatekit/reqkey"
	"github.com/gatekit/gatekit/route"
	"github.com/gatekit/gatekit/surge"
	gatetls "github.com/gatekit/gatekit/tls"
	"github.com/gatekit/gatekit/validate"
)

// roundRobinProxy returns a Proxy over the comma-separated upstreams,
// round robin, closed at the end of the test.
func roundRobinProxy(t testing.TB, upstreams string, cfg proxy.Config) *proxy.Proxy {
	t.Helper()
	ups, err := balancer.ParseUpstreams(upstreams)
	if err != nil {
		t.Fatal(err)
	}
	pool, err := balancer.NewPool(ups)
	if err != nil {
		t.Fatal(err)
	}
	px, err := proxy.New(balancer.NewRoundRobin(pool), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { px.Close() })
	return px
}

// recordingBackend is an HTTP server on loopback that records every byte it
// receives and answers each request 200 "ok".
type recordingBackend struct {
	srv  *http.Server
	url  *url.URL
	mu   sync.Mutex
	recv bytes.Buffer
}

func newRecordingBackend(t *testing.T) *recordingBackend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &recordingBackend{url: &url.URL{Scheme: "http", Host: ln.Addr().String()}}
	b.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = io.WriteString(w, "ok")
	})}
	go func() { _ = b.srv.Serve(&recordingListener{Listener: ln, b: b}) }()
	t.Cleanup(func() { _ = b.srv.Close() })
	return b
}

// received returns the bytes the backend has received so far.
func (b *recordingBackend) received() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.recv.String()
}

type recordingListener struct {
	net.Listener
	b *recordingBackend
}

func (l *recordingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &recordingConn{Conn: c, b: l.b}, nil
}

type recordingConn struct {
	net.Conn
	b *recordingBackend
}

func (c *recordingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.b.mu.Lock()
	c.b.recv.Write(p[:n])
	c.b.mu.Unlock()
	return n, err
}

// newGatewayServer serves a Gateway whose one rule proxies everything to
// backend through httputil.ReverseProxy, with a Server configured by cfg.
func newGatewayServer(t *testing.T, backend *recordingBackend, cfg ServerConfig) *testServer {
	t.Helper()
	transport := &http.Transport{}
	t.Cleanup(transport.CloseIdleConnections)
	proxy := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) { pr.SetURL(backend.url) }, Transport: transport}
	g := newGateway(t, []route.Rule{{Handler: proxy}}, Config{})
	return newServer(t, g, cfg)
}

// rawExchange writes req to a fresh connection to addr and returns what
// comes back until the server closes the connection (closed) or 2 s pass.
func rawExchange(t *testing.T, addr, req string) (resp string, closed bool) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	b, err := io.ReadAll(c)
	return string(b), err == nil || !errors.Is(err, os.ErrDeadlineExceeded)
}

func TestAmbiguousFramingIsRejectedAndNeverReachesBackend(t *testing.T) {
	backend := newRecordingBackend(t)
	srv := newGatewayServer(t, backend, ServerConfig{})
	tests := []struct{ name, req string }{
		{"CL then TE", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 40\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled},
		{"TE then CL", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 40\r\n\r\n0\r\n\r\n" + smuggled},
		{"TE with two spaces", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 40\r\nTransfer-Encoding:  chunked\r\n\r\n0\r\n\r\n" + smuggled},
		{"TE with a tab", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 40\r\nTransfer-Encoding:\tchunked\r\n\r\n0\r\n\r\n" + smuggled},
		{"bare LF", "POST / HTTP/1.1\nHost: x\nContent-Length: 40\nTransfer-Encoding: chunked\n\n0\r\n\r\n" + smuggled},
		{"HTTP/1.2", "POST / HTTP/1.2\r\nHost: x\r\nContent-Length: 40\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled},
		{"HTTP/1.0 with TE", "POST / HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n" + smuggled},
		{"HTTP/1.0 with TE and no CL", "POST / HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n" + smuggled},
		{"after a good request", "GET /first HTTP/1.1\r\nHost: x\r\n\r\nPOST / HTTP/1.1\r\nHost: x\r\nContent-Length: 40\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, closed := rawExchange(t, srv.addr, tc.req)
			rs := parseResponses(t, resp)
			last := rs[len(rs)-1]
			if last.StatusCode != 400 || !last.Close || last.Header.Get("Content-Type") != "application/problem+json" {
				t.Errorf("response %q, want 400 problem+json with Connection: close", resp)
			}
			if !closed {
				t.Error("connection still open after the ambiguous request")
			}
			if got := backend.received(); strings.Contains(got, "smuggled") || strings.Contains(got, "POST") {
				t.Errorf("backend received %q", got)
			}
		})
	}
}

// An ambiguous request must be refused wherever it comes on a connection,
// also behind requests net/http handles in ways of its own: the stray CR and
// LF bytes it skips after a POST, and OPTIONS * that it answers itself.
func TestAmbiguousFramingIsRefusedBehindRequestsNetHTTPTreatsSpecially(t *testing.T) {
	ambiguous := "POST /ambiguous HTTP/1.1\r\nHost: x\r\nContent-Length: 40\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled
	post := "POST /first HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
	tests := []struct{ name, req string }{
		{"CR CR LF after a POST", post + "\r\r\n" + ambiguous},
		{"CR CR after a POST", post + "\r\r" + ambiguous},
		{"LF CR after a POST", post + "\n\r" + ambiguous},
		{"after OPTIONS *", "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n" + ambiguous},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			backend := newRecordingBackend(t)
			srv := newGatewayServer(t, backend, ServerConfig{})
			resp, closed := rawExchange(t, srv.addr, tc.req)
			rs := parseResponses(t, resp)
			last := rs[len(rs)-1]
			if len(rs) != 2 || last.StatusCode != 400 || !last.Close || last.Header.Get("Content-Type") != "application/problem+json" {
				t.Errorf("responses %q, want the first request's, then 400 problem+json with Connection: close", resp)
			}
			if !closed {
				t.Error("connection still open after the ambiguous request")
			}
			if got := backend.received(); strings.Contains(got, "smuggled") || strings.Contains(got, "/ambiguous") {
				t.Errorf("backend received %q", got)
			}
		})
	}
}

func TestInsecureAllowAmbiguousFramingLetsSmugglingThrough(t *testing.T) {
	backend := newRecordingBackend(t)
	srv := newGatewayServer(t, backend, ServerConfig{InsecureAllowAmbiguousFraming: true})
	resp, _ := rawExchange(t, srv.addr, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 40\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"+smuggled)
	if strings.Count(resp, "HTTP/1.1 200") != 2 || !strings.Contains(backend.received(), "GET /smuggled") {
		t.Errorf("with the insecure option: responses %q, backend %q; want the two requests net/http sees", resp, backend.received())
	}
}

func TestKeepAliveRequestsPassTheFramingCheck(t *testing.T) {
	backend := newRecordingBackend(t)
	srv := newGatewayServer(t, backend, ServerConfig{})
	req := "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc" +
		"POST /b HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nxyz\r\n0\r\n\r\n" +
		"GET /c HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
	resp, _ := rawExchange(t, srv.addr, req)
	if n := strings.Count(resp, "HTTP/1.1 200"); n != 3 {
		t.Fatalf("responses %q: %d times 200, want 3", resp, n)
	}
	got := backend.received()
	for _, want := range []string{"POST /a HTTP/1.1", "abc", "POST /b HTTP/1.1", "xyz", "GET /c HTTP/1.1"} {
		if !strings.Contains(got, want) {
			t.Errorf("backend did not receive %q: %q", want, got)
		}
	}
}

func TestPRIAndAsteriskFormAreRefused(t *testing.T) {
	backend := newRecordingBackend(t)
	srv := newGatewayServer(t, backend, ServerConfig{})
	for _, req := range []string{
		"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
		"GET * HTTP/1.1\r\nHost: x\r\n\r\n",
		"PRI / HTTP/1.1\r\nHost: x\r\n\r\n",
	} {
		resp, closed := rawExchange(t, srv.addr, req)
		if !strings.HasPrefix(resp, "HTTP/1.1 400 ") || !strings.Contains(resp, "application/problem+json") || !closed {
			t.Errorf("%q: response %q closed %v, want 400 problem+json and a closed connection", req, resp, closed)
		}
	}
	if got := backend.received(); got != "" {
		t.Errorf("backend received %q", got)
	}
	resp, _ := rawExchange(t, srv.addr, "OPTIONS * HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	if strings.HasPrefix(resp, "HTTP/1.1 400 ") && strings.Contains(resp, "asterisk") {
		t.Errorf("OPTIONS * refused: %q", resp)
	}
}

func TestStalledBodyGets408AndNoUpstreamRequest(t *testing.T) {
	backend := newRecordingBackend(t)
	srv := newGatewayServer(t, backend, ServerConfig{BodyReadIdleTimeout: 100 * time.Millisecond, BufferBodyBytes: 16})
	tests := []struct{ name, req string }{
		{"buffered body", "POST /small HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc"},
		{"streamed body", "POST /large HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc"},
		{"chunked body", "POST /chunked HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			resp, closed := rawExchange(t, srv.addr, tc.req)
			if !strings.HasPrefix(resp, "HTTP/1.1 408 ") || !strings.Contains(resp, "application/problem+json") || !closed {
				t.Errorf("response %q closed %v, want 408 problem+json and a closed connection", resp, closed)
			}
			if d := time.Since(start); d > 1500*time.Millisecond {
				t.Errorf("408 after %v with a 100 ms body read idle timeout", d)
			}
		})
	}
	if got := backend.received(); strings.Contains(got, "/small") {
		t.Errorf("backend was contacted for a buffered body that never completed: %q", got)
	}
}

// TestStatus499IsNeverSentToAGoneClient sends a request and half-closes
// the socket, as a client that gives up does; the handler answers 499
// once the request's context ends, as the proxy does for a client that
// went away: nothing is sent and the connection is closed. An upstream's
// own 499 to a client still there is relayed like any other status (a
// shared cache may even store it).
func TestStatus499IsNeverSentToAGoneClient(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/gone" {
			<-r.Context().Done()
		}
		w.WriteHeader(499)
		_, _ = io.WriteString(w, "client closed")
	})
	srv := newServer(t, h, ServerConfig{})
	g := newGateway(t, []route.Rule{{Handler: h}}, Config{})
	plain := &http.Server{Handler: g}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = plain.Serve(ln) }()
	defer plain.Close()
	for name, addr := range map[string]string{"Server": srv.addr, "Gateway on http.Server": ln.Addr().String()} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(c, "GET /gone HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		_ = c.(*net.TCPConn).CloseWrite()
		_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
		b, err := io.ReadAll(c)
		c.Close()
		if len(b) != 0 || errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("%s: sent %q (%v) to a client that went away, want the connection closed with nothing sent", name, b, err)
		}
		resp, _ := rawExchange(t, addr, "GET /live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		if !strings.HasPrefix(resp, "HTTP/1.1 499 ") {
			t.Errorf("%s: an upstream's 499 to a live client became %q, want it relayed", name, resp)
		}
	}
}

// parseResponses parses the HTTP/1 responses in s, which must hold at
// least one.
func parseResponses(t *testing.T, s string) []*http.Response {
	t.Helper()
	br := bufio.NewReader(strings.NewReader(s))
	var rs []*http.Response
	for {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			break
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		rs = append(rs, resp)
	}
	if len(rs) == 0 {
		t.Fatalf("no response in %q", s)
	}
	return rs
}

func TestPerRouteLimitHoldsUnderTheRouteTable(t *testing.T) {
	lim, err := ratelimit.New(ratelimit.Config{Rates: []ratelimit.Rate{{Count: 1, Per: time.Minute, Burst: 1}}, Key: reqkey.Route})
	if err != nil {
		t.Fatal(err)
	}
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
	g := newGateway(t, []route.Rule{
		{Path: "/items/{id}", Middleware: []func(http.Handler) http.Handler{ratelimit.Middleware(lim)}, Handler: ok},
	}, Config{})
	var got []int
	for _, p := range []string{"/items/1", "/items/2", "/items/3"} {
		rec := httptest.NewRecorder()
		g.ServeHTTP(rec, httptest.NewRequest("GET", p, nil))
		got = append(got, rec.Code)
	}
	if !slices.Equal(got, []int{200, 429, 429}) {
		t.Errorf("/items/1, /items/2, /items/3 under a 1/min limit on /items/{id}: %v, want [200 429 429]", got)
	}
}

func TestOversizedHeadersGet431ProblemJSON(t *testing.T) {
	backend := newRecordingBackend(t)
	srv := newGatewayServer(t, backend, ServerConfig{MaxHeaderBytes: 4 << 10})
	// 5 KiB: the Server's own check; 16 KiB: over what net/http reads, its
	// own 431 rewritten on the way out.
	for _, size := range []int{5 << 10, 16 << 10} {
		resp, closed := rawExchange(t, srv.addr, "GET / HTTP/1.1\r\nHost: x\r\nX-Big: "+strings.Repeat("a", size)+"\r\n\r\n")
		r := parseResponses(t, resp)[0]
		if r.StatusCode != 431 || r.Header.Get("Content-Type") != "application/problem+json" || !closed {
			t.Errorf("%d-byte header: %d %q closed %v, want 431 problem+json and a closed connection", size, r.StatusCode, r.Header.Get("Content-Type"), closed)
		}
	}
	if got := backend.received(); got != "" {
		t.Errorf("backend received %q", got)
	}
}

func TestBodyReadIdleTimeoutDoesNotCutLongHandlers(t *testing.T) {
	ctxErrs := make(chan error, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body)
		// A slow upstream: the handler outlives both the body read idle
		// timeout and the ReadTimeout, and must keep its context.
		select {
		case <-time.After(300 * time.Millisecond):
		case <-r.Context().Done():
		}
		ctxErrs <- r.Context().Err()
		_, _ = io.WriteString(w, "done")
	})
	srv := newServer(t, h, ServerConfig{BodyReadIdleTimeout: 50 * time.Millisecond, ReadTimeout: 100 * time.Millisecond, BufferBodyBytes: 4})
	for _, body := range []string{"abc", "longer than the buffer"} {
		resp, _ := rawExchange(t, srv.addr, fmt.Sprintf("POST / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s", len(body), body))
		if err := <-ctxErrs; err != nil || !strings.HasSuffix(resp, "done") {
			t.Errorf("%d-byte body: context %v, response %q; want the handler to finish", len(body), err, resp)
		}
	}
}

// A proxy reports whether its pool can serve, so a route split can skip it.
var _ route.Availability = (*proxy.Proxy)(nil)

func TestShortBufferedBodyGets400AndRefusalsAreLogged(t *testing.T) {
	var logs syncBuffer
	backend := newRecordingBackend(t)
	srv := newGatewayServer(t, backend, ServerConfig{Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	c, err := net.Dial("tcp", srv.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, _ = io.WriteString(c, "POST /short HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
	_ = c.(*net.TCPConn).CloseWrite() // the client sends no more
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	b, _ := io.ReadAll(c)
	if r := parseResponses(t, string(b))[0]; r.StatusCode != 400 || r.Header.Get("Content-Type") != "application/problem+json" {
		t.Errorf("short body: %q, want 400 problem+json", b)
	}
	if strings.Contains(backend.received(), "/short") {
		t.Errorf("backend contacted for an incomplete body: %q", backend.received())
	}
	rawExchange(t, srv.addr, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
	for _, want := range []string{`"reason":"request body shorter than its Content-Length"`, `"reason":"the PRI method`} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log %s lacks %s", logs.String(), want)
		}
	}
}

// syncBuffer is a bytes.Buffer safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestAccessLogRecordCarriesEveryStage sends a request through a whole
// route (rate limit, validation, cache, proxy with a retry) behind the
// Gateway, over TLS and with trace context, and checks that its one access
// log record carries every field: method, host, path, status, bytes in and
// out, duration, rule, target, attempts, cache, limiter decision, request
// ID, client, TLS version and trace ID.
func TestAccessLogRecordCarriesEveryStage(t *testing.T) {
	good := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Cache-Control", "max-age=60")
		io.WriteString(w, "stored")
	}))
	defer good.Close()
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadURL := "http://" + dead.Addr().String()
	dead.Close()
	px := roundRobinProxy(t, deadURL+","+good.URL, proxy.Config{})
	lim, err := ratelimit.New(ratelimit.Config{Rates: []ratelimit.Rate{ratelimit.PerSecond(100)}})
	if err != nil {
		t.Fatal(err)
	}
	v, err := validate.Load([]byte(`openapi: 3.0.3
info: {title: t, version: "1"}
paths:
  /items/{id}:
    get:
      parameters: [{name: id, in: path, required: true, schema: {type: integer}}]
      responses: {"200": {description: ok}}
`), validate.Config{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := cache.New(nil, cache.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var logs bytes.Buffer
	g := newGateway(t, []route.Rule{{Name: "items", Path: "/items/{id}", Handler: px, Middleware: []func(http.Handler) http.Handler{
		ratelimit.Middleware(lim), validate.Middleware(v), cache.Middleware(c),
	}}}, Config{Logger: slog.New(slog.NewJSONHandler(&logs, nil)), Trace: TraceConfig{Generate: true}, NewRequestID: func() string { return "rid-1" }})
	defer g.Close()

	// Round robin starts at a random target: send until one request went
	// to the dead target first and was retried (a cache miss each time).
	var rec map[string]any
	for i := range 20 {
		logs.Reset()
		r := httptest.NewRequest("GET", "https://api.example/items/"+strconv.Itoa(i), nil)
		r.RemoteAddr = "192.0.2.7:5000"
		r.TLS = &tls.ConnectionState{Version: tls.VersionTLS13}
		w := httptest.NewRecorder()
		g.ServeHTTP(w, r)
		if w.Code != 200 {
			t.Fatalf("GET /items/%d = %d %s", i, w.Code, w.Body)
		}
		if err := json.Unmarshal(logs.Bytes(), &rec); err != nil {
			t.Fatalf("log %q: %v", logs.String(), err)
		}
		if rec["attempts"] == 2.0 {
			break
		}
	}
	want := map[string]any{
		"msg": "request", "method": "GET", "host": "api.example", "status": 200.0, "bytes_in": 0.0, "bytes_out": 6.0,
		"route": "items", "target": good.URL, "attempts": 2.0, "cache": "miss", "limit": "allowed",
		"request_id": "rid-1", "client": "192.0.2.7", "tls": "TLS 1.3", "proto": "HTTP/1.1",
	}
	for k, v := range want {
		if rec[k] != v {
			t.Errorf("log field %s = %v, want %v", k, rec[k], v)
		}
	}
	if p, _ := rec["path"].(string); !strings.HasPrefix(p, "/items/") {
		t.Errorf("log field path = %v", rec["path"])
	}
	if id, _ := rec["trace_id"].(string); len(id) != 32 {
		t.Errorf("log field trace_id = %v, want a generated 32-digit trace ID", rec["trace_id"])
	}
	if _, ok := rec["duration"]; !ok {
		t.Error("no duration")
	}
}

// A backend may answer before it has read the request body (413 to an
// upload) while the proxy's transport is still sending that body from its
// own goroutine. The body's byte count and stall flag, read by the access
// log and the response writer on the handler's goroutine, must not race
// with it (run with -race).
func TestEarlyBackendAnswerWhileTheBodyStreamsIsRaceFree(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		w.WriteHeader(http.StatusRequestEntityTooLarge)
	}))
	t.Cleanup(backend.Close)
	u, err := url.Parse(backend.URL)
	if err != nil {
		t.Fatal(err)
	}
	transport := &http.Transport{}
	t.Cleanup(transport.CloseIdleConnections)
	proxy := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) { pr.SetURL(u) }, Transport: transport}
	logged, err := AccessLog(slog.New(slog.NewTextHandler(io.Discard, nil)), AccessLogConfig{})
	if err != nil {
		t.Fatal(err)
	}
	srv := newServer(t, logged(proxy), ServerConfig{})
	chunk := "1000\r\n" + strings.Repeat("a", 4096) + "\r\n"
	for range 5 {
		c, err := net.Dial("tcp", srv.addr)
		if err != nil {
			t.Fatal(err)
		}
		sent := make(chan struct{})
		go func() {
			defer close(sent)
			_, _ = io.WriteString(c, "POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
			for range 200 {
				_ = c.SetWriteDeadline(time.Now().Add(time.Second))
				if _, err := io.WriteString(c, chunk); err != nil {
					return
				}
			}
			_, _ = io.WriteString(c, "0\r\n\r\n")
		}()
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Errorf("status %d, want the backend's 413", resp.StatusCode)
		}
		c.Close()
		<-sent
	}
}

// Once a handler takes over the connection (an Upgrade), the bytes on it
// are the tunnel's, not HTTP/1 requests: the framing check must not cut a
// tunnel whose payload happens to look like an ambiguous request.
func TestUpgradedConnectionIsNotFramingChecked(t *testing.T) {
	srv := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer c.Close()
		_, _ = brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
		_ = brw.Flush()
		_, _ = io.Copy(c, brw) // echo until the client closes its side
	}), ServerConfig{})
	c, err := net.Dial("tcp", srv.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %v %v", resp, err)
	}
	payload := "POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled
	if _, err := io.WriteString(c, payload); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(payload))
	if _, err := io.ReadFull(br, got); err != nil || string(got) != payload {
		t.Errorf("tunnel echoed %q (%v), want %q", got, err, payload)
	}
}

// gRPC end to end: real grpc-go clients and servers through the Gateway
// and the Server.

// grpcHealthBackend is a real grpc-go server of the standard health
// service (a unary method to call) on a loopback port.
func grpcHealthBackend(t *testing.T, opts ...grpc.ServerOption) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(opts...)
	healthpb.RegisterHealthServer(srv, health.NewServer())
	go srv.Serve(ln)
	t.Cleanup(srv.Stop)
	return ln.Addr().String()
}

// serveH2C serves h with NewServer (and UnencryptedHTTP2 if h2c) on a
// loopback port until the end of the test, and returns a gRPC client of
// it.
func serveH2C(t *testing.T, h http.Handler, h2c bool) *grpc.ClientConn {
	t.Helper()
	srv := newServer(t, h, ServerConfig{UnencryptedHTTP2: h2c})
	cc, err := grpc.NewClient(srv.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() }) // before the server stops (cleanups run last first)
	return cc
}

func TestGatewayAnswersGRPCCallersInGRPC(t *testing.T) {
	px := roundRobinProxy(t, "h2c://"+grpcHealthBackend(t), proxy.Config{})
	lim, err := ratelimit.New(ratelimit.Config{Rates: []ratelimit.Rate{{Count: 1, Per: time.Hour}}})
	if err != nil {
		t.Fatal(err)
	}
	g := newGateway(t, []route.Rule{{
		Path:       "/grpc.health.v1.Health/Check",
		Methods:    []string{"POST"},
		Middleware: []func(http.Handler) http.Handler{ratelimit.Middleware(lim)},
		Handler:    px,
	}}, Config{})
	cc := serveH2C(t, g, true)
	client := healthpb.NewHealthClient(cc)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	resp, err := client.Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("first Check through the gateway = %v, %v", resp, err)
	}
	var trailer metadata.MD
	_, err = client.Check(ctx, &healthpb.HealthCheckRequest{}, grpc.Trailer(&trailer))
	if st := status.Convert(err); st.Code() != codes.ResourceExhausted || st.Message() == "" {
		t.Fatalf("second Check = %v, want ResourceExhausted with a message", err)
	}
	if v := trailer.Get("grpc-retry-pushback-ms"); len(v) != 1 || v[0] == "0" {
		t.Errorf("retry pushback = %q, want the Retry-After in milliseconds", v)
	}
	// A method no route serves is UNIMPLEMENTED, as from a gRPC server.
	_, err = healthpb.NewHealthClient(cc).List(ctx, &healthpb.HealthListRequest{})
	if code := status.Code(err); code != codes.Unimplemented {
		t.Fatalf("unrouted method = %v, want Unimplemented", err)
	}
}

func TestGatewayErrorsStayProblemJSONForOtherCallers(t *testing.T) {
	g := newGateway(t, []route.Rule{{Path: "/x", Handler: http.NotFoundHandler()}}, Config{})
	srv := httptest.NewServer(g)
	defer srv.Close()
	resp, err := http.Post(srv.URL+"/nothing", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 404 || !strings.HasPrefix(ct, "application/problem+json") {
		t.Fatalf("non-gRPC error = %d %q, want 404 problem+json", resp.StatusCode, ct)
	}
}

func TestServerRefusesPriorKnowledgeH2CUnlessEnabled(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/grpc")
		w.Header().Set("Grpc-Status", "0")
	})
	for _, h2c := range []bool{false, true} {
		cc := serveH2C(t, h, h2c)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := healthpb.NewHealthClient(cc).Check(ctx, &healthpb.HealthCheckRequest{})
		cancel()
		// Enabled, the handler's empty OK answer reaches the client
		// (which then misses the response message); disabled, the
		// connection fails.
		if got := status.Code(err); h2c && got == codes.Unavailable || !h2c && got != codes.Unavailable {
			t.Errorf("UnencryptedHTTP2 %v: Check = %v", h2c, err)
		}
	}
}

func TestGRPCOverTLSFromClientToTarget(t *testing.T) {
	ca, err := gatetls.NewDevCA()
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.Issue(gatetls.Leaf{IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}})
	if err != nil {
		t.Fatal(err)
	}
	// The target: grpc-go over TLS (h2 by ALPN), an https:// upstream.
	target := grpcHealthBackend(t, grpc.Creds(credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{*cert}})))
	px := roundRobinProxy(t, "https://"+target, proxy.Config{TransportConfig: proxy.TransportConfig{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}}})
	// The gateway: NewServer terminating TLS with HTTP/2.
	srv := newServer(t, px, ServerConfig{TLSConfig: &tls.Config{Certificates: []tls.Certificate{*cert}}})
	cc, err := grpc.NewClient(srv.addr, grpc.WithTransportCredentials(credentials.NewClientTLSFromCert(ca.Pool(), "")))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	cctx, ccancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer ccancel()
	resp, err := healthpb.NewHealthClient(cc).Check(cctx, &healthpb.HealthCheckRequest{})
	if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("Check over TLS both ways = %v, %v", resp, err)
	}
}

func TestGatewayShedsGRPCCallsAsUnavailable(t *testing.T) {
	lim, err := surge.NewLimiter(surge.LimiterConfig{InitialLimit: 1, MinLimit: 1, MaxLimit: 1, MaxQueue: -1})
	if err != nil {
		t.Fatal(err)
	}
	var reached atomic.Bool
	g := newGateway(t, []route.Rule{{
		Path:       "/grpc.health.v1.Health/Check",
		Middleware: []func(http.Handler) http.Handler{surge.Middleware(lim, surge.MiddlewareConfig{})},
		Handler:    http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { reached.Store(true) }),
	}}, Config{})
	cc := serveH2C(t, g, true)
	busy, err := lim.TryAcquire() // another call holds the only slot
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Release(surge.Success)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var trailer metadata.MD
	_, err = healthpb.NewHealthClient(cc).Check(ctx, &healthpb.HealthCheckRequest{}, grpc.Trailer(&trailer))
	if code := status.Code(err); code != codes.Unavailable || reached.Load() {
		t.Fatalf("shed call = %v (handler reached: %v), want Unavailable", err, reached.Load())
	}
	if v := trailer.Get("grpc-retry-pushback-ms"); len(v) != 1 || v[0] != "1000" {
		t.Errorf("retry pushback = %q, want [1000] from Retry-After: 1", v)
	}
}

// TestProxiedResponseHeaderThroughTheServer: a response forwarded through
// the Server reaches the client without the target's hop-by-hop fields
// (those Connection names included) and with its end-to-end ones, whether
// the proxy's header map became the response's (the Server's own loop, an
// empty header) or was merged into fields a handler before it set.
func TestProxiedResponseHeaderThroughTheServer(t *testing.T) {
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "X-Hop")
		w.Header().Set("X-Hop", "secret")
		w.Header().Set("Keep-Alive", "timeout=5")
		w.Header().Set("X-End", "e2e")
		_, _ = io.WriteString(w, "body")
	}))
	defer be.Close()
	px := roundRobinProxy(t, be.URL, proxy.Config{})
	for _, preset := range []bool{false, true} {
		for _, netHTTP := range loops() {
			h := http.Handler(px)
			if preset {
				h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("X-Request-Id", "r1")
					px.ServeHTTP(w, r)
				})
			}
			srv := newServer(t, h, ServerConfig{NetHTTPServer: netHTTP})
			for range 2 {
				resp, err := http.Get("http://" + srv.addr + "/")
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				got := resp.Header
				if string(body) != "body" || got.Get("X-End") != "e2e" || got.Get("X-Hop") != "" || got.Get("Keep-Alive") != "" ||
					(got.Get("X-Request-Id") == "r1") != preset {
					t.Errorf("%s, preset %v: got %q with %v", loopName(netHTTP), preset, body, got)
				}
			}
		}
	}
}

// TestCacheHitIsTheSameOnBothLoops: a cache hit, which the own loop
// writes from a head prepared once, reaches the client with the fields and
// body net/http's loop sends for it, and an outer handler that reads the
// header after the cache finds the hit's fields on either loop.
func TestCacheHitIsTheSameOnBothLoops(t *testing.T) {
	origin := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=600")
		w.Header().Set("Etag", `"v1"`)
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("Date", time.Now().UTC().Format(http.TimeFormat))
		w.Header()["X-Multi"] = []string{"a", "b"}
		_, _ = io.WriteString(w, "stored body")
	})
	hits := map[bool]*http.Response{}
	for _, netHTTP := range loops() {
		c, err := cache.New(nil, cache.Config{Name: "edge"})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		var seen http.Header
		inner := cache.Middleware(c)(origin)
		outer := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Outer", "1")
			inner.ServeHTTP(w, r)
			seen = w.Header().Clone()
		})
		srv := newServer(t, outer, ServerConfig{NetHTTPServer: netHTTP})
		get := func() *http.Response {
			t.Helper()
			resp, err := http.Get("http://" + srv.addr + "/doc")
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(b) != "stored body" {
				t.Fatalf("%s: body %q", loopName(netHTTP), b)
			}
			return resp
		}
		get()
		resp := get()
		if st := resp.Header.Get("Cache-Status"); !strings.HasPrefix(st, "edge; hit") {
			t.Fatalf("%s: second GET: Cache-Status %q, want a hit", loopName(netHTTP), st)
		}
		for _, k := range []string{"Etag", "Age", "Cache-Status", "Content-Type", "X-Outer"} {
			if seen.Get(k) != resp.Header.Get(k) {
				t.Errorf("%s: after the cache the outer handler saw %s %q, the client got %q", loopName(netHTTP), k, seen.Get(k), resp.Header.Get(k))
			}
		}
		if !slices.Equal(seen["X-Multi"], []string{"a", "b"}) {
			t.Errorf("%s: outer handler saw X-Multi %q", loopName(netHTTP), seen["X-Multi"])
		}
		hits[netHTTP] = resp
	}
	own, std := hits[false], hits[true]
	for _, h := range []http.Header{own.Header, std.Header} {
		// Date (stored) and Age (from it) are each cache's own.
		if h.Get("Date") == "" || h.Get("Age") == "" {
			t.Errorf("a hit without Date or Age: %v", h)
		}
		delete(h, "Date")
		delete(h, "Age")
	}
	if own.StatusCode != std.StatusCode || own.ContentLength != std.ContentLength || !reflect.DeepEqual(own.Header, std.Header) {
		t.Errorf("a hit on the own loop: %d %d %v\non net/http's: %d %d %v", own.StatusCode, own.ContentLength, own.Header, std.StatusCode, std.ContentLength, std.Header)
	}
}
