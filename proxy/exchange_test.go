package proxy

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/textproto"
	"testing"
	"time"
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
