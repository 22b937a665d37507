package cache

import (
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatekit/gatekit/internal/header"
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
		if body != "v1" || status != "gatekit; hit; detail=stale; ttl=-5" {
			close(release)
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

// TestBackgroundRevalidationsBounded: beyond Config.MaxRevalidations concurrent
// background refreshes, a stale-while-revalidate hit is served without
// starting another.
func TestBackgroundRevalidationsBounded(t *testing.T) {
	release := make(chan struct{})
	f := newFixture(t, Config{MaxRevalidations: 2}, func(w http.ResponseWriter, r *http.Request, n int64) {
		if n > 3 {
			<-release
		}
		w.Header().Set("Cache-Control", "max-age=1, stale-while-revalidate=60")
		io.WriteString(w, "v")
	})
	paths := []string{"/a", "/b", "/c"}
	for _, p := range paths {
		f.get("http://example.com" + p)
	}
	f.clk.Add(5 * time.Second)
	for _, p := range paths {
		if _, status := f.get("http://example.com" + p); !isHit(status) {
			t.Fatalf("%s: %q, want a stale hit", p, status)
		}
	}
	close(release)
	f.c.Wait()
	if n := f.o.n.Load(); n != 5 {
		t.Fatalf("origin saw %d requests, want 3 fills + 2 background refreshes", n)
	}
	if got := f.c.Stats().Revalidations; got != 0 {
		t.Fatalf("Revalidations %d, want 0 (no validators)", got)
	}
}

// TestSWRHonoursRequestFreshness: a request asking for a fresher response
// (max-age, min-fresh) is not served stale-while-revalidate; it waits for
// the origin.
func TestSWRHonoursRequestFreshness(t *testing.T) {
	for _, cc := range []string{"max-age=20", "min-fresh=1", ""} {
		f := newFixture(t, Config{}, headers("Cache-Control", "max-age=10, stale-while-revalidate=60"))
		f.get("http://example.com/")
		f.clk.Add(15 * time.Second)
		body, status := f.get("http://example.com/", "Cache-Control", cc)
		f.c.Wait()
		want := "v2"
		if cc == "" {
			want = "v1" // control: served stale, refreshed in the background
		}
		if body != want || isHit(status) != (cc == "") {
			t.Errorf("Cache-Control %q: %q %q, want %s", cc, body, status, want)
		}
		if strings.Contains(status, "hit") && cc != "" {
			t.Errorf("Cache-Control %q served stale", cc)
		}
	}
}

// TestBackgroundRefreshIsAnonymousGET: a stale-while-revalidate hit from a
// HEAD request refreshes the entry with a GET, and no refresh carries the
// triggering client's credentials, cookies, conditions or range.
func TestBackgroundRefreshIsAnonymousGET(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	f := newFixture(t, Config{}, func(w http.ResponseWriter, r *http.Request, n int64) {
		if n > 1 {
			mu.Lock()
			seen = append(seen, r.Method+" "+r.Header.Get("Cookie")+r.Header.Get("Authorization")+
				r.Header.Get("If-None-Match")+r.Header.Get("Range"))
			mu.Unlock()
		}
		w.Header().Set("Cache-Control", "public, max-age=10, stale-while-revalidate=60")
		io.WriteString(w, "v"+itoa(time.Duration(n)*time.Second))
	})
	f.get("http://example.com/")
	for i, hdr := range [][]string{
		{"Cookie", "sid=alice", "Authorization", "Bearer alice"},
		{"If-None-Match", `"zz"`, "Range", "bytes=0-0"},
	} {
		f.clk.Add(15 * time.Second)
		rec := f.do("HEAD", "http://example.com/", hdr...)
		if !isHit(ourStatus(rec.Header())) {
			t.Fatalf("HEAD %d in the SWR window: %q, want a stale hit", i, ourStatus(rec.Header()))
		}
		f.c.Wait()
		want := "v" + itoa(time.Duration(i+2)*time.Second)
		if body, status := f.get("http://example.com/"); body != want || !strings.HasPrefix(status, "gatekit; hit; ttl=") || strings.HasSuffix(status, "ttl=-5") {
			t.Fatalf("after the refresh %d: %q %q, want fresh %s", i, body, status, want)
		}
	}
	if len(seen) != 2 || seen[0] != "GET " || seen[1] != "GET " {
		t.Fatalf("background refreshes sent %q, want two plain GETs", seen)
	}
}

// benchWriter is a minimal reusable http.ResponseWriter.
type benchWriter struct {
	h    http.Header
	code int
	n    int
}

func (w *benchWriter) Header() http.Header { return w.h }

func (w *benchWriter) WriteHeader(code int) { w.code = code }

func (w *benchWriter) Write(p []byte) (int, error) { w.n += len(p); return len(p), nil }

func (w *benchWriter) reset() {
	clear(w.h)
	w.code, w.n = 0, 0
}

func benchHandler(b *testing.B, store Store, size int) http.Handler {
	c, err := New(store, Config{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = c.Close() })
	body := make([]byte, size)
	h := Middleware(c)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=3600")
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.Write(body)
	}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "http://example.com/item?id=1", nil))
	if rs, ok := store.(*RistrettoStore); ok {
		rs.Wait()
	}
	return h
}

// BenchmarkMiddlewareHit measures a whole cache hit through the
// middleware: key, lookup, freshness, header copy, Age, Cache-Status, body.
func BenchmarkMiddlewareHit(b *testing.B) {
	for _, size := range []int{128, 16 << 10} {
		for _, kind := range []string{"ristretto", "memory"} {
			b.Run(kind+"/"+strconv.Itoa(size), func(b *testing.B) {
				var store Store = NewMemoryStore(0, nil)
				if kind == "ristretto" {
					rs, err := NewRistrettoStore(64<<20, 0)
					if err != nil {
						b.Fatal(err)
					}
					store = rs
				}
				h := benchHandler(b, store, size)
				b.ReportAllocs()
				b.RunParallel(func(pb *testing.PB) {
					r := httptest.NewRequest("GET", "http://example.com/item?id=1", nil)
					r.Header.Set("User-Agent", "bench/1.0") // a client's usual fields
					r.Header.Set("Accept", "*/*")
					w := &benchWriter{h: make(http.Header)}
					for pb.Next() {
						w.reset()
						h.ServeHTTP(w, r)
						if w.code != 200 || w.n != size {
							b.Fatalf("got %d, %d bytes", w.code, w.n)
						}
					}
				})
			})
		}
	}
}

// BenchmarkMissAndStore measures a miss that stores: the origin is an
// in-process handler, so this is the cache's own overhead per fill.
func BenchmarkMissAndStore(b *testing.B) {
	c, err := New(NewMemoryStore(0, nil), Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	h := Middleware(c)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=3600")
		io.WriteString(w, "0123456789abcdef")
	}))
	w := &benchWriter{h: make(http.Header)}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		w.reset()
		r := httptest.NewRequest("GET", "http://example.com/item?id="+strconv.Itoa(i), nil)
		h.ServeHTTP(w, r)
	}
}

// TestStaleHitsSaySo: a stale response served (max-stale,
// stale-while-revalidate) carries detail=stale in its Cache-Status member,
// the place RFC 9211 gives what the obsolete Warning header said.
func TestStaleHitsSaySo(t *testing.T) {
	f := newFixture(t, Config{}, headers("Cache-Control", "max-age=10, stale-while-revalidate=30"))
	f.get("http://example.com/")
	if _, st := f.get("http://example.com/"); strings.Contains(st, "stale") {
		t.Fatalf("fresh hit %q says stale", st)
	}
	f.clk.Add(20 * time.Second)
	if _, st := f.get("http://example.com/", "Cache-Control", "max-stale=60"); !isHit(st) || !strings.Contains(st, "detail=stale") {
		t.Fatalf("max-stale hit %q", st)
	}
	if _, st := f.get("http://example.com/"); !isHit(st) || !strings.Contains(st, "detail=stale") {
		t.Fatalf("stale-while-revalidate hit %q", st)
	}
	f.c.Wait()
}

// preparedRecorder is a ResponseRecorder that takes prepared heads as the
// Server's own loop does (header.PreparedWriter): it counts them and puts
// what their lines say (not their Header) into its map, so that a test
// sees what a client would.
type preparedRecorder struct {
	*httptest.ResponseRecorder
	prepared int
}

func (r *preparedRecorder) WritePrepared(code int, p *header.Prepared, extra [2]string, body []byte) (int, bool) {
	r.prepared++
	h := r.Header()
	for _, line := range strings.SplitAfter(string(p.Lines)+extra[0]+extra[1], "\r\n") {
		if k, v, ok := strings.Cut(strings.TrimSuffix(line, "\r\n"), ": "); ok {
			h[k] = append(h[k], v)
		}
	}
	if p.Length >= 0 {
		h["Content-Length"] = []string{strconv.FormatInt(p.Length, 10)}
	}
	r.WriteHeader(code)
	n, _ := r.Write(body)
	return n, true
}

// TestHitsThroughAPreparedWriter: a fresh GET hit through a writer that
// takes prepared heads is written prepared, and reads as the same hit
// through any writer; what needs the header merged or changed (a field
// the outer handler set that the stored response has too, a matching
// condition, a range, HEAD, a stale hit) goes through the header map.
func TestHitsThroughAPreparedWriter(t *testing.T) {
	for _, tc := range []struct {
		name     string
		method   string
		req      []string // request header pairs
		preset   []string // fields the outer handler set before the cache
		maxStale bool
		prepared int
	}{
		{name: "fresh hit", method: "GET", prepared: 1},
		{name: "outer field of its own", method: "GET", preset: []string{"X-Outer", "1"}, prepared: 1},
		{name: "outer Vary", method: "GET", preset: []string{"Vary", "Origin"}},
		{name: "outer Cache-Status", method: "GET", preset: []string{"Cache-Status", "outer; fwd=miss"}},
		{name: "outer Age", method: "GET", preset: []string{"Age", "1"}},
		{name: "matching If-None-Match", method: "GET", req: []string{"If-None-Match", `"e1"`}},
		{name: "non-matching If-None-Match", method: "GET", req: []string{"If-None-Match", `"other"`}, prepared: 1},
		{name: "range", method: "GET", req: []string{"Range", "bytes=0-0"}},
		{name: "HEAD", method: "HEAD"},
		{name: "stale", method: "GET", req: []string{"Cache-Control", "max-stale=3600"}, maxStale: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, Config{Name: "edge"}, headers("Cache-Control", "max-age=60", "Etag", `"e1"`, "Vary", "Accept-Encoding", "Content-Length", "2"))
			f.get("http://example.com/")
			if tc.maxStale {
				f.clk.Add(2 * time.Minute)
			}
			serve := func(w http.ResponseWriter) {
				r := httptest.NewRequest(tc.method, "http://example.com/", nil)
				for i := 0; i+1 < len(tc.req); i += 2 {
					r.Header.Add(tc.req[i], tc.req[i+1])
				}
				for i := 0; i+1 < len(tc.preset); i += 2 {
					w.Header().Add(tc.preset[i], tc.preset[i+1])
				}
				f.h.ServeHTTP(w, r)
			}
			plain := httptest.NewRecorder()
			serve(plain)
			pr := &preparedRecorder{ResponseRecorder: httptest.NewRecorder()}
			serve(pr)
			if pr.prepared != tc.prepared {
				t.Errorf("written prepared %d times, want %d", pr.prepared, tc.prepared)
			}
			if !strings.Contains(ourStatus(plain.Header()), "hit") {
				t.Fatalf("Cache-Status %q: not a hit", ourStatus(plain.Header()))
			}
			if pr.Code != plain.Code || pr.Body.String() != plain.Body.String() || !reflect.DeepEqual(pr.Header(), plain.Header()) {
				t.Errorf("through a prepared writer: %d %v %q\nthrough a plain one: %d %v %q", pr.Code, pr.Header(), pr.Body, plain.Code, plain.Header(), plain.Body)
			}
		})
	}
}

// TestRevalidatedHitIsNotWrittenFromTheOldPreparedHead: a stored response
// revalidated with a 304 that changes a field is stored anew; its hits
// carry the new field, not the head prepared for the old one.
func TestRevalidatedHitIsNotWrittenFromTheOldPreparedHead(t *testing.T) {
	f := newFixture(t, Config{}, func(w http.ResponseWriter, r *http.Request, n int64) {
		w.Header().Set("Cache-Control", "max-age=1")
		w.Header().Set("Etag", `"e1"`)
		w.Header().Set("X-Version", strconv.FormatInt(n, 10))
		if r.Header.Get("If-None-Match") == `"e1"` {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		io.WriteString(w, "body")
	})
	hit := func() http.Header {
		t.Helper()
		pr := &preparedRecorder{ResponseRecorder: httptest.NewRecorder()}
		f.h.ServeHTTP(pr, httptest.NewRequest("GET", "http://example.com/", nil))
		if pr.prepared != 1 || pr.Body.String() != "body" {
			t.Fatalf("prepared %d, body %q, status %q: want a prepared hit", pr.prepared, pr.Body, ourStatus(pr.Header()))
		}
		return pr.Header()
	}
	f.get("http://example.com/")
	if v := hit().Get("X-Version"); v != "1" {
		t.Fatalf("first hit: X-Version %q, want 1", v)
	}
	f.clk.Add(2 * time.Second)
	if _, status := f.get("http://example.com/"); !strings.Contains(status, "fwd=stale") {
		t.Fatalf("after expiry: %q, want a revalidation", status)
	}
	if v := hit().Get("X-Version"); v != "2" {
		t.Errorf("hit after the 304: X-Version %q, want 2 (from the 304)", v)
	}
}
