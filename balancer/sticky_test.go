package balancer

import (
	"context"
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

func newTestSticky(t *testing.T, pool *Pool, cfg StickyConfig) *Sticky {
	t.Helper()
	if cfg.Secret == nil {
		cfg.Secret = []byte("0123456789abcdef0123456789abcdef")
	}
	s, err := NewSticky(pool, NewRoundRobin(pool), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestStickyEngine(t *testing.T) {
	pool := weightedPool(t, 1, 1, 1)
	s := newTestSticky(t, pool, StickyConfig{})
	b := pool.Targets()[1]
	tok := s.Token(b)
	if strings.Contains(tok, "b.test") || len(tok) != 24 {
		t.Fatalf("token %q: want 24 opaque characters", tok)
	}
	for range 10 {
		tg, done, err := s.Pick(context.Background(), tok)
		if err != nil || tg != b {
			t.Fatalf("Pick(token of b) = %v, %v; want b", tg, err)
		}
		done(Result{Status: 200})
	}
	// Forged or unknown tokens fall back to the policy (round robin).
	if got := picks(t, s, 6); !isRotation(got, "abc") {
		t.Errorf("picks without a token = %q, want the fallback's rotation", got)
	}
	forged := map[string]int{}
	for range 30 {
		tg, done, _ := s.Pick(context.Background(), "AAAAAAAAAAAAAAAAAAAAAAAA")
		forged[name(tg)]++
		done(Result{})
	}
	if len(forged) != 3 {
		t.Errorf("a forged token pinned to %v, want the fallback's spread", forged)
	}
	// Another secret gives other tokens.
	other := newTestSticky(t, pool, StickyConfig{Secret: []byte("another secret of 32 bytes......")})
	if other.Token(b) == tok {
		t.Error("tokens do not depend on the secret")
	}
	// Unhealthy: fall back (and a new token is issued by the proxy).
	pool.SetHealthy(b, false)
	for range 10 {
		tg, done, _ := s.Pick(context.Background(), tok)
		if tg == b {
			t.Fatal("picked an unhealthy pinned target")
		}
		done(Result{})
	}
	pool.SetHealthy(b, true)
	if tg, done, _ := s.Pick(context.Background(), tok); tg != b {
		t.Fatal("pin not honoured after recovery")
	} else {
		done(Result{})
	}
	// Removed: fall back.
	pool.Remove(b.URL())
	for range 10 {
		tg, done, _ := s.Pick(context.Background(), tok)
		if tg == b {
			t.Fatal("picked a removed pinned target")
		}
		done(Result{})
	}
	if pool.InFlight() != 0 {
		t.Errorf("in flight = %d", pool.InFlight())
	}
}

// TestStickyProxyCookie runs with the Sticky policy bare and wrapped
// (Outlier, Breaker, SlowStart): NewProxy finds it through Unwrap.
func TestStickyProxyCookie(t *testing.T) {
	wraps := []struct {
		name string
		wrap func(t *testing.T, pool *Pool, s *Sticky) Policy
	}{
		{"bare", func(_ *testing.T, _ *Pool, s *Sticky) Policy { return s }},
		{"outlier+breaker+slowstart", func(t *testing.T, pool *Pool, s *Sticky) Policy {
			o, err := NewOutlier(pool, OutlierConfig{})
			if err != nil {
				t.Fatal(err)
			}
			ss, err := NewSlowStart(pool, o.Wrap(s), SlowStartConfig{})
			if err != nil {
				t.Fatal(err)
			}
			b, err := NewBreaker(ss, BreakerConfig{})
			if err != nil {
				t.Fatal(err)
			}
			return b
		}},
	}
	for _, w := range wraps {
		t.Run(w.name, func(t *testing.T) { testStickyProxyCookie(t, w.wrap) })
	}
}

func testStickyProxyCookie(t *testing.T, wrap func(t *testing.T, pool *Pool, s *Sticky) Policy) {
	a, b := newBackend(t, "a"), newBackend(t, "b")
	pool := poolOf(t, a.URL, b.URL)
	s := newTestSticky(t, pool, StickyConfig{Cookie: "aff"})
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

func TestStickyProxyHeader(t *testing.T) {
	a, b := newBackend(t, "a"), newBackend(t, "b")
	s := newTestSticky(t, poolOf(t, a.URL, b.URL), StickyConfig{Header: "x-session-affinity"})
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

func TestNewStickyErrors(t *testing.T) {
	pool := weightedPool(t, 1)
	for _, tc := range []struct {
		name     string
		fallback Policy
		cfg      StickyConfig
	}{
		{"nil fallback", nil, StickyConfig{}},
		{"short secret", NewRoundRobin(pool), StickyConfig{Secret: []byte("short")}},
		{"bad header", NewRoundRobin(pool), StickyConfig{Header: "bad header"}},
		{"bad cookie", NewRoundRobin(pool), StickyConfig{Cookie: "a;b"}},
		{"negative max age", NewRoundRobin(pool), StickyConfig{MaxAge: -1}},
	} {
		if _, err := NewSticky(pool, tc.fallback, tc.cfg); err == nil {
			t.Errorf("%s: NewSticky succeeded", tc.name)
		}
	}
	if _, err := NewSticky(pool, NewRoundRobin(pool), StickyConfig{}); err != nil {
		t.Errorf("empty secret (random per process): %v", err)
	}
}

func TestStickyCookieAttributes(t *testing.T) {
	pool := weightedPool(t, 1)
	tg := pool.Targets()[0]
	for _, tc := range []struct {
		name       string
		cfg        StickyConfig
		tls        bool
		wantSecure bool
		wantMaxAge int
		wantPath   string
	}{
		{name: "defaults", wantPath: "/"},
		{name: "tls request", tls: true, wantSecure: true, wantPath: "/"},
		{name: "always secure, max age, path", cfg: StickyConfig{Secure: true, MaxAge: time.Hour, Path: "/app"}, wantSecure: true, wantMaxAge: 3600, wantPath: "/app"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newTestSticky(t, pool, tc.cfg)
			r := httptest.NewRequest("GET", "/", nil)
			if tc.tls {
				r.TLS = &tls.ConnectionState{}
			}
			h := http.Header{}
			s.pin(h, r, s.Token(tg))
			cs := (&http.Response{Header: h}).Cookies()
			if len(cs) != 1 {
				t.Fatalf("cookies %v", h)
			}
			c := cs[0]
			if c.Secure != tc.wantSecure || c.MaxAge != tc.wantMaxAge || c.Path != tc.wantPath || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode {
				t.Errorf("cookie %q: Secure %v MaxAge %d Path %q HttpOnly %v SameSite %v", h.Get("Set-Cookie"), c.Secure, c.MaxAge, c.Path, c.HttpOnly, c.SameSite)
			}
		})
	}
}
