package cache

import (
	"io"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// privateOn304 is an origin whose first response is shareable with a
// validator and whose 304s turn the response private and per-user.
func privateOn304(cc304 string, hdr304 ...string) func(w http.ResponseWriter, r *http.Request, n int64) {
	return func(w http.ResponseWriter, r *http.Request, n int64) {
		user := r.Header.Get("X-Client")
		if r.Header.Get("If-None-Match") == `"a"` {
			w.Header().Set("Cache-Control", cc304)
			w.Header().Set("X-User", user)
			for i := 0; i+1 < len(hdr304); i += 2 {
				w.Header().Add(hdr304[i], hdr304[i+1])
			}
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("Cache-Control", "max-age=1")
		w.Header().Set("ETag", `"a"`)
		io.WriteString(w, "page for "+user)
	}
}

// TestRevalidation304NotShareable: a 304 whose merged header may not be
// stored (private, Set-Cookie, ...) answers only the client that caused it;
// the entry is purged and the next client goes upstream itself.
func TestRevalidation304NotShareable(t *testing.T) {
	for _, tc := range []struct {
		name, cc304, detail string
		hdr304              []string
	}{
		{"private", "private, max-age=600", "detail=private", nil},
		{"no-store", "no-store, max-age=600", "detail=no-store", nil},
		{"set-cookie", "max-age=600", "detail=set-cookie", []string{"Set-Cookie", "sid=alice"}},
		{"vary-star", "max-age=600", "detail=vary-star", []string{"Vary", "*"}},
		{"shareable", "max-age=600", "", nil}, // control: refreshed and shared
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, Config{}, privateOn304(tc.cc304, tc.hdr304...))
			f.do("GET", "http://example.com/", "X-Client", "anon")
			f.clk.Add(5 * time.Second)
			rec := f.do("GET", "http://example.com/", "X-Client", "alice")
			if rec.Code != 200 || rec.Body.String() != "page for anon" || rec.Header().Get("X-User") != "alice" {
				t.Fatalf("alice: %d %q X-User %q", rec.Code, rec.Body, rec.Header().Get("X-User"))
			}
			if tc.name == "set-cookie" && rec.Header().Get("Set-Cookie") != "sid=alice" {
				t.Fatalf("alice: Set-Cookie %q, want her own cookie", rec.Header().Get("Set-Cookie"))
			}
			if st := ourStatus(rec.Header()); !strings.Contains(st, "fwd-status=304") || (tc.detail != "" && !strings.Contains(st, tc.detail)) {
				t.Fatalf("alice: Cache-Status %q, want fwd-status=304 and %q", st, tc.detail)
			}
			rec = f.do("GET", "http://example.com/", "X-Client", "bob")
			if tc.detail == "" {
				if !isHit(ourStatus(rec.Header())) {
					t.Fatalf("control: bob %q, want a hit of the refreshed entry", ourStatus(rec.Header()))
				}
				return
			}
			if got := rec.Header().Get("X-User"); got == "alice" || isHit(ourStatus(rec.Header())) {
				t.Fatalf("bob got alice's 304 header: X-User %q, Cache-Status %q", got, ourStatus(rec.Header()))
			}
			if rec.Body.String() != "page for bob" {
				t.Fatalf("bob: body %q, want his own full response after the purge", rec.Body)
			}
		})
	}
}

// TestRevalidation304PrivateUnderCoalescing checks the Cache-Status of the client
// whose revalidation came back private, and that waiters coalesced on that
// revalidation are not handed the merged response.
func TestRevalidation304PrivateUnderCoalescing(t *testing.T) {
	release := make(chan struct{})
	f := newFixture(t, Config{}, func(w http.ResponseWriter, r *http.Request, n int64) {
		if n == 2 {
			<-release
		}
		privateOn304("private, max-age=600")(w, r, n)
	})
	f.do("GET", "http://example.com/", "X-Client", "anon")
	f.clk.Add(5 * time.Second)
	waiting := make(chan struct{}, 1)
	f.c.waitHook = func() { waiting <- struct{}{} }
	done := make(chan string)
	go func() {
		rec := f.do("GET", "http://example.com/", "X-Client", "alice")
		done <- ourStatus(rec.Header()) + "|" + rec.Header().Get("X-User")
	}()
	for f.o.n.Load() < 2 {
		runtime.Gosched() // until alice's revalidation is upstream
	}
	var bob string
	var wg sync.WaitGroup
	wg.Go(func() {
		rec := f.do("GET", "http://example.com/", "X-Client", "bob")
		bob = rec.Header().Get("X-User") + "|" + rec.Body.String() + "|" + ourStatus(rec.Header())
	})
	<-waiting
	close(release)
	wg.Wait()
	if a := <-done; a != "gatekit; fwd=stale; fwd-status=304; detail=private; ttl=600|alice" {
		t.Fatalf("alice: %q", a)
	}
	if strings.HasPrefix(bob, "alice|") || strings.Contains(bob, "collapsed") {
		t.Fatalf("bob received alice's revalidated response: %q", bob)
	}
}

// TestNoStoreRequestDoesNotRefresh: a request with no-store that
// revalidates a stale entry gets the answer but leaves the entry as it was.
func TestNoStoreRequestDoesNotRefresh(t *testing.T) {
	f := newFixture(t, Config{}, privateOn304("max-age=600"))
	f.do("GET", "http://example.com/", "X-Client", "anon")
	f.clk.Add(5 * time.Second)
	rec := f.do("GET", "http://example.com/", "X-Client", "alice", "Cache-Control", "no-store")
	if rec.Code != 200 || rec.Body.String() != "page for anon" {
		t.Fatalf("no-store client: %d %q", rec.Code, rec.Body)
	}
	if st := ourStatus(rec.Header()); !strings.Contains(st, "detail=request-no-store") {
		t.Fatalf("no-store client: Cache-Status %q", st)
	}
	e, ok := f.c.Get(t.Context(), "GET http://example.com/")
	if !ok || e.Variants[0].Header.Get("X-User") != "" || e.Variants[0].Lifetime != time.Second {
		t.Fatalf("entry after a no-store revalidation: %v %+v, want the old one unchanged", ok, e)
	}
}
