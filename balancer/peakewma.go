package balancer

import (
	"context"
	"time"
)

// PeakEWMA is latency-aware load balancing (Finagle's and Linkerd's peak
// EWMA): each target's cost is its latency estimate times its requests in
// flight plus one, over its weight, and each pick takes the cheaper of two
// random targets. The estimate jumps up at once to a slower response
// (peak) and decays smoothly otherwise; a failed request (transport error,
// 429, 5xx) is charged LoadConfig.FailurePenalty however fast it failed,
// so a target that answers 503 at once is avoided rather than rewarded.
// Done results must carry Latency (package proxy fills it with the time to
// first byte).
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
func (pe *PeakEWMA) Pick(context.Context, string) (*Target, func(Result), error) {
	t, done, _, err := pe.la.pick(clock{base: pe.la.params.base})
	return t, done, err
}

func (pe *PeakEWMA) pickKeyed(context.Context, string) (*Target, func(Result), doneID, error) {
	return pe.la.pick(clock{base: pe.la.params.base})
}

// PickAt is Pick at the instant now, for tests and simulations that
// drive time themselves; key is ignored. Time ages the latency estimates.
func (pe *PeakEWMA) PickAt(_ string, now time.Time) (*Target, func(Result), error) {
	t, done, _, err := pe.la.pick(fixedClock(now))
	return t, done, err
}

func ewmaCost(n *node, c *clock) float64 {
	lat := max(n.latency(c), 1) // at least 1ns, so in-flight requests always count
	return lat * float64(n.t.inflight.Load()+1) / float64(n.t.weight.Load())
}

func (pe *PeakEWMA) targetPool() *Pool { return pe.la.pool }
