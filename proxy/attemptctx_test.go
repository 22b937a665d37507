package proxy

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"
)

type attemptTestKey struct{}

// TestAttemptCtxActsAsWithDeadline runs the same events on an attemptCtx
// and on the context.WithDeadline (or WithCancel) context it stands for,
// and compares what each reports after every event: Err, Deadline, a
// value, and a context derived from each (which must end with its parent
// at once, as a child registered with a context of the context package
// does). At the end, Done and Cause are compared. observe asks for Done
// first, which makes the attemptCtx's real context early.
func TestAttemptCtxActsAsWithDeadline(t *testing.T) {
	now := time.Now()
	past, soon, later := now.Add(-time.Second), now.Add(time.Hour), now.Add(2*time.Hour)
	const (
		cancelAttempt = "cancel attempt"
		cancelBase    = "cancel base"
		observe       = "observe"
		derive        = "derive"
	)
	tests := []struct {
		name         string
		deadline     time.Time // the route's, zero for none
		baseDeadline time.Time // the base's own, zero for none
		steps        []string
	}{
		{"live, then cancelled", soon, time.Time{}, []string{cancelAttempt}},
		{"no deadline", time.Time{}, time.Time{}, []string{cancelAttempt}},
		{"base ends first", soon, time.Time{}, []string{cancelBase, cancelAttempt}},
		{"attempt ends first", soon, time.Time{}, []string{cancelAttempt, cancelBase}},
		{"deadline passed", past, time.Time{}, []string{cancelAttempt}},
		{"deadline passed, base ends", past, time.Time{}, []string{cancelBase}},
		{"earlier base deadline passed", soon, past, []string{cancelAttempt}},
		{"earlier base deadline", soon, now.Add(time.Minute), []string{cancelAttempt}},
		{"later base deadline", soon, later, []string{cancelBase}},
		{"no route deadline, base deadline", time.Time{}, later, []string{cancelAttempt}},
		{"observed, then base ends", soon, time.Time{}, []string{observe, cancelBase}},
		{"observed, then cancelled", soon, time.Time{}, []string{observe, cancelAttempt}},
		{"derived, then cancelled", soon, time.Time{}, []string{derive, cancelAttempt}},
		{"derived, then base ends", soon, time.Time{}, []string{derive, cancelBase}},
		{"cancelled, then derived", soon, time.Time{}, []string{cancelAttempt, derive}},
		{"deadline passed, derived", past, time.Time{}, []string{derive}},
	}
	cause := errors.New("the client went away")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			type world struct {
				ctx        context.Context
				cancel     func()
				cancelBase context.CancelCauseFunc
				child      context.Context
			}
			mk := func(lazy bool) *world {
				w := new(world)
				var base context.Context
				base, w.cancelBase = context.WithCancelCause(context.WithValue(context.Background(), attemptTestKey{}, "v"))
				if !tt.baseDeadline.IsZero() {
					var stop context.CancelFunc
					base, stop = context.WithDeadline(base, tt.baseDeadline)
					t.Cleanup(stop)
				}
				t.Cleanup(func() { w.cancelBase(nil) })
				switch {
				case lazy:
					a := newAttemptCtx(base, tt.deadline, time.Now())
					w.ctx, w.cancel = a, a.cancel
				case tt.deadline.IsZero():
					w.ctx, w.cancel = context.WithCancel(base)
				default:
					w.ctx, w.cancel = context.WithDeadline(base, tt.deadline)
				}
				return w
			}
			got, want := mk(true), mk(false)
			compare := func(after string) {
				t.Helper()
				if g, w := got.ctx.Err(), want.ctx.Err(); g != w {
					t.Errorf("after %s: Err() = %v, want %v", after, g, w)
				}
				gd, gok := got.ctx.Deadline()
				wd, wok := want.ctx.Deadline()
				if gok != wok || !gd.Equal(wd) {
					t.Errorf("after %s: Deadline() = %v, %v, want %v, %v", after, gd, gok, wd, wok)
				}
				if v := got.ctx.Value(attemptTestKey{}); v != "v" {
					t.Errorf("after %s: Value = %v, want the base's", after, v)
				}
				if want.child != nil {
					if g, w := got.child.Err(), want.child.Err(); g != w {
						t.Errorf("after %s: derived context's Err() = %v, want %v", after, g, w)
					}
				}
			}
			compare("start")
			for _, step := range tt.steps {
				for _, w := range []*world{got, want} {
					switch step {
					case cancelAttempt:
						w.cancel()
					case cancelBase:
						w.cancelBase(cause)
					case observe:
						w.ctx.Done()
					case derive:
						var stop context.CancelFunc
						w.child, stop = context.WithCancel(w.ctx)
						t.Cleanup(stop)
					}
				}
				compare(step)
			}
			if g, w := isDone(got.ctx), isDone(want.ctx); g != w {
				t.Errorf("Done closed = %v, want %v", g, w)
			}
			if g, w := context.Cause(got.ctx), context.Cause(want.ctx); g != w {
				t.Errorf("Cause = %v, want %v", g, w)
			}
			got.cancel()
			want.cancel()
			compare("the last cancel")
			if !isDone(got.ctx) {
				t.Error("Done still open after cancel")
			}
		})
	}
}

// isDone reports whether ctx's Done channel is closed.
func isDone(ctx context.Context) bool {
	select {
	case <-ctx.Done():
		return true
	default:
		return false
	}
}

// TestAttemptCtxAfterFunc: context.AfterFunc on an attemptCtx runs once
// the attempt ends, and not when stopped before.
func TestAttemptCtxAfterFunc(t *testing.T) {
	a := newAttemptCtx(context.Background(), time.Now().Add(time.Hour), time.Now())
	ran := make(chan struct{})
	context.AfterFunc(a, func() { close(ran) })
	b := newAttemptCtx(context.Background(), time.Time{}, time.Now())
	stop := context.AfterFunc(b, func() { t.Error("a stopped AfterFunc ran") })
	if !stop() {
		t.Fatal("stop() = false before the context ended")
	}
	b.cancel()
	a.cancel()
	<-ran
}

// TestAttemptCtxWatch: the pool's watch runs its function exactly once
// when the attempt ends (by cancel, or by its base ending), not at all
// once unwatched, and unwatch reports which happened. A context that has
// ended, whose real context was made, or that is watched already, is not
// watched (the pool falls back to context.AfterFunc).
func TestAttemptCtxWatch(t *testing.T) {
	t.Run("cancel runs it", func(t *testing.T) {
		a := newAttemptCtx(context.Background(), time.Now().Add(time.Hour), time.Now())
		var n atomic.Int32
		if !a.watch(func() { n.Add(1) }, time.Now()) {
			t.Fatal("watch refused a live context")
		}
		a.cancel()
		a.cancel()
		if n.Load() != 1 {
			t.Fatalf("ran %d times, want 1", n.Load())
		}
		if a.unwatch() {
			t.Fatal("unwatch() = true after the function ran")
		}
	})
	t.Run("base ending runs it", func(t *testing.T) {
		base, cancel := context.WithCancel(context.Background())
		a := newAttemptCtx(base, time.Time{}, time.Now())
		ran := make(chan struct{})
		if !a.watch(func() { close(ran) }, time.Now()) {
			t.Fatal("watch refused a live context")
		}
		a.watchBase()
		a.watchBase() // once registered, not again
		cancel()
		<-ran
		a.cancel() // must not run it again (close would panic)
		if a.unwatch() {
			t.Fatal("unwatch() = true after the function ran")
		}
		if err := a.Err(); err != context.Canceled {
			t.Fatalf("Err() = %v, want context.Canceled", err)
		}
	})
	t.Run("base not watched", func(t *testing.T) {
		base, cancel := context.WithCancel(context.Background())
		a := newAttemptCtx(base, time.Time{}, time.Now())
		if !a.watch(func() { t.Error("ran without a registration with base") }, time.Now()) {
			t.Fatal("watch refused a live context")
		}
		cancel()
		if !a.unwatch() {
			t.Fatal("unwatch() = false, but nothing ran it")
		}
		a.watchBase() // after unwatch: registers nothing
		a.cancel()
	})
	t.Run("unwatched", func(t *testing.T) {
		base, cancel := context.WithCancel(context.Background())
		a := newAttemptCtx(base, time.Time{}, time.Now())
		if !a.watch(func() { t.Error("ran after unwatch") }, time.Now()) {
			t.Fatal("watch refused a live context")
		}
		a.watchBase()
		if !a.unwatch() {
			t.Fatal("unwatch() = false before the context ended")
		}
		if a.made.Load() != nil {
			t.Error("watching made the real context")
		}
		cancel()
		a.cancel()
	})
	t.Run("refused", func(t *testing.T) {
		f := func() {}
		now := time.Now()
		// Made before its deadline, watched after it.
		ended := newAttemptCtx(context.Background(), now.Add(time.Hour), now)
		made := newAttemptCtx(context.Background(), time.Time{}, now)
		made.Done()
		canceled := newAttemptCtx(context.Background(), time.Time{}, now)
		canceled.cancel()
		watched := newAttemptCtx(context.Background(), time.Time{}, now)
		watched.watch(f, now)
		for _, tt := range []struct {
			name string
			a    *attemptCtx
			at   time.Time
		}{
			{"deadline passed", ended, now.Add(2 * time.Hour)},
			{"made", made, now},
			{"canceled", canceled, now},
			{"watched", watched, now},
		} {
			if tt.a.watch(f, tt.at) {
				t.Errorf("%s: watch() = true", tt.name)
			}
			tt.a.cancel()
		}
	})
}

// TestPoolWatchesAnAttemptWithoutItsRealContext: a round trip on a pooled
// connection in an attempt's context neither makes its real context (no
// timer context, no registration of its own) nor leaves the connection
// out of the pool.
func TestPoolWatchesAnAttemptWithoutItsRealContext(t *testing.T) {
	var conns atomic.Int64
	be := countingBackend(t, &conns, nil)
	p := newH1Pool(newDesyncGuard(0), &net.Dialer{}, TransportConfig{})
	defer p.CloseIdleConnections()
	for i := range 3 {
		a := newAttemptCtx(context.Background(), time.Now().Add(time.Hour), time.Now())
		req, _ := http.NewRequestWithContext(a, "GET", be+"/?id=x", nil)
		resp, err := p.RoundTrip(req)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != "id:x" {
			t.Fatalf("request %d: body %q", i, b)
		}
		if i > 0 && a.made.Load() != nil { // the first one dials, in a's real context
			t.Fatalf("request %d: the round trip on a pooled connection made the attempt's real context", i)
		}
		a.cancel()
	}
	if n := conns.Load(); n != 1 {
		t.Fatalf("%d connections for 3 sequential requests, want 1", n)
	}

}

// answerThenStall is a target that answers the first request on a
// connection and stalls on the next one (until the connection closes),
// sending on arrived when it comes.
func answerThenStall(t *testing.T) (url string, arrived <-chan struct{}) {
	ch := make(chan struct{}, 4)
	url = rawBackend(t, func(c net.Conn, br *bufio.Reader) {
		if _, err := http.ReadRequest(br); err != nil {
			return
		}
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		if _, err := http.ReadRequest(br); err != nil {
			return
		}
		ch <- struct{}{}
		io.Copy(io.Discard, br)
	})
	return url, ch
}

// pooledStall returns a pool holding one idle connection to a target
// that stalls on the next request on it.
func pooledStall(t *testing.T) (p *h1Pool, url string, arrived <-chan struct{}) {
	url, arrived = answerThenStall(t)
	p = newH1Pool(newDesyncGuard(0), &net.Dialer{}, TransportConfig{})
	t.Cleanup(p.CloseIdleConnections)
	req, _ := http.NewRequest("GET", url, nil)
	resp, err := p.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return p, url, arrived
}

// TestPoolAttemptDeadline: the route's deadline ends an exchange on a
// pooled connection that passes it (the connection's own timer), as
// context.DeadlineExceeded, without the attempt's real context.
func TestPoolAttemptDeadline(t *testing.T) {
	p, url, arrived := pooledStall(t)
	a := newAttemptCtx(context.Background(), time.Now().Add(50*time.Millisecond), time.Now())
	defer a.cancel()
	made := make(chan bool, 1)
	go func() {
		<-arrived
		made <- a.made.Load() != nil
	}()
	req, _ := http.NewRequestWithContext(a, "GET", url, nil)
	if _, err := p.RoundTrip(req); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("past the route deadline: err %v, want context.DeadlineExceeded", err)
	}
	if <-made {
		t.Fatal("the exchange made the attempt's real context")
	}
}

// TestPoolAttemptClientGone: the client's context ending while an
// exchange in an attempt's context waits on a stalled target aborts it
// (once the exchange has run watchDelay), as context.Canceled, and the
// connection is not reused.
func TestPoolAttemptClientGone(t *testing.T) {
	p, url, arrived := pooledStall(t)
	base, cancel := context.WithCancel(context.Background())
	a := newAttemptCtx(base, time.Now().Add(time.Hour), time.Now())
	defer a.cancel()
	made := make(chan bool, 1)
	go func() {
		<-arrived
		made <- a.made.Load() != nil
		cancel()
	}()
	req, _ := http.NewRequestWithContext(a, "GET", url, nil)
	if _, err := p.RoundTrip(req); !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want context.Canceled", err)
	}
	if <-made {
		t.Fatal("the exchange made the attempt's real context")
	}
	if n := len(p.host(dialAddr(req.URL)).idle); n != 0 {
		t.Fatalf("%d idle connections after an aborted exchange, want 0", n)
	}
}

// TestPoolAttemptCancel: the attempt's own cancel (a stopped re-send)
// aborts its exchange at once, without waiting for watchDelay.
func TestPoolAttemptCancel(t *testing.T) {
	p, url, arrived := pooledStall(t)
	a := newAttemptCtx(context.Background(), time.Time{}, time.Now())
	go func() {
		<-arrived
		a.cancel()
	}()
	req, _ := http.NewRequestWithContext(a, "GET", url, nil)
	if _, err := p.RoundTrip(req); !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want context.Canceled", err)
	}
}

// TestPoolWatchesOtherContexts: a request whose context is not an
// attempt's (the pool used on its own) is aborted when it ends.
func TestPoolWatchesOtherContexts(t *testing.T) {
	stall, arrived := stallingBackend(t)
	p := newH1Pool(newDesyncGuard(0), &net.Dialer{}, TransportConfig{})
	defer p.CloseIdleConnections()
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-arrived
		cancel()
	}()
	req, _ := http.NewRequestWithContext(ctx, "GET", stall.URL, nil)
	if _, err := p.RoundTrip(req); !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want context.Canceled", err)
	}
}

// FuzzAttemptCtxAgainstWithDeadline runs a sequence of events, one per
// byte of ops, on an attemptCtx and on the context.WithDeadline (or
// WithCancel) context it stands for, and compares what each reports after
// every event. The first two bytes choose the route's deadline and the
// base's own (none, passed, an hour away, two hours away).
func FuzzAttemptCtxAgainstWithDeadline(f *testing.F) {
	f.Add([]byte{2, 0, 0, 1})
	f.Add([]byte{1, 0, 3, 0})
	f.Add([]byte{2, 1, 2, 4, 1, 0})
	f.Add([]byte{0, 3, 4, 5, 0, 1, 5})
	f.Add([]byte{2, 0, 1, 3, 4, 2, 0})
	f.Fuzz(func(t *testing.T, ops []byte) {
		if len(ops) < 2 || len(ops) > 64 {
			return
		}
		now := time.Now()
		pick := func(b byte) time.Time {
			switch b % 4 {
			case 1:
				return now.Add(-time.Second)
			case 2:
				return now.Add(time.Hour)
			case 3:
				return now.Add(2 * time.Hour)
			}
			return time.Time{}
		}
		deadline, baseDeadline := pick(ops[0]), pick(ops[1])
		cause := errors.New("gone")
		type world struct {
			ctx        context.Context
			cancel     func()
			cancelBase context.CancelCauseFunc
			children   []context.Context
		}
		var stops []context.CancelFunc
		defer func() {
			for _, s := range stops {
				s()
			}
		}()
		mk := func(lazy bool) *world {
			w := new(world)
			var base context.Context
			base, w.cancelBase = context.WithCancelCause(context.WithValue(context.Background(), attemptTestKey{}, "v"))
			stops = append(stops, func() { w.cancelBase(nil) })
			if !baseDeadline.IsZero() {
				var stop context.CancelFunc
				base, stop = context.WithDeadline(base, baseDeadline)
				stops = append(stops, stop)
			}
			switch {
			case lazy:
				a := newAttemptCtx(base, deadline, time.Now())
				w.ctx, w.cancel = a, a.cancel
			case deadline.IsZero():
				w.ctx, w.cancel = context.WithCancel(base)
			default:
				w.ctx, w.cancel = context.WithDeadline(base, deadline)
			}
			stops = append(stops, w.cancel)
			return w
		}
		got, want := mk(true), mk(false)
		for i, op := range ops[2:] {
			for _, w := range []*world{got, want} {
				switch op % 6 {
				case 0:
					w.cancel()
				case 1:
					w.cancelBase(cause)
				case 2:
					w.ctx.Done()
				case 3:
					c, stop := context.WithCancel(w.ctx)
					w.children = append(w.children, c)
					stops = append(stops, stop)
				case 4:
					context.Cause(w.ctx)
				case 5:
					w.ctx.Err()
				}
			}
			if g, w := got.ctx.Err(), want.ctx.Err(); g != w {
				t.Fatalf("after op %d (%d): Err() = %v, want %v", i, op%6, g, w)
			}
			gd, gok := got.ctx.Deadline()
			wd, wok := want.ctx.Deadline()
			if gok != wok || !gd.Equal(wd) {
				t.Fatalf("after op %d: Deadline() = %v, %v, want %v, %v", i, gd, gok, wd, wok)
			}
			for j := range want.children {
				if g, w := got.children[j].Err(), want.children[j].Err(); g != w {
					t.Fatalf("after op %d: derived context %d's Err() = %v, want %v", i, j, g, w)
				}
			}
			if op%6 == 2 || op%6 == 4 {
				if g, w := isDone(got.ctx), isDone(want.ctx); g != w {
					t.Fatalf("after op %d: Done closed = %v, want %v", i, g, w)
				}
				if g, w := context.Cause(got.ctx), context.Cause(want.ctx); g != w {
					t.Fatalf("after op %d: Cause = %v, want %v", i, g, w)
				}
			}
		}
	})
}
