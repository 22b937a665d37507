package balancer

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

func newBreaker(t testing.TB, p Policy, cfg BreakerConfig) *Breaker {
	t.Helper()
	b, err := NewBreaker(p, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestBreakerRejectsOverMaxInFlight(t *testing.T) {
	p, ts := fakePool(t, 2)
	rec := &recorder{Policy: NewRoundRobin(p)}
	b := newBreaker(t, rec, BreakerConfig{MaxInFlight: 2})
	var dones []func(Result)
	for i := range 4 {
		_, done, err := b.Pick(context.Background(), "")
		if err != nil {
			t.Fatalf("pick %d: %v", i, err)
		}
		dones = append(dones, done)
	}
	if b.InFlight(ts[0]) != 2 || b.InFlight(ts[1]) != 2 {
		t.Fatalf("in flight %d/%d, want 2/2", b.InFlight(ts[0]), b.InFlight(ts[1]))
	}
	_, _, err := b.Pick(context.Background(), "")
	if !errors.Is(err, ErrCircuitOpen) || !errors.Is(err, ErrNoTargets) {
		t.Fatalf("pick over the limit: %v, want ErrCircuitOpen and ErrNoTargets", err)
	}
	if b.Stats().Rejected != 1 {
		t.Fatalf("Rejected() = %d", b.Stats().Rejected)
	}
	rec.mu.Lock()
	for _, r := range rec.results {
		if !r.Canceled || r.Failed() {
			t.Fatalf("a rejection reached the policy as %+v, want Canceled", r)
		}
	}
	rec.mu.Unlock()
	dones[0](Result{Status: 200})
	if _, done, err := b.Pick(context.Background(), ""); err != nil {
		t.Fatalf("after a release: %v", err)
	} else {
		done(Result{Status: 200})
	}
	for _, d := range dones[1:] {
		d(Result{Status: 200})
	}
	if b.InFlight(ts[0]) != 0 || b.InFlight(ts[1]) != 0 || ts[0].InFlight() != 0 {
		t.Fatal("counts not back to zero")
	}
}

func TestBreakerFullPickWaitsForSlot(t *testing.T) {
	p, _ := fakePool(t, 1)
	b := newBreaker(t, NewRoundRobin(p), BreakerConfig{MaxInFlight: 1, MaxWaiting: 1, MaxWait: 5 * time.Second})
	_, done, err := b.Pick(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan error, 1)
	go func() {
		_, d, err := b.Pick(context.Background(), "")
		if err == nil {
			d(Result{Status: 200})
		}
		got <- err
	}()
	if !waitFor(2*time.Second, func() bool { return b.waiting.Load() == 1 }) {
		t.Fatal("the second request did not wait")
	}
	// A third request finds the waiting room full.
	if _, _, err := b.Pick(context.Background(), ""); !errors.Is(err, ErrCircuitOpen) {
		t.Fatalf("over MaxWaiting: %v, want ErrCircuitOpen", err)
	}
	done(Result{Status: 200})
	select {
	case err := <-got:
		if err != nil {
			t.Fatalf("waiter: %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("waiter not woken by the release")
	}
}

func TestBreakerWaitEndsAfterMaxWait(t *testing.T) {
	p, _ := fakePool(t, 1)
	b := newBreaker(t, NewRoundRobin(p), BreakerConfig{MaxInFlight: 1, MaxWaiting: 5, MaxWait: 20 * time.Millisecond})
	_, done, _ := b.Pick(context.Background(), "")
	defer done(Result{})
	if _, _, err := b.Pick(context.Background(), ""); !errors.Is(err, ErrCircuitOpen) {
		t.Fatalf("after MaxWait: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := b.Pick(ctx, ""); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled wait: %v", err)
	}
	if _, err := NewBreaker(nil, BreakerConfig{}); err == nil {
		t.Fatal("nil policy accepted")
	}
	if _, err := NewBreaker(NewRoundRobin(p), BreakerConfig{MaxInFlight: -1}); err == nil {
		t.Fatal("negative MaxInFlight accepted")
	}
	if _, err := NewBreaker(NewRoundRobin(p), BreakerConfig{MaxWait: time.Second}); err == nil {
		t.Fatal("MaxWait without MaxWaiting accepted (no request would ever wait)")
	}
}

func BenchmarkBreakerPick(b *testing.B) {
	p, _ := fakePool(b, 3)
	br := newBreaker(b, NewRoundRobin(p), BreakerConfig{})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			_, done, _ := br.Pick(context.Background(), "")
			done(Result{Status: 200})
		}
	})
}

// TestBreakerForgetsRemovedTargets: counts of targets removed from the
// pool are dropped once idle, on the next pick after the change.
func TestBreakerForgetsRemovedTargets(t *testing.T) {
	p, ts := fakePool(t, 3)
	b, err := NewBreaker(NewRoundRobin(p), BreakerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		_, done, err := b.Pick(context.Background(), "")
		if err != nil {
			t.Fatal(err)
		}
		done(Result{Status: 200})
	}
	p.Remove(ts[0].URL())
	_, done, _ := b.Pick(context.Background(), "")
	done(Result{Status: 200})
	n := 0
	b.counts.Range(func(k, _ any) bool {
		n++
		if k.(*Target) == ts[0] {
			t.Error("the removed target's count is still kept")
		}
		return true
	})
	if n != 2 {
		t.Fatalf("%d counts kept, want 2", n)
	}
}

func TestBreakerLogsATripOncePerSecond(t *testing.T) {
	var buf bytes.Buffer
	var mu sync.Mutex
	p, _ := fakePool(t, 1)
	b, err := NewBreaker(NewRoundRobin(p), BreakerConfig{MaxInFlight: 1, Name: "api", Logger: slogTo(&buf, &mu)})
	if err != nil {
		t.Fatal(err)
	}
	_, done, err := b.Pick(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	defer done(Result{Status: 200})
	for range 5 {
		if _, _, err := b.Pick(context.Background(), ""); !errors.Is(err, ErrCircuitOpen) {
			t.Fatalf("pick over the limit: %v, want ErrCircuitOpen", err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if n := strings.Count(buf.String(), "circuit breaker tripped"); n != 1 {
		t.Errorf("%d trip records for a burst of 5 rejections, want 1:\n%s", n, buf.String())
	}
	if !strings.Contains(buf.String(), "pool=api max_in_flight=1 rejected=1") {
		t.Errorf("the trip record does not name the pool and limit:\n%s", buf.String())
	}
}
