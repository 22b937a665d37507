package cache

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestVary(t *testing.T) {
	f := newFixture(t, Config{}, func(w http.ResponseWriter, r *http.Request, n int64) {
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("Vary", "accept-encoding, Accept-Language")
		io.WriteString(w, r.Header.Get("Accept-Encoding")+"|"+r.Header.Get("Accept-Language")+"|"+itoa(time.Duration(n)*time.Second))
	})
	steps := []struct {
		ae, al, want string
		hit          bool
	}{
		{"gzip", "en", "gzip|en|1", false},
		{"identity", "en", "identity|en|2", false},
		{"gzip", "fr", "gzip|fr|3", false},
		{"gzip", "en", "gzip|en|1", true},
		{"x-gzip", "en", "gzip|en|1", true},
		{"gzip;q=1.0 ", " en", "gzip|en|1", true},
		{"gzip, deflate, br", "en", "gzip, deflate, br|en|4", false},
		{"br;q=1, deflate,gzip", "en", "gzip, deflate, br|en|4", true},
		{"br, gzip;q=0, deflate", "en", "br, gzip;q=0, deflate|en|5", false},
		{"identity", "fr", "identity|fr|6", false},
		{"identity", "en", "identity|en|2", true},
		{"identity", "EN", "identity|en|2", true},
		{"identity", "fr, en", "identity|fr, en|7", false},
		{"identity", "en, fr", "identity|en, fr|8", false},
	}
	for i, s := range steps {
		body, status := f.get("http://example.com/", "Accept-Encoding", s.ae, "Accept-Language", s.al)
		if body != s.want || isHit(status) != s.hit {
			t.Fatalf("step %d (AE %q, AL %q): body %q status %q, want %q hit %v", i, s.ae, s.al, body, status, s.want, s.hit)
		}
	}
	e, _ := f.c.Get(t.Context(), "GET http://example.com/")
	if len(e.Variants) != 8 {
		t.Fatalf("stored %d variants, want 8", len(e.Variants))
	}
}

func TestConditional(t *testing.T) {
	lm := t0.Add(-time.Hour).Format(http.TimeFormat)
	var conds []string
	f := newFixture(t, Config{}, func(w http.ResponseWriter, r *http.Request, n int64) {
		conds = append(conds, r.Header.Get("If-None-Match")+"|"+r.Header.Get("If-Modified-Since"))
		w.Header().Set("Cache-Control", "max-age=10")
		w.Header().Set("ETag", `"a"`)
		w.Header().Set("Last-Modified", lm)
		w.Header().Set("X-Version", itoa(time.Duration(n)*time.Second))
		if r.Header.Get("If-None-Match") == `"a"` {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		io.WriteString(w, "body")
	})
	f.do("GET", "http://example.com/")
	for _, tc := range []struct {
		hdr  []string
		code int
	}{
		{[]string{"If-None-Match", `"a"`}, 304},
		{[]string{"If-None-Match", `W/"a", "b"`}, 304},
		{[]string{"If-None-Match", `"b"`}, 200},
		{[]string{"If-None-Match", "*"}, 304},
		{[]string{"If-Modified-Since", t0.Format(http.TimeFormat)}, 304},
		{[]string{"If-Modified-Since", t0.Add(-2 * time.Hour).Format(http.TimeFormat)}, 200},
		{[]string{"If-None-Match", `"b"`, "If-Modified-Since", t0.Format(http.TimeFormat)}, 200},
	} {
		rec := f.do("GET", "http://example.com/", tc.hdr...)
		if rec.Code != tc.code || !isHit(ourStatus(rec.Header())) {
			t.Errorf("%q: %d %q, want %d from cache", tc.hdr, rec.Code, ourStatus(rec.Header()), tc.code)
		}
		if tc.code == 304 && (rec.Body.Len() != 0 || rec.Header().Get("ETag") != `"a"`) {
			t.Errorf("%q: 304 with body %q, ETag %q", tc.hdr, rec.Body, rec.Header().Get("ETag"))
		}
	}
	if n := f.o.n.Load(); n != 1 {
		t.Fatalf("origin saw %d requests, want 1", n)
	}
	// Without Last-Modified, If-Modified-Since is compared with Date.
	g := newFixture(t, Config{}, headers("Cache-Control", "max-age=60"))
	g.do("GET", "http://example.com/")
	if rec := g.do("GET", "http://example.com/", "If-Modified-Since", t0.Format(http.TimeFormat)); rec.Code != 304 {
		t.Fatalf("If-Modified-Since >= Date: %d, want 304", rec.Code)
	}
	// Stale: revalidated with the stored validators; the 304 refreshes it.
	f.clk.Add(20 * time.Second)
	rec := f.do("GET", "http://example.com/")
	if rec.Code != 200 || rec.Body.String() != "body" || rec.Header().Get("X-Version") != "2" {
		t.Fatalf("revalidated: %d %q X-Version %q, want 200 body 2", rec.Code, rec.Body, rec.Header().Get("X-Version"))
	}
	if got := ourStatus(rec.Header()); got != "gatekit; fwd=stale; fwd-status=304; ttl=10" {
		t.Fatalf("revalidated: Cache-Status %q", got)
	}
	if want := `"a"|` + lm; conds[1] != want {
		t.Fatalf("conditional request sent %q, want %q", conds[1], want)
	}
	f.clk.Add(5 * time.Second)
	rec = f.do("GET", "http://example.com/")
	if !isHit(ourStatus(rec.Header())) || rec.Header().Get("X-Version") != "2" || rec.Header().Get("Age") != "5" {
		t.Fatalf("after refresh: %q X-Version %q Age %q", ourStatus(rec.Header()), rec.Header().Get("X-Version"), rec.Header().Get("Age"))
	}
	// A conditional client request on a stale entry gets 304 after revalidation.
	f.clk.Add(10 * time.Second)
	if rec := f.do("GET", "http://example.com/", "If-None-Match", `"a"`); rec.Code != 304 {
		t.Fatalf("conditional on stale: %d, want 304", rec.Code)
	}
}

func TestNoCacheResponseRevalidatesEveryTime(t *testing.T) {
	f := newFixture(t, Config{}, func(w http.ResponseWriter, r *http.Request, n int64) {
		w.Header().Set("Cache-Control", "no-cache, max-age=600")
		w.Header().Set("ETag", `"x"`)
		if r.Header.Get("If-None-Match") == `"x"` {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		io.WriteString(w, "full")
	})
	for i := range 3 {
		rec := f.do("GET", "http://example.com/")
		if rec.Body.String() != "full" || rec.Code != 200 {
			t.Fatalf("request %d: %d %q", i, rec.Code, rec.Body)
		}
	}
	if n := f.o.n.Load(); n != 3 {
		t.Fatalf("origin saw %d requests, want 3 (one per use)", n)
	}
}

func TestStaleWhileRevalidate(t *testing.T) {
	release := make(chan struct{})
	f := newFixture(t, Config{}, func(w http.ResponseWriter, r *http.Request, n int64) {
		if n > 1 {
			<-release
		}
		w.Header().Set("Cache-Control", "max-age=10, stale-while-revalidate=30")
		io.WriteString(w, "v"+itoa(time.Duration(n)*time.Second))
	})
	f.do("GET", "http://example.com/")
	f.clk.Add(15 * time.Second)
	for i := range 100 {
		body, status := f.get("http://example.com/")
		if body != "v1" || status != "gatekit; hit; ttl=-5" {
			t.Fatalf("request %d in SWR window: %q %q, want stale v1", i, body, status)
		}
	}
	close(release)
	f.c.Wait()
	if n := f.o.n.Load(); n != 2 {
		t.Fatalf("origin saw %d requests, want 2 (one background revalidation)", n)
	}
	if body, status := f.get("http://example.com/"); body != "v2" || !isHit(status) {
		t.Fatalf("after revalidation: %q %q, want fresh v2", body, status)
	}
	// Beyond the window the request waits for the origin.
	f.clk.Add(45 * time.Second)
	if body, _ := f.get("http://example.com/"); body != "v3" {
		t.Fatalf("beyond SWR: %q, want v3", body)
	}
}

func TestStaleIfError(t *testing.T) {
	tests := []struct {
		name, cc string
		cfg      Config
		advance  time.Duration
		wantBody string
		wantCode int
	}{
		{"within directive window", "max-age=10, stale-if-error=60", Config{}, 50 * time.Second, "good", 200},
		{"beyond directive window", "max-age=10, stale-if-error=60", Config{}, 80 * time.Second, "down", 503},
		{"config default", "max-age=10", Config{StaleIfError: 20 * time.Second}, 25 * time.Second, "good", 200},
		{"config default exceeded", "max-age=10", Config{StaleIfError: 20 * time.Second}, 31 * time.Second, "down", 503},
		{"disabled default", "max-age=10", Config{StaleIfError: -1}, 11 * time.Second, "down", 503},
		{"must-revalidate", "max-age=10, must-revalidate, stale-if-error=60", Config{}, 20 * time.Second, "down", 503},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, tc.cfg, func(w http.ResponseWriter, r *http.Request, n int64) {
				if n > 1 {
					http.Error(w, "down", http.StatusServiceUnavailable)
					return
				}
				w.Header().Set("Cache-Control", tc.cc)
				io.WriteString(w, "good")
			})
			f.do("GET", "http://example.com/")
			f.clk.Add(tc.advance)
			rec := f.do("GET", "http://example.com/")
			if got := strings.TrimSpace(rec.Body.String()); got != tc.wantBody || rec.Code != tc.wantCode {
				t.Fatalf("got %d %q (%q), want %d %q", rec.Code, got, ourStatus(rec.Header()), tc.wantCode, tc.wantBody)
			}
			if tc.wantCode == 200 && !strings.Contains(ourStatus(rec.Header()), "detail=stale-if-error") {
				t.Fatalf("Cache-Status %q, want detail=stale-if-error", ourStatus(rec.Header()))
			}
		})
	}
}

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

func TestHeadFromGet(t *testing.T) {
	f := newFixture(t, Config{}, headers("Cache-Control", "max-age=60", "X-A", "1"))
	f.do("GET", "http://example.com/")
	rec := f.do("HEAD", "http://example.com/")
	if rec.Code != 200 || rec.Body.Len() != 0 || !isHit(ourStatus(rec.Header())) {
		t.Fatalf("HEAD: %d body %q %q, want a 200 hit without body", rec.Code, rec.Body, ourStatus(rec.Header()))
	}
	if rec.Header().Get("X-A") != "1" {
		t.Fatalf("HEAD: X-A %q, want the stored 1", rec.Header().Get("X-A"))
	}
	if cl := rec.Header().Get("Content-Length"); cl != "2" {
		t.Fatalf("HEAD: Content-Length %q, want 2, the stored GET body's length", cl)
	}
	if f.o.n.Load() != 1 {
		t.Fatalf("origin saw %d requests, want 1", f.o.n.Load())
	}
	// HEAD misses are forwarded as HEAD and not stored.
	f.do("HEAD", "http://example.com/other")
	if last := f.o.last.Load(); last.Method != "HEAD" {
		t.Fatalf("forwarded %s, want HEAD", last.Method)
	}
}

func TestTargetedCacheControl(t *testing.T) {
	f := newFixture(t, Config{TargetedCacheControl: "CDN-Cache-Control"},
		headers("Cache-Control", "no-store", "CDN-Cache-Control", "max-age=30"))
	runSteps(t, f, []step{{0, nil, "v1", false}, {29 * time.Second, nil, "v1", true}, {time.Second, nil, "v2", false}})
	g := newFixture(t, Config{}, headers("Cache-Control", "no-store", "CDN-Cache-Control", "max-age=30"))
	runSteps(t, g, []step{{0, nil, "v1", false}, {0, nil, "v2", false}})
}

func TestBodyBypass(t *testing.T) {
	f := newFixture(t, Config{}, func(w http.ResponseWriter, r *http.Request, n int64) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("Cache-Control", "max-age=60")
		io.WriteString(w, "callback="+string(b))
	})
	f.get("http://example.com/js?callback=ok")
	r, _ := http.NewRequest("GET", "http://example.com/js?callback=ok", strings.NewReader("evil"))
	rec := newRecorder()
	f.h.ServeHTTP(rec, r)
	if ourStatus(rec.Header()) != "gatekit; fwd=bypass; detail=body" {
		t.Fatalf("GET with body: Cache-Status %q", ourStatus(rec.Header()))
	}
	if body, _ := f.get("http://example.com/js?callback=ok"); body != "callback=" {
		t.Fatalf("victim got %q, want the unpoisoned response", body)
	}
}

func TestCloseCancelsBackgroundRevalidation(t *testing.T) {
	started := make(chan struct{})
	f := newFixture(t, Config{}, func(w http.ResponseWriter, r *http.Request, n int64) {
		if n > 1 {
			close(started)
			<-r.Context().Done() // a hung origin: only Close ends it
			return
		}
		w.Header().Set("Cache-Control", "max-age=1, stale-while-revalidate=60")
		io.WriteString(w, "v1")
	})
	f.do("GET", "http://example.com/")
	f.clk.Add(2 * time.Second)
	if body, _ := f.get("http://example.com/"); body != "v1" {
		t.Fatalf("stale body %q", body)
	}
	<-started
	if err := f.c.Close(); err != nil {
		t.Fatal(err)
	}
	if got := f.c.Stats(); got.Stale != 1 || got.Revalidations != 0 || got.Misses != 2 {
		t.Fatalf("Stats = %+v", got)
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
