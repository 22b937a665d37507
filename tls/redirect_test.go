package tls

import (
	"net/http"
	"net/http/httptest"
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
