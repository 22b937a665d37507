package balancer

import (
	"math/rand/v2"
	"sync"
	"sync/atomic"
)

// WeightedRoundRobin is NGINX's smooth weighted round robin: each pick adds
// every target's weight to its current score, picks the highest score and
// subtracts the total weight from it, so picks interleave (weights 5, 1, 1
// give a a b a c a a, not a a a a a b c). After a pool change it starts at
// a random point of the cycle, so that restarted gateways do not all send
// their first requests to the heaviest target.
//
// With unequal weights a pick is O(n) in the number of available targets
// under a mutex; with equal weights the cycle is plain round robin and a
// pick is one atomic increment. It is safe for concurrent use.
type WeightedRoundRobin struct {
	pool *Pool
	rr   atomic.Uint64 // round-robin position while all weights are equal
	// mu guards snap and current.
	mu      sync.Mutex
	snap    *snapshot
	current []int64
}

var _ Policy = (*WeightedRoundRobin)(nil)

// NewWeightedRoundRobin returns a smooth weighted round-robin policy over
// pool. A nil pool behaves as an empty one.
func NewWeightedRoundRobin(pool *Pool) *WeightedRoundRobin {
	w := &WeightedRoundRobin{pool: pool}
	w.rr.Store(rand.Uint64())
	return w
}

// Pick returns the next target of the weighted cycle; key is ignored. It
// returns ErrNoTargets when none is available.
func (w *WeightedRoundRobin) Pick(string) (*Target, func(Result), error) {
	s := w.pool.load()
	if len(s.avail) == 0 {
		return nil, nil, ErrNoTargets
	}
	if s.uniform {
		// Smooth WRR over equal weights is round robin in index order.
		t := s.avail[(w.rr.Add(1)-1)%uint64(len(s.avail))]
		t.acquire()
		return t, t.done, nil
	}
	w.mu.Lock()
	if w.snap != s {
		w.reset(s, rand.Int64N(min(s.total, 1024)))
	}
	i := w.step()
	w.mu.Unlock()
	t := s.avail[i]
	t.acquire()
	return t, t.done, nil
}

// reset starts the cycle of s afresh, advanced by skip picks. w.mu is held.
func (w *WeightedRoundRobin) reset(s *snapshot, skip int64) {
	w.snap = s
	if cap(w.current) >= len(s.avail) {
		w.current = w.current[:len(s.avail)]
		clear(w.current)
	} else {
		w.current = make([]int64, len(s.avail))
	}
	for range skip {
		w.step()
	}
}

// step advances the cycle by one pick and returns the index picked. w.mu
// is held and w.snap has targets.
func (w *WeightedRoundRobin) step() int {
	best := 0
	for i, wt := range w.snap.weights {
		w.current[i] += wt
		if w.current[i] > w.current[best] {
			best = i
		}
	}
	w.current[best] -= w.snap.total
	return best
}
