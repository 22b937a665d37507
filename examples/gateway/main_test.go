package main

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// startDemo starts n demo backends and the demo gateway in front of them,
// both closed when the test ends.
func startDemo(t *testing.T, n int) *demo {
	t.Helper()
	bs, err := startBackends(n)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeBackends(bs) })
	var addrs []string
	for _, b := range bs {
		addrs = append(addrs, b.ln.Addr().String())
	}
	g, err := newGateway(strings.Join(addrs, ","), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.Close)
	return g
}

// TestDemo runs the demo gateway in front of its demo backends and checks
// that requests are answered by the backends in turn.
func TestDemo(t *testing.T) {
	g := startDemo(t, 3)
	srv := httptest.NewServer(g)
	defer srv.Close()

	seen := map[string]int{}
	for range 6 {
		resp, err := http.Get(srv.URL + "/api/users")
		if err != nil {
			t.Fatal(err)
		}
		var body struct {
			Backend   string `json:"backend"`
			RequestID string `json:"request_id"`
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err := json.Unmarshal(b, &body); err != nil || resp.StatusCode != 200 {
			t.Fatalf("GET /hello: %d %s", resp.StatusCode, b)
		}
		if body.RequestID == "" || body.RequestID != resp.Header.Get("X-Request-ID") {
			t.Errorf("request ID upstream %q, response %q", body.RequestID, resp.Header.Get("X-Request-ID"))
		}
		seen[body.Backend]++
	}
	// /api/* is round robin over the stable backends (all but the last).
	if seen["backend-1"] != 3 || seen["backend-2"] != 3 {
		t.Errorf("stable backends answered %v, want 3 each", seen)
	}

	tests := []struct {
		name, method, path, body string
		header                   [2]string
		want                     string
		status                   int
	}{
		{"header", "GET", "/api/users", "", [2]string{"X-Version", "v2"}, "backend-3", 200},
		{"cookie", "GET", "/api/users", "", [2]string{"Cookie", "beta=1"}, "backend-3", 200},
		{"gold body", "POST", "/api/orders", `{"tier":"gold"}`, [2]string{"Content-Type", "application/json"}, "backend-3", 200},
		{"other body", "POST", "/api/orders", `{"tier":"free"}`, [2]string{"Content-Type", "application/json"}, "stable", 200},
		{"legacy rewrite", "GET", "/legacy/users", "", [2]string{}, "stable", 200},
		{"traversal", "GET", "/api/..%2Fadmin", "", [2]string{}, "", 400},
		{"valid store request", "POST", "/store/pets", `{"name":"Rex","kind":"dog"}`, [2]string{"Content-Type", "application/json"}, "stable", 200},
		{"invalid store body", "POST", "/store/pets", `{"name":"Rex","kind":"cow"}`, [2]string{"Content-Type", "application/json"}, "", 400},
		{"invalid store id", "GET", "/store/pets/0", "", [2]string{}, "", 400},
		{"unknown store path", "GET", "/store/owners", "", [2]string{}, "", 404},
	}
	// Every way into /api shares one per-client limit, so these come from
	// another client address than the requests above.
	other := clientFrom(t, "127.0.0.2")
	for _, tc := range tests {
		req, _ := http.NewRequest(tc.method, srv.URL+tc.path, strings.NewReader(tc.body))
		if tc.header[0] != "" {
			req.Header.Set(tc.header[0], tc.header[1])
		}
		resp, err := other.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Errorf("%s: status %d, want %d: %s", tc.name, resp.StatusCode, tc.status, b)
			continue
		}
		if tc.status != 200 {
			continue
		}
		var body struct {
			Backend   string `json:"backend"`
			Path      string `json:"path"`
			BodyBytes int    `json:"body_bytes"`
		}
		_ = json.Unmarshal(b, &body)
		got := body.Backend
		if got == "backend-1" || got == "backend-2" {
			got = "stable"
		}
		if got != tc.want {
			t.Errorf("%s: answered by %s, want %s", tc.name, body.Backend, tc.want)
		}
		if body.BodyBytes != len(tc.body) {
			t.Errorf("%s: upstream got %d body bytes, want %d", tc.name, body.BodyBytes, len(tc.body))
		}
		if tc.name == "legacy rewrite" && body.Path != "/api/users" {
			t.Errorf("legacy rewrite: upstream path %q, want /api/users", body.Path)
		}
	}

	// The per-client limit on /api: a burst of 10 at 2/s, then 429 with
	// Retry-After and RateLimit fields.
	limited := 0
	for range 30 {
		resp, err := http.Get(srv.URL + "/api/users")
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusTooManyRequests {
			limited++
			if resp.Header.Get("Retry-After") == "" || resp.Header.Get("RateLimit") == "" ||
				resp.Header.Get("Content-Type") != "application/problem+json" {
				t.Errorf("429 without Retry-After, RateLimit or problem+json: %v", resp.Header)
			}
		}
	}
	if limited < 10 {
		t.Errorf("30 rapid /api requests: %d limited, want at least 10", limited)
	}

	// The queued route: 4 concurrent requests over a 2/s burst-2 limit all
	// succeed, the later ones after waiting their turn.
	codes := make(chan int, 4)
	for range 4 {
		go func() {
			resp, err := http.Get(srv.URL + "/reports/daily")
			if err != nil {
				codes <- 0
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			codes <- resp.StatusCode
		}()
	}
	for range 4 {
		if c := <-codes; c != 200 {
			t.Errorf("queued /reports request: status %d, want 200", c)
		}
	}

	// The cached route: the second request is answered from the cache
	// (same body, including the backend's hit counter) with a Cache-Status hit.
	var bodies []string
	for range 2 {
		resp, err := http.Get(srv.URL + "/cached/news")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		bodies = append(bodies, string(b))
		if len(bodies) == 2 && !strings.Contains(resp.Header.Get("Cache-Status"), "hit") {
			t.Errorf("second /cached request: Cache-Status %q, want a hit", resp.Header.Get("Cache-Status"))
		}
	}
	if bodies[0] != bodies[1] {
		t.Errorf("cached bodies differ: %q vs %q", bodies[0], bodies[1])
	}
}

// clientFrom returns an HTTP client whose connections come from the
// loopback address ip.
func clientFrom(t *testing.T, ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	tr := &http.Transport{DialContext: d.DialContext}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// TestDemoLimitHoldsOnEveryWayIn checks that the /api limit cannot be
// sidestepped through a sibling route (a rewrite, a header, a cookie, a
// JSON body) or a spelling variant of the path.
func TestDemoLimitHoldsOnEveryWayIn(t *testing.T) {
	g := startDemo(t, 2)
	srv := httptest.NewServer(g)
	defer srv.Close()
	ways := []struct {
		name, method, path, body string
		header                   [2]string
	}{
		{"plain", "GET", "/api/users", "", [2]string{}},
		{"legacy rewrite", "GET", "/legacy/users", "", [2]string{}},
		{"header", "GET", "/api/users", "", [2]string{"X-Version", "v2"}},
		{"cookie", "GET", "/api/users", "", [2]string{"Cookie", "beta=1"}},
		{"body", "POST", "/api/orders", `{"tier":"gold"}`, [2]string{"Content-Type", "application/json"}},
		{"canary", "GET", "/api/search", "", [2]string{}},
		{"upper case", "GET", "/API/users", "", [2]string{}},
	}
	for i, way := range ways {
		client := clientFrom(t, fmt.Sprintf("127.0.1.%d", i+1))
		// The burst is 10: first spend it on the plain path, then try this way.
		for range 10 {
			resp, err := client.Get(srv.URL + "/api/users")
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		req, _ := http.NewRequest(way.method, srv.URL+way.path, strings.NewReader(way.body))
		if way.header[0] != "" {
			req.Header.Set(way.header[0], way.header[1])
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusTooManyRequests {
			t.Errorf("%s (%s %s) after the burst: status %d, want 429", way.name, way.method, way.path, resp.StatusCode)
		}
	}
	for _, path := range []string{"/api;x=1/users", "/store;v=1/pets/0", "/STORE/pets/0"} {
		resp, err := clientFrom(t, "127.0.2.1").Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: status %d, want 400 (a refused path parameter, or validation of /store/pets/0)", path, resp.StatusCode)
		}
	}
}
