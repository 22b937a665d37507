package cache

import (
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
)

// TestOuterHeadersKept: header fields an outer middleware set before the
// cache (a CORS layer's Vary: Origin, a session cookie) survive on misses,
// hits and passes: list fields are merged, not replaced.
func TestOuterHeadersKept(t *testing.T) {
	f := newFixture(t, Config{}, func(w http.ResponseWriter, r *http.Request, n int64) {
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Add("Vary", "Accept-Encoding")
		if r.URL.Path == "/login" {
			w.Header().Add("Vary", "Origin") // already set by the outer layer: not repeated
			w.Header().Set("Set-Cookie", "sid=1")
		}
		io.WriteString(w, "x")
	})
	outer := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Add("Vary", "Origin")
		w.Header().Add("Set-Cookie", "outer=1")
		w.Header().Set("Access-Control-Allow-Origin", "*")
		f.h.ServeHTTP(w, r)
	})
	for i, tc := range []struct {
		path    string
		vary    []string
		cookies []string
	}{
		{"/", []string{"Origin", "Accept-Encoding"}, []string{"outer=1"}},               // miss, stored
		{"/", []string{"Origin", "Accept-Encoding"}, []string{"outer=1"}},               // hit
		{"/login", []string{"Origin", "Accept-Encoding"}, []string{"outer=1", "sid=1"}}, // not stored
	} {
		rec := httptest.NewRecorder()
		outer.ServeHTTP(rec, httptest.NewRequest("GET", "http://example.com"+tc.path, nil))
		h := rec.Header()
		if !slices.Equal(h.Values("Vary"), tc.vary) || !slices.Equal(h.Values("Set-Cookie"), tc.cookies) || h.Get("Access-Control-Allow-Origin") != "*" {
			t.Errorf("request %d %s (%s): Vary %q Set-Cookie %q ACAO %q, want Vary %q Set-Cookie %q ACAO *",
				i, tc.path, ourStatus(h), h.Values("Vary"), h.Values("Set-Cookie"), h.Get("Access-Control-Allow-Origin"), tc.vary, tc.cookies)
		}
	}
}
