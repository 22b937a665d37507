package balancer

import (
	"fmt"
	"net/url"
	"strings"
	"sync/atomic"
)

// SchemeH2C is the URL scheme of a target spoken to in plaintext HTTP/2
// with prior knowledge ("h2c://10.0.0.1:50051"). A proxy sends such a
// target's requests as http ones over HTTP/2 connections.
const SchemeH2C = "h2c"

// MaxWeight is the largest weight a target may have; see Upstream.Weight.
const MaxWeight = 1 << 20

// Upstream describes a target to add to a Pool.
type Upstream struct {
	// URL is the target's base URL: scheme http, https or h2c and a host.
	// A path, if any, is prefixed to every proxied request's path. h2c
	// names a plaintext HTTP/2 target spoken to with prior knowledge (no
	// Upgrade): a gRPC server without TLS, typically; an https target
	// speaks HTTP/2 when it offers it (ALPN). Required.
	URL *url.URL
	// Weight is the target's relative share for weighted policies, from 1
	// to MaxWeight.
	//
	// Zero is not "no traffic": like every zero field in gatekit it means
	// the default, weight 1, so a zero-valued Upstream gets an equal share
	// (in NewPool, Pool.Add and Pool.Update alike). To stop sending new
	// requests to a target, drain it instead: Pool.Remove takes it out
	// for good (requests in flight complete); Pool.SetDraining(t, true)
	// or Pool.SetHealthy(t, false) keeps it with its counters until the
	// same call undoes it (health checks and outlier detection do not).
	// A negative weight or one above MaxWeight is an error.
	Weight int
	// Zone is optional locality metadata (such as "eu-west-1a").
	Zone string
	// Metadata is optional free-form metadata; it is copied.
	Metadata map[string]string
}

// ParseUpstreams parses a comma-separated list of upstream addresses, each
// "host:port" (http is assumed) or an http, https or h2c URL
// ("h2c://host:port": plaintext HTTP/2 with prior knowledge, as gRPC
// servers without TLS speak), each with weight 1.
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
	if c.Scheme != "http" && c.Scheme != "https" && c.Scheme != SchemeH2C {
		return nil, fmt.Errorf("balancer: upstream %q: scheme must be http, https or h2c", up.URL.Redacted())
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
	healthy  atomic.Bool   // down == 0, read by every pick
	down     atomic.Uint32 // why t may not be picked: downChecked | downEjected | …; written under pool.mu
	ejectors int32         // Outliers holding t out; guarded by pool.mu

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

// Healthy reports whether t may be picked: no active health check holds
// it down, outlier detection has not ejected it, and it is neither parked
// (Pool.SetHealthy) nor draining (Pool.SetDraining). Targets start
// healthy. Status says why a target is not.
func (t *Target) Healthy() bool { return t.healthy.Load() }

// The reasons a target may not be picked, bits of Target.down. Each has
// one writer: active health checks, outlier detection, Pool.SetHealthy,
// Pool.SetDraining. A target is picked only when none is set, so that
// no writer undoes another's verdict.
const (
	downChecked  uint32 = 1 << iota // failing active health checks
	downEjected                     // ejected by outlier detection (cleared while the pool panics)
	downParked                      // Pool.SetHealthy(t, false)
	downDraining                    // Pool.SetDraining(t, true)
)

// TargetStatus says whether a target can be picked now and, if not, why.
// Each flag has one owner; the target is picked only when none is set.
type TargetStatus struct {
	// Target is the target's ID (its canonical URL), with any password
	// redacted.
	Target string `json:"target"`
	// Pickable reports that a policy may pick the target now: none of
	// the flags below is set.
	Pickable bool `json:"pickable"`
	// CheckedDown reports that active health checks hold it down.
	CheckedDown bool `json:"checked_down,omitempty"`
	// Ejected reports that outlier detection ejected it (and the pool is
	// not in panic, which picks ejected targets again).
	Ejected bool `json:"ejected,omitempty"`
	// Parked reports Pool.SetHealthy(t, false).
	Parked bool `json:"parked,omitempty"`
	// Draining reports Pool.SetDraining(t, true).
	Draining bool `json:"draining,omitempty"`
	// Full reports that a Breaker in the policy holds as many requests
	// in flight to it as it allows (set by StatusOf only): a pick skips
	// it, or waits, until one completes.
	Full bool `json:"full,omitempty"`
	// InFlight is the number of requests in flight to it.
	InFlight int64 `json:"in_flight"`
}

// Status returns whether t can be picked now and, if not, why. Use
// StatusOf to include a Breaker's limit.
func (t *Target) Status() TargetStatus {
	d := t.down.Load()
	return TargetStatus{
		Target:      t.url.Redacted(),
		Pickable:    d == 0,
		CheckedDown: d&downChecked != 0,
		Ejected:     d&downEjected != 0,
		Parked:      d&downParked != 0,
		Draining:    d&downDraining != 0,
		InFlight:    t.inflight.Load(),
	}
}

// StatusOf returns t.Status() as seen by a request picked with p: Full is
// set, and Pickable cleared, when a Breaker in p (p itself or a policy it
// wraps) holds its most requests in flight to t.
func StatusOf(p Policy, t *Target) TargetStatus {
	st := t.Status()
	for p != nil {
		if b, ok := p.(*Breaker); ok && b.InFlight(t) >= b.max {
			st.Full, st.Pickable = true, false
		}
		w, ok := p.(interface{ Unwrap() Policy })
		if !ok {
			break
		}
		p = w.Unwrap()
	}
	return st
}

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
