package balancer

import "testing"

func TestLeastRequestSpreadsByLoadAndWeight(t *testing.T) {
	lr, err := NewLeastRequest(weightedPool(t, 1, 1, 1, 1), LoadConfig{})
	if err != nil {
		t.Fatal(err)
	}
	checkShares(t, shares(t, lr, 40000, nil), map[string]float64{"a": 0.25, "b": 0.25, "c": 0.25, "d": 0.25}, 0.015)

	// The most loaded target never gets a new request.
	pool := weightedPool(t, 1, 1, 1)
	lr, _ = NewLeastRequest(pool, LoadConfig{})
	a := pool.Targets()[0]
	for range 5 {
		a.acquire()
	}
	if got := shares(t, lr, 3000, nil); got["a"] != 0 {
		t.Errorf("target with 5 in flight got share %.3f, want 0", got["a"])
	}
	// Weights: at equal load the heavier target wins.
	lr, _ = NewLeastRequest(weightedPool(t, 1, 3), LoadConfig{})
	if got := shares(t, lr, 1000, nil); got["b"] != 1 {
		t.Errorf("idle pool, weights 1 and 3: share of b = %.3f, want 1", got["b"])
	}
}
