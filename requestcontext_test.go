package gatekit

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"runtime"
	"testing"
	"time"
)

type requestCtxKey struct{}

func TestRequestContextIsDoneOnceCancelled(t *testing.T) {
	parent := context.WithValue(context.Background(), requestCtxKey{}, "v")
	for _, askFirst := range []bool{true, false} {
		rc := &requestContext{Context: parent}
		var done <-chan struct{}
		if askFirst {
			done = rc.Done()
			select {
			case <-done:
				t.Fatal("done before cancel")
			default:
			}
		}
		if rc.Err() != nil || rc.Value(requestCtxKey{}) != "v" {
			t.Fatalf("before cancel: Err %v, Value %v", rc.Err(), rc.Value(requestCtxKey{}))
		}
		rc.cancel(context.Canceled)
		rc.cancel(context.DeadlineExceeded) // the first reason stays
		if !askFirst {
			done = rc.Done()
		}
		select {
		case <-done:
		default:
			t.Fatalf("ask first %v: Done not closed after cancel", askFirst)
		}
		if rc.Err() != context.Canceled || context.Cause(rc) != context.Canceled {
			t.Errorf("ask first %v: Err %v, Cause %v; want context.Canceled", askFirst, rc.Err(), context.Cause(rc))
		}
	}
}

func TestRequestContextAfterFunc(t *testing.T) {
	rc := &requestContext{Context: context.Background()}
	ran := make(chan int, 3)
	stop1 := rc.AfterFunc(func() { ran <- 1 })
	stop2 := rc.AfterFunc(func() { ran <- 2 })
	if !stop2() || stop2() {
		t.Error("stop before cancel: want true once, then false")
	}
	rc.cancel(context.Canceled)
	if got := <-ran; got != 1 {
		t.Errorf("ran %d, want 1", got)
	}
	if stop1() {
		t.Error("stop after the function ran reported true")
	}
	rc.AfterFunc(func() { ran <- 3 }) // already done: runs at once
	if got := <-ran; got != 3 {
		t.Errorf("ran %d, want 3", got)
	}
	select {
	case got := <-ran:
		t.Errorf("the stopped function ran (%d)", got)
	default:
	}
}

// TestRequestContextDerivedContexts: contexts derived from a request's
// context end with it, register with it instead of starting a goroutine
// each, and leave it when they end first.
func TestRequestContextDerivedContexts(t *testing.T) {
	rc := &requestContext{Context: context.Background()}
	before := runtime.NumGoroutine()
	var children []context.Context
	for range 50 {
		child, cancel := context.WithCancel(rc)
		defer cancel()
		children = append(children, child)
	}
	timed, cancelTimed := context.WithTimeout(rc, time.Hour)
	rc.mu.Lock()
	registered := len(rc.after)
	rc.mu.Unlock()
	if registered != 51 {
		t.Errorf("%d derived contexts registered with AfterFunc, want 51 (one that is not waits on a goroutine)", registered)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Errorf("51 derived contexts started %d goroutines", n-before)
	}
	cancelTimed()
	if timed.Err() == nil {
		t.Fatal("the derived context did not end with its own cancel")
	}
	rc.mu.Lock()
	registered = len(rc.after)
	rc.mu.Unlock()
	if registered != 50 {
		t.Errorf("%d registered, want 50: one derived context ended and must leave", registered)
	}
	rc.cancel(context.Canceled)
	for i, child := range children {
		select {
		case <-child.Done():
		case <-time.After(10 * time.Second):
			t.Fatalf("derived context %d not done after its parent", i)
		}
		if !errors.Is(child.Err(), context.Canceled) {
			t.Errorf("derived context %d: Err %v", i, child.Err())
		}
	}
}

// TestHTTP1ConnectionContextEndsTheRequestsContext: on the own loop a
// request's context ends with the connection's (a BaseContext that is
// cancelled), whether that ends while the handler runs or before the
// request arrives, as with context.WithCancel.
func TestHTTP1ConnectionContextEndsTheRequestsContext(t *testing.T) {
	base, cancelBase := context.WithCancelCause(context.Background())
	defer cancelBase(nil)
	cause := errors.New("base gone")
	started := make(chan struct{}, 2)
	ended := make(chan error, 2)
	srv, err := NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		started <- struct{}{}
		<-r.Context().Done()
		ended <- context.Cause(r.Context())
	}), ServerConfig{ShutdownTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	srv.HTTPServer().BaseContext = func(net.Listener) context.Context { return base }
	ln, cancel, served := serveOn(t, srv, nil)
	defer func() {
		cancel()
		<-served
	}()
	c := dialLoop(t, ln.Addr().String())
	defer c.Close()
	br := bufio.NewReader(c)
	for i := range 2 {
		// The second request comes on the same connection once the base
		// context has ended.
		_, _ = io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		<-started
		if i == 0 {
			cancelBase(cause)
		}
		select {
		case err := <-ended:
			if !errors.Is(err, cause) {
				t.Errorf("request %d: cause %v, want the base context's", i+1, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("request %d: its context did not end with the connection's", i+1)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
}
