// Package balancer holds who the upstream targets are and which one a
// request goes to: pools of targets, the policies that pick one, the
// wrappers that change picks (circuit breaking, slow start, outlier
// detection), active health checks and DNS discovery. Forwarding the
// request to the picked target is package proxy's.
//
// It takes no net/http request types, so a TCP proxy, a gRPC interceptor
// or a benchmark can use it directly:
//
//	ups, _ := balancer.ParseUpstreams("10.0.0.1:8080,10.0.0.2:8080")
//	pool, _ := balancer.NewPool(ups)
//	lr, _ := balancer.NewLeastRequest(pool, balancer.LoadConfig{})
//	t, done, err := lr.Pick(ctx, "")
//	if err != nil { ... } // balancer.ErrNoTargets
//	... send the request to t.URL() ...
//	done(balancer.Result{Status: 200, Latency: elapsed})
//
// # Pools
//
// Targets are http://, https:// or h2c:// URLs ([SchemeH2C]: plaintext
// HTTP/2 with prior knowledge, as gRPC servers without TLS speak it).
// A [Pool] changes at run time ([Pool.Add], [Pool.Remove], [Pool.Update])
// without blocking picks: each change publishes a new immutable snapshot
// with one atomic store, and policies rebuild what they derive from it (a
// Maglev table, per-target statistics) lazily. Each [Target] counts its
// requests in flight. A target is picked only while nothing holds it out,
// and each reason has one owner: active health checks, outlier detection,
// [Pool.SetHealthy] (parking) and [Pool.SetDraining]; none undoes
// another's. [Target.Status] and [StatusOf] say whether a target can be
// picked now and why not.
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
//     large ones) with an optional bound on load, keyed by a key function
//     from package reqkey (client address, header, cookie, query parameter
//     or path).
//   - [PeakEWMA]: latency-aware; fast failures are charged as slow.
//   - [Sticky]: session affinity by a signed cookie or header, over any
//     fallback policy.
//
// Load-aware policies learn from the [Result] passed to each pick's done
// function, and count a failure as load for [LoadConfig].Decay of wall
// time, so that a target answering 503 at once never attracts more
// traffic, and one that failed once is back in rotation soon after,
// however little traffic there is. Every pick is allocation-free.
// [NewPolicy] and reqkey.Parse build policies and keys from names, for
// flags and configuration files.
//
// # Wrappers
//
// [Breaker], [SlowStart] and [Outlier] wrap a policy and share one
// constructor shape, NewX(policy, cfg). They compose in any order: each
// passes the request's context on (a Breaker anywhere in the chain waits
// for a slot), and each refused pick reaches the policies below it as a
// canceled Result, which no policy counts against a target. A combination
// that would change behaviour (slow start around slow start, outlier
// detection around outlier detection) is a constructor error. [PickUntil]
// is the re-pick they share, for callers that must refuse some picks (a
// retry avoiding targets already tried). Wrappers implement [Wrapper], so
// that a [Sticky] policy under them can still be found to pin sessions.
//
// # Health
//
// A [HealthChecker] probes the addresses of one or more named pools; an
// address in several pools is probed once. Probes are HTTP GETs, or gRPC
// health checks (grpc.health.v1.Health/Check for one service,
// [HealthConfig].GRPC) encoded by hand, so that this package does not
// depend on a gRPC library. [Outlier] ejects targets that
// fail consecutively, with a panic threshold below which ejected targets
// are picked again. [DNS] keeps a pool in line with a DNS name.
//
// # Time
//
// Engines that depend on time read the clock in X and take it as an
// argument in a twin XAt ([Outlier.Observe] and [Outlier.ObserveAt],
// [HealthChecker.Check] and [HealthChecker.CheckAt], [SlowStart.Factor]
// and [SlowStart.FactorAt], [DNS.Refresh] and [DNS.RefreshAt],
// [LeastRequest.Pick] and [LeastRequest.PickAt], ...), so that tests and
// simulations drive time themselves.
//
// # Security
//
// Hash keys derived from the client address come from clientip, never from
// a header a client can set. Affinity tokens are signed, and name no
// address.
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

// Wrapper is a Policy that picks with another one (Breaker, SlowStart,
// Outlier). A proxy looks through wrappers for the policy they wrap (a
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
	t, done, _, err := pickUntil(ctx, p, key, accept)
	return t, done, err
}

// pickUntil is PickUntil that also returns the identity of done.
func pickUntil(ctx context.Context, p Policy, key string, accept func(*Target) bool) (*Target, func(Result), doneID, error) {
	tries := 4
	for i := 0; i < tries; i++ {
		t, done, id, err := pickKeyed(ctx, p, derivedKey(key, i))
		if err != nil {
			return nil, nil, nil, err
		}
		if i == 0 && t.pool != nil {
			tries = max(tries, 2*t.pool.Len())
		}
		if accept(t) {
			return t, done, id, nil
		}
		done(Result{Canceled: true})
	}
	return nil, nil, nil, nil
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
