package balancer

import (
	"context"
	"math/rand/v2"
	"time"
)

// LeastRequest is least-request load balancing by the power of two
// choices, NewPolicy's default: each pick draws two distinct
// available targets at random and takes the one with fewer requests in
// flight relative to its weight. It is nearly as good as a full scan, and
// the most loaded target never receives a new request. Recent failures
// count as load (decaying over LoadConfig.Decay), so a target that fails
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
func (lr *LeastRequest) Pick(_ context.Context, key string) (*Target, func(Result), error) {
	return lr.PickAt(key, time.Time{})
}

// PickAt is Pick at the instant now (zero means time.Now()), which ages
// the memory of failures.
func (lr *LeastRequest) PickAt(_ string, now time.Time) (*Target, func(Result), error) {
	ns := lr.la.nodes()
	switch len(ns) {
	case 0:
		return nil, nil, ErrNoTargets
	case 1:
		return pickNode(ns[0])
	}
	c := clock{now: now, base: lr.la.params.base}
	a, b := twoOf(ns)
	if requestLoad(b, &c) < requestLoad(a, &c) {
		a = b
	}
	return pickNode(a)
}

// twoOf returns two distinct random nodes of ns (len(ns) >= 2).
func twoOf(ns []*node) (*node, *node) {
	i := rand.IntN(len(ns))
	j := rand.IntN(len(ns) - 1)
	if j >= i {
		j++
	}
	return ns[i], ns[j]
}

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
func (lc *LeastConn) Pick(_ context.Context, key string) (*Target, func(Result), error) {
	return lc.PickAt(key, time.Time{})
}

// PickAt is Pick at the instant now (zero means time.Now()).
func (lc *LeastConn) PickAt(_ string, now time.Time) (*Target, func(Result), error) {
	ns := lc.la.nodes()
	if len(ns) == 0 {
		return nil, nil, ErrNoTargets
	}
	c := clock{now: now, base: lc.la.params.base}
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

// PeakEWMA is latency-aware load balancing (Finagle's and Linkerd's peak
// EWMA): each target's cost is its latency estimate times its requests in
// flight plus one, over its weight, and each pick takes the cheaper of two
// random targets. The estimate jumps up at once to a slower response
// (peak) and decays smoothly otherwise; a failed request (transport error,
// 429, 5xx) is charged LoadConfig.FailurePenalty however fast it failed,
// so a target that answers 503 at once is avoided rather than rewarded.
// Done results must carry Latency (Proxy fills it with time to first byte).
//
// A pick is O(1) and allocation-free. PeakEWMA is safe for concurrent use.
type PeakEWMA struct{ la loadAware }

var _ Policy = (*PeakEWMA)(nil)

// NewPeakEWMA returns a peak-EWMA policy over pool. A nil pool behaves as
// an empty one. It returns an error for an invalid cfg.
func NewPeakEWMA(pool *Pool, cfg LoadConfig) (*PeakEWMA, error) {
	pe := &PeakEWMA{}
	if err := pe.la.init(pool, cfg, true); err != nil {
		return nil, err
	}
	return pe, nil
}

// Pick returns the cheaper of two random targets; key is ignored.
func (pe *PeakEWMA) Pick(_ context.Context, key string) (*Target, func(Result), error) {
	return pe.PickAt(key, time.Time{})
}

// PickAt is Pick at the instant now (zero means time.Now()), which ages
// the latency estimates.
func (pe *PeakEWMA) PickAt(_ string, now time.Time) (*Target, func(Result), error) {
	ns := pe.la.nodes()
	switch len(ns) {
	case 0:
		return nil, nil, ErrNoTargets
	case 1:
		return pickNode(ns[0])
	}
	c := clock{now: now, base: pe.la.params.base}
	a, b := twoOf(ns)
	if ewmaCost(b, &c) < ewmaCost(a, &c) {
		a = b
	}
	return pickNode(a)
}

func ewmaCost(n *node, c *clock) float64 {
	lat := max(n.latency(c), 1) // at least 1ns, so in-flight requests always count
	return lat * float64(n.t.inflight.Load()+1) / float64(n.t.weight.Load())
}
