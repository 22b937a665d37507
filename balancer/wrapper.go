package balancer

import "fmt"

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
