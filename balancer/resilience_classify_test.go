package balancer

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestResilienceNeverReachedVsMaybeReached is RELIABILITY.md R3: faults
// that prove the request never reached the target are retried for every
// method; faults after the request went out only for idempotent ones.
func TestResilienceNeverReachedVsMaybeReached(t *testing.T) {
	untrusted := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Error("a request got through a failed TLS handshake")
	}))
	defer untrusted.Close()
	notTLS := rawBackend(t, func(c net.Conn, br *bufio.Reader) { io.WriteString(c, "SSH-2.0-nope\r\n") })
	faults := []struct {
		name         string
		url          func(t *testing.T) string
		neverReached bool
	}{
		{"dial refused", func(t *testing.T) string { return deadAddr(t) }, true},
		{"TLS certificate rejected", func(t *testing.T) string { return untrusted.URL }, true},
		{"TLS handshake garbage", func(t *testing.T) string { return strings.Replace(notTLS, "http:", "https:", 1) }, true},
		{"RST after the request", func(t *testing.T) string { return newFaultBackend(t, "bad", modeReset).URL }, false},
		{"FIN without a response", func(t *testing.T) string { return newFaultBackend(t, "bad", modeFIN).URL }, false},
	}
	methods := []struct {
		method, key string
		idempotent  bool
	}{
		{"GET", "", true},
		{"HEAD", "", true},
		{"POST", "", false},
		{"PUT", "idem-1", true}, // the route opts in to Idempotency-Key
	}
	for _, f := range faults {
		for _, m := range methods {
			t.Run(f.name+"/"+m.method, func(t *testing.T) {
				good := newFaultBackend(t, "good", modeOK)
				px := newTestProxy(t, &firstThen{pool: poolOf(t, f.url(t), good.URL)},
					Config{Retry: fastRetry(RetryConfig{IdempotencyKey: true})})
				var body io.Reader
				if m.method == "POST" || m.method == "PUT" {
					body = strings.NewReader("payload")
				}
				req := httptest.NewRequest(m.method, "/r3", body)
				req.Header.Set("X-Req-ID", "id")
				if m.key != "" {
					req.Header.Set("Idempotency-Key", m.key)
				}
				rec := serve(px, req)
				wantRetry := f.neverReached || m.idempotent
				if wantRetry && (rec.Code != 200 || good.count("id") != 1) {
					t.Fatalf("status %d, good arrivals %d: want a retry on the healthy backend", rec.Code, good.count("id"))
				}
				if !wantRetry && (rec.Code != http.StatusBadGateway || good.count("id") != 0) {
					t.Fatalf("status %d, good arrivals %d: a maybe-reached %s must not be re-sent", rec.Code, good.count("id"), m.method)
				}
			})
		}
	}
}
