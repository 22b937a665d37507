package cache

import (
	"testing"
	"time"
)

// TestSetCookieResponsesNeverStoredUnlessInsecure: a response setting a
// cookie is not stored by default, is stored without the cookie when a
// directive excludes the field, and is stored whole only when
// InsecureStoreSetCookie says so.
func TestSetCookieResponsesNeverStoredUnlessInsecure(t *testing.T) {
	tests := []struct {
		name   string
		cfg    Config
		origin []string
		steps  []step
		cookie string // Set-Cookie on the stored copy served second
	}{
		{"default", Config{}, []string{"Cache-Control", "max-age=60", "Set-Cookie", "sid=1"}, []step{
			{0, nil, "v1", false}, {0, nil, "v2", false}}, "sid=1"},
		{"field excluded", Config{}, []string{"Cache-Control", `max-age=60, no-cache="set-cookie"`, "Set-Cookie", "sid=1"}, []step{
			{0, nil, "v1", false}, {time.Second, nil, "v1", true}}, ""},
		{"insecure", Config{InsecureStoreSetCookie: true}, []string{"Cache-Control", "max-age=60", "Set-Cookie", "sid=1"}, []step{
			{0, nil, "v1", false}, {time.Second, nil, "v1", true}}, "sid=1"},
		{"insecure, operator freshness still never", Config{InsecureStoreSetCookie: true, Freshness: map[int]time.Duration{200: time.Minute}},
			[]string{"Set-Cookie", "sid=1"}, []step{{0, nil, "v1", false}, {0, nil, "v2", false}}, "sid=1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.cfg, headers(tt.origin...))
			runSteps(t, f, tt.steps)
			if got := f.do("GET", "http://example.com/").Header().Get("Set-Cookie"); got != tt.cookie {
				t.Fatalf("Set-Cookie %q, want %q", got, tt.cookie)
			}
		})
	}
}
