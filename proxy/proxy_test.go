package proxy

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatekit/gatekit/balancer"
	"github.com/gatekit/gatekit/reqkey"
)

func TestProxyRoundRobinOrder(t *testing.T) {
	a, b, c := newBackend(t, "a"), newBackend(t, "b"), newBackend(t, "c")
	px := newTestProxy(t, balancer.NewRoundRobin(poolOf(t, a.URL, b.URL, c.URL)), Config{})
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

func TestProxyHost(t *testing.T) {
	be := newBackend(t, "a")
	for _, preserve := range []bool{false, true} {
		px := newTestProxy(t, balancer.NewRoundRobin(poolOf(t, be.URL)), Config{PreserveHost: preserve})
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

func TestProxyReportsStatus(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(503)
	}))
	defer srv.Close()
	rp := &recorder{Policy: balancer.NewRoundRobin(poolOf(t, srv.URL))}
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
	px := newTestProxy(t, balancer.NewRoundRobin(poolOf(t, be.URL)), Config{})
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
	if _, err := New(nil, Config{}); err == nil {
		t.Error("New(nil policy) succeeded")
	}
	if _, err := New(balancer.NewRoundRobin(nil), Config{TransportConfig: TransportConfig{DialTimeout: -1}}); err == nil {
		t.Error("New with a negative DialTimeout succeeded")
	}
}

func TestNewRefusesHashWithoutKey(t *testing.T) {
	pool := poolOf(t, "http://10.0.0.1:80", "http://10.0.0.2:80")
	hash, err := balancer.NewHash(pool, balancer.HashConfig{})
	if err != nil {
		t.Fatal(err)
	}
	wrapped := func(t *testing.T) balancer.Policy {
		o, err := balancer.NewOutlier(hash, balancer.OutlierConfig{})
		if err != nil {
			t.Fatal(err)
		}
		ss, err := balancer.NewSlowStart(o, balancer.SlowStartConfig{})
		if err != nil {
			t.Fatal(err)
		}
		return newBreaker(t, ss, balancer.BreakerConfig{})
	}
	for _, tc := range []struct {
		name   string
		policy func(t *testing.T) balancer.Policy
		key    func(*http.Request) string
		ok     bool
	}{
		{"bare hash, no key", func(*testing.T) balancer.Policy { return hash }, nil, false},
		{"wrapped hash, no key", wrapped, nil, false},
		{"bare hash with a key", func(*testing.T) balancer.Policy { return hash }, reqkey.ClientIP, true},
		{"wrapped hash with a key", wrapped, reqkey.ClientIP, true},
		{"round robin, no key", func(*testing.T) balancer.Policy { return balancer.NewRoundRobin(pool) }, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			px, err := New(tc.policy(t), Config{Key: tc.key})
			if (err == nil) != tc.ok {
				t.Fatalf("New: error %v, want ok=%v", err, tc.ok)
			}
			if err != nil && !strings.Contains(err.Error(), "Config.Key") {
				t.Errorf("error %q does not say which setting is missing", err)
			}
			if px != nil {
				px.Close()
			}
		})
	}
}

// elsewhere is a policy from outside package balancer: the proxy cannot
// see its pool.
type elsewhere struct{ balancer.Policy }

func TestAvailableFollowsThePool(t *testing.T) {
	pool := poolOf(t, "http://10.0.0.1:80", "http://10.0.0.2:80")
	o, err := balancer.NewOutlier(balancer.NewRoundRobin(pool), balancer.OutlierConfig{})
	if err != nil {
		t.Fatal(err)
	}
	px := newTestProxy(t, o, Config{})
	foreign := newTestProxy(t, elsewhere{balancer.NewRoundRobin(pool)}, Config{})
	ts := pool.Targets()
	steps := []struct {
		name    string
		change  func()
		want    bool
		foreign bool
	}{
		{"all healthy", func() {}, true, true},
		{"one down", func() { pool.SetHealthy(ts[0], false) }, true, true},
		{"all down", func() { pool.SetHealthy(ts[1], false) }, false, true},
		{"one back", func() { pool.SetHealthy(ts[1], true) }, true, true},
		{"all removed", func() { pool.Remove(ts[0].URL()); pool.Remove(ts[1].URL()) }, false, true},
	}
	for _, st := range steps {
		st.change()
		if got := px.Available(); got != st.want {
			t.Errorf("%s: Available() = %v, want %v", st.name, got, st.want)
		}
		if got := foreign.Available(); got != st.foreign {
			t.Errorf("%s: Available() of a proxy over a foreign policy = %v, want %v", st.name, got, st.foreign)
		}
	}
}

// TestStickyCookiePinsThroughWrappers runs with the Sticky policy bare and wrapped
// (Outlier, Breaker, SlowStart): New finds it through Unwrap.
func TestStickyCookiePinsThroughWrappers(t *testing.T) {
	wraps := []struct {
		name string
		wrap func(t *testing.T, pool *balancer.Pool, s *balancer.Sticky) balancer.Policy
	}{
		{"bare", func(_ *testing.T, _ *balancer.Pool, s *balancer.Sticky) balancer.Policy { return s }},
		{"outlier+breaker+slowstart", func(t *testing.T, pool *balancer.Pool, s *balancer.Sticky) balancer.Policy {
			o, err := balancer.NewOutlier(s, balancer.OutlierConfig{})
			if err != nil {
				t.Fatal(err)
			}
			ss, err := balancer.NewSlowStart(o, balancer.SlowStartConfig{})
			if err != nil {
				t.Fatal(err)
			}
			b, err := balancer.NewBreaker(ss, balancer.BreakerConfig{})
			if err != nil {
				t.Fatal(err)
			}
			return b
		}},
	}
	for _, w := range wraps {
		t.Run(w.name, func(t *testing.T) { testStickyCookiePins(t, w.wrap) })
	}
}

func testStickyCookiePins(t *testing.T, wrap func(t *testing.T, pool *balancer.Pool, s *balancer.Sticky) balancer.Policy) {
	a, b := newBackend(t, "a"), newBackend(t, "b")
	pool := poolOf(t, a.URL, b.URL)
	s := newTestSticky(t, pool, balancer.StickyConfig{Cookie: "aff"})
	px := newTestProxy(t, wrap(t, pool, s), Config{})

	first := serve(px, httptest.NewRequest("GET", "/", nil))
	cookies := (&http.Response{Header: first.Header()}).Cookies()
	if len(cookies) != 1 || cookies[0].Name != "aff" || !cookies[0].HttpOnly || cookies[0].Path != "/" {
		t.Fatalf("first response cookies %v, want one HttpOnly aff cookie", first.Header()["Set-Cookie"])
	}
	pinned := first.Body.String()
	for range 6 {
		req := httptest.NewRequest("GET", "/", nil)
		req.AddCookie(cookies[0])
		rec := serve(px, req)
		if rec.Body.String() != pinned {
			t.Fatalf("pinned request went to %s, want %s", rec.Body, pinned)
		}
		if sc := rec.Header()["Set-Cookie"]; len(sc) != 0 {
			t.Fatalf("pinned request re-set the cookie: %v", sc)
		}
	}
	// The pinned backend is removed: the request goes elsewhere and re-pins.
	u, _ := url.Parse(map[string]string{"a": a.URL, "b": b.URL}[pinned])
	pool.Remove(u)
	req := httptest.NewRequest("GET", "/", nil)
	req.AddCookie(cookies[0])
	rec := serve(px, req)
	if rec.Body.String() == pinned {
		t.Fatal("request went to the removed backend")
	}
	re := (&http.Response{Header: rec.Header()}).Cookies()
	if len(re) != 1 || re[0].Value == cookies[0].Value {
		t.Fatalf("re-pin cookies %v, want a new token", rec.Header()["Set-Cookie"])
	}
}

func TestStickyHeaderPins(t *testing.T) {
	a, b := newBackend(t, "a"), newBackend(t, "b")
	s := newTestSticky(t, poolOf(t, a.URL, b.URL), balancer.StickyConfig{Header: "x-session-affinity"})
	px := newTestProxy(t, s, Config{})
	first := serve(px, httptest.NewRequest("GET", "/", nil))
	tok := first.Header().Get("X-Session-Affinity")
	if tok == "" || first.Header().Get("Set-Cookie") != "" {
		t.Fatalf("first response: affinity header %q, Set-Cookie %q", tok, first.Header().Get("Set-Cookie"))
	}
	for range 4 {
		req := httptest.NewRequest("GET", "/", nil)
		req.Header.Set("X-Session-Affinity", tok)
		if rec := serve(px, req); rec.Body.String() != first.Body.String() {
			t.Fatalf("request with affinity header went to %s, want %s", rec.Body, first.Body)
		}
	}
}

// BenchmarkProxy measures a GET (and a 1 KiB POST) through the
// proxy to a loopback backend: with the default upstream connections and
// retries, with a plain http.Transport (no desync guard), with the guarded
// http.Transport alone, and with the whole resilience stack (breaker,
// outlier detection, slow start).
func BenchmarkProxy(b *testing.B) {
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("ok"))
	}))
	defer be.Close()
	plain := func() http.RoundTripper {
		return &http.Transport{DialContext: (&net.Dialer{Timeout: time.Second}).DialContext, MaxIdleConnsPerHost: 64,
			ResponseHeaderTimeout: 15 * time.Second, DisableCompression: true}
	}
	stack := func(p *balancer.Pool) balancer.Policy {
		o, _ := balancer.NewOutlier(balancer.NewRoundRobin(p), balancer.OutlierConfig{})
		s, _ := balancer.NewSlowStart(o, balancer.SlowStartConfig{})
		br, _ := balancer.NewBreaker(s, balancer.BreakerConfig{})
		return br
	}
	cases := []struct {
		name   string
		cfg    func() Config
		policy func(*balancer.Pool) balancer.Policy
		body   string
	}{
		{"guarded", func() Config { return Config{} }, func(p *balancer.Pool) balancer.Policy { return balancer.NewRoundRobin(p) }, ""},
		{"plain-transport", func() Config { return Config{Transport: plain()} }, func(p *balancer.Pool) balancer.Policy { return balancer.NewRoundRobin(p) }, ""},
		// The guarded http.Transport alone (a MaxConnsPerHost keeps
		// requests off the synchronous HTTP/1.1 connections).
		{"guarded-transport", func() Config { return Config{TransportConfig: TransportConfig{MaxConnsPerHost: 1 << 20}} }, func(p *balancer.Pool) balancer.Policy { return balancer.NewRoundRobin(p) }, ""},
		{"full-stack", func() Config { return Config{} }, stack, ""},
		{"guarded-post-1KiB", func() Config { return Config{} }, func(p *balancer.Pool) balancer.Policy { return balancer.NewRoundRobin(p) }, strings.Repeat("x", 1024)},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			benchProxy(b, be.URL, tc.policy, tc.cfg(), tc.body)
		})
	}
	// The proxy alone: a backend that allocates nothing per request, so
	// that allocs/op counts only the proxy's own (the client side is a
	// ResponseRecorder).
	b.Run("proxy-only", func(b *testing.B) {
		benchProxy(b, fixedBackend(b), func(p *balancer.Pool) balancer.Policy { return balancer.NewRoundRobin(p) }, Config{}, "")
	})
}

// fixedBackend answers every HTTP/1.1 request on a keep-alive connection
// with the same 2-byte response, allocating nothing per request.
func fixedBackend(b *testing.B) string {
	resp := []byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok")
	return rawBackend(b, func(c net.Conn, br *bufio.Reader) {
		for {
			line, err := br.ReadSlice('\n')
			if err != nil {
				return
			}
			if len(line) <= 2 { // the blank line after the header
				if _, err := c.Write(resp); err != nil {
					return
				}
			}
		}
	})
}

func benchProxy(b *testing.B, url string, policy func(*balancer.Pool) balancer.Policy, cfg Config, body string) {
	p := poolOf(b, url)
	px, err := New(policy(p), cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer px.Close()
	method := "GET"
	if body != "" {
		method = "POST"
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			var req *http.Request
			if body != "" {
				req = httptest.NewRequest(method, "/", strings.NewReader(body))
			} else {
				req = httptest.NewRequest(method, "/", nil)
			}
			rec := httptest.NewRecorder()
			px.ServeHTTP(rec, req)
			if rec.Code != 200 {
				b.Fatalf("status %d", rec.Code)
			}
		}
	})
}

// TestPRIAndAsteriskFormRefused sends raw requests through the proxy: the
// HTTP/2 preface (PRI * HTTP/2.0), any PRI request, and asterisk-form
// targets on methods other than OPTIONS are answered 400 problem+json on a
// closed connection, and no byte reaches the backend.
func TestPRIAndAsteriskFormRefused(t *testing.T) {
	be := newRecordingBackend(t)
	px := newTestProxy(t, balancer.NewRoundRobin(poolOf(t, be.url)), Config{})
	front := httptest.NewServer(px)
	defer front.Close()
	addr := front.Listener.Addr().String()
	for _, raw := range []string{
		"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
		"PRI /x HTTP/1.1\r\nHost: gw.test\r\n\r\n",
		"GET * HTTP/1.1\r\nHost: gw.test\r\n\r\n",
		"DELETE * HTTP/1.1\r\nHost: gw.test\r\n\r\n",
	} {
		resp := rawRoundTrip(t, addr, raw)
		if !strings.HasPrefix(resp, "HTTP/1.1 400 ") || !strings.Contains(resp, "application/problem+json") ||
			!strings.Contains(resp, "\r\nConnection: close\r\n") {
			t.Errorf("%q answered %q, want 400 problem+json with Connection: close", raw, resp)
		}
	}
	if got := be.received(); got != "" {
		t.Fatalf("the backend received %q", got)
	}
	resp := rawRoundTrip(t, addr, "GET /ok HTTP/1.1\r\nHost: gw.test\r\nConnection: close\r\n\r\n")
	if !strings.HasPrefix(resp, "HTTP/1.1 200 ") || !strings.HasPrefix(be.received(), "GET /ok HTTP/1.1\r\n") {
		t.Fatalf("a plain request after them: response %q, backend received %q", resp, be.received())
	}
}
