package balancer

import (
	"context"
	"math/rand/v2"
	"time"
)

// LeastConn scans every available target and picks the one with the
// fewest requests in flight relative to its weight (recent failures count
// as load, as in LeastRequest), breaking ties by starting the scan at a
// random target. A pick is O(n); prefer LeastRequest for large pools.
// LeastConn is safe for concurrent use.
type LeastConn struct{ la loadAware }

var _ Policy = (*LeastConn)(nil)

// NewLeastConn returns a least-connections (full scan) policy over pool.
// A nil pool behaves as an empty one. It returns an error for an invalid cfg.
func NewLeastConn(pool *Pool, cfg LoadConfig) (*LeastConn, error) {
	lc := &LeastConn{}
	if err := lc.la.init(pool, cfg, false); err != nil {
		return nil, err
	}
	return lc, nil
}

// Pick returns the least loaded target; key is ignored.
func (lc *LeastConn) Pick(context.Context, string) (*Target, func(Result), error) {
	t, done, _, err := lc.pick(clock{base: lc.la.params.base})
	return t, done, err
}

func (lc *LeastConn) pickKeyed(context.Context, string) (*Target, func(Result), doneID, error) {
	return lc.pick(clock{base: lc.la.params.base})
}

// PickAt is Pick at the instant now, for tests and simulations that
// drive time themselves; key is ignored. Time ages the memory of failures.
func (lc *LeastConn) PickAt(_ string, now time.Time) (*Target, func(Result), error) {
	t, done, _, err := lc.pick(fixedClock(now))
	return t, done, err
}

func (lc *LeastConn) pick(c clock) (*Target, func(Result), doneID, error) {
	ns := lc.la.nodes()
	if len(ns) == 0 {
		return nil, nil, nil, ErrNoTargets
	}
	start := rand.IntN(len(ns))
	best, bestLoad := ns[start], requestLoad(ns[start], &c)
	for k := 1; k < len(ns); k++ {
		n := ns[(start+k)%len(ns)]
		if l := requestLoad(n, &c); l < bestLoad {
			best, bestLoad = n, l
		}
	}
	return pickNode(best)
}

func (lc *LeastConn) targetPool() *Pool { return lc.la.pool }
