package balancer

import "testing"

func TestRandomSharesFollowWeights(t *testing.T) {
	// 50,000 picks: the standard error of a share is at most 0.0023; the
	// tolerance is about 6 of them.
	got := shares(t, NewRandom(weightedPool(t, 1, 2, 7)), 50000, nil)
	checkShares(t, got, map[string]float64{"a": 0.1, "b": 0.2, "c": 0.7}, 0.015)
	got = shares(t, NewRandom(weightedPool(t, 1, 1, 1, 1)), 50000, nil)
	checkShares(t, got, map[string]float64{"a": 0.25, "b": 0.25, "c": 0.25, "d": 0.25}, 0.015)
}
