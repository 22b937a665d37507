package balancer

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of LoadConfig, stated on its fields.
const (
	defaultDecay          = 10 * time.Second
	defaultFailurePenalty = time.Second
	defaultInitialLatency = 10 * time.Millisecond
)

// LoadConfig configures the load-aware policies (LeastRequest, LeastConn,
// PeakEWMA). The zero value of each field selects the default documented
// on it.
type LoadConfig struct {
	// Decay is the time constant with which the memory of failures and
	// of latency fades, in wall time whatever the request rate. A failure
	// counts as one request in flight when it happens and weighs e^-t/Decay
	// t later; once a target's failures weigh less than e^-1 together
	// they are forgotten, so a single failure stops counting after Decay.
	// Zero means 10s.
	Decay time.Duration
	// FailurePenalty is the latency PeakEWMA charges for a failed request
	// (transport error, 429 or 5xx), however fast it failed, so that a
	// target answering 503 at once does not look fast. Zero means 1s.
	// The other policies refuse a non-zero value.
	FailurePenalty time.Duration
	// InitialLatency is the latency PeakEWMA assumes for a target before
	// its first response, so a new target is not flooded. Zero means
	// 10ms. The other policies refuse a non-zero value.
	InitialLatency time.Duration
}

func (c LoadConfig) resolve() (loadParams, error) {
	if c.Decay < 0 || c.FailurePenalty < 0 || c.InitialLatency < 0 {
		return loadParams{}, fmt.Errorf("balancer: negative duration in LoadConfig %+v", c)
	}
	return loadParams{
		tau:     float64(cmp.Or(c.Decay, defaultDecay)),
		penalty: float64(cmp.Or(c.FailurePenalty, defaultFailurePenalty)),
		initial: float64(cmp.Or(c.InitialLatency, defaultInitialLatency)),
	}, nil
}

// loadParams are resolved LoadConfig values, in nanoseconds.
type loadParams struct {
	tau, penalty, initial float64
	latency               bool      // the policy reads latency estimates (PeakEWMA)
	base                  time.Time // with a monotonic reading: now = base + time.Since(base), one clock read
}

// node is a load-aware policy's state for one target. Reads are lock-free
// (a torn read of value and stamp only skews one estimate); observations
// are serialised by mu.
type node struct {
	t      *Target
	params *loadParams

	mu     sync.Mutex    // serialises observe and guards seen
	seen   bool          // a latency was observed
	fail   atomic.Uint64 // float64 bits: decayed count of recent failures
	failAt atomic.Int64  // UnixNano of the last failure update; 0 = never
	lat    atomic.Uint64 // float64 bits: peak-EWMA latency, ns
	latAt  atomic.Int64  // UnixNano of the last latency update; 0 = never

	done func(Result) // n.finish, bound once
}

func newNode(t *Target, p *loadParams) *node {
	n := &node{t: t, params: p}
	n.lat.Store(math.Float64bits(p.initial))
	n.done = n.finish
	return n
}

// decayed returns v, last updated at stamp, decayed to now.
func (n *node) decayed(v float64, stamp, now int64) float64 {
	if stamp == 0 || v == 0 || now <= stamp {
		return v
	}
	return v * math.Exp(-float64(now-stamp)/n.params.tau)
}

// failures returns the decayed failure count at now.
func (n *node) failures(c *clock) float64 {
	v := math.Float64frombits(n.fail.Load())
	if v == 0 {
		return 0
	}
	return n.decayed(v, n.failAt.Load(), c.nanos())
}

// latency returns the latency estimate at now: the peak EWMA decaying
// towards zero while the target gets no responses, so an idle target is
// probed again.
func (n *node) latency(c *clock) float64 {
	now := c.nanos()
	stamp := n.latAt.Load()
	if stamp == 0 {
		// The initial estimate starts ageing when first considered.
		n.latAt.CompareAndSwap(0, now)
		stamp = now
	}
	return n.decayed(math.Float64frombits(n.lat.Load()), stamp, now)
}

// finish is the done function of load-aware policies.
func (n *node) finish(r Result) {
	n.observe(r)
	n.t.release(r)
}

func (n *node) observe(r Result) {
	if r.Canceled {
		return
	}
	failed := r.Failed() || r.Status == 429 || r.Status >= 500
	if !failed && (r.Latency <= 0 || !n.params.latency) {
		return // nothing this policy reads changes: no lock, no clock
	}
	c := clock{base: n.params.base}
	if !r.End.IsZero() {
		c = fixedClock(r.End)
	}
	now := c.nanos()
	n.mu.Lock()
	defer n.mu.Unlock()
	if failed {
		n.fail.Store(math.Float64bits(n.decayed(math.Float64frombits(n.fail.Load()), n.failAt.Load(), now) + 1))
		n.failAt.Store(now)
	}
	if !n.params.latency {
		return
	}
	rtt := float64(r.Latency)
	if failed {
		rtt = max(rtt, n.params.penalty)
	}
	cur, stamp := math.Float64frombits(n.lat.Load()), n.latAt.Load()
	switch {
	case !n.seen || rtt > cur:
		cur = rtt // first observation, or a peak
		n.seen = true
	default:
		w := math.Exp(-float64(max(now-stamp, 0)) / n.params.tau)
		cur = cur*w + rtt*(1-w)
	}
	n.lat.Store(math.Float64bits(cur))
	n.latAt.Store(now)
}

// clock resolves "now" at most once per pick, and only when needed: a
// fixed instant (PickAt, Result.End), or else the wall time derived from
// base and the monotonic clock (cheaper than time.Now, which reads two
// clocks).
type clock struct {
	base time.Time
	ns   int64
	set  bool // ns holds the instant
}

// fixedClock returns a clock that reads now.
func fixedClock(now time.Time) clock { return clock{ns: now.UnixNano(), set: true} }

func (c *clock) nanos() int64 {
	if !c.set {
		c.ns = c.base.UnixNano() + int64(time.Since(c.base))
		c.set = true
	}
	return c.ns
}

// nodeSet is the derived state of a load-aware policy: one node per
// available target, in the snapshot's order.
type nodeSet struct {
	nodes []*node
}

// buildNodes keeps the nodes of targets that stay, so their history
// survives pool changes.
func buildNodes(p *loadParams) func(s *snapshot, prev *nodeSet) *nodeSet {
	return func(s *snapshot, prev *nodeSet) *nodeSet {
		old := map[*Target]*node{}
		if prev != nil {
			for _, n := range prev.nodes {
				old[n.t] = n
			}
		}
		ns := &nodeSet{nodes: make([]*node, len(s.avail))}
		for i, t := range s.avail {
			if n := old[t]; n != nil {
				ns.nodes[i] = n
			} else {
				ns.nodes[i] = newNode(t, p)
			}
		}
		return ns
	}
}

// loadAware is the part shared by LeastRequest, LeastConn and PeakEWMA.
type loadAware struct {
	pool   *Pool
	params loadParams
	set    snapshotCache[*nodeSet]
	build  func(*snapshot, *nodeSet) *nodeSet
}

// pick returns the cheaper of two distinct random targets (the power of
// two choices), by cost.
func (la *loadAware) pick(c clock) (*Target, func(Result), doneID, error) {
	ns := la.nodes()
	switch len(ns) {
	case 0:
		return nil, nil, nil, ErrNoTargets
	case 1:
		return pickNode(ns[0])
	}
	a, b := twoOf(ns)
	if la.cost(b, &c) < la.cost(a, &c) {
		a = b
	}
	return pickNode(a)
}

// cost is a node's load as the policy weighs it: its latency estimate
// times its requests in flight for PeakEWMA (ewmaCost), its requests in
// flight and recent failures for LeastRequest (requestLoad).
func (la *loadAware) cost(n *node, c *clock) float64 {
	if la.params.latency {
		return ewmaCost(n, c)
	}
	return requestLoad(n, c)
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

func (la *loadAware) init(pool *Pool, cfg LoadConfig, latency bool) error {
	p, err := cfg.resolve()
	if err != nil {
		return err
	}
	if !latency && (cfg.FailurePenalty != 0 || cfg.InitialLatency != 0) {
		return errors.New("balancer: LoadConfig.FailurePenalty and InitialLatency apply to PeakEWMA only")
	}
	p.latency = latency
	p.base = time.Now()
	la.pool, la.params = pool, p
	la.build = buildNodes(&la.params)
	return nil
}

func (la *loadAware) nodes() []*node {
	s := la.pool.load()
	if len(s.avail) == 0 {
		return nil
	}
	return la.set.get(s, la.build).nodes
}

// forgetFailures is the decayed failure count below which a target's
// failures no longer count as load: one failure is forgotten after one
// Decay. Without it the memory of a failure, fading exponentially but
// never reaching zero, would lose every tie against a target that never
// failed: at low traffic, where targets are idle between requests, one
// 503 would keep a healthy target from being picked for minutes (until
// the count underflows next to 1).
const forgetFailures = 1 / math.E

// failureLoad returns the decayed count of n's recent failures at c,
// or zero once it falls below forgetFailures.
func failureLoad(n *node, c *clock) float64 {
	if f := n.failures(c); f >= forgetFailures {
		return f
	}
	return 0
}

// requestLoad is a target's load for least-request policies: in-flight
// requests plus the recent failures (failureLoad, so that a target that
// fails fast does not look idle), plus one, over its weight.
func requestLoad(n *node, c *clock) float64 {
	return (float64(n.t.inflight.Load()) + 1 + failureLoad(n, c)) / float64(n.t.weight.Load())
}

// pickNode counts the request on n and returns its target and done.
func pickNode(n *node) (*Target, func(Result), doneID, error) {
	n.t.acquire()
	return n.t, n.done, n, nil
}
