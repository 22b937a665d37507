package balancer

import (
	"fmt"
	"strings"
)

// PolicyConfig holds the settings of every policy NewPolicy can build;
// only those of the named policy are used. The zero value selects every
// default.
type PolicyConfig struct {
	// Load configures least-request, least-conn and ewma, and the
	// least-request fallback of hash and sticky.
	Load LoadConfig
	// Hash configures hash. A nil Hash.Fallback means least-request.
	Hash HashConfig
	// Sticky configures sticky, whose fallback is least-request.
	Sticky StickyConfig
}

// canonicalPolicy maps every accepted name to its canonical one, or "".
func canonicalPolicy(name string) string {
	switch strings.ToLower(strings.TrimSpace(name)) {
	case "", "least-request", "p2c":
		return "least-request"
	case "round-robin", "rr":
		return "round-robin"
	case "weighted-round-robin", "wrr":
		return "weighted-round-robin"
	case "least-conn", "least-connections":
		return "least-conn"
	case "random":
		return "random"
	case "hash", "consistent-hash":
		return "hash"
	case "ewma", "peak-ewma":
		return "ewma"
	case "sticky":
		return "sticky"
	}
	return ""
}

// PolicyNames returns the canonical policy names NewPolicy accepts, for
// flag help: least-request (the default), round-robin,
// weighted-round-robin, least-conn, random, hash, ewma and sticky.
func PolicyNames() []string {
	return []string{"least-request", "round-robin", "weighted-round-robin", "least-conn", "random", "hash", "ewma", "sticky"}
}

// NewPolicy builds the policy called name over pool, for command-line
// flags and configuration files. Names are case-insensitive; "" means
// least-request, and the aliases p2c, rr, wrr, least-connections,
// consistent-hash and peak-ewma are accepted. A hash policy needs a key
// on each request (Config.Key, see reqkey.Parse). It returns an error for an
// unknown name or an invalid cfg.
func NewPolicy(name string, pool *Pool, cfg PolicyConfig) (Policy, error) {
	canon := canonicalPolicy(name)
	if canon == "" {
		return nil, fmt.Errorf("balancer: unknown policy %q (want one of %s)", name, strings.Join(PolicyNames(), ", "))
	}
	switch canon {
	case "round-robin":
		return NewRoundRobin(pool), nil
	case "weighted-round-robin":
		return NewWeightedRoundRobin(pool), nil
	case "least-conn":
		return NewLeastConn(pool, cfg.Load)
	case "random":
		return NewRandom(pool), nil
	case "ewma":
		return NewPeakEWMA(pool, cfg.Load)
	case "hash":
		hc := cfg.Hash
		if hc.Fallback == nil {
			lr, err := NewLeastRequest(pool, cfg.Load)
			if err != nil {
				return nil, err
			}
			hc.Fallback = lr
		}
		return NewHash(pool, hc)
	case "sticky":
		lr, err := NewLeastRequest(pool, cfg.Load)
		if err != nil {
			return nil, err
		}
		return NewSticky(pool, lr, cfg.Sticky)
	default:
		return NewLeastRequest(pool, cfg.Load)
	}
}
