package balancer

import (
	"context"
	"errors"
	"net/url"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
)

func TestPoolChangesPublishNewSnapshots(t *testing.T) {
	pool := weightedPool(t, 1, 2)
	s0 := pool.load()
	c, err := pool.Add(Upstream{URL: &url.URL{Scheme: "http", Host: "c.test:80"}, Weight: 3, Zone: "z1", Metadata: map[string]string{"k": "v"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Add(Upstream{URL: &url.URL{Scheme: "HTTP", Host: "C.test:80"}}); err == nil {
		t.Error("duplicate (after case folding) accepted")
	}
	if len(s0.all) != 2 || s0.total != 3 {
		t.Error("an old snapshot changed after Add")
	}
	if pool.Len() != 3 || pool.Available() != 3 || c.Zone() != "z1" || c.Metadata("k") != "v" {
		t.Fatalf("after Add: len %d avail %d zone %q", pool.Len(), pool.Available(), c.Zone())
	}
	if got, ok := pool.Lookup("http://c.test:80"); !ok || got != c {
		t.Error("Lookup failed")
	}
	if err := pool.Update(Upstream{URL: c.URL(), Weight: 5}); err != nil || c.Weight() != 5 || pool.load().total != 8 {
		t.Errorf("Update: %v, weight %d, total %d", err, c.Weight(), pool.load().total)
	}
	if err := pool.Update(Upstream{URL: &url.URL{Scheme: "http", Host: "zz:1"}}); err == nil {
		t.Error("Update of an unknown target succeeded")
	}
	if !pool.SetHealthy(c, false) || pool.SetHealthy(c, false) || pool.Available() != 2 || c.Healthy() {
		t.Error("SetHealthy(false) did not take c out exactly once")
	}
	pool.SetHealthy(c, true)
	if !pool.Remove(c.URL()) || pool.Remove(c.URL()) || pool.Len() != 2 {
		t.Error("Remove did not remove c exactly once")
	}
	// Targets is a copy.
	ts := pool.Targets()
	ts[0] = nil
	if pool.Targets()[0] == nil {
		t.Error("Targets exposes the snapshot")
	}
	other := weightedPool(t, 1)
	if pool.SetHealthy(other.Targets()[0], false) {
		t.Error("SetHealthy accepted another pool's target")
	}
}

// TestConcurrentPicksWhileChanging picks with every policy from several
// goroutines while targets are added, removed, reweighted and flip health.
// The changes start only once every picker has made warmup picks, and go
// on (at least 300 of them) until every picker has made minDuring picks
// while they ran, so picks and changes are known to overlap.
func TestConcurrentPicksWhileChanging(t *testing.T) {
	const warmup, minDuring = 20, 5
	pool := sizedPool(t, 8)
	pols := allPolicies(t, pool)
	stop := make(chan struct{})
	var (
		wg, warm  sync.WaitGroup
		changing  atomic.Bool  // the pool is being changed
		during    atomic.Int64 // picks started while it was
		saturated atomic.Int64 // pickers with minDuring such picks
	)
	warm.Add(len(pols))
	for name, p := range pols {
		wg.Go(func() {
			mine := 0
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if i == warmup {
					warm.Done()
				}
				if changing.Load() {
					during.Add(1)
					if mine++; mine == minDuring {
						saturated.Add(1)
					}
				}
				tg, done, err := p.Pick(context.Background(), keyOf(i%50))
				if err != nil {
					if !errors.Is(err, ErrNoTargets) {
						t.Errorf("%s: %v", name, err)
					}
					continue
				}
				_ = tg.URL().Host
				done(Result{Status: 200, Latency: 1000})
				if mine > minDuring {
					runtime.Gosched() // leave the changer some CPU
				}
			}
		})
	}
	warm.Wait()
	changing.Store(true)
	extra := &url.URL{Scheme: "http", Host: "extra.test:80"}
	changes := 0
	for ; changes < 300 || saturated.Load() < int64(len(pols)); changes++ {
		switch changes % 4 {
		case 0:
			pool.Add(Upstream{URL: extra, Weight: 1 + changes%3})
		case 1:
			pool.Update(Upstream{URL: extra, Weight: 2})
		case 2:
			ts := pool.Targets()
			pool.SetHealthy(ts[changes%len(ts)], changes%8 != 2)
		case 3:
			pool.Remove(extra)
		}
		if changes >= 300 {
			runtime.Gosched() // let starved pickers catch up
		}
	}
	changing.Store(false)
	close(stop)
	wg.Wait()
	t.Logf("%d pool changes, %d picks during them", changes, during.Load())
	if during.Load() < minDuring*int64(len(pols)) {
		t.Errorf("%d picks overlapped the pool changes, want at least %d", during.Load(), minDuring*len(pols))
	}
	for _, tg := range pool.Targets() {
		pool.SetHealthy(tg, true)
	}
	if pool.Available() != pool.Len() || pool.Len() < 8 {
		t.Errorf("after the changes: %d targets, %d available", pool.Len(), pool.Available())
	}
	if n := pool.InFlight(); n != 0 {
		t.Errorf("in flight after all done = %d", n)
	}
}
