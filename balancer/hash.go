package balancer

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
)

// defaultMaglevThreshold is the pool size above which Hash uses Maglev,
// stated on HashConfig.MaglevThreshold.
const defaultMaglevThreshold = 64

// HashConfig configures a Hash policy. The zero value of each field
// selects the default documented on it.
type HashConfig struct {
	// Fallback picks for requests without a key (key ""). If nil, a
	// LeastRequest policy over the same pool.
	Fallback Policy
	// BoundedLoad, when above zero, caps each target's requests in flight
	// at BoundedLoad times its fair share (consistent hashing with bounded
	// loads, Mirrokni et al.; 1.25 is a common choice): a key whose target
	// is full goes to its next choice, so a hot key cannot overload one
	// target. It must be 0 (off) or at least 1.
	BoundedLoad float64
	// MaglevThreshold is the number of available targets above which
	// Maglev tables are used instead of rendezvous hashing (O(n) per
	// pick, no memory). Zero means 64; a
	// negative value means always Maglev.
	MaglevThreshold int
}

// Hash is consistent hashing: a key (a client address, header, cookie,
// query parameter or path; see reqkey.Parse) always maps to the same target
// while the pool is unchanged, and a pool change moves only about 1/N of
// the keys. Small pools use weighted rendezvous (highest random weight)
// hashing, large ones Maglev tables built lazily after each pool change.
// Keys hash with a fixed function, so every gateway instance maps a key
// to the same target. Requests with no key go to the fallback policy.
//
// A pick allocates nothing. With a load bound, a key whose targets are
// full walks the rest in its rendezvous order, computing each score once
// (O(n + k log n) for k full targets). Hash is safe for concurrent use and
// must not be copied.
type Hash struct {
	pool      *Pool
	fallback  Policy
	bound     float64
	threshold int
	maglev    snapshotCache[*maglevTable]
	// scratch holds *rank buffers for bounded walks over pools larger
	// than rendezvousStack, so that those picks allocate nothing either.
	scratch sync.Pool
}

type maglevTable struct {
	ts    []*Target
	table []int32
}

var _ Policy = (*Hash)(nil)

// NewHash returns a consistent-hash policy over pool. It returns an error
// for an invalid cfg, or a Fallback that picks from another pool (requests
// without a key would go to targets the hash never names).
func NewHash(pool *Pool, cfg HashConfig) (*Hash, error) {
	if cfg.BoundedLoad != 0 && (cfg.BoundedLoad < 1 || math.IsNaN(cfg.BoundedLoad) || math.IsInf(cfg.BoundedLoad, 0)) {
		return nil, fmt.Errorf("balancer: BoundedLoad %v must be 0 or at least 1", cfg.BoundedLoad)
	}
	if fp := policyPool(cfg.Fallback); fp != nil && fp != pool {
		return nil, errors.New("balancer: the hash policy's fallback picks from another pool")
	}
	h := &Hash{pool: pool, fallback: cfg.Fallback, bound: cfg.BoundedLoad, threshold: cmp.Or(cfg.MaglevThreshold, defaultMaglevThreshold)}
	if h.fallback == nil {
		lr, err := NewLeastRequest(pool, LoadConfig{})
		if err != nil {
			return nil, err
		}
		h.fallback = lr
	}
	return h, nil
}

// Pick returns the target key maps to; the fallback policy picks when key
// is "".
func (h *Hash) Pick(ctx context.Context, key string) (*Target, func(Result), error) {
	t, done, _, err := h.pickKeyed(ctx, key)
	return t, done, err
}

func (h *Hash) pickKeyed(ctx context.Context, key string) (*Target, func(Result), doneID, error) {
	if key == "" {
		return pickKeyed(ctx, h.fallback, "")
	}
	s := h.pool.load()
	if len(s.avail) == 0 {
		return nil, nil, nil, ErrNoTargets
	}
	hk := hashString(key)
	var t *Target
	if h.threshold < 0 || len(s.avail) > h.threshold {
		t = h.pickMaglev(s, hk)
	} else {
		t = h.pickRendezvous(s, hk)
	}
	t.acquire()
	return t, t.done, t, nil
}

// admits reports whether t may take one more request under the load bound.
func (h *Hash) admits(s *snapshot, t *Target, w int64) bool {
	if h.bound == 0 {
		return true
	}
	total := float64(h.pool.InFlight() + 1)
	limit := math.Ceil(h.bound * total * float64(w) / float64(s.total))
	return float64(t.inflight.Load()+1) <= limit
}

// rendezvousScore is the weighted highest-random-weight score of target i
// for key hash hk: -w / ln(u) with u uniform in (0, 1).
func rendezvousScore(s *snapshot, i int, hk uint64) float64 {
	h := mix64(hk ^ s.avail[i].hash)
	if s.uniform {
		return float64(h)
	}
	u := (float64(h>>11) + 0.5) / (1 << 53)
	return -float64(s.weights[i]) / math.Log(u)
}

func (h *Hash) pickRendezvous(s *snapshot, hk uint64) *Target {
	// The key's target is the highest score (ties to the lower index).
	best, bestScore := 0, rendezvousScore(s, 0, hk)
	for i := 1; i < len(s.avail); i++ {
		if sc := rendezvousScore(s, i, hk); sc > bestScore {
			best, bestScore = i, sc
		}
	}
	if h.admits(s, s.avail[best], s.weights[best]) {
		return s.avail[best] // the usual case, and always without a bound
	}
	n := len(s.avail)
	if n <= rendezvousStack {
		var score [rendezvousStack]float64
		var heap [rendezvousStack]int32
		return h.walkRendezvous(s, hk, best, rank{score: score[:n], heap: heap[:0:n]})
	}
	buf, _ := h.scratch.Get().(*rank)
	if buf == nil || cap(buf.score) < n {
		buf = &rank{score: make([]float64, n), heap: make([]int32, 0, n)}
	}
	t := h.walkRendezvous(s, hk, best, rank{score: buf.score[:n], heap: buf.heap[:0]})
	h.scratch.Put(buf)
	return t
}

// rendezvousStack is the largest pool whose rendezvous scores a bounded
// pick keeps on its stack. Larger pools (MaglevThreshold raised above the
// default) borrow a buffer from Hash.scratch instead.
const rendezvousStack = defaultMaglevThreshold

// rank holds one key's rendezvous scores (indexed like snapshot.avail)
// and a binary max-heap of target indexes ordered by them.
type rank struct {
	score []float64
	heap  []int32
}

// walkRendezvous returns the first target after best (which refused the
// request) in decreasing score order, ties to the lower index, that admits
// the request, or the least loaded target when none does. r.score has
// len(s.avail) elements and r.heap is empty with that capacity. Each score
// is computed once more and the rest are popped from a heap: O(n + k log n)
// for k targets refused, where rescanning for each rank was O(k n).
func (h *Hash) walkRendezvous(s *snapshot, hk uint64, best int, r rank) *Target {
	for i := range r.score {
		r.score[i] = rendezvousScore(s, i, hk)
		if i != best {
			r.heap = append(r.heap, int32(i))
		}
	}
	for i := len(r.heap)/2 - 1; i >= 0; i-- {
		r.down(i)
	}
	for len(r.heap) > 0 {
		i := r.heap[0]
		if h.admits(s, s.avail[i], s.weights[i]) {
			return s.avail[i]
		}
		last := len(r.heap) - 1
		r.heap[0] = r.heap[last]
		r.heap = r.heap[:last]
		r.down(0)
	}
	return leastLoaded(s)
}

// before reports whether target a comes before target b in the walk.
func (r *rank) before(a, b int32) bool {
	return r.score[a] > r.score[b] || r.score[a] == r.score[b] && a < b
}

// down restores the heap order below position i.
func (r *rank) down(i int) {
	for {
		c := 2*i + 1
		if c >= len(r.heap) {
			return
		}
		if c+1 < len(r.heap) && r.before(r.heap[c+1], r.heap[c]) {
			c++
		}
		if !r.before(r.heap[c], r.heap[i]) {
			return
		}
		r.heap[i], r.heap[c] = r.heap[c], r.heap[i]
		i = c
	}
}

func (h *Hash) pickMaglev(s *snapshot, hk uint64) *Target {
	mt, stale := h.maglev.peek(s, buildMaglevTable)
	m := uint64(len(mt.table))
	slot := hk % m
	// With a load bound, walk the table from the key's slot: successive
	// slots belong to pseudo-random targets, stable for the key. A stale
	// table (another pick is building the new one) keeps keys where they
	// were, skipping targets no longer available.
	for k := uint64(0); k < 4*uint64(len(mt.ts))+4; k++ {
		i := mt.table[(slot+k)%m]
		t := mt.ts[i]
		if stale && (!t.healthy.Load() || s.byID[t.id] != t) {
			continue
		}
		if h.admits(s, t, t.weight.Load()) {
			return t
		}
	}
	return leastLoaded(s)
}

func buildMaglevTable(s *snapshot, _ *maglevTable) *maglevTable {
	return &maglevTable{ts: s.avail, table: buildMaglev(s.avail, s.weights, maglevSize(len(s.avail)))}
}

// leastLoaded returns the available target with the fewest requests in
// flight relative to its weight; s has targets.
func leastLoaded(s *snapshot) *Target {
	best, bestLoad := s.avail[0], math.Inf(1)
	for i, t := range s.avail {
		if l := float64(t.inflight.Load()) / float64(s.weights[i]); l < bestLoad {
			best, bestLoad = t, l
		}
	}
	return best
}

func (h *Hash) targetPool() *Pool { return h.pool }
