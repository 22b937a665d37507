package cache

import (
	"context"
	"net/http"
	"testing"
	"time"
)

func TestCDNCacheControlReplacesCacheControl(t *testing.T) {
	future := t0.Add(time.Hour).Format(http.TimeFormat)
	tests := []struct {
		name   string
		cfg    Config
		origin []string
		steps  []step
	}{
		{"fresh despite cache-control no-store", Config{}, []string{"Cache-Control", "no-store", "CDN-Cache-Control", "max-age=30"}, []step{
			{0, nil, "v1", false}, {29 * time.Second, nil, "v1", true}, {time.Second, nil, "v2", false}}},
		{"ignored when asked", Config{IgnoreCDNCacheControl: true}, []string{"Cache-Control", "no-store", "CDN-Cache-Control", "max-age=30"}, []step{
			{0, nil, "v1", false}, {0, nil, "v2", false}}},
		{"no-store despite cache-control max-age", Config{}, []string{"Cache-Control", "max-age=600", "CDN-Cache-Control", "no-store", "Expires", future}, []step{
			{0, nil, "v1", false}, {0, nil, "v2", false}}},
		{"private despite cache-control max-age", Config{}, []string{"Cache-Control", "max-age=600", "CDN-Cache-Control", "private", "Expires", future}, []step{
			{0, nil, "v1", false}, {0, nil, "v2", false}}},
		{"no-cache despite cache-control max-age", Config{}, []string{"Cache-Control", "max-age=600", "CDN-Cache-Control", "no-cache", "Expires", future}, []step{
			{0, nil, "v1", false}, {0, nil, "v2", false}}},
		{"max-age=0 despite a future expires", Config{}, []string{"CDN-Cache-Control", "max-age=0", "Expires", future}, []step{
			{0, nil, "v1", false}, {0, nil, "v2", false}}},
		{"shorter than cache-control", Config{}, []string{"Cache-Control", "max-age=3600", "CDN-Cache-Control", "max-age=1"}, []step{
			{0, nil, "v1", false}, {2 * time.Second, nil, "v2", false}}},
		{"longer than cache-control", Config{}, []string{"Cache-Control", "max-age=1", "CDN-Cache-Control", "max-age=3600"}, []step{
			{0, nil, "v1", false}, {time.Minute, nil, "v1", true}}},
		{"age counts against it", Config{}, []string{"CDN-Cache-Control", "max-age=3600", "Age", "7200"}, []step{
			{0, nil, "v1", false}, {0, nil, "v2", false}}},
		{"beyond 2^31 seconds", Config{}, []string{"CDN-Cache-Control", "max-age=99999999999"}, []step{
			{0, nil, "v1", false}, {24 * time.Hour, nil, "v1", true}}},
		{"invalid dictionary ignored", Config{}, []string{"Cache-Control", "no-store", "CDN-Cache-Control", "max-age=10000, &&&&&"}, []step{
			{0, nil, "v1", false}, {0, nil, "v2", false}}},
		{"wrongly typed value ignored", Config{}, []string{"Cache-Control", "no-store", "CDN-Cache-Control", `max-age="10000"`}, []step{
			{0, nil, "v1", false}, {0, nil, "v2", false}}},
		{"own field first", Config{TargetedCacheControl: "Gatekit-Cache-Control"},
			[]string{"Cache-Control", "no-store", "CDN-Cache-Control", "max-age=1", "Gatekit-Cache-Control", "max-age=30"}, []step{
				{0, nil, "v1", false}, {29 * time.Second, nil, "v1", true}, {time.Second, nil, "v2", false}}},
		{"own field invalid: CDN-Cache-Control used", Config{TargetedCacheControl: "Gatekit-Cache-Control"},
			[]string{"CDN-Cache-Control", "max-age=30", "Gatekit-Cache-Control", "max-age=1.5.5"}, []step{
				{0, nil, "v1", false}, {29 * time.Second, nil, "v1", true}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			runSteps(t, newFixture(t, tt.cfg, headers(tt.origin...)), tt.steps)
		})
	}
}

// TestOwnTargetedFieldNeverLeaves: the own field is removed from what the
// client sees, whether the response was stored, served from the store or
// only passed on; CDN-Cache-Control is passed on for caches further down.
func TestOwnTargetedFieldNeverLeaves(t *testing.T) {
	f := newFixture(t, Config{TargetedCacheControl: "gatekit-cache-control"},
		headers("CDN-Cache-Control", "max-age=60", "Gatekit-Cache-Control", "max-age=30"))
	for i, method := range []string{"GET", "GET", "POST", "HEAD", "GET"} {
		rec := f.do(method, "http://example.com/a")
		if v, ok := rec.Header()["Gatekit-Cache-Control"]; ok {
			t.Errorf("%d %s: Gatekit-Cache-Control %q reached the client", i, method, v)
		}
		if got := rec.Header().Get("CDN-Cache-Control"); got != "max-age=60" {
			t.Errorf("%d %s: CDN-Cache-Control %q, want it passed on", i, method, got)
		}
	}
	e, _ := f.c.Get(context.Background(), "GET http://example.com/a")
	if _, ok := e.Variants[0].Header["Gatekit-Cache-Control"]; ok {
		t.Error("the own field was stored")
	}
}

func TestParseTargeted(t *testing.T) {
	none := func(*directives) {}
	tests := []struct {
		in   string
		ok   bool
		want func(*directives)
	}{
		{"max-age=60, no-store", true, func(d *directives) { d.MaxAge, d.NoStore = 60, true }},
		{"max-age=60;foo=bar, private=?0", true, func(d *directives) { d.MaxAge = 60 }},
		{`no-cache="set-cookie, x-a", s-maxage=5`, true, func(d *directives) {
			d.SMaxAge, d.NoCacheFields = 5, []string{"set-cookie", "x-a"}
		}},
		{"foobar, max-age=3600", true, func(d *directives) { d.MaxAge = 3600 }},
		{"max-age=3600, max-age=1", true, func(d *directives) { d.MaxAge = 3600 }},
		{"max-age=99999999999", true, func(d *directives) { d.MaxAge = maxDelta }},
		{"a=(1 2), b=:aGk=:, c=tok, d=1.5, max-age=-1, no-store=5", true, none},
		{"", true, none},
		{"MaX-aGe=3600", false, none},
		{"max-age =100", false, none},
		{"max-age= 100", false, none},
		{"max-age=1,", false, none},
		{"max-age=1.2345", false, none},
		{"max-age=1234567890123456", false, none},
		{`a="unterminated`, false, none},
		{"a=(1 2", false, none},
	}
	for _, tt := range tests {
		d, ok := parseTargeted([]string{tt.in})
		want := parseDirectives(nil)
		tt.want(&want)
		if ok != tt.ok || (ok && !equalDirectives(d, want)) {
			t.Errorf("parseTargeted(%q) = %+v, %v; want %+v, %v", tt.in, d, ok, want, tt.ok)
		}
	}
	if _, ok := parseTargeted(nil); ok {
		t.Error("an absent field parsed as present")
	}
}

// FuzzParseTargeted checks that a field accepted as a dictionary never
// yields a negative delta other than "absent", and that accepting does not
// depend on surrounding spaces.
func FuzzParseTargeted(f *testing.F) {
	for _, s := range []string{"max-age=60, no-store", `no-cache="a"`, "a=(1 2);x, b=?1", "max-age=1,", "&&"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, ok := parseTargeted([]string{s})
		_, ok2 := parseTargeted([]string{" " + s + " "})
		if ok != ok2 {
			t.Fatalf("%q accepted %v, padded %v", s, ok, ok2)
		}
		for _, v := range []int64{d.MaxAge, d.SMaxAge, d.MaxStale, d.MinFresh, d.StaleWhileRevalidate, d.StaleIfError} {
			if v < -1 || v > maxDelta {
				t.Fatalf("%q: delta %d", s, v)
			}
		}
	})
}

func TestSurrogateControl(t *testing.T) {
	tests := []struct {
		name   string
		cfg    Config
		origin []string
		steps  []step
	}{
		{"max-age despite cache-control no-store", Config{}, []string{"Cache-Control", "no-store", "Surrogate-Control", "max-age=30"}, []step{
			{0, nil, "v1", false}, {29 * time.Second, nil, "v1", true}, {time.Second, nil, "v2", false}}},
		{"no-store despite cache-control max-age", Config{}, []string{"Cache-Control", "max-age=60", "Surrogate-Control", "no-store"}, []step{
			{0, nil, "v1", false}, {0, nil, "v2", false}}},
		{"addressed to this cache", Config{}, []string{"Cache-Control", "no-store", "Surrogate-Control", "max-age=30;gatekit"}, []step{
			{0, nil, "v1", false}, {29 * time.Second, nil, "v1", true}}},
		{"addressed to another: cache-control applies", Config{}, []string{"Cache-Control", "max-age=5", "Surrogate-Control", "max-age=3600;other"}, []step{
			{0, nil, "v1", false}, {5 * time.Second, nil, "v2", false}}},
		{"addressed beats general", Config{}, []string{"Surrogate-Control", "max-age=10, max-age=100;GATEKIT"}, []step{
			{0, nil, "v1", false}, {99 * time.Second, nil, "v1", true}}},
		{"stale extension ignored", Config{}, []string{"Surrogate-Control", "max-age=30+60"}, []step{
			{0, nil, "v1", false}, {30 * time.Second, nil, "v2", false}}},
		{"age counts against it", Config{}, []string{"Surrogate-Control", "max-age=3600", "Age", "7200"}, []step{
			{0, nil, "v1", false}, {0, nil, "v2", false}}},
		{"after CDN-Cache-Control", Config{}, []string{"CDN-Cache-Control", "max-age=5", "Surrogate-Control", "max-age=3600"}, []step{
			{0, nil, "v1", false}, {5 * time.Second, nil, "v2", false}}},
		{"ignored when asked", Config{IgnoreSurrogateControl: true}, []string{"Cache-Control", "no-store", "Surrogate-Control", "max-age=30"}, []step{
			{0, nil, "v1", false}, {0, nil, "v2", false}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			runSteps(t, newFixture(t, tt.cfg, headers(tt.origin...)), tt.steps)
		})
	}
}

// TestSurrogateCapabilityAnnounced: requests the cache forwards say which
// surrogate it is, so that an origin can address directives to it.
func TestSurrogateCapabilityAnnounced(t *testing.T) {
	for _, tt := range []struct {
		cfg  Config
		want string
	}{
		{Config{}, `gatekit="Surrogate/1.0"`},
		{Config{Name: "edge1"}, `edge1="Surrogate/1.0"`},
		{Config{IgnoreSurrogateControl: true}, ""},
	} {
		f := newFixture(t, tt.cfg, headers("Cache-Control", "max-age=60"))
		f.get("http://example.com/")
		if got := f.o.last.Load().Header.Get("Surrogate-Capability"); got != tt.want {
			t.Errorf("%+v: Surrogate-Capability %q, want %q", tt.cfg, got, tt.want)
		}
	}
}
