package redisrate

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gatekit/gatekit/ratelimit"
)

// TestBatcherQueuedDecisionLeavesWhenCancelled freezes Redis so that one
// pipeline hangs, queues a second decision behind it and cancels that
// one: it returns at once, leaves the queue, and the hung pipeline still
// ends at its deadline, leaving the batcher idle for the next decision.
func TestBatcherQueuedDecisionLeavesWhenCancelled(t *testing.T) {
	s := startRedis(t)
	const timeout = 300 * time.Millisecond
	l := mustNew(t, newClient(t, s.addr()), Config{Name: "batch", Pipeline: true, Timeout: timeout, OnError: FailOpen, BreakerFailures: 100,
		Limit: ratelimit.Config{Rates: []ratelimit.Rate{ratelimit.PerMinute(100)}}})
	ctx := context.Background()
	if _, err := l.Decide(ctx, "warm-up"); err != nil {
		t.Fatal(err)
	}
	s.pause()
	first := make(chan time.Duration)
	go func() {
		start := time.Now()
		l.Decide(ctx, "a")
		first <- time.Since(start)
	}()
	waitFor(t, 5*time.Second, "the first pipeline in flight", func() bool {
		l.batch.mu.Lock()
		defer l.batch.mu.Unlock()
		return l.batch.busy
	})
	cctx, cancel := context.WithCancel(ctx)
	second := make(chan error)
	go func() { _, err := l.Decide(cctx, "b"); second <- err }()
	waitFor(t, 5*time.Second, "the second decision queued", func() bool {
		l.batch.mu.Lock()
		defer l.batch.mu.Unlock()
		return len(l.batch.queue) == 1
	})
	cancel()
	if err := <-second; !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled queued decision = %v, want context.Canceled", err)
	}
	if el := <-first; el > timeout+500*time.Millisecond {
		t.Errorf("the hung pipeline's decision took %v, want at most the %v timeout (+500ms scheduling slack)", el, timeout)
	}
	l.batch.mu.Lock()
	busy, queued := l.batch.busy, len(l.batch.queue)
	l.batch.mu.Unlock()
	if busy || queued != 0 {
		t.Errorf("batcher busy=%v with %d queued after the pipeline ended; want idle and empty", busy, queued)
	}
	if st := l.Stats(); st.Errors != 1 || st.Fallbacks != 1 {
		t.Errorf("Stats = %+v, want the one hung decision failed and decided by OnError (the cancelled one is not a Redis failure)", st)
	}
}
