package clientip

import (
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
)

func mustNew(t testing.TB, cfg Config) *Resolver {
	t.Helper()
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func prefixes(ss ...string) []netip.Prefix {
	var ps []netip.Prefix
	for _, s := range ss {
		ps = append(ps, netip.MustParsePrefix(s))
	}
	return ps
}

func TestResolveTrustsForwardingHeadersOnlyFromTrustedProxies(t *testing.T) {
	tests := []struct {
		name    string
		trusted []netip.Prefix
		header  string
		remote  string
		values  []string
		want    string
	}{
		{"no trust, no header", nil, "", "192.0.2.1:1234", nil, "192.0.2.1"},
		{"no trust, spoofed xff ignored", nil, "", "192.0.2.1:1234", []string{"6.6.6.6"}, "192.0.2.1"},
		{"untrusted peer, spoofed xff ignored", prefixes("10.0.0.0/8"), "", "192.0.2.1:1234", []string{"6.6.6.6"}, "192.0.2.1"},
		{"trusted peer, one hop", prefixes("10.0.0.0/8"), "", "10.0.0.1:80", []string{"203.0.113.7"}, "203.0.113.7"},
		{"trusted chain, client spoofs left", prefixes("10.0.0.0/8"), "", "10.0.0.1:80", []string{"6.6.6.6, 203.0.113.7, 10.1.1.1"}, "203.0.113.7"},
		{"multiple header lines", prefixes("10.0.0.0/8"), "", "10.0.0.1:80", []string{"6.6.6.6", "203.0.113.7,10.2.2.2"}, "203.0.113.7"},
		{"all hops trusted", prefixes("10.0.0.0/8"), "", "10.0.0.1:80", []string{"10.3.3.3, 10.2.2.2"}, "10.3.3.3"},
		{"trusted peer, no header", prefixes("10.0.0.0/8"), "", "10.0.0.1:80", nil, "10.0.0.1"},
		{"malformed hop stops walk", prefixes("10.0.0.0/8"), "", "10.0.0.1:80", []string{"6.6.6.6, garbage, 10.2.2.2"}, "10.2.2.2"},
		{"empty element stops walk", prefixes("10.0.0.0/8"), "", "10.0.0.1:80", []string{"6.6.6.6,,"}, "10.0.0.1"},
		{"hop with port", prefixes("10.0.0.0/8"), "", "10.0.0.1:80", []string{"203.0.113.7:5555"}, "203.0.113.7"},
		{"ipv6 peer", nil, "", "[2001:db8::1]:443", []string{"6.6.6.6"}, "2001:db8::1"},
		{"ipv6 zone peer", nil, "", "[fe80::1%eth0]:443", nil, "fe80::1%eth0"},
		{"ipv6 trusted, ipv6 hop in brackets", prefixes("2001:db8::/32"), "", "[2001:db8::1]:443", []string{"[2001:db9::5]:99"}, "2001:db9::5"},
		{"mapped ipv4 peer unmapped", prefixes("10.0.0.0/8"), "", "[::ffff:10.0.0.1]:80", []string{"203.0.113.9"}, "203.0.113.9"},
		{"forwarded header", prefixes("10.0.0.0/8"), Forwarded, "10.0.0.1:80", []string{`for=6.6.6.6, for="[2001:db8::7]:4711";proto=https, for=10.9.9.9`}, "2001:db8::7"},
		{"forwarded obfuscated stops", prefixes("10.0.0.0/8"), Forwarded, "10.0.0.1:80", []string{`for=6.6.6.6, for=_hidden, for=10.9.9.9`}, "10.9.9.9"},
		{"forwarded unknown", prefixes("10.0.0.0/8"), Forwarded, "10.0.0.1:80", []string{`for=unknown`}, "10.0.0.1"},
		{"forwarded ignores xff", prefixes("10.0.0.0/8"), Forwarded, "10.0.0.1:80", nil, "10.0.0.1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := mustNew(t, Config{TrustedProxies: tc.trusted, Header: tc.header})
			h := http.Header{}
			name := XForwardedFor
			if tc.header != "" {
				name = tc.header
			}
			for _, v := range tc.values {
				h.Add(name, v)
			}
			got, err := r.Resolve(tc.remote, h)
			if err != nil {
				t.Fatalf("Resolve(%q) error %v", tc.remote, err)
			}
			if got.String() != tc.want {
				t.Errorf("Resolve(%q, %q) = %v, want %v", tc.remote, tc.values, got, tc.want)
			}
		})
	}
}

func TestNewRejectsInvalidConfig(t *testing.T) {
	if _, err := New(Config{Header: "X-Real-IP"}); err == nil {
		t.Error("New with unsupported header: no error")
	}
	if _, err := New(Config{TrustedProxies: []netip.Prefix{{}}}); err == nil {
		t.Error("New with invalid prefix: no error")
	}
	for _, h := range []string{Forwarded, XForwardedFor} {
		if _, err := New(Config{Header: h}); err == nil {
			t.Errorf("New with Header %s and no TrustedProxies (the header would never be read): no error", h)
		}
	}
}

func TestBadRemoteAddrIsAnError(t *testing.T) {
	r := mustNew(t, Config{})
	for _, s := range []string{"", "@", "unix", "example.com:80", "[::1"} {
		if _, err := r.Resolve(s, nil); err != ErrBadRemoteAddr {
			t.Errorf("Resolve(%q) err = %v, want ErrBadRemoteAddr", s, err)
		}
	}
}

func TestAggregateGroupsIPv6By64(t *testing.T) {
	tests := []struct{ in, want string }{
		{"192.0.2.1", "192.0.2.1"},
		{"::ffff:192.0.2.1", "192.0.2.1"},
		{"2001:db8:1:2:3:4:5:6", "2001:db8:1:2::"},
		{"2001:db8:1:2:ffff::1", "2001:db8:1:2::"},
		{"fe80::1%eth0", "fe80::"},
	}
	for _, tc := range tests {
		if got := Aggregate(netip.MustParseAddr(tc.in)); got.String() != tc.want {
			t.Errorf("Aggregate(%s) = %v, want %s", tc.in, got, tc.want)
		}
	}
}

func TestMiddlewareStoresTheClientInTheContext(t *testing.T) {
	res := mustNew(t, Config{TrustedProxies: prefixes("127.0.0.0/8")})
	var got netip.Addr
	var trusted bool
	h := Middleware(res)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, trusted = FromRequest(r), PeerTrusted(r)
	}))
	req := httptest.NewRequest("GET", "/", nil)
	req.RemoteAddr = "127.0.0.1:999"
	req.Header.Set("X-Forwarded-For", "198.51.100.4")
	h.ServeHTTP(httptest.NewRecorder(), req)
	if got.String() != "198.51.100.4" || !trusted {
		t.Errorf("trusted peer: FromRequest = %v, PeerTrusted = %v", got, trusted)
	}

	req.RemoteAddr = "192.0.2.8:1"
	h.ServeHTTP(httptest.NewRecorder(), req)
	if got.String() != "192.0.2.8" || trusted {
		t.Errorf("untrusted peer: FromRequest = %v, PeerTrusted = %v", got, trusted)
	}

	// Without the middleware FromRequest falls back to RemoteAddr.
	if a := FromRequest(req); a.String() != "192.0.2.8" {
		t.Errorf("FromRequest without middleware = %v", a)
	}
	// A nil resolver trusts nobody.
	Middleware(nil)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = FromRequest(r)
	})).ServeHTTP(httptest.NewRecorder(), req)
	if got.String() != "192.0.2.8" {
		t.Errorf("nil resolver: %v", got)
	}
	// A non-IP RemoteAddr passes through.
	req.RemoteAddr = "@"
	h.ServeHTTP(httptest.NewRecorder(), req)
	if got.IsValid() {
		t.Errorf("non-IP RemoteAddr: got %v", got)
	}
	ctx := NewContext(req.Context(), netip.MustParseAddr("192.0.2.77"))
	if a, ok := FromContext(ctx); !ok || a.String() != "192.0.2.77" {
		t.Errorf("FromContext = %v %v", a, ok)
	}
}

// refHop is an independent reference parser for one hop: a bare IP, or
// host:port through net.SplitHostPort, brackets allowed around IPv6.
func refHop(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	if host, _, err := net.SplitHostPort(s); err == nil {
		s = host
	} else if len(s) > 1 && s[0] == '[' && s[len(s)-1] == ']' {
		s = s[1 : len(s)-1]
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

// refForwarded is an independent reference for one Forwarded element.
func refForwarded(elem string) (netip.Addr, bool) {
	for _, pair := range strings.Split(elem, ";") {
		eq := strings.IndexByte(pair, '=')
		if eq < 0 || strings.ToLower(strings.TrimSpace(pair[:eq])) != "for" {
			continue
		}
		v := strings.TrimSpace(pair[eq+1:])
		v = strings.TrimSuffix(strings.TrimPrefix(v, `"`), `"`)
		if v == "" || strings.ContainsRune(v, '"') {
			return netip.Addr{}, false
		}
		return refHop(v)
	}
	return netip.Addr{}, false
}

// FuzzResolve checks the invariant: the result is the peer, or an address
// at or right of the first untrusted hop of the header (all its lines read
// as one list), never one left of it that a client could choose. The
// reference walk uses its own parsers.
func FuzzResolve(f *testing.F) {
	f.Add("10.0.0.1:80", "6.6.6.6, 203.0.113.7, 10.1.1.1", false)
	f.Add("192.0.2.1:1", "1.1.1.1", false)
	f.Add("[2001:db8::1]:443", "[2001:db8::2]:1, garbage", true)
	f.Add("10.0.0.1:80", `for="[::1]";by=x, for=10.0.0.2`, true)
	f.Add("10.0.0.1:80", "6.6.6.6\n203.0.113.7, 10.1.1.1\n10.2.2.2", false)
	res := mustNew(f, Config{TrustedProxies: prefixes("10.0.0.0/8", "2001:db8::/32")})
	fwd := mustNew(f, Config{TrustedProxies: prefixes("10.0.0.0/8", "2001:db8::/32"), Header: Forwarded})
	f.Fuzz(func(t *testing.T, remote, header string, useForwarded bool) {
		r, name := res, XForwardedFor
		if useForwarded {
			r, name = fwd, Forwarded
		}
		lines := strings.Split(header, "\n")
		h := http.Header{name: lines}
		got, err := r.Resolve(remote, h)
		if err != nil {
			return
		}
		peer, _ := ParseAddr(remote)
		if got == peer {
			return
		}
		if !r.Trusted(peer) {
			t.Fatalf("untrusted peer %v but result %v", peer, got)
		}
		elems := strings.Split(strings.Join(lines, ","), ",")
		allowed := map[netip.Addr]bool{}
		for i := len(elems) - 1; i >= 0; i-- {
			parse := refHop
			if useForwarded {
				parse = refForwarded
			}
			a, ok := parse(elems[i])
			if !ok {
				break
			}
			allowed[a] = true
			if !r.Trusted(a) {
				break
			}
		}
		if !allowed[got] {
			t.Fatalf("Resolve(%q, %q) = %v: not the peer nor a hop at or right of the first untrusted one", remote, lines, got)
		}
	})
}

func BenchmarkResolve(b *testing.B) {
	r := mustNew(b, Config{TrustedProxies: prefixes("10.0.0.0/8")})
	h := http.Header{XForwardedFor: {"6.6.6.6, 203.0.113.7, 10.1.1.1"}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Resolve("10.0.0.1:80", h); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMiddleware(b *testing.B) {
	res := mustNew(b, Config{TrustedProxies: prefixes("10.0.0.0/8")})
	var sink netip.Addr
	h := Middleware(res)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { sink = FromRequest(r) }))
	req := httptest.NewRequest("GET", "/", nil)
	req.RemoteAddr = "10.0.0.1:80"
	req.Header.Set("X-Forwarded-For", "203.0.113.7")
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(nil, req)
	}
	if sink.String() != "203.0.113.7" {
		b.Fatalf("client = %v", sink)
	}
}
