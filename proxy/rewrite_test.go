package proxy

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"github.com/gatekit/gatekit/balancer"
	"github.com/gatekit/gatekit/clientip"
)

func TestClientSetHeader(t *testing.T) {
	for _, name := range clientSetHeaders {
		if !clientSetHeader(name) {
			t.Errorf("clientSetHeader(%q) = false, want true", name)
		}
	}
	tests := []struct {
		name string
		want bool
	}{
		{"X-Forwarded-Scheme", true},
		{"X-Forwarded-Ssl", true},
		{"X-Forwarded-", false},
		{"X-Forwarded", true},
		{"X-Real-Ip", true},
		{"Content-Type", false},
		{"Accept", false},
		{"X-Request-Id", false},
		{"Forwarded", false},
		{"Cookie", false},
		{"X-Hos", false},
		{"x-real-ip", false}, // header maps hold canonical names
		{"", false},
	}
	for _, tt := range tests {
		if got := clientSetHeader(tt.name); got != tt.want {
			t.Errorf("clientSetHeader(%q) = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestAddrString(t *testing.T) {
	tests := []struct {
		addr, remote string
	}{
		{"192.0.2.1", "192.0.2.1:1234"},
		{"192.0.2.1", "192.0.2.10:1234"},
		{"192.0.2.1", "192.0.2.1"},
		{"192.0.2.1", "198.51.100.7:80"},
		{"192.0.2.1", ""},
		{"2001:db8::1", "[2001:db8::1]:443"},
		{"2001:db8::1", "[2001:db8::10]:443"},
		{"2001:db8::1", "[2001:db8::1"},
		{"::ffff:192.0.2.1", "[::ffff:192.0.2.1]:80"},
		{"::ffff:192.0.2.1", "192.0.2.1:80"},
		{"fe80::1%eth0", "[fe80::1%eth0]:80"},
		{"fe80::1%eth0", "[fe80::1]:80"},
		{"2001:db8::1", "2001:db8::1"},
	}
	for _, tt := range tests {
		a := netip.MustParseAddr(tt.addr)
		if got, want := addrString(a, tt.remote), a.String(); got != want {
			t.Errorf("addrString(%s, %q) = %q, want %q", tt.addr, tt.remote, got, want)
		}
	}
	if raceEnabled {
		return // allocation counts are not meaningful under the race detector
	}
	a := netip.MustParseAddr("192.0.2.1")
	if n := testing.AllocsPerRun(100, func() { _ = addrString(a, "192.0.2.1:1234") }); n != 0 {
		t.Errorf("addrString of the peer address allocates %v times", n)
	}
}

func TestProxyStripsHopByHopAndH2C(t *testing.T) {
	be := newBackend(t, "a")
	px := newTestProxy(t, balancer.NewRoundRobin(poolOf(t, be.URL)), Config{})
	req := httptest.NewRequest("GET", "/x", nil)
	req.Header.Set("Connection", "Upgrade, X-Secret")
	req.Header.Set("Upgrade", "h2c")
	req.Header.Set("Http2-Settings", "AAMAAABkAAQAAP__")
	req.Header.Set("X-Secret", "1")
	req.Header.Set("Keep-Alive", "timeout=5")
	req.Header.Set("Proxy-Connection", "keep-alive")
	req.Header.Set("Te", "gzip")
	req.Header.Set("X-Request-Id", "req-123")
	rec := serve(px, req)
	if rec.Code != 200 {
		t.Fatalf("status %d", rec.Code)
	}
	h := be.lastHeader()
	for _, name := range []string{"Connection", "Upgrade", "Http2-Settings", "X-Secret", "Keep-Alive", "Proxy-Connection", "Te"} {
		if v, ok := h[name]; ok {
			t.Errorf("backend received %s: %q", name, v)
		}
	}
	if got := h.Get("X-Request-Id"); got != "req-123" {
		t.Errorf("X-Request-Id = %q, want req-123", got)
	}
	for _, name := range []string{"Connection", "X-Hop", "Keep-Alive"} {
		if v := rec.Header().Get(name); v != "" {
			t.Errorf("client received response header %s: %q", name, v)
		}
	}
}

func TestProxyForwardedHeaders(t *testing.T) {
	be := newBackend(t, "a")
	pool := poolOf(t, be.URL)
	res, err := clientip.New(clientip.Config{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name                string
		remote              string
		middleware          bool
		wantXFF, wantRealIP string
		wantHost, wantProto string
		wantForwarded       string
	}{
		{name: "no middleware", remote: "198.51.100.7:1234", wantXFF: "198.51.100.7", wantRealIP: "198.51.100.7", wantHost: "example.com", wantProto: "http"},
		{name: "untrusted peer", remote: "198.51.100.7:1234", middleware: true, wantXFF: "198.51.100.7", wantRealIP: "198.51.100.7", wantHost: "example.com", wantProto: "http"},
		{name: "trusted peer", remote: "192.0.2.1:1234", middleware: true, wantXFF: "6.6.6.6, 192.0.2.1", wantRealIP: "6.6.6.6",
			wantHost: "spoof.example", wantProto: "https", wantForwarded: "for=6.6.6.6"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var h http.Handler = newTestProxy(t, balancer.NewRoundRobin(pool), Config{})
			if tc.middleware {
				h = clientip.Middleware(res)(h)
			}
			req := httptest.NewRequest("GET", "http://example.com/", nil)
			req.RemoteAddr = tc.remote
			req.Header.Set("X-Forwarded-For", "6.6.6.6")
			req.Header.Set("X-Forwarded-Host", "spoof.example")
			req.Header.Set("X-Forwarded-Proto", "https")
			req.Header.Set("Forwarded", "for=6.6.6.6")
			req.Header.Set("X-Real-IP", "6.6.6.6")
			req.Header.Set("True-Client-IP", "6.6.6.6")
			for _, name := range []string{"X-Forwarded-Scheme", "X-Forwarded-Ssl", "X-Forwarded-Uri", "X-Original-URL", "X-Rewrite-URL", "Front-End-Https"} {
				req.Header.Set(name, "spoof")
			}
			if rec := serve(h, req); rec.Code != 200 {
				t.Fatalf("status %d", rec.Code)
			}
			got := be.lastHeader()
			for _, c := range []struct{ name, want string }{
				{"X-Forwarded-For", tc.wantXFF}, {"X-Real-Ip", tc.wantRealIP}, {"X-Forwarded-Host", tc.wantHost},
				{"X-Forwarded-Proto", tc.wantProto}, {"Forwarded", tc.wantForwarded}, {"True-Client-Ip", ""},
				{"X-Forwarded-Scheme", ""}, {"X-Forwarded-Ssl", ""}, {"X-Forwarded-Uri", ""}, {"X-Original-Url", ""},
				{"X-Rewrite-Url", ""}, {"Front-End-Https", ""},
			} {
				if v := strings.Join(got.Values(c.name), ", "); v != c.want {
					t.Errorf("%s = %q, want %q", c.name, v, c.want)
				}
			}
		})
	}
}

// TestUnderscoreHeadersDropped sends a raw request through the proxy:
// headers spelt with underscores (twins of the forwarding headers the
// proxy strips, which some backend frameworks read as the hyphenated name)
// never reach the backend, unless InsecureAllowUnderscoreHeaders is set.
func TestUnderscoreHeadersDropped(t *testing.T) {
	raw := "GET /u HTTP/1.1\r\nHost: gw.test\r\n" +
		"X_Forwarded_For: 6.6.6.6\r\nX_Real_IP: 6.6.6.6\r\nX_Forwarded_Host: evil.test\r\nX-Custom_Field: a\r\n" +
		"X-Plain: kept\r\nConnection: close\r\n\r\n"
	for _, tc := range []struct {
		name  string
		allow bool
		under int // underscore headers the backend receives
	}{
		{"default", false, 0},
		{"InsecureAllowUnderscoreHeaders", true, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			be := newRecordingBackend(t)
			px := newTestProxy(t, balancer.NewRoundRobin(poolOf(t, be.url)), Config{InsecureAllowUnderscoreHeaders: tc.allow})
			front := httptest.NewServer(px)
			defer front.Close()
			if resp := rawRoundTrip(t, front.Listener.Addr().String(), raw); !strings.HasPrefix(resp, "HTTP/1.1 200 ") {
				t.Fatalf("response %q, want 200", resp)
			}
			got := be.received()
			if !strings.HasPrefix(got, "GET /u HTTP/1.1\r\n") || !strings.Contains(got, "\r\nX-Plain: kept\r\n") {
				t.Fatalf("backend received %q, want the request with X-Plain", got)
			}
			var under []string
			for _, line := range strings.Split(got, "\r\n")[1:] {
				if name, _, ok := strings.Cut(line, ":"); ok && strings.Contains(name, "_") {
					under = append(under, name)
				}
			}
			if len(under) != tc.under {
				t.Fatalf("backend received the underscore headers %q, want %d of them; request:\n%s", under, tc.under, got)
			}
			if !tc.allow && (strings.Contains(got, "6.6.6.6") || strings.Contains(got, "evil.test")) {
				t.Fatalf("a client-set value reached the backend:\n%s", got)
			}
		})
	}
}

// TestRecycleOutbound: an outbound header of an exchange that went through
// the pool alone is emptied, given back, and no longer the request's; one
// that a Transport may still read, or grown for many fields, is left as it
// is, on the request.
func TestRecycleOutbound(t *testing.T) {
	fields := func(n int) http.Header {
		h := make(http.Header)
		for i := range n {
			h.Set(fmt.Sprintf("X-F%d", i), "v")
		}
		return h
	}
	traced := &exchange{Context: context.Background()}
	traced.traceOn()
	for _, tc := range []struct {
		name     string
		x        *exchange
		n        int
		recycled bool
	}{
		{"pool only", &exchange{Context: context.Background()}, 5, true},
		{"through a Transport", traced, 5, false},
		{"many fields", &exchange{Context: context.Background()}, 17, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := fields(tc.n)
			out := &http.Request{Header: h}
			recycleOutbound(tc.x, out)
			if got := len(h) == 0; got != tc.recycled {
				t.Fatalf("header emptied for reuse: %v, want %v", got, tc.recycled)
			}
			if held := out.Header != nil; held == tc.recycled {
				t.Fatalf("the request holds its header after recycleOutbound: %v, want %v", held, !tc.recycled)
			}
		})
	}
}

// TestForwardRecycledHeadersCarryNothingOver: requests with and without a
// field, in turn, through one proxy: an outbound header map used again
// never carries a field of the request before.
func TestForwardRecycledHeadersCarryNothingOver(t *testing.T) {
	be := newBackend(t, "a")
	px := newTestProxy(t, balancer.NewRoundRobin(poolOf(t, be.URL)), Config{})
	for i := range 20 {
		req := httptest.NewRequest("GET", "/x", nil)
		if i%2 == 0 {
			req.Header.Set("X-Even", strconv.Itoa(i))
		}
		if rec := serve(px, req); rec.Code != 200 {
			t.Fatalf("request %d: status %d", i, rec.Code)
		}
		want := ""
		if i%2 == 0 {
			want = strconv.Itoa(i)
		}
		if got := be.lastHeader().Get("X-Even"); got != want {
			t.Fatalf("request %d reached the target with X-Even %q, want %q", i, got, want)
		}
	}
}
