package proxy

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gatekit/gatekit/balancer"
)

func TestRoundTripperForChoosesPerTargetAndRequest(t *testing.T) {
	if !probeSupported {
		t.Skip("no synchronous pool on this platform")
	}
	custom := &http.Transport{}
	for _, tc := range []struct {
		name    string
		cfg     Config
		target  string
		upgrade bool
		want    string // "pool", "transport" or "custom"
	}{
		{"plain http", Config{}, "http://127.0.0.1:1", false, "pool"},
		{"https", Config{}, "https://127.0.0.1:1", false, "transport"},
		{"upgrade", Config{}, "http://127.0.0.1:1", true, "transport"},
		{"connection cap", Config{TransportConfig: TransportConfig{MaxConnsPerHost: 4}}, "http://127.0.0.1:1", false, "transport"},
		{"Transport from Config", Config{Transport: custom}, "http://127.0.0.1:1", false, "custom"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pool := poolOf(t, tc.target)
			px := newTestProxy(t, balancer.NewRoundRobin(pool), tc.cfg)
			req := httptest.NewRequest("GET", tc.target+"/", nil)
			if tc.upgrade {
				req.Header.Set("Upgrade", "websocket")
			}
			got := "transport"
			switch px.roundTripperFor(pool.Targets()[0], req) {
			case px.h1:
				got = "pool"
			case custom:
				got = "custom"
			}
			if got != tc.want {
				t.Fatalf("round tripper %s, want %s", got, tc.want)
			}
		})
	}
}
