package proxy

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatekit/gatekit/balancer"
	"github.com/gatekit/gatekit/internal/problem"
)

func TestProxyDeadBackend(t *testing.T) {
	pool := poolOf(t, deadURL(t))
	rp := &recorder{Policy: balancer.NewRoundRobin(pool)}
	var logged strings.Builder
	var logMu sync.Mutex
	px := newTestProxy(t, rp, Config{Logger: slogTo(&logged, &logMu)})
	rec := serve(px, httptest.NewRequest("GET", "/", nil))
	// Refused everywhere: the request reached no target, the client may
	// retry it later.
	checkProblem(t, rec, http.StatusServiceUnavailable)
	if rec.Header().Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}
	if r := rp.last(t); !r.Failed() || r.Err == nil {
		t.Errorf("done(%+v), want a failure", r)
	}
	if n := pool.Targets()[0].InFlight(); n != 0 {
		t.Errorf("in flight after request = %d", n)
	}
	logMu.Lock()
	defer logMu.Unlock()
	if !strings.Contains(logged.String(), "status=503") {
		t.Errorf("log %q lacks status=503", logged.String())
	}
}

func TestProxyNoTargets(t *testing.T) {
	pool, err := balancer.NewPool(nil)
	if err != nil {
		t.Fatal(err)
	}
	px := newTestProxy(t, balancer.NewRoundRobin(pool), Config{})
	rec := serve(px, httptest.NewRequest("GET", "/", nil))
	checkProblem(t, rec, http.StatusServiceUnavailable)
	if ra := rec.Header().Get("Retry-After"); ra != "1" {
		t.Errorf("Retry-After = %q, want 1", ra)
	}
}

func TestProxyErrorHandlerHook(t *testing.T) {
	pool, _ := balancer.NewPool(nil)
	var gotErr error
	px := newTestProxy(t, balancer.NewRoundRobin(pool), Config{ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
		gotErr = err
		w.WriteHeader(418)
	}})
	rec := serve(px, httptest.NewRequest("GET", "/", nil))
	if rec.Code != 418 {
		t.Fatalf("status = %d, want the hook's 418", rec.Code)
	}
	if pe, ok := gotErr.(*Error); !ok || pe.Status != 503 || !errorsIs(gotErr, balancer.ErrNoTargets) {
		t.Fatalf("hook got %v, want *Error 503 wrapping ErrNoTargets", gotErr)
	}
}

func TestProxyTimeout(t *testing.T) {
	srv, _ := stallingBackend(t)
	rp := &recorder{Policy: balancer.NewRoundRobin(poolOf(t, srv.URL))}
	px := newTestProxy(t, rp, Config{TransportConfig: TransportConfig{ResponseHeaderTimeout: 50 * time.Millisecond}})
	rec := serve(px, httptest.NewRequest("GET", "/", nil))
	checkProblem(t, rec, http.StatusGatewayTimeout)
	if r := rp.last(t); !r.Failed() {
		t.Errorf("done(%+v), want a failure", r)
	}
}

func TestProxyClientGone(t *testing.T) {
	srv, arrived := stallingBackend(t)
	pool := poolOf(t, srv.URL)
	rp := &recorder{Policy: balancer.NewRoundRobin(pool)}
	var logged strings.Builder
	var logMu sync.Mutex
	px := newTestProxy(t, rp, Config{Logger: slogTo(&logged, &logMu)})
	ctx, cancel := context.WithCancel(context.Background())
	req := httptest.NewRequest("GET", "/", nil).WithContext(ctx)
	go func() {
		<-arrived
		cancel()
	}()
	rec := serve(px, req)
	if rec.Code != problem.StatusClientClosedRequest {
		t.Fatalf("status = %d, want 499", rec.Code)
	}
	r := rp.last(t)
	if !r.Canceled || r.Failed() {
		t.Errorf("done(%+v), want Canceled and not Failed", r)
	}
	if n := pool.InFlight(); n != 0 {
		t.Errorf("pool in flight = %d, want 0", n)
	}
	logMu.Lock()
	defer logMu.Unlock()
	if !strings.Contains(logged.String(), "status=499") || strings.Contains(logged.String(), "level=WARN") {
		t.Errorf("log %q, want an INFO line with status=499", logged.String())
	}
}
