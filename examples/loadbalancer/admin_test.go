package main

import (
	"encoding/json"
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
	addr, adminAddr := runWithAdmin(t, "-upstreams", strings.TrimPrefix(backend.URL, "http://"), "-cache")
	for range 3 {
		if code, body := get("http://" + addr + "/x"); code != 200 || body != "hello" {
			t.Fatalf("proxied request = %d %q", code, body)
		}
	}
	metricsText := adminMetrics(t, adminAddr)
	metricsHave(t, metricsText,
		`gatekit_http_requests_total{code="2xx",method="GET",rule="none"} 3`,
		`gatekit_upstream_targets_available{pool="upstreams"} 1`)
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

// TestAdminFlagShowsTheRateLimiter: with -rate, the admin listener's
// metrics and status document count the limiter's decisions.
func TestAdminFlagShowsTheRateLimiter(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello")
	}))
	defer backend.Close()
	addr, adminAddr := runWithAdmin(t, "-upstreams", strings.TrimPrefix(backend.URL, "http://"), "-rate", "2/m")
	twoThenLimited(t, addr)
	metricsHave(t, adminMetrics(t, adminAddr),
		`gatekit_ratelimit_allowed_total{limiter="rate"} 2`,
		`gatekit_ratelimit_rejected_total{limiter="rate"} 1`)
	code, body := get("http://" + adminAddr + "/api/status")
	var st struct {
		Limiters map[string]struct {
			Allowed, Rejected uint64
		} `json:"limiters"`
	}
	if err := json.Unmarshal([]byte(body), &st); code != 200 || err != nil {
		t.Fatalf("/api/status = %d, %v: %q", code, err, body)
	}
	if l, ok := st.Limiters["rate"]; !ok || l.Allowed != 2 || l.Rejected != 1 {
		t.Errorf("/api/status limiters = %+v, want rate with 2 allowed and 1 rejected", st.Limiters)
	}
}

// TestAdminFlagShowsTheSharedLimiter: with -rate and -redis, the admin
// listener's metrics and status document show the shared limit's state;
// here Redis is not there, so the local fallback decides and both say so.
func TestAdminFlagShowsTheSharedLimiter(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello")
	}))
	defer backend.Close()
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := dead.Addr().String()
	dead.Close()
	addr, adminAddr := runWithAdmin(t, "-upstreams", strings.TrimPrefix(backend.URL, "http://"), "-rate", "2/m",
		"-redis", deadAddr, "-redis-mode", "local")
	twoThenLimited(t, addr) // by the local fallback
	metricsHave(t, adminMetrics(t, adminAddr),
		`gatekit_ratelimit_shared_decisions_total{limiter="rate"} 0`,
		`gatekit_ratelimit_shared_fallback_decisions_total{limiter="rate"} 3`,
		`gatekit_ratelimit_shared_errors_total{limiter="rate"} 3`,
		`gatekit_ratelimit_shared_store_left_total{limiter="rate"} 1`,
		`gatekit_ratelimit_shared_store_in_use{limiter="rate"} 0`)
	code, body := get("http://" + adminAddr + "/api/status")
	var st struct {
		Shared map[string]struct {
			Fallbacks  uint64
			UsingRedis bool
		} `json:"shared_limiters"`
	}
	if err := json.Unmarshal([]byte(body), &st); code != 200 || err != nil {
		t.Fatalf("/api/status = %d, %v: %q", code, err, body)
	}
	if l, ok := st.Shared["rate"]; !ok || l.Fallbacks != 3 || l.UsingRedis {
		t.Errorf("/api/status shared limiters = %+v, want rate with 3 fallback decisions, Redis out of use", st.Shared)
	}
}

// twoThenLimited sends three requests to the load balancer at addr, run
// with -rate 2/m, and fails the test unless the third alone is refused.
func twoThenLimited(t *testing.T, addr string) {
	t.Helper()
	var codes []int
	for range 3 {
		code, _ := get("http://" + addr + "/x")
		codes = append(codes, code)
	}
	if codes[0] != 200 || codes[1] != 200 || codes[2] != 429 {
		t.Fatalf("statuses %v, want 200 200 429", codes)
	}
}

// metricsHave fails the test for each of lines that the metrics text
// lacks.
func metricsHave(t *testing.T, text string, lines ...string) {
	t.Helper()
	for _, want := range lines {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

// runWithAdmin runs the load balancer with args and -admin on a free
// port until the test ends, and returns its address and the admin one.
func runWithAdmin(t *testing.T, args ...string) (addr, adminAddr string) {
	t.Helper()
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	adminAddr = free.Addr().String()
	free.Close()
	a, stop := startLB(t, append([]string{"-admin", adminAddr}, args...)...)
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Error(err)
		}
	})
	return a.String(), adminAddr
}

// adminMetrics returns the text of the admin listener's /metrics, once it
// answers: it opens right after the proxy's listener.
func adminMetrics(t *testing.T, adminAddr string) string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	code, text := get("http://" + adminAddr + "/metrics")
	for code != 200 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
		code, text = get("http://" + adminAddr + "/metrics")
	}
	if code != 200 {
		t.Fatalf("/metrics = %d %q", code, text)
	}
	return text
}

// get fetches url and returns the status and body (0 and the error's text
// when the request fails).
func get(url string) (int, string) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
