// Package balancer spreads requests over pools of upstream targets and proxies them.
//
// The package has two layers, as every gatekit package does. The engine is a
// [Pool] of [Target] values and a [Policy] that picks one of them; it takes
// no net/http types, so a TCP proxy, a gRPC interceptor or a benchmark can use
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
// The adapter is [Proxy], an http.Handler on httputil.ReverseProxy (with
// Rewrite, never Director) and a tuned http.Transport. It picks a target per
// request, rewrites the request (X-Forwarded-* set by the gateway only,
// hop-by-hop headers and h2c upgrades dropped), forwards it and reports the
// outcome to the policy. Failures are RFC 9457 problem responses: 502 when
// the target answered badly or failed after the request may have reached
// it, 504 when it timed out, 503 with Retry-After when no target is
// available or none tried could be connected to (the request reached no
// target). A client that went away is logged as 499 and never counted
// against the target.
//
// A request that may have reached a target is sent again only when it is
// idempotent on its route (RetryConfig); in particular a re-send that
// net/http's Transport attempts on its own (HTTP/1 keep-alive races, an
// HTTP/2 stream reset after the body went out) is stopped for any other
// request, which then fails with 502 ([Proxy.TransportReSends] counts
// them). Wrappers ([Outlier.Wrap], [Breaker], [SlowStart]) implement
// [Wrapper], so that a [Sticky] policy under them still pins sessions.
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
// Client-sent Forwarded, X-Forwarded-*, X-Real-IP and similar headers are
// removed unless clientip found the socket peer to be a trusted proxy
// (clientip.PeerTrusted); hash keys derived from the client address come
// from clientip, never from a header a client can set.
package balancer

import (
	"context"
	"errors"
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
// target in it is available. Proxy answers it with 503 and Retry-After: 1.
var ErrNoTargets = errors.New("balancer: no available targets")
