package route

import (
	"bufio"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path"
	"strings"
	"sync"
	"testing"

	"github.com/gatekit/gatekit/pathcanon"
)

// naiveNormalise is how a lenient backend might read a path: decode all
// percent-escapes, treat '\' as '/', drop ';' parameters, clean dots.
func naiveNormalise(p string) string {
	if d, err := url.PathUnescape(p); err == nil {
		p = d
	}
	p = strings.ReplaceAll(p, "\\", "/")
	segs := strings.Split(p, "/")
	for i, s := range segs {
		segs[i], _, _ = strings.Cut(s, ";")
	}
	return path.Clean("/" + strings.Join(segs, "/"))
}

func underAdmin(p string) bool {
	p = strings.ToLower(p)
	return p == "/admin" || strings.HasPrefix(p, "/admin/")
}

// TestNoPathEncodingReachesAdminThroughAPIRule sends raw request lines through an http.Server
// running a Table with a public /api/* rule and a denied /admin/* rule in
// front of one origin, and proves that no vector reaches the origin with an
// /admin path through the /api rule, and that the origin receives exactly
// the path that was matched.
func TestNoPathEncodingReachesAdminThroughAPIRule(t *testing.T) {
	type hit struct{ uri, matched, policy string }
	var mu sync.Mutex
	var hits []hit
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hits = append(hits, hit{r.RequestURI, r.Header.Get("X-Matched"), r.Header.Get("X-Policy")})
		mu.Unlock()
		_, _ = w.Write([]byte("origin"))
	}))
	defer origin.Close()
	target, _ := url.Parse(origin.URL)
	transport := &http.Transport{DisableKeepAlives: true}
	defer transport.CloseIdleConnections()
	proxy := &httputil.ReverseProxy{
		Rewrite:   func(pr *httputil.ProxyRequest) { pr.SetURL(target) },
		Transport: transport,
	}
	tag := func(policy string) func(http.Handler) http.Handler {
		return func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				m, _ := FromContext(r.Context())
				if policy == "admin" {
					http.Error(w, "denied", http.StatusForbidden)
					return
				}
				r.Header.Set("X-Policy", policy)
				r.Header.Set("X-Matched", m.Path)
				next.ServeHTTP(w, r)
			})
		}
	}
	tb := mustNew(t, []Rule{
		{Name: "api", Path: "/api/*", Middleware: []func(http.Handler) http.Handler{tag("api")}, Handler: proxy},
		{Name: "admin", Path: "/admin/*", Middleware: []func(http.Handler) http.Handler{tag("admin")}, Handler: proxy},
	}, Config{})
	gw := httptest.NewServer(tb)
	defer gw.Close()

	vectors := []struct {
		method, target string
		status         int
	}{
		{"GET", "/api/x", 200},
		{"GET", "/api/admin", 200},
		{"GET", "/admin/x", 403},
		{"GET", "/api/../admin/x", 400},
		{"GET", "/api/%2e%2e/admin/x", 400},
		{"GET", "/api/%2E%2E/admin/x", 400},
		{"GET", "/api/.%2e/admin/x", 400},
		{"GET", "/api/%2e./admin/x", 400},
		{"GET", "/api/%2e%2e", 400},
		{"GET", "/api/..", 400},
		{"GET", "/api/.", 400},
		{"GET", "/api/..%2Fadmin/x", 400},
		{"GET", "/api/..%2fadmin/x", 400},
		{"GET", "/api%2F..%2Fadmin/x", 400},
		{"GET", "/api/%2Fadmin/x", 400},
		{"GET", "/api/x%2F..%2F..%2Fadmin/x", 400},
		{"GET", "/api/%2e%2e%2fadmin/x", 400},
		{"GET", "//admin/x", 400},
		{"GET", "/api//admin/x", 400},
		{"GET", "/./admin/x", 400},
		{"GET", "/api/./../admin/x", 400},
		{"GET", "/api/x/../../admin/x", 400},
		{"GET", "/api/..;/admin/x", 400},
		{"GET", "/api/.;/admin/x", 400},
		{"GET", "/api/%2e%2e;/admin/x", 400},
		{"GET", "/api/..%3b/admin/x", 400},
		{"GET", "/api/%2e%2e%3B/admin/x", 400},
		{"GET", "/api/..%20/admin/x", 400},
		{"GET", "/api/.../admin/x", 400},
		{"GET", "/api/..%20%20/admin/x", 400},
		{"GET", "/api/x/..%3f/../admin/x", 400},
		{"GET", "/api;/../admin/x", 400},
		{"GET", "/admin;x=y/x", 404},
		{"GET", "/api\\..\\admin\\x", 400},
		{"GET", "/api/%5c..%5cadmin/x", 400},
		{"GET", "/api/..%5Cadmin/x", 400},
		{"GET", "/api/%00/../admin/x", 400},
		{"GET", "/api%00/admin/x", 400},
		{"GET", "/api/..%00/admin/x", 400},
		{"GET", "/api/%252e%252e/admin/x", 400},
		{"GET", "/api/%252e%252e%252fadmin/x", 400},
		{"GET", "/api/..%252f..%252fadmin/x", 400},
		{"GET", "/api/%25%32%65%25%32%65/admin/x", 400},
		{"GET", "/api/%25252e%25252e/admin/x", 400},
		{"GET", "/api/%c0%ae%c0%ae/admin/x", 400},
		{"GET", "/api/%c0%af../admin/x", 400},
		{"GET", "/api/..%c0%afadmin/x", 400},
		{"GET", "/api/%e0%80%ae%e0%80%ae/admin/x", 400},
		{"GET", "/api/%u002e%u002e/admin/x", 400},
		{"GET", "/%61dmin/x", 403},
		{"GET", "/%61%64%6d%69%6e/x", 403},
		{"GET", "/%41PI/../admin/x", 400},
		{"GET", "/API/../admin/x", 400},
		{"GET", "/Admin/x", 404},
		{"GET", "/api/%20/../admin/x", 400},
		{"GET", "/api/x?/../admin/x", 200},
		{"GET", "http://gw.test/api/../admin/x", 400},
		{"GET", "http://evil.test/admin/x", 403},
		{"get", "/api/x", 400},
		{"get", "/admin/x", 400},
		{"GeT", "/api/../admin/x", 400},
		{"gEt", "/admin/x", 400},
		{"FOO", "/admin/x", 405},
		{"FOO", "/api/x", 405},
		{"OPTIONS", "*", 200}, // answered by net/http itself, never routed
	}
	if len(vectors) < 40 {
		t.Fatalf("only %d vectors", len(vectors))
	}
	for _, v := range vectors {
		status := rawStatus(t, gw.Listener.Addr().String(), v.method, v.target)
		if status != v.status {
			t.Errorf("%s %s = %d, want %d", v.method, v.target, status, v.status)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(hits) == 0 {
		t.Fatal("no request reached the origin; the test is not sensitive")
	}
	for _, h := range hits {
		p, _, _ := strings.Cut(h.uri, "?")
		if h.policy != "api" {
			t.Errorf("origin got %q with policy %q", h.uri, h.policy)
		}
		if p != h.matched {
			t.Errorf("origin got path %q but the table matched %q", p, h.matched)
		}
		if c, err := pathcanon.Path(p); err != nil || c != p {
			t.Errorf("origin got non-canonical path %q (%q, %v)", p, c, err)
		}
		once := naiveNormalise(p)
		if underAdmin(once) || underAdmin(naiveNormalise(once)) {
			t.Errorf("origin got %q through the /api rule; it normalises to %q", h.uri, once)
		}
	}
}

// rawStatus sends one request line as is and returns the response status.
func rawStatus(t *testing.T, addr, method, target string) int {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(method + " " + target + " HTTP/1.1\r\nHost: gw.test\r\nConnection: close\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
