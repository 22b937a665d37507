package gatekit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/gatekit/gatekit/route"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func newGateway(t *testing.T, routes []route.Rule, cfg Config) *Gateway {
	t.Helper()
	g, err := New(routes, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestRecoveryBeforeWrite(t *testing.T) {
	var logs bytes.Buffer
	g := newGateway(t, []route.Rule{{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Half", "set")
		panic("boom: secret internal detail")
	})}}, Config{Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	rec := httptest.NewRecorder()
	g.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if rec.Code != 500 {
		t.Fatalf("status = %d, want 500", rec.Code)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("Content-Type = %q", ct)
	}
	if rec.Header().Get("X-Half") != "" {
		t.Errorf("header set before the panic survived into the 500: %v", rec.Header())
	}
	if rec.Header().Get(RequestIDHeader) == "" {
		t.Errorf("500 lost its request ID")
	}
	if strings.Contains(rec.Body.String(), "secret") {
		t.Errorf("panic text leaked to the client: %s", rec.Body)
	}
	if !strings.Contains(logs.String(), "secret internal detail") {
		t.Errorf("panic not logged: %s", logs.String())
	}
}

func TestRecoveryAfterWriteAbortsConnection(t *testing.T) {
	g := newGateway(t, []route.Rule{{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// A chunked response: ending the handler normally would end it
		// cleanly with a last chunk, so only an abort makes the read fail.
		w.WriteHeader(200)
		_, _ = w.Write([]byte("partial"))
		w.(http.Flusher).Flush()
		panic("mid-body")
	})}}, Config{})
	srv := httptest.NewServer(g)
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatalf("GET: %v (headers were flushed, so they should arrive)", err)
	}
	defer resp.Body.Close()
	if resp.ContentLength != -1 {
		t.Fatalf("ContentLength = %d, want a chunked response", resp.ContentLength)
	}
	body, err := io.ReadAll(resp.Body)
	if err == nil {
		t.Fatalf("half-written response %q read to a clean end; want an aborted connection", body)
	}
}

func TestConnectionHeaderCannotStripGatewayHeaders(t *testing.T) {
	var got http.Header
	g := newGateway(t, []route.Rule{{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Clone()
	})}}, Config{NewRequestID: func() string { return "gw-id" }})
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set(RequestIDHeader, "client-id")
	req.Header.Set("X-Secret-Hop", "1")
	req.Header.Add("Connection", "X-Request-ID, X-Secret-Hop")
	req.Header.Add("Connection", "Upgrade")
	in := req.Header.Clone()
	g.ServeHTTP(httptest.NewRecorder(), req)
	if got.Get(RequestIDHeader) != "gw-id" {
		t.Errorf("request ID upstream = %q, want the gateway's gw-id", got.Get(RequestIDHeader))
	}
	if got.Get("X-Secret-Hop") != "" {
		t.Errorf("a header named in Connection reached the handler")
	}
	if c := got.Values("Connection"); len(c) != 1 || c[0] != "Upgrade" {
		t.Errorf("Connection = %q, want only Upgrade", c)
	}
	if len(req.Header) != len(in) || req.Header.Get(RequestIDHeader) != "client-id" {
		t.Errorf("the inbound request's headers were modified: %v", req.Header)
	}
}

func TestBodyLimit(t *testing.T) {
	var readErr error
	g := newGateway(t, []route.Rule{{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, readErr = io.ReadAll(r.Body)
	})}}, Config{MaxBodyBytes: 10})
	rec := httptest.NewRecorder()
	g.ServeHTTP(rec, httptest.NewRequest("POST", "/", strings.NewReader(strings.Repeat("x", 11))))
	if rec.Code != 413 {
		t.Errorf("declared 11 bytes over a 10-byte cap: status %d, want 413", rec.Code)
	}
	req := httptest.NewRequest("POST", "/", io.MultiReader(strings.NewReader(strings.Repeat("x", 11))))
	req.ContentLength = -1
	g.ServeHTTP(httptest.NewRecorder(), req)
	var mbe *http.MaxBytesError
	if !errors.As(readErr, &mbe) {
		t.Errorf("undeclared 11 bytes over a 10-byte cap: read error %v, want *http.MaxBytesError", readErr)
	}
	readErr = nil
	g.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("POST", "/", strings.NewReader("0123456789")))
	if readErr != nil {
		t.Errorf("10 bytes under a 10-byte cap: %v", readErr)
	}
}

func TestRequestID(t *testing.T) {
	var seen, seenCtx string
	g := newGateway(t, []route.Rule{{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen, seenCtx = r.Header.Get(RequestIDHeader), RequestID(r.Context())
	})}}, Config{NewRequestID: func() string { return "generated" }})
	tests := []struct{ in, want string }{
		{"", "generated"},
		{"abc-123_x.y:z", "abc-123_x.y:z"},
		{"bad id with spaces", "generated"},
		{"<script>", "generated"},
		{strings.Repeat("a", 129), "generated"},
		{strings.Repeat("a", 128), strings.Repeat("a", 128)},
	}
	for _, tc := range tests {
		req := httptest.NewRequest("GET", "/", nil)
		if tc.in != "" {
			req.Header.Set(RequestIDHeader, tc.in)
		}
		rec := httptest.NewRecorder()
		g.ServeHTTP(rec, req)
		if got := rec.Header().Get(RequestIDHeader); got != tc.want || seen != tc.want || seenCtx != tc.want {
			t.Errorf("X-Request-ID %q: response %q, upstream %q, context %q; want %q", tc.in, got, seen, seenCtx, tc.want)
		}
	}
	if id := randomID(); len(id) != 32 || !validRequestID(id) {
		t.Errorf("randomID() = %q", id)
	}
}

func TestAccessLog(t *testing.T) {
	var logs bytes.Buffer
	g := newGateway(t, []route.Rule{{Path: "/hello", Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(201)
		_, _ = io.WriteString(w, "hello")
	})}}, Config{Logger: slog.New(slog.NewJSONHandler(&logs, nil)), NewRequestID: func() string { return "rid" }})
	req := httptest.NewRequest("POST", "http://example.test/hello", nil)
	req.RemoteAddr = "192.0.2.9:5555"
	g.ServeHTTP(httptest.NewRecorder(), req)
	var rec map[string]any
	if err := json.Unmarshal(logs.Bytes(), &rec); err != nil {
		t.Fatalf("log %q: %v", logs.String(), err)
	}
	want := map[string]any{"msg": "request", "method": "POST", "host": "example.test", "path": "/hello",
		"status": 201.0, "bytes": 5.0, "client": "192.0.2.9", "request_id": "rid", "proto": "HTTP/1.1"}
	for k, v := range want {
		if rec[k] != v {
			t.Errorf("log field %s = %v, want %v", k, rec[k], v)
		}
	}
	if _, ok := rec["duration"]; !ok {
		t.Error("log has no duration")
	}
}

func TestAccessLogClientGone(t *testing.T) {
	var logs bytes.Buffer
	g := newGateway(t, []route.Rule{{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})}},
		Config{Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	g.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil).WithContext(ctx))
	if !strings.Contains(logs.String(), `"status":499`) {
		t.Errorf("cancelled request not logged as 499: %s", logs.String())
	}
}

func TestNilLoggerSilent(t *testing.T) {
	g := newGateway(t, []route.Rule{{Handler: http.NotFoundHandler()}}, Config{})
	rec := httptest.NewRecorder()
	g.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if rec.Code != 404 {
		t.Fatalf("status = %d", rec.Code)
	}
}

func TestRequestHygiene(t *testing.T) {
	reached := false
	g := newGateway(t, []route.Rule{{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { reached = true })}}, Config{})
	many := httptest.NewRequest("GET", "/", nil)
	for i := range 101 {
		many.Header.Add("X-H", string(rune('a'+i%26)))
	}
	under := httptest.NewRequest("GET", "/", nil)
	under.Header["X_Forwarded_For"] = []string{"6.6.6.6"}
	long := httptest.NewRequest("GET", "/?q="+strings.Repeat("a", DefaultMaxURILength), nil)
	tests := []struct {
		name string
		req  *http.Request
		want int
	}{
		{"too many headers", many, 431},
		{"underscore header", under, 400},
		{"long target", long, 414},
		{"ok", httptest.NewRequest("GET", "/", nil), 200},
	}
	for _, tc := range tests {
		reached = false
		rec := httptest.NewRecorder()
		g.ServeHTTP(rec, tc.req)
		if rec.Code != tc.want || reached != (tc.want == 200) {
			t.Errorf("%s: status %d reached %v, want %d", tc.name, rec.Code, reached, tc.want)
		}
	}
	lax := newGateway(t, []route.Rule{{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})}},
		Config{InsecureAllowUnderscoreHeaders: true})
	rec := httptest.NewRecorder()
	lax.ServeHTTP(rec, under)
	if rec.Code != 200 {
		t.Errorf("InsecureAllowUnderscoreHeaders: status %d", rec.Code)
	}
}

func TestChainOrderAndRouteMiddleware(t *testing.T) {
	var order []string
	mw := func(name string) func(http.Handler) http.Handler {
		return func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				order = append(order, name)
				next.ServeHTTP(w, r)
			})
		}
	}
	g := newGateway(t, []route.Rule{
		{Path: "/a", Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { order = append(order, "a") }), Middleware: []func(http.Handler) http.Handler{mw("1"), mw("2")}},
		{Path: "/b", Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { order = append(order, "b") })},
	}, Config{})
	g.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/a", nil))
	g.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/b", nil))
	if got := strings.Join(order, ","); got != "1,2,a,b" {
		t.Errorf("order = %s, want 1,2,a,b", got)
	}
}

func TestNewErrors(t *testing.T) {
	h := http.NotFoundHandler()
	tests := []struct {
		name   string
		routes []route.Rule
		cfg    Config
	}{
		{"nil handler", []route.Rule{{Path: "/"}}, Config{}},
		{"bad pattern", []route.Rule{{Path: "/{bad", Handler: h}}, Config{}},
		{"bad route config", nil, Config{Route: route.Config{DefaultHost: "bad host/"}}},
		{"bad header", nil, Config{ForwardedHeader: "X-Real-IP"}},
		{"negative", nil, Config{MaxHeaderCount: -1}},
	}
	for _, tc := range tests {
		if _, err := New(tc.routes, tc.cfg); err == nil {
			t.Errorf("%s: New returned no error", tc.name)
		}
	}
}

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

func TestServerDefaults(t *testing.T) {
	s, err := NewServer(http.NotFoundHandler(), ServerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	h := s.HTTPServer()
	if h.ReadHeaderTimeout != 5*time.Second || h.ReadTimeout != 60*time.Second || h.IdleTimeout != 120*time.Second ||
		h.MaxHeaderBytes != 64<<10 || h.HTTP2.MaxConcurrentStreams != 100 || h.Protocols.UnencryptedHTTP2() {
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

func TestMaxConns(t *testing.T) {
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

func TestGatewayRoutesAndSwap(t *testing.T) {
	name := func(s string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, s+" "+r.URL.Path) })
	}
	g := newGateway(t, []route.Rule{
		{Path: "/api/*", Handler: name("api")},
		{Path: "/admin/*", Handler: name("admin"), Headers: []route.Predicate{{Name: "X-Admin-Token", Value: "ok"}}},
	}, Config{})
	defer g.Close()
	tests := []struct {
		target string
		want   int
		body   string
	}{
		{"/api/users", 200, "api /api/users"},
		{"/api/..%2Fadmin/x", 400, ""},
		{"/api/../admin/x", 400, ""},
		{"/admin/x", 404, ""},
		{"/nothing", 404, ""},
	}
	for _, tc := range tests {
		rec := httptest.NewRecorder()
		g.ServeHTTP(rec, httptest.NewRequest("GET", tc.target, nil))
		if rec.Code != tc.want || (tc.body != "" && rec.Body.String() != tc.body) {
			t.Errorf("GET %s = %d %q, want %d %q", tc.target, rec.Code, rec.Body, tc.want, tc.body)
		}
	}
	if err := g.Swap([]route.Rule{{Path: "/v2/*", Handler: name("v2")}}); err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	g.ServeHTTP(rec, httptest.NewRequest("GET", "/api/users", nil))
	if rec.Code != 404 {
		t.Errorf("after Swap, old rule still serves: %d", rec.Code)
	}
	if err := g.Swap([]route.Rule{{Path: "/{bad"}}); err == nil {
		t.Error("Swap accepted an invalid rule")
	}
	rec = httptest.NewRecorder()
	g.ServeHTTP(rec, httptest.NewRequest("GET", "/v2/x", nil))
	if rec.Body.String() != "v2 /v2/x" {
		t.Errorf("after failed Swap: %d %q", rec.Code, rec.Body)
	}
	nh, err := NewHandler(http.NotFoundHandler(), Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := nh.Swap(nil); err == nil {
		t.Error("Swap on NewHandler gateway: no error")
	}
	if _, err := NewHandler(nil, Config{}, nil); err == nil {
		t.Error("NewHandler(nil): no error")
	}
	if _, err := NewHandler(http.NotFoundHandler(), Config{MaxBodyBytes: -1}, nil); err == nil {
		t.Error("NewHandler with negative MaxBodyBytes: no error")
	}
}

func TestShutdownDelayReadiness(t *testing.T) {
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
	g := newGateway(t, []route.Rule{{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		chunk := make([]byte, 64<<10)
		for range 4096 { // 256 MiB at most: far more than socket buffers hold
			if _, err := w.Write(chunk); err != nil {
				writeErr <- err
				return
			}
		}
		writeErr <- nil
	})}}, Config{WriteIdleTimeout: 100 * time.Millisecond})
	srv := httptest.NewServer(g)
	defer srv.Close()
	c, err := net.Dial("tcp", srv.Listener.Addr().String())
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

func TestWriteIdleTimeoutKeepsStreaming(t *testing.T) {
	g := newGateway(t, []route.Rule{{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for i := range 6 {
			fmt.Fprintf(w, "data: %d\n\n", i)
			w.(http.Flusher).Flush()
			time.Sleep(50 * time.Millisecond) // a stream slower in total than the idle timeout
		}
	})}}, Config{WriteIdleTimeout: 150 * time.Millisecond})
	srv := httptest.NewServer(g)
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || strings.Count(string(body), "data:") != 6 {
		t.Fatalf("stream: %q, %v; want 6 events", body, err)
	}
}

// FuzzConsumeConnection checks that after consumeConnection no header the
// client named in Connection is left, and Connection is gone or exactly
// "Upgrade".
func FuzzConsumeConnection(f *testing.F) {
	f.Add("X-Request-ID, X-Secret", "X-Request-ID", "keep")
	f.Add("close", "Keep-Alive", "timeout=5")
	f.Add("Upgrade, keep-alive", "Upgrade", "websocket")
	f.Add(", ,x-a,,", "X-A", "1")
	f.Fuzz(func(t *testing.T, conn, name, value string) {
		h := http.Header{}
		h.Add("Connection", conn)
		if name != "" {
			h[http.CanonicalHeaderKey(name)] = []string{value}
		}
		consumeConnection(h)
		if vs := h.Values("Connection"); len(vs) > 0 && (len(vs) != 1 || vs[0] != "Upgrade") {
			t.Fatalf("Connection left as %q", vs)
		}
		for tok := range strings.SplitSeq(conn, ",") {
			tok = strings.TrimSpace(tok)
			if tok == "" || strings.EqualFold(tok, "upgrade") || strings.EqualFold(tok, "connection") {
				continue
			}
			if _, ok := h[http.CanonicalHeaderKey(tok)]; ok {
				t.Fatalf("Connection: %q named %q, still present: %v", conn, tok, h)
			}
		}
	})
}

// serveOn starts srv on ln, or on a fresh loopback listener when ln is nil,
// and returns the listener, the cancel that begins shutdown and the channel
// that receives Serve's result.
func serveOn(t *testing.T, srv *Server, ln net.Listener) (net.Listener, context.CancelFunc, <-chan error) {
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
