package balancer

import (
	"fmt"
	"net/url"
	"sync"
	"sync/atomic"
)

// Pool is a dynamic set of targets. Readers (policies picking a target)
// load an immutable snapshot with one atomic load and never lock; writers
// (Add, Remove, Update, SetHealthy, SetDraining, and health checks and
// outlier detection) build a new snapshot and swap it in.
// Pool is safe for concurrent use and must not be copied. The zero value
// is not usable; call NewPool.
type Pool struct {
	// mu serialises writers; readers never take it.
	mu       sync.Mutex
	snap     atomic.Pointer[snapshot]
	inflight atomic.Int64 // requests in flight over all targets, removed ones included
	newDown  atomic.Bool  // Add creates targets held down by health checks (a checker with Initial StateDown runs)
}

// snapshot is an immutable view of a pool. Policies derive their own
// state from it and rebuild when version changes.
type snapshot struct {
	version uint64
	all     []*Target          // every target, in insertion order
	avail   []*Target          // targets that may be picked, in insertion order
	weights []int64            // weights of avail, fixed for this snapshot
	cum     []int64            // cumulative weights of avail, for weighted random
	total   int64              // sum of weights
	uniform bool               // all avail weights are equal
	byID    map[string]*Target // all targets by ID
}

// NewPool returns a pool holding ups. An empty pool is valid (targets may
// be added later); until then every pick fails with ErrNoTargets. A zero
// Upstream.Weight means weight 1 (see Upstream.Weight). It returns an
// error for an invalid upstream (including a weight below 0 or above
// MaxWeight) or a duplicate URL.
func NewPool(ups []Upstream) (*Pool, error) {
	p := &Pool{}
	p.snap.Store(&snapshot{byID: map[string]*Target{}, uniform: true})
	all := make([]*Target, 0, len(ups))
	seen := make(map[string]bool, len(ups))
	for _, up := range ups {
		u, err := up.normalize()
		if err != nil {
			return nil, err
		}
		t := newTarget(p, u, up)
		if seen[t.id] {
			return nil, fmt.Errorf("balancer: duplicate upstream %q", u.Redacted())
		}
		seen[t.id] = true
		all = append(all, t)
	}
	p.publish(all)
	return p, nil
}

// publish builds and stores the snapshot for all. Callers hold p.mu or own
// p exclusively.
func (p *Pool) publish(all []*Target) {
	s := &snapshot{all: all, byID: make(map[string]*Target, len(all)), uniform: true}
	if old := p.snap.Load(); old != nil {
		s.version = old.version + 1
	}
	for _, t := range all {
		s.byID[t.id] = t
		if !t.healthy.Load() {
			continue
		}
		w := t.weight.Load()
		if len(s.weights) > 0 && w != s.weights[0] {
			s.uniform = false
		}
		s.avail = append(s.avail, t)
		s.weights = append(s.weights, w)
		s.total += w
		s.cum = append(s.cum, s.total)
	}
	p.snap.Store(s)
}

// load returns the current snapshot.
func (p *Pool) load() *snapshot {
	if p == nil {
		return emptySnapshot
	}
	return p.snap.Load()
}

var emptySnapshot = &snapshot{uniform: true}

// Add adds a target and returns it. An up.Weight of zero means weight 1,
// not zero traffic (see Upstream.Weight); a target that must take no new
// requests is removed with Remove, or kept out with SetDraining or
// SetHealthy(t, false). It
// returns an error for an invalid upstream (no URL, a scheme other than
// http, https or h2c, no host, a weight below 0 or above MaxWeight) or when a
// target with the same URL is already in the pool.
func (p *Pool) Add(up Upstream) (*Target, error) {
	u, err := up.normalize()
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.snap.Load()
	t := newTarget(p, u, up)
	if s.byID[t.id] != nil {
		return nil, fmt.Errorf("balancer: duplicate upstream %q", u.Redacted())
	}
	if p.newDown.Load() {
		// Until it passes active health checks.
		t.down.Store(downChecked)
		t.healthy.Store(false)
	}
	all := append(s.all[:len(s.all):len(s.all)], t)
	p.publish(all)
	return t, nil
}

// Remove removes the target with URL u and reports whether it was present.
// Requests already in flight to it complete normally; no new request is
// sent to it.
func (p *Pool) Remove(u *url.URL) bool {
	c, err := Upstream{URL: u}.normalize()
	if err != nil {
		return false
	}
	id := c.String()
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.snap.Load()
	if s.byID[id] == nil {
		return false
	}
	all := make([]*Target, 0, len(s.all)-1)
	for _, t := range s.all {
		if t.id != id {
			all = append(all, t)
		}
	}
	p.publish(all)
	return true
}

// Update changes the weight of the target with up.URL to up.Weight,
// keeping its counters and health. Only the weight changes (Zone and
// Metadata are fixed when a target is added). An up.Weight of zero sets
// weight 1, the default, as in Add: it does not drain the target. To stop
// new requests to it, call Remove (in-flight requests complete),
// SetDraining or SetHealthy(t, false). It returns an error, changing nothing, for an
// invalid upstream (including a weight below 0 or above MaxWeight) or an
// unknown URL.
func (p *Pool) Update(up Upstream) error {
	u, err := up.normalize()
	if err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.snap.Load()
	t := s.byID[u.String()]
	if t == nil {
		return fmt.Errorf("balancer: update of unknown upstream %q", u.Redacted())
	}
	t.weight.Store(int64(max(up.Weight, 1)))
	p.publish(s.all)
	return nil
}

// SetHealthy parks t (healthy false) or ends its parking (true), and
// reports whether that changed. A parked target is not picked (sticky
// sessions pinned to it fall back and re-pin) until SetHealthy(t, true);
// active health checks and outlier detection keep their own verdicts
// (Target.Status) and never undo it, nor does it undo theirs.
func (p *Pool) SetHealthy(t *Target, healthy bool) bool {
	return p.setDown(t, downParked, !healthy)
}

// SetDraining marks t as draining (true) or not, and reports whether that
// changed. A draining target is not picked; requests in flight to it
// complete. A proxy can mark a target draining while it closes the target's
// connections; Remove takes a target out for good.
func (p *Pool) SetDraining(t *Target, draining bool) bool {
	return p.setDown(t, downDraining, draining)
}

// setDown sets or clears reason in t's down bits and reports whether it
// changed, publishing a snapshot when t's availability changes.
func (p *Pool) setDown(t *Target, reason uint32, on bool) bool {
	if t == nil || t.pool != p {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.setDownLocked(t, reason, on)
}

func (p *Pool) setDownLocked(t *Target, reason uint32, on bool) bool {
	old := t.down.Load()
	d := old &^ reason
	if on {
		d |= reason
	}
	if d == old {
		return false
	}
	t.down.Store(d)
	if healthy := d == 0; t.healthy.Load() != healthy {
		t.healthy.Store(healthy)
		if s := p.snap.Load(); s.byID[t.id] == t {
			p.publish(s.all)
		}
	}
	return true
}

// eject adds delta to the number of Outliers holding t out, and sets or
// clears t's ejection when that number leaves or reaches zero.
func (p *Pool) eject(t *Target, delta int32) {
	p.mu.Lock()
	defer p.mu.Unlock()
	t.ejectors += delta
	p.setDownLocked(t, downEjected, t.ejectors > 0)
}

// Statuses returns the Status of every target, in insertion order.
func (p *Pool) Statuses() []TargetStatus {
	all := p.load().all
	out := make([]TargetStatus, len(all))
	for i, t := range all {
		out[i] = t.Status()
	}
	return out
}

// Targets returns the pool's targets in insertion order. The slice is a
// copy; the targets are shared.
func (p *Pool) Targets() []*Target {
	return append([]*Target(nil), p.load().all...)
}

// Lookup returns the target with the given ID (its canonical URL string).
func (p *Pool) Lookup(id string) (*Target, bool) {
	t, ok := p.load().byID[id]
	return t, ok
}

// Len returns the number of targets in the pool.
func (p *Pool) Len() int { return len(p.load().all) }

// Available returns the number of targets that may be picked.
func (p *Pool) Available() int { return len(p.load().avail) }

// InFlight returns the number of requests in flight over all targets.
func (p *Pool) InFlight() int64 {
	if p == nil {
		return 0
	}
	return p.inflight.Load()
}
