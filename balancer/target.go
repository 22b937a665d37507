package balancer

import (
	"fmt"
	"net/url"
	"strings"
	"sync/atomic"
)

// MaxWeight is the largest weight a target may have; see Upstream.Weight.
const MaxWeight = 1 << 20

// Upstream describes a target to add to a Pool.
type Upstream struct {
	// URL is the target's base URL: scheme http or https and a host. A
	// path, if any, is prefixed to every proxied request's path. Required.
	URL *url.URL
	// Weight is the target's relative share for weighted policies, from 1
	// to MaxWeight.
	//
	// Zero is not "no traffic": like every zero field in gatekit it means
	// the default, weight 1, so a zero-valued Upstream gets an equal share
	// (in NewPool, Pool.Add and Pool.Update alike). To stop sending new
	// requests to a target, drain it instead: Pool.Remove takes it out
	// for good (requests in flight complete); Pool.SetHealthy(t, false)
	// parks it with its counters until something marks it healthy again
	// (active health checks and outlier detection do once it recovers).
	// A negative weight or one above MaxWeight is an error.
	Weight int
	// Zone is optional locality metadata (such as "eu-west-1a").
	Zone string
	// Metadata is optional free-form metadata; it is copied.
	Metadata map[string]string
}

// ParseUpstreams parses a comma-separated list of upstream addresses, each
// "host:port" (http is assumed) or an http or https URL, each with weight 1.
// It returns an error for an empty list or an invalid entry.
func ParseUpstreams(list string) ([]Upstream, error) {
	var ups []Upstream
	for s := range strings.SplitSeq(list, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if !strings.Contains(s, "://") {
			s = "http://" + s
		}
		u, err := url.Parse(s)
		if err != nil {
			return nil, fmt.Errorf("balancer: upstream %q: %w", s, err)
		}
		up := Upstream{URL: u}
		if _, err := up.normalize(); err != nil {
			return nil, err
		}
		ups = append(ups, up)
	}
	if len(ups) == 0 {
		return nil, fmt.Errorf("balancer: no upstreams in %q: %w", list, ErrNoTargets)
	}
	return ups, nil
}

// normalize validates u and returns its canonical URL.
func (up Upstream) normalize() (*url.URL, error) {
	if up.URL == nil {
		return nil, fmt.Errorf("balancer: upstream without URL")
	}
	c := *up.URL
	c.Scheme = strings.ToLower(c.Scheme)
	c.Host = strings.ToLower(c.Host)
	if c.Scheme != "http" && c.Scheme != "https" {
		return nil, fmt.Errorf("balancer: upstream %q: scheme must be http or https", up.URL.Redacted())
	}
	if c.Host == "" || c.Opaque != "" {
		return nil, fmt.Errorf("balancer: upstream %q: missing host", up.URL.Redacted())
	}
	if up.Weight < 0 || up.Weight > MaxWeight {
		return nil, fmt.Errorf("balancer: upstream %q: weight %d out of range [0, %d]", up.URL.Redacted(), up.Weight, MaxWeight)
	}
	return &c, nil
}

// Target is one upstream in a Pool, with live counters. Targets are created
// by a Pool and stay valid after removal (a removed target's in-flight
// requests still complete). Its methods are safe for concurrent use.
// Target values must not be copied.
type Target struct {
	url  *url.URL
	id   string
	hash uint64 // hash of id, for hashing policies
	zone string
	meta map[string]string
	pool *Pool

	weight   atomic.Int64
	inflight atomic.Int64
	healthy  atomic.Bool

	// done is t.release, bound once so that returning it never allocates.
	done func(Result)
}

func newTarget(p *Pool, u *url.URL, up Upstream) *Target {
	t := &Target{url: u, id: u.String(), zone: up.Zone, pool: p}
	t.hash = hashString(t.id)
	if len(up.Metadata) > 0 {
		t.meta = make(map[string]string, len(up.Metadata))
		for k, v := range up.Metadata {
			t.meta[k] = v
		}
	}
	t.weight.Store(int64(max(up.Weight, 1)))
	t.healthy.Store(true)
	t.done = t.release
	return t
}

// URL returns the target's base URL. The caller must not modify it.
func (t *Target) URL() *url.URL { return t.url }

// ID returns the target's identity in its pool: its canonical URL string.
func (t *Target) ID() string { return t.id }

// Pool returns the pool t was added to, or nil.
func (t *Target) Pool() *Pool { return t.pool }

// String returns the target's ID.
func (t *Target) String() string { return t.id }

// Zone returns the target's zone, or "".
func (t *Target) Zone() string { return t.zone }

// Metadata returns the metadata value for key, or "".
func (t *Target) Metadata(key string) string { return t.meta[key] }

// Weight returns the target's current weight.
func (t *Target) Weight() int { return int(t.weight.Load()) }

// InFlight returns the number of requests picked for t whose done function
// has not been called yet.
func (t *Target) InFlight() int64 { return t.inflight.Load() }

// Healthy reports the target's health flag; unhealthy targets are not
// picked. Targets start healthy; see Pool.SetHealthy.
func (t *Target) Healthy() bool { return t.healthy.Load() }

// acquire counts a new request to t.
func (t *Target) acquire() {
	t.inflight.Add(1)
	if t.pool != nil {
		t.pool.inflight.Add(1)
	}
}

// release is the done function of policies that keep no state of their own.
func (t *Target) release(Result) {
	t.inflight.Add(-1)
	if t.pool != nil {
		t.pool.inflight.Add(-1)
	}
}

// hashString is 64-bit FNV-1a followed by a splitmix64 finaliser: stable
// across processes (so every gateway instance maps a key alike) and free
// of allocations.
func hashString(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return mix64(h)
}

// mix64 is the splitmix64 finaliser.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}
