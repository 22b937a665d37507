package cache

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// step is one request in a scenario: advance the clock, send GET / with hdr,
// expect the body (v<n> for the origin's n-th response) and whether it hit.
type step struct {
	advance  time.Duration
	hdr      []string
	wantBody string
	wantHit  bool
}

func runSteps(t *testing.T, f *fixture, steps []step) {
	t.Helper()
	for i, s := range steps {
		f.clk.Add(s.advance)
		body, status := f.get("http://example.com/", s.hdr...)
		if body != s.wantBody || isHit(status) != s.wantHit {
			t.Fatalf("step %d (t0+%v, %q): body %q status %q, want body %q hit %v",
				i, f.clk.Now().Sub(t0), s.hdr, body, status, s.wantBody, s.wantHit)
		}
	}
}

func TestFreshness(t *testing.T) {
	lm := t0.Add(-100 * time.Hour).Format(http.TimeFormat)
	tests := []struct {
		name   string
		origin []string
		steps  []step
	}{
		{"max-age", []string{"Cache-Control", "max-age=60"}, []step{
			{0, nil, "v1", false}, {30 * time.Second, nil, "v1", true}, {29 * time.Second, nil, "v1", true},
			{time.Second, nil, "v2", false}}},
		{"s-maxage beats max-age", []string{"Cache-Control", "max-age=10, s-maxage=100"}, []step{
			{0, nil, "v1", false}, {50 * time.Second, nil, "v1", true}, {51 * time.Second, nil, "v2", false}}},
		{"expires", []string{"Expires", t0.Add(20 * time.Second).Format(http.TimeFormat)}, []step{
			{0, nil, "v1", false}, {19 * time.Second, nil, "v1", true}, {time.Second, nil, "v2", false}}},
		{"max-age beats expires", []string{"Cache-Control", "max-age=5", "Expires", t0.Add(time.Hour).Format(http.TimeFormat)}, []step{
			{0, nil, "v1", false}, {4 * time.Second, nil, "v1", true}, {time.Second, nil, "v2", false}}},
		{"invalid expires is stale", []string{"Expires", "0"}, []step{
			{0, nil, "v1", false}, {0, nil, "v2", false}}},
		{"heuristic from last-modified", []string{"Last-Modified", lm}, []step{
			{0, nil, "v1", false}, {9 * time.Hour, nil, "v1", true}, {time.Hour + time.Second, nil, "v2", false}}},
		{"no freshness information", nil, []step{
			{0, nil, "v1", false}, {0, nil, "v2", false}}},
		{"upstream age counts", []string{"Cache-Control", "max-age=60", "Age", "50"}, []step{
			{0, nil, "v1", false}, {9 * time.Second, nil, "v1", true}, {time.Second, nil, "v2", false}}},
		{"invalid age is stale", []string{"Cache-Control", "max-age=60", "Age", "5;x=1"}, []step{
			{0, nil, "v1", false}, {0, nil, "v2", false}}},
		{"list-valued age is stale", []string{"Cache-Control", "max-age=60", "Age", "0", "Age", "0"}, []step{
			{0, nil, "v1", false}, {0, nil, "v2", false}}},
		{"old date counts", []string{"Cache-Control", "max-age=60", "Date", t0.Add(-55 * time.Second).Format(http.TimeFormat)}, []step{
			{0, nil, "v1", false}, {4 * time.Second, nil, "v1", true}, {time.Second, nil, "v2", false}}},
		{"no-store", []string{"Cache-Control", "no-store, max-age=60"}, []step{
			{0, nil, "v1", false}, {0, nil, "v2", false}}},
		{"private", []string{"Cache-Control", "private, max-age=60"}, []step{
			{0, nil, "v1", false}, {0, nil, "v2", false}}},
		{"set-cookie", []string{"Cache-Control", "max-age=60", "Set-Cookie", "sid=1"}, []step{
			{0, nil, "v1", false}, {0, nil, "v2", false}}},
		{"set-cookie2", []string{"Cache-Control", "max-age=60", "Set-Cookie2", "sid=1"}, []step{
			{0, nil, "v1", false}, {0, nil, "v2", false}}},
		{"vary star", []string{"Cache-Control", "max-age=60", "Vary", "*"}, []step{
			{0, nil, "v1", false}, {0, nil, "v2", false}}},
		{"must-understand overrides no-store", []string{"Cache-Control", "max-age=60, no-store, must-understand"}, []step{
			{0, nil, "v1", false}, {0, nil, "v1", true}}},
		{"duplicate max-age: first wins", []string{"Cache-Control", "max-age=10", "Cache-Control", "max-age=1000"}, []step{
			{0, nil, "v1", false}, {11 * time.Second, nil, "v2", false}}},
		{"request max-age", []string{"Cache-Control", "max-age=60"}, []step{
			{0, nil, "v1", false}, {10 * time.Second, []string{"Cache-Control", "max-age=20"}, "v1", true},
			{0, []string{"Cache-Control", "max-age=5"}, "v2", false}}},
		{"request min-fresh", []string{"Cache-Control", "max-age=60"}, []step{
			{0, nil, "v1", false}, {30 * time.Second, []string{"Cache-Control", "min-fresh=20"}, "v1", true},
			{0, []string{"Cache-Control", "min-fresh=40"}, "v2", false}}},
		{"request max-stale", []string{"Cache-Control", "max-age=10"}, []step{
			{0, nil, "v1", false}, {15 * time.Second, []string{"Cache-Control", "max-stale=10"}, "v1", true},
			{0, []string{"Cache-Control", "max-stale"}, "v1", true},
			{0, []string{"Cache-Control", "max-stale=2"}, "v2", false}}},
		{"must-revalidate forbids max-stale", []string{"Cache-Control", "max-age=10, must-revalidate"}, []step{
			{0, nil, "v1", false}, {15 * time.Second, []string{"Cache-Control", "max-stale"}, "v2", false}}},
		{"proxy-revalidate forbids max-stale", []string{"Cache-Control", "max-age=10, proxy-revalidate"}, []step{
			{0, nil, "v1", false}, {15 * time.Second, []string{"Cache-Control", "max-stale"}, "v2", false}}},
		{"request no-cache", []string{"Cache-Control", "max-age=60"}, []step{
			{0, nil, "v1", false}, {0, []string{"Cache-Control", "no-cache"}, "v2", false}, {0, nil, "v2", true}}},
		{"pragma no-cache", []string{"Cache-Control", "max-age=60"}, []step{
			{0, nil, "v1", false}, {0, []string{"Pragma", "no-cache"}, "v2", false}}},
		{"request no-store", []string{"Cache-Control", "max-age=60"}, []step{
			{0, []string{"Cache-Control", "no-store"}, "v1", false}, {0, nil, "v2", false}, {0, []string{"Cache-Control", "no-store"}, "v2", true}}},
		{"response no-cache without validator", []string{"Cache-Control", "max-age=60, no-cache"}, []step{
			{0, nil, "v1", false}, {0, nil, "v2", false}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, Config{}, headers(tc.origin...))
			runSteps(t, f, tc.steps)
		})
	}
}

func TestAgeHeader(t *testing.T) {
	f := newFixture(t, Config{}, headers("Cache-Control", "max-age=600", "Age", "7"))
	f.do("GET", "http://example.com/")
	f.clk.Add(30 * time.Second)
	rec := f.do("GET", "http://example.com/")
	if got := rec.Header().Get("Age"); got != "37" {
		t.Fatalf("Age = %q, want 37", got)
	}
	if got := ourStatus(rec.Header()); got != "gatekit; hit; ttl=563" {
		t.Fatalf("Cache-Status = %q, want %q", got, "gatekit; hit; ttl=563")
	}
}

func TestCacheStatusOnEveryResponse(t *testing.T) {
	f := newFixture(t, Config{Name: "edge"}, headers("Cache-Control", "max-age=60", "Cache-Status", "origin; fwd=uri-miss"))
	cases := []struct {
		method, target string
		hdr            []string
		want           string
	}{
		{"GET", "http://example.com/a", nil, "edge; fwd=uri-miss; stored"},
		{"GET", "http://example.com/a", nil, "edge; hit; ttl=60"},
		{"HEAD", "http://example.com/b", nil, "edge; fwd=uri-miss"},
		{"POST", "http://example.com/c", nil, "edge; fwd=method"},
		{"GET", "http://example.com/d", []string{"Authorization", "Bearer x"}, "edge; fwd=uri-miss; detail=authorization"},
		{"GET", "http://example.com/e", []string{"Cache-Control", "only-if-cached"}, "edge; fwd=miss; detail=only-if-cached"},
	}
	for _, tc := range cases {
		rec := f.do(tc.method, tc.target, tc.hdr...)
		vals := rec.Header().Values("Cache-Status")
		if got := ourStatus(rec.Header()); got != tc.want {
			t.Errorf("%s %s: Cache-Status = %q, want %q", tc.method, tc.target, vals, tc.want)
		}
		if !strings.HasPrefix(tc.want, "edge; fwd=miss") && (len(vals) != 2 || vals[0] != "origin; fwd=uri-miss") {
			t.Errorf("%s %s: Cache-Status = %q, want the origin's member first", tc.method, tc.target, vals)
		}
	}
	if rec := f.do("GET", "http://example.com/e", "Cache-Control", "only-if-cached"); rec.Code != http.StatusGatewayTimeout {
		t.Errorf("only-if-cached miss: status %d, want 504", rec.Code)
	}
}

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
