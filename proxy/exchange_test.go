package proxy

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/textproto"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/gatekit/gatekit/balancer"
)

func TestExchangeAttemptContexts(t *testing.T) {
	now := time.Now()
	tests := []struct {
		name     string
		deadline time.Time
		cancel   bool // cancel the inbound context
		want     error
	}{
		{"live", now.Add(time.Hour), false, nil},
		{"no deadline", time.Time{}, false, nil},
		{"deadline passed", now.Add(-time.Second), false, context.DeadlineExceeded},
		{"inbound canceled", now.Add(time.Hour), true, context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in, cancel := context.WithCancel(context.Background())
			defer cancel()
			x := &exchange{Context: in, deadline: tt.deadline}
			x.base = x
			first := x.newAttempt(time.Now())
			if got, _ := TargetFrom(first); got != nil {
				t.Fatalf("TargetFrom = %v, want the exchange's nil target", got)
			}
			if d, ok := first.Deadline(); ok != !tt.deadline.IsZero() || ok && !d.Equal(tt.deadline) {
				t.Errorf("attempt deadline = %v, %v, want %v", d, ok, tt.deadline)
			}
			x.cancelAttempt() // a stopped re-send: the request lives on
			if first.Err() == nil {
				t.Error("cancelled attempt context still live")
			}
			second := x.newAttempt(time.Now())
			if tt.cancel {
				cancel()
			}
			if err := x.ctxErr(); err != tt.want {
				t.Errorf("ctxErr() = %v, want %v", err, tt.want)
			}
			if tt.want == nil && second.Err() != nil {
				t.Errorf("second attempt context ended: %v", second.Err())
			}
			x.cancelAll()
			if second.Err() == nil {
				t.Error("cancelAll left the current attempt live")
			}
		})
	}
}

// TestExchangeHooksReachTheTraceOnce: before traceOn, the pool calls the
// exchange's hooks itself and a trace the request already had; after it
// (a Transport was used), the exchange's contexts carry its trace,
// composed once with the request's, and the pool calls that trace alone.
// Either way each hook runs once per event.
func TestExchangeHooksReachTheTraceOnce(t *testing.T) {
	var userConns, user1xx int
	user := &httptrace.ClientTrace{
		GotConn:        func(httptrace.GotConnInfo) { userConns++ },
		Got1xxResponse: func(int, textproto.MIMEHeader) error { user1xx++; return nil },
	}
	x := &exchange{Context: httptrace.WithClientTrace(context.Background(), user), w: httptest.NewRecorder()}
	x.base = x
	ctx := x.newAttempt(time.Now())
	event := func(k h1Hooks) {
		t.Helper()
		x.cur = attempt{} // a fresh attempt for each connection
		k.gotConn(httptrace.GotConnInfo{})
		if err := k.got1xx(http.StatusEarlyHints, textproto.MIMEHeader{"Link": {"</a.css>"}}); err != nil {
			t.Fatal(err)
		}
	}

	k := hooksOf(ctx)
	if k.x != x || k.trace != user {
		t.Fatalf("before traceOn: hooks %p and trace %p, want the exchange %p and the request's trace %p", k.x, k.trace, x, user)
	}
	event(k)
	if userConns != 1 || user1xx != 1 || x.cur.conns.Load() != 1 || !x.informed.Load() {
		t.Fatalf("before traceOn: the request's trace saw %d connections and %d 1xx, the exchange %d connections (relayed %v): want 1, 1, 1, true",
			userConns, user1xx, x.cur.conns.Load(), x.informed.Load())
	}

	x.traceOn()
	x.traceOn() // a second Transport attempt: composed once only
	x.informed.Store(false)
	trace := &x.traced.Load().trace
	if got := httptrace.ContextClientTrace(ctx); got != trace {
		t.Fatalf("after traceOn the attempt's context carries trace %p, want the exchange's %p", got, trace)
	}
	k = hooksOf(ctx)
	if k.x != nil || k.trace != trace {
		t.Fatalf("after traceOn: hooks %p and trace %p, want none and the exchange's trace %p", k.x, k.trace, trace)
	}
	event(k)
	if userConns != 2 || user1xx != 2 || x.cur.conns.Load() != 1 || !x.informed.Load() {
		t.Fatalf("after traceOn: the request's trace saw %d connections and %d 1xx in all, the exchange %d connections (relayed %v): want 2, 2, 1, true",
			userConns, user1xx, x.cur.conns.Load(), x.informed.Load())
	}
}

// TestExchangeRecycledOnlyWhenNothingHoldsIt: serve recycles the exchange
// of a response relayed whole through the pool on a connection it did not
// dial, emptied, and leaves alone one that a dial, a retry, an error, a
// Transport or a stream idle timer touched, whose contexts or request
// something may still hold.
func TestExchangeRecycledOnlyWhenNothingHoldsIt(t *testing.T) {
	var mu sync.Mutex
	recycled := map[*Proxy]int{}
	testHookRecycled = func(px *Proxy, x *exchange, r *h1Response) {
		if !reflect.ValueOf(x).Elem().IsZero() {
			t.Errorf("a recycled exchange is not empty: %+v", x)
		}
		if r == nil || !reflect.ValueOf(r).Elem().IsZero() {
			t.Errorf("recycled with a response storage %p, want an empty one: %+v", r, r)
		}
		mu.Lock()
		recycled[px]++
		mu.Unlock()
	}
	t.Cleanup(func() { testHookRecycled = nil })
	count := func(px *Proxy) int {
		mu.Lock()
		defer mu.Unlock()
		return recycled[px]
	}

	ok := newBackend(t, "a")
	unavailable := newFaultBackend(t, "b", mode503)
	secure := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "s") }))
	t.Cleanup(secure.Close)
	// warm requests first (every target then has an idle connection; with
	// none, the first request dials and must not be recycled), then two
	// measured ones. Round robin sends at least one of two to the target
	// that answers 503 first: it is retried, and only a request that was
	// not is recycled.
	for _, tc := range []struct {
		name   string
		urls   []string
		cfg    Config
		warm   int
		status int
		want   func(retries int64) bool
	}{
		{"through the pool", []string{ok.URL}, Config{}, 1, http.StatusOK,
			func(r int64) bool { return r == 0 }},
		{"after one on a connection dialed for it", []string{ok.URL}, Config{}, 0, http.StatusOK,
			func(r int64) bool { return r == 0 }},
		{"retried", []string{unavailable.URL, ok.URL}, Config{Retry: fastRetry(RetryConfig{})}, 2, http.StatusOK,
			func(r int64) bool { return r >= 1 }},
		{"failed", []string{deadURL(t)}, Config{}, 0, http.StatusServiceUnavailable, nil},
		{"through a Transport", []string{secure.URL}, Config{TransportConfig: trusting(secure)}, 1, http.StatusOK, nil},
		{"with a stream idle timeout", []string{ok.URL}, Config{StreamIdleTimeout: time.Minute}, 1, http.StatusOK, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			px := newTestProxy(t, balancer.NewRoundRobin(poolOf(t, tc.urls...)), tc.cfg)
			send := func() {
				rec := serve(px, httptest.NewRequest(http.MethodGet, "/", nil))
				if rec.Code != tc.status {
					t.Fatalf("status %d, want %d: %s", rec.Code, tc.status, rec.Body)
				}
			}
			for range tc.warm {
				send()
			}
			before, retriedBefore := count(px), px.Stats().Retries
			if tc.warm == 0 {
				send() // dials
				before = count(px)
				if before != 0 {
					t.Fatalf("the first request, which dialed, was recycled")
				}
			}
			send()
			send()
			retries := px.Stats().Retries - retriedBefore
			want := 0 // none recycled
			if tc.want != nil {
				if !tc.want(retries) {
					t.Fatalf("%d retries", retries)
				}
				want = 2 - int(retries)
			}
			if got := count(px) - before; got != want {
				t.Fatalf("%d exchanges of 2 recycled (%d retried), want %d", got, retries, want)
			}
		})
	}
}
