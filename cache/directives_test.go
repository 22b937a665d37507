package cache

import (
	"fmt"
	"testing"
)

func TestParseDirectives(t *testing.T) {
	tests := []struct {
		in   string
		want directives
	}{
		{"", directives{MaxAge: -1, SMaxAge: -1, MaxStale: -1, MinFresh: -1, StaleWhileRevalidate: -1, StaleIfError: -1}},
		{`MAX-AGE=5, s-maxage="7", no-cache="Set-Cookie, X-A", private, stale-if-error=9`, directives{MaxAge: 5, SMaxAge: 7, MaxStale: -1, MinFresh: -1,
			StaleWhileRevalidate: -1, StaleIfError: 9, Private: true, NoCacheFields: []string{"set-cookie", "x-a"}}},
		{"max-age=abc, max-stale, min-fresh=99999999999999", directives{MaxAge: 0, SMaxAge: -1, MaxStale: 0, MaxStaleAny: true,
			MinFresh: maxDelta, StaleWhileRevalidate: -1, StaleIfError: -1}},
		{"no-store,,public , must-revalidate,only-if-cached", directives{MaxAge: -1, SMaxAge: -1, MaxStale: -1, MinFresh: -1,
			StaleWhileRevalidate: -1, StaleIfError: -1, NoStore: true, Public: true, MustRevalidate: true, OnlyIfCached: true}},
	}
	for _, tc := range tests {
		got := parseDirectives([]string{tc.in})
		if !equalDirectives(got, tc.want) {
			t.Errorf("parseDirectives(%q) = %+v, want %+v", tc.in, got, tc.want)
		}
	}
}

func equalDirectives(a, b directives) bool {
	return fmt.Sprintf("%+v", a) == fmt.Sprintf("%+v", b)
}

func FuzzParseDirectives(f *testing.F) {
	for _, s := range []string{"", "max-age=5", `no-cache="a, b", private="x`, "max-stale, s-maxage=1e9", `a="\`, "=,=,"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d := parseDirectives([]string{s})
		for _, v := range []int64{d.MaxAge, d.SMaxAge, d.MaxStale, d.MinFresh, d.StaleWhileRevalidate, d.StaleIfError} {
			if v < -1 || v > maxDelta {
				t.Fatalf("parseDirectives(%q): delta %d out of range", s, v)
			}
		}
	})
}
