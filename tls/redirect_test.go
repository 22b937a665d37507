package tls

import (
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

func TestRedirectHTTPSLetsACMEChallengesThrough(t *testing.T) {
	acme := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("token")) })
	tests := []struct {
		name, method, target, host string
		port                       int
		status                     int
		location, body             string
	}{
		{"GET", "GET", "/a/b?x=1", "example.com", 0, 301, "https://example.com/a/b?x=1", ""},
		{"port dropped from Host, HTTPS port added", "GET", "/", "example.com:8080", 8443, 301, "https://example.com:8443/", ""},
		{"POST keeps its method", "POST", "/submit", "example.com", 443, 308, "https://example.com/submit", ""},
		{"IPv6 literal", "HEAD", "/", "[::1]:80", 0, 301, "https://[::1]/", ""},
		{"ACME challenge", "GET", "/.well-known/acme-challenge/abc", "example.com", 0, 200, "", "token"},
		{"Host with a path", "GET", "/", "evil.test/x", 0, 400, "", "invalid Host"},
		{"Host with userinfo", "GET", "/", "a@evil.test", 0, 400, "", "invalid Host"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := RedirectHTTPS(RedirectConfig{HTTPSPort: tc.port, ACME: acme})
			r := httptest.NewRequest(tc.method, "http://placeholder"+tc.target, nil)
			r.Host = tc.host
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			if rec.Code != tc.status || rec.Header().Get("Location") != tc.location || !strings.Contains(rec.Body.String(), tc.body) {
				t.Fatalf("%d Location=%q body=%q, want %d %q containing %q", rec.Code, rec.Header().Get("Location"), rec.Body.String(), tc.status, tc.location, tc.body)
			}
		})
	}
}

// FuzzRedirectHTTPS sends arbitrary Host headers: the redirect either
// refuses the request with 400 or sends the client to https:// on an
// authority that is exactly the Host's host name (no user info, path or
// second authority smuggled in).
func FuzzRedirectHTTPS(f *testing.F) {
	for _, h := range []string{"example.com", "example.com:80", "[::1]:80", "a@b", "evil.test/x", "x\\y", "", "EXAMPLE.com.", "10.0.0.1"} {
		f.Add(h)
	}
	h := RedirectHTTPS(RedirectConfig{HTTPSPort: 8443})
	f.Fuzz(func(t *testing.T, host string) {
		r := httptest.NewRequest("GET", "http://placeholder/p", nil)
		r.Host = host
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		if rec.Code == http.StatusBadRequest {
			return
		}
		loc, err := url.Parse(rec.Header().Get("Location"))
		if err != nil || rec.Code != http.StatusMovedPermanently || loc.Scheme != "https" || loc.User != nil || loc.Port() != "8443" || loc.Path != "/p" {
			t.Fatalf("Host %q: %d Location %q", host, rec.Code, rec.Header().Get("Location"))
		}
		want := host
		if hh, _, err := net.SplitHostPort(host); err == nil {
			want = hh
		}
		if loc.Hostname() != strings.Trim(want, "[]") {
			t.Fatalf("Host %q redirected to host %q", host, loc.Hostname())
		}
	})
}

func BenchmarkRedirectHTTPS(b *testing.B) {
	h := RedirectHTTPS(RedirectConfig{})
	r := httptest.NewRequest("GET", "http://example.com/a/b?c=d", nil)
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(httptest.NewRecorder(), r)
	}
}
