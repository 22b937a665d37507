package cache

import (
	"net/http"
	"testing"
	"time"
)

func TestParseHTTPDate(t *testing.T) {
	want := time.Date(1994, 11, 6, 8, 49, 37, 0, time.UTC)
	tests := []struct {
		in string
		ok bool
	}{
		{"Sun, 06 Nov 1994 08:49:37 GMT", true},
		{"Sunday, 06-Nov-94 08:49:37 GMT", true},
		{"Sun Nov  6 08:49:37 1994", true},
		{"Sun, 06 Nov 1994 08:49:37 gmt", true},
		{"Sun, 06 Nov 1994 08:49:37 gMT", true},
		{"Sun, 06  Nov 1994 08:49:37 GMT", false},
		{"Sun, 06 Nov 1994 8:49:37 GMT", false},
		{"Sun, 6 Nov 1994 08:49:37 GMT", false},
		{"Sun, 06 Nov 94 08:49:37 GMT", false},
		{"Sun 06 Nov 1994 08:49:37 GMT", false},
		{"Sun, 06-Nov-1994 08:49:37 GMT", false},
		{"Sun, 06 Nov 1994 08.49.37 GMT", false},
		{"0", false},
		{"", false},
	}
	for _, tt := range tests {
		got, ok := parseHTTPDate(tt.in)
		if ok != tt.ok || (ok && !got.Equal(want)) {
			t.Errorf("parseHTTPDate(%q) = %v, %v; want ok %v", tt.in, got, ok, tt.ok)
		}
	}
}

func TestParseAge(t *testing.T) {
	tests := []struct {
		in   []string
		want time.Duration
		ok   bool
	}{
		{nil, 0, false},
		{[]string{"30"}, 30 * time.Second, true},
		{[]string{"0, 7200"}, 0, true},
		{[]string{"7200", "0"}, 7200 * time.Second, true},
		{[]string{"7200;foo=bar"}, 7200 * time.Second, true},
		{[]string{"99999999999"}, maxDelta * time.Second, true},
		{[]string{"abc"}, 0, false},
		{[]string{"-1"}, 0, false},
		{[]string{"1.5"}, 0, false},
		{[]string{" "}, 0, false},
	}
	for _, tt := range tests {
		got, ok := parseAge(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("parseAge(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

// FuzzParseHTTPDate checks that an accepted date survives a round trip
// through the preferred format, and that parseAge never yields a negative
// or unbounded age.
func FuzzParseHTTPDate(f *testing.F) {
	for _, s := range []string{"Sun, 06 Nov 1994 08:49:37 GMT", "Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994", "0", "7200, 0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if d, ok := parseAge([]string{s}); d < 0 || d > maxDelta*time.Second || (!ok && d != 0) {
			t.Fatalf("parseAge(%q) = %v, %v", s, d, ok)
		}
		tm, ok := parseHTTPDate(s)
		if !ok {
			return
		}
		again, ok := parseHTTPDate(tm.Format(http.TimeFormat))
		if !ok || !again.Equal(tm) {
			t.Fatalf("%q -> %v -> %q -> %v, %v", s, tm, tm.Format(http.TimeFormat), again, ok)
		}
	})
}
