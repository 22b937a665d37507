package balancer

import (
	"context"
	"math/rand/v2"
	"sync"
	"sync/atomic"
)

// maxCycleWork bounds the work (cycle length times targets) of
// precomputing a smooth weighted round-robin cycle, and so its memory.
const maxCycleWork = 1 << 22

// WeightedRoundRobin is NGINX's smooth weighted round robin: each pick adds
// every target's weight to its current score, picks the highest score and
// subtracts the total weight from it, so picks interleave (weights 5, 1, 1
// give a a b a c a a, not a a a a a b c). It starts at a random point of
// the cycle, so that restarted gateways do not all send their first
// requests to the heaviest target.
//
// The cycle (total weight over the weights' greatest common divisor picks
// long) is precomputed after each pool change, so a pick is one atomic
// increment and a table lookup. Only when the cycle would be very long
// (cycle length times targets above 4M) does a pick step NGINX's
// algorithm under a mutex, in O(n). It is safe for concurrent use.
type WeightedRoundRobin struct {
	pool     *Pool
	rr       atomic.Uint64 // position in the cycle
	cycle    snapshotCache[*wrrCycle]
	maxCycle int64 // maxCycleWork; tests lower it to exercise the stepping path

	// mu guards snap and current, the state of the stepping path.
	mu      sync.Mutex
	snap    *snapshot
	current []int64
}

// wrrCycle is a precomputed cycle of picks, or nil seq when too long.
type wrrCycle struct {
	ts  []*Target
	seq []int32
}

var _ Policy = (*WeightedRoundRobin)(nil)

// NewWeightedRoundRobin returns a smooth weighted round-robin policy over
// pool. A nil pool behaves as an empty one.
func NewWeightedRoundRobin(pool *Pool) *WeightedRoundRobin {
	w := &WeightedRoundRobin{pool: pool, maxCycle: maxCycleWork}
	w.rr.Store(rand.Uint64())
	return w
}

// Pick returns the next target of the weighted cycle; key is ignored. It
// returns ErrNoTargets when none is available.
func (w *WeightedRoundRobin) Pick(ctx context.Context, key string) (*Target, func(Result), error) {
	t, done, _, err := w.pickKeyed(ctx, key)
	return t, done, err
}

func (w *WeightedRoundRobin) pickKeyed(ctx context.Context, key string) (*Target, func(Result), doneID, error) {
	s := w.pool.load()
	if len(s.avail) == 0 {
		return nil, nil, nil, ErrNoTargets
	}
	var t *Target
	switch {
	case s.uniform:
		// Smooth WRR over equal weights is round robin in index order.
		t = s.avail[(w.rr.Add(1)-1)%uint64(len(s.avail))]
	default:
		if c := w.cycle.get(s, w.buildCycle); c.seq != nil {
			t = c.ts[c.seq[(w.rr.Add(1)-1)%uint64(len(c.seq))]]
			break
		}
		w.mu.Lock()
		if w.snap != s {
			w.reset(s, rand.Int64N(min(s.total, 1024)))
		}
		t = s.avail[w.step()]
		w.mu.Unlock()
	}
	t.acquire()
	return t, t.done, t, nil
}

// buildCycle precomputes the cycle of s, with weights divided by their
// greatest common divisor (which leaves the sequence unchanged).
func (w *WeightedRoundRobin) buildCycle(s *snapshot, _ *wrrCycle) *wrrCycle {
	g := s.weights[0]
	for _, wt := range s.weights[1:] {
		g = gcd(g, wt)
	}
	n := int64(len(s.weights))
	length := s.total / g
	if length*n > w.maxCycle {
		return &wrrCycle{}
	}
	weights := make([]int64, n)
	for i, wt := range s.weights {
		weights[i] = wt / g
	}
	current := make([]int64, n)
	seq := make([]int32, length)
	for k := range seq {
		best := 0
		for i, wt := range weights {
			current[i] += wt
			if current[i] > current[best] {
				best = i
			}
		}
		current[best] -= length
		seq[k] = int32(best)
	}
	return &wrrCycle{ts: s.avail, seq: seq}
}

func gcd(a, b int64) int64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// reset starts the stepping path's cycle of s afresh, advanced by skip
// picks. w.mu is held.
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

// step advances the stepping path's cycle by one pick and returns the
// index picked. w.mu is held and w.snap has targets.
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

func (w *WeightedRoundRobin) targetPool() *Pool { return w.pool }
