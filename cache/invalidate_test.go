package cache

import (
	"io"
	"net/http"
	"testing"
	"time"
)

func TestInvalidation(t *testing.T) {
	f := newFixture(t, Config{}, func(w http.ResponseWriter, r *http.Request, n int64) {
		switch r.Method {
		case "GET":
			w.Header().Set("Cache-Control", "max-age=600")
		case "POST":
			w.Header().Set("Location", r.URL.Query().Get("loc"))
			w.Header().Set("Content-Location", "/cl")
			w.WriteHeader(http.StatusCreated)
		case "PUT":
			w.WriteHeader(http.StatusInternalServerError)
		}
		io.WriteString(w, "v"+itoa(time.Duration(n)*time.Second))
	})
	urls := []string{"http://example.com/a", "http://example.com/b", "http://example.com/cl", "http://other.com/b"}
	fill := func() {
		for _, u := range urls {
			f.do("GET", u)
		}
	}
	hits := func() (out []bool) {
		for _, u := range urls {
			_, s := f.get(u)
			out = append(out, isHit(s))
		}
		return out
	}
	fill()
	f.do("PUT", "http://example.com/a")
	if got := hits(); !got[0] || !got[1] || !got[2] || !got[3] {
		t.Fatalf("after failed PUT: hits %v, want all", got)
	}
	f.do("POST", "http://example.com/a?loc=http://EXAMPLE.com:80/b")
	if got := hits(); !got[0] || got[1] || got[2] || !got[3] {
		t.Fatalf("after POST: hits %v, want /a kept (different query), /b and /cl invalidated, other.com kept", got)
	}
	f.do("DELETE", "http://example.com/a")
	f.do("POST", "http://example.com/x?loc=http://other.com/b")
	if got := hits(); got[0] || !got[3] {
		t.Fatalf("after DELETE and cross-origin Location: hits %v, want /a invalidated, other.com kept", got)
	}
}
