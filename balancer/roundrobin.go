package balancer

import (
	"context"
	"math/rand/v2"
	"sync/atomic"
)

// RoundRobin picks the available targets of a pool in turn, ignoring
// weights, starting at a random position so that a fleet of gateways
// restarted together does not send its first requests to the same target.
// It is safe for concurrent use: a pick is one atomic increment.
type RoundRobin struct {
	pool *Pool
	next atomic.Uint64
}

var _ Policy = (*RoundRobin)(nil)

// NewRoundRobin returns a round-robin policy over pool. A nil pool behaves
// as an empty one.
func NewRoundRobin(pool *Pool) *RoundRobin {
	rr := &RoundRobin{pool: pool}
	rr.next.Store(rand.Uint64())
	return rr
}

// Pick returns the next available target; key is ignored. It returns
// ErrNoTargets when none is available.
func (rr *RoundRobin) Pick(ctx context.Context, key string) (*Target, func(Result), error) {
	t, done, _, err := rr.pickKeyed(ctx, key)
	return t, done, err
}

func (rr *RoundRobin) pickKeyed(ctx context.Context, key string) (*Target, func(Result), doneID, error) {
	s := rr.pool.load()
	n := uint64(len(s.avail))
	if n == 0 {
		return nil, nil, nil, ErrNoTargets
	}
	t := s.avail[(rr.next.Add(1)-1)%n]
	t.acquire()
	return t, t.done, t, nil
}

func (rr *RoundRobin) targetPool() *Pool { return rr.pool }
