package reqkey

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestParseBuildsKeyFunctionsFromText(t *testing.T) {
	req := httptest.NewRequest("GET", "/p/q?id=42&x=%zz&id=43&sp=a+b", nil)
	req.RemoteAddr = "[2001:db8:1:2:3::4]:5555"
	req.Header.Set("X-User", "alice")
	req.Header.Set("X-Api-Key", "k")
	req.AddCookie(&http.Cookie{Name: "sid", Value: "s1"})
	tests := []struct {
		spec string
		want string
		err  bool
	}{
		{spec: "", want: ""},
		{spec: "path", want: "/p/q"},
		{spec: "route", want: "/p/q"},
		{spec: "global", want: ""},
		{spec: "header:x-user", want: "alice"},
		{spec: "cookie:sid", want: "s1"},
		{spec: "query:id", want: "42"},
		{spec: "query:sp", want: "a b"},
		{spec: "query:x", want: ""},
		{spec: "IP", want: "2001:db8:1:2::"},
		{spec: "client-ip", want: "2001:db8:1:2::"},
		{spec: "apikey", want: APIKey("")(req)},
		{spec: "apikey:X-Api-Key", want: APIKey("")(req)},
		{spec: "header:", err: true},
		{spec: "header:bad name", err: true},
		{spec: "apikey:bad name", err: true},
		{spec: "ip:x", err: true},
		{spec: "uri", err: true},
	}
	for _, tc := range tests {
		t.Run(tc.spec, func(t *testing.T) {
			f, err := Parse(tc.spec)
			if (err != nil) != tc.err {
				t.Fatalf("Parse(%q) error = %v, want error %v", tc.spec, err, tc.err)
			}
			if err != nil {
				return
			}
			got := ""
			if f != nil {
				got = f(req)
			}
			if got != tc.want {
				t.Errorf("Parse(%q)(req) = %q, want %q", tc.spec, got, tc.want)
			}
		})
	}
}

// FuzzParse checks that any spec either fails or yields a key function
// that does not panic.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"", "ip", "path", "route", "header:X-A", "cookie:c", "query:q", "apikey:Authorization", "header:", "x:y:z"} {
		f.Add(s)
	}
	req := httptest.NewRequest("GET", "/a?q=1", nil)
	f.Fuzz(func(t *testing.T, spec string) {
		k, err := Parse(spec)
		if err == nil && k != nil {
			_ = k(req)
		}
	})
}
