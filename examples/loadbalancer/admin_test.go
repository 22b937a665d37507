package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestAdminFlagServesMetricsAndStatus runs the load balancer with -admin
// and -cache: the admin listener's metrics count the proxied requests and
// the cache hit, and its status page and readiness answer.
func TestAdminFlagServesMetricsAndStatus(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=60")
		io.WriteString(w, "hello")
	}))
	defer backend.Close()
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	adminAddr := free.Addr().String()
	free.Close()
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-listen", "127.0.0.1:0", "-upstreams", strings.TrimPrefix(backend.URL, "http://"),
			"-cache", "-admin", adminAddr}, func(a net.Addr) { addrc <- a })
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	var addr net.Addr
	select {
	case addr = <-addrc:
	case err := <-done:
		t.Fatal(err)
	}
	get := func(url string) (int, string) {
		resp, err := http.Get(url)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for range 3 {
		if code, body := get("http://" + addr.String() + "/x"); code != 200 || body != "hello" {
			t.Fatalf("proxied request = %d %q", code, body)
		}
	}
	// The admin listener opens right after the proxy's; wait for it.
	deadline := time.Now().Add(5 * time.Second)
	code, metricsText := get("http://" + adminAddr + "/metrics")
	for code != 200 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
		code, metricsText = get("http://" + adminAddr + "/metrics")
	}
	for _, want := range []string{
		`gatekit_http_requests_total{code="2xx",method="GET",rule="none"} 3`,
		`gatekit_upstream_targets_available{pool="upstreams"} 1`,
	} {
		if !strings.Contains(metricsText, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	// The first response is stored asynchronously, so the second request
	// may still miss; the third finds it at the latest after the store.
	if !strings.Contains(metricsText, `gatekit_cache_hits_total{cache="upstreams"} 1`) && !strings.Contains(metricsText, `gatekit_cache_hits_total{cache="upstreams"} 2`) {
		t.Errorf("/metrics shows no cache hit:\n%s", metricsText)
	}
	if code, body := get("http://" + adminAddr + "/"); code != 200 || !strings.Contains(body, "<title>gatekit status</title>") {
		t.Errorf("status page = %d", code)
	}
	if code, _ := get("http://" + adminAddr + "/readyz"); code != 200 {
		t.Errorf("/readyz = %d", code)
	}
}
