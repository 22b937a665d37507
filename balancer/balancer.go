// Package balancer spreads requests over pools of upstream targets.
//
// It holds who the targets are and which one to pick; forwarding a request
// to the picked target is package proxy's. The engine is a [Pool] of
// [Target] values and a [Policy] that picks one of them; it takes no
// net/http types, so a TCP proxy, a gRPC interceptor or a benchmark can use
// it directly:
//
//	ups, _ := balancer.ParseUpstreams("10.0.0.1:8080,10.0.0.2:8080")
//	pool, _ := balancer.NewPool(ups)
//	lr, _ := balancer.NewLeastRequest(pool, balancer.LoadConfig{})
//	t, done, err := lr.Pick(ctx, "")
//	if err != nil { ... } // balancer.ErrNoTargets
//	... send the request to t.URL() ...
//	done(balancer.Result{Status: 200, Latency: elapsed})
//
// Wrappers ([Outlier.Wrap], [Breaker], [SlowStart]) implement [Wrapper],
// so that a [Sticky] policy under them can still be found to pin sessions.
//
// # Pools
//
// A [Pool] changes at run time ([Pool.Add], [Pool.Remove], [Pool.Update],
// [Pool.SetHealthy]) without blocking picks: each change publishes a new
// immutable snapshot with one atomic store, and policies rebuild what they
// derive from it (a Maglev table, per-target statistics) lazily. Each
// [Target] counts its requests in flight; unhealthy targets are not picked.
//
// # Policies
//
//   - [RoundRobin]: in turn, from a random start.
//   - [WeightedRoundRobin]: NGINX's smooth weighted round robin.
//   - [LeastRequest]: the power of two choices on requests in flight; the
//     default ([NewPolicy] with "").
//   - [LeastConn]: a full scan for the fewest requests in flight.
//   - [Random]: weighted random.
//   - [Hash]: consistent hashing (rendezvous for small pools, Maglev for
//     large ones) with an optional bound on load, keyed by a key function from package reqkey
//     (client address, header, cookie, query parameter or path).
//   - [PeakEWMA]: latency-aware; fast failures are charged as slow.
//   - [Sticky]: session affinity by a signed cookie or header, over any
//     fallback policy.
//
// Load-aware policies learn from the [Result] passed to each pick's done
// function, and count recent failures as load so that a target answering
// 503 at once never attracts more traffic. Every pick is allocation-free.
// [NewPolicy] and reqkey.Parse build policies and keys from names, for flags
// and configuration files.
//
// # Security
//
// Hash keys derived from the client address come from clientip, never from
// a header a client can set. (Client-sent forwarding headers are removed by
// package proxy.)
package balancer

import (
	"context"
	"errors"
	"strconv"
	"time"
)

// A Policy chooses a target for each request. Implementations must be safe
// for concurrent use.
//
// Pick returns a target for a request identified by key ("" when the policy
// does not hash, or when the request has no key). The caller must call done
// exactly once, when the request to the target has completed, with its
// outcome; load-aware policies and health tracking learn from it. done must
// not be called twice, and t must not be modified. When nothing can be
// picked, Pick returns an error wrapping ErrNoTargets. ctx is the
// request's context: a policy that may wait for a target (Breaker) waits
// at most until ctx is done, and a wrapper passes ctx on to the policy it
// wraps, so that wrappers compose in any order.
type Policy interface {
	Pick(ctx context.Context, key string) (t *Target, done func(Result), err error)
}

// Wrapper is a Policy that picks with another one (Outlier.Wrap, Breaker,
// SlowStart). A proxy looks through wrappers for the policy they wrap (a
// *Sticky, whose tokens come from requests and whose pins go on responses).
type Wrapper interface {
	Policy
	// Unwrap returns the wrapped policy.
	Unwrap() Policy
}

// PickUntil asks p for a target until accept takes one, for callers that
// must refuse some picks: a full target (Breaker), a ramping one (SlowStart),
// one a request was already sent to (a retry). It asks at most
// max(4, 2×pool size) times; after the first ask it passes keys derived
// from key, so that a hashing policy, which answers one key with one
// target, can answer with another. Each refused pick's done is called with
// Result{Canceled: true}, which no policy counts against the target.
//
// PickUntil returns the accepted target and its done, p's error as soon as
// p returns one, or a nil target and a nil error when p offered nothing
// accept took. accept is called once per pick, in order, and may keep
// state across calls (a count of asks, a reservation for the accepted
// target). PickUntil allocates nothing unless accept or p does.
func PickUntil(ctx context.Context, p Policy, key string, accept func(*Target) bool) (*Target, func(Result), error) {
	tries := 4
	for i := 0; i < tries; i++ {
		t, done, err := p.Pick(ctx, derivedKey(key, i))
		if err != nil {
			return nil, nil, err
		}
		if i == 0 && t.pool != nil {
			tries = max(tries, 2*t.pool.Len())
		}
		if accept(t) {
			return t, done, nil
		}
		done(Result{Canceled: true})
	}
	return nil, nil, nil
}

// derivedKey returns the key of the i-th ask for key: key itself first,
// then key with a NUL byte and i appended. An empty key stays empty: a
// policy that does not hash answers the next ask differently anyway.
func derivedKey(key string, i int) string {
	if key == "" || i == 0 {
		return key
	}
	return key + "\x00" + strconv.Itoa(i)
}

// Result is the outcome of one request to a target, passed to the done
// function returned by Policy.Pick.
type Result struct {
	// Err is the error that ended the request before a response arrived
	// (connection refused, reset, timeout), or nil.
	Err error
	// Status is the response status code, or 0 when no response arrived.
	Status int
	// Latency is the time from sending the request to the response header
	// (time to first byte). Latency-aware policies (EWMA) need it; zero
	// means unknown.
	Latency time.Duration
	// Canceled reports that the client went away or the request was
	// abandoned locally. Such a request says nothing about the target and
	// is never counted as a failure.
	Canceled bool
	// End is when the request completed. Zero means time.Now(); tests
	// and simulations pass explicit instants.
	End time.Time
}

// Failed reports whether r counts against the target: a transport error or
// a 502, 503 or 504 status, unless the request was Canceled.
func (r Result) Failed() bool {
	if r.Canceled {
		return false
	}
	if r.Err != nil {
		return true
	}
	switch r.Status {
	case 502, 503, 504:
		return true
	}
	return false
}

// ErrNoTargets is returned (wrapped) by Pick when the pool is empty or no
// target in it is available. A proxy answers it with 503 and Retry-After: 1.
var ErrNoTargets = errors.New("balancer: no available targets")
