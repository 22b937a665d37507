package balancer

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"testing"
)

func typeName(v any) string { return reflect.TypeOf(v).String() }

func TestParseKey(t *testing.T) {
	req := httptest.NewRequest("GET", "/p/q?id=42&x=%zz&id=43&sp=a+b", nil)
	req.RemoteAddr = "[2001:db8:1:2:3::4]:5555"
	req.Header.Set("X-User", "alice")
	req.AddCookie(&http.Cookie{Name: "sid", Value: "s1"})
	other := httptest.NewRequest("GET", "/", nil)
	other.RemoteAddr = "[2001:db8:1:2:ffff::1]:1"
	tests := []struct {
		spec string
		want string
		err  bool
	}{
		{spec: "", want: ""},
		{spec: "path", want: "/p/q"},
		{spec: "header:x-user", want: "alice"},
		{spec: "cookie:sid", want: "s1"},
		{spec: "query:id", want: "42"},
		{spec: "query:sp", want: "a b"},
		{spec: "query:x", want: ""},
		{spec: "query:none", want: ""},
		{spec: "IP", want: KeyClientIP(other)},
		{spec: "header:", err: true},
		{spec: "header:bad name", err: true},
		{spec: "ip:x", err: true},
		{spec: "uri", err: true},
	}
	for _, tc := range tests {
		t.Run(tc.spec, func(t *testing.T) {
			f, err := ParseKey(tc.spec)
			if (err != nil) != tc.err {
				t.Fatalf("ParseKey(%q) error = %v, want error %v", tc.spec, err, tc.err)
			}
			if err != nil {
				return
			}
			got := ""
			if f != nil {
				got = f(req)
			}
			if got != tc.want {
				t.Errorf("ParseKey(%q)(req) = %q, want %q", tc.spec, got, tc.want)
			}
		})
	}
	v4 := httptest.NewRequest("GET", "/", nil)
	v4.RemoteAddr = "192.0.2.1:1"
	if KeyClientIP(v4) == KeyClientIP(req) || KeyClientIP(v4) == "" {
		t.Error("IPv4 and IPv6 clients share a key")
	}
}

// FuzzQueryValue checks the allocation-light query scanner against
// url.ParseQuery.
func FuzzQueryValue(f *testing.F) {
	for _, s := range []string{"", "a=1", "a=1&a=2", "a", "a=%zz&a=2", "a;b=1&a=3", "%61=x", "a=b=c", "&&a=&"} {
		f.Add(s, "a")
	}
	f.Fuzz(func(t *testing.T, raw, name string) {
		vals, _ := url.ParseQuery(raw)
		want := vals.Get(name)
		if got := queryValue(raw, name); got != want {
			t.Fatalf("queryValue(%q, %q) = %q, url.ParseQuery gives %q", raw, name, got, want)
		}
	})
}

// FuzzParseKey checks that any spec either fails or yields a key func that
// does not panic.
func FuzzParseKey(f *testing.F) {
	for _, s := range []string{"", "ip", "path", "header:X-A", "cookie:c", "query:q", "header:", "x:y:z"} {
		f.Add(s)
	}
	req := httptest.NewRequest("GET", "/a?q=1", nil)
	f.Fuzz(func(t *testing.T, spec string) {
		k, err := ParseKey(spec)
		if err == nil && k != nil {
			_ = k(req)
		}
	})
}
