package balancer

import (
	"context"
	"time"
)

// LeastRequest is least-request load balancing by the power of two
// choices, NewPolicy's default: each pick draws two distinct
// available targets at random and takes the one with fewer requests in
// flight relative to its weight. It is nearly as good as a full scan, and
// the most loaded target never receives a new request. Recent failures
// count as load (forgotten over LoadConfig.Decay), so a target that fails
// fast does not attract traffic by looking idle.
//
// A pick is O(1) and allocation-free. LeastRequest is safe for concurrent use.
type LeastRequest struct{ la loadAware }

var _ Policy = (*LeastRequest)(nil)

// NewLeastRequest returns a least-request (P2C) policy over pool. A nil
// pool behaves as an empty one. It returns an error for an invalid cfg.
func NewLeastRequest(pool *Pool, cfg LoadConfig) (*LeastRequest, error) {
	lr := &LeastRequest{}
	if err := lr.la.init(pool, cfg, false); err != nil {
		return nil, err
	}
	return lr, nil
}

// Pick returns the less loaded of two random targets; key is ignored.
func (lr *LeastRequest) Pick(context.Context, string) (*Target, func(Result), error) {
	t, done, _, err := lr.la.pick(clock{base: lr.la.params.base})
	return t, done, err
}

func (lr *LeastRequest) pickKeyed(context.Context, string) (*Target, func(Result), doneID, error) {
	return lr.la.pick(clock{base: lr.la.params.base})
}

// PickAt is Pick at the instant now, for tests and simulations that
// drive time themselves; key is ignored. Time ages the memory of failures.
func (lr *LeastRequest) PickAt(_ string, now time.Time) (*Target, func(Result), error) {
	t, done, _, err := lr.la.pick(fixedClock(now))
	return t, done, err
}

func (lr *LeastRequest) targetPool() *Pool { return lr.la.pool }
