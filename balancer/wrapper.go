package balancer

import (
	"context"
	"fmt"
	"sync/atomic"
)

// A wrapper is a Policy that picks with another one: Breaker, SlowStart,
// Outlier. Wrappers compose in any order: each passes the request's
// context on (so a Breaker anywhere in the chain waits for a slot), and
// each refused pick reaches the policies below it as Result{Canceled:
// true}, which none counts against a target. A combination that would
// change what a wrapper does is an error from its constructor: slow start
// around slow start (a doubled ramp), outlier detection around outlier
// detection (every failure counted twice).

// PoolOf returns the pool p picks from, when p is a policy of this package
// or a wrapper of one, or nil: a proxy asks it whether any target can be
// picked at all.
func PoolOf(p Policy) *Pool { return policyPool(p) }

// policyPool returns the pool p picks from, when p is a policy of this package
// or a wrapper of one, or nil.
func policyPool(p Policy) *Pool {
	if pp, ok := p.(interface{ targetPool() *Pool }); ok {
		return pp.targetPool()
	}
	return nil
}

// wrappedPool returns the pool p picks from, for the constructor of a
// wrapper (what) that needs it.
func wrappedPool(what string, p Policy) (*Pool, error) {
	if p == nil {
		return nil, fmt.Errorf("balancer: %s needs a policy", what)
	}
	pool := policyPool(p)
	if pool == nil {
		return nil, fmt.Errorf("balancer: %s needs a policy of this package over a pool, or a wrapper of one (got %T)", what, p)
	}
	return pool, nil
}

// hasWrapper reports whether p is, or wraps, a W.
func hasWrapper[W Policy](p Policy) bool {
	for p != nil {
		if _, ok := p.(W); ok {
			return true
		}
		w, ok := p.(interface{ Unwrap() Policy })
		if !ok {
			return false
		}
		p = w.Unwrap()
	}
	return false
}

// doneID identifies a done function by the pointer that holds it: the
// *Target for t.done, the *node of a load-aware policy, the *wrappedDone of
// a wrapper; nil when unknown (a policy from outside the package). Go
// cannot compare func values, but it can compare pointers, so wrappers key
// the done functions they build on it.
type doneID any

// keyedPolicy is a policy of this package: pickKeyed is Pick that also
// returns the identity of done.
type keyedPolicy interface {
	pickKeyed(ctx context.Context, key string) (*Target, func(Result), doneID, error)
}

// pickKeyed picks with p and returns the identity of done, nil when p is
// not a policy of this package.
func pickKeyed(ctx context.Context, p Policy, key string) (*Target, func(Result), doneID, error) {
	if kp, ok := p.(keyedPolicy); ok {
		return kp.pickKeyed(ctx, key)
	}
	t, done, err := p.Pick(ctx, key)
	return t, done, nil, err
}

// wrappedDone is a wrapper policy's done function for one target, built
// around the wrapped policy's done for it, so that picks through the
// wrapper allocate nothing: policies return a done function bound once
// per target (or per target and snapshot), and the wrapper reuses its own
// as long as the wrapped one is the same.
type wrappedDone struct {
	inner doneID       // identity of the wrapped done
	fn    func(Result) // the wrapper's done, calling the wrapped one
}

// doneCache holds the current wrappedDone of one target for one wrapper.
type doneCache struct{ cur atomic.Pointer[wrappedDone] }

// get returns the wrapper's done around inner, whose identity is id, and
// the identity of the returned done. It builds it with mk when id is not
// the one the cached done was built around; when id is nil (the wrapped
// policy is not of this package) it builds a new one every time.
func (c *doneCache) get(id doneID, inner func(Result), mk func(inner func(Result)) func(Result)) (func(Result), doneID) {
	if id == nil {
		return mk(inner), nil
	}
	if w := c.cur.Load(); w != nil && w.inner == id {
		return w.fn, w
	}
	w := &wrappedDone{inner: id, fn: mk(inner)}
	c.cur.Store(w)
	return w.fn, w
}
