package balancer

import (
	"context"
	"errors"
	"sync"
	"testing"
)

// outcomeLog is a policy that records the Result of every pick it made.
type outcomeLog struct {
	p       Policy
	mu      sync.Mutex
	picked  []*Target
	results []Result
}

func (o *outcomeLog) Pick(ctx context.Context, key string) (*Target, func(Result), error) {
	t, done, err := o.p.Pick(ctx, key)
	if err != nil {
		return nil, nil, err
	}
	o.mu.Lock()
	o.picked = append(o.picked, t)
	o.mu.Unlock()
	return t, func(r Result) {
		o.mu.Lock()
		o.results = append(o.results, r)
		o.mu.Unlock()
		done(r)
	}, nil
}

func TestPickUntilAsksHashingPolicyWithDerivedKeys(t *testing.T) {
	p, _ := fakePool(t, 3)
	h, err := NewHash(p, HashConfig{})
	if err != nil {
		t.Fatal(err)
	}
	first, done, err := h.Pick(context.Background(), "user-7")
	if err != nil {
		t.Fatal(err)
	}
	done(Result{Canceled: true})
	got, done, err := PickUntil(context.Background(), h, "user-7", func(t *Target) bool { return t != first })
	if err != nil || got == nil {
		t.Fatalf("PickUntil = %v, %v; want another target", got, err)
	}
	if got == first {
		t.Fatalf("PickUntil returned the refused target %s", got)
	}
	done(Result{Status: 200})
	for _, tg := range p.Targets() {
		if tg.InFlight() != 0 {
			t.Fatalf("%s has %d in flight after every done", tg, tg.InFlight())
		}
	}
}

func TestPickUntilCancelsEveryRefusedPick(t *testing.T) {
	p, _ := fakePool(t, 2)
	log := &outcomeLog{p: NewRoundRobin(p)}
	asks := 0
	got, _, err := PickUntil(context.Background(), log, "", func(*Target) bool {
		asks++
		return false
	})
	if got != nil || err != nil {
		t.Fatalf("PickUntil = %v, %v; want nil, nil when nothing is accepted", got, err)
	}
	if asks != 4 {
		t.Fatalf("asked %d times for a pool of 2, want max(4, 2×2) = 4", asks)
	}
	if len(log.results) != asks {
		t.Fatalf("%d done calls for %d refused picks", len(log.results), asks)
	}
	for _, r := range log.results {
		if !r.Canceled || r.Failed() {
			t.Fatalf("refused pick reported as %+v, want Canceled", r)
		}
	}
}

func TestPickUntilAsksTwicePoolSize(t *testing.T) {
	p, _ := fakePool(t, 5)
	asks := 0
	PickUntil(context.Background(), NewRoundRobin(p), "", func(*Target) bool {
		asks++
		return false
	})
	if asks != 10 {
		t.Fatalf("asked %d times for a pool of 5, want 10", asks)
	}
}

func TestPickUntilReturnsPolicyError(t *testing.T) {
	p, _ := fakePool(t, 1)
	p.SetHealthy(p.Targets()[0], false)
	called := false
	_, _, err := PickUntil(context.Background(), NewRoundRobin(p), "", func(*Target) bool {
		called = true
		return true
	})
	if !errors.Is(err, ErrNoTargets) {
		t.Fatalf("err = %v, want ErrNoTargets", err)
	}
	if called {
		t.Fatal("accept called without a target")
	}
}

func TestPickUntilDoesNotAllocate(t *testing.T) {
	p, _ := fakePool(t, 3)
	lr, err := NewLeastRequest(p, LoadConfig{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	n := 0
	allocs := testing.AllocsPerRun(100, func() {
		n = 0
		_, done, _ := PickUntil(ctx, lr, "", func(*Target) bool { n++; return n == 2 })
		done(Result{Status: 200})
	})
	if allocs != 0 {
		t.Fatalf("PickUntil allocated %v times per pick", allocs)
	}
}
