package balancer

import (
	"context"
	"crypto/tls"
	"net/http"
	"net/http/httptest"
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

func TestStickyTokenPinsTargetWhileAvailable(t *testing.T) {
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
		// Cookie settings with Header, which carries affinity instead.
		{"header with cookie name", NewRoundRobin(pool), StickyConfig{Header: "X-Affinity", Cookie: "aff"}},
		{"header with max age", NewRoundRobin(pool), StickyConfig{Header: "X-Affinity", MaxAge: time.Hour}},
		{"header with path", NewRoundRobin(pool), StickyConfig{Header: "X-Affinity", Path: "/app"}},
		{"header with secure", NewRoundRobin(pool), StickyConfig{Header: "X-Affinity", Secure: true}},
		{"fallback over another pool", NewRoundRobin(weightedPool(t, 1)), StickyConfig{}},
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
			s.SetToken(h, r, s.Token(tg))
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
