package balancer

import (
	"fmt"
	"strings"
	"testing"
)

func TestWeightedRoundRobinIsSmooth(t *testing.T) {
	tests := []struct {
		weights []int
		cycle   string
	}{
		{[]int{5, 1, 1}, "aabacaa"},
		{[]int{1, 1, 1}, "abc"},
		{[]int{3, 2}, "ababa"},
		{[]int{2, 1}, "aba"},
		{[]int{1, 4}, "bbabb"},
	}
	for _, tc := range tests {
		for _, path := range []string{"cycle", "stepping"} {
			t.Run(fmt.Sprint(tc.weights, path), func(t *testing.T) {
				pool := weightedPool(t, tc.weights...)
				mk := func() *WeightedRoundRobin {
					w := NewWeightedRoundRobin(pool)
					if path == "stepping" {
						w.maxCycle = 0
					}
					return w
				}
				// From the start of the cycle: exact.
				w := mk()
				w.mu.Lock()
				w.reset(pool.load(), 0)
				w.mu.Unlock()
				w.rr.Store(0)
				if got, want := picks(t, w, 2*len(tc.cycle)), strings.Repeat(tc.cycle, 2); got != want {
					t.Fatalf("picks = %q, want %q", got, want)
				}
				// From a random start: a rotation of the cycle.
				if got := picks(t, mk(), 3*len(tc.cycle)); !isRotation(got, tc.cycle) {
					t.Fatalf("picks = %q, want a rotation of %q", got, tc.cycle)
				}
			})
		}
	}
	// Weights with a common divisor give the same cycle.
	w := NewWeightedRoundRobin(weightedPool(t, 50, 10, 10))
	w.rr.Store(0)
	if got := picks(t, w, 7); got != "aabacaa" {
		t.Errorf("weights 50, 10, 10: picks = %q, want aabacaa", got)
	}
}
