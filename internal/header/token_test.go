package header

import (
	"net/http"
	"net/textproto"
	"testing"

	"golang.org/x/net/http/httpguts"
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

func TestValidValue(t *testing.T) {
	for _, tc := range []struct {
		s    string
		want bool
	}{
		{"", true},
		{"text/plain; charset=utf-8", true},
		{"a\tb c", true},
		{"caf\xe9", true}, // obs-text
		{"a\r\nX-Injected: 1", false},
		{"a\x00b", false},
		{"a\x7fb", false},
		{"\x1b[0m", false},
	} {
		if got := ValidValue(tc.s); got != tc.want {
			t.Errorf("ValidValue(%q) = %v, want %v", tc.s, got, tc.want)
		}
	}
}

// FuzzValidValue checks ValidValue (and so IsValueChar) against net/http's
// own rule for field values.
func FuzzValidValue(f *testing.F) {
	f.Add("a\tb")
	f.Add("a\r\nb")
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := ValidValue(s), httpguts.ValidHeaderFieldValue(s); got != want {
			t.Fatalf("ValidValue(%q) = %v, net/http says %v", s, got, want)
		}
	})
}

func TestEqualFoldASCII(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{"Keep-Alive", "keep-alive", true},
		{"CLOSE", "close", true},
		{"close", "closed", false},
		{"clo\u017fe", "close", false}, // Unicode folding would say true
		{"\u212aeep", "keep", false},
	} {
		if got := EqualFoldASCII(tc.a, tc.b); got != tc.want {
			t.Errorf("EqualFoldASCII(%q, %q) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}
