package cache

import (
	"io"
	"net/http"
	"testing"
	"time"
)

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
		{"age with parameters: its number counts", []string{"Cache-Control", "max-age=60", "Age", "55;x=1"}, []step{
			{0, nil, "v1", false}, {4 * time.Second, nil, "v1", true}, {time.Second, nil, "v2", false}}},
		{"non-numeric age is ignored", []string{"Cache-Control", "max-age=60", "Age", "abc"}, []step{
			{0, nil, "v1", false}, {59 * time.Second, nil, "v1", true}}},
		{"negative age is ignored", []string{"Cache-Control", "max-age=60", "Age", "-7200"}, []step{
			{0, nil, "v1", false}, {59 * time.Second, nil, "v1", true}}},
		{"fractional age is ignored", []string{"Cache-Control", "max-age=60", "Age", "7200.0"}, []step{
			{0, nil, "v1", false}, {59 * time.Second, nil, "v1", true}}},
		{"first age in a list counts", []string{"Cache-Control", "max-age=60", "Age", "0, 7200"}, []step{
			{0, nil, "v1", false}, {59 * time.Second, nil, "v1", true}}},
		{"first age in a list counts when old", []string{"Cache-Control", "max-age=60", "Age", "7200, 0"}, []step{
			{0, nil, "v1", false}, {0, nil, "v2", false}}},
		{"first age line counts", []string{"Cache-Control", "max-age=60", "Age", "0", "Age", "7200"}, []step{
			{0, nil, "v1", false}, {59 * time.Second, nil, "v1", true}}},
		{"first age line counts when old", []string{"Cache-Control", "max-age=60", "Age", "7200", "Age", "0"}, []step{
			{0, nil, "v1", false}, {0, nil, "v2", false}}},
		{"duplicate ages", []string{"Cache-Control", "max-age=60", "Age", "0, 0", "Age", "30"}, []step{
			{0, nil, "v1", false}, {59 * time.Second, nil, "v1", true}}},
		{"expires with doubled spaces is invalid", []string{"Expires", "Thu, 18  Aug  2050 02:01:18 GMT"}, []step{
			{0, nil, "v1", false}, {0, nil, "v2", false}}},
		{"expires with a one-digit hour is invalid", []string{"Expires", "Thu, 18 Aug 2050 2:01:18 GMT"}, []step{
			{0, nil, "v1", false}, {0, nil, "v2", false}}},
		{"expires on two lines is invalid", []string{"Expires", "Thu, 18 Aug 2050 02:01:18 GMT", "Expires", "Thu, 18 Aug 2050 02:01:18 GMT"}, []step{
			{0, nil, "v1", false}, {0, nil, "v2", false}}},
		{"expires in rfc 850 form", []string{"Expires", "Thursday, 18-Aug-50 02:01:18 GMT"}, []step{
			{0, nil, "v1", false}, {time.Hour, nil, "v1", true}}},
		{"expires in asctime form", []string{"Expires", "Thu Aug 18 02:01:18 2050"}, []step{
			{0, nil, "v1", false}, {time.Hour, nil, "v1", true}}},
		{"expires with a lowercase zone", []string{"Expires", "Thu, 18 Aug 2050 02:01:18 gmt"}, []step{
			{0, nil, "v1", false}, {time.Hour, nil, "v1", true}}},
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

// TestUpdateFrom304 checks which fields a 304 replaces (RFC 9111 §3.2):
// not those describing the stored body. (A 304 with Set-Cookie is not
// shareable at all: TestRevalidation304NotShareable.)
func TestUpdateFrom304(t *testing.T) {
	f := newFixture(t, Config{}, func(w http.ResponseWriter, r *http.Request, n int64) {
		h := w.Header()
		h.Set("Cache-Control", "max-age=10")
		if r.Header.Get("If-None-Match") == `"a"` {
			h.Set("ETag", `"b"`)
			h.Set("Content-Type", "text/plain;charset=utf-8")
			h.Set("Content-MD5", "new")
			h.Set("X-Frame-Options", "sameorigin")
			w.WriteHeader(http.StatusNotModified)
			return
		}
		h.Set("ETag", `"a"`)
		h.Set("Content-Type", "text/plain")
		h.Set("Content-MD5", "old")
		h.Set("X-Frame-Options", "deny")
		io.WriteString(w, "body")
	})
	f.do("GET", "http://example.com/")
	f.clk.Add(11 * time.Second)
	f.do("GET", "http://example.com/")
	rec := f.do("GET", "http://example.com/")
	h := rec.Header()
	if !isHit(ourStatus(h)) || h.Get("ETag") != `"a"` || h.Get("Content-MD5") != "old" ||
		h.Get("Content-Type") != "text/plain;charset=utf-8" || h.Get("X-Frame-Options") != "sameorigin" {
		t.Fatalf("after 304 update: %q %v", ourStatus(h), h)
	}
}

// withStatus returns an origin like headers(kv...) answering with status.
func withStatus(status int, kv ...string) func(w http.ResponseWriter, r *http.Request, n int64) {
	return func(w http.ResponseWriter, r *http.Request, n int64) {
		for i := 0; i+1 < len(kv); i += 2 {
			w.Header().Add(kv[i], kv[i+1])
		}
		w.Header().Set("Date", t0.Format(http.TimeFormat))
		w.WriteHeader(status)
		io.WriteString(w, "v"+itoa(time.Duration(n)*time.Second))
	}
}

// TestOperatorFreshness: Config.Freshness makes responses without
// freshness information of their own fresh for the configured time, never
// overrides the response's own, and never applies to responses that are
// private by rule.
func TestOperatorFreshness(t *testing.T) {
	per := map[int]time.Duration{200: time.Minute, 404: 10 * time.Second}
	lm := t0.Add(-100 * time.Hour).Format(http.TimeFormat)
	tests := []struct {
		name   string
		cfg    Config
		origin func(w http.ResponseWriter, r *http.Request, n int64)
		steps  []step
	}{
		{"applies without freshness information", Config{Freshness: per}, withStatus(200), []step{
			{0, nil, "v1", false}, {59 * time.Second, nil, "v1", true}, {time.Second, nil, "v2", false}}},
		{"replaces the heuristic", Config{Freshness: per}, withStatus(200, "Last-Modified", lm), []step{
			{0, nil, "v1", false}, {59 * time.Second, nil, "v1", true}, {time.Second, nil, "v2", false}}},
		{"not without it", Config{}, withStatus(200), []step{
			{0, nil, "v1", false}, {0, nil, "v2", false}}},
		{"not for other statuses", Config{Freshness: per}, withStatus(500), []step{
			{0, nil, "v1", false}, {0, nil, "v2", false}}},
		{"the response's max-age wins", Config{Freshness: per}, withStatus(200, "Cache-Control", "max-age=5"), []step{
			{0, nil, "v1", false}, {5 * time.Second, nil, "v2", false}}},
		{"the response's expires wins", Config{Freshness: per}, withStatus(200, "Expires", t0.Add(5*time.Second).Format(http.TimeFormat)), []step{
			{0, nil, "v1", false}, {5 * time.Second, nil, "v2", false}}},
		{"never with set-cookie", Config{Freshness: per}, withStatus(200, "Set-Cookie", "a=1", "Cache-Control", `no-cache="set-cookie"`), []step{
			{0, nil, "v1", false}, {0, nil, "v2", false}}},
		{"never when private", Config{Freshness: per}, withStatus(200, "Cache-Control", "private"), []step{
			{0, nil, "v1", false}, {0, nil, "v2", false}}},
		{"never for authorization", Config{Freshness: per}, withStatus(200, "Cache-Control", "must-revalidate"), []step{
			{0, []string{"Authorization", "Basic YTpi"}, "v1", false}, {0, []string{"Authorization", "Basic YTpi"}, "v2", false}}},
		{"never for cookies", Config{Freshness: per}, withStatus(200), []step{
			{0, []string{"Cookie", "a=1"}, "v1", false}, {0, []string{"Cookie", "a=1"}, "v2", false}}},
		{"for cookies when asked", Config{Freshness: per, StoreCookieRequests: true}, withStatus(200), []step{
			{0, []string{"Cookie", "a=1"}, "v1", false}, {0, []string{"Cookie", "a=1"}, "v1", true}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			runSteps(t, newFixture(t, tt.cfg, tt.origin), tt.steps)
		})
	}
}

// TestNegativeResponses: a stored 404 is served like any other response
// while fresh; Freshness sets its lifetime when it has none, and
// NegativeFreshness caps it or stops 404 and 410 being stored.
func TestNegativeResponses(t *testing.T) {
	tests := []struct {
		name   string
		cfg    Config
		origin func(w http.ResponseWriter, r *http.Request, n int64)
		steps  []step
	}{
		{"stored by its own max-age", Config{}, withStatus(404, "Cache-Control", "max-age=3600"), []step{
			{0, nil, "v1", false}, {time.Hour - time.Second, nil, "v1", true}}},
		{"capped", Config{NegativeFreshness: 30 * time.Second}, withStatus(404, "Cache-Control", "max-age=3600"), []step{
			{0, nil, "v1", false}, {29 * time.Second, nil, "v1", true}, {time.Second, nil, "v2", false}}},
		{"gone capped too", Config{NegativeFreshness: 30 * time.Second}, withStatus(410, "Cache-Control", "max-age=3600"), []step{
			{0, nil, "v1", false}, {30 * time.Second, nil, "v2", false}}},
		{"operator freshness", Config{Freshness: map[int]time.Duration{404: 10 * time.Second}}, withStatus(404), []step{
			{0, nil, "v1", false}, {9 * time.Second, nil, "v1", true}, {time.Second, nil, "v2", false}}},
		{"never stored", Config{NegativeFreshness: -1}, withStatus(404, "Cache-Control", "max-age=3600"), []step{
			{0, nil, "v1", false}, {0, nil, "v2", false}}},
		{"the cap leaves other statuses be", Config{NegativeFreshness: time.Second}, withStatus(200, "Cache-Control", "max-age=3600"), []step{
			{0, nil, "v1", false}, {time.Minute, nil, "v1", true}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			runSteps(t, newFixture(t, tt.cfg, tt.origin), tt.steps)
		})
	}
}
