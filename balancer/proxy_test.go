package balancer

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatekit/gatekit/clientip"
	"github.com/gatekit/gatekit/internal/problem"
)

// backend is an httptest server answering with its name and recording the
// headers of the last request.
type backend struct {
	*httptest.Server
	name  string
	mu    sync.Mutex
	last  http.Header
	host  string
	conns atomic.Int64 // connections accepted
}

func newBackend(t *testing.T, name string) *backend {
	t.Helper()
	b := &backend{name: name}
	b.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.mu.Lock()
		b.last = r.Header.Clone()
		b.host = r.Host
		b.mu.Unlock()
		w.Header().Set("Connection", "X-Hop")
		w.Header().Set("X-Hop", "secret")
		w.Header().Set("Keep-Alive", "timeout=5")
		io.WriteString(w, name)
	}))
	b.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			b.conns.Add(1)
		}
	}
	b.Start()
	t.Cleanup(b.Close)
	return b
}

func (b *backend) lastHeader() http.Header {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.last
}

func poolOf(t testing.TB, urls ...string) *Pool {
	t.Helper()
	ups, err := ParseUpstreams(strings.Join(urls, ","))
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewPool(ups)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func newTestProxy(t *testing.T, pol Policy, cfg Config) *Proxy {
	t.Helper()
	px, err := NewProxy(pol, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { px.Close() })
	return px
}

// recorder wraps a policy and records the results passed to done.
type recorder struct {
	Policy
	mu      sync.Mutex
	results []Result
}

func (rp *recorder) Pick(_ context.Context, key string) (*Target, func(Result), error) {
	t, done, err := rp.Policy.Pick(context.Background(), key)
	if err != nil {
		return nil, nil, err
	}
	return t, func(r Result) {
		rp.mu.Lock()
		rp.results = append(rp.results, r)
		rp.mu.Unlock()
		done(r)
	}, nil
}

func (rp *recorder) last(t *testing.T) Result {
	t.Helper()
	rp.mu.Lock()
	defer rp.mu.Unlock()
	if len(rp.results) == 0 {
		t.Fatal("done was not called")
	}
	return rp.results[len(rp.results)-1]
}

func serve(h http.Handler, r *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	return rec
}

func TestProxyRoundRobinOrder(t *testing.T) {
	a, b, c := newBackend(t, "a"), newBackend(t, "b"), newBackend(t, "c")
	px := newTestProxy(t, NewRoundRobin(poolOf(t, a.URL, b.URL, c.URL)), Config{})
	var got []string
	for range 7 {
		rec := serve(px, httptest.NewRequest("GET", "/", nil))
		if rec.Code != 200 {
			t.Fatalf("status %d", rec.Code)
		}
		got = append(got, rec.Body.String())
	}
	for i := 3; i < len(got); i++ {
		if got[i] != got[i-3] {
			t.Fatalf("sequence %v is not a rotation of a b c", got)
		}
	}
	if seen := map[string]bool{got[0]: true, got[1]: true, got[2]: true}; len(seen) != 3 {
		t.Fatalf("sequence %v does not visit every backend once per cycle", got)
	}
}

func TestProxyStripsHopByHopAndH2C(t *testing.T) {
	be := newBackend(t, "a")
	px := newTestProxy(t, NewRoundRobin(poolOf(t, be.URL)), Config{})
	req := httptest.NewRequest("GET", "/x", nil)
	req.Header.Set("Connection", "Upgrade, X-Secret")
	req.Header.Set("Upgrade", "h2c")
	req.Header.Set("Http2-Settings", "AAMAAABkAAQAAP__")
	req.Header.Set("X-Secret", "1")
	req.Header.Set("Keep-Alive", "timeout=5")
	req.Header.Set("Proxy-Connection", "keep-alive")
	req.Header.Set("Te", "gzip")
	req.Header.Set("X-Request-Id", "req-123")
	rec := serve(px, req)
	if rec.Code != 200 {
		t.Fatalf("status %d", rec.Code)
	}
	h := be.lastHeader()
	for _, name := range []string{"Connection", "Upgrade", "Http2-Settings", "X-Secret", "Keep-Alive", "Proxy-Connection", "Te"} {
		if v, ok := h[name]; ok {
			t.Errorf("backend received %s: %q", name, v)
		}
	}
	if got := h.Get("X-Request-Id"); got != "req-123" {
		t.Errorf("X-Request-Id = %q, want req-123", got)
	}
	for _, name := range []string{"Connection", "X-Hop", "Keep-Alive"} {
		if v := rec.Header().Get(name); v != "" {
			t.Errorf("client received response header %s: %q", name, v)
		}
	}
}

func TestProxyForwardedHeaders(t *testing.T) {
	be := newBackend(t, "a")
	pool := poolOf(t, be.URL)
	res, err := clientip.New(clientip.Config{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name                string
		remote              string
		middleware          bool
		wantXFF, wantRealIP string
		wantHost, wantProto string
		wantForwarded       string
	}{
		{name: "no middleware", remote: "198.51.100.7:1234", wantXFF: "198.51.100.7", wantRealIP: "198.51.100.7", wantHost: "example.com", wantProto: "http"},
		{name: "untrusted peer", remote: "198.51.100.7:1234", middleware: true, wantXFF: "198.51.100.7", wantRealIP: "198.51.100.7", wantHost: "example.com", wantProto: "http"},
		{name: "trusted peer", remote: "192.0.2.1:1234", middleware: true, wantXFF: "6.6.6.6, 192.0.2.1", wantRealIP: "6.6.6.6",
			wantHost: "spoof.example", wantProto: "https", wantForwarded: "for=6.6.6.6"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var h http.Handler = newTestProxy(t, NewRoundRobin(pool), Config{})
			if tc.middleware {
				h = clientip.Middleware(res)(h)
			}
			req := httptest.NewRequest("GET", "http://example.com/", nil)
			req.RemoteAddr = tc.remote
			req.Header.Set("X-Forwarded-For", "6.6.6.6")
			req.Header.Set("X-Forwarded-Host", "spoof.example")
			req.Header.Set("X-Forwarded-Proto", "https")
			req.Header.Set("Forwarded", "for=6.6.6.6")
			req.Header.Set("X-Real-IP", "6.6.6.6")
			req.Header.Set("True-Client-IP", "6.6.6.6")
			for _, name := range []string{"X-Forwarded-Scheme", "X-Forwarded-Ssl", "X-Forwarded-Uri", "X-Original-URL", "X-Rewrite-URL", "Front-End-Https"} {
				req.Header.Set(name, "spoof")
			}
			if rec := serve(h, req); rec.Code != 200 {
				t.Fatalf("status %d", rec.Code)
			}
			got := be.lastHeader()
			for _, c := range []struct{ name, want string }{
				{"X-Forwarded-For", tc.wantXFF}, {"X-Real-Ip", tc.wantRealIP}, {"X-Forwarded-Host", tc.wantHost},
				{"X-Forwarded-Proto", tc.wantProto}, {"Forwarded", tc.wantForwarded}, {"True-Client-Ip", ""},
				{"X-Forwarded-Scheme", ""}, {"X-Forwarded-Ssl", ""}, {"X-Forwarded-Uri", ""}, {"X-Original-Url", ""},
				{"X-Rewrite-Url", ""}, {"Front-End-Https", ""},
			} {
				if v := strings.Join(got.Values(c.name), ", "); v != c.want {
					t.Errorf("%s = %q, want %q", c.name, v, c.want)
				}
			}
		})
	}
}

func TestProxyHost(t *testing.T) {
	be := newBackend(t, "a")
	for _, preserve := range []bool{false, true} {
		px := newTestProxy(t, NewRoundRobin(poolOf(t, be.URL)), Config{PreserveHost: preserve})
		serve(px, httptest.NewRequest("GET", "http://example.com/", nil))
		be.mu.Lock()
		host := be.host
		be.mu.Unlock()
		want := strings.TrimPrefix(be.URL, "http://")
		if preserve {
			want = "example.com"
		}
		if host != want {
			t.Errorf("PreserveHost=%v: backend Host = %q, want %q", preserve, host, want)
		}
	}
}

func checkProblem(t *testing.T, rec *httptest.ResponseRecorder, status int) {
	t.Helper()
	if rec.Code != status {
		t.Fatalf("status = %d, want %d (body %q)", rec.Code, status, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type = %q", ct)
	}
	var body struct {
		Status int    `json:"status"`
		Detail string `json:"detail"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body.Status != status {
		t.Fatalf("problem body %q: %v", rec.Body, err)
	}
	if strings.Contains(body.Detail, "dial") || strings.Contains(body.Detail, "127.0.0.1") {
		t.Fatalf("problem detail leaks internals: %q", body.Detail)
	}
}

// deadURL returns the URL of a port that refuses connections.
func deadURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}

func TestProxyDeadBackend(t *testing.T) {
	pool := poolOf(t, deadURL(t))
	rp := &recorder{Policy: NewRoundRobin(pool)}
	var logged strings.Builder
	var logMu sync.Mutex
	px := newTestProxy(t, rp, Config{Logger: slogTo(&logged, &logMu)})
	rec := serve(px, httptest.NewRequest("GET", "/", nil))
	// Refused everywhere: the request reached no target, the client may
	// retry it later.
	checkProblem(t, rec, http.StatusServiceUnavailable)
	if rec.Header().Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}
	if r := rp.last(t); !r.Failed() || r.Err == nil {
		t.Errorf("done(%+v), want a failure", r)
	}
	if n := pool.Targets()[0].InFlight(); n != 0 {
		t.Errorf("in flight after request = %d", n)
	}
	logMu.Lock()
	defer logMu.Unlock()
	if !strings.Contains(logged.String(), "status=503") {
		t.Errorf("log %q lacks status=503", logged.String())
	}
}

func TestProxyNoTargets(t *testing.T) {
	pool, err := NewPool(nil)
	if err != nil {
		t.Fatal(err)
	}
	px := newTestProxy(t, NewRoundRobin(pool), Config{})
	rec := serve(px, httptest.NewRequest("GET", "/", nil))
	checkProblem(t, rec, http.StatusServiceUnavailable)
	if ra := rec.Header().Get("Retry-After"); ra != "1" {
		t.Errorf("Retry-After = %q, want 1", ra)
	}
}

func TestProxyErrorHandlerHook(t *testing.T) {
	pool, _ := NewPool(nil)
	var gotErr error
	px := newTestProxy(t, NewRoundRobin(pool), Config{ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
		gotErr = err
		w.WriteHeader(418)
	}})
	rec := serve(px, httptest.NewRequest("GET", "/", nil))
	if rec.Code != 418 {
		t.Fatalf("status = %d, want the hook's 418", rec.Code)
	}
	if pe, ok := gotErr.(*ProxyError); !ok || pe.Status != 503 || !errorsIs(gotErr, ErrNoTargets) {
		t.Fatalf("hook got %v, want *ProxyError 503 wrapping ErrNoTargets", gotErr)
	}
}

// stallingBackend holds every request until the test ends.
func stallingBackend(t *testing.T) (*httptest.Server, <-chan struct{}) {
	t.Helper()
	arrived := make(chan struct{}, 16)
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(release); srv.Close() })
	return srv, arrived
}

func TestProxyTimeout(t *testing.T) {
	srv, _ := stallingBackend(t)
	rp := &recorder{Policy: NewRoundRobin(poolOf(t, srv.URL))}
	px := newTestProxy(t, rp, Config{TransportConfig: TransportConfig{ResponseHeaderTimeout: 50 * time.Millisecond}})
	rec := serve(px, httptest.NewRequest("GET", "/", nil))
	checkProblem(t, rec, http.StatusGatewayTimeout)
	if r := rp.last(t); !r.Failed() {
		t.Errorf("done(%+v), want a failure", r)
	}
}

func TestProxyClientGone(t *testing.T) {
	srv, arrived := stallingBackend(t)
	pool := poolOf(t, srv.URL)
	rp := &recorder{Policy: NewRoundRobin(pool)}
	var logged strings.Builder
	var logMu sync.Mutex
	px := newTestProxy(t, rp, Config{Logger: slogTo(&logged, &logMu)})
	ctx, cancel := context.WithCancel(context.Background())
	req := httptest.NewRequest("GET", "/", nil).WithContext(ctx)
	go func() {
		<-arrived
		cancel()
	}()
	rec := serve(px, req)
	if rec.Code != problem.StatusClientClosedRequest {
		t.Fatalf("status = %d, want 499", rec.Code)
	}
	r := rp.last(t)
	if !r.Canceled || r.Failed() {
		t.Errorf("done(%+v), want Canceled and not Failed", r)
	}
	if n := pool.InFlight(); n != 0 {
		t.Errorf("pool in flight = %d, want 0", n)
	}
	logMu.Lock()
	defer logMu.Unlock()
	if !strings.Contains(logged.String(), "status=499") || strings.Contains(logged.String(), "level=WARN") {
		t.Errorf("log %q, want an INFO line with status=499", logged.String())
	}
}

func TestProxyReportsStatus(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(503)
	}))
	defer srv.Close()
	rp := &recorder{Policy: NewRoundRobin(poolOf(t, srv.URL))}
	px := newTestProxy(t, rp, Config{})
	if rec := serve(px, httptest.NewRequest("GET", "/", nil)); rec.Code != 503 {
		t.Fatalf("status = %d, want the backend's 503", rec.Code)
	}
	if r := rp.last(t); r.Status != 503 || !r.Failed() || r.Latency <= 0 {
		t.Errorf("done(%+v), want Status 503, Failed, a latency", r)
	}
}

// TestProxyConnectionReuse checks that 50 concurrent clients are served
// over about 50 upstream connections, not one per request (Go's default
// of 2 idle connections per host would open hundreds).
func TestProxyConnectionReuse(t *testing.T) {
	be := newBackend(t, "a")
	px := newTestProxy(t, NewRoundRobin(poolOf(t, be.URL)), Config{})
	front := httptest.NewServer(px)
	defer front.Close()
	ct := &http.Transport{MaxIdleConnsPerHost: 100}
	defer ct.CloseIdleConnections()
	client := &http.Client{Transport: ct}

	const clients, perClient = 50, 20
	deadline := time.Now().Add(3 * time.Second)
	var wg sync.WaitGroup
	var total, failed atomic.Int64
	for range clients {
		wg.Go(func() {
			for i := 0; i < perClient && time.Now().Before(deadline); i++ {
				resp, err := client.Get(front.URL)
				if err != nil {
					failed.Add(1)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					failed.Add(1)
				}
				total.Add(1)
			}
		})
	}
	wg.Wait()
	if failed.Load() != 0 {
		t.Fatalf("%d of %d requests failed", failed.Load(), total.Load())
	}
	conns := be.conns.Load()
	t.Logf("%d requests over %d upstream connections", total.Load(), conns)
	if conns > clients+clients/2 || conns < 1 {
		t.Fatalf("%d upstream connections for %d concurrent clients, want about %d", conns, clients, clients)
	}
}

func TestNewProxyErrors(t *testing.T) {
	if _, err := NewProxy(nil, Config{}); err == nil {
		t.Error("NewProxy(nil policy) succeeded")
	}
	if _, err := NewProxy(NewRoundRobin(nil), Config{TransportConfig: TransportConfig{DialTimeout: -1}}); err == nil {
		t.Error("NewProxy with a negative DialTimeout succeeded")
	}
}

func TestBufferPool(t *testing.T) {
	bp := newBufferPool(1)
	b := bp.Get()
	if len(b) != bufferSize {
		t.Fatalf("len = %d", len(b))
	}
	bp.Put(b)
	bp.Put(make([]byte, 10)) // wrong size: dropped
	if b2 := bp.Get(); &b2[0] != &b[0] {
		t.Error("buffer not reused")
	}
}
