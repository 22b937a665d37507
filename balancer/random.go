package balancer

import (
	"context"
	"math/rand/v2"
	"sort"
)

// Random picks an available target at random, in proportion to its
// weight. A pick is O(1) with equal weights and O(log n) otherwise, and
// allocation-free. Random is safe for concurrent use.
type Random struct {
	pool *Pool
}

var _ Policy = (*Random)(nil)

// NewRandom returns a weighted random policy over pool. A nil pool behaves
// as an empty one.
func NewRandom(pool *Pool) *Random { return &Random{pool: pool} }

// Pick returns a random target; key is ignored.
func (r *Random) Pick(ctx context.Context, key string) (*Target, func(Result), error) {
	t, done, _, err := r.pickKeyed(ctx, key)
	return t, done, err
}

func (r *Random) pickKeyed(ctx context.Context, key string) (*Target, func(Result), doneID, error) {
	s := r.pool.load()
	if len(s.avail) == 0 {
		return nil, nil, nil, ErrNoTargets
	}
	var t *Target
	if s.uniform {
		t = s.avail[rand.IntN(len(s.avail))]
	} else {
		x := rand.Int64N(s.total)
		t = s.avail[sort.Search(len(s.cum), func(i int) bool { return s.cum[i] > x })]
	}
	t.acquire()
	return t, t.done, t, nil
}

func (r *Random) targetPool() *Pool { return r.pool }
