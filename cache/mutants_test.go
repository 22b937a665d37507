package cache

import (
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestVaryUnderCoalescing is S10 for Vary: a request waiting on a flight
// whose response varies on a header the waiter sent differently must not
// be handed that response; it goes upstream for its own variant.
func TestVaryUnderCoalescing(t *testing.T) {
	release := make(chan struct{})
	f := newFixture(t, Config{}, func(w http.ResponseWriter, r *http.Request, n int64) {
		if n == 1 {
			<-release
		}
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("Vary", "Accept-Language")
		io.WriteString(w, "lang="+r.Header.Get("Accept-Language"))
	})
	waiting := make(chan struct{}, 2)
	f.c.waitHook = func() { waiting <- struct{}{} }
	var en, fr, en2 string
	var wg sync.WaitGroup
	wg.Go(func() { en, _ = f.get("http://example.com/", "Accept-Language", "en") })
	for f.o.n.Load() == 0 {
		runtime.Gosched() // until the leader is upstream
	}
	wg.Go(func() { fr, _ = f.get("http://example.com/", "Accept-Language", "fr") })
	wg.Go(func() { en2, _ = f.get("http://example.com/", "Accept-Language", "en") })
	<-waiting
	<-waiting
	close(release)
	wg.Wait()
	if en != "lang=en" || en2 != "lang=en" || fr != "lang=fr" {
		t.Fatalf("en %q, second en %q, fr %q: a waiter got another variant", en, en2, fr)
	}
	if n := f.o.n.Load(); n != 2 {
		t.Fatalf("origin saw %d requests, want 2 (the matching waiter coalesced)", n)
	}
}

// TestMaxVariants: at most maxVariants variants are kept per key, the
// oldest dropped first.
func TestMaxVariants(t *testing.T) {
	f := newFixture(t, Config{}, func(w http.ResponseWriter, r *http.Request, n int64) {
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("Vary", "X-V")
		io.WriteString(w, r.Header.Get("X-V"))
	})
	const n = maxVariants + 4
	for i := range n {
		f.get("http://example.com/", "X-V", fmt.Sprint(i))
	}
	e, ok := f.c.Get(t.Context(), "GET http://example.com/")
	if !ok || len(e.Variants) != maxVariants {
		t.Fatalf("stored %d variants, want %d", len(e.Variants), maxVariants)
	}
	// Hits first: a miss stores its variant and evicts the oldest.
	for _, tc := range []struct {
		i   int
		hit bool
	}{{n - maxVariants, true}, {n - 1, true}, {n - maxVariants - 1, false}, {0, false}} {
		if _, status := f.get("http://example.com/", "X-V", fmt.Sprint(tc.i)); isHit(status) != tc.hit {
			t.Errorf("variant %d: %q, want hit %v", tc.i, status, tc.hit)
		}
	}
}

// TestMaxRevalidationsBound: beyond Config.MaxRevalidations concurrent
// background refreshes, a stale-while-revalidate hit is served without
// starting another.
func TestMaxRevalidationsBound(t *testing.T) {
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
