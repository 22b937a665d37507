package proxy

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatekit/gatekit/balancer"
)

func TestDrainRemovedTarget(t *testing.T) {
	var open atomic.Int64
	release := make(chan struct{})
	arrived := make(chan struct{}, 1)
	be := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			arrived <- struct{}{}
			<-release
		}
		w.Write([]byte("ok"))
	}))
	be.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		switch s {
		case http.StateNew:
			open.Add(1)
		case http.StateClosed, http.StateHijacked:
			open.Add(-1)
		}
	}
	be.Start()
	defer be.Close()
	var releaseOnce sync.Once
	unblock := func() { releaseOnce.Do(func() { close(release) }) }
	defer unblock()
	other := newFaultBackend(t, "other", modeOK)
	pool := poolOf(t, be.URL, other.URL)
	px := newTestProxy(t, &firstThen{pool: pool}, Config{})
	checkBaseline := baseline(t)
	slow := make(chan int, 1)
	go func() { slow <- serve(px, httptest.NewRequest("GET", "/slow", nil)).Code }() // to the target
	<-arrived
	serve(px, httptest.NewRequest("GET", "/warm", nil)) // to other
	if rec := serve(px, httptest.NewRequest("GET", "/warm", nil)); rec.Code != 200 {
		t.Fatalf("warm-up: %d", rec.Code) // to the target, on a second connection left idle
	}
	if open.Load() != 2 {
		t.Fatalf("%d connections open to the target, want 2 (one idle, one busy)", open.Load())
	}
	target := pool.Targets()[0]
	if err := px.Drain(context.Background(), target); !errors.Is(err, ErrTargetInPool) {
		t.Fatalf("Drain of a pooled target: %v, want ErrTargetInPool", err)
	}
	pool.Remove(target.URL())
	drained := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		drained <- px.Drain(ctx, target)
	}()
	if !waitFor(2*time.Second, func() bool { return open.Load() == 1 }) {
		t.Fatalf("idle connection not closed by Drain (%d open)", open.Load())
	}
	for range 4 {
		if rec := serve(px, httptest.NewRequest("GET", "/new", nil)); rec.Code != 200 || rec.Body.String() != "other:" {
			t.Fatalf("new request during drain: %d %q, want other", rec.Code, rec.Body.String())
		}
	}
	select {
	case err := <-drained:
		t.Fatalf("Drain returned %v with a request in flight", err)
	default:
	}
	unblock()
	if code := <-slow; code != 200 {
		t.Fatalf("in-flight request finished with %d, want 200", code)
	}
	select {
	case err := <-drained:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("Drain did not return after the last request")
	}
	if !waitFor(2*time.Second, func() bool { return open.Load() == 0 }) {
		t.Fatalf("%d connections still open to the drained target", open.Load())
	}
	if _, ok := px.guard.conns.Load(dialAddr(target.URL())); ok {
		t.Fatal("the guard still tracks the drained target's address")
	}
	if px.h1 != nil {
		if _, ok := px.h1.hosts.Load(dialAddr(target.URL())); ok {
			t.Fatal("the HTTP/1.1 pool still keeps the drained target's address")
		}
	}
	px.Close()
	checkBaseline()
}

func TestDrainTimeout(t *testing.T) {
	be, arrived := stallingBackend(t)
	pool := poolOf(t, be.URL)
	px := newTestProxy(t, balancer.NewRoundRobin(pool), Config{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		serve(px, httptest.NewRequest("GET", "/", nil))
	}()
	<-arrived
	target := pool.Targets()[0]
	pool.Remove(target.URL())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if err := px.Drain(ctx, target); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Drain = %v, want the context's deadline", err)
	}
	be.CloseClientConnections()
	<-done
	// The expired drain leaves the address usable again (it may come
	// back to the pool under the same address).
	if v, ok := px.guard.conns.Load(dialAddr(target.URL())); ok && v.(*connSet).isDraining() {
		t.Fatal("the address stays marked draining after the drain's context expired")
	}
}

func TestDrainMaxConnLifetime(t *testing.T) {
	for _, tc := range []struct {
		life      time.Duration
		wantConns int64
	}{{0, 1}, {time.Nanosecond, 5}} {
		var opened atomic.Int64
		be := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
		be.Config.ConnState = func(_ net.Conn, s http.ConnState) {
			if s == http.StateNew {
				opened.Add(1)
			}
		}
		be.Start()
		px := newTestProxy(t, balancer.NewRoundRobin(poolOf(t, be.URL)), Config{TransportConfig: TransportConfig{MaxConnLifetime: tc.life}})
		for range 5 {
			if rec := serve(px, httptest.NewRequest("GET", "/", nil)); rec.Code != 200 {
				t.Fatalf("status %d", rec.Code)
			}
		}
		px.Close()
		be.Close()
		if opened.Load() != tc.wantConns {
			t.Fatalf("MaxConnLifetime %v: %d connections for 5 sequential requests, want %d", tc.life, opened.Load(), tc.wantConns)
		}
	}
}
