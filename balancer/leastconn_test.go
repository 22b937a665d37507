package balancer

import (
	"context"
	"math"
	"testing"
)

func TestLeastConnPicksLeastLoaded(t *testing.T) {
	pool := weightedPool(t, 1, 1, 1, 2)
	lc, err := NewLeastConn(pool, LoadConfig{})
	if err != nil {
		t.Fatal(err)
	}
	ts := pool.Targets()
	for i, n := range []int{2, 1, 3, 5} {
		for range n {
			ts[i].acquire()
		}
	}
	load := func(t *Target) float64 { return float64(t.InFlight()+1) / float64(t.Weight()) }
	var held []func(Result)
	for range 20 {
		minLoad := math.Inf(1)
		for _, t := range ts {
			minLoad = min(minLoad, load(t))
		}
		tg, done, err := lc.Pick(context.Background(), "")
		if err != nil {
			t.Fatal(err)
		}
		if load(tg)-1/float64(tg.Weight()) != minLoad {
			t.Fatalf("Pick = %s with load %.2f, want one with the least load %.2f", name(tg), load(tg), minLoad)
		}
		held = append(held, done)
	}
	for _, d := range held {
		d(Result{Status: 200})
	}
}
