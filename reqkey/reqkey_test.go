package reqkey

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestKeyFunctionsReadTheirPartOfTheRequest(t *testing.T) {
	r := httptest.NewRequest("GET", "/items/7?id=42&sp=a+b", nil)
	r.RemoteAddr = "[2001:db8:a:b:1:2:3:4]:443"
	r.Header.Set("X-Tenant", "acme")
	r.Header.Set("Authorization", "Bearer secret-token")
	r.Header.Set("X-Api-Key", "secret-token")
	r.AddCookie(&http.Cookie{Name: "sid", Value: "s1"})
	tests := []struct {
		name string
		fn   func(*http.Request) string
		want string
	}{
		{"ClientIP aggregates IPv6 to its /64", ClientIP, "2001:db8:a:b::"},
		{"Path", Path, "/items/7"},
		{"Route without a router is the path", Route, "/items/7"},
		{"Global", Global, ""},
		{"Header is case-insensitive", Header("x-tenant"), "acme"},
		{"absent Header", Header("X-None"), ""},
		{"Cookie", Cookie("sid"), "s1"},
		{"absent Cookie", Cookie("none"), ""},
		{"Query decodes", Query("sp"), "a b"},
		{"Query first value", Query("id"), "42"},
		{"Join separates by NUL", Join(ClientIP, Header("X-Tenant"), Global), "2001:db8:a:b::\x00acme\x00"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.fn(r); got != tc.want {
				t.Errorf("key = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestClientIPKeysByResolvedAddress(t *testing.T) {
	for _, tc := range []struct{ remote, want string }{
		{"192.0.2.1:5", "192.0.2.1"},
		{"[2001:db8:1:2:3:4:5:6]:5", "2001:db8:1:2::"},
		{"[2001:db8:1:2:ffff::1]:9", "2001:db8:1:2::"},
		{"@", ""},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = tc.remote
		if got := ClientIP(r); got != tc.want {
			t.Errorf("ClientIP(RemoteAddr %q) = %q, want %q", tc.remote, got, tc.want)
		}
	}
}

func TestRouteUsesTheRouterPattern(t *testing.T) {
	mux := http.NewServeMux()
	var keys []string
	mux.HandleFunc("GET /items/{id}", func(w http.ResponseWriter, r *http.Request) {
		keys = append(keys, Route(r))
	})
	for _, p := range []string{"/items/1", "/items/2"} {
		mux.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", p, nil))
	}
	if len(keys) != 2 || keys[0] != "GET /items/{id}" || keys[1] != keys[0] {
		t.Errorf("Route under a ServeMux = %q, want one key for both ids", keys)
	}
}

func TestAPIKeyIsHashed(t *testing.T) {
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Authorization", "Bearer secret-token")
	r.Header.Set("X-Api-Key", "secret-token")
	a, b := APIKey("Authorization")(r), APIKey("")(r)
	if a != b || !strings.HasPrefix(a, "apikey:") || len(a) > 40 || strings.Contains(a, "secret") {
		t.Errorf("APIKey = %q, %q; want equal hashed keys without the secret", a, b)
	}
	if got := APIKey("")(httptest.NewRequest("GET", "/", nil)); got != "" {
		t.Errorf("APIKey without a key = %q, want empty", got)
	}
}

// FuzzClientIP feeds client-controlled request parts to the key functions:
// none may panic, keys stay short, and an untrusted peer's forwarding
// headers never change its key.
func FuzzClientIP(f *testing.F) {
	f.Add("192.0.2.1:1234", "203.0.113.9", "Bearer abc", "k1")
	f.Add("[2001:db8::1%eth0]:443", "1.2.3.4, 5.6.7.8", "Basic", "")
	f.Add("@", "", "Bearer ", strings.Repeat("x", 300))
	f.Fuzz(func(t *testing.T, remote, xff, auth, apiKey string) {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = remote
		base := ClientIP(r)
		r.Header.Set("X-Forwarded-For", xff)
		r.Header.Set("Forwarded", "for="+xff)
		r.Header.Set("Authorization", auth)
		r.Header.Set("X-API-Key", apiKey)
		if got := ClientIP(r); got != base {
			t.Fatalf("forwarding headers %q changed the key of peer %q: %q -> %q", xff, remote, base, got)
		}
		if len(base) > 64 {
			t.Fatalf("ClientIP key %q too long", base)
		}
		for _, k := range []string{APIKey("Authorization")(r), APIKey("")(r)} {
			if len(k) > 40 {
				t.Fatalf("APIKey key %q too long", k)
			}
		}
	})
}

func BenchmarkKeys(b *testing.B) {
	r := httptest.NewRequest("GET", "/items/7?a=1&id=42", nil)
	r.RemoteAddr = "192.0.2.1:5"
	r.Header.Set("X-User", "alice")
	for _, bc := range []struct {
		name string
		fn   func(*http.Request) string
	}{
		{"ClientIP", ClientIP},
		{"Header", Header("X-User")},
		{"Query", Query("id")},
		{"Route", Route},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if bc.fn(r) == "" {
					b.Fatal("empty key")
				}
			}
		})
	}
}
