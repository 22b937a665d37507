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

// TestCoalescingNeverSharesPrivate: 50 concurrent
// identical requests whose responses carry a per-request Set-Cookie or are
// private; no two clients may receive the same cookie or body.
func TestCoalescingNeverSharesPrivate(t *testing.T) {
	for _, kind := range []string{"set-cookie", "private", "authorization"} {
		t.Run(kind, func(t *testing.T) {
			const n = 50
			release := make(chan struct{})
			f := newFixture(t, Config{}, func(w http.ResponseWriter, r *http.Request, i int64) {
				if i == 1 {
					<-release
				}
				switch kind {
				case "set-cookie":
					w.Header().Set("Cache-Control", "max-age=60")
					w.Header().Set("Set-Cookie", fmt.Sprintf("sid=%d", i))
				case "private":
					w.Header().Set("Cache-Control", "private, max-age=60")
				case "authorization":
					w.Header().Set("Cache-Control", "max-age=60")
				}
				fmt.Fprintf(w, "user%d", i)
			})
			waiting := make(chan struct{}, n)
			f.c.waitHook = func() { waiting <- struct{}{} }
			bodies := make(chan string, n)
			var wg sync.WaitGroup
			for range n {
				wg.Go(func() {
					rec := f.do("GET", "http://example.com/me", "Authorization", "Bearer token")
					bodies <- rec.Body.String() + "|" + rec.Header().Get("Set-Cookie")
				})
			}
			for range n - 1 {
				<-waiting
			}
			close(release)
			wg.Wait()
			close(bodies)
			seen := map[string]bool{}
			for b := range bodies {
				if seen[b] {
					t.Fatalf("two clients received %q", b)
				}
				seen[b] = true
			}
			if got := f.o.n.Load(); got != n {
				t.Fatalf("origin saw %d requests, want %d", got, n)
			}
		})
	}
}

// TestConcurrentMissesMakeOneUpstreamRequest: 200 concurrent clients on one
// expiring key make one upstream fetch per expiry.
func TestConcurrentMissesMakeOneUpstreamRequest(t *testing.T) {
	const clients = 200
	var gate chan struct{}
	f := newFixture(t, Config{}, func(w http.ResponseWriter, r *http.Request, n int64) {
		<-gate
		w.Header().Set("Cache-Control", "max-age=1")
		fmt.Fprintf(w, "v%d", n)
	})
	waiting := make(chan struct{}, clients)
	f.c.waitHook = func() { waiting <- struct{}{} }
	for expiry := 1; expiry <= 3; expiry++ {
		gate = make(chan struct{})
		var wg sync.WaitGroup
		bodies := make(chan string, clients)
		for range clients {
			wg.Go(func() {
				body, _ := f.get("http://example.com/hot")
				bodies <- body
			})
		}
		for range clients - 1 {
			<-waiting
		}
		close(gate)
		wg.Wait()
		close(bodies)
		want := fmt.Sprintf("v%d", expiry)
		for b := range bodies {
			if b != want {
				t.Fatalf("expiry %d: a client got %q, want %q", expiry, b, want)
			}
		}
		if got := f.o.n.Load(); got != int64(expiry) {
			t.Fatalf("after expiry %d: origin saw %d fetches, want %d", expiry, got, expiry)
		}
		f.clk.Add(2 * time.Second)
	}
}

func TestCoalescingWaitIsBounded(t *testing.T) {
	release := make(chan struct{})
	f := newFixture(t, Config{CoalesceTimeout: 20 * time.Millisecond}, func(w http.ResponseWriter, r *http.Request, n int64) {
		if n == 1 {
			<-release
		}
		w.Header().Set("Cache-Control", "max-age=60")
		fmt.Fprintf(w, "v%d", n)
	})
	waiting := make(chan struct{}, 1)
	f.c.waitHook = func() { waiting <- struct{}{} }
	done := make(chan string)
	go func() {
		body, _ := f.get("http://example.com/slow")
		done <- body
	}()
	for f.o.n.Load() == 0 {
		runtime.Gosched() // until the leader is upstream
	}
	body, status := f.get("http://example.com/slow")
	if body != "v2" || strings.Contains(status, "collapsed") {
		t.Fatalf("waiter after timeout got %q %q, want its own v2", body, status)
	}
	<-waiting
	close(release)
	if b := <-done; b != "v1" {
		t.Fatalf("leader got %q", b)
	}
}

// TestConcurrentMissesOnFailingOriginShareStale: as above, but the
// refresh fails; within stale-if-error every waiter gets the stale response
// from one upstream attempt, after it the error.
func TestConcurrentMissesOnFailingOriginShareStale(t *testing.T) {
	const clients = 50
	var gate chan struct{}
	f := newFixture(t, Config{}, func(w http.ResponseWriter, r *http.Request, n int64) {
		if n == 1 {
			w.Header().Set("Cache-Control", "max-age=1, stale-if-error=10")
			io.WriteString(w, "good")
			return
		}
		<-gate
		http.Error(w, "down", http.StatusServiceUnavailable)
	})
	f.get("http://example.com/hot")
	waiting := make(chan struct{}, clients)
	f.c.waitHook = func() { waiting <- struct{}{} }
	for _, tc := range []struct {
		advance time.Duration
		want    string
		fetches int64
	}{
		{5 * time.Second, "good", 2},
		{10 * time.Second, "down\n", 2 + clients},
	} {
		f.clk.Add(tc.advance)
		gate = make(chan struct{})
		var wg sync.WaitGroup
		bodies := make(chan string, clients)
		for range clients {
			wg.Go(func() {
				body, _ := f.get("http://example.com/hot")
				bodies <- body
			})
		}
		for range clients - 1 {
			<-waiting
		}
		close(gate)
		wg.Wait()
		close(bodies)
		for b := range bodies {
			if b != tc.want {
				t.Fatalf("t0+%v: a client got %q, want %q", f.clk.Now().Sub(t0), b, tc.want)
			}
		}
		if got := f.o.n.Load(); got != tc.fetches {
			t.Fatalf("t0+%v: origin saw %d requests, want %d", f.clk.Now().Sub(t0), got, tc.fetches)
		}
	}
}

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

// TestNoCacheRequestsCoalesce: coalescing holds under request no-cache: 100 concurrent
// clients sending "Cache-Control: no-cache" or "Pragma: no-cache" for a
// fresh stored key make at most two upstream requests (the one running
// when a client arrived cannot answer it; the next one can), not one each.
func TestNoCacheRequestsCoalesce(t *testing.T) {
	const clients = 100
	gate := make(chan struct{})
	f := newFixture(t, Config{}, func(w http.ResponseWriter, r *http.Request, n int64) {
		if n > 1 {
			<-gate
		}
		w.Header().Set("Cache-Control", "max-age=600")
		fmt.Fprintf(w, "v%d", n)
	})
	f.get("http://example.com/hot")
	waiting := make(chan struct{}, 2*clients)
	f.c.waitHook = func() { waiting <- struct{}{} }
	var wg sync.WaitGroup
	bodies := make(chan string, clients)
	for i := range clients {
		hdr := []string{"Cache-Control", "no-cache"}
		if i%2 == 1 {
			hdr = []string{"Pragma", "no-cache"}
		}
		wg.Go(func() {
			body, _ := f.get("http://example.com/hot", hdr...)
			bodies <- body
		})
	}
	// Every client is either waiting for a flight or upstream.
	for waited := 0; waited+int(f.o.n.Load()-1) < clients; {
		select {
		case <-waiting:
			waited++
		default:
			runtime.Gosched()
		}
	}
	close(gate)
	wg.Wait()
	close(bodies)
	for b := range bodies {
		if b != "v2" && b != "v3" {
			t.Fatalf("a no-cache client got %q, want a response fetched after it arrived", b)
		}
	}
	if got := f.o.n.Load() - 1; got < 1 || got > 2 {
		t.Fatalf("%d no-cache clients made %d upstream requests, want 1 or 2", clients, got)
	}
}

// TestNoCacheRequestSkipsOlderFlight: a no-cache request arriving while a
// flight is already upstream is not answered by that flight's response; it
// waits for it and then fetches again.
func TestNoCacheRequestSkipsOlderFlight(t *testing.T) {
	release := make(chan struct{})
	f := newFixture(t, Config{}, func(w http.ResponseWriter, r *http.Request, n int64) {
		if n == 1 {
			<-release
		}
		w.Header().Set("Cache-Control", "max-age=600")
		fmt.Fprintf(w, "v%d", n)
	})
	waiting := make(chan struct{}, 1)
	f.c.waitHook = func() { waiting <- struct{}{} }
	first := make(chan string)
	go func() { b, _ := f.get("http://example.com/"); first <- b }()
	for f.o.n.Load() == 0 {
		runtime.Gosched() // until the first request is upstream
	}
	second := make(chan string)
	go func() { b, _ := f.get("http://example.com/", "Cache-Control", "no-cache"); second <- b }()
	var got string
	select {
	case <-waiting:
		close(release)
		got = <-second
	case got = <-second:
		close(release)
	}
	if b := <-first; b != "v1" {
		t.Fatalf("first request got %q", b)
	}
	if got != "v2" || f.o.n.Load() != 2 {
		t.Fatalf("no-cache request got %q after %d upstream requests, want its own v2", got, f.o.n.Load())
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
