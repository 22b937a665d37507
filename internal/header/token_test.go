package header

import (
	"net/http"
	"net/textproto"
	"testing"
)

func TestIsTokenAcceptsOnlyRFC9110Tokens(t *testing.T) {
	for _, tc := range []struct {
		s    string
		want bool
	}{
		{"X-User", true},
		{"x_a.b~c", true},
		{"", false},
		{"bad name", false},
		{"a:b", false},
		{"ü", false},
		{"a\x00", false},
	} {
		if got := IsToken(tc.s); got != tc.want {
			t.Errorf("IsToken(%q) = %v, want %v", tc.s, got, tc.want)
		}
	}
}

// FuzzIsToken checks that every token survives as a header field name
// through net/http's own validation.
func FuzzIsToken(f *testing.F) {
	for _, s := range []string{"X-A", "a b", "", "%", "é"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !IsToken(s) {
			return
		}
		h := http.Header{}
		h.Set(s, "v")
		if h.Get(textproto.CanonicalMIMEHeaderKey(s)) != "v" {
			t.Fatalf("token %q is not usable as a header name", s)
		}
		if _, err := http.NewRequest(s, "http://x/", nil); err != nil {
			t.Fatalf("token %q refused as a method: %v", s, err)
		}
	})
}
