package cache

import (
	"fmt"
	"net/http"
	"runtime"
	"sync"
	"testing"
)

// TestNoCacheRequestsCoalesce is G4 under request no-cache: 100 concurrent
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
